//! Sinusoidal timestep features and the timestep MLP (ports diffusers `models/embeddings.py`:
//! `get_timestep_embedding`, `Timesteps`, `TimestepEmbedding`).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// Sinusoidal features of `timesteps` `[n]` → `[n, dim]`.
///
/// `exponent_i = -ln(10000)·i / (half − shift)`, features `[sin, cos]`, or `[cos, sin]` when
/// `flip_sin_to_cos` (SD1.5: flip true, shift 0).
pub fn timestep_embedding<B: Backend>(
    timesteps: Tensor<B, 1>,
    dim: usize,
    flip_sin_to_cos: bool,
    downscale_freq_shift: f64,
) -> Tensor<B, 2> {
    let device = timesteps.device();
    let half = dim / 2;
    // f32 like diffusers: the argument t·w reaches ~1000, so the frequencies must round as
    // torch's float32 ones do or sin/cos drift by ~1e-4.
    let freqs: Vec<f32> = (0..half)
        .map(|i| {
            let exponent = -(10000f64.ln() as f32) * i as f32;
            (exponent / (half as f32 - downscale_freq_shift as f32)).exp()
        })
        .collect();
    let freqs = Tensor::<B, 1>::from_floats(freqs.as_slice(), &device).reshape([1, half]);
    let n = timesteps.dims()[0];
    let args = timesteps.reshape([n, 1]) * freqs;
    let (sin, cos) = (args.clone().sin(), args.cos());
    let emb = if flip_sin_to_cos {
        Tensor::cat(vec![cos, sin], 1)
    } else {
        Tensor::cat(vec![sin, cos], 1)
    };
    if !dim.is_multiple_of(2) {
        Tensor::cat(vec![emb, Tensor::zeros([n, 1], &device)], 1)
    } else {
        emb
    }
}

/// Config of a [`TimestepEmbedding`].
#[derive(Config, Debug)]
pub struct TimestepEmbeddingConfig {
    /// Width of the sinusoidal features.
    pub in_channels: usize,
    /// Width of the embedding (SD1.5: 4 × block_out_channels[0]).
    pub time_embed_dim: usize,
}

/// `linear_2(SiLU(linear_1(x)))`.
#[derive(Module, Debug)]
pub struct TimestepEmbedding<B: Backend> {
    /// First linear.
    pub linear_1: Linear<B>,
    /// Second linear.
    pub linear_2: Linear<B>,
}

impl TimestepEmbeddingConfig {
    /// Builds the MLP.
    pub fn init<B: Backend>(&self, device: &B::Device) -> TimestepEmbedding<B> {
        TimestepEmbedding {
            linear_1: LinearConfig::new(self.in_channels, self.time_embed_dim).init(device),
            linear_2: LinearConfig::new(self.time_embed_dim, self.time_embed_dim).init(device),
        }
    }
}

impl<B: Backend> TimestepEmbedding<B> {
    /// `[n, in]` → `[n, time_embed_dim]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.linear_2.forward(silu(self.linear_1.forward(x)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;

    #[test]
    fn flip_puts_cos_first() {
        let dev = Default::default();
        let t = Tensor::<Cpu, 1>::from_floats([0.0, 1.0], &dev);
        let e: Vec<f32> = timestep_embedding(t, 4, true, 0.0)
            .into_data()
            .to_vec()
            .unwrap();
        // t = 0: cos = 1, sin = 0
        assert_eq!(&e[..4], &[1.0, 1.0, 0.0, 0.0]);
        // t = 1, freqs [1, 1e-2]: [cos 1, cos .01, sin 1, sin .01]
        let want = [1f32.cos(), 0.01f32.cos(), 1f32.sin(), 0.01f32.sin()];
        for (a, b) in e[4..].iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
}
