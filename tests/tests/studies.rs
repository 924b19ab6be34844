//! User studies against the real server: design flow and live-design immutability, balanced
//! assignment, blinding (no condition name reaches a participant), forged/repeated answers
//! refused, rate limit, resume and one submission per participant id, results and exports.
use std::{collections::HashMap, path::Path, process::Command};

use magictime_tests::{client, create_account, Server};
use reqwest::{header, Client, StatusCode};

mod support;
use serde_json::{json, Value};
use support::{form, get_json, login, slug, try_join as join, Participant, UNPACED};

const CONDS: [&str; 3] = ["CondAlphaSecret", "CondBetaSecret", "CondGammaSecret"];
const PROMPTS: [&str; 2] = ["a_flower_blooming", "ice_melting"];

/// Small test videos of different sizes/rates, laid out `<condition>/<prompt>.mp4`.
fn make_videos(dir: &Path) {
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

fn server() -> Server {
    Server::start(|dir| {
        create_account(dir, "res@test.org", "res-pass-12", "researcher");
        create_account(dir, "other@test.org", "other-pass-12", "researcher");
        make_videos(dir);
    })
}

/// Creates a 3-condition × 2-prompt pairwise study, imports the videos and returns its id.
/// `paced`: the design's minimum time (3 s) and full view (1 s videos), which the server also
/// enforces by its own clock; otherwise [`UNPACED`], for participants scripted to answer at once.
async fn make_study(s: &Server, c: &Client, t: &str, trials: &str, paced: bool) -> i64 {
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
    id
}

async fn design_json(s: &Server, c: &Client, id: i64) -> Value {
    get_json(s, c, &format!("/studies/{id}/design.json")).await
}

impl Participant {
    async fn answer(
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
    async fn answer_as(
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

    fn trials(&self) -> Vec<Value> {
        self.state["trials"].as_array().unwrap().clone()
    }
}

/// The answer a participant who prefers conditions in `CONDS` order gives (checks answered correctly).
fn choose(q: &Value, trial: &Value, media_cond: &HashMap<String, String>) -> i64 {
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
    if media[0] == media[1] {
        return -1; // gold: identical pair
    }
    let rank = |m: &str| CONDS.iter().position(|c| *c == media_cond[m]).unwrap();
    if rank(media[0]) < rank(media[1]) {
        0
    } else {
        1
    }
}

fn media_conditions(design: &Value) -> HashMap<String, String> {
    design["stimuli"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                format!("/s/m/{}", s["media_id"].as_str().unwrap()),
                s["condition"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn import_normalises_and_live_design_is_frozen() {
    let s = server();
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let id = make_study(&s, &c, &t, "3", false).await;
    let d = design_json(&s, &c, id).await;
    let stimuli = d["stimuli"].as_array().unwrap();
    assert_eq!(stimuli.len(), 6);
    for st in stimuli {
        assert_eq!(
            (
                st["width"].as_i64(),
                st["height"].as_i64(),
                st["fps"].as_f64()
            ),
            (Some(64), Some(64), Some(8.0)),
            "{st}"
        );
        assert_eq!(st["frames"].as_i64(), Some(8), "{st}");
    }
    assert_eq!(d["design"]["criteria"].as_array().unwrap().len(), 4);

    // Another researcher cannot see it; anonymous users cannot either.
    let (c2, _) = login(&s, "other@test.org", "other-pass-12").await;
    assert_eq!(
        c2.get(s.url(&format!("/studies/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        client()
            .get(s.url(&format!("/studies/{id}/export.csv")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Imports from outside the data dir are refused.
    let r = form(
        &c,
        &s,
        &t,
        &format!("/studies/{id}/import"),
        &[("path", "/etc")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Draft: editable. Criteria wording changes.
    let r = form(
        &c,
        &s,
        &t,
        &format!("/studies/{id}/design"),
        &[(
            "criteria",
            "quality | Which looks better?\nmotion | Which moves more?",
        )],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        design_json(&s, &c, id).await["design"]["criteria"][1]["question"],
        "Which moves more?"
    );

    assert_eq!(
        form(
            &c,
            &s,
            &t,
            &format!("/studies/{id}/status"),
            &[("to", "live")]
        )
        .await
        .status(),
        StatusCode::SEE_OTHER
    );
    let r = form(
        &c,
        &s,
        &t,
        &format!("/studies/{id}/design"),
        &[("trials_per_participant", "2")],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "live design must not change"
    );
    let path = s.data_dir.path().join("import");
    let r = form(
        &c,
        &s,
        &t,
        &format!("/studies/{id}/import"),
        &[("path", path.to_str().unwrap())],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "live stimuli must not change"
    );
    assert_eq!(
        form(
            &c,
            &s,
            &t,
            &format!("/studies/{id}/status"),
            &[("to", "draft")]
        )
        .await
        .status(),
        StatusCode::CONFLICT
    );
    let after = design_json(&s, &c, id).await;
    assert_eq!(after["design"]["trials_per_participant"], 3);
    assert_eq!(after["stimuli"].as_array().unwrap().len(), 6);
    assert_eq!(
        form(
            &c,
            &s,
            &t,
            &format!("/studies/{id}/status"),
            &[("to", "closed")]
        )
        .await
        .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn assignment_is_balanced_and_participants_never_see_conditions() {
    let s = server();
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let id = make_study(&s, &c, &t, "3", false).await; // 2 prompts × 3 pairs = 6 units
    let slug = slug(&s, &c, id).await;
    // Draft studies take no participants.
    assert_eq!(
        join(&s, &slug, json!({})).await.err().unwrap().0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        form(
            &c,
            &s,
            &t,
            &format!("/studies/{id}/status"),
            &[("to", "live")]
        )
        .await
        .status(),
        StatusCode::SEE_OTHER
    );
    let mc = media_conditions(&design_json(&s, &c, id).await);

    let mut units: HashMap<(String, Vec<String>), usize> = HashMap::new();
    let mut left: HashMap<String, usize> = HashMap::new();
    for i in 0..8 {
        let p = join(&s, &slug, json!({"PROLIFIC_PID": format!("pid{i}")}))
            .await
            .unwrap();
        for name in CONDS {
            assert!(
                !p.page.contains(name),
                "condition name {name} leaked to a participant"
            );
        }
        assert!(
            !p.page.to_lowercase().contains("condition"),
            "the word condition leaked"
        );
        let trials = p.trials();
        if i == 0 {
            // The media's headers do not tell when each video was imported.
            let url = trials[1]["media"][0].as_str().unwrap();
            let r = p.c.get(s.url(url)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{url}");
            assert!(r.headers().get(header::LAST_MODIFIED).is_none(), "{url}");
            assert!(r.headers().get(header::ETAG).is_none(), "{url}");
        }
        // practice + 3 main + attention + gold
        assert_eq!(trials.len(), 6);
        assert!(trials[0]["practice"].as_bool().unwrap());
        for tr in &trials[1..] {
            let media: Vec<String> = tr["media"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap().to_owned())
                .collect();
            if tr["questions"].as_array().unwrap().len() == 4 {
                let mut conds: Vec<String> = media.iter().map(|m| mc[m].clone()).collect();
                *left.entry(conds[0].clone()).or_default() += 1;
                conds.sort();
                *units
                    .entry((tr["prompt"].as_str().unwrap().to_owned(), conds))
                    .or_default() += 1;
            }
        }
        if i == 0 {
            // Media by opaque id: plain MP4 without the condition in it; ranges work.
            let m = trials[1]["media"][0].as_str().unwrap();
            let r =
                p.c.get(s.url(m))
                    .header(header::RANGE, "bytes=0-99")
                    .send()
                    .await
                    .unwrap();
            assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
            let r = p.c.get(s.url(m)).send().await.unwrap();
            assert_eq!(r.headers()[header::CONTENT_TYPE], "video/mp4");
            let bytes = r.bytes().await.unwrap();
            assert!(
                CONDS
                    .iter()
                    .all(|c| !String::from_utf8_lossy(&bytes).contains(c)),
                "metadata leaked"
            );
        }
    }
    // 8 participants × 3 trials = 24 = 4 rounds of the 6 units.
    assert_eq!(units.len(), 6, "{units:?}");
    assert!(units.values().all(|&n| n == 4), "unbalanced: {units:?}");
    assert!(left.len() >= 2, "left/right not randomised: {left:?}");
}

#[tokio::test]
async fn forged_repeated_and_invalid_answers_are_rejected() {
    let s = server();
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let id = make_study(&s, &c, &t, "2", true).await;
    let slug = slug(&s, &c, id).await;
    form(
        &c,
        &s,
        &t,
        &format!("/studies/{id}/status"),
        &[("to", "live")],
    )
    .await;
    let a = join(&s, &slug, json!({})).await.unwrap();
    let b = join(&s, &slug, json!({})).await.unwrap();
    let ta = a.trials()[1]["id"].as_i64().unwrap();
    let tb = b.trials()[1]["id"].as_i64().unwrap();

    // A script that claims 4 s and full view right after joining: the server's own clock says
    // otherwise (3 s minimum since the participant joined).
    assert_eq!(
        a.answer(&s, ta, 0, 0, 4000, true).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too fast by the server's clock"
    );
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(a.answer(&s, ta, 0, 0, 4000, true).await, StatusCode::OK);
    assert_eq!(
        a.answer(&s, ta, 0, 1, 4000, true).await,
        StatusCode::CONFLICT,
        "changing an answer"
    );
    assert_eq!(
        a.answer(&s, tb, 0, 0, 4000, true).await,
        StatusCode::FORBIDDEN,
        "someone else's trial"
    );
    assert_eq!(
        a.answer(&s, 999_999, 0, 0, 4000, true).await,
        StatusCode::FORBIDDEN
    );
    let forged = "ab".repeat(32);
    assert_eq!(
        a.answer_as(&s, &forged, ta, 1, 0, 4000, true).await,
        StatusCode::FORBIDDEN,
        "forged token"
    );
    assert_eq!(
        a.answer(&s, ta, 7, 0, 4000, true).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no such question"
    );
    assert_eq!(
        a.answer(&s, ta, 1, 2, 4000, true).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no such video"
    );
    assert_eq!(
        a.answer(&s, ta, 1, 0, 100, true).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too fast"
    );
    assert_eq!(
        a.answer(&s, ta, 1, 0, 4000, false).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not viewed"
    );
    // The next trial, answered right after the last answer: too fast by the server's clock.
    let ta2 = a.trials()[2]["id"].as_i64().unwrap();
    assert_eq!(
        a.answer(&s, ta2, 0, 0, 4000, true).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the next trial at once"
    );
    // Without the CSRF header the request never reaches the handler.
    let r = a.c.post(s.url("/s/api/answer")).json(&json!({"token": a.token, "trial": ta, "criterion": 1, "choice": 0, "rt_ms": 4000, "viewed": true})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Exactly one answer stored.
    let csv = c
        .get(s.url(&format!("/studies/{id}/export.csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");

    // Rate limit: a burst far above a human's pace is cut off.
    let mut limited = 0;
    for _ in 0..60 {
        if b.answer(&s, tb, 9, 0, 4000, true).await == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert!(limited > 0, "no rate limit");
}

#[tokio::test]
async fn resume_one_submission_per_id_results_and_exports() {
    let s = server();
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let id = make_study(&s, &c, &t, "3", false).await;
    form(
        &c,
        &s,
        &t,
        &format!("/studies/{id}/design"),
        &[(
            "redirect_url",
            "https://app.prolific.com/submissions/complete?cc={code}",
        )],
    )
    .await;
    let slug = slug(&s, &c, id).await;
    form(
        &c,
        &s,
        &t,
        &format!("/studies/{id}/status"),
        &[("to", "live")],
    )
    .await;
    let design = design_json(&s, &c, id).await;
    let mc = media_conditions(&design);
    let code = design["design"]["completion_code"]
        .as_str()
        .unwrap()
        .to_owned();

    let prolific = json!({"PROLIFIC_PID": "PID-secret-42", "STUDY_ID": "st1", "SESSION_ID": "se1"});
    let p = join(&s, &slug, prolific.clone()).await.unwrap();
    let trials = p.trials();
    let first = &trials[0];
    assert_eq!(
        p.answer(&s, first["id"].as_i64().unwrap(), 0, 0, 4000, true)
            .await,
        StatusCode::OK
    );
    // Finishing early is refused.
    let r =
        p.c.post(s.url(&format!("/s/{slug}/complete")))
            .header("x-csrf-token", &p.t)
            .json(&json!({"token": p.token}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // Closing the tab and coming back with the stored token resumes with the answer kept.
    let mut body = prolific.clone();
    body["token"] = json!(p.token);
    let again = join(&s, &slug, body).await.unwrap();
    assert_eq!(again.token, p.token);
    assert_eq!(again.trials()[0]["answered"], json!([0]));
    // The same Prolific id without the token (another browser) cannot take part twice.
    assert_eq!(
        join(&s, &slug, prolific).await.err().unwrap().0,
        StatusCode::CONFLICT
    );

    // Four participants answer everything, preferring conditions in CONDS order.
    let mut all = vec![again];
    for i in 0..3 {
        all.push(
            join(&s, &slug, json!({"PROLIFIC_PID": format!("p{i}")}))
                .await
                .unwrap(),
        );
    }
    let (mut stored, mut last_n) = (0, 0);
    for p in &all {
        for tr in p.trials() {
            for q in tr["questions"].as_array().unwrap() {
                let crit = q["criterion"].as_i64().unwrap();
                if tr["answered"].as_array().unwrap().contains(&json!(crit)) {
                    stored += 1;
                    continue;
                }
                let st = p
                    .answer(
                        &s,
                        tr["id"].as_i64().unwrap(),
                        crit,
                        choose(q, &tr, &mc),
                        4000,
                        true,
                    )
                    .await;
                assert_eq!(st, StatusCode::OK);
                stored += 1;
            }
        }
        let r =
            p.c.post(s.url(&format!("/s/{slug}/complete")))
                .header("x-csrf-token", &p.t)
                .json(&json!({"token": p.token}))
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let done: Value = r.json().await.unwrap();
        assert_eq!(done["completion_code"], code.as_str());
        // The statistics follow the answers as they arrive (they are cached between views).
        let res = support::get_json(&s, &c, &format!("/studies/{id}/results.json")).await;
        let n = res["criteria"][0]["n_answers"].as_u64().unwrap();
        assert!(n > last_n, "{n} answers analysed after {last_n}");
        last_n = n;
        assert_eq!(
            done["redirect"],
            format!("https://app.prolific.com/submissions/complete?cc={code}").as_str()
        );
    }

    let res: Value = c
        .get(s.url(&format!("/studies/{id}/results.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(res["dashboard"]["participants"], 4);
    assert_eq!(res["dashboard"]["completed"], 4);
    assert_eq!(res["dashboard"]["excluded"], json!([]));
    assert_eq!(res["dashboard"]["answers"], stored);
    let crit = &res["criteria"][0];
    let rate = |name: &str| {
        crit["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["condition"] == name)
            .unwrap()["win_rate"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(rate(CONDS[0]), 1.0);
    assert_eq!(rate(CONDS[2]), 0.0);
    let bt = |name: &str| {
        crit["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["condition"] == name)
            .unwrap()["bt_score"]
            .as_f64()
            .unwrap()
    };
    assert!(bt(CONDS[0]) > bt(CONDS[1]) && bt(CONDS[1]) > bt(CONDS[2]));
    assert!(crit["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["p_holm"].as_f64().unwrap() >= p["p_value"].as_f64().unwrap()));

    let csv = c
        .get(s.url(&format!("/studies/{id}/export.csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("participant,participant_seq,pilot,trial_id"));
    assert_eq!(csv.lines().count(), stored + 1);
    assert!(
        !csv.contains("PID-secret-42"),
        "participant ids must be hashed"
    );
    assert!(csv.contains(CONDS[0]));
    let jsonl = c
        .get(s.url(&format!("/studies/{id}/export.jsonl")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(jsonl.lines().count(), stored);
    let row: Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert!(row["trial_seed"].is_i64() && row["rt_ms"] == 4000);
    let svg = c
        .get(s.url(&format!("/studies/{id}/plot/0/bars.svg")))
        .send()
        .await
        .unwrap();
    assert_eq!(svg.headers()[header::CONTENT_TYPE], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains(CONDS[1]));
    let html = c
        .get(s.url(&format!("/studies/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Participants: 4 · completed: 4"));
}
