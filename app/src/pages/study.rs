//! The researcher's page of one study, `/studies/{id}`: lifecycle, the participant link,
//! results (dashboard, automatic metrics, demographics, per-criterion tables and plots),
//! stimuli (folder/manifest import, upload, generated videos) and the design form. Rendered on
//! the server; the forms post to the study's endpoints (`/studies/{id}/…`, which redirect back);
//! only the upload (a file body per video) is an island.
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::{
    api::studies::{get_study_page, Cells, DesignFields, MetricsBlock, StudyPageView},
    components::csrf::CsrfField,
    error::AppError,
};

#[component]
pub fn StudyPage() -> impl IntoView {
    let id = use_params_map()
        .read_untracked()
        .get("id")
        .and_then(|s| s.parse::<i64>().ok());
    // not a study number: 404 like a study that is not there
    #[cfg(feature = "ssr")]
    if id.is_none() {
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            res.set_status(axum::http::StatusCode::NOT_FOUND);
        }
    }
    let page = Resource::new(
        move || id,
        |id| async move {
            match id {
                // SsrMode::Async: the error's status is the page's
                Some(id) => get_study_page(id).await.inspect_err(|_e| {
                    #[cfg(feature = "ssr")]
                    _e.set_response_status();
                }),
                None => Err(AppError::NotFound("no such study".into())),
            }
        },
    );
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || page.get().map(|r| match r {
                Ok(p) => view! { <Study p/> }.into_any(),
                Err(e) if e.is_login_required() => view! {
                    <Title text="Study — MagicTime"/>
                    <h1>"Study"</h1>
                    <p class="notice">"This page needs the researcher role. " <a href="/login">"Log in"</a></p>
                }.into_any(),
                Err(e) => view! {
                    <Title text="Study — MagicTime"/>
                    <h1>"Study"</h1>
                    <p class="error" role="alert">{e.to_string()}</p>
                }.into_any(),
            })}
        </Transition>
    }
}

/// The lifecycle moves offered from a status: (target, button label).
fn moves(status: &str) -> Vec<(&'static str, &'static str)> {
    [
        ("pilot", "Start pilot"),
        ("draft", "Back to draft"),
        ("live", "Go live"),
        ("closed", "Close study"),
    ]
    .into_iter()
    .filter(|(to, _)| {
        matches!(
            (status, *to),
            ("draft", "pilot")
                | ("draft", "live")
                | ("pilot", "draft")
                | ("pilot", "live")
                | ("live", "closed")
        )
    })
    .collect()
}

fn rows(rows: Vec<Cells>) -> impl IntoView {
    rows.into_iter()
        .map(|r| view! { <tr>{r.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}</tr> })
        .collect_view()
}

