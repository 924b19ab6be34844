//! The job queue in SQLite: submit, claim (one worker at a time per job), progress, finish,
//! list. A job that was running when the server stopped is marked failed at the next start
//! (a training job is queued again: it resumes from its checkpoints).
use sqlx::SqlitePool;

use crate::types::JobView;

pub async fn submit(
    pool: &SqlitePool,
    kind: &str,
    params: &str,
    user_id: i64,
) -> Result<i64, sqlx::Error> {
    let r = sqlx::query("INSERT INTO jobs(kind, params, created_by) VALUES (?, ?, ?)")
        .bind(kind)
        .bind(params)
        .bind(user_id)
        .execute(pool)
        .await?;
    Ok(r.last_insert_rowid())
}

/// A claimed job: id, kind, params JSON.
pub type Claimed = (i64, String, String);

/// Atomically takes the oldest queued job of one of `kinds` and marks it running.
pub async fn claim(pool: &SqlitePool, kind: &str) -> Result<Option<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE jobs SET status = 'running', started_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
         WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND kind = ? ORDER BY id LIMIT 1) \
         RETURNING id, kind, params",
    )
    .bind(kind)
    .fetch_optional(pool)
    .await
}

pub async fn set_progress(
    pool: &SqlitePool,
    id: i64,
    progress: f64,
    message: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE jobs SET progress = ?, message = ? WHERE id = ? AND status = 'running'")
        .bind(progress.clamp(0.0, 1.0))
        .bind(message)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn finish(
    pool: &SqlitePool,
    id: i64,
    result: Result<String, String>,
) -> Result<(), sqlx::Error> {
    let (status, progress, message, result) = match result {
        Ok(json) => {
            // A job may summarise its result in one line (e.g. "FVD 973.53 (N=6/6)").
            let summary = serde_json::from_str::<serde_json::Value>(&json)
                .ok()
                .and_then(|v| v.get("summary").and_then(|s| s.as_str()).map(str::to_owned))
                .unwrap_or_else(|| "done".to_owned());
            ("done", 1.0, summary, Some(json))
        }
        Err(e) => ("failed", 0.0, e, None),
    };
    sqlx::query(
        "UPDATE jobs SET status = ?, progress = MAX(progress, ?), message = ?, result = ?, \
         finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
    )
    .bind(status)
    .bind(progress)
    .bind(message)
    .bind(result)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// A user-given path inside the data dir: relative, without `..`, existing, and still inside
/// once symlinks are resolved (a link to `/etc` in the data dir is refused). Errors are meant for
/// the user.
pub fn data_path(data_dir: &std::path::Path, rel: &str) -> Result<std::path::PathBuf, String> {
    use std::path::Component;
    let rel = rel.trim();
    let p = std::path::Path::new(rel);
    if rel.is_empty()
        || !p
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "{rel:?}: give a path relative to the server's data dir, without '..'"
        ));
    }
    let full = data_dir.join(p);
    if !full.exists() {
        return Err(format!("{rel:?} does not exist in the server's data dir"));
    }
    let (Ok(root), Ok(real)) = (data_dir.canonicalize(), full.canonicalize()) else {
        return Err(format!(
            "{rel:?} cannot be resolved in the server's data dir"
        ));
    };
    if !real.starts_with(&root) {
        return Err(format!(
            "{rel:?} leads outside the server's data dir (through a symbolic link)"
        ));
    }
    Ok(full)
}

