//! The top navigation: sections, the session box, and a menu toggle for narrow screens.
//! The header renders on the server; only the menu (toggle + links) is an island.
use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::{app::Session, components::csrf::CsrfField};

#[component]
pub fn Nav() -> impl IntoView {
    let session = expect_context::<Session>();
    let path = use_location().pathname.get_untracked();
    // A study's participants see the study alone (they have no account; nothing links away).
    if path.starts_with("/s/") {
        return None;
    }
    Some(view! {
        <header class="topbar">
            <a href="/" class="brand">"MagicTime"</a>
            <NavMenu path/>
            <div class="session">
                <Transition fallback=|| ()>
                    {move || match session.current() {
                        Some(u) => view! {
                            <span class="who" data-testid="who">{u.email.clone()} " (" {u.role.as_str()} ")"</span>
                            // A plain form: logging out works without the WASM (the server
                            // function redirects the browser to the home page).
                            <form method="post" action="/api/logout" class="inline">
                                <CsrfField/>
                                <button type="submit">"Log out"</button>
                            </form>
                        }.into_any(),
                        None => view! { <a href="/login">"Log in"</a> }.into_any(),
                    }}
                </Transition>
            </div>
        </header>
    })
}

const SECTIONS: [(&str, &str); 7] = [
    ("/generate", "Generate"),
    ("/gallery", "Gallery"),
    ("/studies", "Studies"),
    ("/annotate", "Annotate"),
    ("/datasets", "Datasets"),
    ("/jobs", "Jobs"),
    ("/admin", "Admin"),
];

/// The section links and the menu toggle (phone width), which needs the WASM. Present on every
/// page, it also marks the document once the WASM has run (effects never run on the server).
/// `path` is the page's path: its section's link is marked current.
#[island]
fn NavMenu(path: String) -> impl IntoView {
    let (open, set_open) = signal(false);
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
                {SECTIONS.into_iter().map(|(href, label)| {
                    let here = path == href || path.starts_with(&format!("{href}/"));
                    view! { <li><a href=href aria-current=here.then_some("page")>{label}</a></li> }
                }).collect_view()}
            </ul>
        </nav>
    }
}
