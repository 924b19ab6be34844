//! A checkpoint's tensors in memory as f32 ([`WeightMap`]), read through burn-store
//! (`SafetensorsStore`, `PytorchReader`), for checkpoints whose keys are converted before loading:
//! LDM single files, AnimateDiff motion modules, LoRA deltas (computed, then added). They load
//! with [`super::unet::load_into`] ([`super::store::load_map`] under the UNet's key table).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{DType, TensorData};
use burn_store::{ModuleStore, SafetensorsStore};

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

/// One tensor's data as a [`RawTensor`] (f32), errors naming the file and key.
fn raw<E: std::fmt::Debug>(
    path: &Path,
    name: &str,
    data: std::result::Result<TensorData, E>,
) -> Result<RawTensor> {
    let data = data.map_err(|e| ModelError::checkpoint(path, format!("key `{name}`: {e:?}")))?;
    let shape = data.shape.to_vec();
    let data = data.convert::<f32>().to_vec::<f32>().map_err(|e| {
        ModelError::checkpoint(path, format!("key `{name}`: not a float tensor ({e:?})"))
    })?;
    Ok(RawTensor { shape, data })
}

impl WeightMap {
    /// Reads a `.safetensors` file through burn-store (memory-mapped; each tensor is copied out
    /// and converted to f32 on its own, so the file is never held twice). Float tensors only:
    /// another dtype is an error naming the key.
    pub fn from_safetensors(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(ModelError::missing_file(&path));
        }
        let mut store = SafetensorsStore::from_file(&path);
        let snapshots = store
            .get_all_snapshots()
            .map_err(|e| ModelError::parse(&path, e))?;
        let mut tensors = BTreeMap::new();
        for (name, snap) in snapshots {
            if !matches!(snap.dtype, DType::F32 | DType::F16 | DType::BF16) {
                return Err(ModelError::checkpoint(
                    &path,
                    format!(
                        "key `{name}` has dtype {:?}; expected F32, F16 or BF16",
                        snap.dtype
                    ),
                ));
            }
            tensors.insert(name.clone(), raw(&path, name, snap.to_data())?);
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
            let t = raw(&path, &name, snap.to_data())?;
            tensors.insert(name, t);
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

/// Buffers that checkpoints hold but the modules compute (the sinusoidal tables).
pub fn is_ignored_buffer(key: &str) -> bool {
    key.ends_with("pos_embed.pe") || key.ends_with("pos_encoder.pe")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes<T: Copy>(v: &[T], to: fn(T) -> Vec<u8>) -> Vec<u8> {
        v.iter().flat_map(|&x| to(x)).collect()
    }

    /// The reader gives what the safetensors crate's own parser gives, for every float dtype, and
    /// refuses corrupt files naming the file (and the key where there is one).
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
        assert!(e.contains("w.safetensors"), "{e}");
        // a header longer than the file
        let mut bad = file.clone();
        bad[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        std::fs::write(&path, &bad).unwrap();
        let e = WeightMap::from_safetensors(&path).unwrap_err().to_string();
        assert!(e.contains("w.safetensors"), "{e}");
        // an integer tensor
        let ints = bytes(&[1i64, 2], |x| x.to_le_bytes().to_vec());
        let v = [("ids", TensorView::new(Dtype::I64, vec![2], &ints).unwrap())];
        safetensors::serialize_to_file(v, None, &path).unwrap();
        let e = WeightMap::from_safetensors(&path).unwrap_err().to_string();
        assert!(e.contains("`ids`") && e.contains("I64"), "{e}");
    }
}
