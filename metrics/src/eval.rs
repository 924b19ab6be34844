//! Evaluation of a generated video set against a real one: FVD (+ KVD), FID, KID, CLIPSIM and
//! the metamorphic score, with the protocol recorded next to every number.
//!
//! Numbered steps of [`evaluate`]: 1. list the videos, 2. decode + extract features per video
//! (progress callback), 3. statistics and distances, 4. report.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::clipsim::{score_video, summarise, RetrievalTexts, VideoTextEmbedder, VideoTextSummary};
use crate::error::{MetricsError, Result};
use crate::features::{Clip, I3dExtractor, InceptionExtractor};
use crate::frechet::{frechet_distance, FrechetDistance};
use crate::i3d::preprocess::{FrameSampling, FVD_FRAMES};
use crate::kid::{kernel_distance, Features, KernelDistance, KidOptions};
use crate::stats::StatsAccumulator;

/// Metrics `evaluate` can compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Fréchet Video Distance on I3D logits (also reports KVD, the KID on the same features).
    Fvd,
    /// Fréchet Inception Distance on the sampled frames (pytorch-fid pool3).
    Fid,
    /// Kernel Inception Distance on the same frame features.
    Kid,
    /// CLIPSIM of the generated videos against their prompts.
    Clipsim,
    /// Metamorphic score and amplitudes of the generated videos.
    Mt,
    /// The synth probe: zero-shot scene / colour / kind accuracies of the generated videos
    /// against their ChronoMagic-Synth prompts, retrieval R@1 and amplitudes (`probe.rs`).
    Probe,
}

/// One video to evaluate, with its prompt when known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoItem {
    pub path: PathBuf,
    pub prompt: Option<String>,
}

const VIDEO_EXTENSIONS: [&str; 8] = ["mp4", "webm", "mkv", "avi", "mov", "gif", "webp", "m4v"];

/// Lists the videos of `path`: a folder (its `manifest.jsonl` when present, else every video
/// file, sorted by name), a `.jsonl` manifest (`magictime-data` `ClipRecord`s: `file`,
/// `caption`) or a ChronoMagic `.csv` (`videoid,name,is_transmit`; `videoid.mp4` next to it).
pub fn list_videos(path: &Path) -> Result<Vec<VideoItem>> {
    let io = |e: std::io::Error| MetricsError::Io {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let manifest_err = |e: magictime_data::DataError| MetricsError::Io {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    if path.is_dir() {
        let jsonl = path.join("manifest.jsonl");
        if jsonl.exists() {
            return list_videos(&jsonl);
        }
        let mut items: Vec<VideoItem> = std::fs::read_dir(path)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            })
            .map(|p| VideoItem {
                path: p,
                prompt: None,
            })
            .collect();
        items.sort_by(|a, b| a.path.cmp(&b.path));
        return Ok(items);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl") => Ok(magictime_data::manifest::read_jsonl::<
            magictime_data::manifest::ClipRecord,
        >(path)
        .map_err(manifest_err)?
        .into_iter()
        .map(|r| VideoItem {
            path: dir.join(&r.file),
            prompt: Some(r.caption),
        })
        .collect()),
        Some("csv") => Ok(magictime_data::manifest::read_chronomagic_csv(path)
            .map_err(manifest_err)?
            .into_iter()
            .map(|r| VideoItem {
                path: dir.join(format!("{}.mp4", r.videoid)),
                prompt: Some(r.name),
            })
            .collect()),
        _ if !path.exists() => Err(MetricsError::Io {
            path: path.to_path_buf(),
            detail: "no such file or folder".into(),
        }),
        _ => Err(MetricsError::InvalidArgument {
            name: "videos",
            detail: format!(
                "{}: expected a folder, a .jsonl or a .csv manifest",
                path.display()
            ),
        }),
    }
}

