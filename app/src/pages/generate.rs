use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::jobs::{generate_access, generate_models, SubmitGeneration},
    components::{
        csrf::CsrfField,
        job_list::{first_jobs, queued_message, JobList},
        require_role::RequireRole,
    },
    types::{
        GenerateAccess, GenerateDefaults, JobView, ModelOption, RequestLimits, Role, ADAPTERS,
        ALWAYS_WRITTEN, BUILTIN_MODEL, CHOICE_ERRORS, FORMATS, MAX_FRAME_PIXELS, MAX_PROMPT_CHARS,
        MIN_SIZE,
    },
};

#[component]
pub fn GeneratePage() -> impl IntoView {
    // researchers, and anyone while the public demo is on; the others see why not
    let access = Resource::new(|| (), |_| generate_access());
    view! {
        <Title text="Generate — MagicTime"/>
        <h1>"Generate"</h1>
        <p class="lead">"Text to metamorphic time-lapse video. Jobs run on the server one at a time; the video appears below when done."</p>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || access.get().map(|a| match a {
                Ok(Some(access)) => view! { <Generate access/> }.into_any(),
                Ok(None) => view! {
                    <RequireRole role=Role::Researcher>
                        <p>"…"</p>
                    </RequireRole>
                }.into_any(),
                Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
            })}
        </Transition>
    }
}

/// What a demo visitor is told above the form: the ceiling, the rate, whose gallery it is.
#[component]
fn DemoNotice(limits: RequestLimits) -> impl IntoView {
    view! {
        <p class="notice" data-testid="demo-notice">
            "Public demo: generate without an account, up to " {limits.max_steps} " steps, "
            {limits.max_frames} " frames and " {limits.max_size} " px, a few videos an hour. "
            "Your videos are kept for you in this browser (a cookie); nobody else sees them here."
        </p>
    }
}

/// The form's values a link may set (`/generate?model=…&prompt=…&seed=…`: a generation's
/// "generate again"); each absent or unreadable one is the model's default.
#[derive(Clone, Default)]
struct Prefill {
    prompt: Option<String>,
    negative: Option<String>,
    seed: Option<u64>,
    steps: Option<usize>,
    cfg: Option<f64>,
    frames: Option<usize>,
    size: Option<usize>,
    fps: Option<f64>,
    /// Adapter ids, comma-separated in the URL.
    adapters: Option<Vec<String>>,
    dreambooth: Option<String>,
    format: Option<String>,
}

/// The models and the first job list load on the server. `?model=<id>` picks the model (its
/// own settings fill the form), so a link can name it; the other fields of [`Prefill`] fill
/// theirs. The form element, its button and the list are an island; every field renders here,
/// on the server, and joins the form through its `form` attribute (island children would cost
/// the WASM bundle 2.8 KiB).
#[component]
fn Generate(access: GenerateAccess) -> impl IntoView {
    let limits = access.limits();
    let notice = match access {
        GenerateAccess::Visitor(l) => Some(view! { <DemoNotice limits=l/> }),
        GenerateAccess::Researcher => None,
    };
    let query = use_query_map().read_untracked();
    let asked = query.get("model");
    fn num<T: std::str::FromStr>(q: &leptos_router::params::ParamsMap, k: &str) -> Option<T> {
        q.get(k).and_then(|v| v.trim().parse().ok())
    }
    let prefill = Prefill {
        prompt: query.get("prompt"),
        negative: query.get("negative"),
        seed: num(&query, "seed"),
        steps: num(&query, "steps"),
        cfg: num(&query, "cfg"),
        frames: num(&query, "frames"),
        size: num(&query, "size"),
        fps: num(&query, "fps"),
        adapters: query.get("adapters").map(|a| {
            a.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        }),
        dreambooth: query.get("dreambooth"),
        format: query.get("format"),
    };
    let models = Resource::new(|| (), |_| generate_models());
    let jobs = Resource::new(|| (), |_| first_jobs(Some("generate".into())));
    view! {
        {notice}
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                let models = models.get()?;
                let jobs = jobs.get()?;
                let list = match models {
                    Ok(list) => list,
                    Err(e) => return Some(view! { <p class="error">{e.to_string()}</p> }.into_any()),
                };
                let found = asked.as_deref().and_then(|a| list.iter().find(|m| m.id == a));
                let unknown = asked.clone().filter(|_| found.is_none()).map(|a| view! {
                    <p class="error">"Model " {format!("{a:?}")} " is not offered here; the default model is chosen."</p>
                });
                let chosen = found.or(list.first())?.clone();
                let defaults = chosen.defaults.clone();
                Some(view! {
                    <ModelPicker list chosen=chosen.id.clone()/>
                    {unknown}
                    <SettingsFields defaults prefill=prefill.clone() limits/>
                    <ModelFields model=chosen prefill=prefill.clone()/>
                    <GenerateForm jobs/>
                    <p><a href="/gallery">"The gallery: search, filter, compare side by side"</a></p>
                    // the fields' messages (public/generate.js): no WASM
                    <script src="/generate.js" defer></script>
                }.into_any())
            }}
        </Transition>
    }
}

