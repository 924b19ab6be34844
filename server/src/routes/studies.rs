//! User-study routes next to the Leptos app.
//!
//! Researchers (role researcher or admin): `/studies/new`, `/studies/{id}` (server-rendered
//! manage page: design, stimuli import, lifecycle, live results with SVG plots),
//! `/studies/{id}/{design,status,import,upload}` (POST), `/studies/{id}/{results.json,
//! design.json,export.csv,export.jsonl}` and `/studies/{id}/plot/{criterion}/{bars,matrix}.svg`.
//!
//! Participants (anonymous): `/s/{slug}` (the page), `/s/{slug}/join`, `/s/{slug}/complete`,
//! `/s/api/answer` (the high-rate JSON endpoint: batched durable writes, per-participant rate
//! limit) and `/s/m/{media_id}` (videos by opaque id; byte ranges supported).
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Mutex, OnceLock},
    time::Instant,
};

use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Path as UrlPath, Query, Request, State},
    http::{header, HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Json, Router,
};
use magictime_app::{
    ssr::{
        auth,
        studies::{
            analysis,
            design::{Criterion, Design, DesignKind},
            plots,
            store::{self, JoinRequest, StudyError, StudyRow},
            writer::{AnswerError, AnswerIn, AnswerWriter},
        },
        ServerState,
    },
    types::{Role, User},
};
use serde_json::json;

pub fn routes(writer: AnswerWriter) -> Router<ServerState> {
    Router::new()
        .route("/studies/new", post(create))
        .route("/studies/{id}", get(manage))
        .route("/studies/{id}/design", post(update_design))
        .route("/studies/{id}/status", post(set_status))
        .route("/studies/{id}/import", post(import))
        .route(
            "/studies/{id}/upload",
            post(upload).layer(DefaultBodyLimit::max(512 << 20)),
        )
        .route("/studies/{id}/results.json", get(results_json))
        .route("/studies/{id}/design.json", get(design_json))
        .route("/studies/{id}/export.csv", get(export_csv))
        .route("/studies/{id}/export.jsonl", get(export_jsonl))
        .route("/studies/{id}/plot/{criterion}/{which}", get(plot))
        .route("/s/{slug}", get(participant_page))
        .route("/s/{slug}/join", post(join))
        .route("/s/{slug}/complete", post(complete))
        .route("/s/m/{media_id}", get(media))
        .route(
            "/s/api/answer",
            post(move |body: Bytes| answer(writer.clone(), body)),
        )
}

// ---------------------------------------------------------------- errors

struct Fail(StatusCode, String);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<StudyError> for Fail {
    fn from(e: StudyError) -> Self {
        let code = match &e {
            StudyError::NotFound | StudyError::UnknownParticipant => StatusCode::NOT_FOUND,
            StudyError::Frozen(_)
            | StudyError::BadTransition(..)
            | StudyError::AlreadyParticipated(_) => StatusCode::CONFLICT,
            StudyError::NotOpen => StatusCode::FORBIDDEN,
            StudyError::Design(_) | StudyError::Assign(_) => StatusCode::UNPROCESSABLE_ENTITY,
            StudyError::Db(e) => {
                tracing::error!("studies: {e}");
                return Fail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal server error".into(),
                );
            }
        };
        Fail(code, e.to_string())
    }
}

fn bad(msg: impl Into<String>) -> Fail {
    Fail(StatusCode::UNPROCESSABLE_ENTITY, msg.into())
}

/// The logged-in researcher (or admin) who owns study `id` (admins may open any study).
async fn researcher(state: &ServerState, headers: &HeaderMap) -> Result<User, Fail> {
    let user = auth::user_from_headers(&state.pool, headers)
        .await
        .map_err(|e| Fail::from(StudyError::Db(e)))?
        .ok_or_else(|| Fail(StatusCode::UNAUTHORIZED, "login required".into()))?;
    if !user.role.satisfies(Role::Researcher) {
        return Err(Fail(
            StatusCode::FORBIDDEN,
            "forbidden: this needs the researcher role".into(),
        ));
    }
    Ok(user)
}

