//! Tests of the stages: adapters through the official loaders, each stage's part, presets.

use super::*;
use crate::backend::{BackendKind, Cpu, CpuAutodiff};
use crate::default_model::Preset;
use burn::tensor::{Distribution, Int, Tensor, TensorData};

/// The run of `args` on the CPU, without progress.
fn train(args: &TrainDefaultArgs) -> Result<TrainReport> {
    run_train_default_with::<CpuAutodiff>(args, Default::default(), &mut |_, _| {})
}

/// Random A and B, so every adapter changes its layer.
fn randomise<B: Backend>(mut l: LoraSet<B>) -> LoraSet<B> {
    for a in &mut l.adapters {
        for w in [&mut a.lora_a.weight, &mut a.lora_b.weight] {
            *w = w
                .clone()
                .map(|t| Tensor::random(t.shape(), Distribution::Normal(0.0, 0.3), &t.device()));
        }
    }
    l
}

fn max_diff<const D: usize>(a: Tensor<Cpu, D>, b: Tensor<Cpu, D>) -> f32 {
    (a - b).abs().max().into_scalar()
}

/// Adapters trained in memory → saved in MagicTime's layouts → loaded by
/// `MagicTimePipeline::from_dir` (the official-release loaders) give the same outputs.
#[test]
fn adapters_round_trip_through_the_official_loaders() {
    let dev = Default::default();
    let p = Preset::S32;
    Cpu::seed(&dev, 5);
    let model = TextToVideo::<Cpu> {
        text_encoder: p.text().init(&dev),
        unet: p.unet().init(&dev),
    };
    let vae = p.vae().init::<Cpu>(&dev);
    let dir = tempfile::tempdir().unwrap();
    let all: BTreeSet<usize> = (0..49408).collect();
    crate::train::save_default_folder(
        dir.path(),
        p,
        &p.text(),
        &model,
        &vae,
        &p.vae(),
        &all,
        false,
        false,
    )
    .unwrap();
    let text_key = crate::loader::clip::text_key;
    let cfg = LoraConfig::new(4, 8.0);
    let s = randomise(LoraSet::attach(
        &model.unet,
        &unet_key,
        &crate::unet::magic_adapter_s::is_target,
        &cfg,
        &dev,
    ));
    let t = randomise(LoraSet::attach(
        &model.unet,
        &unet_key,
        &crate::motion::magic_adapter_t::is_target,
        &cfg,
        &dev,
    ));
    let te = randomise(LoraSet::attach(
        &model.text_encoder,
        &text_key,
        &crate::loader::clip::is_text_adapter_target,
        &cfg,
        &dev,
    ));
    // 2 levels × (1 + 2) transformers (+ mid) × 2 attentions × 4 projections
    assert_eq!(s.targets.len(), (1 + 2 + 1 + 2 + 1) * 8, "{:?}", s.targets);
    // 2 levels × (1 + 2) motion modules × 12 linears
    assert_eq!(t.targets.len(), 6 * 12);
    assert_eq!(te.targets.len(), 2 * 4);
    // save in the upstream layouts
    save::write_file(
        &dir.path()
            .join("magic_adapter_s/magic_adapter_s.safetensors"),
        &save::to_safetensors(
            &crate::unet::magic_adapter_s::processor_tensors(&s).unwrap(),
            false,
        )
        .unwrap(),
    )
    .unwrap();
    crate::motion::magic_adapter_t::save(&t, &dir.path().join("magic_adapter_t")).unwrap();
    crate::loader::clip::save_text_encoder_adapter(&te, &dir.path().join("magic_text_encoder"))
        .unwrap();
    assert!(dir
        .path()
        .join("magic_adapter_t/default/adapter_config.json")
        .is_file());
    assert!(dir
        .path()
        .join("magic_text_encoder/configuration.json")
        .is_file());
    let pl = MagicTimePipeline::<Cpu>::from_dir(
        dir.path(),
        Some(&[Adapter::S, Adapter::T, Adapter::Te]),
        &dev,
    )
    .unwrap();
    // the in-memory adapted model
    let text = te.apply(model.text_encoder.clone(), &text_key);
    let unet = t.apply(s.apply(model.unet.clone(), &unet_key), &unet_key);
    let ids: Vec<i64> = (0..77)
        .map(|i| [49406, 320, 1759, 49407][i.min(3)])
        .collect();
    let ids = Tensor::<Cpu, 2, Int>::from_data(TensorData::new(ids, [1, 77]), &dev);
    let ctx = text.forward(ids.clone());
    let loaded_ctx = pl.text_encoder.forward(ids.clone());
    let plain_ctx = model.text_encoder.forward(ids);
    assert!(
        max_diff(ctx.clone(), plain_ctx) > 1e-2,
        "TE adapter has no effect"
    );
    let d = max_diff(ctx.clone(), loaded_ctx);
    assert!(d < 1e-4, "text encoder differs by {d}");
    let x = Tensor::<Cpu, 5>::random([1, 4, 4, 8, 8], Distribution::Normal(0.0, 1.0), &dev);
    let tt = Tensor::<Cpu, 1>::from_floats([500.0], &dev);
    let y = unet.forward(x.clone(), tt.clone(), ctx.clone());
    let plain = model.unet.forward(x.clone(), tt.clone(), ctx.clone());
    assert!(
        max_diff(y.clone(), plain) > 1e-2,
        "UNet adapters have no effect"
    );
    let d = max_diff(y, pl.unet.forward(x, tt, ctx));
    assert!(d < 1e-3, "UNet differs by {d}");
}

