//! `magictime`: the single binary — web server, admin tasks, and the engine subcommands.
// The island views of the annotation workspace are deep types (see app/src/lib.rs).
#![recursion_limit = "256"]
use clap::{Parser, Subcommand};

/// See `alloc.rs`: large tensor buffers are reused, not re-faulted.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod alloc;
mod csrf;
mod eval_job;
mod generator;
mod health;
mod ingest_job;
mod media;
mod output;
mod pages_bench;
mod queue_bench;
mod routes;
mod scorer;
mod serve;
mod train_job;
mod worker;

#[derive(Parser)]
#[command(
    name = "magictime",
    version,
    about = "MagicTime: metamorphic time-lapse video generation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app (SSR + hydration) with its database (SQLite, or PostgreSQL:
    /// `--database-url`).
    Serve(serve::ServeArgs),
    /// Run jobs (generation, evaluation, ingest, training) from the database of a `serve`, on
    /// this machine's CPU or GPU: the scaled layout is one `serve --no-worker` and N workers.
    Worker(worker::WorkerArgs),
    /// Job queue benchmark: no-op jobs claimed and finished by concurrent workers on a fresh
    /// database (jobs/s, claim latency), and the time a lost lease takes to be reclaimed.
    BenchQueue(queue_bench::BenchQueueArgs),
    /// Page benchmark: the gallery and a generation's page with N finished generations in a
    /// fresh data dir, served by this binary (p50 / p99 per page).
    BenchPages(pages_bench::BenchPagesArgs),
    /// Account administration.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// ChronoMagic data pipeline: filter, cuts, split, caption, sample, synth.
    #[command(subcommand)]
    Data(magictime_cli::data::Command),
    /// Text → time-lapse video with the MagicTime pipeline (writes MP4/GIF/WebP).
    Generate(magictime_cli::model::GenerateArgs),
    /// Checkpoints and model training: inspect, train-default, train-clip.
    #[command(subcommand)]
    Model(magictime_cli::model::ModelCommand),
    /// Evaluate videos: FVD (I3D), FID, KID, CLIPSIM, metamorphic score.
    Eval(magictime_cli::metrics::EvalArgs),
    /// Zero-shot synth probe of a CLIP (default: the embedded in-domain CLIP): scene, colour and
    /// kind accuracies, caption ↔ video R@1, amplitudes; without --videos, the CLIP's validity
    /// table on held-out ChronoMagic-Synth clips.
    Probe(magictime_cli::metrics::ProbeArgs),
    /// The sandboxed child that decodes untrusted media for `serve` (internal).
    #[command(subcommand, hide = true)]
    MediaWorker(media::WorkerCommand),
}

fn main() -> anyhow::Result<()> {
    alloc::keep_freed_memory();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            init_tracing();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(serve::serve(args))
        }
        Command::Worker(args) => {
            init_tracing();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(worker::main(args))
        }
        Command::BenchQueue(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(queue_bench::run(args)),
        Command::BenchPages(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(pages_bench::run(args)),
        Command::Data(cmd) => {
            if let Err(e) = magictime_cli::data::run(cmd) {
                // Exit codes scripts can trust: 2 bad arguments/config, 3 bad input, 4 weights.
                eprintln!("error: {e:#}");
                std::process::exit(magictime_cli::data::exit_code(&e));
            }
            Ok(())
        }
        Command::Generate(args) => magictime_cli::model::run_generate(args),
        Command::Model(cmd) => {
            // the trainers log their steps and losses through tracing
            init_tracing();
            magictime_cli::model::run(cmd)
        }
        Command::Eval(args) => magictime_cli::metrics::run_eval(&args),
        Command::Probe(args) => magictime_cli::metrics::run_probe(&args).map(|_| ()),
        Command::MediaWorker(cmd) => media::worker_main(cmd),
        Command::Admin(cmd) => {
            init_tracing();
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(admin::run(cmd))
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // colours only on a terminal: a worker's or server's log file stays plain text
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}
