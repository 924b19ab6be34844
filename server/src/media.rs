//! [`MediaTools`] implemented with the `data` engine crate (ffmpeg through ffmpeg-next).
use std::path::{Path, PathBuf};

use magictime_app::ssr::media::{MediaInfo, MediaTools};
use magictime_data::{keyframes, video};

pub struct DataMedia;

impl MediaTools for DataMedia {
    fn probe(&self, path: &Path) -> Result<MediaInfo, String> {
        let v = video::read_video(path, None).map_err(|e| e.to_string())?;
        Ok(MediaInfo {
            frames: v.frames.len(),
            fps: v.fps,
            width: v.width,
            height: v.height,
        })
    }

    fn normalize(
        &self,
        src: &Path,
        dst: &Path,
        fps: f64,
        size: (u32, u32),
    ) -> Result<MediaInfo, String> {
        if !(fps > 0.0 && fps <= 120.0) || size.0 < 2 || size.1 < 2 {
            return Err(format!(
                "invalid target format {fps} fps {}x{}",
                size.0, size.1
            ));
        }
        let v = video::read_video(src, Some(size)).map_err(|e| e.to_string())?;
        if v.frames.is_empty() {
            return Err(format!("{}: no video frames", src.display()));
        }
        let frames = resample(&v.frames, v.fps, fps);
        video::write_mp4(dst, &frames, fps).map_err(|e| e.to_string())?;
        Ok(MediaInfo {
            frames: frames.len(),
            fps,
            width: size.0,
            height: size.1,
        })
    }

    fn keyframes(
        &self,
        src: &Path,
        out_dir: &Path,
        short: u32,
    ) -> Result<Vec<(usize, PathBuf)>, String> {
        std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
        let frames = keyframes::extract_keyframes(src, short).map_err(|e| e.to_string())?;
        frames
            .into_iter()
            .map(|(i, img)| {
                let path = out_dir.join(format!("key_{i:06}.jpg"));
                img.save(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok((i, path))
            })
            .collect()
    }
}

/// Picks, for each output time k/fps_out, the source frame shown at that time (nearest
/// earlier-or-equal frame by time), keeping the clip's duration.
fn resample<T: Clone>(frames: &[T], fps_in: f64, fps_out: f64) -> Vec<T> {
    if (fps_in - fps_out).abs() < 1e-9 || fps_in <= 0.0 {
        return frames.to_vec();
    }
    let duration = frames.len() as f64 / fps_in;
    let n_out = ((duration * fps_out).round() as usize).max(1);
    (0..n_out)
        .map(|k| {
            let i = ((k as f64 / fps_out) * fps_in + 1e-9).floor() as usize;
            frames[i.min(frames.len() - 1)].clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resample_keeps_duration() {
        let f: Vec<usize> = (0..25).collect();
        let out = resample(&f, 25.0, 8.0);
        assert_eq!(out.len(), 8);
        assert_eq!(out[0], 0);
        assert_eq!(out[1], 3); // t = 0.125 s → frame 3.125 → 3
        let up = resample(&f[..4], 4.0, 8.0);
        assert_eq!(up, vec![0, 0, 1, 1, 2, 2, 3, 3]);
        assert_eq!(resample(&f, 8.0, 8.0), f);
    }

    #[test]
    fn normalize_and_keyframes_on_a_real_video() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.mp4");
        let frames: Vec<image::RgbImage> = (0..30)
            .map(|i| image::RgbImage::from_pixel(64, 48, image::Rgb([i as u8 * 8, 100, 50])))
            .collect();
        video::write_mp4(&src, &frames, 15.0).unwrap();
        let m = DataMedia;
        let info = m.probe(&src).unwrap();
        assert_eq!((info.frames, info.width, info.height), (30, 64, 48));
        let dst = dir.path().join("dst.mp4");
        let out = m.normalize(&src, &dst, 10.0, (32, 32)).unwrap();
        assert_eq!(out.frames, 20);
        let back = m.probe(&dst).unwrap();
        assert_eq!((back.frames, back.width, back.height), (20, 32, 32));
        let keys = m.keyframes(&src, &dir.path().join("k"), 32).unwrap();
        assert_eq!(keys.len(), 8);
        assert!(keys.iter().all(|(_, p)| p.exists()));
        let bad = dir.path().join("bad.mp4");
        std::fs::write(&bad, b"not a video").unwrap();
        let err = m.probe(&bad).unwrap_err();
        assert!(err.contains("bad.mp4"), "{err}");
    }
}
