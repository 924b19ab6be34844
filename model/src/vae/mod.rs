//! SD1.5's VAE, port of diffusers' `models/autoencoders/autoencoder_kl.py` (`AutoencoderKL`):
//! encoder → quant_conv → diagonal Gaussian; post_quant_conv → decoder. Latents are scaled by
//! 0.18215 in the pipeline; video latents [B, C, F, h, w] decode frame by frame.

pub mod attention;
pub mod blocks;
pub mod resnet;

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{backend::Backend, Distribution, Tensor};

use crate::error::{ModelError, Result};
pub use blocks::{Decoder, Encoder};

/// `AutoencoderKL` config (diffusers' `vae/config.json`).
#[derive(Config, Debug)]
pub struct AutoencoderKlConfig {
    #[config(default = 3)]
    pub in_channels: usize,
    #[config(default = 3)]
    pub out_channels: usize,
    #[config(default = "vec![128, 256, 512, 512]")]
    pub block_out_channels: Vec<usize>,
    #[config(default = 2)]
    pub layers_per_block: usize,
    #[config(default = 4)]
    pub latent_channels: usize,
    #[config(default = 32)]
    pub norm_num_groups: usize,
    #[config(default = 0.18215)]
    pub scaling_factor: f64,
    #[config(default = true)]
    pub mid_block_add_attention: bool,
}

impl AutoencoderKlConfig {
    /// SD1.5's VAE (`runwayml/stable-diffusion-v1-5/vae/config.json`).
    pub fn sd15() -> Self {
        Self::new()
    }

    /// A tiny config for tests: channels (8, 16), one resnet per block, 4 groups.
    pub fn tiny() -> Self {
        Self::new()
            .with_block_out_channels(vec![8, 16])
            .with_layers_per_block(1)
            .with_norm_num_groups(4)
    }

    /// Reads diffusers' `vae/config.json`.
    pub fn from_diffusers_json(path: &std::path::Path) -> Result<Self> {
        /// The fields of diffusers' `AutoencoderKL` config this port reads.
        #[derive(serde::Deserialize)]
        struct DiffusersVae {
            in_channels: Option<usize>,
            out_channels: Option<usize>,
            block_out_channels: Option<Vec<usize>>,
            layers_per_block: Option<usize>,
            latent_channels: Option<usize>,
            norm_num_groups: Option<usize>,
            scaling_factor: Option<f64>,
            mid_block_add_attention: Option<bool>,
        }
        let v: DiffusersVae = crate::loader::read_config(path)?;
        let d = Self::new();
        let c = Self {
            in_channels: v.in_channels.unwrap_or(d.in_channels),
            out_channels: v.out_channels.unwrap_or(d.out_channels),
            block_out_channels: v.block_out_channels.unwrap_or(d.block_out_channels),
            layers_per_block: v.layers_per_block.unwrap_or(d.layers_per_block),
            latent_channels: v.latent_channels.unwrap_or(d.latent_channels),
            norm_num_groups: v.norm_num_groups.unwrap_or(d.norm_num_groups),
            scaling_factor: v.scaling_factor.unwrap_or(d.scaling_factor),
            mid_block_add_attention: v.mid_block_add_attention.unwrap_or(true),
        };
        c.validate().map_err(|e| ModelError::parse(path, e))?;
        Ok(c)
    }

    /// Rejects configs that cannot build (empty blocks, channels not divisible by groups).
    pub fn validate(&self) -> Result<()> {
        if self.block_out_channels.is_empty() || self.layers_per_block == 0 {
            return Err(ModelError::Config(
                "VAE needs at least one block and one layer".into(),
            ));
        }
        if let Some(c) = self
            .block_out_channels
            .iter()
            .find(|&&c| c % self.norm_num_groups != 0)
        {
            return Err(ModelError::Config(format!(
                "VAE channels {c} not divisible by norm_num_groups {}",
                self.norm_num_groups
            )));
        }
        Ok(())
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> AutoencoderKl<B> {
        let l = self.latent_channels;
        AutoencoderKl {
            encoder: Encoder::new(self, device),
            decoder: Decoder::new(self, device),
            quant_conv: Conv2dConfig::new([2 * l, 2 * l], [1, 1]).init(device),
            post_quant_conv: Conv2dConfig::new([l, l], [1, 1]).init(device),
            scaling_factor: self.scaling_factor,
        }
    }

    /// Spatial down-scaling factor (8 for SD1.5).
    pub fn downscale(&self) -> usize {
        1 << (self.block_out_channels.len() - 1)
    }
}

/// The KL autoencoder.
#[derive(Module, Debug)]
pub struct AutoencoderKl<B: Backend> {
    pub encoder: Encoder<B>,
    pub decoder: Decoder<B>,
    pub quant_conv: Conv2d<B>,
    pub post_quant_conv: Conv2d<B>,
    pub scaling_factor: f64,
}

/// The encoder's diagonal Gaussian over latents.
#[derive(Debug, Clone)]
pub struct DiagonalGaussian<B: Backend> {
    pub mean: Tensor<B, 4>,
    /// log σ², clamped to [−30, 20] as diffusers.
    pub logvar: Tensor<B, 4>,
}

impl<B: Backend> DiagonalGaussian<B> {
    /// mean + σ·ε with ε from the backend RNG.
    pub fn sample(&self) -> Tensor<B, 4> {
        let eps = Tensor::random(
            self.mean.shape(),
            Distribution::Normal(0.0, 1.0),
            &self.mean.device(),
        );
        self.sample_with(eps)
    }

