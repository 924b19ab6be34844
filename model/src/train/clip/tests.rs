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
    // the sizes the saver writes are the in-domain presets: save a preset-sized model
    let full = ClipModel::<Cpu>::init(
        &in_domain::text_config(),
        &in_domain::vision_config(),
        &device,
    );
    let dir = tempfile::tempdir().unwrap();
    let all: BTreeSet<usize> = (0..49408).collect();
    save_clip_folder(
        dir.path(),
        &full,
        &all,
        false,
        false,
        in_domain::TEMPORAL_WEIGHT,
        serde_json::json!({}),
    )
    .unwrap();
    let v = crate::loader::clip::load_clip_vision::<Cpu>(dir.path(), &device).unwrap();
    let t = crate::loader::clip::load_clip_text::<Cpu>(dir.path(), &device).unwrap();
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
    let (name, gamma) = in_domain::folder_facts(dir.path());
    assert_eq!(name.as_deref(), Some(in_domain::NAME));
    assert_eq!(gamma, in_domain::TEMPORAL_WEIGHT);
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
