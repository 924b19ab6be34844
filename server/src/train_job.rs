//! Training jobs: the built-in model's trainer (`magictime model train-default`: MagicTime's
//! stages a–d on ChronoMagic-Synth) run by the job worker on a blocking
//! thread, writing a weights folder (upstream layout + `train_log.json`) to
//! `<data dir>/models/<job id>/`.
use std::path::Path;

use magictime_app::{ssr::ServerState, types::TrainParams};
use magictime_model::train::{run_train_default_with, TrainDefaultArgs};

fn run_blocking(
    data_dir: &Path,
    id: i64,
    p: TrainParams,
    progress: crate::jobs::Progress,
) -> Result<String, String> {
    let rel = format!("models/{id}");
    let done = data_dir.join(&rel);
    // Written under models/.partial-<id>, renamed into place once complete.
    let out = crate::output::partial_path(&done);
    crate::output::remove(&out);
    let budget = p.max_minutes * 60.0;
    // the whole recipe (stages a–d); the budget is split 1/5 VAE, 2/5 base, 2/15 per later stage
    let args = TrainDefaultArgs {
        out: out.clone(),
        clips: p.clips,
        seed: p.seed,
        vae_steps: p.vae_steps,
        vae_batch: 16,
        vae_max_seconds: Some(budget / 5.0),
        unet_steps: p.unet_steps,
        unet_batch: 4,
        unet_max_seconds: Some(budget * 2.0 / 5.0),
        motion_steps: p.unet_steps,
        // every stage trains at least one step (a stage that changes nothing is an error)
        adapter_s_steps: (p.unet_steps / 2).max(1),
        adapter_t_steps: (p.unet_steps / 2).max(1),
        stage_max_seconds: Some(budget * 2.0 / 15.0),
        half: true,
        // a folder `--model` loads as is
        gzip_text_encoder: false,
        ..TrainDefaultArgs::default()
    };
    progress(
        0.0,
        format!("rendering {} ChronoMagic-Synth clips", p.clips),
    );
    let report = run_train_default_with(&args, &mut |stage, s| {
        // the bar follows the time budget of each loop
        let (base, span) = match stage {
            "vae" => (0.0, 0.2),
            "unet" => (0.2, 0.4),
            "motion" => (0.6, 2.0 / 15.0),
            "adapter_s" => (0.6 + 2.0 / 15.0, 2.0 / 15.0),
            _ => (0.6 + 4.0 / 15.0, 2.0 / 15.0),
        };
        progress(
            (base + span * s.step as f64 / (s.total as f64).max(1.0)).min(0.99),
            format!("{stage} step {}/{} loss {:.4}", s.step, s.total, s.loss),
        );
    });
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            // a failed run leaves no half-written weights folder behind
            crate::output::remove(&out);
            return Err(e.to_string());
        }
    };
    if let Err(e) = crate::output::commit(&out, &done) {
        crate::output::remove(&out);
        return Err(e);
    }
    let mut json = serde_json::to_value(&report).map_err(|e| e.to_string())?;
    json["summary"] = format!(
        "trained in {:.0} s: VAE loss {:.4} → {:.4} ({} steps), UNet loss {:.4} → {:.4} ({} steps); weights in {rel}",
        report.total_seconds,
        report.vae.first_loss,
        report.vae.last_loss,
        report.vae.steps,
        report.unet.first_loss,
        report.unet.last_loss,
        report.unet.steps
    )
    .into();
    json["weights"] = rel.into();
    Ok(json.to_string())
}

/// Runs training job `id` and records its outcome.
pub async fn run(state: &ServerState, id: i64, params: &str) {
    let (params, data_dir) = (params.to_owned(), state.data_dir.clone());
    crate::jobs::run_blocking_job(state, id, "training", move |progress| {
        let p: TrainParams = crate::jobs::parse_params(&params)?;
        run_blocking(&data_dir, id, p, progress)
    })
    .await
}
