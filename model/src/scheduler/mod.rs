//! Noise schedulers behind one trait, after diffusers' `schedulers/` (and candle's
//! `stable_diffusion/schedulers.rs`): a config describes the training noise schedule, and
//! `build(n_steps)` gives a scheduler set up for `n_steps` inference steps.
//!
//! - [`ddim`]: `DDIMScheduler` (MagicTime samples with 25 steps, η = 0).
//! - [`ddpm`]: `DDPMScheduler` (training noise: `add_noise`, `get_velocity`, ancestral `step`).

pub mod ddim;
pub mod ddpm;

use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

pub use ddim::{DdimScheduler, DdimSchedulerConfig};
pub use ddpm::{DdpmScheduler, DdpmSchedulerConfig};

/// How β grows over the training timesteps (diffusers' `beta_schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BetaSchedule {
    /// `linspace(beta_start, beta_end, T)` (AnimateDiff / MagicTime inference config).
    Linear,
    /// `linspace(sqrt(beta_start), sqrt(beta_end), T)²` (Stable Diffusion's own config).
    ScaledLinear,
}

/// What the network predicts (diffusers' `prediction_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictionType {
    /// The added noise ε (SD1.5, AnimateDiff, MagicTime).
    Epsilon,
    /// v = √ᾱ·ε − √(1−ᾱ)·x₀.
    VPrediction,
    /// x₀ directly.
    Sample,
}

/// β_t for `num_train_timesteps` steps, rounded to f32 as diffusers' float32 tensors are.
pub fn betas(schedule: BetaSchedule, beta_start: f64, beta_end: f64, n: usize) -> Vec<f64> {
    let lin = |a: f64, b: f64| -> Vec<f64> {
        (0..n)
            .map(|i| {
                if n == 1 {
                    a
                } else {
                    a + (b - a) * i as f64 / (n - 1) as f64
                }
            })
            .collect()
    };
    match schedule {
        BetaSchedule::Linear => lin(beta_start, beta_end)
            .into_iter()
            .map(|b| b as f32 as f64)
            .collect(),
        BetaSchedule::ScaledLinear => lin(beta_start.sqrt(), beta_end.sqrt())
            .into_iter()
            .map(|b| ((b as f32) * (b as f32)) as f64)
            .collect(),
    }
}

/// ᾱ_t = Π_{s≤t} (1 − β_s), accumulated in f64 and stored as f32 like torch's `cumprod`.
pub fn alphas_cumprod(betas: &[f64]) -> Vec<f64> {
    let mut acc = 1.0f64;
    betas
        .iter()
        .map(|b| {
            acc *= (1.0 - b) as f32 as f64;
            acc as f32 as f64
        })
        .collect()
}

/// diffusers' "leading" timestep spacing: `arange(0, n) * (T / n)`, reversed, plus `offset`.
pub fn leading_timesteps(num_train_timesteps: usize, n: usize, offset: usize) -> Vec<usize> {
    let ratio = num_train_timesteps / n.max(1);
    (0..n).rev().map(|i| i * ratio + offset).collect()
}

/// ᾱ at `t`, or an error naming the timestep when it is outside the training range.
pub(crate) fn alpha_at(alphas_cumprod: &[f64], t: usize) -> Result<f64> {
    alphas_cumprod.get(t).copied().ok_or_else(|| {
        ModelError::InvalidInput(format!(
            "timestep {t} outside the scheduler's {} training timesteps",
            alphas_cumprod.len()
        ))
    })
}

/// Splits the model output into (x̂₀, ε̂) for the given prediction type (diffusers' DDIM step 3).
pub(crate) fn predict_x0_eps<B: Backend, const D: usize>(
    prediction_type: PredictionType,
    model_output: Tensor<B, D>,
    sample: Tensor<B, D>,
    alpha_prod_t: f64,
) -> (Tensor<B, D>, Tensor<B, D>) {
    let beta_prod_t = 1.0 - alpha_prod_t;
    match prediction_type {
        PredictionType::Epsilon => {
            let x0 = (sample - model_output.clone() * beta_prod_t.sqrt()) / alpha_prod_t.sqrt();
            (x0, model_output)
        }
        PredictionType::VPrediction => {
            let x0 =
                sample.clone() * alpha_prod_t.sqrt() - model_output.clone() * beta_prod_t.sqrt();
            let eps = model_output * alpha_prod_t.sqrt() + sample * beta_prod_t.sqrt();
            (x0, eps)
        }
        PredictionType::Sample => {
            let eps = (sample - model_output.clone() * alpha_prod_t.sqrt()) / beta_prod_t.sqrt();
            (model_output, eps)
        }
    }
}

/// A diffusion sampler as the pipeline sees it.
pub trait Scheduler {
    /// The timesteps of the inference loop, first (noisiest) to last.
    fn timesteps(&self) -> &[usize];

