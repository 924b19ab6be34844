//! Generation jobs: submit, list (with progress), cancel.
// The generate server fn takes the form's fields; `#[server]` also generates the client
// (hydrate) side, which an item-level allow does not reach.
#![allow(clippy::too_many_arguments)]
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

use crate::error::AppError;
use crate::types::JobView;

/// Queues a text-to-video generation (researchers; with the public demo on, anonymous
/// visitors too, within the demo's ceiling and rate). Returns the job id.
///
/// The model fields are the page's picker: `model` (an id of [`generate_models`]; absent: the
/// built-in model with all its adapters), `dreambooth` (a file name it offers; empty: none),
/// `adapter_s` / `adapter_t` / `adapter_te` (present: applied; with `model` given, absent: off),
/// `format` (`gif`, `webp` or `png` written besides the MP4 and the frames zip); `fps` the
/// video's frame rate (1–60; absent: 8).
#[server(prefix = "/api", endpoint = "generate")]
pub async fn submit_generation(
    csrf_token: String,
    prompt: String,
    negative: String,
    seed: u64,
    steps: usize,
    cfg: f64,
    frames: usize,
    size: usize,
    model: Option<String>,
    dreambooth: Option<String>,
    adapter_s: Option<String>,
    adapter_t: Option<String>,
    adapter_te: Option<String>,
    format: Option<String>,
    fps: Option<f64>,
) -> Result<i64, AppError> {
    use crate::{
        ssr::{demo, jobs},
        types::{GenerateAccess, GenerateParams, BUILTIN_MODEL, FORMATS},
    };
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let res = crate::ssr::response()?;
    let asker = asker().await?;
    let bad = |m: &str| AppError::Invalid(m.to_owned());
    let prompt = prompt.trim().to_owned();
    let fps = fps.unwrap_or(8.0);
    asker
        .access
        .limits()
        .check(&prompt, &negative, steps, cfg, frames, size, fps)
        .map_err(|(_, m)| bad(&m))?;
    let format = format.filter(|f| !f.is_empty() && f != "mp4");
    if let Some(f) = &format {
        if !FORMATS.iter().any(|(ext, _)| ext == f) {
            let known: Vec<&str> = FORMATS.iter().map(|(ext, _)| *ext).collect();
            return Err(bad(&format!(
                "Output format {f:?} is unknown (there are {})",
                known.join(", ")
            )));
        }
    }
    // without the picker's fields: the built-in model as it always ran, all its adapters
    let adapters = model.is_some().then(|| {
        [("s", &adapter_s), ("t", &adapter_t), ("te", &adapter_te)]
            .into_iter()
            .filter(|(_, on)| on.is_some())
            .map(|(id, _)| id.to_owned())
            .collect()
    });
    let params = GenerateParams {
        prompt,
        negative,
        seed,
        steps,
        cfg,
        frames,
        size,
        fps,
        model: model.unwrap_or_else(|| BUILTIN_MODEL.to_owned()),
        dreambooth: dreambooth.filter(|d| !d.is_empty()),
        adapters,
        formats: format.into_iter().collect(),
    };
    let generator = state.generator.clone();
    let checked = {
        let p = params.clone();
        tokio::task::spawn_blocking(move || generator.check(&p))
            .await
            .map_err(AppError::internal)?
    };
    checked.map_err(|e| bad(&e))?;
    let json = serde_json::to_string(&params).map_err(AppError::internal)?;
    let cap = state.max_queued_generations;
    if let GenerateAccess::Visitor(_) = asker.access {
        // the demo's rate, per client address and per visitor, then its queue
        let limits = state.demo;
        let keys = [
            format!("ip:{}", asker.client),
            format!("visitor:{}", asker.visitor_key()),
        ];
        if !keys.iter().all(|k| state.demo_buckets.take(k)) {
            return Err(AppError::TooManyRequests(format!(
                "The public demo allows {} generations per hour per visitor; please try \
                     again later",
                limits.per_hour
            )));
        }
        let waiting = jobs::queued_for_visitors(&state.pool)
            .await
            .map_err(AppError::internal)?;
        if waiting >= limits.queue_cap {
            return Err(AppError::TooManyRequests(
                "The public demo's queue is full; please try again in a few minutes".into(),
            ));
        }
    }
    let queued = jobs::submit_capped(&state.pool, "generate", &json, &asker.owner, cap)
        .await
        .map_err(AppError::internal)?;
    let Some(id) = queued else {
        return Err(AppError::TooManyRequests(format!(
            "you have {cap} generations waiting in the queue already; wait until one \
                 starts, or cancel one"
        )));
    };
    if let Some(cookie) = &asker.new_cookie {
        use axum::http::{header::SET_COOKIE, HeaderValue};
        let c = demo::visitor_cookie(cookie, state.secure_cookies);
        res.append_header(
            SET_COOKIE,
            HeaderValue::from_str(&c).map_err(AppError::internal)?,
        );
    }
    state.jobs_notify.notify_one();
    tracing::info!(job = id, owner = ?asker.owner, model = %params.model, "generation queued");
    Ok(id)
}

