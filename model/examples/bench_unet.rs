//! `cargo run --release -p magictime-model --example bench_unet -- [--frames 16 --latent 64 …]`:
//! the same benchmark as `magictime model bench` (Burn CPU vs diffusers/torch CPU).

use clap::Parser;

/// Same allocator as the `magictime` binary: it keeps freed pages for reuse, where glibc
/// returns every large tensor buffer to the kernel and faults it in again on the next step.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: magictime_model::unet::bench::BenchArgs,
}

fn main() -> anyhow::Result<()> {
    magictime_model::unet::bench::run(&Cli::parse().bench)
}
