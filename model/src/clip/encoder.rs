//! The CLIP transformer encoder shared by the text and vision towers, port of transformers'
//! `models/clip/modeling_clip.py` (`CLIPAttention`, `CLIPMLP`, `CLIPEncoderLayer`, `CLIPEncoder`).
//! Field names are the checkpoint keys (`self_attn.q_proj`, `mlp.fc1`, `layer_norm1`, ...); the
//! attention projections are [`LoraLinear`]s so text-encoder adapters attach in place.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, sigmoid};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

use crate::lora::{LoraConfig, LoraLinear};

/// CLIP's MLP activation (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipActivation {
    /// x·σ(1.702x) — OpenAI CLIP, SD1.5's text encoder.
    QuickGelu,
    /// Exact (erf) GELU — OpenCLIP ViT-H/G.
    Gelu,
}

impl ClipActivation {
    /// Parses transformers' `hidden_act` string.
    pub fn from_hf(s: &str) -> Option<Self> {
        match s {
            "quick_gelu" => Some(Self::QuickGelu),
            "gelu" => Some(Self::Gelu),
            _ => None,
        }
    }

    pub fn apply<B: Backend, const D: usize>(self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Self::QuickGelu => x.clone() * sigmoid(x * 1.702),
            Self::Gelu => gelu(x),
        }
    }
}

/// Sizes shared by the text and vision encoders.
#[derive(Config, Debug)]
pub struct ClipEncoderConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[config(default = "ClipActivation::QuickGelu")]
    pub hidden_act: ClipActivation,
    #[config(default = 1e-5)]
    pub layer_norm_eps: f64,
}

/// Multi-head self-attention (`CLIPAttention`).
#[derive(Module, Debug)]
pub struct ClipAttention<B: Backend> {
    pub q_proj: LoraLinear<B>,
    pub k_proj: LoraLinear<B>,
    pub v_proj: LoraLinear<B>,
    pub out_proj: LoraLinear<B>,
    pub num_heads: usize,
}

impl<B: Backend> ClipAttention<B> {
    fn new(c: &ClipEncoderConfig, device: &B::Device) -> Self {
        let lin = || LoraLinear::new(&LinearConfig::new(c.hidden_size, c.hidden_size), device);
        Self {
            q_proj: lin(),
            k_proj: lin(),
            v_proj: lin(),
            out_proj: lin(),
            num_heads: c.num_attention_heads,
        }
    }

    /// [B, S, C] → [B, S, C]; `causal` masks future positions (text tower).
    pub fn forward(&self, x: Tensor<B, 3>, causal: bool) -> Tensor<B, 3> {
        let [b, s, c] = x.dims();
        let h = self.num_heads;
        let heads = |t: Tensor<B, 3>| t.reshape([b, s, h, c / h]).swap_dims(1, 2);
        let q = heads(self.q_proj.forward(x.clone()));
        let k = heads(self.k_proj.forward(x.clone()));
        let v = heads(self.v_proj.forward(x));
        let options = AttentionModuleOptions {
            scale: None, // 1/√head_dim, as CLIP
            softcap: None,
            is_causal: causal,
        };
        let o = attention(q, k, v, None, None, options); // [B, H, S, D]
        self.out_proj.forward(o.swap_dims(1, 2).reshape([b, s, c]))
    }

    /// Attaches LoRA adapters to the projections named in `targets`
    /// (`q_proj`, `k_proj`, `v_proj`, `out_proj`).
    pub fn with_lora(mut self, targets: &[&str], config: &LoraConfig, device: &B::Device) -> Self {
        let want = |n: &str| targets.contains(&n);
        if want("q_proj") {
            self.q_proj = self.q_proj.with_adapter(config, device);
        }
        if want("k_proj") {
            self.k_proj = self.k_proj.with_adapter(config, device);
        }
        if want("v_proj") {
            self.v_proj = self.v_proj.with_adapter(config, device);
        }
        if want("out_proj") {
            self.out_proj = self.out_proj.with_adapter(config, device);
        }
        self
    }

    /// Merges every attached adapter into its base weight.
    pub fn merge_lora(mut self) -> Self {
        self.q_proj = self.q_proj.merge();
        self.k_proj = self.k_proj.merge();
        self.v_proj = self.v_proj.merge();
        self.out_proj = self.out_proj.merge();
        self
    }

    /// Subtracts merged adapters again.
    pub fn unmerge_lora(mut self) -> Self {
        self.q_proj = self.q_proj.unmerge();
        self.k_proj = self.k_proj.unmerge();
        self.v_proj = self.v_proj.unmerge();
        self.out_proj = self.out_proj.unmerge();
        self
    }
}

/// `CLIPMLP`: fc1 → activation → fc2.
#[derive(Module, Debug)]
pub struct ClipMlp<B: Backend> {
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
    pub activation: ClipActivation,
}

impl<B: Backend> ClipMlp<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.fc2.forward(self.activation.apply(self.fc1.forward(x)))
    }
}

/// `CLIPEncoderLayer`: pre-norm attention and MLP with residuals.
#[derive(Module, Debug)]
pub struct ClipEncoderLayer<B: Backend> {
    pub self_attn: ClipAttention<B>,
    pub layer_norm1: LayerNorm<B>,
    pub mlp: ClipMlp<B>,
    pub layer_norm2: LayerNorm<B>,
}

impl<B: Backend> ClipEncoderLayer<B> {
    pub fn forward(&self, x: Tensor<B, 3>, causal: bool) -> Tensor<B, 3> {
        // 1. attention block
        let h = self
            .self_attn
            .forward(self.layer_norm1.forward(x.clone()), causal);
        let x = x + h;
        // 2. MLP block
        let h = self.mlp.forward(self.layer_norm2.forward(x.clone()));
        x + h
    }
}

/// `CLIPEncoder`: the stack of layers (`encoder.layers.N`).
#[derive(Module, Debug)]
pub struct ClipEncoder<B: Backend> {
    pub layers: Vec<ClipEncoderLayer<B>>,
}

impl ClipEncoderConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> ClipEncoder<B> {
        let ln = || {
            LayerNormConfig::new(self.hidden_size)
                .with_epsilon(self.layer_norm_eps)
                .init(device)
        };
        let layers = (0..self.num_hidden_layers)
            .map(|_| ClipEncoderLayer {
                self_attn: ClipAttention::new(self, device),
                layer_norm1: ln(),
                mlp: ClipMlp {
                    fc1: LinearConfig::new(self.hidden_size, self.intermediate_size).init(device),
                    fc2: LinearConfig::new(self.intermediate_size, self.hidden_size).init(device),
                    activation: self.hidden_act,
                },
                layer_norm2: ln(),
            })
            .collect();
        ClipEncoder { layers }
    }
}

impl<B: Backend> ClipEncoder<B> {
    /// Runs every layer; `stop_at` keeps only the first N layers' output (clip-skip).
    pub fn forward(
        &self,
        mut x: Tensor<B, 3>,
        causal: bool,
        stop_at: Option<usize>,
    ) -> Tensor<B, 3> {
        let n = stop_at.unwrap_or(self.layers.len()).min(self.layers.len());
        for layer in &self.layers[..n] {
            x = layer.forward(x, causal);
        }
        x
    }
}
