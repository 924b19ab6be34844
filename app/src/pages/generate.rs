use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::jobs::{generate_defaults, model_info, SubmitGeneration},
    components::{
        csrf::CsrfField,
        job_list::{first_jobs, queued_message, JobList},
        require_role::RequireRole,
    },
    types::{GenerateDefaults, JobView, Role},
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

/// The model's name and the first job list load on the server; the form and the list are an
/// island.
#[component]
fn Generate() -> impl IntoView {
    let info = Resource::new(|| (), |_| model_info());
    let jobs = Resource::new(|| (), |_| first_jobs(Some("generate".into())));
    let defaults = Resource::new(|| (), |_| generate_defaults());
    view! {
        <p class="muted">
            "Model: "
            <Transition fallback=|| "…">{move || info.get().map(|r| r.unwrap_or_default())}</Transition>
        </p>
        <Transition fallback=|| view! { <p>"Loading jobs…"</p> }>
            {move || {
                let d = defaults.get()?;
                let jobs = jobs.get()?;
                Some(match d {
                    Ok(defaults) => view! { <GenerateForm jobs defaults/> }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                })
            }}
        </Transition>
    }
}

#[island]
fn GenerateForm(jobs: Result<Vec<JobView>, String>, defaults: GenerateDefaults) -> impl IntoView {
    let submit = ServerAction::<SubmitGeneration>::new();
    let refresh = Signal::derive(move || submit.version().get());
    view! {
        <ActionForm action=submit attr:class="form wide">
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
                <div><label for="frames">"Frames"</label><input id="frames" name="frames" type="number" min="1" max="32" value=defaults.frames/></div>
                <div><label for="size">"Size (px)"</label><input id="size" name="size" type="number" min="16" max="512" step="16" value=defaults.size/></div>
            </div>
            <button type="submit">"Generate"</button>
            <p class="status" role="status">{move || queued_message(submit.value().get())}</p>
        </ActionForm>
        <h2>"Gallery and queue"</h2>
        <JobList kind=Some("generate".to_owned()) initial=jobs refresh/>
    }
}
