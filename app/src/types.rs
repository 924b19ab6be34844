//! Types shared by the server and the browser.
use serde::{Deserialize, Serialize};

/// What a logged-in account may do. Anonymous study participants have no account at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages accounts; may do everything the other roles may.
    Admin,
    /// Creates studies, launches training and evaluation, generates videos.
    Researcher,
    /// Writes and corrects captions.
    Annotator,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Researcher, Role::Annotator];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Researcher => "researcher",
            Role::Annotator => "annotator",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether an account with this role may use a feature that needs `needed`.
    /// Admins may use everything; other roles only their own features.
    pub fn satisfies(self, needed: Role) -> bool {
        self == Role::Admin || self == needed
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A logged-in account as the UI sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub role: Role,
}

/// The per-browser CSRF token (double-submit: the `mt_csrf` cookie and a form field or header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrfToken(pub String);

/// Name of the cookie that carries the CSRF token (readable by the page's script).
pub const CSRF_COOKIE: &str = "mt_csrf";
/// Name of the form field that must echo the CSRF cookie on form posts.
pub const CSRF_FIELD: &str = "csrf_token";
/// Name of the header that must echo the CSRF cookie on other state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Name of the session cookie (HttpOnly).
pub const SESSION_COOKIE: &str = "mt_session";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_admin_satisfies_all() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert!(Role::Admin.satisfies(r));
        }
        assert_eq!(Role::parse("root"), None);
        assert!(!Role::Annotator.satisfies(Role::Researcher));
        assert!(!Role::Researcher.satisfies(Role::Admin));
        assert!(Role::Researcher.satisfies(Role::Researcher));
    }
}

/// A background job as the UI shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub progress: f64,
    pub message: String,
    pub created_by: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// Parameters (JSON) as submitted.
    pub params: String,
    /// For finished generation jobs: the URL of the video.
    pub video_url: Option<String>,
}

/// Parameters of an evaluation job: folders/manifests relative to the server's data dir, the
/// metrics (`fvd`, `fid`, `kid`, `clipsim`, `mt`) and the videos per set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalParams {
    pub real: String,
    pub fake: String,
    pub metrics: Vec<String>,
    pub n: usize,
}

/// The metrics an evaluation job can compute (names as in `magictime eval --metrics`).
pub const EVAL_METRICS: [&str; 5] = ["fvd", "fid", "kid", "clipsim", "mt"];

/// Parameters of a generation job (validated on the server before it is queued).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerateParams {
    pub prompt: String,
    pub negative: String,
    pub seed: u64,
    pub steps: usize,
    pub cfg: f64,
    pub frames: usize,
    pub size: usize,
    pub fps: f64,
}

/// The generation form's initial values: the loaded model's own settings (its
/// `generation_config.json`), so the page generates what the model was made for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerateDefaults {
    pub steps: usize,
    pub cfg: f64,
    pub frames: usize,
    pub size: usize,
}

/// Parameters of an ingest job (Datasets page): what the ChronoMagic pipeline builds into
/// `datasets/<job id>/` of the server's data dir.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum IngestParams {
    /// Render a ChronoMagic-Synth dataset (`magictime data synth`).
    Synth {
        count: usize,
        size: u32,
        frames: usize,
        seed: u64,
        /// `metamorphic`, `general` or `both`.
        kind: String,
    },
    /// Detect cuts in every video of a folder (relative to the data dir), split them into clips
    /// and write the clip manifests (`magictime data split`).
    Split { folder: String, min_frames: usize },
}

/// The ChronoMagic-Synth kinds an ingest job accepts.
pub const SYNTH_KINDS: [&str; 3] = ["metamorphic", "general", "both"];

/// Parameters of a training job: the built-in model's trainer (`magictime model train-default`)
/// on freshly rendered ChronoMagic-Synth clips, writing a weights folder to `models/<job id>/`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    pub clips: usize,
    pub seed: u64,
    pub vae_steps: usize,
    pub unet_steps: usize,
    /// Wall-time budget; the VAE stage gets a third of it, the UNet the rest.
    pub max_minutes: f64,
}
