//! Reading the data pipeline's manifests: the ChronoMagic CSV (`videoid,name,is_transmit`, as
//! MagicTime's `utils/dataset.py` reads it; clips are `<videoid>.mp4` next to it) and the rich
//! JSONL (one `ClipRecord` per line, `data/src/manifest.rs`, with the caption's provenance).
//! Parsed here with plain serde mirrors: the UI crate does not depend on engine crates.
use serde::{Deserialize, Serialize};

use super::{AnnotError, Result};
use crate::api::annotate::Provenance;

/// One clip of a manifest, ready to become an annotation item.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    pub videoid: String,
    pub file: String,
    pub is_transmit: i64,
    pub title: String,
    pub tags: Vec<String>,
    pub description: String,
    pub draft: String,
    pub provenance: Provenance,
    /// fps, frames, width, height, source, span, category, kind, extra (kept for the export).
    pub meta: serde_json::Value,
}

/// Mirror of the data crate's `ClipRecord` (unknown fields ignored, the source metadata read
/// from top-level `title`/`tags`/`description` or from `extra`).
#[derive(Debug, Deserialize, Serialize)]
struct ClipRecord {
    videoid: String,
    file: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    span: Option<(usize, usize)>,
    #[serde(default)]
    start_time: Option<f64>,
    #[serde(default)]
    fps: f64,
    #[serde(default)]
    frames: usize,
    #[serde(default)]
    width: u32,
    #[serde(default)]
    height: u32,
    caption: String,
    #[serde(default)]
    provenance: Option<Provenance>,
    #[serde(default)]
    is_transmit: u8,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    extra: serde_json::Value,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    description: Option<String>,
}

fn bad(file: &str, line: usize, msg: impl std::fmt::Display) -> AnnotError {
    AnnotError::BadInput(format!("{file}: line {line}: {msg}"))
}

/// Parses a manifest by its extension (`.csv` or `.jsonl`); errors name the file and line.
pub fn parse_manifest(name: &str, text: &str) -> Result<Vec<ImportRow>> {
    let rows = if name.ends_with(".csv") {
        parse_csv_manifest(name, text)?
    } else if name.ends_with(".jsonl") {
        parse_jsonl(name, text)?
    } else {
        return Err(AnnotError::BadInput(format!(
            "{name}: a manifest must be a ChronoMagic .csv or a .jsonl"
        )));
    };
    let mut seen = std::collections::HashSet::new();
    for (i, r) in rows.iter().enumerate() {
        if !seen.insert(r.videoid.as_str()) {
            return Err(AnnotError::BadInput(format!(
                "{name}: clip {} (item {}) has a duplicate videoid {:?}",
                i + 1,
                i + 1,
                r.videoid
            )));
        }
    }
    if rows.is_empty() {
        return Err(AnnotError::BadInput(format!("{name}: no clips")));
    }
    Ok(rows)
}

fn check_file(name: &str, line: usize, file: &str) -> Result<()> {
    let p = std::path::Path::new(file);
    if file.is_empty()
        || p.is_absolute()
        || p.components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(bad(
            name,
            line,
            format!("clip path {file:?} must be relative, inside the manifest's folder"),
        ));
    }
    Ok(())
}

fn parse_jsonl(name: &str, text: &str) -> Result<Vec<ImportRow>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: ClipRecord = serde_json::from_str(line).map_err(|e| bad(name, i + 1, e))?;
        if r.videoid.trim().is_empty() {
            return Err(bad(name, i + 1, "empty videoid"));
        }
        if r.is_transmit > 1 {
            return Err(bad(name, i + 1, "is_transmit must be 0 or 1"));
        }
        check_file(name, i + 1, &r.file)?;
        let extra_str = |k: &str| r.extra.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let title = r
            .title
            .clone()
            .or_else(|| extra_str("title"))
            .unwrap_or_default();
        let description = r
            .description
            .clone()
            .or_else(|| extra_str("description"))
            .unwrap_or_default();
        let tags = r
            .tags
            .clone()
            .or_else(|| {
                r.extra.get("tags").and_then(|v| {
                    v.as_array().map(|a| {
                        a.iter()
                            .filter_map(|t| t.as_str().map(str::to_owned))
                            .collect()
                    })
                })
            })
            .unwrap_or_default();
        let meta = serde_json::json!({
            "fps": r.fps, "frames": r.frames, "width": r.width, "height": r.height,
            "source": r.source, "span": r.span, "start_time": r.start_time,
            "category": r.category, "kind": r.kind, "extra": r.extra,
        });
        out.push(ImportRow {
            videoid: r.videoid,
            file: r.file,
            is_transmit: i64::from(r.is_transmit),
            title,
            tags,
            description,
            draft: r.caption,
            provenance: r.provenance.unwrap_or_default(),
            meta,
        });
    }
    Ok(out)
}

