//! Training through the web job queue on the real server (Jobs page): queue_train validates its
//! input and checks the role; the worker trains the built-in model's architecture on freshly
//! rendered ChronoMagic-Synth clips (a few steps here) and writes a weights folder under
//! `<data dir>/models/<id>/` that `magictime generate --model` then loads and runs.
use std::{process::Command, time::Duration};

use magictime_tests::{create_account, jobs_of, login, magictime_bin, post_form, wait_job, Server};
use reqwest::{Client, StatusCode};
use serde_json::Value;

async fn queue(c: &Client, s: &Server, t: &str, fields: [(&str, &str); 5]) -> reqwest::Response {
    post_form(c, s, "/api/queue_train", t, &fields).await
}

fn fields(
    clips: &'static str,
    vae: &'static str,
    unet: &'static str,
    minutes: &'static str,
) -> [(&'static str, &'static str); 5] {
    [
        ("clips", clips),
        ("seed", "3"),
        ("vae_steps", vae),
        ("unet_steps", unet),
        ("max_minutes", minutes),
    ]
}

#[tokio::test]
async fn training_jobs_validate_train_and_write_a_loadable_model() {
    let s = Server::start(|d| {
        create_account(d, "res@test.org", "res-pass-12", "researcher");
        create_account(d, "ann@test.org", "ann-pass-12", "annotator");
    });
    let (ann, t) = login(&s, "ann@test.org", "ann-pass-12").await;
    let r = queue(&ann, &s, &t, fields("8", "2", "2", "5")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    for (f, why) in [
        (fields("2", "2", "2", "5"), "clips must be 4–10000"),
        (fields("8", "0", "2", "5"), "steps must be 1–100000"),
        (fields("8", "2", "200000", "5"), "steps must be 1–100000"),
        (fields("8", "2", "2", "0"), "time budget"),
        (fields("8", "2", "2", "NaN"), "time budget"),
    ] {
        let r = queue(&c, &s, &t, f).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        let body = r.text().await.unwrap();
        assert!(body.contains(why), "{why}: {body}");
    }
    assert!(jobs_of(&c, &s, "train").await.is_empty());

    let r = queue(&c, &s, &t, fields("8", "2", "2", "5")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let id: i64 = r.json().await.unwrap();
    let job = wait_job(&c, &s, "train", id, Duration::from_secs(300)).await;
    assert_eq!(job["status"], "done", "{job}");
    let msg = job["message"].as_str().unwrap();
    assert!(
        msg.starts_with("trained in ")
            && msg.contains("(2 steps)")
            && msg.ends_with(&format!("weights in models/{id}")),
        "{msg}"
    );
    let dir = s.data_dir.path().join("models").join(id.to_string());
    let log: Value =
        serde_json::from_slice(&std::fs::read(dir.join("train_log.json")).unwrap()).unwrap();
    assert_eq!(log["clips"], 8);
    assert_eq!(log["unet"]["steps"], 2);
    // the folder is a model `magictime generate --model` runs
    let mp4 = s.data_dir.path().join("out.mp4");
    let out = Command::new(magictime_bin())
        .args([
            "generate",
            "--prompt",
            "a red flower blooming",
            "--steps",
            "2",
        ])
        .args(["--size", "32", "--frames", "8", "--model"])
        .arg(&dir)
        .arg("--out")
        .arg(&mp4)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::metadata(&mp4).unwrap().len() > 0);
}
