//! GroupNorm (optionally followed by SiLU, as every resnet block uses it) and LayerNorm on
//! contiguous `f32`: statistics in one pass each (mean, then the sum of squared deviations, as
//! torch does, accumulated in f64 across chunks), then one pass that applies the per-channel
//! affine folded into a single multiply-add. Burn's generic composition costs five to seven
//! passes with a temporary each.

use multiversion::multiversion;
use rayon::prelude::*;

use super::math::{madd, silu};

/// Elements summed in `f32` lanes before being added into the `f64` total.
const CHUNK: usize = 4096;
const LANES: usize = 16;
/// LayerNorm rows per parallel task.
const ROWS_PER_TASK: usize = 64;

/// Group normalisation of `x` `[n, frames, c, rest]` (row-major) with `groups` groups over
/// `c` and a per-channel affine. The statistics of sample `n`, group `g` span all its frames
/// (`frames = 1`: torch's GroupNorm on `[n, c, rest]`; `frames = f`: a video normalised over
/// `(c, f, h, w)` while stored frame-major, as the motion modules need, without a permute).
/// `silu` applies `x·sigmoid(x)` to the result in the same pass.
#[allow(clippy::too_many_arguments)]
pub fn group_norm(
    x: &[f32],
    frames: usize,
    c: usize,
    rest: usize,
    groups: usize,
    weight: &[f32],
    bias: &[f32],
    eps: f64,
    silu: bool,
) -> Vec<f32> {
    assert!(
        groups > 0 && c.is_multiple_of(groups),
        "group_norm: {c} channels, {groups} groups"
    );
    assert_eq!(weight.len(), c, "group_norm: weight");
    assert_eq!(bias.len(), c, "group_norm: bias");
    let slab = c * rest;
    assert!(
        slab > 0 && frames > 0 && x.len().is_multiple_of(frames * slab),
        "group_norm: {} values for frames {frames} × c {c} × rest {rest}",
        x.len()
    );
    let n = x.len() / (frames * slab);
    let cg = c / groups;
    // 1. (mean, rstd) per (sample, group)
    let stats: Vec<(f32, f32)> = (0..n * groups)
        .into_par_iter()
        .map(|i| {
            let (s, g) = (i / groups, i % groups);
            let parts = (0..frames).map(|f| {
                let at = (s * frames + f) * slab + g * cg * rest;
                &x[at..at + cg * rest]
            });
            let count = (frames * cg * rest) as f64;
            let mean = (parts.clone().map(|p| chunked_sum(p, None)).sum::<f64>() / count) as f32;
            let dev = parts.map(|p| chunked_sum(p, Some(mean))).sum::<f64>();
            (mean, (1.0 / (dev / count + eps).sqrt()) as f32)
        })
        .collect();
    // 2. the affine, one [c, rest] slab per task
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(slab)
        .zip(x.par_chunks(slab))
        .enumerate()
        .for_each(|(k, (o, xs))| {
            let st = &stats[(k / frames) * groups..(k / frames + 1) * groups];
            apply_slab(xs, o, rest, cg, st, weight, bias, silu);
        });
    out
}

#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512bw+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
#[allow(clippy::too_many_arguments)]
fn apply_slab(
    x: &[f32],
    out: &mut [f32],
    rest: usize,
    cg: usize,
    stats: &[(f32, f32)],
    weight: &[f32],
    bias: &[f32],
    with_silu: bool,
) {
    for (ch, (xc, oc)) in x.chunks(rest).zip(out.chunks_mut(rest)).enumerate() {
        let (mean, rstd) = stats[ch / cg];
        let a = weight[ch] * rstd;
        let b = bias[ch] - mean * a;
        if with_silu {
            for (o, &v) in oc.iter_mut().zip(xc) {
                *o = silu(madd(v, a, b));
            }
        } else {
            for (o, &v) in oc.iter_mut().zip(xc) {
                *o = madd(v, a, b);
            }
        }
    }
}

/// Σx (or Σ(x−mean)² with `Some(mean)`), in f32 lanes per chunk, f64 across chunks.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512bw+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn chunked_sum(x: &[f32], mean: Option<f32>) -> f64 {
    let mut total = 0f64;
    for c in x.chunks(CHUNK) {
        total += match mean {
            None => lane_sum(c, |v| v),
            Some(m) => lane_sum(c, |v| (v - m) * (v - m)),
        } as f64;
    }
    total
}

/// Layer normalisation of the rows of `x` `[rows, d]` with a per-column affine.
pub fn layer_norm(x: &[f32], d: usize, weight: &[f32], bias: &[f32], eps: f64) -> Vec<f32> {
    assert!(
        d > 0 && x.len().is_multiple_of(d),
        "layer_norm: {} values, rows of {d}",
        x.len()
    );
    assert_eq!(weight.len(), d, "layer_norm: weight");
    assert_eq!(bias.len(), d, "layer_norm: bias");
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(ROWS_PER_TASK * d)
        .zip(x.par_chunks(ROWS_PER_TASK * d))
        .for_each(|(o, xs)| normalise_rows(xs, o, d, weight, bias, eps));
    out
}

