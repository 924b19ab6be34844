//! A study's design (stored as JSON in `studies.design`): what is asked, how trials are drawn,
//! quality control and what participants read. Frozen once the study is live.
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DesignKind {
    /// Two videos side by side, pick the better (two-alternative forced choice, optional tie).
    Pairwise,
    /// `k` videos side by side, pick the best (the MagicTime paper's protocol).
    BestOfK,
    /// One video, rate it 1–5 (MOS).
    Rating,
}

impl DesignKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pairwise" => Some(Self::Pairwise),
            "best_of_k" => Some(Self::BestOfK),
            "rating" => Some(Self::Rating),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    /// Short name used in results and exports.
    pub name: String,
    /// The question the participant reads.
    pub question: String,
}

/// The MagicTime paper's four criteria.
pub fn default_criteria() -> Vec<Criterion> {
    [
        (
            "visual quality",
            "Which video has the better visual quality?",
        ),
        (
            "frame consistency",
            "In which video are the frames more consistent (less flicker, no jumps)?",
        ),
        (
            "metamorphic amplitude",
            "Which video shows a larger, more complete transformation over time?",
        ),
        (
            "text alignment",
            "Which video matches the text description better?",
        ),
    ]
    .into_iter()
    .map(|(n, q)| Criterion {
        name: n.into(),
        question: q.into(),
    })
    .collect()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Design {
    pub kind: DesignKind,
    /// Videos per trial for best-of-k (2 for pairwise, 1 for rating).
    pub k: usize,
    pub allow_tie: bool,
    pub criteria: Vec<Criterion>,
    /// Main (analysed) trials per participant.
    pub trials_per_participant: usize,
    pub practice_trial: bool,
    pub attention_checks: usize,
    /// Gold trials (identical pair → expect a tie; known-worse degraded copy → expect the other).
    pub gold_trials: usize,
    /// Every video must have played to its end once before answering.
    pub require_full_view: bool,
    /// Minimum milliseconds on a trial before its answers are accepted.
    pub min_time_ms: u64,
    /// Exclusion rule fixed before launch: participants failing more checks than this are excluded.
    pub max_failed_checks: usize,
    pub consent: String,
    pub instructions: String,
    pub completion_code: String,
    /// Where to send participants at the end (e.g. Prolific's completion URL); `{code}` is replaced.
    pub redirect_url: Option<String>,
    /// Seed of the assignment (participants' trials derive from it and their arrival index).
    pub seed: u64,
    /// Normalisation target of imported videos.
    pub fps: f64,
    pub width: u32,
    pub height: u32,
    /// Optional demographic questions after consent (off by default; absent in older designs).
    #[serde(default)]
    pub demographics: super::demographics::Demographics,
}

impl Default for Design {
    fn default() -> Self {
        Design {
            kind: DesignKind::Pairwise,
            k: 2,
            allow_tie: true,
            criteria: default_criteria(),
            trials_per_participant: 10,
            practice_trial: true,
            attention_checks: 1,
            gold_trials: 1,
            require_full_view: true,
            min_time_ms: 3000,
            max_failed_checks: 0,
            consent:
                "You are invited to take part in a study on generated videos. Participation is \
                      voluntary and anonymous; you may stop at any time. Your answers are stored \
                      without personal data."
                    .into(),
            instructions:
                "Each trial shows videos that play together in a loop. Watch each one to \
                           the end at least once, then answer each question with the mouse or \
                           the keys 1, 2, … (← → also work for two videos)."
                    .into(),
            completion_code: String::new(),
            redirect_url: None,
            seed: 0,
            fps: 8.0,
            width: 512,
            height: 512,
            demographics: Default::default(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DesignError {
    #[error("design field `{0}`: {1}")]
    Field(&'static str, String),
}

impl Design {
    /// Videos on screen per trial.
    pub fn videos_per_trial(&self) -> usize {
        match self.kind {
            DesignKind::Pairwise => 2,
            DesignKind::BestOfK => self.k,
            DesignKind::Rating => 1,
        }
    }

    pub fn validate(&self) -> Result<(), DesignError> {
        let bad = |f: &'static str, m: &str| Err(DesignError::Field(f, m.to_owned()));
        if self.kind == DesignKind::BestOfK && !(2..=6).contains(&self.k) {
            return bad("k", "best-of-k needs 2 to 6 videos per trial");
        }
        if self.criteria.is_empty() || self.criteria.len() > 10 {
            return bad("criteria", "give 1 to 10 criteria");
        }
        if self
            .criteria
            .iter()
            .any(|c| c.name.trim().is_empty() || c.question.trim().is_empty())
        {
            return bad("criteria", "every criterion needs a name and a question");
        }
        if !(1..=500).contains(&self.trials_per_participant) {
            return bad("trials_per_participant", "must be 1 to 500");
        }
        if self.attention_checks > 10 || self.gold_trials > 10 {
            return bad("attention_checks", "at most 10 checks of each kind");
        }
        if !(1.0..=60.0).contains(&self.fps) {
            return bad("fps", "must be 1 to 60");
        }
        if !(16..=2048).contains(&self.width) || !(16..=2048).contains(&self.height) {
            return bad("width", "size must be 16 to 2048 pixels");
        }
        if self.width % 2 == 1 || self.height % 2 == 1 {
            return bad("width", "width and height must be even (H.264 yuv420p)");
        }
        self.demographics.validate()?;
        if let Some(u) = &self.redirect_url {
            if !(u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/')) {
                return bad("redirect_url", "must be an http(s) URL or a local path");
            }
        }
        Ok(())
    }

    /// Whether `choice` is a valid answer for a trial showing `shown` videos.
    pub fn valid_choice(&self, shown: usize, choice: i64) -> bool {
        match self.kind {
            DesignKind::Rating => (1..=5).contains(&choice),
            _ => (choice == -1 && self.allow_tie) || (0..shown as i64).contains(&choice),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let d = Design::default();
        d.validate().unwrap();
        assert_eq!(d.criteria.len(), 4);
        let back: Design = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn bad_designs_name_the_field() {
        let d = Design {
            kind: DesignKind::BestOfK,
            k: 9,
            ..Design::default()
        };
        assert!(matches!(d.validate(), Err(DesignError::Field("k", _))));
        let d = Design {
            width: 511,
            ..Design::default()
        };
        assert!(matches!(d.validate(), Err(DesignError::Field("width", _))));
    }

    #[test]
    fn choices() {
        let d = Design::default();
        assert!(d.valid_choice(2, 0) && d.valid_choice(2, 1) && d.valid_choice(2, -1));
        assert!(!d.valid_choice(2, 2) && !d.valid_choice(2, -2));
        let r = Design {
            kind: DesignKind::Rating,
            ..Design::default()
        };
        assert!(r.valid_choice(1, 5) && !r.valid_choice(1, 0) && !r.valid_choice(1, 6));
    }
}
