//! Split a video into clips at scene boundaries: stream copy when a clip starts on a keyframe
//! and ends at the next keyframe or the end (checked by decoding the result), re-encoding
//! (H.264) otherwise. Clips shorter than `min_frames` are dropped. Writes ClipRecords.

use std::path::{Path, PathBuf};

use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::manifest::ClipRecord;
use crate::video::{self, DecodeOptions, EncodeOptions, VideoWriter};

/// How clips are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SplitMethod {
    /// Stream copy where the boundaries are keyframes, re-encode otherwise.
    Auto,
    /// Always re-encode.
    Reencode,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SplitConfig {
    pub out_dir: PathBuf,
    /// Clips shorter than this are dropped.
    pub min_frames: usize,
    pub method: SplitMethod,
    pub encode: EncodeOptionsSer,
}

/// Serializable subset of [`EncodeOptions`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EncodeOptionsSer {
    pub crf: u8,
    pub preset: String,
}

impl Default for EncodeOptionsSer {
    fn default() -> Self {
        let d = EncodeOptions::default();
        Self {
            crf: d.crf,
            preset: d.preset,
        }
    }
}

impl SplitConfig {
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        Self {
            out_dir: out_dir.into(),
            min_frames: 16,
            method: SplitMethod::Auto,
            encode: EncodeOptionsSer::default(),
        }
    }
}

/// What [`split_video`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SplitReport {
    pub clips: Vec<ClipRecord>,
    pub copied: usize,
    pub reencoded: usize,
    pub dropped_short: usize,
}

/// Keyframe positions of the video stream: for each frame in display order, whether it is a
/// keyframe, and for keyframes the decode-order index of its packet.
struct KeyIndex {
    is_key: Vec<bool>,
    packet_pos: Vec<Option<usize>>,
}

