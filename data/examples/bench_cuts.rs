//! `cargo run --release -p magictime-data --example bench_cuts -- [--python PY] …`: the same
//! benchmark as `magictime data bench-cuts` (used by tools/data/bench_cuts.sh).

use clap::Parser;
use magictime_data::bench::BenchArgs;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
}

fn main() -> anyhow::Result<()> {
    magictime_data::bench::run(&Cli::parse().args).map(|_| ())
}
