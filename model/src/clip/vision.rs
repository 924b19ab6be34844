//! CLIP vision tower, port of transformers' `models/clip/modeling_clip.py`
//! (`CLIPVisionEmbeddings`, `CLIPVisionTransformer`, `CLIPVisionModelWithProjection`).
//! Module paths equal the state-dict keys, including transformers' `pre_layrnorm` spelling.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{backend::Backend, Int, Tensor};

use super::encoder::{ClipActivation, ClipEncoder, ClipEncoderConfig};
use super::hf_config::HfClipFile;
use crate::error::{ModelError, Result};

/// Vision tower sizes (transformers' `CLIPVisionConfig`); defaults are ViT-L/14 at 224².
#[derive(Config, Debug)]
pub struct ClipVisionConfig {
    #[config(default = 1024)]
    pub hidden_size: usize,
    #[config(default = 4096)]
    pub intermediate_size: usize,
    #[config(default = 24)]
    pub num_hidden_layers: usize,
    #[config(default = 16)]
    pub num_attention_heads: usize,
    #[config(default = 3)]
    pub num_channels: usize,
    #[config(default = 224)]
    pub image_size: usize,
    #[config(default = 14)]
    pub patch_size: usize,
    #[config(default = "ClipActivation::QuickGelu")]
    pub hidden_act: ClipActivation,
    #[config(default = 1e-5)]
    pub layer_norm_eps: f64,
    /// Output size of `visual_projection`; None for a bare `CLIPVisionModel`.
    #[config(default = "Some(768)")]
    pub projection_dim: Option<usize>,
}

impl ClipVisionConfig {
    /// OpenAI CLIP ViT-L/14 image tower (`openai/clip-vit-large-patch14`).
    pub fn vit_l14() -> Self {
        Self::new()
    }

    /// OpenAI CLIP ViT-B/32 image tower (`openai/clip-vit-base-patch32`).
    pub fn vit_b32() -> Self {
        Self::new()
            .with_hidden_size(768)
            .with_intermediate_size(3072)
            .with_num_hidden_layers(12)
            .with_num_attention_heads(12)
            .with_patch_size(32)
            .with_projection_dim(Some(512))
    }

    /// A tiny config for tests (32² images, 8² patches).
    pub fn tiny() -> Self {
        Self::new()
            .with_hidden_size(32)
            .with_intermediate_size(48)
            .with_num_hidden_layers(2)
            .with_num_attention_heads(4)
            .with_image_size(32)
            .with_patch_size(8)
            .with_projection_dim(Some(24))
    }

