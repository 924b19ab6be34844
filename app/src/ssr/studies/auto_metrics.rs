//! Automatic metrics beside the votes: per condition, the mean CLIPSIM and metamorphic score of
//! the study's normalised stimuli (degraded gold copies left out), computed in the background by
//! a [`crate::ssr::scorer::VideoScorer`] and cached in `study_metrics`
//! (`migrations/0006_study_metrics.sql`) with a key of the stimuli they came from.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;

use super::store;
use crate::ssr::scorer::VideoScore;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditionMetrics {
    pub condition: String,
    /// Videos averaged.
    pub videos: usize,
    pub clipsim: f64,
    pub clipsim_x100: f64,
    pub metamorphic: f64,
}

/// What the results page and the analysis JSON show.
#[derive(Clone, Debug, Serialize)]
pub struct MetricsView {
    /// `not_computed`, `running`, `done`, `failed` or `not_available`.
    pub status: String,
    pub embedder: Option<String>,
    pub conditions: Vec<ConditionMetrics>,
    /// Why the metrics failed or are not available.
    pub error: Option<String>,
    /// The stimuli changed since the values were computed.
    pub stale: bool,
    pub computed_at: Option<String>,
}

/// One stimulus to score: (media id, condition, prompt).
pub type Item = (String, String, String);

/// The stimuli that count (normal role) and a key of them.
pub async fn items(pool: &AnyPool, study: i64) -> Result<(Vec<Item>, String), sqlx::Error> {
    let rows: Vec<Item> = sqlx::query_as(
        "SELECT media_id, condition, prompt FROM stimuli WHERE study_id = $1 AND role = 'normal' \
         ORDER BY condition, prompt",
    )
    .bind(study)
    .fetch_all(pool)
    .await?;
    let key = crate::ssr::cookies::token_hash(
        &rows
            .iter()
            .map(|(m, c, p)| format!("{m}\u{1f}{c}\u{1f}{p}"))
            .collect::<Vec<_>>()
            .join("\u{1e}"),
    );
    Ok((rows, key))
}

/// Claims the computation for a study; `false` when one is already running (a claim older than
/// 30 minutes counts as abandoned, e.g. by a restart).
pub async fn begin(pool: &AnyPool, study: i64, key: &str) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO study_metrics(study_id, status, stimuli_key) VALUES ($1, 'running', $2) \
         ON CONFLICT(study_id) DO UPDATE SET status = 'running', stimuli_key = $2, error = NULL, \
         started_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), finished_at = NULL \
         WHERE study_metrics.status != 'running' \
            OR study_metrics.started_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-30 minutes')",
    )
    .bind(study)
    .bind(key)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Per-condition means of per-video scores.
pub fn aggregate(items: &[Item], scores: &[VideoScore]) -> Vec<ConditionMetrics> {
    let mut by: BTreeMap<&str, Vec<VideoScore>> = BTreeMap::new();
    for ((_, c, _), s) in items.iter().zip(scores) {
        by.entry(c).or_default().push(*s);
    }
    by.into_iter()
        .map(|(c, v)| {
            let n = v.len() as f64;
            let clipsim = v.iter().map(|s| s.clipsim).sum::<f64>() / n;
            ConditionMetrics {
                condition: c.to_owned(),
                videos: v.len(),
                clipsim,
                clipsim_x100: clipsim * 100.0,
                metamorphic: v.iter().map(|s| s.metamorphic).sum::<f64>() / n,
            }
        })
        .collect()
}

pub async fn finish(
    pool: &AnyPool,
    study: i64,
    result: Result<(String, Vec<ConditionMetrics>), String>,
) -> Result<(), sqlx::Error> {
    let (status, embedder, json, error) = match result {
        Ok((e, c)) => (
            "done",
            Some(e),
            Some(serde_json::to_string(&c).expect("metrics serialise")),
            None,
        ),
        Err(e) => ("failed", None, None, Some(e)),
    };
    sqlx::query(
        "UPDATE study_metrics SET status = $1, embedder = COALESCE($2, embedder), \
         result = COALESCE($3, result), error = $4, \
         finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE study_id = $5",
    )
    .bind(status)
    .bind(embedder)
    .bind(json)
    .bind(error)
    .bind(study)
    .execute(pool)
    .await?;
    Ok(())
}

/// The cached metrics of a study (`unavailable`: why no scorer is configured, if so).
pub async fn view(
    pool: &AnyPool,
    study: i64,
    unavailable: Option<String>,
) -> Result<MetricsView, store::StudyError> {
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT status, stimuli_key, embedder, result, error, finished_at FROM study_metrics \
         WHERE study_id = $1",
    )
    .bind(study)
    .fetch_optional(pool)
    .await?;
    let (_, key) = items(pool, study).await?;
    let mut v = MetricsView {
        status: "not_computed".into(),
        embedder: None,
        conditions: vec![],
        error: None,
        stale: false,
        computed_at: None,
    };
    if let Some((status, k, embedder, result, error, at)) = row {
        v.status = status;
        v.stale = k != key;
        v.embedder = embedder;
        v.error = error;
        v.computed_at = at;
        v.conditions = result
            .and_then(|r| serde_json::from_str(&r).ok())
            .unwrap_or_default();
    }
    if let Some(why) = unavailable {
        if v.conditions.is_empty() {
            v.status = "not_available".into();
            v.error = Some(why);
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_per_condition() {
        let it = |c: &str| ("m".to_owned(), c.to_owned(), "p".to_owned());
        let s = |a: f64, b: f64| VideoScore {
            clipsim: a,
            metamorphic: b,
        };
        let m = aggregate(
            &[it("B"), it("A"), it("B")],
            &[s(0.2, 0.5), s(0.3, 0.1), s(0.4, 0.7)],
        );
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].condition.as_str(), m[0].videos), ("A", 1));
        assert!((m[1].clipsim - 0.3).abs() < 1e-12 && (m[1].metamorphic - 0.6).abs() < 1e-12);
        assert!((m[1].clipsim_x100 - 30.0).abs() < 1e-9);
    }
}
