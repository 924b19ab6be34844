//! [`MediaTools`] implemented with the `data` engine crate (ffmpeg through ffmpeg-next).
//!
//! Study stimuli come from researchers' uploads: untrusted files. They are never decoded in the
//! server process. [`DataMedia::normalize`] runs `magictime media-worker normalize` (this same
//! binary, [`worker_main`]) as a child process under rlimits (address space, CPU seconds, file
//! size, no core dumps) and a wall-clock timeout; the child probes the header first (frame size,
//! duration, declared frame count: [`DecodeLimits`]), then decodes and re-encodes frame by frame
//! (one frame in memory, not the clip), counting frames and seconds as it goes. A crash, a
//! limit or a timeout is an error message for the request; the server keeps serving.
use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use magictime_app::ssr::media::{MediaInfo, MediaTools};
use magictime_data::{keyframes, video};

/// Caps on one untrusted video and on the process that decodes it.
#[derive(clap::Args, Clone, Debug)]
pub struct DecodeLimits {
    /// Longest stimulus accepted, in seconds (header and decoded timestamps).
    #[arg(long = "decode-max-seconds", default_value_t = 120.0)]
    pub max_seconds: f64,
    /// Most frames accepted in one stimulus (header and decoded count).
    #[arg(long = "decode-max-frames", default_value_t = 7200)]
    pub max_frames: u64,
    /// Largest frame side accepted, in pixels.
    #[arg(long = "decode-max-side", default_value_t = 4096)]
    pub max_side: u32,
    /// Address-space limit of the decoding process, in MiB.
    #[arg(long = "decode-mem-mb", default_value_t = 4096)]
    pub mem_mb: u64,
    /// CPU-time limit of the decoding process, in seconds.
    #[arg(long = "decode-cpu-s", default_value_t = 300)]
    pub cpu_s: u64,
    /// Wall-clock limit of the decoding process, in seconds.
    #[arg(long = "decode-timeout-s", default_value_t = 180)]
    pub timeout_s: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_seconds: 120.0,
            max_frames: 7200,
            max_side: 4096,
            mem_mb: 4096,
            cpu_s: 300,
            timeout_s: 180,
        }
    }
}

/// `magictime media-worker …`: the sandboxed side of [`DataMedia`] (hidden subcommand).
#[derive(clap::Subcommand)]
pub enum WorkerCommand {
    /// Normalise `src` into `dst` (H.264 MP4 at `fps`, `width`x`height`); prints the MediaInfo
    /// as JSON on stdout.
    Normalize {
        #[arg(long)]
        src: PathBuf,
        #[arg(long)]
        dst: PathBuf,
        #[arg(long)]
        fps: f64,
        #[arg(long)]
        width: u32,
        #[arg(long)]
        height: u32,
        #[command(flatten)]
        limits: DecodeLimits,
    },
}

/// Runs a worker command in this (child) process: the JSON result on stdout, or the error on
/// stderr and exit code 3.
pub fn worker_main(cmd: WorkerCommand) -> ! {
    let res = match cmd {
        WorkerCommand::Normalize {
            src,
            dst,
            fps,
            width,
            height,
            limits,
        } => normalize_checked(&src, &dst, fps, (width, height), &limits)
            .map(|info| serde_json::to_string(&info).expect("MediaInfo serialises")),
    };
    match res {
        Ok(json) => {
            println!("{json}");
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(3)
        }
    }
}

