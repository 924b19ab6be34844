//! The participant's run in the browser (the `StudyRun` island's body, `hydrate` only): drives
//! the server-rendered sections of `/s/{slug}` through `web_sys`.

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
