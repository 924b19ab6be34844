//! Video generation as the web jobs need it. Implemented by the server with the model crate (the
//! UI crate holds no engine code). Blocking: the job worker calls it on a blocking thread.
use std::path::PathBuf;

use crate::types::{GenerateParams, ModelFile, ModelOption};

pub trait Generator: Send + Sync + 'static {
    /// The models this server generates with, the default first (the Generate page's picker).
    fn models(&self) -> Vec<ModelOption>;
    /// What `p` runs with, in words: the model, its DreamBooth file and adapters (recorded with
    /// the job; a study's condition).
    fn describe(&self, p: &GenerateParams) -> String;
    /// The weights files `p` runs with (base model, motion module, DreamBooth file, the adapters
    /// applied) and their SHA-256: a generation's provenance. Blocking (hashes gigabytes the
    /// first time; the implementation may keep them).
    fn model_files(&self, p: &GenerateParams) -> Result<Vec<ModelFile>, String>;
    /// Checks parameters without generating (the model choice, sizes, frames, steps); the error
    /// is shown to the user.
    fn check(&self, p: &GenerateParams) -> Result<(), String>;
    /// Generates and writes the video to each of `outs` (the format is the extension: `.mp4`,
    /// `.gif`, `.webp`, `.png` frame grid), each atomically; `progress` receives the fraction
    /// done (0..1) and the step just finished ("denoising step 3/25", "decoding frame 2/16")
    /// after every step.
    fn generate(
        &self,
        p: &GenerateParams,
        outs: &[PathBuf],
        progress: &mut dyn FnMut(f64, String),
    ) -> Result<(), String>;
}
