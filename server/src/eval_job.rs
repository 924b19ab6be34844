//! Evaluation jobs: `magictime_metrics::eval::evaluate` run by the job worker on a blocking
//! thread, its networks (I3D, Inception, CLIP) on the worker's `--device`, with its stage
//! progress written back to the job, and the report (JSON, Markdown summary, SVG plots) written
//! to `<data dir>/eval/<job id>/`.
use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use magictime_app::{ssr::jobs, types::EvalParams};
use magictime_metrics::{
    clip_embedder::ClipEmbedder,
    clipsim::VideoTextEmbedder,
    eval::{evaluate, EvalOptions, EvalReport, Metric},
    i3d::preprocess::FrameSampling,
    kid::KidOptions,
    report::write_summary,
};
use magictime_model::backend::{BackendKind, OnBackend};

/// Weights the evaluation jobs use (server settings; a job cannot choose files).
#[derive(Clone, Debug)]
pub struct EvalSettings {
    pub i3d_weights: PathBuf,
    pub fid_weights: PathBuf,
    /// A transformers CLIP folder or `tiny-random`; clipsim / mt fail without it.
    pub clip: Option<PathBuf>,
}

/// A metric by its `--metrics` name (the same names as `magictime eval`).
fn metric(name: &str) -> Result<Metric, String> {
    <Metric as clap::ValueEnum>::from_str(name, false)
        .map_err(|_| format!("unknown metric {name:?}"))
}

/// One line for the jobs list, e.g. "FVD 973.53 · KVD 12.1 (N=6/6)".
fn summary(report: &serde_json::Value) -> String {
    let mut parts = vec![];
    for key in [
        "fvd",
        "kvd",
        "fid",
        "kid",
        "clipsim",
        "mt",
        "probe_scene",
        "probe_object_colour",
        "probe_background_colour",
        "probe_kind",
    ] {
        if let Some(v) = report.get(key).and_then(|v| v.as_f64()) {
            parts.push(format!("{} {v:.4}", key.to_uppercase()));
        }
    }
    let p = &report["protocol"];
    format!(
        "{} (N={}/{})",
        parts.join(" · "),
        p["n_real"].as_u64().unwrap_or(0),
        p["n_fake"].as_u64().unwrap_or(0)
    )
}

/// The evaluation on the backend [`BackendKind::run`] hands it: CLIP (`clip`, when a metric
/// needs it), I3D and Inception on its inference side.
struct Evaluate<'a> {
    real: &'a Path,
    fake: &'a Path,
    opts: &'a EvalOptions,
    clip: Option<&'a Path>,
    progress: &'a (dyn Fn(&str, usize, usize) + Sync),
}

impl OnBackend for Evaluate<'_> {
    type Output = Result<EvalReport, String>;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let embedder = self
            .clip
            .map(|c| ClipEmbedder::<B::InnerBackend>::from_setting(c, &device))
            .transpose()
            .map_err(|e| e.to_string())?;
        evaluate::<B::InnerBackend>(
            self.real,
            self.fake,
            self.opts,
            embedder.as_ref().map(|e| e as &dyn VideoTextEmbedder),
            &device,
            self.progress,
        )
        .map_err(|e| e.to_string())
    }
}

fn run_blocking(
    settings: &EvalSettings,
    device: BackendKind,
    data_dir: PathBuf,
    id: i64,
    p: EvalParams,
    progress: &(dyn Fn(&str, usize, usize) + Sync),
) -> Result<String, String> {
    let metrics = p
        .metrics
        .iter()
        .map(|m| metric(m))
        .collect::<Result<Vec<_>, _>>()?;
    let real = jobs::data_path(&data_dir, &p.real);
    let fake = jobs::data_path(&data_dir, &p.fake)?;
    let needs_real = metrics
        .iter()
        .any(|m| matches!(m, Metric::Fvd | Metric::Fid | Metric::Kid));
    // The real set is only read for the distribution metrics.
    let real = if needs_real { real? } else { fake.clone() };
    let clip = if metrics
        .iter()
        .any(|m| matches!(m, Metric::Clipsim | Metric::Mt | Metric::Probe))
    {
        Some(settings.clip.as_deref().ok_or(
            "clipsim/mt/probe need a CLIP model: start the server with --clip <transformers CLIP \
             folder> (or --clip tiny-random for a smoke run)",
        )?)
    } else {
        None
    };
    let opts = EvalOptions {
        metrics,
        n: p.n,
        i3d_weights: settings.i3d_weights.clone(),
        fid_weights: settings.fid_weights.clone(),
        sampling: FrameSampling::Uniform,
        batch: 4,
        fid_frames: 16,
        kid: KidOptions::default(),
    };
    tracing::info!("evaluation job on {device}");
    let report = device
        .run(Evaluate {
            real: &real,
            fake: &fake,
            opts: &opts,
            clip,
            progress,
        })
        .map_err(|e| e.to_string())??;
    let done = data_dir.join("eval").join(id.to_string());
    // Written under eval/.partial-<id>, renamed into place once complete.
    let dir = crate::output::partial_path(&done);
    crate::output::remove(&dir);
    let written = write_report(&dir, &done, &report);
    if written.is_err() {
        crate::output::remove(&dir);
    }
    let mut json = written?;
    json["summary"] = summary(&json).into();
    json["report"] = format!("eval/{id}/report.json").into();
    Ok(json.to_string())
}

/// The report files (`report.json` and its summary) in `dir`, then `dir` renamed to `done`.
fn write_report(
    dir: &Path,
    done: &Path,
    report: &magictime_metrics::eval::EvalReport,
) -> Result<serde_json::Value, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let json_path = dir.join("report.json");
    let json = report.to_json();
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("{}: {e}", json_path.display()))?;
    write_summary(report, &json_path).map_err(|e| e.to_string())?;
    crate::output::commit(dir, done)?;
    Ok(json)
}

/// Evaluation job `id` as the worker runs it, on the worker's `device`.
pub fn work(
    settings: &EvalSettings,
    device: BackendKind,
    data_dir: &Path,
    id: i64,
    params: &str,
) -> crate::worker::Work {
    let (params, settings, data_dir) =
        (params.to_owned(), settings.clone(), data_dir.to_path_buf());
    Box::new(move |progress| {
        let p: EvalParams = crate::worker::parse_params(&params)?;
        let stages = |stage: &str, done: usize, total: usize| {
            progress(
                done as f64 / total.max(1) as f64,
                format!("{stage}: {done}/{total}"),
            )
        };
        run_blocking(&settings, device, data_dir, id, p, &stages)
    })
}
