//! The job queue in the database: submit, claim under a lease, renew, progress, finish, cancel,
//! list. Workers (`magictime worker`, or the one inside `serve`) hold each running job by a
//! lease they renew while they work; when a worker dies its lease runs out and the next claim
//! takes the job again (a training job resumes from its checkpoints), up to a retry limit.
//! Every write of a running job is fenced by its lease: a job is recorded done once.
use sqlx::AnyPool;

use super::db::Dialect;

use crate::types::JobView;

pub async fn submit(
    pool: &AnyPool,
    kind: &str,
    params: &str,
    user_id: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO jobs(kind, params, created_by) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(kind)
    .bind(params)
    .bind(user_id)
    .fetch_one(pool)
    .await
}

/// Queues a job of `kind` for `owner` unless they have `cap` of that kind queued already
/// (`None` then). One statement: two requests at once cannot both slip under the cap on SQLite,
/// whose writes are serialised; on PostgreSQL two concurrent inserts may each see the other's
/// absence and pass by one.
pub async fn submit_capped(
    pool: &AnyPool,
    kind: &str,
    params: &str,
    owner: &super::demo::Owner,
    cap: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let (user, visitor) = owner.columns();
    sqlx::query_scalar(
        "INSERT INTO jobs(kind, params, created_by, visitor) SELECT $1, $2, $3, $4 \
         WHERE (SELECT COUNT(*) FROM jobs WHERE kind = $1 AND status = 'queued' \
           AND (created_by = $3 OR visitor = $4)) < $5 RETURNING id",
    )
    .bind(kind)
    .bind(params)
    .bind(user)
    .bind(visitor)
    .bind(cap)
    .fetch_optional(pool)
    .await
}

/// The demo visitors' generations waiting in the queue, all visitors together.
pub async fn queued_for_visitors(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE kind = 'generate' AND status = 'queued' \
         AND visitor IS NOT NULL",
    )
    .fetch_one(pool)
    .await
}

/// Job kinds in the order workers serve them: interactive generation first.
pub const KINDS: [&str; 4] = ["generate", "eval", "ingest", "train"];

/// Milliseconds since the Unix epoch by the database's clock: leases are compared with one
/// clock, whatever the clocks of the workers' machines say.
const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS BIGINT)";

/// The condition every write of a running job carries: still running, under this lease (its
/// binds: id, owner, attempt, as `$1`–`$3`; the statement's own binds follow from `$4`).
const LEASED: &str = "id = $1 AND status = 'running' AND lease_owner = $2 AND attempts = $3";

/// A claimed job and the lease its worker holds on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub id: i64,
    pub kind: String,
    pub params: String,
    pub lease: Lease,
}

/// A worker's hold on a running job: its name and the attempt it runs. Every write of a
/// running job is fenced by it, so a worker that lost its lease (presumed dead, the job taken
/// over by another) changes nothing any more.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub id: i64,
    pub owner: String,
    /// 1 for the first run of the job, 2 for its first retry, …
    pub attempt: i64,
}

/// What the queue does with running jobs whose lease ran out: retried until they were tried
/// `max_attempts` times; a job whose cancel was asked for is cancelled instead.
#[derive(Debug, Clone, Copy)]
pub struct Leasing {
    pub lease_ms: i64,
    pub max_attempts: i64,
}

/// A job that ended when its lease ran out (`status` failed or cancelled): what the worker that
/// noticed it cleans up after.
pub type Reaped = (String, i64, String);

