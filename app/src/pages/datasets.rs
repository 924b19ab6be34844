use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::datasets::QueueIngest,
    components::{
        csrf::CsrfField,
        job_list::{first_jobs, queued_message, JobList},
        require_role::RequireRole,
    },
    types::{JobView, Role},
};

#[component]
pub fn DatasetsPage() -> impl IntoView {
    view! {
        <Title text="Datasets — MagicTime"/>
        <h1>"Datasets"</h1>
        <p class="lead">"Build ChronoMagic-style datasets on the server: render ChronoMagic-Synth clips, or detect cuts in a folder of videos and split them into clips. Each job writes its clips and manifests (CSV and JSONL) to datasets/<job id>/ in the server's data dir."</p>
        <RequireRole role=Role::Researcher>
            <Datasets/>
        </RequireRole>
    }
}

#[component]
fn Datasets() -> impl IntoView {
    let jobs = Resource::new(|| (), |_| first_jobs(Some("ingest".into())));
    view! {
        <Transition fallback=|| view! { <p>"Loading jobs…"</p> }>
            {move || jobs.get().map(|jobs| view! { <IngestForms jobs/> })}
        </Transition>
    }
}

/// Both ingest forms and the ingest jobs, refreshed after each submit.
#[island]
fn IngestForms(jobs: Result<Vec<JobView>, String>) -> impl IntoView {
    let synth = ServerAction::<QueueIngest>::new();
    let split = ServerAction::<QueueIngest>::new();
    let refresh = Signal::derive(move || synth.version().get() + split.version().get());
    view! {
        <h2>"ChronoMagic-Synth"</h2>
        <ActionForm action=synth attr:class="form wide" attr:data-testid="synth-form">
            <CsrfField/>
            <input type="hidden" name="source" value="synth"/>
            <div class="grid4">
                <div><label for="count">"Clips"</label><input id="count" name="count" type="number" min="1" max="10000" value="16"/></div>
                <div><label for="size">"Size (px)"</label><input id="size" name="size" type="number" min="32" max="256" step="2" value="64"/></div>
                <div><label for="frames">"Frames"</label><input id="frames" name="frames" type="number" min="8" max="32" value="16"/></div>
                <div><label for="seed">"Seed"</label><input id="seed" name="seed" type="number" min="0" value="0"/></div>
            </div>
            <label for="kind">"Kind"</label>
            <select id="kind" name="kind">
                <option value="both" selected>"metamorphic and general"</option>
                <option value="metamorphic">"metamorphic"</option>
                <option value="general">"general"</option>
            </select>
            <button type="submit">"Render dataset"</button>
            <p class="status" role="status">{move || queued_message(synth.value().get())}</p>
        </ActionForm>
        <h2>"Cut and split a folder"</h2>
        <ActionForm action=split attr:class="form wide" attr:data-testid="split-form">
            <CsrfField/>
            <input type="hidden" name="source" value="split"/>
            <label for="folder">"Folder (relative to the server's data dir)"</label>
            <input id="folder" name="folder" placeholder="incoming/videos" required/>
            <label for="min_frames">"Minimum clip length (frames)"</label>
            <input id="min_frames" name="min_frames" type="number" min="1" max="10000" value="16"/>
            <button type="submit">"Detect cuts and split"</button>
            <p class="status" role="status">{move || queued_message(split.value().get())}</p>
        </ActionForm>
        <h2>"Ingest jobs"</h2>
        <JobList kind=Some("ingest".to_owned()) initial=jobs refresh/>
    }
}