    /// `mean + σ·eps` with the caller's standard normal `eps` (seeded training).
    pub fn sample_with(&self, eps: Tensor<B, 4>) -> Tensor<B, 4> {
        self.mean.clone() + (self.logvar.clone() * 0.5).exp() * eps
    }

    /// The mean (deterministic encoding).
    pub fn mode(&self) -> Tensor<B, 4> {
        self.mean.clone()
    }
}

impl<B: Backend> AutoencoderKl<B> {
    /// Raw moments [B, 2·latent, h, w] (encoder + quant_conv).
    pub fn encode_moments(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.quant_conv.forward(self.encoder.forward(x))
    }

    /// Image in [−1, 1], [B, 3, H, W] → latent distribution (unscaled).
    pub fn encode(&self, x: Tensor<B, 4>) -> DiagonalGaussian<B> {
        let moments = self.encode_moments(x);
        let [b, c2, h, w] = moments.dims();
        let c = c2 / 2;
        DiagonalGaussian {
            mean: moments.clone().slice([0..b, 0..c, 0..h, 0..w]),
            logvar: moments.slice([0..b, c..c2, 0..h, 0..w]).clamp(-30.0, 20.0),
        }
    }

    /// Unscaled latents [B, latent, h, w] → image [B, 3, H, W] (about [−1, 1]).
    pub fn decode(&self, z: Tensor<B, 4>) -> Tensor<B, 4> {
        self.decoder.forward(self.post_quant_conv.forward(z))
    }

    /// Unscaled video latents [B, C, F, h, w] → frames [B, 3, F, H, W], one frame at a time (as
    /// AnimateDiff's pipeline, to bound memory). `progress(done, total)` runs after each frame.
    pub fn decode_frames_with_progress(
        &self,
        latents: Tensor<B, 5>,
        mut progress: impl FnMut(usize, usize),
    ) -> Tensor<B, 5> {
        let [b, c, f, h, w] = latents.dims();
        let total = b * f;
        let mut frames = Vec::with_capacity(f);
        for i in 0..f {
            let z = latents
                .clone()
                .slice([0..b, 0..c, i..i + 1, 0..h, 0..w])
                .reshape([b, c, h, w]);
            frames.push(self.decode(z).unsqueeze_dim::<5>(2));
            progress((i + 1) * b, total);
        }
        Tensor::cat(frames, 2)
    }

    /// [`Self::decode_frames_with_progress`] without a callback.
    pub fn decode_frames(&self, latents: Tensor<B, 5>) -> Tensor<B, 5> {
        self.decode_frames_with_progress(latents, |_, _| {})
    }

    /// The pipeline's last step: latents scaled by `scaling_factor` [B, C, F, h, w] → video in
    /// [0, 1], [B, 3, F, H, W] (AnimateDiff's `decode_latents`).
    pub fn decode_video(
        &self,
        scaled_latents: Tensor<B, 5>,
        progress: impl FnMut(usize, usize),
    ) -> Tensor<B, 5> {
        let z = scaled_latents / self.scaling_factor;
        let video = self.decode_frames_with_progress(z, progress);
        (video / 2.0 + 0.5).clamp(0.0, 1.0)
    }

    /// Image batch in [−1, 1] → scaled latents (mean × scaling_factor), for training targets.
    pub fn encode_scaled(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.encode(x).mode() * self.scaling_factor
    }
}
