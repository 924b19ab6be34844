//! Checkpoint → module loading through burn-store, with typed errors: the one path by which
//! weights enter a module.
//!
//! [`load_file`] opens a safetensors file (`SafetensorsStore`) or a PyTorch pickle
//! (`PytorchStore`, `.bin` / `.pt` / `.ckpt`); [`load_map`] takes tensors already read and
//! converted in memory ([`WeightMap`]: LDM single files, motion modules, LoRA deltas, which it
//! can also add to the parameters). Both rename keys with the model's [`Renames`] table, give
//! tensors the module's shape where only unit dimensions differ (LDM's 1×1 convs stored for
//! linears and back), apply `PyTorchToBurnAdapter` (Linear weights transposed, norm weight/bias →
//! gamma/beta), cast f16/bf16/f64 to f32, and turn burn-store's `ApplyResult` into one
//! [`LoadReport`] or [`ModelError`]s that name the file, the checkpoint key and both shapes (in
//! the checkpoint's own layout).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use burn::module::ParamId;
use burn::tensor::{backend::Backend, DType, TensorData};
use burn_store::{
    ApplyError, ApplyResult, KeyRemapper, ModuleAdapter, ModuleSnapshot, ModuleStore,
    PyTorchToBurnAdapter, PytorchStore, SafetensorsStore, TensorSnapshot, TensorSnapshotError,
};

use super::tensors::{is_ignored_buffer, RawTensor, WeightMap};
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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// The file loaded (for a [`WeightMap`]: the file it was read from).
    pub path: PathBuf,
    /// Parameters set (or, adding, updated) from the checkpoint.
    pub loaded: usize,
    /// Module parameters, by checkpoint key, the checkpoint did not have and [`Missing`]
    /// allowed.
    pub missing: Vec<String>,
    /// Checkpoint keys (file loads: after renaming) that no module parameter takes.
    pub unused: Vec<String>,
}

/// Which parameters may stay at their initial values.
#[derive(Debug, Clone, Copy, Default)]
pub enum Missing {
    /// Every module parameter must be in the checkpoint.
    #[default]
    Deny,
    /// Any may be absent (reported in [`LoadReport::missing`]).
    Allow,
    /// Parameters whose module path starts with one of these prefixes may be absent.
    AllowPrefixes(&'static [&'static str]),
    /// Only parameters whose module path contains this substring are required (adapter files:
    /// `".lora."` — the base weights come from another file).
    OnlyContaining(&'static str),
}

/// Whether `found` holds `want`'s numbers with only unit dimensions different (a 1×1 conv
/// `[out, in, 1, 1]` stored for a linear `[out, in]`, or the reverse).
fn same_numbers(found: &[usize], want: &[usize]) -> bool {
    found != want
        && !want.is_empty()
        && found
            .iter()
            .filter(|&&d| d != 1)
            .eq(want.iter().filter(|&&d| d != 1))
}

/// `snapshot` with the module's shape (checkpoint layout) where only unit dimensions differ;
/// other snapshots unchanged (a true mismatch is reported by the applier).
fn to_module_shape(snapshot: TensorSnapshot, shapes: &ModuleShapes) -> TensorSnapshot {
    let (want, _) = shapes.get(&snapshot.full_path());
    if !same_numbers(&snapshot.shape, &want) {
        return snapshot;
    }
    let data_fn = snapshot.clone_data_fn();
    let shape = want.clone();
    TensorSnapshot::from_closure(
        Rc::new(move || {
            let data = data_fn()?;
            Ok(TensorData {
                shape: shape.clone().into(),
                ..data
            })
        }),
        snapshot.dtype,
        want.into(),
        snapshot.path_stack.clone().unwrap_or_default(),
        snapshot.container_stack.clone().unwrap_or_default(),
        snapshot.tensor_id.unwrap_or_default(),
    )
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

/// Loads the checkpoint file `path` into `module`, keys renamed by `renames`. Errors name the
/// file, the checkpoint key and both shapes. Unused checkpoint keys are reported, not rejected
/// (upstream files carry buffers such as `position_ids`).
pub fn load_file<B: Backend, M: ModuleSnapshot<B>>(
    module: &mut M,
    path: &Path,
    renames: Renames,
    missing: Missing,
) -> Result<LoadReport> {
    if !path.is_file() {
        return Err(ModelError::missing_file(path));
    }
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
    apply(module, path, snapshots, renames, missing, false, &|k| {
        k.to_string()
    })
}

/// How [`load_map`] treats the module's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// Every parameter must be in the map and every key must be used.
    Strict,
    /// Set what the map has, keep the rest (e.g. motion modules from their own file); missing
    /// parameters and unused keys are reported.
    Partial,
    /// Add the map's tensors to the parameters (merging LoRA deltas); unused keys are reported.
    Add,
}

