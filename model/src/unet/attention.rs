//! Spatial attention of the SD1.5 UNet: `Attention` (diffusers `attention_processor.Attention` with
//! the default processor), the GEGLU `FeedForward`, `BasicTransformerBlock` (self-attention,
//! cross-attention to the text, feed-forward, each pre-LayerNorm with a residual) and
//! `Transformer2DModel` (GroupNorm → 1×1 conv proj_in → blocks → 1×1 conv proj_out → residual).
//! Ports diffusers `models/attention.py`, `models/attention_processor.py` and
//! `models/transformers/transformer_2d.py`; field names are the checkpoint keys
//! (`to_out` ↔ `to_out.0`, `net_0`/`net_2` ↔ `net.0`/`net.2`, see `loader.rs`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::linear::linear_rows;
use super::norm::{GroupNorm, GroupNormConfig, LayerNorm, LayerNormConfig};
use crate::kernels::{self, attention::AttnShape, layout::swap_last2};

/// Config of an [`Attention`] layer.
#[derive(Config, Debug)]
pub struct AttentionConfig {
    /// Width of the queries (and of the output).
    pub query_dim: usize,
    /// Width of the keys/values source; `None` = self-attention.
    pub cross_attention_dim: Option<usize>,
    /// Number of heads.
    pub heads: usize,
    /// Width of each head.
    pub dim_head: usize,
}

/// Multi-head attention with bias-free q/k/v projections and a biased output projection.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// Query projection (`to_q`).
    pub to_q: Linear<B>,
    /// Key projection (`to_k`).
    pub to_k: Linear<B>,
    /// Value projection (`to_v`).
    pub to_v: Linear<B>,
    /// Output projection (`to_out.0`).
    pub to_out: Linear<B>,
    /// Number of heads.
    pub heads: usize,
}

impl AttentionConfig {
    /// Builds the layer.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Attention<B> {
        let inner = self.heads * self.dim_head;
        let kv = self.cross_attention_dim.unwrap_or(self.query_dim);
        Attention {
            to_q: LinearConfig::new(self.query_dim, inner)
                .with_bias(false)
                .init(device),
            to_k: LinearConfig::new(kv, inner).with_bias(false).init(device),
            to_v: LinearConfig::new(kv, inner).with_bias(false).init(device),
            to_out: LinearConfig::new(inner, self.query_dim).init(device),
            heads: self.heads,
        }
    }
}

/// Most score elements (`rows × keys`) one chunk of [`scaled_dot_product`] materialises (64 MB).
pub const MAX_SCORE_ELEMENTS: usize = 1 << 24;

static ATTN_PROFILE: AtomicBool = AtomicBool::new(false);
static ATTN_NANOS: AtomicU64 = AtomicU64::new(0);

/// Switches timing of every [`Attention::forward`] on or off (benchmarks; off by default) and
/// returns the nanoseconds accumulated since the last call.
pub fn attention_profile(enable: bool) -> u64 {
    ATTN_PROFILE.store(enable, Ordering::Relaxed);
    ATTN_NANOS.swap(0, Ordering::Relaxed)
}

fn softmax_av<B: Backend>(q: Tensor<B, 3>, kt: Tensor<B, 3>, v: Tensor<B, 3>) -> Tensor<B, 3> {
    softmax(q.matmul(kt), 2).matmul(v)
}

/// Scaled dot-product attention on `[b, l, heads·dh]` projections; returns `[b, lq, heads·dh]`.
///
/// The `[b·h, lq, lk]` score matrix is built in chunks of at most [`MAX_SCORE_ELEMENTS`]
/// (over batch·heads, then over query rows), so 64×64-latent frames (4096 tokens) do not
/// materialise gigabytes; softmax is per query row, so chunking changes nothing numerically.
///
/// On burn-flex (`f32`) this is the fused kernel [`crate::kernels::attention`] instead.
pub fn scaled_dot_product<B: Backend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    heads: usize,
) -> Tensor<B, 3> {
    if kernels::is_flex_f32(&q) {
        let [b, lq, inner] = q.dims();
        let lk = k.dims()[1];
        let shape = AttnShape {
            batch: b,
            lq,
            lk,
            heads,
            dh: inner / heads,
        };
        let (q, k, v) = (
            kernels::flex_f32(q),
            kernels::flex_f32(k),
            kernels::flex_f32(v),
        );
        let scale = (shape.dh as f32).powf(-0.5);
        let out = kernels::attention::attention(
            kernels::values(&q),
            kernels::values(&k),
            kernels::values(&v),
            shape,
            scale,
        );
        return kernels::flex_tensor(out, [b, lq, inner]);
    }
    scaled_dot_product_chunked(q, k, v, heads, MAX_SCORE_ELEMENTS)
}

