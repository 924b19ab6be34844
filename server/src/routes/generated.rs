//! `GET /media/generated/{id}.{mp4,gif,webp,png,zip,json}`: the files of finished generation
//! jobs and their JSON sidecars, for logged-in users, and with the public demo on for the visitor
//! whose generation it is; a hidden generation's for admins only (range requests work, so
//! browsers can seek).
use axum::{
    body::Body,
    extract::{Path, Request, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use magictime_app::ssr::{demo, ServerState};
use tower::ServiceExt;
use tower_http::services::ServeFile;

pub async fn video(
    State(state): State<ServerState>,
    Path(file): Path<String>,
    req: Request<Body>,
) -> Response {
    let viewer = match demo::viewer_from_headers(&state, req.headers()).await {
        Ok(Some(v)) => v,
        Ok(None) => return (StatusCode::UNAUTHORIZED, "login required").into_response(),
        Err(e) => {
            tracing::error!("media auth: {e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let known =
        |ext: &str| ext == "json" || magictime_app::types::FORMATS.iter().any(|(e, _)| *e == ext);
    let Some((id, ext)) = file
        .rsplit_once('.')
        .filter(|(_, ext)| known(ext))
        .and_then(|(id, ext)| Some((id.parse::<u64>().ok()?, ext)))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Only a finished job's video (a running or interrupted one is not served), one the
    // viewer may see.
    let (admin, visitor) = viewer.visibility();
    let done: Result<Option<i64>, _> = sqlx::query_scalar(
        "SELECT id FROM jobs WHERE id = $1 AND kind = 'generate' AND status = 'done' \
         AND ($2 = 1 OR hidden = 0) AND ($3 IS NULL OR visitor = $3)",
    )
    .bind(id as i64)
    .bind(admin)
    .bind(visitor)
    .fetch_optional(&state.pool)
    .await;
    match done {
        Ok(Some(_)) => {}
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!("media: {e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    let path = state.data_dir.join("generated").join(format!("{id}.{ext}"));
    if !path.is_file() {
        return StatusCode::NOT_FOUND.into_response();
    }
    match ServeFile::new(path).oneshot(req).await {
        Ok(res) => res.into_response(),
        Err(e) => {
            tracing::error!("media: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
