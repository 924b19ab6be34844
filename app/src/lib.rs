//! The MagicTime web UI: Leptos components and pages, compiled for the server (`ssr`) and to
//! WASM (`hydrate`) in islands mode: only `#[island]` components are hydrated. Server functions live in `api/`; their bodies (and everything touching the
//! database) are compiled only with `ssr`. No engine code here.
#![recursion_limit = "256"]

pub mod api;
pub mod app;
pub mod components;
pub mod error;
pub mod pages;
pub mod types;

#[cfg(feature = "ssr")]
pub mod ssr;

/// Entry point of the WASM bundle: sets up the reactive runtime; the islands script then
/// hydrates each `<leptos-island>` of the page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
