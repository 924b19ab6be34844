//! The default model: a training step lowers the loss on a fixed batch; the embedded weights load
//! through the real folder loader (with its Magic Adapters) and generate seeded, prompt-dependent
//! 16-frame 64×64 videos.

use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use magictime_model::backend::{Cpu, CpuAutodiff};
use magictime_model::clip::tokenizer::{ClipTokenizer, Truncation};
use magictime_model::default_model::{self, text_config, unet_config, vae_config};
use magictime_model::pipeline::seeded_noise;
use magictime_model::train::data::{fold_frames, SynthSet};
use magictime_model::train::diffusion::{
    diffusion_loss, id_tensor, training_scheduler, v_loss_weights, weighted_diffusion_loss,
    LatentSet, TextToVideo,
};
use magictime_model::train::{freeze, scalar, vae::vae_loss};

fn small_data() -> SynthSet {
    SynthSet::generate(4, 32, 8, 7).unwrap()
}

#[test]
fn synth_set_is_scaled_and_captioned() {
    let d = small_data();
    assert_eq!(d.pixels.len(), 4 * 3 * 8 * 32 * 32);
    let v = d.image_values(&[(0, 0), (3, 7)]);
    assert!(v.iter().all(|x| (-1.0..=1.0).contains(x)));
    assert!(v.iter().any(|&x| x > -0.99), "not all black");
    assert_eq!(d.captions.len(), 4);
    assert!(d.captions.iter().all(|c| c.len() > 10));
}

#[test]
fn diffusion_train_steps_reduce_the_loss_on_a_fixed_batch() {
    let device = Default::default();
    <CpuAutodiff as Backend>::seed(&device, 1);
    let data = small_data();
    let tok = ClipTokenizer::new().unwrap();
    let vae = vae_config().init::<Cpu>(&device);
    let latents = LatentSet::encode(&vae, &data, &tok, &device, 2).unwrap();
    // the clips split over threads give the latents of one thread, in clip order
    let serial = LatentSet::encode(&vae, &data, &tok, &device, 1).unwrap();
    assert_eq!(latents.dims, serial.dims);
    assert_eq!(latents.values, serial.values);
    assert_eq!(latents.values.len(), latents.dims.iter().product::<usize>());
    let mut model = TextToVideo::<CpuAutodiff> {
        text_encoder: text_config().init(&device),
        unet: unet_config().init(&device),
    };
    let sched = training_scheduler().unwrap();
    let idx = [0usize, 1];
    let rows: Vec<&Vec<i64>> = idx.iter().map(|&i| &latents.ids[i]).collect();
    let z0 = latents.batch::<CpuAutodiff>(&idx, &device);
    let noise = seeded_noise::<CpuAutodiff, 5>(5, z0.dims(), &device);
    let t = [300usize, 700];
    let loss_of = |m: &TextToVideo<CpuAutodiff>| {
        diffusion_loss(
            &m.text_encoder,
            &m.unet,
            &sched,
            id_tensor(&rows, &device),
            z0.clone(),
            noise.clone(),
            &t,
        )
        .unwrap()
    };
    let before = scalar(loss_of(&model));
    let mut optim = AdamConfig::new().init::<CpuAutodiff, TextToVideo<CpuAutodiff>>();
    for _ in 0..5 {
        let loss = loss_of(&model);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
    }
    let after = scalar(loss_of(&model));
    assert!(after < before * 0.95, "loss {before} -> {after}");
}

#[test]
fn the_weighted_loss_is_the_weighted_mean_of_the_per_sample_losses() {
    let device = Default::default();
    <Cpu as Backend>::seed(&device, 3);
    let text_encoder = text_config().init::<Cpu>(&device);
    let unet = unet_config().init::<Cpu>(&device);
    let tok = ClipTokenizer::new().unwrap();
    let sched = training_scheduler().unwrap();
    let rows: Vec<Vec<i64>> = ["a red flower blooming", "a ball rolling on grass"]
        .iter()
        .map(|c| {
            tok.encode_padded(c, Truncation::Truncate)
                .unwrap()
                .into_iter()
                .map(i64::from)
                .collect()
        })
        .collect();
    let dims = [2, 4, 2, 8, 8];
    let z0 = seeded_noise::<Cpu, 5>(11, dims, &device);
    let noise = seeded_noise::<Cpu, 5>(12, dims, &device);
    let t = [900usize, 100];
    let loss = |idx: &[usize], w: Option<&[f32]>| {
        let r: Vec<&Vec<i64>> = idx.iter().map(|&i| &rows[i]).collect();
        let pick = |x: &burn::tensor::Tensor<Cpu, 5>| {
            let i = burn::tensor::Tensor::<Cpu, 1, burn::tensor::Int>::from_ints(
                idx.iter().map(|&i| i as i32).collect::<Vec<_>>().as_slice(),
                &device,
            );
            x.clone().select(0, i)
        };
        let ts: Vec<usize> = idx.iter().map(|&i| t[i]).collect();
        let l = weighted_diffusion_loss(
            &text_encoder,
            &unet,
            &sched,
            id_tensor(&r, &device),
            pick(&z0),
            pick(&noise),
            &ts,
            w,
        )
        .unwrap();
        scalar(l)
    };
    let (l0, l1) = (loss(&[0], None), loss(&[1], None));
    let both = loss(&[0, 1], None);
    assert!((both - (l0 + l1) / 2.0).abs() < 1e-5 * both.abs().max(1.0));
    let plain = scalar(
        diffusion_loss(
            &text_encoder,
            &unet,
            &sched,
            id_tensor(&rows.iter().collect::<Vec<_>>(), &device),
            z0.clone(),
            noise.clone(),
            &t,
        )
        .unwrap(),
    );
    assert!((plain - both).abs() < 1e-6 * both.abs().max(1.0));
    assert!((loss(&[0, 1], Some(&[1.0, 1.0])) - both).abs() < 1e-6 * both.abs().max(1.0));
    let w = v_loss_weights(&sched, &t, 20.0);
    // linear β: ᾱ_900 ≈ 0.005, so 1/ᾱ is capped; ᾱ_100 ≈ 0.87
    assert_eq!(w[0], 20.0);
    let expect = 1.0 / sched.alphas_cumprod[100];
    assert!((w[1] as f64 - expect).abs() < 1e-5 && (1.1..1.2).contains(&expect));
    let weighted = loss(&[0, 1], Some(&w));
    let want = (w[0] as f64 * l0 + w[1] as f64 * l1) / 2.0;
    assert!(
        (weighted - want).abs() < 1e-5 * want.abs(),
        "{weighted} vs {want}"
    );
}

