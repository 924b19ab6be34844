//! The participant's page of a study, `/s/{slug}` (anonymous, no login): consent, optional
//! demographics, instructions, trials with synchronised looping playback and keyboard answers,
//! each answer saved before moving on, resume from `localStorage`, the completion code and the
//! redirect. Only opaque media addresses reach the browser.
//!
//! The page's sections render on the server; the run is one island ([`StudyRun`]) that renders
//! nothing itself: it shows one section at a time, fills the trial (videos, question, answer
//! buttons) and talks to the participant API (`/s/{slug}/join`, `/s/{slug}/demographics`,
//! `/s/api/answer`, `/s/{slug}/complete`). Markup rendered by the island would be compiled into
//! the WASM bundle, which has a size budget (`tools/build_site.sh`).
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::studies::{get_study_intro, AskedQuestion, StudyIntro};

#[component]
pub fn ParticipantPage() -> impl IntoView {
    let slug = use_params_map()
        .read_untracked()
        .get("slug")
        .unwrap_or_default();
    // SsrMode::Async: the error's status is the page's
    let intro = Resource::new(
        move || slug.clone(),
        |slug| async move {
            get_study_intro(slug).await.inspect_err(|_e| {
                #[cfg(feature = "ssr")]
                _e.set_response_status();
            })
        },
    );
    view! {
        <Title text="Study — MagicTime"/>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || intro.get().map(|r| match r {
                Ok(i) => view! { <Sections i/> }.into_any(),
                Err(e) => view! {
                    <h1>"Sorry"</h1>
                    <p class="error" role="alert">{e.to_string()}</p>
                }.into_any(),
            })}
        </Transition>
    }
}

/// Every section of a run (hidden until the island shows it).
#[component]
fn Sections(i: StudyIntro) -> impl IntoView {
    view! {
        <div id="study" class="study-run" data-slug=i.slug>
            <section id="s-loading">
                <h2 tabindex="-1">"Loading…"</h2>
                <noscript>"This study needs JavaScript."</noscript>
            </section>
            <section id="s-error" hidden>
                <h2 tabindex="-1">"Sorry"</h2>
                <p id="error-text" role="alert"></p>
            </section>
            <section id="s-consent" hidden>
                <h2 tabindex="-1">"Consent"</h2>
                <p class="prose">{i.consent}</p>
                <button id="consent-yes" type="button">"I agree and want to take part"</button>
            </section>
            <section id="s-demographics" hidden>
                <h2 tabindex="-1">"About you"</h2>
                <p>"These questions are optional unless marked *. Skip any you prefer not to answer."</p>
                <form id="demo-form">
                    {i.demographics.into_iter().enumerate().map(|(n, q)| view! { <Asked n q/> }).collect_view()}
                </form>
                <p id="demo-error" role="alert"></p>
                <button id="demo-next" type="button">"Continue"</button>
            </section>
            <section id="s-instructions" hidden>
                <h2 tabindex="-1">"Instructions"</h2>
                <p class="prose">{i.instructions}</p>
                <button id="start" type="button">"Start"</button>
            </section>
            <section id="s-trial" hidden>
                <h2 tabindex="-1" class="visually-hidden">"Trial"</h2>
                <div class="progress">
                    <span id="progress-text" aria-live="polite"></span>
                    <progress id="progress" value="0" max="1"></progress>
                </div>
                <p class="prompt">"Text: “" <span id="prompt"></span> "”"</p>
                <div id="videos" class="videos"></div>
                <p><button id="replay" type="button" class="secondary">"Replay (R)"</button></p>
                <p id="question" class="question" aria-live="polite"></p>
                <div id="answers" class="answers"></div>
                <p id="wait" class="hint">"Watch every video to the end first…"</p>
                <p id="saved" class="hint" role="status"></p>
            </section>
            <section id="s-done" hidden>
                <h2 tabindex="-1">"Thank you!"</h2>
                <p>"Your completion code: " <strong id="code" data-testid="completion-code"></strong></p>
                <p><a id="redirect" hidden>"Continue"</a></p>
            </section>
        </div>
        <StudyRun/>
    }
}

/// One demographic question: its choices as radio buttons (`q<n>`), its name for the answer.
#[component]
fn Asked(n: usize, q: AskedQuestion) -> impl IntoView {
    view! {
        <fieldset data-q=q.name>
            <legend>{format!("{}{}", q.text, if q.required { " *" } else { "" })}</legend>
            {q.choices.into_iter().enumerate().map(|(k, c)| view! {
                <label>
                    <input type="radio" name=format!("q{n}") value=c.clone() id=format!("q{n}-{k}")/>
                    {format!(" {c}")}
                </label>
            }).collect_view()}
        </fieldset>
    }
}

/// What `/s/{slug}/join` answers (`ssr::studies::store::ParticipantState`; the demographic
/// questions are on the page already).
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
struct Run {
    token: String,
    kind: String,
    allow_tie: bool,
    min_time_ms: u64,
    require_full_view: bool,
    trials: Vec<Trial>,
    completed: bool,
    demographics_done: bool,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
struct Trial {
    id: i64,
    practice: bool,
    prompt: String,
    media: Vec<String>,
    questions: Vec<Question>,
    answered: Vec<i64>,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
struct Question {
    criterion: i64,
    text: String,
}

impl Trial {
    fn question(&self) -> Option<&Question> {
        self.questions
            .iter()
            .find(|q| !self.answered.contains(&q.criterion))
    }
}

#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
impl Run {
    /// The index of the first trial with a question left.
    fn pending(&self) -> Option<usize> {
        self.trials.iter().position(|t| t.question().is_some())
    }

