//! MagicTime's sample configs (`sample_configs/RealisticVision.yaml`, `ToonYou.yaml`,
//! `RcnzCartoon.yaml`), read as `inference_magictime.py` reads them: a YAML list whose first
//! item names the weights (`pretrained_model_path`, `motion_module`, `dreambooth_path`,
//! `magic_adapter_{s,t}_path`, `magic_text_encoder_path`) and the samples (`H`, `W`, `L`,
//! `seed`, `steps`, `guidance_scale`, `prompt`, `n_prompt`), and whose second item holds
//! `unet_additional_kwargs` (the motion modules) and `noise_scheduler_kwargs` (DDIM).
//!
//! Paths in the configs are relative to the directory the upstream script runs in
//! (`./ckpts/…`); with `ckpts` given, a path starting with `ckpts/` resolves under that folder
//! instead, so the official `ckpts/` tree can live anywhere. An empty path means "not used",
//! as upstream. Settings this engine cannot run are refused with the key that says so.

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::error::{ModelError, Result};
use crate::loader::magictime::{ModelPaths, MotionOverrides};
use crate::pipeline::GenerationDefaults;
use crate::scheduler::{BetaSchedule, DdimSchedulerConfig};

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            Self::One(x) => vec![x],
            Self::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ModelItem {
    pretrained_model_path: String,
    #[serde(default)]
    motion_module: String,
    #[serde(default)]
    dreambooth_path: String,
    #[serde(default)]
    magic_adapter_s_path: String,
    #[serde(default)]
    magic_adapter_t_path: String,
    #[serde(default)]
    magic_text_encoder_path: String,
    #[serde(rename = "H")]
    h: usize,
    #[serde(rename = "W")]
    w: usize,
    #[serde(rename = "L")]
    l: usize,
    seed: Option<OneOrMany<i64>>,
    steps: usize,
    guidance_scale: f64,
    prompt: OneOrMany<String>,
    n_prompt: Option<OneOrMany<String>>,
}

#[derive(Debug, Deserialize, Default)]
struct MotionKwargs {
    num_attention_heads: Option<usize>,
    num_transformer_block: Option<usize>,
    attention_block_types: Option<Vec<String>>,
    temporal_position_encoding: Option<bool>,
    temporal_position_encoding_max_len: Option<usize>,
    temporal_attention_dim_div: Option<usize>,
}

#[derive(Debug, Deserialize, Default)]
struct UnetKwargs {
    use_inflated_groupnorm: Option<bool>,
    use_motion_module: Option<bool>,
    motion_module_resolutions: Option<Vec<usize>>,
    motion_module_mid_block: Option<bool>,
    motion_module_type: Option<String>,
    #[serde(default)]
    motion_module_kwargs: MotionKwargs,
}

#[derive(Debug, Deserialize, Default)]
struct SchedulerKwargs {
    num_train_timesteps: Option<usize>,
    beta_start: Option<f64>,
    beta_end: Option<f64>,
    beta_schedule: Option<String>,
    steps_offset: Option<usize>,
    clip_sample: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
struct InferenceItem {
    #[serde(default)]
    unet_additional_kwargs: UnetKwargs,
    #[serde(default)]
    noise_scheduler_kwargs: SchedulerKwargs,
}

/// One video the config asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub prompt: String,
    pub negative: String,
    /// The seed (upstream `-1`, "random", becomes a fresh random seed here).
    pub seed: u64,
}

