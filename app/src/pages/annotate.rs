use leptos::prelude::*;
use leptos_meta::Title;

use crate::{components::require_role::RequireRole, types::Role};

#[component]
pub fn AnnotatePage() -> impl IntoView {
    view! {
        <Title text="Annotate — MagicTime"/>
        <h1>"Annotate"</h1>
        <p class="lead">"Caption and review the clips of your dataset projects."</p>
        <RequireRole role=Role::Annotator>
            <p>"Nothing here yet."</p>
        </RequireRole>
    }
}
