//! From stored answers to results: exclusions (rules fixed in the design before launch), the
//! dashboard, per-criterion win rates, sign tests with Holm correction, Bradley–Terry with
//! bootstrap intervals, agreement (Krippendorff's α, Fleiss' κ) and the raw-trials export.
use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sqlx::AnyPool;

use super::{
    design::DesignKind,
    stats::{self, Outcome},
    store::{self, StudyRow},
};

/// One stored answer joined with its trial and participant (the export's row).
#[derive(Clone, Debug, Serialize)]
pub struct AnswerRow {
    pub participant: String,
    pub participant_seq: i64,
    pub pilot: bool,
    pub trial_id: i64,
    pub trial_pos: i64,
    pub trial_kind: String,
    pub trial_seed: i64,
    pub prompt: String,
    pub criterion: String,
    pub criterion_index: i64,
    /// Conditions in on-screen order, left to right.
    pub conditions: Vec<String>,
    pub choice: i64,
    pub chosen_condition: Option<String>,
    pub expected: Option<i64>,
    pub rt_ms: i64,
    pub answered_at: String,
}

/// A participant id as exported: SHA-256 of the study slug and the id, 16 hex digits.
pub fn participant_hash(slug: &str, external: &str) -> String {
    crate::ssr::cookies::token_hash(&format!("{slug}:{external}"))[..16].to_owned()
}

pub async fn answer_rows(pool: &AnyPool, study: &StudyRow) -> Result<Vec<AnswerRow>, sqlx::Error> {
    let conds: HashMap<i64, String> = sqlx::query_as::<_, (i64, String)>(
        "SELECT id, condition || CASE WHEN role = 'degraded' THEN ' (degraded)' ELSE '' END FROM stimuli WHERE study_id = $1",
    )
    .bind(study.id)
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    type Raw = (
        String,
        i64,
        i64,
        i64,
        i64,
        String,
        i64,
        String,
        String,
        Option<i64>,
        i64,
        i64,
        i64,
        String,
    );
    let rows: Vec<Raw> = sqlx::query_as(
        "SELECT p.external_id, p.seq, p.pilot, t.id, t.pos, t.kind, t.seed, t.prompt, t.stimuli, t.expected, \
         a.criterion, a.choice, a.rt_ms, a.answered_at \
         FROM answers a JOIN trials t ON t.id = a.trial_id JOIN participants p ON p.id = t.participant_id \
         WHERE p.study_id = $1 ORDER BY p.seq, t.pos, a.criterion",
    )
    .bind(study.id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                ext,
                seq,
                pilot,
                tid,
                pos,
                kind,
                seed,
                prompt,
                stim,
                expected,
                crit,
                choice,
                rt,
                at,
            )| {
                let ids: Vec<i64> = serde_json::from_str(&stim).unwrap_or_default();
                let conditions: Vec<String> = ids
                    .iter()
                    .map(|i| conds.get(i).cloned().unwrap_or_default())
                    .collect();
                let chosen_condition = if study.design.kind == DesignKind::Rating {
                    conditions.first().cloned()
                } else {
                    usize::try_from(choice)
                        .ok()
                        .and_then(|c| conditions.get(c).cloned())
                };
                let criterion = if kind == "attention" {
                    "attention check".to_owned()
                } else {
                    study
                        .design
                        .criteria
                        .get(crit as usize)
                        .map(|c| c.name.clone())
                        .unwrap_or_default()
                };
                AnswerRow {
                    participant: participant_hash(&study.slug, &ext),
                    participant_seq: seq,
                    pilot: pilot != 0,
                    trial_id: tid,
                    trial_pos: pos,
                    trial_kind: kind,
                    trial_seed: seed,
                    prompt,
                    criterion,
                    criterion_index: crit,
                    conditions,
                    choice,
                    chosen_condition,
                    expected,
                    rt_ms: rt,
                    answered_at: at,
                }
            },
        )
        .collect())
}

