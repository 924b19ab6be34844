//! Acceptance: `magictime generate` writes a playable MP4 from a tiny random model end to end
//! (tokenizer → CLIP → CFG DDIM over UNet3D+motion → VAE → H.264), decoded back with ffmpeg;
//! `--model` runs the weights of its folder and `--adapters` the adapter files in it (random
//! model folders written here, videos compared frame by frame).

use std::collections::BTreeSet;
use std::path::Path;

use burn::tensor::backend::Backend;
use magictime_cli::model::{run_generate, GenerateArgs};
use magictime_model::backend::Cpu;
use magictime_model::default_model::Preset;
use magictime_model::loader::WeightMap;
use magictime_model::pipeline::{Adapter, DEFAULT_NEGATIVE};
use magictime_model::train::diffusion::TextToVideo;
use magictime_model::train::save::{to_safetensors, write_file, SavedTensor};

fn args(out: std::path::PathBuf) -> GenerateArgs {
    GenerateArgs {
        prompt: Some("a rose blooming, time-lapse".into()),
        negative: Some(DEFAULT_NEGATIVE.into()),
        seed: Some(3),
        steps: Some(2),
        cfg: Some(8.5),
        frames: Some(4),
        size: Some(32),
        fps: 8,
        model: None,
        config: None,
        ckpts: None,
        dreambooth: None,
        adapters: None,
        context_length: None,
        context_overlap: None,
        context_fuse: magictime_model::context::Fuse::Pyramid,
        freenoise: false,
        no_strided_windows: false,
        out: vec![out],
        device: magictime_model::backend::BackendKind::Cpu,
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

/// Without `--model` the built-in model runs at its own size. The default `default-model`
/// feature (what `cargo test --workspace` builds) embeds it; a build without the feature has no
/// built-in model, so the test is not compiled there (it would run MagicTime's 512² default).
#[cfg(feature = "default-model")]
#[test]
fn without_model_or_size_the_builtin_model_runs_at_its_own_size() {
    assert!(magictime_model::default_model::is_available());
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

/// Frames ffprobe decodes from `path` (`-count_frames`).
fn ffprobe_frames(path: &Path) -> usize {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe {}: {text:?}", path.display()))
}

/// One run writes every format asked for: the MP4 and GIF play in ffprobe with every frame, the
/// WebP decodes as an animation of every frame (ffmpeg 5.1 cannot decode animated WebP, so the
/// image crate's decoder counts them), the PNG is the frame grid; nothing partial is left.
#[test]
fn generate_writes_mp4_gif_webp_and_a_frame_grid() {
    use image::AnimationDecoder;
    let dir = tempfile::tempdir().unwrap();
    let mut a = args(dir.path().join("v"));
    a.out
        .extend(["v.gif", "v.webp", "v.png"].map(|n| dir.path().join(n)));
    run_generate(a).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["v.gif", "v.mp4", "v.png", "v.webp"]);
    assert_eq!(ffprobe_frames(&dir.path().join("v.mp4")), 4);
    assert_eq!(ffprobe_frames(&dir.path().join("v.gif")), 4);
    let webp = image::codecs::webp::WebPDecoder::new(std::io::BufReader::new(
        std::fs::File::open(dir.path().join("v.webp")).unwrap(),
    ))
    .unwrap();
    assert!(webp.has_animation());
    assert_eq!(webp.into_frames().collect_frames().unwrap().len(), 4);
    // 4 frames of 32²: 2 × 2 cells with 2-pixel padding
    let grid = image::open(dir.path().join("v.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (2 * 34 + 2, 2 * 34 + 2));
    // the grid's first cell is the MP4's first frame (up to H.264 loss)
    let mp4 = magictime_data::video::read_video(dir.path().join("v.mp4"), None).unwrap();
    let grid = grid.into_rgb8();
    let mut diff = 0u64;
    for y in 0..32 {
        for x in 0..32 {
            let (g, m) = (
                grid.get_pixel(2 + x, 2 + y).0,
                mp4.frames[0].get_pixel(x, y).0,
            );
            diff += (0..3).map(|c| g[c].abs_diff(m[c]) as u64).sum::<u64>();
        }
    }
    let mean = diff as f64 / (32.0 * 32.0 * 3.0);
    assert!(mean < 6.0, "grid cell vs MP4 frame: mean abs diff {mean}");
    // an unknown extension is refused before any work
    let mut a = args(dir.path().join("v.avi"));
    a.steps = Some(1000);
    let e = run_generate(a).unwrap_err().to_string();
    assert!(e.contains("v.avi") && e.contains(".webp"), "{e}");
}

#[test]
fn generate_rejects_bad_options_before_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = args(dir.path().join("x.mp4"));
    a.size = Some(30); // not a multiple of the model's stride (4 tiny random, 8 built-in default)
    let e = run_generate(a).unwrap_err().to_string();
    assert!(e.contains("multiple of"), "{e}");
    let mut a = args(dir.path().join("x.mp4"));
    a.frames = Some(513);
    let e = run_generate(a).unwrap_err().to_string();
    assert!(e.contains("1..=512"), "{e}");
    let mut a = args(dir.path().join("x.mp4"));
    (a.frames, a.context_length) = (Some(48), Some(33)); // more than the 32 positions
    let e = run_generate(a).unwrap_err().to_string();
    assert!(e.contains("context length 33"), "{e}");
    // a GPU this build cannot drive is the backend's error, before any work
    let mut a = args(dir.path().join("x.mp4"));
    a.device = magictime_model::backend::BackendKind::Cuda { index: 0 };
    let e = run_generate(a).unwrap_err().to_string();
    assert!(e.to_lowercase().contains("cuda"), "{e}");
    assert!(!dir.path().join("x.mp4").exists());
}

#[test]
fn model_inspect_reads_unet_checkpoints_and_maps_them() {
    use magictime_cli::model::{run, ModelCommand};
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/unet");
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

/// A random model of the built-in preset's architecture, written as the trainer writes a weights
/// folder (diffusers `unet/`, `vae/`, transformers `text_encoder/`, `motion_module.safetensors`),
/// without adapters. The motion modules' output projections are random too (AnimateDiff
/// zero-initialises them, which would make the motion module an identity and its file unused).
fn write_random_model(dir: &Path, seed: u64) {
    let dev = Default::default();
    let p = Preset::S32;
    <Cpu as Backend>::seed(&dev, seed);
    let mut unet = p.unet();
    unet.motion.as_mut().unwrap().zero_init_proj_out = false;
    let model = TextToVideo::<Cpu> {
        text_encoder: p.text().init(&dev),
        unet: unet.init(&dev),
    };
    let vae = p.vae().init::<Cpu>(&dev);
    let tokens: BTreeSet<usize> = (0..49408).collect();
    magictime_model::train::save_default_folder(
        dir,
        p,
        &p.text(),
        &model,
        &vae,
        &p.vae(),
        &tokens,
        false,
        false,
    )
    .unwrap();
}

/// `n` values uniform in ±0.2 (an LCG: the same for a seed everywhere).
fn lcg(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.4
        })
        .collect()
}

/// Writes MagicTime's three adapters for the model in `dir`, in the upstream layouts, on every
/// weight each one targets (read from the model's own files): Magic Adapter S
/// (`magic_adapter_s/magic_adapter_s.safetensors`, LoRA-processor keys), Magic Adapter T and the
/// Magic Text-Encoder (PEFT folders, r = 4, α = 8). Random factors, or with `zero` the up/B
/// factors all 0 (a no-op adapter: every merge adds exactly 0).
fn write_adapters(dir: &Path, seed: u64, zero: bool) {
    const R: usize = 4;
    // (down/A `[r, in]`, up/B `[out, r]`) for the weight `[out, in]`
    let factors = |shape: &[usize], i: u64| {
        let (out, inp) = (shape[0], shape[1]);
        let down = lcg(R * inp, seed * 100_000 + 2 * i);
        let up = match zero {
            true => vec![0.0; out * R],
            false => lcg(out * R, seed * 100_000 + 2 * i + 1),
        };
        ((vec![R, inp], down), (vec![out, R], up))
    };
    let t = |key: String, (shape, data): (Vec<usize>, Vec<f32>)| SavedTensor { key, shape, data };
    let targets = |file: &str, select: &dyn Fn(&str) -> bool| -> Vec<(String, Vec<usize>)> {
        WeightMap::open(dir.join(file))
            .unwrap()
            .tensors
            .into_iter()
            .filter(|(k, _)| select(k))
            .map(|(k, v)| (k, v.shape))
            .collect()
    };
    // S: `….attnN.to_q.weight` → `….attnN.processor.to_q_lora.{down,up}.weight`
    let mut s = Vec::new();
    let s_targets = targets(
        "unet/diffusion_pytorch_model.safetensors",
        &magictime_model::unet::magic_adapter_s::is_target,
    );
    assert!(!s_targets.is_empty());
    for (i, (key, shape)) in s_targets.iter().enumerate() {
        let (down, up) = factors(shape, i as u64);
        let stem = key.strip_suffix(".weight").unwrap();
        let stem = stem.strip_suffix(".0").unwrap_or(stem);
        let (attn, proj) = stem.rsplit_once('.').unwrap();
        s.push(t(format!("{attn}.processor.{proj}_lora.down.weight"), down));
        s.push(t(format!("{attn}.processor.{proj}_lora.up.weight"), up));
    }
    write_file(
        &dir.join("magic_adapter_s/magic_adapter_s.safetensors"),
        &to_safetensors(&s, false).unwrap(),
    )
    .unwrap();
    // T and the text encoder: PEFT `base_model.model.<module>.lora_{A,B}.weight`
    for (sub, file, select, modules) in [
        (
            "magic_adapter_t",
            "motion_module.safetensors",
            &magictime_model::motion::magic_adapter_t::is_target as &dyn Fn(&str) -> bool,
            r#"["proj_in","proj_out","to_q","to_k","to_v","to_out.0","ff.net.0.proj","ff.net.2"]"#,
        ),
        (
            "magic_text_encoder",
            "text_encoder/model.safetensors",
            &magictime_model::loader::clip::is_text_adapter_target,
            r#"["q_proj","k_proj","v_proj","out_proj"]"#,
        ),
    ] {
        let mut v = Vec::new();
        let list = targets(file, select);
        assert!(!list.is_empty(), "{sub}");
        for (i, (key, shape)) in list.iter().enumerate() {
            let (a, b) = factors(shape, 10_000 + i as u64);
            let stem = key.strip_suffix(".weight").unwrap();
            v.push(t(format!("base_model.model.{stem}.lora_A.weight"), a));
            v.push(t(format!("base_model.model.{stem}.lora_B.weight"), b));
        }
        write_file(
            &dir.join(sub).join("adapter_config.json"),
            format!(
                r#"{{"peft_type": "LORA", "r": {R}, "lora_alpha": 8, "target_modules": {modules}}}"#
            )
            .as_bytes(),
        )
        .unwrap();
        write_file(
            &dir.join(sub).join("adapter_model.safetensors"),
            &to_safetensors(&v, false).unwrap(),
        )
        .unwrap();
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let to = dst.join(p.file_name().unwrap());
        if p.is_dir() {
            std::fs::create_dir_all(&to).unwrap();
            copy_dir(&p, &to);
        } else {
            std::fs::copy(&p, &to).unwrap();
        }
    }
}

/// `magictime generate --model dir [--adapters …]` (seed 3, 2 steps, 4 frames, 32²): the decoded
/// frames of the MP4 it writes (into a folder of its own).
fn generate(model: &Path, adapters: Option<&[Adapter]>) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("video.mp4");
    let mut a = args(out.clone());
    a.model = Some(model.to_path_buf());
    a.adapters = adapters.map(<[Adapter]>::to_vec);
    run_generate(a).unwrap();
    let v = magictime_data::video::read_video(&out, None).unwrap();
    assert_eq!((v.frames.len(), v.frames[0].dimensions()), (4, (32, 32)));
    v.frames.iter().flat_map(|f| f.as_raw().clone()).collect()
}

/// Asserts two decoded videos are the same, byte for byte.
fn same(want: &[u8], got: &[u8], what: &str) {
    let n = want.iter().zip(got).filter(|(x, y)| x != y).count();
    assert!(
        want.len() == got.len() && n == 0,
        "{what}: another video ({n} of {} bytes differ)",
        want.len()
    );
}

/// Bytes of two decoded videos that differ by more than 8 (of 255; H.264 noise is below that).
fn differing(a: &[u8], b: &[u8]) -> usize {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).filter(|(x, y)| x.abs_diff(**y) > 8).count()
}

