//! Server functions of the studies' pages: the researcher's list and study page (its data,
//! formatted and plotted on the server: `ssr::studies::page`), and the participant page's
//! introduction. The forms of the study page, the participant's answers and the exports are
//! the axum routes of `server/src/routes/studies/` (JSON, files and redirects).
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One study as the list shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudySummary {
    pub id: i64,
    pub title: String,
    pub status: String,
    pub kind: String,
    pub participants: i64,
    pub completed: i64,
    pub slug: String,
}

/// The caller's studies (admins: every study).
#[server(prefix = "/api", endpoint = "studies", input = GetUrl)]
pub async fn list_studies() -> Result<Vec<StudySummary>, AppError> {
    use crate::{
        ssr::{auth, studies::store},
        types::Role,
    };
    let state = crate::ssr::state()?;
    let user = auth::require_role(Role::Researcher).await?;
    let owner = (user.role != Role::Admin).then_some(user.id);
    let studies = store::list(&state.pool, owner)
        .await
        .map_err(AppError::internal)?;
    let mut out = vec![];
    for s in studies {
        let (participants, completed): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(completed_at) FROM participants WHERE study_id = $1",
        )
        .bind(s.id)
        .fetch_one(&state.pool)
        .await
        .map_err(AppError::internal)?;
        out.push(StudySummary {
            id: s.id,
            title: s.title,
            status: s.status,
            kind: serde_json::to_value(s.design.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            participants,
            completed,
            slug: s.slug,
        });
    }
    Ok(out)
}

/// The most generations one study may be made from at once (a best-of-k trial shows at most 6).
pub const MAX_COMPARED: usize = 6;

/// Makes a draft study of the finished generations `ids` (comma-separated, 2 to
/// [`MAX_COMPARED`], ones the researcher may see): a pairwise study for two, best-of-k for
/// more, at their frame rate and largest size; each video a stimulus with its prompt, its
/// condition the description of its model and adapters (with its number when two would share
/// one). Nothing is created when one of them cannot be used. Redirects to the study's page.
#[server(prefix = "/api", endpoint = "study_from_generations")]
pub async fn study_from_generations(
    csrf_token: String,
    ids: String,
    title: String,
) -> Result<i64, AppError> {
    use crate::{
        ssr::{
            auth, demo, gallery,
            studies::{
                design::{Design, DesignKind},
                stimuli, store,
            },
        },
        types::Role,
    };
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let user = auth::require_role(Role::Researcher).await?;
    let bad = |m: &str| AppError::Invalid(m.to_owned());
    let mut list: Vec<i64> = vec![];
    for part in ids.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id: i64 = part
            .parse()
            .map_err(|_| bad(&format!("{part:?} is not a generation number")))?;
        if !list.contains(&id) {
            list.push(id);
        }
        if list.len() > MAX_COMPARED {
            return Err(bad(&format!(
                "a study is made from at most {MAX_COMPARED} generations at once"
            )));
        }
    }
    if list.len() < 2 {
        return Err(bad("choose at least two generations to compare"));
    }
    let title = title.trim().to_owned();
    if title.chars().count() > 200 {
        return Err(bad("the title is limited to 200 characters"));
    }
    let viewer = demo::Viewer {
        owner: demo::Owner::User(user.id),
        role: Some(user.role),
    };
    let mut found = vec![];
    for &id in &list {
        let g = gallery::generation(&state.pool, id, &viewer)
            .await
            .map_err(AppError::internal)?;
        match g {
            Some(g) if g.status == "done" => found.push(g),
            _ => return Err(bad(&format!("#{id} is not a finished generation"))),
        }
    }
    let describe = |g: &crate::types::GenerationView| {
        g.provenance
            .as_ref()
            .map(|p| p.model.clone())
            .unwrap_or_else(|| state.generator.describe(&g.params))
    };
    let conditions: Vec<String> = found
        .iter()
        .map(|g| {
            let c = describe(g);
            let shared = found
                .iter()
                .filter(|o| describe(o) == c && o.params.prompt == g.params.prompt)
                .count();
            if shared > 1 {
                format!("{c} (#{})", g.id)
            } else {
                c
            }
        })
        .collect();
    let n = found.len();
    let size = found.iter().map(|g| g.params.size).max().unwrap_or(64) as u32;
    let design = Design {
        kind: if n == 2 {
            DesignKind::Pairwise
        } else {
            DesignKind::BestOfK
        },
        k: n,
        fps: found[0].params.fps,
        width: size,
        height: size,
        ..Design::default()
    };
    let title = if title.is_empty() {
        let names: Vec<String> = list.iter().map(|id| format!("#{id}")).collect();
        format!("Generations {}", names.join(", "))
    } else {
        title
    };
    let st = store::create(&state.pool, user.id, &title, design)
        .await
        .map_err(AppError::from)?;
    for (g, condition) in found.iter().zip(&conditions) {
        if let Err(e) = stimuli::add_generated(&state, &st, g.id, Some(condition)).await {
            let _ = store::remove_draft(&state.pool, &state.data_dir, st.id).await;
            return Err(match e {
                e @ (store::StudyError::Invalid(_) | store::StudyError::NoGeneration(_)) => {
                    bad(&e.to_string())
                }
                e => AppError::internal(e),
            });
        }
    }
    tracing::info!(study = st.id, user = user.id, generations = ?list, "study made from generations");
    leptos_axum::redirect(&format!("/studies/{}", st.id));
    Ok(st.id)
}

