use leptos::prelude::*;
use leptos_meta::Title;

use crate::{components::require_role::RequireRole, types::Role};

#[component]
pub fn GeneratePage() -> impl IntoView {
    view! {
        <Title text="Generate — MagicTime"/>
        <h1>"Generate"</h1>
        <p class="lead">"Queue text-to-video generation jobs with the default MagicTime model and browse the gallery."</p>
        <RequireRole role=Role::Researcher>
            <p>"Nothing here yet."</p>
        </RequireRole>
    }
}
