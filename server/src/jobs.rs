//! The job worker: takes queued jobs from SQLite one at a time, runs them on a blocking thread,
//! and writes their progress back (throttled) so the Jobs and Generate pages can show it.
use std::time::{Duration, Instant};

use magictime_app::{
    ssr::{jobs, ServerState},
    types::GenerateParams,
};

/// Runs queued jobs one at a time (generation first, then evaluation, ingest, training).
/// `transnetv2` is the cut-detection network's weights for ingest jobs (optional on disk).
pub fn spawn_worker(
    state: ServerState,
    eval: crate::eval_job::EvalSettings,
    transnetv2: std::path::PathBuf,
) {
    // Jobs interrupted by the last stop were failed (and their outputs swept) before serving;
    // training jobs were queued again and resume from their checkpoints.
    tokio::spawn(async move {
        loop {
            let claimed = claim_next(&state.pool).await;
            match claimed {
                Ok(Some((id, kind, params))) if kind == "eval" => {
                    crate::eval_job::run(&state, &eval, id, &params).await
                }
                Ok(Some((id, kind, params))) if kind == "ingest" => {
                    crate::ingest_job::run(&state, &transnetv2, id, &params).await
                }
                Ok(Some((id, kind, params))) if kind == "train" => {
                    crate::train_job::run(&state, id, &params).await
                }
                Ok(Some((id, kind, params))) if kind == "generate" => {
                    run_generate(&state, id, &params).await
                }
                Ok(Some((id, kind, _))) => {
                    let failed = Err(format!("unknown job kind {kind:?}"));
                    if let Err(e) = jobs::finish(&state.pool, id, failed).await {
                        tracing::error!(job = id, "finish: {e}");
                    }
                }
                Ok(None) => {
                    tokio::select! {
                        _ = state.jobs_notify.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    }
                }
                Err(e) => {
                    tracing::error!("jobs: claim failed: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
}

/// Job kinds in the order the worker serves them: interactive generation first.
const KIND_ORDER: [&str; 4] = ["generate", "eval", "ingest", "train"];

/// The oldest queued job of the first kind in [`KIND_ORDER`] that has one, marked running.
async fn claim_next(pool: &sqlx::SqlitePool) -> Result<Option<jobs::Claimed>, sqlx::Error> {
    for kind in KIND_ORDER {
        if let Some(c) = jobs::claim(pool, kind).await? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// Writes the (fraction, message) progress a blocking job sends to its row, at most every
/// 250 ms and always the final step, until the job drops its sender.
pub async fn forward_progress(
    state: &ServerState,
    id: i64,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<(f64, String)>,
) {
    let mut last = Instant::now() - Duration::from_secs(1);
    while let Some((f, msg)) = rx.recv().await {
        if last.elapsed() >= Duration::from_millis(250) || f >= 1.0 {
            last = Instant::now();
            if let Err(e) = jobs::set_progress(&state.pool, id, f, &msg).await {
                tracing::error!(job = id, "progress: {e}");
            }
        }
    }
}

/// A blocking job's progress sink: (fraction done, message).
pub type Progress<'a> = &'a (dyn Fn(f64, String) + Sync);

/// Runs `work` on a blocking thread, forwards the progress it reports to job `id`'s row, and
/// records the outcome (`Ok` = the result JSON, with an optional one-line `summary`).
/// `what` names the job in logs and in the message of a crash.
pub async fn run_blocking_job<F>(state: &ServerState, id: i64, what: &'static str, work: F)
where
    F: FnOnce(Progress) -> Result<String, String> + Send + 'static,
{
    let t0 = Instant::now();
    let result = run_reporting(what, work, |rx| forward_progress(state, id, rx)).await;
    match &result {
        Ok(_) => tracing::info!(job = id, secs = t0.elapsed().as_secs_f64(), "{what} done"),
        Err(e) => tracing::warn!(job = id, "{what} failed: {e}"),
    }
    if let Err(e) = jobs::finish(&state.pool, id, result).await {
        tracing::error!(job = id, "finish: {e}");
    }
}

/// Runs `work` on a blocking thread while `forward` consumes the progress it reports; a panic is
/// the failure `"{what} crashed: …"`, not a lost job.
async fn run_reporting<F, Fut>(
    what: &str,
    work: F,
    forward: impl FnOnce(tokio::sync::mpsc::UnboundedReceiver<(f64, String)>) -> Fut,
) -> Result<String, String>
where
    F: FnOnce(Progress) -> Result<String, String> + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::task::spawn_blocking(move || {
        let tx = std::sync::Mutex::new(tx);
        let progress = move |f: f64, msg: String| {
            let _ = tx.lock().map(|t| t.send((f, msg)));
        };
        work(&progress)
    });
    forward(rx).await;
    match task.await {
        Ok(r) => r,
        Err(e) => Err(format!("{what} crashed: {e}")),
    }
}

/// A job's parameters, or the message its failure shows.
pub fn parse_params<T: serde::de::DeserializeOwned>(params: &str) -> Result<T, String> {
    serde_json::from_str(params).map_err(|e| format!("bad parameters: {e}"))
}

async fn run_generate(state: &ServerState, id: i64, params: &str) {
    let (params, generator) = (params.to_owned(), state.generator.clone());
    let out_dir = state.data_dir.join("generated");
    run_blocking_job(state, id, "generation", move |progress| {
        let p: GenerateParams = parse_params(&params)?;
        let out = out_dir.join(format!("{id}.mp4"));
        let part = crate::output::partial_path(&out);
        let made = generator
            .generate(&p, &part, &mut |f| {
                progress(f, format!("{:.0}%", f * 100.0))
            })
            .and_then(|()| crate::output::commit(&part, &out));
        if made.is_err() {
            crate::output::remove(&part);
        }
        made?;
        Ok(serde_json::json!({ "video": format!("generated/{id}.mp4") }).to_string())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outcome of `work` and the progress it reported.
    async fn outcome<F>(work: F) -> (Result<String, String>, Vec<(f64, String)>)
    where
        F: FnOnce(Progress) -> Result<String, String> + Send + 'static,
    {
        let mut seen = vec![];
        let sink = &mut seen;
        let r = run_reporting("generation", work, |mut rx| async move {
            while let Some(p) = rx.recv().await {
                sink.push(p);
            }
        })
        .await;
        (r, seen)
    }

    #[tokio::test]
    async fn a_panicking_job_fails_as_crashed_and_a_failing_one_with_its_error() {
        let (r, seen) = outcome(|p| {
            p(0.5, "half".into());
            panic!("boom");
        })
        .await;
        let e = r.unwrap_err();
        assert!(e.starts_with("generation crashed: "), "{e}");
        assert!(e.contains("boom"), "{e}");
        assert_eq!(seen, vec![(0.5, "half".to_string())]);
        let (r, _) = outcome(|_| Err("no space left".into())).await;
        assert_eq!(r, Err("no space left".to_string()));
        let (r, seen) = outcome(|p| {
            p(1.0, "100%".into());
            Ok("{}".into())
        })
        .await;
        assert_eq!(r, Ok("{}".to_string()));
        assert_eq!(seen, vec![(1.0, "100%".to_string())]);
    }
}
