//! Tests of the in-domain CLIP trainer.

use super::*;
use crate::backend::{Cpu, CpuAutodiff};

fn tiny_data() -> ClipData {
    ClipData::render(
        &[Rendering {
            clips: 12,
            size: 32,
            seed: 3,
            blur: 0.5,
        }],
        8,
        16,
    )
    .unwrap()
}

#[test]
fn padding_to_the_longest_text_changes_no_embedding() {
    let device = Default::default();
    let tok = ClipTokenizer::new().unwrap();
    let text = in_domain::text_config()
        .with_num_hidden_layers(1)
        .init::<Cpu>(&device);
    let texts = [
        "a red ball",
        "Time-lapse of a red flower blooming against a beige background.",
    ];
    let short = text
        .text_embeds(token_batch::<Cpu>(&tok, &texts, &device).unwrap())
        .unwrap();
    let full = text
        .text_embeds(
            tok.encode_batch::<Cpu>(&texts, crate::clip::Truncation::Truncate, &device)
                .unwrap(),
        )
        .unwrap();
    let d = (short - full).abs().max().into_scalar();
    assert!(d < 1e-5, "max diff {d}");
}

#[test]
fn loss_falls_and_the_folder_loads_back_through_the_clip_loaders() {
    let device = Default::default();
    let data = tiny_data();
    let tok = ClipTokenizer::new().unwrap();
    let vision = in_domain::vision_config()
        .with_image_size(16)
        .with_num_hidden_layers(1);
    let model = ClipModel::<CpuAutodiff>::init(
        &in_domain::text_config().with_num_hidden_layers(1),
        &vision,
        &device,
    );
    let opts = StageOptions {
        steps: 30,
        batch: 8,
        lr: 2e-3,
        warmup: 3,
        seed: 1,
        max_seconds: None,
        workers: 1,
    };
    let mut losses = Vec::new();
    let mut checkpoints = Vec::new();
    let (model, _) = train_clip(
        model,
        &data,
        &mut |_| Ok(None),
        &tok,
        &opts,
        ClipObjective {
            temporal_weight: 0.75,
            confusable_negatives: true,
        },
        10,
        &mut |s| losses.push(s.loss),
        &mut |s, _| {
            checkpoints.push(s);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(checkpoints, vec![10, 20, 30]);
    let first: f64 = losses[..5].iter().sum::<f64>() / 5.0;
    let last: f64 = losses[25..].iter().sum::<f64>() / 5.0;
    assert!(last < first * 0.9, "loss {first} → {last}");
    // the saver writes the model's own sizes: a vision tower wider and shallower than the
    // preset's loads back through the transformers-layout loaders
    let text_cfg = in_domain::text_config();
    let vision_cfg = in_domain::vision_config()
        .with_hidden_size(96)
        .with_intermediate_size(384)
        .with_num_hidden_layers(2)
        .with_num_attention_heads(6);
    let full = ClipModel::<Cpu>::init(&text_cfg, &vision_cfg, &device);
    let all: BTreeSet<usize> = (0..49408).collect();
    let save = |gzip: bool| {
        let dir = tempfile::tempdir().unwrap();
        let opts = ClipFolderOptions {
            text: &text_cfg,
            vision: &vision_cfg,
            used_tokens: &all,
            half: false,
            gzip,
            temporal_weight: 1.5,
        };
        save_clip_folder(dir.path(), &full, &opts, serde_json::json!({})).unwrap();
        dir
    };
    // both towers of the folder equal the model's
    let loads_back_equal = |dir: &std::path::Path| {
        let v = crate::loader::clip::load_clip_vision::<Cpu>(dir, &device).unwrap();
        let t = crate::loader::clip::load_clip_text::<Cpu>(dir, &device).unwrap();
        let px32 = Tensor::<Cpu, 4>::random(
            [2, 3, 32, 32],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let a = v.image_embeds(px32.clone()).unwrap();
        let b = full.vision.image_embeds(px32).unwrap();
        assert!((a - b).abs().max().into_scalar() < 1e-6);
        let ids = token_batch::<Cpu>(&tok, &["a red ball"], &device).unwrap();
        let a = t.text_embeds(ids.clone()).unwrap();
        let b = full.text.text_embeds(ids).unwrap();
        assert!((a - b).abs().max().into_scalar() < 1e-6);
    };
    let dir = save(false);
    let read = ClipVisionConfig::from_hf_json(&dir.path().join("config.json")).unwrap();
    assert_eq!(
        (
            read.hidden_size,
            read.num_hidden_layers,
            read.num_attention_heads
        ),
        (96, 2, 6)
    );
    loads_back_equal(dir.path());
    let (name, gamma) = in_domain::folder_facts(dir.path());
    assert_eq!(name.as_deref(), Some(in_domain::NAME));
    assert_eq!(gamma, 1.5);
    // the trainer's default, gzip-compressed weights load through the same loaders
    let gz = save(true);
    assert!(gz.path().join("model.safetensors.gz").is_file());
    assert!(!gz.path().join("model.safetensors").exists());
    loads_back_equal(gz.path());
    // not gzip: a parse error naming the file, nothing loaded
    std::fs::write(gz.path().join("model.safetensors.gz"), b"plain").unwrap();
    let e = crate::loader::clip::load_clip_vision::<Cpu>(gz.path(), &device).unwrap_err();
    assert!(matches!(e, ModelError::Parse { .. }), "{e}");
    drop(model);
}

#[test]
fn confusable_negatives_add_the_confused_scenes_caption_only_when_asked() {
    let data = tiny_data();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let (_, p) = &data.specs[0];
    let spec = (Scene::BallRolling, p.clone());
    let plain = hard_negatives(&spec, false, &mut rng);
    let more = hard_negatives(&spec, true, &mut rng);
    assert_eq!(more.len(), plain.len() + 1);
    assert_eq!(more.last().unwrap(), &Scene::BuildingRising.caption(p));
    // a scene without confusables gets the same negatives either way
    let spec = (Scene::IceMelting, p.clone());
    assert_eq!(
        hard_negatives(&spec, true, &mut rng).len(),
        hard_negatives(&spec, false, &mut rng).len()
    );
    // every confusable pair is listed both ways, and never as a twin
    for s in synth::all_scenes() {
        for &c in confusable(s) {
            assert!(confusable(c).contains(&s), "{s:?} / {c:?}");
            assert_ne!(twin(s), Some(c));
        }
    }
}

#[test]
fn vision_tower_sizes_are_checked_and_refused_with_an_init_folder() {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: TrainClipArgs,
    }
    let parse = |a: &[&str]| {
        let mut v = vec!["train-clip"];
        v.extend_from_slice(a);
        <Cli as clap::Parser>::try_parse_from(v).unwrap().args
    };
    let (_, v) =
        run::tower_configs(&parse(&["--vision-width", "128", "--vision-layers", "6"])).unwrap();
    assert_eq!((v.hidden_size, v.intermediate_size), (128, 512));
    assert_eq!((v.num_hidden_layers, v.num_attention_heads), (6, 4));
    let (_, v) = run::tower_configs(&parse(&[])).unwrap();
    assert_eq!(v.hidden_size, in_domain::vision_config().hidden_size);
    for bad in [
        &["--vision-width", "100", "--vision-heads", "3"][..],
        &["--vision-width", "8"],
        &["--vision-layers", "0"],
        &["--vision-width", "128", "--init", "/nonexistent"],
    ] {
        let e = run::tower_configs(&parse(bad)).unwrap_err();
        assert!(matches!(e, ModelError::InvalidInput(_)), "{bad:?}: {e}");
    }
}

#[test]
fn fresh_data_rounds_are_rendered_ahead_in_order_and_never_repeat_a_seed() {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: TrainClipArgs,
    }
    let args = <Cli as clap::Parser>::try_parse_from([
        "train-clip",
        "--clips",
        "6",
        "--clips-64",
        "2",
        "--seed",
        "11",
        "--fresh-data-every",
        "50",
    ])
    .unwrap()
    .args;
    let mut seeds = BTreeSet::new();
    for round in 0..4 {
        for r in run::renderings(&args, round) {
            // the probe's held-out seeds are never rendered for training
            assert!(
                ![7, 8, 12, 13, 30, 31].contains(&r.seed),
                "round {round}: seed {}",
                r.seed
            );
            assert!(
                seeds.insert(r.seed),
                "round {round} repeats seed {}",
                r.seed
            );
        }
    }
    let size = in_domain::IMAGE_SIZE;
    let direct = |round| ClipData::render(&run::renderings(&args, round), 8, size).unwrap();
    let mut prefetch = run::Prefetch::start(args.clone());
    let (first, second) = (prefetch.next().unwrap(), prefetch.next().unwrap());
    for (got, round) in [(&first, 1), (&second, 2)] {
        let want = direct(round);
        assert_eq!(got.count, 8);
        assert_eq!(got.captions, want.captions, "round {round}");
        assert_eq!(got.pixels, want.pixels, "round {round}");
    }
    assert_ne!(first.pixels, direct(0).pixels);
    assert_ne!(first.pixels, second.pixels);
}