/// Who submits a generation ([`submit_generation`]).
#[cfg(feature = "ssr")]
struct Asker {
    owner: crate::ssr::demo::Owner,
    access: crate::types::GenerateAccess,
    /// The client's address (the demo's rate).
    client: std::net::IpAddr,
    /// A visitor's new cookie, set with the answer (their first generation).
    new_cookie: Option<String>,
}

#[cfg(feature = "ssr")]
impl Asker {
    /// The visitor's rate key: their cookie hash.
    fn visitor_key(&self) -> &str {
        match &self.owner {
            crate::ssr::demo::Owner::Visitor(h) => h,
            crate::ssr::demo::Owner::User(_) => "",
        }
    }
}

/// A researcher; or with the public demo on, anyone else as a visitor (with a new visitor
/// cookie when they have none); else 401/403 as [`auth::require_role`] answers.
#[cfg(feature = "ssr")]
async fn asker() -> Result<Asker, AppError> {
    use crate::{
        ssr::{auth, cookies, demo},
        types::{GenerateAccess, Role},
    };
    let state = crate::ssr::state()?;
    let peer = leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .await
        .map(|c| c.0.ip())
        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
    let headers: axum::http::HeaderMap =
        leptos_axum::extract().await.map_err(AppError::internal)?;
    let client = crate::ssr::client_ip::client_ip(peer, &headers, &state.trusted_proxies);
    let user = auth::user_from_headers(&state, &headers)
        .await
        .map_err(AppError::internal)?;
    if let Some(u) = user.as_ref().filter(|u| u.role.satisfies(Role::Researcher)) {
        return Ok(Asker {
            owner: demo::Owner::User(u.id),
            access: GenerateAccess::Researcher,
            client,
            new_cookie: None,
        });
    }
    // an account of another role, or anyone while the demo is off: 403 / 401
    if user.is_some()
        || !demo::enabled(&state.pool)
            .await
            .map_err(AppError::internal)?
    {
        auth::require_role(Role::Researcher).await?;
    }
    let (token, new_cookie) = match demo::visitor_token(&state, &headers) {
        Some(t) => (t, None),
        None => {
            let t = cookies::random_token();
            (t.clone(), Some(t))
        }
    };
    Ok(Asker {
        owner: demo::Owner::Visitor(cookies::token_hash(&token)),
        access: GenerateAccess::Visitor(state.demo.request),
        client,
        new_cookie,
    })
}

/// Whether and within which bounds the asker may generate: a researcher, or a visitor while
/// the public demo is on; `None` for anyone else.
#[server(prefix = "/api", endpoint = "generate_access", input = GetUrl)]
pub async fn generate_access() -> Result<Option<crate::types::GenerateAccess>, AppError> {
    use crate::{
        ssr::{auth, demo},
        types::{GenerateAccess, Role},
    };
    let state = crate::ssr::state()?;
    if let Some(u) = auth::current_user().await? {
        if u.role.satisfies(Role::Researcher) {
            return Ok(Some(GenerateAccess::Researcher));
        }
    }
    let on = demo::enabled(&state.pool)
        .await
        .map_err(AppError::internal)?;
    Ok(on.then_some(GenerateAccess::Visitor(state.demo.request)))
}

