//! Generation jobs: submit, list (with progress), cancel.
// The generate server fn takes the form's fields; `#[server]` also generates the client
// (hydrate) side, which an item-level allow does not reach.
#![allow(clippy::too_many_arguments)]
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

use crate::types::JobView;

/// Queues a text-to-video generation (researchers). Returns the job id.
///
/// The model fields are the page's picker: `model` (an id of [`generate_models`]; absent: the
/// built-in model with all its adapters), `dreambooth` (a file name it offers; empty: none),
/// `adapter_s` / `adapter_t` / `adapter_te` (present: applied; with `model` given, absent: off),
/// `format` (`gif`, `webp` or `png` written besides the MP4 and the frames zip); `fps` the
/// video's frame rate (1–60; absent: 8).
#[server(prefix = "/api", endpoint = "generate")]
pub async fn submit_generation(
    csrf_token: String,
    prompt: String,
    negative: String,
    seed: u64,
    steps: usize,
    cfg: f64,
    frames: usize,
    size: usize,
    model: Option<String>,
    dreambooth: Option<String>,
    adapter_s: Option<String>,
    adapter_t: Option<String>,
    adapter_te: Option<String>,
    format: Option<String>,
    fps: Option<f64>,
) -> Result<i64, ServerFnError> {
    use crate::{
        ssr::{auth, jobs},
        types::{GenerateParams, Role, BUILTIN_MODEL, FORMATS, MAX_FRAME_PIXELS},
    };
    use axum::http::StatusCode;
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let user = auth::require_role(Role::Researcher).await?;
    let prompt = prompt.trim().to_owned();
    let bad = |m: &str| auth::fail(StatusCode::UNPROCESSABLE_ENTITY, m);
    if prompt.is_empty() {
        return Err(bad("the prompt is empty"));
    }
    if prompt.chars().count() > 1000 || negative.chars().count() > 1000 {
        return Err(bad("prompts are limited to 1000 characters"));
    }
    if !(1..=100).contains(&steps) || frames == 0 || !(0.0..=30.0).contains(&cfg) {
        return Err(bad("steps must be 1–100, frames at least 1, guidance 0–30"));
    }
    // The model only checks the stride; memory grows with size² (and attention with size⁴):
    // the same bounds as the form's.
    if !(16..=512).contains(&size) {
        return Err(bad("size must be 16–512 pixels"));
    }
    // Beyond the motion modules' 32 frames the video runs in context windows (the model allows
    // 512 frames): the work and memory grow with frames × size², bounded here.
    let pixels = frames.saturating_mul(size * size);
    if pixels > MAX_FRAME_PIXELS {
        return Err(bad(&format!(
            "frames × size² is at most {MAX_FRAME_PIXELS} on this server (32 frames at 512 px, \
             128 at 256 px, 512 at 128 px); {frames} frames at {size} px are {pixels}"
        )));
    }
    let fps = fps.unwrap_or(8.0);
    if !(1.0..=60.0).contains(&fps) {
        return Err(bad("frames per second must be 1–60"));
    }
    let format = format.filter(|f| !f.is_empty() && f != "mp4");
    if let Some(f) = &format {
        if !FORMATS.iter().any(|(ext, _)| ext == f) {
            let known: Vec<&str> = FORMATS.iter().map(|(ext, _)| *ext).collect();
            return Err(bad(&format!(
                "Output format {f:?} is unknown (there are {})",
                known.join(", ")
            )));
        }
    }
    // without the picker's fields: the built-in model as it always ran, all its adapters
    let adapters = model.is_some().then(|| {
        [("s", &adapter_s), ("t", &adapter_t), ("te", &adapter_te)]
            .into_iter()
            .filter(|(_, on)| on.is_some())
            .map(|(id, _)| id.to_owned())
            .collect()
    });
    let params = GenerateParams {
        prompt,
        negative,
        seed,
        steps,
        cfg,
        frames,
        size,
        fps,
        model: model.unwrap_or_else(|| BUILTIN_MODEL.to_owned()),
        dreambooth: dreambooth.filter(|d| !d.is_empty()),
        adapters,
        formats: format.into_iter().collect(),
    };
    let generator = state.generator.clone();
    let checked = {
        let p = params.clone();
        tokio::task::spawn_blocking(move || generator.check(&p))
            .await
            .map_err(auth::internal)?
    };
    checked.map_err(|e| bad(&e))?;
    let json = serde_json::to_string(&params).map_err(auth::internal)?;
    let cap = state.max_queued_generations;
    let queued = jobs::submit_capped(&state.pool, "generate", &json, user.id, cap)
        .await
        .map_err(auth::internal)?;
    let Some(id) = queued else {
        return Err(auth::fail(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "you have {cap} generations waiting in the queue already: wait until one \
                 starts, or cancel one"
            ),
        ));
    };
    state.jobs_notify.notify_one();
    tracing::info!(job = id, user = user.id, model = %params.model, "generation queued");
    Ok(id)
}

