use leptos::prelude::*;
use leptos_meta::Title;

use crate::{components::require_role::RequireRole, types::Role};

#[component]
pub fn JobsPage() -> impl IntoView {
    view! {
        <Title text="Jobs — MagicTime"/>
        <h1>"Jobs"</h1>
        <p class="lead">"Scheduled ingest, training, generation and evaluation jobs with their progress."</p>
        <RequireRole role=Role::Researcher>
            <p>"Nothing here yet."</p>
        </RequireRole>
    }
}
