//! Researcher: creating a study, editing its design (the form parsed here), moving its lifecycle
//! (draft → pilot → live → closed).
use std::collections::HashMap;

use axum::{
    extract::{Path as UrlPath, State},
    http::HeaderMap,
    response::Response,
    Form,
};
use magictime_app::ssr::{
    studies::{
        design::{Criterion, Design, DesignKind},
        store,
    },
    ServerState,
};

use super::{back, bad, demographics, owned, researcher, AppError};

fn parse_design(f: &HashMap<String, String>, base: &Design) -> Result<Design, AppError> {
    let mut d = base.clone();
    let num = |k: &str| -> Result<Option<u64>, AppError> {
        f.get(k)
            .filter(|v| !v.trim().is_empty())
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| bad(format!("field `{k}`: not a number")))
            })
            .transpose()
    };
    if let Some(k) = f.get("kind") {
        d.kind = DesignKind::parse(k)
            .ok_or_else(|| bad(format!("field `kind`: unknown design {k:?}")))?;
    }
    if let Some(v) = num("k")? {
        d.k = v as usize;
    }
    if let Some(v) = num("trials_per_participant")? {
        d.trials_per_participant = v as usize;
    }
    if let Some(v) = num("attention_checks")? {
        d.attention_checks = v as usize;
    }
    if let Some(v) = num("gold_trials")? {
        d.gold_trials = v as usize;
    }
    if let Some(v) = num("min_time_ms")? {
        d.min_time_ms = v;
    }
    if let Some(v) = num("max_failed_checks")? {
        d.max_failed_checks = v as usize;
    }
    if let Some(v) = num("width")? {
        d.width = v as u32;
    }
    if let Some(v) = num("height")? {
        d.height = v as u32;
    }
    if let Some(v) = f.get("fps").filter(|v| !v.trim().is_empty()) {
        d.fps = v
            .trim()
            .parse()
            .map_err(|_| bad("field `fps`: not a number"))?;
    }
    // Checkboxes: present in the form means on; the form always sends `flags=1`.
    if f.contains_key("flags") {
        d.allow_tie = f.contains_key("allow_tie");
        d.practice_trial = f.contains_key("practice_trial");
        d.require_full_view = f.contains_key("require_full_view");
    }
    for (k, slot) in [
        ("consent", &mut d.consent),
        ("instructions", &mut d.instructions),
    ] {
        if let Some(v) = f.get(k) {
            *slot = v.trim().to_owned();
        }
    }
    if let Some(v) = f.get("redirect_url") {
        d.redirect_url = Some(v.trim().to_owned()).filter(|s| !s.is_empty());
    }
    if let Some(v) = f.get("criteria") {
        d.criteria = v
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let (n, q) = l.split_once('|').ok_or_else(|| {
                    bad(format!(
                        "field `criteria`: line {l:?} is not `name | question`"
                    ))
                })?;
                Ok(Criterion {
                    name: n.trim().into(),
                    question: q.trim().into(),
                })
            })
            .collect::<Result<_, AppError>>()?;
    }
    demographics::parse_form(f, &mut d.demographics)?;
    if d.kind == DesignKind::Pairwise {
        d.k = 2;
    }
    d.validate().map_err(|e| bad(e.to_string()))?;
    Ok(d)
}

pub(super) async fn create(
    State(state): State<ServerState>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let user = researcher(&state, &headers).await?;
    let title = f.get("title").map(|t| t.trim()).unwrap_or("");
    if title.is_empty() {
        return Err(bad("field `title`: give the study a title"));
    }
    let d = parse_design(&f, &Design::default())?;
    let st = store::create(&state.pool, user.id, title, d).await?;
    tracing::info!(study = st.id, by = user.id, "study created");
    Ok(back(st.id))
}

pub(super) async fn update_design(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let st = owned(&state, &headers, id).await?;
    let d = parse_design(&f, &st.design)?;
    store::update_design(&state.pool, id, &d).await?;
    Ok(back(id))
}

pub(super) async fn set_status(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    owned(&state, &headers, id).await?;
    let to = f.get("to").map(String::as_str).unwrap_or("");
    store::set_status(&state.pool, id, to).await?;
    tracing::info!(study = id, to, "study status changed");
    Ok(back(id))
}
