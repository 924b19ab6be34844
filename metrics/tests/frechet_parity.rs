//! Parity of the Fréchet distance and KID with pytorch-fid / clean-fid on committed fixtures
//! (made by tools/metrics/make_fd_fixtures.py).

mod common;

use common::{rel_err, Fixture};
use magictime_metrics::kid::{kernel_distance_with_subsets, Features};
use magictime_metrics::{frechet_distance, StatsAccumulator};

fn check_fd_fixture(name: &str, reference_key: &str, tol: f64) {
    let fx = Fixture::open(name);
    let [n1, d] = fx.shape("x1")[..] else {
        panic!()
    };
    let x1 = fx.f32s("x1");
    let x2 = fx.f32s("x2");
    // streaming statistics, odd batch size
    let mut a = StatsAccumulator::new(d);
    for chunk in x1.chunks(7 * d) {
        a.add_rows_f32(chunk).unwrap();
    }
    let mut b = StatsAccumulator::new(d);
    for chunk in x2.chunks(5 * d) {
        b.add_rows_f32(chunk).unwrap();
    }
    let (a, b) = (a.finish().unwrap(), b.finish().unwrap());
    assert_eq!(a.n, n1);
    for (key, got) in [
        ("mu1", &a.mean),
        ("mu2", &b.mean),
        ("sigma1", &a.cov),
        ("sigma2", &b.cov),
    ] {
        let want = fx.f64s(key);
        assert_eq!(got.len(), want.len(), "{name} {key}: length");
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let err = got
            .iter()
            .zip(&want)
            .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()));
        assert!(
            err <= 1e-12 * scale,
            "{name} {key}: max err {err:e} (scale {scale})"
        );
    }
    let fd = frechet_distance(&a, &b).unwrap();
    let want = fx.scalar(reference_key);
    let e = rel_err(fd.value, want);
    println!(
        "{name}: FD {} vs {reference_key} {want} rel err {e:e}",
        fd.value
    );
    assert!(
        e <= tol,
        "{name}: FD {} vs {want} ({reference_key}), rel err {e:e}",
        fd.value
    );
    // self distance
    let zero = frechet_distance(&a, &a).unwrap();
    assert!(
        zero.value.abs() <= 1e-9 * fd.value.abs().max(1.0),
        "{name}: self FD {}",
        zero.value
    );
}

#[test]
fn fd_d8_n64_matches_pytorch_fid() {
    check_fd_fixture("fd_d8_n64.safetensors", "fd_pytorch_fid", 1e-6);
}

#[test]
fn fd_d64_n256_matches_pytorch_fid() {
    check_fd_fixture("fd_d64_n256.safetensors", "fd_pytorch_fid", 1e-6);
}

#[test]
fn fd_d128_n400_matches_pytorch_fid() {
    check_fd_fixture("fd_d128_n400.safetensors", "fd_pytorch_fid", 1e-6);
}

/// N < d: both covariances singular. pytorch-fid's sqrtm hits the singular branch and adds an
/// `eps` offset (its answer moves by ~1e-8 relative); compare against the exact eigh form, and
/// with pytorch-fid still within 1e-6. The square root of the ~28 zero eigenvalues turns
/// rounding noise of 1e-15 into ~1e-8 each, so the exact form agrees to ~1e-8, not 1e-14.
#[test]
fn fd_rank_deficient_d48_n20() {
    check_fd_fixture("fd_d48_n20.safetensors", "fd_eigh", 1e-7);
    check_fd_fixture("fd_d48_n20.safetensors", "fd_pytorch_fid", 1e-6);
}

fn check_kid_fixture(name: &str) {
    let fx = Fixture::open(name);
    let d = fx.shape("f1")[1];
    let (f1, f2) = (fx.f32s("f1"), fx.f32s("f2"));
    let [s, m] = fx.shape("idx1")[..] else {
        panic!()
    };
    let rows = |key: &str| -> Vec<Vec<usize>> {
        fx.f64s(key)
            .chunks(m)
            .map(|c| c.iter().map(|&v| v as usize).collect())
            .collect()
    };
    let kid = kernel_distance_with_subsets(
        Features { data: &f1, dim: d },
        Features { data: &f2, dim: d },
        &rows("idx1"),
        &rows("idx2"),
    )
    .unwrap();
    let want = fx.scalar("kid_clean_fid");
    let per = fx.f64s("kid_per_subset");
    let pm = per.iter().sum::<f64>() / per.len() as f64;
    let pstd = (per.iter().map(|v| (v - pm) * (v - pm)).sum::<f64>() / per.len() as f64).sqrt();
    println!("{name}: KID {} ± {} vs clean-fid {want}", kid.mean, kid.std);
    assert_eq!((kid.num_subsets, kid.subset_size), (s, m));
    assert!(
        rel_err(kid.mean, want) < 1e-9,
        "{name}: KID {} vs {want}",
        kid.mean
    );
    assert!(
        rel_err(kid.std, pstd) < 1e-9,
        "{name}: std {} vs {pstd}",
        kid.std
    );
}

#[test]
fn kid_d16_matches_clean_fid() {
    check_kid_fixture("kid_d16.safetensors");
}

#[test]
fn kid_subset_larger_than_set_matches_clean_fid() {
    check_kid_fixture("kid_d32_small.safetensors");
}
