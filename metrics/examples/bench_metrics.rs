//! Runs `magictime_metrics::cli::run_bench` (what `magictime bench-metrics` calls):
//! `cargo run --release -p magictime-metrics --example bench_metrics -- [--skip-sqrtm] …`

use clap::Parser;
use magictime_metrics::cli::{run_bench, BenchArgs};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: BenchArgs,
}

fn main() -> anyhow::Result<()> {
    let report = run_bench(&Cli::parse().bench)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
