//! Loading checkpoint tensors into the UNet (and any module whose fields are named after
//! checkpoint keys).
//!
//! The mapping is written once here:
//!
//! | Burn path segment            | checkpoint key segment |
//! |------------------------------|------------------------|
//! | `to_out`                     | `to_out.0`             |
//! | `net_0` / `net_2`            | `net.0` / `net.2`      |
//! | `Linear.weight` `[in, out]`  | `weight` `[out, in]` (transposed) |
//! | everything else              | the same name          |
//!
//! Checkpoint layouts other than diffusers' are converted to diffusers keys first
//! ([`crate::motion::loader`] for AnimateDiff motion modules, `ldm.rs` for original single-file
//! checkpoints), then loaded by [`load_into`].
//!
//! Every failure names the file, the key and both shapes ([`ModelError`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::error::{ModelError, Result};

/// One tensor read from a checkpoint, as f32.
#[derive(Debug, Clone)]
pub struct RawTensor {
    /// Shape as stored (torch layout).
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// Named tensors of one checkpoint file (keys possibly already converted).
#[derive(Debug, Clone, Default)]
pub struct WeightMap {
    /// The file the tensors came from (for error messages).
    pub path: PathBuf,
    /// Key → tensor.
    pub tensors: BTreeMap<String, RawTensor>,
}

fn f16_to_f32(bits: u16) -> f32 {
    burn::tensor::f16::from_bits(bits).to_f32()
}

fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits((bits as u32) << 16)
}

impl WeightMap {
    /// Reads a `.safetensors` file (f32, f16 and bf16 tensors; others are an error naming the key).
    pub fn from_safetensors(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Err(ModelError::missing_file(&path));
        }
        let bytes = std::fs::read(&path).map_err(|e| ModelError::io(&path, e))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| ModelError::parse(&path, e))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let raw = view.data();
            let data: Vec<f32> = match view.dtype() {
                safetensors::Dtype::F32 => raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                safetensors::Dtype::F16 => raw
                    .chunks_exact(2)
                    .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
                safetensors::Dtype::BF16 => raw
                    .chunks_exact(2)
                    .map(|b| bf16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
                other => {
                    return Err(ModelError::checkpoint(
                        &path,
                        format!("key `{name}` has dtype {other:?}; expected F32, F16 or BF16"),
                    ))
                }
            };
            tensors.insert(
                name,
                RawTensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        Ok(Self { path, tensors })
    }

    /// Reads a PyTorch pickle checkpoint (`.ckpt`, `.bin`, `.pt`, `.pth`), unwrapping a top-level
    /// `state_dict` when present.
    pub fn from_pytorch(path: impl AsRef<Path>) -> Result<Self> {
        use burn_store::pytorch::PytorchReader;
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Err(ModelError::missing_file(&path));
        }
        let reader = match PytorchReader::with_top_level_key(&path, "state_dict") {
            Ok(r) if !r.is_empty() => r,
            _ => PytorchReader::new(&path).map_err(|e| ModelError::parse(&path, e))?,
        };
        let mut tensors = BTreeMap::new();
        for (name, snap) in reader.into_tensors() {
            let data = snap
                .to_data()
                .map_err(|e| ModelError::checkpoint(&path, format!("key `{name}`: {e:?}")))?;
            let shape = data.shape.to_vec();
            let data = data.convert::<f32>().to_vec::<f32>().map_err(|e| {
                ModelError::checkpoint(&path, format!("key `{name}`: not a float tensor ({e:?})"))
            })?;
            tensors.insert(name, RawTensor { shape, data });
        }
        Ok(Self { path, tensors })
    }

    /// Reads a checkpoint by extension: `.safetensors`, else a PyTorch pickle.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if path.extension().is_some_and(|e| e == "safetensors") {
            Self::from_safetensors(path)
        } else {
            Self::from_pytorch(path)
        }
    }

    /// Renames keys; `f` returning `None` drops the tensor.
    pub fn rename(self, f: impl Fn(&str) -> Option<String>) -> Self {
        let tensors = self
            .tensors
            .into_iter()
            .filter_map(|(k, v)| f(&k).map(|k| (k, v)))
            .collect();
        Self {
            path: self.path,
            tensors,
        }
    }

    /// Keeps the keys starting with `prefix` and strips it.
    pub fn strip_prefix(self, prefix: &str) -> Self {
        self.rename(|k| k.strip_prefix(prefix).map(str::to_string))
    }
}

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Parameters set (or updated) from the checkpoint.
    pub loaded: usize,
    /// Module parameters (checkpoint keys) the checkpoint did not have (non-strict loads).
    pub missing: Vec<String>,
    /// Checkpoint keys that map to no parameter (ignored buffers excluded).
    pub unused: Vec<String>,
}

/// How [`load_into`] treats the module's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// Every parameter must be in the checkpoint and every checkpoint key must be used.
    Strict,
    /// Set what the checkpoint has, keep the rest (e.g. motion modules from their own file).
    Partial,
    /// Add the checkpoint tensors to the parameters (merging LoRA deltas).
    Add,
}

/// Buffers that checkpoints hold but the modules compute (the sinusoidal tables).
pub fn is_ignored_buffer(key: &str) -> bool {
    key.ends_with("pos_embed.pe") || key.ends_with("pos_encoder.pe")
}

