//! CLIPSIM and the metamorphic score of a video recomputed in the test: the embedded in-domain
//! CLIP (what `magictime serve` scores with by default) gives the frame and text embeddings, and
//! the formulas written out in `metrics/tests/common/formulas.rs` (no code of the metrics crate
//! beyond the embedder and the decoder) turn them into the numbers the server should report.
#![allow(dead_code)] // each test file uses a subset

use std::path::Path;

use magictime_metrics::clip_embedder::ClipEmbedder;
use magictime_metrics::clipsim::{VideoTextEmbedder, GENERAL_TEXTS, METAMORPHIC_TEXTS};
use magictime_metrics::features::Cpu;

#[path = "../../../metrics/tests/common/formulas.rs"]
mod formulas;

pub struct Oracle {
    clip: ClipEmbedder<Cpu>,
    meta: Vec<Vec<f32>>,
    general: Vec<Vec<f32>>,
}

impl Oracle {
    /// The in-domain CLIP embedded in the binary.
    pub fn in_domain() -> Self {
        let clip = ClipEmbedder::<Cpu>::in_domain(&Default::default()).unwrap();
        Self {
            meta: clip.embed_texts(&METAMORPHIC_TEXTS).unwrap(),
            general: clip.embed_texts(&GENERAL_TEXTS).unwrap(),
            clip,
        }
    }

    /// `(CLIPSIM, metamorphic score)` of the video file (every frame) against `prompt`.
    pub fn scores(&self, video: &Path, prompt: &str) -> (f64, f64) {
        let c = magictime_metrics::eval::decode(video).unwrap();
        let frames: Vec<&[u8]> = (0..c.n).map(|t| c.frame(t)).collect();
        formulas::scores_by_hand(
            &self.clip.embed_frames(&frames, c.h, c.w).unwrap(),
            &self.clip.embed_texts(&[prompt]).unwrap()[0],
            &self.meta,
            &self.general,
            f64::from(self.clip.logit_scale()),
            self.clip.temporal_weight(),
        )
    }
}

/// Asserts `got` (a reported number) is `want` (recomputed) to 1e-9 relative.
pub fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1e-3),
        "{what}: reported {got}, recomputed {want}"
    );
}
