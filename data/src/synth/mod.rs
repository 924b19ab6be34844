//! ChronoMagic-Synth: a deterministic, seeded generator of short procedural videos with
//! captions. Metamorphic clips (flower blooming, ice melting, sunrise, building rising, …) cover
//! the ChronoMagic categories; "general" clips only move (a ball rolls, the camera pans) — the
//! contrast the MagicTime paper is about.
//!
//! - [`generate`]`(&cfg)` renders clips in memory: [`SynthClip`] { frames (RGB u8), caption, … }.
//! - [`write_dataset`]`(&cfg, dir, progress)` writes `synth_000000.mp4`, … plus
//!   `manifest.csv` (ChronoMagic `videoid,name,is_transmit`) and `manifest.jsonl` into `dir`.
//!
//! Clip `i` depends only on (seed, i, size, frames): the same seed gives the same files.

mod canvas;
mod scenes;

pub use canvas::{Named, BACKGROUND, OBJECT};
pub use scenes::{Camera, Params, Scene, Speed};

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{DataError, Result};
use crate::manifest::{self, ClipRecord, Provenance};
use crate::video::{self, EncodeOptions};

/// ChronoMagic categories (+ `general` for non-metamorphic videos).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Biological,
    Physical,
    Meteorological,
    HumanCreation,
    General,
}

/// Whether a clip shows a transformation or only motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipKind {
    Metamorphic,
    General,
}

/// Which kinds to generate.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum KindSelect {
    Metamorphic,
    General,
    Both,
}

/// Generator settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SynthConfig {
    pub count: usize,
    pub width: u32,
    pub height: u32,
    pub frames: usize,
    pub seed: u64,
    pub kind: KindSelect,
    pub fps: f64,
    /// Worker threads (0 = all cores).
    pub threads: usize,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            count: 16,
            width: 64,
            height: 64,
            frames: 16,
            seed: 0,
            kind: KindSelect::Both,
            fps: 8.0,
            threads: 0,
        }
    }
}

impl SynthConfig {
    /// Square clips of `size`, `frames` long.
    pub fn new(count: usize, size: u32, frames: usize, seed: u64) -> Self {
        Self {
            count,
            width: size,
            height: size,
            frames,
            seed,
            ..Default::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(DataError::Invalid(format!("synth config: {m}")));
        for (n, v) in [("width", self.width), ("height", self.height)] {
            if !(32..=256).contains(&v) || v % 2 == 1 {
                return bad(format!("{n} must be even and in 32..=256, got {v}"));
            }
        }
        if !(8..=32).contains(&self.frames) {
            return bad(format!("frames must be in 8..=32, got {}", self.frames));
        }
        if self.count == 0 {
            return bad("count must be > 0".into());
        }
        if !(self.fps.is_finite() && self.fps > 0.0) {
            return bad(format!("fps must be positive, got {}", self.fps));
        }
        Ok(())
    }

    fn workers(&self) -> usize {
        let n = if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.threads
        };
        n.clamp(1, self.count.max(1))
    }
}

/// One generated clip.
#[derive(Debug, Clone)]
pub struct SynthClip {
    pub index: usize,
    /// `synth_000042`.
    pub id: String,
    pub scene: Scene,
    pub category: Category,
    pub kind: ClipKind,
    pub caption: String,
    pub params: Params,
    pub fps: f64,
    /// RGB u8 frames, `cfg.frames` of `cfg.width × cfg.height`.
    pub frames: Vec<RgbImage>,
}

impl SynthClip {
    /// The manifest record for this clip stored as `file`.
    pub fn record(&self, file: &str) -> ClipRecord {
        let (w, h) = self.frames.first().map_or((0, 0), |f| f.dimensions());
        ClipRecord {
            videoid: self.id.clone(),
            file: file.into(),
            fps: self.fps,
            frames: self.frames.len(),
            width: w,
            height: h,
            caption: self.caption.clone(),
            provenance: Some(Provenance {
                method: "synth".into(),
                model: None,
                inputs: vec!["synth-params".into()],
                draft: false,
            }),
            is_transmit: u8::from(self.kind == ClipKind::General),
            category: Some(enum_name(&self.category)),
            kind: Some(enum_name(&self.kind)),
            extra: serde_json::json!({ "scene": self.scene.name(), "params": self.params }),
            ..Default::default()
        }
    }
}

fn enum_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, xs: &[T]) -> T {
    xs[rng.random_range(0..xs.len())]
}

