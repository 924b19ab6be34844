//! Helpers shared by the study feature tests (`studies_*.rs`): a researcher's session, a study
//! made from small ffmpeg videos, a participant's browser.
#![allow(dead_code)] // each test file uses a subset

use std::{path::Path, process::Command};

#[allow(unused_imports)] // the annotation tests use their own `annotation::login`
pub use magictime_tests::login;
use magictime_tests::{client, create_account, Server};
use reqwest::{header, Client, StatusCode};
use serde_json::Value;

pub async fn form(
    c: &Client,
    s: &Server,
    t: &str,
    path: &str,
    f: &[(&str, &str)],
) -> reqwest::Response {
    let mut f: Vec<(&str, &str)> = f.to_vec();
    f.push(("csrf_token", t));
    c.post(s.url(path)).form(&f).send().await.unwrap()
}

/// `form` asking for a JSON answer instead of a redirect.
pub async fn form_json(
    c: &Client,
    s: &Server,
    t: &str,
    path: &str,
    f: &[(&str, &str)],
) -> reqwest::Response {
    let mut f: Vec<(&str, &str)> = f.to_vec();
    f.push(("csrf_token", t));
    c.post(s.url(path))
        .header(header::ACCEPT, "application/json")
        .form(&f)
        .send()
        .await
        .unwrap()
}

/// Solid-colour test videos laid out `<dir>/import/<condition>/<prompt>.mp4`.
pub fn make_videos(dir: &Path, conds: &[(&str, &str)], prompts: &[&str]) {
    for (cond, colour) in conds {
        let d = dir.join("import").join(cond);
        std::fs::create_dir_all(&d).unwrap();
        for p in prompts {
            let st = Command::new("ffmpeg")
                .args(["-y", "-loglevel", "error", "-f", "lavfi", "-i"])
                .arg(format!("color=c={colour}:s=64x64:r=8:d=1"))
                .args(["-pix_fmt", "yuv420p"])
                .arg(d.join(format!("{p}.mp4")))
                .status()
                .expect("ffmpeg");
            assert!(st.success());
        }
    }
}

/// The design fields that let a scripted participant answer at once: no minimum time, no
/// full view (the server would otherwise wait that long by its own clock); ties and the
/// practice trial on, as by default.
pub const UNPACED: [(&str, &str); 4] = [
    ("min_time_ms", "0"),
    ("flags", "1"),
    ("allow_tie", "on"),
    ("practice_trial", "on"),
];

/// Creates a draft pairwise study (64×64 @ 8 fps) with extra design fields; returns its id.
/// Unless `extra` sets the checkboxes (`flags`) itself, the study is [`UNPACED`].
pub async fn new_study(
    s: &Server,
    c: &Client,
    t: &str,
    trials: &str,
    extra: &[(&str, &str)],
) -> i64 {
    let mut f = vec![
        ("title", "Feature study"),
        ("kind", "pairwise"),
        ("trials_per_participant", trials),
        ("width", "64"),
        ("height", "64"),
        ("fps", "8"),
    ];
    if !extra.iter().any(|(k, _)| *k == "flags") {
        f.extend_from_slice(&UNPACED);
    } else {
        f.push(("min_time_ms", "0"));
    }
    f.extend_from_slice(extra);
    let r = form(c, s, t, "/studies/new", &f).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let loc = r.headers()[header::LOCATION].to_str().unwrap().to_owned();
    loc.rsplit('/').next().unwrap().parse().unwrap()
}

/// Imports `<data dir>/import` into the study.
pub async fn import_folder(s: &Server, c: &Client, t: &str, id: i64) {
    let path = s.data_dir.path().join("import");
    let r = form(
        c,
        s,
        t,
        &format!("/studies/{id}/import"),
        &[("path", path.to_str().unwrap())],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
}

pub async fn set_status(s: &Server, c: &Client, t: &str, id: i64, to: &str) {
    let r = form(c, s, t, &format!("/studies/{id}/status"), &[("to", to)]).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
}

pub async fn get_json(s: &Server, c: &Client, path: &str) -> Value {
    let r = c.get(s.url(path)).send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

pub async fn get_text(s: &Server, c: &Client, path: &str) -> String {
    let r = c.get(s.url(path)).send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.text().await.unwrap()
}

/// The participant link's slug from the manage page.
pub async fn slug(s: &Server, c: &Client, id: i64) -> String {
    let html = get_text(s, c, &format!("/studies/{id}")).await;
    let at = html.find("href=\"/s/").unwrap() + 9;
    html[at..].split('"').next().unwrap().to_owned()
}

/// A participant's browser: its cookies, CSRF token, resume token and state; `page` is the
/// study page and the join answer (everything the participant was sent).
pub struct Participant {
    pub c: Client,
    pub t: String,
    pub token: String,
    pub state: Value,
    pub page: String,
}

/// Opens `/s/<slug>` in a fresh browser and joins; panics unless the join succeeds.
pub async fn join(s: &Server, slug: &str, body: Value) -> Participant {
    match try_join(s, slug, body).await {
        Ok(p) => p,
        Err((st, text)) => panic!("join: {st}: {text}"),
    }
}

/// [`join`] that returns a refusal as (status, body).
pub async fn try_join(
    s: &Server,
    slug: &str,
    body: Value,
) -> Result<Participant, (StatusCode, String)> {
    let c = client();
    let page = c.get(s.url(&format!("/s/{slug}"))).send().await.unwrap();
    let t = magictime_tests::set_cookie(&page, "mt_csrf").expect("csrf cookie");
    let page = page.text().await.unwrap();
    let r = c
        .post(s.url(&format!("/s/{slug}/join")))
        .header("x-csrf-token", &t)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    if !status.is_success() {
        return Err((status, text));
    }
    let state: Value = serde_json::from_str(&text).unwrap();
    Ok(Participant {
        c,
        t,
        token: state["token"].as_str().unwrap().to_owned(),
        state,
        page: page + &text,
    })
}

impl Participant {
    pub async fn post(&self, s: &Server, path: &str, body: Value) -> reqwest::Response {
        self.c
            .post(s.url(path))
            .header("x-csrf-token", &self.t)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

/// A server with a researcher (`res@test.org`), a second researcher and an annotator (the
/// hostile-input suites).
pub fn server_with(args: &[&str]) -> Server {
    Server::start_with(args, |d| {
        create_account(d, "res@test.org", "res-pass-12", "researcher");
        create_account(d, "other@test.org", "other-pass-12", "researcher");
        create_account(d, "ann@test.org", "ann-pass-12", "annotator");
    })
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
pub fn proc_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}
pub mod annotation;
pub mod pairwise;