async fn owned(state: &ServerState, headers: &HeaderMap, id: i64) -> Result<StudyRow, Fail> {
    let user = researcher(state, headers).await?;
    let study = store::get(&state.pool, id).await?;
    if study.owner_id != user.id && user.role != Role::Admin {
        return Err(Fail(StatusCode::NOT_FOUND, "no such study".into()));
    }
    Ok(study)
}

fn back(id: i64) -> Response {
    Redirect::to(&format!("/studies/{id}")).into_response()
}

// ---------------------------------------------------------------- researcher: design

fn parse_design(f: &HashMap<String, String>, base: &Design) -> Result<Design, Fail> {
    let mut d = base.clone();
    let num = |k: &str| -> Result<Option<u64>, Fail> {
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
            .collect::<Result<_, Fail>>()?;
    }
    if d.kind == DesignKind::Pairwise {
        d.k = 2;
    }
    d.validate().map_err(|e| bad(e.to_string()))?;
    Ok(d)
}

async fn create(
    State(state): State<ServerState>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, Fail> {
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

async fn update_design(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let st = owned(&state, &headers, id).await?;
    let d = parse_design(&f, &st.design)?;
    store::update_design(&state.pool, id, &d).await?;
    Ok(back(id))
}

async fn set_status(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, Fail> {
    owned(&state, &headers, id).await?;
    let to = f.get("to").map(String::as_str).unwrap_or("");
    store::set_status(&state.pool, id, to).await?;
    tracing::info!(study = id, to, "study status changed");
    Ok(back(id))
}

// ---------------------------------------------------------------- researcher: stimuli

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
async fn add_video(
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
async fn import(
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
struct UploadQuery {
    condition: String,
    prompt: String,
    #[serde(default)]
    degraded: bool,
    #[serde(default)]
    name: String,
}

/// One uploaded video (the request body), tagged by the query string; `x-csrf-token` header.
async fn upload(
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

// ---------------------------------------------------------------- researcher: results

async fn results_json(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
) -> Result<Response, Fail> {
    let st = owned(&state, &headers, id).await?;
    let a = analysis::analyse(&state.pool, &st).await?;
    Ok(download(
        serde_json::to_string_pretty(&a).expect("analysis serialises"),
        "application/json",
        &format!("study-{id}-analysis.json"),
    ))
}

async fn design_json(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
) -> Result<Response, Fail> {
    let st = owned(&state, &headers, id).await?;
    let stimuli = store::stimulus_rows(&state.pool, id).await?;
    let body =
        json!({ "title": st.title, "status": st.status, "design": st.design, "stimuli": stimuli });
    Ok(download(
        serde_json::to_string_pretty(&body).expect("json"),
        "application/json",
        &format!("study-{id}-design.json"),
    ))
}

async fn export_csv(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
) -> Result<Response, Fail> {
    let st = owned(&state, &headers, id).await?;
    let rows = analysis::answer_rows(&state.pool, &st)
        .await
        .map_err(|e| Fail::from(StudyError::Db(e)))?;
    Ok(download(
        analysis::to_csv(&rows),
        "text/csv; charset=utf-8",
        &format!("study-{id}-trials.csv"),
    ))
}

async fn export_jsonl(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
) -> Result<Response, Fail> {
    let st = owned(&state, &headers, id).await?;
    let rows = analysis::answer_rows(&state.pool, &st)
        .await
        .map_err(|e| Fail::from(StudyError::Db(e)))?;
    Ok(download(
        analysis::to_jsonl(&rows),
        "application/x-ndjson",
        &format!("study-{id}-trials.jsonl"),
    ))
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

async fn plot(
    State(state): State<ServerState>,
    UrlPath((id, criterion, which)): UrlPath<(i64, usize, String)>,
    headers: HeaderMap,
) -> Result<Response, Fail> {
    let st = owned(&state, &headers, id).await?;
    let a = analysis::analyse(&state.pool, &st).await?;
    let c = a
        .criteria
        .get(criterion)
        .ok_or_else(|| Fail(StatusCode::NOT_FOUND, "no such criterion".into()))?;
    let svg = match which.as_str() {
        "bars.svg" => plots::win_rate_bars(c),
        "matrix.svg" => plots::win_matrix_heatmap(c),
        _ => return Err(Fail(StatusCode::NOT_FOUND, "no such plot".into())),
    };
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{t} — MagicTime</title><link rel="stylesheet" href="/pkg/magictime.css"></head><body class="studies"><main id="main">{body}</main></body></html>"#,
        t = esc(title)
    ))
}

/// The researcher's page of one study: lifecycle, participant link, design, stimuli, results.
async fn manage(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    req: Request,
) -> Result<Response, Fail> {
    let headers = req.headers().clone();
    let csrf = req
        .extensions()
        .get::<magictime_app::types::CsrfToken>()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    let st = owned(&state, &headers, id).await?;
    let d = &st.design;
    let frozen = matches!(st.status.as_str(), "live" | "closed");
    let dis = if frozen { " disabled" } else { "" };
    let stimuli = store::stimulus_rows(&state.pool, id).await?;
    let a = analysis::analyse(&state.pool, &st).await?;
    let hidden = format!(
        r#"<input type="hidden" name="csrf_token" value="{}">"#,
        esc(&csrf)
    );
    let mut b = format!(
        r#"<p><a href="/studies">← Studies</a></p><h1>{title}</h1><p>Status: <strong data-testid="status">{status}</strong> · Participant link: <a data-testid="link" href="/s/{slug}">/s/{slug}</a> (append <code>?PROLIFIC_PID=…&amp;STUDY_ID=…&amp;SESSION_ID=…</code> for Prolific)</p>"#,
        title = esc(&st.title),
        status = st.status,
        slug = st.slug
    );
    b += "<div class=\"row\">";
    for (to, label) in [
        ("pilot", "Start pilot"),
        ("draft", "Back to draft"),
        ("live", "Go live"),
        ("closed", "Close study"),
    ] {
        let ok = matches!(
            (st.status.as_str(), to),
            ("draft", "pilot")
                | ("draft", "live")
                | ("pilot", "draft")
                | ("pilot", "live")
                | ("live", "closed")
        );
        if ok {
            b += &format!(
                r#"<form method="post" action="/studies/{id}/status">{hidden}<input type="hidden" name="to" value="{to}"><button type="submit">{label}</button></form>"#
            );
        }
    }
    b += "</div>";

    // Dashboard + results.
    let db = &a.dashboard;
    b += &format!(
        r#"<h2>Results</h2><p data-testid="dashboard">Participants: {p} · completed: {c} · pilot: {pi} · excluded: {e} · answers: {n} · median time per trial: {t}</p><p><a href="/studies/{id}/export.csv" download>Download trials (CSV)</a> · <a href="/studies/{id}/export.jsonl" download>JSONL</a> · <a href="/studies/{id}/design.json" download>Design (JSON)</a> · <a href="/studies/{id}/results.json" download>Analysis (JSON)</a></p>"#,
        p = db.participants,
        c = db.completed,
        pi = db.pilot,
        e = db.excluded.len(),
        n = db.answers,
        t = db
            .median_trial_ms
            .map(|t| format!("{:.1} s", t as f64 / 1000.0))
            .unwrap_or_else(|| "–".into()),
    );
    for c in &a.criteria {
        b += &format!(
            r#"<section class="criterion"><h3>{}</h3><p>{} answers · Krippendorff's α: {} · Fleiss' κ: {}</p>"#,
            esc(&c.criterion),
            c.n_answers,
            c.krippendorff_alpha
                .map(|x| format!("{x:.3}"))
                .unwrap_or_else(|| "–".into()),
            c.fleiss_kappa
                .map(|x| format!("{x:.3}"))
                .unwrap_or_else(|| "–".into())
        );
        b += r#"<table><thead><tr><th>Condition</th><th>Win rate</th><th>Wilson 95 %</th><th>Bradley–Terry</th><th>Bootstrap 95 %</th></tr></thead><tbody>"#;
        for r in &c.conditions {
            b += &format!(
                "<tr><td>{}</td><td>{:.3}</td><td>[{:.3}, {:.3}]</td><td>{:.3}</td><td>[{:.3}, {:.3}]</td></tr>",
                esc(&r.condition), r.win_rate, r.wilson_lo, r.wilson_hi, r.bt_score, r.bt_lo, r.bt_hi
            );
        }
        b += "</tbody></table>";
        if !c.pairs.is_empty() {
            b += "<table><thead><tr><th>Pair</th><th>Wins</th><th>Ties</th><th>p (sign test)</th><th>p (Holm)</th></tr></thead><tbody>";
            for p in &c.pairs {
                b += &format!(
                    "<tr><td>{} vs {}</td><td>{} : {}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td></tr>",
                    esc(&p.a), esc(&p.b), p.a_wins, p.b_wins, p.ties, p.p_value, p.p_holm
                );
            }
            b += "</tbody></table>";
        }
        b += &plots::win_rate_bars(c);
        b += &plots::win_matrix_heatmap(c);
        b += "</section>";
    }

    // Stimuli.
    b += &format!("<h2>Stimuli ({})</h2>", stimuli.len());
    if !frozen {
        b += &format!(
            r#"<form method="post" action="/studies/{id}/import" class="form">{hidden}<label for="import-path">Import from a server folder (<code>&lt;condition&gt;/&lt;prompt&gt;.mp4</code>) or manifest (JSONL / CSV: path, condition, prompt, degraded)</label><input id="import-path" name="path" required><button type="submit">Import and normalise</button></form>
<form id="upload" class="form" data-study="{id}"><label for="up-file">Upload videos</label><input id="up-file" type="file" accept="video/*" multiple><label for="up-cond">Condition</label><input id="up-cond" required><label for="up-prompt">Prompt</label><input id="up-prompt" required><label><input id="up-deg" type="checkbox"> degraded copy (for gold trials)</label><button type="submit">Upload</button><p id="up-status" role="status"></p></form>
<script>document.getElementById('upload').addEventListener('submit',async(e)=>{{e.preventDefault();const s=document.getElementById('up-status');const t=(document.cookie.split(';').map(c=>c.trim().split('=')).find(([k])=>k==='mt_csrf')||[])[1]||'';for(const f of document.getElementById('up-file').files){{const q=new URLSearchParams({{condition:document.getElementById('up-cond').value,prompt:document.getElementById('up-prompt').value,degraded:document.getElementById('up-deg').checked,name:f.name}});s.textContent='Uploading '+f.name+'…';const r=await fetch('/studies/{id}/upload?'+q,{{method:'POST',headers:{{'x-csrf-token':t}},body:f}});if(!r.ok){{s.textContent=(await r.json()).error;return;}}}}location.reload();}});</script>"#
        );
    }
    b += "<table><thead><tr><th>Prompt</th><th>Condition</th><th>Role</th><th>Frames</th><th>Format</th></tr></thead><tbody>";
    for s in &stimuli {
        b += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}×{} @ {} fps</td></tr>",
            esc(&s.prompt),
            esc(&s.condition),
            s.role,
            s.frames,
            s.width,
            s.height,
            s.fps
        );
    }
    b += "</tbody></table>";

    // Design.
    let kind = |k: &str| {
        if DesignKind::parse(k) == Some(d.kind) {
            " selected"
        } else {
            ""
        }
    };
    let chk = |on: bool| if on { " checked" } else { "" };
    let criteria: String = d
        .criteria
        .iter()
        .map(|c| format!("{} | {}\n", c.name, c.question))
        .collect();
    b += &format!(
        r#"<h2>Design</h2>{note}<form method="post" action="/studies/{id}/design" class="form design"><fieldset{dis}>{hidden}<input type="hidden" name="flags" value="1">
<label for="kind">Design</label><select id="kind" name="kind"><option value="pairwise"{p}>Pairwise (2AFC)</option><option value="best_of_k"{bk}>Best of k</option><option value="rating"{r}>Rating 1–5</option></select>
<label for="k">k (videos per trial, best-of-k)</label><input id="k" name="k" type="number" min="2" max="6" value="{k}">
<label><input type="checkbox" name="allow_tie"{tie}> Allow “no difference”</label>
<label for="criteria">Criteria (one per line: <code>name | question</code>)</label><textarea id="criteria" name="criteria" rows="5">{criteria}</textarea>
<label for="tpp">Trials per participant</label><input id="tpp" name="trials_per_participant" type="number" min="1" value="{tpp}">
<label><input type="checkbox" name="practice_trial"{pr}> Practice trial</label>
<label for="att">Attention checks</label><input id="att" name="attention_checks" type="number" min="0" max="10" value="{att}">
<label for="gold">Gold trials</label><input id="gold" name="gold_trials" type="number" min="0" max="10" value="{gold}">
<label><input type="checkbox" name="require_full_view"{fv}> Each video must play to its end before answering</label>
<label for="mint">Minimum time per trial (ms)</label><input id="mint" name="min_time_ms" type="number" min="0" value="{mint}">
<label for="maxf">Exclude participants failing more than this many checks</label><input id="maxf" name="max_failed_checks" type="number" min="0" value="{maxf}">
<label for="consent">Consent text</label><textarea id="consent" name="consent" rows="4">{consent}</textarea>
<label for="instr">Instructions</label><textarea id="instr" name="instructions" rows="4">{instr}</textarea>
<label for="redir">Redirect URL at the end (<code>{{code}}</code> = completion code)</label><input id="redir" name="redirect_url" value="{redir}">
<label for="fps">Normalised fps / width / height</label><div class="row"><input id="fps" name="fps" value="{fps}"><input name="width" aria-label="width" value="{w}"><input name="height" aria-label="height" value="{h}"></div>
<button type="submit">Save design</button></fieldset></form><p>Completion code: <code>{code}</code> · seed {seed}</p>"#,
        note = if frozen {
            "<p class=\"note\">The study is live: its design is frozen.</p>"
        } else {
            ""
        },
        p = kind("pairwise"),
        bk = kind("best_of_k"),
        r = kind("rating"),
        k = d.k,
        tie = chk(d.allow_tie),
        criteria = esc(&criteria),
        tpp = d.trials_per_participant,
        pr = chk(d.practice_trial),
        att = d.attention_checks,
        gold = d.gold_trials,
        fv = chk(d.require_full_view),
        mint = d.min_time_ms,
        maxf = d.max_failed_checks,
        consent = esc(&d.consent),
        instr = esc(&d.instructions),
        redir = esc(d.redirect_url.as_deref().unwrap_or("")),
        fps = d.fps,
        w = d.width,
        h = d.height,
        code = esc(&d.completion_code),
        seed = d.seed,
    );
    Ok(page(&st.title, &b).into_response())
}

// ---------------------------------------------------------------- participants

async fn participant_page(
    State(state): State<ServerState>,
    UrlPath(slug): UrlPath<String>,
) -> Result<Response, Fail> {
    let st = store::by_slug(&state.pool, &slug)
        .await
        .map_err(|_| Fail(StatusCode::NOT_FOUND, "no such study".into()))?;
    let d = &st.design;
    let body = format!(
        r#"<div id="study" class="study-run" data-slug="{slug}">
<section id="s-loading"><h2 tabindex="-1">Loading…</h2><noscript>This study needs JavaScript.</noscript></section>
<section id="s-error" hidden><h2 tabindex="-1">Sorry</h2><p id="error-text" role="alert"></p></section>
<section id="s-consent" hidden><h2 tabindex="-1">Consent</h2><p class="prose">{consent}</p><button id="consent-yes" type="button">I agree and want to take part</button></section>
<section id="s-instructions" hidden><h2 tabindex="-1">Instructions</h2><p class="prose">{instr}</p><button id="start" type="button">Start</button></section>
<section id="s-trial" hidden><h2 tabindex="-1" class="visually-hidden">Trial</h2>
<div class="progress"><span id="progress-text" aria-live="polite"></span><progress id="progress" value="0" max="1"></progress></div>
<p class="prompt">Text: “<span id="prompt"></span>”</p>
<div id="videos" class="videos"></div>
<p><button id="replay" type="button" class="secondary">Replay (R)</button></p>
<p id="question" class="question" aria-live="polite"></p>
<div id="answers" class="answers"></div>
<p id="wait" class="hint">Watch every video to the end first…</p>
<p id="saved" class="hint" role="status"></p></section>
<section id="s-done" hidden><h2 tabindex="-1">Thank you!</h2><p>Your completion code: <strong id="code" data-testid="completion-code"></strong></p><p><a id="redirect" hidden>Continue</a></p></section>
</div><script>{js}</script>"#,
        slug = esc(&st.slug),
        consent = esc(&d.consent),
        instr = esc(&d.instructions),
        js = include_str!("studies_participant.js"),
    );
    Ok(page("Study", &body).into_response())
}

async fn join(
    State(state): State<ServerState>,
    UrlPath(slug): UrlPath<String>,
    Json(req): Json<JoinRequest>,
) -> Result<Response, Fail> {
    let st = store::by_slug(&state.pool, &slug).await?;
    let j = store::join(&state.pool, &st, &req).await?;
    let s = store::participant_state(&state.pool, &st, j.participant_id, &j.token).await?;
    Ok(Json(s).into_response())
}

#[derive(serde::Deserialize)]
struct TokenBody {
    token: String,
}

async fn complete(
    State(state): State<ServerState>,
    UrlPath(slug): UrlPath<String>,
    Json(b): Json<TokenBody>,
) -> Result<Response, Fail> {
    let st = store::by_slug(&state.pool, &slug).await?;
    let pid = store::participant_by_token(&state.pool, st.id, &b.token)
        .await?
        .ok_or(StudyError::UnknownParticipant)?;
    if !store::complete(&state.pool, &st, pid).await? {
        return Err(Fail(
            StatusCode::CONFLICT,
            "some trials are not answered yet".into(),
        ));
    }
    let code = st.design.completion_code.clone();
    let redirect = st
        .design
        .redirect_url
        .as_ref()
        .map(|u| u.replace("{code}", &code));
    Ok(Json(json!({ "completion_code": code, "redirect": redirect })).into_response())
}

/// Videos by opaque id: the file name is the id; no condition, prompt or metadata is exposed.
async fn media(
    State(state): State<ServerState>,
    UrlPath(media_id): UrlPath<String>,
    req: Request,
) -> Result<Response, Fail> {
    if media_id.len() != 24 || !media_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Fail(StatusCode::NOT_FOUND, "not found".into()));
    }
    let study: Option<i64> = sqlx::query_scalar("SELECT study_id FROM stimuli WHERE media_id = ?")
        .bind(&media_id)
        .fetch_optional(&state.pool)
        .await
        .map_err(|e| Fail::from(StudyError::Db(e)))?;
    let study = study.ok_or_else(|| Fail(StatusCode::NOT_FOUND, "not found".into()))?;
    let path = store::media_dir(&state.data_dir, study).join(format!("{media_id}.mp4"));
    let mut res = tower_http::services::ServeFile::new(path)
        .try_call(req)
        .await
        .map_err(|e| bad(e.to_string()))?
        .into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        "private, max-age=86400".parse().expect("header"),
    );
    Ok(res)
}

