//! A live list of jobs: progress bars, refreshed every 1.5 s while any job is queued or running;
//! training jobs also show their loss curve per loop (log scale) and, while running, an ETA.
//! The server renders the first list; the list itself lives inside an island (the Jobs page's
//! panel, the Generate page's form, the Datasets page's forms), which refetches in the browser.
use leptos::either::EitherOf3;
use leptos::prelude::*;

use std::collections::HashMap;

use crate::{
    api::{
        jobs::{cancel_job, list_jobs},
        training::training_curve,
    },
    error::AppError,
    types::{JobView, TrainCurve},
};

/// The jobs of `kind` (all when None) as the server loads them for the first render.
pub async fn first_jobs(kind: Option<String>) -> Result<Vec<JobView>, String> {
    list_jobs(kind).await.map_err(|e| e.to_string())
}

/// A job form's status line: "Queued job #N", or the server's reason for refusing it.
pub fn queued_message(r: Option<Result<i64, AppError>>) -> Option<String> {
    match r {
        Some(Ok(id)) => Some(format!("Queued job #{id}")),
        Some(Err(e)) => Some(e.to_string()),
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
    // Training jobs' loss curves (browser only): refetched while the job is pending, once more
    // when done (a curve fetched while running may lack the last loops).
    let curves = RwSignal::new(HashMap::<i64, TrainCurve>::new());
    let finals = RwSignal::new(std::collections::HashSet::<i64>::new());
    Effect::new(move |_| {
        let wanted: Vec<(i64, bool)> = jobs.with(|r| {
            r.as_ref()
                .map(|l| {
                    l.iter()
                        .filter(|j| j.kind == "train")
                        .filter(|j| match j.status.as_str() {
                            "queued" | "running" => true,
                            "done" => !finals.with_untracked(|f| f.contains(&j.id)),
                            _ => false,
                        })
                        .map(|j| (j.id, j.status == "done"))
                        .collect()
                })
                .unwrap_or_default()
        });
        for (id, done) in wanted {
            leptos::task::spawn_local(async move {
                if let Ok(Some(c)) = training_curve(id).await {
                    curves.update(|m| {
                        m.insert(id, c);
                    });
                    if done {
                        finals.update(|f| {
                            f.insert(id);
                        });
                    }
                }
            });
        }
    });
    move || match jobs.get() {
        Ok(list) if list.is_empty() => EitherOf3::A(view! { <p>"No jobs yet."</p> }),
        Ok(list) => EitherOf3::B(view! {
            <ul class="jobs" aria-live="polite">
                {list
                    .into_iter()
                    .map(|j| {
                        let id = j.id;
                        let curve = Signal::derive(move || curves.with(|m| m.get(&id).cloned()));
                        let refetch = move || set_tick.update(|t| *t += 1);
                        view! { <JobRow job=j curve refetch/> }
                    })
                    .collect_view()}
            </ul>
        }),
        Err(e) => EitherOf3::C(view! { <p class="error">{e}</p> }),
    }
}

/// The prompt of a job's parameters (other fields ignored; typed, not a `serde_json::Value`,
/// which would add its parser to the WASM bundle).
#[derive(serde::Deserialize)]
struct Prompt {
    #[serde(default)]
    prompt: String,
}

#[component]
fn JobRow(
    job: JobView,
    curve: Signal<Option<TrainCurve>>,
    /// Reloads the list (after a cancel).
    refetch: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let running = job.status == "running";
    // queued and running jobs can be cancelled (a running one stops between two steps)
    let cancellable = (job.status == "queued" || running) && job.message != "cancelling…";
    let id = job.id;
    let cancel = move |_| {
        leptos::task::spawn_local(async move {
            let _ = cancel_job(crate::components::csrf::token(), id).await;
            refetch();
        });
    };
    let retried = (job.attempts > 1).then(|| format!(" · attempt {}", job.attempts));
    let prompt = serde_json::from_str::<Prompt>(&job.params)
        .map(|p| p.prompt)
        .unwrap_or_default();
    let pct = (job.progress * 100.0).round() as u32;
    view! {
        <li class="job" data-status=job.status.clone() data-testid=format!("job-{}", job.id)>
            <div class="job-head">
                <strong>"#" {job.id} " " {job.kind.clone()}</strong>
                <span class=format!("badge {}", job.status)>{job.status.clone()}</span>
                <span class="muted">{job.created_by.clone()} " · " {job.created_at.clone()} {retried}</span>
                {cancellable.then(|| view! {
                    <button type="button" class="secondary" on:click=cancel data-testid=format!("cancel-{id}")>"Cancel"</button>
                })}
            </div>
            <p class="prompt">{prompt}</p>
            <progress max="100" value=pct aria-label=format!("job {} progress", job.id)>{pct} "%"</progress>
            <span class="muted">" " {job.message.clone()}</span>
            {move || curve.get().map(|c| view! { <LossChart curve=c running/> })}
            {job.video_url.map(|src| view! {
                <video src=src controls loop muted autoplay playsinline width="256"></video>
            })}
            {job.download_url.map(|href| view! { " " <a href=href download>"Download"</a> })}
            {(job.kind == "generate").then(|| view! {
                " " <a href=format!("/generations/{id}") data-testid=format!("permalink-{id}")>"Details and settings"</a>
            })}
        </li>
    }
}

/// Width and height of a loss chart (SVG user units).
const CHART: (f64, f64) = (240.0, 60.0);

/// A training job's losses: one polyline per loop (log₁₀ scale, loops side by side in step
/// order), each loop's last loss, and the ETA of a running job.
#[component]
fn LossChart(curve: TrainCurve, running: bool) -> impl IntoView {
    let lines = chart_lines(&curve);
    let legend = curve
        .loops
        .iter()
        .filter_map(|l| {
            let resumed = (l.resumed_at > 0).then(|| format!(", resumed at {}", l.resumed_at));
            l.points.last().map(|p| {
                format!(
                    "{} {}/{}: {:.4}{}",
                    l.name,
                    p.0,
                    l.total,
                    p.1,
                    resumed.unwrap_or_default()
                )
            })
        })
        .collect::<Vec<_>>()
        .join(" · ");
    let eta = curve
        .eta_seconds
        .filter(|_| running)
        .map(|s| format!("ETA {}", duration_text(s)));
    view! {
        <div class="loss-chart" data-testid="loss-curve">
            <svg viewBox=format!("0 0 {} {}", CHART.0, CHART.1) width=CHART.0 height=CHART.1 role="img"
                aria-label=format!("loss per step (log scale): {legend}")>
                {lines
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, points))| view! {
                        <polyline class=format!("loop loop-{i}") points=points><title>{name}</title></polyline>
                    })
                    .collect_view()}
            </svg>
            <span class="muted">" loss (log): " {legend}</span>
            {eta.map(|e| view! { <span class="eta">" · " {e}</span> })}
        </div>
    }
}

