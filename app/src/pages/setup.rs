use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{api::auth::SetupAdmin, components::csrf::CsrfField};

#[component]
pub fn SetupPage() -> impl IntoView {
    let token = use_query_map()
        .read_untracked()
        .get("token")
        .unwrap_or_default();
    view! {
        <Title text="Create the first admin — MagicTime"/>
        <h1>"Create the first admin"</h1>
        <p>"Use the one-time token printed in the server log at first start."</p>
        <SetupForm token/>
    }
}

/// On success the server function logs the new admin in and redirects the browser to /admin.
#[island]
fn SetupForm(token: String) -> impl IntoView {
    let action = ServerAction::<SetupAdmin>::new();
    let error = move || match action.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    };
    view! {
        <ActionForm action=action attr:class="form">
            <CsrfField/>
            <label for="token">"Setup token"</label>
            <input id="token" name="token" value=token required/>
            <label for="email">"E-mail"</label>
            <input id="email" name="email" type="email" autocomplete="username" required/>
            <label for="password">"Password (at least 8 characters)"</label>
            <input id="password" name="password" type="password" autocomplete="new-password" minlength="8" required/>
            <button type="submit">"Create admin"</button>
            <p class="error" role="alert">{error}</p>
        </ActionForm>
    }
}
