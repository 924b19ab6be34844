//! Saving trained modules as safetensors in the upstream key layouts the crate's loaders read
//! (diffusers `unet/`, `vae/`, transformers `text_encoder/`, a diffusers-layout motion module),
//! so a saved folder loads through `MagicTimePipeline::from_dir` like any upstream folder.

use std::collections::BTreeSet;
use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::error::{ModelError, Result};

/// One tensor in checkpoint layout: key, torch shape, row-major values.
#[derive(Debug, Clone)]
pub struct SavedTensor {
    pub key: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Every float parameter of `module` under its checkpoint key (`key_of(burn path segments)`),
/// Linear weights transposed to torch's `[out, in]`.
pub fn collect<B: Backend, M: Module<B>>(
    module: &M,
    key_of: &dyn Fn(&[String]) -> String,
) -> Vec<SavedTensor> {
    struct Collector<'a> {
        stack: Vec<(String, String)>,
        key_of: &'a dyn Fn(&[String]) -> String,
        out: Vec<SavedTensor>,
    }
    impl<B: Backend> ModuleVisitor<B> for Collector<'_> {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            self.stack
                .push((name.to_string(), container_type.to_string()));
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.stack.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let path: Vec<String> = self.stack.iter().map(|(n, _)| n.clone()).collect();
            let linear = D == 2
                && self
                    .stack
                    .last()
                    .is_some_and(|(n, c)| n == "weight" && c == "Struct:Linear");
            let t = param.val();
            let (shape, data) = if linear {
                let t = t.transpose();
                (t.dims().to_vec(), t.into_data())
            } else {
                (t.dims().to_vec(), t.into_data())
            };
            self.out.push(SavedTensor {
                key: (self.key_of)(&path),
                shape,
                data: data.convert::<f32>().to_vec().expect("f32 parameter"),
            });
        }
    }
    let mut c = Collector {
        stack: Vec::new(),
        key_of,
        out: Vec::new(),
    };
    module.visit(&mut c);
    c.out
}

/// Zeroes the rows of `key` (an embedding `[vocab, d]`) whose index is not in `keep`: rows the
/// training never touched, so the file compresses to the vocabulary actually learnt.
pub fn zero_rows_except(tensors: &mut [SavedTensor], key: &str, keep: &BTreeSet<usize>) {
    for t in tensors
        .iter_mut()
        .filter(|t| t.key == key && t.shape.len() == 2)
    {
        let d = t.shape[1];
        for (row, chunk) in t.data.chunks_mut(d).enumerate() {
            if !keep.contains(&row) {
                chunk.fill(0.0);
            }
        }
    }
}

/// Serialises tensors as safetensors bytes (f16 when `half`, else f32).
pub fn to_safetensors(tensors: &[SavedTensor], half: bool) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|t| {
            let b: Vec<u8> = if half {
                t.data
                    .iter()
                    .flat_map(|&x| burn::tensor::f16::from_f32(x).to_bits().to_le_bytes())
                    .collect()
            } else {
                t.data.iter().flat_map(|x| x.to_le_bytes()).collect()
            };
            (t.key.clone(), t.shape.clone(), b)
        })
        .collect();
    let dtype = if half {
        safetensors::Dtype::F16
    } else {
        safetensors::Dtype::F32
    };
    let views = bytes
        .iter()
        .map(|(k, s, b)| {
            safetensors::tensor::TensorView::new(dtype, s.clone(), b)
                .map(|v| (k.clone(), v))
                .map_err(|e| ModelError::InvalidInput(format!("tensor {k}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, None)
        .map_err(|e| ModelError::InvalidInput(format!("safetensors: {e}")))
}

/// Writes `bytes` to `path` (creating parent folders), gzip-compressed when `path` ends in `.gz`,
/// atomically ([`write_atomic`]).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let data = if path.extension().is_some_and(|e| e == "gz") {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(bytes).map_err(|e| ModelError::io(path, e))?;
        enc.finish().map_err(|e| ModelError::io(path, e))?
    } else {
        bytes.to_vec()
    };
    write_atomic(path, &data)
}

/// [`write_file`], returning the bytes on disk.
pub fn write_file_len(path: &Path, bytes: &[u8]) -> Result<u64> {
    write_file(path, bytes)?;
    Ok(std::fs::metadata(path)
        .map_err(|e| ModelError::io(path, e))?
        .len())
}

/// Writes `data` to a temporary file next to `path`, syncs it and renames it over `path`, so a
/// reader (or a run killed mid-write) sees the old file or the new one, never a torn one.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| ModelError::io(dir, e))?;
    tmp.write_all(data).map_err(|e| ModelError::io(path, e))?;
    // tempfile creates 0600; outputs get the usual 0644
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(|e| ModelError::io(path, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| ModelError::io(path, e))?;
    tmp.persist(path)
        .map_err(|e| ModelError::io(path, e.error))?;
    Ok(())
}
