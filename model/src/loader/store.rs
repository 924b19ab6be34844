//! Checkpoint → module loading through burn-store, with typed errors.
//!
//! Every loader of the crate goes through [`load_into`]: it opens a safetensors file
//! (`SafetensorsStore`) or a PyTorch pickle (`PytorchStore`, `.bin` / `.pt` / `.ckpt`), applies
//! `PyTorchToBurnAdapter` (Linear weights transposed, norm weight/bias → gamma/beta), casts
//! f16/bf16/f64 tensors to f32, renames keys with a [`Renames`] table, and turns burn-store's
//! `ApplyResult` into [`ModelError`]s that name the file, the checkpoint key and both shapes
//! (in the checkpoint's own layout).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use burn::tensor::{backend::Backend, DType};
use burn_store::{
    ApplyError, ApplyResult, KeyRemapper, ModuleAdapter, ModuleSnapshot, ModuleStore,
    PyTorchToBurnAdapter, PytorchStore, SafetensorsStore, TensorSnapshot,
};

use crate::error::{ModelError, Result};

/// One rename between a checkpoint key and a module path, as two regex rewrites:
/// `to_module` (checkpoint → module, used for loading) and `to_checkpoint` (module → checkpoint,
/// used only to print the checkpoint's key in errors).
/// A `module_pattern` of `^$` means "no inverse" (the module path is printed as is).
#[derive(Debug, Clone)]
pub struct Rename {
    pub checkpoint_pattern: Cow<'static, str>,
    pub module_replacement: Cow<'static, str>,
    pub module_pattern: Cow<'static, str>,
    pub checkpoint_replacement: Cow<'static, str>,
}

impl Rename {
    /// A rename written as four literals (const tables).
    pub const fn new(
        checkpoint_pattern: &'static str,
        module_replacement: &'static str,
        module_pattern: &'static str,
        checkpoint_replacement: &'static str,
    ) -> Self {
        Self {
            checkpoint_pattern: Cow::Borrowed(checkpoint_pattern),
            module_replacement: Cow::Borrowed(module_replacement),
            module_pattern: Cow::Borrowed(module_pattern),
            checkpoint_replacement: Cow::Borrowed(checkpoint_replacement),
        }
    }

    /// A one-way rename (checkpoint → module) built at run time.
    pub fn one_way(
        checkpoint_pattern: impl Into<String>,
        module_replacement: impl Into<String>,
    ) -> Self {
        Self {
            checkpoint_pattern: Cow::Owned(checkpoint_pattern.into()),
            module_replacement: Cow::Owned(module_replacement.into()),
            module_pattern: Cow::Borrowed("^$"),
            checkpoint_replacement: Cow::Borrowed(""),
        }
    }
}

/// A table of renames, applied in order, each to the result of the previous one.
pub type Renames<'a> = &'a [Rename];

/// What a successful load did.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// The file loaded.
    pub path: PathBuf,
    /// Number of tensors written into the module.
    pub applied: usize,
    /// Checkpoint keys (after renaming) that no module parameter takes.
    pub unused: Vec<String>,
}

/// Which parameters may stay at their initial values.
#[derive(Debug, Clone, Copy, Default)]
pub enum Missing {
    /// Every module parameter must be in the checkpoint.
    #[default]
    Deny,
    /// Parameters whose module path starts with one of these prefixes may be absent.
    AllowPrefixes(&'static [&'static str]),
    /// Only parameters whose module path contains this substring are required (adapter files:
    /// `".lora."` — the base weights come from another file).
    OnlyContaining(&'static str),
}

/// LDM checkpoints store attention projections as 1×1 convs [out, in, 1, 1] (or [out, in, 1]);
/// where the module holds a Linear, drop the unit dims (then PyTorchToBurnAdapter transposes).
#[derive(Debug, Clone, Default)]
struct SqueezeConv1x1ToLinear;