/// The raw trials as CSV (one row per answer).
pub fn to_csv(rows: &[AnswerRow]) -> String {
    let mut out = String::from(
        "participant,participant_seq,pilot,trial_id,trial_pos,trial_kind,trial_seed,prompt,criterion,criterion_index,conditions,choice,chosen_condition,expected,rt_ms,answered_at\n",
    );
    for r in rows {
        let fields = [
            r.participant.clone(),
            r.participant_seq.to_string(),
            r.pilot.to_string(),
            r.trial_id.to_string(),
            r.trial_pos.to_string(),
            r.trial_kind.clone(),
            r.trial_seed.to_string(),
            r.prompt.clone(),
            r.criterion.clone(),
            r.criterion_index.to_string(),
            r.conditions.join("|"),
            r.choice.to_string(),
            r.chosen_condition.clone().unwrap_or_default(),
            r.expected.map(|e| e.to_string()).unwrap_or_default(),
            r.rt_ms.to_string(),
            r.answered_at.clone(),
        ];
        out.push_str(&crate::ssr::csv::row(&fields));
    }
    out
}

pub fn to_jsonl(rows: &[AnswerRow]) -> String {
    rows.iter()
        .map(|r| serde_json::to_string(r).expect("row serialises") + "\n")
        .collect()
}