fn tiny_args(out: &Path) -> TrainDefaultArgs {
    TrainDefaultArgs {
        out: out.to_path_buf(),
        clips: 6,
        seed: 3,
        vae_steps: 2,
        vae_batch: 2,
        unet_steps: 2,
        unet_batch: 1,
        motion_steps: 2,
        adapter_s_steps: 2,
        adapter_t_steps: 2,
        checkpoint_every_steps: 1,
        half: false,
        gzip_text_encoder: true,
        ..TrainDefaultArgs::default()
    }
}

/// `train-default --device cuda:0` in a build or on a machine without CUDA: the backend's
/// error, before any data is rendered or anything is written.
#[test]
fn a_gpu_the_build_cannot_drive_is_refused_before_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let args = tiny_args(&out);
    let e = BackendKind::Cuda { index: 0 }
        .run(TrainDefault {
            args: &args,
            progress: &mut |_, _| {},
        })
        .and_then(|r| r)
        .unwrap_err()
        .to_string();
    assert!(e.to_lowercase().contains("cuda"), "{e}");
    assert!(!out.exists());
}

fn file(out: &Path, name: &str) -> Vec<u8> {
    std::fs::read(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every stage runs on its own from the folder the previous one wrote, writes only its
/// part, and (checked inside each stage by `check_trained_only`) changes only its own
/// parameters; the whole folder then loads with all adapters.
#[test]
fn each_stage_writes_only_its_part() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let mut args = tiny_args(out);
    let base = [
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors.gz",
    ];
    args.stage = StageSelect::A;
    let r = train(&args).unwrap();
    assert_eq!(r.stages, vec![Stage::A]);
    assert_eq!(r.unet.steps, 2);
    let base_bytes: Vec<Vec<u8>> = base.iter().map(|n| file(out, n)).collect();
    let motion0 = file(out, "motion_module.safetensors");
    args.stage = StageSelect::B;
    train(&args).unwrap();
    assert_ne!(file(out, "motion_module.safetensors"), motion0);
    args.stage = StageSelect::C;
    train(&args).unwrap();
    let motion1 = file(out, "motion_module.safetensors");
    args.stage = StageSelect::D;
    let r = train(&args).unwrap();
    assert_eq!(r.adapter_t.as_ref().map(|s| s.steps), Some(2));
    for (n, b) in base.iter().zip(&base_bytes) {
        assert_eq!(&file(out, n), b, "{n} changed after stage a");
    }
    assert_eq!(file(out, "motion_module.safetensors"), motion1);
    // the log keeps every stage
    let log: serde_json::Value = serde_json::from_slice(&file(out, "train_log.json")).unwrap();
    for k in ["vae", "unet", "motion", "adapter_s", "adapter_t"] {
        assert!(log[k]["steps"].as_u64() == Some(2), "{k}: {log}");
    }
    let tmp = tempfile::tempdir().unwrap();
    crate::default_model::unpack_dir(out, tmp.path()).unwrap();
    MagicTimePipeline::<Cpu>::from_dir(tmp.path(), None, &Default::default()).unwrap();
}

/// `--text-encoder-init in-domain`: stage a keeps the in-domain CLIP's text tower frozen
/// (the folder's text encoder gives exactly its hidden states) and trains the UNet.
#[test]
fn stage_a_from_the_in_domain_clip_text_tower() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = tiny_args(dir.path());
    (args.stage, args.gzip_text_encoder) = (StageSelect::A, false);
    args.text_encoder_init = Some(crate::clip::in_domain::SETTING.into());
    train(&args).unwrap();
    let pl =
        MagicTimePipeline::<Cpu>::from_dir(dir.path(), Some(&[]), &Default::default()).unwrap();
    let (cfg, clip) =
        pretrained_text_encoder::<CpuAutodiff>("in-domain", &Default::default()).unwrap();
    assert_eq!(cfg.num_hidden_layers, 3);
    // the empty prompt: its tokens (start, end) are among the rows the folder keeps
    let ids = ClipTokenizer::new()
        .unwrap()
        .encode_batch::<Cpu>(&[""], Default::default(), &Default::default())
        .unwrap();
    let d = max_diff(
        pl.text_encoder.forward(ids.clone()),
        clip.valid().forward(ids),
    );
    assert!(
        d < 1e-6,
        "text encoder differs from the CLIP text tower by {d}"
    );
    // a folder that is not a CLIP is a clear error, and writes nothing
    let bad = tempfile::tempdir().unwrap();
    let mut args = tiny_args(bad.path());
    args.stage = StageSelect::A;
    args.text_encoder_init = Some(bad.path().join("nope").display().to_string());
    assert!(train(&args).is_err());
    assert!(!bad.path().join("unet").exists());
}

/// The 64×64 / 16-frame preset trains (stages a, b) and its folder loads with its own
/// generation settings (64², 16 frames) and a ×8 VAE.
#[test]
fn s64_preset_trains_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = tiny_args(dir.path());
    (args.preset, args.clips, args.gzip_text_encoder) = (Preset::S64, 4, false);
    for stage in [StageSelect::A, StageSelect::B] {
        args.stage = stage;
        train(&args).unwrap();
    }
    let pl =
        MagicTimePipeline::<Cpu>::from_dir(dir.path(), Some(&[]), &Default::default()).unwrap();
    assert_eq!(pl.defaults, Preset::S64.generation_defaults());
    assert_eq!((pl.defaults.height, pl.defaults.num_frames), (64, 16));
    assert_eq!(pl.vae_downscale, 8);
    let mut o = pl.defaults.options("a red flower blooming");
    o.steps = 2;
    let v = pl.generate(&o, &mut |_| {}).unwrap();
    assert_eq!((v.frames, v.height, v.width), (16, 64, 64));
}
