//! Trains the default model (`tools/train_default.sh` runs this; same as
//! `magictime model train-default`).

use clap::Parser;
use magictime_model::train::{run_train_default, TrainDefaultArgs};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: TrainDefaultArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    run_train_default(&cli.args)?;
    Ok(())
}
