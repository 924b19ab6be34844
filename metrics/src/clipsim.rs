//! CLIPSIM and the metamorphic score, over any image–text embedder.
//!
//! The embedder is a trait ([`VideoTextEmbedder`]) so the formulas do not depend on which CLIP is
//! loaded (the default model's tiny CLIP, OpenAI CLIP weights when supplied, …); the report names
//! the model via [`VideoTextEmbedder::name`]. Formulas, with `ê = e / |e|`:
//!
//! - **CLIPSIM** (Wu et al., GODIVA): for a video with frames `f₁…f_F` and prompt `p`,
//!   `CLIPSIM = (1/F) Σ_f cos(E_img(f), E_txt(p))`, averaged over videos; reported ×1 and ×100.
//! - **Metamorphic score** (after ChronoMagic-Bench's MTScore, which uses InternVideo2 retrieval
//!   against 5 time-lapse and 5 ordinary-video texts): video embedding `v = normalise(Σ_f ê_f)`,
//!   logits `s·cos(v, t)` over the 10 texts of [`METAMORPHIC_TEXTS`] and [`GENERAL_TEXTS`] with
//!   the embedder's logit scale `s` (CLIP: 100), `MT = Σ_{t ∈ metamorphic} softmax(logits)_t`
//!   ∈ [0, 1], averaged over videos.
//! - **Amplitude** (how much the content changes, no text involved): embedding amplitude
//!   `1 − cos(E_img(f₁), E_img(f_F))`, and the model-free pixel amplitude
//!   `mean |f_F − f₁| / 255` over all pixels and channels.

use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, Result};

pub use magictime_model::clip::in_domain::{GENERAL_TEXTS, METAMORPHIC_TEXTS};

/// An image–text embedder (CLIP or similar) in a shared embedding space.
pub trait VideoTextEmbedder {
    /// Model name for the report (e.g. `"openai/clip-vit-large-patch14"`).
    fn name(&self) -> String;
    /// Embeds RGB u8 frames (`h × w × 3` each) → one vector per frame.
    fn embed_frames(&self, frames: &[&[u8]], h: usize, w: usize) -> Result<Vec<Vec<f32>>>;
    /// Embeds texts → one vector per text.
    fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
    /// Softmax temperature of the retrieval logits (CLIP's learned `logit_scale.exp()` ≈ 100).
    fn logit_scale(&self) -> f32 {
        100.0
    }
    /// Ramp weight γ of the video embedding ([`video_embedding`]); 0 (a plain mean) unless the
    /// model was trained with one (the in-domain CLIP).
    fn temporal_weight(&self) -> f64 {
        0.0
    }
}

/// The video embedding from normalised frame embeddings `ê_f` (in frame order):
/// `normalise(Σ_f (1 + γ·τ_f)/F · ê_f)`, `τ_f` evenly from −1 (first) to 1 (last); γ = 0 is the
/// plain mean. See `magictime_model::clip::in_domain`.
pub fn video_embedding(frames: &[Vec<f64>], gamma: f64) -> Vec<f64> {
    let w = magictime_model::clip::in_domain::temporal_weights(frames.len(), gamma);
    let dim = frames.first().map_or(0, Vec::len);
    let mut v = vec![0.0f64; dim];
    for (e, w) in frames.iter().zip(&w) {
        for (p, x) in v.iter_mut().zip(e) {
            *p += w * x;
        }
    }
    normalise64(&v)
}

/// `v / |v|` (|v| floored at 1e-12).
pub fn normalise64(v: &[f64]) -> Vec<f64> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    v.iter().map(|x| x / n).collect()
}

/// Per-video scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoTextScores {
    /// Prompt of the video.
    pub prompt: String,
    /// CLIPSIM ×1.
    pub clipsim: f64,
    /// Metamorphic retrieval mass, in [0, 1].
    pub metamorphic: f64,
    /// `1 − cos(first, last)` frame embeddings.
    pub embedding_amplitude: f64,
    /// Mean |last − first| pixel difference / 255.
    pub pixel_amplitude: f64,
}

