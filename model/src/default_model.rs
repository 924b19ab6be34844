//! The project's small default model: the real MagicTime architecture (CLIP text encoder with
//! the real BPE tokenizer, UNet3D + AnimateDiff motion modules, AutoencoderKL, DDIM) at a tiny
//! size, trained by this project on ChronoMagic-Synth (`crate::train`, `tools/train_default.sh`),
//! embedded in the binary so `magictime generate` runs offline on a CPU without `--model`.
//!
//! The weights live in `model/assets/default/` in the upstream folder layout (diffusers `unet/`,
//! `vae/`, transformers `text_encoder/`, `motion_module.safetensors`, MagicTime's
//! `magic_adapter_s/`, `magic_adapter_t/`, `magic_text_encoder/`) and are embedded with
//! `include_bytes!` behind the default-on `default-model` feature. [`load_default`] writes them to
//! a temporary folder and loads them through [`MagicTimePipeline::from_dir`], the same code path
//! as upstream checkpoints.

use std::path::Path;

use burn::tensor::backend::Backend;

use crate::clip::text::ClipTextConfig;
use crate::clip::tokenizer::ClipTokenizer;
use crate::error::{ModelError, Result};
use crate::motion::MotionModuleConfig;
use crate::pipeline::{GenerateOptions, GenerationDefaults, MagicTimePipeline};
use crate::scheduler::DdimSchedulerConfig;
use crate::unet::UNet3DConfig;
use crate::vae::AutoencoderKlConfig;

/// Guidance scale the trainer writes into the default model's `generation_config.json`.
pub const GUIDANCE: f64 = 4.0;
/// DDIM steps the trainer writes into the default model's `generation_config.json`.
pub const STEPS: usize = 25;

/// Size presets of the default model: frame side and frames per clip, with the networks for
/// that size (the text encoder and UNet are the same; the 64-pixel VAE has one more level, so
/// the UNet sees 8×8 latents at both sizes, as SD's ×8 VAE).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// 32×32, 8 frames (the embedded model so far).
    #[default]
    S32,
    /// 64×64, 16 frames.
    S64,
}

impl Preset {
    /// Frame side in pixels.
    pub fn size(self) -> usize {
        match self {
            Self::S32 => 32,
            Self::S64 => 64,
        }
    }

    /// Frames per clip.
    pub fn frames(self) -> usize {
        match self {
            Self::S32 => 8,
            Self::S64 => 16,
        }
    }

    /// The text encoder.
    pub fn text(self) -> ClipTextConfig {
        text_config()
    }

    /// The UNet.
    pub fn unet(self) -> UNet3DConfig {
        unet_config()
    }

    /// The `generation_config.json` the trainer writes for this preset.
    pub fn generation_defaults(self) -> GenerationDefaults {
        GenerationDefaults {
            height: self.size(),
            width: self.size(),
            num_frames: self.frames(),
            num_inference_steps: STEPS,
            guidance_scale: GUIDANCE,
        }
    }

    /// The VAE: downscale 4 at 32 px, 8 at 64 px.
    pub fn vae(self) -> AutoencoderKlConfig {
        match self {
            Self::S32 => vae_config(),
            Self::S64 => vae_config().with_block_out_channels(vec![32, 64, 64, 64]),
        }
    }
}

/// CLIP text tower: width 64, 2 layers, 4 heads, the full 49,408-token BPE vocabulary, 77 positions.
pub fn text_config() -> ClipTextConfig {
    ClipTextConfig::new()
        .with_vocab_size(49408)
        .with_hidden_size(64)
        .with_intermediate_size(128)
        .with_num_hidden_layers(2)
        .with_num_attention_heads(4)
        .with_eos_token_id(49407)
}

/// UNet3D: channels (32, 64), cross-attention at both levels (context 64), 2 heads, one resnet
/// per block, AnimateDiff v3 motion modules (2 heads, 32 positions, per-frame GroupNorm).
pub fn unet_config() -> UNet3DConfig {
    UNet3DConfig::new(vec![32, 64], vec![true, true])
        .with_layers_per_block(1)
        .with_norm_num_groups(8)
        .with_cross_attention_dim(64)
        .with_attention_heads(2)
        .with_motion(Some(
            MotionModuleConfig::new(0)
                .with_heads(2)
                .with_norm_num_groups(8),
        ))
}

