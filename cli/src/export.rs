//! Writing a generated [`Video`] (ports diffusers `utils/export_utils.py` `export_to_video` /
//! `export_to_gif`, and AnimateDiff's `save_videos_grid`, which MagicTime's CLI uses for its GIFs):
//! the format is the file's extension — `.mp4` (H.264, the default: a name without extension
//! gets `.mp4`), `.gif`, `.webp` (animated, looping), `.png` (every frame in one grid image) or
//! `.zip` (every frame as its own PNG, `frame-0001.png` on).
//!
//! Files appear whole or not at all: each is written to `.partial-<name>` next to it and renamed
//! into place (as the server's job outputs, `server/src/output.rs`); a failed write leaves nothing.

use std::path::{Path, PathBuf};

use anyhow::Context;
use image::RgbImage;

use magictime_model::pipeline::Video;

/// The output formats, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// H.264 MP4 (yuv420p, odd sizes rounded down to even).
    Mp4,
    /// Animated GIF, looping.
    Gif,
    /// Animated WebP, looping.
    Webp,
    /// One PNG with the frames in a grid, row by row ([`frame_grid`]).
    GridPng,
    /// A zip of one PNG per frame ([`write_frames_zip`]).
    FramesZip,
}

impl Format {
    /// The extensions understood, as the error lists them.
    pub const EXTENSIONS: &'static str =
        ".mp4 (default), .gif, .webp, .png (frame grid), .zip (PNG frames)";

    /// The format of `path` by its extension (none: MP4).
    pub fn of(path: &Path) -> anyhow::Result<Self> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        Ok(match ext.as_deref() {
            None | Some("mp4") => Self::Mp4,
            Some("gif") => Self::Gif,
            Some("webp") => Self::Webp,
            Some("png") => Self::GridPng,
            Some("zip") => Self::FramesZip,
            Some(other) => anyhow::bail!(
                "{}: unknown output extension .{other}; expected {}",
                path.display(),
                Self::EXTENSIONS
            ),
        })
    }
}

/// `path` as it will be written: `.mp4` added when it has no extension.
pub fn output_path(path: &Path) -> PathBuf {
    if path.extension().is_none() {
        path.with_extension("mp4")
    } else {
        path.to_path_buf()
    }
}

/// Pixels between grid cells (torchvision `make_grid`'s default padding, black).
pub const GRID_PADDING: u32 = 2;

/// The frames of `video` tiled row by row, ⌈√F⌉ per row, [`GRID_PADDING`] black pixels around
/// each cell (as torchvision's `make_grid`).
pub fn frame_grid(video: &Video) -> RgbImage {
    let n = video.frames.max(1);
    let cols = (n as f64).sqrt().ceil() as u32;
    let rows = (n as u32).div_ceil(cols);
    let (w, h, p) = (video.width as u32, video.height as u32, GRID_PADDING);
    let mut grid = RgbImage::new(cols * (w + p) + p, rows * (h + p) + p);
    for i in 0..video.frames {
        let (x0, y0) = (
            p + (i as u32 % cols) * (w + p),
            p + (i as u32 / cols) * (h + p),
        );
        let frame = video.frame(i);
        for y in 0..h {
            let src = &frame[(y * w * 3) as usize..((y + 1) * w * 3) as usize];
            let row = ((y0 + y) * grid.width() + x0) as usize * 3;
            grid.as_mut()[row..row + src.len()].copy_from_slice(src);
        }
    }
    grid
}

/// Writes every frame of `video` as a PNG (`frame-0001.png`, …) into a zip at `path`. The PNGs
/// are stored, not compressed again (they are compressed already).
pub fn write_frames_zip(path: &Path, video: &Video) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o644);
    for (i, frame) in frames(video).into_iter().enumerate() {
        let mut png = std::io::Cursor::new(Vec::new());
        frame.write_to(&mut png, image::ImageFormat::Png)?;
        zip.start_file(format!("frame-{:04}.png", i + 1), opts)?;
        std::io::Write::write_all(&mut zip, png.get_ref())?;
    }
    std::io::Write::flush(&mut zip.finish()?)?;
    Ok(())
}

fn frames(video: &Video) -> Vec<RgbImage> {
    (0..video.frames)
        .map(|i| {
            RgbImage::from_raw(
                video.width as u32,
                video.height as u32,
                video.frame(i).to_vec(),
            )
            .expect("frame size")
        })
        .collect()
}

