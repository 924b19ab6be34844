//! Fréchet distance between two Gaussians fitted to feature sets (FID, FVD).
//!
//! Same quantity as pytorch-fid's `calculate_frechet_distance` (`src/pytorch_fid/fid_score.py`):
//!
//! `FD = |μ₁ − μ₂|² + tr Σ₁ + tr Σ₂ − 2 tr √(Σ₁ Σ₂)`
//!
//! pytorch-fid takes `scipy.linalg.sqrtm(Σ₁ Σ₂)` (a Schur method on a non-symmetric matrix, slow,
//! and complex-valued on rank-deficient input). Here the trace term uses the symmetric form
//! `tr √(√Σ₁ Σ₂ √Σ₁)`, which has the same eigenvalues: with `Σ₁ = U Λ Uᵀ` and `B = Λ^{1/2} Uᵀ`,
//! `√Σ₁ Σ₂ √Σ₁ = U (B Σ₂ Bᵀ) Uᵀ`, so `tr √(·) = Σᵢ √μᵢ` over the eigenvalues `μᵢ` of the symmetric
//! positive semi-definite `B Σ₂ Bᵀ`. Two symmetric eigendecompositions (one without vectors) and
//! two matrix products. Eigenvalues under numpy's rank tolerance (`max|λ|·d·ε`, rounding noise,
//! possibly negative) count as zero, which makes singular (rank-deficient, N < d) covariances safe
//! without pytorch-fid's `eps` offset.

use faer::{Mat, Side};
use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, Result};
use crate::stats::GaussianStats;

/// A Fréchet distance with the terms it is made of and the sample counts behind it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrechetDistance {
    /// The distance.
    pub value: f64,
    /// `|μ₁ − μ₂|²`.
    pub mean_term: f64,
    /// `tr Σ₁ + tr Σ₂ − 2 tr √(Σ₁ Σ₂)`.
    pub cov_term: f64,
    /// Sample count of the first set.
    pub n1: usize,
    /// Sample count of the second set.
    pub n2: usize,
    /// Feature dimension.
    pub dim: usize,
}

/// Fréchet distance between `a` and `b` (see the module documentation for the method).
pub fn frechet_distance(a: &GaussianStats, b: &GaussianStats) -> Result<FrechetDistance> {
    // 1. check inputs
    let d = a.dim;
    if b.dim != d || a.mean.len() != d || b.mean.len() != d {
        return Err(MetricsError::Shape {
            what: "Fréchet distance statistics".into(),
            expected: format!("dim {d}"),
            got: format!(
                "dim {} / mean lengths {} {}",
                b.dim,
                a.mean.len(),
                b.mean.len()
            ),
        });
    }
    if a.cov.len() != d * d || b.cov.len() != d * d {
        return Err(MetricsError::Shape {
            what: "Fréchet distance covariance".into(),
            expected: format!("{d}x{d}"),
            got: format!("{} and {} values", a.cov.len(), b.cov.len()),
        });
    }
    let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
    if !(finite(&a.mean) && finite(&b.mean) && finite(&a.cov) && finite(&b.cov)) {
        return Err(MetricsError::Numerical {
            what: "Fréchet distance",
            detail: "non-finite mean or covariance".into(),
        });
    }
    // 2. mean term and traces
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let tr1: f64 = (0..d).map(|i| a.cov[i * d + i]).sum();
    let tr2: f64 = (0..d).map(|i| b.cov[i * d + i]).sum();
    // 3. tr √(√Σ₁ Σ₂ √Σ₁)
    let tr_sqrt = trace_sqrt_product(a.cov_mat(), b.cov_mat())?;
    let cov_term = tr1 + tr2 - 2.0 * tr_sqrt;
    Ok(FrechetDistance {
        value: mean_term + cov_term,
        mean_term,
        cov_term,
        n1: a.n,
        n2: b.n,
        dim: d,
    })
}

/// `tr √(√Σ₁ Σ₂ √Σ₁)` for symmetric positive semi-definite `Σ₁`, `Σ₂`.
pub fn trace_sqrt_product(s1: faer::MatRef<'_, f64>, s2: faer::MatRef<'_, f64>) -> Result<f64> {
    let d = s1.nrows();
    let evd = s1
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| MetricsError::Numerical {
            what: "eigendecomposition of Σ₁",
            detail: format!("{e:?}"),
        })?;
    let u = evd.U();
    let lambda = evd.S().column_vector();
    // B = Λ^{1/2} Uᵀ; eigenvalues under the rank tolerance (rounding noise) count as zero
    let tol1 = rank_tolerance(lambda.iter().copied(), d);
    let b = Mat::<f64>::from_fn(d, d, |i, j| {
        let l = if lambda[i] > tol1 { lambda[i] } else { 0.0 };
        l.sqrt() * u[(j, i)]
    });
    let bs2 = &b * s2;
    let m = &bs2 * b.transpose();
    let m = Mat::<f64>::from_fn(d, d, |i, j| 0.5 * (m[(i, j)] + m[(j, i)]));
    let mu = m
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|e| MetricsError::Numerical {
            what: "eigenvalues of √Σ₁ Σ₂ √Σ₁",
            detail: format!("{e:?}"),
        })?;
    let tol2 = rank_tolerance(mu.iter().copied(), d);
    Ok(mu.iter().filter(|&&v| v > tol2).map(|v| v.sqrt()).sum())
}

/// numpy's `matrix_rank` tolerance, `max|λ| · d · ε`: eigenvalues below it are rounding noise,
/// and their square roots (~1e-8 each) would otherwise add up on rank-deficient covariances.
fn rank_tolerance(values: impl Iterator<Item = f64>, d: usize) -> f64 {
    values.fold(0.0f64, |m, v| m.max(v.abs())) * d as f64 * f64::EPSILON
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag_stats(mean: Vec<f64>, var: &[f64]) -> GaussianStats {
        let d = var.len();
        let mut cov = vec![0.0; d * d];
        for i in 0..d {
            cov[i * d + i] = var[i];
        }
        GaussianStats {
            n: 10,
            dim: d,
            mean,
            cov,
        }
    }

    #[test]
    fn closed_form_for_diagonal_gaussians() {
        // FD of diagonal Gaussians = |Δμ|² + Σ (σ₁ − σ₂)²
        let a = diag_stats(vec![0.0, 1.0, 2.0], &[1.0, 4.0, 9.0]);
        let b = diag_stats(vec![1.0, 1.0, 0.0], &[4.0, 4.0, 0.0]);
        let fd = frechet_distance(&a, &b).unwrap();
        let expect = 1.0 + 0.0 + 4.0 + (1.0f64 - 2.0).powi(2) + 0.0 + 9.0;
        assert!(
            (fd.value - expect).abs() < 1e-12,
            "{} vs {expect}",
            fd.value
        );
        let zero = frechet_distance(&a, &a).unwrap();
        assert!(zero.value.abs() < 1e-12);
    }

    #[test]
    fn rejects_mismatched_dims_and_nan() {
        let a = diag_stats(vec![0.0; 2], &[1.0, 1.0]);
        let b = diag_stats(vec![0.0; 3], &[1.0, 1.0, 1.0]);
        assert!(matches!(
            frechet_distance(&a, &b),
            Err(MetricsError::Shape { .. })
        ));
        let c = diag_stats(vec![f64::NAN, 0.0], &[1.0, 1.0]);
        assert!(matches!(
            frechet_distance(&a, &c),
            Err(MetricsError::Numerical { .. })
        ));
    }
}
