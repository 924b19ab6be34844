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

use magictime_app::{
    ssr::{
        generator::Generator,
        jobs::{self, Claimed, Lease, Leasing, Outcome, Renewal},
        train,
    },
    types::GenerateParams,
};
use magictime_model::backend::BackendKind;
use sqlx::AnyPool;

mod args;
mod blocking;

pub use args::{main, EngineArgs, JobArgs, WorkerArgs};
pub use blocking::{parse_params, Progress, Work};
use blocking::{run_reporting, CANCEL, LOST, RUN, SHUTDOWN};

/// A job worker: its database, data dir, engines and queue settings, and the runs in flight.
pub struct Worker {
    pool: AnyPool,
    data_dir: PathBuf,
    generator: Arc<dyn Generator>,
    /// Where training and evaluation jobs run (`--device`; generation: `generator`'s).
    device: BackendKind,
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
        pool: AnyPool,
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
            device: jobs.backend()?,
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
            device = %self.device,
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
            "generate" => generate(
                self.generator.clone(),
                self.pool.clone(),
                &self.data_dir,
                id,
                params,
            ),
            "eval" => crate::eval_job::work(&self.eval, self.device, &self.data_dir, id, params),
            "ingest" => crate::ingest_job::work(&self.data_dir, &self.transnetv2, id, params),
            "train" => crate::train_job::work(self.device, &self.data_dir, id, params),
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
    pool: AnyPool,
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
    pool: &AnyPool,
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

/// A generation job: the MP4 to `generated/<id>.mp4`, each other format asked for and the
/// frames zip beside it (`<id>.gif`, `<id>.zip`, …), then its JSON sidecar `<id>.json` (who
/// asked, the settings, the model's files with their hashes, the software, the time taken),
/// each written atomically; a failure removes what was written. The result holds the
/// sidecar's facts and names the video.
fn generate(
    generator: Arc<dyn Generator>,
    pool: AnyPool,
    data_dir: &Path,
    id: i64,
    params: &str,
) -> Work {
    let params = params.to_owned();
    let data_dir = data_dir.to_path_buf();
    // the work runs on a blocking thread: it reads who asked through this runtime
    let runtime = tokio::runtime::Handle::current();
    Box::new(move |progress| {
        let t0 = Instant::now();
        let p: GenerateParams = parse_params(&params)?;
        let files = crate::output::generated_files(id, &p.formats);
        let outs: Vec<PathBuf> = files.iter().map(|f| data_dir.join(f)).collect();
        let sidecar = data_dir.join("generated").join(format!("{id}.json"));
        let made = generator
            .generate(&p, &outs, &mut |f, what| progress(f, what))
            .and_then(|()| {
                // the generation's time, not the hashing of its model files (once per file),
                // in milliseconds: a small generation on a fast machine takes under 0.05 s
                let seconds = (t0.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
                let asked: (String, String) = runtime
                    .block_on(
                        sqlx::query_as(
                            "SELECT COALESCE(u.email, $2), j.created_at FROM jobs j \
                             LEFT JOIN users u ON u.id = j.created_by WHERE j.id = $1",
                        )
                        .bind(id)
                        .bind(magictime_app::ssr::jobs::VISITOR_NAME)
                        .fetch_one(&pool),
                    )
                    .map_err(|e| format!("reading who asked: {e}"))?;
                let facts = serde_json::json!({
                    "id": id,
                    "requested_by": asked.0,
                    "created_at": asked.1,
                    "params": p,
                    "model": generator.describe(&p),
                    "model_files": generator.model_files(&p)?,
                    "software": format!("magictime {}", env!("CARGO_PKG_VERSION")),
                    "seconds": seconds,
                    "files": files,
                });
                let partial = crate::output::partial_path(&sidecar);
                let text = serde_json::to_string_pretty(&facts).expect("JSON");
                std::fs::write(&partial, text + "\n")
                    .map_err(|e| format!("{}: {e}", partial.display()))?;
                crate::output::commit(&partial, &sidecar)?;
                Ok(facts)
            });
        let mut facts = match made {
            Ok(f) => f,
            Err(e) => {
                for out in outs.iter().chain([&sidecar]) {
                    crate::output::remove(out);
                    crate::output::remove(&crate::output::partial_path(out));
                }
                return Err(e);
            }
        };
        facts["video"] = serde_json::Value::String(files[0].clone());
        Ok(facts.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> Arc<AtomicU8> {
        Arc::new(AtomicU8::new(RUN))
    }

    /// Training and evaluation jobs run on the worker's `--device`: in a build without CUDA, on
    /// `cuda:0` each fails with the backend's error (rather than running on the CPU) and leaves
    /// no output.
    #[cfg(not(feature = "cuda"))]
    #[test]
    fn train_and_eval_jobs_run_on_the_workers_device() {
        let tmp = tempfile::tempdir().unwrap();
        let cuda = BackendKind::Cuda { index: 0 };
        let progress = |_: f64, _: String| {};
        let train = crate::train_job::work(
            cuda,
            tmp.path(),
            1,
            r#"{"stage": "a", "preset": "s32", "clips": 2, "seed": 0, "vae_steps": 1,
                "unet_steps": 1, "max_minutes": 1}"#,
        );
        let err = train(&progress).unwrap_err();
        assert!(err.contains("without the `cuda` feature"), "{err}");
        std::fs::create_dir(tmp.path().join("videos")).unwrap();
        let settings = crate::eval_job::EvalSettings {
            i3d_weights: tmp.path().join("no-i3d.safetensors"),
            fid_weights: tmp.path().join("no-fid.pth"),
            clip: None,
        };
        let eval = crate::eval_job::work(
            &settings,
            cuda,
            tmp.path(),
            2,
            r#"{"real": "videos", "fake": "videos", "metrics": ["fvd"], "n": 2}"#,
        );
        let err = eval(&progress).unwrap_err();
        assert!(err.contains("without the `cuda` feature"), "{err}");
        let mut left: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["checkpoints", "videos"], "outputs left behind");
    }

    /// The lease keeper on a real database: a cancel asked through the queue reaches the stop
    /// flag; with the database gone it gives the job up once a whole lease passed without a
    /// renewal (another worker may have it by then), not before.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_lease_keeper_reads_cancels_and_gives_up_an_unrenewable_lease() {
        use magictime_app::ssr::{auth, db};
        let tmp = tempfile::tempdir().unwrap();
        let pool = db::open(&db::sqlite_url(&tmp.path().join("t.sqlite")))
            .await
            .unwrap();
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
            let (c, _) = jobs::claim(&pool, "w", &jobs::KINDS, leasing)
                .await
                .unwrap();
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
