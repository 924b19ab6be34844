//! Ingest jobs: the ChronoMagic pipeline run by the job worker on a blocking thread, writing a
//! dataset (clips + `manifest`/`clips` CSV and JSONL) into `<data dir>/datasets/<job id>/`.
//! - `synth`: render a ChronoMagic-Synth dataset (`magictime data synth`);
//! - `split`: detect cuts in every video of a data-dir folder and split them into clips
//!   (`magictime data split`): both detectors (the paper's rule) when the TransNetV2 weights
//!   are there, the pixel detector alone otherwise; unreadable videos are skipped and listed.
use std::path::{Path, PathBuf};

use magictime_app::{ssr::jobs, types::IngestParams};

use crate::worker::Progress;
use magictime_data::{
    clips::{split_video, SplitConfig},
    cuts::{self, CutConfig, DetectorMode, TransNetV2},
    manifest,
    synth::{self, KindSelect, SynthConfig},
};

/// Video files a split job reads.
const VIDEO_EXTENSIONS: [&str; 6] = ["mp4", "mkv", "webm", "mov", "avi", "m4v"];

/// The synth settings of a job.
fn synth_config(
    count: usize,
    size: u32,
    frames: usize,
    seed: u64,
    kind: &str,
) -> Result<SynthConfig, String> {
    // the same names as `magictime data synth --kind`
    let kind = <KindSelect as clap::ValueEnum>::from_str(kind, false)
        .map_err(|_| format!("unknown synth kind {kind:?}"))?;
    Ok(SynthConfig {
        kind,
        ..SynthConfig::new(count, size, frames, seed)
    })
}

fn synth_dataset(
    out: &Path,
    rel: &str,
    cfg: &SynthConfig,
    progress: Progress,
) -> Result<serde_json::Value, String> {
    let s = synth::write_dataset(cfg, out, &|done, total| {
        progress(
            done as f64 / total.max(1) as f64,
            format!("rendered {done}/{total} clips"),
        )
    })
    .map_err(|e| e.to_string())?;
    Ok(serde_json::json!({
        "summary": format!("{} clips ({} metamorphic, {} general) in {rel}", s.clips, s.metamorphic, s.general),
        "clips": s.clips,
        "manifest": format!("{rel}/manifest.csv"),
        "jsonl": format!("{rel}/manifest.jsonl"),
    }))
}

fn videos_in(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| VIDEO_EXTENSIONS.contains(&x.to_lowercase().as_str()))
        })
        .collect();
    v.sort();
    Ok(v)
}

fn split_folder(
    data_dir: &Path,
    transnetv2: &Path,
    out: &Path,
    rel: &str,
    folder: &str,
    min_frames: usize,
    progress: Progress,
) -> Result<serde_json::Value, String> {
    let dir = jobs::data_path(data_dir, folder)?;
    let videos = videos_in(&dir)?;
    if videos.is_empty() {
        return Err(format!(
            "no videos ({}) in {folder}",
            VIDEO_EXTENSIONS.join(", ")
        ));
    }
    let model = TransNetV2::load(transnetv2).ok();
    let (detectors, mode) = match model {
        Some(_) => (DetectorMode::Both, "pixel + TransNetV2"),
        None => (DetectorMode::Pixel, "pixel only (no TransNetV2 weights)"),
    };
    let cfg = CutConfig {
        mode: detectors,
        ..Default::default()
    };
    let split = SplitConfig {
        min_frames,
        ..SplitConfig::new(out)
    };
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    let mut dropped = 0;
    for (k, v) in videos.iter().enumerate() {
        let name = v
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        progress(
            k as f64 / videos.len() as f64,
            format!("{name}: cuts ({}/{})", k + 1, videos.len()),
        );
        let r = cuts::detect_cuts(v, &cfg, model.as_ref(), &|_| {})
            .and_then(|rep| split_video(v, &rep.scenes(), rep.fps, &split));
        match r {
            Ok(rep) => {
                dropped += rep.dropped_short;
                records.extend(rep.clips);
            }
            Err(e) => skipped.push(e.to_string()),
        }
    }
    if records.is_empty() {
        return Err(format!(
            "no clips of at least {min_frames} frames; skipped videos: {skipped:?}"
        ));
    }
    manifest::write_manifests(out, "clips", &records).map_err(|e| e.to_string())?;
    Ok(serde_json::json!({
        "summary": format!(
            "{} clips from {} videos ({} skipped, {dropped} too short; cuts: {mode}) in {rel}",
            records.len(),
            videos.len() - skipped.len(),
            skipped.len()
        ),
        "clips": records.len(),
        "skipped": skipped,
        "cut_mode": mode,
        "manifest": format!("{rel}/clips.csv"),
        "jsonl": format!("{rel}/clips.jsonl"),
    }))
}

fn run_blocking(
    data_dir: &Path,
    transnetv2: &Path,
    id: i64,
    p: IngestParams,
    progress: Progress,
) -> Result<String, String> {
    let rel = format!("datasets/{id}");
    let done = data_dir.join(&rel);
    // Written under datasets/.partial-<id>, renamed into place once complete.
    let out = crate::output::partial_path(&done);
    crate::output::remove(&out);
    let result = match &p {
        IngestParams::Synth {
            count,
            size,
            frames,
            seed,
            kind,
        } => synth_config(*count, *size, *frames, *seed, kind)
            .and_then(|cfg| synth_dataset(&out, &rel, &cfg, progress)),
        IngestParams::Split { folder, min_frames } => split_folder(
            data_dir,
            transnetv2,
            &out,
            &rel,
            folder,
            *min_frames,
            progress,
        ),
    };
    let result = result.and_then(|r| crate::output::commit(&out, &done).map(|()| r));
    if result.is_err() {
        // a failed job leaves no half-written dataset behind
        crate::output::remove(&out);
    }
    Ok(result?.to_string())
}

/// Ingest job `id` as the worker runs it.
pub fn work(data_dir: &Path, transnetv2: &Path, id: i64, params: &str) -> crate::worker::Work {
    let (params, data_dir, weights) = (
        params.to_owned(),
        data_dir.to_path_buf(),
        transnetv2.to_path_buf(),
    );
    Box::new(move |progress| {
        let p: IngestParams = crate::worker::parse_params(&params)?;
        run_blocking(&data_dir, &weights, id, p, progress)
    })
}
