//! ChronoMagic-Synth: determinism (hashes of written files), coverage of categories, captions,
//! sizes, and that metamorphic clips change state while general ones only move.

use std::collections::{BTreeMap, HashSet};

use magictime_data::manifest;
use magictime_data::synth::{self, Category, ClipKind, KindSelect, Scene, SynthConfig};
use sha2::{Digest, Sha256};

fn hash_dir(dir: &std::path::Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let h = Sha256::digest(std::fs::read(&p).unwrap());
        out.insert(
            p.file_name().unwrap().to_string_lossy().into_owned(),
            format!("{h:x}"),
        );
    }
    out
}

#[test]
fn same_seed_same_files_other_seed_other_files() {
    let cfg = SynthConfig::new(12, 64, 16, 7);
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let s = synth::write_dataset(&cfg, a.path(), &|_, _| {}).unwrap();
    assert_eq!(s.clips, 12);
    // Different thread count, same bytes.
    let single = SynthConfig {
        threads: 1,
        ..cfg.clone()
    };
    synth::write_dataset(&single, b.path(), &|_, _| {}).unwrap();
    let (ha, hb) = (hash_dir(a.path()), hash_dir(b.path()));
    assert_eq!(ha.len(), 14, "12 mp4 + csv + jsonl");
    assert_eq!(ha, hb);
    synth::write_dataset(&SynthConfig { seed: 8, ..cfg }, c.path(), &|_, _| {}).unwrap();
    let hc = hash_dir(c.path());
    let differing = ha.iter().filter(|(k, v)| hc.get(*k) != Some(v)).count();
    assert!(
        differing >= 12,
        "another seed changes the clips ({differing} differ)"
    );
}

#[test]
fn written_dataset_decodes_and_manifests_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SynthConfig {
        count: 6,
        width: 48,
        height: 32,
        frames: 8,
        seed: 3,
        ..Default::default()
    };
    synth::write_dataset(&cfg, dir.path(), &|_, _| {}).unwrap();
    let rows = manifest::read_chronomagic_csv(dir.path().join("manifest.csv")).unwrap();
    let recs: Vec<manifest::ClipRecord> =
        manifest::read_jsonl(dir.path().join("manifest.jsonl")).unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(recs.len(), 6);
    let mem = synth::generate(&cfg).unwrap();
    for ((row, rec), clip) in rows.iter().zip(&recs).zip(&mem) {
        assert_eq!(row, &rec.chrono_row());
        assert_eq!(rec.caption, clip.caption);
        let v = magictime_data::video::read_video(dir.path().join(&rec.file), None).unwrap();
        assert_eq!(v.len(), 8);
        assert_eq!((v.width, v.height), (48, 32));
        assert_eq!(rec.is_transmit, u8::from(clip.kind == ClipKind::General));
    }
}

#[test]
fn covers_every_category_with_named_captions() {
    let cfg = SynthConfig::new(400, 32, 8, 1);
    let clips = synth::generate(&cfg).unwrap();
    let cats: HashSet<Category> = clips.iter().map(|c| c.category).collect();
    assert_eq!(cats.len(), 5, "{cats:?}");
    let scenes: HashSet<Scene> = clips.iter().map(|c| c.scene).collect();
    assert_eq!(scenes.len(), 20);
    for c in &clips {
        assert_eq!(c.frames.len(), 8);
        assert_eq!(c.frames[0].dimensions(), (32, 32));
        assert!(c.caption.contains(&c.params.object), "{}", c.caption);
        assert!(c.caption.contains(&c.params.background), "{}", c.caption);
        assert_eq!(
            c.caption.starts_with("Time-lapse"),
            c.kind == ClipKind::Metamorphic,
            "{}",
            c.caption
        );
    }
    let only_meta = synth::generate(&SynthConfig {
        kind: KindSelect::Metamorphic,
        ..SynthConfig::new(50, 32, 8, 1)
    })
    .unwrap();
    assert!(only_meta.iter().all(|c| c.kind == ClipKind::Metamorphic));
    let only_gen = synth::generate(&SynthConfig {
        kind: KindSelect::General,
        ..SynthConfig::new(50, 32, 8, 1)
    })
    .unwrap();
    assert!(only_gen.iter().all(|c| c.kind == ClipKind::General));
}

fn mean_abs(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.as_raw().len() as f64
}

#[test]
fn frames_change_over_time_and_sizes_span_32_to_256() {
    for (size, frames) in [(32, 8), (128, 12), (256, 32)] {
        let clips = synth::generate(&SynthConfig::new(20, size, frames, 5)).unwrap();
        for c in &clips {
            assert_eq!(c.frames.len(), frames);
            assert_eq!(c.frames[0].dimensions(), (size, size));
            let d = mean_abs(&c.frames[0], &c.frames[frames - 1]);
            assert!(d > 0.3, "{:?} {} barely changes ({d})", c.scene, c.caption);
        }
    }
}

#[test]
fn bad_configs_are_refused() {
    for cfg in [
        SynthConfig::new(1, 30, 16, 0),
        SynthConfig::new(1, 258, 16, 0),
        SynthConfig::new(1, 65, 16, 0),
        SynthConfig::new(1, 64, 7, 0),
        SynthConfig::new(1, 64, 33, 0),
        SynthConfig::new(0, 64, 16, 0),
    ] {
        assert!(synth::generate(&cfg).is_err(), "{cfg:?}");
    }
}
