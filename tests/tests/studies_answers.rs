//! User studies: forged, repeated and invalid answers are refused; the answer rate limit.
use reqwest::StatusCode;
use serde_json::json;

mod support;
use support::pairwise::*;
use support::{form, get_text, login, slug, try_join as join};

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
    let csv = get_text(&s, &c, &format!("/studies/{id}/export.csv")).await;
    assert_eq!(csv.lines().count(), 2, "{csv}");

    // Rate limit: per participant a burst of 30, then 10 a second. 200 answers sent at once (one
    // after another, a slow machine would space them out below the limit): at most
    // 30 + 10·elapsed get past the limit, whatever the machine's speed, and the rest are cut off.
    let url = s.url("/s/api/answer");
    let t0 = std::time::Instant::now();
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let (c, url, csrf) = (b.c.clone(), url.clone(), b.t.clone());
        let body = json!({"token": b.token, "trial": tb, "criterion": 9, "choice": 0, "rt_ms": 4000, "viewed": true});
        burst.spawn(async move {
            let r = c.post(url).header("x-csrf-token", csrf).json(&body);
            r.send().await.unwrap().status()
        });
    }
    let statuses = burst.join_all().await;
    let secs = t0.elapsed().as_secs_f64();
    let limited = statuses
        .iter()
        .filter(|&&st| st == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let passed = statuses.len() - limited;
    assert!(
        passed as f64 <= 30.0 + 10.0 * secs + 1.0,
        "{passed} answers past the limit in {secs:.2} s"
    );
    assert!(passed >= 30, "the burst of 30 is allowed: {passed}");
    assert!(limited > 0, "no rate limit ({secs:.2} s)");
}
