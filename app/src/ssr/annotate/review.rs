//! Review: the queue of items whose captions are in (or flagged), every version of an item side
//! by side, and the reviewer's decisions (accept one, edit, send back with a comment, reject).
//! Every decision is a row of `annot_versions`: the history is never rewritten.
use sqlx::AnyPool;

use super::{forbid, item_project, json_list, rights, work, AnnotError, Result};
use crate::{
    api::annotate::{QueueEntry, ReviewItem, VersionView},
    types::User,
};

async fn reviewer(pool: &AnyPool, user: &User, project_id: i64) -> Result<()> {
    if !rights(pool, user, project_id).await?.review {
        return Err(forbid("only the project's reviewers review"));
    }
    Ok(())
}

/// Items with `status` (default: review and flagged), in manifest order (first 200).
pub async fn queue(
    pool: &AnyPool,
    user: &User,
    project_id: i64,
    status: Option<&str>,
) -> Result<Vec<QueueEntry>> {
    reviewer(pool, user, project_id).await?;
    let statuses: Vec<&str> = match status {
        None | Some("") => vec!["review", "flagged"],
        Some(s @ ("open" | "review" | "flagged" | "accepted" | "rejected")) => vec![s],
        Some(s) => return Err(AnnotError::BadInput(format!("unknown status {s:?}"))),
    };
    let mut out = Vec::new();
    for st in statuses {
        let rows: Vec<(i64, i64, String, String, i64, Option<String>)> = sqlx::query_as(
            "SELECT i.id, i.seq, i.videoid, i.status, i.n_submits, \
               (SELECT string_agg(v.flags, '') FROM annot_versions v WHERE v.item_id = i.id \
                  AND v.round = i.round AND v.kind = 'submit') \
             FROM annot_items i WHERE i.project_id = $1 AND i.status = $2 ORDER BY i.seq LIMIT 200",
        )
        .bind(project_id)
        .bind(st)
        .fetch_all(pool)
        .await?;
        out.extend(rows.into_iter().map(|r| {
            let mut flags: Vec<String> =
                r.5.unwrap_or_default()
                    .split(['[', ']', ',', '"'])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            flags.sort();
            flags.dedup();
            QueueEntry {
                id: r.0,
                seq: r.1,
                videoid: r.2,
                status: r.3,
                submissions: r.4,
                flags,
            }
        }));
    }
    out.sort_by_key(|e| e.seq);
    Ok(out)
}

type VersionRow = (
    i64,
    String,
    i64,
    String,
    String,
    String,
    String,
    Option<f64>,
    String,
    Option<i64>,
    String,
);

/// Every version of an item, oldest first.
pub async fn versions(pool: &AnyPool, item_id: i64) -> Result<Vec<VersionView>> {
    let rows: Vec<VersionRow> = sqlx::query_as(
        "SELECT v.id, u.email, v.round, v.kind, v.text, v.flags, v.checklist, v.seconds, \
                v.comment, v.ref_version, v.created_at \
         FROM annot_versions v JOIN users u ON u.id = v.user_id WHERE v.item_id = $1 ORDER BY v.id",
    )
    .bind(item_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| VersionView {
            id: r.0,
            user: r.1,
            round: r.2,
            kind: r.3,
            text: r.4,
            flags: json_list(&r.5),
            checklist: json_list(&r.6),
            seconds: r.7,
            comment: r.8,
            ref_version: r.9,
            created_at: r.10,
        })
        .collect())
}

pub async fn item(pool: &AnyPool, user: &User, item_id: i64) -> Result<ReviewItem> {
    let pid = item_project(pool, item_id).await?;
    reviewer(pool, user, pid).await?;
    let accepted_version: Option<i64> =
        sqlx::query_scalar("SELECT accepted_version FROM annot_items WHERE id = $1")
            .bind(item_id)
            .fetch_one(pool)
            .await?;
    Ok(ReviewItem {
        item: work::load(pool, user.id, item_id).await?,
        versions: versions(pool, item_id).await?,
        accepted_version,
    })
}