/// The scene and random parameters of clip `index` (depends only on seed and index).
pub fn clip_spec(cfg: &SynthConfig, index: usize) -> (Scene, Params) {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(index as u64);
    let scene = match cfg.kind {
        KindSelect::Metamorphic => pick(&mut rng, &Scene::METAMORPHIC),
        KindSelect::General => pick(&mut rng, &Scene::GENERAL),
        KindSelect::Both => {
            if rng.random_bool(0.5) {
                pick(&mut rng, &Scene::METAMORPHIC)
            } else {
                pick(&mut rng, &Scene::GENERAL)
            }
        }
    };
    let obj = pick(&mut rng, OBJECT);
    let mut bg = pick(&mut rng, BACKGROUND);
    while color_dist(obj.rgb, bg.rgb) < 80.0 {
        bg = pick(&mut rng, BACKGROUND);
    }
    let speed = pick(
        &mut rng,
        &[Speed::Slow, Speed::Normal, Speed::Normal, Speed::Fast],
    );
    let camera = match scene {
        Scene::LandscapePan => pick(&mut rng, &[Camera::PanLeft, Camera::PanRight]),
        _ => pick(
            &mut rng,
            &[
                Camera::Static,
                Camera::Static,
                Camera::Static,
                Camera::PanLeft,
                Camera::PanRight,
                Camera::ZoomIn,
                Camera::ZoomOut,
            ],
        ),
    };
    let (lo, hi) = scene.count_range();
    let count = rng.random_range(lo..=hi);
    let jitter = [0; 4].map(|_| rng.random::<f32>());
    (scene, Params::new(obj, bg, speed, camera, count, jitter))
}

fn color_dist(a: [u8; 3], b: [u8; 3]) -> f32 {
    (0..3)
        .map(|i| (f32::from(a[i]) - f32::from(b[i])).powi(2))
        .sum::<f32>()
        .sqrt()
}

/// Render clip `index` of `cfg`.
pub fn render_clip(cfg: &SynthConfig, index: usize) -> SynthClip {
    let (scene, params) = clip_spec(cfg, index);
    let mut canvas = canvas::Canvas::new(cfg.width, cfg.height);
    let frames = (0..cfg.frames)
        .map(|i| {
            let t = if cfg.frames > 1 {
                i as f32 / (cfg.frames - 1) as f32
            } else {
                0.0
            };
            let (s, dx, dy) = params.camera.at(t);
            canvas.set_camera(s, dx, dy);
            scene.draw(&mut canvas, &params, params.speed.progress(t), t);
            canvas.to_rgb()
        })
        .collect();
    SynthClip {
        index,
        id: format!("synth_{index:06}"),
        scene,
        category: scene.category(),
        kind: scene.kind(),
        caption: scene.caption(&params),
        params,
        fps: cfg.fps,
        frames,
    }
}

/// Run `job(index)` for every index on `cfg.workers()` threads, results in index order.
fn parallel<T: Send>(
    cfg: &SynthConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
    job: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let workers = cfg.workers();
    let slots: Vec<Mutex<Option<Result<T>>>> = (0..cfg.count).map(|_| Mutex::new(None)).collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for w in 0..workers {
            let (slots, done, job) = (&slots, &done, &job);
            s.spawn(move || {
                for i in (w..cfg.count).step_by(workers) {
                    let r = job(i);
                    let failed = r.is_err();
                    *slots[i].lock().expect("slot lock") = Some(r);
                    let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    progress(n, cfg.count);
                    if failed {
                        break;
                    }
                }
            });
        }
    });
    let mut out = Vec::with_capacity(cfg.count);
    for slot in slots {
        match slot.into_inner().expect("slot lock") {
            Some(r) => out.push(r?),
            None => continue,
        }
    }
    Ok(out)
}

/// Render `cfg.count` clips in memory (in parallel; identical to rendering them one by one).
pub fn generate(cfg: &SynthConfig) -> Result<Vec<SynthClip>> {
    generate_with_progress(cfg, &|_, _| {})
}

/// [`generate`] with a progress callback `(done, total)`.
pub fn generate_with_progress(
    cfg: &SynthConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<SynthClip>> {
    cfg.validate()?;
    parallel(cfg, progress, |i| Ok(render_clip(cfg, i)))
}

/// What [`write_dataset`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SynthSummary {
    pub dir: PathBuf,
    pub clips: usize,
    pub metamorphic: usize,
    pub general: usize,
    pub csv: PathBuf,
    pub jsonl: PathBuf,
    pub seconds: f64,
}