/// [`scaled_dot_product`] with an explicit chunk budget (score elements per chunk).
pub fn scaled_dot_product_chunked<B: Backend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    heads: usize,
    max_scores: usize,
) -> Tensor<B, 3> {
    let max = max_scores.max(1);
    let [b, lq, inner] = q.dims();
    let lk = k.dims()[1];
    let dh = inner / heads;
    let bh = b * heads;
    let scale = (dh as f64).powf(-0.5);
    // [b·h, l, dh] (keys transposed: [b·h, dh, lk])
    let q = q
        .reshape([b, lq, heads, dh])
        .swap_dims(1, 2)
        .reshape([bh, lq, dh])
        * scale;
    let kt = k
        .reshape([b, lk, heads, dh])
        .permute([0, 2, 3, 1])
        .reshape([bh, dh, lk]);
    let v = v
        .reshape([b, lk, heads, dh])
        .swap_dims(1, 2)
        .reshape([bh, lk, dh]);
    let out = if bh * lq * lk <= max {
        softmax_av(q, kt, v)
    } else if lq * lk <= max {
        let g = (max / (lq * lk)).max(1);
        let parts = (0..bh)
            .step_by(g)
            .map(|s| {
                let n = g.min(bh - s);
                softmax_av(
                    q.clone().narrow(0, s, n),
                    kt.clone().narrow(0, s, n),
                    v.clone().narrow(0, s, n),
                )
            })
            .collect();
        Tensor::cat(parts, 0)
    } else {
        let rows = (max / lk).max(1);
        let parts = (0..bh)
            .map(|i| {
                let (kt, v) = (kt.clone().narrow(0, i, 1), v.clone().narrow(0, i, 1));
                let qi = q.clone().narrow(0, i, 1);
                let rows_out = (0..lq)
                    .step_by(rows)
                    .map(|s| {
                        softmax_av(
                            qi.clone().narrow(1, s, rows.min(lq - s)),
                            kt.clone(),
                            v.clone(),
                        )
                    })
                    .collect();
                Tensor::cat(rows_out, 1)
            })
            .collect();
        Tensor::cat(parts, 0)
    };
    out.reshape([b, heads, lq, dh])
        .swap_dims(1, 2)
        .reshape([b, lq, inner])
}