#[component]
fn Study(p: StudyPageView) -> impl IntoView {
    let id = p.id;
    let frozen = matches!(p.status.as_str(), "live" | "closed");
    let link = format!("/s/{}", p.slug);
    let n_stimuli = p.stimuli.len();
    view! {
        <Title text=format!("{} — MagicTime", p.title)/>
        <p><a href="/studies">"← Studies"</a></p>
        <h1>{p.title.clone()}</h1>
        <p>
            "Status: " <strong data-testid="status">{p.status.clone()}</strong>
            " · Participant link: " <a data-testid="link" href=link.clone()>{link.clone()}</a>
            " (append " <code>"?PROLIFIC_PID=…&STUDY_ID=…&SESSION_ID=…"</code> " for Prolific)"
        </p>
        <div class="row">
            {moves(&p.status).into_iter().map(|(to, label)| view! {
                <form method="post" action=format!("/studies/{id}/status")>
                    <CsrfField/>
                    <input type="hidden" name="to" value=to/>
                    <button type="submit">{label}</button>
                </form>
            }).collect_view()}
        </div>

        <h2>"Results"</h2>
        <p data-testid="dashboard">{p.dashboard.clone()}</p>
        <p>
            <a href=format!("/studies/{id}/export.csv") download>"Download trials (CSV)"</a> " · "
            <a href=format!("/studies/{id}/export.jsonl") download>"JSONL"</a> " · "
            <a href=format!("/studies/{id}/design.json") download>"Design (JSON)"</a> " · "
            <a href=format!("/studies/{id}/results.json") download>"Analysis (JSON)"</a>
        </p>
        <AutoMetrics id m=p.metrics.clone()/>
        {p.demographics.clone().map(|tables| view! {
            <section class="demographics" data-testid="demographics">
                <h3>"Demographics"</h3>
                <p>"Non-pilot participants who answered the block. "
                   <a href=format!("/studies/{id}/demographics.csv") download>"Download (CSV)"</a></p>
                {tables.into_iter().map(|q| view! {
                    <table>
                        <caption>{q.text}</caption>
                        <thead><tr><th>"Answer"</th><th>"Participants"</th></tr></thead>
                        <tbody>
                            {q.counts.into_iter().map(|(c, n)| view! {
                                <tr><td>{c}</td><td>{n}</td></tr>
                            }).collect_view()}
                            <tr><td><em>"no answer"</em></td><td>{q.no_answer}</td></tr>
                        </tbody>
                    </table>
                }).collect_view()}
            </section>
        })}
        {p.criteria.clone().into_iter().map(|c| view! {
            <section class="criterion">
                <h3>{c.criterion}</h3>
                <p>{c.summary}</p>
                <table>
                    <thead><tr>
                        <th>"Condition"</th><th>"Win rate"</th><th>"Wilson 95 %"</th>
                        <th>"Bradley–Terry"</th><th>"Bootstrap 95 %"</th>
                        <th title="automatic, see above">"CLIPSIM ×100"</th>
                        <th title="automatic, see above">"Metamorphic score"</th>
                    </tr></thead>
                    <tbody>{rows(c.conditions)}</tbody>
                </table>
                {(!c.pairs.is_empty()).then(|| view! {
                    <table>
                        <thead><tr>
                            <th>"Pair"</th><th>"Wins"</th><th>"Ties"</th>
                            <th>"p (sign test)"</th><th>"p (Holm)"</th>
                        </tr></thead>
                        <tbody>{rows(c.pairs.clone())}</tbody>
                    </table>
                })}
                // SVG drawn on the server by `plotters` (text escaped there)
                <div class="plot" inner_html=c.bars_svg></div>
                <div class="plot" inner_html=c.matrix_svg></div>
            </section>
        }).collect_view()}

        <h2>{format!("Stimuli ({n_stimuli})")}</h2>
        {(!frozen).then(|| view! {
            <form method="post" action=format!("/studies/{id}/import") class="form">
                <CsrfField/>
                <label for="import-path">
                    "Import from a server folder (" <code>"<condition>/<prompt>.mp4"</code>
                    ") or manifest (JSONL / CSV: path, condition, prompt, degraded)"
                </label>
                <input id="import-path" name="path" required/>
                <button type="submit">"Import and normalise"</button>
            </form>
            <UploadForm study=id/>
            <Generated id generated=p.generated.clone()/>
        })}
        <table>
            <thead><tr>
                <th>"Prompt"</th><th>"Condition"</th><th>"Role"</th><th>"Frames"</th><th>"Format"</th>
            </tr></thead>
            <tbody>{rows(p.stimuli.clone())}</tbody>
        </table>

        <h2>"Design"</h2>
        {frozen.then(|| view! { <p class="note">"The study is live: its design is frozen."</p> })}
        <DesignForm id frozen d=p.design.clone()/>
        <p>"Completion code: " <code>{p.design.completion_code.clone()}</code>
           {format!(" · seed {}", p.design.seed)}</p>
    }
}