/// The polylines of `c`: (loop name, SVG `points`); x is the step counted over all loops, y
/// log₁₀ loss from the lowest (bottom) to the highest (top).
pub fn chart_lines(c: &TrainCurve) -> Vec<(String, String)> {
    let (w, h) = CHART;
    let ys: Vec<f64> = c
        .loops
        .iter()
        .flat_map(|l| l.points.iter().map(|&(_, l)| l.max(1e-12).log10()))
        .collect();
    let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let steps: usize = c
        .loops
        .iter()
        .filter_map(|l| l.points.last())
        .map(|p| p.0)
        .sum();
    let mut offset = 0;
    c.loops
        .iter()
        .map(|l| {
            let points = l
                .points
                .iter()
                .map(|&(step, loss)| {
                    let x = w * (offset + step) as f64 / steps.max(1) as f64;
                    let y = if hi > lo {
                        h - 2.0 - (h - 4.0) * (loss.max(1e-12).log10() - lo) / (hi - lo)
                    } else {
                        h / 2.0
                    };
                    format!("{x:.1},{y:.1}")
                })
                .collect::<Vec<_>>()
                .join(" ");
            offset += l.points.last().map_or(0, |p| p.0);
            (l.name.clone(), points)
        })
        .collect()
}

/// "45 s", "12 min", "2 h 05 min".
pub fn duration_text(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s.div_ceil(60)),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::LoopCurve;

    fn lc(name: &str, points: Vec<(usize, f64)>) -> LoopCurve {
        LoopCurve {
            name: name.into(),
            total: 2,
            resumed_at: 0,
            points,
        }
    }

    #[test]
    fn loss_chart_lines_span_the_loops_on_a_log_scale() {
        let c = TrainCurve {
            loops: vec![
                lc("vae", vec![(1, 1.0), (2, 0.1)]),
                lc("unet", vec![(1, 0.01), (2, 0.01)]),
            ],
            eta_seconds: None,
        };
        let l = chart_lines(&c);
        assert_eq!(l[0], ("vae".to_owned(), "60.0,2.0 120.0,30.0".to_owned()));
        assert_eq!(
            l[1],
            ("unet".to_owned(), "180.0,58.0 240.0,58.0".to_owned())
        );
        let flat = TrainCurve {
            loops: vec![lc("motion", vec![(4, 0.5)])],
            eta_seconds: None,
        };
        assert_eq!(chart_lines(&flat)[0].1, "240.0,30.0");
        assert_eq!(duration_text(44.6), "45 s");
        assert_eq!(duration_text(61.0), "2 min");
        assert_eq!(duration_text(7500.0), "2 h 05 min");
    }
}
