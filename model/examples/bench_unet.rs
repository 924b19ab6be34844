//! `cargo run --release -p magictime-model --example bench_unet -- --python <torch python> …`
//! (`make model-bench`): Burn against diffusers/torch on the same UNet weights and inputs, side by
//! side in one run, printing ratios. Both sides run on the CPU by default (burn-flex, torch f32);
//! on a GPU machine, build with `--features cuda` and pass `--device cuda --ref-device cuda
//! --ref-dtype f16` (Burn's CUDA backend in f32 against PyTorch in fp16, as SD1.5 is run on GPUs;
//! `tools/gpu_check.sh` does).
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
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorData};

use clap::Parser;
use magictime_model::backend::{BackendKind, OnBackend};
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
    /// Burn's backend: `cpu` (burn-flex) or `cuda[:N]` (needs `--features cuda`).
    #[arg(long, default_value = "cpu")]
    device: BackendKind,
    /// PyTorch's device: `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    ref_device: String,
    /// PyTorch's float type (`f16` on a GPU, as SD1.5 is run there).
    #[arg(long, value_enum, default_value_t = RefDtype::F32)]
    ref_dtype: RefDtype,
}

/// The reference side's float type (`bench_unet.py --dtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RefDtype {
    F32,
    F16,
}

impl RefDtype {
    fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
        }
    }
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

fn tensor<B: Backend, const D: usize>(
    w: &WeightMap,
    key: &str,
    device: &B::Device,
) -> anyhow::Result<Tensor<B, D>> {
    let t = w
        .tensors
        .get(key)
        .with_context(|| format!("{}: no `{key}`", w.path.display()))?
        .clone();
    Ok(Tensor::from_data(TensorData::new(t.data, t.shape), device))
}

/// What Burn's side measured.
struct BurnTimes {
    step: f64,
    attention_share: f64,
    peak_rss_mb: f64,
    max_abs_diff: f32,
    max_abs_out: f32,
    /// `(seconds, max abs diff)` of one VAE decode (sd15).
    vae_decode: Option<(f64, f32)>,
}

/// Burn's side on the backend `--device` names (inference: the autodiff backend's inner one).
struct BurnSide<'a> {
    args: &'a BenchArgs,
    dir: &'a std::path::Path,
}

impl OnBackend for BurnSide<'_> {
    type Output = anyhow::Result<BurnTimes>;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        burn_side::<B::InnerBackend>(self.args, self.dir, &device)
    }
}