/// CLIPSIM and the metamorphic score of the stimuli per condition, and the button that
/// (re)computes them in the background.
#[component]
fn AutoMetrics(id: i64, m: MetricsBlock) -> impl IntoView {
    let button = move |label: &'static str| {
        view! {
            <form method="post" action=format!("/studies/{id}/metrics") class="inline">
                <CsrfField/>
                <button type="submit">{label}</button>
            </form>
        }
    };
    let body = match m.status.as_str() {
        "not_available" => view! {
            <p>{format!(
                "Automatic metrics: not available — {}",
                m.error.as_deref().unwrap_or("no embedder")
            )}</p>
        }
        .into_any(),
        "not_computed" => view! {
            <p>"CLIPSIM and the metamorphic score of the stimuli have not been computed yet."</p>
            {button("Compute automatic metrics")}
        }
        .into_any(),
        status => {
            let name = m.embedder.clone().unwrap_or_else(|| "?".into());
            let random = name.contains("random");
            view! {
                {(status == "running").then(|| view! {
                    <p role="status">"Computing… (reload the page to see the values)"</p>
                })}
                {(status == "failed").then(|| view! {
                    <p role="alert">{format!(
                        "The last computation failed: {}",
                        m.error.clone().unwrap_or_default()
                    )}</p>
                })}
                {(!m.rows.is_empty()).then(|| view! {
                    <p>
                        "Computed from the study's normalised stimuli with "
                        <strong data-testid="embedder">{name.clone()}</strong>
                        {random.then_some(" — random weights: the values only show that the pipeline runs and say nothing about quality")}
                        {format!(
                            " on {}. These come from the CLIP this server is configured with, not from the large CLIP the paper's numbers use: compare conditions with each other, not with published values.",
                            m.computed_at.clone().unwrap_or_default()
                        )}
                        {m.stale.then(|| view! { " " <strong>"Out of date: the stimuli changed since."</strong> })}
                    </p>
                    <table>
                        <thead><tr>
                            <th>"Condition"</th><th>"Videos"</th><th>"CLIPSIM (×100)"</th><th>"Metamorphic score"</th>
                        </tr></thead>
                        <tbody>{rows(m.rows.clone())}</tbody>
                    </table>
                })}
                {(status != "running").then(|| button("Recompute automatic metrics"))}
            }
            .into_any()
        }
    };
    view! {
        <section class="auto-metrics" data-testid="auto-metrics">
            <h3>"Automatic metrics"</h3>
            {body}
        </section>
    }
}

/// The finished generations (the 100 newest) that can be added as stimuli.
#[component]
fn Generated(id: i64, generated: Vec<(i64, String)>) -> impl IntoView {
    if generated.is_empty() {
        return view! {
            <p class="hint">
                "No generated videos yet: videos made on the " <a href="/generate">"Generate"</a>
                " page can be added here."
            </p>
        }
        .into_any();
    }
    view! {
        <form method="post" action=format!("/studies/{id}/import_generated") class="form">
            <CsrfField/>
            <label for="gen-job">"Add a generated video (its prompt comes with it)"</label>
            <select id="gen-job" name="job">
                {generated.into_iter().map(|(job, prompt)| view! {
                    <option value=job>{format!("#{job} — {prompt}")}</option>
                }).collect_view()}
            </select>
            <label for="gen-cond">"Condition (empty: the description of the job's model and adapters)"</label>
            <input id="gen-cond" name="condition"/>
            <button type="submit">"Add and normalise"</button>
        </form>
    }
    .into_any()
}

#[component]
fn DesignForm(id: i64, frozen: bool, d: DesignFields) -> impl IntoView {
    let kind = d.kind.clone();
    let option = move |value: &'static str, label: &'static str| {
        view! { <option value=value selected=kind == value>{label}</option> }
    };
    view! {
        <form method="post" action=format!("/studies/{id}/design") class="form design">
            <fieldset disabled=frozen>
                <CsrfField/>
                <input type="hidden" name="flags" value="1"/>
                <label for="kind">"Design"</label>
                <select id="kind" name="kind">
                    {option("pairwise", "Pairwise (2AFC)")}
                    {option("best_of_k", "Best of k")}
                    {option("rating", "Rating 1–5")}
                </select>
                <label for="k">"k (videos per trial, best-of-k)"</label>
                <input id="k" name="k" type="number" min="2" max="6" value=d.k/>
                <label><input type="checkbox" name="allow_tie" checked=d.allow_tie/>" Allow “no difference”"</label>
                <label for="criteria">"Criteria (one per line: " <code>"name | question"</code> ")"</label>
                <textarea id="criteria" name="criteria" rows="5">{d.criteria.clone()}</textarea>
                <label for="tpp">"Trials per participant"</label>
                <input id="tpp" name="trials_per_participant" type="number" min="1" value=d.trials_per_participant/>
                <label><input type="checkbox" name="practice_trial" checked=d.practice_trial/>" Practice trial"</label>
                <label for="att">"Attention checks"</label>
                <input id="att" name="attention_checks" type="number" min="0" max="10" value=d.attention_checks/>
                <label for="gold">"Gold trials"</label>
                <input id="gold" name="gold_trials" type="number" min="0" max="10" value=d.gold_trials/>
                <label><input type="checkbox" name="require_full_view" checked=d.require_full_view/>
                    " Each video must play to its end before answering"</label>
                <label for="mint">"Minimum time per trial (ms)"</label>
                <input id="mint" name="min_time_ms" type="number" min="0" value=d.min_time_ms/>
                <label for="maxf">"Exclude participants failing more than this many checks"</label>
                <input id="maxf" name="max_failed_checks" type="number" min="0" value=d.max_failed_checks/>
                <label for="consent">"Consent text"</label>
                <textarea id="consent" name="consent" rows="4">{d.consent.clone()}</textarea>
                <label for="instr">"Instructions"</label>
                <textarea id="instr" name="instructions" rows="4">{d.instructions.clone()}</textarea>
                <label><input type="checkbox" name="demographics_enabled" checked=d.demographics_enabled/>
                    " Ask demographic questions after consent"</label>
                <label for="demo">
                    "Demographic questions (one per line: " <code>"name | question | choice; choice; …"</code>
                    "; " <code>"name*"</code> " = required, otherwise optional)"
                </label>
                <textarea id="demo" name="demographics" rows="4">{d.demographics.clone()}</textarea>
                <label for="redir">"Redirect URL at the end (" <code>"{code}"</code> " = completion code)"</label>
                <input id="redir" name="redirect_url" value=d.redirect_url.clone()/>
                <label for="fps">"Normalised fps / width / height"</label>
                <div class="row">
                    <input id="fps" name="fps" value=d.fps.to_string()/>
                    <input name="width" aria-label="width" value=d.width/>
                    <input name="height" aria-label="height" value=d.height/>
                </div>
                <button type="submit">"Save design"</button>
            </fieldset>
        </form>
    }
}

