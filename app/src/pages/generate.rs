use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::jobs::{generate_models, SubmitGeneration},
    components::{
        csrf::CsrfField,
        job_list::{first_jobs, queued_message, JobList},
        require_role::RequireRole,
    },
    pages::login::clean_error,
    types::{
        GenerateDefaults, JobView, ModelOption, Role, ADAPTERS, BUILTIN_MODEL, CHOICE_ERRORS,
        FORMATS,
    },
};

#[component]
pub fn GeneratePage() -> impl IntoView {
    view! {
        <Title text="Generate — MagicTime"/>
        <h1>"Generate"</h1>
        <p class="lead">"Text to metamorphic time-lapse video. Jobs run on the server one at a time; the video appears below when done."</p>
        <RequireRole role=Role::Researcher>
            <Generate/>
        </RequireRole>
    }
}

/// The models and the first job list load on the server. `?model=<id>` picks the model (its
/// own settings fill the form), so a link can name it. The form and the list are an island;
/// the model's fields render here, on the server, and join the form through their `form`
/// attribute (island children would cost the WASM bundle 2.8 KiB).
#[component]
fn Generate() -> impl IntoView {
    let asked = use_query_map().read_untracked().get("model");
    let models = Resource::new(|| (), |_| generate_models());
    let jobs = Resource::new(|| (), |_| first_jobs(Some("generate".into())));
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                let models = models.get()?;
                let jobs = jobs.get()?;
                let list = match models {
                    Ok(list) => list,
                    Err(e) => return Some(view! { <p class="error">{clean_error(&e.to_string())}</p> }.into_any()),
                };
                let found = asked.as_deref().and_then(|a| list.iter().find(|m| m.id == a));
                let unknown = asked.clone().filter(|_| found.is_none()).map(|a| view! {
                    <p class="error">"Model " {format!("{a:?}")} " is not offered here; the default model is chosen."</p>
                });
                let chosen = found.or(list.first())?.clone();
                let defaults = chosen.defaults.clone();
                Some(view! {
                    <ModelPicker list chosen=chosen.id.clone()/>
                    {unknown}
                    <ModelFields model=chosen/>
                    <GenerateForm jobs defaults/>
                }.into_any())
            }}
        </Transition>
    }
}

/// The model in use, and links to the others (page loads with `?model=`).
#[component]
fn ModelPicker(list: Vec<ModelOption>, chosen: String) -> impl IntoView {
    let label = list
        .iter()
        .find(|m| m.id == chosen)
        .map(|m| m.label.clone())
        .unwrap_or_default();
    let links = (list.len() > 1).then(|| {
        view! {
            <nav class="model-picker" aria-label="Models">
                {list
                    .into_iter()
                    .map(|m| {
                        let current = (m.id == chosen).then_some("page");
                        let name = if m.id == BUILTIN_MODEL { "Built-in model" } else { "Official MagicTime release" };
                        view! { <a href=format!("/generate?model={}", m.id) aria-current=current>{name}</a> }
                    })
                    .collect_view()}
            </nav>
        }
    });
    view! {
        {links}
        <p class="muted" data-testid="model">"Model: " {label}</p>
    }
}

/// The id of the generation form, which the model's fields name in their `form` attribute.
const FORM: &str = "generate-form";

/// The chosen model's fields of the generation form: its id, a DreamBooth file (when it offers
/// some), its adapters (all on), and the output format.
#[component]
fn ModelFields(model: ModelOption) -> impl IntoView {
    let dreambooth = (!model.dreambooth.is_empty()).then(|| {
        view! {
            <label for="dreambooth">"DreamBooth model (over the base model)"</label>
            <select id="dreambooth" name="dreambooth" form=FORM>
                <option value="">"none"</option>
                {model.dreambooth.into_iter().map(|d| view! { <option value=d.clone()>{d.clone()}</option> }).collect_view()}
            </select>
        }
    });
    let has = |id: &str| model.adapters.iter().any(|a| a == id);
    let adapters: Vec<_> = ADAPTERS.iter().filter(|(id, _)| has(id)).collect();
    let adapters = (!adapters.is_empty()).then(|| {
        view! {
            <fieldset class="adapters">
                <legend>"Adapters"</legend>
                {adapters
                    .into_iter()
                    .map(|(id, name)| view! {
                        <label class="check"><input type="checkbox" name=format!("adapter_{id}") form=FORM checked/>" " {*name}</label>
                    })
                    .collect_view()}
            </fieldset>
        }
    });
    view! {
        <div class="form wide model-fields">
        <input type="hidden" name="model" value=model.id form=FORM/>
        {dreambooth}
        {adapters}
        <label for="format">"Output"</label>
        <select id="format" name="format" form=FORM>
            {FORMATS
                .iter()
                .map(|(ext, name)| {
                    let text = if *ext == "mp4" { (*name).to_owned() } else { format!("MP4 and {name}") };
                    view! { <option value=*ext>{text}</option> }
                })
                .collect_view()}
        </select>
        </div>
    }
}

#[island]
fn GenerateForm(jobs: Result<Vec<JobView>, String>, defaults: GenerateDefaults) -> impl IntoView {
    let submit = ServerAction::<SubmitGeneration>::new();
    let refresh = Signal::derive(move || submit.version().get());
    // a refusal of the model's fields shows beside them (just above), the rest under the button
    let message = move || queued_message(submit.value().get());
    let about_choice = |m: &String| CHOICE_ERRORS.iter().any(|p| m.starts_with(p));
    view! {
        <p class="error" data-testid="choice-error">{move || message().filter(about_choice)}</p>
        <ActionForm action=submit attr:id=FORM attr:class="form wide">
            <CsrfField/>
            <label for="prompt">"Prompt"</label>
            <textarea id="prompt" name="prompt" rows="2" maxlength="1000" required>
                "a red flower blooming, time-lapse"
            </textarea>
            <label for="negative">"Negative prompt"</label>
            <input id="negative" name="negative" value="worst quality, low quality, letterboxed"/>
            <div class="grid4">
                <div><label for="seed">"Seed"</label><input id="seed" name="seed" type="number" min="0" value="42"/></div>
                <div><label for="steps">"Steps"</label><input id="steps" name="steps" type="number" min="1" max="100" value=defaults.steps/></div>
                <div><label for="cfg">"Guidance"</label><input id="cfg" name="cfg" type="number" min="0" max="30" step="0.5" value=defaults.cfg/></div>
                <div><label for="frames">"Frames"</label><input id="frames" name="frames" type="number" min="1" max="512" value=defaults.frames/></div>
                <div><label for="size">"Size (px)"</label><input id="size" name="size" type="number" min="16" max="512" step="16" value=defaults.size/></div>
            </div>
            <button type="submit">"Generate"</button>
            <p class="status" role="status">{move || message().filter(|m| !about_choice(m))}</p>
        </ActionForm>
        <h2>"Gallery and queue"</h2>
        <JobList kind=Some("generate".to_owned()) initial=jobs refresh/>
    }
}
