//! Researcher: stimuli imported from a server folder or manifest, or uploaded, each normalised
//! by ffmpeg into the study's media folder (`ssr::studies::stimuli::add_video`).
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Mutex, OnceLock},
};

use axum::{
    body::Body,
    extract::{Path as UrlPath, Query, State},
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
    Form, Json,
};
use magictime_app::ssr::{
    studies::store::{self, StudyError},
    ServerState,
};
use serde_json::json;

use super::{add_video, back, bad, owned, AppError};

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

/// Imports every video of a server folder or manifest; the path must lie inside the data dir.
pub(super) async fn import(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
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
        return Err(AppError::Forbidden(format!(
            "field `path`: imports must come from inside the data dir {}",
            root.display()
        )));
    }
    private_area(&root, &src)?;
    let src2 = src.clone();
    let items = tokio::task::spawn_blocking(move || import_items(&src2))
        .await
        .map_err(|e| bad(e.to_string()))?
        .map_err(bad)?;
    if items.is_empty() {
        return Err(bad(format!("{}: no videos found", src.display())));
    }
    for (p, it) in &items {
        let p = p
            .canonicalize()
            .map_err(|e| bad(format!("{}: {e}", p.display())))?;
        if !p.starts_with(&root) {
            return Err(AppError::Forbidden(format!(
                "{}: outside the data dir",
                p.display()
            )));
        }
        private_area(&root, &p)?;
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

/// The server's own folders under the data dir (every study's stimuli, uploads in flight) are
/// not import sources: a researcher could otherwise copy another study's media.
fn private_area(root: &Path, p: &Path) -> Result<(), AppError> {
    for own in ["studies", "tmp"] {
        if p.starts_with(root.join(own)) {
            return Err(AppError::Forbidden(format!(
                "{}: the server's own files cannot be imported",
                p.display()
            )));
        }
    }
    Ok(())
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
///
/// Who is asking is checked before a byte of the body is read: a stranger's upload is answered
/// 401/403/404 and its body never leaves the socket buffer. The body is then streamed to a temp
/// file under `<data dir>/tmp/`, counted against [`UploadLimits`](magictime_app::ssr::UploadLimits):
/// over the per-upload cap or the owner's quota it is cut off with 413 and the temp file removed.
pub(super) async fn upload(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let st = owned(&state, &headers, id).await?;
    if matches!(st.status.as_str(), "live" | "closed") {
        return Err(StudyError::Frozen(st.status).into());
    }
    let limits = state.upload_limits;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes) {
        return Err(too_large(limits.max_bytes));
    }
    if declared == Some(0) {
        return Err(bad("empty upload"));
    }
    let stored = stored_bytes(&state, st.owner_id).await;
    let mut quota = Quota::new(st.owner_id, stored, limits.quota_bytes);
    // What the request announces is reserved up front, so two parallel uploads cannot both fit.
    if let Some(n) = declared {
        quota.take(n)?;
    }
    let tmp = tempfile_in(&state.data_dir).await.map_err(bad)?;
    let written = stream_to(&tmp, body, limits.max_bytes, declared.is_none(), &mut quota).await;
    let res = match written {
        Ok(0) => Err(bad("empty upload")),
        Ok(_) => {
            let source = if q.name.is_empty() {
                "upload".to_owned()
            } else {
                q.name.clone()
            };
            add_video(
                &state,
                &st,
                tmp.clone(),
                &q.condition,
                &q.prompt,
                q.degraded,
                &source,
            )
            .await
            .map_err(AppError::from)
        }
        Err(e) => Err(e),
    };
    let _ = tokio::fs::remove_file(&tmp).await;
    res?;
    Ok(Json(json!({ "ok": true })).into_response())
}

fn too_large(max: u64) -> AppError {
    AppError::PayloadTooLarge(format!("upload too large: at most {} MiB", max >> 20))
}

/// Writes the request body to `path` chunk by chunk (async file I/O); at most `max` bytes.
/// `reserve`: count each chunk against the quota (when no length was announced up front).
async fn stream_to(
    path: &Path,
    body: Body,
    max: u64,
    reserve: bool,
    quota: &mut Quota,
) -> Result<u64, AppError> {
    use http_body_util::BodyExt;
    use tokio::io::AsyncWriteExt;
    let io = |e: std::io::Error| bad(format!("storing the upload: {e}"));
    let mut file = tokio::fs::File::create(path).await.map_err(io)?;
    let mut body = body;
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| bad(format!("reading the upload: {e}")))?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        n += chunk.len() as u64;
        if n > max {
            return Err(too_large(max));
        }
        if reserve {
            quota.take(chunk.len() as u64)?;
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok(n)
}

/// Bytes on disk in the media folders of `owner`'s studies.
async fn stored_bytes(state: &ServerState, owner: i64) -> u64 {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM studies WHERE owner_id = $1")
        .bind(owner)
        .fetch_all(&state.pool)
        .await
        .unwrap_or_default();
    let mut total = 0;
    for id in ids {
        let Ok(mut dir) = tokio::fs::read_dir(store::media_dir(&state.data_dir, id)).await else {
            continue;
        };
        while let Ok(Some(e)) = dir.next_entry().await {
            if let Ok(m) = e.metadata().await {
                total += m.len();
            }
        }
    }
    total
}

/// Bytes of uploads in flight, per owner.
fn in_flight() -> &'static Mutex<HashMap<i64, u64>> {
    static M: OnceLock<Mutex<HashMap<i64, u64>>> = OnceLock::new();
    M.get_or_init(Default::default)
}

/// One upload's share of its owner's quota; given back when the upload ends.
struct Quota {
    owner: i64,
    stored: u64,
    limit: u64,
    held: u64,
}

impl Quota {
    fn new(owner: i64, stored: u64, limit: u64) -> Self {
        Self {
            owner,
            stored,
            limit,
            held: 0,
        }
    }

    fn take(&mut self, n: u64) -> Result<(), AppError> {
        let mut m = in_flight().lock().unwrap_or_else(|e| e.into_inner());
        let busy = m.entry(self.owner).or_default();
        if self.stored + *busy + n > self.limit {
            return Err(AppError::PayloadTooLarge(format!(
                "upload quota exceeded: your studies may hold {} MiB ({} MiB stored)",
                self.limit >> 20,
                self.stored >> 20
            )));
        }
        *busy += n;
        self.held += n;
        Ok(())
    }
}

impl Drop for Quota {
    fn drop(&mut self) {
        let mut m = in_flight().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(busy) = m.get_mut(&self.owner) {
            *busy = busy.saturating_sub(self.held);
            if *busy == 0 {
                m.remove(&self.owner);
            }
        }
    }
}

async fn tempfile_in(dir: &Path) -> Result<PathBuf, String> {
    let d = dir.join("tmp");
    tokio::fs::create_dir_all(&d)
        .await
        .map_err(|e| format!("{}: {e}", d.display()))?;
    Ok(d.join(format!(
        "upload-{}",
        magictime_app::ssr::cookies::random_token()[..16].to_owned()
    )))
}