/// AutoencoderKL: channels (32, 64, 64), downscale 4 (32×32 RGB → 4×8×8), 8 groups.
pub fn vae_config() -> AutoencoderKlConfig {
    AutoencoderKlConfig::new()
        .with_block_out_channels(vec![32, 64, 64])
        .with_layers_per_block(1)
        .with_norm_num_groups(8)
}

/// transformers' `text_encoder/config.json` for `c`.
pub fn text_config_json(c: &ClipTextConfig) -> serde_json::Value {
    serde_json::json!({
        "architectures": ["CLIPTextModel"],
        "model_type": "clip_text_model",
        "vocab_size": c.vocab_size,
        "hidden_size": c.hidden_size,
        "intermediate_size": c.intermediate_size,
        "num_hidden_layers": c.num_hidden_layers,
        "num_attention_heads": c.num_attention_heads,
        "max_position_embeddings": c.max_position_embeddings,
        "hidden_act": "quick_gelu",
        "layer_norm_eps": c.layer_norm_eps,
        "bos_token_id": 49406,
        "eos_token_id": c.eos_token_id,
    })
}

/// diffusers' `unet/config.json` (`UNetMotionModel`) for `c`.
pub fn unet_config_json(c: &UNet3DConfig) -> serde_json::Value {
    let down: Vec<&str> = c
        .cross_attn
        .iter()
        .map(|&a| {
            if a {
                "CrossAttnDownBlockMotion"
            } else {
                "DownBlockMotion"
            }
        })
        .collect();
    let up: Vec<&str> = c
        .cross_attn
        .iter()
        .rev()
        .map(|&a| {
            if a {
                "CrossAttnUpBlockMotion"
            } else {
                "UpBlockMotion"
            }
        })
        .collect();
    let motion = c.motion.as_ref();
    serde_json::json!({
        "_class_name": "UNetMotionModel",
        "in_channels": c.in_channels,
        "out_channels": c.out_channels,
        "down_block_types": down,
        "up_block_types": up,
        "block_out_channels": c.block_out_channels,
        "layers_per_block": c.layers_per_block,
        "norm_num_groups": c.norm_num_groups,
        "norm_eps": c.norm_eps,
        "cross_attention_dim": c.cross_attention_dim,
        "num_attention_heads": c.attention_heads,
        "motion_num_attention_heads": motion.map_or(8, |m| m.heads),
        "motion_max_seq_length": motion.map_or(32, |m| m.max_len),
        "use_motion_mid_block": false,
    })
}

/// diffusers' `vae/config.json` (`AutoencoderKL`) for `c`.
pub fn vae_config_json(c: &AutoencoderKlConfig, sample_size: usize) -> serde_json::Value {
    let n = c.block_out_channels.len();
    serde_json::json!({
        "_class_name": "AutoencoderKL",
        "in_channels": c.in_channels,
        "out_channels": c.out_channels,
        "down_block_types": vec!["DownEncoderBlock2D"; n],
        "up_block_types": vec!["UpDecoderBlock2D"; n],
        "block_out_channels": c.block_out_channels,
        "layers_per_block": c.layers_per_block,
        "latent_channels": c.latent_channels,
        "norm_num_groups": c.norm_num_groups,
        "scaling_factor": c.scaling_factor,
        "sample_size": sample_size,
    })
}

