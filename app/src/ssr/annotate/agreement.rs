//! Agreement and progress: pairwise caption agreement (token edit distance, BLEU) between the
//! annotators of an item, Krippendorff's α (nominal) on their flags, and per-annotator
//! statistics (items done, time per item, acceptance rate).
use sqlx::AnyPool;

use super::{forbid, json_list, projects, rights, Result};
use crate::{
    api::annotate::{
        text::{bleu, normalized_edit_distance},
        Agreement, AnnotatorStats, Dashboard, FLAGS,
    },
    ssr::studies::stats::krippendorff_alpha_nominal,
    types::User,
};

type SubmitRow = (i64, i64, i64, String, String);

/// Agreement over every (item, round) with at least two submitted captions.
pub async fn agreement(pool: &AnyPool, project_id: i64) -> Result<Agreement> {
    let rows: Vec<SubmitRow> = sqlx::query_as(
        "SELECT v.item_id, v.round, v.user_id, v.text, v.flags FROM annot_versions v \
         JOIN annot_items i ON i.id = v.item_id \
         WHERE i.project_id = $1 AND v.kind = 'submit' ORDER BY v.item_id, v.round, v.id",
    )
    .bind(project_id)
    .fetch_all(pool)
    .await?;
    let mut units: Vec<Vec<(String, Vec<String>)>> = Vec::new();
    let mut last = None;
    for (item, round, _user, text, flags) in rows {
        if last != Some((item, round)) {
            units.push(Vec::new());
            last = Some((item, round));
        }
        units
            .last_mut()
            .expect("pushed")
            .push((text, json_list(&flags)));
    }
    units.retain(|u| u.len() >= 2);
    let (mut ed, mut bl, mut pairs) = (0.0, 0.0, 0usize);
    for u in &units {
        for i in 0..u.len() {
            for j in i + 1..u.len() {
                ed += normalized_edit_distance(&u[i].0, &u[j].0);
                bl += 0.5 * (bleu(&u[i].0, &u[j].0) + bleu(&u[j].0, &u[i].0));
                pairs += 1;
            }
        }
    }
    let any: Vec<Vec<bool>> = units
        .iter()
        .map(|u| u.iter().map(|(_, f)| !f.is_empty()).collect())
        .collect();
    let flag_alpha = FLAGS
        .iter()
        .map(|(k, _)| {
            let data: Vec<Vec<bool>> = units
                .iter()
                .map(|u| u.iter().map(|(_, f)| f.iter().any(|x| x == k)).collect())
                .collect();
            ((*k).to_owned(), krippendorff_alpha_nominal(&data))
        })
        .collect();
    Ok(Agreement {
        units: units.len() as i64,
        mean_edit_distance: (pairs > 0).then(|| ed / pairs as f64),
        mean_bleu: (pairs > 0).then(|| bl / pairs as f64),
        any_flag_alpha: krippendorff_alpha_nominal(&any),
        flag_alpha,
    })
}

type StatRow = (String, i64, i64, Option<f64>, i64, i64);

/// Per annotator: submissions, skips, mean seconds per submitted item, and how many of their
/// decided submissions (item accepted, rejected, or sent back since) were the accepted caption.
pub async fn annotator_stats(pool: &AnyPool, project_id: i64) -> Result<Vec<AnnotatorStats>> {
    let rows: Vec<StatRow> = sqlx::query_as(
        "SELECT u.email, \
           COUNT(CASE WHEN v.kind = 'submit' THEN 1 END), \
           COUNT(CASE WHEN v.kind = 'skip' THEN 1 END), \
           AVG(CASE WHEN v.kind = 'submit' THEN v.seconds END), \
           COUNT(CASE WHEN v.kind = 'submit' AND i.accepted_version = v.id THEN 1 END), \
           COUNT(CASE WHEN v.kind = 'submit' \
             AND (i.status IN ('accepted', 'rejected') OR v.round < i.round) THEN 1 END) \
         FROM annot_versions v JOIN annot_items i ON i.id = v.item_id JOIN users u ON u.id = v.user_id \
         WHERE i.project_id = $1 AND v.kind IN ('submit', 'skip') \
         GROUP BY v.user_id, u.email ORDER BY u.email",
    )
    .bind(project_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AnnotatorStats {
            user: r.0,
            submitted: r.1,
            skipped: r.2,
            mean_seconds: r.3,
            accepted: r.4,
            decided: r.5,
            acceptance_rate: (r.5 > 0).then(|| r.4 as f64 / r.5 as f64),
        })
        .collect())
}

pub async fn dashboard(pool: &AnyPool, user: &User, project_id: i64) -> Result<Dashboard> {
    if !rights(pool, user, project_id).await?.view {
        return Err(forbid("you are not a member of this project"));
    }
    Ok(Dashboard {
        project: projects::summary(pool, user, project_id).await?,
        annotators: annotator_stats(pool, project_id).await?,
        agreement: agreement(pool, project_id).await?,
        members: projects::members(pool, project_id).await?,
    })
}
