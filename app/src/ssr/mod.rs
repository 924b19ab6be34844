//! Server-only code used by the server functions and by the axum server: database, accounts,
//! sessions, CSRF tokens, rate limiting. Compiled only with the `ssr` feature.
pub mod annotate;
pub mod auth;
pub mod client_ip;
pub mod cookies;
pub mod csv;
pub mod db;
pub mod demo;
pub mod error;
pub mod gallery;
pub mod generator;
pub mod jobs;
pub mod media;
pub mod password;
pub mod rate_limit;
pub mod scorer;
pub mod state;
pub mod studies;
pub mod train;

pub use state::{response, state, ServerState, UploadLimits};
