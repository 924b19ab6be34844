//! A live list of jobs: progress bars, refreshed every 1.5 s while any job is queued or running.
use leptos::prelude::*;

use crate::{api::jobs::list_jobs, pages::login::clean_error, types::JobView};

#[component]
pub fn JobList(
    /// Only jobs of this kind (all when None).
    #[prop(optional)]
    kind: Option<&'static str>,
    /// Bumped by the parent to refetch (e.g. after a submit).
    #[prop(into)]
    refresh: Signal<usize>,
) -> impl IntoView {
    let (tick, set_tick) = signal(0usize);
    let jobs = Resource::new(
        move || (refresh.get(), tick.get()),
        move |_| list_jobs(kind.map(str::to_owned)),
    );
    // Poll only in the browser and only while something is pending.
    Effect::new(move |_| {
        let pending = jobs.get().and_then(|r| r.ok()).is_some_and(|l| {
            l.iter()
                .any(|j| j.status == "queued" || j.status == "running")
        });
        if pending {
            set_timeout(
                move || set_tick.update(|t| *t += 1),
                std::time::Duration::from_millis(1500),
            );
        }
    });
    view! {
        <Transition fallback=|| view! { <p>"Loading jobs…"</p> }>
            {move || jobs.get().map(|r| match r {
                Ok(list) if list.is_empty() => view! { <p>"No jobs yet."</p> }.into_any(),
                Ok(list) => view! {
                    <ul class="jobs" aria-live="polite">
                        {list.into_iter().map(|j| view! { <JobRow job=j/> }).collect_view()}
                    </ul>
                }.into_any(),
                Err(e) => view! { <p class="error">{clean_error(&e.to_string())}</p> }.into_any(),
            })}
        </Transition>
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