/// Aggregates over a set of videos.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoTextSummary {
    /// Embedder name.
    pub model: String,
    /// Number of videos.
    pub n: usize,
    /// Mean CLIPSIM ×1.
    pub clipsim: f64,
    /// Mean CLIPSIM ×100.
    pub clipsim_x100: f64,
    /// Mean metamorphic score.
    pub metamorphic: f64,
    /// Mean embedding amplitude.
    pub embedding_amplitude: f64,
    /// Mean pixel amplitude.
    pub pixel_amplitude: f64,
    /// Per-video values, in input order.
    pub videos: Vec<VideoTextScores>,
}

pub fn normalise(v: &[f32]) -> Vec<f64> {
    let n = v
        .iter()
        .map(|x| (*x as f64).powi(2))
        .sum::<f64>()
        .sqrt()
        .max(1e-12);
    v.iter().map(|x| *x as f64 / n).collect()
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Scores of one video (frames `h × w × 3` u8) against its prompt, with the retrieval texts
/// already embedded (`meta_texts`, `general_texts`, normalised).
pub fn score_video(
    embedder: &dyn VideoTextEmbedder,
    frames: &[&[u8]],
    h: usize,
    w: usize,
    prompt: &str,
    retrieval: &RetrievalTexts,
) -> Result<VideoTextScores> {
    if frames.is_empty() {
        return Err(MetricsError::TooFewSamples {
            what: "CLIPSIM",
            needed: 1,
            got: 0,
        });
    }
    let emb: Vec<Vec<f64>> = embedder
        .embed_frames(frames, h, w)?
        .iter()
        .map(|e| normalise(e))
        .collect();
    score_embedded(embedder, &emb, frames, prompt, retrieval)
}

/// [`score_video`] with the normalised frame embeddings `emb` already computed.
pub fn score_embedded(
    embedder: &dyn VideoTextEmbedder,
    emb: &[Vec<f64>],
    frames: &[&[u8]],
    prompt: &str,
    retrieval: &RetrievalTexts,
) -> Result<VideoTextScores> {
    if emb.is_empty() || emb.len() != frames.len() {
        return Err(MetricsError::TooFewSamples {
            what: "CLIPSIM",
            needed: frames.len().max(1),
            got: emb.len(),
        });
    }
    let text = normalise(&embedder.embed_texts(&[prompt])?[0]);
    if emb.iter().any(|e| e.len() != text.len()) {
        return Err(MetricsError::Shape {
            what: format!("{} embeddings", embedder.name()),
            expected: format!("image and text dims equal ({})", text.len()),
            got: format!("image dim {}", emb[0].len()),
        });
    }
    // 1. CLIPSIM: mean over frames of the cosine
    let clipsim = emb.iter().map(|e| dot(e, &text)).sum::<f64>() / emb.len() as f64;
    // 2. metamorphic retrieval mass with the pooled video embedding
    let pooled = video_embedding(emb, embedder.temporal_weight());
    let s = embedder.logit_scale() as f64;
    let logits: Vec<f64> = retrieval
        .metamorphic
        .iter()
        .chain(&retrieval.general)
        .map(|t| s * dot(&pooled, t))
        .collect();
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let metamorphic =
        exp[..retrieval.metamorphic.len()].iter().sum::<f64>() / exp.iter().sum::<f64>();
    // 3. amplitudes
    let embedding_amplitude = 1.0 - dot(&emb[0], &emb[emb.len() - 1]);
    let (first, last) = (frames[0], frames[frames.len() - 1]);
    let pixel_amplitude = first
        .iter()
        .zip(last)
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .sum::<f64>()
        / (first.len().max(1) as f64 * 255.0);
    Ok(VideoTextScores {
        prompt: prompt.to_string(),
        clipsim,
        metamorphic,
        embedding_amplitude,
        pixel_amplitude,
    })
}

/// The retrieval texts, embedded once per embedder.
#[derive(Debug, Clone)]
pub struct RetrievalTexts {
    /// Normalised embeddings of [`METAMORPHIC_TEXTS`].
    pub metamorphic: Vec<Vec<f64>>,
    /// Normalised embeddings of [`GENERAL_TEXTS`].
    pub general: Vec<Vec<f64>>,
}

impl RetrievalTexts {
    /// Embeds the fixed text sets with `embedder`.
    pub fn new(embedder: &dyn VideoTextEmbedder) -> Result<Self> {
        let m = embedder.embed_texts(&METAMORPHIC_TEXTS)?;
        let g = embedder.embed_texts(&GENERAL_TEXTS)?;
        Ok(Self {
            metamorphic: m.iter().map(|e| normalise(e)).collect(),
            general: g.iter().map(|e| normalise(e)).collect(),
        })
    }
}

/// Averages per-video scores.
pub fn summarise(model: String, videos: Vec<VideoTextScores>) -> VideoTextSummary {
    let n = videos.len();
    let mean = |f: fn(&VideoTextScores) -> f64| videos.iter().map(f).sum::<f64>() / n.max(1) as f64;
    let clipsim = mean(|v| v.clipsim);
    VideoTextSummary {
        model,
        n,
        clipsim,
        clipsim_x100: 100.0 * clipsim,
        metamorphic: mean(|v| v.metamorphic),
        embedding_amplitude: mean(|v| v.embedding_amplitude),
        pixel_amplitude: mean(|v| v.pixel_amplitude),
        videos,
    }
}

/// The formulas written out from their definitions, the tests' oracle (shared with the
/// integration tests).
#[cfg(test)]
#[path = "../tests/common/formulas.rs"]
pub(crate) mod formulas;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    use super::formulas;

    /// [`formulas::scores_by_hand`] with the embeddings `e` gives for the frames, prompt and retrieval
    /// texts (its own logit scale and ramp weight).
    pub(crate) fn embedder_scores_by_hand(
        e: &dyn VideoTextEmbedder,
        frames: &[&[u8]],
        h: usize,
        w: usize,
        prompt: &str,
    ) -> (f64, f64) {
        formulas::scores_by_hand(
            &e.embed_frames(frames, h, w).unwrap(),
            &e.embed_texts(&[prompt]).unwrap()[0],
            &e.embed_texts(&METAMORPHIC_TEXTS).unwrap(),
            &e.embed_texts(&GENERAL_TEXTS).unwrap(),
            f64::from(e.logit_scale()),
            e.temporal_weight(),
        )
    }

    /// Asserts `got` is `want` to 1e-9 relative.
    pub(crate) fn close(got: f64, want: f64, what: &str) {
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1e-3),
            "{what}: {got}, by hand {want}"
        );
    }

    /// A deterministic toy embedder for checking the formulas by hand: images map to their mean
    /// RGB, texts to counts of the words "red", "green", "blue" (+ "time-lapse" adds red).
    struct ColourWords;

    impl VideoTextEmbedder for ColourWords {
        fn name(&self) -> String {
            "colour-words".into()
        }
        fn embed_frames(&self, frames: &[&[u8]], _h: usize, _w: usize) -> Result<Vec<Vec<f32>>> {
            Ok(frames
                .iter()
                .map(|f| {
                    let mut m = [0.0f32; 3];
                    for (i, v) in f.iter().enumerate() {
                        m[i % 3] += *v as f32;
                    }
                    m.iter().map(|v| v / (f.len() / 3) as f32 + 1.0).collect()
                })
                .collect())
        }
        fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            Ok(texts
                .iter()
                .map(|t| {
                    let c = |w: &str| t.matches(w).count() as f32;
                    vec![
                        c("red") + c("time-lapse") + 0.01,
                        c("green") + 0.01,
                        c("blue") + 0.01,
                    ]
                })
                .collect())
        }
        fn logit_scale(&self) -> f32 {
            10.0
        }
    }

    #[test]
    fn clipsim_and_amplitudes_by_hand() {
        let red = [255u8, 0, 0].repeat(4);
        let blue = [0u8, 0, 255].repeat(4);
        let e = ColourWords;
        let texts = RetrievalTexts::new(&e).unwrap();
        let s = score_video(&e, &[&red, &blue], 2, 2, "red", &texts).unwrap();
        // frame embeddings (256,1,1) and (1,1,256); text ≈ (1,0,0)
        let n = (256.0f64 * 256.0 + 2.0).sqrt();
        let t = [1.01f64, 0.01, 0.01];
        let tn = (t[0] * t[0] + t[1] * t[1] + t[2] * t[2]).sqrt();
        let cos1 = (256.0 * t[0] + t[1] + t[2]) / (n * tn);
        let cos2 = (t[0] + t[1] + 256.0 * t[2]) / (n * tn);
        assert!((s.clipsim - (cos1 + cos2) / 2.0).abs() < 1e-9);
        assert!((s.embedding_amplitude - (1.0 - (2.0 * 256.0 + 1.0) / (n * n))).abs() < 1e-9);
        assert!((s.pixel_amplitude - 2.0 / 3.0).abs() < 1e-12);
        let (_, mt) = embedder_scores_by_hand(&e, &[&red, &blue], 2, 2, "red");
        close(s.metamorphic, mt, "metamorphic score");
        assert!(
            mt > 0.01 && mt < 0.99,
            "a test of the mix, not of a saturated softmax: {mt}"
        );
        // a red video is retrieved by the metamorphic texts ("time-lapse" maps to red) more
        // than a green one
        let green = [0u8, 255, 0].repeat(4);
        let r = score_video(&e, &[&red, &red], 2, 2, "red", &texts).unwrap();
        let g = score_video(&e, &[&green, &green], 2, 2, "red", &texts).unwrap();
        assert!(
            r.metamorphic > g.metamorphic,
            "{} vs {}",
            r.metamorphic,
            g.metamorphic
        );
        for (v, frame) in [(&r, &red), (&g, &green)] {
            let (cs, mt) = embedder_scores_by_hand(&e, &[frame, frame], 2, 2, "red");
            close(v.clipsim, cs, "CLIPSIM");
            close(v.metamorphic, mt, "metamorphic score");
        }
        let sum = summarise(e.name(), vec![r.clone(), g.clone()]);
        assert_eq!(sum.n, 2);
        close(sum.clipsim, (r.clipsim + g.clipsim) / 2.0, "mean CLIPSIM");
        close(sum.clipsim_x100, 100.0 * sum.clipsim, "CLIPSIM ×100");
        close(
            sum.metamorphic,
            (r.metamorphic + g.metamorphic) / 2.0,
            "mean metamorphic score",
        );
    }

    /// The video embedding of the metamorphic score weighs frame f by `(1 + γ·τ_f)/F`: with
    /// γ = 0.75 over three frames (weights 0.25/3, 1/3, 1.75/3) the score is the formula's, and
    /// differs from the plain mean's (γ = 0) and from the reversed video's.
    #[test]
    fn metamorphic_score_weighs_frames_by_the_ramp() {
        struct Ramp(f64);
        impl VideoTextEmbedder for Ramp {
            fn name(&self) -> String {
                format!("colour-words γ={}", self.0)
            }
            fn embed_frames(&self, f: &[&[u8]], h: usize, w: usize) -> Result<Vec<Vec<f32>>> {
                ColourWords.embed_frames(f, h, w)
            }
            fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
                ColourWords.embed_texts(texts)
            }
            fn logit_scale(&self) -> f32 {
                ColourWords.logit_scale()
            }
            fn temporal_weight(&self) -> f64 {
                self.0
            }
        }
        let red = [255u8, 0, 0].repeat(4);
        let green = [0u8, 255, 0].repeat(4);
        let blue = [0u8, 0, 255].repeat(4);
        let video: [&[u8]; 3] = [&green, &blue, &red];
        let reversed: [&[u8]; 3] = [&red, &blue, &green];
        let mut mts = Vec::new();
        for gamma in [0.0, 0.75] {
            let e = Ramp(gamma);
            let texts = RetrievalTexts::new(&e).unwrap();
            for v in [&video, &reversed] {
                let s = score_video(&e, v, 2, 2, "a red flower", &texts).unwrap();
                let (cs, mt) = embedder_scores_by_hand(&e, v, 2, 2, "a red flower");
                close(s.clipsim, cs, "CLIPSIM");
                close(
                    s.metamorphic,
                    mt,
                    &format!("metamorphic score, γ = {gamma}"),
                );
                mts.push(s.metamorphic);
            }
        }
        // γ = 0: order does not matter; γ > 0: the last frame (red, retrieved by "time-lapse")
        // counts most
        close(mts[0], mts[1], "plain mean of a reversed video");
        assert!(mts[2] > mts[0] && mts[0] > mts[3], "{mts:?}");
    }
}
