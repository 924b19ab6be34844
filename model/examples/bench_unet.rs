//! `cargo run --release -p magictime-model --example bench_unet -- [--frames 16 --latent 64 …]`:
//! the same benchmark as `magictime model bench` (Burn CPU vs diffusers/torch CPU).

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: magictime_model::unet::bench::BenchArgs,
}

fn main() -> anyhow::Result<()> {
    magictime_model::unet::bench::run(&Cli::parse().bench)
}
