//! [`VideoTextEmbedder`] over the model crate's CLIP (`magictime_model::clip`): vision tower +
//! `visual_projection`, text tower + `text_projection`, OpenAI BPE tokenizer (77 tokens, long
//! prompts truncated like transformers), CLIP image preprocessing (bicubic resize of the short
//! edge, centre crop, CLIP mean/std).

use std::path::Path;

use burn::prelude::*;
use magictime_model::clip::{
    in_domain, ClipTextConfig, ClipTextModel, ClipTokenizer, ClipVisionConfig, ClipVisionModel,
};

use crate::clipsim::VideoTextEmbedder;
use crate::error::{MetricsError, Result};
use crate::features::Cpu;

/// CLIP on the Burn backend `B` as an image–text embedder: the model crate's
/// [`magictime_model::clip::ClipEmbedder`] (towers, tokenizer, image processor, checked to fit
/// together), named, with the folder's temporal weight and logit scale. Image preprocessing and
/// tokenizing run on the CPU, the towers on `B`'s device.
pub struct ClipEmbedder<B: Backend> {
    inner: magictime_model::clip::ClipEmbedder<B>,
    name: String,
    /// Ramp weight of the video embedding (`magictime.video_temporal_weight`, 0 upstream).
    temporal_weight: f64,
    /// `exp(logit_scale)` from the weights (100 when the file has none).
    logit_scale: f32,
    /// Frames per vision forward pass.
    pub batch: usize,
}

/// A loader's error as the metrics say it: a missing file is missing weights, an unreadable or
/// unparsable one an I/O error naming it, the rest a failure of the CLIP.
fn model_err(e: magictime_model::ModelError) -> MetricsError {
    use magictime_model::ModelError as M;
    match e {
        M::MissingFile { path, hint } => MetricsError::MissingWeights {
            model: "CLIP",
            path,
            hint,
        },
        M::Io { path, source } => MetricsError::Io {
            path,
            detail: source.to_string(),
        },
        M::Parse { path, msg } => MetricsError::Io { path, detail: msg },
        e => MetricsError::Numerical {
            what: "CLIP",
            detail: e.to_string(),
        },
    }
}

impl<B: Backend> ClipEmbedder<B> {
    /// Loads a transformers CLIP folder (`config.json` + weights of `CLIPModel`, or a diffusers
    /// root with `text_encoder/` and `image_encoder/`) onto `device`. The model is named after
    /// the folder.
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self> {
        if !dir.exists() {
            return Err(MetricsError::MissingWeights {
                model: "CLIP (CLIPSIM / metamorphic score)",
                path: dir.to_path_buf(),
                hint: "Pass a transformers CLIP folder (e.g. openai/clip-vit-large-patch14: \
                       config.json + model.safetensors) with --clip."
                    .into(),
            });
        }
        let vision =
            magictime_model::loader::clip::load_clip_vision(dir, device).map_err(model_err)?;
        let text = magictime_model::loader::clip::load_clip_text(dir, device).map_err(model_err)?;
        let (trained_name, temporal_weight) = in_domain::folder_facts(dir);
        let name = match trained_name {
            Some(n) => format!("{n} ({})", dir.display()),
            None => dir.display().to_string(),
        };
        let mut e = Self::from_parts(vision, text, name)?;
        e.temporal_weight = temporal_weight;
        if let Some(s) = magictime_model::loader::clip::read_logit_scale(dir) {
            e.logit_scale = s.exp();
        }
        Ok(e)
    }

    /// The in-domain CLIP embedded in the binary ([`in_domain`]) on `device`, named as such.
    pub fn in_domain(device: &B::Device) -> Result<Self> {
        let tmp = tempfile::tempdir().map_err(|e| MetricsError::Io {
            path: std::env::temp_dir(),
            detail: e.to_string(),
        })?;
        in_domain::write_dir(tmp.path()).map_err(model_err)?;
        let mut e = Self::load(tmp.path(), device)?;
        e.name = in_domain::NAME.to_string();
        Ok(e)
    }

    /// The embedder a `--clip` setting names: `in-domain` (the embedded in-domain CLIP, the
    /// default), `tiny-random` ([`Self::tiny_random`]) or a transformers CLIP folder
    /// ([`Self::load`]), on `device`.
    pub fn from_setting(setting: &Path, device: &B::Device) -> Result<Self> {
        if setting.as_os_str() == in_domain::SETTING {
            Self::in_domain(device)
        } else if setting.as_os_str() == "tiny-random" {
            Self::tiny_random(device)
        } else {
            Self::load(setting, device)
        }
    }

    /// The tiny CLIP configs of the model crate with fresh random weights — for tests and smoke
    /// runs; the name says so. The text tower takes the real tokenizer's vocabulary (49,408,
    /// end-of-text 49,407) and a projection to the vision tower's projection width.
    pub fn tiny_random(device: &B::Device) -> Result<Self> {
        let vc = ClipVisionConfig::tiny();
        let tc = ClipTextConfig::tiny()
            .with_vocab_size(49_408)
            .with_eos_token_id(49_407)
            .with_projection_dim(vc.projection_dim);
        let vision = vc.init::<B>(device);
        let text = tc.init::<B>(device);
        Self::from_parts(vision, text, "tiny CLIP (random weights)".into())
    }

