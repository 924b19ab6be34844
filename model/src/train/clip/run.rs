//! `magictime model train-clip`: its arguments, the run and its report.

use super::*;

/// `magictime model train-clip`: trains the in-domain CLIP and writes its folder.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainClipArgs {
    /// Output folder (transformers CLIP layout: config.json, model.safetensors[.gz]).
    #[arg(long, default_value = "model/assets/clip")]
    pub out: PathBuf,
    /// ChronoMagic-Synth clips rendered at 32² (a quarter blurred).
    #[arg(long, default_value_t = 3000)]
    pub clips: usize,
    /// More clips rendered at 64² and downsampled by the image processor.
    #[arg(long, default_value_t = 1500)]
    pub clips_64: usize,
    /// Seed of data and training (the validity probe uses other seeds).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Optimizer steps.
    #[arg(long, default_value_t = 2000)]
    pub steps: usize,
    /// Clips per step (four frames each).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Peak learning rate (AdamW, warm-up then cosine to 10 %).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Wall-time cap in seconds.
    #[arg(long)]
    pub max_seconds: Option<f64>,
    /// Start from the weights of this CLIP folder (config.json + model.safetensors[.gz]) instead
    /// of random ones; the step counter and schedule start anew.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Add to each clip's hard negatives a caption of a scene the shipped CLIP confuses it with
    /// although they are not temporal twins (`confusable`: ball rolling / building rising, …).
    #[arg(long)]
    pub confusable_negatives: bool,
    /// γ of the ramp-weighted video embedding the loss uses, written to the folder's config
    /// (`magictime.video_temporal_weight`), which the probe and the metrics then use.
    #[arg(long, default_value_t = in_domain::TEMPORAL_WEIGHT)]
    pub temporal_weight: f64,
    /// Width of the vision tower (from scratch only; the preset: 64). The MLP is 4× as wide.
    #[arg(long)]
    pub vision_width: Option<usize>,
    /// Layers of the vision tower (from scratch only; the preset: 4).
    #[arg(long)]
    pub vision_layers: Option<usize>,
    /// Attention heads of the vision tower (from scratch only; the preset: 4).
    #[arg(long)]
    pub vision_heads: Option<usize>,
    /// Render new clips every this many steps (0 = never): a background thread renders the next
    /// set while the model trains on the current one, so batches are drawn from clips seen for
    /// at most this many steps. Round r renders seeds `seed + 100000·r` (32²) and that + 1000
    /// (64²), far from the probe's held-out seeds (7, 8, 12, 13, 30, 31).
    #[arg(long, default_value_t = 0)]
    pub fresh_data_every: usize,
    /// Write the folder every this many steps (0 = only at the end).
    #[arg(long, default_value_t = 250)]
    pub checkpoint_every: usize,
    /// Store f16 weights.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub half: bool,
    /// Gzip the weights (`model.safetensors.gz`, as the embedded asset stores them; a folder
    /// for `--clip` needs them plain).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub gzip: bool,
}

/// What a CLIP training run did (`train_log.json` next to the weights).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClipTrainReport {
    pub clips: usize,
    pub seed: u64,
    pub batch: usize,
    pub stats: StageStats,
    /// Mean in-batch video→text top-1 accuracy of the last 20 steps.
    pub last_batch_accuracy: f64,
    pub total_seconds: f64,
    pub bytes: u64,
}

