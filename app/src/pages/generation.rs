//! The page of one generation, `/generations/{id}` (a permalink): the video, every setting, the
//! model and adapters with their files' hashes, the software, the time taken, who asked, the
//! downloads and a link that fills the Generate form with these settings. Server-rendered only.
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::{
    api::jobs::get_generation,
    components::{csrf::CsrfField, job_list::duration_text},
    types::{GenerateParams, GenerationView, ADAPTERS},
};

/// Researchers see every generation (admins the hidden ones too); with the public demo on, a
/// visitor sees their own. Anyone else (or another's) reads "There is no such generation."
#[component]
pub fn GenerationPage() -> impl IntoView {
    let params = use_params_map();
    let id = params
        .read_untracked()
        .get("id")
        .and_then(|s| s.parse::<i64>().ok());
    view! {
        <Title text=format!("Generation #{} — MagicTime", id.unwrap_or_default())/>
        <h1>"Generation #" {id.unwrap_or_default()}</h1>
        <Generation id/>
    }
}

#[component]
fn Generation(id: Option<i64>) -> impl IntoView {
    let g = Resource::new(
        move || id,
        |id| async move {
            match id {
                Some(id) => get_generation(id).await,
                None => Ok(None),
            }
        },
    );
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || g.get().map(|r| match r {
                Ok(Some(g)) => view! { <GenerationFacts g/> }.into_any(),
                Ok(None) => view! { <p class="error">"There is no such generation."</p> }.into_any(),
                Err(e) if e.is_login_required() => view! {
                    <p class="notice">"This page needs the researcher role. " <a href="/login">"Log in"</a></p>
                }.into_any(),
                Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
            })}
        </Transition>
    }
}

/// `s` for a URL's query: everything but unreserved characters percent-encoded (UTF-8).
pub fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The Generate page's URL with `p` filled in (its query fields are the form's).
pub fn generate_again_url(p: &GenerateParams) -> String {
    let mut q = vec![
        ("model", p.model.clone()),
        ("prompt", p.prompt.clone()),
        ("negative", p.negative.clone()),
        ("seed", p.seed.to_string()),
        ("steps", p.steps.to_string()),
        ("cfg", p.cfg.to_string()),
        ("frames", p.frames.to_string()),
        ("size", p.size.to_string()),
        ("fps", p.fps.to_string()),
    ];
    if let Some(a) = &p.adapters {
        q.push(("adapters", a.join(",")));
    }
    if let Some(d) = &p.dreambooth {
        q.push(("dreambooth", d.clone()));
    }
    if let Some(f) = p.formats.first() {
        q.push(("format", f.clone()));
    }
    let q: Vec<String> = q
        .into_iter()
        .map(|(k, v)| format!("{k}={}", query_escape(&v)))
        .collect();
    format!("/generate?{}", q.join("&"))
}

