//! Caption annotation: dataset projects, the keyboard-first annotation workspace, review,
//! dashboards. The bodies call `crate::ssr::annotate`; media files and exports are plain axum
//! routes (`server/src/routes/annotate.rs`).
pub mod text;

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The flags an annotator can raise; a flagged item goes to the reviewers' flagged queue.
pub const FLAGS: [(&str, &str); 4] = [
    ("not_timelapse", "Not a time-lapse"),
    ("has_cut", "Has a cut"),
    ("watermark", "Watermark"),
    ("bad_quality", "Bad quality"),
];

/// What a good ChronoMagic caption states.
pub const CHECKLIST: [(&str, &str); 4] = [
    ("subject", "Subject"),
    ("process", "Process"),
    ("start_end", "Start and end state"),
    ("time_span", "Time span"),
];

/// Where a draft caption came from (mirrors the data pipeline's `Provenance`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Provenance {
    #[serde(default)]
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default)]
    pub inputs: Vec<String>,
    #[serde(default)]
    pub draft: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectSummary {
    pub id: i64,
    pub name: String,
    pub manifest: String,
    pub overlap: i64,
    pub lock_timeout_s: i64,
    pub items: i64,
    pub open: i64,
    pub review: i64,
    pub flagged: i64,
    pub accepted: i64,
    pub rejected: i64,
    pub is_annotator: bool,
    pub is_reviewer: bool,
}