/// The towers' configs: an `--init` folder's own, else the in-domain presets with the vision
/// tower's `--vision-*` sizes.
pub(super) fn tower_configs(args: &TrainClipArgs) -> Result<(ClipTextConfig, ClipVisionConfig)> {
    let sized = [args.vision_width, args.vision_layers, args.vision_heads];
    if let Some(dir) = &args.init {
        if sized.iter().any(Option::is_some) {
            return Err(ModelError::InvalidInput(
                "--vision-width/--vision-layers/--vision-heads size a tower trained from scratch: \
                 leave them out with --init (its folder's config holds its sizes)"
                    .into(),
            ));
        }
        let config = dir.join("config.json");
        return Ok((
            ClipTextConfig::from_hf_json(&config)?,
            ClipVisionConfig::from_hf_json(&config)?,
        ));
    }
    let preset = in_domain::vision_config();
    let width = args.vision_width.unwrap_or(preset.hidden_size);
    let layers = args.vision_layers.unwrap_or(preset.num_hidden_layers);
    let heads = args.vision_heads.unwrap_or(preset.num_attention_heads);
    if !(16..=1024).contains(&width)
        || !(1..=24).contains(&layers)
        || heads == 0
        || !width.is_multiple_of(heads)
    {
        return Err(ModelError::InvalidInput(format!(
            "vision tower width {width}, {layers} layers, {heads} heads: expected a width from 16 \
             to 1024 divisible by the heads, and 1 to 24 layers"
        )));
    }
    let vision = preset
        .with_hidden_size(width)
        .with_intermediate_size(4 * width)
        .with_num_hidden_layers(layers)
        .with_num_attention_heads(heads);
    Ok((in_domain::text_config(), vision))
}

/// The clips of rendering round `round` (0: the run's first set; later ones:
/// [`TrainClipArgs::fresh_data_every`]).
pub(super) fn renderings(args: &TrainClipArgs, round: u64) -> [Rendering; 2] {
    let seed = args.seed + 100_000 * round;
    [
        Rendering {
            clips: args.clips,
            size: 32,
            seed,
            blur: 0.25,
        },
        Rendering {
            clips: args.clips_64,
            size: 64,
            seed: seed + 1000,
            blur: 0.0,
        },
    ]
}

/// Rounds 1, 2, … of [`renderings`], rendered one ahead on a background thread (rendering and
/// preprocessing 4,500 clips takes a while, and the training step leaves a core free).
pub(super) struct Prefetch {
    rx: std::sync::mpsc::Receiver<Result<ClipData>>,
}

impl Prefetch {
    pub(super) fn start(args: TrainClipArgs) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::spawn(move || {
            for round in 1.. {
                let data = ClipData::render(&renderings(&args, round), 8, in_domain::IMAGE_SIZE);
                // the trainer has finished (receiver dropped): stop rendering
                if tx.send(data).is_err() {
                    break;
                }
            }
        });
        Self { rx }
    }

    /// The next round (waits while it is still rendering).
    pub(super) fn next(&mut self) -> Result<ClipData> {
        self.rx.recv().map_err(|_| {
            ModelError::InvalidInput("the clip-rendering thread stopped unexpectedly".into())
        })?
    }
}

