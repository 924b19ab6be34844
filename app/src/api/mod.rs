//! Server functions: called from the browser (or plain HTML forms without JavaScript); their
//! bodies run only on the server. Every state-changing function takes the `csrf_token` field,
//! which the server's CSRF layer checks before the body runs.
pub mod annotate;
pub mod auth;
pub mod datasets;
pub mod jobs;
pub mod studies;
pub mod training;