/// Queues an evaluation (researchers): `real` and `fake` are folders or manifests relative to
/// the server's data dir, `metrics` comma-separated (fvd, fid, kid, clipsim, mt), `n` videos per
/// set. Returns the job id; the report lands in `eval/<id>/` of the data dir.
#[server(prefix = "/api", endpoint = "queue_eval")]
pub async fn queue_eval(
    csrf_token: String,
    real: String,
    fake: String,
    metrics: String,
    n: usize,
) -> Result<i64, ServerFnError> {
    use crate::{
        ssr::{auth, jobs},
        types::{EvalParams, Role, EVAL_METRICS},
    };
    use axum::http::StatusCode;
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let user = auth::require_role(Role::Researcher).await?;
    let bad = |m: &str| auth::fail(StatusCode::UNPROCESSABLE_ENTITY, m);
    let metrics: Vec<String> = metrics
        .split(',')
        .map(|m| m.trim().to_lowercase())
        .filter(|m| !m.is_empty())
        .collect();
    if metrics.is_empty() {
        return Err(bad("choose at least one metric"));
    }
    if let Some(m) = metrics.iter().find(|m| !EVAL_METRICS.contains(&m.as_str())) {
        return Err(bad(&format!(
            "unknown metric {m:?} (known: {})",
            EVAL_METRICS.join(", ")
        )));
    }
    if !(2..=10_000).contains(&n) {
        return Err(bad("videos per set must be 2–10000"));
    }
    let needs_real = metrics
        .iter()
        .any(|m| matches!(m.as_str(), "fvd" | "fid" | "kid"));
    if needs_real {
        jobs::data_path(&state.data_dir, &real).map_err(|e| bad(&e))?;
    }
    jobs::data_path(&state.data_dir, &fake).map_err(|e| bad(&e))?;
    let params = EvalParams {
        real: real.trim().to_owned(),
        fake: fake.trim().to_owned(),
        metrics,
        n,
    };
    let json = serde_json::to_string(&params).map_err(auth::internal)?;
    let id = jobs::submit(&state.pool, "eval", &json, user.id)
        .await
        .map_err(auth::internal)?;
    state.jobs_notify.notify_one();
    Ok(id)
}

/// Jobs, newest first (researchers); `kind` filters.
#[server(prefix = "/api", endpoint = "jobs", input = GetUrl)]
pub async fn list_jobs(kind: Option<String>) -> Result<Vec<JobView>, ServerFnError> {
    use crate::{
        ssr::{auth, jobs},
        types::Role,
    };
    let state = crate::ssr::state()?;
    auth::require_role(Role::Researcher).await?;
    jobs::list(&state.pool, kind.as_deref().filter(|k| !k.is_empty()), 200)
        .await
        .map_err(auth::internal)
}

/// Cancels one of your jobs (admins: anyone's): a queued one at once, a running one by asking
/// its worker to stop it between two steps (a generation within one denoising step). Returns
/// whether there was such a job to cancel.
#[server(prefix = "/api", endpoint = "cancel_job")]
pub async fn cancel_job(csrf_token: String, id: i64) -> Result<bool, ServerFnError> {
    use crate::{
        ssr::{auth, jobs},
        types::Role,
    };
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let user = auth::require_role(Role::Researcher).await?;
    let owner = (user.role != Role::Admin).then_some(user.id);
    let cancelled = jobs::cancel(&state.pool, id, owner)
        .await
        .map_err(auth::internal)?;
    match cancelled {
        Some(jobs::Cancel::Cancelled) => {
            tracing::info!(job = id, "cancelled while queued");
            // a training job queued to resume will not: its checkpoints go
            crate::ssr::train::remove_checkpoints(&state.data_dir, id);
        }
        Some(jobs::Cancel::Requested) => tracing::info!(job = id, "cancel asked of its worker"),
        None => {}
    }
    Ok(cancelled.is_some())
}

/// The models the server generates with, the default first, each with its DreamBooth files,
/// adapters and own generation settings (researchers only).
#[server(prefix = "/api", endpoint = "generate_models", input = GetUrl)]
pub async fn generate_models() -> Result<Vec<crate::types::ModelOption>, ServerFnError> {
    use crate::{ssr::auth, types::Role};
    let state = crate::ssr::state()?;
    auth::require_role(Role::Researcher).await?;
    let generator = state.generator.clone();
    tokio::task::spawn_blocking(move || generator.models())
        .await
        .map_err(auth::internal)
}

/// One generation with its settings and, once done, its provenance and downloads (researchers;
/// the page `/generations/{id}`). `None`: no generation of that id.
#[server(prefix = "/api", endpoint = "generation", input = GetUrl)]
pub async fn get_generation(
    id: i64,
) -> Result<Option<crate::types::GenerationView>, ServerFnError> {
    use crate::{
        ssr::{auth, jobs},
        types::Role,
    };
    let state = crate::ssr::state()?;
    auth::require_role(Role::Researcher).await?;
    jobs::generation(&state.pool, id)
        .await
        .map_err(auth::internal)
}