/// The model in use, and links to the others (page loads with `?model=`).
#[component]
fn ModelPicker(list: Vec<ModelOption>, chosen: String) -> impl IntoView {
    let label = list
        .iter()
        .find(|m| m.id == chosen)
        .map(|m| m.label.clone())
        .unwrap_or_default();
    let links = (list.len() > 1).then(|| {
        view! {
            <nav class="model-picker" aria-label="Models">
                {list
                    .into_iter()
                    .map(|m| {
                        let current = (m.id == chosen).then_some("page");
                        let name = if m.id == BUILTIN_MODEL { "Built-in model" } else { "Official MagicTime release" };
                        view! { <a href=format!("/generate?model={}", m.id) aria-current=current>{name}</a> }
                    })
                    .collect_view()}
            </nav>
        }
    });
    view! {
        {links}
        <p class="muted" data-testid="model">"Model: " {label}</p>
    }
}

/// The id of the generation form, which the model's fields name in their `form` attribute.
const FORM: &str = "generate-form";

/// The prompt and the numbers of the generation form: the model's own settings, or the
/// link's ([`Prefill`]), bounded by the asker's [`RequestLimits`]. Beside each field a message
/// slot (`<field>-error`) that `public/generate.js` fills from the browser's own checks of these
/// bounds and of frames × size² (the server checks them all again).
#[component]
fn SettingsFields(
    defaults: GenerateDefaults,
    prefill: Prefill,
    limits: RequestLimits,
) -> impl IntoView {
    let p = prefill;
    let error = |field: &'static str| {
        view! { <small class="field-error" id=format!("{field}-error") data-testid=format!("{field}-error") aria-live="polite"></small> }
    };
    view! {
        <div class="form wide settings-fields" id="generate-fields" data-max-frame-pixels=MAX_FRAME_PIXELS>
            <label for="prompt">"Prompt"</label>
            // escaped here: tachys writes a <textarea>'s text unescaped (a prompt of the URL
            // could close it and open a <script>)
            <textarea id="prompt" name="prompt" rows="2" maxlength=MAX_PROMPT_CHARS required form=FORM aria-describedby="prompt-error">
                {escape_text(&p.prompt.unwrap_or_else(|| "a red flower blooming, time-lapse".to_owned()))}
            </textarea>
            {error("prompt")}
            <label for="negative">"Negative prompt"</label>
            <input id="negative" name="negative" form=FORM maxlength=MAX_PROMPT_CHARS aria-describedby="negative-error"
                value=p.negative.unwrap_or_else(|| "worst quality, low quality, letterboxed".to_owned())/>
            {error("negative")}
            <div class="grid4">
                <div>
                    <label for="seed">"Seed"</label>
                    <span class="with-button">
                        <input id="seed" name="seed" type="number" min="0" max="18446744073709551615" required form=FORM value=p.seed.unwrap_or(42) aria-describedby="seed-error"/>
                        // a plain handler, no island: a random seed costs no WASM
                        <button type="button" class="secondary dice" title="Random seed" aria-label="Random seed" data-testid="dice"
                            onclick="document.getElementById('seed').value=Math.floor(Math.random()*4294967296)">"🎲"</button>
                    </span>
                    {error("seed")}
                </div>
                <div><label for="steps">"Steps"</label><input id="steps" name="steps" type="number" min="1" max=limits.max_steps required form=FORM value=p.steps.unwrap_or(defaults.steps.min(limits.max_steps)) aria-describedby="steps-error"/>{error("steps")}</div>
                <div><label for="cfg">"Guidance"</label><input id="cfg" name="cfg" type="number" min="0" max="30" step="0.5" required form=FORM value=p.cfg.unwrap_or(defaults.cfg) aria-describedby="cfg-error"/>{error("cfg")}</div>
                <div><label for="frames">"Frames"</label><input id="frames" name="frames" type="number" min="1" max=limits.max_frames required form=FORM value=p.frames.unwrap_or(defaults.frames.min(limits.max_frames)) aria-describedby="frames-error"/>{error("frames")}</div>
                <div><label for="size">"Size (px)"</label><input id="size" name="size" type="number" min=MIN_SIZE max=limits.max_size step="16" required form=FORM value=p.size.unwrap_or(defaults.size.min(limits.max_size)) aria-describedby="size-error"/>{error("size")}</div>
                <div><label for="fps">"Frame rate (fps)"</label><input id="fps" name="fps" type="number" min="1" max="60" step="any" required form=FORM value=p.fps.unwrap_or(8.0) aria-describedby="fps-error"/>{error("fps")}</div>
            </div>
        </div>
    }
}

