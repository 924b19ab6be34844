//! The gallery of finished generations (`/gallery?mine=1&q=…&page=2`): a prompt search, mine or
//! everyone's, pages of [`crate::ssr::gallery::PER_PAGE`]; tick two or more to compare them side
//! by side (`/compare`). Server-rendered only: the filters are a GET form, the pages links.
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::{jobs::gallery, studies::MAX_COMPARED},
    pages::generation::query_escape,
    types::{GalleryItem, GalleryPage},
};

#[component]
pub fn GalleryPage() -> impl IntoView {
    let query = use_query_map().read_untracked();
    let mine = query.get("mine").is_some_and(|m| m == "1");
    let q = query.get("q").unwrap_or_default();
    let page = query
        .get("page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1);
    let q2 = q.clone();
    let found = Resource::new(
        move || (mine, q2.clone(), page),
        |(m, q, p)| gallery(m, q, p),
    );
    view! {
        <Title text="Gallery — MagicTime"/>
        <h1>"Gallery"</h1>
        <form method="get" action="/gallery" class="filters" role="search">
            <label for="q">"Prompt contains"</label>
            <input id="q" name="q" type="search" maxlength="200" value=q.clone()/>
            <label class="check"><input type="checkbox" name="mine" value="1" checked=mine/>" Only mine"</label>
            <button type="submit">"Search"</button>
        </form>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || found.get().map(|r| match r {
                Ok(g) => view! { <Cards g mine q=q.clone()/> }.into_any(),
                Err(e) if e.is_login_required() => view! {
                    <p class="notice">"The gallery needs the researcher role. " <a href="/login">"Log in"</a></p>
                }.into_any(),
                Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
            })}
        </Transition>
    }
}

/// The gallery URL of page `page` with the same filters.
fn page_url(mine: bool, q: &str, page: i64) -> String {
    let mut url = format!("/gallery?page={page}");
    if mine {
        url.push_str("&mine=1");
    }
    if !q.is_empty() {
        url.push_str("&q=");
        url.push_str(&query_escape(q));
    }
    url
}

/// One page of cards, the compare form around their check boxes, and the page links.
#[component]
fn Cards(g: GalleryPage, mine: bool, q: String) -> impl IntoView {
    let pages = ((g.total + g.per_page - 1) / g.per_page).max(1);
    let summary = format!(
        "{} generation{}, page {} of {pages}",
        g.total,
        if g.total == 1 { "" } else { "s" },
        g.page
    );
    let newer = (g.page > 1).then(|| {
        view! { <a href=page_url(mine, &q, g.page - 1) rel="prev" data-testid="newer">"← Newer"</a> }
    });
    let older = (g.page < pages).then(|| {
        view! { <a href=page_url(mine, &q, g.page + 1) rel="next" data-testid="older">"Older →"</a> }
    });
    let empty = g
        .items
        .is_empty()
        .then(|| view! { <p>"No finished generations match."</p> });
    view! {
        <p class="muted" data-testid="gallery-summary">{summary}</p>
        {empty}
        <form method="get" action="/compare" id="compare-form">
            <ul class="gallery">
                {g.items.into_iter().map(|item| view! { <Card item/> }).collect_view()}
            </ul>
            <p>
                <button type="submit" data-testid="compare">"Compare the ticked ones side by side"</button>
                <span class="muted">" (2 to " {MAX_COMPARED} ")"</span>
            </p>
        </form>
        <nav class="pages" aria-label="Gallery pages">{newer} " " {older}</nav>
    }
}

#[component]
fn Card(item: GalleryItem) -> impl IntoView {
    let id = item.id;
    let p = &item.params;
    let facts = format!(
        "seed {} · {} steps · {} frames · {} px · {} fps",
        p.seed, p.steps, p.frames, p.size, p.fps
    );
    view! {
        <li class="card" data-testid=format!("gen-{id}") class:hidden-gen=item.hidden>
            <video src=format!("/media/generated/{id}.mp4") controls loop muted playsinline preload="metadata" width="192"></video>
            <p class="prompt"><a href=format!("/generations/{id}")>{p.prompt.clone()}</a></p>
            <p class="muted">"#" {id} " · " {item.requested_by.clone()} " · " {facts}</p>
            {item.hidden.then(|| view! { <p class="muted">"hidden"</p> })}
            <label class="check"><input type="checkbox" name="id" value=id/>" compare"</label>
        </li>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn page_links_keep_the_filters() {
        assert_eq!(super::page_url(false, "", 2), "/gallery?page=2");
        assert_eq!(
            super::page_url(true, "red rose&", 3),
            "/gallery?page=3&mine=1&q=red%20rose%26"
        );
    }
}