/// The checks and the streaming normalisation the worker runs (in its own process).
pub fn normalize_checked(
    src: &Path,
    dst: &Path,
    fps: f64,
    size: (u32, u32),
    limits: &DecodeLimits,
) -> Result<MediaInfo, String> {
    if !(fps > 0.0 && fps <= 120.0) || size.0 < 2 || size.1 < 2 {
        return Err(format!(
            "invalid target format {fps} fps {}x{}",
            size.0, size.1
        ));
    }
    let head = video::probe(src).map_err(|e| e.to_string())?;
    if head.width > limits.max_side || head.height > limits.max_side {
        return Err(format!(
            "frames of {}x{} are larger than the {} pixel limit",
            head.width, head.height, limits.max_side
        ));
    }
    if let Some(d) = head.duration.filter(|d| *d > limits.max_seconds) {
        return Err(format!(
            "{d:.1} s long: stimuli may last at most {} s",
            limits.max_seconds
        ));
    }
    if let Some(n) = head.frames.filter(|n| *n > limits.max_frames) {
        return Err(format!(
            "{n} frames: stimuli may have at most {} frames",
            limits.max_frames
        ));
    }
    let part = dst.with_extension("mp4.part");
    let res = encode_resampled(src, &part, head.fps, fps, size, limits);
    match res {
        Ok(frames) => {
            std::fs::rename(&part, dst).map_err(|e| format!("{}: {e}", dst.display()))?;
            Ok(MediaInfo {
                frames,
                fps,
                width: size.0,
                height: size.1,
            })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}

fn encode_resampled(
    src: &Path,
    out: &Path,
    fps_in: f64,
    fps_out: f64,
    size: (u32, u32),
    limits: &DecodeLimits,
) -> Result<usize, String> {
    let mut writer = video::VideoWriter::mp4(out, size, fps_out, &video::EncodeOptions::default())
        .map_err(|e| e.to_string())?;
    let mut rs = Resampler::new(fps_in, fps_out);
    let opts = video::DecodeOptions {
        size: Some(size),
        max_frames: Some(limits.max_frames as usize + 1),
        ..Default::default()
    };
    let mut failed: Option<String> = None;
    let res = video::for_each_frame(src, &opts, |f| {
        let stop = |msg: String| magictime_data::DataError::Invalid(msg);
        if f.index as u64 >= limits.max_frames {
            return Err(stop(format!(
                "more than {} frames: stimuli may have at most {} frames",
                limits.max_frames, limits.max_frames
            )));
        }
        if f.time > limits.max_seconds {
            return Err(stop(format!(
                "longer than {} s: stimuli may last at most {} s",
                limits.max_seconds, limits.max_seconds
            )));
        }
        rs.push(f.data, &mut |rgb| {
            if failed.is_none() {
                if let Err(e) = writer.push(rgb) {
                    failed = Some(e.to_string());
                }
            }
        });
        Ok(failed.is_none())
    });
    res.map_err(|e| e.to_string())?;
    if let Some(e) = failed {
        return Err(e);
    }
    if rs.frames_in() == 0 {
        return Err(format!("{}: no video frames", src.display()));
    }
    let mut failed = None;
    rs.finish(&mut |rgb| {
        if failed.is_none() {
            if let Err(e) = writer.push(rgb) {
                failed = Some(e.to_string());
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    writer.finish().map_err(|e| e.to_string())
}

/// [`MediaTools`] for the server: normalisation in a sandboxed child process.
pub struct DataMedia {
    /// The binary to run as the worker (this one: `std::env::current_exe()`).
    pub exe: PathBuf,
    pub limits: DecodeLimits,
}

impl DataMedia {
    pub fn new(limits: DecodeLimits) -> Self {
        Self {
            exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("magictime")),
            limits,
        }
    }
}

/// The rlimits of a sandboxed child.
#[derive(Clone, Copy, Debug)]
pub struct Rlimits {
    pub address_space: u64,
    pub cpu_s: u64,
    pub file_size: u64,
}

/// Runs `cmd` with `limits` applied in the child (before exec) and a wall-clock `timeout`;
/// returns its stdout, or an error: its last stderr line when it exits with an error, what
/// killed it when a signal did, or the timeout.
pub fn run_limited(mut cmd: Command, limits: Rlimits, timeout: Duration) -> Result<String, String> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit, which is
    // async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let set = |res, v: u64| {
                let lim = libc::rlimit {
                    rlim_cur: v as libc::rlim_t,
                    rlim_max: v as libc::rlim_t,
                };
                if libc::setrlimit(res, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            };
            set(libc::RLIMIT_AS, limits.address_space)?;
            set(libc::RLIMIT_CPU, limits.cpu_s)?;
            set(libc::RLIMIT_FSIZE, limits.file_size)?;
            set(libc::RLIMIT_CORE, 0)?;
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the decoder: {e}"))?;
    // Bounded readers on their own threads, so a chatty child cannot block on a full pipe.
    let capture = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = (&mut r).take(64 << 10).read_to_end(&mut buf);
                let _ = std::io::copy(&mut r, &mut std::io::sink());
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = capture(child.stdout.take().map(|r| Box::new(r) as _));
    let err = capture(child.stderr.take().map(|r| Box::new(r) as _));
    let t0 = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if t0.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "decoding took longer than {} s and was stopped",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("decoder: {e}")),
        }
    };
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    if status.success() {
        return Ok(out);
    }
    if let Some(sig) = status.signal() {
        let why = match sig {
            libc::SIGXCPU => "it used up its CPU time".to_owned(),
            libc::SIGXFSZ => "its output grew too large".to_owned(),
            libc::SIGKILL => "it was killed (out of memory or CPU time)".to_owned(),
            s => format!("it crashed (signal {s})"),
        };
        return Err(format!("the video could not be decoded: {why}"));
    }
    let last = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    if last.contains("memory allocation") || last.contains("Cannot allocate memory") {
        return Err("the video could not be decoded: it needs too much memory".into());
    }
    Err(if last.is_empty() {
        format!("the video could not be decoded ({status})")
    } else {
        last.to_owned()
    })
}

impl MediaTools for DataMedia {
    fn probe(&self, path: &Path) -> Result<MediaInfo, String> {
        // Counts frames without keeping them.
        let info = video::for_each_frame(path, &video::DecodeOptions::default(), |_| Ok(true))
            .map_err(|e| e.to_string())?;
        Ok(MediaInfo {
            frames: info.frames.unwrap_or(0) as usize,
            fps: info.fps,
            width: info.width,
            height: info.height,
        })
    }

    fn normalize(
        &self,
        src: &Path,
        dst: &Path,
        fps: f64,
        size: (u32, u32),
    ) -> Result<MediaInfo, String> {
        let l = &self.limits;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("media-worker")
            .arg("normalize")
            .arg("--src")
            .arg(src)
            .arg("--dst")
            .arg(dst)
            .args(["--fps", &fps.to_string()])
            .args(["--width", &size.0.to_string()])
            .args(["--height", &size.1.to_string()])
            .args(["--decode-max-seconds", &l.max_seconds.to_string()])
            .args(["--decode-max-frames", &l.max_frames.to_string()])
            .args(["--decode-max-side", &l.max_side.to_string()])
            // Quiet logs: only the error line matters.
            .env("RUST_LOG", "error");
        let limits = Rlimits {
            address_space: l.mem_mb << 20,
            cpu_s: l.cpu_s,
            // The output of a capped clip stays far below this.
            file_size: 4 << 30,
        };
        let res = run_limited(cmd, limits, Duration::from_secs(l.timeout_s)).and_then(|out| {
            serde_json::from_str::<MediaInfo>(out.trim())
                .map_err(|e| format!("decoder answered {out:?}: {e}"))
        });
        if res.is_err() {
            let _ = std::fs::remove_file(dst);
            let _ = std::fs::remove_file(dst.with_extension("mp4.part"));
        }
        // Error messages name the file: say "the video", not a server path.
        res.map_err(|e| e.replace(&src.display().to_string(), "the video"))
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
/// earlier-or-equal frame by time), keeping the clip's duration. The reference for
/// [`Resampler`], which does the same on a stream.
#[cfg(test)]
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

/// [`resample`] on a stream of frames, holding two frames (the latest source frame and one
/// output held back) instead of the clip: output k is the source frame at time k/fps_out; the
/// output count, round(duration · fps_out), is known only at the end, so the last output is
/// held until then.
struct Resampler {
    fps_in: f64,
    fps_out: f64,
    n_in: usize,
    /// Outputs decided so far (the held one included).
    next_k: usize,
    last: Vec<u8>,
    held: Option<Vec<u8>>,
}

impl Resampler {
    fn new(fps_in: f64, fps_out: f64) -> Self {
        Self {
            fps_in,
            fps_out,
            n_in: 0,
            next_k: 0,
            last: Vec::new(),
            held: None,
        }
    }

    fn passthrough(&self) -> bool {
        (self.fps_in - self.fps_out).abs() < 1e-9 || self.fps_in <= 0.0
    }

    fn source_of(&self, k: usize) -> usize {
        ((k as f64 / self.fps_out) * self.fps_in + 1e-9).floor() as usize
    }

    fn frames_in(&self) -> usize {
        self.n_in
    }

    /// Source frame `n_in` (packed RGB); `emit` receives the outputs now final.
    fn push(&mut self, frame: &[u8], emit: &mut dyn FnMut(&[u8])) {
        let i = self.n_in;
        self.n_in += 1;
        if self.passthrough() {
            emit(frame);
            return;
        }
        self.last.clear();
        self.last.extend_from_slice(frame);
        while self.source_of(self.next_k) <= i {
            if let Some(h) = self.held.replace(frame.to_vec()) {
                emit(&h);
            }
            self.next_k += 1;
        }
    }

    /// The end of the stream: the held output and padding up to the output count.
    fn finish(self, emit: &mut dyn FnMut(&[u8])) {
        if self.passthrough() || self.n_in == 0 {
            return;
        }
        let duration = self.n_in as f64 / self.fps_in;
        let n_out = ((duration * self.fps_out).round() as usize).max(1);
        if let Some(h) = &self.held {
            if self.next_k <= n_out {
                emit(h);
            }
        }
        for _ in self.next_k..n_out {
            emit(&self.last);
        }
    }
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
    fn the_stream_resampler_matches_the_reference() {
        for n in 1..40usize {
            for (fi, fo) in [
                (25.0, 8.0),
                (4.0, 8.0),
                (8.0, 8.0),
                (30.0, 7.0),
                (7.0, 30.0),
                (60.0, 1.0),
                (0.0, 8.0),
                (23.976, 24.0),
            ] {
                let frames: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8]).collect();
                let mut rs = Resampler::new(fi, fo);
                let mut out = vec![];
                for f in &frames {
                    rs.push(f, &mut |x| out.push(x.to_vec()));
                }
                rs.finish(&mut |x| out.push(x.to_vec()));
                assert_eq!(out, resample(&frames, fi, fo), "{n} frames {fi} → {fo} fps");
            }
        }
    }

    #[test]
    fn limited_children_are_stopped_and_reported() {
        let lim = Rlimits {
            address_space: 256 << 20,
            cpu_s: 1,
            file_size: 1 << 20,
        };
        let sh = |script: &str| {
            let mut c = Command::new("sh");
            c.args(["-c", script]);
            c
        };
        let t0 = Instant::now();
        let e = run_limited(sh("sleep 30"), lim, Duration::from_millis(300)).unwrap_err();
        assert!(e.contains("longer than"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(5));
        let e = run_limited(sh("while :; do :; done"), lim, Duration::from_secs(30)).unwrap_err();
        assert!(e.contains("CPU time"), "{e}");
        let e = run_limited(sh("kill -SEGV $$"), lim, Duration::from_secs(30)).unwrap_err();
        assert!(e.contains("crashed"), "{e}");
        let e = run_limited(
            sh("echo first >&2; echo 'the real reason' >&2; exit 3"),
            lim,
            Duration::from_secs(30),
        )
        .unwrap_err();
        assert_eq!(e, "the real reason");
        // 256 MiB of address space: a 512 MiB allocation fails.
        let e = run_limited(sh("head -c 536870912 /dev/zero | python3 -c 'import sys; x = sys.stdin.buffer.read()'"), lim, Duration::from_secs(30));
        assert!(e.is_err(), "{e:?}");
        assert_eq!(
            run_limited(sh("echo ok"), lim, Duration::from_secs(30)).unwrap(),
            "ok\n"
        );
    }

    #[test]
    fn normalize_and_keyframes_on_a_real_video() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.mp4");
        let frames: Vec<image::RgbImage> = (0..30)
            .map(|i| image::RgbImage::from_pixel(64, 48, image::Rgb([i as u8 * 8, 100, 50])))
            .collect();
        video::write_mp4(&src, &frames, 15.0).unwrap();
        let m = DataMedia::new(DecodeLimits::default());
        let info = m.probe(&src).unwrap();
        assert_eq!((info.frames, info.width, info.height), (30, 64, 48));
        let dst = dir.path().join("dst.mp4");
        let lim = DecodeLimits::default();
        let out = normalize_checked(&src, &dst, 10.0, (32, 32), &lim).unwrap();
        assert_eq!(out.frames, 20);
        assert!(!dst.with_extension("mp4.part").exists());
        // Header caps: frame count, duration (2 s here), frame size.
        let tight = |f: &dyn Fn(&mut DecodeLimits)| {
            let mut l = DecodeLimits::default();
            f(&mut l);
            normalize_checked(&src, &dir.path().join("x.mp4"), 10.0, (32, 32), &l).unwrap_err()
        };
        assert!(tight(&|l| l.max_frames = 29).contains("at most 29 frames"));
        assert!(tight(&|l| l.max_seconds = 1.5).contains("at most 1.5 s"));
        assert!(tight(&|l| l.max_side = 48).contains("larger than"));
        assert!(!dir.path().join("x.mp4").exists() && !dir.path().join("x.mp4.part").exists());
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