/// `s` as HTML text (`&`, `<`, `>` as entities), for the children tachys does not escape.
pub fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chosen model's fields of the generation form: its id, a DreamBooth file (when it offers
/// some), its adapters (all on unless the link names some), and the output format.
#[component]
fn ModelFields(model: ModelOption, prefill: Prefill) -> impl IntoView {
    let picked_db = prefill.dreambooth.clone().unwrap_or_default();
    let dreambooth = (!model.dreambooth.is_empty()).then(|| {
        view! {
            <label for="dreambooth">"DreamBooth model (over the base model)"</label>
            <select id="dreambooth" name="dreambooth" form=FORM>
                <option value="">"none"</option>
                {model.dreambooth.into_iter().map(|d| {
                    let selected = d == picked_db;
                    view! { <option value=d.clone() selected=selected>{d.clone()}</option> }
                }).collect_view()}
            </select>
        }
    });
    let on = |id: &str| {
        prefill
            .adapters
            .as_ref()
            .is_none_or(|a| a.iter().any(|x| x == id))
    };
    let picked_format = prefill.format.clone().unwrap_or_default();
    let has = |id: &str| model.adapters.iter().any(|a| a == id);
    let adapters: Vec<_> = ADAPTERS.iter().filter(|(id, _)| has(id)).collect();
    let adapters = (!adapters.is_empty()).then(|| {
        view! {
            <fieldset class="adapters">
                <legend>"Adapters"</legend>
                {adapters
                    .into_iter()
                    .map(|(id, name)| view! {
                        <label class="check"><input type="checkbox" name=format!("adapter_{id}") form=FORM checked=on(id)/>" " {*name}</label>
                    })
                    .collect_view()}
            </fieldset>
        }
    });
    view! {
        <div class="form wide model-fields">
        <input type="hidden" name="model" value=model.id form=FORM/>
        {dreambooth}
        {adapters}
        <label for="format">"Output"</label>
        <select id="format" name="format" form=FORM>
            {FORMATS
                .iter()
                .filter(|(ext, _)| *ext == "mp4" || !ALWAYS_WRITTEN.contains(ext))
                .map(|(ext, name)| {
                    let text = if *ext == "mp4" { (*name).to_owned() } else { format!("MP4 and {name}") };
                    view! { <option value=*ext selected={*ext == picked_format}>{text}</option> }
                })
                .collect_view()}
        </select>
        </div>
    }
}

/// The form element (its fields render on the server, above), its button and messages, and the
/// gallery and queue.
#[island]
fn GenerateForm(jobs: Result<Vec<JobView>, String>) -> impl IntoView {
    let submit = ServerAction::<SubmitGeneration>::new();
    let refresh = Signal::derive(move || submit.version().get());
    // a refusal of the model's fields shows beside them (just above), the rest under the button
    let message = move || queued_message(submit.value().get());
    let about_choice = |m: &String| CHOICE_ERRORS.iter().any(|p| m.starts_with(p));
    view! {
        <p class="error" data-testid="choice-error">{move || message().filter(about_choice)}</p>
        <ActionForm action=submit attr:id=FORM attr:class="form wide">
            <CsrfField/>
            <button type="submit">"Generate"</button>
            <p class="status" role="status">{move || message().filter(|m| !about_choice(m))}</p>
        </ActionForm>
        <h2>"Gallery and queue"</h2>
        <JobList kind=Some("generate".to_owned()) initial=jobs refresh/>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_cannot_close_its_textarea() {
        assert_eq!(
            super::escape_text("a & b </textarea><script>"),
            "a &amp; b &lt;/textarea&gt;&lt;script&gt;"
        );
    }
}