#[test]
fn vae_train_steps_reduce_the_loss_and_frozen_modules_have_no_trainable_params() {
    let device = Default::default();
    <CpuAutodiff as Backend>::seed(&device, 2);
    let data = small_data();
    let x = fold_frames(data.videos::<CpuAutodiff>(&[0], &device));
    let mut vae = vae_config().init::<CpuAutodiff>(&device);
    assert!(freeze::trainable_params(&vae) > 0);
    let mut optim = AdamConfig::new().init::<CpuAutodiff, _>();
    let mut losses = vec![];
    let eps = seeded_noise::<CpuAutodiff, 4>(3, [8, 4, 8, 8], &device);
    for _ in 0..6 {
        let l = vae_loss(&vae, x.clone(), eps.clone(), 1e-4);
        losses.push(scalar(l.recon.clone()));
        let grads = GradientsParams::from_grads(l.total.backward(), &vae);
        vae = optim.step(1e-3, vae, grads);
    }
    assert!(losses[5] < losses[0] * 0.9, "recon {losses:?}");
    let frozen = freeze::freeze(vae);
    assert_eq!(freeze::trainable_params(&frozen), 0);
    let thawed = freeze::unfreeze(frozen);
    assert!(freeze::trainable_params(&thawed) > 0);
    let _ = thawed.valid();
}

#[cfg(feature = "default-model")]
mod embedded {
    use super::*;
    use magictime_model::pipeline::MagicTimePipeline;

    fn video(
        p: &MagicTimePipeline<Cpu>,
        prompt: &str,
        seed: u64,
    ) -> magictime_model::pipeline::Video {
        let mut o = default_model::default_options(prompt);
        o.seed = seed;
        o.steps = 10;
        p.generate(&o, &mut |_| {}).unwrap()
    }

    fn mean_rgb(v: &magictime_model::pipeline::Video, frame: usize) -> [f64; 3] {
        let f = v.frame(frame);
        let mut m = [0.0; 3];
        for px in f.chunks(3) {
            for c in 0..3 {
                m[c] += f64::from(px[c]);
            }
        }
        m.map(|x| x / (f.len() / 3) as f64)
    }

    #[test]
    fn default_model_loads_and_generates_seeded_prompt_dependent_videos() {
        let device = Default::default();
        let p = default_model::load_default::<Cpu>(&device).unwrap();
        let a = video(
            &p,
            "Time-lapse of a red flower blooming, its petals opening against a blue background.",
            1,
        );
        // the embedded model's own size: the 64² / 16-frame preset it was trained at
        let d = default_model::defaults();
        assert_eq!((d.num_frames, d.height, d.width), (16, 64, 64));
        assert_eq!((a.frames, a.height, a.width), (16, 64, 64));
        let a2 = video(
            &p,
            "Time-lapse of a red flower blooming, its petals opening against a blue background.",
            1,
        );
        assert_eq!(a.rgb, a2.rgb, "same seed, same frames");
        let b = video(&p, "A yellow ball rolling across a green floor.", 1);
        let diff = a
            .rgb
            .iter()
            .zip(&b.rgb)
            .filter(|(x, y)| x.abs_diff(**y) > 8)
            .count();
        assert!(
            diff > a.rgb.len() / 100,
            "prompts change the video ({diff} bytes differ)"
        );
        // not a constant image: trained frames have structure
        let m = mean_rgb(&a, 0);
        let var: f64 = a
            .frame(0)
            .chunks(3)
            .map(|px| (f64::from(px[0]) - m[0]).powi(2))
            .sum::<f64>()
            / (a.frame(0).len() / 3) as f64;
        assert!(var > 4.0, "frame 0 red-channel variance {var}");
    }

