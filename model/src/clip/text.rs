//! CLIP text tower, port of transformers' `models/clip/modeling_clip.py`
//! (`CLIPTextEmbeddings`, `CLIPTextTransformer`, `CLIPTextModel`, `CLIPTextModelWithProjection`).
//! Module paths equal transformers' state-dict keys (`text_model.encoder.layers.N...`,
//! `text_projection`), so a diffusers `text_encoder/` loads with one rename (LoRA `base`).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{backend::Backend, Int, Tensor};

use super::encoder::{ClipActivation, ClipEncoder, ClipEncoderConfig};
use super::hf_config::HfClipFile;
use crate::error::{ModelError, Result};
use crate::lora::LoraConfig;

/// Text tower sizes (transformers' `CLIPTextConfig`).
#[derive(Config, Debug)]
pub struct ClipTextConfig {
    #[config(default = 49408)]
    pub vocab_size: usize,
    #[config(default = 768)]
    pub hidden_size: usize,
    #[config(default = 3072)]
    pub intermediate_size: usize,
    #[config(default = 12)]
    pub num_hidden_layers: usize,
    #[config(default = 12)]
    pub num_attention_heads: usize,
    #[config(default = 77)]
    pub max_position_embeddings: usize,
    #[config(default = "ClipActivation::QuickGelu")]
    pub hidden_act: ClipActivation,
    #[config(default = 1e-5)]
    pub layer_norm_eps: f64,
    /// The pooled token is the first `eos_token_id`; the legacy value 2 (SD1.5's config) means
    /// "the position of the largest id", as transformers does.
    #[config(default = 49407)]
    pub eos_token_id: usize,
    /// Output size of `text_projection` (CLIPModel / WithProjection); None for SD's text encoder.
    #[config(default = "None")]
    pub projection_dim: Option<usize>,
}

impl ClipTextConfig {
    /// SD1.5's text encoder: OpenAI CLIP ViT-L/14 text tower
    /// (`runwayml/stable-diffusion-v1-5/text_encoder/config.json`).
    pub fn sd15() -> Self {
        Self::new().with_eos_token_id(2)
    }

    /// CLIP ViT-L/14 text tower with its 768-d projection (`openai/clip-vit-large-patch14`).
    pub fn vit_l14_with_projection() -> Self {
        Self::new().with_projection_dim(Some(768))
    }

    /// A tiny config for tests.
    pub fn tiny() -> Self {
        Self::new()
            .with_vocab_size(1000)
            .with_hidden_size(32)
            .with_intermediate_size(48)
            .with_num_hidden_layers(2)
            .with_num_attention_heads(4)
            .with_eos_token_id(999)
    }

    /// Reads transformers' `config.json` (a `CLIPTextConfig`, or a `CLIPConfig` with `text_config`).
    pub fn from_hf_json(path: &std::path::Path) -> Result<Self> {
        let file = HfClipFile::read(path)?;
        let t = file.text_config.as_ref().unwrap_or(&file.root);
        let d = Self::new();
        let act = t.hidden_act.as_deref().unwrap_or("quick_gelu");
        let hidden_act = ClipActivation::from_hf(act)
            .ok_or_else(|| ModelError::parse(path, format!("unsupported hidden_act {act:?}")))?;
        let with_proj = file.has_architecture("WithProjection", true)
            || file.has_architecture("CLIPModel", false);
        Ok(Self {
            vocab_size: t.vocab_size.unwrap_or(d.vocab_size),
            hidden_size: t.hidden_size.unwrap_or(d.hidden_size),
            intermediate_size: t.intermediate_size.unwrap_or(d.intermediate_size),
            num_hidden_layers: t.num_hidden_layers.unwrap_or(d.num_hidden_layers),
            num_attention_heads: t.num_attention_heads.unwrap_or(d.num_attention_heads),
            max_position_embeddings: t
                .max_position_embeddings
                .unwrap_or(d.max_position_embeddings),
            hidden_act,
            layer_norm_eps: t.layer_norm_eps.unwrap_or(1e-5),
            eos_token_id: t.eos_token_id.unwrap_or(d.eos_token_id),
            projection_dim: with_proj
                .then(|| t.projection_dim.or(file.projection_dim).unwrap_or(768)),
        })
    }

    fn encoder(&self) -> ClipEncoderConfig {
        ClipEncoderConfig::new(
            self.hidden_size,
            self.intermediate_size,
            self.num_hidden_layers,
            self.num_attention_heads,
        )
        .with_hidden_act(self.hidden_act)
        .with_layer_norm_eps(self.layer_norm_eps)
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> ClipTextModel<B> {
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            panic!("hidden_size must be divisible by num_attention_heads");
        }
        ClipTextModel {
            text_model: ClipTextTransformer {
                embeddings: ClipTextEmbeddings {
                    token_embedding: EmbeddingConfig::new(self.vocab_size, self.hidden_size)
                        .init(device),
                    position_embedding: EmbeddingConfig::new(
                        self.max_position_embeddings,
                        self.hidden_size,
                    )
                    .init(device),
                },
                encoder: self.encoder().init(device),
                final_layer_norm: LayerNormConfig::new(self.hidden_size)
                    .with_epsilon(self.layer_norm_eps)
                    .init(device),
                eos_token_id: self.eos_token_id,
            },
            text_projection: self.projection_dim.map(|p| {
                LinearConfig::new(self.hidden_size, p)
                    .with_bias(false)
                    .init(device)
            }),
        }
    }
}

