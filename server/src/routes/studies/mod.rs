//! User-study routes next to the Leptos app.
//!
//! The pages themselves are Leptos pages (`magictime_app::pages::study` for researchers at
//! `/studies/{id}`, `magictime_app::pages::participate` for participants at `/s/{slug}`); the
//! routes here are their forms' and scripts' endpoints, the exports and the media.
//!
//! Researchers (role researcher or admin): `/studies/new`,
//! `/studies/{id}/{design,status,import,import_generated,upload,metrics}` (POST),
//! `/studies/{id}/{results.json,design.json,export.csv,export.jsonl,demographics.csv}` and
//! `/studies/{id}/plot/{criterion}/{bars,matrix}.svg`.
//!
//! Participants (anonymous): `/s/{slug}/join`, `/s/{slug}/demographics`,
//! `/s/{slug}/complete`, `/s/api/answer` (the high-rate JSON endpoint: batched durable writes,
//! per-participant rate limit) and `/s/m/{key}` (videos by an address per trial position for
//! participants, by media id for the study's researchers; byte ranges).
//!
//! One file per concept: [`lifecycle`] (create, design form, status), [`stimuli`] (folder /
//! manifest import, upload, normalisation), [`gallery`] (generated videos as stimuli),
//! [`results`] (analysis, exports, plots), [`auto_metrics`]
//! (CLIPSIM / metamorphic score beside the votes), [`demographics`], [`participant`].
use axum::{
    body::Bytes,
    extract::{ConnectInfo, State},
    http::{header, HeaderMap},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use magictime_app::{
    error::AppError,
    ssr::{
        auth,
        studies::{
            store::{self, StudyRow},
            writer::AnswerWriter,
        },
        ServerState,
    },
    types::{Role, User},
};

mod auto_metrics;
mod demographics;
mod gallery;
mod lifecycle;
mod participant;
mod results;
mod stimuli;

use magictime_app::ssr::studies::stimuli::add_video;

pub fn routes(writer: AnswerWriter) -> Router<ServerState> {
    Router::new()
        .route("/studies/new", post(lifecycle::create))
        .route("/studies/{id}/design", post(lifecycle::update_design))
        .route("/studies/{id}/status", post(lifecycle::set_status))
        .route("/studies/{id}/import", post(stimuli::import))
        .route(
            "/studies/{id}/import_generated",
            post(gallery::import_generated),
        )
        // No body limit layer: the handler streams the body to disk under its own caps.
        .route("/studies/{id}/upload", post(stimuli::upload))
        .route("/studies/{id}/results.json", get(results::results_json))
        .route("/studies/{id}/metrics", post(auto_metrics::compute))
        .route(
            "/studies/{id}/demographics.csv",
            get(demographics::export_csv),
        )
        .route("/studies/{id}/design.json", get(results::design_json))
        .route("/studies/{id}/export.csv", get(results::export_csv))
        .route("/studies/{id}/export.jsonl", get(results::export_jsonl))
        .route("/studies/{id}/plot/{criterion}/{which}", get(results::plot))
        .route("/s/{slug}/join", post(participant::join))
        .route("/s/{slug}/complete", post(participant::complete))
        .route("/s/{slug}/demographics", post(demographics::submit))
        .route("/s/m/{key}", get(participant::media))
        .route(
            "/s/api/answer",
            post(
                move |State(state): State<ServerState>,
                      ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
                      headers: HeaderMap,
                      body: Bytes| {
                    participant::answer(writer.clone(), state, peer, headers, body)
                },
            ),
        )
}

// ---------------------------------------------------------------- errors

fn bad(msg: impl Into<String>) -> AppError {
    AppError::Invalid(msg.into())
}

/// The logged-in researcher (or admin) who owns study `id` (admins may open any study).
async fn researcher(state: &ServerState, headers: &HeaderMap) -> Result<User, AppError> {
    let user = auth::user_from_headers(state, headers)
        .await?
        .ok_or_else(AppError::login_required)?;
    if !user.role.satisfies(Role::Researcher) {
        return Err(AppError::Forbidden(
            "forbidden: this needs the researcher role".into(),
        ));
    }
    Ok(user)
}

async fn owned(state: &ServerState, headers: &HeaderMap, id: i64) -> Result<StudyRow, AppError> {
    let user = researcher(state, headers).await?;
    let study = store::get(&state.pool, id).await?;
    if study.owner_id != user.id && user.role != Role::Admin {
        return Err(AppError::NotFound("no such study".into()));
    }
    Ok(study)
}

fn back(id: i64) -> Response {
    Redirect::to(&format!("/studies/{id}")).into_response()
}

fn download(body: String, ctype: &str, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, ctype.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// The writer shared by every router built in this process (started on first use).
pub fn writer(pool: &sqlx::AnyPool) -> AnswerWriter {
    AnswerWriter::start(pool.clone())
}