/// Per-participant token bucket: bursts of 30, then 10 answers per second.
fn rate_ok(token: &str) -> bool {
    static BUCKETS: OnceLock<Mutex<HashMap<String, (f64, Instant)>>> = OnceLock::new();
    const BURST: f64 = 30.0;
    const RATE: f64 = 10.0;
    let now = Instant::now();
    let mut m = BUCKETS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if m.len() > 100_000 {
        m.retain(|_, (_, t)| now.duration_since(*t).as_secs_f64() < BURST / RATE);
    }
    let (tokens, last) = m.entry(token.to_owned()).or_insert((BURST, now));
    *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * RATE).min(BURST);
    *last = now;
    if *tokens >= 1.0 {
        *tokens -= 1.0;
        true
    } else {
        false
    }
}

/// The answer endpoint: JSON in, acknowledged only once committed.
async fn answer(writer: AnswerWriter, body: Bytes) -> Response {
    let a: AnswerIn = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return Fail(StatusCode::BAD_REQUEST, format!("bad answer: {e}")).into_response(),
    };
    if a.token.len() != 64 {
        return Fail(StatusCode::FORBIDDEN, AnswerError::NotAssigned.to_string()).into_response();
    }
    if !rate_ok(&a.token) {
        return Fail(StatusCode::TOO_MANY_REQUESTS, "too many answers".into()).into_response();
    }
    match writer.submit(a).await {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(e) => {
            let code = match e {
                AnswerError::NotAssigned => StatusCode::FORBIDDEN,
                AnswerError::AlreadyAnswered => StatusCode::CONFLICT,
                AnswerError::Closed => StatusCode::GONE,
                AnswerError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            Fail(code, e.to_string()).into_response()
        }
    }
}

/// The writer shared by every router built in this process (started on first use).
pub fn writer(pool: &sqlx::SqlitePool) -> AnswerWriter {
    AnswerWriter::start(pool.clone())
}
