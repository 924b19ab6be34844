//! Helpers shared by the caption-annotation tests (`annotate*.rs`): a logged-in browser, a server
//! with a researcher, three annotators and small manifests, a project made through the API.
#![allow(dead_code)] // each test file uses a subset

use magictime_tests::{create_account, Server};
use reqwest::{header, Client, StatusCode};
use serde_json::Value;

/// A logged-in browser: its client and CSRF token.
pub struct Browser {
    pub c: Client,
    pub csrf: String,
}

pub async fn login(s: &Server, email: &str, pw: &str) -> Browser {
    let (c, csrf) = magictime_tests::login(s, email, pw).await;
    Browser { c, csrf }
}

impl Browser {
    /// POSTs a server function; returns the status and the body (JSON when it parses).
    pub async fn post(
        &self,
        s: &Server,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut f = vec![("csrf_token", self.csrf.as_str())];
        f.extend_from_slice(form);
        let r = self
            .c
            .post(s.url(&format!("/api/{endpoint}")))
            .header(header::ACCEPT, "application/json")
            .form(&f)
            .send()
            .await
            .unwrap();
        let st = r.status();
        let text = r.text().await.unwrap();
        (
            st,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, s: &Server, path: &str) -> (StatusCode, String) {
        let r = self.c.get(s.url(path)).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    pub async fn get_json(&self, s: &Server, path: &str) -> Value {
        let (st, body) = self.get(s, path).await;
        assert_eq!(st, StatusCode::OK, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    pub async fn next(&self, s: &Server, pid: i64) -> Option<i64> {
        let (st, v) = self
            .post(s, "annot_next", &[("project_id", &pid.to_string())])
            .await;
        assert_eq!(st, StatusCode::OK, "next: {v}");
        v.as_i64()
    }
}

pub fn manifest_jsonl(n: usize) -> String {
    (0..n)
        .map(|i| {
            serde_json::json!({
                "videoid": format!("clip{i:02}"), "file": format!("clips/clip{i:02}.mp4"),
                "fps": 8.0, "frames": 64, "width": 256, "height": 256,
                "caption": format!("Draft caption {i}: a flower blooms."),
                "provenance": {"method": "rule", "inputs": ["title", "tags"], "draft": true},
                "is_transmit": i % 2,
                "extra": {"title": format!("Flower <b>{i}</b> 4K"), "tags": ["flower"], "description": "desc"}
            })
            .to_string()
                + "\n"
        })
        .collect()
}

pub fn server() -> Server {
    Server::start(|dir| {
        create_account(dir, "res@test.org", "res-pass-12", "researcher");
        create_account(dir, "ann1@test.org", "ann-pass-12", "annotator");
        create_account(dir, "ann2@test.org", "ann-pass-12", "annotator");
        create_account(dir, "ann3@test.org", "ann-pass-12", "annotator");
        std::fs::create_dir_all(dir.join("datasets/demo")).unwrap();
        std::fs::write(dir.join("datasets/demo/m.jsonl"), manifest_jsonl(4)).unwrap();
        std::fs::write(dir.join("datasets/demo/one.jsonl"), manifest_jsonl(1)).unwrap();
        std::fs::write(
            dir.join("datasets/demo/bad.jsonl"),
            manifest_jsonl(2) + "{\"videoid\": 3}\n",
        )
        .unwrap();
    })
}

pub async fn create(
    res: &Browser,
    s: &Server,
    name: &str,
    manifest: &str,
    overlap: &str,
    timeout: &str,
) -> i64 {
    let (st, v) = res
        .post(
            s,
            "annot_create",
            &[
                ("name", name),
                ("manifest", manifest),
                ("overlap", overlap),
                ("lock_timeout_s", timeout),
                ("annotators", "ann1@test.org, ann2@test.org"),
                ("reviewers", ""),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v.as_i64().unwrap()
}
