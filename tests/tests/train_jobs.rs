//! Training through the web job queue on the real server (Jobs page): queue_train validates its
//! input and checks the role; the worker trains the built-in model's architecture on freshly
//! rendered ChronoMagic-Synth clips (a few steps here) and writes a weights folder under
//! `<data dir>/models/<id>/` that `magictime generate --model` then loads and runs.
use std::{process::Command, time::Duration};

use magictime_tests::{
    create_account, jobs_of, magictime_bin, post_form, wait_job, Server, LONG_GENERATION,
};
use reqwest::{Client, StatusCode};
use serde_json::Value;

mod support;
use support::login;

async fn queue(c: &Client, s: &Server, t: &str, fields: [(&str, &str); 9]) -> reqwest::Response {
    post_form(c, s, "/api/queue_train", t, &fields).await
}

/// The whole recipe (stage all, s32, text encoder from scratch) with these clips, steps and
/// minutes.
fn fields(
    clips: &'static str,
    vae: &'static str,
    unet: &'static str,
    minutes: &'static str,
) -> [(&'static str, &'static str); 9] {
    staged("all", "s32", "", [clips, vae, unet, minutes])
}

fn staged<'a>(
    stage: &'a str,
    preset: &'a str,
    from: &'a str,
    [clips, vae, unet, minutes]: [&'a str; 4],
) -> [(&'static str, &'a str); 9] {
    [
        ("stage", stage),
        ("preset", preset),
        ("start_from", from),
        ("text_encoder", "scratch"),
        ("clips", clips),
        ("seed", "3"),
        ("vae_steps", vae),
        ("unet_steps", unet),
        ("max_minutes", minutes),
    ]
}

/// `f` with field `name` set to `value`.
fn with<'a>(
    mut f: [(&'static str, &'a str); 9],
    name: &str,
    value: &'a str,
) -> [(&'static str, &'a str); 9] {
    f.iter_mut().find(|(k, _)| *k == name).expect("a field").1 = value;
    f
}

