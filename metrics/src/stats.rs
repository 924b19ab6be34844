//! Streaming mean and covariance of feature vectors, accumulated in f64.
//!
//! Port of the statistics half of pytorch-fid's `calculate_activation_statistics`
//! (`src/pytorch_fid/fid_score.py`: `np.mean(act, axis=0)`, `np.cov(act, rowvar=False)`), but
//! streaming: batches are merged with Chan et al.'s pairwise update, so the features never need to
//! be held in memory at once. The covariance is the unbiased one (divided by N − 1), like `np.cov`.

use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, Result};

/// Accumulates the mean and scatter matrix of `dim`-dimensional feature rows.
#[derive(Debug, Clone)]
pub struct StatsAccumulator {
    dim: usize,
    n: usize,
    mean: Vec<f64>,
    /// Σ (x − mean)(x − mean)ᵀ over the rows seen so far.
    scatter: Mat<f64>,
}

/// Mean and covariance of a finished feature set, with the sample count they came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaussianStats {
    /// Number of feature vectors (FD is biased by N: never compare numbers across N).
    pub n: usize,
    /// Feature dimension.
    pub dim: usize,
    /// Mean, length `dim`.
    pub mean: Vec<f64>,
    /// Covariance, `dim × dim`, row-major, divided by N − 1.
    pub cov: Vec<f64>,
}

impl StatsAccumulator {
    /// An empty accumulator for `dim`-dimensional features.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            n: 0,
            mean: vec![0.0; dim],
            scatter: Mat::zeros(dim, dim),
        }
    }

    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of rows seen.
    pub fn count(&self) -> usize {
        self.n
    }

    /// Adds a batch of rows given row-major as f32 (`rows.len()` must be a multiple of `dim`).
    pub fn add_rows_f32(&mut self, rows: &[f32]) -> Result<()> {
        let (b, d) = (self.check_len(rows.len())?, self.dim);
        self.merge(b, |i, j| rows[i * d + j] as f64)
    }

    /// Adds a batch of rows given row-major as f64 (`rows.len()` must be a multiple of `dim`).
    pub fn add_rows_f64(&mut self, rows: &[f64]) -> Result<()> {
        let (b, d) = (self.check_len(rows.len())?, self.dim);
        self.merge(b, |i, j| rows[i * d + j])
    }

    fn check_len(&self, len: usize) -> Result<usize> {
        if self.dim == 0 || !len.is_multiple_of(self.dim) {
            return Err(MetricsError::Shape {
                what: "feature rows".into(),
                expected: format!("a multiple of dim {}", self.dim),
                got: format!("{len} values"),
            });
        }
        Ok(len / self.dim)
    }

    fn merge(&mut self, b: usize, at: impl Fn(usize, usize) -> f64) -> Result<()> {
        if b == 0 {
            return Ok(());
        }
        let d = self.dim;
        // 1. batch mean
        let mut mb = vec![0.0f64; d];
        for i in 0..b {
            for (j, m) in mb.iter_mut().enumerate() {
                *m += at(i, j);
            }
        }
        for m in &mut mb {
            *m /= b as f64;
        }
        if mb.iter().any(|v| !v.is_finite()) {
            return Err(MetricsError::Numerical {
                what: "feature statistics",
                detail: "non-finite feature value".into(),
            });
        }
        // 2. batch scatter (Xc^T Xc), Xc centred on the batch mean
        let xc = Mat::<f64>::from_fn(b, d, |i, j| at(i, j) - mb[j]);
        let sb = xc.transpose() * &xc;
        // 3. pairwise merge (Chan, Golub, LeVeque 1979)
        let n_a = self.n as f64;
        let n_b = b as f64;
        let n = n_a + n_b;
        let delta: Vec<f64> = mb.iter().zip(&self.mean).map(|(b, a)| b - a).collect();
        let w = n_a * n_b / n;
        for j in 0..d {
            for i in 0..d {
                self.scatter[(i, j)] += sb[(i, j)] + w * delta[i] * delta[j];
            }
        }
        for (m, dl) in self.mean.iter_mut().zip(&delta) {
            *m += dl * n_b / n;
        }
        self.n += b;
        Ok(())
    }

    /// Mean and unbiased covariance. Needs at least two rows.
    pub fn finish(&self) -> Result<GaussianStats> {
        if self.n < 2 {
            return Err(MetricsError::TooFewSamples {
                what: "a covariance",
                needed: 2,
                got: self.n,
            });
        }
        let d = self.dim;
        let denom = (self.n - 1) as f64;
        let mut cov = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                // symmetrise: the two triangles are equal up to rounding
                cov[i * d + j] = 0.5 * (self.scatter[(i, j)] + self.scatter[(j, i)]) / denom;
            }
        }
        Ok(GaussianStats {
            n: self.n,
            dim: d,
            mean: self.mean.clone(),
            cov,
        })
    }
}

impl GaussianStats {
    /// Statistics of a whole feature matrix (row-major f32, `rows.len() / dim` rows).
    pub fn from_rows_f32(rows: &[f32], dim: usize) -> Result<Self> {
        let mut acc = StatsAccumulator::new(dim);
        acc.add_rows_f32(rows)?;
        acc.finish()
    }

    /// Covariance as a faer matrix view.
    pub fn cov_mat(&self) -> faer::MatRef<'_, f64> {
        faer::MatRef::from_row_major_slice(&self.cov, self.dim, self.dim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_equals_one_batch_and_textbook_formula() {
        let d = 3;
        let rows: Vec<f64> = (0..30)
            .map(|i| ((i * 7919) % 13) as f64 * 0.5 - 2.0)
            .collect();
        let mut one = StatsAccumulator::new(d);
        one.add_rows_f64(&rows).unwrap();
        let mut many = StatsAccumulator::new(d);
        for chunk in rows.chunks(d * 3) {
            many.add_rows_f64(chunk).unwrap();
        }
        let (a, b) = (one.finish().unwrap(), many.finish().unwrap());
        // textbook two-pass formula
        let n = rows.len() / d;
        let mean: Vec<f64> = (0..d)
            .map(|j| (0..n).map(|i| rows[i * d + j]).sum::<f64>() / n as f64)
            .collect();
        for j in 0..d {
            assert!((a.mean[j] - mean[j]).abs() < 1e-12);
            assert!((b.mean[j] - mean[j]).abs() < 1e-12);
            for k in 0..d {
                let c: f64 = (0..n)
                    .map(|i| (rows[i * d + j] - mean[j]) * (rows[i * d + k] - mean[k]))
                    .sum::<f64>()
                    / (n - 1) as f64;
                assert!((a.cov[j * d + k] - c).abs() < 1e-12, "one batch");
                assert!((b.cov[j * d + k] - c).abs() < 1e-12, "streamed");
            }
        }
        assert_eq!(b.n, 10);
    }

    #[test]
    fn rejects_ragged_rows_and_single_sample() {
        let mut acc = StatsAccumulator::new(4);
        assert!(matches!(
            acc.add_rows_f32(&[1.0; 6]),
            Err(MetricsError::Shape { .. })
        ));
        acc.add_rows_f32(&[1.0; 4]).unwrap();
        assert!(matches!(
            acc.finish(),
            Err(MetricsError::TooFewSamples { got: 1, .. })
        ));
        assert!(matches!(
            acc.add_rows_f32(&[f32::NAN; 4]),
            Err(MetricsError::Numerical { .. })
        ));
    }
}
