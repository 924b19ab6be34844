//! Training jobs' files outside their weights folder: the checkpoints that let a job survive a
//! server stop (`checkpoints/train-<id>/` of the data dir, with the loss history `losses.json`
//! while it runs), and the checks of a job to start from.
use std::path::{Path, PathBuf};

use sqlx::AnyPool;

use crate::types::{TrainCurve, TrainHistory, TrainParams};

/// The folder of training job `id`'s checkpoints (and loss history while it runs).
pub fn checkpoints(data_dir: &Path, id: i64) -> PathBuf {
    data_dir.join("checkpoints").join(format!("train-{id}"))
}

/// The loss history a running training job writes next to its checkpoints.
pub fn losses_path(data_dir: &Path, id: i64) -> PathBuf {
    checkpoints(data_dir, id).join("losses.json")
}

/// Removes job `id`'s checkpoints (once it finished, failed or was cancelled).
pub fn remove_checkpoints(data_dir: &Path, id: i64) {
    let _ = std::fs::remove_dir_all(checkpoints(data_dir, id));
}

/// The parameters of finished training job `id`, whose weights folder `models/<id>/` a stage
/// b–d job may start from. Errors are meant for the user.
pub async fn source(pool: &AnyPool, data_dir: &Path, id: i64) -> Result<TrainParams, String> {
    let row: Option<(String, String, String)> =
        sqlx::query_as("SELECT kind, status, params FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(|e| format!("start from: {e}"))?;
    let Some((kind, status, params)) = row else {
        return Err(format!("start from: there is no job #{id}"));
    };
    if kind != "train" {
        return Err(format!(
            "start from: job #{id} is not a training job (it is {kind})"
        ));
    }
    if status != "done" {
        return Err(format!(
            "start from: training job #{id} is {status}, not finished"
        ));
    }
    if !data_dir.join("models").join(id.to_string()).is_dir() {
        return Err(format!(
            "start from: the weights of job #{id} (models/{id}) are gone"
        ));
    }
    serde_json::from_str(&params).map_err(|e| format!("start from: job #{id}: {e}"))
}

/// Training job `id`'s loss curve: from its result when done, from its `losses.json` while
/// queued (resuming) or running; `None` for other jobs or before its first write.
pub async fn curve(
    pool: &AnyPool,
    data_dir: &Path,
    id: i64,
) -> Result<Option<TrainCurve>, sqlx::Error> {
    let row: Option<(String, String, Option<String>)> =
        sqlx::query_as("SELECT kind, status, result FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    let Some((_, status, result)) = row.filter(|r| r.0 == "train") else {
        return Ok(None);
    };
    let history: Option<TrainHistory> = match (status.as_str(), result) {
        ("done", Some(r)) => serde_json::from_str::<serde_json::Value>(&r)
            .ok()
            .and_then(|v| serde_json::from_value(v.get("losses")?.clone()).ok()),
        ("queued" | "running", _) => std::fs::read(losses_path(data_dir, id))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok()),
        _ => None,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    Ok(history.map(|h| TrainCurve::of(&h, now, status == "running")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_finished_training_jobs_with_weights_are_sources() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let (pool, u) = super::super::db::researcher_db(&dir).await;
        let jobs = super::super::jobs::submit;
        let params =
            r#"{"preset":"s64","clips":8,"seed":1,"vae_steps":2,"unet_steps":2,"max_minutes":5.0}"#;
        let train = jobs(&pool, "train", params, u.id).await.unwrap();
        let eval = jobs(&pool, "eval", "{}", u.id).await.unwrap();
        let err = |r: Result<TrainParams, String>| r.unwrap_err();
        assert!(err(source(&pool, &dir, train).await).contains("is queued, not finished"));
        assert!(err(source(&pool, &dir, eval).await).contains("not a training job (it is eval)"));
        assert!(err(source(&pool, &dir, 99).await).contains("there is no job #99"));
        use super::super::jobs::{claim, finish, Leasing, Outcome};
        let leasing = Leasing {
            lease_ms: 60_000,
            max_attempts: 1,
        };
        let (c, _) = claim(&pool, "w", &["train"], leasing).await.unwrap();
        let lease = c.unwrap().lease;
        assert!(finish(&pool, &lease, Outcome::Done("{}".into()))
            .await
            .unwrap());
        assert!(err(source(&pool, &dir, train).await).contains("are gone"));
        std::fs::create_dir_all(dir.join("models").join(train.to_string())).unwrap();
        let p = source(&pool, &dir, train).await.unwrap();
        assert_eq!((p.preset.as_str(), p.stage.as_str()), ("s64", "all"));
        pool.close().await;
    }
}