/// The files of the default model: (path in the folder, bytes). A `.gz` suffix means the file is
/// stored gzip-compressed and is written without it.
#[cfg(feature = "default-model")]
pub const FILES: &[(&str, &[u8])] = &[
    (
        "unet/config.json",
        include_bytes!("../assets/default/unet/config.json"),
    ),
    (
        "unet/diffusion_pytorch_model.safetensors",
        include_bytes!("../assets/default/unet/diffusion_pytorch_model.safetensors"),
    ),
    (
        "motion_module.safetensors",
        include_bytes!("../assets/default/motion_module.safetensors"),
    ),
    (
        "vae/config.json",
        include_bytes!("../assets/default/vae/config.json"),
    ),
    (
        "vae/diffusion_pytorch_model.safetensors",
        include_bytes!("../assets/default/vae/diffusion_pytorch_model.safetensors"),
    ),
    (
        "text_encoder/config.json",
        include_bytes!("../assets/default/text_encoder/config.json"),
    ),
    (
        "text_encoder/model.safetensors.gz",
        include_bytes!("../assets/default/text_encoder/model.safetensors.gz"),
    ),
    (
        "generation_config.json",
        include_bytes!("../assets/default/generation_config.json"),
    ),
    // The Magic Adapters of the recipe's stages c and d, in MagicTime's layouts.
    (
        "magic_adapter_s/magic_adapter_s.safetensors",
        include_bytes!("../assets/default/magic_adapter_s/magic_adapter_s.safetensors"),
    ),
    (
        "magic_adapter_t/configuration.json",
        include_bytes!("../assets/default/magic_adapter_t/configuration.json"),
    ),
    (
        "magic_adapter_t/default/adapter_config.json",
        include_bytes!("../assets/default/magic_adapter_t/default/adapter_config.json"),
    ),
    (
        "magic_adapter_t/default/adapter_model.safetensors",
        include_bytes!("../assets/default/magic_adapter_t/default/adapter_model.safetensors"),
    ),
    (
        "magic_text_encoder/configuration.json",
        include_bytes!("../assets/default/magic_text_encoder/configuration.json"),
    ),
    (
        "magic_text_encoder/default/adapter_config.json",
        include_bytes!("../assets/default/magic_text_encoder/default/adapter_config.json"),
    ),
    (
        "magic_text_encoder/default/adapter_model.safetensors",
        include_bytes!("../assets/default/magic_text_encoder/default/adapter_model.safetensors"),
    ),
];

/// Built without the `default-model` feature: no embedded files.
#[cfg(not(feature = "default-model"))]
pub const FILES: &[(&str, &[u8])] = &[];

/// Whether this build embeds the default model.
pub fn is_available() -> bool {
    !FILES.is_empty()
}

/// Writes the embedded default model into `dir` as a loadable weights folder.
pub fn write_default_dir(dir: &Path) -> Result<()> {
    if !is_available() {
        return Err(ModelError::MissingFile {
            path: "model/assets/default".into(),
            hint: "this build has no default model: enable the `default-model` cargo feature \
                   (with the weights in model/assets/default/, see tools/train_default.sh) \
                   or pass --model DIR"
                .into(),
        });
    }
    write_files(FILES, dir)
}

/// Writes embedded `(name, bytes)` files into `dir` (a `.gz` name is gunzipped and written
/// without the suffix), each through a temporary file renamed into place.
pub fn write_files(files: &[(&str, &[u8])], dir: &Path) -> Result<()> {
    for (name, bytes) in files {
        write_unpacked(dir, name, bytes)?;
    }
    Ok(())
}

/// Writes `bytes` as `dir/name`, gunzipped (and without the suffix) when `name` ends in `.gz`.
fn write_unpacked(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    use std::io::Read;
    let (name, data) = match name.strip_suffix(".gz") {
        Some(stem) => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .map_err(|e| ModelError::parse(name, e))?;
            (stem, out)
        }
        None => (name, bytes.to_vec()),
    };
    crate::train::save::write_file(&dir.join(name), &data)
}

/// Copies the weights folder `src` (as the trainer writes it, gzipped text encoder included)
/// into `dst` as a folder [`MagicTimePipeline::from_dir`] loads: `.gz` files unpacked,
/// `checkpoints/` left out.
pub fn unpack_dir(src: &Path, dst: &Path) -> Result<()> {
    fn walk(root: &Path, dir: &Path, dst: &Path) -> Result<()> {
        for e in std::fs::read_dir(dir).map_err(|e| ModelError::io(dir, e))? {
            let p = e.map_err(|e| ModelError::io(dir, e))?.path();
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            if p.is_dir() {
                if rel != "checkpoints" {
                    walk(root, &p, dst)?;
                }
            } else {
                let bytes = std::fs::read(&p).map_err(|e| ModelError::io(&p, e))?;
                write_unpacked(dst, &rel, &bytes)?;
            }
        }
        Ok(())
    }
    walk(src, src, dst)
}

