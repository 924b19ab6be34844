use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    components::{job_list::JobList, require_role::RequireRole},
    types::Role,
};

#[component]
pub fn JobsPage() -> impl IntoView {
    view! {
        <Title text="Jobs — MagicTime"/>
        <h1>"Jobs"</h1>
        <p class="lead">"Background jobs with their progress, newest first."</p>
        <RequireRole role=Role::Researcher>
            <JobList refresh=Signal::derive(|| 0usize)/>
        </RequireRole>
    }
}
