//! Fused scaled-dot-product attention on `f32`: `softmax(q·kᵀ·scale)·v` for every head, with an
//! online (flash-style) softmax over blocks of keys, so no `[lq, lk]` score matrix is built.
//!
//! Works on the projections' own layout, `[batch, len, heads·dh]`, so the head split/merge
//! permutes of the generic path (four copies per call) disappear. Keys and values are
//! transposed once per batch to `[heads, dh, lk]`, which makes both inner products (scores
//! and the weighted sum of values) stride-1 loops over keys that vectorise; the exponentials
//! use the polynomial `exp2` of [`super::math`] (Burn's flex evaluates `f32::exp` per score).

use multiversion::multiversion;
use rayon::prelude::*;

use super::math::{exp2, madd};

/// Keys per block of the online softmax (a multiple of [`LANES`]).
const TK: usize = 128;
/// Query rows sharing each loaded key chunk.
const R: usize = 4;
/// Query rows per parallel task.
const QB: usize = 64;
/// Key counts up to this take the short-row path (value sums straight into the output).
const SHORT: usize = 2 * LANES;
/// SIMD width the loops are written for (one AVX-512 register, two AVX2 ones). Keys are padded
/// to a multiple of it, and the softmax sums and value sums stay in these lanes until the end
/// of a row, so the only horizontal reduction per key block is the running maximum.
const LANES: usize = 16;

/// Sizes of one attention call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttnShape {
    /// Batch (frames · videos for spatial attention, pixels for temporal attention).
    pub batch: usize,
    /// Query length.
    pub lq: usize,
    /// Key/value length.
    pub lk: usize,
    /// Heads.
    pub heads: usize,
    /// Width of each head.
    pub dh: usize,
}

/// `q` `[batch, lq, heads·dh]`, `k`/`v` `[batch, lk, heads·dh]` (row-major) → the attention
/// output `[batch, lq, heads·dh]`, scores scaled by `scale`.
pub fn attention(q: &[f32], k: &[f32], v: &[f32], s: AttnShape, scale: f32) -> Vec<f32> {
    let AttnShape {
        batch,
        lq,
        lk,
        heads,
        dh,
    } = s;
    let inner = heads * dh;
    assert_eq!(q.len(), batch * lq * inner, "attention: q is not {s:?}");
    assert_eq!(k.len(), batch * lk * inner, "attention: k is not {s:?}");
    assert_eq!(v.len(), batch * lk * inner, "attention: v is not {s:?}");
    let mut out = vec![0f32; batch * lq * inner];
    if out.is_empty() || lk == 0 {
        return out;
    }
    // keys and values per batch as [heads·dh, lkp], zero-padded to a multiple of LANES keys
    let lkp = lk.next_multiple_of(LANES);
    let per = inner * lkp;
    let mut kt = vec![0f32; batch * per];
    let mut vt = vec![0f32; batch * per];
    // short sequences (motion modules: 16 frames) are grouped several batches per task
    let group = (QB / lq.max(1)).max(1);
    kt.par_chunks_mut(group * per)
        .zip(vt.par_chunks_mut(group * per))
        .enumerate()
        .for_each(|(g, (ktg, vtg))| {
            for (i, (ktb, vtb)) in ktg.chunks_mut(per).zip(vtg.chunks_mut(per)).enumerate() {
                let b = g * group + i;
                let (kb, vb) = (&k[b * lk * inner..], &v[b * lk * inner..]);
                for j in 0..lk {
                    for c in 0..inner {
                        ktb[c * lkp + j] = kb[j * inner + c];
                        vtb[c * lkp + j] = vb[j * inner + c];
                    }
                }
            }
        });
    let dims = Dims {
        lk,
        lkp,
        heads,
        dh,
        scale,
    };
    let at = |b: usize| {
        (
            &kt[b * per..(b + 1) * per],
            &vt[b * per..(b + 1) * per],
            &v[b * lk * inner..(b + 1) * lk * inner],
        )
    };
    if group > 1 {
        out.par_chunks_mut(group * lq * inner)
            .zip(q.par_chunks(group * lq * inner))
            .enumerate()
            .for_each(|(g, (og, qg))| {
                for (i, (ob, qb)) in og
                    .chunks_mut(lq * inner)
                    .zip(qg.chunks(lq * inner))
                    .enumerate()
                {
                    let (ktb, vtb, vb) = at(g * group + i);
                    rows(qb, ktb, vtb, vb, ob, dims);
                }
            });
    } else {
        out.par_chunks_mut(lq * inner)
            .zip(q.par_chunks(lq * inner))
            .enumerate()
            .for_each(|(b, (ob, qb))| {
                let (ktb, vtb, vb) = at(b);
                ob.par_chunks_mut(QB * inner)
                    .zip(qb.par_chunks(QB * inner))
                    .for_each(|(o, qrows)| rows(qrows, ktb, vtb, vb, o, dims));
            });
    }
    out
}

