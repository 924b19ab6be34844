//! Job outputs appear whole or not at all. A job writes into `<dir>/.partial-<name>` (a file or
//! a folder) and [`commit`] renames it into place when the job succeeds (one `rename`, atomic on
//! one file system); the job row is marked done after that. At start-up [`sweep`] removes what a
//! killed server left: partial outputs of jobs no worker runs or will run, uploads in flight,
//! half-normalised stimuli, the outputs of jobs that did not finish (interrupted between the
//! rename and the row update), and the checkpoints (`checkpoints/train-<id>/`) of training jobs
//! that will not resume.
use std::path::{Path, PathBuf};

use magictime_app::types::{ALWAYS_WRITTEN, FORMATS};

/// The folders of the data dir that hold job outputs, named by job id.
pub const OUTPUT_DIRS: [&str; 4] = ["generated", "datasets", "models", "eval"];

const PARTIAL: &str = ".partial-";

/// Where a job writes `final_path` until it is complete.
pub fn partial_path(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    final_path.with_file_name(format!("{PARTIAL}{name}"))
}

/// Moves a complete output into place (replacing a stale one).
pub fn commit(partial: &Path, final_path: &Path) -> Result<(), String> {
    if final_path.is_dir() {
        std::fs::remove_dir_all(final_path)
            .map_err(|e| format!("{}: {e}", final_path.display()))?;
    }
    std::fs::rename(partial, final_path).map_err(|e| format!("{}: {e}", final_path.display()))
}

/// Removes a path, file or folder, if it is there.
pub fn remove(p: &Path) {
    let _ = if p.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    };
}

/// The outputs job `id` of `kind` may have (`generated/<id>.mp4`, its other formats and its
/// JSON sidecar, `datasets/<id>`, …).
pub fn outputs_of(data_dir: &Path, kind: &str, id: i64) -> Vec<PathBuf> {
    match kind {
        "generate" => FORMATS
            .iter()
            .map(|(ext, _)| *ext)
            .chain(["json"])
            .map(|ext| data_dir.join("generated").join(format!("{id}.{ext}")))
            .collect(),
        "ingest" => vec![data_dir.join("datasets").join(id.to_string())],
        "train" => vec![data_dir.join("models").join(id.to_string())],
        "eval" => vec![data_dir.join("eval").join(id.to_string())],
        _ => vec![],
    }
}

/// The files of generation job `id` relative to the data dir: the MP4 first, then each other
/// format of `formats` and the frames zip (of [`FORMATS`], once each).
pub fn generated_files(id: i64, formats: &[String]) -> Vec<String> {
    FORMATS
        .iter()
        .filter(|(ext, _)| ALWAYS_WRITTEN.contains(ext) || formats.iter().any(|f| f == ext))
        .map(|(ext, _)| format!("generated/{id}.{ext}"))
        .collect()
}

/// Copies folder `src` into `dst` (created; files in it replaced), recursively. Symbolic links
/// are refused: a weights folder holds plain files.
pub fn copy_dir(src: &Path, dst: &Path) -> Result<(), String> {
    let err = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    std::fs::create_dir_all(dst).map_err(|e| err(dst, e))?;
    for entry in std::fs::read_dir(src).map_err(|e| err(src, e))? {
        let entry = entry.map_err(|e| err(src, e))?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let kind = entry.file_type().map_err(|e| err(&from, e))?;
        if kind.is_dir() {
            copy_dir(&from, &to)?;
        } else if kind.is_file() {
            std::fs::copy(&from, &to).map_err(|e| err(&from, e))?;
        } else {
            return Err(format!("{}: not a plain file", from.display()));
        }
    }
    Ok(())
}