impl ModuleAdapter for SqueezeConv1x1ToLinear {
    fn adapt(&self, snapshot: &TensorSnapshot) -> TensorSnapshot {
        let shape = snapshot.shape.to_vec();
        let unit_tail = shape.len() > 2 && shape[2..].iter().all(|&d| d == 1);
        let is_linear_weight = snapshot.module_type().as_deref() == Some("Struct:Linear")
            && snapshot
                .path_stack
                .as_ref()
                .and_then(|p| p.last())
                .is_some_and(|p| p == "weight");
        if !(unit_tail && is_linear_weight) {
            return snapshot.clone();
        }
        let (o, i) = (shape[0], shape[1]);
        let data_fn = snapshot.clone_data_fn();
        TensorSnapshot::from_closure(
            Rc::new(move || {
                let data = data_fn()?;
                Ok(burn::tensor::TensorData {
                    shape: vec![o, i].into(),
                    ..data
                })
            }),
            snapshot.dtype,
            vec![o, i].into(),
            snapshot.path_stack.clone().unwrap_or_default(),
            snapshot.container_stack.clone().unwrap_or_default(),
            snapshot.tensor_id.unwrap_or_default(),
        )
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

/// Casts every float tensor to f32 (SD checkpoints are often f16).
#[derive(Debug, Clone, Default)]
struct CastToF32;

impl ModuleAdapter for CastToF32 {
    fn adapt(&self, snapshot: &TensorSnapshot) -> TensorSnapshot {
        if !matches!(snapshot.dtype, DType::F16 | DType::BF16 | DType::F64) {
            return snapshot.clone();
        }
        let data_fn = snapshot.clone_data_fn();
        TensorSnapshot::from_closure(
            Rc::new(move || Ok(data_fn()?.convert_dtype(DType::F32))),
            DType::F32,
            snapshot.shape.clone(),
            snapshot.path_stack.clone().unwrap_or_default(),
            snapshot.container_stack.clone().unwrap_or_default(),
            snapshot.tensor_id.unwrap_or_default(),
        )
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

fn remapper(renames: Renames, to_module: bool) -> KeyRemapper {
    let pairs: Vec<(&str, &str)> = renames
        .iter()
        .map(|r| {
            if to_module {
                (r.checkpoint_pattern.as_ref(), r.module_replacement.as_ref())
            } else {
                (r.module_pattern.as_ref(), r.checkpoint_replacement.as_ref())
            }
        })
        .collect();
    KeyRemapper::from_patterns(pairs).expect("rename tables are valid regexes (tested)")
}

/// Module path → the checkpoint key it is loaded from (for messages).
pub fn checkpoint_key(renames: Renames, module_path: &str) -> String {
    let mut key = module_path.to_string();
    for r in renames {
        let re = regex::Regex::new(&r.module_pattern).expect("valid rename regex");
        key = re
            .replace_all(&key, r.checkpoint_replacement.as_ref())
            .into_owned();
    }
    if let Some(stem) = key.strip_suffix(".gamma") {
        key = format!("{stem}.weight");
    } else if let Some(stem) = key.strip_suffix(".beta") {
        key = format!("{stem}.bias");
    }
    key
}

/// Module path → (shape in the checkpoint's layout, container type).
struct ModuleShapes(Vec<(String, Vec<usize>, String)>);

impl ModuleShapes {
    fn of<B: Backend, M: ModuleSnapshot<B>>(module: &M) -> Self {
        Self(
            module
                .collect(None, None, false)
                .into_iter()
                .map(|s| {
                    let container = s.container_type();
                    let mut shape = s.shape.to_vec();
                    if container.ends_with("Linear") && shape.len() == 2 {
                        shape.reverse();
                    }
                    (s.full_path(), shape, container)
                })
                .collect(),
        )
    }

    fn get(&self, path: &str) -> (Vec<usize>, bool) {
        self.0
            .iter()
            .find(|(p, _, _)| p == path)
            .map(|(_, s, c)| (s.clone(), c.ends_with("Linear")))
            .unwrap_or_default()
    }
}

/// Loads `path` into `module`. Errors name the file, the checkpoint key and both shapes.
/// Unused checkpoint keys are reported, not rejected (upstream files carry buffers such as
/// `position_ids`); pass `strict_unused` to reject them.
pub fn load_into<B: Backend, M: ModuleSnapshot<B>>(
    module: &mut M,
    path: &Path,
    renames: Renames,
    missing: Missing,
    strict_unused: bool,
) -> Result<LoadReport> {
    if !path.is_file() {
        return Err(ModelError::missing_file(path));
    }
    let shapes = ModuleShapes::of(module);
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let snapshots: Vec<TensorSnapshot> = match ext.as_str() {
        "safetensors" => SafetensorsStore::from_file(path)
            .remap(remapper(renames, true))
            .get_all_snapshots()
            .map_err(|e| ModelError::parse(path, e))?
            .values()
            .cloned()
            .collect(),
        "bin" | "pt" | "pth" | "ckpt" => PytorchStore::from_file(path)
            .remap(remapper(renames, true))
            .map_indices_contiguous(false)
            .get_all_snapshots()
            .map_err(|e| ModelError::parse(path, e))?
            .values()
            .cloned()
            .collect(),
        other => {
            return Err(ModelError::checkpoint(
                path,
                format!(
                    "unknown checkpoint extension {other:?} (expected safetensors, bin, pt, pth or ckpt)"
                ),
            ))
        }
    };
    // Same adapters for both formats: 1×1 conv → Linear, PyTorch → Burn layout, f16/bf16 → f32.
    let adapter = SqueezeConv1x1ToLinear
        .chain(PyTorchToBurnAdapter)
        .chain(CastToF32);
    let result: ApplyResult = module.apply(snapshots, None, Some(Box::new(adapter)), true);
    check_result(path, renames, &shapes, result, missing, strict_unused)
}

fn check_result(
    path: &Path,
    renames: Renames,
    shapes: &ModuleShapes,
    result: ApplyResult,
    missing: Missing,
    strict_unused: bool,
) -> Result<LoadReport> {
    if let Some(err) = result.errors.first() {
        return Err(match err {
            ApplyError::ShapeMismatch {
                path: p,
                expected,
                found,
            } => {
                let (_, linear) = shapes.get(p);
                let (mut expected, mut found) = (expected.to_vec(), found.to_vec());
                if linear && expected.len() == 2 {
                    expected.reverse();
                    found.reverse();
                }
                ModelError::ShapeMismatch {
                    path: path.into(),
                    key: checkpoint_key(renames, p),
                    expected,
                    found,
                }
            }
            other => ModelError::checkpoint(path, other),
        });
    }
    let allowed = |p: &str| match missing {
        Missing::Deny => false,
        Missing::AllowPrefixes(prefixes) => prefixes.iter().any(|x| p.starts_with(x)),
        Missing::OnlyContaining(needle) => !p.contains(needle),
    };
    if let Some((p, _)) = result.missing.iter().find(|(p, _)| !allowed(p)) {
        return Err(ModelError::MissingKey {
            path: path.into(),
            key: checkpoint_key(renames, p),
            expected: shapes.get(p).0,
        });
    }
    if strict_unused && !result.unused.is_empty() {
        return Err(ModelError::UnexpectedKeys {
            path: path.into(),
            keys: result.unused.clone(),
        });
    }
    Ok(LoadReport {
        path: path.into(),
        applied: result.applied.len(),
        unused: result.unused,
    })
}

/// The first of `names` that exists in `dir` (diffusers folders hold either
/// `diffusion_pytorch_model.safetensors` / `model.safetensors` or the `.bin` pickle).
pub fn find_weights(dir: &Path, names: &[&str]) -> Result<PathBuf> {
    if !dir.is_dir() {
        return Err(ModelError::MissingFile {
            path: dir.into(),
            hint: "expected a directory".into(),
        });
    }
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| ModelError::MissingFile {
            path: dir.join(names.first().copied().unwrap_or("")),
            hint: format!("none of {names:?} in {}", dir.display()),
        })
}

/// Reads a JSON config file (`config.json`, `adapter_config.json`, …) into `T`, a
/// `#[derive(Deserialize)]` mirror of the upstream file (its fields named as the file names them,
/// absent ones `Option`/`#[serde(default)]`). A field of the wrong type is a parse error naming
/// the file.
pub fn read_config<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::from_read(path, e))?;
    serde_json::from_str(&text).map_err(|e| ModelError::parse(path, e))
}
