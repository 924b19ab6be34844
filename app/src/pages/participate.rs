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

use crate::{
    api::studies::{get_study_intro, AskedQuestion, StudyIntro},
    pages::login::clean_error,
};

#[component]
pub fn ParticipantPage() -> impl IntoView {
    let slug = use_params_map()
        .read_untracked()
        .get("slug")
        .unwrap_or_default();
    let intro = Resource::new(move || slug.clone(), get_study_intro);
    view! {
        <Title text="Study — MagicTime"/>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || intro.get().map(|r| match r {
                Ok(i) => view! { <Sections i/> }.into_any(),
                Err(e) => view! {
                    <h1>"Sorry"</h1>
                    <p class="error" role="alert">{clean_error(&e.to_string())}</p>
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
mod runner {
    use std::{cell::RefCell, rc::Rc};

    use leptos::{
        prelude::set_timeout,
        task::spawn_local,
        wasm_bindgen::{closure::Closure, JsCast, JsValue},
        web_sys::{
            window, Document, Element, Event, EventTarget, HtmlElement, HtmlInputElement,
            HtmlMediaElement, KeyboardEvent,
        },
    };

    use super::{choices, key_choice, Question, Run, Trial};
    use crate::components::fetch::{flag, items, json_str, number, post, string, Reply};

    /// The join's answer (`None` when it is not one).
    fn read_run(v: &JsValue) -> Option<Run> {
        let trials = items(v, "trials")
            .iter()
            .map(|t| Trial {
                id: number(t, "id") as i64,
                practice: flag(t, "practice"),
                prompt: string(t, "prompt"),
                media: items(t, "media")
                    .iter()
                    .filter_map(JsValue::as_string)
                    .collect(),
                questions: items(t, "questions")
                    .iter()
                    .map(|q| Question {
                        criterion: number(q, "criterion") as i64,
                        text: string(q, "text"),
                    })
                    .collect(),
                answered: items(t, "answered")
                    .iter()
                    .filter_map(|a| a.as_f64().map(|a| a as i64))
                    .collect(),
            })
            .collect();
        let token = string(v, "token");
        (!token.is_empty()).then(|| Run {
            token,
            kind: string(v, "kind"),
            allow_tie: flag(v, "allow_tie"),
            min_time_ms: number(v, "min_time_ms") as u64,
            require_full_view: flag(v, "require_full_view"),
            trials,
            completed: flag(v, "completed"),
            demographics_done: flag(v, "demographics_done"),
        })
    }

    /// The participant's run in this page.
    struct Runner {
        slug: String,
        run: Run,
        /// The trial shown (an index into `run.trials`).
        trial: Option<usize>,
        shown_at: f64,
        ended: Vec<bool>,
        sending: bool,
    }

    type Shared = Rc<RefCell<Runner>>;

    fn doc() -> Document {
        window().and_then(|w| w.document()).expect("a document")
    }

    fn el(id: &str) -> Option<Element> {
        doc().get_element_by_id(id)
    }

    fn set_text(id: &str, text: &str) {
        if let Some(e) = el(id) {
            e.set_text_content(Some(text));
        }
    }

    fn set_hidden(e: &Element, hidden: bool) {
        let _ = e.toggle_attribute_with_force("hidden", hidden);
    }

    fn now() -> f64 {
        window()
            .and_then(|w| w.performance())
            .map(|p| p.now())
            .unwrap_or_default()
    }

    fn all<T: JsCast>(selector: &str) -> Vec<T> {
        let Ok(list) = doc().query_selector_all(selector) else {
            return vec![];
        };
        (0..list.length())
            .filter_map(|i| list.item(i))
            .filter_map(|n| n.dyn_into::<T>().ok())
            .collect()
    }

    fn listen(target: &EventTarget, event: &str, capture: bool, f: impl FnMut(Event) + 'static) {
        let f = Closure::<dyn FnMut(Event)>::new(f).into_js_value();
        let _ = target.add_event_listener_with_callback_and_bool(event, f.unchecked_ref(), capture);
    }

    async fn send(url: &str, body: String) -> Result<Reply, String> {
        post(url, body.into(), true).await
    }

    /// Shows one section (`s-…`) and moves the focus to its heading.
    fn show(id: &str) {
        for s in all::<Element>("#study > section") {
            set_hidden(&s, s.id() != id);
        }
        if let Some(h) = doc()
            .query_selector(&format!("#{id} h2"))
            .ok()
            .flatten()
            .and_then(|h| h.dyn_into::<HtmlElement>().ok())
        {
            let _ = h.focus();
        }
    }

    fn fail(msg: &str) {
        set_text("error-text", msg);
        show("s-error");
    }

    pub fn start() {
        let Some(root) = el("study") else { return };
        let Some(slug) = root.get_attribute("data-slug") else {
            return;
        };
        let r: Shared = Rc::new(RefCell::new(Runner {
            slug,
            run: Run::default(),
            trial: None,
            shown_at: 0.0,
            ended: vec![],
            sending: false,
        }));
        let rc = r.clone();
        listen(&root, "click", false, move |e| {
            let Some(b) = e
                .target()
                .and_then(|t| t.dyn_into::<Element>().ok())
                .and_then(|t| t.closest("button").ok().flatten())
            else {
                return;
            };
            match b.id().as_str() {
                "consent-yes" => after_consent(&rc),
                "demo-next" => spawn_local(demographics(rc.clone())),
                "start" => next(&rc),
                "replay" => restart(),
                _ => {
                    if let Some(c) = b.get_attribute("data-choice").and_then(|c| c.parse().ok()) {
                        answer(&rc, c);
                    }
                }
            }
        });
        // `ended` does not bubble: caught on its way down.
        let rc = r.clone();
        listen(&root, "ended", true, move |e| {
            let Some(k) = e
                .target()
                .and_then(|t| t.dyn_into::<Element>().ok())
                .and_then(|v| v.get_attribute("data-k"))
                .and_then(|k| k.parse::<usize>().ok())
            else {
                return;
            };
            let all_ended = {
                let mut s = rc.borrow_mut();
                if let Some(x) = s.ended.get_mut(k) {
                    *x = true;
                }
                s.ended.iter().all(|x| *x)
            };
            if all_ended || all_stopped() {
                restart();
            }
            refresh(&rc);
        });
        if let Some(w) = window() {
            let rc = r.clone();
            listen(&w, "keydown", false, move |e| {
                if let Some(e) = e.dyn_ref::<KeyboardEvent>() {
                    key(&rc, e);
                }
            });
        }
        spawn_local(join(r));
    }

    async fn join(r: Shared) {
        let slug = r.borrow().slug.clone();
        let key = format!("mt_study_{slug}");
        let store = window().and_then(|w| w.local_storage().ok().flatten());
        let token = store
            .as_ref()
            .and_then(|s| s.get_item(&key).ok().flatten())
            .unwrap_or_default();
        let mut body = format!("{{\"token\":{}", json_str(&token));
        let search = window()
            .and_then(|w| w.location().search().ok())
            .unwrap_or_default();
        if let Ok(q) = leptos::web_sys::UrlSearchParams::new_with_str(&search) {
            for k in ["PROLIFIC_PID", "STUDY_ID", "SESSION_ID"] {
                if let Some(v) = q.get(k).filter(|v| !v.is_empty()) {
                    body += &format!(",\"{k}\":{}", json_str(&v));
                }
            }
        }
        body.push('}');
        let run = match send(&format!("/s/{slug}/join"), body).await {
            Ok(a) if a.ok() => match read_run(&a.body) {
                Some(run) => run,
                None => return fail("The study's answer could not be read."),
            },
            Ok(a) => return fail(&a.error("This study is not available.")),
            Err(e) => return fail(&e),
        };
        if let Some(s) = &store {
            let _ = s.set_item(&key, &run.token);
        }
        let (completed, started) = (
            run.completed,
            run.trials.iter().any(|t| !t.answered.is_empty()),
        );
        r.borrow_mut().run = run;
        if completed {
            spawn_local(finish(r));
        } else if started {
            next(&r);
        } else {
            show("s-consent");
        }
    }

    fn after_consent(r: &Shared) {
        let asked = !all::<Element>("#demo-form fieldset").is_empty();
        if asked && !r.borrow().run.demographics_done {
            show("s-demographics");
        } else {
            show("s-instructions");
        }
    }

    async fn demographics(r: Shared) {
        let (slug, token) = {
            let s = r.borrow();
            (s.slug.clone(), s.run.token.clone())
        };
        let answers: Vec<String> = all::<Element>("#demo-form fieldset")
            .iter()
            .filter_map(|f| {
                let name = f.get_attribute("data-q")?;
                let v = f
                    .query_selector("input:checked")
                    .ok()
                    .flatten()?
                    .dyn_into::<HtmlInputElement>()
                    .ok()?
                    .value();
                Some(format!("{}:{}", json_str(&name), json_str(&v)))
            })
            .collect();
        let body = format!(
            "{{\"token\":{},\"answers\":{{{}}}}}",
            json_str(&token),
            answers.join(",")
        );
        match send(&format!("/s/{slug}/demographics"), body).await {
            Ok(a) if a.ok() || a.status == 409 => {
                r.borrow_mut().run.demographics_done = true;
                show("s-instructions");
            }
            Ok(a) => set_text("demo-error", &a.error("Could not save your answers.")),
            Err(e) => set_text("demo-error", &e),
        }
    }

    /// The next trial with a question left, or the end.
    fn next(r: &Shared) {
        let Some(i) = r.borrow().run.pending() else {
            spawn_local(finish(r.clone()));
            return;
        };
        let (media, prompt, practice, (done, total)) = {
            let mut s = r.borrow_mut();
            s.trial = Some(i);
            let t = &s.run.trials[i];
            let shown = (
                t.media.clone(),
                t.prompt.clone(),
                t.practice,
                s.run.progress(),
            );
            s.ended = vec![false; shown.0.len()];
            s.shown_at = now();
            shown
        };
        if let Some(p) = el("progress") {
            let _ = p.set_attribute("max", &total.to_string());
            let _ = p.set_attribute("value", &done.to_string());
        }
        set_text(
            "progress-text",
            &if practice {
                "Practice trial".to_owned()
            } else {
                format!("Trial {} of {total}", done + 1)
            },
        );
        set_text("prompt", &prompt);
        if let Some(box_) = el("videos") {
            box_.set_text_content(None);
            let _ = box_.set_attribute("data-n", &media.len().to_string());
            let d = doc();
            for (k, src) in media.iter().enumerate() {
                let (Ok(fig), Ok(v), Ok(cap)) = (
                    d.create_element("figure"),
                    d.create_element("video"),
                    d.create_element("figcaption"),
                ) else {
                    continue;
                };
                let label = format!("Video {}", k + 1);
                for (a, x) in [
                    ("src", src.as_str()),
                    ("muted", ""),
                    ("playsinline", ""),
                    ("preload", "auto"),
                    ("aria-label", &label),
                    ("data-k", &k.to_string()),
                ] {
                    let _ = v.set_attribute(a, x);
                }
                if let Some(m) = v.dyn_ref::<HtmlMediaElement>() {
                    m.set_muted(true);
                }
                cap.set_text_content(Some(&label));
                let _ = fig.append_child(&v);
                let _ = fig.append_child(&cap);
                let _ = box_.append_child(&fig);
            }
        }
        show("s-trial");
        restart();
        render_question(r);
        refresh_when_due(r.clone());
    }

    /// Refreshes the answers once the trial's minimum time is up (the last video's end
    /// refreshes them too).
    fn refresh_when_due(r: Shared) {
        let due = {
            let s = r.borrow();
            s.shown_at + s.run.min_time_ms as f64 - now()
        };
        if due > 0.0 {
            set_timeout(
                move || refresh_when_due(r),
                std::time::Duration::from_millis(due as u64 + 1),
            );
        } else {
            refresh(&r);
        }
    }

    fn videos() -> Vec<HtmlMediaElement> {
        all("#videos video")
    }

    fn all_stopped() -> bool {
        videos().iter().all(|v| v.ended() || v.paused())
    }

    /// Synchronised loop: every video starts again together.
    fn restart() {
        let vs = videos();
        for v in &vs {
            v.set_current_time(0.0);
        }
        for v in &vs {
            let _ = v.play();
        }
    }

    fn ready(r: &Shared) -> bool {
        let s = r.borrow();
        let viewed = !s.run.require_full_view || s.ended.iter().all(|x| *x);
        viewed && now() - s.shown_at >= s.run.min_time_ms as f64
    }

    fn refresh(r: &Shared) {
        let ok = ready(r);
        for b in all::<Element>("#answers button") {
            let _ = b.toggle_attribute_with_force("disabled", !ok);
        }
        if let Some(w) = el("wait") {
            set_hidden(&w, ok);
        }
    }

    fn render_question(r: &Shared) {
        let (text, list) = {
            let s = r.borrow();
            let Some(t) = s.trial.and_then(|i| s.run.trials.get(i)) else {
                return;
            };
            let Some(q) = t.question() else { return };
            (
                q.text.clone(),
                choices(s.run.kind == "rating", s.run.allow_tie, t.media.len()),
            )
        };
        set_text("question", &text);
        let Some(box_) = el("answers") else { return };
        box_.set_text_content(None);
        for (label, choice, hint) in list {
            if let Ok(b) = doc().create_element("button") {
                let _ = b.set_attribute("type", "button");
                let _ = b.set_attribute("data-choice", &choice.to_string());
                let _ = b.set_attribute("title", hint);
                b.set_text_content(Some(&label));
                let _ = box_.append_child(&b);
            }
        }
        refresh(r);
    }

    fn key(r: &Shared, e: &KeyboardEvent) {
        let on_trial = el("s-trial").is_some_and(|s| !s.has_attribute("hidden"));
        if !on_trial || r.borrow().trial.is_none() || e.alt_key() || e.ctrl_key() || e.meta_key() {
            return;
        }
        let key = e.key();
        if key == "r" || key == "R" {
            return restart();
        }
        let c = {
            let s = r.borrow();
            let n = s
                .trial
                .and_then(|i| s.run.trials.get(i))
                .map_or(0, |t| t.media.len());
            key_choice(&key, s.run.kind == "rating", s.run.allow_tie, n)
        };
        if let Some(c) = c {
            e.prevent_default();
            answer(r, c);
        }
    }

    fn answer(r: &Shared, choice: i64) {
        if r.borrow().sending || !ready(r) {
            return;
        }
        let body = {
            let mut s = r.borrow_mut();
            let Some(i) = s.trial else { return };
            let t = &s.run.trials[i];
            let Some(criterion) = t.question().map(|q| q.criterion) else {
                return;
            };
            let body = format!(
                "{{\"token\":{},\"trial\":{},\"criterion\":{criterion},\"choice\":{choice},\"rt_ms\":{},\"viewed\":{}}}",
                json_str(&s.run.token),
                t.id,
                (now() - s.shown_at).round() as i64,
                s.ended.iter().all(|x| *x),
            );
            s.sending = true;
            (body, i, criterion)
        };
        let r = r.clone();
        spawn_local(async move {
            let (body, i, criterion) = body;
            let a = send("/s/api/answer", body).await;
            r.borrow_mut().sending = false;
            let a = match a {
                Ok(a) => a,
                Err(e) => return set_text("saved", &e),
            };
            if a.closed() {
                return fail(&a.error("The study is closed."));
            }
            if !(a.ok() || a.status == 409) {
                let slow = if a.status == 429 {
                    " — slow down a little."
                } else {
                    ""
                };
                return set_text("saved", &(a.error("Could not save") + slow));
            }
            let (total, trial_done) = {
                let mut s = r.borrow_mut();
                let t = &mut s.run.trials[i];
                t.answered.push(criterion);
                let done = t.question().is_none();
                (s.run.answers(), done)
            };
            set_text(
                "saved",
                &format!(
                    "Saved {total} {}",
                    if total == 1 { "answer." } else { "answers." }
                ),
            );
            if trial_done {
                next(&r);
            } else {
                render_question(&r);
            }
        });
    }

    async fn finish(r: Shared) {
        let (slug, token) = {
            let s = r.borrow();
            (s.slug.clone(), s.run.token.clone())
        };
        let body = format!("{{\"token\":{}}}", json_str(&token));
        let a = match send(&format!("/s/{slug}/complete"), body).await {
            Ok(a) => a,
            Err(e) => return fail(&e),
        };
        if !a.ok() {
            return fail(&a.error("Could not finish."));
        }
        set_text("code", &string(&a.body, "completion_code"));
        show("s-done");
        let redirect = crate::components::fetch::get(&a.body, "redirect").as_string();
        if let (Some(to), Some(link)) = (redirect, el("redirect")) {
            let _ = link.set_attribute("href", &to);
            set_hidden(&link, false);
            set_timeout(
                move || crate::pages::annotate::go(&to),
                std::time::Duration::from_secs(4),
            );
        }
    }
}

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