impl<B: Backend> Attention<B> {
    /// `x` `[b, lq, query_dim]`, `context` `[b, lk, cross_dim]` (self-attention when `None`).
    pub fn forward(&self, x: Tensor<B, 3>, context: Option<Tensor<B, 3>>) -> Tensor<B, 3> {
        let start = ATTN_PROFILE
            .load(Ordering::Relaxed)
            .then(std::time::Instant::now);
        let ctx = context.unwrap_or_else(|| x.clone());
        let q = linear_rows(&self.to_q, x);
        let k = linear_rows(&self.to_k, ctx.clone());
        let v = linear_rows(&self.to_v, ctx);
        let out = linear_rows(&self.to_out, scaled_dot_product(q, k, v, self.heads));
        if let Some(start) = start {
            // flex runs eagerly; reading one value makes the timing cover the work on any backend
            let _ = out.clone().slice([0..1, 0..1, 0..1]).into_data();
            ATTN_NANOS.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        out
    }
}

/// Config of a GEGLU [`FeedForward`].
#[derive(Config, Debug)]
pub struct FeedForwardConfig {
    /// Input and output width.
    pub dim: usize,
    /// Hidden width = `dim * mult`.
    #[config(default = 4)]
    pub mult: usize,
}

/// GEGLU projection: one linear to twice the hidden width, `hidden * gelu(gate)`.
#[derive(Module, Debug)]
pub struct Geglu<B: Backend> {
    /// `net.0.proj`.
    pub proj: Linear<B>,
}

/// `net.0` = GEGLU, `net.1` = dropout (identity at inference), `net.2` = output linear.
#[derive(Module, Debug)]
pub struct FeedForward<B: Backend> {
    /// `net.0`.
    pub net_0: Geglu<B>,
    /// `net.2`.
    pub net_2: Linear<B>,
}

impl FeedForwardConfig {
    /// Builds the feed-forward.
    pub fn init<B: Backend>(&self, device: &B::Device) -> FeedForward<B> {
        let inner = self.dim * self.mult;
        FeedForward {
            net_0: Geglu {
                proj: LinearConfig::new(self.dim, inner * 2).init(device),
            },
            net_2: LinearConfig::new(inner, self.dim).init(device),
        }
    }
}

impl<B: Backend> FeedForward<B> {
    /// `[b, l, dim]` → `[b, l, dim]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let h = linear_rows(&self.net_0.proj, x);
        if kernels::is_flex_f32(&h) {
            let [b, l, two_inner] = h.dims();
            let h = kernels::flex_f32(h);
            let gated = kernels::geglu::geglu(kernels::values(&h), two_inner / 2);
            return linear_rows(
                &self.net_2,
                kernels::flex_tensor(gated, [b, l, two_inner / 2]),
            );
        }
        let mut parts = h.chunk(2, 2);
        let gate = parts.pop().expect("two halves");
        let hidden = parts.pop().expect("two halves");
        linear_rows(&self.net_2, hidden * gelu(gate))
    }
}

/// Config of a spatial [`BasicTransformerBlock`].
#[derive(Config, Debug)]
pub struct BasicTransformerBlockConfig {
    /// Width.
    pub dim: usize,
    /// Heads.
    pub heads: usize,
    /// Width of the text context.
    pub cross_attention_dim: usize,
}

/// Self-attention, cross-attention, GEGLU feed-forward; each pre-LayerNorm with a residual.
#[derive(Module, Debug)]
pub struct BasicTransformerBlock<B: Backend> {
    /// LayerNorm before self-attention.
    pub norm1: LayerNorm<B>,
    /// Self-attention.
    pub attn1: Attention<B>,
    /// LayerNorm before cross-attention.
    pub norm2: LayerNorm<B>,
    /// Cross-attention to the text.
    pub attn2: Attention<B>,
    /// LayerNorm before the feed-forward.
    pub norm3: LayerNorm<B>,
    /// Feed-forward.
    pub ff: FeedForward<B>,
}

impl BasicTransformerBlockConfig {
    /// Builds the block.
    pub fn init<B: Backend>(&self, device: &B::Device) -> BasicTransformerBlock<B> {
        let dh = self.dim / self.heads;
        BasicTransformerBlock {
            norm1: LayerNormConfig::new(self.dim).init(device),
            attn1: AttentionConfig::new(self.dim, self.heads, dh).init(device),
            norm2: LayerNormConfig::new(self.dim).init(device),
            attn2: AttentionConfig::new(self.dim, self.heads, dh)
                .with_cross_attention_dim(Some(self.cross_attention_dim))
                .init(device),
            norm3: LayerNormConfig::new(self.dim).init(device),
            ff: FeedForwardConfig::new(self.dim).init(device),
        }
    }
}

impl<B: Backend> BasicTransformerBlock<B> {
    /// `x` `[b, l, dim]`, `context` `[b, lk, cross_dim]`.
    pub fn forward(&self, x: Tensor<B, 3>, context: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = self.attn1.forward(self.norm1.forward(x.clone()), None) + x;
        let x = self
            .attn2
            .forward(self.norm2.forward(x.clone()), Some(context))
            + x;
        self.ff.forward(self.norm3.forward(x.clone())) + x
    }
}

/// Config of a [`Transformer2DModel`] (SD1.5: conv 1×1 projections, one block).
#[derive(Config, Debug)]
pub struct Transformer2DModelConfig {
    /// Channels in and out.
    pub in_channels: usize,
    /// Heads (head width = channels / heads).
    pub heads: usize,
    /// Width of the text context.
    pub cross_attention_dim: usize,
    /// GroupNorm groups.
    #[config(default = 32)]
    pub norm_num_groups: usize,
    /// Number of transformer blocks.
    #[config(default = 1)]
    pub num_layers: usize,
}