/// Queues an evaluation (researchers): `real` and `fake` are folders or manifests relative to
/// the server's data dir, `metrics` comma-separated (fvd, fid, kid, clipsim, mt), `n` videos per
/// set. Returns the job id; the report lands in `eval/<id>/` of the data dir.
#[server(prefix = "/api", endpoint = "queue_eval")]
pub async fn queue_eval(
    csrf_token: String,
    real: String,
    fake: String,
    metrics: String,
    n: usize,
) -> Result<i64, AppError> {
    use crate::{
        ssr::{auth, jobs},
        types::{EvalParams, Role, EVAL_METRICS},
    };
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let user = auth::require_role(Role::Researcher).await?;
    let bad = |m: &str| AppError::Invalid(m.to_owned());
    let metrics: Vec<String> = metrics
        .split(',')
        .map(|m| m.trim().to_lowercase())
        .filter(|m| !m.is_empty())
        .collect();
    if metrics.is_empty() {
        return Err(bad("choose at least one metric"));
    }
    if let Some(m) = metrics.iter().find(|m| !EVAL_METRICS.contains(&m.as_str())) {
        return Err(bad(&format!(
            "unknown metric {m:?} (known: {})",
            EVAL_METRICS.join(", ")
        )));
    }
    if !(2..=10_000).contains(&n) {
        return Err(bad("videos per set must be 2–10000"));
    }
    let needs_real = metrics
        .iter()
        .any(|m| matches!(m.as_str(), "fvd" | "fid" | "kid"));
    if needs_real {
        jobs::data_path(&state.data_dir, &real).map_err(|e| bad(&e))?;
    }
    jobs::data_path(&state.data_dir, &fake).map_err(|e| bad(&e))?;
    let params = EvalParams {
        real: real.trim().to_owned(),
        fake: fake.trim().to_owned(),
        metrics,
        n,
    };
    let json = serde_json::to_string(&params).map_err(AppError::internal)?;
    let id = jobs::submit(&state.pool, "eval", &json, user.id)
        .await
        .map_err(AppError::internal)?;
    state.jobs_notify.notify_one();
    Ok(id)
}

/// Jobs, newest first (researchers); `kind` filters. With the public demo on, a visitor gets
/// their own generations.
#[server(prefix = "/api", endpoint = "jobs", input = GetUrl)]
pub async fn list_jobs(kind: Option<String>) -> Result<Vec<JobView>, AppError> {
    use crate::{
        ssr::{auth, demo::Owner, jobs},
        types::Role,
    };
    let state = crate::ssr::state()?;
    let viewer = viewing().await?;
    let visitor = match &viewer.owner {
        Owner::Visitor(h) => Some(h.as_str()),
        Owner::User(_) => {
            auth::require_role(Role::Researcher).await?;
            None
        }
    };
    let kind = kind.filter(|k| !k.is_empty());
    if visitor.is_some() && kind.as_deref() != Some("generate") {
        return Err(AppError::Forbidden(
            "forbidden: this needs the researcher role".into(),
        ));
    }
    jobs::list(&state.pool, kind.as_deref(), viewer.visibility(), 200)
        .await
        .map_err(AppError::internal)
}

/// Who views generations ([`crate::ssr::demo::viewer`]); 401 for nobody.
#[cfg(feature = "ssr")]
async fn viewing() -> Result<crate::ssr::demo::Viewer, AppError> {
    use crate::ssr::demo;
    match demo::viewer().await? {
        Some(v) => Ok(v),
        None => Err(AppError::login_required()),
    }
}

/// Cancels one of your jobs (admins: anyone's; a demo visitor: their own generations): a
/// queued one at once, a running one by asking its worker to stop it between two steps (a
/// generation within one denoising step). Returns whether there was such a job to cancel.
#[server(prefix = "/api", endpoint = "cancel_job")]
pub async fn cancel_job(csrf_token: String, id: i64) -> Result<bool, AppError> {
    use crate::{
        ssr::{auth, demo::Owner, jobs},
        types::Role,
    };
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let viewer = viewing().await?;
    if let Owner::User(_) = viewer.owner {
        auth::require_role(Role::Researcher).await?;
    }
    let cancelled = jobs::cancel(&state.pool, id, viewer.cancels_for())
        .await
        .map_err(AppError::internal)?;
    match cancelled {
        Some(jobs::Cancel::Cancelled) => {
            tracing::info!(job = id, "cancelled while queued");
            // a training job queued to resume will not: its checkpoints go
            crate::ssr::train::remove_checkpoints(&state.data_dir, id);
        }
        Some(jobs::Cancel::Requested) => tracing::info!(job = id, "cancel asked of its worker"),
        None => {}
    }
    Ok(cancelled.is_some())
}

