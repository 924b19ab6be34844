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

/// An account as the admin sees it: the user, whether it is disabled, its live sessions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    #[serde(flatten)]
    pub user: User,
    pub disabled: bool,
    pub sessions: i64,
}

/// The request's CSRF token (double-submit: the CSRF cookie and a form field or header). With a
/// session it is derived from the session token (`ssr::cookies::csrf_for_session`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrfToken(pub String);

/// Name of the cookie that carries the CSRF token (readable by the page's script); behind TLS
/// (the default) it carries [`HOST_PREFIX`].
pub const CSRF_COOKIE: &str = "mt_csrf";
/// The prefix of both cookies' names unless the server runs with `--insecure-http`.
pub const HOST_PREFIX: &str = "__Host-";
/// Name of the form field that must echo the CSRF cookie on form posts.
pub const CSRF_FIELD: &str = "csrf_token";
/// Name of the header that must echo the CSRF cookie on other state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Name of the session cookie (HttpOnly); behind TLS it carries [`HOST_PREFIX`].
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

    fn train(stage: &str) -> TrainParams {
        TrainParams {
            stage: stage.into(),
            preset: "s32".into(),
            start_from: None,
            text_encoder: None,
            clips: 8,
            seed: 0,
            vae_steps: 10,
            unet_steps: 30,
            max_minutes: 1.0,
        }
    }

    #[test]
    fn training_loops_follow_the_stage_and_split_the_budget() {
        let all = train("all").loops();
        let names: Vec<_> = all.iter().map(|l| l.0).collect();
        assert_eq!(names, ["vae", "unet", "motion", "adapter_s", "adapter_t"]);
        assert_eq!(
            all.iter().map(|l| l.1).collect::<Vec<_>>(),
            [10, 30, 30, 15, 15]
        );
        assert!((all.iter().map(|l| l.2).sum::<f64>() - 1.0).abs() < 1e-9);
        assert!((all[0].2 - 0.2).abs() < 1e-9 && (all[1].2 - 0.4).abs() < 1e-9);
        assert_eq!(train("c").loops(), [("adapter_s", 15, 1.0)]);
        let a = train("a").loops();
        assert_eq!((a.len(), a[0].0, a[1].0), (2, "vae", "unet"));
        assert!((a[0].2 - 1.0 / 3.0).abs() < 1e-9);
        // parameters queued before stages existed ran the whole recipe at 32²
        let old: TrainParams = serde_json::from_str(
            r#"{"clips":8,"seed":1,"vae_steps":2,"unet_steps":2,"max_minutes":5.0}"#,
        )
        .unwrap();
        assert_eq!(
            (old.stage.as_str(), old.preset.as_str(), old.start_from),
            ("all", "s32", None)
        );
    }

    #[test]
    fn train_curves_bucket_long_loops_and_estimate_the_time_left() {
        let h = TrainHistory {
            loops: vec![
                LoopHistory {
                    name: "vae".into(),
                    total: 300,
                    resumed_at: 300,
                    losses: (0..300).map(|i| i as f64).collect(),
                },
                LoopHistory {
                    name: "unet".into(),
                    total: 10,
                    resumed_at: 0,
                    losses: vec![],
                },
            ],
            fraction: 0.6,
            started: 1000.0,
            start_fraction: 0.5,
            written: 1100.0,
        };
        let c = TrainCurve::of(&h, 1150.0, true);
        assert_eq!(c.loops.len(), 1, "loops without steps are left out");
        let l = &c.loops[0];
        assert_eq!((l.total, l.resumed_at, l.points.len()), (300, 300, 100));
        assert_eq!(l.points[0], (3, 1.0));
        assert_eq!(l.points[99], (300, 298.0));
        // 0.1 in 100 s since the restart: 0.4 left = 400 s at the write, 50 s ago
        let eta = c.eta_seconds.unwrap();
        assert!((eta - 350.0).abs() < 1e-6, "{eta}");
        assert_eq!(TrainCurve::of(&h, 1150.0, false).eta_seconds, None);
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
    /// For finished generation jobs: the URL of the file to download (the format asked for
    /// besides the MP4, else the MP4).
    pub download_url: Option<String>,
    /// Runs started (more than one when a worker was lost and the job retried).
    pub attempts: i64,
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

/// Parameters of a generation job (validated on the server before it is queued). The model
/// fields default to what jobs queued before the picker ran: the built-in model, its adapters,
/// an MP4.
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
    /// The model's [`ModelOption::id`].
    #[serde(default = "builtin_model")]
    pub model: String,
    /// A DreamBooth file over the official base ([`ModelOption::dreambooth`]).
    #[serde(default)]
    pub dreambooth: Option<String>,
    /// The adapters applied (of [`ADAPTERS`]); `None`: every adapter the model has.
    #[serde(default)]
    pub adapters: Option<Vec<String>>,
    /// Files written besides the MP4 (of [`FORMATS`]).
    #[serde(default)]
    pub formats: Vec<String>,
}

