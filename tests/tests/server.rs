//! The real server on a free port: health, login, roles, CSRF, rate limiting, 404, shutdown.
use magictime_tests::{client, create_account, csrf, set_cookie, Server};
use reqwest::{header, Client, StatusCode};

async fn post_form(c: &Client, s: &Server, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    c.post(s.url(path))
        .header(header::ACCEPT, "application/json")
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn login(c: &Client, s: &Server, email: &str, pw: &str) -> reqwest::Response {
    let t = csrf(c, s).await;
    post_form(
        c,
        s,
        "/api/login",
        &[("csrf_token", &t), ("email", email), ("password", pw)],
    )
    .await
}

fn server() -> Server {
    Server::start(|dir| {
        create_account(dir, "admin@test.org", "admin-pass-1", "admin");
        create_account(dir, "res@test.org", "res-pass-12", "researcher");
        create_account(dir, "ann@test.org", "ann-pass-12", "annotator");
    })
}

#[tokio::test]
async fn first_visit_sets_csrf_cookie_matching_the_form() {
    let s = server();
    let r = client().get(s.url("/login")).send().await.unwrap();
    let cookie = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mt_csrf="))
        .expect("CSRF cookie set on first visit")
        .to_owned();
    assert!(
        cookie.contains("SameSite=Lax") && !cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "--insecure-http: {cookie}");
    let token = cookie["mt_csrf=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        r.text().await.unwrap().contains(&token),
        "the form carries the cookie's token"
    );
}

#[tokio::test]
async fn health_reports_db_and_migrations() {
    let s = server();
    let r = reqwest::get(s.url("/healthz")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["db"]["journal_mode"], "wal");
    assert_eq!(v["db"]["foreign_keys"], true);
    assert_eq!(v["db"]["applied_migrations"], v["db"]["known_migrations"]);
    assert!(v["version"].as_str().is_some());
}

#[tokio::test]
async fn login_sets_httponly_session_and_me_reports_user() {
    let s = server();
    let c = client();
    let r = login(&c, &s, "res@test.org", "res-pass-12").await;
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    let set = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mt_session="))
        .expect("session cookie")
        .to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let me: serde_json::Value = c
        .get(s.url("/api/me"))
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "res@test.org");
    assert_eq!(me["role"], "researcher");

    // Logout ends the server-side session.
    let t = csrf(&c, &s).await;
    let r = post_form(&c, &s, "/api/logout", &[("csrf_token", &t)]).await;
    assert!(r.status().is_success() || r.status().is_redirection());
    let me = c
        .get(s.url("/api/me"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(me.trim(), "null");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_passwords_slow_further_attempts_down_without_a_lockout() {
    use std::time::{Duration, Instant};
    let s = server();
    let c = client();
    let r = login(&c, &s, "ann@test.org", "nope-nope-nope").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for _ in 0..4 {
        login(&c, &s, "ann@test.org", "nope-nope-nope").await;
    }
    // No lockout: after five failures the right password still works, a little later (the
    // fifth failure set the next attempt 2 s after it).
    let t0 = Instant::now();
    let r = login(&c, &s, "ann@test.org", "ann-pass-12").await;
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        t0.elapsed()
    );

    // Guesses sent in parallel are counted as they arrive and spaced out like a sequence
    // (3 free, then 1, 2, 4, 8 s apart), not checked all at once.
    let mut clients = vec![];
    for _ in 0..8 {
        let c = client();
        let t = csrf(&c, &s).await;
        clients.push((c, t));
    }
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (c, token) in clients {
        let url = s.url("");
        tasks.spawn(async move {
            let r = c
                .post(format!("{url}/api/login"))
                .header(header::ACCEPT, "application/json")
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("email", "ann@test.org"),
                    ("password", "nope-nope-nope"),
                ])
                .send()
                .await
                .unwrap();
            (r.status(), t0.elapsed())
        });
    }
    let mut done = vec![];
    while let Some(r) = tasks.join_next().await {
        done.push(r.unwrap());
    }
    done.sort_by_key(|(_, t)| *t);
    assert!(
        done.iter().all(|(st, _)| *st == StatusCode::UNAUTHORIZED),
        "{done:?}"
    );
    assert!(
        done[7].1 >= Duration::from_secs(14),
        "not spaced out: {done:?}"
    );
    assert!(
        done[3].1 < Duration::from_secs(3),
        "the first ones wait: {done:?}"
    );
}