/// The upload form: videos sent one by one (the body of each request is the file; the endpoint
/// streams it to disk under the owner's quota), then the page reloads; a refusal is shown in
/// place. The form renders here; [`Upload`] (an island that renders nothing, so no markup goes
/// into the WASM bundle) sends it.
#[component]
fn UploadForm(study: i64) -> impl IntoView {
    view! {
        <form id="upload" class="form" data-study=study>
            <label for="up-file">"Upload videos"</label>
            <input id="up-file" type="file" accept="video/*" multiple/>
            <label for="up-cond">"Condition"</label>
            <input id="up-cond" required/>
            <label for="up-prompt">"Prompt"</label>
            <input id="up-prompt" required/>
            <label><input id="up-deg" type="checkbox"/>" degraded copy (for gold trials)"</label>
            <button type="submit">"Upload"</button>
            <p id="up-status" role="status"></p>
        </form>
        <Upload/>
    }
}

/// Reads the study from the form (`data-study`): props would cost their deserializer in the
/// bundle.
#[island]
fn Upload() -> impl IntoView {
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        upload::attach();
    });
}

#[cfg(feature = "hydrate")]
mod upload {
    use leptos::{
        task::spawn_local,
        wasm_bindgen::{closure::Closure, JsCast},
        web_sys::{window, Event, HtmlInputElement},
    };

    use crate::components::fetch::post;

    fn input(id: &str) -> Option<HtmlInputElement> {
        window()?
            .document()?
            .get_element_by_id(id)?
            .dyn_into::<HtmlInputElement>()
            .ok()
    }

    fn status(text: &str) {
        if let Some(s) = window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("up-status"))
        {
            s.set_text_content(Some(text));
        }
    }

    pub fn attach() {
        let Some(form) = window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("upload"))
        else {
            return;
        };
        let Some(study) = form.get_attribute("data-study") else {
            return;
        };
        let f = Closure::<dyn FnMut(Event)>::new(move |e: Event| {
            e.prevent_default();
            let (Some(file), Some(cond), Some(prompt), Some(deg)) = (
                input("up-file"),
                input("up-cond"),
                input("up-prompt"),
                input("up-deg"),
            ) else {
                return;
            };
            let Some(files) = file.files() else { return };
            let (cond, prompt, deg) = (cond.value(), prompt.value(), deg.checked());
            let study = study.clone();
            spawn_local(async move {
                let q = crate::pages::generation::query_escape;
                for f in (0..files.length()).filter_map(|i| files.get(i)) {
                    let url = format!(
                        "/studies/{study}/upload?condition={}&prompt={}&degraded={deg}&name={}",
                        q(&cond),
                        q(&prompt),
                        q(&f.name()),
                    );
                    status(&format!("Uploading {}…", f.name()));
                    match post(&url, f.into(), false).await {
                        Ok(r) if r.ok() => {}
                        Ok(r) => return status(&r.error("the upload failed")),
                        Err(e) => return status(&e),
                    }
                }
                crate::components::fetch::reload();
            });
        })
        .into_js_value();
        let _ = form.add_event_listener_with_callback("submit", f.unchecked_ref());
    }
}