#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512bw+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn normalise_rows(x: &[f32], out: &mut [f32], d: usize, weight: &[f32], bias: &[f32], eps: f64) {
    for (xr, or) in x.chunks(d).zip(out.chunks_mut(d)) {
        let (mean, rstd) = moments(xr, eps);
        for ((o, &v), (&w, &b)) in or.iter_mut().zip(xr).zip(weight.iter().zip(bias)) {
            let a = w * rstd;
            *o = madd(v, a, b - mean * a);
        }
    }
}

/// Mean and `1/sqrt(biased variance + eps)` of a row.
#[inline(always)]
fn moments(x: &[f32], eps: f64) -> (f32, f32) {
    let n = x.len() as f64;
    let mean = (lane_sum(x, |v| v) as f64 / n) as f32;
    let dev = lane_sum(x, |v| (v - mean) * (v - mean)) as f64;
    (mean, (1.0 / (dev / n + eps).sqrt()) as f32)
}

#[inline(always)]
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for c in chunks {
        for (a, &v) in lanes.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    tail + lanes.iter().sum::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 % 1000) as f32 / 100.0 - 3.0) * 1.7 + 5.0)
            .collect()
    }

    #[test]
    fn group_norm_matches_f64_reference() {
        let (n, c, rest, groups) = (2, 6, 37, 3);
        let x = data(n * c * rest);
        let w: Vec<f32> = (0..c).map(|i| 0.5 + i as f32 * 0.1).collect();
        let b: Vec<f32> = (0..c).map(|i| i as f32 * -0.2).collect();
        for with_silu in [false, true] {
            let y = group_norm(&x, 1, c, rest, groups, &w, &b, 1e-6, with_silu);
            let cg = c / groups;
            for s in 0..n {
                for g in 0..groups {
                    let idx = |ch: usize, r: usize| (s * c + ch) * rest + r;
                    let vals: Vec<f64> = (g * cg..(g + 1) * cg)
                        .flat_map(|ch| (0..rest).map(move |r| (ch, r)))
                        .map(|(ch, r)| x[idx(ch, r)] as f64)
                        .collect();
                    let m = vals.iter().sum::<f64>() / vals.len() as f64;
                    let var = vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / vals.len() as f64;
                    for ch in g * cg..(g + 1) * cg {
                        for r in 0..rest {
                            let mut want = (x[idx(ch, r)] as f64 - m) / (var + 1e-6).sqrt()
                                * w[ch] as f64
                                + b[ch] as f64;
                            if with_silu {
                                want /= 1.0 + (-want).exp();
                            }
                            let got = y[idx(ch, r)] as f64;
                            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn group_norm_over_frames_equals_channel_major_layout() {
        // [n, f, c, rest] normalised over (c-group, f, rest) == [n, c, f, rest] with frames = 1
        let (n, f, c, rest, groups) = (2, 3, 4, 10, 2);
        let x = data(n * f * c * rest);
        let w: Vec<f32> = (0..c).map(|i| 1.0 + i as f32).collect();
        let b: Vec<f32> = (0..c).map(|i| -(i as f32)).collect();
        let y = group_norm(&x, f, c, rest, groups, &w, &b, 1e-6, false);
        let mut xc = vec![0f32; x.len()];
        for s in 0..n {
            for fi in 0..f {
                for ch in 0..c {
                    for r in 0..rest {
                        xc[((s * c + ch) * f + fi) * rest + r] =
                            x[((s * f + fi) * c + ch) * rest + r];
                    }
                }
            }
        }
        let yc = group_norm(&xc, 1, c, f * rest, groups, &w, &b, 1e-6, false);
        for s in 0..n {
            for fi in 0..f {
                for ch in 0..c {
                    for r in 0..rest {
                        let (a, e) = (
                            y[((s * f + fi) * c + ch) * rest + r],
                            yc[((s * c + ch) * f + fi) * rest + r],
                        );
                        assert!((a - e).abs() < 1e-5, "{a} vs {e}");
                    }
                }
            }
        }
    }

    #[test]
    fn layer_norm_matches_f64_reference() {
        let d = 77;
        let x = data(130 * d);
        let w: Vec<f32> = (0..d).map(|i| 1.0 + i as f32 * 0.01).collect();
        let b: Vec<f32> = (0..d).map(|i| i as f32 * 0.03).collect();
        let y = layer_norm(&x, d, &w, &b, 1e-5);
        for (xr, yr) in x.chunks(d).zip(y.chunks(d)) {
            let m = xr.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
            let var = xr.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / d as f64;
            for i in 0..d {
                let want = (xr[i] as f64 - m) / (var + 1e-5).sqrt() * w[i] as f64 + b[i] as f64;
                assert!((yr[i] as f64 - want).abs() < 1e-5);
            }
        }
    }
}
