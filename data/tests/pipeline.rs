//! Metadata filter, sampler, keyframes, captions and manifests on real files made here.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use magictime_data::caption::{
    self, CaptionInput, Captioner, OpenAiCaptioner, OpenAiConfig, RuleFuser,
};
use magictime_data::filter::{self, FilterRules, VideoMeta};
use magictime_data::keyframes;
use magictime_data::manifest::{self, ChronoRow, ClipRecord, Provenance};
use magictime_data::sampler::{self, SampleMode, Sampler, SamplerConfig};
use magictime_data::DataError;

fn meta(id: &str, title: &str, tags: &[&str], views: u64, desc: &str) -> VideoMeta {
    VideoMeta {
        id: id.into(),
        title: title.into(),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        views: Some(views),
        description: desc.into(),
        url: format!("https://example.org/{id}"),
    }
}

#[test]
fn filter_counts_each_rule_and_reads_jsonl_csv_toml() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // a: kept; b: short title; c: low views; d: no tags; e: no keyword; f: excluded; g: no file
    let items = vec![
        meta("a", "Rose blooming time-lapse 4K", &["flower"], 50_000, ""),
        meta("b", "Timelapse", &["x"], 50_000, ""),
        meta("c", "Ice melting timelapse close up", &["ice"], 10, ""),
        meta(
            "d",
            "Clouds forming over mountains timelapse",
            &[],
            5_000,
            "",
        ),
        meta(
            "e",
            "My holiday in the alps",
            &["travel"],
            90_000,
            "nice trip",
        ),
        meta(
            "f",
            "How to shoot a timelapse tutorial",
            &["photo"],
            90_000,
            "",
        ),
        meta("g", "Sunset over the sea time lapse", &["sun"], 90_000, ""),
    ];
    for id in ["a", "b", "c", "d", "e", "f"] {
        std::fs::write(d.join(format!("{id}.mp4")), b"x").unwrap();
    }
    let jsonl = d.join("meta.jsonl");
    manifest::write_jsonl(&jsonl, &items).unwrap();
    let read = filter::read_metadata(&jsonl).unwrap();
    assert_eq!(read, items);
    let r = filter::apply(&FilterRules::default(), &read, Some(d));
    assert_eq!(r.kept, 1);
    assert!(r.verdicts[0].kept);
    for (rule, n) in [
        ("short_title", 1),
        ("low_views", 1),
        ("missing_tags", 1),
        ("no_keyword", 1),
        ("excluded_keyword", 1),
        ("missing_video", 1),
    ] {
        assert_eq!(r.dropped_by[rule], n, "{rule}: {:?}", r.dropped_by);
    }
    assert_eq!(r.dropped_by.values().sum::<usize>(), r.total - r.kept);
    // CSV with tags as a `|` string and views with separators
    let csv = d.join("meta.csv");
    std::fs::write(&csv, "id,title,description,tags,views,url\nz,\"Bread rising timelapse, kitchen\",,food|dough,\"12,345\",u\n").unwrap();
    let m = filter::read_metadata(&csv).unwrap();
    assert_eq!(m[0].tags, vec!["food", "dough"]);
    assert_eq!(m[0].views, Some(12_345));
    // TOML: partial override; unknown keys are an error naming the file
    let toml = d.join("rules.toml");
    std::fs::write(&toml, "min_views = 5\nexclude_keywords = []\n").unwrap();
    let rules = FilterRules::load(&toml).unwrap();
    assert_eq!(rules.min_views, 5);
    assert_eq!(
        rules.min_title_words,
        FilterRules::default().min_title_words
    );
    let r2 = filter::apply(&rules, &read, None);
    assert_eq!(r2.kept, 4, "{:?}", r2.dropped_by); // a, c, f and g now pass
    std::fs::write(&toml, "min_veiws = 5\n").unwrap();
    let e = FilterRules::load(&toml).unwrap_err();
    assert!(
        matches!(e, DataError::Config { .. }) && e.to_string().contains("rules.toml"),
        "{e}"
    );
    // round trip of the defaults through TOML
    let text = FilterRules::default().to_toml();
    assert_eq!(
        FilterRules::from_toml(&text, &toml).unwrap(),
        FilterRules::default()
    );
    // bad metadata names the file and line
    std::fs::write(&jsonl, "{\"id\":\"a\"}\n{not json}\n").unwrap();
    let e = filter::read_metadata(&jsonl).unwrap_err();
    assert!(
        e.to_string().contains("meta.jsonl") && e.to_string().contains("line 2"),
        "{e}"
    );
}