    /// The image processor takes the vision tower's `image_size`.
    fn from_parts(
        vision: ClipVisionModel<B>,
        text: ClipTextModel<B>,
        name: String,
    ) -> Result<Self> {
        let inner = magictime_model::clip::ClipEmbedder::new(
            ClipTokenizer::new().map_err(model_err)?,
            text,
            vision,
            Default::default(),
        )
        .map_err(model_err)?;
        Ok(Self {
            inner,
            name,
            temporal_weight: 0.0,
            logit_scale: 100.0,
            batch: 16,
        })
    }
}

/// A CLIP image tower on the CPU as the frame embedder of cut detection (the paper's
/// CLIP-similarity rule): frames come area-resized to the tower's square input; rows are the
/// normalised image embeddings.
pub struct ClipFrameEmbedder {
    inner: std::sync::Mutex<ClipEmbedder<Cpu>>,
    size: u32,
}

impl ClipFrameEmbedder {
    /// `None` = the embedded in-domain CLIP; else a transformers CLIP folder.
    pub fn new(folder: Option<&Path>) -> Result<Self> {
        let device = Default::default();
        let e = match folder {
            None => ClipEmbedder::in_domain(&device)?,
            Some(dir) => ClipEmbedder::load(dir, &device)?,
        };
        Ok(Self {
            size: e.inner.processor.crop_size as u32,
            inner: std::sync::Mutex::new(e),
        })
    }
}

impl magictime_data::cuts::FrameEmbedder for ClipFrameEmbedder {
    fn name(&self) -> String {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).name()
    }

    fn input_size(&self) -> (u32, u32) {
        (self.size, self.size)
    }

    fn embed(&self, frames: &[u8], n: usize) -> magictime_data::Result<(Vec<f32>, usize)> {
        let e = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let s = self.size as usize;
        if frames.len() != n * s * s * 3 {
            return Err(magictime_data::DataError::Invalid(format!(
                "CLIP frame embedder: {} bytes for {n} frames of {s}x{s}",
                frames.len()
            )));
        }
        let refs: Vec<&[u8]> = frames.chunks_exact(s * s * 3).collect();
        let rows = e
            .embed_frames(&refs, s, s)
            .map_err(|err| magictime_data::DataError::Invalid(err.to_string()))?;
        let dim = rows.first().map_or(0, Vec::len);
        let mut out = Vec::with_capacity(n * dim);
        for r in rows {
            let norm = r.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            out.extend(r.iter().map(|x| x / norm));
        }
        Ok((out, dim))
    }
}

fn rows<B: Backend>(t: Tensor<B, 2>) -> Vec<Vec<f32>> {
    let [_, d] = t.dims();
    let v = t.into_data().to_vec::<f32>().expect("f32 embeddings");
    v.chunks_exact(d).map(|c| c.to_vec()).collect()
}

impl<B: Backend> VideoTextEmbedder for ClipEmbedder<B> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn logit_scale(&self) -> f32 {
        self.logit_scale
    }

    fn temporal_weight(&self) -> f64 {
        self.temporal_weight
    }

    fn embed_frames(&self, frames: &[&[u8]], h: usize, w: usize) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(frames.len());
        for chunk in frames.chunks(self.batch.max(1)) {
            let images: Vec<(&[u8], usize, usize)> = chunk.iter().map(|f| (*f, h, w)).collect();
            out.extend(rows(self.inner.image_features(&images).map_err(model_err)?));
        }
        Ok(out)
    }

    fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(256) {
            out.extend(rows(self.inner.text_features(chunk).map_err(model_err)?));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clipsim::{score_video, RetrievalTexts};

    /// The scores over the tiny CLIP are the documented formulas applied to the embeddings the
    /// embedder gives (recomputed by hand from `embed_frames` / `embed_texts`).
    #[test]
    fn tiny_clip_scores_follow_the_formulas() {
        use crate::clipsim::tests::{close, embedder_scores_by_hand};
        let e = ClipEmbedder::<Cpu>::tiny_random(&Default::default()).unwrap();
        let frames: Vec<Vec<u8>> = (0..4u8)
            .map(|t| {
                (0..40 * 48 * 3)
                    .map(|i| (i as u8).wrapping_mul(7) ^ (t * 60))
                    .collect()
            })
            .collect();
        let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
        let texts = RetrievalTexts::new(&e).unwrap();
        let s = score_video(&e, &refs, 40, 48, "a red flower blooming", &texts).unwrap();
        let (clipsim, mt) = embedder_scores_by_hand(&e, &refs, 40, 48, "a red flower blooming");
        close(s.clipsim, clipsim, "CLIPSIM");
        close(s.metamorphic, mt, "metamorphic score");
        assert_eq!((e.logit_scale(), e.temporal_weight()), (100.0, 0.0));
        let px = refs[0]
            .iter()
            .zip(refs[3])
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / (refs[0].len() as f64 * 255.0);
        close(s.pixel_amplitude, px, "pixel amplitude");
        // same frames twice → same embeddings
        let again = e.embed_frames(&refs[..1], 40, 48).unwrap();
        assert_eq!(again[0], e.embed_frames(&refs[..1], 40, 48).unwrap()[0]);
    }

    #[test]
    fn missing_folder_names_the_path() {
        let err = ClipEmbedder::<Cpu>::load(Path::new("/nonexistent/clip"), &Default::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("/nonexistent/clip") && err.contains("--clip"),
            "{err}"
        );
        // a folder with a config but no weights: missing weights, not a numerical failure
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        let err = ClipEmbedder::<Cpu>::load(dir.path(), &Default::default())
            .err()
            .unwrap();
        assert!(matches!(err, MetricsError::MissingWeights { .. }), "{err}");
    }
}