/// Loads the embedded default model through the regular folder loader, with its Magic Adapters
/// S, T and Text-Encoder applied (MagicTime's order), as the official release is used.
pub fn load_default<B: Backend>(device: &B::Device) -> Result<MagicTimePipeline<B>> {
    load_default_with(None, device)
}

/// [`load_default`] with only `adapters` applied (`None`: all three; `Some(&[])`: none, the
/// ablation's base).
pub fn load_default_with<B: Backend>(
    adapters: Option<&[crate::pipeline::Adapter]>,
    device: &B::Device,
) -> Result<MagicTimePipeline<B>> {
    let tmp = tempfile::tempdir().map_err(|e| ModelError::io(std::env::temp_dir(), e))?;
    write_default_dir(tmp.path())?;
    MagicTimePipeline::from_dir(tmp.path(), adapters, device)
}

/// The generation settings of the embedded model (its `generation_config.json`); the 32-pixel
/// preset's when this build embeds no model.
pub fn defaults() -> GenerationDefaults {
    FILES
        .iter()
        .find(|(n, _)| *n == GenerationDefaults::FILE)
        .and_then(|(n, b)| GenerationDefaults::parse(Path::new(n), b).ok())
        .unwrap_or_else(|| Preset::S32.generation_defaults())
}

/// Generation options the default model was trained for (its own size, frames, steps, CFG).
pub fn default_options(prompt: impl Into<String>) -> GenerateOptions {
    defaults().options(prompt)
}

/// Replaces every parameter with seeded values (matrices N(0, 1/fan_in), biases 0, norm scales
/// kept), independent of the backend's global RNG (which concurrent callers would share).
struct Reseed {
    seed: u64,
    count: u64,
    stack: Vec<String>,
}

impl<B: Backend> burn::module::ModuleMapper<B> for Reseed {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<burn::tensor::Tensor<B, D>>,
    ) -> burn::module::Param<burn::tensor::Tensor<B, D>> {
        let (id, t, mapper) = param.consume();
        let dims: [usize; D] = t.dims();
        self.count += 1;
        let t = if D >= 2 {
            let fan_in = dims[1..].iter().product::<usize>().max(1) as f64;
            crate::pipeline::seeded_noise::<B, D>(self.seed ^ (self.count << 32), dims, &t.device())
                / fan_in.sqrt()
        } else if self
            .stack
            .last()
            .is_some_and(|n| n == "bias" || n == "beta")
        {
            t.zeros_like()
        } else {
            t
        };
        burn::module::Param::from_mapped_value(id, t, mapper)
    }
}

fn reseed<B: Backend, M: burn::module::Module<B>>(m: M, seed: u64) -> M {
    m.map(&mut Reseed {
        seed,
        count: 0,
        stack: vec![],
    })
}

/// A tiny random pipeline (seeded), for end-to-end checks without weights: what `magictime
/// generate` and the generation jobs run when the binary has no built-in default model.
pub fn tiny_random_pipeline<B: Backend>(
    seed: u64,
    device: &B::Device,
) -> Result<MagicTimePipeline<B>> {
    let tokenizer = ClipTokenizer::new()?;
    let text = ClipTextConfig::tiny()
        .with_vocab_size(tokenizer.vocab_size())
        .with_eos_token_id(tokenizer.eos_token_id as usize);
    let vae = AutoencoderKlConfig::tiny();
    Ok(MagicTimePipeline {
        text_encoder: reseed(text.init(device), seed),
        unet: reseed(UNet3DConfig::tiny().init(device), seed.wrapping_add(1)),
        vae_downscale: vae.downscale(),
        vae: reseed(vae.init(device), seed.wrapping_add(2)),
        tokenizer,
        scheduler: DdimSchedulerConfig::magictime(),
        defaults: GenerationDefaults::magictime(),
        device: device.clone(),
    })
}