/// The models the server generates with, the default first, each with its DreamBooth files,
/// adapters and own generation settings (researchers, and demo visitors).
#[server(prefix = "/api", endpoint = "generate_models", input = GetUrl)]
pub async fn generate_models() -> Result<Vec<crate::types::ModelOption>, AppError> {
    let state = crate::ssr::state()?;
    researcher_or_visitor().await?;
    let generator = state.generator.clone();
    tokio::task::spawn_blocking(move || generator.models())
        .await
        .map_err(AppError::internal)
}

/// One generation with its settings and, once done, its provenance and downloads (the page
/// `/generations/{id}`; researchers, and a demo visitor for their own). `None`: no generation
/// of that id that the asker may see.
#[server(prefix = "/api", endpoint = "generation", input = GetUrl)]
pub async fn get_generation(id: i64) -> Result<Option<crate::types::GenerationView>, AppError> {
    use crate::ssr::gallery;
    let state = crate::ssr::state()?;
    let viewer = researcher_or_visitor().await?;
    gallery::generation(&state.pool, id, &viewer)
        .await
        .map_err(AppError::internal)
}

/// A researcher (or admin), or a demo visitor; 401/403 for anyone else.
#[cfg(feature = "ssr")]
async fn researcher_or_visitor() -> Result<crate::ssr::demo::Viewer, AppError> {
    use crate::{ssr::auth, types::Role};
    let viewer = viewing().await?;
    if viewer.role.is_some() {
        auth::require_role(Role::Researcher).await?;
    }
    Ok(viewer)
}

/// A page of the gallery of finished generations (researchers: everyone's but the hidden ones,
/// admins: all; a demo visitor: their own): `mine` keeps the asker's own, `q` searches the
/// prompts, `page` counts from 1.
#[server(prefix = "/api", endpoint = "gallery", input = GetUrl)]
pub async fn gallery(
    mine: bool,
    q: String,
    page: i64,
) -> Result<crate::types::GalleryPage, AppError> {
    use crate::ssr::gallery;
    let state = crate::ssr::state()?;
    let viewer = researcher_or_visitor().await?;
    if q.chars().count() > gallery::MAX_QUERY_CHARS {
        return Err(AppError::Invalid(format!(
            "the search is limited to {} characters",
            gallery::MAX_QUERY_CHARS
        )));
    }
    gallery::gallery(&state.pool, &viewer, mine, &q, page.clamp(1, 1_000_000))
        .await
        .map_err(AppError::internal)
}

/// Hides a generation from everyone but admins (`hidden` true), or shows it again (admins).
/// Returns whether there was such a generation.
#[server(prefix = "/api", endpoint = "hide_generation")]
pub async fn hide_generation(csrf_token: String, id: i64, hidden: bool) -> Result<bool, AppError> {
    use crate::{
        ssr::{auth, gallery},
        types::Role,
    };
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let admin = auth::require_role(Role::Admin).await?;
    let found = gallery::set_hidden(&state.pool, id, hidden)
        .await
        .map_err(AppError::internal)?;
    tracing::info!(
        job = id,
        hidden,
        admin = admin.id,
        found,
        "generation visibility"
    );
    Ok(found)
}

/// Whether the public demo is on (admins).
#[server(prefix = "/api", endpoint = "demo_mode", input = GetUrl)]
pub async fn demo_mode() -> Result<bool, AppError> {
    use crate::{
        ssr::{auth, demo},
        types::Role,
    };
    let state = crate::ssr::state()?;
    auth::require_role(Role::Admin).await?;
    demo::enabled(&state.pool).await.map_err(AppError::internal)
}

/// Turns the public demo on or off (admins).
#[server(prefix = "/api", endpoint = "set_demo_mode")]
pub async fn set_demo_mode(csrf_token: String, on: bool) -> Result<(), AppError> {
    use crate::{
        ssr::{auth, demo},
        types::Role,
    };
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let admin = auth::require_role(Role::Admin).await?;
    demo::set_enabled(&state.pool, on)
        .await
        .map_err(AppError::internal)?;
    tracing::info!(on, admin = admin.id, "public demo");
    Ok(())
}
