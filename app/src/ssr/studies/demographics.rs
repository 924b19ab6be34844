//! Optional demographics: a block of multiple-choice questions in the design (off by default),
//! answered once per participant after consent and before the trials, stored per participant
//! (`migrations/0005_study_demographics.sql`), counted on the results page and exported with the
//! participant id hashed as in the trials export.
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;

use super::{analysis::participant_hash, design::DesignError, store::StudyRow};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemographicQuestion {
    /// Short name used in exports and results.
    pub name: String,
    /// What the participant reads.
    pub text: String,
    pub choices: Vec<String>,
    /// Optional questions may be left unanswered (the default).
    #[serde(default)]
    pub required: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Demographics {
    pub enabled: bool,
    pub questions: Vec<DemographicQuestion>,
}

impl Default for Demographics {
    fn default() -> Self {
        let q = |name: &str, text: &str, choices: &[&str]| DemographicQuestion {
            name: name.into(),
            text: text.into(),
            choices: choices.iter().map(|c| c.to_string()).collect(),
            required: false,
        };
        Demographics {
            enabled: false,
            questions: vec![
                q(
                    "age",
                    "Your age",
                    &["18–24", "25–34", "35–44", "45–54", "55–64", "65 or older"],
                ),
                q(
                    "gender",
                    "Your gender",
                    &["woman", "man", "non-binary", "another gender"],
                ),
                q(
                    "experience",
                    "How often have you watched AI-generated videos before?",
                    &["never", "a few times", "often", "I make them myself"],
                ),
            ],
        }
    }
}

impl Demographics {
    pub fn validate(&self) -> Result<(), DesignError> {
        let bad = |m: String| Err(DesignError::Field("demographics", m));
        if self.questions.len() > 20 {
            return bad("at most 20 questions".into());
        }
        if self.enabled && self.questions.is_empty() {
            return bad("enabled without questions".into());
        }
        let mut names = std::collections::HashSet::new();
        for q in &self.questions {
            if q.name.trim().is_empty() || q.text.trim().is_empty() {
                return bad("every question needs a name and a text".into());
            }
            if !names.insert(q.name.as_str()) {
                return bad(format!("question name {:?} is used twice", q.name));
            }
            if !(2..=20).contains(&q.choices.len()) {
                return bad(format!("question {:?}: give 2 to 20 choices", q.name));
            }
            let mut seen = std::collections::HashSet::new();
            if q.choices
                .iter()
                .any(|c| c.trim().is_empty() || !seen.insert(c.as_str()))
            {
                return bad(format!(
                    "question {:?}: choices must be non-empty and distinct",
                    q.name
                ));
            }
        }
        Ok(())
    }

    /// The questions participants see (none when the block is off).
    pub fn shown(&self) -> &[DemographicQuestion] {
        if self.enabled {
            &self.questions
        } else {
            &[]
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemographicsError {
    #[error("this study asks no demographic questions")]
    NotAsked,
    #[error("unknown question {0:?}")]
    UnknownQuestion(String),
    #[error("question {0:?}: {1:?} is not one of its choices")]
    BadChoice(String, String),
    #[error("question {0:?} needs an answer")]
    Missing(String),
    #[error("demographics were already submitted")]
    AlreadySubmitted,
    #[error("the study is finished for this participant")]
    Completed,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// Checks answers against the questions: every key a question, every value one of its choices,
/// required questions answered. Empty values count as unanswered.
pub fn check(
    questions: &[DemographicQuestion],
    answers: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, DemographicsError> {
    if questions.is_empty() {
        return Err(DemographicsError::NotAsked);
    }
    let mut out = vec![];
    for (k, v) in answers {
        let q = questions
            .iter()
            .find(|q| &q.name == k)
            .ok_or_else(|| DemographicsError::UnknownQuestion(k.clone()))?;
        if v.is_empty() {
            continue;
        }
        if !q.choices.contains(v) {
            return Err(DemographicsError::BadChoice(k.clone(), v.clone()));
        }
        out.push((k.clone(), v.clone()));
    }
    if let Some(q) = questions
        .iter()
        .find(|q| q.required && !out.iter().any(|(k, _)| k == &q.name))
    {
        return Err(DemographicsError::Missing(q.name.clone()));
    }
    Ok(out)
}

/// Stores a participant's answers once, before they complete the study (the database refuses
/// rows for completed participants too).
pub async fn submit(
    pool: &AnyPool,
    study: &StudyRow,
    participant: i64,
    answers: &BTreeMap<String, String>,
) -> Result<(), DemographicsError> {
    let rows = check(study.design.demographics.shown(), answers)?;
    let mut tx = pool.begin().await?;
    // The write comes first: a transaction that read first and then wrote would fail with
    // SQLITE_BUSY (no waiting) whenever another writer committed in between; one that starts
    // with its write waits its turn (the busy timeout).
    let marked = sqlx::query(
        "UPDATE participants SET demographics_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
         WHERE id = $1 AND demographics_at IS NULL AND completed_at IS NULL",
    )
    .bind(participant)
    .execute(&mut *tx)
    .await?;
    if marked.rows_affected() != 1 {
        let completed: Option<String> =
            sqlx::query_scalar("SELECT completed_at FROM participants WHERE id = $1")
                .bind(participant)
                .fetch_one(&mut *tx)
                .await?;
        return Err(match completed {
            Some(_) => DemographicsError::Completed,
            None => DemographicsError::AlreadySubmitted,
        });
    }
    for (q, a) in rows {
        sqlx::query(
            "INSERT INTO study_demographics(participant_id, question, answer) VALUES ($1, $2, $3)",
        )
        .bind(participant)
        .bind(q)
        .bind(a)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Whether the participant has submitted the block.
pub async fn submitted(pool: &AnyPool, participant: i64) -> Result<bool, sqlx::Error> {
    let at: Option<String> =
        sqlx::query_scalar("SELECT demographics_at FROM participants WHERE id = $1")
            .bind(participant)
            .fetch_one(pool)
            .await?;
    Ok(at.is_some())
}

/// Answers per participant who submitted: (hashed id, arrival index, pilot, question → answer).
pub type ParticipantAnswers = (String, i64, bool, HashMap<String, String>);

pub async fn answers(
    pool: &AnyPool,
    study: &StudyRow,
) -> Result<Vec<ParticipantAnswers>, sqlx::Error> {
    let people: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT id, external_id, seq, pilot FROM participants \
         WHERE study_id = $1 AND demographics_at IS NOT NULL ORDER BY seq",
    )
    .bind(study.id)
    .fetch_all(pool)
    .await?;
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT d.participant_id, d.question, d.answer FROM study_demographics d \
         JOIN participants p ON p.id = d.participant_id WHERE p.study_id = $1",
    )
    .bind(study.id)
    .fetch_all(pool)
    .await?;
    let mut by: HashMap<i64, HashMap<String, String>> = HashMap::new();
    for (p, q, a) in rows {
        by.entry(p).or_default().insert(q, a);
    }
    Ok(people
        .into_iter()
        .map(|(id, ext, seq, pilot)| {
            (
                participant_hash(&study.slug, &ext),
                seq,
                pilot != 0,
                by.remove(&id).unwrap_or_default(),
            )
        })
        .collect())
}

/// Counts of one question over non-pilot participants who submitted.
#[derive(Clone, Debug, Serialize)]
pub struct QuestionCounts {
    pub question: String,
    pub text: String,
    /// (choice, count) in the design's order.
    pub counts: Vec<(String, usize)>,
    pub no_answer: usize,
}

pub fn counts(study: &StudyRow, answers: &[ParticipantAnswers]) -> Vec<QuestionCounts> {
    let main: Vec<_> = answers.iter().filter(|a| !a.2).collect();
    study
        .design
        .demographics
        .questions
        .iter()
        .map(|q| {
            let counts = q
                .choices
                .iter()
                .map(|c| {
                    let n = main.iter().filter(|a| a.3.get(&q.name) == Some(c)).count();
                    (c.clone(), n)
                })
                .collect();
            QuestionCounts {
                question: q.name.clone(),
                text: q.text.clone(),
                counts,
                no_answer: main.iter().filter(|a| !a.3.contains_key(&q.name)).count(),
            }
        })
        .collect()
}

/// One row per participant who submitted: `participant,participant_seq,pilot,<question…>`.
pub fn to_csv(study: &StudyRow, answers: &[ParticipantAnswers]) -> String {
    let qs = &study.design.demographics.questions;
    let header = ["participant", "participant_seq", "pilot"]
        .into_iter()
        .map(str::to_owned)
        .chain(qs.iter().map(|q| q.name.clone()));
    let mut out = crate::ssr::csv::row(header);
    for (hash, seq, pilot, a) in answers {
        let fields = [hash.to_string(), seq.to_string(), pilot.to_string()]
            .into_iter()
            .chain(
                qs.iter()
                    .map(|q| a.get(&q.name).cloned().unwrap_or_default()),
            );
        out.push_str(&crate::ssr::csv::row(fields));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> Demographics {
        let mut d = Demographics {
            enabled: true,
            ..Demographics::default()
        };
        d.questions[0].required = true;
        d
    }

    #[test]
    fn defaults_are_valid_and_off() {
        let d = Demographics::default();
        d.validate().unwrap();
        assert!(d.shown().is_empty());
        assert_eq!(on().shown().len(), 3);
    }

    #[test]
    fn check_answers() {
        let d = on();
        let a = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        // Optional questions may be skipped or left empty.
        let ok = check(d.shown(), &a(&[("age", "25–34"), ("gender", "")])).unwrap();
        assert_eq!(ok, vec![("age".to_owned(), "25–34".to_owned())]);
        assert!(matches!(
            check(d.shown(), &a(&[("gender", "man")])),
            Err(DemographicsError::Missing(q)) if q == "age"
        ));
        assert!(matches!(
            check(d.shown(), &a(&[("age", "12")])),
            Err(DemographicsError::BadChoice(..))
        ));
        assert!(matches!(
            check(d.shown(), &a(&[("age", "25–34"), ("income", "high")])),
            Err(DemographicsError::UnknownQuestion(_))
        ));
        assert!(matches!(
            check(Demographics::default().shown(), &a(&[])),
            Err(DemographicsError::NotAsked)
        ));
    }

    #[test]
    fn invalid_blocks_are_refused() {
        let mut d = on();
        d.questions[1].choices = vec!["only one".into()];
        assert!(d.validate().is_err());
        let mut d = on();
        d.questions[1].name = "age".into();
        assert!(d.validate().is_err());
    }
}
