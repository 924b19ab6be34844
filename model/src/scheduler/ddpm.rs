//! DDPM scheduler, port of diffusers' `schedulers/scheduling_ddpm.py` (`DDPMScheduler`,
//! variance "fixed_small", no clipping/thresholding): training noise and ancestral sampling.

use burn::config::Config;
use burn::tensor::{backend::Backend, Distribution, Tensor};

use super::{
    add_noise_with, alpha_at, alphas_cumprod, betas, leading_timesteps, predict_x0_eps,
    BetaSchedule, PredictionType, Scheduler,
};
use crate::error::{ModelError, Result};

/// DDPM config (diffusers' defaults except the SD β range).
#[derive(Config, Debug)]
pub struct DdpmSchedulerConfig {
    #[config(default = 1000)]
    pub num_train_timesteps: usize,
    #[config(default = 0.00085)]
    pub beta_start: f64,
    #[config(default = 0.012)]
    pub beta_end: f64,
    #[config(default = "BetaSchedule::Linear")]
    pub beta_schedule: BetaSchedule,
    #[config(default = 0)]
    pub steps_offset: usize,
    #[config(default = "PredictionType::Epsilon")]
    pub prediction_type: PredictionType,
}

/// A DDPM scheduler set up for a number of inference steps (`T` for full ancestral sampling).
#[derive(Debug, Clone)]
pub struct DdpmScheduler {
    pub config: DdpmSchedulerConfig,
    /// ᾱ_t for every training timestep.
    pub alphas_cumprod: Vec<f64>,
    timesteps: Vec<usize>,
    step_ratio: usize,
}

impl DdpmSchedulerConfig {
    /// Builds the scheduler for `n_steps` inference steps.
    pub fn build(&self, n_steps: usize) -> Result<DdpmScheduler> {
        let t = self.num_train_timesteps;
        if n_steps == 0 || n_steps > t {
            return Err(ModelError::Config(format!(
                "DDPM inference steps must be in 1..={t}, got {n_steps}"
            )));
        }
        let ac = alphas_cumprod(&betas(
            self.beta_schedule,
            self.beta_start,
            self.beta_end,
            t,
        ));
        Ok(DdpmScheduler {
            alphas_cumprod: ac,
            timesteps: leading_timesteps(t, n_steps, self.steps_offset),
            step_ratio: t / n_steps,
            config: self.clone(),
        })
    }
}

impl DdpmScheduler {
    /// v-prediction target: √ᾱ_t·ε − √(1−ᾱ_t)·x₀ (diffusers' `get_velocity`).
    pub fn get_velocity<B: Backend, const D: usize>(
        &self,
        sample: Tensor<B, D>,
        noise: Tensor<B, D>,
        timesteps: &[usize],
    ) -> Result<Tensor<B, D>> {
        add_noise_with(&self.alphas_cumprod, sample, noise, timesteps, true)
    }

    /// Samples uniform training timesteps in `0..T` for a batch.
    pub fn sample_timesteps(&self, rng: &mut impl rand::Rng, batch: usize) -> Vec<usize> {
        (0..batch)
            .map(|_| rng.random_range(0..self.config.num_train_timesteps))
            .collect()
    }

    /// One ancestral step with the given variance noise (drawn only when `timestep > 0`).
    pub fn step_with_noise<B: Backend, const D: usize>(
        &self,
        model_output: Tensor<B, D>,
        timestep: usize,
        sample: Tensor<B, D>,
        variance_noise: Option<Tensor<B, D>>,
    ) -> Result<Tensor<B, D>> {
        // 1. ᾱ_t, ᾱ_{t−1}, β_t — scalar math in f32, as diffusers' float32 tensors do it (1 − ᾱ_t/ᾱ_{t−1}
        //    cancels badly near t = 0, so f64 here would differ from diffusers by ~1e-5).
        let prev = timestep as i64 - self.step_ratio as i64;
        let alpha_prod_t = alpha_at(&self.alphas_cumprod, timestep)? as f32;
        let alpha_prod_prev = if prev >= 0 {
            self.alphas_cumprod[prev as usize] as f32
        } else {
            1.0
        };
        let beta_prod_t = 1.0 - alpha_prod_t;
        let beta_prod_prev = 1.0 - alpha_prod_prev;
        let current_alpha_t = alpha_prod_t / alpha_prod_prev;
        let current_beta_t = 1.0 - current_alpha_t;
        // 2. predicted x₀
        let (pred_x0, _) = predict_x0_eps(
            self.config.prediction_type,
            model_output,
            sample.clone(),
            alpha_prod_t as f64,
        );
        // 3-4. posterior mean μ̃_t (formula 7 of the DDPM paper)
        let c_x0 = alpha_prod_prev.sqrt() * current_beta_t / beta_prod_t;
        let c_xt = current_alpha_t.sqrt() * beta_prod_prev / beta_prod_t;
        let mean = pred_x0 * c_x0 as f64 + sample * c_xt as f64;
        // 5. add σ_t·z with σ_t² = β̃_t ("fixed_small")
        if timestep == 0 {
            return Ok(mean);
        }
        let noise = variance_noise.ok_or_else(|| {
            ModelError::InvalidInput(format!("DDPM step at t={timestep} needs variance noise"))
        })?;
        let variance = (beta_prod_prev / beta_prod_t * current_beta_t).max(1e-20);
        Ok(mean + noise * variance.sqrt() as f64)
    }
}

impl Scheduler for DdpmScheduler {
    fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    /// Draws the variance noise from the backend's RNG (seed it with `B::seed`).
    fn step<B: Backend, const D: usize>(
        &self,
        model_output: Tensor<B, D>,
        timestep: usize,
        sample: Tensor<B, D>,
    ) -> Result<Tensor<B, D>> {
        let noise = (timestep > 0).then(|| {
            Tensor::random(
                sample.shape(),
                Distribution::Normal(0.0, 1.0),
                &sample.device(),
            )
        });
        self.step_with_noise(model_output, timestep, sample, noise)
    }

    fn add_noise<B: Backend, const D: usize>(
        &self,
        original: Tensor<B, D>,
        noise: Tensor<B, D>,
        timesteps: &[usize],
    ) -> Result<Tensor<B, D>> {
        add_noise_with(&self.alphas_cumprod, original, noise, timesteps, false)
    }
}
