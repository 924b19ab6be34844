//! UNet3D + AnimateDiff motion modules vs diffusers `UNetMotionModel` (fixtures from
//! `tools/parity/make_unet_fixtures.py`). Tolerance: max abs error ≤ 1e-4 (f32).

use std::path::PathBuf;

use burn::tensor::{Tensor, TensorData};
use magictime_model::backend::Cpu;
use magictime_model::loader::unet::load_into;
use magictime_model::loader::{LoadMode, RawTensor, WeightMap};
use magictime_model::motion::loader::read_motion_modules;
use magictime_model::unet::{UNet3DConditionModel, UNet3DConfig};
use magictime_model::ModelError;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/unet")
        .join(name)
}

fn tensor<const D: usize>(w: &WeightMap, key: &str) -> Tensor<Cpu, D> {
    let RawTensor { shape, data } = w
        .tensors
        .get(key)
        .unwrap_or_else(|| panic!("io key {key}"))
        .clone();
    Tensor::from_data(TensorData::new(data, shape), &Default::default())
}

fn max_abs(a: Tensor<Cpu, 5>, b: Tensor<Cpu, 5>) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b).abs().max().into_scalar()
}

fn run(unet: &UNet3DConditionModel<Cpu>, io: &WeightMap) -> Tensor<Cpu, 5> {
    unet.forward(
        tensor(io, "sample"),
        tensor(io, "timestep"),
        tensor(io, "encoder_hidden_states"),
    )
}

fn diffusers_unet(config: UNet3DConfig) -> UNet3DConditionModel<Cpu> {
    let w = WeightMap::from_safetensors(fixture("unet_motion.safetensors")).unwrap();
    let (unet, report) = load_into(
        config.init::<Cpu>(&Default::default()),
        &w,
        LoadMode::Strict,
    )
    .unwrap();
    assert!(report.unused.is_empty() && report.missing.is_empty());
    unet
}

#[test]
fn unet_motion_matches_diffusers() {
    let io = WeightMap::from_safetensors(fixture("io.safetensors")).unwrap();
    let unet = diffusers_unet(UNet3DConfig::parity());
    let err = max_abs(run(&unet, &io), tensor(&io, "out_diffusers"));
    eprintln!("max abs error {err:e}");
    assert!(err <= 1e-4, "max abs error {err}");
}

#[test]
fn original_animatediff_layout_matches_per_frame_reference() {
    let io = WeightMap::from_safetensors(fixture("io.safetensors")).unwrap();
    // base weights from the diffusers file (motion keys left out), motion modules from the
    // original AnimateDiff layout, per-frame motion GroupNorm as AnimateDiff computes it.
    let mut config = UNet3DConfig::parity();
    config.motion.as_mut().unwrap().norm_per_frame = true;
    let base = WeightMap::from_safetensors(fixture("unet_motion.safetensors"))
        .unwrap()
        .rename(|k| (!k.contains(".motion_modules.")).then(|| k.to_string()));
    let (unet, report) = load_into(
        config.init::<Cpu>(&Default::default()),
        &base,
        LoadMode::Partial,
    )
    .unwrap();
    assert!(
        !report.missing.is_empty()
            && report
                .missing
                .iter()
                .all(|k| k.contains(".motion_modules."))
    );
    let mm = read_motion_modules(fixture("mm_original.safetensors")).unwrap();
    let (unet, report) = load_into(unet, &mm, LoadMode::Partial).unwrap();
    assert!(report.unused.is_empty(), "unused {:?}", report.unused);
    assert_eq!(report.loaded, mm.tensors.len());
    let err = max_abs(run(&unet, &io), tensor(&io, "out_per_frame"));
    eprintln!("max abs error {err:e}");
    assert!(err <= 1e-4, "max abs error {err}");
}

#[test]
fn mismatched_checkpoint_names_file_key_and_shapes() {
    let mut w = WeightMap::from_safetensors(fixture("unet_motion.safetensors")).unwrap();
    w.tensors.get_mut("conv_in.weight").unwrap().shape = vec![16, 8, 3, 3];
    let e = load_into(
        UNet3DConfig::parity().init::<Cpu>(&Default::default()),
        &w,
        LoadMode::Strict,
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ModelError::ShapeMismatch { .. }), "{msg}");
    assert!(
        msg.contains("unet_motion.safetensors") && msg.contains("conv_in.weight"),
        "{msg}"
    );
    assert!(
        msg.contains("[16, 8, 3, 3]") && msg.contains("[32, 4, 3, 3]"),
        "{msg}"
    );

    w.tensors.remove("conv_in.weight");
    let e = load_into(
        UNet3DConfig::parity().init::<Cpu>(&Default::default()),
        &w,
        LoadMode::Strict,
    )
    .unwrap_err();
    assert!(
        matches!(&e, ModelError::MissingKey { key, .. } if key == "conv_in.weight"),
        "{e}"
    );

    let e = WeightMap::from_safetensors(fixture("no_such_file.safetensors")).unwrap_err();
    assert!(e.to_string().contains("no_such_file.safetensors"), "{e}");
}

