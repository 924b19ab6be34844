//! The public demo, the gallery and "make a study from these" on the real server: anonymous
//! visitors generate within the demo's ceiling and rate and see only their own generations; an
//! admin hides any generation; two finished generations become a draft study.
use std::time::Duration;

use magictime_tests::{
    client, create_account, csrf, jobs_of, login, post_form, set_cookie, wait_job, Server,
};
use reqwest::{Client, StatusCode};

mod support;

/// A small generation request (2 steps, 4 frames, 32 px) of `prompt`.
fn small(prompt: &str) -> Vec<(&str, &str)> {
    vec![
        ("prompt", prompt),
        ("negative", ""),
        ("seed", "5"),
        ("steps", "2"),
        ("cfg", "7.5"),
        ("frames", "4"),
        ("size", "32"),
    ]
}

/// An anonymous browser: a cookie-keeping client and its CSRF token.
async fn visitor(s: &Server) -> (Client, String) {
    let c = client();
    let t = csrf(&c, s).await;
    (c, t)
}

async fn status_of(c: &Client, s: &Server, path: &str) -> StatusCode {
    c.get(s.url(path)).send().await.unwrap().status()
}

async fn set_demo(s: &Server, on: &str) -> StatusCode {
    let (admin, at) = login(s, "admin@test.org", "admin-pass-1").await;
    post_form(&admin, s, "/api/set_demo_mode", &at, &[("on", on)])
        .await
        .status()
}

