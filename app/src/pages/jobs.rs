use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::training::QueueTrain,
    components::{
        csrf::CsrfField,
        job_list::{first_jobs, JobList},
        require_role::RequireRole,
    },
    pages::login::clean_error,
    types::{JobView, Role},
};

#[component]
pub fn JobsPage() -> impl IntoView {
    view! {
        <Title text="Jobs — MagicTime"/>
        <h1>"Jobs"</h1>
        <p class="lead">"Background jobs with their progress, newest first: generation (Generate page), ingest (Datasets page), evaluation and training."</p>
        <RequireRole role=Role::Researcher>
            <Jobs/>
        </RequireRole>
    }
}

#[component]
fn Jobs() -> impl IntoView {
    let jobs = Resource::new(|| (), |_| first_jobs(None));
    view! {
        <Transition fallback=|| view! { <p>"Loading jobs…"</p> }>
            {move || jobs.get().map(|initial| view! { <JobsPanel initial/> })}
        </Transition>
    }
}

/// The training form and the list of all jobs, refreshed after a submit.
#[island]
fn JobsPanel(initial: Result<Vec<JobView>, String>) -> impl IntoView {
    let train = ServerAction::<QueueTrain>::new();
    let message = move || match train.value().get() {
        Some(Ok(id)) => Some(format!("Queued job #{id}")),
        Some(Err(e)) => Some(clean_error(&e.to_string())),
        None => None,
    };
    let refresh = Signal::derive(move || train.version().get());
    view! {
        <details>
            <summary>"Train a model on ChronoMagic-Synth"</summary>
            <p class="muted">"The built-in model's trainer (VAE, then text encoder and UNet with motion modules) on freshly rendered clips; the weights folder lands in models/<job id>/ of the data dir (serve it with --model)."</p>
            <ActionForm action=train attr:class="form wide" attr:data-testid="train-form">
                <CsrfField/>
                <div class="grid4">
                    <div><label for="clips">"Clips"</label><input id="clips" name="clips" type="number" min="4" max="10000" value="512"/></div>
                    <div><label for="vae_steps">"VAE steps"</label><input id="vae_steps" name="vae_steps" type="number" min="1" max="100000" value="1500"/></div>
                    <div><label for="unet_steps">"UNet steps"</label><input id="unet_steps" name="unet_steps" type="number" min="1" max="100000" value="3000"/></div>
                    <div><label for="max_minutes">"Time budget (min)"</label><input id="max_minutes" name="max_minutes" type="number" min="0.1" max="1440" step="0.1" value="60"/></div>
                </div>
                <label for="train_seed">"Seed"</label>
                <input id="train_seed" name="seed" type="number" min="0" value="0"/>
                <button type="submit">"Train"</button>
                <p class="status" role="status">{message}</p>
            </ActionForm>
        </details>
        <JobList kind=None initial refresh/>
    }
}
