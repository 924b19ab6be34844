//! `magictime bench-queue`: what the job queue sustains. No-op jobs in a fresh database (a
//! SQLite file in a fresh folder, or an empty PostgreSQL database: `--database-url`) are
//! claimed and finished (the real `ssr::jobs::claim` and `finish`) by N concurrent workers, each
//! with its own connection pool as a separate process would have; then a lease is left to run
//! out and the time until another worker takes the job is measured.
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use clap::Args;
use magictime_app::ssr::{
    auth, db,
    jobs::{self, Leasing, Outcome, KINDS},
};
use sqlx::AnyPool;

use crate::serve::DatabaseArgs;

#[derive(Args, Clone, Debug)]
pub struct BenchQueueArgs {
    /// No-op jobs to queue and run.
    #[arg(long, default_value_t = 2000)]
    pub jobs: usize,
    /// Concurrent workers claiming and finishing them.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// The lease of the lost-lease measurement, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub lease_ms: i64,
    /// Where the fresh SQLite database goes (a temporary folder by default).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// An empty PostgreSQL database to measure instead of SQLite.
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// A worker's pool: what one `magictime worker` process opens.
async fn worker_pool(url: &str) -> anyhow::Result<AnyPool> {
    db::open_migrated(url).await.map_err(anyhow::Error::msg)
}

pub async fn run(args: BenchQueueArgs) -> anyhow::Result<()> {
    if args.jobs == 0 || !(1..=64).contains(&args.workers) || args.lease_ms < 1 {
        anyhow::bail!("--jobs must be at least 1, --workers 1–64, --lease-ms at least 1");
    }
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let url = args.database.url(&dir);
    let sqlite = dir.join("magictime.sqlite");
    if args.database.database_url.is_none() && sqlite.exists() {
        anyhow::bail!("{}: exists; give a fresh --dir", sqlite.display());
    }
    let pool = db::open(&url).await?;
    let backend = match db::Dialect::of(&pool) {
        db::Dialect::Sqlite => "SQLite",
        db::Dialect::Postgres => "PostgreSQL",
    };
    let (users, jobs): (i64, i64) =
        sqlx::query_as("SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM jobs)")
            .fetch_one(&pool)
            .await?;
    if users + jobs > 0 {
        pool.close().await;
        anyhow::bail!("the database has accounts or jobs: give an empty one");
    }
    let user = auth::create_user(
        &pool,
        "bench@example.org",
        "bench-password",
        magictime_app::types::Role::Researcher,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    for i in 0..args.jobs {
        jobs::submit(&pool, KINDS[i % KINDS.len()], "{}", user.id).await?;
    }
    let leasing = Leasing {
        lease_ms: 30_000,
        max_attempts: 3,
    };
    // 1. throughput and claim latency
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..args.workers {
        let pool = worker_pool(&url).await?;
        tasks.spawn(async move {
            let owner = format!("bench-{w}");
            let mut latencies = vec![];
            loop {
                let t = Instant::now();
                let (job, _) = jobs::claim(&pool, &owner, &KINDS, leasing).await?;
                latencies.push(t.elapsed());
                let Some(job) = job else { break };
                if !jobs::finish(&pool, &job.lease, Outcome::Done("{}".into())).await? {
                    anyhow::bail!("job {} was finished by someone else", job.id);
                }
            }
            pool.close().await;
            Ok::<_, anyhow::Error>(latencies)
        });
    }
    let mut latencies = vec![];
    while let Some(r) = tasks.join_next().await {
        latencies.extend(r??);
    }
    let secs = t0.elapsed().as_secs_f64();
    let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE status = 'done'")
        .fetch_one(&pool)
        .await?;
    if done as usize != args.jobs {
        anyhow::bail!("{done} of {} jobs done", args.jobs);
    }
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    println!(
        "{backend}, {} no-op jobs, {} workers: {:.0} jobs/s (claim + finish); claim latency \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} claims)",
        args.jobs,
        args.workers,
        args.jobs as f64 / secs,
        pct(0.50),
        pct(0.99),
        pct(1.0),
        latencies.len()
    );

    // 2. a lost lease: claimed by a worker that never renews, polled by another every 50 ms
    let id = jobs::submit(&pool, "generate", "{}", user.id).await?;
    let short = Leasing {
        lease_ms: args.lease_ms,
        max_attempts: 3,
    };
    let (lost, _) = jobs::claim(&pool, "dead", &KINDS, short).await?;
    let lost_at = Instant::now();
    if lost.as_ref().map(|c| c.id) != Some(id) {
        anyhow::bail!("the lost-lease job was not claimed");
    }
    let other = worker_pool(&url).await?;
    let taken = loop {
        if let (Some(c), _) = jobs::claim(&other, "alive", &KINDS, short).await? {
            break c;
        }
        if lost_at.elapsed() > Duration::from_millis(args.lease_ms as u64) * 10 {
            anyhow::bail!("the lost lease was never reclaimed");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "a lost lease of {} ms was taken again after {:.0} ms (attempt {})",
        args.lease_ms,
        lost_at.elapsed().as_secs_f64() * 1000.0,
        taken.lease.attempt
    );
    other.close().await;
    pool.close().await;
    Ok(())
}