#[test]
fn magic_adapter_s_merge_matches_official_rule() {
    let io = WeightMap::from_safetensors(fixture("io.safetensors")).unwrap();
    let unet = diffusers_unet(UNet3DConfig::parity());
    let lora = WeightMap::from_safetensors(fixture("magic_adapter_s.safetensors")).unwrap();
    let (unet, report) =
        magictime_model::unet::magic_adapter_s::merge(unet, &lora, 1.0, &Default::default())
            .unwrap();
    // 4 projections × 2 attentions × 4 spatial transformers (1 down, 1 mid, 2 up)
    assert_eq!(report.loaded, lora.tensors.len() / 2);
    assert_eq!(report.loaded, 32);
    let err = max_abs(run(&unet, &io), tensor(&io, "out_lora_s"));
    eprintln!("max abs error {err:e}");
    assert!(err <= 1e-4, "max abs error {err}");
}

/// The UNet's weights by checkpoint key, in torch layout (Linear weights `[out, in]`).
fn weights_of(
    unet: &UNet3DConditionModel<Cpu>,
) -> std::collections::HashMap<String, (Vec<usize>, Vec<f32>)> {
    magictime_model::train::save::collect(unet, &|p| {
        magictime_model::loader::unet::checkpoint_key(p)
    })
    .into_iter()
    .map(|t| (t.key, (t.shape, t.data)))
    .collect()
}

/// Magic Adapter S merged at α ≠ 1 (the parity test above runs MagicTime's α = 1 only, where a
/// wrong α factor goes unnoticed): every adapted weight is `W + α·(2·up)@(2·down)`, recomputed
/// here in f64 from the fixture's raw tensors (target keys mapped by hand, not through
/// `deltas`/`target_key`), and every other weight is unchanged.
#[test]
fn magic_adapter_s_merge_scales_with_alpha() {
    let base = weights_of(&diffusers_unet(UNet3DConfig::parity()));
    let lora = WeightMap::from_safetensors(fixture("magic_adapter_s.safetensors")).unwrap();
    // `….attnN.processor.to_q_lora.down.weight` → `….attnN.to_q.weight` (`to_out` → `to_out.0`)
    let target_of = |down_key: &str| {
        let (attn, rest) = down_key.split_once(".processor.").unwrap();
        let proj = rest.strip_suffix("_lora.down.weight").unwrap();
        match proj {
            "to_out" => format!("{attn}.to_out.0.weight"),
            _ => format!("{attn}.{proj}.weight"),
        }
    };
    for alpha in [0.5f32, 2.0] {
        let (unet, report) = magictime_model::unet::magic_adapter_s::merge(
            diffusers_unet(UNet3DConfig::parity()),
            &lora,
            alpha,
            &Default::default(),
        )
        .unwrap();
        assert_eq!(report.loaded, 32);
        let merged = weights_of(&unet);
        let (mut targets, mut largest_delta) = (std::collections::HashSet::new(), 0.0f64);
        for (key, down) in lora.tensors.iter().filter(|(k, _)| k.contains(".down.")) {
            let up = &lora.tensors[&key.replace("_lora.down.", "_lora.up.")];
            let target = target_of(key);
            let (w0, w1) = (&base[&target], &merged[&target]);
            let (r, n_in, n_out) = (down.shape[0], down.shape[1], up.shape[0]);
            assert_eq!((up.shape[1], &w0.0), (r, &vec![n_out, n_in]), "{target}");
            for o in 0..n_out {
                for i in 0..n_in {
                    let d: f64 = (0..r)
                        .map(|k| {
                            2.0 * up.data[o * r + k] as f64 * 2.0 * down.data[k * n_in + i] as f64
                        })
                        .sum();
                    let want = w0.1[o * n_in + i] as f64 + alpha as f64 * d;
                    let got = w1.1[o * n_in + i] as f64;
                    assert!(
                        (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                        "α = {alpha}: {target}[{o}, {i}] = {got}, W + α·(2up)(2down) = {want}"
                    );
                    largest_delta = largest_delta.max((alpha as f64 * d).abs());
                }
            }
            targets.insert(target);
        }
        assert_eq!(targets.len(), 32);
        // the check above is not vacuous: the deltas are far above its tolerance
        assert!(largest_delta > 1e-2, "largest |α·ΔW| {largest_delta}");
        for (key, w) in &base {
            if !targets.contains(key) {
                assert_eq!(
                    w, &merged[key],
                    "{key} is not an adapter target but changed"
                );
            }
        }
    }
}
