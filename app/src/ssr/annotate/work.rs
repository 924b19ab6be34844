//! The annotator's loop: next item (assignment + lock), the item view, autosave, submit, skip;
//! and the user's hotkeys.
use sqlx::AnyPool;

use super::{forbid, item_project, json_list, locking, rights, AnnotError, Result};
use crate::{
    api::annotate::{keyframe_indices, Hotkeys, ItemView, FLAGS},
    types::User,
};

/// Longest caption accepted (characters); the guideline is ≤ 70 words.
pub const MAX_CAPTION_CHARS: usize = 4000;

/// Assignment: the item the user already holds, else the first open item (by manifest order)
/// that still needs captions in its round, that this user has not submitted or skipped in that
/// round, and that nobody else holds; locked atomically for the user.
pub async fn next(
    pool: &AnyPool,
    user: &User,
    project_id: i64,
    exclude: Option<i64>,
) -> Result<Option<i64>> {
    if !rights(pool, user, project_id).await?.annotate {
        return Err(forbid("you are not an annotator of this project"));
    }
    let (overlap, timeout): (i64, i64) =
        sqlx::query_as("SELECT overlap, lock_timeout_s FROM annot_projects WHERE id = $1")
            .bind(project_id)
            .fetch_one(pool)
            .await?;
    let exclude = exclude.unwrap_or(0);
    // Resume the item this user already holds.
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT l.item_id FROM annot_locks l JOIN annot_items i ON i.id = l.item_id \
         WHERE l.user_id = $1 AND i.project_id = $2 AND i.status = 'open' AND l.item_id <> $3 \
           AND l.expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') ORDER BY i.seq LIMIT 1",
    )
    .bind(user.id)
    .bind(project_id)
    .bind(exclude)
    .fetch_optional(pool)
    .await?;
    if let Some(id) = held {
        if locking::acquire(pool, id, user.id, timeout).await? {
            return Ok(Some(id));
        }
    }
    for _attempt in 0..5 {
        let candidates: Vec<i64> = sqlx::query_scalar(
            "SELECT i.id FROM annot_items i \
             WHERE i.project_id = $1 AND i.status = 'open' AND i.n_submits < $2 AND i.id <> $4 \
               AND NOT EXISTS (SELECT 1 FROM annot_versions v WHERE v.item_id = i.id \
                     AND v.user_id = $3 AND v.round = i.round AND v.kind IN ('submit', 'skip')) \
               AND NOT EXISTS (SELECT 1 FROM annot_locks l WHERE l.item_id = i.id \
                     AND l.expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
             ORDER BY i.seq LIMIT 8",
        )
        .bind(project_id)
        .bind(overlap)
        .bind(user.id)
        .bind(exclude)
        .fetch_all(pool)
        .await?;
        if candidates.is_empty() {
            return Ok(None);
        }
        for id in candidates {
            if locking::acquire(pool, id, user.id, timeout).await? {
                return Ok(Some(id));
            }
        }
    }
    Ok(None)
}

type ItemRow = (
    i64,
    i64,
    String,
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
);

/// The item as the workspace shows it (any project member, researchers, admins).
pub async fn item(pool: &AnyPool, user: &User, item_id: i64) -> Result<ItemView> {
    let pid = item_project(pool, item_id).await?;
    if !rights(pool, user, pid).await?.view {
        return Err(forbid("you are not a member of this project"));
    }
    load(pool, user.id, item_id).await
}

