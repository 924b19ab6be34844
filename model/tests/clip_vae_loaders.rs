//! Loader behaviour: typed errors naming file, key and shapes; the PEFT/SWIFT text-encoder
//! adapter folder (`adapter_config.json` + `adapter_model.safetensors`) and its merge.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Int, Tensor, TensorData};
use magictime_model::backend::Cpu;
use magictime_model::clip::ClipTextConfig;
use magictime_model::loader::clip::{
    load_clip_text, load_clip_text_file, load_text_encoder_adapter,
};
use magictime_model::loader::vae::load_vae;
use magictime_model::vae::AutoencoderKlConfig;
use magictime_model::ModelError;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

type B = Cpu;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/clip_vae")
        .join(name)
}

/// All f32 tensors of a safetensors file.
fn read_f32(path: &Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(k, v)| {
            let vals = v
                .data()
                .chunks_exact(4)
                .map(|c| match v.dtype() {
                    Dtype::F32 => f32::from_le_bytes(c.try_into().unwrap()),
                    Dtype::I32 => i32::from_le_bytes(c.try_into().unwrap()) as f32,
                    other => panic!("{k}: unexpected dtype {other:?}"),
                })
                .collect();
            (k, v.shape().to_vec(), vals)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn write_f32(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((k, s, _), b)| {
            (
                k.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn tokens() -> Tensor<B, 2, Int> {
    let ids: Vec<i64> = (0..2 * 77).map(|i| (i * 37 % 997) as i64).collect();
    let mut ids = ids;
    ids[20] = 999;
    ids[77 + 76] = 999;
    Tensor::from_data(TensorData::new(ids, [2, 77]), &Default::default())
}

#[test]
fn missing_file_is_named() {
    let err = load_clip_text_file::<B>(
        &ClipTextConfig::tiny(),
        Path::new("/nonexistent/model.safetensors"),
        &Default::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ModelError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/model.safetensors"));
    let dir = tempfile::tempdir().unwrap();
    let err = load_vae::<B>(dir.path(), &Default::default()).unwrap_err();
    assert!(err.to_string().contains("config.json"), "{err}");
}

#[test]
fn missing_key_names_file_key_and_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let mut t = read_f32(&fixture("clip_text.safetensors"));
    t.retain(|(k, _, _)| k != "text_model.encoder.layers.1.self_attn.k_proj.weight");
    write_f32(&path, &t);
    let err =
        load_clip_text_file::<B>(&ClipTextConfig::tiny(), &path, &Default::default()).unwrap_err();
    match &err {
        ModelError::MissingKey {
            path: p,
            key,
            expected,
        } => {
            assert_eq!(p, &path);
            assert_eq!(key, "text_model.encoder.layers.1.self_attn.k_proj.weight");
            assert_eq!(expected, &vec![32, 32]);
        }
        other => panic!("expected MissingKey, got {other}"),
    }
    assert!(err.to_string().contains("model.safetensors"));
}

#[test]
fn shape_mismatch_names_key_and_both_shapes() {
    let cfg = ClipTextConfig::tiny().with_intermediate_size(64);
    let err =
        load_clip_text_file::<B>(&cfg, &fixture("clip_text.safetensors"), &Default::default())
            .unwrap_err();
    match &err {
        ModelError::ShapeMismatch {
            key,
            expected,
            found,
            ..
        } => {
            assert!(key.contains(".mlp.fc"), "{key}");
            assert_ne!(expected, found);
            // Checkpoint layout: fc1.weight [out, in] = [64, 32] expected vs [48, 32] found.
            if key.ends_with("fc1.weight") {
                assert_eq!(
                    (expected.clone(), found.clone()),
                    (vec![64, 32], vec![48, 32])
                );
            }
        }
        other => panic!("expected ShapeMismatch, got {other}"),
    }
    let s = err.to_string();
    assert!(
        s.contains("clip_text.safetensors") && s.contains("mlp.fc"),
        "{s}"
    );
}

#[test]
fn diffusers_folders_load_with_config_json() {
    let dir = tempfile::tempdir().unwrap();
    let te = dir.path().join("text_encoder");
    std::fs::create_dir(&te).unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("clip_text_config.json")).unwrap())
            .unwrap();
    cfg["architectures"] = serde_json::json!(["CLIPTextModelWithProjection"]);
    std::fs::write(te.join("config.json"), cfg.to_string()).unwrap();
    std::fs::copy(
        fixture("clip_text.safetensors"),
        te.join("model.safetensors"),
    )
    .unwrap();
    let model = load_clip_text::<B>(dir.path(), &Default::default()).unwrap();
    assert!(model.text_projection.is_some());
    let vae = dir.path().join("vae");
    std::fs::create_dir(&vae).unwrap();
    std::fs::copy(fixture("vae_config.json"), vae.join("config.json")).unwrap();
    std::fs::copy(
        fixture("vae.safetensors"),
        vae.join("diffusion_pytorch_model.safetensors"),
    )
    .unwrap();
    let vae = load_vae::<B>(dir.path(), &Default::default()).unwrap();
    assert_eq!(
        vae.encoder.down_blocks.len(),
        AutoencoderKlConfig::tiny().block_out_channels.len()
    );
}

/// Deterministic pseudo-random values (no RNG dependency in the expectation).
fn lcg(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.4
        })
        .collect()
}

fn write_adapter(dir: &Path, drop: Option<&str>) -> HashMap<String, Vec<f32>> {
    std::fs::write(
        dir.join("adapter_config.json"),
        r#"{"peft_type":"LORA","r":4,"lora_alpha":8,"target_modules":["q_proj","v_proj"],"bias":"none"}"#,
    )
    .unwrap();
    let mut tensors = Vec::new();
    for layer in 0..2 {
        for proj in ["q_proj", "v_proj"] {
            let stem =
                format!("base_model.model.text_model.encoder.layers.{layer}.self_attn.{proj}");
            let seed = layer as u64 * 10 + proj.len() as u64 + proj.as_bytes()[0] as u64;
            tensors.push((format!("{stem}.lora_A.weight"), vec![4, 32], lcg(128, seed)));
            tensors.push((
                format!("{stem}.lora_B.weight"),
                vec![32, 4],
                lcg(128, seed + 5),
            ));
        }
    }
    if let Some(d) = drop {
        tensors.retain(|(k, _, _)| k != d);
    }
    write_f32(&dir.join("adapter_model.safetensors"), &tensors);
    tensors.into_iter().map(|(k, _, v)| (k, v)).collect()
}

#[test]
fn peft_text_encoder_adapter_loads_merges_and_matches_the_formula() {
    let dev = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let raw = write_adapter(dir.path(), None);
    let (base, _) = load_clip_text_file::<B>(
        &ClipTextConfig::tiny(),
        &fixture("clip_text.safetensors"),
        &dev,
    )
    .unwrap();
    let plain = base.forward(tokens());
    let base_q: Vec<f32> = base.text_model.encoder.layers[1]
        .self_attn
        .q_proj
        .base
        .weight
        .val()
        .into_data()
        .into_vec()
        .unwrap();
    let (model, cfg) = load_text_encoder_adapter(base, dir.path(), &dev).unwrap();
    assert_eq!((cfg.rank, cfg.alpha), (4, 8.0));
    assert!(model.text_model.encoder.layers[0]
        .self_attn
        .k_proj
        .lora
        .is_none());
    let unmerged = model.forward(tokens());
    let changed: f32 = (unmerged.clone() - plain).abs().max().into_scalar();
    assert!(changed > 1e-3, "adapter must change the output ({changed})");
    let merged = model.merge_lora();
    let d: f32 = (merged.forward(tokens()) - unmerged)
        .abs()
        .max()
        .into_scalar();
    assert!(d <= 1e-4, "merged vs unmerged max |Δ| {d}");
    // W' = W + (α/r)·B·A, checked element-wise in Burn's [in, out] layout.
    let a = &raw["base_model.model.text_model.encoder.layers.1.self_attn.q_proj.lora_A.weight"]; // [4, 32]
    let b = &raw["base_model.model.text_model.encoder.layers.1.self_attn.q_proj.lora_B.weight"]; // [32, 4]
    let merged_q: Vec<f32> = merged.text_model.encoder.layers[1]
        .self_attn
        .q_proj
        .base
        .weight
        .val()
        .into_data()
        .into_vec()
        .unwrap();
    for i in 0..32 {
        for o in 0..32 {
            let delta: f32 = (0..4).map(|r| b[o * 4 + r] * a[r * 32 + i]).sum::<f32>() * 2.0;
            let want = base_q[i * 32 + o] + delta;
            assert!((merged_q[i * 32 + o] - want).abs() < 1e-5, "W'[{i},{o}]");
        }
    }
}

#[test]
fn peft_adapter_missing_factor_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let key = "base_model.model.text_model.encoder.layers.1.self_attn.v_proj.lora_B.weight";
    write_adapter(dir.path(), Some(key));
    let (base, _) = load_clip_text_file::<B>(
        &ClipTextConfig::tiny(),
        &fixture("clip_text.safetensors"),
        &Default::default(),
    )
    .unwrap();
    let err = load_text_encoder_adapter(base, dir.path(), &Default::default()).unwrap_err();
    match &err {
        ModelError::MissingKey {
            key: k, expected, ..
        } => {
            assert_eq!(k, key);
            assert_eq!(expected, &vec![32, 4]);
        }
        other => panic!("expected MissingKey, got {other}"),
    }
}

