//! User studies against the real server: stimuli import and normalisation, the design flow, and
//! a live design frozen against edits.
use magictime_tests::client;
use reqwest::StatusCode;

mod support;
use support::pairwise::*;
use support::{form, login};

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
