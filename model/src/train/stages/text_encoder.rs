//! Stage a's text encoder when it is not trained: the text tower of a pretrained CLIP, frozen.

use burn::tensor::backend::AutodiffBackend;

use crate::error::{ModelError, Result};

/// The text tower of a pretrained CLIP (`in-domain`: the embedded one; else a transformers
/// CLIP folder or a diffusers folder with `text_encoder/`) as a diffusion text encoder: its
/// config and weights, without the projection head (the UNet cross-attends to the hidden states).
pub fn pretrained_text_encoder<B: AutodiffBackend>(
    from: &str,
    dev: &B::Device,
) -> Result<(
    crate::clip::ClipTextConfig,
    crate::clip::text::ClipTextModel<B>,
)> {
    let tmp;
    let dir = if from == crate::clip::in_domain::SETTING {
        tmp = tempfile::tempdir().map_err(|e| ModelError::io(std::env::temp_dir(), e))?;
        crate::clip::in_domain::write_dir(tmp.path())?;
        tmp.path().to_path_buf()
    } else {
        std::path::PathBuf::from(from)
    };
    let mut te = crate::loader::clip::load_clip_text::<B>(&dir, dev)?;
    let cfg_path = crate::loader::clip::component_dir(&dir, "text_encoder").join("config.json");
    let mut cfg = crate::clip::ClipTextConfig::from_hf_json(&cfg_path)?;
    cfg.projection_dim = None;
    te.text_projection = None;
    tracing::info!(
        from,
        hidden = cfg.hidden_size,
        layers = cfg.num_hidden_layers,
        "text encoder: pretrained CLIP text tower, frozen"
    );
    Ok((cfg, te))
}