/// Decodes a video file to RGB u8 frames.
pub fn decode(path: &Path) -> Result<Clip> {
    let v = magictime_data::video::read_video(path, None).map_err(|e| MetricsError::Io {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let (w, h) = (v.width as usize, v.height as usize);
    let mut frames = Vec::with_capacity(v.frames.len() * w * h * 3);
    for f in &v.frames {
        frames.extend_from_slice(f.as_raw());
    }
    Ok(Clip {
        frames,
        n: v.frames.len(),
        h,
        w,
    })
}

/// Settings of an evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalOptions {
    pub metrics: Vec<Metric>,
    /// Videos per set (the first `n` of each listing; fewer when a set is smaller).
    pub n: usize,
    pub i3d_weights: PathBuf,
    pub fid_weights: PathBuf,
    pub sampling: FrameSampling,
    /// Videos per I3D forward pass.
    pub batch: usize,
    /// Frames per video for FID/KID (uniformly sampled).
    pub fid_frames: usize,
    pub kid: KidOptions,
}

/// The protocol behind the numbers (StyleGAN-V style).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Protocol {
    pub n_real: usize,
    pub n_fake: usize,
    pub frames: usize,
    pub sampling: FrameSampling,
    pub fvd_resize: String,
    pub fid_resize: String,
    pub fid_frames_per_video: usize,
    pub i3d_weights: Option<String>,
    pub i3d_weights_sha256: Option<String>,
    pub fid_weights: Option<String>,
    pub fid_weights_sha256: Option<String>,
    pub clip_model: Option<String>,
    pub kid: KidOptions,
}

/// Result of [`evaluate`]: numbers, details, the protocol, and features for the plots.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    pub fvd: Option<FrechetDistance>,
    pub kvd: Option<KernelDistance>,
    pub fid: Option<FrechetDistance>,
    pub kid: Option<KernelDistance>,
    pub video_text: Option<VideoTextSummary>,
    pub probe: Option<crate::probe::ProbeReport>,
    pub protocol: Protocol,
    /// I3D logits `[n_real, 400]` and `[n_fake, 400]` (for the PCA plot; not in the JSON).
    #[serde(skip)]
    pub i3d_real: Vec<f32>,
    #[serde(skip)]
    pub i3d_fake: Vec<f32>,
}