/// One row of a table as the study page shows it (numbers already formatted).
pub type Cells = Vec<String>;

/// Everything the researcher's page of one study shows, formatted on the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudyPageView {
    pub id: i64,
    pub title: String,
    pub status: String,
    pub slug: String,
    /// "Participants: … · completed: … · …".
    pub dashboard: String,
    pub metrics: MetricsBlock,
    /// `None` when the block is off and nobody answered it.
    pub demographics: Option<Vec<DemographicTable>>,
    pub criteria: Vec<CriterionBlock>,
    /// Prompt, condition, role, frames, format.
    pub stimuli: Vec<Cells>,
    /// The finished generations that can be added: (job id, prompt).
    pub generated: Vec<(i64, String)>,
    pub design: DesignFields,
}

/// The automatic metrics' block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsBlock {
    /// `not_computed`, `running`, `done`, `failed` or `not_available`.
    pub status: String,
    pub error: Option<String>,
    pub embedder: Option<String>,
    pub computed_at: Option<String>,
    pub stale: bool,
    /// Condition, videos, CLIPSIM ×100, metamorphic score.
    pub rows: Vec<Cells>,
}

/// Counts of one demographic question's answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemographicTable {
    pub text: String,
    pub counts: Vec<(String, usize)>,
    pub no_answer: usize,
}

/// One criterion's results: the agreement line, the per-condition and pairwise tables and the
/// two plots (SVG drawn with `plotters` on the server).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CriterionBlock {
    pub criterion: String,
    pub summary: String,
    pub conditions: Vec<Cells>,
    pub pairs: Vec<Cells>,
    pub bars_svg: String,
    pub matrix_svg: String,
}

/// The design form's current values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DesignFields {
    pub kind: String,
    pub k: usize,
    pub allow_tie: bool,
    /// One `name | question` per line.
    pub criteria: String,
    pub trials_per_participant: usize,
    pub practice_trial: bool,
    pub attention_checks: usize,
    pub gold_trials: usize,
    pub require_full_view: bool,
    pub min_time_ms: u64,
    pub max_failed_checks: usize,
    pub consent: String,
    pub instructions: String,
    pub demographics_enabled: bool,
    /// One `name[*] | question | choice; choice` per line.
    pub demographics: String,
    pub redirect_url: String,
    pub fps: f64,
    pub width: u32,
    pub height: u32,
    pub completion_code: String,
    pub seed: u64,
}

/// The researcher's page of study `id` (its owner or an admin; anyone else: 404).
#[server(prefix = "/api", endpoint = "study_page", input = GetUrl)]
pub async fn get_study_page(id: i64) -> Result<StudyPageView, AppError> {
    crate::ssr::studies::page::build(id).await
}

/// What the participant's page needs before the participant joins: no condition, no media.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudyIntro {
    pub slug: String,
    pub consent: String,
    pub instructions: String,
    /// The demographic questions asked after consent (empty when the design asks none).
    pub demographics: Vec<AskedQuestion>,
}

/// One demographic question as the participant's form shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AskedQuestion {
    pub name: String,
    pub text: String,
    pub choices: Vec<String>,
    pub required: bool,
}

/// The participant's page of the study at `/s/{slug}` (anyone; 404 when there is none).
#[server(prefix = "/api", endpoint = "study_intro", input = GetUrl)]
pub async fn get_study_intro(slug: String) -> Result<StudyIntro, AppError> {
    let state = crate::ssr::state()?;
    let st = crate::ssr::studies::store::by_slug(&state.pool, &slug)
        .await
        .map_err(|_| AppError::NotFound("no such study".into()))?;
    Ok(StudyIntro {
        demographics: st
            .design
            .demographics
            .shown()
            .iter()
            .map(|q| AskedQuestion {
                name: q.name.clone(),
                text: q.text.clone(),
                choices: q.choices.clone(),
                required: q.required,
            })
            .collect(),
        slug: st.slug,
        consent: st.design.consent,
        instructions: st.design.instructions,
    })
}
