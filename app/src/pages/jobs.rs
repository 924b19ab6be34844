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
            <p class="muted">"MagicTime's recipe on freshly rendered clips, as stages: a, the base text-to-image model (VAE, then text encoder and spatial UNet); b, the motion modules on general clips; c, Magic Adapter S on keyframes of metamorphic clips; d, Magic Adapter T and the Magic Text-Encoder on metamorphic videos. Stages b–d train on top of a finished training job's weights (start from its job id, same preset). UNet steps count for stage a's UNet and stage b; c and d take half as many. The time budget is split over the selected stages (VAE 3, UNet 6, b, c, d 2 parts each). A job checkpoints as it goes and resumes after a server restart. The weights folder lands in models/<job id>/ of the data dir (serve it with --model)."</p>
            <ActionForm action=train attr:class="form wide" attr:data-testid="train-form">
                <CsrfField/>
                <div class="grid4">
                    <div><label for="train_stage">"Stage"</label>
                        <select id="train_stage" name="stage">
                            <option value="all" selected>"all (a, b, c, d)"</option>
                            <option value="a">"a: base (VAE, text encoder, UNet)"</option>
                            <option value="b">"b: motion modules"</option>
                            <option value="c">"c: Magic Adapter S"</option>
                            <option value="d">"d: Magic Adapter T + Text-Encoder"</option>
                        </select></div>
                    <div><label for="train_preset">"Preset"</label>
                        <select id="train_preset" name="preset">
                            <option value="s32" selected>"s32: 32², 8 frames"</option>
                            <option value="s64">"s64: 64², 16 frames"</option>
                        </select></div>
                    <div><label for="start_from">"Start from job (stages b–d)"</label><input id="start_from" name="start_from" inputmode="numeric" placeholder="job id" title="a finished training job whose weights folder the stage trains on (ignored by stages all and a)"/></div>
                    <div><label for="text_encoder">"Text encoder (stage a)"</label>
                        <select id="text_encoder" name="text_encoder" title="in-domain: the in-domain CLIP's text tower, frozen (as Stable Diffusion keeps its CLIP); scratch: a small one trained with the UNet">
                            <option value="in-domain" selected>"in-domain CLIP, frozen"</option>
                            <option value="scratch">"trained from scratch"</option>
                        </select></div>
                    <div><label for="clips">"Clips"</label><input id="clips" name="clips" type="number" min="4" max="10000" value="512"/></div>
                    <div><label for="vae_steps">"VAE steps"</label><input id="vae_steps" name="vae_steps" type="number" min="1" max="100000" value="1500"/></div>
                    <div><label for="unet_steps">"UNet steps"</label><input id="unet_steps" name="unet_steps" type="number" min="1" max="100000" value="3000"/></div>
                    <div><label for="max_minutes">"Time budget (min)"</label><input id="max_minutes" name="max_minutes" type="number" min="0.1" max="1440" step="0.1" value="60"/></div>
                    <div><label for="train_seed">"Seed"</label><input id="train_seed" name="seed" type="number" min="0" value="0"/></div>
                </div>
                <button type="submit">"Train"</button>
                <p class="status" role="status">{move || queued_message(train.value().get())}</p>
            </ActionForm>
        </details>
        <JobList kind=None initial refresh/>
    }
}
