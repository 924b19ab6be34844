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

    // Rate limit: a burst far above a human's pace is cut off.
    let mut limited = 0;
    for _ in 0..60 {
        if b.answer(&s, tb, 9, 0, 4000, true).await == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert!(limited > 0, "no rate limit");
}