/// Spatial transformer applied to every frame of `[b·f, c, h, w]`.
#[derive(Module, Debug)]
pub struct Transformer2DModel<B: Backend> {
    /// GroupNorm (eps 1e-6).
    pub norm: GroupNorm<B>,
    /// 1×1 conv into the transformer width.
    pub proj_in: Conv2d<B>,
    /// The blocks.
    pub transformer_blocks: Vec<BasicTransformerBlock<B>>,
    /// 1×1 conv back to the channels.
    pub proj_out: Conv2d<B>,
}

impl Transformer2DModelConfig {
    /// Builds the transformer.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Transformer2DModel<B> {
        let c = self.in_channels;
        Transformer2DModel {
            norm: GroupNormConfig::new(self.norm_num_groups, c)
                .with_eps(1e-6)
                .init(device),
            proj_in: Conv2dConfig::new([c, c], [1, 1]).init(device),
            transformer_blocks: (0..self.num_layers)
                .map(|_| {
                    BasicTransformerBlockConfig::new(c, self.heads, self.cross_attention_dim)
                        .init(device)
                })
                .collect(),
            proj_out: Conv2dConfig::new([c, c], [1, 1]).init(device),
        }
    }
}

impl<B: Backend> Transformer2DModel<B> {
    /// `x` `[n, c, h, w]`, `context` `[n, lk, cross_dim]` (one context row per frame).
    pub fn forward(&self, x: Tensor<B, 4>, context: Tensor<B, 3>) -> Tensor<B, 4> {
        let [n, c, h, w] = x.dims();
        let residual = x.clone();
        // 1. norm + proj_in, then tokens [n, h·w, c]
        let t = self.proj_in.forward(self.norm.forward(x));
        let mut t = swap_last2(t.reshape([n, c, h * w]));
        // 2. blocks
        for block in &self.transformer_blocks {
            t = block.forward(t, context.clone());
        }
        // 3. back to [n, c, h, w], proj_out, residual
        let t = swap_last2(t).reshape([n, c, h, w]);
        self.proj_out.forward(t) + residual
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use burn::tensor::Distribution;

    #[test]
    fn flex_kernel_equals_generic_attention() {
        let dev = Default::default();
        let r = |l| Tensor::<Cpu, 3>::random([3, l, 16], Distribution::Normal(0.0, 1.0), &dev);
        let (q, k, v) = (r(70), r(77), r(77));
        let fused = scaled_dot_product(q.clone(), k.clone(), v.clone(), 2);
        let generic = scaled_dot_product_chunked(q, k, v, 2, usize::MAX);
        let d: f32 = (fused - generic).abs().max().into_scalar();
        assert!(d < 1e-5, "{d}");
    }

    #[test]
    fn flex_geglu_equals_generic() {
        let dev = Default::default();
        let ff = FeedForwardConfig::new(8).init::<Cpu>(&dev);
        let x = Tensor::<Cpu, 3>::random([2, 5, 8], Distribution::Normal(0.0, 2.0), &dev);
        let h = ff.net_0.proj.forward(x.clone());
        let mut parts = h.chunk(2, 2);
        let gate = parts.pop().unwrap();
        let generic = ff.net_2.forward(parts.pop().unwrap() * gelu(gate));
        let d: f32 = (ff.forward(x) - generic).abs().max().into_scalar();
        assert!(d < 1e-5, "{d}");
    }

    #[test]
    fn chunked_attention_equals_one_pass() {
        let dev = Default::default();
        let r = |l| Tensor::<Cpu, 3>::random([2, l, 8], Distribution::Normal(0.0, 1.0), &dev);
        let (q, k, v) = (r(12), r(5), r(5));
        let full = scaled_dot_product_chunked(q.clone(), k.clone(), v.clone(), 2, usize::MAX);
        for budget in [1, 7, 60, 130] {
            let c = scaled_dot_product_chunked(q.clone(), k.clone(), v.clone(), 2, budget);
            let d: f32 = (c - full.clone()).abs().max().into_scalar();
            assert!(d < 1e-6, "budget {budget}: {d}");
        }
    }
}