/// Render and encode `cfg.count` clips into `dir` (created if needed): `synth_NNNNNN.mp4` plus
/// `manifest.csv` and `manifest.jsonl`.
pub fn write_dataset(
    cfg: &SynthConfig,
    dir: impl AsRef<Path>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SynthSummary> {
    cfg.validate()?;
    let dir = dir.as_ref();
    let start = std::time::Instant::now();
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let enc = EncodeOptions {
        threads: 1,
        ..Default::default()
    };
    let records = parallel(cfg, progress, |i| {
        let clip = render_clip(cfg, i);
        let file = format!("{}.mp4", clip.id);
        video::write_mp4_with(dir.join(&file), &clip.frames, clip.fps, &enc)?;
        Ok(clip.record(&file))
    })?;
    manifest::write_manifests(dir, "manifest", &records)?;
    let metamorphic = records
        .iter()
        .filter(|r| r.kind.as_deref() == Some("metamorphic"))
        .count();
    Ok(SynthSummary {
        dir: dir.to_path_buf(),
        clips: records.len(),
        metamorphic,
        general: records.len() - metamorphic,
        csv: dir.join("manifest.csv"),
        jsonl: dir.join("manifest.jsonl"),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// What a ChronoMagic-Synth caption states: the scene and the two named colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptionLabels {
    pub scene: Scene,
    /// Index into [`OBJECT`].
    pub object: usize,
    /// Index into [`BACKGROUND`].
    pub background: usize,
}

impl CaptionLabels {
    pub fn kind(&self) -> ClipKind {
        self.scene.kind()
    }
}

const SPEEDS: [Speed; 3] = [Speed::Slow, Speed::Normal, Speed::Fast];
const CAMERAS: [Camera; 5] = [
    Camera::Static,
    Camera::PanLeft,
    Camera::PanRight,
    Camera::ZoomIn,
    Camera::ZoomOut,
];

/// Every scene in declaration order (metamorphic first).
pub fn all_scenes() -> impl Iterator<Item = Scene> {
    Scene::METAMORPHIC.into_iter().chain(Scene::GENERAL)
}

/// The labels of a caption the generator can write (any speed, camera and count), `None` for
/// any other text. Exact match against every caption the templates produce (~26k, built once).
pub fn parse_caption(caption: &str) -> Option<CaptionLabels> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static TABLE: OnceLock<HashMap<String, CaptionLabels>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut m = HashMap::new();
        for scene in all_scenes() {
            let (lo, hi) = scene.count_range();
            for (oi, o) in OBJECT.iter().enumerate() {
                for (bi, b) in BACKGROUND.iter().enumerate() {
                    for speed in SPEEDS {
                        for camera in CAMERAS {
                            for count in lo..=hi {
                                let p = Params::new(*o, *b, speed, camera, count, [0.5; 4]);
                                m.insert(
                                    scene.caption(&p),
                                    CaptionLabels {
                                        scene,
                                        object: oi,
                                        background: bi,
                                    },
                                );
                            }
                        }
                    }
                }
            }
        }
        m
    });
    table.get(caption.trim()).copied()
}

/// One caption per (scene, object colour, background colour) — normal speed, static camera,
/// the middle count — the class prompts of zero-shot probes.
pub fn caption_grid() -> Vec<(CaptionLabels, String)> {
    let mut out = Vec::new();
    for scene in all_scenes() {
        let (lo, hi) = scene.count_range();
        for (oi, o) in OBJECT.iter().enumerate() {
            for (bi, b) in BACKGROUND.iter().enumerate() {
                let p = Params::new(
                    *o,
                    *b,
                    Speed::Normal,
                    Camera::Static,
                    (lo + hi) / 2,
                    [0.5; 4],
                );
                let labels = CaptionLabels {
                    scene,
                    object: oi,
                    background: bi,
                };
                out.push((labels, scene.caption(&p)));
            }
        }
    }
    out
}

#[cfg(test)]
mod caption_tests {
    use super::*;

    #[test]
    fn every_rendered_caption_parses_back_to_its_labels() {
        let cfg = SynthConfig::new(60, 32, 8, 11);
        for i in 0..cfg.count {
            let (scene, p) = clip_spec(&cfg, i);
            let l = parse_caption(&scene.caption(&p)).expect("a generator caption parses");
            assert_eq!(l.scene, scene);
            assert_eq!(OBJECT[l.object].name, p.object);
            assert_eq!(BACKGROUND[l.background].name, p.background);
        }
        assert_eq!(parse_caption("a red flower"), None);
        assert_eq!(caption_grid().len(), 20 * OBJECT.len() * BACKGROUND.len());
    }
}
