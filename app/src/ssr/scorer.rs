//! Automatic video–text metrics as the studies results need them. Implemented by the server with
//! the metrics crate (the UI crate holds no engine code) and put in [`super::ServerState`].
//! `score` blocks: call it through `tokio::task::spawn_blocking`.
use std::path::PathBuf;

/// CLIPSIM (×1) and metamorphic score of one video against its prompt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoScore {
    pub clipsim: f64,
    pub metamorphic: f64,
}

pub trait VideoScorer: Send + Sync + 'static {
    /// `Ok` when an embedder is configured; otherwise why the metrics are not available.
    fn available(&self) -> Result<(), String>;
    /// Scores every (video file, prompt) pair; returns the embedder's name and one score each.
    fn score(&self, videos: &[(PathBuf, String)]) -> Result<(String, Vec<VideoScore>), String>;
}