    /// (main trials done, main trials): practice trials are not counted.
    fn progress(&self) -> (usize, usize) {
        let main = self.trials.iter().filter(|t| !t.practice);
        let total = main.clone().count();
        (main.filter(|t| t.question().is_none()).count(), total)
    }

    fn answers(&self) -> usize {
        self.trials.iter().map(|t| t.answered.len()).sum()
    }
}

/// The answer a key gives in a trial of `n` videos (`None`: not an answer key).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn key_choice(key: &str, rating: bool, allow_tie: bool, n: usize) -> Option<i64> {
    if let Some(d) = key.parse::<i64>().ok().filter(|d| (1..=9).contains(d)) {
        return match rating {
            true => (d <= 5).then_some(d),
            false => (d as usize <= n).then_some(d - 1),
        };
    }
    match key {
        _ if rating => None,
        "ArrowLeft" if n == 2 => Some(0),
        "ArrowRight" if n == 2 => Some(1),
        "t" | "T" | "ArrowDown" if allow_tie => Some(-1),
        _ => None,
    }
}

/// The answer buttons: (label, choice, hint).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn choices(rating: bool, allow_tie: bool, n: usize) -> Vec<(String, i64, &'static str)> {
    const KEYS: [&str; 9] = [
        "key 1", "key 2", "key 3", "key 4", "key 5", "key 6", "key 7", "key 8", "key 9",
    ];
    if rating {
        return (1..=5)
            .map(|r| (r.to_string(), r, KEYS[r as usize - 1]))
            .collect();
    }
    let mut v: Vec<_> = (0..n.min(9))
        .map(|k| (format!("Video {}", k + 1), k as i64, KEYS[k]))
        .collect();
    if allow_tie {
        v.push(("No difference".into(), -1, "key T or ↓"));
    }
    v
}

/// The run: joins (or resumes with the token this browser kept) once the page is hydrated. It
/// reads the study from the page (`#study[data-slug]`): props would cost their deserializer in
/// the bundle.
#[island]
fn StudyRun() -> impl IntoView {
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        runner::start();
    });
}

#[cfg(feature = "hydrate")]
mod runner;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_answer_like_the_buttons() {
        // pairwise with a tie: digits, arrows, T / ↓
        assert_eq!(key_choice("1", false, true, 2), Some(0));
        assert_eq!(key_choice("2", false, true, 2), Some(1));
        assert_eq!(key_choice("3", false, true, 2), None);
        assert_eq!(key_choice("ArrowLeft", false, true, 2), Some(0));
        assert_eq!(key_choice("ArrowRight", false, true, 2), Some(1));
        assert_eq!(key_choice("t", false, true, 2), Some(-1));
        assert_eq!(key_choice("ArrowDown", false, false, 2), None);
        // best of 4: arrows mean nothing
        assert_eq!(key_choice("ArrowLeft", false, true, 4), None);
        assert_eq!(key_choice("4", false, true, 4), Some(3));
        // rating: 1–5 only
        assert_eq!(key_choice("5", true, true, 1), Some(5));
        assert_eq!(key_choice("6", true, true, 1), None);
        assert_eq!(key_choice("t", true, true, 1), None);
        assert_eq!(key_choice("x", false, true, 2), None);
    }

    #[test]
    fn buttons_match_the_design() {
        let pair = choices(false, true, 2);
        assert_eq!(pair.iter().map(|c| c.1).collect::<Vec<_>>(), vec![0, 1, -1]);
        assert_eq!((pair[0].0.as_str(), pair[0].2), ("Video 1", "key 1"));
        assert_eq!(pair[2].0, "No difference");
        let rating = choices(true, true, 1);
        assert_eq!(
            rating.iter().map(|c| c.1).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        assert_eq!(choices(false, false, 3).len(), 3);
    }

    #[test]
    fn the_pending_trial_is_the_first_with_a_question_left() {
        let q = |c| Question {
            criterion: c,
            text: format!("q{c}"),
        };
        let t = |id, practice, answered: Vec<i64>| Trial {
            id,
            practice,
            prompt: String::new(),
            media: vec![],
            questions: vec![q(0), q(1)],
            answered,
        };
        let mut r = Run {
            trials: vec![
                t(1, true, vec![0, 1]),
                t(2, false, vec![1]),
                t(3, false, vec![]),
            ],
            ..Run::default()
        };
        assert_eq!(r.pending(), Some(1));
        assert_eq!(r.trials[1].question().unwrap().criterion, 0);
        assert_eq!(r.progress(), (0, 2));
        assert_eq!(r.answers(), 3);
        r.trials[1].answered.push(0);
        assert_eq!(r.progress(), (1, 2));
        r.trials[2].answered = vec![0, 1];
        assert_eq!(r.pending(), None);
        assert_eq!(r.progress(), (2, 2));
    }
}
