//! Automatic metrics beside the votes: `POST /studies/{id}/metrics` starts the computation in
//! the background (CLIPSIM and metamorphic score of the normalised stimuli, per condition) and
//! returns at once; the cached values (`study_metrics`) appear on the study's page and in the
//! analysis JSON. Page views only read the cache.
use axum::{
    extract::{Path as UrlPath, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use magictime_app::ssr::{
    studies::{
        auto_metrics::{self, MetricsView},
        store,
    },
    ServerState,
};
use serde_json::json;

use super::{back, owned, AppError};

pub(super) async fn view(state: &ServerState, study: i64) -> Result<MetricsView, AppError> {
    Ok(auto_metrics::view(&state.pool, study, state.scorer.available().err()).await?)
}

pub(super) async fn compute(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    owned(&state, &headers, id).await?;
    state.scorer.available().map_err(AppError::Invalid)?;
    let (items, key) = auto_metrics::items(&state.pool, id).await?;
    if items.is_empty() {
        return Err(super::bad("the study has no stimuli to score yet"));
    }
    let started = auto_metrics::begin(&state.pool, id, &key).await?;
    if started {
        tokio::spawn(run(state.clone(), id, items));
    }
    if headers
        .get(header::ACCEPT)
        .is_some_and(|a| a.to_str().is_ok_and(|a| a.contains("json")))
    {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "status": "running", "started": started })),
        )
            .into_response());
    }
    Ok(back(id))
}

async fn run(state: ServerState, id: i64, items: Vec<auto_metrics::Item>) {
    let t0 = std::time::Instant::now();
    let dir = store::media_dir(&state.data_dir, id);
    let videos: Vec<_> = items
        .iter()
        .map(|(m, _, p)| (dir.join(format!("{m}.mp4")), p.clone()))
        .collect();
    let scorer = state.scorer.clone();
    let result = match tokio::task::spawn_blocking(move || scorer.score(&videos)).await {
        Ok(Ok((name, scores))) => Ok((name, auto_metrics::aggregate(&items, &scores))),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(format!("the metrics computation crashed: {e}")),
    };
    match &result {
        Ok(_) => tracing::info!(
            study = id,
            secs = t0.elapsed().as_secs_f64(),
            "automatic metrics computed"
        ),
        Err(e) => tracing::warn!(study = id, "automatic metrics failed: {e}"),
    }
    if let Err(e) = auto_metrics::finish(&state.pool, id, result).await {
        tracing::error!(study = id, "automatic metrics: {e}");
    }
}