#[test]
fn sampler_uniform_window_repeat_and_seeding() {
    assert_eq!(
        sampler::uniform_indices(31, 16),
        (0..16).map(|i| 2 * i).collect::<Vec<_>>()
    );
    let u = sampler::uniform_indices(100, 16);
    assert_eq!((u[0], u[15]), (0, 99));
    assert_eq!(u[1], 7); // round(99/15) = round(6.6)
    assert_eq!(
        sampler::repeat_sorted(5, 16),
        vec![0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    );
    assert_eq!(
        sampler::uniform_indices(5, 16),
        sampler::repeat_sorted(5, 16)
    );
    let w = sampler::window_indices(200, 16, 4, 10);
    assert_eq!(w, (0..16).map(|i| 10 + 4 * i).collect::<Vec<_>>());
    let w = sampler::window_indices(40, 16, 4, 3); // 61-frame window shrinks to 40
    assert_eq!((w[0], w[15]), (0, 39));
    let s = Sampler::new(SamplerConfig {
        seed: 9,
        ..Default::default()
    })
    .unwrap();
    let (mut uni, mut win) = (0, 0);
    for k in 0..400 {
        let (mode, idx) = s.sample(k, 300, None).unwrap();
        assert_eq!(idx.len(), 16);
        assert!(idx.windows(2).all(|p| p[0] <= p[1]) && *idx.last().unwrap() < 300);
        match mode {
            SampleMode::Uniform => uni += 1,
            SampleMode::Window => {
                win += 1;
                assert!(idx.windows(2).all(|p| p[1] - p[0] == 4));
            }
        }
        assert_eq!(
            s.sample(k, 300, None).unwrap(),
            (mode, idx),
            "same seed, same sample"
        );
    }
    assert!(
        (150..250).contains(&uni) && uni + win == 400,
        "ratio 0.5: {uni} uniform"
    );
    assert_eq!(
        s.sample(0, 300, Some(false)).unwrap().0,
        SampleMode::Uniform
    );
    assert_eq!(s.sample(0, 300, Some(true)).unwrap().0, SampleMode::Window);
    let other = Sampler::new(SamplerConfig {
        seed: 10,
        ..Default::default()
    })
    .unwrap();
    assert!((0..50).any(|k| other.sample(k, 300, None).unwrap() != s.sample(k, 300, None).unwrap()));
    assert!(Sampler::new(SamplerConfig {
        uniform_ratio: 1.5,
        ..Default::default()
    })
    .is_err());
    assert!(s.sample(0, 0, None).is_err());
}

#[test]
fn keyframes_follow_upstream_indices_and_short_edge() {
    assert_eq!(
        keyframes::keyframe_indices(100),
        vec![0, 14, 28, 42, 56, 70, 84, 99]
    );
    assert_eq!(keyframes::keyframe_indices(5), vec![0, 0, 0, 0, 0, 0, 0, 4]);
    assert_eq!(keyframes::short_edge_size(640, 360, 256), (455, 256));
    assert_eq!(keyframes::short_edge_size(200, 100, 256), (200, 100));
    let dir = tempfile::tempdir().unwrap();
    let p = common::testsrc(dir.path(), "k.mp4", 57, "640x360", 25);
    let k = keyframes::extract_keyframes(&p, 256).unwrap();
    let idx: Vec<usize> = k.iter().map(|(i, _)| *i).collect();
    assert_eq!(idx, keyframes::keyframe_indices(57));
    assert!(k.iter().all(|(_, f)| f.dimensions() == (455, 256)));
    // testsrc draws a frame counter: the keyframes differ from each other
    assert_ne!(k[0].1, k[7].1);
}

#[test]
fn manifests_round_trip_and_report_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![
        ChronoRow {
            videoid: "v1".into(),
            name: "Time-lapse of a rose, \"red\", blooming.".into(),
            is_transmit: 0,
        },
        ChronoRow {
            videoid: "v2".into(),
            name: "multi\nline caption".into(),
            is_transmit: 1,
        },
    ];
    let p = dir.path().join("m.csv");
    manifest::write_chronomagic_csv(&p, &rows).unwrap();
    assert!(std::fs::read_to_string(&p)
        .unwrap()
        .starts_with("videoid,name,is_transmit\n"));
    assert_eq!(manifest::read_chronomagic_csv(&p).unwrap(), rows);
    let recs = vec![ClipRecord {
        videoid: "v1".into(),
        file: "v1.mp4".into(),
        source: Some("src.mp4".into()),
        span: Some((10, 74)),
        start_time: Some(0.4),
        fps: 25.0,
        frames: 64,
        width: 640,
        height: 360,
        caption: "Time-lapse of a rose blooming.".into(),
        provenance: Some(Provenance {
            method: "rule".into(),
            model: None,
            inputs: vec!["title".into()],
            draft: true,
        }),
        is_transmit: 0,
        category: Some("biological".into()),
        kind: Some("metamorphic".into()),
        extra: serde_json::json!({"pixel_score": 31.5}),
    }];
    manifest::write_manifests(dir.path(), "clips", &recs).unwrap();
    let back: Vec<ClipRecord> = manifest::read_jsonl(dir.path().join("clips.jsonl")).unwrap();
    assert_eq!(back, recs);
    assert_eq!(
        manifest::read_chronomagic_csv(dir.path().join("clips.csv")).unwrap()[0],
        recs[0].chrono_row()
    );
    std::fs::write(&p, "videoid,name\nx,y\n").unwrap();
    let e = manifest::read_chronomagic_csv(&p).unwrap_err();
    assert!(
        e.to_string().contains("is_transmit") && e.to_string().contains("m.csv"),
        "{e}"
    );
    std::fs::write(&p, "videoid,name,is_transmit\nx,y,7\n").unwrap();
    assert!(manifest::read_chronomagic_csv(&p)
        .unwrap_err()
        .to_string()
        .contains("row 2"));
}

