use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    components::{
        job_list::{first_jobs, JobsLive},
        require_role::RequireRole,
    },
    types::Role,
};

#[component]
pub fn JobsPage() -> impl IntoView {
    view! {
        <Title text="Jobs — MagicTime"/>
        <h1>"Jobs"</h1>
        <p class="lead">"Background jobs with their progress, newest first."</p>
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
            {move || jobs.get().map(|initial| view! { <JobsLive initial/> })}
        </Transition>
    }
}