#[derive(Clone, Copy)]
struct Dims {
    lk: usize,
    lkp: usize,
    heads: usize,
    dh: usize,
    scale: f32,
}

/// One task: `qrows` `[rows, heads·dh]` against one batch's transposed, padded keys/values
/// (`v` is the same values untransposed, `[lk, heads·dh]`, for the short-sequence path).
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512bw+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn rows(qrows: &[f32], kt: &[f32], vt: &[f32], v: &[f32], out: &mut [f32], dims: Dims) {
    let Dims {
        lk,
        lkp,
        heads,
        dh,
        scale,
    } = dims;
    let inner = heads * dh;
    let n = qrows.len() / inner;
    // scores in base 2: softmax(x) = 2^(x·log₂e − max) / Σ…
    let scale2 = scale * std::f32::consts::LOG2_E;
    let mut qs = vec![0f32; R * dh];
    // value sums [r][d][lane] and softmax sums [r][lane], reduced at the end of each row
    let mut acc = vec![[0f32; LANES]; R * dh];
    let mut s = [[0f32; TK]; R];
    for h in 0..heads {
        let (kth, vth) = (
            &kt[h * dh * lkp..(h + 1) * dh * lkp],
            &vt[h * dh * lkp..(h + 1) * dh * lkp],
        );
        for r0 in (0..n).step_by(R) {
            let nr = R.min(n - r0);
            for r in 0..R {
                for d in 0..dh {
                    qs[d * R + r] = if r < nr {
                        qrows[(r0 + r) * inner + h * dh + d] * scale2
                    } else {
                        0.0
                    };
                }
            }
            if lkp <= SHORT {
                // one short block of keys (motion modules: 16 frames): plain
                // softmax, and the value sums straight into the output rows, which saves the
                // per-row lane reductions that dominate such short rows
                scores(&qs, kth, lkp, 0, lkp, &mut s);
                for (r, sr) in s.iter_mut().enumerate().take(nr) {
                    let sr = &mut sr[..lkp];
                    sr[lk..].fill(f32::NEG_INFINITY);
                    let mx = chunk_max(sr);
                    let mut lsum = [0f32; LANES];
                    exp2_minus_max(sr, mx, &mut lsum);
                    let o = &mut out[(r0 + r) * inner + h * dh..(r0 + r) * inner + (h + 1) * dh];
                    o.fill(0.0);
                    for (j, &p) in sr[..lk].iter().enumerate() {
                        let vrow = &v[j * inner + h * dh..j * inner + (h + 1) * dh];
                        // eight columns at a time by value (vector registers), then the tail
                        let split = dh / 8 * 8;
                        let (ob, ot) = o.split_at_mut(split);
                        let (vb, vtail) = vrow.split_at(split);
                        for (oc, vc) in ob.chunks_exact_mut(8).zip(vb.chunks_exact(8)) {
                            let (mut a, b): ([f32; 8], [f32; 8]) =
                                (oc.try_into().expect("8"), vc.try_into().expect("8"));
                            for i in 0..8 {
                                a[i] = madd(p, b[i], a[i]);
                            }
                            oc.copy_from_slice(&a);
                        }
                        for (od, &vd) in ot.iter_mut().zip(vtail) {
                            *od = madd(p, vd, *od);
                        }
                    }
                    let inv = 1.0 / lane_total(&lsum);
                    for od in o.iter_mut() {
                        *od *= inv;
                    }
                }
                continue;
            }
            let mut m = [f32::NEG_INFINITY; R];
            let mut l = [[0f32; LANES]; R];
            for a in acc.iter_mut() {
                *a = [0.0; LANES];
            }
            for j0 in (0..lkp).step_by(TK) {
                let tk = TK.min(lkp - j0);
                let valid = tk.min(lk - j0);
                scores(&qs, kth, lkp, j0, tk, &mut s);
                // per row: online softmax (padded keys get −∞, so e^… ≈ 1e-38 and their zero
                // values add nothing), then the value sums over the whole block in registers
                for (r, sr) in s.iter_mut().enumerate().take(nr) {
                    let sr = &mut sr[..tk];
                    sr[valid..].fill(f32::NEG_INFINITY);
                    let new_max = m[r].max(chunk_max(sr));
                    if new_max > m[r] {
                        let corr = exp2(m[r] - new_max);
                        for lane in l[r].iter_mut() {
                            *lane *= corr;
                        }
                        for a in acc[r * dh..(r + 1) * dh].iter_mut() {
                            for lane in a.iter_mut() {
                                *lane *= corr;
                            }
                        }
                        m[r] = new_max;
                    }
                    exp2_minus_max(sr, new_max, &mut l[r]);
                    value_sums(sr, vth, lkp, j0, &mut acc[r * dh..(r + 1) * dh]);
                }
            }
            for r in 0..nr {
                let inv = 1.0 / lane_total(&l[r]);
                let o = &mut out[(r0 + r) * inner + h * dh..(r0 + r) * inner + (h + 1) * dh];
                for (od, a) in o.iter_mut().zip(&acc[r * dh..(r + 1) * dh]) {
                    *od = lane_total(a) * inv;
                }
            }
        }
    }
}

