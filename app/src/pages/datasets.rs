use leptos::prelude::*;
use leptos_meta::Title;

use crate::{components::require_role::RequireRole, types::Role};

#[component]
pub fn DatasetsPage() -> impl IntoView {
    view! {
        <Title text="Datasets — MagicTime"/>
        <h1>"Datasets"</h1>
        <p class="lead">"Ingest videos, filter by metadata, detect cuts, split into clips and write ChronoMagic manifests."</p>
        <RequireRole role=Role::Researcher>
            <p>"Nothing here yet."</p>
        </RequireRole>
    }
}
