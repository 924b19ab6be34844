//! The project's in-domain CLIP: a small CLIP (ViT image tower + text tower with the real BPE
//! tokenizer) trained contrastively by this project on ChronoMagic-Synth (`crate::train::clip`),
//! stored in the transformers `CLIPModel` layout (`config.json` + `model.safetensors`) and
//! embedded in the binary so CLIPSIM, the metamorphic score and the synth probe run out of the box.
//!
//! It is named for what it is wherever it is shown ([`NAME`]): it knows ChronoMagic-Synth's
//! scenes, colours and the words of its captions, nothing else. `--clip <folder>` still takes a
//! real (upstream) CLIP through the same loader.
//!
//! **Video embedding.** A per-frame CLIP cannot tell a sunrise from a sunset (the same frames in
//! the opposite order). Videos are embedded as a ramp-weighted mean of the normalised frame
//! embeddings, `v = Σ_f (1 + γ·τ_f)/F · ê_f` with `τ_f` from −1 (first frame) to 1 (last), then
//! normalised; γ is the config's `magictime.video_temporal_weight` (0 for upstream CLIPs: a plain
//! mean, as CLIPSIM-style scores use). The trainer optimises exactly this embedding.

use std::path::Path;

use crate::clip::{ClipTextConfig, ClipVisionConfig};
use crate::error::{ModelError, Result};

/// How the in-domain CLIP is named in reports, pages and logs.
pub const NAME: &str = "in-domain CLIP trained on ChronoMagic-Synth";

/// The `--clip` setting that selects the embedded in-domain CLIP.
pub const SETTING: &str = "in-domain";

/// Ramp weight γ of the video embedding of the in-domain CLIP (stage 13 was trained with it;
/// stages 1–12 with 0.75), and `train_clip`'s default.
pub const TEMPORAL_WEIGHT: f64 = 1.5;

/// Image side (pixels) of the in-domain CLIP's vision tower.
pub const IMAGE_SIZE: usize = 32;

/// Shared embedding width of both towers.
pub const PROJECTION_DIM: usize = 64;

/// ViT: 32² images in 4² patches (64 tokens + class), width 64, 4 layers, 4 heads.
pub fn vision_config() -> ClipVisionConfig {
    ClipVisionConfig::new()
        .with_hidden_size(64)
        .with_intermediate_size(256)
        .with_num_hidden_layers(4)
        .with_num_attention_heads(4)
        .with_image_size(IMAGE_SIZE)
        .with_patch_size(4)
        .with_projection_dim(Some(PROJECTION_DIM))
}

/// Text tower: the full 49,408-token BPE vocabulary, 77 positions, width 64, 3 layers, 4 heads.
pub fn text_config() -> ClipTextConfig {
    ClipTextConfig::new()
        .with_vocab_size(49408)
        .with_hidden_size(64)
        .with_intermediate_size(256)
        .with_num_hidden_layers(3)
        .with_num_attention_heads(4)
        .with_eos_token_id(49407)
        .with_projection_dim(Some(PROJECTION_DIM))
}

/// transformers' `config.json` of a `CLIPModel` with these towers; `magictime` holds what
/// transformers ignores (name, video embedding weight, training facts).
pub fn config_json(
    text: &ClipTextConfig,
    vision: &ClipVisionConfig,
    temporal_weight: f64,
    extra: serde_json::Value,
) -> serde_json::Value {
    let proj = vision.projection_dim.unwrap_or(PROJECTION_DIM);
    let mut magictime = serde_json::json!({
        "name": NAME,
        "video_temporal_weight": temporal_weight,
    });
    if let (Some(m), serde_json::Value::Object(e)) = (magictime.as_object_mut(), extra) {
        m.extend(e);
    }
    serde_json::json!({
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": proj,
        "logit_scale_init_value": 2.6592,
        "text_config": {
            "model_type": "clip_text_model",
            "vocab_size": text.vocab_size,
            "hidden_size": text.hidden_size,
            "intermediate_size": text.intermediate_size,
            "num_hidden_layers": text.num_hidden_layers,
            "num_attention_heads": text.num_attention_heads,
            "max_position_embeddings": text.max_position_embeddings,
            "hidden_act": "quick_gelu",
            "layer_norm_eps": text.layer_norm_eps,
            "bos_token_id": 49406,
            "eos_token_id": text.eos_token_id,
            "pad_token_id": 1,
            "projection_dim": proj,
        },
        "vision_config": {
            "model_type": "clip_vision_model",
            "hidden_size": vision.hidden_size,
            "intermediate_size": vision.intermediate_size,
            "num_hidden_layers": vision.num_hidden_layers,
            "num_attention_heads": vision.num_attention_heads,
            "num_channels": vision.num_channels,
            "image_size": vision.image_size,
            "patch_size": vision.patch_size,
            "hidden_act": "quick_gelu",
            "layer_norm_eps": vision.layer_norm_eps,
            "projection_dim": proj,
        },
        "magictime": magictime,
    })
}

