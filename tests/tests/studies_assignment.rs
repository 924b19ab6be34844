//! User studies: balanced assignment (counterbalanced units, randomised sides), blinding (no
//! condition name or media id reaches a participant; one media address per trial position).
use std::collections::HashMap;

use reqwest::{header, StatusCode};
use serde_json::json;

mod support;
use support::pairwise::*;
use support::{form, login, slug, try_join as join};

#[tokio::test]
async fn assignment_is_balanced_and_participants_never_see_conditions() {
    let s = server();
    let (c, t) = login(&s, "res@test.org", "res-pass-12").await;
    let id = make_study(&s, &c, &t, "3", false).await; // 2 prompts × 3 pairs = 6 units
    let slug = slug(&s, &c, id).await;
    // Draft studies take no participants.
    assert_eq!(
        join(&s, &slug, json!({})).await.err().unwrap().0,
        StatusCode::FORBIDDEN
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
    let known = stimulus_conditions(&s, &c, &design_json(&s, &c, id).await).await;

    let mut units: HashMap<(String, Vec<String>), usize> = HashMap::new();
    let mut left: HashMap<String, usize> = HashMap::new();
    let mut shown: HashMap<String, usize> = HashMap::new();
    for i in 0..8 {
        let p = join(&s, &slug, json!({"PROLIFIC_PID": format!("pid{i}")}))
            .await
            .unwrap();
        for name in CONDS {
            assert!(
                !p.page.contains(name),
                "condition name {name} leaked to a participant"
            );
        }
        assert!(
            !p.page.to_lowercase().contains("condition"),
            "the word condition leaked"
        );
        let trials = p.trials();
        let mc = media_conditions(&s, &p.c, &trials, &known).await;
        if i == 0 {
            // Every trial position has its own address (a gold trial of a video against itself
            // is not one address twice), and the researchers' media ids stay hidden.
            let urls: Vec<&str> = trials
                .iter()
                .flat_map(|t| t["media"].as_array().unwrap())
                .map(|m| m.as_str().unwrap())
                .collect();
            let distinct: std::collections::HashSet<&&str> = urls.iter().collect();
            assert_eq!(distinct.len(), urls.len(), "an address repeats: {urls:?}");
            let gold = trials
                .iter()
                .find(|t| {
                    let m = t["media"].as_array().unwrap();
                    m.len() == 2 && mc[m[0].as_str().unwrap()] == mc[m[1].as_str().unwrap()]
                })
                .expect("a gold trial of a video against itself");
            assert_ne!(gold["media"][0], gold["media"][1]);
            // ... nor by its size: each copy ends with an MP4 `free` box sized by its address.
            let mut copies = vec![];
            for m in gold["media"].as_array().unwrap() {
                let r = p.c.get(s.url(m.as_str().unwrap())).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                copies.push(r.bytes().await.unwrap());
            }
            assert_ne!(copies[0].len(), copies[1].len());
            assert_eq!(without_free_tail(&copies[0]), without_free_tail(&copies[1]));
            // The padded copy is still a video ffmpeg reads to the end, and byte ranges (what
            // browsers ask for) are slices of it, padding included.
            let frames = |name: &str, bytes: &[u8]| {
                let file = s.data_dir.path().join(name);
                std::fs::write(&file, bytes).unwrap();
                magictime_tests::ffprobe_frames(&file)
            };
            let n_frames = frames("padded.mp4", &copies[0]);
            assert!(n_frames > 0);
            assert_eq!(n_frames, frames("plain.mp4", without_free_tail(&copies[0])));
            let url = gold["media"][0].as_str().unwrap();
            let n = copies[0].len();
            for (range, want) in [
                ("bytes=0-99".to_string(), &copies[0][..100]),
                (format!("bytes={}-", n - 20), &copies[0][n - 20..]),
                (
                    "bytes=-5000".to_string(),
                    &copies[0][n.saturating_sub(5000)..],
                ),
            ] {
                let r =
                    p.c.get(s.url(url))
                        .header(header::RANGE, &range)
                        .send()
                        .await
                        .unwrap();
                assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
                assert_eq!(&r.bytes().await.unwrap()[..], want, "{range}");
            }
            let r =
                p.c.get(s.url(url))
                    .header(header::RANGE, format!("bytes={n}-"))
                    .send();
            assert_eq!(r.await.unwrap().status(), StatusCode::RANGE_NOT_SATISFIABLE);
            let design = design_json(&s, &c, id).await;
            for st in design["stimuli"].as_array().unwrap() {
                let media_id = st["media_id"].as_str().unwrap();
                assert!(
                    !p.page.contains(media_id),
                    "media id {media_id} reached a participant"
                );
                assert!(!p.state.to_string().contains(media_id));
                // A media id is only the researchers' way in.
                let r =
                    p.c.get(s.url(&format!("/s/m/{media_id}")))
                        .send()
                        .await
                        .unwrap();
                assert_eq!(r.status(), StatusCode::NOT_FOUND);
            }
            // A forged address (another position of the same trial, same MAC) is refused.
            let parts: Vec<&str> = urls[0].splitn(3, '-').collect();
            let other = if parts[1] == "0" { "1" } else { "0" };
            let forged = format!("{}-{other}-{}", parts[0], parts[2]);
            let r = p.c.get(s.url(&forged)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{forged}");
            // The media's headers do not tell when each video was imported.
            let url = trials[1]["media"][0].as_str().unwrap();
            let r = p.c.get(s.url(url)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{url}");
            assert!(r.headers().get(header::LAST_MODIFIED).is_none(), "{url}");
            assert!(r.headers().get(header::ETAG).is_none(), "{url}");
        }
        // practice + 3 main + attention + gold
        assert_eq!(trials.len(), 6);
        assert!(trials[0]["practice"].as_bool().unwrap());
        for tr in &trials[1..] {
            let media: Vec<String> = tr["media"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap().to_owned())
                .collect();
            if tr["questions"].as_array().unwrap().len() == 4 {
                let mut conds: Vec<String> = media.iter().map(|m| mc[m].clone()).collect();
                *left.entry(conds[0].clone()).or_default() += 1;
                for cond in &conds {
                    *shown.entry(cond.clone()).or_default() += 1;
                }
                conds.sort();
                *units
                    .entry((tr["prompt"].as_str().unwrap().to_owned(), conds))
                    .or_default() += 1;
            }
        }
        if i == 0 {
            // Media by opaque id: plain MP4 without the condition in it; ranges work.
            let m = trials[1]["media"][0].as_str().unwrap();
            let r =
                p.c.get(s.url(m))
                    .header(header::RANGE, "bytes=0-99")
                    .send()
                    .await
                    .unwrap();
            assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
            let r = p.c.get(s.url(m)).send().await.unwrap();
            assert_eq!(r.headers()[header::CONTENT_TYPE], "video/mp4");
            let bytes = r.bytes().await.unwrap();
            assert!(
                CONDS
                    .iter()
                    .all(|c| !String::from_utf8_lossy(&bytes).contains(c)),
                "metadata leaked"
            );
        }
    }
    // 8 participants × 3 trials = 24 = 4 rounds of the 6 units.
    assert_eq!(units.len(), 6, "{units:?}");
    assert!(units.values().all(|&n| n == 4), "unbalanced: {units:?}");
    // Each condition is in 2 of the 3 pairs of a prompt: exactly 16 of the 24 main trials.
    let want: HashMap<String, usize> = CONDS.iter().map(|c| (c.to_string(), 16)).collect();
    assert_eq!(shown, want, "conditions not counterbalanced");
    // Sides are randomised per trial (the study seed is random, so only bounds are exact): one
    // condition on the left of each main trial, and no condition always (16 of 16) or never on
    // the left. Binomial(16, ½) gives 0 or 16 with probability 2/65536 per condition; an order
    // that kept the canonical (sorted) order would put CondAlphaSecret left 16 times.
    assert_eq!(left.values().sum::<usize>(), 24, "{left:?}");
    assert_eq!(left.len(), 3, "a condition never on the left: {left:?}");
    assert!(
        left.values().all(|&n| (1..=15).contains(&n)),
        "left/right not randomised: {left:?}"
    );
}
