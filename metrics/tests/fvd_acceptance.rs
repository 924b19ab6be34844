//! Acceptance: FVD of ChronoMagic-Synth sets, end to end — synth clips rendered and encoded to
//! MP4 by `magictime-data`, decoded by ffmpeg, preprocessed by the FVD protocol, I3D with the
//! real Kinetics-400 weights, Fréchet distance — through the same `evaluate` the CLI runs.
//!
//! Sets (64×64, 16 frames, N = 6 per set to keep CI under budget; FD at N = 6 is heavily biased,
//! so these numbers are only comparable to themselves):
//! - A  = metamorphic clips, seed 1
//! - A' = metamorphic clips, seed 2
//! - B  = general (non-metamorphic) clips, seed 3
//!
//! Asserts the sanity relation FVD(A, A') < FVD(A, B) and the value FVD(A, A') measured once
//! (documented below) within 1e-3 relative.

mod common;

use std::path::Path;

use magictime_data::synth::{write_dataset, KindSelect, SynthConfig};
use magictime_metrics::eval::{evaluate, EvalOptions, Metric};
use magictime_metrics::i3d::default_weights_path;
use magictime_metrics::i3d::preprocess::FrameSampling;
use magictime_metrics::kid::KidOptions;

const N: usize = 6;
/// FVD(A, A') and FVD(A, B) measured once with these settings (2026-11-25, burn-flex CPU,
/// ffmpeg 5.1 libx264 single-threaded encode): 973.5328756022479 and 1591.6153017….
const FVD_A_A2: f64 = 973.532_875_602_247_9;
const FVD_A_B: f64 = 1_591.615_301_7;

fn synth(dir: &Path, seed: u64, kind: KindSelect) {
    let cfg = SynthConfig {
        kind,
        threads: 2,
        ..SynthConfig::new(N, 64, 16, seed)
    };
    write_dataset(&cfg, dir, &|_, _| {}).expect("synth dataset");
}

#[test]
fn fvd_of_synth_sets_end_to_end() {
    let weights = default_weights_path();
    assert!(
        weights.exists(),
        "{} missing: run `make i3d-weights`",
        weights.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let (a, a2, b) = (
        tmp.path().join("a"),
        tmp.path().join("a2"),
        tmp.path().join("b"),
    );
    synth(&a, 1, KindSelect::Metamorphic);
    synth(&a2, 2, KindSelect::Metamorphic);
    synth(&b, 3, KindSelect::General);
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
    let same = evaluate(&a, &a2, &opts, None, &|_, _, _| {}).unwrap();
    let diff = evaluate(&a, &b, &opts, None, &|_, _, _| {}).unwrap();
    let (f_same, f_diff) = (same.fvd.unwrap(), diff.fvd.unwrap());
    println!(
        "FVD(A, A') = {:.6} (mean {:.4}, cov {:.4})",
        f_same.value, f_same.mean_term, f_same.cov_term
    );
    println!(
        "FVD(A, B)  = {:.6} (mean {:.4}, cov {:.4})",
        f_diff.value, f_diff.mean_term, f_diff.cov_term
    );
    println!(
        "KVD(A, A') = {:?}, KVD(A, B) = {:?}",
        same.kvd.as_ref().map(|k| k.mean),
        diff.kvd.as_ref().map(|k| k.mean)
    );
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
    for (got, want, name) in [
        (f_same.value, FVD_A_A2, "FVD(A, A')"),
        (f_diff.value, FVD_A_B, "FVD(A, B)"),
    ] {
        assert!(
            (got - want).abs() <= 1e-3 * want.abs(),
            "{name} = {got}, documented {want}"
        );
    }
    // the JSON report has the top-level keys and the protocol
    let json = same.to_json();
    assert!(json["fvd"].is_number() && json["kvd"].is_number());
    assert_eq!(json["protocol"]["frames"], 16);
}
