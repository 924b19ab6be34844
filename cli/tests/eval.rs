//! `magictime eval`, called as the binary does: ChronoMagic-Synth folders in, report JSON +
//! Markdown + SVG plots out. Every number of the report is recomputed here from the features and
//! embeddings of the same videos by the formulas written out in `common/formulas.rs`: FVD and KVD
//! from I3D logits, CLIPSIM and the metamorphic score from the embedded in-domain CLIP's
//! embeddings (the `--clip` default, with its ramp weight and logit scale).

/// The metrics crate's test oracles.
#[path = "../../metrics/tests/common/formulas.rs"]
mod formulas;

use std::path::PathBuf;

use clap::Parser;
use formulas::{frechet_by_hand, mmd_by_hand, scores_by_hand};
use magictime_cli::metrics::{run_eval, EvalArgs};
use magictime_data::synth::{write_dataset, KindSelect, SynthConfig};
use magictime_metrics::clip_embedder::ClipEmbedder;
use magictime_metrics::clipsim::{VideoTextEmbedder, GENERAL_TEXTS, METAMORPHIC_TEXTS};
use magictime_metrics::eval::{decode, list_videos};
use magictime_metrics::features::{Clip, Cpu, I3dExtractor};
use magictime_metrics::i3d::preprocess::FrameSampling;

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
        "in-domain",
        "--i3d-weights",
        weights.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .eval;
    run_eval(&args).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let num = |key: &str| {
        json[key]
            .as_f64()
            .unwrap_or_else(|| panic!("report lacks {key}: {json}"))
    };
    let close = |got: f64, want: f64, what: &str| {
        assert!(
            (got - want).abs() <= 1e-6 * want.abs().max(1e-3),
            "{what}: report {got}, by hand {want}"
        );
    };
    assert_eq!(json["protocol"]["n_real"], 3);
    assert_eq!(json["protocol"]["n_fake"], 3);
    assert_eq!(
        json["protocol"]["clip_model"],
        magictime_model::clip::in_domain::NAME
    );
    // FVD and KVD: the I3D logits of the same clips (one batch per set, as `--batch 4` runs
    // them), through the Fréchet distance and the unbiased cubic-kernel MMD² by hand. With 3
    // videos per set every KVD subset holds all of them, so KVD is the MMD² of the whole sets.
    let clips = |dir: &std::path::Path| -> Vec<(Clip, Option<String>)> {
        list_videos(dir)
            .unwrap()
            .into_iter()
            .take(3)
            .map(|v| (decode(&v.path).unwrap(), v.prompt))
            .collect()
    };
    let (real_clips, fake_clips) = (clips(&real), clips(&fake));
    let i3d =
        I3dExtractor::<Cpu>::load(&weights, FrameSampling::Uniform, &Default::default()).unwrap();
    let logits = |c: &[(Clip, Option<String>)]| {
        i3d.extract(&c.iter().map(|(c, _)| c).collect::<Vec<_>>())
            .logits
    };
    let (lr, lf) = (logits(&real_clips), logits(&fake_clips));
    close(num("fvd"), frechet_by_hand(&lr, &lf, 400), "FVD");
    close(num("kvd"), mmd_by_hand(&lr, &lf, 400), "KVD");
    assert!(num("fvd") > 1.0, "FVD of two different sets {}", num("fvd"));
    // CLIPSIM and MT per video, from the in-domain CLIP's embeddings of all frames of the
    // decoded video and of the texts (its ramp weight γ = 1.5: frame order matters)
    let clip = ClipEmbedder::<Cpu>::in_domain(&Default::default()).unwrap();
    assert_eq!(
        clip.temporal_weight(),
        magictime_model::clip::in_domain::TEMPORAL_WEIGHT
    );
    let meta = clip.embed_texts(&METAMORPHIC_TEXTS).unwrap();
    let general = clip.embed_texts(&GENERAL_TEXTS).unwrap();
    let videos = json["details"]["video_text"]["videos"].as_array().unwrap();
    let (mut clipsims, mut mts) = (Vec::new(), Vec::new());
    for ((c, prompt), v) in fake_clips.iter().zip(videos) {
        let prompt = prompt.as_deref().unwrap();
        assert_eq!(v["prompt"], prompt);
        let frames: Vec<&[u8]> = (0..c.n).map(|t| c.frame(t)).collect();
        let (cs, mt) = scores_by_hand(
            &clip.embed_frames(&frames, c.h, c.w).unwrap(),
            &clip.embed_texts(&[prompt]).unwrap()[0],
            &meta,
            &general,
            f64::from(clip.logit_scale()),
            clip.temporal_weight(),
        );
        close(v["clipsim"].as_f64().unwrap(), cs, "CLIPSIM of a video");
        close(v["metamorphic"].as_f64().unwrap(), mt, "MT of a video");
        clipsims.push(cs);
        mts.push(mt);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    close(num("clipsim"), mean(&clipsims), "CLIPSIM");
    close(num("clipsim_x100"), 100.0 * mean(&clipsims), "CLIPSIM ×100");
    close(num("mt"), mean(&mts), "MT");
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
    // a GPU this build cannot drive is the backend's error, and no report is written
    let mut gpu = args.clone();
    gpu.device = magictime_model::backend::BackendKind::Cuda { index: 0 };
    gpu.out = tmp.path().join("gpu").join("report.json");
    let err = run_eval(&gpu).unwrap_err().to_string();
    assert!(err.to_lowercase().contains("cuda"), "{err}");
    assert!(!gpu.out.exists());
}
