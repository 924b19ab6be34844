//! The paper's cut rule with a CLIP: pixel difference AND CLIP frame similarity, here with the
//! embedded in-domain CLIP on ChronoMagic-Synth footage (three clips of different scenes cut
//! together), through the same detector the `data cuts --embedder clip` command runs.

use magictime_data::cuts::{detect_cuts_with, CutConfig, DetectorMode, FrameEmbedder};
use magictime_data::synth::{render_clip, SynthConfig};
use magictime_metrics::clip_embedder::ClipFrameEmbedder;

#[test]
fn in_domain_clip_similarity_finds_the_cuts_between_synth_clips() {
    let cfg = SynthConfig::new(40, 64, 16, 21);
    // three clips of three different scenes
    let mut picked: Vec<magictime_data::synth::SynthClip> = Vec::new();
    for i in 0..cfg.count {
        let c = render_clip(&cfg, i);
        if picked.iter().all(|p| p.scene != c.scene) {
            picked.push(c);
        }
        if picked.len() == 3 {
            break;
        }
    }
    let frames: Vec<_> = picked.iter().flat_map(|c| c.frames.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("concat.mp4");
    magictime_data::video::write_mp4(&path, &frames, 8.0).unwrap();
    let clip = ClipFrameEmbedder::new(None).unwrap();
    assert!(clip.name().contains("in-domain CLIP"));
    // the paper's rule: pixel difference AND CLIP frame similarity
    let cut_cfg = CutConfig {
        mode: DetectorMode::Both,
        embed_min_similarity: Some(magictime_data::cuts::CLIP_MIN_SIMILARITY),
        min_scene_len: 8,
        ..Default::default()
    };
    let r = detect_cuts_with(&path, &cut_cfg, None, Some(&clip), &|_| {}).unwrap();
    assert_eq!(r.frames, 48);
    let sims: Vec<f32> = r
        .stats
        .iter()
        .map(|s| s.embed_similarity.unwrap())
        .collect();
    assert_eq!(r.cut_frames(), vec![16, 32], "CLIP similarities {sims:?}");
    // the CLIP half of the rule fires at both cuts on its own
    for f in [16, 32] {
        assert!(
            sims[f] < magictime_data::cuts::CLIP_MIN_SIMILARITY,
            "frame {f}: similarity {} (all: {sims:?})",
            sims[f]
        );
    }
    // and without the CLIP (no embedder, no TransNetV2) the both-mode rule refuses to run
    assert!(detect_cuts_with(&path, &cut_cfg, None, None, &|_| {}).is_err());
}
