//! `magictime eval` logic, called as the binary would: ChronoMagic-Synth folders in, report JSON +
//! Markdown + SVG plots out; clipsim/mt with the tiny random CLIP (smoke: checks the plumbing,
//! the numbers of a random CLIP mean nothing).

use std::path::PathBuf;

use clap::Parser;
use magictime_data::synth::{write_dataset, KindSelect, SynthConfig};
use magictime_metrics::cli::{run_eval, EvalArgs};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    eval: EvalArgs,
}

fn synth(dir: &std::path::Path, seed: u64, kind: KindSelect) {
    let cfg = SynthConfig {
        kind,
        threads: 2,
        ..SynthConfig::new(3, 64, 16, seed)
    };
    write_dataset(&cfg, dir, &|_, _| {}).unwrap();
}

#[test]
fn eval_writes_report_summary_and_plots() {
    let tmp = tempfile::tempdir().unwrap();
    let (real, fake) = (tmp.path().join("real"), tmp.path().join("fake"));
    synth(&real, 11, KindSelect::Metamorphic);
    synth(&fake, 12, KindSelect::Both);
    let out = tmp.path().join("out/report.json");
    let weights = magictime_metrics::i3d::default_weights_path();
    let args = Cli::parse_from([
        "eval",
        "--real",
        real.to_str().unwrap(),
        "--fake",
        fake.to_str().unwrap(),
        "--metrics",
        "fvd,clipsim,mt",
        "--n",
        "3",
        "--kid-subsets",
        "5",
        "--clip",
        "tiny-random",
        "--i3d-weights",
        weights.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .eval;
    run_eval(&args).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    for key in ["fvd", "kvd", "clipsim", "clipsim_x100", "mt"] {
        assert!(json[key].is_number(), "report lacks {key}: {json}");
    }
    assert_eq!(json["protocol"]["n_real"], 3);
    assert_eq!(json["protocol"]["n_fake"], 3);
    assert_eq!(json["protocol"]["clip_model"], "tiny CLIP (random weights)");
    assert_eq!(
        json["details"]["video_text"]["videos"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let dir: PathBuf = out.parent().unwrap().into();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("FVD") && md.contains("report_pca.svg") && md.contains("CLIPSIM"));
    let pca = std::fs::read_to_string(dir.join("report_pca.svg")).unwrap();
    assert_eq!(
        pca.matches("<circle").count(),
        6 + 2,
        "3 + 3 points and 2 legend marks"
    );
    assert!(std::fs::read_to_string(dir.join("report_clipsim.svg"))
        .unwrap()
        .contains("<rect"));

    // a missing CLIP folder for clipsim is a clear error, before any work
    let mut no_clip = args.clone();
    no_clip.clip = tmp.path().join("no-clip-here");
    let err = run_eval(&no_clip).unwrap_err().to_string();
    assert!(
        err.contains("--clip") && err.contains("no-clip-here"),
        "{err}"
    );
    // missing FID weights name the file
    let mut fid = args.clone();
    fid.metrics = vec![magictime_metrics::eval::Metric::Fid];
    fid.fid_weights = tmp.path().join("none.pth");
    let err = run_eval(&fid).unwrap_err().to_string();
    assert!(
        err.contains("pt_inception-2015-12-05-6726825d.pth") && err.contains("none.pth"),
        "{err}"
    );
}
