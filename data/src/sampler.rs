//! Dynamic frames extraction (MagicTime §3.2.2): which frame indices of a clip a training sample
//! uses. Either uniform over the whole clip — `round(i·(N−1)/(n−1))`, so the last index is N−1,
//! as `utils/dataset.py` does for `is_transmit == 0` — or a random contiguous window with a
//! stride (AnimateDiff's WebVid sampler, stride 4). The mode is chosen per sample with a
//! configurable ratio, or forced by the clip's `is_transmit`. When N < n the frames are repeated
//! and sorted. Seeded: sample `k` of a sampler depends only on (seed, k).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// How a sample's indices were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleMode {
    Uniform,
    Window,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplerConfig {
    /// Frames per sample (paper: 16).
    pub n: usize,
    /// Window stride (paper/AnimateDiff: 4).
    pub stride: usize,
    /// Probability of the uniform mode when the clip does not force one.
    pub uniform_ratio: f64,
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            n: 16,
            stride: 4,
            uniform_ratio: 0.5,
            seed: 0,
        }
    }
}

/// `n` indices spread uniformly over `0..total`, first 0 and last `total − 1`.
pub fn uniform_indices(total: usize, n: usize) -> Vec<usize> {
    if total < n {
        return repeat_sorted(total, n);
    }
    if n == 1 {
        return vec![0];
    }
    (0..n)
        .map(|i| ((i * (total - 1)) as f64 / (n - 1) as f64).round() as usize)
        .collect()
}

/// `n` indices of a contiguous window starting at `start` with `stride` (shrunk to fit `total`).
pub fn window_indices(total: usize, n: usize, stride: usize, start: usize) -> Vec<usize> {
    if total < n {
        return repeat_sorted(total, n);
    }
    let span = window_span(total, n, stride);
    let start = start.min(total - span);
    if n == 1 {
        return vec![start];
    }
    (0..n)
        .map(|i| start + ((i * (span - 1)) as f64 / (n - 1) as f64).round() as usize)
        .collect()
}

/// Frames a window covers: `(n − 1)·stride + 1`, at most `total`.
pub fn window_span(total: usize, n: usize, stride: usize) -> usize {
    ((n.saturating_sub(1)) * stride.max(1) + 1).min(total)
}

/// `0..total` repeated until there are `n`, sorted: [0, 0, 1, 1, 2, …].
pub fn repeat_sorted(total: usize, n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).map(|i| i % total.max(1)).collect();
    v.sort_unstable();
    v
}

/// A seeded sampler.
#[derive(Debug, Clone)]
pub struct Sampler {
    cfg: SamplerConfig,
}

impl Sampler {
    pub fn new(cfg: SamplerConfig) -> Result<Self> {
        if cfg.n == 0 || cfg.stride == 0 || !(0.0..=1.0).contains(&cfg.uniform_ratio) {
            return Err(DataError::Invalid(format!(
                "sampler: n and stride must be > 0 and uniform_ratio in [0, 1], got {cfg:?}"
            )));
        }
        Ok(Self { cfg })
    }

    /// The settings (frames per sample, stride, uniform ratio, seed).
    pub fn config(&self) -> &SamplerConfig {
        &self.cfg
    }

    /// Indices for sample number `k` of a clip of `total` frames. `is_transmit`: Some(false)
    /// forces uniform, Some(true) forces a window, None draws the mode with `uniform_ratio`.
    pub fn sample(
        &self,
        k: u64,
        total: usize,
        is_transmit: Option<bool>,
    ) -> Result<(SampleMode, Vec<usize>)> {
        if total == 0 {
            return Err(DataError::Invalid("sampler: clip has no frames".into()));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        rng.set_stream(k);
        let uniform = match is_transmit {
            Some(t) => !t,
            None => rng.random_bool(self.cfg.uniform_ratio),
        };
        if uniform {
            return Ok((SampleMode::Uniform, uniform_indices(total, self.cfg.n)));
        }
        let span = window_span(total, self.cfg.n, self.cfg.stride);
        let start = rng.random_range(0..=total - span);
        Ok((
            SampleMode::Window,
            window_indices(total, self.cfg.n, self.cfg.stride, start),
        ))
    }
}
