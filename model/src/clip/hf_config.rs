//! transformers' CLIP `config.json` as serde structs: a `CLIPTextConfig` or `CLIPVisionConfig`
//! at the root, or a `CLIPConfig` with `text_config` / `vision_config` (transformers
//! `models/clip/configuration_clip.py`). Fields the file leaves out are `None`; the towers'
//! `from_hf_json` fill them with transformers' defaults.

use serde::Deserialize;

/// The fields of one tower this port reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HfClipTower {
    pub vocab_size: Option<usize>,
    pub hidden_size: Option<usize>,
    pub intermediate_size: Option<usize>,
    pub num_hidden_layers: Option<usize>,
    pub num_attention_heads: Option<usize>,
    pub max_position_embeddings: Option<usize>,
    pub hidden_act: Option<String>,
    pub layer_norm_eps: Option<f64>,
    pub eos_token_id: Option<usize>,
    pub projection_dim: Option<usize>,
    pub num_channels: Option<usize>,
    pub image_size: Option<usize>,
    pub patch_size: Option<usize>,
}

/// A CLIP `config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct HfClipFile {
    /// `CLIPModel`, `CLIPTextModelWithProjection`, `CLIPVisionModel`, … (transformers writes
    /// `null` for a bare tower).
    pub architectures: Option<Vec<String>>,
    /// `CLIPConfig`'s shared projection size (a tower's own wins).
    pub projection_dim: Option<usize>,
    pub text_config: Option<HfClipTower>,
    pub vision_config: Option<HfClipTower>,
    /// The root's own fields: the tower of a single-tower config.
    #[serde(flatten)]
    pub root: HfClipTower,
}

impl HfClipFile {
    /// Reads `path`.
    pub fn read(path: &std::path::Path) -> crate::Result<Self> {
        crate::loader::read_config(path)
    }

    /// Whether `architectures` names `name` exactly, or (`contains`) a class with it in its name.
    pub fn has_architecture(&self, name: &str, contains: bool) -> bool {
        self.architectures.iter().flatten().any(|a| {
            if contains {
                a.contains(name)
            } else {
                a == name
            }
        })
    }
}