/// In one write transaction ([`Dialect::begin_write`]; the job row taken under
/// [`Dialect::claim_lock`]: one writer at a time on SQLite, `FOR UPDATE SKIP LOCKED` on
/// PostgreSQL): ends the running
/// jobs that lost their worker for good ([`Leasing`]), then takes the first job of `kinds` (in
/// [`KINDS`] order, oldest first) that is queued or lost its worker, marks it running under a
/// lease of `owner`, and counts the attempt.
pub async fn claim(
    pool: &AnyPool,
    owner: &str,
    kinds: &[&str],
    leasing: Leasing,
) -> Result<(Option<Claimed>, Vec<Reaped>), sqlx::Error> {
    let dialect = Dialect::of(pool);
    let lock = dialect.claim_lock();
    let mut tx = pool.begin_with(dialect.begin_write()).await?;
    let reaped: Vec<Reaped> = sqlx::query_as(&format!(
        "UPDATE jobs SET \
           status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'failed' END, \
           message = CASE WHEN cancel_requested = 1 THEN 'cancelled (its worker was lost)' \
             ELSE 'failed: its worker was lost ' || attempts || ' time(s), the retry limit' END, \
           lease_owner = NULL, lease_until = NULL, \
           finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
         WHERE status = 'running' AND (lease_until IS NULL OR lease_until < {NOW_MS}) \
           AND (attempts >= $1 OR cancel_requested = 1) \
         RETURNING kind, id, status"
    ))
    .bind(leasing.max_attempts)
    .fetch_all(&mut *tx)
    .await?;
    // four placeholders for the kinds, the list padded with its first one
    let k = |i: usize| kinds.get(i).or(kinds.first()).copied().unwrap_or("");
    let row: Option<(i64, String, String, i64)> = sqlx::query_as(&format!(
        "UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = {NOW_MS} + $2, \
           attempts = attempts + 1, \
           started_at = COALESCE(started_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), \
           message = CASE WHEN status = 'running' \
             THEN 'retrying: its worker was lost (attempt ' || (attempts + 1) || ')' \
             ELSE message END \
         WHERE id = (SELECT id FROM jobs WHERE kind IN ($3, $4, $5, $6) AND (status = 'queued' \
             OR (status = 'running' AND (lease_until IS NULL OR lease_until < {NOW_MS}))) \
           ORDER BY CASE kind WHEN 'generate' THEN 0 WHEN 'eval' THEN 1 WHEN 'ingest' THEN 2 \
             ELSE 3 END, id LIMIT 1 {lock}) \
         RETURNING id, kind, params, attempts"
    ))
    .bind(owner)
    .bind(leasing.lease_ms)
    .bind(k(0))
    .bind(k(1))
    .bind(k(2))
    .bind(k(3))
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let claimed = row.map(|(id, kind, params, attempt)| Claimed {
        id,
        kind,
        params,
        lease: Lease {
            id,
            owner: owner.to_owned(),
            attempt,
        },
    });
    Ok((claimed, reaped))
}

/// What a lease renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Still ours for `lease_ms` more; `cancel` when the job's cancel was asked for.
    Held { cancel: bool },
    /// Gone: the lease ran out and the job went back to the queue or ended.
    Lost,
}

/// Extends `lease` by `lease_ms` from now, and reads whether the job's cancel was asked for.
pub async fn renew(pool: &AnyPool, lease: &Lease, lease_ms: i64) -> Result<Renewal, sqlx::Error> {
    let cancel: Option<i64> = sqlx::query_scalar(&format!(
        "UPDATE jobs SET lease_until = {NOW_MS} + $4 \
         WHERE {LEASED} \
         RETURNING cancel_requested"
    ))
    .bind(lease.id)
    .bind(&lease.owner)
    .bind(lease.attempt)
    .bind(lease_ms)
    .fetch_optional(pool)
    .await?;
    Ok(cancel.map_or(Renewal::Lost, |c| Renewal::Held { cancel: c == 1 }))
}

/// Writes a running job's progress (while its lease holds; a pending cancel keeps its message).
pub async fn set_progress(
    pool: &AnyPool,
    lease: &Lease,
    progress: f64,
    message: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE jobs SET progress = $4, \
           message = CASE WHEN cancel_requested = 1 THEN message ELSE $5 END \
         WHERE {LEASED}"
    ))
    .bind(lease.id)
    .bind(&lease.owner)
    .bind(lease.attempt)
    .bind(progress.clamp(0.0, 1.0))
    .bind(message)
    .execute(pool)
    .await?;
    Ok(())
}

/// How a run of a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The result JSON (its `summary`, when it has one, becomes the message).
    Done(String),
    /// The error, for the user.
    Failed(String),
    /// Stopped on request; the message says where.
    Cancelled(String),
}