/// `generate --model` runs the folder's weights: the same folder (or a copy of its files) gives
/// the same video for a seed, another model's folder another video, and each weight file counts
/// (swapping in the other model's UNet, motion module, text encoder or VAE changes the video).
#[test]
fn generate_model_runs_the_weights_of_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, copy) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("copy"),
    );
    write_random_model(&a, 1);
    write_random_model(&b, 2);
    std::fs::create_dir_all(&copy).unwrap();
    copy_dir(&a, &copy);
    let va = generate(&a, None);
    same(&va, &generate(&a, None), "the same folder and seed");
    same(&va, &generate(&copy, None), "a copy of the folder");
    let vb = generate(&b, None);
    let d = differing(&va, &vb);
    eprintln!("model a vs b: {d} of {} bytes differ", va.len());
    assert!(
        d > va.len() / 10,
        "two models, nearly the same video ({d} bytes differ)"
    );
    for file in [
        "unet/diffusion_pytorch_model.safetensors",
        "motion_module.safetensors",
        "text_encoder/model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
    ] {
        std::fs::copy(b.join(file), copy.join(file)).unwrap();
        let v = generate(&copy, None);
        let d = differing(&va, &v);
        eprintln!("{file} swapped: {d} of {} bytes differ", va.len());
        assert!(
            d > va.len() / 20,
            "{file} of another model changed nothing ({d})"
        );
        std::fs::copy(a.join(file), copy.join(file)).unwrap();
    }
}