#[derive(Clone, Debug, Serialize)]
pub struct Dashboard {
    pub participants: i64,
    pub completed: i64,
    pub pilot: i64,
    pub excluded: Vec<String>,
    pub answers: usize,
    pub median_trial_ms: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConditionResult {
    pub condition: String,
    pub appearances: f64,
    pub wins: f64,
    pub win_rate: f64,
    pub wilson_lo: f64,
    pub wilson_hi: f64,
    pub bt_score: f64,
    pub bt_lo: f64,
    pub bt_hi: f64,
    /// Rating designs: mean rating and its normal-approximation 95 % interval.
    pub mean_rating: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PairTest {
    pub a: String,
    pub b: String,
    pub a_wins: u64,
    pub b_wins: u64,
    pub ties: u64,
    pub p_value: f64,
    pub p_holm: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct CriterionResult {
    pub criterion: String,
    pub n_answers: usize,
    pub conditions: Vec<ConditionResult>,
    pub pairs: Vec<PairTest>,
    /// `win_matrix[i][j]`: share of i-vs-j comparisons that i won (ties count half); NaN-free (-1 when none).
    pub win_matrix: Vec<Vec<f64>>,
    pub krippendorff_alpha: Option<f64>,
    pub fleiss_kappa: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub study: String,
    pub design: super::design::Design,
    pub dashboard: Dashboard,
    pub criteria: Vec<CriterionResult>,
}

/// Participants excluded by the design's rule (more failed attention/gold checks than allowed).
pub fn excluded(rows: &[AnswerRow], max_failed: usize) -> Vec<String> {
    let mut failed: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows {
        if matches!(r.trial_kind.as_str(), "attention" | "gold") && Some(r.choice) != r.expected {
            *failed.entry(&r.participant).or_default() += 1;
        }
    }
    failed
        .into_iter()
        .filter(|(_, n)| *n > max_failed)
        .map(|(p, _)| p.to_owned())
        .collect()
}

pub async fn analyse(pool: &AnyPool, study: &StudyRow) -> Result<Analysis, store::StudyError> {
    let rows = answer_rows(pool, study).await?;
    let (participants, completed, pilot): (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(completed_at), COUNT(CASE WHEN pilot <> 0 THEN 1 END) FROM participants WHERE study_id = $1",
    )
    .bind(study.id)
    .fetch_one(pool)
    .await?;
    let excl = excluded(&rows, study.design.max_failed_checks);
    // Time per trial: the slowest answer of each trial (its questions are answered in turn).
    let mut per_trial: BTreeMap<i64, i64> = BTreeMap::new();
    for r in &rows {
        let e = per_trial.entry(r.trial_id).or_default();
        *e = (*e).max(r.rt_ms);
    }
    let mut times: Vec<i64> = per_trial.into_values().collect();
    times.sort_unstable();
    let dashboard = Dashboard {
        participants,
        completed,
        pilot,
        excluded: excl.clone(),
        answers: rows.len(),
        median_trial_ms: times.get(times.len() / 2).copied(),
    };
    let stimuli = store::stimuli(pool, study.id).await?;
    let mut conditions: Vec<String> = stimuli
        .iter()
        .filter(|s| !s.degraded)
        .map(|s| s.condition.clone())
        .collect();
    conditions.sort();
    conditions.dedup();
    // The statistics (Bradley–Terry fits and 400 bootstrap refits per criterion) are CPU work:
    // on a blocking thread, and only when the answers changed since the last view.
    let key = (
        rows.len(),
        rows.iter()
            .map(|r| r.answered_at.as_str())
            .max()
            .unwrap_or("")
            .to_owned(),
        excl.clone(),
        conditions.clone(),
    );
    let criteria = match criteria_cache().lock().ok().and_then(|c| {
        c.get(&study.id)
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }) {
        Some(cached) => cached,
        None => {
            let design = study.design.clone();
            let (conditions, excl) = (conditions.clone(), excl.clone());
            let computed = tokio::task::spawn_blocking(move || {
                let analysed: Vec<&AnswerRow> = rows
                    .iter()
                    .filter(|r| {
                        r.trial_kind == "main" && !r.pilot && !excl.contains(&r.participant)
                    })
                    .collect();
                design
                    .criteria
                    .iter()
                    .enumerate()
                    .map(|(ci, c)| {
                        let of: Vec<&AnswerRow> = analysed
                            .iter()
                            .copied()
                            .filter(|r| r.criterion_index == ci as i64)
                            .collect();
                        criterion_result(&c.name, &conditions, &of, design.kind, design.seed)
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| store::StudyError::Internal(format!("analysis: {e}")))?;
            if let Ok(mut c) = criteria_cache().lock() {
                c.insert(study.id, (key, computed.clone()));
            }
            computed
        }
    };
    Ok(Analysis {
        study: study.title.clone(),
        design: study.design.clone(),
        dashboard,
        criteria,
    })
}

/// The answers a study's statistics were computed from: (answers, the latest answer's time,
/// excluded participants, conditions).
type CriteriaKey = (usize, String, Vec<String>, Vec<String>);

/// Each study's last statistics and what they were computed from.
type CriteriaCache = std::sync::Mutex<HashMap<i64, (CriteriaKey, Vec<CriterionResult>)>>;

fn criteria_cache() -> &'static CriteriaCache {
    static CACHE: std::sync::OnceLock<CriteriaCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Results of one criterion from its analysed answers.
pub fn criterion_result(
    name: &str,
    conditions: &[String],
    rows: &[&AnswerRow],
    kind: DesignKind,
    seed: u64,
) -> CriterionResult {
    let n = conditions.len();
    let idx = |c: &str| conditions.iter().position(|x| x == c);
    let mut outcomes = vec![];
    let mut appear = vec![0.0; n];
    let mut wins = vec![0.0; n];
    let mut ratings: Vec<Vec<f64>> = vec![vec![]; n];
    // Agreement units: the same set of videos (order-free) judged by several participants.
    let mut units: BTreeMap<(String, Vec<String>), Vec<usize>> = BTreeMap::new();
    for r in rows {
        let shown: Vec<Option<usize>> = r.conditions.iter().map(|c| idx(c)).collect();
        if shown.iter().any(Option::is_none) {
            continue;
        }
        let shown: Vec<usize> = shown.into_iter().flatten().collect();
        let mut key = r.conditions.clone();
        key.sort();
        if kind == DesignKind::Rating {
            ratings[shown[0]].push(r.choice as f64);
            units
                .entry((r.prompt.clone(), key))
                .or_default()
                .push(r.choice as usize);
            continue;
        }
        for &s in &shown {
            appear[s] += 1.0;
        }
        // Category for agreement: the winning condition's index, or n for a tie.
        let cat = if r.choice < 0 {
            n
        } else {
            shown[r.choice as usize]
        };
        units.entry((r.prompt.clone(), key)).or_default().push(cat);
        if r.choice < 0 {
            for &s in &shown {
                wins[s] += 1.0 / shown.len() as f64;
            }
            for i in 0..shown.len() {
                for j in i + 1..shown.len() {
                    outcomes.push(Outcome {
                        a: shown[i],
                        b: shown[j],
                        score_a: 0.5,
                    });
                }
            }
        } else {
            let w = shown[r.choice as usize];
            wins[w] += 1.0;
            // Rank breaking: the chosen video beat every other one shown.
            for &o in shown.iter().filter(|&&o| o != w) {
                outcomes.push(Outcome {
                    a: w,
                    b: o,
                    score_a: 1.0,
                });
            }
        }
    }
    let wm = stats::win_matrix(n, &outcomes);
    let bt = stats::bradley_terry(&wm);
    let ci = stats::bt_bootstrap(n, &outcomes, 400, seed ^ 0xB007);
    let mut pairs = vec![];
    for a in 0..n {
        for b in a + 1..n {
            let (mut aw, mut bw, mut ties) = (0u64, 0u64, 0u64);
            for o in &outcomes {
                let (x, y, s) = if o.a == a && o.b == b {
                    (a, b, o.score_a)
                } else if o.a == b && o.b == a {
                    (a, b, 1.0 - o.score_a)
                } else {
                    continue;
                };
                let _ = (x, y);
                if s == 1.0 {
                    aw += 1
                } else if s == 0.0 {
                    bw += 1
                } else {
                    ties += 1
                }
            }
            if aw + bw + ties == 0 {
                continue;
            }
            pairs.push(PairTest {
                a: conditions[a].clone(),
                b: conditions[b].clone(),
                a_wins: aw,
                b_wins: bw,
                ties,
                p_value: stats::binom_test(aw, aw + bw, 0.5),
                p_holm: 0.0,
            });
        }
    }
    let adj = stats::holm(&pairs.iter().map(|p| p.p_value).collect::<Vec<_>>());
    pairs.iter_mut().zip(adj).for_each(|(p, a)| p.p_holm = a);
    let win_matrix = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    let t = wm[i][j] + wm[j][i];
                    if t > 0.0 {
                        wm[i][j] / t
                    } else {
                        -1.0
                    }
                })
                .collect()
        })
        .collect();
    let unit_vals: Vec<Vec<usize>> = units.values().cloned().collect();
    let cats = if kind == DesignKind::Rating { 6 } else { n + 1 };
    let fleiss = {
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        unit_vals
            .iter()
            .filter(|u| u.len() >= 2)
            .for_each(|u| *counts.entry(u.len()).or_default() += 1);
        counts
            .into_iter()
            .max_by_key(|&(len, c)| (c, len))
            .and_then(|(m, _)| {
                let table: Vec<Vec<f64>> = unit_vals
                    .iter()
                    .filter(|u| u.len() == m)
                    .map(|u| {
                        let mut row = vec![0.0; cats];
                        u.iter().for_each(|&v| row[v.min(cats - 1)] += 1.0);
                        row
                    })
                    .collect();
                stats::fleiss_kappa(&table)
            })
    };
    let conditions = (0..n)
        .map(|i| {
            let (lo, hi) = stats::wilson(wins[i], appear[i], stats::Z95);
            let mean_rating = (!ratings[i].is_empty())
                .then(|| ratings[i].iter().sum::<f64>() / ratings[i].len() as f64);
            ConditionResult {
                condition: conditions[i].clone(),
                appearances: appear[i],
                wins: wins[i],
                win_rate: if appear[i] > 0.0 {
                    wins[i] / appear[i]
                } else {
                    0.0
                },
                wilson_lo: lo,
                wilson_hi: hi,
                bt_score: bt.get(i).copied().unwrap_or(0.0),
                bt_lo: ci.get(i).map(|c| c.0).unwrap_or(0.0),
                bt_hi: ci.get(i).map(|c| c.1).unwrap_or(0.0),
                mean_rating,
            }
        })
        .collect();
    CriterionResult {
        criterion: name.to_owned(),
        n_answers: rows.len(),
        conditions,
        pairs,
        win_matrix,
        krippendorff_alpha: stats::krippendorff_alpha_nominal(&unit_vals),
        fleiss_kappa: fleiss,
    }
}
