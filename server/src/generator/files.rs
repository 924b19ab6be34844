//! The weights files a generation ran on, with their SHA-256: the folder's files (hashed once
//! per size and modification time) or the embedded default model's.
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use magictime_app::types::{ModelFile, ADAPTERS, OFFICIAL_MODEL};
use magictime_model::loader::magictime::ModelPaths;

use super::{adapter_of, folder_name, lock, ModelGenerator, Variant};

/// Whether a file holds weights (configs and tokenizers are not listed).
fn is_weights(name: &str) -> bool {
    [
        ".safetensors",
        ".safetensors.gz",
        ".ckpt",
        ".bin",
        ".pt",
        ".pth",
    ]
    .iter()
    .any(|ext| name.ends_with(ext))
}

/// The role of an adapter path's weights: the adapter's name when it is applied.
fn adapter_role(v: &Variant, id: &str) -> Option<&'static str> {
    let a = adapter_of(id)?;
    v.adapters.contains(&a).then(|| {
        ADAPTERS
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| *n)
            .expect("known")
    })
}

/// The weights files under `p` (a file, or a folder searched recursively), sorted.
fn weight_files(p: &Path) -> Vec<PathBuf> {
    if p.is_file() {
        return vec![p.to_path_buf()];
    }
    let mut found = vec![];
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let path = e.path();
        if path.is_dir() {
            found.extend(weight_files(&path));
        } else if is_weights(&e.file_name().to_string_lossy()) {
            found.push(path);
        }
    }
    found.sort();
    found
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

impl<B: Backend> ModelGenerator<B> {
    /// The weights files the variant `v` runs on, each with its role and SHA-256 (names relative
    /// to the model folder).
    pub(super) fn files_of(&self, v: &Variant) -> Result<Vec<ModelFile>, String> {
        let dir = match (v.model, &self.model_dir) {
            (OFFICIAL_MODEL, _) => self.ckpts.clone().expect("checked by variant()"),
            (_, Some(dir)) => dir.clone(),
            (_, None) => return Ok(Self::embedded_files(v)),
        };
        let paths =
            ModelPaths::find(&dir, Some(v.adapters.as_slice())).map_err(|e| e.to_string())?;
        let mut parts: Vec<(&str, PathBuf)> = ["unet", "vae", "text_encoder"]
            .into_iter()
            .zip(["UNet", "VAE", "text encoder"])
            .map(|(sub, role)| (role, paths.base.join(sub)))
            .collect();
        parts.extend(paths.motion_module.map(|m| ("motion module", m)));
        if let Some(d) = &v.dreambooth {
            parts.push(("DreamBooth", dir.join("DreamBooth").join(d)));
        }
        for (id, path) in [
            ("s", paths.adapter_s),
            ("t", paths.adapter_t),
            ("te", paths.text_encoder_adapter),
        ] {
            if let (Some(role), Some(path)) = (adapter_role(v, id), path) {
                parts.push((role, path));
            }
        }
        let mut files = vec![];
        for (role, part) in parts {
            for f in weight_files(&part) {
                let (bytes, sha256) = self.file_hash(&f)?;
                // relative to the model folder: where the server keeps it is nobody's business
                let name = f
                    .strip_prefix(&dir)
                    .unwrap_or(&f)
                    .to_string_lossy()
                    .into_owned();
                files.push(ModelFile {
                    role: role.to_owned(),
                    name,
                    sha256,
                    bytes,
                });
            }
        }
        Ok(files)
    }

    /// SHA-256 of a file, hashed again only when its size or modification time changed.
    fn file_hash(&self, p: &Path) -> Result<(u64, String), String> {
        use sha2::Digest;
        let err = |e: std::io::Error| format!("{}: {e}", folder_name(p));
        let meta = std::fs::metadata(p).map_err(err)?;
        let (len, mtime) = (meta.len(), meta.modified().map_err(err)?);
        if let Some((l, m, h)) = lock(&self.hashes).get(p) {
            if (*l, *m) == (len, mtime) {
                return Ok((len, h.clone()));
            }
        }
        let mut h = sha2::Sha256::new();
        let mut f = std::fs::File::open(p).map_err(err)?;
        std::io::copy(&mut f, &mut h).map_err(err)?;
        let hex = format!("{:x}", h.finalize());
        lock(&self.hashes).insert(p.to_path_buf(), (len, mtime, hex.clone()));
        Ok((len, hex))
    }

    /// The weights files of the embedded default model that `v` uses.
    fn embedded_files(v: &Variant) -> Vec<ModelFile> {
        // the embedded bytes never change: hashed once per process, not per generation
        static HASHES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        let hashes = HASHES.get_or_init(|| {
            magictime_model::default_model::FILES
                .iter()
                .map(|(_, bytes)| sha256_hex(bytes))
                .collect()
        });
        magictime_model::default_model::FILES
            .iter()
            .zip(hashes)
            .filter(|((name, _), _)| is_weights(name))
            .filter_map(|((name, bytes), sha256)| {
                let (dir, _) = name.split_once('/').unwrap_or(("", name));
                let role = match dir {
                    "unet" => "UNet",
                    "vae" => "VAE",
                    "text_encoder" => "text encoder",
                    "" => "motion module",
                    "magic_adapter_s" => adapter_role(v, "s")?,
                    "magic_adapter_t" => adapter_role(v, "t")?,
                    "magic_text_encoder" => adapter_role(v, "te")?,
                    _ => return None,
                };
                Some(ModelFile {
                    role: role.to_owned(),
                    name: (*name).to_owned(),
                    sha256: sha256.clone(),
                    bytes: bytes.len() as u64,
                })
            })
            .collect()
    }
}