/// `/api/train_curve?id=`: the job's loss curve (null before its first steps).
async fn curve(c: &Client, s: &Server, id: i64) -> Value {
    support::get_json(s, c, &format!("/api/train_curve?id={id}")).await
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
        (
            staged("e", "s32", "", ["8", "2", "2", "5"]),
            "the stage must be one of",
        ),
        (
            staged("a", "s128", "", ["8", "2", "2", "5"]),
            "the preset must be s32 or s64",
        ),
        (
            staged("b", "s32", "", ["8", "2", "2", "5"]),
            "give the id of a finished training job",
        ),
        (
            staged("c", "s32", "x1", ["8", "2", "2", "5"]),
            "is not a job id",
        ),
        (
            staged("d", "s32", "999", ["8", "2", "2", "5"]),
            "there is no job #999",
        ),
        (
            with(fields("8", "2", "2", "5"), "text_encoder", "gpt"),
            "neither scratch nor in-domain",
        ),
    ] {
        let r = queue(&c, &s, &t, f).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        let body = r.text().await.unwrap();
        assert!(body.contains(why), "{why}: {body}");
    }
    assert!(jobs_of(&c, &s, "train").await.is_empty());

    // The whole recipe over the in-domain CLIP's frozen text tower.
    let r = queue(
        &c,
        &s,
        &t,
        with(fields("8", "2", "2", "5"), "text_encoder", "in-domain"),
    )
    .await;
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
    // The in-domain CLIP's text tower (3 layers, MLP 256), not the preset's (2 layers, 128).
    let te: Value =
        serde_json::from_slice(&std::fs::read(dir.join("text_encoder/config.json")).unwrap())
            .unwrap();
    assert_eq!(
        (&te["num_hidden_layers"], &te["intermediate_size"]),
        (&Value::from(3), &Value::from(256)),
        "{te}"
    );
    let log: Value =
        serde_json::from_slice(&std::fs::read(dir.join("train_log.json")).unwrap()).unwrap();
    assert_eq!(log["clips"], 8);
    assert_eq!(log["unet"]["steps"], 2);
    // the loss curve of every loop, from the result
    let cv = curve(&c, &s, id).await;
    let names: Vec<&str> = cv["loops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["vae", "unet", "motion", "adapter_s", "adapter_t"],
        "{cv}"
    );
    assert_eq!(
        cv["loops"][1]["points"].as_array().unwrap().len(),
        2,
        "{cv}"
    );
    assert!(cv["eta_seconds"].is_null(), "{cv}");
    assert!(
        !s.data_dir
            .path()
            .join(format!("checkpoints/train-{id}"))
            .exists(),
        "a finished job's checkpoints are removed"
    );
    // stage b on top of it: the same preset only; the base stays, the motion modules change
    for (f, why) in [
        (
            staged("b", "s64", &id.to_string(), ["8", "2", "2", "5"]),
            "trained preset s32, not s64",
        ),
        (
            staged("b", "s32", "1000", ["8", "2", "2", "5"]),
            "there is no job #1000",
        ),
    ] {
        let r = queue(&c, &s, &t, f).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        let body = r.text().await.unwrap();
        assert!(body.contains(why), "{why}: {body}");
    }
    let from = id.to_string();
    let r = queue(&c, &s, &t, staged("b", "s32", &from, ["8", "2", "2", "5"])).await;
    assert_eq!(r.status(), StatusCode::OK);
    let b: i64 = r.json().await.unwrap();
    let job = wait_job(&c, &s, "train", b, Duration::from_secs(300)).await;
    assert_eq!(job["status"], "done", "{job}");
    let msg = job["message"].as_str().unwrap();
    assert!(
        msg.contains("motion modules loss") && !msg.contains("VAE"),
        "{msg}"
    );
    let bdir = s.data_dir.path().join("models").join(b.to_string());
    let read = |d: &std::path::Path, f: &str| std::fs::read(d.join(f)).unwrap();
    let base = "unet/diffusion_pytorch_model.safetensors";
    assert!(
        read(&dir, base) == read(&bdir, base),
        "stage b changed the base UNet"
    );
    assert!(
        read(&dir, "motion_module.safetensors") != read(&bdir, "motion_module.safetensors"),
        "stage b left the motion modules as they were"
    );
    let log: Value = serde_json::from_slice(&read(&bdir, "train_log.json")).unwrap();
    assert_eq!(
        (
            log["unet"]["steps"].as_u64(),
            log["motion"]["steps"].as_u64()
        ),
        (Some(2), Some(2))
    );
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

