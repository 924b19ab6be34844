//! Researcher: stimuli imported from a server folder or manifest, or uploaded, each normalised
//! by ffmpeg into the study's media folder ([`add_video`], also used by the gallery import).
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use axum::{
    body::Bytes,
    extract::{Path as UrlPath, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Form, Json,
};
use magictime_app::ssr::{
    studies::store::{self, StudyError, StudyRow},
    ServerState,
};
use serde_json::json;

use super::{back, bad, owned, Fail};

/// One video to import: where it is and its tags.
#[derive(Debug, serde::Deserialize)]
struct ImportItem {
    path: String,
    condition: String,
    prompt: String,
    #[serde(default)]
    degraded: bool,
}

/// Items of a manifest (JSON lines `{path, condition, prompt, degraded?}`, or CSV with a
/// `path,condition,prompt[,degraded]` header) or of a folder laid out `<condition>/<prompt>.mp4`
/// (underscores in the file name stand for spaces). Relative paths are relative to the manifest.
fn import_items(src: &Path) -> Result<Vec<(PathBuf, ImportItem)>, String> {
    let mut out = vec![];
    if src.is_dir() {
        let mut conds: Vec<_> = std::fs::read_dir(src)
            .map_err(|e| format!("{}: {e}", src.display()))?
            .flatten()
            .filter(|e| e.path().is_dir())
            .collect();
        conds.sort_by_key(|e| e.file_name());
        for c in conds {
            let mut files: Vec<_> = std::fs::read_dir(c.path())
                .map_err(|e| format!("{}: {e}", c.path().display()))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.extension().and_then(|x| x.to_str()).is_some_and(|x| {
                        matches!(
                            x.to_lowercase().as_str(),
                            "mp4" | "webm" | "mov" | "gif" | "mkv" | "avi"
                        )
                    })
                })
                .collect();
            files.sort();
            for f in files {
                let prompt = f
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("")
                    .replace('_', " ");
                out.push((
                    f.clone(),
                    ImportItem {
                        path: f.display().to_string(),
                        condition: c.file_name().to_string_lossy().into_owned(),
                        prompt,
                        degraded: false,
                    },
                ));
            }
        }
        return Ok(out);
    }
    let text = std::fs::read_to_string(src).map_err(|e| format!("{}: {e}", src.display()))?;
    let base = src.parent().unwrap_or(Path::new("."));
    let is_csv = src.extension().is_some_and(|e| e == "csv");
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let header: Vec<String> = if is_csv {
        lines
            .next()
            .map(|(_, h)| h.split(',').map(|s| s.trim().to_lowercase()).collect())
            .unwrap_or_default()
    } else {
        vec![]
    };
    for (i, line) in lines {
        let item: ImportItem = if is_csv {
            let cols: Vec<&str> = line.split(',').map(str::trim).collect();
            let get = |k: &str| {
                header
                    .iter()
                    .position(|h| h == k)
                    .and_then(|i| cols.get(i))
                    .map(|s| s.to_string())
            };
            ImportItem {
                path: get("path")
                    .ok_or_else(|| format!("{}:{}: missing `path`", src.display(), i + 1))?,
                condition: get("condition")
                    .ok_or_else(|| format!("{}:{}: missing `condition`", src.display(), i + 1))?,
                prompt: get("prompt")
                    .ok_or_else(|| format!("{}:{}: missing `prompt`", src.display(), i + 1))?,
                degraded: get("degraded")
                    .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes")),
            }
        } else {
            serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", src.display(), i + 1))?
        };
        let p = base.join(&item.path);
        out.push((p, item));
    }
    Ok(out)
}