/// Records how the run holding `lease` ended. Returns false (and changes nothing) when the
/// lease was lost: the job is someone else's now, or ended without this run.
pub async fn finish(pool: &AnyPool, lease: &Lease, outcome: Outcome) -> Result<bool, sqlx::Error> {
    let (status, progress, message, result) = match outcome {
        Outcome::Done(json) => {
            // A job may summarise its result in one line (e.g. "FVD 973.53 (N=6/6)").
            let summary = serde_json::from_str::<serde_json::Value>(&json)
                .ok()
                .and_then(|v| v.get("summary").and_then(|s| s.as_str()).map(str::to_owned))
                .unwrap_or_else(|| "done".to_owned());
            ("done", 1.0, summary, Some(json))
        }
        Outcome::Failed(e) => ("failed", 0.0, e, None),
        Outcome::Cancelled(m) => ("cancelled", 0.0, m, None),
    };
    let r = sqlx::query(&format!(
        "UPDATE jobs SET status = $4, \
           progress = CASE WHEN progress > $5 THEN progress ELSE $5 END, \
           message = $6, result = $7, \
           lease_owner = NULL, lease_until = NULL, \
           finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
         WHERE {LEASED}"
    ))
    .bind(lease.id)
    .bind(&lease.owner)
    .bind(lease.attempt)
    .bind(status)
    .bind(progress)
    .bind(message)
    .bind(result)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Gives a running job back to the queue without counting its attempt (its worker stops
/// cleanly). Returns false when the lease was already lost.
pub async fn release(pool: &AnyPool, lease: &Lease) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(&format!(
        "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL, \
           attempts = attempts - 1, message = 'queued again: its worker stopped' \
         WHERE {LEASED} AND cancel_requested = 0"
    ))
    .bind(lease.id)
    .bind(&lease.owner)
    .bind(lease.attempt)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// A user-given path inside the data dir: relative, without `..`, existing, and still inside
/// once symlinks are resolved (a link to `/etc` in the data dir is refused). Errors are meant for
/// the user.
pub fn data_path(data_dir: &std::path::Path, rel: &str) -> Result<std::path::PathBuf, String> {
    use std::path::Component;
    let rel = rel.trim();
    let p = std::path::Path::new(rel);
    if rel.is_empty()
        || !p
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "{rel:?}: give a path relative to the server's data dir, without '..'"
        ));
    }
    let full = data_dir.join(p);
    if !full.exists() {
        return Err(format!("{rel:?} does not exist in the server's data dir"));
    }
    let (Ok(root), Ok(real)) = (data_dir.canonicalize(), full.canonicalize()) else {
        return Err(format!(
            "{rel:?} cannot be resolved in the server's data dir"
        ));
    };
    if !real.starts_with(&root) {
        return Err(format!(
            "{rel:?} leads outside the server's data dir (through a symbolic link)"
        ));
    }
    Ok(full)
}

/// What a cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// The job was queued: it is cancelled.
    Cancelled,
    /// The job is running: its worker is asked to stop it (between two steps).
    Requested,
}

/// Cancels a queued job, or asks the worker of a running one to stop it; `owner` limits it
/// to that account's or demo visitor's jobs. `None` when there is no such job to cancel (ended,
/// someone else's, or its cancel already asked for).
pub async fn cancel(
    pool: &AnyPool,
    id: i64,
    owner: Option<&super::demo::Owner>,
) -> Result<Option<Cancel>, sqlx::Error> {
    let (any, (user, visitor)) = match owner {
        None => (1, (None, None)),
        Some(o) => (0, o.columns()),
    };
    // the right-hand sides see the row as it was
    let status: Option<String> = sqlx::query_scalar(
        "UPDATE jobs SET \
           status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END, \
           cancel_requested = CASE WHEN status = 'running' THEN 1 ELSE 0 END, \
           message = CASE WHEN status = 'running' THEN 'cancelling…' ELSE message END, \
           finished_at = CASE WHEN status = 'queued' \
             THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') ELSE finished_at END \
         WHERE id = $1 AND status IN ('queued', 'running') AND cancel_requested = 0 \
           AND ($2 = 1 OR created_by = $3 OR visitor = $4) \
         RETURNING status",
    )
    .bind(id)
    .bind(any)
    .bind(user)
    .bind(visitor)
    .fetch_optional(pool)
    .await?;
    Ok(status.map(|s| {
        if s == "cancelled" {
            Cancel::Cancelled
        } else {
            Cancel::Requested
        }
    }))
}

