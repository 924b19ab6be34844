//! Generation through the web job queue on the real server: submit → progress → MP4 served.
use std::time::Duration;

use magictime_tests::{
    ckpts_fixture, client, create_account, ffprobe_frames, jobs_of, login, post_form, wait_job,
    webp_frames, Server, LONG_GENERATION,
};
use reqwest::{header, Client, StatusCode};
use support::get_json;

mod support;

async fn submit(c: &Client, s: &Server, t: &str, prompt: &str, size: &str) -> reqwest::Response {
    let fields = [
        ("prompt", prompt),
        ("negative", "low quality"),
        ("seed", "7"),
        ("size", size),
    ];
    submit_with(c, s, t, &fields).await
}

#[tokio::test]
async fn researcher_generates_a_video_through_the_queue() {
    let s = Server::start(|d| {
        create_account(d, "res@test.org", "res-pass-12", "researcher");
        create_account(d, "ann@test.org", "ann-pass-12", "annotator");
    });
    // Annotators may not generate.
    let (ann, t) = login(&s, "ann@test.org", "ann-pass-12").await;
    assert_eq!(
        submit(&ann, &s, &t, "a flower blooming", "32")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    // Bad input: a clear 422, nothing queued.
    let r = submit(&c, &s, &t, &"x".repeat(1001), "32").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = submit(&c, &s, &t, "a flower blooming", "33").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("multiple of"));
    let jobs: serde_json::Value = c
        .get(s.url("/api/jobs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jobs.as_array().unwrap().len(), 0);

    let r = submit(&c, &s, &t, "a flower blooming, time-lapse", "32").await;
    assert_eq!(r.status(), StatusCode::OK);
    let id: i64 = r.json().await.unwrap();

    let job = wait_job(&c, &s, "generate", id, Duration::from_secs(120)).await;
    assert_eq!(job["status"], "done", "job failed: {}", job["message"]);
    assert_eq!(job["progress"], 1.0);
    let url = job["video_url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("/media/generated/{id}.mp4"));

    // Logged-in users get the MP4 (with range support); anonymous users do not.
    let r = c.get(s.url(&url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "video/mp4");
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.len() > 100 && &bytes[4..8] == b"ftyp", "an MP4 file");
    let r = c
        .get(s.url(&url))
        .header(header::RANGE, "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        client().get(s.url(&url)).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        c.get(s.url("/media/generated/999.mp4"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_queued_job_is_cancelled_by_its_owner_or_an_admin_only() {
    let s = Server::start(|d| {
        create_account(d, "res@test.org", "res-pass-12", "researcher");
        create_account(d, "other@test.org", "other-pass-12", "researcher");
        create_account(d, "admin@test.org", "admin-pass-1", "admin");
    });
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    // The first runs; the next two wait behind it. (Submitting used to wait for the running
    // generation, whose lock the check shared: the second job then ran instead of queueing.)
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = post_form(&c, &s, "/api/generate", &t, &LONG_GENERATION).await;
        assert_eq!(r.status(), StatusCode::OK);
        ids.push(r.json::<i64>().await.unwrap());
    }
    let cancel = |c: Client, t: String, id: i64| {
        let s = &s;
        async move {
            let r = post_form(&c, s, "/api/cancel_job", &t, &[("id", &id.to_string())]).await;
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<bool>().await.unwrap()
        }
    };
    let (other, ot) = login(&s, "other@test.org", "other-pass-12").await;
    eprintln!(
        "{}",
        c.get(s.url("/api/jobs"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    );
    assert!(!cancel(other, ot, ids[1]).await, "not someone else's job");
    assert!(cancel(c.clone(), t.clone(), ids[1]).await, "the owner's");
    assert!(!cancel(c.clone(), t.clone(), ids[1]).await, "only once");
    let (admin, at) = login(&s, "admin@test.org", "admin-pass-1").await;
    assert!(cancel(admin, at, ids[2]).await, "an admin's");
    let listed = jobs_of(&c, &s, "generate").await;
    let status = |id: i64| listed.iter().find(|j| j["id"] == id).unwrap()["status"].clone();
    assert_eq!(status(ids[1]), "cancelled");
    assert_eq!(status(ids[2]), "cancelled");
    assert_ne!(
        status(ids[0]),
        "cancelled",
        "a running job is not cancelled"
    );
}

#[tokio::test]
async fn a_failing_generation_is_reported_and_the_queue_goes_on() {
    let s = Server::start(|d| create_account(d, "res@test.org", "res-pass-12", "researcher"));
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    // A file where the output folder goes: the generation cannot write its MP4.
    let out = s.data_dir.path().join("generated");
    if out.exists() {
        std::fs::remove_dir_all(&out).unwrap();
    }
    std::fs::write(&out, b"not a folder").unwrap();
    let r = submit(&c, &s, &t, "a flower blooming", "32").await;
    assert_eq!(r.status(), StatusCode::OK);
    let id: i64 = r.json().await.unwrap();
    let job = wait_job(&c, &s, "generate", id, Duration::from_secs(120)).await;
    assert_eq!(job["status"], "failed", "{job}");
    // The message says why (the OS error on the output folder), not "done".
    assert!(
        job["message"].as_str().unwrap().contains("generated"),
        "a failure says why: {job}"
    );
    assert!(job["video_url"].is_null(), "{job}");
    assert_eq!(
        c.get(s.url(&format!("/media/generated/{id}.mp4")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    // The worker survives the failure: with the folder back, the next job is done.
    std::fs::remove_file(&out).unwrap();
    std::fs::create_dir(&out).unwrap();
    let r = submit(&c, &s, &t, "a flower blooming", "32").await;
    let id2: i64 = r.json().await.unwrap();
    let job = wait_job(&c, &s, "generate", id2, Duration::from_secs(120)).await;
    assert_eq!(job["status"], "done", "{job}");
}

/// A generation request of `fields` over small defaults (2 steps, 4 frames, 32 px).
async fn submit_with(
    c: &Client,
    s: &Server,
    t: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut all: Vec<(&str, &str)> = vec![
        ("prompt", "ice melting on a table, time-lapse"),
        ("negative", ""),
        ("seed", "3"),
        ("steps", "2"),
        ("cfg", "7.5"),
        ("frames", "4"),
        ("size", "32"),
    ];
    for (k, v) in fields {
        all.retain(|(a, _)| a != k);
        all.push((k, v));
    }
    post_form(c, s, "/api/generate", t, &all).await
}

/// Submits `fields` (over [`submit_with`]'s defaults), waits up to `limit` for the job to be
/// done, and returns its id, the job as listed and its recorded parameters.
async fn generated(
    c: &Client,
    s: &Server,
    t: &str,
    fields: &[(&str, &str)],
    limit: Duration,
) -> (i64, serde_json::Value, serde_json::Value) {
    let r = submit_with(c, s, t, fields).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let id: i64 = r.json().await.unwrap();
    let job = wait_job(c, s, "generate", id, limit).await;
    assert_eq!(job["status"], "done", "{job}");
    let params = serde_json::from_str(job["params"].as_str().unwrap()).unwrap();
    (id, job, params)
}

/// The SHA-256 of a file as `sha256sum` prints it.
fn sha256sum(p: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(p)
        .output()
        .expect("sha256sum");
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

/// A finished generation has a page with every setting and its provenance, a JSON sidecar
/// with the same facts (written beside the files, nothing partial left), its frames as a zip
/// of PNGs, and a "generate again" link whose URL fills the Generate form.
#[tokio::test]
async fn a_generation_has_a_page_a_sidecar_and_its_frames() {
    let s = Server::start(|d| create_account(d, "res@test.org", "res-pass-12", "researcher"));
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    // a bad frame rate is refused beside nothing queued
    let r = submit_with(&c, &s, &t, &[("fps", "0")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("frames per second"));
    assert!(jobs_of(&c, &s, "generate").await.is_empty());
    let fields = [
        ("model", "builtin"),
        ("adapter_s", "on"),
        ("fps", "12"),
        ("format", "webp"),
        ("prompt", "ice melting & <dripping>"),
    ];
    let (id, job, params) = generated(&c, &s, &t, &fields, Duration::from_secs(120)).await;
    // the gallery's download is the format asked for, not the frames zip
    assert_eq!(job["download_url"], format!("/media/generated/{id}.webp"));

    let facts = get_json(&s, &c, &format!("/media/generated/{id}.json")).await;
    assert_eq!(facts["id"], id);
    assert_eq!(facts["requested_by"], "res@test.org");
    assert_eq!(facts["params"]["fps"], 12.0);
    assert_eq!(facts["params"]["seed"], 3);
    assert_eq!(facts["params"]["adapters"], serde_json::json!(["s"]));
    assert!(facts["software"]
        .as_str()
        .unwrap()
        .starts_with("magictime "));
    assert!(facts["seconds"].as_f64().unwrap() > 0.0, "{facts}");
    let files = facts["model_files"].as_array().unwrap();
    assert!(files.iter().any(|f| f["role"] == "UNet"), "{facts}");
    assert!(
        files.iter().any(|f| f["role"] == "Magic Adapter S"),
        "{facts}"
    );
    assert!(
        !files.iter().any(|f| f["role"] == "Magic Adapter T"),
        "{facts}"
    );
    assert!(files
        .iter()
        .all(|f| f["sha256"].as_str().unwrap().len() == 64));
    assert_eq!(
        facts["files"],
        serde_json::json!([
            format!("generated/{id}.mp4"),
            format!("generated/{id}.webp"),
            format!("generated/{id}.zip")
        ])
    );
    // the sidecar on disk is what is served; nothing partial is left beside it
    let dir = s.data_dir.path().join("generated");
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{id}.json"))).unwrap())
            .unwrap();
    assert_eq!(on_disk, facts);
    let partial = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(".partial-"));
    assert!(!partial);
    // the sidecar's settings are the job's
    assert_eq!(params, facts["params"]);

    // the frames: a zip of 4 PNGs (one central-directory entry each)
    let r = c
        .get(s.url(&format!("/media/generated/{id}.zip")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let zip = r.bytes().await.unwrap();
    assert_eq!(&zip[..4], b"PK\x03\x04");
    let entries = zip.windows(4).filter(|w| *w == b"PK\x01\x02").count();
    assert_eq!(entries, 4);
    assert_eq!(
        zip.windows(4).filter(|w| *w == b".png").count(),
        8,
        "each name twice"
    );
    assert_eq!(
        downloaded_frames(&c, &s, &format!("/media/generated/{id}.webp"), "image/webp").await,
        4
    );

    // the page: every setting, the hashes, the downloads, the link back to the form
    let page = support::get_text(&s, &c, &format!("/generations/{id}")).await;
    for want in [
        "data-field=\"prompt\">ice melting &amp; &lt;dripping&gt;<".to_owned(),
        "data-field=\"seed\">3<".to_owned(),
        "data-field=\"steps\">2<".to_owned(),
        "data-field=\"cfg\">7.5<".to_owned(),
        "data-field=\"frames\">4<".to_owned(),
        "data-field=\"fps\">12<".to_owned(),
        "data-field=\"adapters\">Magic Adapter S<".to_owned(),
        "data-field=\"requested_by\">res@test.org<".to_owned(),
        format!(
            "data-field=\"software\">{}<",
            facts["software"].as_str().unwrap()
        ),
        files[0]["sha256"].as_str().unwrap().to_owned(),
        format!("href=\"/media/generated/{id}.mp4\""),
        format!("href=\"/media/generated/{id}.webp\""),
        format!("href=\"/media/generated/{id}.zip\""),
        format!("href=\"/media/generated/{id}.json\""),
    ] {
        assert!(page.contains(&want), "the page lacks {want}");
    }
    let again = page
        .split("data-testid=\"again\"")
        .next()
        .and_then(|before| before.rsplit("href=\"").next())
        .and_then(|h| h.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    assert!(
        again.starts_with("/generate?model=builtin&prompt=ice%20melting%20%26%20%3Cdripping%3E"),
        "{again}"
    );
    let form = support::get_text(&s, &c, &again).await;
    for want in [
        ">ice melting &amp; &lt;dripping&gt;</textarea>",
        "name=\"seed\" type=\"number\" min=\"0\" max=\"18446744073709551615\" required form=\"generate-form\" value=\"3\"",
        "name=\"fps\" type=\"number\" min=\"1\" max=\"60\" step=\"any\" required form=\"generate-form\" value=\"12\"",
        "name=\"adapter_s\" form=\"generate-form\" checked",
        "<option value=\"webp\" selected",
    ] {
        assert!(form.contains(want), "the prefilled form lacks {want}");
    }
    assert!(!form.contains("name=\"adapter_t\" form=\"generate-form\" checked"));
    let none = support::get_text(&s, &c, "/generations/99999").await;
    assert!(none.contains("There is no such generation."));
}

/// Downloads `url` and counts its frames: ffprobe's decoded frames, a WebP's animation frames.
async fn downloaded_frames(c: &Client, s: &Server, url: &str, content_type: &str) -> u32 {
    let r = c.get(s.url(url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{url}");
    assert_eq!(r.headers()[header::CONTENT_TYPE], content_type, "{url}");
    let bytes = r.bytes().await.unwrap();
    if content_type == "image/webp" {
        return webp_frames(&bytes);
    }
    let name = url.rsplit('/').next().unwrap();
    let file = s.data_dir.path().join(format!("downloaded-{name}"));
    std::fs::write(&file, bytes).unwrap();
    ffprobe_frames(&file)
}

/// `serve --ckpts <the official release's tree>` (tiny random weights in exactly its layout,
/// `tools/parity/make_ckpts_fixtures.py`): the picker offers the official model with its
/// DreamBooth files and adapters; a generation with a DreamBooth file, Adapter S and T on and
/// the Text-Encoder off is recorded with those choices and its GIF plays; bad choices are
/// refused with the field named, nothing queued.
#[tokio::test]
async fn the_official_release_generates_with_the_choices_recorded() {
    let ckpts = ckpts_fixture();
    let s = Server::start_with(&["--ckpts", ckpts.to_str().unwrap()], |d| {
        create_account(d, "res@test.org", "res-pass-12", "researcher")
    });
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let models = get_json(&s, &c, "/api/generate_models").await;
    assert_eq!(models[0]["id"], "builtin", "{models}");
    let official = &models[1];
    assert_eq!(official["id"], "official", "{models}");
    assert_eq!(
        official["dreambooth"],
        serde_json::json!([
            "RealisticVisionV60B1_v51VAE.safetensors",
            "ToonYou_beta6.safetensors",
            "rcnzCartoon3d_v10.safetensors"
        ])
    );
    assert_eq!(official["adapters"], serde_json::json!(["s", "t", "te"]));
    // no generation_config.json in the release: MagicTime's own settings
    assert_eq!(
        (
            &official["defaults"]["frames"],
            &official["defaults"]["size"]
        ),
        (&serde_json::json!(16), &serde_json::json!(512))
    );
    let label = official["label"].as_str().unwrap();
    assert!(
        label.contains("official") && !label.contains('/'),
        "{label}"
    );

    // Bad choices: 422 with the field named, nothing queued. (Adapters the model lacks:
    // the server's generator tests.)
    let official_with = |k: &'static str, v: &'static str| [("model", "official"), (k, v)];
    for (fields, says) in [
        (
            [("model", "sd3"), ("format", "mp4")],
            "Model \"sd3\" is unknown",
        ),
        (
            official_with("dreambooth", "../../../etc/passwd"),
            "DreamBooth file",
        ),
        (official_with("format", "avi"), "Output format \"avi\""),
        (
            [
                ("model", "builtin"),
                ("dreambooth", "ToonYou_beta6.safetensors"),
            ],
            "DreamBooth files go over the official base model only",
        ),
    ] {
        let r = submit_with(&c, &s, &t, &fields).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        let text = r.text().await.unwrap();
        assert!(text.contains(says), "{fields:?}: {text}");
    }
    assert!(jobs_of(&c, &s, "generate").await.is_empty());

    let (id, job, params) = generated(
        &c,
        &s,
        &t,
        &[
            ("model", "official"),
            ("dreambooth", "ToonYou_beta6.safetensors"),
            ("adapter_s", "on"),
            ("adapter_t", "on"),
            ("format", "gif"),
            ("size", "16"),
        ],
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(params["model"], "official");
    assert_eq!(params["dreambooth"], "ToonYou_beta6.safetensors");
    assert_eq!(params["adapters"], serde_json::json!(["s", "t"]));
    assert_eq!(params["formats"], serde_json::json!(["gif"]));
    let (mp4, gif) = (
        format!("/media/generated/{id}.mp4"),
        format!("/media/generated/{id}.gif"),
    );
    assert_eq!(job["download_url"], gif);
    assert_eq!(downloaded_frames(&c, &s, &gif, "image/gif").await, 4);
    assert_eq!(downloaded_frames(&c, &s, &mp4, "video/mp4").await, 4);
    // the sidecar names the files used with their hashes: the DreamBooth file, Adapters S
    // and T, not the Text-Encoder left off
    let facts = get_json(&s, &c, &format!("/media/generated/{id}.json")).await;
    let files = facts["model_files"].as_array().unwrap();
    let role = |r: &str| files.iter().filter(|f| f["role"] == r).count();
    assert_eq!(
        (
            role("DreamBooth"),
            role("Magic Text-Encoder"),
            role("motion module")
        ),
        (1, 0, 1),
        "{facts}"
    );
    assert!(
        role("Magic Adapter S") == 1 && role("Magic Adapter T") >= 1,
        "{facts}"
    );
    let db = files.iter().find(|f| f["role"] == "DreamBooth").unwrap();
    assert_eq!(db["name"], "DreamBooth/ToonYou_beta6.safetensors");
    assert_eq!(
        db["sha256"].as_str().unwrap(),
        sha256sum(&ckpts.join("DreamBooth/ToonYou_beta6.safetensors"))
    );
    // a format not asked for was not written
    let r = c
        .get(s.url(&format!("/media/generated/{id}.webp")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// Without --ckpts there is no official model; frames beyond the motion modules' 32 run in
/// context windows (the WebP holds every frame), up to the server's frames × size² bound, whose
/// refusal states it.
#[tokio::test]
async fn long_videos_run_in_context_windows_up_to_the_servers_bound() {
    let s = Server::start(|d| create_account(d, "res@test.org", "res-pass-12", "researcher"));
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let r = submit_with(&c, &s, &t, &[("model", "official")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("--ckpts"));
    let r = submit_with(&c, &s, &t, &[("frames", "33"), ("size", "512")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("at most 8388608 on this server (32 frames at 512 px, 128 at 256 px")
            && text.contains("33 frames at 512 px are 8650752"),
        "{text}"
    );
    assert!(jobs_of(&c, &s, "generate").await.is_empty());

    // the built-in model's adapters toggle too: Magic Adapter S alone
    let (id, _, params) = generated(
        &c,
        &s,
        &t,
        &[
            ("frames", "40"),
            ("steps", "1"),
            ("format", "webp"),
            ("model", "builtin"),
            ("adapter_s", "on"),
        ],
        Duration::from_secs(180),
    )
    .await;
    assert_eq!(params["adapters"], serde_json::json!(["s"]));
    let webp = format!("/media/generated/{id}.webp");
    assert_eq!(downloaded_frames(&c, &s, &webp, "image/webp").await, 40);
}

/// One user may have at most `--max-queued-generations` (5 by default) generations waiting: the sixth is
/// refused with the reason (429), nothing queued; another user still queues, and a cancel
/// makes room again.
#[tokio::test]
async fn queued_generations_are_capped_per_user() {
    let s = Server::start_with(&["--no-worker"], |d| {
        create_account(d, "res@test.org", "res-pass-12", "researcher");
        create_account(d, "other@test.org", "other-pass-12", "researcher");
    });
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let mut ids = vec![];
    for _ in 0..5 {
        let r = submit(&c, &s, &t, "a flower blooming", "32").await;
        assert_eq!(r.status(), StatusCode::OK);
        ids.push(r.json::<i64>().await.unwrap());
    }
    let r = submit(&c, &s, &t, "a flower blooming", "32").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("you have 5 generations waiting in the queue already"));
    assert_eq!(jobs_of(&c, &s, "generate").await.len(), 5);
    let (other, ot) = login(&s, "other@test.org", "other-pass-12").await;
    let r = submit(&other, &s, &ot, "a flower blooming", "32").await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = post_form(
        &c,
        &s,
        "/api/cancel_job",
        &t,
        &[("id", &ids[0].to_string())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = submit(&c, &s, &t, "a flower blooming", "32").await;
    assert_eq!(r.status(), StatusCode::OK);
}
