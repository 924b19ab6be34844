//! The state shared by every request: one SQLite pool and the server's settings.
use std::{path::PathBuf, sync::Arc};

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sqlx::SqlitePool;

use super::{media::MediaTools, rate_limit::RateLimiter};

#[derive(Clone)]
pub struct ServerState {
    pub leptos_options: LeptosOptions,
    pub pool: SqlitePool,
    /// Root of everything the server writes (database, media, weights).
    pub data_dir: PathBuf,
    /// Mark cookies `Secure` (set when served behind TLS).
    pub secure_cookies: bool,
    /// Failed-login limiter, keyed by e-mail and by client address.
    pub login_limiter: Arc<RateLimiter>,
    /// One-time token that allows creating the first admin through `/setup`; `None` once used or
    /// when an admin already exists. Only its SHA-256 is held.
    pub setup_token_hash: Arc<std::sync::Mutex<Option<String>>>,
    /// Video tools implemented by the server with the engine crates.
    pub media: Arc<dyn MediaTools>,
}

impl FromRef<ServerState> for LeptosOptions {
    fn from_ref(state: &ServerState) -> Self {
        state.leptos_options.clone()
    }
}
