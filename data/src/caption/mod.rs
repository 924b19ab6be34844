//! Multi-view text fusion (MagicTime §3.1.3): a caption from title, tags, description and
//! keyframe captions. The fuser is pluggable ([`Captioner`]): [`RuleFuser`] (offline, default)
//! and [`OpenAiCaptioner`] (any OpenAI-compatible chat endpoint, following the official prompts'
//! structure: per-frame reasoning and captions, then a ≤ 70-word summary). Outputs mentioning
//! "Frame N" are rejected, as upstream does. Captions carry their [`Provenance`].

mod openai;
mod rule;

pub use openai::{OpenAiCaptioner, OpenAiConfig};
pub use rule::RuleFuser;

use image::RgbImage;

use crate::error::{DataError, Result};
pub use crate::manifest::Provenance;

/// Upstream's summary limit.
pub const MAX_WORDS: usize = 70;

/// The views of one video that a caption is fused from.
#[derive(Debug, Clone, Default)]
pub struct CaptionInput {
    pub title: String,
    pub tags: Vec<String>,
    pub description: String,
    /// Captions of the keyframes when a vision model already produced them.
    pub keyframe_captions: Vec<String>,
    /// The keyframes themselves (sent to a vision-capable endpoint).
    pub keyframes: Vec<RgbImage>,
}

/// A caption and where it came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Caption {
    pub text: String,
    pub provenance: Provenance,
    /// Per-keyframe captions when the captioner produced them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frame_captions: Vec<String>,
}

/// Anything that turns the views of a video into one caption.
pub trait Captioner: Send + Sync {
    fn name(&self) -> String;
    fn caption(&self, input: &CaptionInput) -> Result<Caption>;
}

/// Reject captions upstream would reject: mentions of "Frame N", empty, or over `MAX_WORDS`.
pub fn check_caption(text: &str) -> Result<()> {
    let words: Vec<String> = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | ';' | ':' | '(' | ')' | '#'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        return Err(DataError::Captioner("empty caption".into()));
    }
    if let Some(i) = words.windows(2).position(|w| {
        (w[0] == "frame" || w[0] == "frames")
            && w[1].chars().next().is_some_and(|c| c.is_ascii_digit())
    }) {
        return Err(DataError::Captioner(format!(
            "caption mentions \"{} {}\" (frame numbers are rejected): {text:?}",
            words[i],
            words[i + 1]
        )));
    }
    let n = text.split_whitespace().count();
    if n > MAX_WORDS {
        return Err(DataError::Captioner(format!(
            "caption has {n} words (> {MAX_WORDS})"
        )));
    }
    Ok(())
}

/// Cut `text` to at most `max` words, ending with a full stop.
pub fn truncate_words(text: &str, max: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= max {
        return text.trim().to_string();
    }
    let mut s = words[..max].join(" ");
    s = s.trim_end_matches([',', ';', ':', '-']).to_string();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}