/// Loads the reference's weights and inputs into the UNet on `device`, times `--steps` calls
/// after `--warmup`, and compares the output with torch's (and, for sd15, one VAE decode).
fn burn_side<B: Backend>(
    args: &BenchArgs,
    dir: &std::path::Path,
    device: &B::Device,
) -> anyhow::Result<BurnTimes> {
    let weights = WeightMap::from_safetensors(dir.join("bench_unet.safetensors"))?;
    let (unet, _) = load_into_owned(
        bench_config(args.preset).init::<B>(device),
        weights,
        LoadMode::Strict,
    )?;
    let inputs = WeightMap::from_safetensors(dir.join("bench_inputs.safetensors"))?;
    let sample: Tensor<B, 5> = tensor(&inputs, "sample", device)?;
    let ts: Tensor<B, 1> = tensor(&inputs, "timestep", device)?;
    let ctx: Tensor<B, 3> = tensor(&inputs, "encoder_hidden_states", device)?;
    let step = || {
        let y = unet.forward(sample.clone(), ts.clone(), ctx.clone());
        // materialise (flex is eager; reading forces completion on any backend, CUDA included)
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
    let attention_share = attn_ns as f64 * 1e-9 / (burn_step * args.steps.max(1) as f64);
    let reference = WeightMap::from_safetensors(dir.join("bench_ref_out.safetensors"))?;
    let want: Tensor<B, 5> = tensor(&reference, "out", device)?;
    let max_abs_out: f32 = want.clone().abs().max().into_scalar().elem();
    let max_abs_diff: f32 = (y.expect("at least one step") - want)
        .abs()
        .max()
        .into_scalar()
        .elem();
    drop(unet);
    // the VAE decode of one latent (sd15): same weights and latent as torch's
    let vae_decode = if args.preset == Preset::Sd15 {
        use magictime_model::vae::AutoencoderKlConfig;
        let config = AutoencoderKlConfig::from_diffusers_json(&dir.join("bench_vae_config.json"))?;
        let (vae, _) = magictime_model::loader::vae::load_vae_file::<B>(
            &config,
            &dir.join("bench_vae.safetensors"),
            device,
        )?;
        let z: Tensor<B, 4> = tensor(&inputs, "vae_latent", device)?;
        let _ = vae.decode(z.clone()).into_data(); // warm-up
        let t0 = Instant::now();
        let x = vae.decode(z);
        let x_data = x.clone().slice([0..1, 0..1, 0..1, 0..1]).into_data();
        drop(x_data);
        let secs = t0.elapsed().as_secs_f64();
        let want: Tensor<B, 4> = tensor(&reference, "vae_out", device)?;
        let err: f32 = (x - want).abs().max().into_scalar().elem();
        Some((secs, err))
    } else {
        None
    };
    Ok(BurnTimes {
        step: burn_step,
        attention_share,
        peak_rss_mb: peak_rss_mb().unwrap_or(f64::NAN),
        max_abs_diff,
        max_abs_out,
        vae_decode,
    })
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
        .args([
            "--device",
            &args.ref_device,
            "--dtype",
            args.ref_dtype.name(),
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
    // 2. Burn on the same weights and inputs, on its device
    let burn = args.device.run(BurnSide { args, dir: &dir })??;
    let burn_step = burn.step;
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
    let on_gpu = args.device != BackendKind::Cpu;
    let burn_name = if on_gpu {
        format!("burn-{}", args.device)
    } else {
        "burn-flex".to_owned()
    };
    let torch_name = format!("torch-{} {}", args.ref_device, args.ref_dtype.name());
    println!(
        "{:<22} {:>14} {:>16} {:>10}",
        "", burn_name, torch_name, "burn/torch"
    );
    println!(
        "{:<22} {:>14.3} {:>16.3} {:>10.2}",
        "seconds per step",
        burn_step,
        torch_step,
        burn_step / torch_step
    );
    println!(
        "{:<22} {:>14.0} {:>16.0} {:>10.2}",
        "peak host RSS (MB)",
        burn.peak_rss_mb,
        num("peak_rss_mb"),
        burn.peak_rss_mb / num("peak_rss_mb")
    );
    if on_gpu {
        // kernels run asynchronously: the time inside attention's forward is launch time only
        println!(
            "{:<22} {:>14} {:>16.0}",
            "peak GPU memory (MB)",
            "-",
            num("peak_gpu_mb")
        );
    } else {
        println!(
            "{:<22} {:>13.1}% {:>15.1}%",
            "attention share",
            100.0 * burn.attention_share,
            100.0 * num("attn_share")
        );
    }
    if let Some((secs, err)) = burn.vae_decode {
        println!(
            "{:<22} {:>14.3} {:>16.3} {:>10.2}   (max abs diff {err:.2e})",
            "VAE decode 512² (s)",
            secs,
            num("vae_decode_sec"),
            secs / num("vae_decode_sec")
        );
    }
    println!(
        "output max abs diff {:.3e} (max |out| {:.3}); torch {} on {} with {} threads",
        burn.max_abs_diff,
        burn.max_abs_out,
        r.get("torch").and_then(|x| x.as_str()).unwrap_or("?"),
        r.get("device").and_then(|x| x.as_str()).unwrap_or("?"),
        r.get("threads").and_then(|x| x.as_u64()).unwrap_or(0)
    );
    Ok(())
}
