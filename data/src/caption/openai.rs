//! An OpenAI-compatible chat-completions captioner (`POST {base_url}/chat/completions`).
//! One request per video: title, tags, description and the keyframes (PNG data URLs) go in; the
//! model answers JSON with per-frame reasoning and captions and a ≤ 70-word summary — the
//! structure of the official two-step prompts. Summaries that mention "Frame N" or run long are
//! rejected and the request retried.

use std::io::Cursor;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use super::{check_caption, Caption, CaptionInput, Captioner, Provenance, MAX_WORDS};
use crate::error::{DataError, Result};

/// Endpoint settings (from config/CLI; the key usually from `OPENAI_API_KEY`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OpenAiConfig {
    /// e.g. `https://api.openai.com/v1` or `http://localhost:8000/v1`.
    pub base_url: String,
    pub model: String,
    #[serde(default, skip_serializing)]
    pub api_key: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_s: u64,
    /// Extra attempts when the summary is rejected.
    #[serde(default = "default_retries")]
    pub retries: usize,
    /// Send keyframes as images (needs a vision model).
    #[serde(default = "default_true")]
    pub send_images: bool,
}

fn default_timeout() -> u64 {
    120
}
fn default_retries() -> usize {
    2
}
fn default_true() -> bool {
    true
}

/// The HTTP captioner.
pub struct OpenAiCaptioner {
    cfg: OpenAiConfig,
    client: reqwest::blocking::Client,
}

const SYSTEM: &str = "You write captions for a dataset of time-lapse videos whose subjects change \
state (grow, melt, bloom, rise, form). You receive the video's title, tags and description and \
keyframes in temporal order. First, for each keyframe, reason briefly about what is visible and \
how it differs from the previous one, and write a one-sentence caption. Then write one summary \
caption of at most 70 words describing the whole transformation from start to end, naming the \
subject and the change. Never refer to frames by number in the summary. Reply with JSON only: \
{\"frames\": [{\"reasoning\": \"...\", \"caption\": \"...\"}], \"summary\": \"...\"}";

impl OpenAiCaptioner {
    pub fn new(cfg: OpenAiConfig) -> Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_s))
            .build()
            .map_err(|e| DataError::Captioner(format!("http client: {e}")))?;
        Ok(Self { cfg, client })
    }

    fn png_data_url(img: &image::RgbImage) -> Result<String> {
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, image::ImageFormat::Png)
            .map_err(|e| DataError::Captioner(format!("png encode: {e}")))?;
        Ok(format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(buf.into_inner())
        ))
    }

    /// The request body for `input` (public so callers can log or inspect it).
    pub fn request_body(&self, input: &CaptionInput) -> Result<Value> {
        let mut text = format!(
            "Title: {}\nTags: {}\nDescription: {}\n",
            input.title,
            input.tags.join(", "),
            input.description
        );
        if !input.keyframe_captions.is_empty() {
            text.push_str("Keyframe notes (in order):\n");
            for c in &input.keyframe_captions {
                text.push_str(&format!("- {c}\n"));
            }
        }
        let mut content = vec![json!({"type": "text", "text": text})];
        if self.cfg.send_images {
            for k in &input.keyframes {
                content.push(
                    json!({"type": "image_url", "image_url": {"url": Self::png_data_url(k)?}}),
                );
            }
        }
        Ok(json!({
            "model": self.cfg.model,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": content},
            ],
            "temperature": 0.2,
        }))
    }

    fn call(&self, body: &Value) -> Result<String> {
        let url = format!(
            "{}/chat/completions",
            self.cfg.base_url.trim_end_matches('/')
        );
        let mut req = self.client.post(&url).json(body);
        if let Some(k) = &self.cfg.api_key {
            req = req.bearer_auth(k);
        }
        let resp = req
            .send()
            .map_err(|e| DataError::Captioner(format!("{url}: {e}")))?;
        let status = resp.status();
        let v: Value = resp.json().map_err(|e| {
            DataError::Captioner(format!("{url}: HTTP {status}, body is not JSON: {e}"))
        })?;
        if !status.is_success() {
            return Err(DataError::Captioner(format!(
                "{url}: HTTP {status}: {}",
                v["error"]["message"]
            )));
        }
        v["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                DataError::Captioner(format!("{url}: no choices[0].message.content in reply"))
            })
    }
}

/// Parse the model's reply: JSON (possibly in a ``` fence) with `summary` and `frames`.
pub(crate) fn parse_reply(content: &str) -> (String, Vec<String>) {
    let trimmed = content.trim();
    let inner = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|s| s.strip_suffix("```"))
        .unwrap_or(trimmed)
        .trim();
    let start = inner.find('{');
    let end = inner.rfind('}');
    if let (Some(s), Some(e)) = (start, end) {
        if let Ok(v) = serde_json::from_str::<Value>(&inner[s..=e]) {
            let summary = v["summary"].as_str().unwrap_or("").trim().to_string();
            let frames = v["frames"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f["caption"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            return (summary, frames);
        }
    }
    (inner.to_string(), Vec::new())
}

impl Captioner for OpenAiCaptioner {
    fn name(&self) -> String {
        format!("openai:{}", self.cfg.model)
    }

    fn caption(&self, input: &CaptionInput) -> Result<Caption> {
        let body = self.request_body(input)?;
        let mut last_err = None;
        for _ in 0..=self.cfg.retries {
            let content = self.call(&body)?;
            let (summary, frame_captions) = parse_reply(&content);
            match check_caption(&summary) {
                Ok(()) => {
                    let mut inputs = vec!["title".to_string(), "tags".into(), "description".into()];
                    if self.cfg.send_images && !input.keyframes.is_empty() {
                        inputs.push("keyframes".into());
                    }
                    return Ok(Caption {
                        text: summary,
                        provenance: Provenance {
                            method: "llm".into(),
                            model: Some(self.cfg.model.clone()),
                            inputs,
                            draft: true,
                        },
                        frame_captions,
                    });
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err
            .unwrap_or_else(|| DataError::Captioner(format!("no summary ≤ {MAX_WORDS} words"))))
    }
}
