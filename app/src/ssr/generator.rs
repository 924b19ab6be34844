//! Video generation as the web jobs need it. Implemented by the server with the model crate (the
//! UI crate holds no engine code). Blocking: the job worker calls it on a blocking thread.
use std::path::Path;

use crate::types::GenerateParams;

pub trait Generator: Send + Sync + 'static {
    /// What model is loaded (shown on the Generate page).
    fn describe(&self) -> String;
    /// The model's own generation settings (the Generate form's initial values).
    fn defaults(&self) -> crate::types::GenerateDefaults;
    /// Checks parameters without generating (prompt length in tokens, sizes, steps); the error
    /// is shown to the user.
    fn check(&self, p: &GenerateParams) -> Result<(), String>;
    /// Generates and writes an MP4 to `out`; `progress` receives the fraction done (0..1) and
    /// the step just finished ("denoising step 3/25", "decoding frame 2/16") after every step.
    fn generate(
        &self,
        p: &GenerateParams,
        out: &Path,
        progress: &mut dyn FnMut(f64, String),
    ) -> Result<(), String>;
}
