//! The `magictime data …` functions called the way the binary calls them.

use clap::Parser;
use magictime_data::cli::{self, Command, SampleArgs, SynthArgs};
use magictime_data::manifest;
use magictime_data::synth::KindSelect;

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
        "x bench-cuts --repeats 1",
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
