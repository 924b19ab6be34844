//! Splitting videos into clips: stream copy on keyframe boundaries, re-encode otherwise,
//! short clips dropped, manifests written by the CLI.

mod common;

use magictime_data::clips::{self, SplitConfig, SplitMethod};
use magictime_data::video;

fn mad(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.as_raw().len() as f64
}

#[test]
fn split_stream_copies_keyframe_spans_and_reencodes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mp4");
    // keyframe every 25 frames, no B-frames
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-frames:v",
        "100",
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-keyint_min",
        "25",
        "-sc_threshold",
        "0",
        "-bf",
        "0",
        "-pix_fmt",
        "yuv420p",
        src.to_str().unwrap(),
    ]);
    let original = video::read_video(&src, None).unwrap();
    let out = dir.path().join("clips");
    let cfg = SplitConfig {
        min_frames: 16,
        ..SplitConfig::new(&out)
    };
    let scenes = [(0, 25), (25, 50), (50, 100)];
    let r = clips::split_video(&src, &scenes, 25.0, &cfg).unwrap();
    assert_eq!((r.copied, r.reencoded, r.dropped_short), (3, 0, 0));
    for (rec, &(s, e)) in r.clips.iter().zip(&scenes) {
        let v = video::read_video(out.join(&rec.file), None).unwrap();
        assert_eq!(v.len(), e - s, "{}", rec.file);
        assert_eq!(rec.span, Some((s, e)));
        assert!(
            mad(&v.frames[0], &original.frames[s]) < 0.5,
            "stream copy is lossless"
        );
    }
    // unaligned spans are re-encoded; short ones dropped
    let out2 = dir.path().join("clips2");
    let cfg2 = SplitConfig {
        min_frames: 16,
        ..SplitConfig::new(&out2)
    };
    let r = clips::split_video(&src, &[(10, 40), (40, 45), (45, 99)], 25.0, &cfg2).unwrap();
    assert_eq!((r.copied, r.reencoded, r.dropped_short), (0, 2, 1));
    let v = video::read_video(out2.join(&r.clips[0].file), None).unwrap();
    assert_eq!(v.len(), 30);
    assert!(mad(&v.frames[0], &original.frames[10]) < 4.0);
    assert!(mad(&v.frames[29], &original.frames[39]) < 4.0);
    assert_eq!(
        video::read_video(out2.join(&r.clips[1].file), None)
            .unwrap()
            .len(),
        54
    );
    // forced re-encode
    let out3 = dir.path().join("clips3");
    let cfg3 = SplitConfig {
        method: SplitMethod::Reencode,
        ..SplitConfig::new(&out3)
    };
    let r = clips::split_video(&src, &[(0, 25)], 25.0, &cfg3).unwrap();
    assert_eq!((r.copied, r.reencoded), (0, 1));
    assert_eq!(
        video::read_video(out3.join(&r.clips[0].file), None)
            .unwrap()
            .len(),
        25
    );
}
