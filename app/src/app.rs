//! The document shell and the root component: routes and the layout around them.
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

use crate::{
    api::auth::get_user,
    components::{csrf::provide_csrf_token, nav::Nav},
    error::AppError,
    pages::{
        admin::AdminPage,
        annotate::{AnnotatePage, ItemPage, ProjectPage, ReviewPage},
        compare::ComparePage,
        datasets::DatasetsPage,
        gallery::GalleryPage,
        generate::GeneratePage,
        generation::GenerationPage,
        home::HomePage,
        jobs::JobsPage,
        login::LoginPage,
        not_found::NotFound,
        participate::ParticipantPage,
        setup::SetupPage,
        studies::StudiesPage,
        study::StudyPage,
    },
    types::User,
};

/// The HTML document the server renders around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="description" content="MagicTime: metamorphic time-lapse video generation"/>
                <link rel="icon" href="/favicon.ico"/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The session's user, shared by the layout and the pages (server-side: login and logout load a
/// new page).
#[derive(Clone, Copy)]
pub struct Session {
    pub user: Resource<Result<Option<User>, AppError>>,
}

impl Session {
    /// The user, once loaded (None while loading, on error or when logged out).
    pub fn current(&self) -> Option<User> {
        self.user.get().and_then(|r| r.ok()).flatten()
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_csrf_token();
    let user = Resource::new(|| (), |_| get_user());
    provide_context(Session { user });

    view! {
        <Stylesheet id="leptos" href="/pkg/magictime.css"/>
        <Title text="MagicTime"/>
        <Router>
            <a class="skip" href="#main">"Skip to content"</a>
            <Nav/>
            <main id="main" tabindex="-1">
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=HomePage/>
                    <Route path=path!("/generate") view=GeneratePage/>
                    <Route path=path!("/generations/:id") view=GenerationPage/>
                    <Route path=path!("/gallery") view=GalleryPage/>
                    <Route path=path!("/compare") view=ComparePage/>
                    <Route path=path!("/studies") view=StudiesPage/>
                    // Async: the response waits for the page's data, so its status (401, 404)
                    // is the one the server function set (streaming could send 200 first).
                    <Route path=path!("/studies/:id") view=StudyPage ssr=SsrMode::Async/>
                    <Route path=path!("/s/:slug") view=ParticipantPage ssr=SsrMode::Async/>
                    <Route path=path!("/annotate") view=AnnotatePage/>
                    <Route path=path!("/annotate/p/:pid") view=ProjectPage/>
                    <Route path=path!("/annotate/item/:iid") view=ItemPage/>
                    <Route path=path!("/annotate/review/:iid") view=ReviewPage/>
                    <Route path=path!("/datasets") view=DatasetsPage/>
                    <Route path=path!("/jobs") view=JobsPage/>
                    <Route path=path!("/admin") view=AdminPage/>
                    <Route path=path!("/login") view=LoginPage/>
                    <Route path=path!("/setup") view=SetupPage/>
                </Routes>
            </main>
        </Router>
    }
}
