//! Researcher: the analysis JSON, the design JSON, raw-trial exports (CSV, JSONL) and SVG plots.
use axum::{
    extract::{Path as UrlPath, State},
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
};
use magictime_app::ssr::{
    studies::{
        analysis, plots,
        store::{self, StudyError},
    },
    ServerState,
};
use serde_json::json;

use super::{auto_metrics, demographics, download, owned, AppError};

pub(super) async fn results_json(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let st = owned(&state, &headers, id).await?;
    let a = analysis::analyse(&state.pool, &st).await?;
    let mut v = serde_json::to_value(&a).expect("analysis serialises");
    v["automatic_metrics"] = json!(auto_metrics::view(&state, id).await?);
    v["demographics"] = json!(demographics::counts(&state, &st).await?);
    Ok(download(
        serde_json::to_string_pretty(&v).expect("analysis serialises"),
        "application/json",
        &format!("study-{id}-analysis.json"),
    ))
}

pub(super) async fn design_json(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let st = owned(&state, &headers, id).await?;
    let stimuli = store::stimulus_rows(&state.pool, id).await?;
    let body =
        json!({ "title": st.title, "status": st.status, "design": st.design, "stimuli": stimuli });
    Ok(download(
        serde_json::to_string_pretty(&body).expect("json"),
        "application/json",
        &format!("study-{id}-design.json"),
    ))
}

pub(super) async fn export_csv(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let st = owned(&state, &headers, id).await?;
    let rows = analysis::answer_rows(&state.pool, &st).await?;
    Ok(download(
        analysis::to_csv(&rows),
        "text/csv; charset=utf-8",
        &format!("study-{id}-trials.csv"),
    ))
}

pub(super) async fn export_jsonl(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let st = owned(&state, &headers, id).await?;
    let rows = analysis::answer_rows(&state.pool, &st).await?;
    Ok(download(
        analysis::to_jsonl(&rows),
        "application/x-ndjson",
        &format!("study-{id}-trials.jsonl"),
    ))
}

pub(super) async fn plot(
    State(state): State<ServerState>,
    UrlPath((id, criterion, which)): UrlPath<(i64, usize, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let st = owned(&state, &headers, id).await?;
    let a = analysis::analyse(&state.pool, &st).await?;
    let c = a
        .criteria
        .get(criterion)
        .ok_or_else(|| AppError::NotFound("no such criterion".into()))?;
    let svg = match which.as_str() {
        "bars.svg" => plots::win_rate_bars(c),
        "matrix.svg" => plots::win_matrix_heatmap(c),
        _ => return Err(AppError::NotFound("no such plot".into())),
    }
    .map_err(StudyError::Internal)?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}