/// A real PEFT `save_pretrained` folder (peft 0.21, transformers 5 key layout without
/// `text_model.`) on the tiny text encoder: outputs equal PEFT's adapted model, unmerged and merged.
#[test]
fn real_peft_folder_matches_peft_output() {
    let dev = Default::default();
    let (base, _) = load_clip_text_file::<B>(
        &ClipTextConfig::tiny(),
        &fixture("clip_text.safetensors"),
        &dev,
    )
    .unwrap();
    let (model, cfg) =
        load_text_encoder_adapter(base, &fixture("peft_text_adapter"), &dev).unwrap();
    assert_eq!((cfg.rank, cfg.alpha, cfg.targets.len()), (4, 8.0, 4));
    let io = read_f32(&fixture("clip_text_io.safetensors"));
    let ids = io.iter().find(|t| t.0 == "input_ids").unwrap();
    let ids: Tensor<B, 2, Int> = Tensor::from_data(
        TensorData::new(
            ids.2.iter().map(|&x| x as i64).collect::<Vec<_>>(),
            ids.1.clone(),
        ),
        &dev,
    );
    let want = read_f32(&fixture("peft_text_io.safetensors"));
    let want = &want[0].2;
    for (name, m) in [("unmerged", model.clone()), ("merged", model.merge_lora())] {
        let got: Vec<f32> = m.forward(ids.clone()).into_data().into_vec().unwrap();
        assert_eq!(got.len(), want.len(), "{name}: outputs");
        let d = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(d <= 1e-4, "{name}: max |Δ| {d}");
    }
}

