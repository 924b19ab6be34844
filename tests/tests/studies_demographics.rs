//! Optional demographics: asked after consent when the design enables them, checked against the
//! questions (bad choice → 422, optional questions may be skipped), stored once per participant,
//! refused after completion, exported per participant with hashed ids, counted in the results,
//! and frozen with the rest of a live design.
use std::collections::HashMap;

use magictime_tests::{create_account, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};

mod support;
use support::{
    form, get_json, get_text, import_folder, join, login, make_videos, new_study, set_status, slug,
    Participant,
};

const QUESTIONS: &str =
    "age* | Your age | 18–24; 25–34; 35 or older\ngender | Your gender | woman; man; another gender";

/// Blinding after the join: no reply a participant gets (demographics, answers, completion,
/// refusals included) names a condition.
fn assert_blind(body: &str) {
    for cond in ["CondA", "CondB"] {
        assert!(!body.contains(cond), "{cond} reached a participant: {body}");
    }
}

async fn demographics(s: &Server, slug: &str, p: &Participant, answers: Value) -> StatusCode {
    let r = p
        .post(
            s,
            &format!("/s/{slug}/demographics"),
            json!({"token": p.token, "answers": answers}),
        )
        .await;
    let status = r.status();
    assert_blind(&r.text().await.unwrap());
    status
}

