//! Automatic metrics beside the votes: computed on demand in the background with the configured
//! CLIP (here the model crate's tiny CLIP with random weights, `--clip tiny-random`), cached,
//! shown per condition in the analysis JSON and on the results page with the embedder's name;
//! with no flag the server uses the embedded in-domain CLIP, and its numbers are recomputed here
//! from that CLIP's embeddings of the normalised stimuli; "not available" with the reason under
//! `--clip none`.
use std::time::{Duration, Instant};

mod clip_oracle;

use clip_oracle::{close, Oracle};
use magictime_tests::{client, create_account, csrf, Server};
use reqwest::{header, StatusCode};
use serde_json::Value;

mod support;
use support::{form_json, get_json, get_text, import_folder, login, make_videos, new_study};

fn setup(d: &std::path::Path) {
    create_account(d, "res@test.org", "res-pass-12", "researcher");
    make_videos(
        d,
        &[
            ("CondRed", "red"),
            ("CondBlue", "blue"),
            ("CondWhite", "white"),
        ],
        &["a_flower_blooming", "ice_melting"],
    );
}

fn cond<'a>(m: &'a Value, name: &str) -> &'a Value {
    m["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["condition"] == name)
        .unwrap_or_else(|| panic!("no {name} in {m}"))
}

#[tokio::test]
async fn metrics_are_computed_per_condition_and_cached() {
    let s = Server::start_with(&["--clip", "tiny-random"], setup);
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let id = new_study(&s, &c, &t, "3", &[]).await;
    import_folder(&s, &c, &t, id).await;
    let res = format!("/studies/{id}/results.json");
    assert_eq!(
        get_json(&s, &c, &res).await["automatic_metrics"]["status"],
        "not_computed"
    );

    // Anonymous users cannot start it.
    let anon = client();
    let at = csrf(&anon, &s).await;
    let r = form_json(&anon, &s, &at, &format!("/studies/{id}/metrics"), &[]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = form_json(&c, &s, &t, &format!("/studies/{id}/metrics"), &[]).await;
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "{}",
        r.text().await.unwrap()
    );
    let t0 = Instant::now();
    let m = loop {
        let m = get_json(&s, &c, &res).await["automatic_metrics"].clone();
        match m["status"].as_str().unwrap() {
            "done" => break m,
            "failed" => panic!("metrics failed: {m}"),
            _ => {}
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "not done: {m}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(m["embedder"].as_str().unwrap().contains("tiny CLIP"), "{m}");
    assert_eq!(m["stale"], false);
    assert_eq!(m["conditions"].as_array().unwrap().len(), 3);
    // (the tiny CLIP's weights are random in the server process, so its numbers cannot be
    // recomputed here; the in-domain test below recomputes them)
    for name in ["CondRed", "CondBlue", "CondWhite"] {
        let x = cond(&m, name);
        assert_eq!(x["videos"], 2, "{x}");
        let cs = x["clipsim"].as_f64().unwrap();
        assert!((x["clipsim_x100"].as_f64().unwrap() - 100.0 * cs).abs() < 1e-9);
    }
    // Visibly different videos score differently.
    let (red, white) = (cond(&m, "CondRed"), cond(&m, "CondWhite"));
    assert!(
        (red["clipsim"].as_f64().unwrap() - white["clipsim"].as_f64().unwrap()).abs() > 1e-6,
        "red and white videos got the same CLIPSIM: {m}"
    );

    // The results page shows them next to the win rates, with the embedder's name.
    let html = get_text(&s, &c, &format!("/studies/{id}")).await;
    assert!(html.contains("data-testid=\"auto-metrics\""));
    assert!(html.contains("tiny CLIP (random weights)"));
    let shown = format!("{:.2}", red["clipsim_x100"].as_f64().unwrap());
    assert!(
        html.contains(&format!("<td>{shown}</td>")),
        "{shown} not on the page"
    );

    // Cached: a second view does not recompute (same timestamp); new stimuli make it stale.
    let again = get_json(&s, &c, &res).await["automatic_metrics"].clone();
    assert_eq!(again["computed_at"], m["computed_at"]);
    std::fs::create_dir_all(s.data_dir.path().join("import/CondGreen")).unwrap();
    std::fs::copy(
        s.data_dir.path().join("import/CondRed/ice_melting.mp4"),
        s.data_dir.path().join("import/CondGreen/ice_melting.mp4"),
    )
    .unwrap();
    import_folder(&s, &c, &t, id).await;
    let stale = get_json(&s, &c, &res).await["automatic_metrics"].clone();
    assert_eq!(stale["stale"], true, "{stale}");
}

#[tokio::test]
async fn a_server_started_without_flags_scores_with_the_in_domain_clip() {
    let s = Server::start(setup);
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let id = new_study(&s, &c, &t, "3", &[]).await;
    import_folder(&s, &c, &t, id).await;
    let r = form_json(&c, &s, &t, &format!("/studies/{id}/metrics"), &[]).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let res = format!("/studies/{id}/results.json");
    let t0 = Instant::now();
    let m = loop {
        let m = get_json(&s, &c, &res).await["automatic_metrics"].clone();
        match m["status"].as_str().unwrap() {
            "done" => break m,
            "failed" => panic!("metrics failed: {m}"),
            _ => {}
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "not done: {m}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(
        m["embedder"], "in-domain CLIP trained on ChronoMagic-Synth",
        "{m}"
    );
    // Each condition's numbers are the means over its normalised stimuli (the files the server
    // keeps, with their prompts from the design) of the formulas over the CLIP's embeddings.
    let oracle = Oracle::in_domain();
    let design = get_json(&s, &c, &format!("/studies/{id}/design.json")).await;
    let media = s.data_dir.path().join("studies").join(id.to_string());
    for name in ["CondRed", "CondBlue", "CondWhite"] {
        let x = cond(&m, name);
        let stimuli: Vec<&Value> = design["stimuli"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|st| st["condition"] == name && st["role"] == "normal")
            .collect();
        assert_eq!(x["videos"], 2, "{x}");
        assert_eq!(stimuli.len(), 2, "{design}");
        let (mut cs, mut mt) = (0.0, 0.0);
        for st in stimuli {
            let file = media.join(format!("{}.mp4", st["media_id"].as_str().unwrap()));
            let (c, t) = oracle.scores(&file, st["prompt"].as_str().unwrap());
            (cs, mt) = (cs + c / 2.0, mt + t / 2.0);
        }
        close(
            x["clipsim"].as_f64().unwrap(),
            cs,
            &format!("{name} CLIPSIM"),
        );
        close(
            x["clipsim_x100"].as_f64().unwrap(),
            100.0 * cs,
            &format!("{name} ×100"),
        );
        close(
            x["metamorphic"].as_f64().unwrap(),
            mt,
            &format!("{name} MT"),
        );
    }
    let html = get_text(&s, &c, &format!("/studies/{id}")).await;
    assert!(html.contains("in-domain CLIP trained on ChronoMagic-Synth"));
}

#[tokio::test]
async fn metrics_with_clip_none_are_not_available() {
    let s = Server::start_with(&["--clip", "none"], setup);
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let id = new_study(&s, &c, &t, "3", &[]).await;
    import_folder(&s, &c, &t, id).await;
    let m =
        get_json(&s, &c, &format!("/studies/{id}/results.json")).await["automatic_metrics"].clone();
    assert_eq!(m["status"], "not_available");
    assert!(m["error"].as_str().unwrap().contains("--clip"), "{m}");
    let r = form_json(&c, &s, &t, &format!("/studies/{id}/metrics"), &[]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = c
        .get(s.url(&format!("/studies/{id}")))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Automatic metrics: not available"));
}
