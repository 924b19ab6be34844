//! `kill -9` of the server (and so of its worker) while a job of each kind runs, then a restart:
//! the killed job's lease runs out and it is run again, or, past the retry limit
//! (`--max-attempts`), failed; no job output is left half-written, visible or served.
//! (Training jobs resume from their checkpoints: `train_jobs.rs`; workers apart from the web
//! server: `workers.rs`.)
use std::{path::Path, time::Duration};

use magictime_tests::{
    job_in, jobs_of, make_evalset, post_form, wait_until, Server, LONG_GENERATION,
};
use reqwest::{Client, StatusCode};
use serde_json::Value;

mod support;
use support::{login, server_with};

/// Every entry of `dir` (none if it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn job(c: &Client, s: &Server, kind: &str, id: i64) -> Value {
    job_in(&jobs_of(c, s, kind).await, id).clone()
}

/// Waits until `ready(job)` holds (panics after 2 minutes).
async fn wait_for(c: &Client, s: &Server, kind: &str, id: i64, ready: impl Fn(&Value) -> bool) {
    wait_until(c, s, kind, Duration::from_secs(120), |jobs| {
        ready(job_in(jobs, id))
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_generation_or_evaluation_leaves_nothing_visible_or_served() {
    let s = server_with(&[]);
    let data = s.data_dir.path().to_path_buf();
    // 40 one-second clips for the evaluation.
    make_evalset(&data, 40, 9);
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;

    // A generation long enough to be caught between its first and last step.
    let r = post_form(&c, &s, "/api/generate", &t, &LONG_GENERATION).await;
    assert_eq!(r.status(), StatusCode::OK);
    let gen: i64 = r.json().await.unwrap();
    wait_for(&c, &s, "generate", gen, |j| {
        j["status"] == "running" && j["progress"].as_f64().unwrap_or(0.0) > 0.05
    })
    .await;
    // What a kill while the MP4 was being written leaves.
    let generated = data.join("generated");
    std::fs::create_dir_all(&generated).unwrap();
    std::fs::write(generated.join(format!(".partial-{gen}.mp4")), b"half").unwrap();
    // one attempt allowed: once its lease runs out, the job fails
    let s = s.kill_and_restart(&["--max-attempts", "1"]);
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    wait_for(&c, &s, "generate", gen, |j| j["status"] != "running").await;
    let j = job(&c, &s, "generate", gen).await;
    assert_eq!(j["status"], "failed", "{j}");
    assert!(
        j["message"]
            .as_str()
            .unwrap()
            .contains("its worker was lost 1 time(s), the retry limit"),
        "{j}"
    );
    assert_eq!(entries(&generated), Vec::<String>::new());
    let r = c
        .get(s.url(&format!("/media/generated/{gen}.mp4")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // An evaluation, killed while it runs: after the restart it is run again (or it finished
    // before the kill) and ends with a whole report, nothing half-written beside it.
    let r = post_form(
        &c,
        &s,
        "/api/queue_eval",
        &t,
        &[
            ("real", "evalset"),
            ("fake", "evalset/fake.csv"),
            ("metrics", "clipsim,mt"),
            ("n", "40"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let ev: i64 = r.json().await.unwrap();
    wait_for(&c, &s, "eval", ev, |j| j["status"] != "queued").await;
    let eval = data.join("eval");
    std::fs::create_dir_all(eval.join(format!(".partial-{ev}"))).unwrap();
    std::fs::write(eval.join(format!(".partial-{ev}/report.json")), b"{\"half").unwrap();
    let s = s.kill_and_restart(&[]);
    let (c, _) = login(&s, "res@test.org", "res-pass-12").await;
    wait_for(&c, &s, "eval", ev, |j| {
        matches!(j["status"].as_str(), Some("done" | "failed"))
    })
    .await;
    let j = job(&c, &s, "eval", ev).await;
    eprintln!(
        "evaluation after the kill: {} (attempt {})",
        j["status"], j["attempts"]
    );
    assert_eq!(j["status"], "done", "{j}");
    assert_eq!(entries(&eval), vec![ev.to_string()], "{j}");
    let report = std::fs::read(eval.join(format!("{ev}/report.json"))).unwrap();
    serde_json::from_slice::<Value>(&report).expect("a whole report");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_job_leaves_nothing_half_written_visible_or_served() {
    let s = server_with(&[]);
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    // A synth dataset big enough to be caught half-way.
    let r = post_form(
        &c,
        &s,
        "/api/queue_ingest",
        &t,
        &[
            ("source", "synth"),
            ("count", "400"),
            ("size", "64"),
            ("frames", "16"),
            ("seed", "1"),
            ("kind", "both"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let id: i64 = r.json().await.unwrap();
    let datasets = s.data_dir.path().join("datasets");
    let partial = datasets.join(format!(".partial-{id}"));
    let t0 = std::time::Instant::now();
    // Wait until clips are on disk, then kill -9 (no graceful shutdown).
    loop {
        let clips = std::fs::read_dir(&partial).map(|d| d.count()).unwrap_or(0);
        if clips >= 3 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "no clips written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !datasets.join(id.to_string()).exists(),
        "visible before it is complete"
    );
    let s = s.kill_and_restart(&["--max-attempts", "1"]);

    let (c, _) = login(&s, "res@test.org", "res-pass-12").await;
    wait_for(&c, &s, "ingest", id, |j| j["status"] != "running").await;
    let job = job(&c, &s, "ingest", id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let left: Vec<_> = std::fs::read_dir(&datasets)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left after restart: {left:?}");
    // Media is served for finished generation jobs only (a file named after an unfinished job,
    // as an older server could leave it, is not).
    let generated = s.data_dir.path().join("generated");
    std::fs::create_dir_all(&generated).unwrap();
    std::fs::write(generated.join(format!("{id}.mp4")), b"half a video").unwrap();
    let r = c
        .get(s.url(&format!("/media/generated/{id}.mp4")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