/// A training job caught by a server kill (its worker with it) after its first loop is taken
/// again once its lease runs out, and resumes from its checkpoints: the finished VAE loop is not
/// run again (its losses are the checkpoint's), the job finishes with the step counts it was
/// given, and its checkpoints go.
#[tokio::test(flavor = "multi_thread")]
async fn a_training_job_survives_a_server_kill() {
    let s = Server::start(|d| create_account(d, "res@test.org", "res-pass-12", "researcher"));
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    // stage a: 2 VAE steps, then 30 UNet steps (well inside the 5-minute budget)
    let r = queue(&c, &s, &t, staged("a", "s32", "", ["8", "2", "30", "5"])).await;
    assert_eq!(r.status(), StatusCode::OK);
    let id: i64 = r.json().await.unwrap();
    let ckpt = s.data_dir.path().join(format!("checkpoints/train-{id}"));
    let t0 = std::time::Instant::now();
    // wait for the UNet loop's first steps (the VAE loop is finished and checkpointed)
    let before = loop {
        let cv = curve(&c, &s, id).await;
        let job = jobs_of(&c, &s, "train").await.remove(0);
        let msg = job["message"].as_str().unwrap_or_default().to_owned();
        if cv["loops"].as_array().is_some_and(|l| l.len() == 2)
            && msg.starts_with("stage a unet step ")
        {
            assert!(msg.contains("/30 loss "), "{msg}");
            assert!(cv["eta_seconds"].as_f64().is_some(), "{cv}");
            break cv;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(240),
            "no UNet step: {cv} {msg}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(ckpt.join("vae.ckpt").is_file());
    let s = s.kill_and_restart(&[]);

    let (c, _) = login(&s, "res@test.org", "res-pass-12").await;
    let job = wait_job(&c, &s, "train", id, Duration::from_secs(300)).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["attempts"], 2, "{job}");
    assert!(
        job["message"].as_str().unwrap().contains("VAE loss"),
        "{job}"
    );
    let log: Value = serde_json::from_slice(
        &std::fs::read(
            s.data_dir
                .path()
                .join(format!("models/{id}/train_log.json")),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (log["vae"]["steps"].as_u64(), log["unet"]["steps"].as_u64()),
        (Some(2), Some(30)),
        "{log}"
    );
    let after = curve(&c, &s, id).await;
    let vae = &after["loops"][0];
    assert_eq!(vae["name"], "vae");
    assert_eq!(
        (vae["resumed_at"].as_u64(), vae["total"].as_u64()),
        (Some(2), Some(2)),
        "{after}"
    );
    assert_eq!(
        vae["points"], before["loops"][0]["points"],
        "the VAE loop ran again"
    );
    assert!(!ckpt.exists(), "checkpoints left after the job finished");
    assert!(s
        .data_dir
        .path()
        .join(format!("models/{id}/vae/config.json"))
        .is_file());
}

#[tokio::test]
async fn a_failing_training_job_says_why_and_leaves_no_model() {
    let s = Server::start(|d| create_account(d, "res@test.org", "res-pass-12", "researcher"));
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    // Stage b from a job whose weights are gone by the time it runs: the job was done when the
    // stage was queued (validation passes), its folder is removed before the worker gets to it.
    let r = queue(&c, &s, &t, fields("8", "1", "1", "5")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let first: i64 = r.json().await.unwrap();
    let job = wait_job(&c, &s, "train", first, Duration::from_secs(300)).await;
    assert_eq!(job["status"], "done", "{job}");
    let models = s.data_dir.path().join("models");
    let from = first.to_string();
    // A long generation keeps the worker busy (generation goes first) while the folder goes.
    let r = post_form(&c, &s, "/api/generate", &t, &LONG_GENERATION).await;
    assert_eq!(r.status(), StatusCode::OK);
    let gen: i64 = r.json().await.unwrap();
    loop {
        let jobs = jobs_of(&c, &s, "generate").await;
        let g = jobs.iter().find(|j| j["id"] == gen).unwrap();
        if g["status"] == "running" {
            break;
        }
        assert_eq!(g["status"], "queued", "{g}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = queue(&c, &s, &t, staged("b", "s32", &from, ["8", "1", "1", "5"])).await;
    assert_eq!(r.status(), StatusCode::OK);
    let id: i64 = r.json().await.unwrap();
    std::fs::remove_dir_all(models.join(&from)).unwrap();
    let g = jobs_of(&c, &s, "generate").await;
    assert_eq!(
        g.iter().find(|j| j["id"] == gen).unwrap()["status"],
        "running",
        "{g:?}"
    );
    let job = wait_job(&c, &s, "train", id, Duration::from_secs(300)).await;
    assert_eq!(job["status"], "failed", "{job}");
    let msg = job["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("weights of job #{first}")) && msg.contains("are gone"),
        "{msg}"
    );
    assert!(
        !models.join(id.to_string()).exists(),
        "no model folder for a failed job"
    );
    // ... nor a half-written one (models/.partial-<id>).
    let left: Vec<String> = std::fs::read_dir(&models)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !left.iter().any(|n| n.ends_with(&format!("-{id}"))),
        "{left:?}"
    );
}
