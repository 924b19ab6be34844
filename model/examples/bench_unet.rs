//! `cargo run --release -p magictime-model --example bench_unet -- --python <torch python> …`
//! (`make model-bench`): Burn (CPU, flex) against diffusers/torch (CPU) on the same UNet weights
//! and inputs, side by side in one run, printing ratios.
//!
//! Two networks ([`Preset`]): `bench`, small but not trivial (channels 64/128/256, SD1.5 block
//! layout, 8 heads, cross-attention 768, AnimateDiff v3 motion modules), and `sd15`, SD1.5's own
//! size (head width 40 at the first level) plus one SD1.5 VAE decode; 16 frames, 64×64 latents,
//! the CFG batch of 2 videos by default — one denoising step is one UNet call. The reference side is
//! `tools/parity/bench_unet.py` (it also writes the weights both sides use). Reported: seconds per
//! step, peak RSS of each process, the share of time inside attention modules, and the max abs
//! difference of the two outputs (the same computation, not just the same shapes).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use burn::tensor::{Tensor, TensorData};

use clap::Parser;
use magictime_model::backend::Cpu;
use magictime_model::loader::unet::load_into_owned;
use magictime_model::loader::{LoadMode, WeightMap};
use magictime_model::motion::MotionModuleConfig;
use magictime_model::unet::attention::attention_profile;
use magictime_model::unet::UNet3DConfig;

/// Same allocator and setting as the `magictime` binary (server/src/alloc.rs): freed tensor
/// buffers are kept for reuse instead of being returned to the kernel and faulted in again.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` (see server/src/alloc.rs, whose test checks the index).
const MI_OPTION_PURGE_DELAY: i32 = 15;

/// The benchmarked network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Channels 64/128/256 (the quick one).
    Bench,
    /// SD1.5's real block layout: channels 320/640/1280/1280, 2 layers per block, 8 heads
    /// (head width 40 at the first level), cross-attention 768, AnimateDiff v3 motion modules
    /// (1.3 G parameters); also times one SD1.5 VAE decode (4×64×64 latent → 512×512).
    Sd15,
}

impl Preset {
    fn name(self) -> &'static str {
        match self {
            Self::Bench => "bench",
            Self::Sd15 => "sd15",
        }
    }
}

