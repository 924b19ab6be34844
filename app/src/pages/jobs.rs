use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::{jobs::QueueEval, training::QueueTrain},
    components::{
        csrf::CsrfField,
        job_list::{first_jobs, queued_message, JobList},
        require_role::RequireRole,
    },
    types::{JobView, Role},
};

#[component]
pub fn JobsPage() -> impl IntoView {
    view! {
        <Title text="Jobs — MagicTime"/>
        <h1>"Jobs"</h1>
        <p class="lead">"Background jobs with their progress, newest first: generation (Generate page), ingest (Datasets page), evaluation and training (below)."</p>
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

/// The evaluation and training forms and the list of all jobs, refreshed after a submit.
#[island]
fn JobsPanel(initial: Result<Vec<JobView>, String>) -> impl IntoView {
    let train = ServerAction::<QueueTrain>::new();
    let eval = ServerAction::<QueueEval>::new();
    let refresh = Signal::derive(move || train.version().get() + eval.version().get());
    view! {
        <details>
            <summary>"Evaluate videos"</summary>
            <p class="muted">"FVD (I3D), FID and KID compare a generated set with a real one; CLIPSIM and the metamorphic score (mt) need prompts (a ChronoMagic CSV as the generated set) and a CLIP model on the server. Paths are relative to the server's data dir; the report lands in eval/<job id>/."</p>
            <ActionForm action=eval attr:class="form wide" attr:data-testid="eval-form">
                <CsrfField/>
                <label for="real">"Real videos (folder or manifest)"</label>
                <input id="real" name="real" placeholder="datasets/1"/>
                <label for="fake">"Generated videos (folder or manifest)"</label>
                <input id="fake" name="fake" placeholder="generated" required/>
                <div class="grid4">
                    <div><label for="metrics">"Metrics"</label><input id="metrics" name="metrics" value="fvd,fid,kid" title="comma-separated: fvd, fid, kid, clipsim, mt, probe (clipsim, mt and probe use the server CLIP: the in-domain CLIP trained on ChronoMagic-Synth unless serve --clip names another)"/></div>
                    <div><label for="n">"Videos per set"</label><input id="n" name="n" type="number" min="2" max="10000" value="16"/></div>
                </div>
                <button type="submit">"Evaluate"</button>
                <p class="status" role="status">{move || queued_message(eval.value().get())}</p>
            </ActionForm>
        </details>
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
                <p class="status" role="status">{move || queued_message(train.value().get())}</p>
            </ActionForm>
        </details>
        <JobList kind=None initial refresh/>
    }
}
