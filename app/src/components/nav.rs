//! The top navigation: sections, the session box, and a menu toggle for narrow screens.
use leptos::prelude::*;
use leptos_router::components::A;

use crate::{app::Session, components::csrf::CsrfField};

#[component]
pub fn Nav() -> impl IntoView {
    let session = expect_context::<Session>();
    let (open, set_open) = signal(false);
    // Marks the document once the WASM has hydrated it (effects never run on the server).
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <header class="topbar">
            <A href="/" attr:class="brand">"MagicTime"</A>
            <button
                class="menu-toggle"
                aria-controls="primary-nav"
                aria-expanded=move || open.get().to_string()
                on:click=move |_| set_open.update(|o| *o = !*o)
            >
                "Menu"
            </button>
            <nav id="primary-nav" aria-label="Main" class:open=move || open.get()>
                <ul>
                    <li><A href="/generate">"Generate"</A></li>
                    <li><A href="/studies">"Studies"</A></li>
                    <li><A href="/annotate">"Annotate"</A></li>
                    <li><A href="/datasets">"Datasets"</A></li>
                    <li><A href="/jobs">"Jobs"</A></li>
                    <li><A href="/admin">"Admin"</A></li>
                </ul>
            </nav>
            <div class="session">
                <Transition fallback=|| ()>
                    {move || match session.current() {
                        Some(u) => view! {
                            <span class="who" data-testid="who">{u.email.clone()} " (" {u.role.as_str()} ")"</span>
                            <ActionForm action=session.logout attr:class="inline">
                                <CsrfField/>
                                <button type="submit">"Log out"</button>
                            </ActionForm>
                        }.into_any(),
                        None => view! { <A href="/login">"Log in"</A> }.into_any(),
                    }}
                </Transition>
            </div>
        </header>
    }
}
