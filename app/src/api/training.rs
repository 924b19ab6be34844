//! Training jobs (the Jobs page): MagicTime's recipe (stages a–d of the built-in model's
//! trainer) on ChronoMagic-Synth, queued for the job worker, and their loss curves.
// The queue server fn takes the form's ten fields; `#[server]` also generates the client
// (hydrate) side, which an item-level allow does not reach.
#![allow(clippy::too_many_arguments)]
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

use crate::error::AppError;
use crate::types::TrainCurve;

/// Queues a training run (researchers). Returns the job id; the weights folder lands in
/// `models/<id>/` of the data dir (`magictime serve --model <data dir>/models/<id>` uses it).
/// `stage` is one of all, a, b, c, d; stages b–d start from `start_from`, the id of a finished
/// training job of the same preset whose weights folder the run copies first. `text_encoder`
/// (stage a): `in-domain` starts from the in-domain CLIP's text tower and keeps it frozen, as
/// Stable Diffusion keeps its CLIP; `scratch` trains a small one with the UNet.
#[server(prefix = "/api", endpoint = "queue_train")]
pub async fn queue_train(
    csrf_token: String,
    stage: String,
    preset: String,
    start_from: String,
    text_encoder: String,
    clips: usize,
    seed: u64,
    vae_steps: usize,
    unet_steps: usize,
    max_minutes: f64,
) -> Result<i64, AppError> {
    use crate::{
        ssr::{auth, jobs},
        types::{Role, TrainParams, TRAIN_PRESETS, TRAIN_STAGES},
    };
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let user = auth::require_role(Role::Researcher).await?;
    let bad = |m: &str| AppError::Invalid(m.to_owned());
    let (stage, preset) = (stage.trim().to_lowercase(), preset.trim().to_lowercase());
    if !TRAIN_STAGES.contains(&stage.as_str()) {
        return Err(bad("the stage must be one of all, a, b, c, d"));
    }
    if !TRAIN_PRESETS.contains(&preset.as_str()) {
        return Err(bad("the preset must be s32 or s64"));
    }
    let text_encoder = match text_encoder.trim() {
        "scratch" => None,
        "in-domain" => Some("in-domain".to_owned()),
        other => {
            return Err(bad(&format!(
                "text encoder: {other:?} is neither scratch nor in-domain"
            )))
        }
    };
    if !(4..=10_000).contains(&clips) {
        return Err(bad("clips must be 4–10000"));
    }
    if !(1..=100_000).contains(&vae_steps) || !(1..=100_000).contains(&unet_steps) {
        return Err(bad("steps must be 1–100000 per stage"));
    }
    if !(max_minutes.is_finite() && (0.1..=1440.0).contains(&max_minutes)) {
        return Err(bad("the time budget must be 0.1–1440 minutes"));
    }
    // stages a and all build everything themselves: "start from" is ignored
    let start_from = match (stage.as_str(), start_from.trim()) {
        ("all" | "a", _) => None,
        (_, "") => {
            return Err(bad(&format!(
                "stage {stage} trains on top of earlier stages: give the id of a finished training job to start from"
            )))
        }
        (_, from) => {
            let from = from
                .trim_start_matches('#')
                .parse::<i64>()
                .map_err(|_| bad(&format!("start from: {from:?} is not a job id")))?;
            let source = crate::ssr::train::source(&state.pool, &state.data_dir, from)
                .await
                .map_err(|e| bad(&e))?;
            if source.preset != preset {
                return Err(bad(&format!(
                    "start from: job #{from} trained preset {}, not {preset}",
                    source.preset
                )));
            }
            Some(from)
        }
    };
    let params = TrainParams {
        stage,
        preset,
        start_from,
        text_encoder,
        clips,
        seed,
        vae_steps,
        unet_steps,
        max_minutes,
    };
    let json = serde_json::to_string(&params).map_err(AppError::internal)?;
    let id = jobs::submit(&state.pool, "train", &json, user.id)
        .await
        .map_err(AppError::internal)?;
    state.jobs_notify.notify_one();
    tracing::info!(job = id, user = user.id, "training queued");
    Ok(id)
}

/// A training job's loss curve (per loop, at most [`TrainCurve::POINTS`] points) and, while it
/// runs, its ETA (researchers). `None` before its first steps, or for a job that failed.
#[server(prefix = "/api", endpoint = "train_curve", input = GetUrl)]
pub async fn training_curve(id: i64) -> Result<Option<TrainCurve>, AppError> {
    use crate::{
        ssr::{auth, train},
        types::Role,
    };
    let state = crate::ssr::state()?;
    auth::require_role(Role::Researcher).await?;
    train::curve(&state.pool, &state.data_dir, id)
        .await
        .map_err(AppError::internal)
}
