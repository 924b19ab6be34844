//! Video I/O through ffmpeg (ffmpeg-next against the system's libav* 5.1).
//!
//! - [`read_video`]`(path, Option<(w, h)>)` decodes every frame to RGB u8 at the native or the
//!   requested size (area filter). The decoder is drained at end of stream, so the frame count is
//!   exactly what `ffprobe -count_frames` reports.
//! - [`for_each_frame`] streams frames one at a time (cut detection on long files).
//! - [`probe`] reads the header only: size, fps, duration, frame count when the container has it.
//! - [`write_mp4`] encodes H.264 (libx264, yuv420p, `+faststart` so browsers stream it);
//!   [`write_gif`] and [`write_webp`] write animated GIF / WebP that loop forever.
//!
//! Zero-length, truncated, corrupt, audio-only and non-video files give a typed
//! [`DataError`](crate::DataError) naming the file, never a panic.

mod decode;
mod encode;

pub use decode::{for_each_frame, probe, read_video, DecodeOptions, FrameRef, VideoInfo};
pub use encode::{
    write_gif, write_mp4, write_mp4_with, write_video, write_webp, EncodeOptions, VideoWriter,
};

use image::RgbImage;

/// A decoded video: RGB u8 frames, all the same size.
#[derive(Debug, Clone)]
pub struct Video {
    pub width: u32,
    pub height: u32,
    /// Frames per second of the stream (average frame rate; the nominal rate when unknown).
    pub fps: f64,
    pub frames: Vec<RgbImage>,
    /// Presentation time of each frame in seconds from the start of the stream.
    pub timestamps: Vec<f64>,
}

impl Video {
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Duration in seconds (frame count / fps).
    pub fn duration(&self) -> f64 {
        if self.fps > 0.0 {
            self.frames.len() as f64 / self.fps
        } else {
            0.0
        }
    }
}

/// Initialise ffmpeg once and keep its logging quiet (our errors carry the reasons).
pub(crate) fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        ffmpeg_next::init().expect("ffmpeg initialisation");
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
    });
}

/// [`init`] for sibling modules that call ffmpeg directly.
pub(crate) fn init_public() {
    init();
}
