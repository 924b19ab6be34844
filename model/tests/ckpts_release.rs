//! MagicTime's official release layout (`ckpts/`, `sample_configs/*.yaml`), in tiny random
//! weights written by `tools/parity/make_ckpts_fixtures.py` into exactly that tree (pickled
//! `.ckpt` and `.bin`, SWIFT adapter folders, LDM single-file DreamBooth models), against the
//! references the script computed with diffusers and peft.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use magictime_model::backend::Cpu;
use magictime_model::loader::unet::checkpoint_key;
use magictime_model::loader::WeightMap;
use magictime_model::motion::loader::to_diffusers;
use magictime_model::motion::magic_adapter_t;
use magictime_model::train::save::collect;
use magictime_model::unet::checkpoint::load_unet;
use magictime_model::unet::{UNet3DConditionModel, UNet3DConfig};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ckpts")
}

fn ckpts() -> PathBuf {
    fixtures().join("ckpts")
}

/// The base SD1.5 UNet of the tree with its motion module (2 motion heads, as the fixture's
/// sample configs say).
fn base_unet() -> UNet3DConditionModel<Cpu> {
    let dir = ckpts().join("Base_Model/stable-diffusion-v1-5/unet");
    let mut config = UNet3DConfig::from_diffusers_json(&dir.join("config.json")).unwrap();
    config.motion.as_mut().unwrap().heads = 2;
    let base = WeightMap::open(dir.join("diffusion_pytorch_model.safetensors")).unwrap();
    let mm = WeightMap::open(ckpts().join("Base_Model/motion_module/motion_module.ckpt")).unwrap();
    load_unet::<Cpu>(&config, base, Some(&mm), &Default::default())
        .unwrap()
        .0
}

fn weights(unet: &UNet3DConditionModel<Cpu>) -> BTreeMap<String, Vec<f32>> {
    collect(unet, &|p| checkpoint_key(p))
        .into_iter()
        .map(|t| (t.key, t.data))
        .collect()
}

/// The release's `magic_adapter_t/` (`configuration.json` + `default/adapter_config.json` +
/// `default/adapter_model.bin`, pickled, keys under `base_model.model.` in the original
/// AnimateDiff layout) merges into the motion modules exactly as peft merges it (1e-5).
#[test]
fn adapter_t_in_the_swift_layout_merges_as_peft() {
    let dir = ckpts().join("Magic_Weights/magic_adapter_t");
    assert!(dir.join("default/adapter_model.bin").is_file());
    assert!(!dir.join("adapter_config.json").exists());
    let before = weights(&base_unet());
    let (unet, report) = magic_adapter_t::merge(base_unet(), &dir, &Default::default()).unwrap();
    let after = weights(&unet);
    let want =
        to_diffusers(WeightMap::open(fixtures().join("adapter_t_merged.safetensors")).unwrap());
    let (mut changed, mut worst) = (0, 0f32);
    for (key, t) in &want.tensors {
        let got = after.get(key).unwrap_or_else(|| panic!("merged key {key}"));
        let err = got
            .iter()
            .zip(&t.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        worst = worst.max(err);
        if before[key] != *got {
            changed += 1;
        }
    }
    eprintln!("{changed} motion weights merged, max abs error vs peft {worst:e}");
    assert!(worst < 1e-5, "max abs error {worst}");
    // 12 linears (proj_in, proj_out, q/k/v/out of both attentions, both feed-forward linears)
    // in each of the 6 motion modules (1 per down level, 2 per up level), every one adapted
    assert_eq!((report.loaded, changed), (72, 72));
    // outside the motion modules nothing moves
    for (k, v) in &before {
        if !k.contains(".motion_modules.") {
            assert_eq!(v, &after[k], "{k}");
        }
    }
}

fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let to = dst.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &to);
        } else {
            std::fs::copy(&p, &to).unwrap();
        }
    }
}

