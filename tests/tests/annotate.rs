//! Caption annotation against the real server: import → annotate (overlap 2) → review →
//! export round trip (the exported CSV equals the accepted captions), history, rights, XSS,
//! bad manifests, media rights (locks: `annotate_locks.rs`).
use std::collections::{BTreeMap, HashSet};

use magictime_tests::client;
use reqwest::{header, StatusCode};
use serde_json::Value;

mod support;
use support::annotation::{create, login, server};

const XSS: &str = "<script>alert(\"x\")</script> ice & \"quotes\", commas\nand a newline";

/// RFC 4180 reader for the exported CSV.
fn read_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut rec, mut field, mut q) = (Vec::new(), Vec::new(), String::new(), false);
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        match (q, c) {
            (true, '"') if it.peek() == Some(&'"') => {
                it.next();
                field.push('"');
            }
            (true, '"') => q = false,
            (true, c) => field.push(c),
            (false, '"') => q = true,
            (false, ',') => rec.push(std::mem::take(&mut field)),
            (false, '\n') => {
                rec.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut rec));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

#[tokio::test]
async fn import_annotate_review_export_round_trip() {
    let s = server();
    let res = login(&s, "res@test.org", "res-pass-12").await;
    let a1 = login(&s, "ann1@test.org", "ann-pass-12").await;
    let a2 = login(&s, "ann2@test.org", "ann-pass-12").await;
    let a3 = login(&s, "ann3@test.org", "ann-pass-12").await;

    // Annotators cannot create projects; researchers import the manifest.
    let (st, _) = a1
        .post(
            &s,
            "annot_create",
            &[
                ("name", "x"),
                ("manifest", "demo/m.jsonl"),
                ("overlap", "1"),
                ("annotators", ""),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let pid = create(&res, &s, "Flowers", "demo/m.jsonl", "2", "600").await;

    // The item keeps the source metadata, draft and provenance.
    let first = a1.next(&s, pid).await.expect("an item");
    let item = a1
        .get_json(&s, &format!("/api/annot_item?item_id={first}"))
        .await;
    assert_eq!(item["videoid"], "clip00");
    assert_eq!(item["title"], "Flower <b>0</b> 4K");
    assert_eq!(item["provenance"]["method"], "rule");
    assert_eq!(item["keyframes"].as_array().unwrap().len(), 8);
    assert_eq!(item["locked_by_me"], true);

    // Non-members neither get items nor write.
    let (st, _) = a3
        .post(&s, "annot_next", &[("project_id", &pid.to_string())])
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = a3
        .post(
            &s,
            "annot_submit",
            &[("item_id", &first.to_string()), ("text", "x")],
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Both annotators caption every item once; never the same item twice to one person.
    let mut texts: BTreeMap<(String, i64), String> = BTreeMap::new();
    let mut seen: [HashSet<i64>; 2] = [HashSet::new(), HashSet::new()];
    let mut current = [Some(first), None];
    let names = ["ann1", "ann2"];
    for _round in 0..8 {
        for (k, b) in [&a1, &a2].into_iter().enumerate() {
            let id = match current[k].take() {
                Some(id) => id,
                None => match b.next(&s, pid).await {
                    Some(id) => id,
                    None => continue,
                },
            };
            assert!(seen[k].insert(id), "{} got item {id} twice", names[k]);
            let text = if k == 0 && id == first {
                XSS.to_owned()
            } else {
                format!("{} caption of item {id}: petals open.", names[k])
            };
            let flags = if k == 1 && id == first + 1 {
                "watermark"
            } else {
                ""
            };
            let (st, v) = b
                .post(
                    &s,
                    "annot_submit",
                    &[
                        ("item_id", &id.to_string()),
                        ("text", &text),
                        ("flags", flags),
                        ("checklist", "subject,process"),
                    ],
                )
                .await;
            assert_eq!(st, StatusCode::OK, "submit: {v}");
            texts.insert((names[k].to_owned(), id), text);
        }
    }
    assert_eq!(seen[0].len(), 4);
    assert_eq!(seen[1].len(), 4);
    assert_eq!(a1.next(&s, pid).await, None);

    // Routing: all items in review, the one with a flag in the flagged queue.
    let queue = res
        .get_json(&s, &format!("/api/annot_queue?project_id={pid}"))
        .await;
    let q = queue.as_array().unwrap();
    assert_eq!(q.len(), 4);
    let flagged: Vec<i64> = q
        .iter()
        .filter(|e| e["status"] == "flagged")
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(flagged, vec![first + 1]);

    // Only reviewers see the queue and decide.
    let (st, _) = a1
        .get(&s, &format!("/api/annot_queue?project_id={pid}"))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Review: accept ann1's caption of items 0 and 1, edit item 2, send item 3 back.
    let version_of = |r: &Value, user: &str| -> i64 {
        r["versions"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|v| v["user"].as_str().unwrap().starts_with(user) && v["kind"] == "submit")
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let ids: Vec<i64> = (first..first + 4).collect();
    let mut accepted: BTreeMap<String, String> = BTreeMap::new();
    for (n, &id) in ids.iter().enumerate() {
        let r = res
            .get_json(&s, &format!("/api/annot_review_item?item_id={id}"))
            .await;
        let videoid = r["item"]["videoid"].as_str().unwrap().to_owned();
        match n {
            0 | 1 => {
                let vid = version_of(&r, "ann1");
                let (st, _) = a1
                    .post(
                        &s,
                        "annot_review",
                        &[
                            ("item_id", &id.to_string()),
                            ("action", "accept"),
                            ("version_id", &vid.to_string()),
                        ],
                    )
                    .await;
                assert_eq!(st, StatusCode::FORBIDDEN, "annotators do not accept");
                let (st, v) = res
                    .post(
                        &s,
                        "annot_review",
                        &[
                            ("item_id", &id.to_string()),
                            ("action", "accept"),
                            ("version_id", &vid.to_string()),
                        ],
                    )
                    .await;
                assert_eq!(st, StatusCode::OK, "{v}");
                accepted.insert(videoid, texts[&("ann1".to_owned(), id)].clone());
            }
            2 => {
                let edited = "Reviewer: a rose bud opens into a full bloom over two days.";
                let (st, v) = res
                    .post(
                        &s,
                        "annot_review",
                        &[
                            ("item_id", &id.to_string()),
                            ("action", "edit"),
                            ("text", edited),
                        ],
                    )
                    .await;
                assert_eq!(st, StatusCode::OK, "{v}");
                accepted.insert(videoid, edited.to_owned());
            }
            _ => {
                let (st, _) = res
                    .post(
                        &s,
                        "annot_review",
                        &[
                            ("item_id", &id.to_string()),
                            ("action", "send_back"),
                            ("comment", ""),
                        ],
                    )
                    .await;
                assert_eq!(
                    st,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "send back needs a comment"
                );
                let (st, v) = res
                    .post(
                        &s,
                        "annot_review",
                        &[
                            ("item_id", &id.to_string()),
                            ("action", "send_back"),
                            ("comment", "name the flower"),
                        ],
                    )
                    .await;
                assert_eq!(st, StatusCode::OK, "{v}");
            }
        }
    }
    // The sent-back item comes back to annotators (a new round) with the comment.
    let again = a2.next(&s, pid).await.expect("sent-back item");
    assert_eq!(again, ids[3]);
    let item = a2
        .get_json(&s, &format!("/api/annot_item?item_id={again}"))
        .await;
    assert_eq!(item["sent_back_comment"], "name the flower");
    assert_eq!(item["round"], 1);
    let (st, _) = a2
        .post(
            &s,
            "annot_autosave",
            &[("item_id", &again.to_string()), ("text", "half written")],
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let item = a2
        .get_json(&s, &format!("/api/annot_item?item_id={again}"))
        .await;
    assert_eq!(item["autosave"], "half written");
    let fixed = "A pink tulip opens at sunrise and closes at dusk.";
    assert_eq!(
        a2.post(
            &s,
            "annot_submit",
            &[("item_id", &again.to_string()), ("text", fixed)]
        )
        .await
        .0,
        StatusCode::OK
    );
    let b1 = a1.next(&s, pid).await.unwrap();
    assert_eq!(
        a1.post(
            &s,
            "annot_submit",
            &[("item_id", &b1.to_string()), ("text", "A tulip opens.")]
        )
        .await
        .0,
        StatusCode::OK
    );
    let r = res
        .get_json(&s, &format!("/api/annot_review_item?item_id={again}"))
        .await;
    let vid = version_of(&r, "ann2");
    assert_eq!(
        res.post(
            &s,
            "annot_review",
            &[
                ("item_id", &again.to_string()),
                ("action", "accept"),
                ("version_id", &vid.to_string())
            ]
        )
        .await
        .0,
        StatusCode::OK
    );
    accepted.insert("clip03".into(), fixed.into());

    // History: every version kept in order (2 submits, send back, 2 submits, accept).
    let r = res
        .get_json(&s, &format!("/api/annot_review_item?item_id={again}"))
        .await;
    let kinds: Vec<&str> = r["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "submit",
            "submit",
            "send_back",
            "submit",
            "submit",
            "accept"
        ]
    );
    assert!(r["versions"][0]["seconds"].as_f64().unwrap() >= 0.0);

    // Export: the CSV equals the accepted captions, verbatim.
    let (st, _) = a1
        .get(&s, &format!("/annotate/export/{pid}/chronomagic.csv"))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, csv) = res
        .get(&s, &format!("/annotate/export/{pid}/chronomagic.csv"))
        .await;
    assert_eq!(st, StatusCode::OK);
    let rows = read_csv(&csv);
    assert_eq!(rows[0], ["videoid", "name", "is_transmit"]);
    let got: BTreeMap<String, String> = rows[1..]
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(got, accepted);
    assert_eq!(rows[2][2], "1", "is_transmit kept");
    let (_, files) = res
        .get(&s, &format!("/annotate/export/{pid}/files.txt"))
        .await;
    assert_eq!(files.lines().count(), 4);
    assert!(files.starts_with("clips/clip00.mp4\n"));
    let (_, man) = res
        .get(&s, &format!("/annotate/export/{pid}/manifest.jsonl"))
        .await;
    let m0: Value = serde_json::from_str(man.lines().next().unwrap()).unwrap();
    assert_eq!(m0["caption"], XSS);
    assert_eq!(m0["provenance"]["method"], "human");
    assert_eq!(m0["fps"], 8.0);
    let (_, all) = res
        .get(&s, &format!("/annotate/export/{pid}/versions.jsonl"))
        .await;
    let last: Value = serde_json::from_str(all.lines().nth(3).unwrap()).unwrap();
    assert_eq!(last["versions"].as_array().unwrap().len(), 6);
    assert_eq!(last["draft_provenance"]["method"], "rule");
    assert_eq!(last["accepted"], fixed);

    // XSS: the caption is stored verbatim and rendered escaped.
    let (st, html) = res.get(&s, &format!("/annotate/review/{first}")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        html.contains("&lt;script&gt;alert"),
        "escaped caption in the review page"
    );
    if let Some(at) = html.find("<script>alert") {
        panic!(
            "raw script from a caption: …{}…",
            &html[at.saturating_sub(300)..(at + 100).min(html.len())]
        );
    }
    assert!(!html.contains("<b>0</b>"));

    // Dashboard: per-annotator numbers and agreement.
    let d = res
        .get_json(&s, &format!("/api/annot_dashboard?project_id={pid}"))
        .await;
    let stats = d["annotators"].as_array().unwrap();
    assert_eq!(stats.len(), 2);
    assert_eq!(stats[0]["user"], "ann1@test.org");
    assert_eq!(stats[0]["submitted"], 5);
    assert_eq!(stats[0]["accepted"], 2);
    assert_eq!(stats[1]["accepted"], 1);
    assert_eq!(d["agreement"]["units"], 5);
    assert!(d["agreement"]["mean_bleu"].as_f64().unwrap() > 0.0);
    assert_eq!(d["project"]["accepted"], 4);
}

#[tokio::test]
async fn bad_manifests_are_refused_with_the_line() {
    let s = server();
    let res = login(&s, "res@test.org", "res-pass-12").await;
    let (st, v) = res
        .post(
            &s,
            "annot_create",
            &[
                ("name", "bad"),
                ("manifest", "demo/bad.jsonl"),
                ("overlap", "1"),
                ("annotators", ""),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v.to_string().contains("bad.jsonl: line 3"), "{v}");
    let (st, _) = res
        .post(
            &s,
            "annot_create",
            &[
                ("name", "esc"),
                ("manifest", "../magictime.sqlite"),
                ("overlap", "1"),
                ("annotators", ""),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, v) = res
        .post(
            &s,
            "annot_create",
            &[
                ("name", "nobody"),
                ("manifest", "demo/m.jsonl"),
                ("overlap", "1"),
                ("annotators", "ghost@test.org"),
            ],
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Nothing was created.
    let list = res.get_json(&s, "/api/annot_projects").await;
    assert_eq!(list.as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn clip_and_keyframes_are_served_to_members() {
    let s = server();
    let clip = s.data_dir.path().join("datasets/demo/clips/clip00.mp4");
    std::fs::create_dir_all(clip.parent().unwrap()).unwrap();
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=96x64:rate=8",
            "-frames:v",
            "24",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&clip)
        .status();
    if !made.is_ok_and(|st| st.success()) {
        eprintln!("SKIPPED: the ffmpeg command-line tool is needed to make a test clip");
        return;
    }
    let res = login(&s, "res@test.org", "res-pass-12").await;
    let a1 = login(&s, "ann1@test.org", "ann-pass-12").await;
    let a3 = login(&s, "ann3@test.org", "ann-pass-12").await;
    let pid = create(&res, &s, "Media", "demo/m.jsonl", "1", "600").await;
    let id = a1.next(&s, pid).await.unwrap();
    // The clip, with range requests for seeking.
    let r =
        a1.c.get(s.url(&format!("/annotate/media/{id}/clip")))
            .header(header::RANGE, "bytes=0-99")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().len(), 100);
    // 8 keyframes, extracted on first request, JPEG.
    for k in [0, 7, 3] {
        let r =
            a1.c.get(s.url(&format!("/annotate/media/{id}/keyframe/{k}")))
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "keyframe {k}");
        let b = r.bytes().await.unwrap();
        assert_eq!(&b[..3], &[0xff, 0xd8, 0xff], "JPEG");
    }
    assert_eq!(
        a1.get(&s, &format!("/annotate/media/{id}/keyframe/8"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // Non-members and anonymous visitors get nothing; a missing clip is a 404.
    assert_eq!(
        a3.get(&s, &format!("/annotate/media/{id}/clip")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        client()
            .get(s.url(&format!("/annotate/media/{id}/clip")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        a1.get(&s, &format!("/annotate/media/{}/keyframe/0", id + 1))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}
