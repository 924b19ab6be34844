//! Ingest jobs (the Datasets page): ChronoMagic-Synth datasets and cut-and-split of a folder of
//! videos, queued for the job worker.
// One form posts every field of both sources; `#[server]` also generates the client side, which
// an item-level allow does not reach.
#![allow(clippy::too_many_arguments)]
use leptos::prelude::*;

use crate::error::AppError;

/// Queues an ingest job (researchers). `source` is `synth` (uses count, size, frames, seed,
/// kind) or `split` (uses folder, relative to the server's data dir, and min_frames). Returns
/// the job id; the dataset lands in `datasets/<id>/` of the data dir.
#[server(prefix = "/api", endpoint = "queue_ingest")]
pub async fn queue_ingest(
    csrf_token: String,
    source: String,
    #[server(default)] count: usize,
    #[server(default)] size: u32,
    #[server(default)] frames: usize,
    #[server(default)] seed: u64,
    #[server(default)] kind: String,
    #[server(default)] folder: String,
    #[server(default)] min_frames: usize,
) -> Result<i64, AppError> {
    use crate::{
        ssr::{auth, jobs},
        types::{IngestParams, Role, SYNTH_KINDS},
    };
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let user = auth::require_role(Role::Researcher).await?;
    let bad = |m: &str| AppError::Invalid(m.to_owned());
    let params = match source.as_str() {
        "synth" => {
            if !(1..=10_000).contains(&count) {
                return Err(bad("clips must be 1–10000"));
            }
            if !(32..=256).contains(&size) || size % 2 == 1 || !(8..=32).contains(&frames) {
                return Err(bad("size must be even and 32–256 px, frames 8–32"));
            }
            let kind = kind.trim().to_lowercase();
            if !SYNTH_KINDS.contains(&kind.as_str()) {
                return Err(bad(&format!(
                    "kind must be one of {}",
                    SYNTH_KINDS.join(", ")
                )));
            }
            IngestParams::Synth {
                count,
                size,
                frames,
                seed,
                kind,
            }
        }
        "split" => {
            let folder = folder.trim().to_owned();
            let dir = jobs::data_path(&state.data_dir, &folder).map_err(|e| bad(&e))?;
            if !dir.is_dir() {
                return Err(bad(&format!("{folder} is not a folder")));
            }
            if !(1..=10_000).contains(&min_frames) {
                return Err(bad("minimum clip length must be 1–10000 frames"));
            }
            IngestParams::Split { folder, min_frames }
        }
        _ => return Err(bad("source must be synth or split")),
    };
    let json = serde_json::to_string(&params).map_err(AppError::internal)?;
    let id = jobs::submit(&state.pool, "ingest", &json, user.id)
        .await
        .map_err(AppError::internal)?;
    state.jobs_notify.notify_one();
    tracing::info!(job = id, user = user.id, "ingest queued");
    Ok(id)
}
