//! Caption annotation against the real server: item locks (timeout, racing clients, release),
//! skipping, and per-annotator hotkeys.
use reqwest::StatusCode;

mod support;
use support::annotation::{create, login, server};

#[tokio::test]
async fn locks_time_out_and_racing_clients_get_one_item() {
    let s = server();
    let res = login(&s, "res@test.org", "res-pass-12").await;
    let a1 = login(&s, "ann1@test.org", "ann-pass-12").await;
    let a2 = login(&s, "ann2@test.org", "ann-pass-12").await;
    // A 5 s lock: the checks below that it holds take a few requests, well inside it even on a
    // loaded machine (with 2 s they did not always).
    let pid = create(&res, &s, "One", "demo/one.jsonl", "1", "5").await;

    // Two browsers race for the single item: exactly one gets it.
    let (x, y) = tokio::join!(a1.next(&s, pid), a2.next(&s, pid));
    assert!(x.is_some() != y.is_some(), "{x:?} {y:?}");
    let (owner, other) = if x.is_some() { (&a1, &a2) } else { (&a2, &a1) };
    let id = x.or(y).unwrap().to_string();
    // The other cannot write while the lock holds.
    let (st, _) = other
        .post(&s, "annot_autosave", &[("item_id", &id), ("text", "mine")])
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, _) = other
        .post(&s, "annot_submit", &[("item_id", &id), ("text", "mine")])
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let saved = std::time::Instant::now();
    assert_eq!(
        owner
            .post(&s, "annot_autosave", &[("item_id", &id), ("text", "draft")])
            .await
            .0,
        StatusCode::OK
    );

    // After the timeout without autosave the lock is free; the first holder lost it. Polled, not
    // a fixed sleep: the item goes to the other no sooner than 5 s after the autosave was sent
    // (which renewed the lock) and no later than a generous bound.
    let got = loop {
        if let Some(i) = other.next(&s, pid).await {
            break i.to_string();
        }
        assert!(saved.elapsed().as_secs() < 60, "the lock never timed out");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let waited = saved.elapsed().as_secs_f64();
    assert!(waited >= 5.0, "lock taken after {waited:.2} s");
    assert_eq!(got, id);
    let (st, _) = owner
        .post(&s, "annot_submit", &[("item_id", &id), ("text", "late")])
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(
        other
            .post(&s, "annot_submit", &[("item_id", &id), ("text", "on time")])
            .await
            .0,
        StatusCode::OK
    );
    // Done (overlap 1): nobody gets it again.
    assert_eq!(owner.next(&s, pid).await, None);
    // Release frees a lock at once.
    let pid2 = create(&res, &s, "Two", "demo/one.jsonl", "1", "600").await;
    let id2 = a1.next(&s, pid2).await.unwrap();
    assert_eq!(a2.next(&s, pid2).await, None);
    assert_eq!(
        a1.post(&s, "annot_release", &[("item_id", &id2.to_string())])
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(a2.next(&s, pid2).await, Some(id2));
}

#[tokio::test]
async fn skip_and_hotkeys_are_per_annotator_and_checked() {
    let s = server();
    let res = login(&s, "res@test.org", "res-pass-12").await;
    let a1 = login(&s, "ann1@test.org", "ann-pass-12").await;
    let a2 = login(&s, "ann2@test.org", "ann-pass-12").await;
    let pid = create(&res, &s, "Skip", "demo/one.jsonl", "1", "600").await;

    // Skip needs the item's lock: the other annotator is refused, the holder is not, and the
    // skipped item is not offered to the holder again.
    let id = a1.next(&s, pid).await.unwrap().to_string();
    let (st, v) = a2.post(&s, "annot_skip", &[("item_id", &id)]).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    let (st, v) = a1.post(&s, "annot_skip", &[("item_id", &id)]).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(a1.next(&s, pid).await, None);
    // Skipping it again (lock given back by the skip) is refused.
    let (st, _) = a1.post(&s, "annot_skip", &[("item_id", &id)]).await;
    assert_eq!(st, StatusCode::CONFLICT);

    // Hotkeys: defaults, a refused duplicate and empty key change nothing, a valid set is kept
    // for that annotator only.
    let defaults = a1.get_json(&s, "/api/annot_hotkeys").await;
    assert_eq!(defaults["submit"], "Ctrl+Enter");
    assert_eq!(defaults["skip"], "Alt+s");
    let set = |submit: &'static str, skip: &'static str| {
        [
            ("submit", submit),
            ("skip", skip),
            ("flag", "Alt+f"),
            ("next", "Alt+n"),
            ("play", "Alt+p"),
        ]
    };
    let (st, v) = a1
        .post(&s, "annot_set_hotkeys", &set("Alt+x", "alt+X"))
        .await;
    assert!(st.is_client_error(), "duplicate accepted: {st} {v}");
    assert!(v.to_string().contains("used twice"), "{v}");
    let (st, v) = a1.post(&s, "annot_set_hotkeys", &set(" ", "Alt+s")).await;
    assert!(st.is_client_error(), "empty key accepted: {st} {v}");
    assert_eq!(a1.get_json(&s, "/api/annot_hotkeys").await, defaults);
    let (st, v) = a1
        .post(&s, "annot_set_hotkeys", &set("Ctrl+s", "Alt+k"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let mine = a1.get_json(&s, "/api/annot_hotkeys").await;
    assert_eq!(
        (mine["submit"].as_str(), mine["skip"].as_str()),
        (Some("Ctrl+s"), Some("Alt+k"))
    );
    assert_eq!(mine["play"], "Alt+p");
    assert_eq!(a2.get_json(&s, "/api/annot_hotkeys").await, defaults);
}