fn key_index(path: &Path) -> Result<KeyIndex> {
    crate::video::init_public();
    let mut ictx = ffmpeg::format::input(&path).map_err(|e| DataError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let idx = ictx
        .streams()
        .best(ffmpeg::media::Type::Video)
        .map(|s| s.index())
        .ok_or_else(|| DataError::NoVideoStream {
            path: path.to_path_buf(),
        })?;
    let mut pk: Vec<(i64, bool, usize)> = Vec::new();
    let mut pos = 0;
    for (s, p) in ictx.packets() {
        if s.index() == idx {
            pk.push((p.pts().or(p.dts()).unwrap_or(pos as i64), p.is_key(), pos));
            pos += 1;
        }
    }
    pk.sort_by_key(|p| p.0);
    Ok(KeyIndex {
        is_key: pk.iter().map(|p| p.1).collect(),
        packet_pos: pk.iter().map(|p| p.1.then_some(p.2)).collect(),
    })
}

/// Copy packets `[from, to)` (decode order) of the video stream into an MP4.
fn stream_copy(src: &Path, dst: &Path, from: usize, to: Option<usize>) -> Result<()> {
    let e = |r: ffmpeg::Error| DataError::Encode {
        path: dst.to_path_buf(),
        reason: r.to_string(),
    };
    let mut ictx = ffmpeg::format::input(&src).map_err(|r| DataError::Unreadable {
        path: src.to_path_buf(),
        reason: r.to_string(),
    })?;
    let ist = ictx
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or_else(|| DataError::NoVideoStream {
            path: src.to_path_buf(),
        })?;
    let (idx, ist_tb, params, rate) = (
        ist.index(),
        ist.time_base(),
        ist.parameters(),
        ist.avg_frame_rate(),
    );
    let mut octx = ffmpeg::format::output_as(&dst, "mp4").map_err(e)?;
    {
        let mut ost = octx
            .add_stream(ffmpeg::encoder::find(ffmpeg::codec::Id::None))
            .map_err(e)?;
        ost.set_parameters(params);
        // SAFETY: clearing the codec tag lets the mp4 muxer choose its own; plain field writes.
        unsafe {
            (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0;
            (*ost.as_mut_ptr()).avg_frame_rate = rate.into();
        }
    }
    let mut header = ffmpeg::Dictionary::new();
    header.set("movflags", "+faststart");
    octx.write_header_with(header).map_err(e)?;
    let ost_tb = octx.stream(0).expect("stream 0").time_base();
    let mut pos = 0usize;
    let mut offset: Option<i64> = None;
    for (s, mut p) in ictx.packets() {
        if s.index() != idx {
            continue;
        }
        let here = pos;
        pos += 1;
        if here < from {
            continue;
        }
        if to.is_some_and(|t| here >= t) {
            break;
        }
        let off = *offset.get_or_insert(p.dts().or(p.pts()).unwrap_or(0));
        p.set_pts(p.pts().map(|v| v - off));
        p.set_dts(p.dts().map(|v| v - off));
        p.rescale_ts(ist_tb, ost_tb);
        p.set_position(-1);
        p.set_stream(0);
        p.write_interleaved(&mut octx).map_err(e)?;
    }
    octx.write_trailer().map_err(e)
}

/// Split `path` into the `scenes` ([start, end) frame spans), writing `<stem>_NNN.mp4` into
/// `cfg.out_dir`. `total` is the video's frame count, `fps` its rate.
pub fn split_video(
    path: impl AsRef<Path>,
    scenes: &[(usize, usize)],
    fps: f64,
    cfg: &SplitConfig,
) -> Result<SplitReport> {
    let path = path.as_ref();
    std::fs::create_dir_all(&cfg.out_dir).map_err(|e| DataError::io(&cfg.out_dir, e))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("clip")
        .to_string();
    let keys = if cfg.method == SplitMethod::Auto {
        Some(key_index(path)?)
    } else {
        None
    };
    let mut report = SplitReport::default();
    let mut pending: Vec<(usize, usize, PathBuf)> = Vec::new();
    for (k, &(s, e)) in scenes.iter().enumerate() {
        if e <= s || e - s < cfg.min_frames {
            report.dropped_short += 1;
            continue;
        }
        let file = format!("{stem}_{k:03}.mp4");
        let dst = cfg.out_dir.join(&file);
        let mut copied = false;
        if let Some(keys) = &keys {
            let n = keys.is_key.len();
            let start_ok = s < n && keys.is_key[s];
            let end_ok = e >= n || keys.is_key[e];
            if start_ok && end_ok {
                let from = keys.packet_pos[s].expect("keyframe has a packet position");
                let to = if e >= n { None } else { keys.packet_pos[e] };
                if stream_copy(path, &dst, from, to).is_ok() && video::probe(&dst).is_ok() {
                    let got = video::for_each_frame(
                        &dst,
                        &DecodeOptions {
                            size: Some((16, 16)),
                            ..Default::default()
                        },
                        |_| Ok(true),
                    )
                    .ok()
                    .and_then(|i| i.frames);
                    copied = got == Some((e - s) as u64);
                }
            }
        }
        if copied {
            report.copied += 1;
        } else {
            let _ = std::fs::remove_file(&dst);
            pending.push((s, e, dst.clone()));
        }
        let info = video::probe(path)?;
        report.clips.push(ClipRecord {
            videoid: format!("{stem}_{k:03}"),
            file,
            source: Some(path.display().to_string()),
            span: Some((s, e)),
            start_time: Some(s as f64 / fps),
            fps,
            frames: e - s,
            width: info.width & !1,
            height: info.height & !1,
            is_transmit: 1,
            ..Default::default()
        });
    }
    if !pending.is_empty() {
        reencode(path, &pending, fps, cfg)?;
        report.reencoded = pending.len();
    }
    Ok(report)
}

/// One decoding pass writing every pending span with a streaming encoder.
fn reencode(
    path: &Path,
    spans: &[(usize, usize, PathBuf)],
    fps: f64,
    cfg: &SplitConfig,
) -> Result<()> {
    let opts = EncodeOptions {
        crf: cfg.encode.crf,
        preset: cfg.encode.preset.clone(),
        ..Default::default()
    };
    let last = spans.iter().map(|s| s.1).max().unwrap_or(0);
    let mut writers: Vec<Option<VideoWriter>> = spans.iter().map(|_| None).collect();
    let mut result = Ok(());
    video::for_each_frame(path, &DecodeOptions::default(), |f| {
        for (k, (s, e, dst)) in spans.iter().enumerate() {
            if f.index < *s || f.index >= *e {
                continue;
            }
            if writers[k].is_none() {
                writers[k] = Some(VideoWriter::mp4(dst, (f.width, f.height), fps, &opts)?);
            }
            writers[k].as_mut().expect("writer").push(f.data)?;
            if f.index + 1 == *e {
                if let Some(w) = writers[k].take() {
                    w.finish()?;
                }
            }
        }
        Ok(f.index + 1 < last)
    })?;
    for w in writers.into_iter().flatten() {
        result = result.and(w.finish().map(|_| ()));
    }
    result
}
