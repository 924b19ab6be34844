//! Plain axum routes (media files, downloads) beside the server functions, one file per area.
pub mod annotate;
pub mod generated;
pub mod studies;