/// The item view without a rights check (callers check).
pub async fn load(pool: &AnyPool, user_id: i64, item_id: i64) -> Result<ItemView> {
    let r: ItemRow = sqlx::query_as(
        "SELECT i.id, i.project_id, p.name, i.seq, i.videoid, i.file, i.is_transmit, i.title, \
                i.tags, i.description, i.draft, i.provenance, i.meta, i.status, i.round \
         FROM annot_items i JOIN annot_projects p ON p.id = i.project_id WHERE i.id = $1",
    )
    .bind(item_id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AnnotError::NotFound(format!("item {item_id}")))?;
    let total: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM annot_items WHERE project_id = $1")
        .bind(r.1)
        .fetch_one(pool)
        .await?;
    let autosave: Option<String> =
        sqlx::query_scalar("SELECT text FROM annot_autosave WHERE item_id = $1 AND user_id = $2")
            .bind(item_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
    let lock = locking::holder(pool, item_id).await?;
    let sent_back: Option<String> = if r.14 > 0 {
        sqlx::query_scalar(
            "SELECT comment FROM annot_versions WHERE item_id = $1 AND kind = 'send_back' \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(item_id)
        .fetch_optional(pool)
        .await?
    } else {
        None
    };
    let meta: serde_json::Value = serde_json::from_str(&r.12).unwrap_or_default();
    let num = |k: &str| meta.get(k).and_then(|v| v.as_f64()).unwrap_or(0.0);
    let frames = num("frames") as i64;
    Ok(ItemView {
        id: r.0,
        project_id: r.1,
        project_name: r.2,
        seq: r.3,
        total,
        videoid: r.4,
        file: r.5,
        is_transmit: r.6,
        title: r.7,
        tags: json_list(&r.8),
        description: r.9,
        draft: r.10,
        provenance: serde_json::from_str(&r.11).unwrap_or_default(),
        fps: num("fps"),
        frames,
        width: num("width") as i64,
        height: num("height") as i64,
        status: r.13,
        round: r.14,
        autosave,
        locked_by_me: lock.is_some_and(|(u, _)| u == user_id),
        lock_expires_in_s: lock.map(|(_, s)| s),
        sent_back_comment: sent_back,
        keyframes: keyframe_indices(frames),
    })
}

async fn writer_check(pool: &AnyPool, user: &User, item_id: i64) -> Result<(i64, i64)> {
    let pid = item_project(pool, item_id).await?;
    if !rights(pool, user, pid).await?.annotate {
        return Err(forbid("only the project's annotators write captions"));
    }
    Ok((pid, locking::timeout_s(pool, pid).await?))
}

/// Saves the text and extends the lock; returns the seconds the lock now lasts.
pub async fn autosave(pool: &AnyPool, user: &User, item_id: i64, text: &str) -> Result<f64> {
    let (_, timeout) = writer_check(pool, user, item_id).await?;
    check_text(text)?;
    if !locking::acquire(pool, item_id, user.id, timeout).await? {
        return Err(AnnotError::Conflict(
            "this item is locked by another annotator".into(),
        ));
    }
    sqlx::query(
        "INSERT INTO annot_autosave(item_id, user_id, text) VALUES ($1, $2, $3) \
         ON CONFLICT(item_id, user_id) DO UPDATE SET text = excluded.text, \
         updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    )
    .bind(item_id)
    .bind(user.id)
    .bind(text)
    .execute(pool)
    .await?;
    Ok(timeout as f64)
}

fn check_text(text: &str) -> Result<()> {
    if text.len() > MAX_CAPTION_CHARS {
        return Err(AnnotError::BadInput(format!(
            "a caption may have at most {MAX_CAPTION_CHARS} characters"
        )));
    }
    Ok(())
}

/// Records a version (submit or skip) under the user's lock, then frees the lock. Submissions
/// complete the round at `overlap`; the item then goes to review, or to the flagged queue when
/// any caption of the round carries a flag.
async fn record(
    pool: &AnyPool,
    user: &User,
    item_id: i64,
    kind: &str,
    text: &str,
    flags: &[String],
    checklist: &[String],
) -> Result<()> {
    writer_check(pool, user, item_id).await?;
    check_text(text)?;
    let mut tx = pool.begin().await?;
    // The first statement writes, so the transaction holds SQLite's write lock from the start
    // (PostgreSQL: the lock row it deletes).
    let acquired: Option<f64> = sqlx::query_scalar(
        "DELETE FROM annot_locks WHERE item_id = $1 AND user_id = $2 \
           AND expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
         RETURNING (julianday('now') - julianday(acquired_at)) * 86400.0",
    )
    .bind(item_id)
    .bind(user.id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(seconds) = acquired else {
        return Err(AnnotError::Conflict(
            "you do not hold this item's lock (it expired or another annotator has it)".into(),
        ));
    };
    let (status, round, overlap): (String, i64, i64) = sqlx::query_as(
        "SELECT i.status, i.round, p.overlap FROM annot_items i \
         JOIN annot_projects p ON p.id = i.project_id WHERE i.id = $1",
    )
    .bind(item_id)
    .fetch_one(&mut *tx)
    .await?;
    if status != "open" {
        return Err(AnnotError::Conflict(format!(
            "this item is {status}, not open"
        )));
    }
    let done: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM annot_versions WHERE item_id = $1 AND user_id = $2 AND round = $3 \
         AND kind IN ('submit', 'skip')",
    )
    .bind(item_id)
    .bind(user.id)
    .bind(round)
    .fetch_one(&mut *tx)
    .await?;
    if done > 0 {
        return Err(AnnotError::Conflict("you already did this item".into()));
    }
    sqlx::query(
        "INSERT INTO annot_versions(item_id, user_id, round, kind, text, flags, checklist, seconds) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(item_id)
    .bind(user.id)
    .bind(round)
    .bind(kind)
    .bind(text)
    .bind(serde_json::to_string(flags).unwrap_or_default())
    .bind(serde_json::to_string(checklist).unwrap_or_default())
    .bind(seconds)
    .execute(&mut *tx)
    .await?;
    if kind == "submit" {
        sqlx::query(
            "UPDATE annot_items SET n_submits = n_submits + 1, \
               status = CASE WHEN n_submits + 1 < $2 THEN 'open' \
                 WHEN EXISTS (SELECT 1 FROM annot_versions v WHERE v.item_id = $1 \
                   AND v.round = $3 AND v.kind = 'submit' AND v.flags <> '[]') THEN 'flagged' \
                 ELSE 'review' END \
             WHERE id = $1",
        )
        .bind(item_id)
        .bind(overlap)
        .bind(round)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM annot_autosave WHERE item_id = $1 AND user_id = $2")
        .bind(item_id)
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn submit(
    pool: &AnyPool,
    user: &User,
    item_id: i64,
    text: &str,
    flags: &[String],
    checklist: &[String],
) -> Result<()> {
    if let Some(f) = flags.iter().find(|f| !FLAGS.iter().any(|(k, _)| k == f)) {
        return Err(AnnotError::BadInput(format!("unknown flag {f:?}")));
    }
    if let Some(c) = checklist
        .iter()
        .find(|c| !crate::api::annotate::CHECKLIST.iter().any(|(k, _)| k == c))
    {
        return Err(AnnotError::BadInput(format!(
            "unknown checklist entry {c:?}"
        )));
    }
    if text.trim().is_empty() && flags.is_empty() {
        return Err(AnnotError::BadInput(
            "write a caption (or flag the clip)".into(),
        ));
    }
    record(pool, user, item_id, "submit", text, flags, checklist).await
}

pub async fn skip(pool: &AnyPool, user: &User, item_id: i64) -> Result<()> {
    record(pool, user, item_id, "skip", "", &[], &[]).await
}

pub async fn hotkeys(pool: &AnyPool, user_id: i64) -> Result<Hotkeys> {
    let s: Option<String> =
        sqlx::query_scalar("SELECT hotkeys FROM annot_prefs WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
    Ok(s.and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

pub async fn set_hotkeys(pool: &AnyPool, user_id: i64, keys: &Hotkeys) -> Result<()> {
    for k in [&keys.submit, &keys.skip, &keys.flag, &keys.next, &keys.play] {
        if k.trim().is_empty() || k.len() > 40 {
            return Err(AnnotError::BadInput(format!("invalid hotkey {k:?}")));
        }
    }
    let all = [&keys.submit, &keys.skip, &keys.flag, &keys.next, &keys.play];
    for (i, a) in all.iter().enumerate() {
        if all[i + 1..].iter().any(|b| b.eq_ignore_ascii_case(a)) {
            return Err(AnnotError::BadInput(format!("hotkey {a:?} is used twice")));
        }
    }
    sqlx::query(
        "INSERT INTO annot_prefs(user_id, hotkeys) VALUES ($1, $2) \
         ON CONFLICT(user_id) DO UPDATE SET hotkeys = excluded.hotkeys",
    )
    .bind(user_id)
    .bind(serde_json::to_string(keys).unwrap_or_default())
    .execute(pool)
    .await?;
    Ok(())
}
