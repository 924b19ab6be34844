//! Plain axum routes (media files, downloads) beside the server functions.
pub mod generated;