fn builtin_model() -> String {
    BUILTIN_MODEL.to_owned()
}

/// The model built into the server (or its `--model` folder): always there.
pub const BUILTIN_MODEL: &str = "builtin";
/// The official MagicTime release (`serve --ckpts`).
pub const OFFICIAL_MODEL: &str = "official";

/// The MagicTime adapters: (id, name), in the order they are applied.
pub const ADAPTERS: [(&str, &str); 3] = [
    ("s", "Magic Adapter S"),
    ("t", "Magic Adapter T"),
    ("te", "Magic Text-Encoder"),
];

/// The output formats of a generation: (extension, name). The MP4 (the page's player) and
/// the frames zip ([`ALWAYS_WRITTEN`]) are always written; the others on request.
pub const FORMATS: [(&str, &str); 5] = [
    ("mp4", "MP4"),
    ("gif", "GIF"),
    ("webp", "WebP"),
    ("png", "frame grid PNG"),
    ("zip", "frames as PNG (zip)"),
];

/// The formats of [`FORMATS`] every generation writes.
pub const ALWAYS_WRITTEN: [&str; 2] = ["mp4", "zip"];

/// A weights file a generation used, as its page and JSON sidecar name it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// What it is: "UNet", "motion module", "Magic Adapter S", "DreamBooth", …
    pub role: String,
    /// Its path inside the model folder (no server paths).
    pub name: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    pub bytes: u64,
}

/// What the page of one generation shows (`/generations/{id}`): the job, its settings and,
/// once done, its provenance (the same facts as its JSON sidecar).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerationView {
    pub id: i64,
    pub status: String,
    pub message: String,
    pub progress: f64,
    /// Who asked (an e-mail address).
    pub requested_by: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub params: GenerateParams,
    /// The provenance, once done (the sidecar's content).
    pub provenance: Option<Provenance>,
    /// The files to download: (URL, format name), the MP4 first; the sidecar last.
    pub downloads: Vec<(String, String)>,
    /// While queued: its place in the queue, 1 for the next generation to start.
    pub queue_position: Option<i64>,
    /// While queued or running: seconds until it starts and until it finishes, estimated from
    /// the measured times of recent generations (`None` before any was measured).
    pub estimate: Option<(f64, f64)>,
    /// Hidden by an admin (only admins see it).
    pub hidden: bool,
    /// Whether the viewer may cancel it (queued or running, and theirs or an admin's view).
    pub may_cancel: bool,
    /// Whether the viewer is an admin (who may hide or show it).
    pub admin_view: bool,
}

/// How a finished generation was made: its JSON sidecar (`generated/<id>.json`), also kept in
/// the job's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The model, its DreamBooth file and adapters, in words.
    pub model: String,
    /// The weights files used, with their hashes.
    pub model_files: Vec<ModelFile>,
    /// `magictime <version>`.
    pub software: String,
    /// Seconds from the start of the generation to its last file.
    pub seconds: f64,
    /// The files written, relative to the data dir (`generated/<id>.mp4`, …).
    pub files: Vec<String>,
}

/// The most frames × width × height one web generation may have (the latents, the attention
/// and the decoded video grow with it): 32 frames at 512², 128 at 256², 512 at 128².
pub const MAX_FRAME_PIXELS: usize = 32 * 512 * 512;

/// What one generation request may ask for: researchers get [`RESEARCH_LIMITS`]; visitors of
/// the public demo the smaller ceiling of `serve --demo-max-*`. The form renders them as its
/// fields' bounds (and checks them beside the fields); the server checks them before queueing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLimits {
    pub max_steps: usize,
    pub max_frames: usize,
    pub max_size: usize,
}

/// The bounds of a researcher's request (the frames are bounded by [`MAX_FRAME_PIXELS`]).
pub const RESEARCH_LIMITS: RequestLimits = RequestLimits {
    max_steps: 100,
    max_frames: 512,
    max_size: 512,
};

/// The smallest image side a request may ask for, in pixels.
pub const MIN_SIZE: usize = 16;
/// The longest prompt (and negative prompt), in characters.
pub const MAX_PROMPT_CHARS: usize = 1000;

