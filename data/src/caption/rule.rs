//! The offline rule-based fuser: cleans the title (drops "4K", hashtags, brackets, "time-lapse"
//! and channel noise), adds the keyframe story (first → last) and a few tags, ≤ 70 words.

use super::{
    check_caption, truncate_words, Caption, CaptionInput, Captioner, Provenance, MAX_WORDS,
};
use crate::error::{DataError, Result};

/// Deterministic caption fusion without a language model.
#[derive(Debug, Clone)]
pub struct RuleFuser {
    pub max_words: usize,
    pub max_tags: usize,
}

impl Default for RuleFuser {
    fn default() -> Self {
        Self {
            max_words: MAX_WORDS,
            max_tags: 3,
        }
    }
}

const NOISE: &[&str] = &[
    "time-lapse",
    "timelapse",
    "time lapse",
    "hyperlapse",
    "4k",
    "8k",
    "hd",
    "uhd",
    "1080p",
    "60fps",
    "official",
    "video",
    "amazing",
    "incredible",
    "beautiful",
    "stunning",
];

/// Title → lower-case subject phrase ("Amazing 4K Time-lapse: Rose Blooming!! #flowers" →
/// "rose blooming").
pub fn clean_title(title: &str) -> String {
    let mut s = String::new();
    let mut depth = 0i32;
    for c in title.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ if depth > 0 => {}
            c if c.is_alphanumeric() || c == '\'' || c == '-' => s.push(c),
            '#' => s.push('#'),
            _ => s.push(' '),
        }
    }
    let mut text = format!(" {} ", s.to_lowercase());
    for n in NOISE {
        text = text.replace(&format!(" {n} "), " ");
    }
    text.split_whitespace()
        .filter(|w| !w.starts_with('#') && *w != "-" && !w.chars().all(|c| c.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn first_sentence(s: &str) -> String {
    let s = s.trim();
    let end = s.find(['.', '!', '?', '\n']).unwrap_or(s.len());
    s[..end].trim().trim_end_matches(',').to_string()
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

impl Captioner for RuleFuser {
    fn name(&self) -> String {
        "rule".into()
    }

    fn caption(&self, input: &CaptionInput) -> Result<Caption> {
        let mut inputs = Vec::new();
        let mut subject = clean_title(&input.title);
        if !subject.is_empty() {
            inputs.push("title".to_string());
        } else {
            subject = lower_first(&first_sentence(&input.description));
            if !subject.is_empty() {
                inputs.push("description".to_string());
            }
        }
        let frames: Vec<&String> = input
            .keyframe_captions
            .iter()
            .filter(|c| !c.trim().is_empty())
            .collect();
        if subject.is_empty() {
            if let Some(f) = frames.first() {
                subject = lower_first(&first_sentence(f));
            }
        }
        if subject.is_empty() {
            return Err(DataError::Captioner(
                "nothing to caption: no title, description or keyframe captions".into(),
            ));
        }
        let mut text = format!("Time-lapse of {subject}.");
        if frames.len() >= 2 {
            inputs.push("keyframes".into());
            let (a, b) = (
                first_sentence(frames[0]),
                first_sentence(frames[frames.len() - 1]),
            );
            text.push_str(&format!(
                " It begins with {} and ends with {}.",
                lower_first(&a),
                lower_first(&b)
            ));
        }
        let tags: Vec<String> = input
            .tags
            .iter()
            .map(|t| clean_title(t))
            .filter(|t| !t.is_empty() && !subject.contains(t.as_str()))
            .take(self.max_tags)
            .collect();
        if !tags.is_empty() {
            inputs.push("tags".into());
            text.push_str(&format!(" Featuring {}.", tags.join(", ")));
        }
        if !input.description.trim().is_empty() && !inputs.iter().any(|i| i == "description") {
            let d = first_sentence(&input.description);
            if !d.is_empty() && d.split_whitespace().count() <= 25 {
                inputs.push("description".into());
                text.push_str(&format!(" {d}."));
            }
        }
        let text = truncate_words(&text, self.max_words);
        check_caption(&text)?;
        Ok(Caption {
            text,
            provenance: Provenance {
                method: "rule".into(),
                model: None,
                inputs,
                draft: true,
            },
            frame_captions: Vec::new(),
        })
    }
}