#[tokio::test]
async fn roles_are_checked_on_the_server() {
    let s = server();
    // Anonymous: 401.
    let anon = client();
    let r = anon.get(s.url("/api/users")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = anon
        .get(s.url("/api/generate_models"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Wrong role: 403 for listing and for creating accounts; nothing created.
    let ann = client();
    login(&ann, &s, "ann@test.org", "ann-pass-12").await;
    let r = ann.get(s.url("/api/users")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = ann.get(s.url("/api/generate_models")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let t = csrf(&ann, &s).await;
    let r = post_form(
        &ann,
        &s,
        "/api/create_account",
        &[
            ("csrf_token", &t),
            ("email", "x@test.org"),
            ("password", "password-9"),
            ("role", "admin"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Researchers see what model generates, without the server's paths.
    let res = client();
    login(&res, &s, "res@test.org", "res-pass-12").await;
    let r = res.get(s.url("/api/generate_models")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let models: serde_json::Value = r.json().await.unwrap();
    assert_eq!(models.as_array().unwrap().len(), 1, "no --ckpts: {models}");
    let info = models[0]["label"].as_str().unwrap();
    assert!(info.contains("model") && !info.contains('/'), "{info}");
    // Admin: allowed.
    let adm = client();
    login(&adm, &s, "admin@test.org", "admin-pass-1").await;
    let users: serde_json::Value = adm
        .get(s.url("/api/users"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let emails: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["admin@test.org", "res@test.org", "ann@test.org"]);
    let t = csrf(&adm, &s).await;
    let r = post_form(
        &adm,
        &s,
        "/api/create_account",
        &[
            ("csrf_token", &t),
            ("email", "new@test.org"),
            ("password", "password-9"),
            ("role", "annotator"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    // A duplicate is a 422, not a 500.
    let r = post_form(
        &adm,
        &s,
        "/api/create_account",
        &[
            ("csrf_token", &t),
            ("email", "NEW@test.org"),
            ("password", "password-9"),
            ("role", "annotator"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn csrf_is_required_on_state_changing_requests() {
    let s = server();
    let c = client();
    let token = csrf(&c, &s).await;
    // No token field: refused before the handler runs.
    let r = post_form(
        &c,
        &s,
        "/api/login",
        &[("email", "res@test.org"), ("password", "res-pass-12")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Wrong token.
    let r = post_form(
        &c,
        &s,
        "/api/login",
        &[
            ("csrf_token", &"0".repeat(64)),
            ("email", "res@test.org"),
            ("password", "res-pass-12"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A fresh client without the cookie, even with a token-looking field.
    let r = post_form(
        &client(),
        &s,
        "/api/login",
        &[
            ("csrf_token", &token),
            ("email", "res@test.org"),
            ("password", "res-pass-12"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Cross-origin, even with the right token.
    let r = c
        .post(s.url("/api/login"))
        .header(header::ORIGIN, "http://evil.example")
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "res@test.org"),
            ("password", "res-pass-12"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The header form works too (for JSON APIs and uploads).
    let r = c
        .post(s.url("/api/logout"))
        .header("x-csrf-token", &token)
        .header(header::ACCEPT, "application/json")
        .form(&[("csrf_token", "ignored-when-header-present")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn pages_render_server_side_and_unknown_paths_are_404() {
    let s = server();
    let c = client();
    let r = c.get(s.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    for section in [
        "Generate", "Studies", "Annotate", "Datasets", "Jobs", "Admin",
    ] {
        assert!(
            html.contains(&format!(">{section}</a>")),
            "nav link {section}"
        );
    }
    assert!(html.contains("/pkg/magictime.js"), "hydration script");
    let r = c.get(s.url("/definitely/not/here")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("Page not found"));
    // Compression of dynamic responses.
    let r = c
        .get(s.url("/"))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()
            .get(header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap()),
        Some("gzip")
    );
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let mut s = server();
    let pid = s.child.id();
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let t0 = std::time::Instant::now();
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status:?}");
            break;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A raw form POST with exactly the `Cookie` header given (no cookie store).
async fn raw_post(
    s: &Server,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client()
        .post(s.url(path))
        .header(header::ACCEPT, "application/json")
        .header(header::COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Logs `email` in over raw headers, cookies as behind TLS: (session, its CSRF token).
async fn raw_login(s: &Server, email: &str, pw: &str) -> (String, String) {
    let r = client().get(s.url("/login")).send().await.unwrap();
    let anon = set_cookie(&r, "__Host-mt_csrf").expect("anonymous CSRF cookie");
    let r = raw_post(
        s,
        "/api/login",
        &format!("__Host-mt_csrf={anon}"),
        &[("csrf_token", &anon), ("email", email), ("password", pw)],
    )
    .await;
    assert!(r.status().is_success(), "login {email}: {}", r.status());
    let session = set_cookie(&r, "__Host-mt_session").expect("session cookie");
    let bound = set_cookie(&r, "__Host-mt_csrf").expect("the session's CSRF token");
    assert_ne!(bound, anon, "a login replaces the anonymous CSRF token");
    (session, bound)
}

#[tokio::test]
async fn by_default_cookies_are_secure_host_cookies_and_csrf_is_bound_to_the_session() {
    let s = Server::start_behind_tls(|dir| {
        create_account(dir, "res@test.org", "res-pass-12", "researcher");
        create_account(dir, "ann@test.org", "ann-pass-12", "annotator");
    });
    let r = client().get(s.url("/login")).send().await.unwrap();
    let set: Vec<String> = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        set.iter().any(|c| c.starts_with("__Host-mt_csrf=")
            && c.contains("Secure")
            && c.contains("Path=/")
            && !c.contains("Domain")),
        "{set:?}"
    );
    assert!(!set.iter().any(|c| c.starts_with("mt_")), "{set:?}");

    // A CSRF token fixed before the login, whose value an attacker knows (what the `__Host-`
    // prefix keeps sibling subdomains and plain-HTTP responses from doing; the binding stops it
    // wherever it comes from).
    let planted = "ab".repeat(32);
    let r = raw_post(
        &s,
        "/api/login",
        &format!("__Host-mt_csrf={planted}"),
        &[
            ("csrf_token", &planted),
            ("email", "res@test.org"),
            ("password", "res-pass-12"),
        ],
    )
    .await;
    assert!(r.status().is_success(), "{}", r.status());
    let session = set_cookie(&r, "__Host-mt_session").expect("session cookie");
    let bound = set_cookie(&r, "__Host-mt_csrf").expect("the session's CSRF token");
    assert_ne!(bound, planted);
    let cookie_of = |csrf: &str| format!("__Host-mt_session={session}; __Host-mt_csrf={csrf}");

    // The planted token no longer passes for this session, even echoed in cookie and form.
    let r = raw_post(
        &s,
        "/api/logout",
        &cookie_of(&planted),
        &[("csrf_token", &planted)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Neither does the token of another session.
    let (_, other) = raw_login(&s, "ann@test.org", "ann-pass-12").await;
    let r = raw_post(
        &s,
        "/api/logout",
        &cookie_of(&other),
        &[("csrf_token", &other)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The session is read only under its `__Host-` name.
    let me = |cookie: String| {
        let s = &s;
        async move {
            client()
                .get(s.url("/api/me"))
                .header(header::COOKIE, cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(me(cookie_of(&bound)).await.contains("res@test.org"));
    assert_eq!(me(format!("mt_session={session}")).await.trim(), "null");

    // Pages rendered for the session carry its token; the bound token logs out.
    let page = client()
        .get(s.url("/"))
        .header(header::COOKIE, cookie_of(&planted))
        .send()
        .await
        .unwrap();
    assert_eq!(
        set_cookie(&page, "__Host-mt_csrf").as_deref(),
        Some(bound.as_str()),
        "a stale CSRF cookie is replaced by the session's"
    );
    assert!(page.text().await.unwrap().contains(&bound));
    let r = raw_post(
        &s,
        "/api/logout",
        &cookie_of(&bound),
        &[("csrf_token", &bound)],
    )
    .await;
    assert!(r.status().is_success(), "{}", r.status());
    let after = set_cookie(&r, "__Host-mt_csrf").expect("a new anonymous token");
    assert!(after != bound && after.len() == 64);
    assert_eq!(me(cookie_of(&bound)).await.trim(), "null");
}

#[tokio::test]
async fn an_admin_disables_an_account_and_ends_its_sessions() {
    let s = server();
    let res = client();
    assert!(login(&res, &s, "res@test.org", "res-pass-12")
        .await
        .status()
        .is_success());
    let adm = client();
    login(&adm, &s, "admin@test.org", "admin-pass-1").await;
    let t = csrf(&adm, &s).await;
    let users: serde_json::Value = adm
        .get(s.url("/api/users"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let of = |email: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email)
            .unwrap()
            .clone()
    };
    let (rid, aid) = (
        of("res@test.org")["id"].clone(),
        of("admin@test.org")["id"].clone(),
    );
    assert_eq!(of("res@test.org")["sessions"], 1);
    assert_eq!(of("res@test.org")["disabled"], false);
    let me = |c: &Client| {
        let (c, url) = (c.clone(), s.url("/api/me"));
        async move { c.get(url).send().await.unwrap().text().await.unwrap() }
    };
    assert!(me(&res).await.contains("res@test.org"));
    let act = |id: &serde_json::Value, action: &str| {
        let (id, action) = (id.to_string(), action.to_owned());
        let (adm, t, s) = (&adm, &t, &s);
        async move {
            post_form(
                adm,
                s,
                "/api/account_action",
                &[("csrf_token", t), ("id", &id), ("action", &action)],
            )
            .await
        }
    };

    // Not one's own account; no unknown actions or accounts; not by a researcher.
    assert_eq!(
        act(&aid, "disable").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        act(&rid, "explode").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        act(&serde_json::json!(9999), "disable").await.status(),
        StatusCode::NOT_FOUND
    );
    let r = post_form(
        &res,
        &s,
        "/api/account_action",
        &[
            ("csrf_token", &csrf(&res, &s).await),
            ("id", &aid.to_string()),
            ("action", "disable"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Disabled: the open session ends at once and the password no longer works.
    let r = act(&rid, "disable").await;
    assert_eq!(r.status(), StatusCode::OK);
    let a: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (a["disabled"].clone(), a["sessions"].clone()),
        (true.into(), 0.into())
    );
    assert_eq!(me(&res).await.trim(), "null");
    let again = client();
    let r = login(&again, &s, "res@test.org", "res-pass-12").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Enabled again: it logs in; "log out everywhere" ends that session.
    assert_eq!(act(&rid, "enable").await.status(), StatusCode::OK);
    let back = client();
    assert!(login(&back, &s, "res@test.org", "res-pass-12")
        .await
        .status()
        .is_success());
    assert!(me(&back).await.contains("res@test.org"));
    let a: serde_json::Value = act(&rid, "logout").await.json().await.unwrap();
    assert_eq!(
        (a["disabled"].clone(), a["sessions"].clone()),
        (false.into(), 0.into())
    );
    assert_eq!(me(&back).await.trim(), "null");
}

#[tokio::test]
async fn setup_creates_the_first_admin_once_and_logs_them_in() {
    let s = Server::start(|_| {});
    let token = s.setup_token().expect("the server logs a setup link");
    let c = client();
    let t = csrf(&c, &s).await;
    let setup = |token: String, t: String, c: Client| {
        let url = s.url("/api/setup");
        async move {
            c.post(url)
                .header(header::ACCEPT, "application/json")
                .form(&[
                    ("csrf_token", t.as_str()),
                    ("token", token.as_str()),
                    ("email", "first@test.org"),
                    ("password", "first-pass-1"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let r = setup("0".repeat(64), t.clone(), c.clone()).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a wrong token");
    let r = setup(token.clone(), t.clone(), c.clone()).await;
    assert!(r.status().is_success(), "{}", r.status());
    assert!(set_cookie(&r, "mt_session").is_some(), "logged in");
    let me = c
        .get(s.url("/api/me"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        me.contains("first@test.org") && me.contains("admin"),
        "{me}"
    );
    // The token works once.
    let other = client();
    let t2 = csrf(&other, &s).await;
    let r = setup(token, t2, other).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
