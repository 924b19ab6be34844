//! Kernel Inception/Video Distance: unbiased MMD² with the cubic polynomial kernel.
//!
//! Same estimator as clean-fid's `kernel_distance` (`cleanfid/fid.py`) and torch-fidelity's KID:
//! `k(x, y) = (xᵀy / d + 1)³`; for each of `num_subsets` subsets of `m = min(n₁, n₂,
//! max_subset_size)` rows drawn without replacement from each set,
//!
//! `MMD² = [Σ_{i≠j} k(xᵢ,xⱼ) + Σ_{i≠j} k(yᵢ,yⱼ)] / (m(m−1)) − 2 Σ_{i,j} k(xᵢ,yⱼ) / m²`;
//!
//! the KID is the mean over subsets and its spread the (population) standard deviation, as
//! torch-fidelity reports it. Subsets are drawn with a seeded ChaCha8 generator; the index sets
//! can also be given explicitly (parity tests replay the subsets clean-fid drew).

use faer::Mat;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, Result};

/// Subset settings; the defaults are clean-fid's (100 subsets of at most 1000).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KidOptions {
    /// Number of subsets averaged.
    pub num_subsets: usize,
    /// Largest subset size.
    pub max_subset_size: usize,
    /// Seed of the subset sampler.
    pub seed: u64,
}

impl Default for KidOptions {
    fn default() -> Self {
        Self {
            num_subsets: 100,
            max_subset_size: 1000,
            seed: 0,
        }
    }
}

/// A KID value with its spread and the sample counts behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelDistance {
    /// Mean MMD² over subsets.
    pub mean: f64,
    /// Population standard deviation of the per-subset MMD².
    pub std: f64,
    /// Number of subsets.
    pub num_subsets: usize,
    /// Rows per subset.
    pub subset_size: usize,
    /// Size of the first (real) set.
    pub n1: usize,
    /// Size of the second (generated) set.
    pub n2: usize,
    /// Feature dimension.
    pub dim: usize,
}

/// Row-major feature matrix borrowed as `n × dim`.
#[derive(Debug, Clone, Copy)]
pub struct Features<'a> {
    /// Values, `n * dim` long.
    pub data: &'a [f32],
    /// Feature dimension.
    pub dim: usize,
}

impl Features<'_> {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.data.len() / self.dim.max(1)
    }
}

/// KID between `f1` (real) and `f2` (generated) with seeded random subsets.
pub fn kernel_distance(
    f1: Features<'_>,
    f2: Features<'_>,
    opts: &KidOptions,
) -> Result<KernelDistance> {
    check(f1, f2)?;
    let m = f1.rows().min(f2.rows()).min(opts.max_subset_size);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    let mut idx1 = Vec::with_capacity(opts.num_subsets);
    let mut idx2 = Vec::with_capacity(opts.num_subsets);
    for _ in 0..opts.num_subsets {
        idx2.push(rand::seq::index::sample(&mut rng, f2.rows(), m).into_vec());
        idx1.push(rand::seq::index::sample(&mut rng, f1.rows(), m).into_vec());
    }
    kernel_distance_with_subsets(f1, f2, &idx1, &idx2)
}

