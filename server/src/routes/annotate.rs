//! Annotation media and exports: the clip of an item (with HTTP range requests, for seeking),
//! its 8 keyframes (extracted on first request with the server's `MediaTools`, then cached
//! under `<data_dir>/annotate/keyframes/<item>/`), and the project's exports.
use axum::{
    body::Body,
    extract::{Path, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use magictime_app::{
    error::AppError,
    ssr::{
        annotate::{export, AnnotError},
        auth, ServerState,
    },
    types::User,
};
use tower::ServiceExt;
use tower_http::services::ServeFile;

pub fn router() -> Router<ServerState> {
    Router::new()
        .route("/annotate/media/{item}/clip", get(clip))
        .route("/annotate/media/{item}/keyframe/{k}", get(keyframe))
        .route("/annotate/export/{project}/{file}", get(download))
}

/// The error as plain text (these are media and file URLs, not JSON endpoints).
fn error(e: AnnotError) -> Response {
    let e = AppError::from(e);
    (e.status(), e.to_string()).into_response()
}

async fn user(state: &ServerState, headers: &HeaderMap) -> Result<User, Response> {
    match auth::user_from_headers(state, headers).await {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err((StatusCode::UNAUTHORIZED, "login required").into_response()),
        Err(e) => Err(error(e.into())),
    }
}

async fn clip(State(state): State<ServerState>, Path(item): Path<i64>, req: Request) -> Response {
    let u = match user(&state, req.headers()).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let path = match export::clip_path(&state.pool, &state.data_dir, &u, item).await {
        Ok(p) => p,
        Err(e) => return error(e),
    };
    if !path.is_file() {
        return (StatusCode::NOT_FOUND, "clip file missing").into_response();
    }
    match ServeFile::new(path).oneshot(req).await {
        Ok(r) => {
            let mut r = r.map(Body::new);
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            );
            r
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn keyframe(
    State(state): State<ServerState>,
    Path((item, k)): Path<(i64, usize)>,
    req: Request,
) -> Response {
    let u = match user(&state, req.headers()).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let src = match export::clip_path(&state.pool, &state.data_dir, &u, item).await {
        Ok(p) => p,
        Err(e) => return error(e),
    };
    if k >= 8 {
        return (StatusCode::NOT_FOUND, "keyframes are 0..7").into_response();
    }
    let dir = state
        .data_dir
        .join("annotate")
        .join("keyframes")
        .join(item.to_string());
    let files = match keyframe_files(&state, &src, &dir).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(file) = files.get(k).cloned() else {
        return (StatusCode::NOT_FOUND, "no such keyframe").into_response();
    };
    match ServeFile::new(file).oneshot(req).await {
        Ok(r) => {
            let mut r = r.map(Body::new);
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=86400"),
            );
            r
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// The item's keyframe files in frame order: the cached list, else extracted now (one
/// extraction at a time per item folder: a marker file lists the files once complete).
async fn keyframe_files(
    state: &ServerState,
    src: &std::path::Path,
    dir: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>, Response> {
    let index = dir.join("index.json");
    if let Ok(s) = tokio::fs::read_to_string(&index).await {
        if let Ok(v) = serde_json::from_str::<Vec<std::path::PathBuf>>(&s) {
            return Ok(v);
        }
    }
    if !src.is_file() {
        return Err((StatusCode::NOT_FOUND, "clip file missing").into_response());
    }
    let media = state.media.clone();
    let (src, dir2) = (src.to_path_buf(), dir.to_path_buf());
    let res = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir2).map_err(|e| e.to_string())?;
        media.keyframes(&src, &dir2, 256)
    })
    .await;
    let frames = match res {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            tracing::warn!("keyframes: {e}");
            return Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("cannot read the clip: {e}"),
            )
                .into_response());
        }
        Err(e) => return Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()),
    };
    let files: Vec<std::path::PathBuf> = frames.into_iter().map(|(_, p)| p).collect();
    let _ = tokio::fs::write(&index, serde_json::to_string(&files).unwrap_or_default()).await;
    Ok(files)
}

async fn download(
    State(state): State<ServerState>,
    Path((project, file)): Path<(i64, String)>,
    headers: HeaderMap,
) -> Response {
    let u = match user(&state, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Some(kind) = export::ExportKind::parse(&file) else {
        return (StatusCode::NOT_FOUND, "unknown export").into_response();
    };
    match export::export(&state.pool, &u, project, kind).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, kind.content_type().to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"project{project}-{file}\""),
                ),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            body,
        )
            .into_response(),
        Err(e) => error(e),
    }
}
