//! `magictime model inspect PATH`: what a checkpoint (file or folder) holds and which loader of
//! this crate maps it. Reads only headers (safetensors) or pickle metadata (PyTorch), never the
//! tensor data, so multi-GB files inspect in milliseconds.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use burn_store::pytorch::PytorchReader;
use burn_store::{ModuleStore, SafetensorsStore};

use crate::error::{ModelError, Result};

/// One tensor of a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
}

/// What a checkpoint is, judged from its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointKind {
    /// Original-LDM single file (UNet + VAE + text encoder), e.g. a DreamBooth model.
    LdmSingleFile,
    /// AnimateDiff motion module (`…motion_modules.N.temporal_transformer…`).
    MotionModule,
    /// diffusers LoRA-processor file (MagicTime `magic_adapter_s.ckpt`).
    LoraProcessor,
    /// PEFT / SWIFT LoRA adapter (`lora_A` / `lora_B`).
    PeftAdapter,
    /// diffusers `AutoencoderKL`.
    DiffusersVae,
    /// diffusers UNet (2-D or with motion modules).
    DiffusersUnet,
    /// transformers `CLIPModel` (both towers).
    ClipModel,
    /// transformers CLIP text tower.
    ClipText,
    /// transformers CLIP vision tower.
    ClipVision,
    Unknown,
}

impl CheckpointKind {
    /// The loader function of this crate that takes this kind of file.
    pub fn loader(self) -> &'static str {
        match self {
            Self::LdmSingleFile => "loader::single_file::{load_vae_single_file, load_clip_text_single_file} (+ UNet loader)",
            Self::MotionModule => "motion::loader (AnimateDiff motion modules)",
            Self::LoraProcessor => "unet::magic_adapter_s (merged W += α·up·down)",
            Self::PeftAdapter => "loader::clip::load_text_encoder_adapter (text encoder) or the UNet adapter loader",
            Self::DiffusersVae => "loader::vae::load_vae / load_vae_file",
            Self::DiffusersUnet => "unet::checkpoint::load_unet (key table: loader::unet)",
            Self::ClipModel => "loader::clip::{load_clip_text_file, load_clip_vision_file}",
            Self::ClipText => "loader::clip::load_clip_text / load_clip_text_file",
            Self::ClipVision => "loader::clip::load_clip_vision / load_clip_vision_file",
            Self::Unknown => "none",
        }
    }

    /// Classifies a key set.
    pub fn detect<'a>(keys: impl IntoIterator<Item = &'a str> + Clone) -> Self {
        let any = |pred: &dyn Fn(&str) -> bool| keys.clone().into_iter().any(pred);
        if any(&|k| k.starts_with("model.diffusion_model."))
            && any(&|k| k.starts_with("first_stage_model."))
        {
            Self::LdmSingleFile
        } else if any(&|k| k.contains("motion_modules.")) && !any(&|k| k.contains("conv_in.")) {
            Self::MotionModule
        } else if any(&|k| k.contains("_lora.down.") || k.contains("_lora.up.")) {
            Self::LoraProcessor
        } else if any(&|k| k.contains(".lora_A") || k.contains(".lora_B")) {
            Self::PeftAdapter
        } else if any(&|k| k.starts_with("encoder.down_blocks."))
            && any(&|k| k.starts_with("decoder.up_blocks."))
        {
            Self::DiffusersVae
        } else if any(&|k| k.starts_with("down_blocks."))
            && any(&|k| k.starts_with("time_embedding."))
        {
            Self::DiffusersUnet
        } else if any(&|k| k.starts_with("text_model.")) && any(&|k| k.starts_with("vision_model."))
        {
            Self::ClipModel
        } else if any(&|k| {
            k.starts_with("text_model.") || k.starts_with("embeddings.token_embedding.")
        }) {
            Self::ClipText
        } else if any(&|k| {
            k.starts_with("vision_model.") || k.starts_with("embeddings.patch_embedding.")
        }) {
            Self::ClipVision
        } else {
            Self::Unknown
        }
    }
}

/// One weights file.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: PathBuf,
    pub format: &'static str,
    pub kind: CheckpointKind,
    pub tensors: Vec<TensorInfo>,
}

impl FileReport {
    /// Total number of scalars.
    pub fn parameters(&self) -> usize {
        self.tensors
            .iter()
            .map(|t| t.shape.iter().product::<usize>())
            .sum()
    }

