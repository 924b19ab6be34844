//! The answer writer: one task owns one database connection (durable commits) and commits the
//! answers that arrive while the previous commit ran as one transaction (group commit). Each
//! request is answered only after its transaction committed, so an acknowledged answer is on
//! disk; checks (trial assigned to this participant, question exists, valid choice, not answered
//! yet, minimum time and viewing, by the browser's report and by the server's clock) run inside
//! the same transaction.
use std::{collections::HashMap, sync::Arc, time::Instant};

use sqlx::{pool::PoolConnection, Any, AnyPool};

use crate::ssr::db::Dialect;
use tokio::sync::{mpsc, oneshot};

use super::{design::Design, store};
use crate::ssr::cookies;

/// One answer as the participant's browser sends it.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct AnswerIn {
    pub token: String,
    pub trial: i64,
    pub criterion: i64,
    pub choice: i64,
    pub rt_ms: i64,
    /// Whether every video of the trial played to its end at least once.
    #[serde(default)]
    pub viewed: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnswerError {
    #[error("this trial is not assigned to you")]
    NotAssigned,
    #[error("no such question in this trial")]
    BadCriterion,
    #[error("invalid choice")]
    BadChoice,
    #[error("already answered: answers cannot be changed")]
    AlreadyAnswered,
    #[error("watch every video to the end before answering")]
    NotViewed,
    #[error("answered too fast")]
    TooFast,
    #[error("the study is closed")]
    Closed,
    #[error("internal error")]
    Internal,
}

type Reply = oneshot::Sender<Result<(), AnswerError>>;

#[derive(Clone)]
pub struct AnswerWriter {
    tx: mpsc::Sender<(AnswerIn, Reply)>,
}

/// Most answers committed in one transaction.
const MAX_BATCH: usize = 1024;

impl AnswerWriter {
    /// Starts the writer task on a connection taken from `pool` for good.
    pub fn start(pool: AnyPool) -> Self {
        let (tx, rx) = mpsc::channel(8192);
        tokio::spawn(run(pool, rx));
        Self { tx }
    }

    /// Stores one answer; returns once it is committed (or refused).
    pub async fn submit(&self, a: AnswerIn) -> Result<(), AnswerError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((a, reply))
            .await
            .map_err(|_| AnswerError::Internal)?;
        rx.await.map_err(|_| AnswerError::Internal)?
    }
}

async fn run(pool: AnyPool, mut rx: mpsc::Receiver<(AnswerIn, Reply)>) {
    let mut conn = loop {
        match pool.acquire().await {
            Ok(c) => break c,
            Err(e) => {
                tracing::error!("answer writer: no connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    };
    let dialect = Dialect::of(&pool);
    if let Some(sql) = dialect.durable_commits() {
        if let Err(e) = sqlx::query(sql).execute(&mut *conn).await {
            tracing::error!("answer writer: {e}");
        }
    }
    let mut designs: HashMap<i64, Arc<Design>> = HashMap::new();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(x) => batch.push(x),
                Err(_) => break,
            }
        }
        let t0 = Instant::now();
        let results = match write_batch(&mut conn, dialect, &mut designs, &batch).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("answer writer: batch of {} failed: {e}", batch.len());
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                vec![Err(AnswerError::Internal); batch.len()]
            }
        };
        tracing::debug!(
            n = batch.len(),
            ms = t0.elapsed().as_millis() as u64,
            "answers committed"
        );
        for ((_, reply), r) in batch.drain(..).zip(results) {
            let _ = reply.send(r);
        }
    }
}

async fn write_batch(
    conn: &mut PoolConnection<Any>,
    dialect: Dialect,
    designs: &mut HashMap<i64, Arc<Design>>,
    batch: &[(AnswerIn, Reply)],
) -> Result<Vec<Result<(), AnswerError>>, sqlx::Error> {
    sqlx::query(dialect.begin_write())
        .execute(&mut **conn)
        .await?;
    let mut out = Vec::with_capacity(batch.len());
    for (a, _) in batch {
        out.push(check_and_insert(conn, designs, a).await?);
    }
    sqlx::query("COMMIT").execute(&mut **conn).await?;
    Ok(out)
}

