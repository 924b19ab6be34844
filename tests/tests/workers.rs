//! Jobs on `magictime worker` processes: a `serve --no-worker` and workers on one database and
//! data dir (SQLite, or PostgreSQL under `tools/with_postgres.sh`); a worker killed with SIGKILL
//! mid-job loses its lease and the job is run again by another worker, every job ends done
//! exactly once; a running generation is cancelled within a step.
use std::{process::Command, time::Duration};

use magictime_tests::{
    create_account, jobs_of, login, make_evalset, post_form, Server, Worker, LONG_GENERATION,
};
use reqwest::{Client, StatusCode};
use serde_json::Value;

/// Every job, newest first.
async fn all_jobs(c: &Client, s: &Server) -> Vec<Value> {
    jobs_of(c, s, "").await
}

/// Waits until `ready(jobs)` holds for the list of all jobs; panics after `limit`.
async fn wait_until(c: &Client, s: &Server, limit: Duration, ready: impl Fn(&[Value]) -> bool) {
    magictime_tests::wait_until(c, s, "", limit, ready).await
}

use magictime_tests::job_in as job;

const SHORT_GENERATION: [(&str, &str); 7] = [
    ("prompt", "ice melting"),
    ("negative", ""),
    ("seed", "2"),
    ("steps", "2"),
    ("cfg", "4"),
    ("frames", "8"),
    ("size", "32"),
];

/// A web server without a worker and two workers; 20 jobs of all four kinds; the worker that
/// runs the first generation is killed (SIGKILL) half-way and started again: every job ends
/// done, exactly once, the killed one on its second attempt by another worker.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_worker_s_job_is_retried_by_the_next_and_every_job_ends_done_once() {
    // a dozen generations of one user wait at once here
    let s = Server::start_with(&["--no-worker", "--max-queued-generations", "20"], |d| {
        create_account(d, "res@test.org", "res-pass-12", "researcher");
        make_evalset(d, 2, 90);
    });
    let data = s.data_dir.path().to_path_buf();
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let submit = |path: &'static str, fields: Vec<(&'static str, &'static str)>| {
        let (c, t, s) = (c.clone(), t.clone(), &s);
        async move {
            let r = post_form(&c, s, path, &t, &fields).await;
            assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
            r.json::<i64>().await.unwrap()
        }
    };
    let mut ids = vec![submit("/api/generate", LONG_GENERATION.to_vec()).await];
    for i in 0..19 {
        let id = match i % 6 {
            0 => {
                let synth = vec![
                    ("source", "synth"),
                    ("count", "2"),
                    ("size", "32"),
                    ("frames", "8"),
                    ("seed", "4"),
                    ("kind", "both"),
                ];
                submit("/api/queue_ingest", synth).await
            }
            1 if i < 12 => {
                let eval = vec![
                    ("real", ""),
                    ("fake", "evalset/fake.csv"),
                    ("metrics", "clipsim"),
                    ("n", "2"),
                ];
                submit("/api/queue_eval", eval).await
            }
            2 if i < 6 => {
                let train = vec![
                    ("stage", "a"),
                    ("preset", "s32"),
                    ("start_from", ""),
                    ("text_encoder", "scratch"),
                    ("clips", "4"),
                    ("seed", "3"),
                    ("vae_steps", "1"),
                    ("unet_steps", "1"),
                    ("max_minutes", "5"),
                ];
                submit("/api/queue_train", train).await
            }
            _ => submit("/api/generate", SHORT_GENERATION.to_vec()).await,
        };
        ids.push(id);
    }
    let kinds: Vec<String> = all_jobs(&c, &s)
        .await
        .iter()
        .map(|j| j["kind"].as_str().unwrap().to_owned())
        .collect();
    for k in ["generate", "eval", "ingest", "train"] {
        assert!(kinds.iter().any(|x| x == k), "no {k} job: {kinds:?}");
    }
    // nothing runs without a worker
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(all_jobs(&c, &s)
        .await
        .iter()
        .all(|j| j["status"] == "queued"));

    let worker_args = ["--clip", "tiny-random", "--transnetv2", "/nonexistent"];
    let mut workers = vec![
        Worker::start(&data, &worker_args),
        Worker::start(&data, &worker_args),
    ];
    let long = ids[0];
    // the oldest generation goes first; kill its worker half-way through
    wait_until(&c, &s, Duration::from_secs(120), |jobs| {
        let j = job(jobs, long);
        j["status"] == "running" && j["progress"].as_f64().unwrap_or(0.0) > 0.1
    })
    .await;
    let holder = workers
        .iter()
        .position(|w| w.started_jobs().contains(&long))
        .expect("a worker started the first generation");
    workers[holder].kill();
    let t_killed = std::time::Instant::now();
    let killed = workers.remove(holder);
    assert!(!killed.done_jobs().contains(&long));
    // the killed worker comes back (a restart); two workers again
    workers.push(Worker::start(&data, &worker_args));
    // the killed run's job stays running (leased) until the lease runs out, then is retried
    wait_until(&c, &s, Duration::from_secs(60), |jobs| {
        job(jobs, long)["attempts"] == 2
    })
    .await;
    let reclaimed = t_killed.elapsed();
    eprintln!("the lost lease was reclaimed {reclaimed:?} after the kill");
    assert!(reclaimed >= Duration::from_secs(4), "{reclaimed:?}");
    wait_until(&c, &s, Duration::from_secs(600), |jobs| {
        jobs.iter().all(|j| j["status"] == "done")
    })
    .await;
    let jobs = all_jobs(&c, &s).await;
    assert_eq!(jobs.len(), 20);
    for j in &jobs {
        let expected = if j["id"] == long { 2 } else { 1 };
        assert_eq!(j["attempts"], expected, "{j}");
    }
    // done exactly once: each job in the done log of one worker, once; the killed one's retry
    // by another worker than the one killed
    let mut done = killed.done_jobs();
    for w in &workers {
        done.extend(w.done_jobs());
    }
    done.sort();
    let mut all = ids.clone();
    all.sort();
    assert_eq!(
        done,
        all,
        "{:#?}",
        workers.iter().map(Worker::log).collect::<Vec<_>>()
    );
    assert!(workers.iter().any(|w| w.done_jobs().contains(&long)));
    // whole outputs only; nothing half-written left
    assert!(data.join(format!("generated/{long}.mp4")).is_file());
    for dir in ["generated", "datasets", "models", "eval"] {
        let partial: Vec<_> = std::fs::read_dir(data.join(dir))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(".partial-"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(partial.is_empty(), "{dir}: {partial:?}");
    }
}

