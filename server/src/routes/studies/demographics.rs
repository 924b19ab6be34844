//! Optional demographics: the design form's block (parsed here), the participant's
//! `POST /s/{slug}/demographics`, the researcher's `GET /studies/{id}/demographics.csv` and the
//! counts in the analysis JSON (the study's page: `magictime_app::ssr::studies::page`). Storage and checks: `magictime_app::ssr::studies::demographics`.
use std::collections::{BTreeMap, HashMap};

use axum::{
    extract::{Path as UrlPath, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
    Json,
};
use magictime_app::ssr::{
    studies::{
        demographics::{self, DemographicQuestion, Demographics},
        store::{self, StudyError, StudyRow},
    },
    ServerState,
};
use serde_json::json;

use super::{bad, download, owned, AppError};

/// The design form's fields: `demographics_enabled` (checkbox, with `flags`) and `demographics`
/// (one question per line: `name | question | choice; choice; …`, a `*` after the name makes
/// the question required).
pub(super) fn parse_form(
    f: &HashMap<String, String>,
    d: &mut Demographics,
) -> Result<(), AppError> {
    if f.contains_key("flags") {
        d.enabled = f.contains_key("demographics_enabled");
    }
    if let Some(v) = f.get("demographics") {
        d.questions = v
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let parts: Vec<&str> = l.splitn(3, '|').map(str::trim).collect();
                let [name, text, choices] = parts[..] else {
                    return Err(bad(format!(
                        "field `demographics`: line {l:?} is not `name | question | choice; choice`"
                    )));
                };
                let (name, required) = match name.strip_suffix('*') {
                    Some(n) => (n.trim(), true),
                    None => (name, false),
                };
                Ok(DemographicQuestion {
                    name: name.into(),
                    text: text.into(),
                    choices: choices
                        .split(';')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(Into::into)
                        .collect(),
                    required,
                })
            })
            .collect::<Result<_, AppError>>()?;
    }
    Ok(())
}

#[derive(serde::Deserialize)]
pub(super) struct DemographicsBody {
    token: String,
    #[serde(default)]
    answers: BTreeMap<String, String>,
}

/// `POST /s/{slug}/demographics` `{token, answers: {question: choice}}`: once, before completing.
pub(super) async fn submit(
    State(state): State<ServerState>,
    UrlPath(slug): UrlPath<String>,
    Json(b): Json<DemographicsBody>,
) -> Result<Response, AppError> {
    let st = store::by_slug(&state.pool, &slug).await?;
    let pid = store::participant_by_token(&state.pool, st.id, &b.token)
        .await?
        .ok_or(StudyError::UnknownParticipant)?;
    if !matches!(st.status.as_str(), "pilot" | "live") {
        return Err(StudyError::NotOpen.into());
    }
    demographics::submit(&state.pool, &st, pid, &b.answers)
        .await
        .map_err(AppError::from)?;
    Ok(Json(json!({ "ok": true })).into_response())
}

/// `GET /studies/{id}/demographics.csv`: one row per participant who answered (hashed ids).
pub(super) async fn export_csv(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let st = owned(&state, &headers, id).await?;
    let a = demographics::answers(&state.pool, &st).await?;
    Ok(download(
        demographics::to_csv(&st, &a),
        "text/csv; charset=utf-8",
        &format!("study-{id}-demographics.csv"),
    ))
}

/// Counts per question for the analysis JSON.
pub(super) async fn counts(
    state: &ServerState,
    st: &StudyRow,
) -> Result<Vec<demographics::QuestionCounts>, AppError> {
    let a = demographics::answers(&state.pool, st).await?;
    Ok(demographics::counts(st, &a))
}