impl EvalReport {
    /// The report JSON: one top-level number per metric, then details and the protocol.
    pub fn to_json(&self) -> serde_json::Value {
        let mut top = serde_json::Map::new();
        if let Some(f) = &self.fvd {
            top.insert("fvd".into(), f.value.into());
        }
        if let Some(k) = &self.kvd {
            top.insert("kvd".into(), k.mean.into());
        }
        if let Some(f) = &self.fid {
            top.insert("fid".into(), f.value.into());
        }
        if let Some(k) = &self.kid {
            top.insert("kid".into(), k.mean.into());
        }
        if let Some(v) = &self.video_text {
            top.insert("clipsim".into(), v.clipsim.into());
            top.insert("clipsim_x100".into(), v.clipsim_x100.into());
            top.insert("mt".into(), v.metamorphic.into());
        }
        if let Some(p) = &self.probe {
            top.insert("probe_scene".into(), p.scene.accuracy.into());
            top.insert(
                "probe_object_colour".into(),
                p.object_colour.accuracy.into(),
            );
            top.insert(
                "probe_background_colour".into(),
                p.background_colour.accuracy.into(),
            );
            top.insert("probe_kind".into(), p.kind.accuracy.into());
        }
        top.insert(
            "protocol".into(),
            serde_json::to_value(&self.protocol).unwrap_or_default(),
        );
        top.insert(
            "details".into(),
            serde_json::json!({
                "fvd": self.fvd, "kvd": self.kvd, "fid": self.fid, "kid": self.kid,
                "video_text": self.video_text,
            }),
        );
        serde_json::Value::Object(top)
    }
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path).map_err(|e| MetricsError::Io {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| MetricsError::Io {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    Ok(format!("{:x}", h.finalize()))
}

/// Progress of [`evaluate`]: `(stage, done, total)`.
pub type Progress<'a> = &'a (dyn Fn(&str, usize, usize) + Sync);

struct SetFeatures {
    i3d: Vec<f32>,
    inception: Vec<f32>,
    clips_for_text: Vec<(Clip, String)>,
}

fn extract_set<B: Backend>(
    name: &str,
    items: &[VideoItem],
    i3d: Option<&I3dExtractor<B>>,
    inception: Option<&InceptionExtractor<B>>,
    keep_for_text: bool,
    opts: &EvalOptions,
    progress: Progress<'_>,
) -> Result<SetFeatures> {
    let mut out = SetFeatures {
        i3d: Vec::new(),
        inception: Vec::new(),
        clips_for_text: Vec::new(),
    };
    let stage = format!("{name} videos");
    let mut pending: Vec<Clip> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let clip = decode(&item.path)?;
        if clip.n == 0 {
            return Err(MetricsError::Io {
                path: item.path.clone(),
                detail: "no frames".into(),
            });
        }
        if let Some(inc) = inception {
            let idx = FrameSampling::Uniform.indices(clip.n, opts.fid_frames);
            let frames: Vec<&[u8]> = idx.iter().map(|&t| clip.frame(t)).collect();
            out.inception.extend(inc.extract(&frames, clip.h, clip.w));
        }
        if keep_for_text {
            let prompt = item
                .prompt
                .clone()
                .ok_or_else(|| MetricsError::InvalidArgument {
                    name: "fake",
                    detail: format!(
                    "{}: CLIPSIM/MT need a prompt per video (give a folder with manifest.jsonl \
                     or a .jsonl/.csv manifest)",
                    item.path.display()
                ),
                })?;
            out.clips_for_text.push((clip.clone(), prompt));
        }
        if i3d.is_some() {
            pending.push(clip);
        }
        if let Some(net) = i3d {
            if pending.len() >= opts.batch.max(1) || i + 1 == items.len() {
                let refs: Vec<&Clip> = pending.iter().collect();
                out.i3d.extend(net.extract(&refs).logits);
                pending.clear();
            }
        }
        progress(&stage, i + 1, items.len());
    }
    Ok(out)
}

fn fd_of(rows_a: &[f32], rows_b: &[f32], dim: usize) -> Result<FrechetDistance> {
    let mut a = StatsAccumulator::new(dim);
    a.add_rows_f32(rows_a)?;
    let mut b = StatsAccumulator::new(dim);
    b.add_rows_f32(rows_b)?;
    frechet_distance(&a.finish()?, &b.finish()?)
}

/// Runs the evaluation, I3D (FVD) and Inception (FID/KID) on the backend `B` and its `device`.
/// `embedder` is needed for `clipsim` / `mt` (it runs wherever it was loaded).
pub fn evaluate<B: Backend>(
    real: &Path,
    fake: &Path,
    opts: &EvalOptions,
    embedder: Option<&dyn VideoTextEmbedder>,
    device: &B::Device,
    progress: Progress<'_>,
) -> Result<EvalReport> {
    let wants = |m: Metric| opts.metrics.contains(&m);
    let needs_real = wants(Metric::Fvd) || wants(Metric::Fid) || wants(Metric::Kid);
    let needs_text = wants(Metric::Clipsim) || wants(Metric::Mt) || wants(Metric::Probe);
    // 1. inputs and models (fail early, before any decoding)
    let mut fake_items = list_videos(fake)?;
    fake_items.truncate(opts.n);
    let mut real_items = if needs_real {
        list_videos(real)?
    } else {
        Vec::new()
    };
    real_items.truncate(opts.n);
    if needs_text && embedder.is_none() {
        return Err(MetricsError::InvalidArgument {
            name: "metrics",
            detail: "clipsim/mt/probe need a CLIP model (none loaded)".into(),
        });
    }
    let i3d = if wants(Metric::Fvd) {
        Some(I3dExtractor::<B>::load(
            &opts.i3d_weights,
            opts.sampling,
            device,
        )?)
    } else {
        None
    };
    let inception = if wants(Metric::Fid) || wants(Metric::Kid) {
        Some(InceptionExtractor::<B>::load(&opts.fid_weights, device)?)
    } else {
        None
    };
    for (name, items) in [("real", &real_items), ("fake", &fake_items)] {
        if (needs_real || name == "fake") && items.len() < 2 {
            return Err(MetricsError::TooFewSamples {
                what: if name == "real" {
                    "the real set"
                } else {
                    "the fake set"
                },
                needed: 2,
                got: items.len(),
            });
        }
    }
    // 2. features
    let real_f = extract_set(
        "real",
        &real_items,
        i3d.as_ref(),
        inception.as_ref(),
        false,
        opts,
        progress,
    )?;
    let fake_f = extract_set(
        "fake",
        &fake_items,
        i3d.as_ref(),
        inception.as_ref(),
        needs_text,
        opts,
        progress,
    )?;
    // 3. distances
    let fvd = match &i3d {
        Some(_) => Some(fd_of(&real_f.i3d, &fake_f.i3d, 400)?),
        None => None,
    };
    let kvd = match &i3d {
        Some(_) => Some(kernel_distance(
            Features {
                data: &real_f.i3d,
                dim: 400,
            },
            Features {
                data: &fake_f.i3d,
                dim: 400,
            },
            &opts.kid,
        )?),
        None => None,
    };
    let fid = if wants(Metric::Fid) {
        Some(fd_of(&real_f.inception, &fake_f.inception, 2048)?)
    } else {
        None
    };
    let kid = if wants(Metric::Kid) {
        Some(kernel_distance(
            Features {
                data: &real_f.inception,
                dim: 2048,
            },
            Features {
                data: &fake_f.inception,
                dim: 2048,
            },
            &opts.kid,
        )?)
    } else {
        None
    };
    let video_text = match embedder {
        Some(e) if wants(Metric::Clipsim) || wants(Metric::Mt) => {
            let texts = RetrievalTexts::new(e)?;
            let mut scores = Vec::new();
            for (i, (clip, prompt)) in fake_f.clips_for_text.iter().enumerate() {
                let frames: Vec<&[u8]> = (0..clip.n).map(|t| clip.frame(t)).collect();
                scores.push(score_video(e, &frames, clip.h, clip.w, prompt, &texts)?);
                progress("CLIP", i + 1, fake_f.clips_for_text.len());
            }
            Some(summarise(e.name(), scores))
        }
        _ => None,
    };
    let probe = match embedder {
        Some(e) if wants(Metric::Probe) => {
            let mut prober = crate::probe::Prober::new(e)?;
            for (i, (clip, prompt)) in fake_f.clips_for_text.iter().enumerate() {
                let frames: Vec<&[u8]> = (0..clip.n).map(|t| clip.frame(t)).collect();
                prober.add(&frames, clip.h, clip.w, prompt)?;
                progress("probe", i + 1, fake_f.clips_for_text.len());
            }
            Some(prober.finish()?)
        }
        _ => None,
    };
    // 4. protocol
    let weights_info = |on: bool, p: &Path| -> Result<(Option<String>, Option<String>)> {
        if on {
            Ok((Some(p.display().to_string()), Some(sha256_file(p)?)))
        } else {
            Ok((None, None))
        }
    };
    let (i3d_w, i3d_sha) = weights_info(i3d.is_some(), &opts.i3d_weights)?;
    let (fid_w, fid_sha) = weights_info(inception.is_some(), &opts.fid_weights)?;
    Ok(EvalReport {
        fvd,
        kvd,
        fid,
        kid,
        video_text,
        probe,
        protocol: Protocol {
            n_real: real_items.len(),
            n_fake: fake_items.len(),
            frames: FVD_FRAMES,
            sampling: opts.sampling,
            fvd_resize: "bilinear 224x224, TF1 resize_bilinear (half_pixel_centers=False), [-1,1]"
                .into(),
            fid_resize: "bilinear 299x299, torch F.interpolate(align_corners=False), [-1,1]".into(),
            fid_frames_per_video: opts.fid_frames,
            i3d_weights: i3d_w,
            i3d_weights_sha256: i3d_sha,
            fid_weights: fid_w,
            fid_weights_sha256: fid_sha,
            clip_model: embedder.filter(|_| needs_text).map(|e| e.name()),
            kid: opts.kid,
        },
        i3d_real: real_f.i3d,
        i3d_fake: fake_f.i3d,
    })
}