#[test]
fn inspect_classifies_checkpoints_without_reading_data() {
    use magictime_model::loader::inspect::{inspect, inspect_file, CheckpointKind};
    let vae = inspect_file(&fixture("vae.safetensors")).unwrap();
    assert_eq!(vae.kind, CheckpointKind::DiffusersVae);
    assert_eq!(vae.tensors.len(), 124);
    let t = vae
        .tensors
        .iter()
        .find(|t| t.name == "decoder.conv_in.weight")
        .unwrap();
    assert_eq!(
        (t.dtype.as_str(), t.shape.clone()),
        ("F32", vec![16, 4, 3, 3])
    );
    assert!(vae.to_string().contains("DiffusersVae"));
    let ldm = inspect_file(&fixture("single_file_ldm.safetensors")).unwrap();
    assert_eq!(ldm.kind, CheckpointKind::LdmSingleFile);
    let pickle = inspect_file(&fixture("vae_f16.bin")).unwrap();
    assert_eq!(pickle.kind, CheckpointKind::DiffusersVae);
    assert_eq!(pickle.dtypes().keys().collect::<Vec<_>>(), vec!["F16"]);
    assert_eq!(pickle.parameters(), vae.parameters());
    let peft = inspect(&fixture("peft_text_adapter")).unwrap();
    assert_eq!(peft.len(), 1);
    assert_eq!(peft[0].kind, CheckpointKind::PeftAdapter);
    assert_eq!(
        inspect_file(&fixture("clip_text.safetensors"))
            .unwrap()
            .kind,
        CheckpointKind::ClipText
    );
    assert_eq!(
        inspect_file(&fixture("clip_vision.safetensors"))
            .unwrap()
            .kind,
        CheckpointKind::ClipVision
    );
    assert!(inspect(Path::new("/nonexistent")).is_err());
}