impl RequestLimits {
    /// Checks a request's numbers and prompts: `Err((field, message))` names the form field
    /// at fault. The model checks its own stride and limits after this.
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &self,
        prompt: &str,
        negative: &str,
        steps: usize,
        cfg: f64,
        frames: usize,
        size: usize,
        fps: f64,
    ) -> Result<(), (&'static str, String)> {
        let m = |field, msg: String| Err((field, msg));
        if prompt.trim().is_empty() {
            return m("prompt", "the prompt is empty".into());
        }
        for (field, text) in [("prompt", prompt), ("negative", negative)] {
            if text.chars().count() > MAX_PROMPT_CHARS {
                return m(
                    field,
                    format!("prompts are limited to {MAX_PROMPT_CHARS} characters"),
                );
            }
        }
        if !(1..=self.max_steps).contains(&steps) {
            return m("steps", format!("steps must be 1–{}", self.max_steps));
        }
        if !(0.0..=30.0).contains(&cfg) {
            return m("cfg", "guidance must be 0–30".into());
        }
        if !(1..=self.max_frames).contains(&frames) {
            return m("frames", format!("frames must be 1–{}", self.max_frames));
        }
        // The model only checks the stride; memory grows with size² (and attention with size⁴).
        if !(MIN_SIZE..=self.max_size).contains(&size) {
            return m(
                "size",
                format!("size must be {MIN_SIZE}–{} pixels", self.max_size),
            );
        }
        // Beyond the motion modules' 32 frames the video runs in context windows (the model
        // allows 512 frames): the work and memory grow with frames × size², bounded here.
        let pixels = frames.saturating_mul(size * size);
        if pixels > MAX_FRAME_PIXELS {
            return m(
                "frames",
                format!(
                    "frames × size² is at most {MAX_FRAME_PIXELS} on this server (32 frames at \
                     512 px, 128 at 256 px, 512 at 128 px); {frames} frames at {size} px are \
                     {pixels}"
                ),
            );
        }
        if !(1.0..=60.0).contains(&fps) {
            return m("fps", "frames per second must be 1–60".into());
        }
        Ok(())
    }
}

/// Who may use the Generate page, and within which bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GenerateAccess {
    /// A researcher (or admin): [`RESEARCH_LIMITS`].
    Researcher,
    /// A visitor of the public demo: its own ceiling, a rate limit, its own gallery.
    Visitor(RequestLimits),
}

impl GenerateAccess {
    pub fn limits(&self) -> RequestLimits {
        match self {
            GenerateAccess::Researcher => RESEARCH_LIMITS,
            GenerateAccess::Visitor(l) => *l,
        }
    }
}

/// One finished generation as the gallery lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GalleryItem {
    pub id: i64,
    pub params: GenerateParams,
    /// Who asked: an e-mail address, or "a demo visitor".
    pub requested_by: String,
    pub finished_at: Option<String>,
    /// Hidden by an admin (only admins see it).
    pub hidden: bool,
}

/// One page of the gallery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GalleryPage {
    pub items: Vec<GalleryItem>,
    /// The finished generations that match the filters, on every page.
    pub total: i64,
    /// 1 for the newest.
    pub page: i64,
    pub per_page: i64,
}

/// Refusals that concern the model picker's fields start with one of these (the page shows
/// them beside the picker).
pub const CHOICE_ERRORS: [&str; 4] = ["Model ", "DreamBooth ", "Adapter ", "Output "];

/// A model the server generates with, as the Generate page's picker offers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelOption {
    /// What a request names ([`BUILTIN_MODEL`], [`OFFICIAL_MODEL`]).
    pub id: String,
    /// What it is, in words (no server paths).
    pub label: String,
    /// DreamBooth files that can go over it (file names).
    pub dreambooth: Vec<String>,
    /// The adapters it has (ids of [`ADAPTERS`]).
    pub adapters: Vec<String>,
    /// Its own generation settings (the form's initial values).
    pub defaults: GenerateDefaults,
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
    /// MagicTime's stages to run: one of [`TRAIN_STAGES`] (jobs queued before stages existed
    /// ran the whole recipe).
    #[serde(default = "TrainParams::all")]
    pub stage: String,
    /// Model size: one of [`TRAIN_PRESETS`].
    #[serde(default = "TrainParams::s32")]
    pub preset: String,
    /// Stages b–d: the finished training job whose weights folder (`models/<id>/`) the run
    /// starts from (copied, then the stage writes its part).
    #[serde(default)]
    pub start_from: Option<i64>,
    /// Stage a's text encoder: `None` trained from scratch with the UNet, `Some("in-domain")` the
    /// in-domain CLIP's text tower, frozen (`train-default --text-encoder-init`).
    #[serde(default)]
    pub text_encoder: Option<String>,
    pub clips: usize,
    pub seed: u64,
    /// Stage a: VAE steps.
    pub vae_steps: usize,
    /// Stage a: text encoder + UNet steps and stage b: motion-module steps; stages c and d (the
    /// LoRA adapters) take half as many.
    pub unet_steps: usize,
    /// Wall-time budget, split over the selected stages' loops by [`TRAIN_LOOPS`]' weights.
    pub max_minutes: f64,
}

