//! Metadata filter (MagicTime §3.1.1): keep time-lapse videos whose metadata looks right.
//!
//! Rules come from TOML (every key optional; missing keys take the defaults below, which follow
//! the paper's description: drop short titles, low view counts, missing tags, require a
//! time-lapse keyword, exclude off-topic keywords). Rules run in order; each dropped item is
//! attributed to the first rule it fails, and the report also counts every rule's failures
//! independently.
//!
//! ```toml
//! min_title_words = 3
//! min_views = 1000
//! require_tags = true
//! require_video_file = true
//! include_keywords = ["time-lapse", "timelapse", "time lapse"]
//! exclude_keywords = ["tutorial", "review", "unboxing", "gameplay"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// Filter rules (TOML). Keyword matching is case-insensitive over title, tags and description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterRules {
    pub min_title_words: usize,
    pub min_views: u64,
    pub require_tags: bool,
    /// Drop metadata rows whose video file is not in the folder (`<id>.<ext>`).
    pub require_video_file: bool,
    /// At least one must occur (empty list = no requirement).
    pub include_keywords: Vec<String>,
    /// None may occur.
    pub exclude_keywords: Vec<String>,
}

impl Default for FilterRules {
    fn default() -> Self {
        Self {
            min_title_words: 3,
            min_views: 1000,
            require_tags: true,
            require_video_file: true,
            include_keywords: [
                "time-lapse",
                "timelapse",
                "time lapse",
                "time-lapsed",
                "hyperlapse",
            ]
            .map(String::from)
            .to_vec(),
            exclude_keywords: [
                "tutorial",
                "how to",
                "review",
                "unboxing",
                "gameplay",
                "reaction",
                "podcast",
                "lyrics",
                "trailer",
                "compilation",
                "slideshow",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl FilterRules {
    /// Parse TOML text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| DataError::Config {
            path: origin.to_path_buf(),
            reason: e.to_string(),
        })
    }

    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        Self::from_toml(&text, path)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("rules serialise")
    }
}

/// One video's metadata (JSONL objects or CSV rows). `tags` may be a list or a string separated
/// by `,` or `|`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct VideoMeta {
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, deserialize_with = "de_tags")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "de_views")]
    pub views: Option<u64>,
    #[serde(default)]
    pub url: String,
}

fn split_tags(s: &str) -> Vec<String> {
    s.split([',', '|'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

fn de_tags<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum T {
        List(Vec<String>),
        Str(String),
        None(Option<()>),
    }
    Ok(match T::deserialize(d)? {
        T::List(v) => v.into_iter().filter(|t| !t.trim().is_empty()).collect(),
        T::Str(s) => split_tags(&s),
        T::None(_) => Vec::new(),
    })
}

fn de_views<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum V {
        N(u64),
        F(f64),
        S(String),
        None(Option<()>),
    }
    Ok(match V::deserialize(d)? {
        V::N(n) => Some(n),
        V::F(f) if f >= 0.0 => Some(f as u64),
        V::S(s) => s.trim().replace([',', '_'], "").parse().ok(),
        _ => None,
    })
}

/// Read metadata from `.jsonl` / `.json` (array) / `.csv`.
pub fn read_metadata(path: impl AsRef<Path>) -> Result<Vec<VideoMeta>> {
    let path = path.as_ref();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let bad = |r: String| DataError::Manifest {
        path: path.to_path_buf(),
        reason: r,
    };
    let items: Vec<VideoMeta> = match ext.as_str() {
        "jsonl" | "ndjson" => crate::manifest::read_jsonl(path)?,
        "json" => {
            let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?
        }
        "csv" => {
            let mut r = csv::Reader::from_path(path).map_err(|e| bad(e.to_string()))?;
            let mut v = Vec::new();
            for (i, row) in r.deserialize::<VideoMeta>().enumerate() {
                v.push(row.map_err(|e| bad(format!("row {}: {e}", i + 2)))?);
            }
            v
        }
        _ => {
            return Err(bad(format!(
                "unknown metadata format {ext:?} (jsonl, json, csv)"
            )))
        }
    };
    if let Some((i, _)) = items
        .iter()
        .enumerate()
        .find(|(_, m)| m.id.trim().is_empty())
    {
        return Err(bad(format!("item {} has an empty id", i + 1)));
    }
    Ok(items)
}

/// The rule names, in the order they run.
pub const RULES: [&str; 6] = [
    "missing_video",
    "short_title",
    "low_views",
    "missing_tags",
    "no_keyword",
    "excluded_keyword",
];

/// Per-item outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub id: String,
    pub kept: bool,
    /// Every rule the item fails, in rule order (the first one is the reason it was dropped).
    pub failed: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<PathBuf>,
}

/// What the filter did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterReport {
    pub total: usize,
    pub kept: usize,
    /// Items dropped by each rule (first failing rule only; sums to total − kept).
    pub dropped_by: BTreeMap<String, usize>,
    /// Items failing each rule, counted independently.
    pub failing: BTreeMap<String, usize>,
    pub verdicts: Vec<Verdict>,
}

/// Find `<id>.<video ext>` in `dir`.
pub fn find_video(dir: &Path, id: &str) -> Option<PathBuf> {
    ["mp4", "mkv", "webm", "mov", "avi", "m4v", "flv"]
        .iter()
        .map(|e| dir.join(format!("{id}.{e}")))
        .find(|p| p.is_file())
}

/// Apply `rules` to `items`; `video_dir` is where `<id>.<ext>` files live (None skips that rule).
pub fn apply(rules: &FilterRules, items: &[VideoMeta], video_dir: Option<&Path>) -> FilterReport {
    let lower = |v: &[String]| v.iter().map(|s| s.to_lowercase()).collect::<Vec<_>>();
    let (inc, exc) = (
        lower(&rules.include_keywords),
        lower(&rules.exclude_keywords),
    );
    let mut dropped_by: BTreeMap<String, usize> =
        RULES.iter().map(|r| (r.to_string(), 0)).collect();
    let mut failing = dropped_by.clone();
    let mut verdicts = Vec::with_capacity(items.len());
    for m in items {
        let text = format!("{} {} {}", m.title, m.tags.join(" "), m.description).to_lowercase();
        let video = video_dir.and_then(|d| find_video(d, &m.id));
        let checks = [
            rules.require_video_file && video_dir.is_some() && video.is_none(),
            m.title.split_whitespace().count() < rules.min_title_words,
            m.views.unwrap_or(0) < rules.min_views,
            rules.require_tags && m.tags.is_empty(),
            !inc.is_empty() && !inc.iter().any(|k| text.contains(k.as_str())),
            exc.iter().any(|k| text.contains(k.as_str())),
        ];
        let failed: Vec<String> = RULES
            .iter()
            .zip(checks)
            .filter(|(_, f)| *f)
            .map(|(r, _)| r.to_string())
            .collect();
        for r in &failed {
            *failing.get_mut(r).expect("known rule") += 1;
        }
        if let Some(first) = failed.first() {
            *dropped_by.get_mut(first).expect("known rule") += 1;
        }
        verdicts.push(Verdict {
            id: m.id.clone(),
            kept: failed.is_empty(),
            failed,
            video,
        });
    }
    FilterReport {
        total: items.len(),
        kept: verdicts.iter().filter(|v| v.kept).count(),
        dropped_by,
        failing,
        verdicts,
    }
}