/// Normalises one video into the study's media folder and records it.
pub(super) async fn add_video(
    state: &ServerState,
    st: &StudyRow,
    src: PathBuf,
    condition: &str,
    prompt: &str,
    degraded: bool,
    source: &str,
) -> Result<(), Fail> {
    if condition.trim().is_empty() || prompt.trim().is_empty() {
        return Err(bad(format!("{source}: condition and prompt are required")));
    }
    let dir = store::media_dir(&state.data_dir, st.id);
    std::fs::create_dir_all(&dir).map_err(|e| Fail::from(StudyError::Db(sqlx::Error::Io(e))))?;
    let media_id = magictime_app::ssr::cookies::random_token()[..24].to_owned();
    let dst = dir.join(format!("{media_id}.mp4"));
    let (d, media) = (st.design.clone(), state.media.clone());
    let dst2 = dst.clone();
    let info = tokio::task::spawn_blocking(move || {
        media.normalize(&src, &dst2, d.fps, (d.width, d.height))
    })
    .await
    .map_err(|e| bad(e.to_string()))?
    .map_err(|e| bad(format!("{source}: {e}")))?;
    if let Err(e) = store::add_stimulus(
        &state.pool,
        st.id,
        &media_id,
        condition,
        prompt,
        degraded,
        source,
        &info,
    )
    .await
    {
        let _ = std::fs::remove_file(&dst);
        return Err(e.into());
    }
    Ok(())
}

/// Imports every video of a server folder or manifest; the path must lie inside the data dir.
pub(super) async fn import(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let st = owned(&state, &headers, id).await?;
    if matches!(st.status.as_str(), "live" | "closed") {
        return Err(StudyError::Frozen(st.status).into());
    }
    let raw = f.get("path").map(|p| p.trim()).unwrap_or("");
    let root = state
        .data_dir
        .canonicalize()
        .map_err(|e| bad(e.to_string()))?;
    let src = Path::new(raw)
        .canonicalize()
        .map_err(|e| bad(format!("field `path`: {raw}: {e}")))?;
    if !src.starts_with(&root) {
        return Err(Fail(
            StatusCode::FORBIDDEN,
            format!(
                "field `path`: imports must come from inside the data dir {}",
                root.display()
            ),
        ));
    }
    let items = import_items(&src).map_err(bad)?;
    if items.is_empty() {
        return Err(bad(format!("{}: no videos found", src.display())));
    }
    for (p, it) in &items {
        let p = p
            .canonicalize()
            .map_err(|e| bad(format!("{}: {e}", p.display())))?;
        if !p.starts_with(&root) {
            return Err(Fail(
                StatusCode::FORBIDDEN,
                format!("{}: outside the data dir", p.display()),
            ));
        }
        add_video(
            &state,
            &st,
            p.clone(),
            &it.condition,
            &it.prompt,
            it.degraded,
            &it.path,
        )
        .await?;
    }
    tracing::info!(study = id, n = items.len(), "stimuli imported");
    if headers
        .get(header::ACCEPT)
        .is_some_and(|a| a.to_str().is_ok_and(|a| a.contains("json")))
    {
        return Ok(Json(json!({ "imported": items.len() })).into_response());
    }
    Ok(back(id))
}

#[derive(serde::Deserialize)]
pub(super) struct UploadQuery {
    condition: String,
    prompt: String,
    #[serde(default)]
    degraded: bool,
    #[serde(default)]
    name: String,
}

/// One uploaded video (the request body), tagged by the query string; `x-csrf-token` header.
pub(super) async fn upload(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Fail> {
    let st = owned(&state, &headers, id).await?;
    if body.is_empty() {
        return Err(bad("empty upload"));
    }
    let tmp = tempfile_in(&state.data_dir).map_err(bad)?;
    std::fs::write(&tmp, &body).map_err(|e| bad(e.to_string()))?;
    let source = if q.name.is_empty() {
        "upload".to_owned()
    } else {
        q.name.clone()
    };
    let res = add_video(
        &state,
        &st,
        tmp.clone(),
        &q.condition,
        &q.prompt,
        q.degraded,
        &source,
    )
    .await;
    let _ = std::fs::remove_file(&tmp);
    res?;
    Ok(Json(json!({ "ok": true })).into_response())
}

fn tempfile_in(dir: &Path) -> Result<PathBuf, String> {
    let d = dir.join("tmp");
    std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    Ok(d.join(format!(
        "upload-{}",
        magictime_app::ssr::cookies::random_token()[..16].to_owned()
    )))
}
