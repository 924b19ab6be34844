//! Hostile input from the participants' side against the real server: answers to a closed
//! study, join floods and oversized panel fields, answer floods with made-up tokens.
use magictime_tests::{client, Server};
use reqwest::StatusCode;

mod support;
use support::{login, new_study, proc_kib, server_with};

/// A live study of two conditions (64×64 @ 8 fps), its slug, and two participants' trials.
async fn live_study(s: &Server, c: &reqwest::Client, t: &str) -> (i64, String) {
    support::make_videos(
        s.data_dir.path(),
        &[("A", "red"), ("B", "blue")],
        &["a rose", "ice cube"],
    );
    let id = new_study(s, c, t, "2", &[]).await;
    support::import_folder(s, c, t, id).await;
    support::set_status(s, c, t, id, "live").await;
    let slug = support::slug(s, c, id).await;
    (id, slug)
}

async fn answer(
    s: &Server,
    p: &support::Participant,
    trial: i64,
    criterion: i64,
) -> (u16, serde_json::Value) {
    let r = p
        .post(
            s,
            "/s/api/answer",
            serde_json::json!({"token": p.token, "trial": trial, "criterion": criterion, "choice": 0, "rt_ms": 4000, "viewed": true}),
        )
        .await;
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn closing_a_study_stops_answers_at_once() {
    let s = server_with(&[]);
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let (id, slug) = live_study(&s, &c, &t).await;
    let p = support::join(&s, &slug, serde_json::json!({})).await;
    let trials = p.state["trials"].as_array().unwrap().clone();
    assert!(trials.len() >= 2, "{trials:?}");
    let (t0, t1) = (
        trials[0]["id"].as_i64().unwrap(),
        trials[1]["id"].as_i64().unwrap(),
    );
    // Answered while live: the writer now has this study's design cached.
    assert_eq!(answer(&s, &p, t0, 0).await.0, 200);
    support::set_status(&s, &c, &t, id, "closed").await;
    let (code, body) = answer(&s, &p, t1, 0).await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["closed"], true, "{body}");
    let (code, _) = answer(&s, &p, t0, 1).await;
    assert_eq!(code, 409);
    // Exactly the one answer given while live is stored.
    let csv = support::get_text(&s, &c, &format!("/studies/{id}/export.csv")).await;
    assert_eq!(csv.lines().count(), 2, "{csv}");
}

#[tokio::test(flavor = "multi_thread")]
async fn join_floods_and_oversized_fields_are_refused() {
    let s = server_with(&[]);
    let pid = s.child.id();
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let (id, slug) = live_study(&s, &c, &t).await;
    let anon = client();
    let at = anon
        .get(s.url(&format!("/s/{slug}")))
        .send()
        .await
        .unwrap()
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("mt_csrf="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .expect("csrf cookie");
    let join = |body: serde_json::Value| {
        anon.post(s.url(&format!("/s/{slug}/join")))
            .header("x-csrf-token", &at)
            .json(&body)
            .send()
    };

    // 2 MB in SESSION_ID (and each other panel field): 422, nobody joins.
    let before = proc_kib(pid, "VmRSS");
    let huge = "x".repeat(2_000_000);
    for field in ["SESSION_ID", "STUDY_ID", "PROLIFIC_PID"] {
        let r = join(serde_json::json!({ field: huge })).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let text = r.text().await.unwrap();
        assert!(text.contains(field), "{text}");
    }
    eprintln!(
        "2 MB panel fields: RSS {before} → {} KiB",
        proc_kib(pid, "VmRSS")
    );

    // 10 000 joins from one address: the first ones pass, then 429.
    let before = proc_kib(pid, "VmRSS");
    let t0 = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (anon, url, at) = (anon.clone(), s.url(&format!("/s/{slug}/join")), at.clone());
        tasks.spawn(async move {
            let (mut ok, mut limited, mut other) = (0, 0, 0);
            for _ in 0..1250 {
                let r = anon
                    .post(&url)
                    .header("x-csrf-token", &at)
                    .json(&serde_json::json!({}))
                    .send()
                    .await
                    .unwrap();
                match r.status() {
                    StatusCode::OK => ok += 1,
                    StatusCode::TOO_MANY_REQUESTS => limited += 1,
                    _ => other += 1,
                }
            }
            (ok, limited, other)
        });
    }
    let (mut ok, mut limited, mut other) = (0, 0, 0);
    while let Some(r) = tasks.join_next().await {
        let (a, b, c) = r.unwrap();
        (ok, limited, other) = (ok + a, limited + b, other + c);
    }
    eprintln!(
        "10 000 joins from one IP in {:.1} s: {ok} joined, {limited} × 429, {other} other; RSS {before} → {} KiB",
        t0.elapsed().as_secs_f64(),
        proc_kib(pid, "VmRSS")
    );
    assert_eq!(other, 0);
    // A burst of 60, then one a second.
    let most = 60 + t0.elapsed().as_secs() as usize + 2;
    assert!((60..=most).contains(&ok), "{ok} joined (at most {most})");
    assert_eq!(ok + limited, 10_000);
    let _ = id;
}

/// Answers with a fresh made-up token each (which the per-participant limit cannot see) from
/// one address: after a burst of 300 the address gets 429 and the answer writer is spared; a
/// real participant from another address still answers.
#[tokio::test(flavor = "multi_thread")]
async fn answer_floods_from_one_address_are_limited() {
    let s = server_with(&[]);
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let (_, slug) = live_study(&s, &c, &t).await;
    let p = support::join(&s, &slug, serde_json::json!({})).await;
    let trial = p.state["trials"][0]["id"].as_i64().unwrap();
    let t0 = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..4 {
        let (c, url, at) = (p.c.clone(), s.url("/s/api/answer"), p.t.clone());
        tasks.spawn(async move {
            let (mut refused, mut limited, mut other) = (0, 0, 0);
            for i in 0..500 {
                let token = format!("{w:032}{i:032}");
                let r = c
                    .post(&url)
                    .header("x-csrf-token", &at)
                    .json(&serde_json::json!({"token": token, "trial": 1, "criterion": 0, "choice": 0, "rt_ms": 4000, "viewed": true}))
                    .send()
                    .await
                    .unwrap();
                match r.status() {
                    StatusCode::FORBIDDEN => refused += 1,
                    StatusCode::TOO_MANY_REQUESTS => limited += 1,
                    _ => other += 1,
                }
            }
            (refused, limited, other)
        });
    }
    let (mut refused, mut limited, mut other) = (0, 0, 0);
    while let Some(r) = tasks.join_next().await {
        let (a, b, c) = r.unwrap();
        (refused, limited, other) = (refused + a, limited + b, other + c);
    }
    let secs = t0.elapsed().as_secs_f64();
    eprintln!("2 000 answers with made-up tokens in {secs:.1} s: {refused} × 403, {limited} × 429, {other} other");
    assert_eq!(other, 0);
    assert_eq!(refused + limited, 2000);
    // a burst of 300, then 60 a second
    let most = 300 + (60.0 * (secs + 1.0)) as usize;
    assert!(
        (300..=most).contains(&refused),
        "{refused} reached the writer (at most {most})"
    );
    assert!(limited > 0);
    // a real participant at the same address answers once the bucket has refilled a little
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (code, body) = answer(&s, &p, trial, 0).await;
    assert_eq!(code, 200, "{body}");
}