/// The least time the server lets pass on a trial before accepting an answer to it: the design's
/// minimum time, and with `require_full_view` the trial's longest video once through.
fn min_view_ms(design: &Design, longest_video_ms: f64) -> f64 {
    let full = if design.require_full_view {
        longest_video_ms
    } else {
        0.0
    };
    (design.min_time_ms as f64).max(full)
}

async fn check_and_insert(
    conn: &mut PoolConnection<Any>,
    designs: &mut HashMap<i64, Arc<Design>>,
    a: &AnswerIn,
) -> Result<Result<(), AnswerError>, sqlx::Error> {
    // The study's status is read with every answer (closing a study must stop answers at once);
    // only its design is cached, and only once the study is live (then it never changes).
    //
    // `on_trial_ms` is the server's own measure of the time spent on the trial: since this
    // participant's last answer to another trial (or since joining), by the server's clock. An
    // honest browser shows the trial only after that answer was acknowledged, so it is never
    // shorter than the time the browser reports; a script that lies about `rt_ms` and `viewed`
    // still cannot answer faster than the design allows. `longest_ms` is the longest video of
    // the trial (frames / fps).
    type Row = (i64, String, String, Option<i64>, String, f64, f64);
    let row: Option<Row> = sqlx::query_as(
        "SELECT p.study_id, t.kind, t.stimuli, t.expected, s.status, \
           (julianday('now') - julianday(COALESCE( \
              (SELECT MAX(a.answered_at) FROM answers a JOIN trials o ON o.id = a.trial_id \
               WHERE o.participant_id = p.id AND o.id <> t.id), \
              p.started_at))) * 86400000.0, \
           COALESCE((SELECT MAX(m.frames * 1000.0 / m.fps) FROM stimuli m \
                     WHERE m.id IN (SELECT value FROM json_each(t.stimuli))), 0.0) \
         FROM trials t \
         JOIN participants p ON p.id = t.participant_id \
         JOIN studies s ON s.id = p.study_id \
         WHERE t.id = $1 AND p.token_hash = $2",
    )
    .bind(a.trial)
    .bind(cookies::token_hash(&a.token))
    .fetch_optional(&mut **conn)
    .await?;
    let Some((study, kind, stimuli, expected, status, on_trial_ms, longest_ms)) = row else {
        return Ok(Err(AnswerError::NotAssigned));
    };
    if !matches!(status.as_str(), "pilot" | "live") {
        return Ok(Err(AnswerError::Closed));
    }
    let cached = designs.get(&study).filter(|_| status == "live").cloned();
    let design = match cached {
        Some(d) => d,
        None => {
            let json: String = sqlx::query_scalar("SELECT design FROM studies WHERE id = $1")
                .bind(study)
                .fetch_one(&mut **conn)
                .await?;
            let d: Design =
                serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            let d = Arc::new(d);
            if status == "live" {
                designs.insert(study, d.clone());
            }
            d
        }
    };
    let n_questions = store::questions(&design, &kind, expected).len() as i64;
    if !(0..n_questions).contains(&a.criterion) {
        return Ok(Err(AnswerError::BadCriterion));
    }
    let shown = stimuli.matches(',').count() + 1;
    if !design.valid_choice(shown, a.choice) {
        return Ok(Err(AnswerError::BadChoice));
    }
    if design.require_full_view && !a.viewed {
        return Ok(Err(AnswerError::NotViewed));
    }
    if a.rt_ms < design.min_time_ms as i64 {
        return Ok(Err(AnswerError::TooFast));
    }
    if on_trial_ms < min_view_ms(&design, longest_ms) {
        return Ok(Err(AnswerError::TooFast));
    }
    let res = sqlx::query(
        "INSERT INTO answers(trial_id, criterion, choice, rt_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(a.trial)
    .bind(a.criterion)
    .bind(a.choice)
    .bind(a.rt_ms)
    .execute(&mut **conn)
    .await?;
    Ok(if res.rows_affected() == 1 {
        Ok(())
    } else {
        Err(AnswerError::AlreadyAnswered)
    })
}