    /// (key prefix of `depth` components, tensors, scalars), sorted by prefix.
    pub fn groups(&self, depth: usize) -> Vec<(String, usize, usize)> {
        let mut g: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for t in &self.tensors {
            let prefix: Vec<&str> = t.name.split('.').take(depth).collect();
            let e = g.entry(prefix.join(".")).or_default();
            e.0 += 1;
            e.1 += t.shape.iter().product::<usize>();
        }
        g.into_iter().map(|(k, (n, p))| (k, n, p)).collect()
    }

    /// Tensor count per dtype.
    pub fn dtypes(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for t in &self.tensors {
            *m.entry(t.dtype.clone()).or_default() += 1;
        }
        m
    }
}

impl fmt::Display for FileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} ({})", self.path.display(), self.format)?;
        writeln!(f, "  kind: {:?} -> {}", self.kind, self.kind.loader())?;
        writeln!(
            f,
            "  {} tensors, {} parameters, dtypes {:?}",
            self.tensors.len(),
            self.parameters(),
            self.dtypes()
        )?;
        for (prefix, n, p) in self.groups(2) {
            writeln!(f, "  {prefix:<48} {n:>6} tensors {p:>12} params")?;
        }
        Ok(())
    }
}

/// Names, dtypes and shapes of a safetensors file, from burn-store's snapshots (the data is
/// never read).
fn safetensors_header(path: &Path) -> Result<Vec<TensorInfo>> {
    let mut store = SafetensorsStore::from_file(path);
    let snapshots = store
        .get_all_snapshots()
        .map_err(|e| ModelError::parse(path, e))?;
    // a BTreeMap: already sorted by name
    Ok(snapshots
        .iter()
        .map(|(k, s)| TensorInfo {
            name: k.clone(),
            dtype: format!("{:?}", s.dtype),
            shape: s.shape.to_vec(),
        })
        .collect())
}

/// Inspects one weights file (`.safetensors`, `.bin`, `.pt`, `.pth`, `.ckpt`).
pub fn inspect_file(path: &Path) -> Result<FileReport> {
    if !path.is_file() {
        return Err(ModelError::missing_file(path));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (format, tensors) = match ext.as_str() {
        "safetensors" => ("safetensors", safetensors_header(path)?),
        "bin" | "pt" | "pth" | "ckpt" => {
            let reader = PytorchReader::new(path).map_err(|e| ModelError::parse(path, e))?;
            let mut t: Vec<TensorInfo> = reader
                .tensors()
                .iter()
                .map(|(k, s)| TensorInfo {
                    name: k.clone(),
                    dtype: format!("{:?}", s.dtype),
                    shape: s.shape.to_vec(),
                })
                .collect();
            t.sort_by(|a, b| a.name.cmp(&b.name));
            ("pytorch pickle", t)
        }
        other => {
            return Err(ModelError::checkpoint(
                path,
                format!("unknown weights extension {other:?}"),
            ))
        }
    };
    let kind = CheckpointKind::detect(tensors.iter().map(|t| t.name.as_str()));
    Ok(FileReport {
        path: path.into(),
        format,
        kind,
        tensors,
    })
}

/// Inspects a file, or every weights file in a folder and its direct subfolders (a diffusers
/// pipeline root: `text_encoder/`, `unet/`, `vae/`, or an adapter folder).
pub fn inspect(path: &Path) -> Result<Vec<FileReport>> {
    if path.is_file() {
        return Ok(vec![inspect_file(path)?]);
    }
    if !path.is_dir() {
        return Err(ModelError::missing_file(path));
    }
    let is_weights = |p: &Path| {
        p.is_file()
            && matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("safetensors" | "bin" | "pt" | "pth" | "ckpt")
            )
    };
    let mut files = Vec::new();
    let read = |dir: &Path| -> Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| ModelError::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        v.sort();
        Ok(v)
    };
    for entry in read(path)? {
        if is_weights(&entry) {
            files.push(entry);
        } else if entry.is_dir() {
            files.extend(read(&entry)?.into_iter().filter(|p| is_weights(p)));
        }
    }
    if files.is_empty() {
        return Err(ModelError::MissingFile {
            path: path.into(),
            hint: "no .safetensors/.bin/.pt/.ckpt file in it or its subfolders".into(),
        });
    }
    files.iter().map(|f| inspect_file(f)).collect()
}