/// Who asked for a job in words: the account's e-mail, or this for a demo visitor.
pub const VISITOR_NAME: &str = "a demo visitor";

/// Newest first; `kind` filters when given. `(admin, visitor)` is the viewer's
/// [`crate::ssr::demo::Viewer::visibility`]: hidden generations are listed to admins only, and a
/// demo visitor (their cookie hash) gets their own jobs only.
pub async fn list(
    pool: &AnyPool,
    kind: Option<&str>,
    (admin, visitor): (i64, Option<&str>),
    limit: i64,
) -> Result<Vec<JobView>, sqlx::Error> {
    type Row = (
        i64,
        String,
        String,
        f64,
        String,
        String,
        String,
        Option<String>,
        String,
        Option<String>,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT j.id, j.kind, j.status, j.progress, j.message, COALESCE(u.email, $3), \
         j.created_at, j.finished_at, j.params, j.result, j.attempts \
         FROM jobs j LEFT JOIN users u ON u.id = j.created_by \
         WHERE ($1 IS NULL OR j.kind = $1) AND ($4 IS NULL OR j.visitor = $4) \
         AND ($5 = 1 OR j.hidden = 0) \
         ORDER BY j.id DESC LIMIT $2",
    )
    .bind(kind)
    .bind(limit)
    .bind(VISITOR_NAME)
    .bind(visitor)
    .bind(admin)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                kind,
                status,
                progress,
                message,
                created_by,
                created_at,
                finished_at,
                params,
                result,
                attempts,
            )| {
                let video_url = (kind == "generate" && status == "done" && result.is_some())
                    .then(|| format!("/media/generated/{id}.mp4"));
                let download_url = video_url.as_ref().map(|mp4| {
                    generated_download(result.as_deref()).unwrap_or_else(|| mp4.clone())
                });
                JobView {
                    id,
                    kind,
                    status,
                    progress,
                    message,
                    created_by,
                    created_at,
                    finished_at,
                    params,
                    video_url,
                    download_url,
                    attempts,
                }
            },
        )
        .collect())
}

