//! Ingest jobs through the web job queue on the real server (Datasets page): queue_ingest
//! validates its input and checks the role, the worker renders a ChronoMagic-Synth dataset, and
//! cuts and splits a folder of real videos (ffmpeg lavfi segments with known cuts, plus a corrupt
//! file that is skipped and reported) into clips with manifests under `<data dir>/datasets/<id>/`.
use std::{path::Path, process::Command, time::Duration};

use magictime_tests::{create_account, jobs_of, login, post_form, wait_job, Server};
use reqwest::{Client, StatusCode};
use serde_json::Value;

async fn queue(c: &Client, s: &Server, t: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    post_form(c, s, "/api/queue_ingest", t, fields).await
}

/// Queues an accepted ingest job and waits for it to end; returns its id and its row.
async fn run(c: &Client, s: &Server, t: &str, fields: &[(&str, &str)]) -> (i64, Value) {
    let r = queue(c, s, t, fields).await;
    assert_eq!(r.status(), StatusCode::OK);
    let id: i64 = r.json().await.unwrap();
    (
        id,
        wait_job(c, s, "ingest", id, Duration::from_secs(120)).await,
    )
}

/// `incoming/shots.mp4`: three 24-frame lavfi shots (cuts at 24 and 48), 12 fps; and
/// `incoming/broken.mp4`: not a video.
fn make_folder(dir: &Path) {
    let d = dir.join("incoming");
    std::fs::create_dir_all(&d).unwrap();
    let st = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=12"])
        .args(["-f", "lavfi", "-i", "smptebars=size=96x64:rate=12"])
        .args(["-f", "lavfi", "-i", "mandelbrot=size=96x64:rate=12"])
        .args([
            "-filter_complex",
            "[0:v]trim=end_frame=24,setpts=PTS-STARTPTS[a];[1:v]trim=end_frame=24,setpts=PTS-STARTPTS[b];\
             [2:v]trim=end_frame=24,setpts=PTS-STARTPTS[c];[a][b][c]concat=n=3:v=1:a=0,format=yuv420p[out]",
            "-map",
            "[out]",
            "-c:v",
            "libx264",
        ])
        .arg(d.join("shots.mp4"))
        .status()
        .expect("ffmpeg");
    assert!(st.success());
    std::fs::write(d.join("broken.mp4"), b"this is not a video at all").unwrap();
    std::fs::write(d.join("notes.txt"), b"not a video, not even by name").unwrap();
}

fn csv_rows(p: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert_eq!(lines.remove(0), "videoid,name,is_transmit");
    lines
}

#[tokio::test]
async fn ingest_jobs_validate_render_synth_and_split_a_folder() {
    let s = Server::start_with(&["--transnetv2", "/nonexistent/transnetv2.pth"], |d| {
        create_account(d, "res@test.org", "res-pass-12", "researcher");
        create_account(d, "ann@test.org", "ann-pass-12", "annotator");
        make_folder(d);
    });
    let synth = |count: &'static str, size: &'static str, kind: &'static str| {
        vec![
            ("source", "synth"),
            ("count", count),
            ("size", size),
            ("frames", "8"),
            ("seed", "5"),
            ("kind", kind),
        ]
    };
    let (ann, t) = login(&s, "ann@test.org", "ann-pass-12").await;
    let r = queue(&ann, &s, &t, &synth("3", "32", "both")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    // Bad input: 422 with a reason, nothing queued.
    let split = |folder: &'static str| {
        vec![
            ("source", "split"),
            ("folder", folder),
            ("min_frames", "10"),
        ]
    };
    for (fields, why) in [
        (synth("0", "32", "both"), "clips must be 1–10000"),
        (synth("3", "33", "both"), "size must be even"),
        (synth("3", "512", "both"), "32–256"),
        (synth("3", "32", "sideways"), "kind must be one of"),
        (split("../.."), "without '..'"),
        (split("nothing/here"), "does not exist"),
        (split("incoming/notes.txt"), "is not a folder"),
        (vec![("source", "youtube")], "source must be synth or split"),
    ] {
        let r = queue(&c, &s, &t, &fields).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        let body = r.text().await.unwrap();
        assert!(body.contains(why), "{why}: {body}");
    }
    assert!(jobs_of(&c, &s, "ingest").await.is_empty());

    // ChronoMagic-Synth: three clips and their manifests.
    let (id, job) = run(&c, &s, &t, &synth("3", "32", "both")).await;
    assert_eq!(job["status"], "done", "{job}");
    let msg = job["message"].as_str().unwrap();
    assert!(
        msg.starts_with("3 clips (") && msg.contains(&format!("datasets/{id}")),
        "{msg}"
    );
    let dir = s.data_dir.path().join("datasets").join(id.to_string());
    let rows = csv_rows(&dir.join("manifest.csv"));
    assert_eq!(rows.len(), 3, "{rows:?}");
    for row in &rows {
        let videoid = row.split(',').next().unwrap();
        assert!(dir.join(format!("{videoid}.mp4")).is_file(), "{row}");
    }

    // A folder: the real video is cut into its three shots, the corrupt one is skipped.
    let (id, job) = run(&c, &s, &t, &split("incoming")).await;
    assert_eq!(job["status"], "done", "{job}");
    let msg = job["message"].as_str().unwrap();
    assert!(
        msg.starts_with("3 clips from 1 videos (1 skipped") && msg.contains("pixel only"),
        "{msg}"
    );
    let dir = s.data_dir.path().join("datasets").join(id.to_string());
    assert_eq!(csv_rows(&dir.join("clips.csv")).len(), 3);
    let clips: Vec<Value> = std::fs::read_to_string(dir.join("clips.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let spans: Vec<(u64, u64)> = clips
        .iter()
        .map(|c| {
            (
                c["span"][0].as_u64().unwrap(),
                c["span"][1].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(spans, [(0, 24), (24, 48), (48, 72)], "{clips:?}");
    for c in &clips {
        assert!(dir.join(c["file"].as_str().unwrap()).is_file(), "{c}");
    }

    // Nothing to split: the job fails, says why, and leaves no dataset folder behind.
    std::fs::create_dir_all(s.data_dir.path().join("empty")).unwrap();
    let (id, job) = run(&c, &s, &t, &split("empty")).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["message"].as_str().unwrap().contains("no videos"),
        "{job}"
    );
    assert!(!s
        .data_dir
        .path()
        .join("datasets")
        .join(id.to_string())
        .exists());
}
