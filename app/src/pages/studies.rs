use leptos::prelude::*;
use leptos_meta::Title;

use crate::{components::require_role::RequireRole, types::Role};

#[component]
pub fn StudiesPage() -> impl IntoView {
    view! {
        <Title text="Studies — MagicTime"/>
        <h1>"Studies"</h1>
        <p class="lead">"Design blind user studies, share participant links and read the statistics."</p>
        <RequireRole role=Role::Researcher>
            <p>"Nothing here yet."</p>
        </RequireRole>
    }
}
