//! `magictime generate --config`: MagicTime's sample configs over the official release layout
//! (`ckpts/`), in the tiny random tree of `model/tests/fixtures/ckpts` (written by
//! `tools/parity/make_ckpts_fixtures.py`; `model/tests/ckpts_release.rs` checks its numbers).

use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/ckpts")
}

fn ckpts() -> PathBuf {
    fixtures().join("ckpts")
}

const CONFIGS: [&str; 3] = ["RealisticVision", "ToonYou", "RcnzCartoon"];

/// `magictime generate --config <sample config> --ckpts <tree>` writes every prompt's video,
/// 2 steps, the config's size and frames.
#[test]
fn generate_runs_every_sample_config_from_the_cli() {
    use clap::Parser;
    use magictime_cli::model::{run_generate, GenerateArgs};
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: GenerateArgs,
    }
    let tmp = tempfile::tempdir().unwrap();
    for name in CONFIGS {
        let out = tmp.path().join(format!("{name}.gif"));
        let config = fixtures().join(format!("sample_configs/{name}.yaml"));
        let args = Cli::parse_from([
            "generate".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "--ckpts".as_ref(),
            ckpts().as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ])
        .args;
        run_generate(args).unwrap();
        let dec = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(
            std::fs::File::open(&out).unwrap(),
        ))
        .unwrap();
        use image::AnimationDecoder;
        let frames = dec.into_frames().collect_frames().unwrap();
        assert_eq!(frames.len(), 4, "{name}");
        assert_eq!(frames[0].buffer().dimensions(), (16, 16), "{name}");
    }
    // without --ckpts the ./ckpts/ paths are the working directory's: the error says which
    // key and how to point at the tree
    let config = fixtures().join("sample_configs/ToonYou.yaml");
    let args = Cli::parse_from([
        "generate".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--out".as_ref(),
        tmp.path().join("x.mp4").as_os_str(),
    ])
    .args;
    let e = format!("{:#}", run_generate(args).unwrap_err());
    assert!(
        e.contains("pretrained_model_path") && e.contains("--ckpts"),
        "{e}"
    );
}

/// A config with several prompts writes one video per prompt (`-<n>` before the extension),
/// each with its own seed; --seed and --prompt override the config.
#[test]
fn several_prompts_write_numbered_videos() {
    use clap::Parser;
    use magictime_cli::model::{run_generate, GenerateArgs};
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: GenerateArgs,
    }
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixtures().join("sample_configs/ToonYou.yaml")).unwrap();
    let text = text
        .replace("seed: [12]", "seed: [1, 2]")
        .replace("  prompt:\n", "  prompt:\n    - \"a second prompt\"\n");
    let config = tmp.path().join("two.yaml");
    std::fs::write(&config, text).unwrap();
    let run = |extra: &[&str]| {
        let out = tmp.path().join("v.mp4");
        let mut argv = vec![
            "generate".to_string(),
            "--config".into(),
            config.display().to_string(),
            "--ckpts".into(),
            ckpts().display().to_string(),
            "--steps".into(),
            "1".into(),
            "--out".into(),
            out.display().to_string(),
        ];
        argv.extend(extra.iter().map(|s| s.to_string()));
        run_generate(Cli::parse_from(argv).args).unwrap();
    };
    let frames = |name: &str| {
        let v = magictime_data::video::read_video(tmp.path().join(name), None).unwrap();
        v.frames
            .iter()
            .flat_map(|f| f.as_raw().clone())
            .collect::<Vec<u8>>()
    };
    run(&[]);
    let (a, b) = (frames("v-0.mp4"), frames("v-1.mp4"));
    assert_eq!(a.len(), 4 * 16 * 16 * 3);
    assert!(a != b, "two prompts and seeds, one video");
    assert!(!tmp.path().join("v.mp4").exists());
    // one --prompt: one file, named as given (the inserted prompt is the config's first,
    // seed 1)
    run(&["--prompt", "a second prompt", "--seed", "1"]);
    assert!(
        frames("v.mp4") == frames("v-0.mp4"),
        "--prompt/--seed: another video"
    );
}
