//! Trains the in-domain CLIP (`tools/train_clip.sh` runs this; same as
//! `magictime model train-clip`, but buildable without the embedded assets it produces).

use clap::Parser;
use magictime_model::backend::CpuAutodiff;
use magictime_model::train::clip::{run_train_clip, TrainClipArgs};

#[derive(Parser)]
// `tools/train_clip.sh` passes defaults (`--seed 0 --steps 2000`) before the caller's arguments:
// a later occurrence overrides an earlier one, as in most CLIs.
#[command(args_override_self = true)]
struct Cli {
    #[command(flatten)]
    args: TrainClipArgs,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let report =
        run_train_clip::<CpuAutodiff>(&Cli::parse().args, Default::default(), &mut |_| {})?;
    eprintln!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
