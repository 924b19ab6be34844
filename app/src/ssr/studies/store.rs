//! Studies in the database: creating and editing designs (refused once live), stimuli, lifecycle,
//! participants joining (trials assigned at join, inside one transaction) and resuming.
use serde::Serialize;
use sqlx::{AnyPool, Row};

use super::{
    assign::{self, Stim},
    design::Design,
};
use crate::ssr::{cookies, db::Dialect};

#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    #[error("no such study")]
    NotFound,
    #[error("the study is {0}: its design can no longer change")]
    Frozen(String),
    #[error("cannot go from {0} to {1}")]
    BadTransition(String, String),
    #[error("{0}")]
    Design(#[from] super::design::DesignError),
    #[error("{0}")]
    Assign(#[from] assign::AssignError),
    #[error("the study is not open to participants")]
    NotOpen,
    #[error("participant id {0:?} has already taken part")]
    AlreadyParticipated(String),
    #[error("unknown participant token")]
    UnknownParticipant,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("no generation job {0}")]
    NoGeneration(i64),
    /// Input the study cannot take (a video ffmpeg refuses, a missing tag, …): a 422.
    #[error("{0}")]
    Invalid(String),
}

#[derive(Clone, Debug, Serialize)]
pub struct StudyRow {
    pub id: i64,
    pub slug: String,
    pub owner_id: i64,
    pub title: String,
    pub status: String,
    pub design: Design,
    pub created_at: String,
}

