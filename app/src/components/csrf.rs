//! The CSRF token in the page: the server reads it from the request (the CSRF layer puts it in
//! the request's extensions), the browser from the CSRF cookie (`__Host-mt_csrf`, or `mt_csrf`
//! under `--insecure-http`); both give the same value.
//! Islands see no server context in the browser: [`token`] falls back to the cookie there.
use leptos::prelude::*;

use crate::types::{CsrfToken, CSRF_FIELD};

pub fn provide_csrf_token() {
    provide_context(current_token());
}

/// The token of this page: from the context where there is one, else from the request (server)
/// or the cookie (browser).
pub fn token() -> String {
    use_context::<CsrfToken>().unwrap_or_else(current_token).0
}

#[cfg(feature = "ssr")]
fn current_token() -> CsrfToken {
    use_context::<axum::http::request::Parts>()
        .and_then(|p| p.extensions.get::<CsrfToken>().cloned())
        .unwrap_or(CsrfToken(String::new()))
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
fn current_token() -> CsrfToken {
    use wasm_bindgen::JsCast;
    let cookies = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok())
        .and_then(|d| d.cookie().ok())
        .unwrap_or_default();
    let token = cookies
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| {
            k.strip_prefix(crate::types::HOST_PREFIX).unwrap_or(k) == crate::types::CSRF_COOKIE
        })
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default();
    CsrfToken(token)
}

#[cfg(not(any(feature = "ssr", feature = "hydrate")))]
fn current_token() -> CsrfToken {
    CsrfToken(String::new())
}

/// The hidden form field every state-changing form carries (in server components and islands).
#[component]
pub fn CsrfField() -> impl IntoView {
    view! { <input type="hidden" name=CSRF_FIELD value=token()/> }
}
