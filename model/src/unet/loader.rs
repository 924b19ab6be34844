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
    /// The header is parsed first and each tensor read on its own, so the file's bytes are never
    /// held whole next to the converted values (a 5 GB UNet peaks at 5 GB, not 10).
    pub fn from_safetensors(path: impl AsRef<Path>) -> Result<Self> {
        use std::io::{Read, Seek, SeekFrom};
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Err(ModelError::missing_file(&path));
        }
        let mut file = std::fs::File::open(&path).map_err(|e| ModelError::io(&path, e))?;
        let file_len = file.metadata().map_err(|e| ModelError::io(&path, e))?.len();
        let mut n = [0u8; 8];
        file.read_exact(&mut n)
            .map_err(|_| ModelError::parse(&path, "shorter than a safetensors header"))?;
        let n = u64::from_le_bytes(n);
        if n > 100_000_000 || 8 + n > file_len {
            return Err(ModelError::parse(
                &path,
                format!("header length {n} does not fit the file"),
            ));
        }
        let mut header = vec![0u8; n as usize];
        file.read_exact(&mut header)
            .map_err(|e| ModelError::io(&path, e))?;
        let header: BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|e| ModelError::parse(&path, e))?;
        let data_start = 8 + n;
        let mut tensors = BTreeMap::new();
        for (name, info) in header {
            if name == "__metadata__" {
                continue;
            }
            let bad = |what: &str| ModelError::parse(&path, format!("key `{name}`: {what}"));
            let dtype = info
                .get("dtype")
                .and_then(|d| d.as_str())
                .ok_or_else(|| bad("no dtype"))?;
            let shape: Vec<usize> = info
                .get("shape")
                .and_then(|s| s.as_array())
                .ok_or_else(|| bad("no shape"))?
                .iter()
                .map(|d| d.as_u64().map(|d| d as usize))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("bad shape"))?;
            let (begin, end) = match info.get("data_offsets").and_then(|o| o.as_array()) {
                Some(o) if o.len() == 2 => (
                    o[0].as_u64().ok_or_else(|| bad("bad data_offsets"))?,
                    o[1].as_u64().ok_or_else(|| bad("bad data_offsets"))?,
                ),
                _ => return Err(bad("no data_offsets")),
            };
            let width = match dtype {
                "F32" => 4,
                "F16" | "BF16" => 2,
                other => {
                    return Err(ModelError::checkpoint(
                        &path,
                        format!("key `{name}` has dtype {other}; expected F32, F16 or BF16"),
                    ))
                }
            };
            let count = shape.iter().product::<usize>() as u64;
            if end < begin || end - begin != count * width || data_start + end > file_len {
                return Err(bad("data_offsets do not match its shape and the file"));
            }
            let mut raw = vec![0u8; (end - begin) as usize];
            file.seek(SeekFrom::Start(data_start + begin))
                .and_then(|_| file.read_exact(&mut raw))
                .map_err(|e| ModelError::io(&path, e))?;
            let data: Vec<f32> = match dtype {
                "F32" => raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                "F16" => raw
                    .chunks_exact(2)
                    .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
                _ => raw
                    .chunks_exact(2)
                    .map(|b| bf16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
            };
            tensors.insert(name, RawTensor { shape, data });
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

/// The tensors a [`Loader`] reads: borrowed (each copied into the module) or owned (each moved
/// into the module and dropped from the map, so the values exist once).
enum Source<'a> {
    Borrowed(&'a WeightMap),
    Owned(WeightMap),
}

impl Source<'_> {
    fn map(&self) -> &WeightMap {
        match self {
            Self::Borrowed(w) => w,
            Self::Owned(w) => w,
        }
    }

    fn take(&mut self, key: &str) -> Vec<f32> {
        match self {
            Self::Borrowed(w) => w.tensors[key].data.clone(),
            Self::Owned(w) => w.tensors.remove(key).expect("checked key").data,
        }
    }
}

struct Loader<'a> {
    weights: Source<'a>,
    mode: LoadMode,
    stack: Vec<(String, String)>,
    used: BTreeSet<String>,
    missing: Vec<String>,
    loaded: usize,
    error: Option<ModelError>,
}

