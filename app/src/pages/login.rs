use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{api::auth::Login, components::csrf::CsrfField};

#[component]
pub fn LoginPage() -> impl IntoView {
    let next = use_query_map()
        .read_untracked()
        .get("next")
        .unwrap_or_else(|| "/".into());
    view! {
        <Title text="Log in — MagicTime"/>
        <h1>"Log in"</h1>
        <LoginForm next/>
    }
}

/// The login form: shows the server's error; on success the server function redirects the
/// browser to `next` (a page load, which shows the user).
#[island]
fn LoginForm(next: String) -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let (show, set_show) = signal(false);
    let error = move || match login.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    };
    view! {
        <ActionForm action=login attr:class="form" attr:aria-describedby="login-error">
            <CsrfField/>
            <input type="hidden" name="next" value=next/>
            <label for="email">"E-mail"</label>
            <input id="email" name="email" type="email" autocomplete="username" required/>
            <label for="password">"Password"</label>
            <div class="row">
                <input
                    id="password"
                    name="password"
                    type=move || if show.get() { "text" } else { "password" }
                    autocomplete="current-password"
                    required
                />
                <button
                    type="button"
                    class="secondary"
                    aria-pressed=move || show.get().to_string()
                    on:click=move |_| set_show.update(|s| *s = !*s)
                >
                    {move || if show.get() { "Hide" } else { "Show" }}
                </button>
            </div>
            <button type="submit">"Log in"</button>
            <p id="login-error" class="error" role="alert">{error}</p>
        </ActionForm>
    }
}
