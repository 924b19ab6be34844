//! Stimuli from the generation gallery: the video of a finished `generate` job, tagged with a
//! condition (the researcher's name for the model; the loaded model's description by default)
//! and the job's prompt, normalised through the same path as folder imports and uploads
//! (`ssr::studies::stimuli::add_generated`).
use std::collections::HashMap;

use axum::{
    extract::{Path as UrlPath, State},
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
    Form, Json,
};
use magictime_app::ssr::{
    studies::{stimuli, store::StudyError},
    ServerState,
};
use serde_json::json;

use super::{back, bad, owned, AppError};

/// `POST /studies/{id}/import_generated`: form fields `job` (the generation job's id) and
/// `condition` (optional).
pub(super) async fn import_generated(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let st = owned(&state, &headers, id).await?;
    if matches!(st.status.as_str(), "live" | "closed") {
        return Err(StudyError::Frozen(st.status).into());
    }
    let job: i64 = f
        .get("job")
        .map(|j| j.trim())
        .unwrap_or("")
        .parse()
        .map_err(|_| bad("field `job`: choose a generated video"))?;
    let condition = f.get("condition").map(|c| c.as_str());
    let (condition, prompt) = stimuli::add_generated(&state, &st, job, condition).await?;
    tracing::info!(study = id, job, "stimulus added from the gallery");
    if headers
        .get(header::ACCEPT)
        .is_some_and(|a| a.to_str().is_ok_and(|a| a.contains("json")))
    {
        return Ok(
            Json(json!({ "imported": 1, "condition": condition, "prompt": prompt }))
                .into_response(),
        );
    }
    Ok(back(id))
}
