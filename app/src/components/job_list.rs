//! A live list of jobs: progress bars, refreshed every 1.5 s while any job is queued or running.
//! The server renders the first list; the list itself lives inside an island (the Jobs page's
//! panel, the Generate page's form, the Datasets page's forms), which refetches in the browser.
use leptos::either::EitherOf3;
use leptos::prelude::*;

use crate::{api::jobs::list_jobs, pages::login::clean_error, types::JobView};

/// The jobs of `kind` (all when None) as the server loads them for the first render.
pub async fn first_jobs(kind: Option<String>) -> Result<Vec<JobView>, String> {
    list_jobs(kind)
        .await
        .map_err(|e| clean_error(&e.to_string()))
}

/// A job form's status line: "Queued job #N", or the server's reason for refusing it.
pub fn queued_message(r: Option<Result<i64, ServerFnError>>) -> Option<String> {
    match r {
        Some(Ok(id)) => Some(format!("Queued job #{id}")),
        Some(Err(e)) => Some(clean_error(&e.to_string())),
        None => None,
    }
}

/// The job list for islands: starts from `initial`, refetches when `refresh` changes and polls
/// while something is pending.
#[component]
pub fn JobList(
    /// Only jobs of this kind (all when None).
    kind: Option<String>,
    /// The list the server rendered.
    initial: Result<Vec<JobView>, String>,
    /// Bumped by the parent to refetch (e.g. after a submit).
    #[prop(into)]
    refresh: Signal<usize>,
) -> impl IntoView {
    let jobs = RwSignal::new(initial);
    let (tick, set_tick) = signal(0usize);
    // Refetch on every change of refresh/tick after the first run (the server gave the first).
    Effect::new(move |prev: Option<()>| {
        let _ = (refresh.get(), tick.get());
        if prev.is_some() {
            let kind = kind.clone();
            leptos::task::spawn_local(async move {
                jobs.set(first_jobs(kind).await);
            });
        }
    });
    // Poll only in the browser and only while something is pending.
    Effect::new(move |_| {
        let pending = jobs.with(|r| {
            r.as_ref().is_ok_and(|l| {
                l.iter()
                    .any(|j| j.status == "queued" || j.status == "running")
            })
        });
        if pending {
            set_timeout(
                move || set_tick.update(|t| *t += 1),
                std::time::Duration::from_millis(1500),
            );
        }
    });
    move || match jobs.get() {
        Ok(list) if list.is_empty() => EitherOf3::A(view! { <p>"No jobs yet."</p> }),
        Ok(list) => EitherOf3::B(view! {
            <ul class="jobs" aria-live="polite">
                {list.into_iter().map(|j| view! { <JobRow job=j/> }).collect_view()}
            </ul>
        }),
        Err(e) => EitherOf3::C(view! { <p class="error">{e}</p> }),
    }
}

#[component]
fn JobRow(job: JobView) -> impl IntoView {
    let prompt = serde_json::from_str::<serde_json::Value>(&job.params)
        .ok()
        .and_then(|v| v.get("prompt").and_then(|p| p.as_str()).map(str::to_owned))
        .unwrap_or_default();
    let pct = (job.progress * 100.0).round() as u32;
    view! {
        <li class="job" data-status=job.status.clone() data-testid=format!("job-{}", job.id)>
            <div class="job-head">
                <strong>"#" {job.id} " " {job.kind.clone()}</strong>
                <span class=format!("badge {}", job.status)>{job.status.clone()}</span>
                <span class="muted">{job.created_by.clone()} " · " {job.created_at.clone()}</span>
            </div>
            <p class="prompt">{prompt}</p>
            <progress max="100" value=pct aria-label=format!("job {} progress", job.id)>{pct} "%"</progress>
            <span class="muted">" " {job.message.clone()}</span>
            {job.video_url.map(|src| view! {
                <video src=src controls loop muted autoplay playsinline width="256"></video>
            })}
        </li>
    }
}
