//! Keyframes for captioning, like the official caption step0: 8 frames at indices
//! {0, i·⌊(N−1)/7⌋ for i = 1..6, N−1}, the short edge resized to 256 with the area filter.

use std::path::Path;

use image::RgbImage;

use crate::error::{DataError, Result};
use crate::video::{self, DecodeOptions};

/// The 8 keyframe indices of a clip of `n` frames (duplicates when n < 8, like upstream).
pub fn keyframe_indices(n: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let step = (n - 1) / 7;
    let mut v: Vec<usize> = std::iter::once(0)
        .chain((1..=6).map(|i| i * step))
        .chain(std::iter::once(n - 1))
        .collect();
    v.sort_unstable();
    v
}

/// Output size with the short edge = `short` (never upscales), even dimensions kept ≥ 2.
pub fn short_edge_size(w: u32, h: u32, short: u32) -> (u32, u32) {
    let s = w.min(h);
    if s <= short {
        return (w, h);
    }
    let f = f64::from(short) / f64::from(s);
    let (nw, nh) = (
        (f64::from(w) * f).round() as u32,
        (f64::from(h) * f).round() as u32,
    );
    if w <= h {
        (short, nh.max(1))
    } else {
        (nw.max(1), short)
    }
}

/// Decode the 8 keyframes of `path`, short edge `short` (256 upstream). Returns (index, frame).
pub fn extract_keyframes(path: impl AsRef<Path>, short: u32) -> Result<Vec<(usize, RgbImage)>> {
    let path = path.as_ref();
    let info = video::probe(path)?;
    let size = short_edge_size(info.width, info.height, short);
    // The header's frame count may be missing or wrong: count by decoding when absent.
    let n = match info.frames {
        Some(n) => n as usize,
        None => {
            let opts = DecodeOptions {
                size: Some((16, 16)),
                ..Default::default()
            };
            video::for_each_frame(path, &opts, |_| Ok(true))?
                .frames
                .unwrap_or(0) as usize
        }
    };
    let wanted = keyframe_indices(n);
    let opts = DecodeOptions {
        size: Some(size),
        ..Default::default()
    };
    let last = *wanted.last().ok_or_else(|| DataError::NoFrames {
        path: path.to_path_buf(),
    })?;
    let mut got: Vec<(usize, RgbImage)> = Vec::with_capacity(8);
    video::for_each_frame(path, &opts, |f| {
        for _ in wanted.iter().filter(|&&i| i == f.index) {
            got.push((
                f.index,
                RgbImage::from_raw(f.width, f.height, f.data.to_vec()).expect("frame size"),
            ));
        }
        Ok(f.index < last)
    })?;
    if got.len() != wanted.len() {
        return Err(DataError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("expected keyframes {wanted:?}, decoded {}", got.len()),
        });
    }
    Ok(got)
}
