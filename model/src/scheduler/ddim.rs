//! DDIM sampler, port of diffusers' `schedulers/scheduling_ddim.py` (`DDIMScheduler`) for η = 0
//! with "leading" timestep spacing and no sample clipping (what MagicTime / AnimateDiff use).

use burn::config::Config;
use burn::tensor::{backend::Backend, Tensor};

use super::{
    add_noise_with, alpha_at, alphas_cumprod, betas, leading_timesteps, predict_x0_eps,
    BetaSchedule, PredictionType, Scheduler,
};
use crate::error::{ModelError, Result};

/// DDIM config; defaults are MagicTime's `noise_scheduler_kwargs` (linear β 0.00085–0.012,
/// steps_offset 1, clip_sample false) on top of diffusers' defaults (set_alpha_to_one true).
#[derive(Config, Debug)]
pub struct DdimSchedulerConfig {
    #[config(default = 1000)]
    pub num_train_timesteps: usize,
    #[config(default = 0.00085)]
    pub beta_start: f64,
    #[config(default = 0.012)]
    pub beta_end: f64,
    #[config(default = "BetaSchedule::Linear")]
    pub beta_schedule: BetaSchedule,
    #[config(default = 1)]
    pub steps_offset: usize,
    /// ᾱ used after the last step: 1 when true, ᾱ₀ when false (SD1.5's own config says false).
    #[config(default = true)]
    pub set_alpha_to_one: bool,
    #[config(default = "PredictionType::Epsilon")]
    pub prediction_type: PredictionType,
}

/// A DDIM scheduler set up for a number of inference steps.
#[derive(Debug, Clone)]
pub struct DdimScheduler {
    pub config: DdimSchedulerConfig,
    /// ᾱ_t for every training timestep.
    pub alphas_cumprod: Vec<f64>,
    final_alpha_cumprod: f64,
    timesteps: Vec<usize>,
    step_ratio: usize,
}

impl DdimSchedulerConfig {
    /// MagicTime's sampling scheduler (AnimateDiff inference yaml).
    pub fn magictime() -> Self {
        Self::new()
    }

    /// Builds the scheduler for `n_steps` inference steps (25 in MagicTime).
    pub fn build(&self, n_steps: usize) -> Result<DdimScheduler> {
        let t = self.num_train_timesteps;
        if n_steps == 0 || n_steps > t {
            return Err(ModelError::Config(format!(
                "DDIM inference steps must be in 1..={t}, got {n_steps}"
            )));
        }
        let ac = alphas_cumprod(&betas(
            self.beta_schedule,
            self.beta_start,
            self.beta_end,
            t,
        ));
        let timesteps = leading_timesteps(t, n_steps, self.steps_offset);
        if timesteps[0] >= t {
            return Err(ModelError::Config(format!(
                "steps_offset {} with {n_steps} steps gives timestep {} ≥ {t}",
                self.steps_offset, timesteps[0]
            )));
        }
        Ok(DdimScheduler {
            final_alpha_cumprod: if self.set_alpha_to_one { 1.0 } else { ac[0] },
            alphas_cumprod: ac,
            timesteps,
            step_ratio: t / n_steps,
            config: self.clone(),
        })
    }
}

impl Scheduler for DdimScheduler {
    fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    fn step<B: Backend, const D: usize>(
        &self,
        model_output: Tensor<B, D>,
        timestep: usize,
        sample: Tensor<B, D>,
    ) -> Result<Tensor<B, D>> {
        // 1. previous timestep (t − T/n)
        let prev = timestep as i64 - self.step_ratio as i64;
        // 2. ᾱ_t and ᾱ_{t−1}
        let alpha_prod_t = alpha_at(&self.alphas_cumprod, timestep)?;
        let alpha_prod_prev = if prev >= 0 {
            self.alphas_cumprod[prev as usize]
        } else {
            self.final_alpha_cumprod
        };
        // 3. predicted x₀ and ε
        let (pred_x0, pred_eps) = predict_x0_eps(
            self.config.prediction_type,
            model_output,
            sample,
            alpha_prod_t,
        );
        // 4-6. η = 0: σ_t = 0, direction pointing to x_t, then x_{t−1}
        let direction = pred_eps * (1.0 - alpha_prod_prev).sqrt();
        Ok(pred_x0 * alpha_prod_prev.sqrt() + direction)
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