/// Renders the data, trains on the autodiff backend `Ad` and its `device` (the CLI: the CPU)
/// and writes the folder (with `train_log.json`), logging a `tracing` line every 25 steps and
/// reporting every optimizer step to `progress`.
pub fn run_train_clip<Ad: AutodiffBackend>(
    args: &TrainClipArgs,
    device: Ad::Device,
    progress: &mut dyn FnMut(StepInfo),
) -> Result<ClipTrainReport> {
    let (text_cfg, vision_cfg) = tower_configs(args)?;
    if !(0.0..=4.0).contains(&args.temporal_weight) {
        return Err(ModelError::InvalidInput(format!(
            "--temporal-weight {}: expected a number from 0 to 4",
            args.temporal_weight
        )));
    }
    let start = Instant::now();
    tracing::info!(
        clips = args.clips,
        clips_64 = args.clips_64,
        seed = args.seed,
        "rendering ChronoMagic-Synth for the in-domain CLIP"
    );
    let data = ClipData::render(&renderings(args, 0), 8, in_domain::IMAGE_SIZE)?;
    let mut prefetch = (args.fresh_data_every > 0).then(|| Prefetch::start(args.clone()));
    let tok = ClipTokenizer::new()?;
    // token rows the saved folder keeps: those of every caption trained on so far (fresh
    // renderings add theirs as they arrive) and of the metamorphic score's texts
    let used = std::cell::RefCell::new(BTreeSet::new());
    let add_tokens = |captions: &[String]| {
        used.borrow_mut().extend(
            captions
                .iter()
                .map(String::as_str)
                .chain(METAMORPHIC_TEXTS)
                .chain(GENERAL_TEXTS)
                .flat_map(|t| tok.encode(t))
                .map(|x| x as usize),
        )
    };
    add_tokens(&data.captions);
    <Ad as Backend>::seed(&device, args.seed);
    let model = match &args.init {
        None => ClipModel::<Ad>::init(&text_cfg, &vision_cfg, &device),
        Some(dir) => load_clip_model::<Ad>(dir, &device)?,
    };
    let opts = StageOptions {
        steps: args.steps,
        batch: args.batch,
        lr: args.lr,
        warmup: (args.steps / 20).clamp(1, 100),
        seed: args.seed,
        max_seconds: args.max_seconds,
        workers: 1,
    };
    let extra = |steps: usize| {
        serde_json::json!({
            "trained_on": format!(
                "ChronoMagic-Synth seeds {} (32², {} clips) and {} (64², {} clips), 8 frames{}",
                args.seed, args.clips, args.seed + 1000, args.clips_64,
                if args.fresh_data_every > 0 {
                    format!(
                        "; new clips every {} steps (seeds + 100000·r, r = 1, 2, …)",
                        args.fresh_data_every
                    )
                } else {
                    String::new()
                }
            ),
            "steps": steps,
            "hard_negatives": format!(
                "{OBJECT_NEGATIVES} object-colour swaps, one background-colour swap, one scene swap and the temporal twin scene of each caption{}",
                if args.confusable_negatives { ", and one confusable scene (ball rolling / building rising, clouds forming / paint spreading / shape rotating, landscape pan / car driving)" } else { "" }
            ),
            "init": args.init.as_ref().map(|d| d.display().to_string()),
        })
    };
    let mut accs = Vec::new();
    let mut bytes = 0;
    let (_, stats) = train_clip(
        model,
        &data,
        &mut |step| match &mut prefetch {
            Some(p) if step > 0 && step.is_multiple_of(args.fresh_data_every) => {
                let next = p.next()?;
                add_tokens(&next.captions);
                tracing::info!(step, clips = next.count, "fresh ChronoMagic-Synth clips");
                Ok(Some(next))
            }
            _ => Ok(None),
        },
        &tok,
        &opts,
        ClipObjective {
            temporal_weight: args.temporal_weight,
            confusable_negatives: args.confusable_negatives,
        },
        args.checkpoint_every,
        &mut |s| {
            progress(s);
            accs.push(s.extra);
            if s.step == 1 || s.step.is_multiple_of(25) || s.step == s.total {
                tracing::info!(
                    step = s.step,
                    total = s.total,
                    loss = format!("{:.4}", s.loss),
                    batch_acc = format!("{:.3}", s.extra),
                    seconds = format!("{:.0}", s.seconds),
                    "in-domain CLIP"
                );
            }
        },
        &mut |step, m| {
            let folder = ClipFolderOptions {
                text: &text_cfg,
                vision: &vision_cfg,
                used_tokens: &used.borrow(),
                half: args.half,
                gzip: args.gzip,
                temporal_weight: args.temporal_weight,
            };
            bytes = save_clip_folder(&args.out, &m.valid(), &folder, extra(step))?;
            tracing::info!(step, out = %args.out.display(), "checkpoint written");
            Ok(())
        },
    )?;
    let tail = &accs[accs.len().saturating_sub(20)..];
    let report = ClipTrainReport {
        clips: data.count,
        seed: args.seed,
        batch: args.batch,
        stats,
        last_batch_accuracy: tail.iter().sum::<f64>() / tail.len().max(1) as f64,
        total_seconds: start.elapsed().as_secs_f64(),
        bytes,
    };
    save::write_file(
        &args.out.join("train_log.json"),
        serde_json::to_string_pretty(&report)
            .map_err(|e| ModelError::InvalidInput(e.to_string()))?
            .as_bytes(),
    )?;
    Ok(report)
}