/// Cancel of a running generation (the worker inside `serve`): it stops at the step after the
/// worker learns of it (within a second: its lease renewal), before the end, and leaves no
/// video; a queued job is cancelled at once; nothing is cancelled twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_running_generation_is_cancelled_between_two_steps() {
    let s = Server::start(|d| create_account(d, "res@test.org", "res-pass-12", "researcher"));
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let r = post_form(&c, &s, "/api/generate", &t, &LONG_GENERATION).await;
    let id: i64 = r.json().await.unwrap();
    let r = post_form(&c, &s, "/api/generate", &t, &SHORT_GENERATION).await;
    let queued: i64 = r.json().await.unwrap();
    wait_until(&c, &s, Duration::from_secs(120), |jobs| {
        let j = job(jobs, id);
        j["status"] == "running" && j["progress"].as_f64().unwrap_or(0.0) > 0.05
    })
    .await;
    let cancel = |id: i64| {
        let (c, t, s) = (c.clone(), t.clone(), &s);
        async move {
            let r = post_form(&c, s, "/api/cancel_job", &t, &[("id", &id.to_string())]).await;
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<bool>().await.unwrap()
        }
    };
    assert!(cancel(queued).await);
    let asked = std::time::Instant::now();
    assert!(cancel(id).await);
    assert!(!cancel(id).await, "asked twice");
    wait_until(&c, &s, Duration::from_secs(30), |jobs| {
        job(jobs, id)["status"] == "cancelled"
    })
    .await;
    let took = asked.elapsed();
    let jobs = all_jobs(&c, &s).await;
    let j = job(&jobs, id);
    let msg = j["message"].as_str().unwrap();
    eprintln!("{msg} ({took:?} after the cancel)");
    let step: usize = msg
        .strip_prefix("cancelled after denoising step ")
        .and_then(|m| m.strip_suffix("/100"))
        .unwrap_or_else(|| panic!("{j}"))
        .parse()
        .unwrap();
    assert!(step < 100, "{msg}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(job(&jobs, queued)["status"], "cancelled");
    assert!(!cancel(id).await, "an ended job");
    let generated = s.data_dir.path().join("generated");
    let left: Vec<_> = std::fs::read_dir(&generated)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    // the worker goes on with the next job
    let r = post_form(&c, &s, "/api/generate", &t, &SHORT_GENERATION).await;
    let next: i64 = r.json().await.unwrap();
    wait_until(&c, &s, Duration::from_secs(120), |jobs| {
        job(jobs, next)["status"] == "done"
    })
    .await;
}