fn merge_error(dir: &Path) -> String {
    magic_adapter_t::merge(base_unet(), dir, &Default::default())
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

/// A missing or malformed Adapter T names the file and says what was expected.
#[test]
fn adapter_t_errors_name_the_file_and_what_was_expected() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("magic_adapter_t");
    // no folder at all
    let e = merge_error(&t);
    assert!(
        e.contains("magic_adapter_t") && e.contains("SWIFT layout"),
        "{e}"
    );
    // an empty folder: the config it looked for, in the release layout
    std::fs::create_dir_all(&t).unwrap();
    let e = merge_error(&t);
    assert!(
        e.contains("magic_adapter_t/default/adapter_config.json")
            && e.contains("adapter_model.bin"),
        "{e}"
    );
    // the config without its weights
    copy_tree(&ckpts().join("Magic_Weights/magic_adapter_t"), &t);
    std::fs::remove_file(t.join("default/adapter_model.bin")).unwrap();
    let e = merge_error(&t);
    assert!(e.contains("default/adapter_model.bin"), "{e}");
    // weights that are no pickle
    std::fs::write(t.join("default/adapter_model.bin"), b"not a pickle").unwrap();
    let e = merge_error(&t);
    assert!(
        e.contains("default/adapter_model.bin") && e.contains("cannot parse"),
        "{e}"
    );
    // a config without a rank
    copy_tree(&ckpts().join("Magic_Weights/magic_adapter_t"), &t);
    std::fs::write(
        t.join("default/adapter_config.json"),
        br#"{"lora_alpha": 8}"#,
    )
    .unwrap();
    let e = merge_error(&t);
    assert!(
        e.contains("default/adapter_config.json") && e.contains("`r`"),
        "{e}"
    );
    // the text encoder's adapter given as Adapter T: its targets are no UNet weights
    let e = merge_error(&ckpts().join("Magic_Weights/magic_text_encoder"));
    assert!(
        e.contains("magic_text_encoder/default/adapter_model.bin")
            && e.contains("not a weight of the UNet"),
        "{e}"
    );
}

fn tensor<const D: usize>(w: &WeightMap, key: &str) -> burn::tensor::Tensor<Cpu, D> {
    let t = w
        .tensors
        .get(key)
        .unwrap_or_else(|| panic!("reference key {key}"))
        .clone();
    burn::tensor::Tensor::from_data(
        burn::tensor::TensorData::new(t.data, t.shape),
        &Default::default(),
    )
}

fn max_abs<const D: usize>(
    a: burn::tensor::Tensor<Cpu, D>,
    b: burn::tensor::Tensor<Cpu, D>,
) -> f32 {
    (a - b).abs().max().into_scalar()
}

const CONFIGS: [&str; 3] = ["RealisticVision", "ToonYou", "RcnzCartoon"];

/// Every sample config loads the tree in MagicTime's order (motion module, DreamBooth,
/// Magic Adapter S, T, Text-Encoder) and its 2-step CFG DDIM run equals diffusers' AnimateDiff
/// with the same merges (reference.safetensors), from the same initial latents: the prompt's
/// token ids exactly, the final latents to 1e-4 of their largest value, the video to 1e-4.
#[test]
fn every_sample_config_generates_as_diffusers_does() {
    use magictime_model::pipeline::MagicTimePipeline;
    use magictime_model::sample_config::SampleConfig;
    let reference = WeightMap::open(fixtures().join("reference.safetensors")).unwrap();
    let mut videos = vec![];
    for name in CONFIGS {
        let cfg = SampleConfig::read(
            &fixtures().join(format!("sample_configs/{name}.yaml")),
            Some(&ckpts()),
        )
        .unwrap();
        assert!(cfg.paths.dreambooth.as_ref().unwrap().is_file());
        assert_eq!(cfg.motion.heads, Some(2));
        let mut p = MagicTimePipeline::<Cpu>::load(
            &cfg.paths,
            cfg.motion,
            cfg.defaults,
            &Default::default(),
        )
        .unwrap();
        p.scheduler = cfg.scheduler.clone();
        let s = &cfg.samples[0];
        let ids = |text: &str| -> Vec<f32> {
            p.tokenizer
                .encode_batch::<Cpu>(
                    &[text],
                    magictime_model::clip::Truncation::Truncate,
                    &p.device,
                )
                .unwrap()
                .into_data()
                .convert::<f32>()
                .to_vec()
                .unwrap()
        };
        assert_eq!(
            ids(&s.prompt),
            reference.tensors[&format!("{name}.ids_cond")].data,
            "{name}"
        );
        assert_eq!(
            ids(&s.negative),
            reference.tensors[&format!("{name}.ids_uncond")].data,
            "{name}"
        );
        let emb = p.encode_prompt(&s.prompt, &s.negative).unwrap();
        let d = cfg.defaults;
        let latents = p
            .denoise(
                emb,
                tensor(&reference, &format!("{name}.latents_init")),
                d.num_inference_steps,
                d.guidance_scale,
                &mut |_| {},
            )
            .unwrap();
        let want = tensor::<5>(&reference, &format!("{name}.latents_final"));
        let scale: f32 = want.clone().abs().max().into_scalar();
        let lat_err = max_abs(latents.clone(), want);
        let video = p.decode(latents, &mut |_| {});
        let err = max_abs(video.clone(), tensor(&reference, &format!("{name}.video")));
        eprintln!("{name}: latents max abs error {lat_err:e} (max {scale}), video {err:e}");
        assert!(lat_err <= 1e-4 * scale, "{name}: latents error {lat_err}");
        assert!(err <= 1e-4, "{name}: video error {err}");
        videos.push(video);
    }
    // three DreamBooth models, three videos
    assert!(max_abs(videos[0].clone(), videos[1].clone()) > 0.05);
    assert!(max_abs(videos[1].clone(), videos[2].clone()) > 0.05);
}
