//! Video I/O on real files made in the tests: exact frame counts, round trips, bad inputs.

mod common;

use common::*;
use image::{Rgb, RgbImage};
use magictime_data::video::{self, DecodeOptions};
use magictime_data::DataError;

fn moving_frames(n: u32, w: u32, h: u32) -> Vec<RgbImage> {
    (0..n)
        .map(|t| {
            RgbImage::from_fn(w, h, |x, y| {
                let v = ((x + 3 * t) % w) * 255 / w;
                Rgb([v as u8, (y * 255 / h) as u8, (t * 10 % 256) as u8])
            })
        })
        .collect()
}

fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    let s: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (*x as i32 - *y as i32).unsigned_abs() as u64)
        .sum();
    s as f64 / a.as_raw().len() as f64
}

#[test]
fn decode_drains_to_the_exact_ffprobe_frame_count() {
    let dir = tempfile::tempdir().unwrap();
    let p = testsrc(dir.path(), "t.mp4", 48, "160x120", 25);
    let v = video::read_video(&p, None).unwrap();
    assert_eq!(v.len() as u64, ffprobe_count(&p));
    assert_eq!(v.len(), 48);
    assert_eq!((v.width, v.height), (160, 120));
    assert!((v.fps - 25.0).abs() < 1e-9);
    for (i, t) in v.timestamps.iter().enumerate() {
        assert!((t - i as f64 / 25.0).abs() < 1e-6, "ts {i} = {t}");
    }
    let info = video::probe(&p).unwrap();
    assert_eq!(info.frames, Some(48));
    assert_eq!(info.codec, "h264");
    // Other containers/codecs too (mpeg4 in AVI, VP9 in WebM).
    for (name, codec) in [("t.avi", "mpeg4"), ("t.webm", "libvpx-vp9")] {
        let q = dir.path().join(name);
        ffmpeg(&[
            "-i",
            p.to_str().unwrap(),
            "-c:v",
            codec,
            q.to_str().unwrap(),
        ]);
        let n = video::read_video(&q, None).unwrap().len() as u64;
        assert_eq!(n, ffprobe_count(&q), "{name}");
    }
}

#[test]
fn decode_to_requested_size_and_streaming_stop() {
    let dir = tempfile::tempdir().unwrap();
    let p = testsrc(dir.path(), "t.mp4", 20, "320x240", 10);
    let v = video::read_video(&p, Some((64, 48))).unwrap();
    assert_eq!(v.frames[0].dimensions(), (64, 48));
    assert_eq!(v.len(), 20);
    let mut seen = 0;
    let opts = DecodeOptions {
        width: Some(80),
        max_frames: Some(5),
        ..Default::default()
    };
    let info = video::for_each_frame(&p, &opts, |f| {
        assert_eq!((f.width, f.height), (80, 60));
        assert_eq!(f.data.len(), 80 * 60 * 3);
        seen += 1;
        Ok(true)
    })
    .unwrap();
    assert_eq!(seen, 5);
    assert_eq!(info.frames, Some(5));
}

#[test]
fn fast_analysis_decode_is_close_to_the_area_filtered_frames() {
    // fast mode: no deblocking, scaled in YUV then converted to RGB (two scaler passes)
    let dir = tempfile::tempdir().unwrap();
    let p = testsrc(dir.path(), "t.mp4", 12, "320x240", 10);
    let collect = |fast: bool| {
        let opts = DecodeOptions {
            width: Some(256),
            fast,
            ..Default::default()
        };
        let mut frames = Vec::new();
        let info = video::for_each_frame(&p, &opts, |f| {
            frames.push(RgbImage::from_raw(f.width, f.height, f.data.to_vec()).unwrap());
            Ok(true)
        })
        .unwrap();
        assert_eq!((info.width, info.height), (256, 192));
        frames
    };
    let (fast, exact) = (collect(true), collect(false));
    assert_eq!(fast.len(), 12);
    for (a, b) in fast.iter().zip(&exact) {
        assert_eq!(a.dimensions(), (256, 192));
        let d = mean_abs_diff(a, b);
        assert!(d < 4.0, "fast frames differ by {d}");
    }
    // and not trivially: the frames have content that moves
    assert!(mean_abs_diff(&fast[0], &fast[11]) > 4.0);
}

