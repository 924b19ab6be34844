//! Exports of a project: the ChronoMagic CSV of accepted captions (what `utils/dataset.py`
//! reads), a JSONL with every item's versions and provenance, a training manifest (the data
//! pipeline's `ClipRecord` JSONL with the accepted captions, `provenance.method = "human"`), and
//! the list of accepted clip files.
use sqlx::AnyPool;

use super::{forbid, review, rights, AnnotError, Result};
use crate::{api::annotate::Provenance, types::User};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    ChronoCsv,
    VersionsJsonl,
    ManifestJsonl,
    FileList,
}

impl ExportKind {
    pub fn parse(s: &str) -> Option<ExportKind> {
        Some(match s {
            "chronomagic.csv" => ExportKind::ChronoCsv,
            "versions.jsonl" => ExportKind::VersionsJsonl,
            "manifest.jsonl" => ExportKind::ManifestJsonl,
            "files.txt" => ExportKind::FileList,
            _ => return None,
        })
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportKind::ChronoCsv => "text/csv; charset=utf-8",
            ExportKind::VersionsJsonl | ExportKind::ManifestJsonl => "application/x-ndjson",
            ExportKind::FileList => "text/plain; charset=utf-8",
        }
    }
}

type Row = (
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
);

/// Builds an export (reviewers only).
pub async fn export(
    pool: &AnyPool,
    user: &User,
    project_id: i64,
    kind: ExportKind,
) -> Result<String> {
    if !rights(pool, user, project_id).await?.review {
        return Err(forbid("only the project's reviewers export"));
    }
    let only_accepted = kind != ExportKind::VersionsJsonl;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT i.id, i.videoid, i.file, i.is_transmit, i.draft, i.provenance, i.meta, i.status, \
                i.title, i.description, a.text \
         FROM annot_items i LEFT JOIN annot_versions a ON a.id = i.accepted_version \
         WHERE i.project_id = $1 AND (NOT $2 OR i.status = 'accepted') ORDER BY i.seq",
    )
    .bind(project_id)
    .bind(only_accepted)
    .fetch_all(pool)
    .await?;
    let mut out = String::new();
    match kind {
        ExportKind::ChronoCsv => {
            out.push_str("videoid,name,is_transmit\n");
            for r in &rows {
                let text = r.10.as_deref().unwrap_or_default();
                out.push_str(&crate::ssr::csv::row([
                    r.1.as_str(),
                    text,
                    &r.3.to_string(),
                ]));
            }
        }
        ExportKind::FileList => {
            for r in &rows {
                out.push_str(&r.2);
                out.push('\n');
            }
        }
        ExportKind::ManifestJsonl => {
            for r in &rows {
                let meta: serde_json::Value = serde_json::from_str(&r.6).unwrap_or_default();
                let draft_prov: Provenance = serde_json::from_str(&r.5).unwrap_or_default();
                let mut inputs = vec!["draft".to_owned()];
                inputs.extend(draft_prov.inputs);
                let mut rec = serde_json::json!({
                    "videoid": r.1, "file": r.2,
                    "fps": meta.get("fps").cloned().unwrap_or(0.into()),
                    "frames": meta.get("frames").cloned().unwrap_or(0.into()),
                    "width": meta.get("width").cloned().unwrap_or(0.into()),
                    "height": meta.get("height").cloned().unwrap_or(0.into()),
                    "caption": r.10.as_deref().unwrap_or_default(),
                    "provenance": Provenance { method: "human".into(), model: None, inputs, draft: false },
                    "is_transmit": r.3,
                });
                for k in ["source", "span", "start_time", "category", "kind", "extra"] {
                    if let Some(v) = meta.get(k).filter(|v| !v.is_null()) {
                        rec[k] = v.clone();
                    }
                }
                out.push_str(&rec.to_string());
                out.push('\n');
            }
        }
        ExportKind::VersionsJsonl => {
            for r in &rows {
                let versions = review::versions(pool, r.0).await?;
                let rec = serde_json::json!({
                    "videoid": r.1, "file": r.2, "is_transmit": r.3, "status": r.7,
                    "title": r.8, "description": r.9,
                    "draft": r.4,
                    "draft_provenance": serde_json::from_str::<serde_json::Value>(&r.5).unwrap_or_default(),
                    "accepted": r.10,
                    "versions": versions.iter().map(|v| serde_json::json!({
                        "id": v.id, "user": v.user, "round": v.round, "kind": v.kind,
                        "text": v.text, "flags": v.flags, "checklist": v.checklist,
                        "seconds": v.seconds, "comment": v.comment,
                        "ref_version": v.ref_version, "at": v.created_at,
                    })).collect::<Vec<_>>(),
                });
                out.push_str(&rec.to_string());
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// The clip file of an item on disk, for members (the media route serves it).
pub async fn clip_path(
    pool: &AnyPool,
    data_dir: &std::path::Path,
    user: &User,
    item_id: i64,
) -> Result<std::path::PathBuf> {
    let (pid, file, manifest): (i64, String, String) = sqlx::query_as(
        "SELECT i.project_id, i.file, p.manifest FROM annot_items i \
         JOIN annot_projects p ON p.id = i.project_id WHERE i.id = $1",
    )
    .bind(item_id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AnnotError::NotFound(format!("item {item_id}")))?;
    if !rights(pool, user, pid).await?.view {
        return Err(forbid("you are not a member of this project"));
    }
    let m = super::projects::manifest_path(data_dir, &manifest)?;
    Ok(m.parent().unwrap_or(std::path::Path::new(".")).join(file))
}