/// The benchmark's options.
#[derive(Debug, Clone, Parser)]
struct BenchArgs {
    /// The network.
    #[arg(long, value_enum, default_value_t = Preset::Bench)]
    preset: Preset,
    /// Python with torch + diffusers for the reference side (`make ref-venv`'s).
    #[arg(long, env = "MAGICTIME_REF_PYTHON")]
    python: PathBuf,
    /// The reference script.
    #[arg(long, default_value = "tools/parity/bench_unet.py")]
    script: PathBuf,
    /// Frames per video.
    #[arg(long, default_value_t = 16)]
    frames: usize,
    /// Latent height = width.
    #[arg(long, default_value_t = 64)]
    latent: usize,
    /// Timed steps per side.
    #[arg(long, default_value_t = 2)]
    steps: usize,
    /// Untimed warm-up steps per side.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Where the shared weights and inputs go (a temporary folder by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// The benchmark network of `preset`, matching `bench_unet.py` (diffusers' motion GroupNorm).
fn bench_config(preset: Preset) -> UNet3DConfig {
    let base = match preset {
        Preset::Bench => UNet3DConfig::bench(),
        Preset::Sd15 => UNet3DConfig::sd15(),
    };
    base.with_motion(Some(
        MotionModuleConfig::new(0)
            .with_heads(8)
            .with_norm_per_frame(false),
    ))
}

/// Peak resident memory of this process in MB (Linux `VmHWM`), if readable.
fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn tensor<const D: usize>(w: &WeightMap, key: &str) -> anyhow::Result<Tensor<Cpu, D>> {
    let t = w
        .tensors
        .get(key)
        .with_context(|| format!("{}: no `{key}`", w.path.display()))?
        .clone();
    Ok(Tensor::from_data(
        TensorData::new(t.data, t.shape),
        &Default::default(),
    ))
}

/// Runs both sides and prints the comparison.
fn main() -> anyhow::Result<()> {
    // SAFETY: a plain store into mimalloc's option table.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    let args = &BenchArgs::parse();
    let tmp;
    let dir = match &args.work_dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    // 1. reference (its own process: its own peak RSS)
    eprintln!(
        "reference: {} {} …",
        args.python.display(),
        args.script.display()
    );
    let out = Command::new(&args.python)
        .arg(&args.script)
        .args(["--out", &dir.display().to_string()])
        .args(["--preset", args.preset.name()])
        .args([
            "--frames",
            &args.frames.to_string(),
            "--latent",
            &args.latent.to_string(),
        ])
        .args([
            "--steps",
            &args.steps.to_string(),
            "--warmup",
            &args.warmup.to_string(),
        ])
        .output()
        .with_context(|| format!("running {}", args.python.display()))?;
    if !out.status.success() {
        bail!("reference failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("");
    let r: serde_json::Value =
        serde_json::from_str(line).with_context(|| format!("reference output {line:?}"))?;
    let num = |k: &str| r.get(k).and_then(|x| x.as_f64()).unwrap_or(f64::NAN);
    // 2. Burn on the same weights and inputs
    let device = Default::default();
    let weights = WeightMap::from_safetensors(dir.join("bench_unet.safetensors"))?;
    let (unet, _) = load_into_owned(
        bench_config(args.preset).init::<Cpu>(&device),
        weights,
        LoadMode::Strict,
    )?;
    let inputs = WeightMap::from_safetensors(dir.join("bench_inputs.safetensors"))?;
    let sample: Tensor<Cpu, 5> = tensor(&inputs, "sample")?;
    let ts: Tensor<Cpu, 1> = tensor(&inputs, "timestep")?;
    let ctx: Tensor<Cpu, 3> = tensor(&inputs, "encoder_hidden_states")?;
    let step = || {
        let y = unet.forward(sample.clone(), ts.clone(), ctx.clone());
        // materialise (flex is eager; reading forces completion on any backend)
        let _ = y.clone().slice([0..1, 0..1, 0..1, 0..1, 0..1]).into_data();
        y
    };
    for _ in 0..args.warmup {
        step();
    }
    attention_profile(true);
    let t0 = Instant::now();
    let mut y = None;
    for _ in 0..args.steps {
        y = Some(step());
    }
    let burn_step = t0.elapsed().as_secs_f64() / args.steps.max(1) as f64;
    let attn_ns = attention_profile(false);
    let burn_attn = attn_ns as f64 * 1e-9 / (burn_step * args.steps.max(1) as f64);
    let burn_rss = peak_rss_mb().unwrap_or(f64::NAN);
    let reference = WeightMap::from_safetensors(dir.join("bench_ref_out.safetensors"))?;
    let want: Tensor<Cpu, 5> = tensor(&reference, "out")?;
    let scale: f32 = want.clone().abs().max().into_scalar();
    let diff: f32 = (y.expect("at least one step") - want)
        .abs()
        .max()
        .into_scalar();
    drop(unet);
    // 3. the VAE decode of one latent (sd15): same weights and latent as torch's
    let vae_decode = if args.preset == Preset::Sd15 {
        use magictime_model::vae::AutoencoderKlConfig;
        let config = AutoencoderKlConfig::from_diffusers_json(&dir.join("bench_vae_config.json"))?;
        let (vae, _) = magictime_model::loader::vae::load_vae_file::<Cpu>(
            &config,
            &dir.join("bench_vae.safetensors"),
            &device,
        )?;
        let z: Tensor<Cpu, 4> = tensor(&inputs, "vae_latent")?;
        let _ = vae.decode(z.clone()); // warm-up
        let t0 = Instant::now();
        let x = vae.decode(z);
        let secs = t0.elapsed().as_secs_f64();
        let want: Tensor<Cpu, 4> = tensor(&reference, "vae_out")?;
        let err: f32 = (x - want).abs().max().into_scalar();
        Some((secs, err))
    } else {
        None
    };
    // 4. report
    let torch_step = num("sec_per_step");
    let channels = bench_config(args.preset)
        .block_out_channels
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("/");
    println!(
        "UNet3D bench ({}): channels {channels}, {} frames, {}x{} latents, CFG batch 2, {} params",
        args.preset.name(),
        args.frames,
        args.latent,
        args.latent,
        r.get("params").and_then(|x| x.as_u64()).unwrap_or(0)
    );
    println!(
        "{:<22} {:>12} {:>12} {:>10}",
        "", "burn-flex", "torch", "burn/torch"
    );
    println!(
        "{:<22} {:>12.3} {:>12.3} {:>10.2}",
        "seconds per step",
        burn_step,
        torch_step,
        burn_step / torch_step
    );
    println!(
        "{:<22} {:>12.0} {:>12.0} {:>10.2}",
        "peak RSS (MB)",
        burn_rss,
        num("peak_rss_mb"),
        burn_rss / num("peak_rss_mb")
    );
    println!(
        "{:<22} {:>11.1}% {:>11.1}%",
        "attention share",
        100.0 * burn_attn,
        100.0 * num("attn_share")
    );
    if let Some((secs, err)) = vae_decode {
        println!(
            "{:<22} {:>12.3} {:>12.3} {:>10.2}   (max abs diff {err:.2e})",
            "VAE decode 512² (s)",
            secs,
            num("vae_decode_sec"),
            secs / num("vae_decode_sec")
        );
    }
    println!(
        "output max abs diff {diff:.3e} (max |out| {scale:.3}); torch {} with {} threads",
        r.get("torch").and_then(|x| x.as_str()).unwrap_or("?"),
        r.get("threads").and_then(|x| x.as_u64()).unwrap_or(0)
    );
    Ok(())
}
