//! Shows its children only to users with a role; others see why and a login link.
use leptos::prelude::*;
use leptos_router::components::A;

use crate::{app::Session, types::Role};

#[component]
pub fn RequireRole(role: Role, children: ChildrenFn) -> impl IntoView {
    let session = expect_context::<Session>();
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || match session.current() {
                Some(u) if u.role.satisfies(role) => children().into_any(),
                Some(u) => view! {
                    <p class="notice" role="alert">
                        "Your role (" {u.role.as_str()} ") cannot use this page: it needs the "
                        {role.as_str()} " role."
                    </p>
                }.into_any(),
                None => view! {
                    <p class="notice">
                        "This page needs the " {role.as_str()} " role. "
                        <A href="/login">"Log in"</A>
                    </p>
                }.into_any(),
            }}
        </Transition>
    }
}
