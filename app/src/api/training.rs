//! Training jobs (the Jobs page): the built-in model's two-stage trainer on ChronoMagic-Synth,
//! queued for the job worker.
use leptos::prelude::*;

/// Queues a training run (researchers). Returns the job id; the weights folder lands in
/// `models/<id>/` of the data dir (`magictime serve --model <data dir>/models/<id>` uses it).
#[server(prefix = "/api", endpoint = "queue_train")]
pub async fn queue_train(
    csrf_token: String,
    clips: usize,
    seed: u64,
    vae_steps: usize,
    unet_steps: usize,
    max_minutes: f64,
) -> Result<i64, ServerFnError> {
    use crate::{
        ssr::{auth, jobs},
        types::{Role, TrainParams},
    };
    use axum::http::StatusCode;
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let user = auth::require_role(Role::Researcher).await?;
    let bad = |m: &str| auth::fail(StatusCode::UNPROCESSABLE_ENTITY, m);
    if !(4..=10_000).contains(&clips) {
        return Err(bad("clips must be 4–10000"));
    }
    if !(1..=100_000).contains(&vae_steps) || !(1..=100_000).contains(&unet_steps) {
        return Err(bad("steps must be 1–100000 per stage"));
    }
    if !(max_minutes.is_finite() && (0.1..=1440.0).contains(&max_minutes)) {
        return Err(bad("the time budget must be 0.1–1440 minutes"));
    }
    let params = TrainParams {
        clips,
        seed,
        vae_steps,
        unet_steps,
        max_minutes,
    };
    let json = serde_json::to_string(&params).map_err(auth::internal)?;
    let id = jobs::submit(&state.pool, "train", &json, user.id)
        .await
        .map_err(auth::internal)?;
    state.jobs_notify.notify_one();
    tracing::info!(job = id, user = user.id, "training queued");
    Ok(id)
}
