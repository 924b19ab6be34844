//! Two or more generations side by side (`/compare?id=3&id=7`, the gallery's ticked cards),
//! playing in sync — one clock for all, each video at the same fraction of its length, so
//! videos of different lengths start and end together (`public/compare.js`, no WASM) — with
//! their settings underneath, and "make a study from these" (a draft study with these videos as
//! its stimuli, `study_from_generations`).
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::{jobs::get_generation, studies::MAX_COMPARED},
    components::csrf::CsrfField,
    types::GenerationView,
};

#[component]
pub fn ComparePage() -> impl IntoView {
    let ids: Vec<i64> = use_query_map()
        .read_untracked()
        .get_all("id")
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s.trim().parse().ok())
        .fold(vec![], |mut v, id| {
            if !v.contains(&id) {
                v.push(id);
            }
            v
        });
    let asked = ids.clone();
    let found = Resource::new(
        move || ids.clone(),
        |ids| async move {
            let mut out = vec![];
            for id in ids.into_iter().take(MAX_COMPARED) {
                match get_generation(id).await {
                    Ok(Some(g)) if g.status == "done" => out.push(g),
                    Ok(_) => return Err(format!("#{id} is not a finished generation you can see")),
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok(out)
        },
    );
    view! {
        <Title text="Compare — MagicTime"/>
        <h1>"Compare generations"</h1>
        {(asked.len() < 2 || asked.len() > MAX_COMPARED).then(|| view! {
            <p class="error">"Tick 2 to " {MAX_COMPARED} " generations in the " <a href="/gallery">"gallery"</a> " to compare them."</p>
        })}
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || found.get().map(|r| match r {
                Ok(list) if list.len() >= 2 => view! { <Compared list/> }.into_any(),
                Ok(_) => ().into_any(),
                Err(e) => view! { <p class="error">{e}</p> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Compared(list: Vec<GenerationView>) -> impl IntoView {
    let ids: Vec<String> = list.iter().map(|g| g.id.to_string()).collect();
    let ids = ids.join(",");
    view! {
        <div class="compare-controls">
            <button type="button" id="compare-play" data-testid="play">"Play all"</button>
            <button type="button" id="compare-restart" class="secondary">"From the start"</button>
            <label for="compare-seek">"Position"</label>
            <input id="compare-seek" type="range" min="0" max="1000" value="0" aria-label="position in every video"/>
        </div>
        <div class="compare-grid" id="compare-grid">
            {list.into_iter().map(|g| {
                let p = g.params.clone();
                let model = g.provenance.as_ref().map(|pr| pr.model.clone()).unwrap_or_else(|| p.model.clone());
                view! {
                    <figure class="compared" data-testid=format!("compared-{}", g.id)>
                        <video src=format!("/media/generated/{}.mp4", g.id) muted loop playsinline preload="auto" width=p.size.max(192)></video>
                        <figcaption>
                            <a href=format!("/generations/{}", g.id)>"#" {g.id}</a> " " {p.prompt.clone()}
                            <br/><span class="muted">{model} " · seed " {p.seed} " · " {p.steps} " steps · guidance " {p.cfg} " · " {p.frames} " frames · " {p.size} " px · " {p.fps} " fps"</span>
                        </figcaption>
                    </figure>
                }
            }).collect_view()}
        </div>
        <h2>"Make a study from these"</h2>
        <p class="muted">"A draft study (pairwise for two, best-of-k for more) with these videos as its stimuli, each under its model and adapters; you review its design before it goes live."</p>
        <form method="post" action="/api/study_from_generations" class="form">
            <CsrfField/>
            <input type="hidden" name="ids" value=ids/>
            <label for="study-title">"Title"</label>
            <input id="study-title" name="title" maxlength="200" placeholder="(the generations' numbers)"/>
            <button type="submit" data-testid="make-study">"Make a study from these"</button>
        </form>
        <script src="/compare.js" defer></script>
    }
}