/// The adapters of `p` in words (`None`: all the model has).
fn adapter_names(p: &GenerateParams) -> String {
    match &p.adapters {
        None => "all the model has".to_owned(),
        Some(a) if a.is_empty() => "none".to_owned(),
        Some(a) => ADAPTERS
            .iter()
            .filter(|(id, _)| a.iter().any(|x| x == id))
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[component]
fn GenerationFacts(g: GenerationView) -> impl IntoView {
    let p = g.params.clone();
    let again = generate_again_url(&p);
    let video = g.provenance.as_ref().map(|_| {
        view! {
            <video data-testid="video" src=format!("/media/generated/{}.mp4", g.id) controls autoplay loop muted playsinline
                width=p.size.max(256)></video>
        }
    });
    let queue = g
        .queue_position
        .map(|n| format!(" Place in the queue: {n}."));
    let estimate = g.estimate.map(|(start, finish)| {
        if g.status == "queued" {
            format!(
                " Estimated start in {}, finish in {} (from the measured times of recent generations).",
                duration_text(start),
                duration_text(finish)
            )
        } else {
            format!(" Estimated finish in {}.", duration_text(finish))
        }
    });
    let state = (g.status != "done").then(|| {
        view! {
            <p class="notice" data-testid="status" data-status=g.status.clone()>
                "This generation is " {g.status.clone()}
                {(!g.message.is_empty()).then(|| format!(" ({})", g.message))}
                {(g.status == "running").then(|| format!(", {:.0} % done", g.progress * 100.0))}
                "." {queue} {estimate}
            </p>
        }
    });
    let pending = g.status == "queued" || g.status == "running";
    // a plain form (no WASM): the server function answers a form post with a redirect back
    let cancel = g.may_cancel.then(|| {
        view! {
            <form method="post" action="/api/cancel_job" class="inline">
                <CsrfField/>
                <input type="hidden" name="id" value=g.id/>
                <button type="submit" class="secondary" data-testid="cancel">"Cancel this generation"</button>
            </form>
        }
    });
    let hide = g.admin_view.then(|| {
        let (label, to) = if g.hidden {
            ("Show it again", "false")
        } else {
            ("Hide it from everyone but admins", "true")
        };
        view! {
            <form method="post" action="/api/hide_generation" class="inline">
                <CsrfField/>
                <input type="hidden" name="id" value=g.id/>
                <input type="hidden" name="hidden" value=to/>
                <button type="submit" class="secondary" data-testid="hide">{label}</button>
            </form>
        }
    });
    let hidden = g.hidden.then(|| view! { <p class="notice" data-testid="hidden">"Hidden: only admins see this generation."</p> });
    // while it waits or runs the page reloads itself (the place, the estimate, the progress),
    // unless a form of the page is being sent (a reload would drop a click on Cancel)
    let refresh = pending.then(|| {
        view! {
            <script>
                "document.addEventListener('submit',function(){document.body.dataset.leaving='1'});\
                 setTimeout(function(){if(!document.body.dataset.leaving)location.reload()},2000);"
            </script>
        }
    });
    let row = |name: &'static str, key: &'static str, value: String| {
        view! { <tr><th scope="row">{name}</th><td data-field=key>{value}</td></tr> }
    };
    let prov = g.provenance.clone();
    let downloads = (!g.downloads.is_empty()).then(|| {
        view! {
            <h2>"Downloads"</h2>
            <ul class="downloads" data-testid="downloads">
                {g.downloads.iter().map(|(url, name)| view! {
                    <li><a href=url.clone() download rel="external">{name.clone()}</a></li>
                }).collect_view()}
            </ul>
        }
    });
    let files = prov.as_ref().map(|pr| {
        view! {
            <h2>"Model files"</h2>
            <table data-testid="model-files" class="hashes">
                <thead><tr><th scope="col">"Part"</th><th scope="col">"File"</th><th scope="col">"Bytes"</th><th scope="col">"SHA-256"</th></tr></thead>
                <tbody>
                    {pr.model_files.iter().map(|f| view! {
                        <tr><td>{f.role.clone()}</td><td>{f.name.clone()}</td><td>{f.bytes}</td><td><code>{f.sha256.clone()}</code></td></tr>
                    }).collect_view()}
                </tbody>
            </table>
            {pr.model_files.is_empty().then(|| view! { <p class="muted">"This model has no weights files (random weights)."</p> })}
        }
    });
    view! {
        {refresh}
        {hidden}
        {state}
        {cancel}
        {hide}
        {video}
        <p><a href=again data-testid="again" class="button">"Generate again with these settings"</a></p>
        <h2>"Settings"</h2>
        <table data-testid="settings" class="facts">
            <tbody>
                {row("Prompt", "prompt", p.prompt.clone())}
                {row("Negative prompt", "negative", p.negative.clone())}
                {row("Seed", "seed", p.seed.to_string())}
                {row("Steps", "steps", p.steps.to_string())}
                {row("Guidance", "cfg", p.cfg.to_string())}
                {row("Frames", "frames", p.frames.to_string())}
                {row("Size (px)", "size", format!("{0}×{0}", p.size))}
                {row("Frame rate (fps)", "fps", p.fps.to_string())}
                {row("Model", "model", prov.as_ref().map(|pr| pr.model.clone()).unwrap_or_else(|| p.model.clone()))}
                {row("DreamBooth", "dreambooth", p.dreambooth.clone().unwrap_or_else(|| "none".to_owned()))}
                {row("Adapters", "adapters", adapter_names(&p))}
                {row("Software", "software", prov.as_ref().map(|pr| pr.software.clone()).unwrap_or_default())}
                {row("Time taken", "seconds", prov.as_ref().map(|pr| format!("{:.1} s", pr.seconds)).unwrap_or_default())}
                {row("Asked by", "requested_by", g.requested_by.clone())}
                {row("Asked at", "created_at", g.created_at.clone())}
                {row("Started", "started_at", g.started_at.clone().unwrap_or_default())}
                {row("Finished", "finished_at", g.finished_at.clone().unwrap_or_default())}
            </tbody>
        </table>
        {files}
        {downloads}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every setting survives the trip through the Generate page's URL, escaped.
    #[test]
    fn generate_again_url_escapes_every_setting() {
        let p = GenerateParams {
            prompt: "a rose & ice, 100%".into(),
            negative: "bad=1".into(),
            seed: 7,
            steps: 3,
            cfg: 7.5,
            frames: 16,
            size: 64,
            fps: 8.0,
            model: "builtin".into(),
            dreambooth: None,
            adapters: Some(vec!["s".into(), "te".into()]),
            formats: vec!["gif".into()],
        };
        assert_eq!(
            generate_again_url(&p),
            "/generate?model=builtin&prompt=a%20rose%20%26%20ice%2C%20100%25&negative=bad%3D1\
             &seed=7&steps=3&cfg=7.5&frames=16&size=64&fps=8&adapters=s%2Cte&format=gif"
        );
        assert_eq!(query_escape("é"), "%C3%A9");
    }
}
