//! Manifests: the ChronoMagic CSV (`videoid,name,is_transmit`, as read by MagicTime's
//! `utils/dataset.py`) and a richer JSONL with one [`ClipRecord`] per clip.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::{DataError, Result};

/// One row of the ChronoMagic CSV. `name` is the caption; `is_transmit` = 1 marks clips whose
/// training frames come from a random window, 0 those sampled uniformly over the whole clip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChronoRow {
    pub videoid: String,
    pub name: String,
    pub is_transmit: u8,
}

/// Where a caption came from, so the annotation UI can show it as a draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Provenance {
    /// `synth`, `rule`, `llm`, `human`.
    pub method: String,
    /// Model name for `llm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Which views were fused: `title`, `tags`, `description`, `keyframes`, `synth-params`.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// True until a person has reviewed it.
    #[serde(default)]
    pub draft: bool,
}

/// One clip in the rich JSONL manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ClipRecord {
    pub videoid: String,
    /// The clip file, relative to the manifest's folder.
    pub file: String,
    /// Source video the clip was cut from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// [start, end) frame span in the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<(usize, usize)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
    pub fps: f64,
    pub frames: usize,
    pub width: u32,
    pub height: u32,
    pub caption: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    pub is_transmit: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Free-form extras (synth parameters, cut scores, ...).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub extra: serde_json::Value,
}

impl ClipRecord {
    pub fn chrono_row(&self) -> ChronoRow {
        ChronoRow {
            videoid: self.videoid.clone(),
            name: self.caption.clone(),
            is_transmit: self.is_transmit,
        }
    }
}

fn bad(path: &Path, reason: impl std::fmt::Display) -> DataError {
    DataError::Manifest {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Write the ChronoMagic CSV (header `videoid,name,is_transmit`, captions quoted as needed).
pub fn write_chronomagic_csv(path: impl AsRef<Path>, rows: &[ChronoRow]) -> Result<()> {
    let path = path.as_ref();
    let mut w = csv::Writer::from_path(path).map_err(|e| bad(path, e))?;
    for r in rows {
        w.serialize(r).map_err(|e| bad(path, e))?;
    }
    w.flush().map_err(|e| DataError::io(path, e))
}

/// Read a ChronoMagic CSV; errors name the file and the line.
pub fn read_chronomagic_csv(path: impl AsRef<Path>) -> Result<Vec<ChronoRow>> {
    let path = path.as_ref();
    let mut r = csv::Reader::from_path(path).map_err(|e| bad(path, e))?;
    let headers = r.headers().map_err(|e| bad(path, e))?.clone();
    for need in ["videoid", "name", "is_transmit"] {
        if !headers.iter().any(|h| h == need) {
            return Err(bad(
                path,
                format!("missing column {need:?} (have {headers:?})"),
            ));
        }
    }
    let mut out = Vec::new();
    for (i, row) in r.deserialize::<ChronoRow>().enumerate() {
        let row = row.map_err(|e| bad(path, format!("row {}: {e}", i + 2)))?;
        if row.is_transmit > 1 {
            return Err(bad(
                path,
                format!("row {}: is_transmit must be 0 or 1", i + 2),
            ));
        }
        out.push(row);
    }
    Ok(out)
}

/// Write any serialisable items as JSON Lines.
pub fn write_jsonl<T: Serialize>(path: impl AsRef<Path>, items: &[T]) -> Result<()> {
    let path = path.as_ref();
    let f = std::fs::File::create(path).map_err(|e| DataError::io(path, e))?;
    let mut w = BufWriter::new(f);
    for it in items {
        serde_json::to_writer(&mut w, it).map_err(|e| bad(path, e))?;
        w.write_all(b"\n").map_err(|e| DataError::io(path, e))?;
    }
    w.flush().map_err(|e| DataError::io(path, e))
}

/// Read JSON Lines (blank lines skipped); errors name the file and the line.
pub fn read_jsonl<T: DeserializeOwned>(path: impl AsRef<Path>) -> Result<Vec<T>> {
    let path = path.as_ref();
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| DataError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line).map_err(|e| bad(path, format!("line {}: {e}", i + 1)))?,
        );
    }
    Ok(out)
}

/// Write both manifests for `records` into `dir` as `<stem>.csv` and `<stem>.jsonl`.
pub fn write_manifests(dir: impl AsRef<Path>, stem: &str, records: &[ClipRecord]) -> Result<()> {
    let dir = dir.as_ref();
    let rows: Vec<ChronoRow> = records.iter().map(ClipRecord::chrono_row).collect();
    write_chronomagic_csv(dir.join(format!("{stem}.csv")), &rows)?;
    write_jsonl(dir.join(format!("{stem}.jsonl")), records)
}