#[test]
fn mp4_round_trip_is_h264_yuv420p_faststart() {
    let dir = tempfile::tempdir().unwrap();
    let frames = moving_frames(17, 64, 48);
    let p = dir.path().join("out.mp4");
    video::write_mp4(&p, &frames, 8.0).unwrap();
    assert_eq!(ffprobe_field(&p, "codec_name"), "h264");
    assert_eq!(ffprobe_field(&p, "pix_fmt"), "yuv420p");
    assert_eq!(ffprobe_count(&p), 17);
    let bytes = std::fs::read(&p).unwrap();
    let pos = |tag: &[u8]| bytes.windows(4).position(|w| w == tag).unwrap();
    assert!(
        pos(b"moov") < pos(b"mdat"),
        "+faststart puts moov before mdat"
    );
    let v = video::read_video(&p, None).unwrap();
    assert_eq!(v.len(), 17);
    assert!((v.fps - 8.0).abs() < 1e-9);
    for (a, b) in frames.iter().zip(&v.frames) {
        assert!(
            mean_abs_diff(a, b) < 6.0,
            "lossy but close: {}",
            mean_abs_diff(a, b)
        );
    }
    // Same frames, same bytes (bitexact muxing, deterministic x264).
    let q = dir.path().join("again.mp4");
    video::write_mp4(&q, &frames, 8.0).unwrap();
    assert_eq!(bytes, std::fs::read(&q).unwrap());
}

#[test]
fn gif_and_webp_are_animated_with_every_frame() {
    use image::AnimationDecoder;
    let dir = tempfile::tempdir().unwrap();
    let frames = moving_frames(6, 40, 30);
    let g = dir.path().join("a.gif");
    video::write_gif(&g, &frames, 8.0).unwrap();
    let dec = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(
        std::fs::File::open(&g).unwrap(),
    ))
    .unwrap();
    let gf = dec.into_frames().collect_frames().unwrap();
    assert_eq!(gf.len(), 6);
    assert_eq!(gf[0].buffer().dimensions(), (40, 30));
    let (num, den) = gf[0].delay().numer_denom_ms();
    assert!(((num as f64 / den as f64) - 125.0).abs() < 10.0);

    let w = dir.path().join("a.webp");
    video::write_video(&w, &frames, 8.0).unwrap();
    let dec = image::codecs::webp::WebPDecoder::new(std::io::BufReader::new(
        std::fs::File::open(&w).unwrap(),
    ))
    .unwrap();
    assert!(dec.has_animation());
    let wf = dec.into_frames().collect_frames().unwrap();
    assert_eq!(wf.len(), 6);
    let rgb = image::DynamicImage::ImageRgba8(wf[3].buffer().clone()).into_rgb8();
    assert!(mean_abs_diff(&rgb, &frames[3]) < 12.0);
}

fn assert_names(e: &DataError, p: &std::path::Path) {
    assert_eq!(e.path(), Some(p), "{e}");
    assert!(
        e.to_string()
            .contains(p.file_name().unwrap().to_str().unwrap()),
        "{e}"
    );
}