#[allow(clippy::too_many_arguments)]
async fn add_version(
    tx: &mut sqlx::AnyConnection,
    item_id: i64,
    user_id: i64,
    round: i64,
    kind: &str,
    text: &str,
    comment: &str,
    ref_version: Option<i64>,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO annot_versions(item_id, user_id, round, kind, text, comment, ref_version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(item_id)
    .bind(user_id)
    .bind(round)
    .bind(kind)
    .bind(text)
    .bind(comment)
    .bind(ref_version)
    .fetch_one(&mut *tx)
    .await?)
}

/// A reviewer's decision on an item.
pub async fn decide(
    pool: &AnyPool,
    user: &User,
    item_id: i64,
    action: &str,
    version_id: Option<i64>,
    text: Option<&str>,
    comment: &str,
) -> Result<()> {
    let pid = item_project(pool, item_id).await?;
    reviewer(pool, user, pid).await?;
    if comment.len() > work::MAX_CAPTION_CHARS {
        return Err(AnnotError::BadInput("comment too long".into()));
    }
    let mut tx = pool.begin().await?;
    // Write first: the transaction holds the write lock from its first statement.
    let round: i64 =
        sqlx::query_scalar("UPDATE annot_items SET round = round WHERE id = $1 RETURNING round")
            .bind(item_id)
            .fetch_one(&mut *tx)
            .await?;
    match action {
        "accept" => {
            let vid =
                version_id.ok_or_else(|| AnnotError::BadInput("accept needs a version".into()))?;
            let kind: Option<String> = sqlx::query_scalar(
                "SELECT kind FROM annot_versions WHERE id = $1 AND item_id = $2",
            )
            .bind(vid)
            .bind(item_id)
            .fetch_optional(&mut *tx)
            .await?;
            if !matches!(kind.as_deref(), Some("submit" | "review_edit")) {
                return Err(AnnotError::BadInput(format!(
                    "version {vid} is not a caption of item {item_id}"
                )));
            }
            add_version(
                &mut tx,
                item_id,
                user.id,
                round,
                "accept",
                "",
                comment,
                Some(vid),
            )
            .await?;
            set_status(&mut tx, item_id, "accepted", Some(vid)).await?;
        }
        "edit" => {
            let text = text.unwrap_or("");
            if text.trim().is_empty() || text.len() > work::MAX_CAPTION_CHARS {
                return Err(AnnotError::BadInput(
                    "the edited caption is empty or too long".into(),
                ));
            }
            let vid = add_version(
                &mut tx,
                item_id,
                user.id,
                round,
                "review_edit",
                text,
                comment,
                None,
            )
            .await?;
            add_version(
                &mut tx,
                item_id,
                user.id,
                round,
                "accept",
                "",
                "",
                Some(vid),
            )
            .await?;
            set_status(&mut tx, item_id, "accepted", Some(vid)).await?;
        }
        "send_back" => {
            if comment.trim().is_empty() {
                return Err(AnnotError::BadInput(
                    "say why you send it back (comment)".into(),
                ));
            }
            add_version(
                &mut tx,
                item_id,
                user.id,
                round,
                "send_back",
                "",
                comment,
                None,
            )
            .await?;
            sqlx::query(
                "UPDATE annot_items SET status = 'open', round = round + 1, n_submits = 0, \
                 accepted_version = NULL WHERE id = $1",
            )
            .bind(item_id)
            .execute(&mut *tx)
            .await?;
        }
        "reject" => {
            add_version(
                &mut tx, item_id, user.id, round, "reject", "", comment, None,
            )
            .await?;
            set_status(&mut tx, item_id, "rejected", None).await?;
        }
        a => return Err(AnnotError::BadInput(format!("unknown review action {a:?}"))),
    }
    tx.commit().await?;
    Ok(())
}

async fn set_status(
    tx: &mut sqlx::AnyConnection,
    item_id: i64,
    status: &str,
    accepted: Option<i64>,
) -> Result<()> {
    sqlx::query("UPDATE annot_items SET status = $1, accepted_version = $2 WHERE id = $3")
        .bind(status)
        .bind(accepted)
        .bind(item_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