    /// The built-in model is used as MagicTime's release is: with its Magic Adapters S, T and
    /// Text-Encoder, read by the same loaders; without them the video differs.
    #[test]
    fn the_builtin_model_applies_its_magic_adapters() {
        let device = Default::default();
        let with = default_model::load_default::<Cpu>(&device).unwrap();
        let dir = tempfile::tempdir().unwrap();
        default_model::write_default_dir(dir.path()).unwrap();
        let without = magictime_model::pipeline::MagicTimePipeline::<Cpu>::from_dir(
            dir.path(),
            Some(&[]),
            &device,
        )
        .unwrap();
        let prompt =
            "Time-lapse of a red flower blooming, its petals opening against a blue background.";
        let (a, b) = (video(&with, prompt, 3), video(&without, prompt, 3));
        let diff = a
            .rgb
            .iter()
            .zip(&b.rgb)
            .filter(|(x, y)| x.abs_diff(**y) > 2)
            .count();
        assert_eq!(a.rgb.len(), b.rgb.len());
        assert!(diff > 0, "the adapters changed nothing");
    }

    /// Fraction of a frame's pixels that read as red (the flower).
    fn red_fraction(f: &[u8]) -> f64 {
        let red = f
            .chunks(3)
            .filter(|p| p[0] > 140 && p[1] < 100 && p[2] < 100)
            .count();
        red as f64 / (f.len() / 3) as f64
    }

    /// Mean RGB of the outer ring (6 px) of a frame: the background, where the object is not.
    fn border_rgb(v: &magictime_model::pipeline::Video, frame: usize) -> [f64; 3] {
        let (f, w, h, r) = (v.frame(frame), v.width, v.height, 6);
        let mut m = [0.0; 3];
        let mut n = 0.0;
        for y in 0..h {
            for x in 0..w {
                if x < r || y < r || x >= w - r || y >= h - r {
                    let i = (y * w + x) * 3;
                    for c in 0..3 {
                        m[c] += f64::from(f[i + c]);
                    }
                    n += 1.0;
                }
            }
        }
        m.map(|x| x / n)
    }

    /// What a user asks first (the acceptance prompt), at the Generate page's defaults
    /// (the model's generation_config, seed 42): a red object against a blue background that
    /// grows as it opens, in every frame a blue background.
    #[test]
    fn the_red_flower_prompt_opens_a_red_object_against_a_blue_background() {
        let device = Default::default();
        let p = default_model::load_default::<Cpu>(&device).unwrap();
        let mut o = default_model::default_options(
            "Time-lapse of a red flower blooming, its petals opening against a blue background",
        );
        o.seed = 42;
        let v = p.generate(&o, &mut |_| {}).unwrap();
        let last = v.frames - 1;
        let reds: Vec<f64> = (0..v.frames).map(|i| red_fraction(v.frame(i))).collect();
        eprintln!(
            "red fraction per frame {reds:.3?}; background first {:.0?}, last {:.0?}",
            border_rgb(&v, 0),
            border_rgb(&v, last)
        );
        for i in 0..v.frames {
            let [r, g, b] = border_rgb(&v, i);
            assert!(
                b > r + 40.0 && b > g + 20.0,
                "frame {i}: background {r:.0} {g:.0} {b:.0} is not blue"
            );
        }
        assert!(reds[last] > 0.03, "no red object: {reds:?}");
        assert!(
            reds[last] > 1.3 * reds[0],
            "the red object does not grow: {reds:?}"
        );
    }

    #[test]
    fn default_folder_is_in_the_upstream_layout() {
        let dir = tempfile::tempdir().unwrap();
        default_model::write_default_dir(dir.path()).unwrap();
        for f in [
            "unet/config.json",
            "unet/diffusion_pytorch_model.safetensors",
            "motion_module.safetensors",
            "vae/config.json",
            "vae/diffusion_pytorch_model.safetensors",
            "text_encoder/config.json",
            "text_encoder/model.safetensors",
            "magic_adapter_s/magic_adapter_s.safetensors",
            "magic_adapter_t/default/adapter_config.json",
            "magic_adapter_t/default/adapter_model.safetensors",
            "magic_text_encoder/default/adapter_config.json",
            "magic_text_encoder/default/adapter_model.safetensors",
        ] {
            assert!(dir.path().join(f).is_file(), "{f}");
        }
        let cfg = magictime_model::unet::UNet3DConfig::from_diffusers_json(
            &dir.path().join("unet/config.json"),
        )
        .unwrap();
        assert_eq!(cfg.block_out_channels, unet_config().block_out_channels);
        let total: usize = default_model::FILES.iter().map(|(_, b)| b.len()).sum();
        // a few MB: 8.5 MB since Adapter T went to rank 64 (f32, 2.5 MB)
        assert!(total <= 9 * 1024 * 1024, "embedded {total} bytes");
    }
}

#[cfg(not(feature = "default-model"))]
#[test]
fn without_the_feature_loading_is_a_clear_error() {
    let e = default_model::load_default::<Cpu>(&Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("default-model"), "{e}");
}