impl TrainParams {
    fn all() -> String {
        "all".into()
    }
    fn s32() -> String {
        "s32".into()
    }

    /// The training loops this job runs, in order: (loop name, steps, share of the time budget).
    pub fn loops(&self) -> Vec<(&'static str, usize, f64)> {
        let weight: f64 = TRAIN_LOOPS
            .iter()
            .filter(|l| self.runs(l.1))
            .map(|l| l.2)
            .sum();
        TRAIN_LOOPS
            .iter()
            .filter(|l| self.runs(l.1))
            .map(|&(name, _, w)| {
                let steps = match name {
                    "vae" => self.vae_steps,
                    "unet" | "motion" => self.unet_steps,
                    _ => (self.unet_steps / 2).max(1),
                };
                (name, steps, w / weight)
            })
            .collect()
    }

    fn runs(&self, stage: &str) -> bool {
        self.stage == "all" || self.stage == stage
    }
}

/// The stages a training job can run (`all`: a, b, c, d in order).
pub const TRAIN_STAGES: [&str; 5] = ["all", "a", "b", "c", "d"];
/// The model sizes a training job can train (`s32`: 32²/8 frames, `s64`: 64²/16 frames).
pub const TRAIN_PRESETS: [&str; 2] = ["s32", "s64"];
/// The trainer's loops: (loop name = checkpoint file, stage, weight in the time budget).
pub const TRAIN_LOOPS: [(&str, &str, f64); 5] = [
    ("vae", "a", 3.0),
    ("unet", "a", 6.0),
    ("motion", "b", 2.0),
    ("adapter_s", "c", 2.0),
    ("adapter_t", "d", 2.0),
];

/// A training job's loss history as it writes it (`losses.json` next to its checkpoints while it
/// runs, `losses` of its result when done).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainHistory {
    /// The selected stages' loops, in order.
    pub loops: Vec<LoopHistory>,
    /// Fraction of the whole run done.
    pub fraction: f64,
    /// This (re)start of the job: Unix seconds and the fraction it started from.
    pub started: f64,
    pub start_fraction: f64,
    /// Unix seconds of this write.
    pub written: f64,
}

/// One training loop's losses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopHistory {
    pub name: String,
    /// Steps planned.
    pub total: usize,
    /// Steps its checkpoint held when this run of the job started (0: none; `total`: the loop
    /// had finished and was skipped).
    pub resumed_at: usize,
    /// Loss of step 1, 2, …
    pub losses: Vec<f64>,
}

/// What the Jobs page draws for a training job: per loop (step, loss) points (at most
/// [`TrainCurve::POINTS`], bucket means) and, while it runs, the estimated seconds left.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainCurve {
    pub loops: Vec<LoopCurve>,
    pub eta_seconds: Option<f64>,
}

/// One loop of a [`TrainCurve`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopCurve {
    pub name: String,
    /// Steps planned.
    pub total: usize,
    /// Steps its checkpoint held when the job's last (re)start began (see [`LoopHistory`]).
    pub resumed_at: usize,
    /// (step, mean loss of the steps up to it since the previous point).
    pub points: Vec<(usize, f64)>,
}

impl TrainCurve {
    pub const POINTS: usize = 120;

    /// The curve of `h`; `now` (Unix seconds) and `running` for the ETA: the rate of progress
    /// since this (re)start of the job.
    pub fn of(h: &TrainHistory, now: f64, running: bool) -> Self {
        let loops = h
            .loops
            .iter()
            .filter(|l| !l.losses.is_empty())
            .map(|l| {
                let per = l.losses.len().div_ceil(Self::POINTS);
                let points = l
                    .losses
                    .chunks(per)
                    .enumerate()
                    .map(|(i, c)| (i * per + c.len(), c.iter().sum::<f64>() / c.len() as f64))
                    .collect();
                LoopCurve {
                    name: l.name.clone(),
                    total: l.total,
                    resumed_at: l.resumed_at,
                    points,
                }
            })
            .collect();
        let gained = h.fraction - h.start_fraction;
        let eta_seconds = (running && gained > 1e-4 && h.written > h.started).then(|| {
            let at_write = (h.written - h.started) * (1.0 - h.fraction) / gained;
            (at_write - (now - h.written)).max(0.0)
        });
        Self { loops, eta_seconds }
    }
}