/// Texts describing time-lapse / metamorphic videos: the metamorphic score's retrieval texts
/// (`magictime_metrics::clipsim`), and what the in-domain CLIP learns such videos are called.
pub const METAMORPHIC_TEXTS: [&str; 5] = [
    "a time-lapse video of something transforming over time",
    "a metamorphic time-lapse of a flower blooming or a plant growing",
    "a time-lapse of ice melting or a candle burning down",
    "a time-lapse of a building being constructed",
    "a time-lapse of the sky changing from day to night",
];
/// Texts describing ordinary, real-time videos (the other half of the retrieval texts).
pub const GENERAL_TEXTS: [&str; 5] = [
    "an ordinary video filmed in real time",
    "a video of an object moving across the scene",
    "a video of a ball rolling or bouncing",
    "a video with the camera panning over a landscape",
    "a video of a car driving down a road",
];

/// Frame weights of the video embedding: `(1 + γ·τ_f)/F`, `τ_f` evenly from −1 to 1
/// (a single frame gets weight 1).
pub fn temporal_weights(frames: usize, gamma: f64) -> Vec<f64> {
    match frames {
        0 => Vec::new(),
        1 => vec![1.0],
        n => (0..n)
            .map(|f| (1.0 + gamma * (2.0 * f as f64 / (n - 1) as f64 - 1.0)) / n as f64)
            .collect(),
    }
}

/// `(name, video_temporal_weight)` from a CLIP folder's `config.json`: the `magictime` block of
/// a project-trained CLIP, else (`None`, 0) for an upstream CLIP.
pub fn folder_facts(dir: &Path) -> (Option<String>, f64) {
    /// The `magictime` block the trainer writes into the folder's `config.json`.
    #[derive(serde::Deserialize, Default)]
    struct Facts {
        name: Option<String>,
        video_temporal_weight: Option<f64>,
    }
    #[derive(serde::Deserialize)]
    struct Config {
        magictime: Option<Facts>,
    }
    let m = crate::loader::read_config::<Config>(&dir.join("config.json"))
        .ok()
        .and_then(|c| c.magictime)
        .unwrap_or_default();
    (m.name, m.video_temporal_weight.unwrap_or(0.0))
}

/// The files of the embedded in-domain CLIP: (path in the folder, bytes); `.gz` = stored
/// gzip-compressed, written without the suffix.
#[cfg(feature = "default-model")]
pub const FILES: &[(&str, &[u8])] = &[
    (
        "config.json",
        include_bytes!("../../assets/clip/config.json"),
    ),
    (
        "model.safetensors.gz",
        include_bytes!("../../assets/clip/model.safetensors.gz"),
    ),
];

/// Built without the `default-model` feature: nothing embedded.
#[cfg(not(feature = "default-model"))]
pub const FILES: &[(&str, &[u8])] = &[];

/// Whether this build embeds the in-domain CLIP.
pub fn is_available() -> bool {
    !FILES.is_empty()
}

/// Writes the embedded in-domain CLIP into `dir` as a transformers CLIP folder.
pub fn write_dir(dir: &Path) -> Result<()> {
    if !is_available() {
        return Err(ModelError::MissingFile {
            path: "model/assets/clip".into(),
            hint: "this build has no in-domain CLIP: enable the `default-model` cargo feature \
                   (weights in model/assets/clip/, see tools/train_clip.sh) or pass --clip DIR"
                .into(),
        });
    }
    crate::default_model::write_files(FILES, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_weights_sum_to_one_and_rise() {
        let w = temporal_weights(8, 0.75);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((w[0] - 0.25 / 8.0).abs() < 1e-12 && (w[7] - 1.75 / 8.0).abs() < 1e-12);
        assert!(w.windows(2).all(|p| p[1] > p[0]));
        assert_eq!(temporal_weights(5, 0.0), vec![0.2; 5]);
        assert_eq!(temporal_weights(1, 0.75), vec![1.0]);
    }
}
