//! The researcher's page of one study, as data: the study (its owner's or, for admins, any),
//! its analysis, automatic metrics, demographics, stimuli, the generations that can be added
//! and the design form's values, formatted for `pages::study`.
use crate::error::AppError;

use super::{analysis, auto_metrics, demographics, plots, store};
use crate::{
    api::studies::{
        Cells, CriterionBlock, DemographicTable, DesignFields, MetricsBlock, StudyPageView,
    },
    ssr::{auth, jobs},
    types::{GenerateParams, Role},
};

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "–".into())
}

/// Who may open the page, then everything on it.
pub async fn build(id: i64) -> Result<StudyPageView, AppError> {
    let state = crate::ssr::state()?;
    let user = auth::require_role(Role::Researcher).await?;
    let not_found = || AppError::NotFound("no such study".into());
    let st = match store::get(&state.pool, id).await {
        Ok(st) => st,
        Err(store::StudyError::NotFound) => return Err(not_found()),
        Err(e) => return Err(AppError::internal(e)),
    };
    if st.owner_id != user.id && user.role != Role::Admin {
        return Err(not_found());
    }
    let a = analysis::analyse(&state.pool, &st)
        .await
        .map_err(AppError::internal)?;
    let m = auto_metrics::view(&state.pool, id, state.scorer.available().err())
        .await
        .map_err(AppError::internal)?;
    let answers = demographics::answers(&state.pool, &st)
        .await
        .map_err(AppError::internal)?;
    let demo = demographics::counts(&st, &answers);
    let stimuli = store::stimulus_rows(&state.pool, id)
        .await
        .map_err(AppError::internal)?;
    let frozen = matches!(st.status.as_str(), "live" | "closed");
    let generated = if frozen {
        vec![]
    } else {
        jobs::list(&state.pool, Some("generate"), (0, None), 100)
            .await
            .map_err(AppError::internal)?
            .into_iter()
            .filter(|j| j.status == "done")
            .map(|j| {
                let prompt = serde_json::from_str::<GenerateParams>(&j.params)
                    .map(|p| p.prompt)
                    .unwrap_or_default();
                (j.id, prompt)
            })
            .collect()
    };

    let db = &a.dashboard;
    let dashboard = format!(
        "Participants: {} · completed: {} · pilot: {} · excluded: {} · answers: {} · median time per trial: {}",
        db.participants,
        db.completed,
        db.pilot,
        db.excluded.len(),
        db.answers,
        db.median_trial_ms
            .map(|t| format!("{:.1} s", t as f64 / 1000.0))
            .unwrap_or_else(|| "–".into()),
    );
    let of = |condition: &str| m.conditions.iter().find(|c| c.condition == condition);
    let mut criteria = vec![];
    for c in &a.criteria {
        criteria.push(CriterionBlock {
            criterion: c.criterion.clone(),
            summary: format!(
                "{} answers · Krippendorff's α: {} · Fleiss' κ: {}",
                c.n_answers,
                opt(c.krippendorff_alpha, 3),
                opt(c.fleiss_kappa, 3)
            ),
            conditions: c
                .conditions
                .iter()
                .map(|r| {
                    let auto = of(&r.condition);
                    vec![
                        r.condition.clone(),
                        format!("{:.3}", r.win_rate),
                        format!("[{:.3}, {:.3}]", r.wilson_lo, r.wilson_hi),
                        format!("{:.3}", r.bt_score),
                        format!("[{:.3}, {:.3}]", r.bt_lo, r.bt_hi),
                        opt(auto.map(|m| m.clipsim_x100), 2),
                        opt(auto.map(|m| m.metamorphic), 3),
                    ]
                })
                .collect(),
            pairs: c
                .pairs
                .iter()
                .map(|p| {
                    vec![
                        format!("{} vs {}", p.a, p.b),
                        format!("{} : {}", p.a_wins, p.b_wins),
                        p.ties.to_string(),
                        format!("{:.4}", p.p_value),
                        format!("{:.4}", p.p_holm),
                    ]
                })
                .collect(),
            bars_svg: plots::win_rate_bars(c).map_err(AppError::internal)?,
            matrix_svg: plots::win_matrix_heatmap(c).map_err(AppError::internal)?,
        });
    }
    let d = &st.design;
    let show_demo = d.demographics.enabled || demo.iter().any(|c| c.counts.iter().any(|x| x.1 > 0));
    Ok(StudyPageView {
        id,
        title: st.title.clone(),
        status: st.status.clone(),
        slug: st.slug.clone(),
        dashboard,
        metrics: MetricsBlock {
            status: m.status.clone(),
            error: m.error.clone(),
            embedder: m.embedder.clone(),
            computed_at: m.computed_at.clone(),
            stale: m.stale,
            rows: m
                .conditions
                .iter()
                .map(|c| -> Cells {
                    vec![
                        c.condition.clone(),
                        c.videos.to_string(),
                        format!("{:.2}", c.clipsim_x100),
                        format!("{:.3}", c.metamorphic),
                    ]
                })
                .collect(),
        },
        demographics: show_demo.then(|| {
            demo.into_iter()
                .map(|q| DemographicTable {
                    text: q.text,
                    counts: q.counts,
                    no_answer: q.no_answer,
                })
                .collect()
        }),
        criteria,
        stimuli: stimuli
            .iter()
            .map(|s| {
                vec![
                    s.prompt.clone(),
                    s.condition.clone(),
                    s.role.clone(),
                    s.frames.to_string(),
                    format!("{}×{} @ {} fps", s.width, s.height, s.fps),
                ]
            })
            .collect(),
        generated,
        design: DesignFields {
            kind: serde_json::to_value(d.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            k: d.k,
            allow_tie: d.allow_tie,
            criteria: d
                .criteria
                .iter()
                .map(|c| format!("{} | {}\n", c.name, c.question))
                .collect(),
            trials_per_participant: d.trials_per_participant,
            practice_trial: d.practice_trial,
            attention_checks: d.attention_checks,
            gold_trials: d.gold_trials,
            require_full_view: d.require_full_view,
            min_time_ms: d.min_time_ms,
            max_failed_checks: d.max_failed_checks,
            consent: d.consent.clone(),
            instructions: d.instructions.clone(),
            demographics_enabled: d.demographics.enabled,
            demographics: d
                .demographics
                .questions
                .iter()
                .map(|q| {
                    format!(
                        "{}{} | {} | {}\n",
                        q.name,
                        if q.required { "*" } else { "" },
                        q.text,
                        q.choices.join("; ")
                    )
                })
                .collect(),
            redirect_url: d.redirect_url.clone().unwrap_or_default(),
            fps: d.fps,
            width: d.width,
            height: d.height,
            completion_code: d.completion_code.clone(),
            seed: d.seed,
        },
    })
}