    /// The std of the initial noise (1 for DDIM/DDPM).
    fn init_noise_sigma(&self) -> f64 {
        1.0
    }

    /// Scales the denoising model input for timestep `t` (identity for DDIM/DDPM).
    fn scale_model_input<B: Backend, const D: usize>(
        &self,
        sample: Tensor<B, D>,
        _timestep: usize,
    ) -> Tensor<B, D> {
        sample
    }

    /// One reverse step: x_t → x_{t−1} from the model output at `timestep`.
    fn step<B: Backend, const D: usize>(
        &self,
        model_output: Tensor<B, D>,
        timestep: usize,
        sample: Tensor<B, D>,
    ) -> Result<Tensor<B, D>>;

    /// Forward process q(x_t | x₀): √ᾱ_t·x₀ + √(1−ᾱ_t)·ε, one timestep per batch item.
    fn add_noise<B: Backend, const D: usize>(
        &self,
        original: Tensor<B, D>,
        noise: Tensor<B, D>,
        timesteps: &[usize],
    ) -> Result<Tensor<B, D>>;
}

/// Per-batch-item coefficients as a tensor broadcastable against `[B, ...]`.
pub(crate) fn per_batch<B: Backend, const D: usize>(
    values: Vec<f32>,
    like: &Tensor<B, D>,
) -> Tensor<B, D> {
    let n = values.len();
    let mut shape = [1usize; D];
    shape[0] = n;
    Tensor::<B, 1>::from_floats(values.as_slice(), &like.device()).reshape(shape)
}

/// Shared `add_noise` / `get_velocity` logic.
pub(crate) fn add_noise_with<B: Backend, const D: usize>(
    alphas_cumprod: &[f64],
    original: Tensor<B, D>,
    noise: Tensor<B, D>,
    timesteps: &[usize],
    velocity: bool,
) -> Result<Tensor<B, D>> {
    let b = original.dims()[0];
    if timesteps.len() != b && timesteps.len() != 1 {
        return Err(ModelError::InvalidInput(format!(
            "{} timesteps for a batch of {b}",
            timesteps.len()
        )));
    }
    let mut sa = Vec::with_capacity(b);
    let mut sb = Vec::with_capacity(b);
    for i in 0..b {
        let t = timesteps[if timesteps.len() == 1 { 0 } else { i }];
        let a = alpha_at(alphas_cumprod, t)?;
        sa.push(a.sqrt() as f32);
        sb.push((1.0 - a).sqrt() as f32);
    }
    let sa = per_batch(sa, &original);
    let sb = per_batch(sb, &original);
    Ok(if velocity {
        noise * sa - original * sb
    } else {
        original * sa + noise * sb
    })
}

/// Either scheduler, for callers that pick one at run time.
#[derive(Debug, Clone)]
pub enum AnyScheduler {
    Ddim(DdimScheduler),
    Ddpm(DdpmScheduler),
}

impl Scheduler for AnyScheduler {
    fn timesteps(&self) -> &[usize] {
        match self {
            Self::Ddim(s) => s.timesteps(),
            Self::Ddpm(s) => s.timesteps(),
        }
    }

    fn step<B: Backend, const D: usize>(
        &self,
        model_output: Tensor<B, D>,
        timestep: usize,
        sample: Tensor<B, D>,
    ) -> Result<Tensor<B, D>> {
        match self {
            Self::Ddim(s) => s.step(model_output, timestep, sample),
            Self::Ddpm(s) => s.step(model_output, timestep, sample),
        }
    }

    fn add_noise<B: Backend, const D: usize>(
        &self,
        original: Tensor<B, D>,
        noise: Tensor<B, D>,
        timesteps: &[usize],
    ) -> Result<Tensor<B, D>> {
        match self {
            Self::Ddim(s) => s.add_noise(original, noise, timesteps),
            Self::Ddpm(s) => s.add_noise(original, noise, timesteps),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_spacing_matches_diffusers_25_steps() {
        // diffusers DDIMScheduler(steps_offset=1).set_timesteps(25): 961, 921, ..., 1
        let ts = leading_timesteps(1000, 25, 1);
        assert_eq!(ts.len(), 25);
        assert_eq!(ts[0], 961);
        assert_eq!(ts[24], 1);
        assert!(ts.windows(2).all(|w| w[0] - w[1] == 40));
    }

    #[test]
    fn betas_end_points() {
        let b = betas(BetaSchedule::Linear, 0.00085, 0.012, 1000);
        assert!((b[0] - 0.00085).abs() < 1e-9 && (b[999] - 0.012).abs() < 1e-9);
        let s = betas(BetaSchedule::ScaledLinear, 0.00085, 0.012, 1000);
        assert!((s[0] - 0.00085).abs() < 1e-9 && (s[999] - 0.012).abs() < 1e-8);
        assert!(s[500] < b[500]);
    }
}