    /// Reads transformers' `config.json` (`CLIPVisionConfig` or `CLIPConfig.vision_config`).
    pub fn from_hf_json(path: &std::path::Path) -> Result<Self> {
        let file = HfClipFile::read(path)?;
        let t = file.vision_config.as_ref().unwrap_or(&file.root);
        let d = Self::new();
        let act = t.hidden_act.as_deref().unwrap_or("quick_gelu");
        let hidden_act = ClipActivation::from_hf(act)
            .ok_or_else(|| ModelError::parse(path, format!("unsupported hidden_act {act:?}")))?;
        let bare = file.has_architecture("CLIPVisionModel", false);
        Ok(Self {
            hidden_size: t.hidden_size.unwrap_or(d.hidden_size),
            intermediate_size: t.intermediate_size.unwrap_or(d.intermediate_size),
            num_hidden_layers: t.num_hidden_layers.unwrap_or(d.num_hidden_layers),
            num_attention_heads: t.num_attention_heads.unwrap_or(d.num_attention_heads),
            num_channels: t.num_channels.unwrap_or(d.num_channels),
            image_size: t.image_size.unwrap_or(d.image_size),
            patch_size: t.patch_size.unwrap_or(d.patch_size),
            hidden_act,
            layer_norm_eps: t.layer_norm_eps.unwrap_or(1e-5),
            projection_dim: (!bare)
                .then(|| t.projection_dim.or(file.projection_dim).unwrap_or(768)),
        })
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> ClipVisionModel<B> {
        let num_positions = (self.image_size / self.patch_size).pow(2) + 1;
        let ln = || {
            LayerNormConfig::new(self.hidden_size)
                .with_epsilon(self.layer_norm_eps)
                .init(device)
        };
        ClipVisionModel {
            vision_model: ClipVisionTransformer {
                embeddings: ClipVisionEmbeddings {
                    class_embedding: Param::from_tensor(Tensor::zeros([self.hidden_size], device)),
                    patch_embedding: Conv2dConfig::new(
                        [self.num_channels, self.hidden_size],
                        [self.patch_size, self.patch_size],
                    )
                    .with_stride([self.patch_size, self.patch_size])
                    .with_bias(false)
                    .init(device),
                    position_embedding: EmbeddingConfig::new(num_positions, self.hidden_size)
                        .init(device),
                    image_size: self.image_size,
                },
                pre_layrnorm: ln(),
                encoder: ClipEncoderConfig::new(
                    self.hidden_size,
                    self.intermediate_size,
                    self.num_hidden_layers,
                    self.num_attention_heads,
                )
                .with_hidden_act(self.hidden_act)
                .with_layer_norm_eps(self.layer_norm_eps)
                .init(device),
                post_layernorm: ln(),
            },
            visual_projection: self.projection_dim.map(|p| {
                LinearConfig::new(self.hidden_size, p)
                    .with_bias(false)
                    .init(device)
            }),
        }
    }
}

/// Class token + patch embeddings (a strided conv) + learned positions.
#[derive(Module, Debug)]
pub struct ClipVisionEmbeddings<B: Backend> {
    pub class_embedding: Param<Tensor<B, 1>>,
    pub patch_embedding: Conv2d<B>,
    pub position_embedding: Embedding<B>,
    pub image_size: usize,
}

/// Embeddings → pre-LN → encoder (no mask); `post_layernorm` applies to the class token.
#[derive(Module, Debug)]
pub struct ClipVisionTransformer<B: Backend> {
    pub embeddings: ClipVisionEmbeddings<B>,
    pub pre_layrnorm: LayerNorm<B>,
    pub encoder: ClipEncoder<B>,
    pub post_layernorm: LayerNorm<B>,
}

/// The CLIP image tower with its projection head.
#[derive(Module, Debug)]
pub struct ClipVisionModel<B: Backend> {
    pub vision_model: ClipVisionTransformer<B>,
    pub visual_projection: Option<Linear<B>>,
}

/// Outputs of [`ClipVisionModel::forward`].
#[derive(Debug, Clone)]
pub struct ClipVisionOutput<B: Backend> {
    /// [B, 1 + patches, C] encoder output.
    pub last_hidden_state: Tensor<B, 3>,
    /// [B, C] post-LayerNorm class token.
    pub pooled_output: Tensor<B, 2>,
}

impl<B: Backend> ClipVisionModel<B> {
    /// Normalised pixels [B, 3, S, S] (S = image_size, see `ClipImageProcessor`) → outputs.
    pub fn forward(&self, pixel_values: Tensor<B, 4>) -> Result<ClipVisionOutput<B>> {
        let v = &self.vision_model;
        let [b, _, h, w] = pixel_values.dims();
        let s = v.embeddings.image_size;
        if h != s || w != s {
            return Err(ModelError::InvalidInput(format!(
                "CLIP vision expects {s}x{s} pixels, got {h}x{w}"
            )));
        }
        // 1. patches [B, C, gh, gw] → [B, N, C]
        let patches = v.embeddings.patch_embedding.forward(pixel_values);
        let [_, c, gh, gw] = patches.dims();
        let patches = patches.reshape([b, c, gh * gw]).swap_dims(1, 2);
        // 2. prepend the class token, add positions
        let cls = v
            .embeddings
            .class_embedding
            .val()
            .reshape([1, 1, c])
            .expand([b, 1, c]);
        let x = Tensor::cat(vec![cls, patches], 1);
        let n = gh * gw + 1;
        let positions = Tensor::<B, 1, Int>::arange(0..n as i64, &x.device()).unsqueeze::<2>();
        let x = x + v.embeddings.position_embedding.forward(positions);
        // 3. encoder
        let x = v.encoder.forward(v.pre_layrnorm.forward(x), false, None);
        // 4. pooled class token
        let pooled = x.clone().slice([0..b, 0..1, 0..c]).reshape([b, c]);
        Ok(ClipVisionOutput {
            pooled_output: v.post_layernorm.forward(pooled),
            last_hidden_state: x,
        })
    }

    /// Projected image features [B, P] (`image_embeds`, un-normalised).
    pub fn image_embeds(&self, pixel_values: Tensor<B, 4>) -> Result<Tensor<B, 2>> {
        let proj = self.visual_projection.as_ref().ok_or_else(|| {
            ModelError::Config("this CLIP vision model has no visual_projection".into())
        })?;
        Ok(proj.forward(self.forward(pixel_values)?.pooled_output))
    }
}