/// The softmax numerators in place, `x ← 2^(x − max)`, added lane-wise into `sums`.
#[inline(always)]
fn exp2_minus_max(x: &mut [f32], max: f32, sums: &mut [f32; LANES]) {
    let mut lsum = *sums;
    for xc in x.chunks_exact_mut(LANES) {
        let mut e = chunk(xc);
        for i in 0..LANES {
            e[i] = exp2(e[i] - max);
            lsum[i] += e[i];
        }
        xc.copy_from_slice(&e);
    }
    *sums = lsum;
}

/// Scores of the R query rows `qs` `[dh, R]` (transposed) against keys `j0..j0+tk` of one head's
/// transposed keys `kth` `[dh, lkp]`, into `s[r][..tk]`: one LANES-wide chunk of keys at a time,
/// its R partial sums kept in registers.
#[inline(always)]
fn scores(qs: &[f32], kth: &[f32], lkp: usize, j0: usize, tk: usize, s: &mut [[f32; TK]; R]) {
    for c in (0..tk).step_by(LANES) {
        let mut sc = [[0f32; LANES]; R];
        for (qd, krow) in qs.chunks_exact(R).zip(kth.chunks_exact(lkp)) {
            let qd: [f32; R] = qd.try_into().expect("R rows");
            let kc = chunk(&krow[j0 + c..]);
            for (scr, &q) in sc.iter_mut().zip(&qd) {
                for i in 0..LANES {
                    scr[i] = madd(q, kc[i], scr[i]);
                }
            }
        }
        for (sr, scr) in s.iter_mut().zip(&sc) {
            sr[c..c + LANES].copy_from_slice(scr);
        }
    }
}

/// `acc[d] += Σ_chunks p·vt[d]` lane-wise over one block (`p` = `tk` softmax numerators), four
/// value rows at a time: four independent FMA chains sharing each load of `p`.
#[inline(always)]
fn value_sums(p: &[f32], vth: &[f32], lkp: usize, j0: usize, acc: &mut [[f32; LANES]]) {
    let tk = p.len();
    let done = acc.len() / 4 * 4;
    let mut quads = acc.chunks_exact_mut(4);
    for (q, a4) in (&mut quads).enumerate() {
        let d = 4 * q;
        let rows: [&[f32]; 4] =
            std::array::from_fn(|k| &vth[(d + k) * lkp + j0..(d + k) * lkp + j0 + tk]);
        let mut sums: [[f32; LANES]; 4] = [a4[0], a4[1], a4[2], a4[3]];
        for c in (0..tk).step_by(LANES) {
            let pc = chunk(&p[c..]);
            for (sum, row) in sums.iter_mut().zip(&rows) {
                let vc = chunk(&row[c..]);
                for i in 0..LANES {
                    sum[i] = madd(pc[i], vc[i], sum[i]);
                }
            }
        }
        a4.copy_from_slice(&sums);
    }
    for (k, a) in acc[done..].iter_mut().enumerate() {
        let row = &vth[(done + k) * lkp + j0..(done + k) * lkp + j0 + tk];
        let mut sum = *a;
        for c in (0..tk).step_by(LANES) {
            let (pc, vc) = (chunk(&p[c..]), chunk(&row[c..]));
            for i in 0..LANES {
                sum[i] = madd(pc[i], vc[i], sum[i]);
            }
        }
        *a = sum;
    }
}

