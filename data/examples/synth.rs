//! `cargo run --release -p magictime-data --example synth -- --count 10000 --out DIR`: the
//! `magictime data synth` command without the server binary (timing, dataset building).

use clap::Parser;
use magictime_data::cli::SynthArgs;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: SynthArgs,
}

fn main() -> anyhow::Result<()> {
    magictime_data::cli::run_synth(&Cli::parse().args).map(|_| ())
}