/// Answers every question of every trial (attention checks as instructed) and completes.
async fn finish(s: &Server, slug: &str, p: &Participant) {
    for tr in p.state["trials"].as_array().unwrap() {
        for q in tr["questions"].as_array().unwrap() {
            let text = q["text"].as_str().unwrap();
            let choice = text
                .split("choose video ")
                .nth(1)
                .map(|r| r.split(' ').next().unwrap().parse::<i64>().unwrap() - 1)
                .unwrap_or(0);
            let r = p
                .post(
                    s,
                    "/s/api/answer",
                    json!({"token": p.token, "trial": tr["id"], "criterion": q["criterion"],
                           "choice": choice, "rt_ms": 4000, "viewed": true}),
                )
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            assert_blind(&r.text().await.unwrap());
        }
    }
    let r = p
        .post(s, &format!("/s/{slug}/complete"), json!({"token": p.token}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_blind(&r.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn demographics_are_optional_checked_stored_once_and_exported() {
    let s = Server::start(|d| {
        create_account(d, "res@test.org", "res-pass-12", "researcher");
        make_videos(d, &[("CondA", "red"), ("CondB", "blue")], &["a_flower"]);
    });
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;

    // Off by default: participants get no questions.
    let plain = new_study(&s, &c, &t, "1", &[]).await;
    let d = get_json(&s, &c, &format!("/studies/{plain}/design.json")).await;
    assert_eq!(d["design"]["demographics"]["enabled"], false);

    let flags = [
        ("flags", "1"),
        ("allow_tie", "on"),
        ("practice_trial", "on"),
        ("demographics_enabled", "on"),
        ("demographics", QUESTIONS),
    ];
    // A question with one choice is refused, nothing created.
    let bad = form(
        &c,
        &s,
        &t,
        "/studies/new",
        &[
            ("title", "x"),
            ("flags", "1"),
            ("demographics", "age | Your age | only"),
        ],
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let id = new_study(&s, &c, &t, "1", &flags).await;
    let d = get_json(&s, &c, &format!("/studies/{id}/design.json")).await;
    let dm = &d["design"]["demographics"];
    assert_eq!(dm["enabled"], true);
    assert_eq!(dm["questions"][0]["name"], "age");
    assert_eq!(dm["questions"][0]["required"], true);
    assert_eq!(dm["questions"][1]["required"], false);
    assert_eq!(dm["questions"][1]["choices"].as_array().unwrap().len(), 3);
    import_folder(&s, &c, &t, id).await;
    set_status(&s, &c, &t, id, "live").await;
    let slug = slug(&s, &c, id).await;
    let page = get_text(&s, &c, &format!("/s/{slug}")).await;
    assert!(page.contains("s-demographics"));

    let a = join(&s, &slug, json!({"PROLIFIC_PID": "PID-A-secret"})).await;
    assert_eq!(a.state["demographics"].as_array().unwrap().len(), 2);
    assert_eq!(a.state["demographics_done"], false);

    // Bad answers: 422, nothing stored.
    for bad in [
        json!({"age": "12"}),
        json!({"age": "25–34", "income": "high"}),
        json!({"gender": "man"}), // the required question is missing
    ] {
        assert_eq!(
            demographics(&s, &slug, &a, bad.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    let forged = Participant {
        token: "ab".repeat(32),
        ..join(&s, &slug, json!({})).await
    };
    assert_eq!(
        demographics(&s, &slug, &forged, json!({"age": "25–34"})).await,
        StatusCode::NOT_FOUND
    );
    let csv = get_text(&s, &c, &format!("/studies/{id}/demographics.csv")).await;
    assert_eq!(csv, "participant,participant_seq,pilot,age,gender\n");

    // The optional question may be skipped; the answers are given once.
    assert_eq!(
        demographics(&s, &slug, &a, json!({"age": "25–34", "gender": ""})).await,
        StatusCode::OK
    );
    assert_eq!(
        demographics(&s, &slug, &a, json!({"age": "18–24"})).await,
        StatusCode::CONFLICT
    );
    let mut body = json!({"PROLIFIC_PID": "PID-A-secret"});
    body["token"] = json!(a.token);
    let again = join(&s, &slug, body).await;
    assert_eq!(again.state["demographics_done"], true);

    // After completion: refused.
    let b = join(&s, &slug, json!({"PROLIFIC_PID": "PID-B"})).await;
    finish(&s, &slug, &b).await;
    assert_eq!(
        demographics(&s, &slug, &b, json!({"age": "18–24"})).await,
        StatusCode::CONFLICT
    );
    let c3 = join(&s, &slug, json!({"PROLIFIC_PID": "PID-C"})).await;
    assert_eq!(
        demographics(&s, &slug, &c3, json!({"age": "18–24", "gender": "man"})).await,
        StatusCode::OK
    );
    finish(&s, &slug, &a).await;

    // Export: one row per participant who answered, ids hashed as in the trials export.
    let csv = get_text(&s, &c, &format!("/studies/{id}/demographics.csv")).await;
    assert!(!csv.contains("PID-A-secret"), "raw participant id in {csv}");
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{csv}");
    let trials_csv = get_text(&s, &c, &format!("/studies/{id}/export.csv")).await;
    let hashes: HashMap<&str, &str> = trials_csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1], f[0]) // participant_seq → hash
        })
        .collect();
    let row_a = rows
        .iter()
        .find(|r| r[1] == "0")
        .expect("participant A (seq 0)");
    assert_eq!(row_a[0], hashes["0"], "same hashed id as the trials export");
    assert_eq!(&row_a[3..], &["25–34", ""]);
    assert!(rows.iter().any(|r| r[3..] == ["18–24", "man"]));

    // Counts in the analysis JSON and on the results page.
    let res = get_json(&s, &c, &format!("/studies/{id}/results.json")).await;
    let age = &res["demographics"][0];
    assert_eq!(age["question"], "age");
    assert_eq!(
        age["counts"],
        json!([["18–24", 1], ["25–34", 1], ["35 or older", 0]])
    );
    assert_eq!(res["demographics"][1]["no_answer"], 1);
    let html = get_text(&s, &c, &format!("/studies/{id}")).await;
    assert!(html.contains("data-testid=\"demographics\"") && html.contains("Your gender"));

    // A live design is frozen, its demographics included.
    let r = form(
        &c,
        &s,
        &t,
        &format!("/studies/{id}/design"),
        &[("flags", "1"), ("demographics", "age | Age | young; old")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let d = get_json(&s, &c, &format!("/studies/{id}/design.json")).await;
    assert_eq!(
        d["design"]["demographics"]["questions"][0]["text"],
        "Your age"
    );

    // Many participants at once: each submission waits its turn for the database (none fails
    // with SQLITE_BUSY as a 500).
    let mut crowd = Vec::new();
    for i in 0..24 {
        crowd.push(join(&s, &slug, json!({"PROLIFIC_PID": format!("crowd-{i}")})).await);
    }
    let mut set = tokio::task::JoinSet::new();
    for p in crowd {
        let url = s.url(&format!("/s/{slug}/demographics"));
        set.spawn(async move {
            p.c.post(url)
                .header("x-csrf-token", &p.t)
                .json(&json!({"token": p.token, "answers": {"age": "35 or older"}}))
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    let codes = set.join_all().await;
    assert!(codes.iter().all(|c| *c == StatusCode::OK), "{codes:?}");
}