/// A sample config resolved to files and settings.
#[derive(Debug, Clone)]
pub struct SampleConfig {
    /// The weights, resolved.
    pub paths: ModelPaths,
    /// The motion modules' shape.
    pub motion: MotionOverrides,
    /// The DDIM schedule.
    pub scheduler: DdimSchedulerConfig,
    /// Size, frames, steps and guidance.
    pub defaults: GenerationDefaults,
    /// The videos to generate, one per prompt.
    pub samples: Vec<Sample>,
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> ModelError {
    ModelError::parse(path, msg)
}

/// Resolves a config path: `ckpts/…` under `ckpts` when given, else relative to `cwd`.
fn resolve(p: &str, ckpts: Option<&Path>, cwd: &Path) -> PathBuf {
    let rel = Path::new(p);
    let mut parts = rel
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .peekable();
    if let (Some(dir), Some(Component::Normal(first))) = (ckpts, parts.peek()) {
        if *first == "ckpts" {
            parts.next();
            return parts.fold(dir.to_path_buf(), |acc, c| acc.join(c));
        }
    }
    if rel.is_absolute() {
        rel.to_path_buf()
    } else {
        cwd.join(rel)
    }
}

impl SampleConfig {
    /// Reads `path`; `ckpts` stands for the config's `./ckpts/` folder.
    pub fn read(path: &Path, ckpts: Option<&Path>) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::from_read(path, e))?;
        let cwd = std::env::current_dir().map_err(|e| ModelError::io(".", e))?;
        Self::parse(path, &text, ckpts, &cwd)
    }

    /// Parses config text; relative paths resolve against `cwd` (or `ckpts`, see [`resolve`]).
    pub fn parse(path: &Path, text: &str, ckpts: Option<&Path>, cwd: &Path) -> Result<Self> {
        let items: Vec<serde_yaml::Value> = serde_yaml::from_str(text).map_err(|e| {
            bad(
                path,
                format!(
                    "{e}; expected MagicTime's sample-config schema (a YAML list of two items)"
                ),
            )
        })?;
        let model: ModelItem = items
            .first()
            .cloned()
            .ok_or_else(|| bad(path, "an empty list; expected the model item first"))
            .and_then(|v| {
                serde_yaml::from_value(v).map_err(|e| bad(path, format!("item 1: {e}")))
            })?;
        let inference: InferenceItem = match items.get(1) {
            Some(v) => {
                serde_yaml::from_value(v.clone()).map_err(|e| bad(path, format!("item 2: {e}")))?
            }
            None => InferenceItem::default(),
        };
        // 1. files
        let file = |p: &str| (!p.is_empty()).then(|| resolve(p, ckpts, cwd));
        let paths = ModelPaths {
            base: file(&model.pretrained_model_path)
                .ok_or_else(|| bad(path, "`pretrained_model_path` is empty"))?,
            motion_module: file(&model.motion_module),
            dreambooth: file(&model.dreambooth_path),
            adapter_s: file(&model.magic_adapter_s_path),
            adapter_t: file(&model.magic_adapter_t_path),
            text_encoder_adapter: file(&model.magic_text_encoder_path),
        };
        for (key, p) in [
            ("pretrained_model_path", Some(&paths.base)),
            ("motion_module", paths.motion_module.as_ref()),
            ("dreambooth_path", paths.dreambooth.as_ref()),
            ("magic_adapter_s_path", paths.adapter_s.as_ref()),
            ("magic_adapter_t_path", paths.adapter_t.as_ref()),
            (
                "magic_text_encoder_path",
                paths.text_encoder_adapter.as_ref(),
            ),
        ] {
            if let Some(p) = p.filter(|p| !p.exists()) {
                return Err(ModelError::MissingFile {
                    path: p.clone(),
                    hint: format!(
                        "`{key}` of {}{}",
                        path.display(),
                        if ckpts.is_none() {
                            "; pass --ckpts <dir> for the folder its ./ckpts/ paths mean"
                        } else {
                            ""
                        }
                    ),
                });
            }
        }
        // 2. motion modules
        let u = &inference.unet_additional_kwargs;
        let k = &u.motion_module_kwargs;
        let refuse = |key: &str, want: &str| {
            Err(bad(
                path,
                format!("`{key}`: only {want} is supported (AnimateDiff v3, as MagicTime)"),
            ))
        };
        if u.use_motion_module == Some(false) {
            return refuse("use_motion_module", "true");
        }
        if u.use_inflated_groupnorm == Some(false) {
            return refuse("use_inflated_groupnorm", "true (GroupNorm per frame)");
        }
        if u.motion_module_mid_block == Some(true) {
            return refuse("motion_module_mid_block", "false");
        }
        if u.motion_module_type
            .as_deref()
            .is_some_and(|t| t != "Vanilla")
        {
            return refuse("motion_module_type", "Vanilla");
        }
        if u.motion_module_resolutions
            .as_ref()
            .is_some_and(|r| r.as_slice() != [1, 2, 4, 8])
        {
            return refuse("motion_module_resolutions", "[1, 2, 4, 8]");
        }
        if k.num_transformer_block.is_some_and(|n| n != 1) {
            return refuse("num_transformer_block", "1");
        }
        if k.attention_block_types.as_ref().is_some_and(|t| {
            t.iter()
                .map(String::as_str)
                .ne(["Temporal_Self", "Temporal_Self"])
        }) {
            return refuse("attention_block_types", "[Temporal_Self, Temporal_Self]");
        }
        if k.temporal_position_encoding == Some(false) {
            return refuse("temporal_position_encoding", "true");
        }
        if k.temporal_attention_dim_div.is_some_and(|d| d != 1) {
            return refuse("temporal_attention_dim_div", "1");
        }
        let motion = MotionOverrides {
            heads: k.num_attention_heads,
            max_len: k.temporal_position_encoding_max_len,
        };
        // 3. scheduler
        let s = &inference.noise_scheduler_kwargs;
        if s.clip_sample == Some(true) {
            return refuse("clip_sample", "false");
        }
        let mut scheduler = DdimSchedulerConfig::magictime();
        if let Some(x) = s.num_train_timesteps {
            scheduler.num_train_timesteps = x;
        }
        if let Some(x) = s.beta_start {
            scheduler.beta_start = x;
        }
        if let Some(x) = s.beta_end {
            scheduler.beta_end = x;
        }
        if let Some(x) = s.steps_offset {
            scheduler.steps_offset = x;
        }
        scheduler.beta_schedule = match s.beta_schedule.as_deref() {
            None | Some("linear") => BetaSchedule::Linear,
            Some("scaled_linear") => BetaSchedule::ScaledLinear,
            Some(other) => {
                return Err(bad(
                    path,
                    format!("`beta_schedule` {other:?}: expected linear or scaled_linear"),
                ))
            }
        };
        // 4. samples: seeds and negative prompts per prompt, one given = the same for all
        let prompts = model.prompt.into_vec();
        let negatives = model
            .n_prompt
            .map(OneOrMany::into_vec)
            .unwrap_or_else(|| vec![String::new()]);
        let seeds = model
            .seed
            .map(OneOrMany::into_vec)
            .unwrap_or_else(|| vec![-1]);
        let pick = |v: usize, n: usize, key: &str| -> Result<()> {
            if v == 1 || v == n {
                Ok(())
            } else {
                Err(bad(
                    path,
                    format!("{v} {key} for {n} prompts: expected 1 or {n}"),
                ))
            }
        };
        pick(negatives.len(), prompts.len(), "n_prompt")?;
        pick(seeds.len(), prompts.len(), "seeds")?;
        if prompts.is_empty() {
            return Err(bad(path, "`prompt` is empty"));
        }
        let samples = prompts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let seed = seeds[i.min(seeds.len() - 1)];
                Sample {
                    prompt: p.clone(),
                    negative: negatives[i.min(negatives.len() - 1)].clone(),
                    seed: u64::try_from(seed).unwrap_or_else(|_| rand::random()),
                }
            })
            .collect();
        Ok(Self {
            paths,
            motion,
            scheduler,
            defaults: GenerationDefaults {
                height: model.h,
                width: model.w,
                num_frames: model.l,
                num_inference_steps: model.steps,
                guidance_scale: model.guidance_scale,
            },
            samples,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
- pretrained_model_path: "./ckpts/Base_Model/stable-diffusion-v1-5"
  motion_module: "./ckpts/Base_Model/motion_module/motion_module.ckpt"
  dreambooth_path: ""
  magic_adapter_t_path: "./ckpts/Magic_Weights/magic_adapter_t"
  H: 256
  W: 384
  L: 16
  seed: [5, -1]
  steps: 25
  guidance_scale: 8.5
  prompt:
    - "a bud opens"
    - "ice melts"
  n_prompt:
    - "blurry"
- unet_additional_kwargs:
    motion_module_kwargs:
      num_attention_heads: 8
      temporal_position_encoding_max_len: 32
  noise_scheduler_kwargs:
    beta_schedule: linear
    steps_offset: 1
    clip_sample: false
"#;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for p in [
            "ckpts/Base_Model/stable-diffusion-v1-5",
            "ckpts/Base_Model/motion_module",
            "ckpts/Magic_Weights/magic_adapter_t",
        ] {
            std::fs::create_dir_all(d.path().join(p)).unwrap();
        }
        std::fs::write(
            d.path()
                .join("ckpts/Base_Model/motion_module/motion_module.ckpt"),
            b"",
        )
        .unwrap();
        d
    }

    #[test]
    fn reads_the_schema_and_resolves_ckpts_paths() {
        let d = tree();
        let y = Path::new("x.yaml");
        // relative to the working directory, as upstream
        let c = SampleConfig::parse(y, CONFIG, None, d.path()).unwrap();
        assert_eq!(
            c.paths.base,
            d.path().join("./ckpts/Base_Model/stable-diffusion-v1-5")
        );
        assert_eq!(
            (c.paths.dreambooth.as_ref(), c.paths.adapter_s.as_ref()),
            (None, None)
        );
        // --ckpts: the tree anywhere
        let elsewhere = Path::new("/nowhere");
        let c2 = SampleConfig::parse(y, CONFIG, Some(&d.path().join("ckpts")), elsewhere).unwrap();
        assert_eq!(
            c2.paths.base,
            d.path().join("ckpts/Base_Model/stable-diffusion-v1-5")
        );
        assert_eq!(
            c2.paths.adapter_t,
            Some(d.path().join("ckpts/Magic_Weights/magic_adapter_t"))
        );
        assert_eq!(
            (c.defaults.height, c.defaults.width, c.defaults.num_frames),
            (256, 384, 16)
        );
        assert_eq!(
            c.motion,
            MotionOverrides {
                heads: Some(8),
                max_len: Some(32)
            }
        );
        assert_eq!(c.samples.len(), 2);
        assert_eq!(
            (c.samples[0].seed, c.samples[1].negative.as_str()),
            (5, "blurry")
        );
        // a missing file names the key and the config
        let e = SampleConfig::parse(y, CONFIG, None, elsewhere)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("pretrained_model_path") && e.contains("--ckpts"),
            "{e}"
        );
    }

    #[test]
    fn refuses_what_it_cannot_run_naming_the_key() {
        let d = tree();
        let y = Path::new("x.yaml");
        for (from, to, key) in [
            ("clip_sample: false", "clip_sample: true", "clip_sample"),
            (
                "beta_schedule: linear",
                "beta_schedule: cosine",
                "beta_schedule",
            ),
            (
                "      num_attention_heads: 8",
                "      num_attention_heads: 8\n      num_transformer_block: 2",
                "num_transformer_block",
            ),
            ("seed: [5, -1]", "seed: [5, 6, 7]", "seeds"),
        ] {
            let text = CONFIG.replace(from, to);
            let e = SampleConfig::parse(y, &text, None, d.path())
                .unwrap_err()
                .to_string();
            assert!(e.contains(key) && e.contains("x.yaml"), "{key}: {e}");
        }
        let e = SampleConfig::parse(y, "H: 3", None, d.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.yaml") && e.contains("schema"), "{e}");
    }
}