/// The checkpoint key of a Burn parameter path (see the module table).
pub fn checkpoint_key(burn_path: &[String]) -> String {
    let mut out: Vec<&str> = Vec::with_capacity(burn_path.len() + 1);
    for seg in burn_path {
        match seg.as_str() {
            "to_out" => {
                out.push("to_out");
                out.push("0");
            }
            "net_0" => {
                out.push("net");
                out.push("0");
            }
            "net_2" => {
                out.push("net");
                out.push("2");
            }
            s => out.push(s),
        }
    }
    out.join(".")
}

struct Loader<'a> {
    weights: &'a WeightMap,
    mode: LoadMode,
    stack: Vec<(String, String)>,
    used: BTreeSet<String>,
    missing: Vec<String>,
    loaded: usize,
    error: Option<ModelError>,
}

impl<'a> Loader<'a> {
    fn new(weights: &'a WeightMap, mode: LoadMode) -> Self {
        Self {
            weights,
            mode,
            stack: Vec::new(),
            used: BTreeSet::new(),
            missing: Vec::new(),
            loaded: 0,
            error: None,
        }
    }
}

impl<B: Backend> ModuleMapper<B> for Loader<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack
            .push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        if self.error.is_some() {
            return param;
        }
        let path: Vec<String> = self.stack.iter().map(|(n, _)| n.clone()).collect();
        let key = checkpoint_key(&path);
        // Burn's Linear stores [in, out]; torch stores [out, in].
        let transposed = D == 2
            && self
                .stack
                .last()
                .is_some_and(|(n, c)| n == "weight" && c == "Struct:Linear");
        let module_shape: Vec<usize> = param.lazy_shape().to_vec();
        let expected: Vec<usize> = if transposed {
            module_shape.iter().rev().copied().collect()
        } else {
            module_shape.clone()
        };
        let Some(raw) = self.weights.tensors.get(&key) else {
            if self.mode == LoadMode::Strict {
                self.error = Some(ModelError::MissingKey {
                    path: self.weights.path.clone(),
                    key,
                    expected,
                });
            } else if self.mode == LoadMode::Partial {
                self.missing.push(key);
            }
            return param;
        };
        self.used.insert(key.clone());
        // 1×1 convs stored as linears (and the reverse) are the same numbers.
        let same_numbers = raw.shape.iter().product::<usize>()
            == expected.iter().product::<usize>()
            && raw
                .shape
                .iter()
                .filter(|&&d| d != 1)
                .eq(expected.iter().filter(|&&d| d != 1));
        if raw.shape != expected && !same_numbers {
            self.error = Some(ModelError::ShapeMismatch {
                path: self.weights.path.clone(),
                key,
                expected,
                found: raw.shape.clone(),
            });
            return param;
        }
        let (id, old, mapper) = param.consume();
        let device = old.device();
        let t =
            Tensor::<B, D>::from_data(TensorData::new(raw.data.clone(), expected.clone()), &device);
        let t = if transposed { t.transpose() } else { t };
        let t = if self.mode == LoadMode::Add {
            old + t
        } else {
            t
        };
        self.loaded += 1;
        Param::from_mapped_value(id, t, mapper)
    }
}

/// Loads `weights` (diffusers-layout keys) into `module`. Errors name the file, key and shapes.
pub fn load_into<B: Backend, M: Module<B>>(
    module: M,
    weights: &WeightMap,
    mode: LoadMode,
) -> Result<(M, LoadReport)> {
    let mut loader = Loader::new(weights, mode);
    let module = module.map(&mut loader);
    if let Some(e) = loader.error {
        return Err(e);
    }
    let unused: Vec<String> = weights
        .tensors
        .keys()
        .filter(|k| !loader.used.contains(*k) && !is_ignored_buffer(k))
        .cloned()
        .collect();
    if mode == LoadMode::Strict && !unused.is_empty() {
        return Err(ModelError::UnexpectedKeys {
            path: weights.path.clone(),
            keys: unused,
        });
    }
    Ok((
        module,
        LoadReport {
            loaded: loader.loaded,
            missing: loader.missing,
            unused,
        },
    ))
}

/// Lists `(checkpoint key, shape in checkpoint layout)` of every parameter of `module`.
pub fn parameter_keys<B: Backend, M: Module<B>>(module: &M) -> Vec<(String, Vec<usize>)> {
    struct Lister {
        stack: Vec<(String, String)>,
        out: Vec<(String, Vec<usize>)>,
    }
    impl<B: Backend> burn::module::ModuleVisitor<B> for Lister {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            self.stack
                .push((name.to_string(), container_type.to_string()));
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.stack.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let path: Vec<String> = self.stack.iter().map(|(n, _)| n.clone()).collect();
            let mut shape = param.lazy_shape().to_vec();
            if D == 2
                && self
                    .stack
                    .last()
                    .is_some_and(|(n, c)| n == "weight" && c == "Struct:Linear")
            {
                shape.reverse();
            }
            self.out.push((checkpoint_key(&path), shape));
        }
    }
    let mut l = Lister {
        stack: vec![],
        out: vec![],
    };
    module.visit(&mut l);
    l.out
}
