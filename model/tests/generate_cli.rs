//! Acceptance: `magictime generate` writes a playable MP4 from a tiny random model end to end
//! (tokenizer → CLIP → CFG DDIM over UNet3D+motion → VAE → H.264), decoded back with ffmpeg.

use magictime_model::cli::{run_generate, GenerateArgs};
use magictime_model::pipeline::DEFAULT_NEGATIVE;

fn args(out: std::path::PathBuf) -> GenerateArgs {
    GenerateArgs {
        prompt: "a rose blooming, time-lapse".into(),
        negative: DEFAULT_NEGATIVE.into(),
        seed: 3,
        steps: Some(2),
        cfg: Some(8.5),
        frames: Some(4),
        size: Some(32),
        fps: 8,
        model: None,
        adapters: None,
        out,
    }
}

#[test]
fn generate_writes_a_playable_mp4_from_a_tiny_random_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("video.mp4");
    run_generate(args(out.clone())).unwrap();
    let video = magictime_data::video::read_video(&out, None).unwrap();
    assert_eq!(video.frames.len(), 4);
    assert_eq!(video.frames[0].dimensions(), (32, 32));
    let info = magictime_data::video::probe(&out).unwrap();
    assert_eq!(info.codec, "h264");
    assert!((info.fps - 8.0).abs() < 1e-6, "fps {}", info.fps);

    // same seed, same video (before encoding); another seed, another one
    let again = dir.path().join("again.mp4");
    run_generate(args(again.clone())).unwrap();
    let v2 = magictime_data::video::read_video(&again, None).unwrap();
    assert_eq!(video.frames[0].as_raw(), v2.frames[0].as_raw());
}

#[test]
fn without_model_or_size_the_builtin_model_runs_at_its_own_size() {
    if !magictime_model::default_model::is_available() {
        return; // built without the `default-model` feature: the 512² default applies
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("native.mp4");
    let mut a = args(out.clone());
    (a.size, a.frames) = (None, None);
    run_generate(a).unwrap();
    let video = magictime_data::video::read_video(&out, None).unwrap();
    let d = magictime_model::default_model::defaults();
    let s = d.height as u32;
    assert_eq!(video.frames.len(), d.num_frames);
    assert_eq!(video.frames[0].dimensions(), (s, s));
}

#[test]
fn generate_rejects_bad_options_before_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = args(dir.path().join("x.mp4"));
    a.size = Some(30); // not a multiple of the model's stride (4 tiny random, 8 built-in default)
    let e = run_generate(a).unwrap_err().to_string();
    assert!(e.contains("multiple of"), "{e}");
    let mut a = args(dir.path().join("x.mp4"));
    a.frames = Some(40);
    let e = run_generate(a).unwrap_err().to_string();
    assert!(e.contains("1..=32"), "{e}");
    assert!(!dir.path().join("x.mp4").exists());
}

#[test]
fn model_inspect_reads_unet_checkpoints_and_maps_them() {
    use magictime_model::cli::{run, ModelCommand};
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/unet");
    run(ModelCommand::Inspect { path: dir.clone() }).unwrap();
    let reports =
        magictime_model::loader::inspect::inspect(&dir.join("mm_original.safetensors")).unwrap();
    let summary = magictime_model::unet::checkpoint::mapping_summary(&reports[0]).unwrap();
    // the tiny motion modules land on SD1.5's motion-module keys (with other widths)
    assert!(summary.contains("shape mismatches"), "{summary}");
    let e = run(ModelCommand::Inspect {
        path: dir.join("missing.safetensors"),
    })
    .unwrap_err();
    assert!(e.to_string().contains("missing.safetensors"), "{e}");
}
