//! Plain axum routes (media files, downloads) next to the Leptos app, one file per area.
pub mod annotate;
