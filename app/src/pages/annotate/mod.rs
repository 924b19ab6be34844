//! Caption annotation pages: the project list (and import for researchers), a project's
//! dashboard, the keyboard-first item workspace and the review page.
mod item;
mod player;
mod project;
mod review;

pub use item::ItemPage;
pub use project::ProjectPage;
pub use review::ReviewPage;

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    api::annotate::{annot_projects, AnnotCreateProject},
    app::Session,
    components::csrf::CsrfField,
    types::Role,
};

#[component]
pub fn AnnotatePage() -> impl IntoView {
    let session = expect_context::<Session>();
    view! {
        <Title text="Annotate — MagicTime"/>
        <h1>"Annotate"</h1>
        <p class="lead">"Caption and review the clips of your dataset projects."</p>
        <Projects/>
        <Transition fallback=|| ()>
            {move || match session.current() {
                None => view! {
                    <p class="notice">"Annotation needs an account. " <A href="/login">"Log in"</A></p>
                }.into_any(),
                Some(u) => u.role.satisfies(Role::Researcher).then(|| view! { <NewProject/> }).into_any(),
            }}
        </Transition>
    }
}

#[component]
fn Projects() -> impl IntoView {
    let projects = Resource::new(|| (), |_| annot_projects());
    view! {
        <h2>"Projects"</h2>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || projects.get().map(|r| match r {
                Ok(list) if list.is_empty() => view! { <p>"No projects yet."</p> }.into_any(),
                Ok(list) => view! {
                    <div class="cards annot-projects">
                        {list.into_iter().map(|p| {
                            let done = p.accepted + p.rejected;
                            view! {
                                <article>
                                    <h3><A href=format!("/annotate/p/{}", p.id)>{p.name.clone()}</A></h3>
                                    <p class="muted">{p.manifest.clone()}</p>
                                    <p>{p.items} " items · " {p.open} " open · " {p.review} " in review · "
                                       {p.flagged} " flagged · " {done} " decided"</p>
                                    <progress max=p.items value=done aria-label="decided items"></progress>
                                </article>
                            }
                        }).collect_view()}
                    </div>
                }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </Transition>
    }
}

/// The import form (researchers): an island, it shows the server's answer in place.
#[island]
fn NewProject() -> impl IntoView {
    let create = ServerAction::<AnnotCreateProject>::new();
    let message = move || match create.value().get() {
        Some(Ok(id)) => Some(Either::Left(view! {
                <span>"Imported. " <a href=format!("/annotate/p/{id}")>"Open the project"</a></span>
        })),
        Some(Err(e)) => Some(Either::Right(
            view! { <span class="error">{e.to_string()}</span> },
        )),
        None => None,
    };
    view! {
        <h2>"New project"</h2>
        <p>"Import a manifest of the data pipeline (ChronoMagic " <code>".csv"</code> " or "
           <code>".jsonl"</code> ") from the server's " <code>"datasets/"</code>
           " folder; clips are read next to it."</p>
        <ActionForm action=create attr:class="form">
            <CsrfField/>
            <label for="p-name">"Name"</label>
            <input id="p-name" name="name" required maxlength="200"/>
            <label for="p-manifest">"Manifest (relative to datasets/)"</label>
            <input id="p-manifest" name="manifest" required placeholder="chronomagic/train.jsonl"/>
            <label for="p-overlap">"Annotators per item"</label>
            <input id="p-overlap" name="overlap" type="number" min="1" max="10" value="1" required/>
            <label for="p-timeout">"Lock timeout (seconds)"</label>
            <input id="p-timeout" name="lock_timeout_s" type="number" min="1" max="86400" value="600"/>
            <label for="p-annotators">"Annotators (e-mails, comma-separated)"</label>
            <input id="p-annotators" name="annotators"/>
            <label for="p-reviewers">"Reviewers (e-mails; researchers and admins always review)"</label>
            <input id="p-reviewers" name="reviewers"/>
            <button type="submit">"Import"</button>
            <p class="status" role="status">{message}</p>
        </ActionForm>
    }
}

/// The CSRF token of this page (for server functions called from code).
pub(crate) fn csrf() -> String {
    crate::components::csrf::token()
}

/// Loads another page (islands: there is no client-side router).
pub(crate) fn go(path: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(w) = leptos::web_sys::window() {
        let _ = w.location().set_href(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

/// "12.3 s" / "—".
pub(crate) fn fmt_opt(v: Option<f64>, digits: usize, unit: &str) -> String {
    v.map(|v| format!("{v:.digits$}{unit}"))
        .unwrap_or_else(|| "—".into())
}