fn parse_csv_manifest(name: &str, text: &str) -> Result<Vec<ImportRow>> {
    let records = parse_csv(text).map_err(|(line, msg)| bad(name, line, msg))?;
    let mut it = records.into_iter();
    let Some((_, header)) = it.next() else {
        return Err(AnnotError::BadInput(format!("{name}: empty file")));
    };
    let col = |c: &str| {
        header.iter().position(|h| h.trim() == c).ok_or_else(|| {
            AnnotError::BadInput(format!("{name}: missing column {c:?} (have {header:?})"))
        })
    };
    let (vi, ni, ti) = (col("videoid")?, col("name")?, col("is_transmit")?);
    let mut out = Vec::new();
    for (line, rec) in it {
        if rec.len() == 1 && rec[0].is_empty() {
            continue;
        }
        if rec.len() != header.len() {
            return Err(bad(
                name,
                line,
                format!("{} fields, the header has {}", rec.len(), header.len()),
            ));
        }
        let videoid = rec[vi].trim().to_owned();
        if videoid.is_empty() {
            return Err(bad(name, line, "empty videoid"));
        }
        let is_transmit: i64 = match rec[ti].trim() {
            "0" => 0,
            "1" => 1,
            v => {
                return Err(bad(
                    name,
                    line,
                    format!("is_transmit must be 0 or 1, got {v:?}"),
                ))
            }
        };
        let file = format!("{videoid}.mp4");
        check_file(name, line, &file)?;
        out.push(ImportRow {
            videoid,
            file,
            is_transmit,
            title: String::new(),
            tags: Vec::new(),
            description: String::new(),
            draft: rec[ni].clone(),
            provenance: Provenance {
                method: "chronomagic-csv".into(),
                model: None,
                inputs: Vec::new(),
                draft: true,
            },
            meta: serde_json::json!({}),
        });
    }
    Ok(out)
}

/// A CSV record: its starting line number and its fields.
pub type CsvRecord = (usize, Vec<String>);

/// RFC 4180 CSV (the `csv` crate): records with their starting line number; quoted fields may
/// hold commas, doubled quotes and newlines. Rows may differ in length (reported by the caller).
pub fn parse_csv(text: &str) -> std::result::Result<Vec<CsvRecord>, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            (line, e.to_string())
        })?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        out.push((line, rec.iter().map(str::to_owned).collect()));
    }
    // The csv reader ends a quoted field silently at the end of the input; a manifest cut off
    // inside quotes would lose its last caption's tail, so refuse it (balanced quotes are even:
    // every quoted field opens and closes, and escaped quotes come in pairs).
    if text.matches('"').count() % 2 == 1 {
        let line = out.last().map_or(1, |r| r.0);
        return Err((line, "unterminated quoted field".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips_quotes_commas_and_newlines() {
        let caps = [
            "plain",
            "a, b",
            "say \"hi\"",
            "two\nlines",
            " pad ",
            "<script>x</script>",
        ];
        let mut text = String::from("videoid,name,is_transmit\n");
        for (i, c) in caps.iter().enumerate() {
            let row = crate::ssr::csv::row([format!("v{i}"), c.to_string(), (i % 2).to_string()]);
            text.push_str(row.strip_suffix('\n').unwrap());
            text.push_str("\r\n");
        }
        let rows = parse_manifest("m.csv", &text).unwrap();
        assert_eq!(rows.len(), caps.len());
        for (r, c) in rows.iter().zip(caps) {
            assert_eq!(r.draft, c);
        }
        assert_eq!(rows[1].is_transmit, 1);
        assert_eq!(rows[0].file, "v0.mp4");
    }

    #[test]
    fn csv_errors_name_file_and_line() {
        let e = parse_manifest("m.csv", "videoid,name\nx,y\n").unwrap_err();
        assert!(
            e.to_string().contains("missing column \"is_transmit\""),
            "{e}"
        );
        let e = parse_manifest("m.csv", "videoid,name,is_transmit\na,b,0\nc,d,2\n").unwrap_err();
        assert!(e.to_string().contains("m.csv: line 3"), "{e}");
        let e = parse_manifest("m.csv", "videoid,name,is_transmit\na,b,0\na,d,1\n").unwrap_err();
        assert!(e.to_string().contains("duplicate videoid"), "{e}");
        let e = parse_manifest("m.csv", "videoid,name,is_transmit\na,\"b,0\n").unwrap_err();
        assert!(e.to_string().contains("unterminated"), "{e}");
        assert!(parse_manifest("m.txt", "x").is_err());
    }

    #[test]
    fn jsonl_reads_provenance_and_source_metadata() {
        let text = r#"{"videoid":"a","file":"clips/a.mp4","fps":8.0,"frames":64,"width":256,"height":256,"caption":"Ice melts.","provenance":{"method":"llm","model":"gpt-4o","inputs":["title","keyframes"],"draft":true},"is_transmit":1,"extra":{"title":"Ice 4K","tags":["ice","melt"],"description":"desc"}}

{"videoid":"b","file":"b.mp4","fps":8.0,"frames":16,"width":64,"height":64,"caption":"x","is_transmit":0,"title":"T"}
"#;
        let rows = parse_manifest("m.jsonl", text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].provenance.model.as_deref(), Some("gpt-4o"));
        assert_eq!(rows[0].tags, vec!["ice", "melt"]);
        assert_eq!(rows[0].title, "Ice 4K");
        assert_eq!(rows[0].meta["frames"], 64);
        assert_eq!(rows[1].title, "T");
        let e = parse_manifest(
            "m.jsonl",
            "{\"videoid\":\"a\",\"file\":\"../x.mp4\",\"caption\":\"c\"}",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("line 1") && e.to_string().contains("relative"),
            "{e}"
        );
        let e = parse_manifest("m.jsonl", "{\"videoid\":\"a\"}").unwrap_err();
        assert!(e.to_string().contains("m.jsonl: line 1"), "{e}");
    }
}