/// One clip as the workspace and the review page show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemView {
    pub id: i64,
    pub project_id: i64,
    pub project_name: String,
    pub seq: i64,
    pub total: i64,
    pub videoid: String,
    pub file: String,
    pub is_transmit: i64,
    pub title: String,
    pub tags: Vec<String>,
    pub description: String,
    pub draft: String,
    pub provenance: Provenance,
    pub fps: f64,
    pub frames: i64,
    pub width: i64,
    pub height: i64,
    pub status: String,
    pub round: i64,
    /// The annotator's autosaved text, if any.
    pub autosave: Option<String>,
    /// Whether the viewer holds the item's lock (only then may they write).
    pub locked_by_me: bool,
    pub lock_expires_in_s: Option<f64>,
    /// The reviewer's comment when the item was sent back.
    pub sent_back_comment: Option<String>,
    /// Frame indices of the 8 keyframes (for jumping from the strip).
    pub keyframes: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionView {
    pub id: i64,
    pub user: String,
    pub round: i64,
    pub kind: String,
    pub text: String,
    pub flags: Vec<String>,
    pub checklist: Vec<String>,
    pub seconds: Option<f64>,
    pub comment: String,
    pub ref_version: Option<i64>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewItem {
    pub item: ItemView,
    pub versions: Vec<VersionView>,
    pub accepted_version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub id: i64,
    pub seq: i64,
    pub videoid: String,
    pub status: String,
    pub submissions: i64,
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotatorStats {
    pub user: String,
    pub submitted: i64,
    pub skipped: i64,
    pub mean_seconds: Option<f64>,
    pub accepted: i64,
    pub decided: i64,
    pub acceptance_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Items (rounds) with at least two captions.
    pub units: i64,
    pub mean_edit_distance: Option<f64>,
    pub mean_bleu: Option<f64>,
    /// Krippendorff's α (nominal) on "any flag", then per flag.
    pub any_flag_alpha: Option<f64>,
    pub flag_alpha: Vec<(String, Option<f64>)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub project: ProjectSummary,
    pub annotators: Vec<AnnotatorStats>,
    pub agreement: Agreement,
    pub members: Vec<(String, String)>,
}

/// Hotkeys as "Ctrl+Enter", "Alt+s", …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hotkeys {
    pub submit: String,
    pub skip: String,
    pub flag: String,
    pub next: String,
    pub play: String,
}

impl Default for Hotkeys {
    fn default() -> Self {
        Hotkeys {
            submit: "Ctrl+Enter".into(),
            skip: "Alt+s".into(),
            flag: "Alt+f".into(),
            next: "Alt+n".into(),
            play: "Alt+p".into(),
        }
    }
}

/// Whether a key event (key name, modifiers) matches a hotkey like "Ctrl+Shift+Enter".
pub fn hotkey_matches(spec: &str, key: &str, ctrl: bool, alt: bool, shift: bool) -> bool {
    let mut parts: Vec<&str> = spec.split('+').map(str::trim).collect();
    let Some(k) = parts.pop().filter(|k| !k.is_empty()) else {
        return false;
    };
    let has = |m: &str| parts.iter().any(|p| p.eq_ignore_ascii_case(m));
    let (want_ctrl, want_alt, want_shift) =
        (has("ctrl") || has("control"), has("alt"), has("shift"));
    if parts
        .iter()
        .any(|p| !["ctrl", "control", "alt", "shift"].contains(&p.to_lowercase().as_str()))
    {
        return false;
    }
    want_ctrl == ctrl
        && want_alt == alt
        && (want_shift == shift || k.len() == 1 && !want_shift)
        && k.eq_ignore_ascii_case(key)
}

/// The projects the user can see (all for researchers/admins, their own for annotators).
#[server(prefix = "/api", endpoint = "annot_projects", input = GetUrl)]
pub async fn annot_projects() -> Result<Vec<ProjectSummary>, AppError> {
    use crate::ssr::annotate;
    let (state, user) = annotate::ctx().await?;
    annotate::projects::list(&state.pool, &user)
        .await
        .map_err(AppError::from)
}

/// Creates a project from a manifest under `<data_dir>/datasets` (researchers). `annotators`
/// and `reviewers` are comma-separated e-mails.
#[server(prefix = "/api", endpoint = "annot_create")]
pub async fn annot_create_project(
    csrf_token: String,
    name: String,
    manifest: String,
    overlap: i64,
    lock_timeout_s: Option<i64>,
    annotators: String,
    reviewers: Option<String>,
) -> Result<i64, AppError> {
    use crate::ssr::{annotate, auth};
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let user = auth::require_role(crate::types::Role::Researcher).await?;
    let req = annotate::projects::NewProject {
        name,
        manifest,
        overlap,
        lock_timeout_s: lock_timeout_s.unwrap_or(600),
        annotators: split_emails(&annotators),
        reviewers: split_emails(reviewers.as_deref().unwrap_or("")),
    };
    annotate::projects::create(&state.pool, &state.data_dir, &user, req)
        .await
        .map_err(AppError::from)
}

#[cfg(feature = "ssr")]
fn split_emails(s: &str) -> Vec<String> {
    s.split([',', ';', '\n', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Locks and returns the next item for the user (None when nothing is left for them).
#[server(prefix = "/api", endpoint = "annot_next")]
pub async fn annot_next(
    csrf_token: String,
    project_id: i64,
    exclude: Option<i64>,
) -> Result<Option<i64>, AppError> {
    use crate::ssr::annotate;
    let _ = csrf_token;
    let (state, user) = annotate::ctx().await?;
    annotate::work::next(&state.pool, &user, project_id, exclude)
        .await
        .map_err(AppError::from)
}

/// One item (members, researchers and admins).
#[server(prefix = "/api", endpoint = "annot_item", input = GetUrl)]
pub async fn annot_item(item_id: i64) -> Result<ItemView, AppError> {
    use crate::ssr::annotate;
    let (state, user) = annotate::ctx().await?;
    annotate::work::item(&state.pool, &user, item_id)
        .await
        .map_err(AppError::from)
}

/// Saves the text being written and extends the lock.
#[server(prefix = "/api", endpoint = "annot_autosave")]
pub async fn annot_autosave(
    csrf_token: String,
    item_id: i64,
    text: String,
) -> Result<f64, AppError> {
    use crate::ssr::annotate;
    let _ = csrf_token;
    let (state, user) = annotate::ctx().await?;
    annotate::work::autosave(&state.pool, &user, item_id, &text)
        .await
        .map_err(AppError::from)
}

/// Submits a caption (`flags`, `checklist`: comma-separated keys); frees the lock.
#[server(prefix = "/api", endpoint = "annot_submit")]
pub async fn annot_submit(
    csrf_token: String,
    item_id: i64,
    text: String,
    flags: Option<String>,
    checklist: Option<String>,
) -> Result<(), AppError> {
    use crate::ssr::annotate;
    let _ = csrf_token;
    let (state, user) = annotate::ctx().await?;
    let list = |s: Option<String>| -> Vec<String> {
        s.unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    };
    annotate::work::submit(
        &state.pool,
        &user,
        item_id,
        &text,
        &list(flags),
        &list(checklist),
    )
    .await
    .map_err(AppError::from)
}

/// Skips the item: it is not offered to this user again (in this round).
#[server(prefix = "/api", endpoint = "annot_skip")]
pub async fn annot_skip(csrf_token: String, item_id: i64) -> Result<(), AppError> {
    use crate::ssr::annotate;
    let _ = csrf_token;
    let (state, user) = annotate::ctx().await?;
    annotate::work::skip(&state.pool, &user, item_id)
        .await
        .map_err(AppError::from)
}

/// Gives the lock back (the autosaved text stays).
#[server(prefix = "/api", endpoint = "annot_release")]
pub async fn annot_release(csrf_token: String, item_id: i64) -> Result<(), AppError> {
    use crate::ssr::annotate;
    let _ = csrf_token;
    let (state, user) = annotate::ctx().await?;
    annotate::locking::release(&state.pool, item_id, user.id)
        .await
        .map_err(AppError::from)
}

/// Progress, per-annotator statistics and agreement of a project.
#[server(prefix = "/api", endpoint = "annot_dashboard", input = GetUrl)]
pub async fn annot_dashboard(project_id: i64) -> Result<Dashboard, AppError> {
    use crate::ssr::annotate;
    let (state, user) = annotate::ctx().await?;
    annotate::agreement::dashboard(&state.pool, &user, project_id)
        .await
        .map_err(AppError::from)
}

/// Items waiting for a reviewer (reviewers only).
#[server(prefix = "/api", endpoint = "annot_queue", input = GetUrl)]
pub async fn annot_queue(
    project_id: i64,
    status: Option<String>,
) -> Result<Vec<QueueEntry>, AppError> {
    use crate::ssr::annotate;
    let (state, user) = annotate::ctx().await?;
    annotate::review::queue(&state.pool, &user, project_id, status.as_deref())
        .await
        .map_err(AppError::from)
}

/// All versions and decisions of an item (reviewers only).
#[server(prefix = "/api", endpoint = "annot_review_item", input = GetUrl)]
pub async fn annot_review_item(item_id: i64) -> Result<ReviewItem, AppError> {
    use crate::ssr::annotate;
    let (state, user) = annotate::ctx().await?;
    annotate::review::item(&state.pool, &user, item_id)
        .await
        .map_err(AppError::from)
}

/// A reviewer's decision: `accept` (a version), `edit` (new text, accepted), `send_back`
/// (with a comment: a new round), `reject`.
#[server(prefix = "/api", endpoint = "annot_review")]
pub async fn annot_review(
    csrf_token: String,
    item_id: i64,
    action: String,
    version_id: Option<i64>,
    text: Option<String>,
    comment: Option<String>,
) -> Result<(), AppError> {
    use crate::ssr::annotate;
    let _ = csrf_token;
    let (state, user) = annotate::ctx().await?;
    annotate::review::decide(
        &state.pool,
        &user,
        item_id,
        &action,
        version_id,
        text.as_deref(),
        comment.as_deref().unwrap_or(""),
    )
    .await
    .map_err(AppError::from)
}

#[server(prefix = "/api", endpoint = "annot_hotkeys", input = GetUrl)]
pub async fn annot_hotkeys() -> Result<Hotkeys, AppError> {
    use crate::ssr::annotate;
    let (state, user) = annotate::ctx().await?;
    annotate::work::hotkeys(&state.pool, user.id)
        .await
        .map_err(AppError::from)
}

#[server(prefix = "/api", endpoint = "annot_set_hotkeys")]
pub async fn annot_set_hotkeys(
    csrf_token: String,
    submit: String,
    skip: String,
    flag: String,
    next: String,
    play: String,
) -> Result<Hotkeys, AppError> {
    use crate::ssr::annotate;
    let _ = csrf_token;
    let (state, user) = annotate::ctx().await?;
    let keys = Hotkeys {
        submit,
        skip,
        flag,
        next,
        play,
    };
    annotate::work::set_hotkeys(&state.pool, user.id, &keys)
        .await
        .map_err(AppError::from)?;
    Ok(keys)
}

/// The 8 keyframe indices of a clip of `n` frames: {0, i·⌊(N−1)/7⌋ (i = 1..6), N−1}, as the
/// data pipeline's keyframe step picks them.
pub fn keyframe_indices(n: i64) -> Vec<i64> {
    if n <= 0 {
        return Vec::new();
    }
    let step = (n - 1) / 7;
    let mut v: Vec<i64> = std::iter::once(0)
        .chain((1..=6).map(|i| i * step))
        .chain(std::iter::once(n - 1))
        .collect();
    v.sort_unstable();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hotkeys_match_modifiers_exactly() {
        assert!(hotkey_matches("Ctrl+Enter", "Enter", true, false, false));
        assert!(!hotkey_matches("Ctrl+Enter", "Enter", false, false, false));
        assert!(hotkey_matches("Alt+s", "S", false, true, false));
        assert!(!hotkey_matches("Alt+s", "s", true, true, false));
        assert!(!hotkey_matches("Hyper+s", "s", false, false, false));
        assert!(!hotkey_matches("", "s", false, false, false));
    }

    #[test]
    fn keyframes_like_the_pipeline() {
        assert_eq!(keyframe_indices(64), vec![0, 9, 18, 27, 36, 45, 54, 63]);
        assert_eq!(keyframe_indices(0), Vec::<i64>::new());
        assert_eq!(keyframe_indices(3).len(), 8);
    }
}
