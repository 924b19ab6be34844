use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{app::Session, components::csrf::CsrfField};

#[component]
pub fn LoginPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_else(|| "/".into());
    let (show, set_show) = signal(false);
    let error = move || match session.login.value().get() {
        Some(Err(e)) => Some(clean_error(&e.to_string())),
        _ => None,
    };
    view! {
        <Title text="Log in — MagicTime"/>
        <h1>"Log in"</h1>
        <ActionForm action=session.login attr:class="form" attr:aria-describedby="login-error">
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

/// Server errors arrive as "error running server function: <msg>": show only the message.
pub fn clean_error(e: &str) -> String {
    e.rsplit(": ").next().unwrap_or(e).to_owned()
}
