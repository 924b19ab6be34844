//! CLIP (OpenAI ViT-L/14 for SD1.5): text tower, vision tower, projections, BPE tokenizer and
//! image preprocessing. Ports of transformers' `models/clip/` (modeling, tokenization,
//! image processing) and OpenAI CLIP's `simple_tokenizer.py`.

pub mod clipsim;
pub mod encoder;
pub mod hf_config;
pub mod in_domain;
pub mod preprocess;
pub mod text;
pub mod tokenizer;
pub mod vision;

pub use clipsim::ClipEmbedder;
pub use encoder::{ClipActivation, ClipEncoderConfig};
pub use preprocess::{ClipImageProcessor, CLIP_MEAN, CLIP_STD};
pub use text::{ClipTextConfig, ClipTextModel, ClipTextOutput};
pub use tokenizer::{ClipTokenizer, Truncation};
pub use vision::{ClipVisionConfig, ClipVisionModel};

use burn::tensor::{backend::Backend, Tensor};

/// Cosine similarity of every image embedding with every text embedding, [N_img, N_txt]
/// (CLIPSIM uses the diagonal, usually ×100 and clamped at 0).
pub fn cosine_similarity<B: Backend>(
    image_embeds: Tensor<B, 2>,
    text_embeds: Tensor<B, 2>,
) -> Tensor<B, 2> {
    let norm = |x: Tensor<B, 2>| {
        let n = x
            .clone()
            .powf_scalar(2.0)
            .sum_dim(1)
            .sqrt()
            .clamp_min(1e-12);
        x / n
    };
    norm(image_embeds).matmul(norm(text_embeds).transpose())
}