/// The first LANES values of `x`, by value: the loops over such local arrays become vector
/// registers (references into slices keep the compiler from vectorising for fear of aliasing).
#[inline(always)]
fn chunk(x: &[f32]) -> [f32; LANES] {
    x[..LANES].try_into().expect("at least LANES values")
}

/// Maximum of a multiple-of-LANES slice: lane-wise, then a tree over the lanes.
#[inline(always)]
fn chunk_max(x: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    for c in x.chunks_exact(LANES) {
        let c = chunk(c);
        for i in 0..LANES {
            lanes[i] = lanes[i].max(c[i]);
        }
    }
    let mut w = LANES / 2;
    while w > 0 {
        for i in 0..w {
            lanes[i] = lanes[i].max(lanes[i + w]);
        }
        w /= 2;
    }
    lanes[0]
}

/// Sum of the lanes (pairwise tree).
#[inline(always)]
fn lane_total(x: &[f32; LANES]) -> f32 {
    let mut lanes = *x;
    let mut w = LANES / 2;
    while w > 0 {
        for i in 0..w {
            lanes[i] += lanes[i + w];
        }
        w /= 2;
    }
    lanes[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain three-loop reference in f64.
    fn reference(q: &[f32], k: &[f32], v: &[f32], s: AttnShape, scale: f32) -> Vec<f32> {
        let inner = s.heads * s.dh;
        let mut out = vec![0f32; s.batch * s.lq * inner];
        for b in 0..s.batch {
            for h in 0..s.heads {
                for i in 0..s.lq {
                    let qi = &q[(b * s.lq + i) * inner + h * s.dh..][..s.dh];
                    let sc: Vec<f64> = (0..s.lk)
                        .map(|j| {
                            let kj = &k[(b * s.lk + j) * inner + h * s.dh..][..s.dh];
                            qi.iter().zip(kj).map(|(a, b)| (a * b) as f64).sum::<f64>()
                                * scale as f64
                        })
                        .collect();
                    let mx = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = sc.iter().map(|x| (x - mx).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for d in 0..s.dh {
                        let o: f64 = (0..s.lk)
                            .map(|j| e[j] * v[(b * s.lk + j) * inner + h * s.dh + d] as f64)
                            .sum();
                        out[(b * s.lq + i) * inner + h * s.dh + d] = (o / z) as f32;
                    }
                }
            }
        }
        out
    }

    fn data(n: usize, seed: u32) -> Vec<f32> {
        let mut x = seed.wrapping_mul(2_654_435_761).max(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x as f32 / u32::MAX as f32) * 4.0 - 2.0
            })
            .collect()
    }

    #[test]
    fn matches_reference_on_odd_sizes() {
        // tails everywhere: lq not a multiple of R or QB, lk not of TK or LANES, odd dh; short
        // sequences grouped several batches per task (11 = 4 + 4 + 3)
        for s in [
            AttnShape {
                batch: 2,
                lq: 7,
                lk: 5,
                heads: 3,
                dh: 5,
            },
            AttnShape {
                batch: 1,
                lq: 70,
                lk: 77,
                heads: 2,
                dh: 8,
            },
            AttnShape {
                batch: 3,
                lq: 16,
                lk: 16,
                heads: 8,
                dh: 4,
            },
            AttnShape {
                batch: 11,
                lq: 16,
                lk: 16,
                heads: 2,
                dh: 8,
            },
            AttnShape {
                batch: 1,
                lq: 130,
                lk: 200,
                heads: 1,
                dh: 40,
            },
        ] {
            let inner = s.heads * s.dh;
            let q = data(s.batch * s.lq * inner, 1);
            let k = data(s.batch * s.lk * inner, 2);
            let v = data(s.batch * s.lk * inner, 3);
            let scale = (s.dh as f32).powf(-0.5);
            let got = attention(&q, &k, &v, s, scale);
            let want = reference(&q, &k, &v, s, scale);
            let err = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(err < 2e-6, "{s:?}: max abs error {err:e}");
        }
    }

    #[test]
    fn large_scores_do_not_overflow() {
        let s = AttnShape {
            batch: 1,
            lq: 3,
            lk: 100,
            heads: 1,
            dh: 2,
        };
        let q = vec![300.0f32; 6];
        let mut k = vec![0.0f32; 200];
        k[2 * 57] = 1.0; // key 57 wins by 300·scale
        let v: Vec<f32> = (0..200).map(|i| (i / 2) as f32).collect();
        let out = attention(&q, &k, &v, s, 1.0);
        assert!(out.iter().all(|&x| (x - 57.0).abs() < 1e-3), "{out:?}");
    }
}
