//! A project: start annotating, progress per annotator, agreement, the review queue, exports.
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use super::{csrf, fmt_opt, go};
use crate::api::annotate::{annot_dashboard, annot_next, annot_queue, Dashboard};

#[component]
pub fn ProjectPage() -> impl IntoView {
    let params = use_params_map();
    let pid = move || {
        params
            .read()
            .get("pid")
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let dash = Resource::new(pid, annot_dashboard);
    view! {
        <Title text="Annotation project — MagicTime"/>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || dash.get().map(|r| match r {
                Ok(d) => view! { <ProjectView d/> }.into_any(),
                Err(e) => view! {
                    <h1>"Annotation project"</h1>
                    <p class="error" role="alert">{e.to_string()}</p>
                }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn ProjectView(d: Dashboard) -> impl IntoView {
    let p = d.project.clone();
    let pid = p.id;
    let a = d.agreement.clone();
    view! {
        <h1>{p.name.clone()}</h1>
        <p class="lead">{p.items} " items · " {p.overlap} " annotator(s) per item · manifest "
            <code>{p.manifest.clone()}</code></p>
        <ul class="annot-counts" data-testid="counts">
            <li>"open " <b>{p.open}</b></li>
            <li>"in review " <b>{p.review}</b></li>
            <li>"flagged " <b>{p.flagged}</b></li>
            <li>"accepted " <b>{p.accepted}</b></li>
            <li>"rejected " <b>{p.rejected}</b></li>
        </ul>
        {p.is_annotator.then(|| view! { <Start pid/> })}
        <h2>"Annotators"</h2>
        <table class="annot-stats">
            <thead><tr>
                <th scope="col">"Annotator"</th><th scope="col">"Submitted"</th>
                <th scope="col">"Skipped"</th><th scope="col">"Time per item"</th>
                <th scope="col">"Accepted / decided"</th><th scope="col">"Acceptance rate"</th>
            </tr></thead>
            <tbody>
                {d.annotators.into_iter().map(|s| view! {
                    <tr>
                        <td>{s.user}</td><td>{s.submitted}</td><td>{s.skipped}</td>
                        <td>{fmt_opt(s.mean_seconds, 1, " s")}</td>
                        <td>{s.accepted} " / " {s.decided}</td>
                        <td>{fmt_opt(s.acceptance_rate.map(|r| r * 100.0), 0, " %")}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        <h2>"Agreement"</h2>
        <p>{a.units} " items with two or more captions · mean token edit distance "
           {fmt_opt(a.mean_edit_distance, 3, "")} " · mean BLEU " {fmt_opt(a.mean_bleu, 3, "")}
           " · Krippendorff's α on flags " {fmt_opt(a.any_flag_alpha, 3, "")}</p>
        <p class="muted">"Per flag: "
            {a.flag_alpha.into_iter().map(|(k, v)| format!("{k} {}", fmt_opt(v, 3, ""))).collect::<Vec<_>>().join(" · ")}
        </p>
        <h2>"Members"</h2>
        <p>{d.members.into_iter().map(|(e, r)| format!("{e} ({r})")).collect::<Vec<_>>().join(", ")}</p>
        {p.is_reviewer.then(|| view! { <Queue pid/> <Exports pid/> })}
    }
    .into_any()
}

/// "Start annotating": takes the next item for this user and opens it.
#[island]
fn Start(pid: i64) -> impl IntoView {
    let (status, set_status) = signal(String::new());
    let start = move |_| {
        leptos::task::spawn_local(async move {
            match annot_next(csrf(), pid, None).await {
                Ok(Some(id)) => go(&format!("/annotate/item/{id}")),
                Ok(None) => set_status.set("Nothing left for you in this project.".into()),
                Err(e) => set_status.set(e.to_string()),
            }
        });
    };
    view! {
        <p>
            <button class="primary" autofocus on:click=start>"Start annotating"</button>
            " " <span role="status" class="status">{status}</span>
        </p>
    }
}

#[component]
fn Queue(pid: i64) -> impl IntoView {
    let queue = Resource::new(move || pid, |pid| annot_queue(pid, None));
    view! {
        <h2>"Review queue"</h2>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || queue.get().map(|r| match r {
                Ok(list) if list.is_empty() => view! { <p>"Nothing to review."</p> }.into_any(),
                Ok(list) => view! {
                    <ul class="annot-queue">
                        {list.into_iter().map(|e| view! {
                            <li>
                                <A href=format!("/annotate/review/{}", e.id)>{format!("#{} {}", e.seq, e.videoid)}</A>
                                " " <span class=format!("badge {}", e.status)>{e.status.clone()}</span>
                                " " {e.submissions} " caption(s)"
                                {(!e.flags.is_empty()).then(|| format!(" · flags: {}", e.flags.join(", ")))}
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any(),
                Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
            })}
        </Transition>
    }
    .into_any()
}

#[component]
fn Exports(pid: i64) -> impl IntoView {
    let link = |file: &'static str, label: &'static str| {
        view! { <li><a href=format!("/annotate/export/{pid}/{file}") rel="external" download>{label}</a></li> }
    };
    view! {
        <h2>"Export"</h2>
        <ul>
            {link("chronomagic.csv", "ChronoMagic CSV of accepted captions")}
            {link("manifest.jsonl", "Training manifest (JSONL, accepted captions)")}
            {link("files.txt", "File list of accepted clips")}
            {link("versions.jsonl", "Every version with provenance (JSONL)")}
        </ul>
    }
    .into_any()
}
