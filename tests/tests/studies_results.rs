//! User studies: resume with the stored token, one submission per participant id, live results and
//! the exports.
use std::collections::HashMap;

use reqwest::{header, StatusCode};
use serde_json::{json, Value};

mod support;
use support::pairwise::*;
use support::{form, get_json, get_text, login, slug, try_join as join};

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
    let known = stimulus_conditions(&s, &c, &design).await;
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
    // (trial, criterion) → (conditions shown, choice, rt) of every answer given
    let mut given: HashMap<(i64, i64), (Vec<String>, i64, i64)> = HashMap::new();
    for p in &all {
        let mc = media_conditions(&s, &p.c, &p.trials(), &known).await;
        for tr in p.trials() {
            let trial = tr["id"].as_i64().unwrap();
            let conds: Vec<String> = tr["media"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| mc[m.as_str().unwrap()].clone())
                .collect();
            for q in tr["questions"].as_array().unwrap() {
                let crit = q["criterion"].as_i64().unwrap();
                if tr["answered"].as_array().unwrap().contains(&json!(crit)) {
                    // the answer before the resume
                    given.insert((trial, crit), (conds.clone(), 0, 4000));
                    stored += 1;
                    continue;
                }
                // distinct times, so a row matched with the wrong answer shows
                let (choice, rt) = (choose(q, &tr, &mc), 4001 + stored as i64);
                let st = p.answer(&s, trial, crit, choice, rt, true).await;
                assert_eq!(st, StatusCode::OK);
                given.insert((trial, crit), (conds.clone(), choice, rt));
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
        let res = get_json(&s, &c, &format!("/studies/{id}/results.json")).await;
        let n = res["criteria"][0]["n_answers"].as_u64().unwrap();
        assert!(n > last_n, "{n} answers analysed after {last_n}");
        last_n = n;
        assert_eq!(
            done["redirect"],
            format!("https://app.prolific.com/submissions/complete?cc={code}").as_str()
        );
    }

    let res: Value = get_json(&s, &c, &format!("/studies/{id}/results.json")).await;
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

    let csv = get_text(&s, &c, &format!("/studies/{id}/export.csv")).await;
    assert!(csv.starts_with("participant,participant_seq,pilot,trial_id"));
    assert_eq!(csv.lines().count(), stored + 1);
    assert!(
        !csv.contains("PID-secret-42"),
        "participant ids must be hashed"
    );
    assert!(csv.contains(CONDS[0]));
    let jsonl = get_text(&s, &c, &format!("/studies/{id}/export.jsonl")).await;
    // Both exports, parsed back, hold exactly the answers given, row by row.
    let rows: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), stored);
    assert_eq!(given.len(), stored);
    let mut unmatched = given.clone();
    for r in &rows {
        let key = (
            r["trial_id"].as_i64().unwrap(),
            r["criterion_index"].as_i64().unwrap(),
        );
        let (conds, choice, rt) = unmatched.remove(&key).expect("an answer given once");
        assert_eq!(r["conditions"], json!(conds), "{r}");
        assert_eq!(r["choice"], choice, "{r}");
        assert_eq!(r["rt_ms"], rt, "{r}");
        let chosen = usize::try_from(choice).ok().map(|c| conds[c].clone());
        assert_eq!(r["chosen_condition"], json!(chosen), "{r}");
        assert!(r["trial_seed"].is_i64());
    }
    assert!(unmatched.is_empty());
    let csv_rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(csv_rows.len(), rows.len());
    for (c, j) in csv_rows.iter().zip(&rows) {
        assert_eq!(c.len(), 16, "{c:?}");
        assert_eq!(c[3], j["trial_id"].to_string());
        assert_eq!(c[9], j["criterion_index"].to_string());
        let conds: Vec<&str> = j["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(c[10], conds.join("|"));
        assert_eq!(c[11], j["choice"].to_string());
        assert_eq!(c[12], j["chosen_condition"].as_str().unwrap_or(""));
        assert_eq!(c[14], j["rt_ms"].to_string());
    }
    let svg = c
        .get(s.url(&format!("/studies/{id}/plot/0/bars.svg")))
        .send()
        .await
        .unwrap();
    assert_eq!(svg.headers()[header::CONTENT_TYPE], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains(CONDS[1]));
    let html = get_text(&s, &c, &format!("/studies/{id}")).await;
    assert!(html.contains("Participants: 4 · completed: 4"));
}