/// `--adapters` applies the adapter files: each of S, T and the Magic Text-Encoder alone changes
/// the video; with its up/B factors zero (a no-op adapter) the video is exactly the base model's;
/// `--adapters` with none of them, exactly the base model's; no `--adapters`, all of them.
#[test]
fn generate_adapters_apply_the_adapter_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, adapted, zeroed) = (
        tmp.path().join("base"),
        tmp.path().join("adapted"),
        tmp.path().join("zeroed"),
    );
    write_random_model(&base, 3);
    for d in [&adapted, &zeroed] {
        std::fs::create_dir_all(d).unwrap();
        copy_dir(&base, d);
    }
    write_adapters(&adapted, 1, false);
    write_adapters(&zeroed, 1, true);
    let plain = generate(&base, None);
    same(
        &plain,
        &generate(&adapted, Some(&[])),
        "--adapters with none of them",
    );
    for a in [Adapter::S, Adapter::T, Adapter::Te] {
        let v = generate(&adapted, Some(&[a]));
        let d = differing(&plain, &v);
        eprintln!("--adapters {a:?}: {d} of {} bytes differ", v.len());
        assert!(d > v.len() / 20, "--adapters {a:?} changed nothing ({d})");
        same(
            &plain,
            &generate(&zeroed, Some(&[a])),
            &format!("--adapters {a:?} with a zero adapter"),
        );
    }
    let all = generate(&adapted, None);
    let d = differing(&plain, &all);
    eprintln!("all adapters: {d} of {} bytes differ", all.len());
    assert!(d > all.len() / 20, "the adapters changed nothing ({d})");
    same(
        &all,
        &generate(&adapted, Some(&[Adapter::S, Adapter::T, Adapter::Te])),
        "--adapters s,t,te (no --adapters means all the folder has)",
    );
}