fn row_to_study(r: &sqlx::any::AnyRow) -> Result<StudyRow, StudyError> {
    let design: String = r.try_get("design")?;
    Ok(StudyRow {
        id: r.try_get("id")?,
        slug: r.try_get("slug")?,
        owner_id: r.try_get("owner_id")?,
        title: r.try_get("title")?,
        status: r.try_get("status")?,
        design: serde_json::from_str(&design).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn create(
    pool: &AnyPool,
    owner: i64,
    title: &str,
    mut design: Design,
) -> Result<StudyRow, StudyError> {
    design.validate()?;
    if design.seed == 0 {
        design.seed = rand::random::<u32>() as u64;
    }
    if design.completion_code.is_empty() {
        design.completion_code = cookies::random_token()[..8].to_uppercase();
    }
    let slug = cookies::random_token()[..20].to_owned();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO studies(slug, owner_id, title, design) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(&slug)
    .bind(owner)
    .bind(title.trim())
    .bind(serde_json::to_string(&design).expect("design serialises"))
    .fetch_one(pool)
    .await?;
    get(pool, id).await
}

/// Removes a study that never went live, with its stimuli and media folder (what a creation
/// that failed half-way leaves).
pub async fn remove_draft(
    pool: &AnyPool,
    data_dir: &std::path::Path,
    id: i64,
) -> Result<(), StudyError> {
    sqlx::query("DELETE FROM studies WHERE id = $1 AND status = 'draft'")
        .bind(id)
        .execute(pool)
        .await?;
    let _ = tokio::fs::remove_dir_all(media_dir(data_dir, id)).await;
    Ok(())
}

pub async fn get(pool: &AnyPool, id: i64) -> Result<StudyRow, StudyError> {
    let r = sqlx::query("SELECT * FROM studies WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(StudyError::NotFound)?;
    row_to_study(&r)
}

pub async fn by_slug(pool: &AnyPool, slug: &str) -> Result<StudyRow, StudyError> {
    let r = sqlx::query("SELECT * FROM studies WHERE slug = $1")
        .bind(slug)
        .fetch_optional(pool)
        .await?
        .ok_or(StudyError::NotFound)?;
    row_to_study(&r)
}

/// Studies visible to a user (admins see all).
pub async fn list(pool: &AnyPool, owner: Option<i64>) -> Result<Vec<StudyRow>, StudyError> {
    let rows =
        sqlx::query("SELECT * FROM studies WHERE $1 IS NULL OR owner_id = $1 ORDER BY id DESC")
            .bind(owner)
            .fetch_all(pool)
            .await?;
    rows.iter().map(row_to_study).collect()
}

/// Replaces the design; refused once the study is live or closed (the database refuses too).
pub async fn update_design(pool: &AnyPool, id: i64, design: &Design) -> Result<(), StudyError> {
    design.validate()?;
    let st = get(pool, id).await?;
    if matches!(st.status.as_str(), "live" | "closed") {
        return Err(StudyError::Frozen(st.status));
    }
    sqlx::query("UPDATE studies SET design = $1 WHERE id = $2")
        .bind(serde_json::to_string(design).expect("design serialises"))
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Moves the lifecycle: draft → pilot → live → closed (pilot → draft to fix the design).
/// Going live checks that trials can be assigned.
pub async fn set_status(pool: &AnyPool, id: i64, to: &str) -> Result<(), StudyError> {
    let st = get(pool, id).await?;
    let ok = matches!(
        (st.status.as_str(), to),
        ("draft", "pilot")
            | ("draft", "live")
            | ("pilot", "draft")
            | ("pilot", "live")
            | ("live", "closed")
    );
    if !ok {
        return Err(StudyError::BadTransition(st.status, to.to_owned()));
    }
    if matches!(to, "pilot" | "live") {
        assign::plan(&st.design, &stimuli(pool, id).await?, 0)?;
    }
    sqlx::query("UPDATE studies SET status = $1 WHERE id = $2")
        .bind(to)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

#[derive(Clone, Debug, Serialize)]
pub struct StimulusRow {
    pub id: i64,
    pub media_id: String,
    pub condition: String,
    pub prompt: String,
    pub role: String,
    pub frames: i64,
    pub fps: f64,
    pub width: i64,
    pub height: i64,
}

pub async fn stimulus_rows(pool: &AnyPool, study: i64) -> Result<Vec<StimulusRow>, StudyError> {
    let rows = sqlx::query(
        "SELECT id, media_id, condition, prompt, role, frames, fps, width, height FROM stimuli \
         WHERE study_id = $1 ORDER BY prompt, condition, role",
    )
    .bind(study)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StimulusRow {
                id: r.try_get("id")?,
                media_id: r.try_get("media_id")?,
                condition: r.try_get("condition")?,
                prompt: r.try_get("prompt")?,
                role: r.try_get("role")?,
                frames: r.try_get("frames")?,
                fps: r.try_get("fps")?,
                width: r.try_get("width")?,
                height: r.try_get("height")?,
            })
        })
        .collect()
}

pub async fn stimuli(pool: &AnyPool, study: i64) -> Result<Vec<Stim>, StudyError> {
    Ok(stimulus_rows(pool, study)
        .await?
        .into_iter()
        .map(|s| Stim {
            id: s.id,
            condition: s.condition,
            prompt: s.prompt,
            degraded: s.role == "degraded",
        })
        .collect())
}

/// Records a normalised video (already written as `<media_id>.mp4` in the study's media dir).
#[allow(clippy::too_many_arguments)]
pub async fn add_stimulus(
    pool: &AnyPool,
    study: i64,
    media_id: &str,
    condition: &str,
    prompt: &str,
    degraded: bool,
    source: &str,
    info: &crate::ssr::media::MediaInfo,
) -> Result<i64, StudyError> {
    let st = get(pool, study).await?;
    if matches!(st.status.as_str(), "live" | "closed") {
        return Err(StudyError::Frozen(st.status));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO stimuli(study_id, media_id, condition, prompt, role, source, frames, fps, width, height) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT(study_id, condition, prompt, role) DO UPDATE SET media_id = excluded.media_id, \
         source = excluded.source, frames = excluded.frames, fps = excluded.fps, \
         width = excluded.width, height = excluded.height RETURNING id",
    )
    .bind(study)
    .bind(media_id)
    .bind(condition.trim())
    .bind(prompt.trim())
    .bind(if degraded { "degraded" } else { "normal" })
    .bind(source)
    .bind(info.frames as i64)
    .bind(info.fps)
    .bind(info.width as i64)
    .bind(info.height as i64)
    .fetch_one(pool)
    .await?;
    Ok(id)
}

/// Where a study's normalised videos live.
pub fn media_dir(data_dir: &std::path::Path, study: i64) -> std::path::PathBuf {
    data_dir.join("studies").join(study.to_string())
}

pub struct Joined {
    pub token: String,
    pub participant_id: i64,
}

/// Prolific (or other panel) parameters and a resume token, as the participant's browser sends them.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct JoinRequest {
    /// The resume token kept by the browser from an earlier visit.
    pub token: Option<String>,
    #[serde(rename = "PROLIFIC_PID")]
    pub prolific_pid: Option<String>,
    #[serde(rename = "STUDY_ID")]
    pub study_id: Option<String>,
    #[serde(rename = "SESSION_ID")]
    pub session_id: Option<String>,
}

/// Joins (or resumes) a study: a known token resumes; a participant id that already took part is
/// refused; otherwise a participant is created with their trials, atomically.
pub async fn join(
    pool: &AnyPool,
    study: &StudyRow,
    req: &JoinRequest,
) -> Result<Joined, StudyError> {
    if let Some(tok) = req.token.as_deref().filter(|t| !t.is_empty()) {
        if let Some(id) = participant_by_token(pool, study.id, tok).await? {
            return Ok(Joined {
                token: tok.to_owned(),
                participant_id: id,
            });
        }
    }
    if !matches!(study.status.as_str(), "pilot" | "live") {
        return Err(StudyError::NotOpen);
    }
    let external = req
        .prolific_pid
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.chars().take(100).collect::<String>())
        .unwrap_or_else(|| format!("anon-{}", &cookies::random_token()[..16]));
    let stimuli = stimuli(pool, study.id).await?;
    let token = cookies::random_token();
    // The arrival index is computed inside the insert, with the study's row held: concurrent
    // joins get distinct indices (SQLite has one writer; PostgreSQL locks the row).
    let dialect = Dialect::of(pool);
    let mut tx = pool.begin_with(dialect.begin_write()).await?;
    sqlx::query(&format!(
        "SELECT id FROM studies WHERE id = $1 {}",
        dialect.lock_rows()
    ))
    .bind(study.id)
    .execute(&mut *tx)
    .await?;
    let res = sqlx::query(
        "INSERT INTO participants(study_id, token_hash, external_id, prolific_study, prolific_session, seq, seed, pilot) \
         VALUES ($1, $2, $3, $4, $5, (SELECT COUNT(*) FROM participants WHERE study_id = $1), 0, $6) RETURNING id, seq",
    )
    .bind(study.id)
    .bind(cookies::token_hash(&token))
    .bind(&external)
    .bind(req.study_id.as_deref())
    .bind(req.session_id.as_deref())
    .bind(i64::from(study.status == "pilot"))
    .fetch_one(&mut *tx)
    .await;
    let row = match res {
        Ok(r) => r,
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(StudyError::AlreadyParticipated(external))
        }
        Err(e) => return Err(e.into()),
    };
    let pid: i64 = row.try_get("id")?;
    let seq: i64 = row.try_get("seq")?;
    let seed = assign::participant_seed(study.design.seed, seq as u64);
    sqlx::query("UPDATE participants SET seed = $1 WHERE id = $2")
        .bind(seed as i64)
        .bind(pid)
        .execute(&mut *tx)
        .await?;
    for (pos, t) in assign::plan(&study.design, &stimuli, seq as u64)?
        .into_iter()
        .enumerate()
    {
        sqlx::query(
            "INSERT INTO trials(participant_id, pos, kind, prompt, stimuli, expected, seed) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(pid)
        .bind(pos as i64)
        .bind(t.kind.as_str())
        .bind(&t.prompt)
        .bind(serde_json::to_string(&t.stimuli).expect("ids serialise"))
        .bind(t.expected)
        .bind(t.seed as i64)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Joined {
        token,
        participant_id: pid,
    })
}

pub async fn participant_by_token(
    pool: &AnyPool,
    study: i64,
    token: &str,
) -> Result<Option<i64>, StudyError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM participants WHERE study_id = $1 AND token_hash = $2")
            .bind(study)
            .bind(cookies::token_hash(token))
            .fetch_optional(pool)
            .await?,
    )
}