/// With the demo off nobody anonymous generates; an admin turns it on (a researcher may not);
/// a visitor then generates within the demo's ceiling, gets a cookie, and sees only their own
/// generations (list, page, files) — never a researcher's or another visitor's; an admin hides
/// one from everyone but admins.
#[tokio::test]
async fn demo_visitors_generate_and_see_only_their_own() {
    let s = Server::start(|d| {
        create_account(d, "res@test.org", "res-pass-12", "researcher");
        create_account(d, "admin@test.org", "admin-pass-1", "admin");
    });
    let (v, vt) = visitor(&s).await;
    let r = post_form(&v, &s, "/api/generate", &vt, &small("a demo rose")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the demo is off");
    let page = support::get_text(&s, &v, "/generate").await;
    assert!(page.contains("This page needs the "), "{page}");
    let (res, rt) = login(&s, "res@test.org", "res-pass-12").await;
    let r = post_form(&res, &s, "/api/set_demo_mode", &rt, &[("on", "true")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(set_demo(&s, "true").await, StatusCode::OK);

    // the form: the demo's ceiling as the fields' bounds, and the notice
    let page = support::get_text(&s, &v, "/generate").await;
    assert!(page.contains("data-testid=\"demo-notice\""), "{page}");
    assert!(page.contains("id=\"size\" name=\"size\" type=\"number\" min=\"16\" max=\"64\""));
    assert!(page.contains("id=\"steps\" name=\"steps\" type=\"number\" min=\"1\" max=\"25\""));
    // past the ceiling: a clear 422, nothing queued, no cookie
    let mut big = small("a demo rose");
    big.retain(|(k, _)| *k != "size");
    big.push(("size", "128"));
    let r = post_form(&v, &s, "/api/generate", &vt, &big).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(set_cookie(&r, "mt_visitor").is_none());
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("size must be 16–64 pixels"));
    assert!(jobs_of(&v, &s, "generate").await.is_empty());

    let r = post_form(&v, &s, "/api/generate", &vt, &small("a demo rose")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        set_cookie(&r, "mt_visitor").map(|c| c.len()),
        Some(64),
        "the visitor's cookie"
    );
    let mine: i64 = r.json().await.unwrap();
    let r = post_form(
        &res,
        &s,
        "/api/generate",
        &rt,
        &small("a researcher's tulip"),
    )
    .await;
    let theirs: i64 = r.json().await.unwrap();
    let job = wait_job(&v, &s, "generate", mine, Duration::from_secs(120)).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["created_by"], "a demo visitor");
    let job = wait_job(&res, &s, "generate", theirs, Duration::from_secs(120)).await;
    assert_eq!(job["status"], "done", "{job}");

    // the visitor: their own in the list, the page and the files; not the researcher's
    let listed: Vec<i64> = jobs_of(&v, &s, "generate")
        .await
        .iter()
        .map(|j| j["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, [mine]);
    assert_eq!(
        status_of(&v, &s, "/api/jobs?kind=train").await,
        StatusCode::FORBIDDEN
    );
    let own = support::get_text(&s, &v, &format!("/generations/{mine}")).await;
    assert!(own.contains("data-field=\"prompt\">a demo rose<"), "{own}");
    assert!(own.contains("data-field=\"requested_by\">a demo visitor<"));
    let other = support::get_text(&s, &v, &format!("/generations/{theirs}")).await;
    assert!(other.contains("There is no such generation."));
    assert!(!other.contains("a researcher&#x27;s tulip") && !other.contains("researcher's tulip"));
    assert_eq!(
        status_of(&v, &s, &format!("/media/generated/{mine}.mp4")).await,
        StatusCode::OK
    );
    assert_eq!(
        status_of(&v, &s, &format!("/media/generated/{theirs}.mp4")).await,
        StatusCode::NOT_FOUND
    );
    let gallery = support::get_text(&s, &v, "/gallery").await;
    assert!(gallery.contains("a demo rose") && !gallery.contains("tulip"));
    // another visitor sees none of it
    let (v2, _) = visitor(&s).await;
    assert!(jobs_of(&v2, &s, "generate").await.is_empty());
    assert_eq!(
        status_of(&v2, &s, &format!("/media/generated/{mine}.mp4")).await,
        StatusCode::NOT_FOUND
    );
    // researchers see both
    let gallery = support::get_text(&s, &res, "/gallery").await;
    assert!(gallery.contains("a demo rose") && gallery.contains("a researcher"));
    let mine_only = support::get_text(&s, &res, "/gallery?mine=1").await;
    assert!(!mine_only.contains("a demo rose") && mine_only.contains("a researcher"));
    let searched = support::get_text(&s, &res, "/gallery?q=ROSE").await;
    assert!(searched.contains("a demo rose") && !searched.contains("tulip"));

    // an admin hides the visitor's: gone for everyone else, page and files; shown again
    let (admin, at) = login(&s, "admin@test.org", "admin-pass-1").await;
    let hide = |on: &'static str| {
        let (admin, at, s) = (admin.clone(), at.clone(), &s);
        async move {
            let id = mine.to_string();
            let fields = [("id", id.as_str()), ("hidden", on)];
            post_form(&admin, s, "/api/hide_generation", &at, &fields).await
        }
    };
    let r = post_form(
        &res,
        &s,
        "/api/hide_generation",
        &rt,
        &[("id", &mine.to_string()), ("hidden", "true")],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "researchers may not hide"
    );
    assert!(hide("true").await.json::<bool>().await.unwrap());
    for c in [&v, &res] {
        assert_eq!(
            status_of(c, &s, &format!("/media/generated/{mine}.mp4")).await,
            StatusCode::NOT_FOUND
        );
        let page = support::get_text(&s, c, &format!("/generations/{mine}")).await;
        assert!(page.contains("There is no such generation."));
    }
    assert!(!support::get_text(&s, &res, "/gallery")
        .await
        .contains("a demo rose"));
    // nor in the job lists (the Generate and Jobs pages), but in the admin's
    let ids = |jobs: Vec<serde_json::Value>| -> Vec<i64> {
        jobs.iter().map(|j| j["id"].as_i64().unwrap()).collect()
    };
    assert!(!ids(jobs_of(&res, &s, "generate").await).contains(&mine));
    assert!(jobs_of(&v, &s, "generate").await.is_empty());
    assert!(ids(jobs_of(&admin, &s, "generate").await).contains(&mine));
    let seen = support::get_text(&s, &admin, &format!("/generations/{mine}")).await;
    assert!(seen.contains("data-testid=\"hidden\"") && seen.contains("Show it again"));
    assert!(hide("false").await.json::<bool>().await.unwrap());
    assert_eq!(
        status_of(&v, &s, &format!("/media/generated/{mine}.mp4")).await,
        StatusCode::OK
    );
    // the demo off: the visitor's cookie opens nothing
    assert_eq!(set_demo(&s, "false").await, StatusCode::OK);
    assert_eq!(
        status_of(&v, &s, &format!("/media/generated/{mine}.mp4")).await,
        StatusCode::UNAUTHORIZED
    );
}

/// The demo's rate (per address, whatever the cookie) and its queue cap answer 429 with a
/// message that says so; a visitor cancels their own queued generation, not another's.
#[tokio::test]
async fn the_demo_is_rate_limited_and_its_queue_capped() {
    let s = Server::start_with(
        &["--no-worker", "--demo-per-hour", "3", "--demo-queue", "2"],
        |d| {
            create_account(d, "admin@test.org", "admin-pass-1", "admin");
        },
    );
    assert_eq!(set_demo(&s, "true").await, StatusCode::OK);
    let (a, at) = visitor(&s).await;
    let (b, bt) = visitor(&s).await;
    let r = post_form(&a, &s, "/api/generate", &at, &small("one")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let first: i64 = r.json().await.unwrap();
    let r = post_form(&b, &s, "/api/generate", &bt, &small("two")).await;
    assert_eq!(r.status(), StatusCode::OK);
    // two visitors' generations wait: the demo's queue is full
    let r = post_form(&a, &s, "/api/generate", &at, &small("three")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("The public demo's queue is full"));
    // b may not cancel a's; a may
    let id = first.to_string();
    let r = post_form(&b, &s, "/api/cancel_job", &bt, &[("id", &id)]).await;
    assert!(!r.json::<bool>().await.unwrap());
    let r = post_form(&a, &s, "/api/cancel_job", &at, &[("id", &id)]).await;
    assert!(r.json::<bool>().await.unwrap());
    // three per hour from this address, whichever cookie asks
    let (c, ct) = visitor(&s).await;
    let r = post_form(&c, &s, "/api/generate", &ct, &small("four")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("The public demo allows 3 generations per hour per visitor"));
    assert_eq!(jobs_of(&c, &s, "generate").await.len(), 0);
}

/// Two finished generations become a draft pairwise study with both videos as stimuli (their
/// prompt, a condition each); bad choices are refused and create nothing.
#[tokio::test]
async fn a_study_is_made_from_compared_generations() {
    let s = Server::start(|d| create_account(d, "res@test.org", "res-pass-12", "researcher"));
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let mut ids = vec![];
    for seed in ["1", "2"] {
        let mut f = small("a lily opening");
        f.retain(|(k, _)| *k != "seed");
        f.push(("seed", seed));
        let r = post_form(&c, &s, "/api/generate", &t, &f).await;
        let id: i64 = r.json().await.unwrap();
        let job = wait_job(&c, &s, "generate", id, Duration::from_secs(120)).await;
        assert_eq!(job["status"], "done", "{job}");
        ids.push(id);
    }
    let studies = |c: Client| {
        let s = &s;
        async move { support::get_json(s, &c, "/api/studies").await }
    };
    for bad in [
        ids[0].to_string(),
        format!("{},99999", ids[0]),
        "1,x".into(),
    ] {
        let r = post_form(
            &c,
            &s,
            "/api/study_from_generations",
            &t,
            &[("ids", &bad), ("title", "")],
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_eq!(studies(c.clone()).await.as_array().unwrap().len(), 0);
    let both = format!("{},{}", ids[0], ids[1]);
    let r = post_form(
        &c,
        &s,
        "/api/study_from_generations",
        &t,
        &[("ids", &both), ("title", "Seeds 1 and 2")],
    )
    .await;
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    let list = studies(c.clone()).await;
    let st = &list.as_array().unwrap()[0];
    assert_eq!(
        (st["title"].as_str(), st["kind"].as_str()),
        (Some("Seeds 1 and 2"), Some("pairwise"))
    );
    let sid = st["id"].as_i64().unwrap();
    let manage = support::get_text(&s, &c, &format!("/studies/{sid}")).await;
    for id in &ids {
        // the same model and prompt: each its own condition, named by its number
        assert!(
            manage.contains(&format!("(#{id})</td>")),
            "stimulus of #{id}: {manage}"
        );
    }
    assert!(manage.contains("a lily opening"));
}
