//! CLIP as an embedder for CLIPSIM and cut detection: tokenizer + text tower + image processor +
//! vision tower with projections, after transformers' `CLIPModel.get_text_features` /
//! `get_image_features` (raw), and L2-normalised. The metrics crate's `ClipEmbedder` (CLIPSIM,
//! metamorphic score, probe, cut detection) wraps this one.

use burn::tensor::{backend::Backend, Tensor};

use super::{
    cosine_similarity, ClipImageProcessor, ClipTextModel, ClipTokenizer, ClipVisionModel,
    Truncation,
};
use crate::error::{ModelError, Result};

/// Both CLIP towers with their pre-processing.
pub struct ClipEmbedder<B: Backend> {
    pub tokenizer: ClipTokenizer,
    pub text: ClipTextModel<B>,
    pub vision: ClipVisionModel<B>,
    pub processor: ClipImageProcessor,
    pub device: B::Device,
}

fn l2_normalise<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let n = x
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12);
    x / n
}

impl<B: Backend> ClipEmbedder<B> {
    /// Checks that the towers fit together and the tokenizer fits the text tower.
    pub fn new(
        tokenizer: ClipTokenizer,
        text: ClipTextModel<B>,
        vision: ClipVisionModel<B>,
        device: B::Device,
    ) -> Result<Self> {
        let vocab = text.text_model.embeddings.token_embedding.weight.dims()[0];
        if vocab < tokenizer.vocab_size() {
            return Err(ModelError::Config(format!(
                "text tower has {vocab} token embeddings, the tokenizer needs {}",
                tokenizer.vocab_size()
            )));
        }
        let (tp, vp) = match (&text.text_projection, &vision.visual_projection) {
            (Some(t), Some(v)) => (t.weight.dims()[1], v.weight.dims()[1]),
            _ => {
                return Err(ModelError::Config(
                    "CLIPSIM needs text_projection and visual_projection".into(),
                ))
            }
        };
        if tp != vp {
            return Err(ModelError::Config(format!(
                "projection sizes differ: text {tp}, image {vp}"
            )));
        }
        let size = vision.vision_model.embeddings.image_size;
        Ok(Self {
            tokenizer,
            text,
            vision,
            processor: ClipImageProcessor::with_size(size),
            device,
        })
    }

    /// Text features [N, P] as `get_text_features` returns them, not normalised (prompts
    /// truncated to the context, as CLIPSIM does).
    pub fn text_features(&self, prompts: &[&str]) -> Result<Tensor<B, 2>> {
        let ids = self
            .tokenizer
            .encode_batch::<B>(prompts, Truncation::Truncate, &self.device)?;
        self.text.text_embeds(ids)
    }

    /// Image features [N, P] as `get_image_features` returns them, not normalised, from RGB8
    /// images `(pixels [h, w, 3], h, w)` through the image processor.
    pub fn image_features(&self, images: &[(&[u8], usize, usize)]) -> Result<Tensor<B, 2>> {
        let px = self.processor.preprocess_batch::<B>(images, &self.device)?;
        self.vision.image_embeds(px)
    }

    /// Normalised text features [N, P].
    pub fn embed_texts(&self, prompts: &[&str]) -> Result<Tensor<B, 2>> {
        Ok(l2_normalise(self.text_features(prompts)?))
    }

    /// Normalised image features [N, P].
    pub fn embed_images(&self, images: &[(&[u8], usize, usize)]) -> Result<Tensor<B, 2>> {
        Ok(l2_normalise(self.image_features(images)?))
    }

    /// CLIPSIM of each image with its text: max(100·cos, 0), one value per pair.
    pub fn clipsim(&self, images: &[(&[u8], usize, usize)], prompts: &[&str]) -> Result<Vec<f32>> {
        if images.len() != prompts.len() {
            return Err(ModelError::InvalidInput(format!(
                "{} images for {} prompts",
                images.len(),
                prompts.len()
            )));
        }
        let sim = cosine_similarity(self.embed_images(images)?, self.embed_texts(prompts)?);
        let all: Vec<f32> = sim
            .into_data()
            .convert::<f32>()
            .into_vec()
            .map_err(|e| ModelError::InvalidInput(format!("similarity readback: {e:?}")))?;
        let n = prompts.len();
        Ok((0..n).map(|i| (100.0 * all[i * n + i]).max(0.0)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use crate::clip::{ClipTextConfig, ClipVisionConfig};

    #[test]
    fn embeddings_are_normalised_and_clipsim_is_bounded() {
        let dev = Default::default();
        let text = ClipTextConfig::tiny()
            .with_vocab_size(49408)
            .with_eos_token_id(49407)
            .with_projection_dim(Some(24))
            .init::<Cpu>(&dev);
        let vision = ClipVisionConfig::tiny().init::<Cpu>(&dev);
        let e = ClipEmbedder::new(ClipTokenizer::new().unwrap(), text, vision, dev).unwrap();
        let t = e
            .embed_texts(&["a flower blooming", "ice melting"])
            .unwrap();
        let norms: Vec<f32> = t
            .powf_scalar(2.0)
            .sum_dim(1)
            .into_data()
            .into_vec()
            .unwrap();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-4), "{norms:?}");
        let img: Vec<u8> = (0..40 * 50 * 3).map(|i| (i * 7 % 256) as u8).collect();
        let s = e
            .clipsim(&[(&img, 40, 50), (&img, 40, 50)], &["a", "b"])
            .unwrap();
        assert!(s.iter().all(|&v| (0.0..=100.0).contains(&v)), "{s:?}");
        assert!(e.clipsim(&[(&img, 40, 50)], &["a", "b"]).is_err());
    }

    #[test]
    fn rejects_a_tokenizer_larger_than_the_vocabulary() {
        let dev = Default::default();
        let text = ClipTextConfig::tiny()
            .with_projection_dim(Some(24))
            .init::<Cpu>(&dev);
        let vision = ClipVisionConfig::tiny().init::<Cpu>(&dev);
        assert!(ClipEmbedder::new(ClipTokenizer::new().unwrap(), text, vision, dev).is_err());
    }
}
