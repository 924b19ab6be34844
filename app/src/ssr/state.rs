//! The state shared by every request: one database pool (SQLite or PostgreSQL) and the server's
//! settings.
use std::{path::PathBuf, sync::Arc};

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sqlx::AnyPool;

use super::{
    generator::Generator, media::MediaTools, rate_limit::LoginThrottle, scorer::VideoScorer,
};

#[derive(Clone)]
pub struct ServerState {
    pub leptos_options: LeptosOptions,
    pub pool: AnyPool,
    /// Root of everything the server writes (database, media, weights).
    pub data_dir: PathBuf,
    /// Mark cookies `Secure` (set when served behind TLS).
    pub secure_cookies: bool,
    /// Failed-login throttle, keyed by e-mail and by client address.
    pub login_limiter: Arc<LoginThrottle>,
    /// Reverse proxies whose `X-Forwarded-For` names the client ([`super::client_ip`]).
    pub trusted_proxies: Arc<Vec<std::net::IpAddr>>,
    /// One-time token that allows creating the first admin through `/setup`; `None` once used or
    /// when an admin already exists. Only its SHA-256 is held.
    pub setup_token_hash: Arc<std::sync::Mutex<Option<String>>>,
    /// Video tools implemented by the server with the engine crates.
    pub media: Arc<dyn MediaTools>,
    /// Text-to-video generation implemented by the server with the model crate.
    pub generator: Arc<dyn Generator>,
    /// Automatic metrics (CLIPSIM, metamorphic score) implemented by the server with the metrics
    /// crate.
    pub scorer: Arc<dyn VideoScorer>,
    /// Wakes the job worker when a job is queued.
    pub jobs_notify: Arc<tokio::sync::Notify>,
    /// Caps on what researchers may upload.
    pub upload_limits: UploadLimits,
    /// The most generations one user may have waiting in the queue (`--max-queued-generations`).
    pub max_queued_generations: i64,
    /// What the public demo allows anonymous visitors, when an admin turns it on.
    pub demo: super::demo::DemoLimits,
    /// The demo's rate: generations per client address and per visitor.
    pub demo_buckets: Arc<super::rate_limit::TokenBuckets>,
}

/// Caps on uploaded stimuli: the size of one upload, and the bytes one researcher's studies may
/// hold on disk (stored media plus uploads in flight).
#[derive(Clone, Copy, Debug)]
pub struct UploadLimits {
    pub max_bytes: u64,
    pub quota_bytes: u64,
}

impl FromRef<ServerState> for LeptosOptions {
    fn from_ref(state: &ServerState) -> Self {
        state.leptos_options.clone()
    }
}

/// The server state from the request's reactive context, as an error instead of a panic when it
/// is missing. During SSR a resource's future can outlive the owner that started it (a
/// `Suspense` re-renders and drops the first pass's children); a panic there left the resource
/// unresolved and the streamed page never finished loading.
pub fn state() -> Result<ServerState, crate::error::AppError> {
    leptos::prelude::use_context::<ServerState>()
        .ok_or_else(|| crate::error::AppError::internal("request context is gone"))
}

/// The response options of the current request (see [`state`] for why this is fallible).
pub fn response() -> Result<leptos_axum::ResponseOptions, crate::error::AppError> {
    leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
        .ok_or_else(|| crate::error::AppError::internal("request context is gone"))
}