/// What the participant's browser gets: no condition names, no prompts of other trials' videos'
/// origin, only opaque media URLs.
#[derive(Clone, Debug, Serialize)]
pub struct ParticipantTrial {
    pub id: i64,
    pub practice: bool,
    pub prompt: String,
    pub media: Vec<String>,
    pub questions: Vec<Question>,
    /// Criterion indices already answered.
    pub answered: Vec<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Question {
    pub criterion: i64,
    pub text: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ParticipantState {
    pub token: String,
    pub kind: super::design::DesignKind,
    pub allow_tie: bool,
    pub min_time_ms: u64,
    pub require_full_view: bool,
    pub trials: Vec<ParticipantTrial>,
    pub completed: bool,
    /// Demographic questions to ask after consent (empty when the design has none).
    pub demographics: Vec<super::demographics::DemographicQuestion>,
    pub demographics_done: bool,
}

/// The questions of a trial: every criterion for practice/main trials; one instructed question
/// for attention checks; the first criterion for gold trials.
pub fn questions(design: &Design, kind: &str, expected: Option<i64>) -> Vec<Question> {
    match kind {
        "attention" => {
            let e = expected.unwrap_or(0);
            let text = match design.kind {
                super::design::DesignKind::Rating => {
                    format!("Attention check: to show you read this, answer {e} here.")
                }
                _ => format!(
                    "Attention check: to show you read this, choose video {} here.",
                    e + 1
                ),
            };
            vec![Question { criterion: 0, text }]
        }
        "gold" => vec![Question {
            criterion: 0,
            text: design.criteria[0].question.clone(),
        }],
        _ => design
            .criteria
            .iter()
            .enumerate()
            .map(|(i, c)| Question {
                criterion: i as i64,
                text: c.question.clone(),
            })
            .collect(),
    }
}

/// The address a participant fetches the video at position `pos` of trial `trial` by:
/// `{trial}-{pos}-{mac}`, where the MAC is keyed by the stimulus's secret media id. Every trial
/// position gets its own address, so a video shown twice (a gold trial of a video against
/// itself, or the same stimulus in two trials) is not recognisable by its address or by the
/// browser's cache, and the media ids (the stored file names) stay with the researchers.
pub fn media_alias(trial: i64, pos: usize, media_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"magictime media alias v1\0");
    h.update(media_id.as_bytes());
    h.update(format!("\0{trial}\0{pos}").as_bytes());
    format!("{trial}-{pos}-{}", &hex::encode(h.finalize())[..32])
}

/// The stimulus file behind a participant's media address ([`media_alias`]): `(study id, media
/// id)`, or `None` for anything that is not a valid address.
pub async fn resolve_media_alias(
    pool: &AnyPool,
    alias: &str,
) -> Result<Option<(i64, String)>, StudyError> {
    let mut parts = alias.splitn(3, '-');
    let (Some(trial), Some(pos), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
        return Ok(None);
    };
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(trial, 18) || !digits(pos, 2) || mac.len() != 32 {
        return Ok(None);
    }
    let (Ok(trial), Ok(pos)) = (trial.parse::<i64>(), pos.parse::<usize>()) else {
        return Ok(None);
    };
    let Some(stimuli): Option<String> =
        sqlx::query_scalar("SELECT stimuli FROM trials WHERE id = $1")
            .bind(trial)
            .fetch_optional(pool)
            .await?
    else {
        return Ok(None);
    };
    let ids: Vec<i64> = serde_json::from_str(&stimuli).unwrap_or_default();
    let Some(&stimulus) = ids.get(pos) else {
        return Ok(None);
    };
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT study_id, media_id FROM stimuli WHERE id = $1")
            .bind(stimulus)
            .fetch_optional(pool)
            .await?;
    Ok(row.filter(|(_, media_id)| {
        // constant time: the MAC is the only secret in the address
        let want = media_alias(trial, pos, media_id);
        let (a, b) = (want.as_bytes(), alias.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }))
}

pub async fn participant_state(
    pool: &AnyPool,
    study: &StudyRow,
    participant: i64,
    token: &str,
) -> Result<ParticipantState, StudyError> {
    let media: std::collections::HashMap<i64, String> =
        sqlx::query_as::<_, (i64, String)>("SELECT id, media_id FROM stimuli WHERE study_id = $1")
            .bind(study.id)
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
    let rows = sqlx::query(
        "SELECT t.id, t.kind, t.prompt, t.stimuli, t.expected, \
         (SELECT string_agg(CAST(criterion AS TEXT), ',') FROM answers a WHERE a.trial_id = t.id) AS done \
         FROM trials t WHERE t.participant_id = $1 ORDER BY t.pos",
    )
    .bind(participant)
    .fetch_all(pool)
    .await?;
    let mut trials = vec![];
    for r in rows {
        let kind: String = r.try_get("kind")?;
        let ids: Vec<i64> = serde_json::from_str(&r.try_get::<String, _>("stimuli")?)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let done: Option<String> = r.try_get("done")?;
        let trial_id: i64 = r.try_get("id")?;
        trials.push(ParticipantTrial {
            id: trial_id,
            practice: kind == "practice",
            prompt: r.try_get("prompt")?,
            media: ids
                .iter()
                .enumerate()
                .map(|(pos, i)| {
                    let m = media.get(i).map(String::as_str).unwrap_or("");
                    format!("/s/m/{}", media_alias(trial_id, pos, m))
                })
                .collect(),
            questions: questions(&study.design, &kind, r.try_get("expected")?),
            answered: done
                .unwrap_or_default()
                .split(',')
                .filter_map(|s| s.parse().ok())
                .collect(),
        });
    }
    let (completed, demographics_at): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT completed_at, demographics_at FROM participants WHERE id = $1")
            .bind(participant)
            .fetch_one(pool)
            .await?;
    Ok(ParticipantState {
        token: token.to_owned(),
        kind: study.design.kind,
        allow_tie: study.design.allow_tie,
        min_time_ms: study.design.min_time_ms,
        require_full_view: study.design.require_full_view,
        trials,
        completed: completed.is_some(),
        demographics: study.design.demographics.shown().to_vec(),
        demographics_done: demographics_at.is_some(),
    })
}

/// Marks the participant complete once every question of every trial is answered.
pub async fn complete(
    pool: &AnyPool,
    study: &StudyRow,
    participant: i64,
) -> Result<bool, StudyError> {
    let rows: Vec<(String, Option<i64>, i64)> = sqlx::query_as(
        "SELECT t.kind, t.expected, (SELECT COUNT(*) FROM answers a WHERE a.trial_id = t.id) \
         FROM trials t WHERE t.participant_id = $1",
    )
    .bind(participant)
    .fetch_all(pool)
    .await?;
    let all = rows
        .iter()
        .all(|(k, e, n)| *n as usize >= questions(&study.design, k, *e).len());
    if all {
        sqlx::query(
            "UPDATE participants SET completed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
             WHERE id = $1 AND completed_at IS NULL",
        )
        .bind(participant)
        .execute(pool)
        .await?;
    }
    Ok(all)
}
