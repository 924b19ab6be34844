//! `magictime`: the single binary — web server, admin tasks, and the engine subcommands.
use clap::{Parser, Subcommand};

mod admin;
mod csrf;
mod health;
mod media;
mod routes;
mod serve;

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
    /// Serve the web app (SSR + hydration) with its SQLite database.
    Serve(serve::ServeArgs),
    /// Account administration.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            init_tracing();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(serve::serve(args))
        }
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
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