/// Token + learned position embeddings.
#[derive(Module, Debug)]
pub struct ClipTextEmbeddings<B: Backend> {
    pub token_embedding: Embedding<B>,
    pub position_embedding: Embedding<B>,
}

/// Embeddings → causal encoder → final LayerNorm (`text_model`).
#[derive(Module, Debug)]
pub struct ClipTextTransformer<B: Backend> {
    pub embeddings: ClipTextEmbeddings<B>,
    pub encoder: ClipEncoder<B>,
    pub final_layer_norm: LayerNorm<B>,
    pub eos_token_id: usize,
}

/// The CLIP text model, with the projection head when the checkpoint has one.
#[derive(Module, Debug)]
pub struct ClipTextModel<B: Backend> {
    pub text_model: ClipTextTransformer<B>,
    pub text_projection: Option<Linear<B>>,
}

/// Outputs of [`ClipTextModel::forward_full`].
#[derive(Debug, Clone)]
pub struct ClipTextOutput<B: Backend> {
    /// [B, S, C] after the final LayerNorm (what SD cross-attends to).
    pub last_hidden_state: Tensor<B, 3>,
    /// [B, C] at the end-of-text token.
    pub pooled_output: Tensor<B, 2>,
}

impl<B: Backend> ClipTextModel<B> {
    /// Token ids [B, S] (S ≤ max positions) → hidden states [B, S, C]: the prompt embeddings of
    /// the diffusion pipeline.
    pub fn forward(&self, input_ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        self.hidden_states(input_ids, None)
    }

    /// Hidden states after `layers` encoder layers and the final LayerNorm (clip-skip when
    /// `Some(n)` with n < number of layers).
    pub fn hidden_states(
        &self,
        input_ids: Tensor<B, 2, Int>,
        layers: Option<usize>,
    ) -> Tensor<B, 3> {
        let t = &self.text_model;
        let [_, s] = input_ids.dims();
        // 1. embeddings
        let positions =
            Tensor::<B, 1, Int>::arange(0..s as i64, &input_ids.device()).unsqueeze::<2>();
        let x = t.embeddings.token_embedding.forward(input_ids)
            + t.embeddings.position_embedding.forward(positions);
        // 2. causal encoder
        let x = t.encoder.forward(x, true, layers);
        // 3. final norm
        t.final_layer_norm.forward(x)
    }

    /// Hidden states and the pooled (end-of-text) features.
    pub fn forward_full(&self, input_ids: Tensor<B, 2, Int>) -> ClipTextOutput<B> {
        let eos = self.eos_positions(&input_ids);
        let last_hidden_state = self.forward(input_ids);
        let [b, _, c] = last_hidden_state.dims();
        let rows: Vec<Tensor<B, 2>> = eos
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                last_hidden_state
                    .clone()
                    .slice([i..i + 1, p..p + 1, 0..c])
                    .reshape([1, c])
            })
            .collect();
        debug_assert_eq!(rows.len(), b);
        ClipTextOutput {
            pooled_output: Tensor::cat(rows, 0),
            last_hidden_state,
        }
    }

    /// Projected text features [B, P] (`text_embeds`, un-normalised). Errors without a projection.
    pub fn text_embeds(&self, input_ids: Tensor<B, 2, Int>) -> Result<Tensor<B, 2>> {
        let proj = self.text_projection.as_ref().ok_or_else(|| {
            ModelError::Config("this CLIP text model has no text_projection".into())
        })?;
        Ok(proj.forward(self.forward_full(input_ids).pooled_output))
    }

    /// Index of the pooled token in each row.
    fn eos_positions(&self, input_ids: &Tensor<B, 2, Int>) -> Vec<usize> {
        let [b, s] = input_ids.dims();
        let ids: Vec<i64> = input_ids
            .to_data()
            .convert::<i64>()
            .into_vec()
            .expect("int token ids");
        let eos = self.text_model.eos_token_id as i64;
        (0..b)
            .map(|i| {
                let row = &ids[i * s..(i + 1) * s];
                if eos == 2 {
                    // legacy configs: the end-of-text token has the largest id; first max wins
                    let max = *row.iter().max().unwrap_or(&0);
                    row.iter().position(|&x| x == max).unwrap_or(0)
                } else {
                    row.iter().position(|&x| x == eos).unwrap_or(0)
                }
            })
            .collect()
    }

    /// Attaches LoRA adapters to the attention projections of every layer.
    pub fn with_lora(mut self, targets: &[&str], config: &LoraConfig, device: &B::Device) -> Self {
        self.text_model.encoder.layers = self
            .text_model
            .encoder
            .layers
            .into_iter()
            .map(|mut l| {
                l.self_attn = l.self_attn.with_lora(targets, config, device);
                l
            })
            .collect();
        self
    }

    /// Merges every attached adapter into the base weights.
    pub fn merge_lora(mut self) -> Self {
        self.text_model.encoder.layers = self
            .text_model
            .encoder
            .layers
            .into_iter()
            .map(|mut l| {
                l.self_attn = l.self_attn.merge_lora();
                l
            })
            .collect();
        self
    }

    /// Subtracts merged adapters again.
    pub fn unmerge_lora(mut self) -> Self {
        self.text_model.encoder.layers = self
            .text_model
            .encoder
            .layers
            .into_iter()
            .map(|mut l| {
                l.self_attn = l.self_attn.unmerge_lora();
                l
            })
            .collect();
        self
    }
}
