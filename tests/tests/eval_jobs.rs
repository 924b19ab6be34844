//! Evaluation through the web job queue on the real server: queue_eval validates its input,
//! the worker runs `magictime_metrics::eval` and writes the report under `<data dir>/eval/<id>/`
//! (its CLIPSIM and metamorphic score recomputed here from the server's default CLIP), and a
//! failing evaluation says why (here: the missing I3D weights file, by name).
use std::{path::Path, process::Command, time::Duration};

mod clip_oracle;

use clip_oracle::{close, Oracle};
use magictime_tests::{create_account, jobs_of, login, post_form, wait_job, Server};
use reqwest::{Client, StatusCode};
use serde_json::Value;

const MISSING_I3D: &str = "/nonexistent/i3d-kinetics-400.safetensors";

async fn queue(
    c: &Client,
    s: &Server,
    t: &str,
    real: &str,
    fake: &str,
    metrics: &str,
    n: &str,
) -> reqwest::Response {
    let fields = [
        ("real", real),
        ("fake", fake),
        ("metrics", metrics),
        ("n", n),
    ];
    post_form(c, s, "/api/queue_eval", t, &fields).await
}

async fn jobs(c: &Client, s: &Server) -> Vec<Value> {
    jobs_of(c, s, "eval").await
}

async fn wait(c: &Client, s: &Server, id: i64) -> Value {
    wait_job(c, s, "eval", id, Duration::from_secs(120)).await
}

/// Two 1 s clips fading in from black (frames differ, so the order-weighted video embedding of
/// the metamorphic score matters) and a ChronoMagic CSV naming their prompts.
fn make_set(dir: &Path) {
    let d = dir.join("evalset");
    std::fs::create_dir_all(&d).unwrap();
    for (id, colour) in [("red_clip", "red"), ("blue_clip", "blue")] {
        let st = Command::new("ffmpeg")
            .args(["-y", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg(format!("color=c={colour}:s=64x64:r=8:d=1,fade=in:st=0:d=1"))
            .args(["-pix_fmt", "yuv420p"])
            .arg(d.join(format!("{id}.mp4")))
            .status()
            .expect("ffmpeg");
        assert!(st.success());
    }
    std::fs::write(
        d.join("fake.csv"),
        "videoid,name,is_transmit\nred_clip,a red flower blooming,1\nblue_clip,blue ice melting,1\n",
    )
    .unwrap();
}

#[tokio::test]
async fn evaluation_jobs_validate_run_and_report() {
    // the default CLIP (the embedded in-domain one), so the test can recompute the numbers
    let s = Server::start_with(&["--i3d-weights", MISSING_I3D], |d| {
        create_account(d, "res@test.org", "res-pass-12", "researcher");
        create_account(d, "ann@test.org", "ann-pass-12", "annotator");
        make_set(d);
    });
    let (ann, t) = login(&s, "ann@test.org", "ann-pass-12").await;
    let r = queue(&ann, &s, &t, "evalset", "evalset/fake.csv", "clipsim", "2").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    // Bad input: 422 with a reason, nothing queued.
    for (real, fake, metrics, n, why) in [
        (
            "evalset",
            "evalset/fake.csv",
            "fvd,psnr",
            "2",
            "unknown metric",
        ),
        (
            "evalset",
            "evalset/fake.csv",
            "",
            "2",
            "at least one metric",
        ),
        ("../..", "evalset/fake.csv", "fvd", "2", "without '..'"),
        ("/etc", "evalset/fake.csv", "fvd", "2", "relative"),
        ("evalset", "nothing/here", "clipsim", "2", "does not exist"),
        ("evalset", "evalset/fake.csv", "clipsim", "1", "2–10000"),
    ] {
        let r = queue(&c, &s, &t, real, fake, metrics, n).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        let body = r.text().await.unwrap();
        assert!(body.contains(why), "{why}: {body}");
    }
    assert!(jobs(&c, &s).await.is_empty());

    // CLIPSIM + metamorphic score of the two clips.
    let r = queue(&c, &s, &t, "", "evalset/fake.csv", "clipsim,mt", "2").await;
    assert_eq!(r.status(), StatusCode::OK);
    let id: i64 = r.json().await.unwrap();
    let job = wait(&c, &s, id).await;
    assert_eq!(job["status"], "done", "{job}");
    let msg = job["message"].as_str().unwrap();
    let dir = s.data_dir.path().join("eval").join(id.to_string());
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["protocol"]["n_fake"], 2);
    // each video's numbers and their means are the formulas' over the CLIP's embeddings
    let oracle = Oracle::in_domain();
    let videos = report["details"]["video_text"]["videos"]
        .as_array()
        .unwrap();
    assert_eq!(videos.len(), 2, "{report}");
    assert_eq!(
        report["protocol"]["clip_model"],
        "in-domain CLIP trained on ChronoMagic-Synth"
    );
    let set = s.data_dir.path().join("evalset");
    let (mut clipsim, mut mt) = (0.0, 0.0);
    for (v, (id, prompt)) in videos.iter().zip([
        ("red_clip", "a red flower blooming"),
        ("blue_clip", "blue ice melting"),
    ]) {
        assert_eq!(v["prompt"], prompt, "{report}");
        let (cs, m) = oracle.scores(&set.join(format!("{id}.mp4")), prompt);
        close(
            v["clipsim"].as_f64().unwrap(),
            cs,
            &format!("CLIPSIM of {id}"),
        );
        close(
            v["metamorphic"].as_f64().unwrap(),
            m,
            &format!("MT of {id}"),
        );
        (clipsim, mt) = (clipsim + cs / 2.0, mt + m / 2.0);
    }
    let num = |k: &str| report[k].as_f64().unwrap();
    close(num("clipsim"), clipsim, "CLIPSIM");
    close(num("clipsim_x100"), 100.0 * clipsim, "CLIPSIM ×100");
    close(num("mt"), mt, "MT");
    // the jobs list shows the report's numbers
    let line = format!("CLIPSIM {:.4} · MT {:.4} (N=", num("clipsim"), num("mt"));
    assert!(msg.starts_with(&line), "{msg}");
    assert!(dir.join("report.md").exists());

    // FVD with the I3D weights missing: the job fails and names the file to supply.
    let r = queue(&c, &s, &t, "evalset", "evalset", "fvd", "2").await;
    assert_eq!(r.status(), StatusCode::OK);
    let id: i64 = r.json().await.unwrap();
    let job = wait(&c, &s, id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["message"].as_str().unwrap().contains(MISSING_I3D),
        "{job}"
    );
}
