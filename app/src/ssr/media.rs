//! Video work the web features need (probing, normalising study stimuli, captioning keyframes).
//! The UI crate holds no engine code: the server implements this trait with the `data` engine
//! crate and puts it in [`super::ServerState`]. Every method blocks: call it through
//! `tokio::task::spawn_blocking`.
use std::path::{Path, PathBuf};

/// Facts about a video file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MediaInfo {
    pub frames: usize,
    pub fps: f64,
    pub width: u32,
    pub height: u32,
}

pub trait MediaTools: Send + Sync + 'static {
    /// Decodes the whole file (exact frame count). A corrupt or non-video file is an error
    /// whose message names the file.
    fn probe(&self, path: &Path) -> Result<MediaInfo, String>;

    /// Re-encodes `src` to `dst` as H.264/yuv420p MP4 (+faststart) at `fps` (frames resampled by
    /// time) and exactly `size` (w, h), so that stimuli differ only in content.
    fn normalize(
        &self,
        src: &Path,
        dst: &Path,
        fps: f64,
        size: (u32, u32),
    ) -> Result<MediaInfo, String>;

    /// The 8 captioning keyframes (indices {0, N−1, i·⌊(N−1)/7⌋}), short edge `short` pixels,
    /// written as JPEG files into `out_dir`; returns (frame index, file) pairs in frame order.
    fn keyframes(
        &self,
        src: &Path,
        out_dir: &Path,
        short: u32,
    ) -> Result<Vec<(usize, PathBuf)>, String>;
}