/// KID with explicit subsets: `idx1[s]` rows of `f1` and `idx2[s]` rows of `f2` form subset `s`.
pub fn kernel_distance_with_subsets(
    f1: Features<'_>,
    f2: Features<'_>,
    idx1: &[Vec<usize>],
    idx2: &[Vec<usize>],
) -> Result<KernelDistance> {
    check(f1, f2)?;
    let (n1, n2, d) = (f1.rows(), f2.rows(), f1.dim);
    if idx1.len() != idx2.len() || idx1.is_empty() {
        return Err(MetricsError::InvalidArgument {
            name: "subsets",
            detail: format!("{} and {} index sets", idx1.len(), idx2.len()),
        });
    }
    let m = idx1[0].len();
    for (s, (a, b)) in idx1.iter().zip(idx2).enumerate() {
        if a.len() != m || b.len() != m || a.iter().any(|&i| i >= n1) || b.iter().any(|&i| i >= n2)
        {
            return Err(MetricsError::InvalidArgument {
                name: "subsets",
                detail: format!(
                    "subset {s}: sizes {} {} (want {m}) or index out of range",
                    a.len(),
                    b.len()
                ),
            });
        }
    }
    if m < 2 {
        return Err(MetricsError::TooFewSamples {
            what: "KID subsets",
            needed: 2,
            got: m,
        });
    }
    // Kernel matrices over all rows once (each subset is then a lookup); sets are small enough
    // for that in evaluation (N ≤ a few thousand). Larger sets fall back to per-subset products.
    let whole = n1.max(n2) <= 4096;
    let to_mat =
        |f: Features<'_>| Mat::<f64>::from_fn(f.rows(), d, |i, j| f.data[i * d + j] as f64);
    let (x1, x2) = (to_mat(f1), to_mat(f2));
    let kernel = |a: &Mat<f64>, b: &Mat<f64>| {
        let mut g = a * b.transpose();
        for j in 0..g.ncols() {
            for i in 0..g.nrows() {
                g[(i, j)] = (g[(i, j)] / d as f64 + 1.0).powi(3);
            }
        }
        g
    };
    let pick =
        |x: &Mat<f64>, idx: &[usize]| Mat::<f64>::from_fn(idx.len(), d, |i, j| x[(idx[i], j)]);
    let (k11, k22, k12) = if whole {
        (
            Some(kernel(&x1, &x1)),
            Some(kernel(&x2, &x2)),
            Some(kernel(&x1, &x2)),
        )
    } else {
        (None, None, None)
    };
    let mut per = Vec::with_capacity(idx1.len());
    for (a, b) in idx1.iter().zip(idx2) {
        let (sxx, syy, sxy) = match (&k11, &k22, &k12) {
            (Some(k11), Some(k22), Some(k12)) => (
                off_diagonal_sum(|i, j| k11[(a[i], a[j])], m),
                off_diagonal_sum(|i, j| k22[(b[i], b[j])], m),
                (0..m)
                    .map(|i| (0..m).map(|j| k12[(a[i], b[j])]).sum::<f64>())
                    .sum::<f64>(),
            ),
            _ => {
                let (ya, yb) = (pick(&x1, a), pick(&x2, b));
                let (kaa, kbb, kab) = (kernel(&ya, &ya), kernel(&yb, &yb), kernel(&ya, &yb));
                (
                    off_diagonal_sum(|i, j| kaa[(i, j)], m),
                    off_diagonal_sum(|i, j| kbb[(i, j)], m),
                    kab.sum(),
                )
            }
        };
        let mf = m as f64;
        per.push((sxx + syy) / (mf * (mf - 1.0)) - 2.0 * sxy / (mf * mf));
    }
    let mean = per.iter().sum::<f64>() / per.len() as f64;
    let var = per.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / per.len() as f64;
    Ok(KernelDistance {
        mean,
        std: var.sqrt(),
        num_subsets: per.len(),
        subset_size: m,
        n1,
        n2,
        dim: d,
    })
}

fn off_diagonal_sum(k: impl Fn(usize, usize) -> f64, m: usize) -> f64 {
    let mut s = 0.0;
    for i in 0..m {
        for j in 0..m {
            if i != j {
                s += k(i, j);
            }
        }
    }
    s
}

fn check(f1: Features<'_>, f2: Features<'_>) -> Result<()> {
    if f1.dim == 0
        || f1.dim != f2.dim
        || !f1.data.len().is_multiple_of(f1.dim)
        || !f2.data.len().is_multiple_of(f2.dim)
    {
        return Err(MetricsError::Shape {
            what: "KID features".into(),
            expected: format!("rows of dim {}", f1.dim),
            got: format!(
                "{} and {} values, dim {}",
                f1.data.len(),
                f2.data.len(),
                f2.dim
            ),
        });
    }
    if f1.data.iter().chain(f2.data).any(|v| !v.is_finite()) {
        return Err(MetricsError::Numerical {
            what: "KID",
            detail: "non-finite feature value".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_set_is_near_zero_and_shifted_set_is_positive() {
        let d = 4;
        let a: Vec<f32> = (0..400).map(|i| ((i * 37) % 17) as f32 / 17.0).collect();
        let b: Vec<f32> = a.iter().map(|v| v + 0.5).collect();
        let opts = KidOptions {
            num_subsets: 20,
            max_subset_size: 50,
            seed: 1,
        };
        let same = kernel_distance(
            Features { data: &a, dim: d },
            Features { data: &a, dim: d },
            &opts,
        )
        .unwrap();
        let diff = kernel_distance(
            Features { data: &a, dim: d },
            Features { data: &b, dim: d },
            &opts,
        )
        .unwrap();
        assert!(
            same.mean.abs() < 0.05 * diff.mean,
            "{} vs {}",
            same.mean,
            diff.mean
        );
        assert!(diff.mean > 0.0 && diff.std >= 0.0);
        assert_eq!((diff.subset_size, diff.n1, diff.n2), (50, 100, 100));
    }

    #[test]
    fn rejects_bad_input() {
        let a = [0.0f32; 8];
        let nan = [f32::NAN; 8];
        let opts = KidOptions::default();
        assert!(kernel_distance(
            Features { data: &a, dim: 3 },
            Features { data: &a, dim: 3 },
            &opts
        )
        .is_err());
        assert!(matches!(
            kernel_distance(
                Features { data: &a, dim: 2 },
                Features { data: &nan, dim: 2 },
                &opts
            ),
            Err(MetricsError::Numerical { .. })
        ));
    }
}