#[test]
fn rule_fuser_builds_a_clean_caption_with_provenance() {
    let input = CaptionInput {
        title: "AMAZING 4K Time-lapse: Pink Rose Blooming!! (Nikon D850) #flowers".into(),
        tags: vec!["macro".into(), "rose".into(), "garden".into()],
        description: "Shot over 3 days in my garden. Subscribe!".into(),
        keyframe_captions: vec![
            "A closed pink bud.".into(),
            "A half-open rose.".into(),
            "A fully open pink rose.".into(),
        ],
        keyframes: vec![],
    };
    let c = RuleFuser::default().caption(&input).unwrap();
    assert!(
        c.text.starts_with("Time-lapse of pink rose blooming."),
        "{}",
        c.text
    );
    assert!(
        c.text
            .contains("begins with a closed pink bud and ends with a fully open pink rose"),
        "{}",
        c.text
    );
    assert!(
        c.text.contains("macro, garden") && !c.text.contains("#") && !c.text.contains("Nikon"),
        "{}",
        c.text
    );
    assert!(c.text.split_whitespace().count() <= 70);
    assert_eq!(c.provenance.method, "rule");
    assert!(c.provenance.draft);
    assert!(c.provenance.inputs.contains(&"keyframes".to_string()));
    assert!(RuleFuser::default()
        .caption(&CaptionInput::default())
        .is_err());
    // the "Frame N" rule
    assert!(caption::check_caption("The bud opens by Frame 3 and blooms.").is_err());
    assert!(caption::check_caption("In frame 12 the ice is gone.").is_err());
    assert!(caption::check_caption("A frame of ice melts slowly.").is_ok());
    assert!(caption::check_caption(&"word ".repeat(71)).is_err());
    assert_eq!(
        caption::truncate_words(&"a b, ".repeat(50), 5),
        "a b, a b, a."
    );
}

