//! `GET /healthz`: database reachable, every migration applied, version.
use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use magictime_app::ssr::{db, ServerState};
use serde_json::json;

pub async fn healthz(State(state): State<ServerState>) -> impl IntoResponse {
    let version = env!("CARGO_PKG_VERSION");
    match db::health(&state.pool).await {
        Ok(h) if h.applied_migrations as usize == h.known_migrations => (
            StatusCode::OK,
            Json(json!({"status": "ok", "version": version, "db": h})),
        ),
        Ok(h) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "migrations pending", "version": version, "db": h})),
        ),
        Err(e) => {
            tracing::error!("health check: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "database unreachable", "version": version})),
            )
        }
    }
}
