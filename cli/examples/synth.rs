//! `cargo run --release -p magictime-cli --example synth -- --count 10000 --out DIR`: the
//! `magictime data synth` command without the server binary (timing, dataset building).

use clap::Parser;
use magictime_cli::data::SynthArgs;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: SynthArgs,
}

fn main() -> anyhow::Result<()> {
    magictime_cli::data::run_synth(&Cli::parse().args).map(|_| ())
}
