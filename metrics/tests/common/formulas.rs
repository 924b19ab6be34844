//! The metrics' formulas written out directly from their definitions, as test oracles: no code
//! of the crate, plain loops in f64 over raw embeddings or features. Shared by the unit tests
//! (`clipsim.rs` includes this file) and the integration tests (`common::formulas`; the CLI's
//! `cli/tests/eval.rs` includes it too).
#![allow(dead_code)]

fn unit(v: &[f64]) -> Vec<f64> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn unit32(v: &[f32]) -> Vec<f64> {
    unit(&v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>())
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `(CLIPSIM, metamorphic score)` of a video as `metrics/src/clipsim.rs` documents them, from
/// raw frame embeddings `frames` and the prompt's embedding `prompt`, with the retrieval texts'
/// embeddings `meta` (metamorphic) and `general`, logit scale `s` and ramp weight `gamma`:
///
/// - CLIPSIM = (1/F) Σ_f cos(e_f, t);
/// - v = normalise(Σ_f (1 + γ·τ_f)/F · ê_f), τ_f evenly from −1 (first frame) to 1 (last);
/// - MT = Σ_{metamorphic texts} softmax_i(s·cos(v, t_i)) over all ten texts.
pub fn scores_by_hand(
    frames: &[Vec<f32>],
    prompt: &[f32],
    meta: &[Vec<f32>],
    general: &[Vec<f32>],
    s: f64,
    gamma: f64,
) -> (f64, f64) {
    let f = frames.len();
    let e: Vec<Vec<f64>> = frames.iter().map(|x| unit32(x)).collect();
    let t = unit32(prompt);
    let clipsim = e.iter().map(|x| dot(x, &t)).sum::<f64>() / f as f64;
    let mut v = vec![0.0f64; t.len()];
    for (i, x) in e.iter().enumerate() {
        let tau = if f == 1 {
            0.0
        } else {
            -1.0 + 2.0 * i as f64 / (f - 1) as f64
        };
        for (p, y) in v.iter_mut().zip(x) {
            *p += (1.0 + gamma * tau) / f as f64 * y;
        }
    }
    let v = unit(&v);
    let exp: Vec<f64> = meta
        .iter()
        .chain(general)
        .map(|m| (s * dot(&v, &unit32(m))).exp())
        .collect();
    let mt = exp[..meta.len()].iter().sum::<f64>() / exp.iter().sum::<f64>();
    (clipsim, mt)
}

/// Rows `n × d` (row-major f32) centred on their mean, and the mean.
fn centred(x: &[f32], d: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let rows: Vec<Vec<f64>> = x
        .chunks_exact(d)
        .map(|r| r.iter().map(|&v| f64::from(v)).collect())
        .collect();
    let n = rows.len() as f64;
    let mean: Vec<f64> = (0..d)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
        .collect();
    let c = rows
        .iter()
        .map(|r| r.iter().zip(&mean).map(|(v, m)| v - m).collect())
        .collect();
    (c, mean)
}

/// Eigenvalues of a small symmetric matrix (cyclic Jacobi rotations).
fn symmetric_eigenvalues(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    for _ in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        let scale: f64 = (0..n).map(|i| a[i][i] * a[i][i]).sum::<f64>().max(1e-300);
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                // A ← Jᵀ A J: columns p, q, then rows p, q
                for row in a.iter_mut() {
                    let (x, y) = (row[p], row[q]);
                    row[p] = c * x - s * y;
                    row[q] = s * x + c * y;
                }
                let (rp, rq) = (a[p].clone(), a[q].clone());
                for (k, (x, y)) in rp.iter().zip(&rq).enumerate() {
                    a[p][k] = c * x - s * y;
                    a[q][k] = s * x + c * y;
                }
            }
        }
    }
    (0..n).map(|i| a[i][i]).collect()
}

/// Fréchet distance between the Gaussians of two feature sets (rows of `d`, few rows):
/// `|μa − μb|² + tr Σa + tr Σb − 2 tr √(Σa Σb)` with unbiased covariances `Σ = XᵀX/(n − 1)` of the
/// centred rows X. For n ≪ d the trace term comes from the small `na × nb` matrix `M = A Bᵀ`:
/// the nonzero eigenvalues of `AᵀA BᵀB` are those of `M Mᵀ`, so
/// `tr √(Σa Σb) = Σᵢ σᵢ(M) / √((na − 1)(nb − 1))`.
pub fn frechet_by_hand(a: &[f32], b: &[f32], d: usize) -> f64 {
    let ((ca, ma), (cb, mb)) = (centred(a, d), centred(b, d));
    let (na, nb) = (ca.len() as f64, cb.len() as f64);
    let mean_term: f64 = ma.iter().zip(&mb).map(|(x, y)| (x - y) * (x - y)).sum();
    let tr = |c: &[Vec<f64>], n: f64| c.iter().map(|r| dot(r, r)).sum::<f64>() / (n - 1.0);
    let m: Vec<Vec<f64>> = ca
        .iter()
        .map(|ra| cb.iter().map(|rb| dot(ra, rb)).collect())
        .collect();
    let mmt: Vec<Vec<f64>> = m
        .iter()
        .map(|r| m.iter().map(|s| dot(r, s)).collect())
        .collect();
    let nuclear: f64 = symmetric_eigenvalues(mmt)
        .into_iter()
        .map(|l| l.max(0.0).sqrt())
        .sum();
    let tr_sqrt = nuclear / ((na - 1.0) * (nb - 1.0)).sqrt();
    mean_term + tr(&ca, na) + tr(&cb, nb) - 2.0 * tr_sqrt
}

/// The unbiased MMD² with the cubic polynomial kernel `k(x, y) = (xᵀy/d + 1)³` over all rows of
/// two equally large sets (what every KID/KVD subset is when the subset size is the set size):
/// `[Σ_{i≠j} k(xᵢ,xⱼ) + Σ_{i≠j} k(yᵢ,yⱼ)] / (m(m−1)) − 2 Σ_{i,j} k(xᵢ,yⱼ) / m²`.
pub fn mmd_by_hand(x: &[f32], y: &[f32], d: usize) -> f64 {
    let rows = |v: &[f32]| -> Vec<Vec<f64>> {
        v.chunks_exact(d)
            .map(|r| r.iter().map(|&x| f64::from(x)).collect())
            .collect()
    };
    let (x, y) = (rows(x), rows(y));
    assert_eq!(x.len(), y.len());
    let m = x.len() as f64;
    let k = |a: &[f64], b: &[f64]| (dot(a, b) / d as f64 + 1.0).powi(3);
    let within = |s: &[Vec<f64>]| {
        let mut t = 0.0;
        for (i, a) in s.iter().enumerate() {
            for (j, b) in s.iter().enumerate() {
                if i != j {
                    t += k(a, b);
                }
            }
        }
        t
    };
    let across: f64 = x.iter().flat_map(|a| y.iter().map(|b| k(a, b))).sum();
    (within(&x) + within(&y)) / (m * (m - 1.0)) - 2.0 * across / (m * m)
}
