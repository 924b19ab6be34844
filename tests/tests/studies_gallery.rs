//! Stimuli from the generation gallery: a video generated through the job queue (embedded
//! default model) is added to a draft study with its prompt and a condition, normalised like
//! folder imports; bad jobs and live studies are refused.
use std::{
    process::Command,
    time::{Duration, Instant},
};

use magictime_tests::{create_account, Server};
use reqwest::{header, Client, StatusCode};
use serde_json::Value;

mod support;
use support::{form_json, get_json, login, new_study, set_status};

const PROMPT: &str = "ice melting on a plate, time-lapse";

/// Queues a generation and waits until it is done; returns the job id.
async fn generate(s: &Server, c: &Client, t: &str) -> i64 {
    let r = c
        .post(s.url("/api/generate"))
        .header(header::ACCEPT, "application/json")
        .form(&[
            ("csrf_token", t),
            ("prompt", PROMPT),
            ("negative", ""),
            ("seed", "3"),
            ("steps", "2"),
            ("cfg", "4"),
            ("frames", "4"),
            ("size", "32"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id: i64 = r.json().await.unwrap();
    let t0 = Instant::now();
    loop {
        let jobs = get_json(s, c, "/api/jobs?kind=generate").await;
        let job = jobs
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == id)
            .cloned()
            .unwrap();
        match job["status"].as_str().unwrap() {
            "done" => return id,
            "failed" => panic!("generation failed: {}", job["message"]),
            _ => {}
        }
        assert!(t0.elapsed() < Duration::from_secs(180), "not done: {job}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn probe(path: &std::path::Path) -> String {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,r_frame_rate,pix_fmt",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn generated_videos_become_normalised_stimuli() {
    let s = Server::start(|d| create_account(d, "res@test.org", "res-pass-12", "researcher"));
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let job = generate(&s, &c, &t).await;
    let id = new_study(&s, &c, &t, "1", &[]).await;

    // The manage page offers the finished generation.
    let html = support::get_text(&s, &c, &format!("/studies/{id}")).await;
    assert!(
        html.contains(&format!(r#"<option value="{job}">"#)),
        "gallery form lists job {job}"
    );

    let path = format!("/studies/{id}/import_generated");
    let job_s = job.to_string();
    let r = form_json(
        &c,
        &s,
        &t,
        &path,
        &[("job", &job_s), ("condition", "MagicTime-tiny")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    // Empty condition: the loaded model's description.
    let r = form_json(&c, &s, &t, &path, &[("job", &job_s), ("condition", "")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let described: Value = r.json().await.unwrap();
    assert!(
        described["condition"]
            .as_str()
            .unwrap()
            .contains("built-in"),
        "{described}"
    );

    let d = get_json(&s, &c, &format!("/studies/{id}/design.json")).await;
    let stimuli = d["stimuli"].as_array().unwrap();
    assert_eq!(stimuli.len(), 2, "{d}");
    let st = stimuli
        .iter()
        .find(|x| x["condition"] == "MagicTime-tiny")
        .expect("tagged stimulus");
    assert_eq!(st["prompt"], PROMPT);
    assert_eq!(st["role"], "normal");
    // Normalised to the design's format (the generation was 32×32), like folder imports.
    assert_eq!(
        (
            st["width"].as_i64(),
            st["height"].as_i64(),
            st["fps"].as_f64()
        ),
        (Some(64), Some(64), Some(8.0)),
        "{st}"
    );
    assert!(st["frames"].as_i64().unwrap() >= 1);
    let file = s
        .data_dir
        .path()
        .join("studies")
        .join(id.to_string())
        .join(format!("{}.mp4", st["media_id"].as_str().unwrap()));
    let p = probe(&file);
    assert!(
        p.starts_with("h264,64,64,") && p.contains("yuv420p") && p.ends_with("8/1"),
        "{p}"
    );

    // Bad input: unknown job, a non-number, a job that is not a finished generation.
    let r = form_json(&c, &s, &t, &path, &[("job", "9999")]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = form_json(&c, &s, &t, &path, &[("job", "x")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Another researcher's session without the study: 404; anonymous: 401.
    let anon = magictime_tests::client();
    let at = magictime_tests::csrf(&anon, &s).await;
    let r = form_json(&anon, &s, &at, &path, &[("job", &job_s)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Live studies are frozen.
    set_status(&s, &c, &t, id, "live").await;
    let r = form_json(&c, &s, &t, &path, &[("job", &job_s), ("condition", "late")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let d = get_json(&s, &c, &format!("/studies/{id}/design.json")).await;
    assert_eq!(d["stimuli"].as_array().unwrap().len(), 2);
}