/// Cancels a queued job (running jobs finish). Returns whether it was cancelled.
pub async fn cancel(pool: &SqlitePool, id: i64, user_id: Option<i64>) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE jobs SET status = 'cancelled', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
         WHERE id = ? AND status = 'queued' AND (? IS NULL OR created_by = ?)",
    )
    .bind(id)
    .bind(user_id)
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Jobs interrupted by a stop of the server: training jobs go back to the queue (they resume
/// from their checkpoints), the others are marked failed. Returns (requeued, failed).
pub async fn recover_interrupted(pool: &SqlitePool) -> Result<(u64, u64), sqlx::Error> {
    let requeued = sqlx::query(
        "UPDATE jobs SET status = 'queued', started_at = NULL, \
         message = 'interrupted by a server stop: resumes from its checkpoints' \
         WHERE status = 'running' AND kind = 'train'",
    )
    .execute(pool)
    .await?;
    let failed = sqlx::query(
        "UPDATE jobs SET status = 'failed', message = 'interrupted: the server stopped while it ran', \
         finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE status = 'running'",
    )
    .execute(pool)
    .await?;
    Ok((requeued.rows_affected(), failed.rows_affected()))
}

/// Newest first; `kind` filters when given.
pub async fn list(
    pool: &SqlitePool,
    kind: Option<&str>,
    limit: i64,
) -> Result<Vec<JobView>, sqlx::Error> {
    type Row = (
        i64,
        String,
        String,
        f64,
        String,
        String,
        String,
        Option<String>,
        String,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT j.id, j.kind, j.status, j.progress, j.message, u.email, j.created_at, j.finished_at, \
         j.params, j.result FROM jobs j JOIN users u ON u.id = j.created_by \
         WHERE (? IS NULL OR j.kind = ?) ORDER BY j.id DESC LIMIT ?",
    )
    .bind(kind)
    .bind(kind)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                kind,
                status,
                progress,
                message,
                created_by,
                created_at,
                finished_at,
                params,
                result,
            )| {
                let video_url = (kind == "generate" && status == "done" && result.is_some())
                    .then(|| format!("/media/generated/{id}.mp4"));
                JobView {
                    id,
                    kind,
                    status,
                    progress,
                    message,
                    created_by,
                    created_at,
                    finished_at,
                    params,
                    video_url,
                }
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_paths_stay_inside_the_data_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        std::fs::create_dir_all(root.join("set")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        std::os::unix::fs::symlink(root.join("set"), root.join("alias")).unwrap();
        assert!(data_path(&root, "set").is_ok());
        assert!(data_path(&root, "alias").is_ok(), "links inside are fine");
        let e = data_path(&root, "escape").unwrap_err();
        assert!(e.contains("outside"), "{e}");
        assert!(data_path(&root, "escape/passwd").is_err());
        assert!(data_path(&root, "../data/set").is_err());
        assert!(data_path(&root, "/etc").is_err());
    }

    #[tokio::test]
    async fn queue_lifecycle() {
        let tmp = tempfile::tempdir().unwrap();
        let (pool, u) = super::super::db::researcher_db(tmp.path()).await;
        // An unknown kind cannot be queued (the schema refuses it), so the worker never meets one
        // it would have to guess about (it once ran them as generations).
        let e = submit(&pool, "bogus", "{}", u.id).await.unwrap_err();
        assert!(e.to_string().contains("CHECK constraint"), "{e}");
        assert!(list(&pool, None, 10).await.unwrap().is_empty());
        let a = submit(&pool, "generate", "{\"n\":1}", u.id).await.unwrap();
        let b = submit(&pool, "generate", "{\"n\":2}", u.id).await.unwrap();
        assert!(claim(&pool, "eval").await.unwrap().is_none());
        let (id, kind, params) = claim(&pool, "generate").await.unwrap().unwrap();
        assert_eq!(
            (id, kind.as_str(), params.as_str()),
            (a, "generate", "{\"n\":1}")
        );
        assert!(cancel(&pool, b, Some(u.id)).await.unwrap());
        assert!(
            !cancel(&pool, a, Some(u.id)).await.unwrap(),
            "running jobs are not cancelled"
        );
        assert!(claim(&pool, "generate").await.unwrap().is_none());
        set_progress(&pool, a, 0.5, "denoise 5/10").await.unwrap();
        let l = list(&pool, None, 10).await.unwrap();
        assert_eq!(l[1].progress, 0.5);
        assert_eq!(l[0].status, "cancelled");
        finish(&pool, a, Ok("{}".into())).await.unwrap();
        let l = list(&pool, Some("generate"), 10).await.unwrap();
        assert_eq!(l[1].status, "done");
        assert_eq!(
            l[1].video_url.as_deref(),
            Some(&*format!("/media/generated/{a}.mp4"))
        );
        let c = submit(&pool, "generate", "{}", u.id).await.unwrap();
        claim(&pool, "generate").await.unwrap();
        let t = submit(&pool, "train", "{}", u.id).await.unwrap();
        claim(&pool, "train").await.unwrap();
        set_progress(&pool, t, 0.4, "stage a unet").await.unwrap();
        assert_eq!(recover_interrupted(&pool).await.unwrap(), (1, 1));
        let l = list(&pool, None, 10).await.unwrap();
        assert_eq!((l[0].id, l[0].status.as_str()), (t, "queued"));
        assert!(l[0].message.contains("resumes from its checkpoints"));
        assert_eq!((l[1].id, l[1].status.as_str()), (c, "failed"));
        // the requeued job is claimed again like any queued one
        let again = claim(&pool, "train").await.unwrap().unwrap();
        assert_eq!(again.0, t);
        pool.close().await;
    }
}