/// The job a partial output belongs to (`.partial-12.mp4`, `.partial-12` → 12).
fn partial_job(name: &str) -> Option<i64> {
    let digits: String = name
        .strip_prefix(PARTIAL)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Removes partial outputs and checkpoint folders but those of the `live` jobs (queued or
/// running: a worker, maybe on another machine, writes them), uploads in flight,
/// half-normalised stimuli (`*.part`), and the outputs of `unfinished` jobs ((kind, id)).
/// Returns the paths removed.
pub fn sweep(data_dir: &Path, unfinished: &[(String, i64)], live: &[i64]) -> Vec<PathBuf> {
    let mut gone = vec![];
    let entries = |d: PathBuf| -> Vec<PathBuf> {
        std::fs::read_dir(d)
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    for dir in OUTPUT_DIRS {
        for p in entries(data_dir.join(dir)) {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            let Some(name) = name.filter(|n| n.starts_with(PARTIAL)) else {
                continue;
            };
            if partial_job(&name).is_none_or(|id| !live.contains(&id)) {
                gone.push(p);
            }
        }
    }
    gone.extend(entries(data_dir.join("tmp")));
    for study in entries(data_dir.join("studies")) {
        gone.extend(
            entries(study)
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "part")),
        );
    }
    let keep: Vec<PathBuf> = live
        .iter()
        .map(|&id| magictime_app::ssr::train::checkpoints(data_dir, id))
        .collect();
    gone.extend(
        entries(data_dir.join("checkpoints"))
            .into_iter()
            .filter(|p| !keep.contains(p)),
    );
    for (kind, id) in unfinished {
        gone.extend(
            outputs_of(data_dir, kind, *id)
                .into_iter()
                .filter(|p| p.exists()),
        );
    }
    for p in &gone {
        remove(p);
    }
    gone
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_removes_partial_and_unfinished_outputs_only() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let mk = |p: &str| {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"x").unwrap();
        };
        for p in [
            "generated/1.mp4",
            "generated/.partial-2.mp4",
            "generated/3.mp4",
            "generated/3.gif",
            "datasets/4/clip.mp4",
            "datasets/.partial-5/clip.mp4",
            "models/.partial-6/config.json",
            "models/.partial-10/config.json",
            "generated/.partial-9.mp4",
            "eval/7/report.json",
            "tmp/upload-abc",
            "checkpoints/train-8/unet.ckpt",
            "checkpoints/train-9/vae.ckpt",
            "studies/1/aaaa.mp4",
            "studies/1/bbbb.mp4.part",
        ] {
            mk(p);
        }
        // 9 and 10 are live (queued or running): their workers' files stay
        let mut gone = sweep(
            root,
            &[("generate".into(), 3), ("eval".into(), 7)],
            &[9, 10],
        );
        gone.sort();
        let rel: Vec<String> = gone
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect();
        assert_eq!(
            rel,
            [
                "checkpoints/train-8",
                "datasets/.partial-5",
                "eval/7",
                "generated/.partial-2.mp4",
                "generated/3.gif",
                "generated/3.mp4",
                "models/.partial-6",
                "studies/1/bbbb.mp4.part",
                "tmp/upload-abc"
            ]
        );
        for kept in [
            "generated/1.mp4",
            "datasets/4/clip.mp4",
            "studies/1/aaaa.mp4",
            "checkpoints/train-9/vae.ckpt",
            "generated/.partial-9.mp4",
            "models/.partial-10/config.json",
        ] {
            assert!(root.join(kept).exists(), "{kept}");
        }
        assert!(!root.join("eval/7").exists());
        assert_eq!(
            partial_path(Path::new("/d/generated/9.mp4")),
            Path::new("/d/generated/.partial-9.mp4")
        );
    }

    /// The MP4 always comes first and the frames zip last; other formats once each, unknown
    /// ones never.
    #[test]
    fn generated_files_are_the_mp4_the_formats_asked_for_and_the_frames() {
        let f =
            |v: &[&str]| generated_files(4, &v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(f(&[]), ["generated/4.mp4", "generated/4.zip"]);
        assert_eq!(
            f(&["png", "gif", "gif", "mp4", "avi"]),
            [
                "generated/4.mp4",
                "generated/4.gif",
                "generated/4.png",
                "generated/4.zip"
            ]
        );
    }
}