/// Loads (or adds) the tensors of `weights` into `module`, keys renamed by `renames`. The
/// map is consumed: each tensor moves into the module when it is applied, so the weights are
/// held once. [`LoadReport::unused`] and [`LoadReport::missing`] hold checkpoint keys.
pub fn load_map<B: Backend, M: ModuleSnapshot<B>>(
    module: &mut M,
    weights: WeightMap,
    renames: Renames,
    mode: LoadMode,
) -> Result<LoadReport> {
    let path = weights.path.clone();
    let to_module = remapper(renames, true);
    let mut tensors: Vec<(String, RawTensor)> = weights
        .tensors
        .into_iter()
        .filter(|(k, _)| !is_ignored_buffer(k))
        .collect();
    if mode == LoadMode::Add {
        tensors = with_current_values(module, &path, tensors, renames)?;
    }
    let snapshots = tensors
        .into_iter()
        .map(|(key, t)| moved_snapshot(&key, t))
        .collect();
    let (snapshots, renamed) = to_module.remap(snapshots);
    // module path → the map's key, for the report
    let key_of: HashMap<String, String> = renamed.into_iter().collect();
    let missing = match mode {
        LoadMode::Strict => Missing::Deny,
        LoadMode::Partial | LoadMode::Add => Missing::Allow,
    };
    let mut report = apply(
        module,
        &path,
        snapshots,
        renames,
        missing,
        mode == LoadMode::Strict,
        &|k| key_of.get(k).cloned().unwrap_or_else(|| k.to_string()),
    )?;
    if mode == LoadMode::Add {
        report.missing.clear();
    }
    Ok(report)
}

/// A snapshot of `t` under `key` whose data moves out on first use.
fn moved_snapshot(key: &str, t: RawTensor) -> TensorSnapshot {
    let shape = t.shape.clone();
    let cell = RefCell::new(Some(TensorData::new(t.data, t.shape)));
    TensorSnapshot::from_closure(
        Rc::new(move || {
            cell.borrow_mut().take().ok_or_else(|| {
                TensorSnapshotError::DataError("tensor already moved into the module".into())
            })
        }),
        DType::F32,
        shape.into(),
        key.split('.').map(str::to_string).collect(),
        vec![],
        ParamId::new(),
    )
}

/// The deltas of `tensors` added to the module's current values (in checkpoint layout: Linear
/// weights `[out, in]`); keys the module lacks are kept as they are (reported unused).
fn with_current_values<B: Backend, M: ModuleSnapshot<B>>(
    module: &M,
    path: &Path,
    tensors: Vec<(String, RawTensor)>,
    renames: Renames,
) -> Result<Vec<(String, RawTensor)>> {
    let re: Vec<(regex::Regex, &str)> = renames
        .iter()
        .map(|r| {
            (
                regex::Regex::new(&r.checkpoint_pattern).expect("valid rename regex"),
                r.module_replacement.as_ref(),
            )
        })
        .collect();
    let module_path = |key: &str| {
        re.iter().fold(key.to_string(), |k, (re, to)| {
            re.replace_all(&k, *to).into_owned()
        })
    };
    let current: HashMap<String, TensorSnapshot> = module
        .collect(None, None, false)
        .into_iter()
        .map(|s| (s.full_path(), s))
        .collect();
    tensors
        .into_iter()
        .map(|(key, delta)| {
            let Some(cur) = current.get(&module_path(&key)) else {
                return Ok((key, delta));
            };
            let data = cur
                .to_data()
                .map_err(|e| ModelError::checkpoint(path, format!("`{key}`: {e:?}")))?;
            let mut shape = data.shape.to_vec();
            let mut values = data.convert::<f32>().to_vec::<f32>().map_err(|e| {
                ModelError::checkpoint(path, format!("`{key}`: not a float parameter ({e:?})"))
            })?;
            if cur.container_type().ends_with("Linear") && shape.len() == 2 {
                values = transpose(&values, shape[0], shape[1]);
                shape.reverse();
            }
            if delta.shape != shape && !same_numbers(&delta.shape, &shape) {
                return Err(ModelError::ShapeMismatch {
                    path: path.into(),
                    key,
                    expected: shape,
                    found: delta.shape,
                });
            }
            values
                .iter_mut()
                .zip(&delta.data)
                .for_each(|(w, d)| *w += d);
            Ok((
                key,
                RawTensor {
                    shape,
                    data: values,
                },
            ))
        })
        .collect()
}

/// `[rows, cols]` row-major → `[cols, rows]`.
fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}

/// Applies `snapshots` (keys already renamed to module paths) to `module` and checks the result;
/// `key_of` gives the checkpoint key of an unused snapshot for the report.
fn apply<B: Backend, M: ModuleSnapshot<B>>(
    module: &mut M,
    path: &Path,
    snapshots: Vec<TensorSnapshot>,
    renames: Renames,
    missing: Missing,
    strict_unused: bool,
    key_of: &dyn Fn(&str) -> String,
) -> Result<LoadReport> {
    let shapes = ModuleShapes::of(module);
    let snapshots = snapshots
        .into_iter()
        .map(|s| to_module_shape(s, &shapes))
        .collect();
    // Same adapters for every source: PyTorch → Burn layout, f16/bf16 → f32.
    let adapter = PyTorchToBurnAdapter.chain(CastToF32);
    let result: ApplyResult = module.apply(snapshots, None, Some(Box::new(adapter)), true);
    check_result(
        path,
        renames,
        &shapes,
        result,
        missing,
        strict_unused,
        key_of,
    )
}

fn check_result(
    path: &Path,
    renames: Renames,
    shapes: &ModuleShapes,
    result: ApplyResult,
    missing: Missing,
    strict_unused: bool,
    key_of: &dyn Fn(&str) -> String,
) -> Result<LoadReport> {
    let unused: Vec<String> = result.unused.iter().map(|k| key_of(k)).collect();
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
        Missing::Allow => true,
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
    if strict_unused && !unused.is_empty() {
        return Err(ModelError::UnexpectedKeys {
            path: path.into(),
            keys: unused,
        });
    }
    Ok(LoadReport {
        path: path.into(),
        loaded: result.applied.len(),
        missing: result
            .missing
            .iter()
            .map(|(p, _)| checkpoint_key(renames, p))
            .collect(),
        unused,
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