/// The URL of the last file a generation's result lists (`files`: the MP4, then the format
/// asked for besides it); `None` for results written before they listed files.
/// The file a gallery card offers: the format asked for besides the MP4, else the MP4 (the
/// frames zip is on the generation's page).
fn generated_download(result: Option<&str>) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(result?).ok()?;
    let files = v.get("files")?.as_array()?;
    let last = files
        .iter()
        .filter_map(|f| f.as_str())
        .rfind(|f| !f.ends_with(".zip"))?;
    Some(format!("/media/{last}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssr::demo::Owner;

    #[test]
    fn data_paths_stay_inside_the_data_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        std::fs::create_dir_all(root.join("set")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        std::os::unix::fs::symlink(root.join("set"), root.join("alias")).unwrap();
        assert!(data_path(&root, "set").is_ok());
        assert!(data_path(&root, "alias").is_ok(), "links inside are fine");
        let e = data_path(&root, "escape").unwrap_err();
        assert!(e.contains("outside"), "{e}");
        assert!(data_path(&root, "escape/passwd").is_err());
        assert!(data_path(&root, "../data/set").is_err());
        assert!(data_path(&root, "/etc").is_err());
    }

    const ALL: &[&str] = &KINDS;
    const LONG: Leasing = Leasing {
        lease_ms: 60_000,
        max_attempts: 3,
    };

    async fn take(pool: &AnyPool, owner: &str, kinds: &[&str], l: Leasing) -> Option<Claimed> {
        claim(pool, owner, kinds, l).await.unwrap().0
    }

    #[tokio::test]
    async fn queue_lifecycle() {
        let tmp = tempfile::tempdir().unwrap();
        let (pool, u) = super::super::db::researcher_db(tmp.path()).await;
        // An unknown kind cannot be queued (the schema refuses it), so the worker never meets one
        // it would have to guess about (it once ran them as generations).
        let e = submit(&pool, "bogus", "{}", u.id).await.unwrap_err();
        assert!(e.to_string().contains("CHECK constraint"), "{e}");
        assert!(list(&pool, None, (1, None), 10).await.unwrap().is_empty());
        let t = submit(&pool, "train", "{}", u.id).await.unwrap();
        let a = submit(&pool, "generate", "{\"n\":1}", u.id).await.unwrap();
        let b = submit(&pool, "generate", "{\"n\":2}", u.id).await.unwrap();
        assert!(take(&pool, "w1", &["eval"], LONG).await.is_none());
        // generation before the older training job; the lease names the worker and attempt
        let c = take(&pool, "w1", ALL, LONG).await.unwrap();
        assert_eq!(
            (c.id, c.kind.as_str(), c.params.as_str(), c.lease.attempt),
            (a, "generate", "{\"n\":1}", 1)
        );
        assert_eq!(
            cancel(&pool, b, Some(&Owner::User(u.id))).await.unwrap(),
            Some(Cancel::Cancelled)
        );
        assert_eq!(
            cancel(&pool, b, Some(&Owner::User(u.id))).await.unwrap(),
            None,
            "only once"
        );
        assert_eq!(
            cancel(&pool, a, Some(&Owner::User(u.id + 1)))
                .await
                .unwrap(),
            None,
            "not someone else's"
        );
        set_progress(&pool, &c.lease, 0.5, "denoise 5/10")
            .await
            .unwrap();
        let l = list(&pool, None, (1, None), 10).await.unwrap();
        assert_eq!((l[1].progress, l[1].attempts), (0.5, 1));
        assert_eq!(l[0].status, "cancelled");
        assert_eq!(
            renew(&pool, &c.lease, 60_000).await.unwrap(),
            Renewal::Held { cancel: false }
        );
        assert!(finish(&pool, &c.lease, Outcome::Done("{}".into()))
            .await
            .unwrap());
        assert!(
            !finish(&pool, &c.lease, Outcome::Failed("again".into()))
                .await
                .unwrap(),
            "recorded twice"
        );
        let l = list(&pool, Some("generate"), (1, None), 10).await.unwrap();
        assert_eq!(l[1].status, "done");
        assert_eq!(
            l[1].video_url.as_deref(),
            Some(&*format!("/media/generated/{a}.mp4"))
        );
        // a running job's cancel is asked of its worker, which sees it when it renews
        let tc = take(&pool, "w2", &["train"], LONG).await.unwrap();
        assert_eq!(tc.id, t);
        assert_eq!(
            cancel(&pool, t, None).await.unwrap(),
            Some(Cancel::Requested)
        );
        assert_eq!(cancel(&pool, t, None).await.unwrap(), None);
        set_progress(&pool, &tc.lease, 0.4, "stage a unet")
            .await
            .unwrap();
        assert_eq!(
            list(&pool, None, (1, None), 10).await.unwrap()[2].message,
            "cancelling…"
        );
        assert_eq!(
            renew(&pool, &tc.lease, 60_000).await.unwrap(),
            Renewal::Held { cancel: true }
        );
        assert!(
            !release(&pool, &tc.lease).await.unwrap(),
            "a cancelled job is not queued again"
        );
        let stopped = Outcome::Cancelled("cancelled at step 3".into());
        assert!(finish(&pool, &tc.lease, stopped).await.unwrap());
        let l = list(&pool, None, (1, None), 10).await.unwrap();
        assert_eq!(
            (l[2].status.as_str(), l[2].message.as_str()),
            ("cancelled", "cancelled at step 3")
        );
        assert!(take(&pool, "w1", ALL, LONG).await.is_none());
        pool.close().await;
    }

    /// A worker that stops renewing loses its job to the next claim (attempt 2); what it writes
    /// afterwards changes nothing; past the retry limit the job fails, a job whose cancel was
    /// asked for is cancelled; a clean stop gives the job back without counting the attempt.
    #[tokio::test]
    async fn lost_leases_are_retried_up_to_the_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let (pool, u) = super::super::db::researcher_db(tmp.path()).await;
        let short = Leasing {
            lease_ms: 30,
            max_attempts: 2,
        };
        let expire = || tokio::time::sleep(std::time::Duration::from_millis(60));
        let g = submit(&pool, "generate", "{}", u.id).await.unwrap();
        let first = take(&pool, "dead", ALL, short).await.unwrap();
        expire().await;
        let second = take(&pool, "alive", ALL, short).await.unwrap();
        assert_eq!((second.id, second.lease.attempt), (g, 2));
        let l = list(&pool, None, (1, None), 10).await.unwrap();
        assert!(l[0].message.contains("retrying"), "{}", l[0].message);
        assert_eq!(renew(&pool, &first.lease, 30).await.unwrap(), Renewal::Lost);
        set_progress(&pool, &first.lease, 0.9, "zombie")
            .await
            .unwrap();
        assert!(!finish(&pool, &first.lease, Outcome::Done("{}".into()))
            .await
            .unwrap());
        assert_ne!(
            list(&pool, None, (1, None), 10).await.unwrap()[0].message,
            "zombie"
        );
        // the second run dies too: the limit of 2 is reached, the next claim ends the job
        expire().await;
        let (none, reaped) = claim(&pool, "alive", ALL, short).await.unwrap();
        assert!(none.is_none());
        assert_eq!(
            reaped,
            vec![("generate".to_string(), g, "failed".to_string())]
        );
        let l = list(&pool, None, (1, None), 10).await.unwrap();
        assert_eq!(l[0].status, "failed");
        assert!(l[0].message.contains("lost 2 time(s)"), "{}", l[0].message);
        assert!(!finish(&pool, &second.lease, Outcome::Done("{}".into()))
            .await
            .unwrap());
        // cancel asked, then the worker died: cancelled at once, not retried
        let e = submit(&pool, "eval", "{}", u.id).await.unwrap();
        take(&pool, "dead", ALL, short).await.unwrap();
        assert_eq!(
            cancel(&pool, e, None).await.unwrap(),
            Some(Cancel::Requested)
        );
        expire().await;
        let (none, reaped) = claim(&pool, "alive", ALL, short).await.unwrap();
        assert!(none.is_none());
        assert_eq!(
            reaped,
            vec![("eval".to_string(), e, "cancelled".to_string())]
        );
        // a clean stop: queued again, the attempt not counted
        let i = submit(&pool, "ingest", "{}", u.id).await.unwrap();
        let c = take(&pool, "stopping", ALL, LONG).await.unwrap();
        assert!(release(&pool, &c.lease).await.unwrap());
        let again = take(&pool, "other", ALL, LONG).await.unwrap();
        assert_eq!((again.id, again.lease.attempt), (i, 1));
        pool.close().await;
    }

    /// Many workers claiming at once from one database: every job is claimed exactly once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_claims_take_each_job_once() {
        let tmp = tempfile::tempdir().unwrap();
        let (pool, u) = super::super::db::researcher_db(tmp.path()).await;
        let n = 60;
        for i in 0..n {
            submit(&pool, KINDS[i % 4], "{}", u.id).await.unwrap();
        }
        let workers = (0..6).map(|w| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut got = vec![];
                while let Some(c) = take(&pool, &format!("w{w}"), ALL, LONG).await {
                    assert!(finish(&pool, &c.lease, Outcome::Done("{}".into()))
                        .await
                        .unwrap());
                    got.push(c.id);
                }
                got
            })
        });
        let mut all = vec![];
        for w in workers {
            all.extend(w.await.unwrap());
        }
        all.sort();
        assert_eq!(all, (1..=n as i64).collect::<Vec<_>>());
        pool.close().await;
    }
}
