//! A job's work on a blocking thread: its progress forwarded, a panic turned into a failure,
//! and a stop (cancel asked, lease lost, worker stopping) that unwinds the work at its next
//! progress report.
use std::sync::{
    atomic::{AtomicU8, Ordering},
    Arc, Mutex,
};

/// A blocking job's progress sink: (fraction done, message). It unwinds with [`Stopped`] when
/// the job is to stop (cancel asked, lease lost, worker stopping), so every job stops at its
/// next progress report — a generation within one denoising step.
pub type Progress<'a> = &'a (dyn Fn(f64, String) + Sync);

/// A job's work, run on a blocking thread: the result JSON, or the error for the user.
pub type Work = Box<dyn FnOnce(Progress) -> Result<String, String> + Send>;

/// The unwind payload that stops a job at a progress report (not a crash).
pub struct Stopped;

/// Why a running job stops early (the worker's flag per job).
pub(super) const RUN: u8 = 0;
pub(super) const CANCEL: u8 = 1;
pub(super) const LOST: u8 = 2;
pub(super) const SHUTDOWN: u8 = 3;

/// Runs `work` on a blocking thread while `forward` consumes the progress it reports. Once
/// `stop` is set the next progress report unwinds the work ([`Stopped`]); a panic is the failure
/// `"{what} crashed: …"`, not a lost job.
pub(super) async fn run_reporting<Fut>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use magictime_app::{ssr::generator::Generator, types::GenerateParams};

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
            None,
            Default::default(),
        )
        .unwrap();
        let d = generator.models()[0].defaults.clone();
        let p = GenerateParams {
            prompt: "a red flower blooming".into(),
            negative: String::new(),
            seed: 1,
            steps: 10,
            cfg: d.cfg,
            frames: d.frames,
            size: d.size,
            fps: 8.0,
            model: magictime_app::types::BUILTIN_MODEL.into(),
            dreambooth: None,
            adapters: None,
            formats: vec![],
        };
        let out = tmp.path().join("7.mp4");
        let (stop, written) = (running(), [out.clone()]);
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
}
