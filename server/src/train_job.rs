//! Training jobs: MagicTime's recipe (the built-in model's trainer, `magictime model
//! train-default`: stages a–d on ChronoMagic-Synth) run by the job worker on a blocking thread,
//! writing a weights folder (upstream layout + `train_log.json`) to `<data dir>/models/<job id>/`.
//!
//! A job's checkpoints live outside its partial output, in `<data dir>/checkpoints/train-<id>/`
//! (see `magictime_app::ssr::train`), next to its loss history `losses.json`: a job whose worker
//! died or stopped is taken again (`worker.rs`: leases) and resumes from them (finished loops
//! are skipped). The worker removes them once the job has ended (done, failed or cancelled).
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::ValueEnum;
use magictime_app::{
    ssr::train,
    types::{LoopHistory, TrainHistory, TrainParams, TRAIN_LOOPS},
};
use magictime_model::backend::BackendKind;
use magictime_model::default_model::Preset;
use magictime_model::train::{
    checkpoint::read_progress, save::write_file, StageSelect, StepInfo, TrainDefault,
    TrainDefaultArgs, TrainReport,
};

/// The loss history is written at most this often while a job runs (and at the end of a loop).
const WRITE_EVERY: Duration = Duration::from_secs(3);

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A planned loop: name, steps, wall-time cap in seconds.
type Loop = (&'static str, usize, f64);

/// A run's loss history and progress: seeded from the loops' checkpoints, extended by every
/// step, written atomically to `losses.json` (throttled).
struct History {
    h: TrainHistory,
    plan: Vec<Loop>,
    /// Fraction done of each loop: its steps or its time budget, whichever is nearer its end.
    done: Vec<f64>,
    path: PathBuf,
    last_write: Option<Instant>,
}

fn loop_fraction(step: usize, seconds: f64, (_, steps, max_seconds): Loop) -> f64 {
    (step as f64 / steps.max(1) as f64)
        .max(seconds / max_seconds)
        .clamp(0.0, 1.0)
}

impl History {
    /// The history of the loops in `plan` as their checkpoints in `dir` hold it.
    fn resume(dir: &Path, plan: Vec<Loop>) -> Result<Self, String> {
        let mut loops = vec![];
        let mut done = vec![];
        for &l in &plan {
            let at = read_progress(dir, l.0).map_err(|e| e.to_string())?;
            let (step, losses, seconds) =
                at.map_or((0, vec![], 0.0), |a| (a.step, a.history, a.seconds));
            done.push(loop_fraction(step, seconds, l));
            loops.push(LoopHistory {
                name: l.0.to_owned(),
                total: l.1,
                resumed_at: step,
                losses,
            });
        }
        let mut h = Self {
            h: TrainHistory {
                loops,
                started: unix_now(),
                ..Default::default()
            },
            plan,
            done,
            path: dir.join("losses.json"),
            last_write: None,
        };
        h.h.fraction = h.fraction();
        h.h.start_fraction = h.h.fraction;
        Ok(h)
    }

    /// Done fraction of the whole run, loops weighted by their steps.
    fn fraction(&self) -> f64 {
        let total: usize = self.plan.iter().map(|l| l.1).sum();
        let done: f64 = self
            .plan
            .iter()
            .zip(&self.done)
            .map(|(l, d)| l.1 as f64 * d)
            .sum();
        done / total.max(1) as f64
    }

    /// Records step `s` of loop `name`; returns whether the history is due to be written.
    fn record(&mut self, name: &str, s: &StepInfo) -> bool {
        let Some(i) = self.plan.iter().position(|l| l.0 == name) else {
            return false;
        };
        // the loops before this one are over (finished, or stopped by their time budget)
        for d in &mut self.done[..i] {
            *d = 1.0;
        }
        self.done[i] = loop_fraction(s.step, s.seconds, self.plan[i]);
        let losses = &mut self.h.loops[i].losses;
        // a resumed loop continues right after its checkpoint's history
        losses.truncate(s.step.saturating_sub(1));
        losses.push(s.loss);
        self.h.fraction = self.fraction();
        s.step >= s.total
            || s.step == 1
            || self.last_write.is_none_or(|t| t.elapsed() >= WRITE_EVERY)
    }

    /// Writes `losses.json` (temp file + rename; creates the folder).
    fn write(&mut self) {
        self.last_write = Some(Instant::now());
        self.h.written = unix_now();
        let json = serde_json::to_vec(&self.h).unwrap_or_default();
        if let Err(e) = write_file(&self.path, &json) {
            tracing::warn!("loss history: {e}");
        }
    }
}

/// The trainer's settings for job parameters `p`: its stage and preset, the loops' steps and
/// their shares of the time budget, checkpoints in `checkpoints` (always resumed).
fn train_args(
    p: &TrainParams,
    out: &Path,
    checkpoints: &Path,
) -> Result<(TrainDefaultArgs, Vec<Loop>), String> {
    let stage = StageSelect::from_str(&p.stage, true)
        .map_err(|_| format!("bad parameters: unknown stage {:?}", p.stage))?;
    let preset = Preset::from_str(&p.preset, true)
        .map_err(|_| format!("bad parameters: unknown preset {:?}", p.preset))?;
    let budget = p.max_minutes * 60.0;
    let plan: Vec<Loop> = p
        .loops()
        .into_iter()
        .map(|(name, steps, share)| (name, steps, budget * share))
        .collect();
    let steps = |name| plan.iter().find(|l| l.0 == name).map_or(1, |l| l.1);
    let secs = |name| plan.iter().find(|l| l.0 == name).map(|l| l.2);
    let args = TrainDefaultArgs {
        out: out.to_path_buf(),
        stage,
        preset,
        clips: p.clips,
        seed: p.seed,
        vae_steps: steps("vae"),
        vae_batch: 16,
        vae_max_seconds: secs("vae"),
        unet_steps: steps("unet"),
        unet_batch: 4,
        unet_max_seconds: secs("unet"),
        motion_steps: steps("motion"),
        adapter_s_steps: steps("adapter_s"),
        adapter_t_steps: steps("adapter_t"),
        // b, c and d weigh the same in the budget (TRAIN_LOOPS): one cap for the three
        stage_max_seconds: secs("motion").or(secs("adapter_s")).or(secs("adapter_t")),
        checkpoint_dir: Some(checkpoints.to_path_buf()),
        resume: true,
        half: true,
        // a folder `--model` loads as is
        gzip_text_encoder: false,
        text_encoder_init: p.text_encoder.clone(),
        ..TrainDefaultArgs::default()
    };
    Ok((args, plan))
}

/// "VAE loss 0.1 → 0.05 (2 steps), UNet loss …" for the loops of `plan`.
fn summary(report: &TrainReport, plan: &[Loop]) -> String {
    plan.iter()
        .filter_map(|l| {
            let (label, s) = match l.0 {
                "vae" => ("VAE", Some(&report.vae)),
                "unet" => ("UNet", Some(&report.unet)),
                "motion" => ("motion modules", report.motion.as_ref()),
                "adapter_s" => ("Magic Adapter S", report.adapter_s.as_ref()),
                _ => ("Magic Adapter T + Text-Encoder", report.adapter_t.as_ref()),
            };
            s.map(|s| {
                format!(
                    "{label} loss {:.4} → {:.4} ({} steps)",
                    s.first_loss, s.last_loss, s.steps
                )
            })
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn run_blocking(
    device: BackendKind,
    data_dir: &Path,
    id: i64,
    p: TrainParams,
    progress: crate::worker::Progress,
) -> Result<String, String> {
    let rel = format!("models/{id}");
    let done = data_dir.join(&rel);
    // Written under models/.partial-<id>, renamed into place once complete.
    let out = crate::output::partial_path(&done);
    crate::output::remove(&out);
    let (args, plan) = train_args(&p, &out, &train::checkpoints(data_dir, id))?;
    let (report, history) = match train(device, data_dir, &p, &args, &plan, &done, progress) {
        Ok(r) => r,
        Err(e) => {
            // a failed run leaves no half-written weights folder behind
            crate::output::remove(&out);
            return Err(e);
        }
    };
    let mut json = serde_json::to_value(&report).map_err(|e| e.to_string())?;
    json["summary"] = format!(
        "trained in {:.0} s: {}; weights in {rel}",
        report.total_seconds,
        summary(&report, &plan)
    )
    .into();
    json["weights"] = rel.into();
    json["losses"] = serde_json::to_value(&history).map_err(|e| e.to_string())?;
    Ok(json.to_string())
}

/// Copies the weights to start from (stages b–d), trains on `device` into `args.out` and moves
/// it to `done`. Returns the trainer's report and the loss history.
fn train(
    device: BackendKind,
    data_dir: &Path,
    p: &TrainParams,
    args: &TrainDefaultArgs,
    plan: &[Loop],
    done: &Path,
    progress: crate::worker::Progress,
) -> Result<(TrainReport, TrainHistory), String> {
    if !matches!(args.stage, StageSelect::A | StageSelect::All) {
        let from = p
            .start_from
            .ok_or_else(|| format!("stage {} needs a training job to start from", p.stage))?;
        let src = data_dir.join("models").join(from.to_string());
        if !src.is_dir() {
            return Err(format!(
                "start from: the weights of job #{from} (models/{from}) are gone"
            ));
        }
        crate::output::copy_dir(&src, &args.out)?;
    }
    let Some(checkpoints) = args.checkpoint_dir.as_deref() else {
        return Err("a training job needs a checkpoint folder".into());
    };
    let mut history = History::resume(checkpoints, plan.to_vec())?;
    history.write();
    let resumed: Vec<String> = history
        .h
        .loops
        .iter()
        .filter(|l| l.resumed_at > 0)
        .map(|l| format!("{} {}/{}", l.name, l.resumed_at, l.total))
        .collect();
    let resuming = if resumed.is_empty() {
        String::new()
    } else {
        format!(" (resuming from checkpoints: {})", resumed.join(", "))
    };
    progress(
        history.h.fraction.min(0.99),
        format!("rendering {} ChronoMagic-Synth clips{resuming}", p.clips),
    );
    tracing::info!("training job on {device}");
    let mut step = |name: &'static str, s: StepInfo| {
        if history.record(name, &s) {
            history.write();
        }
        let stage = TRAIN_LOOPS
            .iter()
            .find(|l| l.0 == name)
            .map_or("?", |l| l.1);
        progress(
            history.h.fraction.min(0.99),
            format!(
                "stage {stage} {name} step {}/{} loss {:.4}",
                s.step, s.total, s.loss
            ),
        );
    };
    let report = device
        .run(TrainDefault {
            args,
            progress: &mut step,
        })
        .and_then(|r| r)
        .map_err(|e| e.to_string())?;
    crate::output::commit(&args.out, done)?;
    Ok((report, history.h))
}

/// Training job `id` as the worker runs it, on the worker's `device`. Its checkpoints stay
/// while the job may run again (its worker was lost or stopped); the worker removes them once
/// the job has ended.
pub fn work(device: BackendKind, data_dir: &Path, id: i64, params: &str) -> crate::worker::Work {
    let (params, data_dir) = (params.to_owned(), data_dir.to_path_buf());
    Box::new(move |progress| {
        crate::worker::parse_params(&params)
            .and_then(|p| run_blocking(device, &data_dir, id, p, progress))
    })
}
