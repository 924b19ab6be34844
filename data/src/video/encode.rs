//! Encoding: MP4 (H.264/libx264, yuv420p, +faststart), animated WebP (libwebp_anim) and GIF.

use std::path::Path;

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling::{context::Context as Scaler, flag::Flags};
use ffmpeg::util::frame::video::Video as AvFrame;
use ffmpeg::{Dictionary, Rational};
use ffmpeg_next as ffmpeg;
use image::RgbImage;

use super::init;
use crate::error::{DataError, Result};

/// Encoder settings for [`write_mp4`] / [`write_video`].
#[derive(Debug, Clone)]
pub struct EncodeOptions {
    /// x264 constant rate factor (0 = lossless, 18 ≈ visually lossless, 23 = x264 default).
    pub crf: u8,
    /// x264 preset (`ultrafast` … `veryslow`).
    pub preset: String,
    /// Encoder threads (0 = auto; small frames use 1 so many clips can encode in parallel).
    pub threads: usize,
    /// WebP quality 0..100.
    pub webp_quality: u8,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            crf: 18,
            preset: "fast".into(),
            threads: 0,
            webp_quality: 80,
        }
    }
}

fn err(path: &Path, reason: impl std::fmt::Display) -> DataError {
    DataError::Encode {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn check_frames(path: &Path, frames: &[RgbImage], fps: f64, even: bool) -> Result<(u32, u32)> {
    let first = frames.first().ok_or_else(|| err(path, "no frames"))?;
    let (w, h) = first.dimensions();
    if w == 0 || h == 0 {
        return Err(err(path, "zero-sized frames"));
    }
    if even && (w % 2 == 1 || h % 2 == 1) {
        return Err(err(
            path,
            format!("yuv420p needs even frame sizes, got {w}x{h}"),
        ));
    }
    if let Some((i, f)) = frames
        .iter()
        .enumerate()
        .find(|(_, f)| f.dimensions() != (w, h))
    {
        return Err(err(
            path,
            format!("frame {i} is {:?}, frame 0 is {w}x{h}", f.dimensions()),
        ));
    }
    if !(fps.is_finite() && fps > 0.0) {
        return Err(err(path, format!("fps must be positive, got {fps}")));
    }
    Ok((w, h))
}

/// Encode RGB frames to an H.264 MP4 (yuv420p, `+faststart`) at `fps`, default settings.
pub fn write_mp4(path: impl AsRef<Path>, frames: &[RgbImage], fps: f64) -> Result<()> {
    write_mp4_with(path, frames, fps, &EncodeOptions::default())
}

/// [`write_mp4`] with explicit settings.
pub fn write_mp4_with(
    path: impl AsRef<Path>,
    frames: &[RgbImage],
    fps: f64,
    opts: &EncodeOptions,
) -> Result<()> {
    let path = path.as_ref();
    let (w, h) = check_frames(path, frames, fps, true)?;
    let mut wr = VideoWriter::mp4(path, (w, h), fps, opts)?;
    for f in frames {
        wr.push(f.as_raw())?;
    }
    wr.finish().map(|_| ())
}

/// Encode RGB frames to an animated WebP that loops forever.
pub fn write_webp(path: impl AsRef<Path>, frames: &[RgbImage], fps: f64) -> Result<()> {
    let path = path.as_ref();
    let (w, h) = check_frames(path, frames, fps, true)?;
    let mut codec_opts = Dictionary::new();
    codec_opts.set(
        "quality",
        &EncodeOptions::default().webp_quality.to_string(),
    );
    let mut header = Dictionary::new();
    header.set("loop", "0");
    header.set("fflags", "+bitexact");
    encode_ffmpeg(
        path,
        frames,
        fps,
        (w, h),
        "webp",
        "libwebp_anim",
        Pixel::YUV420P,
        codec_opts,
        header,
    )
}

/// Encode RGB frames to an animated GIF (NeuQuant palette per frame) that loops forever.
pub fn write_gif(path: impl AsRef<Path>, frames: &[RgbImage], fps: f64) -> Result<()> {
    use image::codecs::gif::{GifEncoder, Repeat};
    let path = path.as_ref();
    check_frames(path, frames, fps, false)?;
    let file = std::fs::File::create(path).map_err(|e| DataError::io(path, e))?;
    let mut enc = GifEncoder::new_with_speed(std::io::BufWriter::new(file), 10);
    enc.set_repeat(Repeat::Infinite).map_err(|e| err(path, e))?;
    let delay = image::Delay::from_numer_denom_ms(1000, (fps.round() as u32).max(1));
    let gif_frames = frames.iter().map(|f| {
        let rgba = image::DynamicImage::ImageRgb8(f.clone()).into_rgba8();
        image::Frame::from_parts(rgba, 0, 0, delay)
    });
    enc.encode_frames(gif_frames).map_err(|e| err(path, e))
}

/// Write by extension: `.mp4`/`.mov`/`.m4v` → [`write_mp4`], `.webp`, `.gif`.
pub fn write_video(path: impl AsRef<Path>, frames: &[RgbImage], fps: f64) -> Result<()> {
    let path = path.as_ref();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "mp4" | "m4v" | "mov" => write_mp4(path, frames, fps),
        "webp" => write_webp(path, frames, fps),
        "gif" => write_gif(path, frames, fps),
        _ => Err(err(
            path,
            format!("unknown video extension {ext:?} (mp4, webp, gif)"),
        )),
    }
}

/// A streaming encoder: create, [`push`](Self::push) packed RGB frames, [`finish`](Self::finish).
/// Output sizes are rounded down to even (yuv420p); frames are scaled to it when needed.
pub struct VideoWriter {
    path: std::path::PathBuf,
    octx: ffmpeg::format::context::Output,
    enc: ffmpeg::encoder::Video,
    scaler: Scaler,
    rgb: AvFrame,
    out: AvFrame,
    packet: ffmpeg::Packet,
    time_base: Rational,
    ost_tb: Rational,
    in_size: (u32, u32),
    count: i64,
}

impl VideoWriter {
    /// H.264 MP4 (yuv420p, `+faststart`) for frames of `in_size` at `fps`.
    pub fn mp4(
        path: impl AsRef<Path>,
        in_size: (u32, u32),
        fps: f64,
        opts: &EncodeOptions,
    ) -> Result<Self> {
        let (w, h) = in_size;
        let mut codec_opts = Dictionary::new();
        codec_opts.set("preset", &opts.preset);
        codec_opts.set("crf", &opts.crf.to_string());
        let threads = if opts.threads == 0 && w * h <= 256 * 256 {
            1
        } else {
            opts.threads
        };
        codec_opts.set("threads", &threads.to_string());
        // x264's macroblock-tree rate control reads memory it has not initialised when a clip is
        // shorter than its lookahead, so the same frames could encode to different bytes within
        // one process. Off, encoding is byte-for-byte reproducible (tested).
        codec_opts.set("x264-params", "mbtree=0");
        let mut header = Dictionary::new();
        header.set("movflags", "+faststart");
        header.set("fflags", "+bitexact");
        Self::open(
            path.as_ref(),
            in_size,
            fps,
            "mp4",
            "libx264",
            Pixel::YUV420P,
            codec_opts,
            header,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn open(
        path: &Path,
        in_size: (u32, u32),
        fps: f64,
        format: &str,
        codec_name: &str,
        pix: Pixel,
        codec_opts: Dictionary,
        header: Dictionary,
    ) -> Result<Self> {
        init();
        let e = |r: ffmpeg::Error| err(path, r);
        if !(fps.is_finite() && fps > 0.0) {
            return Err(err(path, format!("fps must be positive, got {fps}")));
        }
        let (w, h) = (in_size.0 & !1, in_size.1 & !1);
        if w == 0 || h == 0 {
            return Err(err(path, format!("frame size {in_size:?} too small")));
        }
        let codec = ffmpeg::encoder::find_by_name(codec_name)
            .ok_or_else(|| err(path, format!("ffmpeg has no {codec_name} encoder")))?;
        let mut octx = ffmpeg::format::output_as(&path, format).map_err(e)?;
        let global_header = octx
            .format()
            .flags()
            .contains(ffmpeg::format::Flags::GLOBAL_HEADER);
        let rate = Rational::from(fps);
        let time_base = rate.invert();
        let mut enc = ffmpeg::codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(e)?;
        enc.set_width(w);
        enc.set_height(h);
        enc.set_format(pix);
        enc.set_time_base(time_base);
        enc.set_frame_rate(Some(rate));
        if global_header {
            enc.set_flags(ffmpeg::codec::Flags::GLOBAL_HEADER);
        }
        let enc = enc.open_with(codec_opts).map_err(e)?;
        {
            let mut ost = octx.add_stream(codec).map_err(e)?;
            ost.set_parameters(&enc);
            ost.set_time_base(time_base);
            // SAFETY: plain field write on the stream we just added, before the header is written.
            unsafe {
                (*ost.as_mut_ptr()).avg_frame_rate = rate.into();
            }
        }
        octx.write_header_with(header).map_err(e)?;
        let ost_tb = octx.stream(0).expect("stream 0").time_base();
        let scaler = Scaler::get(
            Pixel::RGB24,
            in_size.0,
            in_size.1,
            pix,
            w,
            h,
            Flags::BICUBIC,
        )
        .map_err(e)?;
        // Zeroed buffers: padding bytes must not carry garbage into the encoder (determinism).
        let mut rgb = AvFrame::new(Pixel::RGB24, in_size.0, in_size.1);
        rgb.data_mut(0).fill(0);
        let mut out = AvFrame::new(pix, w, h);
        for plane in 0..out.planes() {
            out.data_mut(plane).fill(0);
        }
        Ok(Self {
            path: path.to_path_buf(),
            octx,
            enc,
            scaler,
            rgb,
            out,
            packet: ffmpeg::Packet::empty(),
            time_base,
            ost_tb,
            in_size,
            count: 0,
        })
    }

    fn drain(&mut self) -> Result<()> {
        while self.enc.receive_packet(&mut self.packet).is_ok() {
            self.packet.set_stream(0);
            self.packet.rescale_ts(self.time_base, self.ost_tb);
            self.packet
                .write_interleaved(&mut self.octx)
                .map_err(|r| err(&self.path, r))?;
        }
        Ok(())
    }

    /// Encode one packed RGB24 frame of the size given at creation.
    pub fn push(&mut self, rgb: &[u8]) -> Result<()> {
        let row = (self.in_size.0 * 3) as usize;
        if rgb.len() != row * self.in_size.1 as usize {
            return Err(err(
                &self.path,
                format!(
                    "frame {} has {} bytes, expected {}",
                    self.count,
                    rgb.len(),
                    row * self.in_size.1 as usize
                ),
            ));
        }
        let stride = self.rgb.stride(0);
        let dst = self.rgb.data_mut(0);
        for (y, src) in rgb.chunks_exact(row).enumerate() {
            dst[y * stride..y * stride + row].copy_from_slice(src);
        }
        self.scaler
            .run(&self.rgb, &mut self.out)
            .map_err(|r| err(&self.path, r))?;
        self.out.set_pts(Some(self.count));
        self.enc
            .send_frame(&self.out)
            .map_err(|r| err(&self.path, r))?;
        self.count += 1;
        self.drain()
    }

    /// Flush the encoder and write the trailer. Returns the number of frames written.
    pub fn finish(mut self) -> Result<usize> {
        self.enc.send_eof().map_err(|r| err(&self.path, r))?;
        self.drain()?;
        self.octx.write_trailer().map_err(|r| err(&self.path, r))?;
        Ok(self.count as usize)
    }
}

#[allow(clippy::too_many_arguments)]
fn encode_ffmpeg(
    path: &Path,
    frames: &[RgbImage],
    fps: f64,
    (w, h): (u32, u32),
    format: &str,
    codec_name: &str,
    pix: Pixel,
    codec_opts: Dictionary,
    header: Dictionary,
) -> Result<()> {
    let mut wr = VideoWriter::open(
        path,
        (w, h),
        fps,
        format,
        codec_name,
        pix,
        codec_opts,
        header,
    )?;
    for f in frames {
        wr.push(f.as_raw())?;
    }
    wr.finish().map(|_| ())
}