/// A one-shot OpenAI-compatible server on localhost: returns `replies` in order and records
/// the request bodies.
fn serve(replies: Vec<String>) -> (String, std::thread::JoinHandle<Vec<serde_json::Value>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let mut bodies = Vec::new();
        for reply in replies {
            let (mut s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0;
            let mut line = String::new();
            let mut first = String::new();
            r.read_line(&mut first).unwrap();
            assert!(first.starts_with("POST /v1/chat/completions"), "{first}");
            loop {
                line.clear();
                r.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if line.to_ascii_lowercase().starts_with("authorization:") {
                    assert!(line.contains("Bearer sk-test"));
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            bodies.push(serde_json::from_slice(&body).unwrap());
            let payload = serde_json::json!({"choices": [{"message": {"role": "assistant", "content": reply}}]}).to_string();
            write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}", payload.len()).unwrap();
        }
        bodies
    });
    (url, h)
}

#[test]
fn openai_captioner_sends_views_and_images_and_rejects_frame_numbers() {
    let bad = r#"{"frames":[{"reasoning":"bud","caption":"a bud"}],"summary":"The rose opens by Frame 4."}"#.to_string();
    let good = "```json\n{\"frames\":[{\"reasoning\":\"closed\",\"caption\":\"a bud\"},{\"reasoning\":\"open\",\"caption\":\"a rose\"}],\"summary\":\"Time-lapse of a pink rose opening from a bud into full bloom.\"}\n```".to_string();
    let (url, h) = serve(vec![bad, good]);
    let cap = OpenAiCaptioner::new(OpenAiConfig {
        base_url: url,
        model: "test-vlm".into(),
        api_key: Some("sk-test".into()),
        timeout_s: 10,
        retries: 2,
        send_images: true,
    })
    .unwrap();
    let input = CaptionInput {
        title: "Rose blooming timelapse".into(),
        tags: vec!["rose".into()],
        description: "garden".into(),
        keyframe_captions: vec![],
        keyframes: vec![image::RgbImage::new(8, 8), image::RgbImage::new(8, 8)],
    };
    let c = cap.caption(&input).unwrap();
    assert_eq!(
        c.text,
        "Time-lapse of a pink rose opening from a bud into full bloom."
    );
    assert_eq!(c.frame_captions, vec!["a bud", "a rose"]);
    assert_eq!(c.provenance.method, "llm");
    assert_eq!(c.provenance.model.as_deref(), Some("test-vlm"));
    let bodies = h.join().unwrap();
    assert_eq!(bodies.len(), 2, "the Frame-N summary was retried");
    let content = &bodies[0]["messages"][1]["content"];
    assert!(content[0]["text"]
        .as_str()
        .unwrap()
        .contains("Rose blooming timelapse"));
    assert!(content[1]["image_url"]["url"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,"));
    assert_eq!(content.as_array().unwrap().len(), 3);
    assert_eq!(bodies[0]["model"], "test-vlm");
    // an endpoint that is down is a typed error, not a panic: a listener of our own that hangs up
    // on every connection (no assumption that some fixed port is closed on this machine)
    let hang_up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_addr = hang_up.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in hang_up.incoming() {
            drop(conn);
        }
    });
    let down = OpenAiCaptioner::new(OpenAiConfig {
        base_url: format!("http://{down_addr}/v1"),
        model: "m".into(),
        api_key: None,
        timeout_s: 2,
        retries: 0,
        send_images: false,
    })
    .unwrap();
    assert!(matches!(down.caption(&input), Err(DataError::Captioner(_))));
}
