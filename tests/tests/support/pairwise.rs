//! A 3-condition × 2-prompt pairwise study made from small ffmpeg videos, and a participant who
//! prefers conditions in [`CONDS`] order: shared by the `studies*.rs` tests.
use std::{collections::HashMap, path::Path, process::Command};

use magictime_tests::{create_account, Server};
use reqwest::{header, Client, StatusCode};
use serde_json::{json, Value};

use super::{form, get_json, import_folder, Participant, UNPACED};

pub const CONDS: [&str; 3] = ["CondAlphaSecret", "CondBetaSecret", "CondGammaSecret"];
pub const PROMPTS: [&str; 2] = ["a_flower_blooming", "ice_melting"];

/// Small test videos of different sizes/rates, laid out `<condition>/<prompt>.mp4`.
pub fn make_videos(dir: &Path) {
    let colours = ["red", "green", "blue"];
    for (ci, cond) in CONDS.iter().enumerate() {
        let d = dir.join("import").join(cond);
        std::fs::create_dir_all(&d).unwrap();
        for p in PROMPTS {
            let size = if ci == 0 { "80x60" } else { "64x64" };
            let rate = if ci == 1 { 12 } else { 8 };
            let st = Command::new("ffmpeg")
                .args(["-y", "-loglevel", "error", "-f", "lavfi", "-i"])
                .arg(format!("color=c={}:s={size}:r={rate}:d=1", colours[ci]))
                .args(["-metadata", &format!("title={cond}"), "-pix_fmt", "yuv420p"])
                .arg(d.join(format!("{p}.mp4")))
                .status()
                .expect("ffmpeg");
            assert!(st.success());
        }
    }
}

pub fn server() -> Server {
    Server::start(|dir| {
        create_account(dir, "res@test.org", "res-pass-12", "researcher");
        create_account(dir, "other@test.org", "other-pass-12", "researcher");
        make_videos(dir);
    })
}

/// Creates a 3-condition × 2-prompt pairwise study, imports the videos and returns its id.
/// `paced`: the design's minimum time (3 s) and full view (1 s videos), which the server also
/// enforces by its own clock; otherwise [`UNPACED`], for participants scripted to answer at once.
pub async fn make_study(s: &Server, c: &Client, t: &str, trials: &str, paced: bool) -> i64 {
    let r = form(
        c,
        s,
        t,
        "/studies/new",
        &[
            ("title", "Test study"),
            ("kind", "pairwise"),
            ("trials_per_participant", trials),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let loc = r.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let id: i64 = loc.rsplit('/').next().unwrap().parse().unwrap();
    let r = form(
        c,
        s,
        t,
        &format!("/studies/{id}/design"),
        &[
            &[("width", "64"), ("height", "64"), ("fps", "8")][..],
            if paced { &[] } else { &UNPACED[..] },
        ]
        .concat(),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    import_folder(s, c, t, id).await;
    id
}

pub async fn design_json(s: &Server, c: &Client, id: i64) -> Value {
    get_json(s, c, &format!("/studies/{id}/design.json")).await
}

impl Participant {
    pub async fn answer(
        &self,
        s: &Server,
        trial: i64,
        criterion: i64,
        choice: i64,
        rt: i64,
        viewed: bool,
    ) -> StatusCode {
        self.answer_as(s, &self.token, trial, criterion, choice, rt, viewed)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn answer_as(
        &self,
        s: &Server,
        token: &str,
        trial: i64,
        criterion: i64,
        choice: i64,
        rt: i64,
        viewed: bool,
    ) -> StatusCode {
        self.c
            .post(s.url("/s/api/answer"))
            .header("x-csrf-token", &self.t)
            .json(&json!({"token": token, "trial": trial, "criterion": criterion, "choice": choice, "rt_ms": rt, "viewed": viewed}))
            .send()
            .await
            .unwrap()
            .status()
    }

    pub fn trials(&self) -> Vec<Value> {
        self.state["trials"].as_array().unwrap().clone()
    }
}

/// The answer a participant who prefers conditions in `CONDS` order gives (checks answered correctly).
pub fn choose(q: &Value, trial: &Value, media_cond: &HashMap<String, String>) -> i64 {
    let text = q["text"].as_str().unwrap();
    if let Some(rest) = text.split("choose video ").nth(1) {
        return rest.split(' ').next().unwrap().parse::<i64>().unwrap() - 1;
    }
    let media: Vec<&str> = trial["media"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    if media_cond[media[0]] == media_cond[media[1]] {
        return -1; // gold: a video against itself
    }
    let rank = |m: &str| CONDS.iter().position(|c| *c == media_cond[m]).unwrap();
    if rank(media[0]) < rank(media[1]) {
        0
    } else {
        1
    }
}

/// The condition of every stimulus file, by content: the researcher fetches each stimulus by its
/// media id (participants never see media ids).
pub async fn stimulus_conditions(
    s: &Server,
    c: &Client,
    design: &Value,
) -> HashMap<Vec<u8>, String> {
    let mut by_content = HashMap::new();
    for st in design["stimuli"].as_array().unwrap() {
        let url = format!("/s/m/{}", st["media_id"].as_str().unwrap());
        let r = c.get(s.url(&url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        by_content.insert(
            r.bytes().await.unwrap().to_vec(),
            st["condition"].as_str().unwrap().to_owned(),
        );
    }
    by_content
}

/// The condition behind each media address of a participant's trials (fetched as the
/// participant).
pub async fn media_conditions(
    s: &Server,
    p: &Client,
    trials: &[Value],
    by_content: &HashMap<Vec<u8>, String>,
) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for tr in trials {
        for m in tr["media"].as_array().unwrap() {
            let url = m.as_str().unwrap();
            let r = p.get(s.url(url)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{url}");
            let bytes = r.bytes().await.unwrap();
            let cond = by_content[without_free_tail(&bytes)].clone();
            out.insert(url.to_owned(), cond);
        }
    }
    out
}

/// An MP4 without the `free` box participants' copies end with (top-level boxes walked by size).
pub fn without_free_tail(mp4: &[u8]) -> &[u8] {
    let mut off = 0usize;
    while off + 8 <= mp4.len() {
        let size = u32::from_be_bytes(mp4[off..off + 4].try_into().unwrap()) as usize;
        let size = match size {
            0 => mp4.len() - off,
            1 => u64::from_be_bytes(mp4[off + 8..off + 16].try_into().unwrap()) as usize,
            n => n,
        };
        if &mp4[off + 4..off + 8] == b"free" && off + size == mp4.len() {
            return &mp4[..off];
        }
        off += size.max(8);
    }
    mp4
}