/// Writes `video` to `path` ([`output_path`]) in the format of its extension, atomically.
/// Returns the path written.
pub fn export(path: &Path, video: &Video, fps: u32) -> anyhow::Result<PathBuf> {
    let path = output_path(path);
    let format = Format::of(&path)?;
    anyhow::ensure!(video.frames > 0, "{}: no frames to write", path.display());
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file name", path.display()))?;
    let partial = path.with_file_name(format!(".partial-{}", name.to_string_lossy()));
    let fps_f = fps as f64;
    let written = match format {
        Format::Mp4 => {
            let opts = magictime_data::video::EncodeOptions::default();
            let size = (video.width as u32, video.height as u32);
            magictime_data::video::VideoWriter::mp4(&partial, size, fps_f, &opts)
                .and_then(|mut w| {
                    for i in 0..video.frames {
                        w.push(video.frame(i))?;
                    }
                    w.finish().map(|_| ())
                })
                .map_err(anyhow::Error::from)
        }
        Format::Gif => magictime_data::video::write_gif(&partial, &frames(video), fps_f)
            .map_err(anyhow::Error::from),
        Format::Webp => magictime_data::video::write_webp(&partial, &frames(video), fps_f)
            .map_err(anyhow::Error::from),
        Format::GridPng => frame_grid(video)
            .save_with_format(&partial, image::ImageFormat::Png)
            .map_err(anyhow::Error::from),
        Format::FramesZip => write_frames_zip(&partial, video),
    };
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e.context(format!("writing {}", path.display())));
    }
    std::fs::rename(&partial, &path).with_context(|| {
        let _ = std::fs::remove_file(&partial);
        format!("moving {} into place", path.display())
    })?;
    tracing::info!(path = %path.display(), ?format, frames = video.frames, "wrote");
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(frames: usize, w: usize, h: usize) -> Video {
        let rgb = (0..frames * w * h * 3)
            .map(|i| ((i * 7 + i / (w * h * 3) * 50) % 256) as u8)
            .collect();
        Video {
            frames,
            height: h,
            width: w,
            rgb,
        }
    }

    #[test]
    fn formats_by_extension() {
        assert_eq!(Format::of(Path::new("a.MP4")).unwrap(), Format::Mp4);
        assert_eq!(Format::of(Path::new("a")).unwrap(), Format::Mp4);
        assert_eq!(output_path(Path::new("d/a")), Path::new("d/a.mp4"));
        assert_eq!(Format::of(Path::new("a.gif")).unwrap(), Format::Gif);
        assert_eq!(Format::of(Path::new("a.webp")).unwrap(), Format::Webp);
        assert_eq!(Format::of(Path::new("a.png")).unwrap(), Format::GridPng);
        assert_eq!(Format::of(Path::new("a.zip")).unwrap(), Format::FramesZip);
        let e = Format::of(Path::new("a.avi")).unwrap_err().to_string();
        assert!(e.contains("a.avi") && e.contains(".gif"), "{e}");
    }

    /// Frame i sits at cell (i % cols, i / cols), padding black, ⌈√F⌉ columns.
    #[test]
    fn grid_places_every_frame_row_by_row() {
        let v = video(5, 4, 3);
        let g = frame_grid(&v);
        // 5 frames: 3 columns, 2 rows
        assert_eq!(g.dimensions(), (3 * 6 + 2, 2 * 5 + 2));
        for i in 0..5 {
            let (x0, y0) = (2 + (i as u32 % 3) * 6, 2 + (i as u32 / 3) * 5);
            for y in 0..3u32 {
                for x in 0..4u32 {
                    let want = &v.frame(i)[((y * 4 + x) * 3) as usize..][..3];
                    assert_eq!(&g.get_pixel(x0 + x, y0 + y).0, want, "frame {i} ({x},{y})");
                }
            }
        }
        assert_eq!(g.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(g.get_pixel(19, 11).0, [0, 0, 0]); // the empty sixth cell
    }

    /// The zip holds every frame, in order, as a PNG of the frame's pixels.
    #[test]
    fn frames_zip_holds_every_frame_as_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let v = video(3, 6, 4);
        let out = export(&dir.path().join("v.zip"), &v, 8).unwrap();
        let mut zip = zip::ZipArchive::new(std::fs::File::open(out).unwrap()).unwrap();
        assert_eq!(zip.len(), 3);
        for i in 0..3 {
            let mut f = zip.by_index(i).unwrap();
            assert_eq!(f.name(), format!("frame-{:04}.png", i + 1));
            let mut png = vec![];
            std::io::Read::read_to_end(&mut f, &mut png).unwrap();
            let img = image::load_from_memory(&png).unwrap().to_rgb8();
            assert_eq!(img.dimensions(), (6, 4));
            assert_eq!(img.as_raw().as_slice(), v.frame(i));
        }
    }

    /// A failed write leaves neither the file nor its partial.
    #[test]
    fn failed_writes_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("v.gif");
        let e = export(&out, &video(0, 4, 4), 8).unwrap_err().to_string();
        assert!(e.contains("no frames"), "{e}");
        let odd = dir.path().join("v.webp"); // yuv420p WebP needs even sizes
        assert!(export(&odd, &video(2, 5, 5), 8).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let png = export(&dir.path().join("g.png"), &video(4, 4, 4), 8).unwrap();
        let back = image::open(&png).unwrap().into_rgb8();
        assert_eq!(back, frame_grid(&video(4, 4, 4)));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