impl<'a> Loader<'a> {
    fn new(weights: Source<'a>, mode: LoadMode) -> Self {
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
        let Some(raw) = self.weights.map().tensors.get(&key) else {
            if self.mode == LoadMode::Strict {
                self.error = Some(ModelError::MissingKey {
                    path: self.weights.map().path.clone(),
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
                path: self.weights.map().path.clone(),
                key,
                expected,
                found: raw.shape.clone(),
            });
            return param;
        }
        let data = self.weights.take(&key);
        let (id, old, mapper) = param.consume();
        let device = old.device();
        let t = Tensor::<B, D>::from_data(TensorData::new(data, expected.clone()), &device);
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
    load_with(module, Source::Borrowed(weights), mode)
}

/// [`load_into`] that consumes the map: each tensor moves into the module, so the weights are
/// held once (not once in the map and once in the module) while loading.
pub fn load_into_owned<B: Backend, M: Module<B>>(
    module: M,
    weights: WeightMap,
    mode: LoadMode,
) -> Result<(M, LoadReport)> {
    load_with(module, Source::Owned(weights), mode)
}

fn load_with<B: Backend, M: Module<B>>(
    module: M,
    weights: Source<'_>,
    mode: LoadMode,
) -> Result<(M, LoadReport)> {
    let mut loader = Loader::new(weights, mode);
    let module = module.map(&mut loader);
    if let Some(e) = loader.error {
        return Err(e);
    }
    let weights = loader.weights.map();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use crate::motion::MotionModuleConfig;

    fn bytes<T: Copy>(v: &[T], to: fn(T) -> Vec<u8>) -> Vec<u8> {
        v.iter().flat_map(|&x| to(x)).collect()
    }

    /// The header-first reader gives what the safetensors crate's own parser gives, for every
    /// float dtype, and refuses corrupt files naming the file (and the key where there is one).
    #[test]
    fn safetensors_read_tensor_by_tensor_match_the_crate() {
        use safetensors::{tensor::TensorView, Dtype};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let vals = [0.5f32, -1.25, 3.0, 1e-3, -7.5, 0.0];
        let f32b = bytes(&vals, |x| x.to_le_bytes().to_vec());
        let f16b = bytes(&vals, |x| {
            burn::tensor::f16::from_f32(x)
                .to_bits()
                .to_le_bytes()
                .to_vec()
        });
        let bf16b = bytes(&vals, |x| {
            ((x.to_bits() >> 16) as u16).to_le_bytes().to_vec()
        });
        let views = [
            (
                "a.f32",
                TensorView::new(Dtype::F32, vec![2, 3], &f32b).unwrap(),
            ),
            (
                "b.f16",
                TensorView::new(Dtype::F16, vec![3, 2], &f16b).unwrap(),
            ),
            (
                "c.bf16",
                TensorView::new(Dtype::BF16, vec![6], &bf16b).unwrap(),
            ),
        ];
        let meta = Some([("format".to_string(), "pt".to_string())].into());
        safetensors::serialize_to_file(views.clone(), meta, &path).unwrap();
        let w = WeightMap::from_safetensors(&path).unwrap();
        assert_eq!(w.tensors.len(), 3);
        let file = std::fs::read(&path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&file).unwrap();
        for (name, view) in st.tensors() {
            let raw = &w.tensors[&name];
            assert_eq!(raw.shape, view.shape(), "{name}");
            let want: Vec<f32> = match view.dtype() {
                Dtype::F32 => vals.to_vec(),
                Dtype::F16 => vals
                    .iter()
                    .map(|&x| burn::tensor::f16::from_f32(x).to_f32())
                    .collect(),
                _ => vals
                    .iter()
                    .map(|&x| f32::from_bits(x.to_bits() & 0xffff_0000))
                    .collect(),
            };
            assert_eq!(raw.data, want, "{name}");
        }
        // cut short: the last tensor's bytes are missing
        std::fs::write(&path, &file[..file.len() - 4]).unwrap();
        let e = WeightMap::from_safetensors(&path).unwrap_err().to_string();
        assert!(
            e.contains("w.safetensors") && e.contains("data_offsets"),
            "{e}"
        );
        // a header longer than the file
        let mut bad = file.clone();
        bad[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        std::fs::write(&path, &bad).unwrap();
        let e = WeightMap::from_safetensors(&path).unwrap_err().to_string();
        assert!(e.contains("w.safetensors") && e.contains("header"), "{e}");
        // an integer tensor
        let ints = bytes(&[1i64, 2], |x| x.to_le_bytes().to_vec());
        let v = [("ids", TensorView::new(Dtype::I64, vec![2], &ints).unwrap())];
        safetensors::serialize_to_file(v, None, &path).unwrap();
        let e = WeightMap::from_safetensors(&path).unwrap_err().to_string();
        assert!(e.contains("`ids`") && e.contains("I64"), "{e}");
    }

    /// Loading from a borrowed or an owned map gives the same module and report; a leftover key
    /// is refused either way in strict mode.
    #[test]
    fn owned_and_borrowed_loads_agree() {
        let dev = Default::default();
        let config = MotionModuleConfig::new(8)
            .with_heads(2)
            .with_norm_num_groups(4);
        let src = config.init::<Cpu>(&dev);
        let mut w = WeightMap::default();
        for t in crate::train::save::collect(&src, &|p| checkpoint_key(p)) {
            w.tensors.insert(
                t.key,
                RawTensor {
                    shape: t.shape,
                    data: t.data,
                },
            );
        }
        let values = |m: &crate::motion::temporal_transformer::MotionModule<Cpu>| -> Vec<Vec<f32>> {
            crate::train::save::collect(m, &|p| checkpoint_key(p))
                .into_iter()
                .map(|t| t.data)
                .collect()
        };
        let (a, ra) = load_into(config.init::<Cpu>(&dev), &w, LoadMode::Strict).unwrap();
        let (b, rb) =
            load_into_owned(config.init::<Cpu>(&dev), w.clone(), LoadMode::Strict).unwrap();
        assert_eq!(ra, rb);
        assert!(ra.loaded > 10);
        assert_eq!(values(&a), values(&src));
        assert_eq!(values(&b), values(&src));
        w.tensors.insert(
            "extra.weight".into(),
            RawTensor {
                shape: vec![1],
                data: vec![0.0],
            },
        );
        for r in [
            load_into(config.init::<Cpu>(&dev), &w, LoadMode::Strict).map(|_| ()),
            load_into_owned(config.init::<Cpu>(&dev), w.clone(), LoadMode::Strict).map(|_| ()),
        ] {
            assert!(r.unwrap_err().to_string().contains("extra.weight"));
        }
    }
}