/// A worker stopped cleanly (SIGTERM) stops its running job at the next step and gives it back
/// to the queue without counting the attempt; the next worker takes it (attempt 1) and stops it
/// when it is cancelled from the web server.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_worker_gives_its_job_back_and_a_remote_cancel_stops_it() {
    let s = Server::start_with(&["--no-worker"], |d| {
        create_account(d, "res@test.org", "res-pass-12", "researcher")
    });
    let data = s.data_dir.path().to_path_buf();
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let r = post_form(&c, &s, "/api/generate", &t, &LONG_GENERATION).await;
    let id: i64 = r.json().await.unwrap();
    let mut first = Worker::start(&data, &["--kinds", "generate"]);
    let running = |jobs: &[Value]| {
        let j = job(jobs, id);
        j["status"] == "running" && j["progress"].as_f64().unwrap_or(0.0) > 0.02
    };
    wait_until(&c, &s, Duration::from_secs(120), running).await;
    let st = Command::new("kill")
        .args(["-TERM", &first.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let t0 = std::time::Instant::now();
    while first.child.try_wait().unwrap().is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the worker did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let jobs = all_jobs(&c, &s).await;
    let j = job(&jobs, id);
    assert_eq!(
        (j["status"].as_str(), j["attempts"].as_i64()),
        (Some("queued"), Some(0)),
        "{j}"
    );
    assert!(
        j["message"]
            .as_str()
            .unwrap()
            .contains("its worker stopped"),
        "{j}"
    );
    assert!(first.log().iter().any(|l| l.contains("queued again")));
    let _second = Worker::start(&data, &["--kinds", "generate"]);
    wait_until(&c, &s, Duration::from_secs(120), running).await;
    assert_eq!(job(&all_jobs(&c, &s).await, id)["attempts"], 1);
    let r = post_form(&c, &s, "/api/cancel_job", &t, &[("id", &id.to_string())]).await;
    assert!(r.json::<bool>().await.unwrap());
    wait_until(&c, &s, Duration::from_secs(30), |jobs| {
        job(jobs, id)["status"] == "cancelled"
    })
    .await;
    assert!(!data.join(format!("generated/{id}.mp4")).exists());
}

/// Bad worker settings are refused before anything is touched, with a reason.
#[test]
fn a_worker_with_bad_settings_or_no_database_says_why() {
    let dir = tempfile::tempdir().unwrap();
    for (args, why) in [
        (
            &["--kinds", "generate,bogus"][..],
            "unknown job kind \"bogus\"",
        ),
        (&["--concurrency", "0"][..], "--concurrency must be 1–64"),
        (&["--lease-secs", "0.1"][..], "--lease-secs must be 1–3600"),
        (&["--device", "tpu"][..], "unknown backend"),
        (
            &["--ckpts", "/nonexistent/ckpts"][..],
            "--ckpts: /nonexistent/ckpts/unet/config.json",
        ),
        (&[][..], "no database: start `magictime serve`"),
        (
            &["--database-url", "mysql://db.example.org/magictime"][..],
            "not a database URL",
        ),
    ] {
        let out = Command::new(magictime_tests::magictime_bin())
            .arg("worker")
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// `worker --ckpts`: beside a `serve --no-worker --ckpts` (which checks requests against the
/// same tree), a worker runs an official-release job with its DreamBooth file and adapters and
/// writes the frame grid asked for.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_with_ckpts_runs_the_official_release() {
    let ckpts = magictime_tests::ckpts_fixture();
    let ckpts = ckpts.to_str().unwrap();
    let s = Server::start_with(&["--no-worker", "--ckpts", ckpts], |d| {
        create_account(d, "res@test.org", "res-pass-12", "researcher")
    });
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let mut fields = SHORT_GENERATION.to_vec();
    fields.retain(|(k, _)| *k != "size" && *k != "frames");
    fields.extend([
        ("size", "16"),
        ("frames", "4"),
        ("model", "official"),
        ("dreambooth", "RealisticVisionV60B1_v51VAE.safetensors"),
        ("adapter_t", "on"),
        ("adapter_te", "on"),
        ("format", "png"),
    ]);
    let r = post_form(&c, &s, "/api/generate", &t, &fields).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let id: i64 = r.json().await.unwrap();
    let w = Worker::start(s.data_dir.path(), &["--ckpts", ckpts]);
    wait_until(&c, &s, Duration::from_secs(120), |jobs| {
        job(jobs, id)["status"] == "done"
    })
    .await;
    assert_eq!(w.done_jobs(), [id]);
    let grid = s.data_dir.path().join(format!("generated/{id}.png"));
    // 4 frames of 16² in a 2 × 2 grid, 2 pixels of padding around each
    let png = std::fs::read(&grid).unwrap();
    assert_eq!(&png[12..16], b"IHDR");
    let size = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!(size, (38, 38));
}