#[test]
fn bad_inputs_give_typed_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // zero-length
    let empty = d.join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let e = video::read_video(&empty, None).unwrap_err();
    assert!(matches!(e, DataError::Empty { .. }), "{e}");
    assert_names(&e, &empty);
    // missing
    let missing = d.join("missing.mp4");
    let e = video::read_video(&missing, None).unwrap_err();
    assert!(matches!(e, DataError::NotFound { .. }), "{e}");
    // random bytes / text
    let junk = d.join("junk.mp4");
    let bytes: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&junk, &bytes).unwrap();
    let e = video::read_video(&junk, None).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::Unreadable { .. }
                | DataError::Corrupt { .. }
                | DataError::NoVideoStream { .. }
        ),
        "{e}"
    );
    assert_names(&e, &junk);
    let text = d.join("notes.txt");
    std::fs::write(&text, "not a video\n").unwrap();
    let e = video::probe(&text).unwrap_err();
    assert_names(&e, &text);
    // audio-only
    let audio = d.join("tone.m4a");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=1",
        "-c:a",
        "aac",
        audio.to_str().unwrap(),
    ]);
    let e = video::read_video(&audio, None).unwrap_err();
    assert!(matches!(e, DataError::NoVideoStream { .. }), "{e}");
    assert_names(&e, &audio);
    // truncated: with faststart (moov first, data cut) and without (moov lost)
    let good = d.join("good.mp4");
    video::write_mp4(&good, &moving_frames(30, 64, 64), 10.0).unwrap();
    let full = std::fs::read(&good).unwrap();
    let cut = d.join("cut.mp4");
    std::fs::write(&cut, &full[..full.len() * 6 / 10]).unwrap();
    let e = video::read_video(&cut, None).unwrap_err();
    assert!(matches!(e, DataError::Corrupt { .. }), "{e}");
    assert_names(&e, &cut);
    let plain = testsrc(d, "plain.mp4", 30, "64x64", 10);
    let full = std::fs::read(&plain).unwrap();
    let cut2 = d.join("cut2.mp4");
    std::fs::write(&cut2, &full[..full.len() / 2]).unwrap();
    let e = video::read_video(&cut2, None).unwrap_err();
    assert!(
        matches!(e, DataError::Unreadable { .. } | DataError::Corrupt { .. }),
        "{e}"
    );
    assert_names(&e, &cut2);
    // corrupt payload: overwrite the middle of the H.264 data with noise
    let mut bad = std::fs::read(&good).unwrap();
    let n = bad.len();
    for (i, b) in bad[n / 2..n / 2 + 400].iter_mut().enumerate() {
        *b = (i * 37 % 251) as u8;
    }
    let noisy = d.join("noisy.mp4");
    std::fs::write(&noisy, &bad).unwrap();
    let e = video::read_video(&noisy, None).unwrap_err();
    assert!(matches!(e, DataError::Corrupt { .. }), "{e}");
    assert_names(&e, &noisy);
}

#[test]
fn truncated_matroska_and_webm_are_corrupt_but_complete_ones_decode() {
    // Matroska has no frame count in its header, so a cut file used to decode "fine" and short.
    // 20 s at 10 fps: clusters hold ≤ 5 s, so half the file still holds whole decodable clusters.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, codec) in [("clip.mkv", "libx264"), ("clip.webm", "libvpx-vp9")] {
        let p = d.join(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64:rate=10",
            "-frames:v",
            "200",
            "-c:v",
            codec,
            "-pix_fmt",
            "yuv420p",
            p.to_str().unwrap(),
        ]);
        let v = video::read_video(&p, None).unwrap();
        assert_eq!(v.frames.len(), 200, "{name}");
        let full = std::fs::read(&p).unwrap();
        let cut = d.join(format!("cut-{name}"));
        std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
        let e = video::read_video(&cut, None).unwrap_err();
        assert!(
            matches!(e, DataError::Corrupt { .. }) && e.to_string().contains("truncated"),
            "{name}: {e}"
        );
        assert_names(&e, &cut);
    }
    // A 2 s video with a 4 s audio track is complete: the file duration (4 s) is not the video's.
    let av = d.join("av.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x64:rate=10:duration=2",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=4",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "libopus",
        av.to_str().unwrap(),
    ]);
    assert_eq!(video::read_video(&av, None).unwrap().frames.len(), 20);
}

#[test]
fn bad_frames_are_refused_by_the_encoders() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.mp4");
    assert!(matches!(
        video::write_mp4(&p, &[], 8.0),
        Err(DataError::Encode { .. })
    ));
    let odd = vec![RgbImage::new(33, 32)];
    let e = video::write_mp4(&p, &odd, 8.0).unwrap_err();
    assert!(e.to_string().contains("even"), "{e}");
    let mixed = vec![RgbImage::new(32, 32), RgbImage::new(16, 16)];
    assert!(video::write_gif(dir.path().join("x.gif"), &mixed, 8.0).is_err());
    assert!(video::write_mp4(&p, &moving_frames(2, 16, 16), 0.0).is_err());
    assert!(video::write_video(dir.path().join("x.avi"), &moving_frames(2, 16, 16), 8.0).is_err());
    assert!(!p.exists());
}
