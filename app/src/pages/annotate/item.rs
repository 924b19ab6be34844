//! The annotation workspace of one item: the player, source metadata, the draft, the caption
//! editor (word count, diff against the draft, checklist, flags) and configurable hotkeys
//! (submit, skip, flag, next, play; Space and ←/→ drive the player outside text fields).
//! Autosaves every few seconds, which also keeps the item's lock.
use leptos::either::EitherOf3;
use leptos::{ev, html::Video, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::{csrf, go, player};
use crate::{
    api::annotate::{
        annot_autosave, annot_hotkeys, annot_item, annot_next, annot_release, annot_skip,
        annot_submit, hotkey_matches,
        text::{word_count, word_diff, DiffPart, MAX_WORDS},
        AnnotSetHotkeys, Hotkeys, ItemView, CHECKLIST, FLAGS,
    },
    components::csrf::CsrfField,
};

#[component]
pub fn ItemPage() -> impl IntoView {
    let params = use_params_map();
    let iid = move || {
        params
            .read()
            .get("iid")
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let item = Resource::new(iid, annot_item);
    let keys = Resource::new(|| (), |_| annot_hotkeys());
    view! {
        <Title text="Annotate item — MagicTime"/>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || match (item.get(), keys.get()) {
                (Some(Ok(it)), Some(k)) => view! { <Workspace it keys=k.unwrap_or_default()/> }.into_any(),
                (Some(Err(e)), _) => view! {
                    <h1>"Annotate"</h1>
                    <p class="error" role="alert">{e.to_string()}</p>
                }.into_any(),
                _ => view! { <p>"Loading…"</p> }.into_any(),
            }}
        </Transition>
    }
}

/// Whether a key event comes from a text field (then Space and arrows type, not play).
fn typing(e: &ev::KeyboardEvent) -> bool {
    use leptos::wasm_bindgen::JsCast;
    e.target()
        .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
        .is_some_and(|el| matches!(el.tag_name().as_str(), "TEXTAREA" | "INPUT" | "SELECT"))
}

fn focus(id: &str) {
    use leptos::wasm_bindgen::JsCast;
    if let Some(el) = leptos::web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into::<leptos::web_sys::HtmlElement>().ok())
    {
        let _ = el.focus();
    }
}

/// The workspace is an island: everything on it needs the WASM.
#[island]
fn Workspace(it: ItemView, keys: Hotkeys) -> impl IntoView {
    let item_id = it.id;
    let pid = it.project_id;
    let fps = if it.fps > 0.0 { it.fps } else { 8.0 };
    let writable = it.locked_by_me && it.status == "open";
    let draft = it.draft.clone();
    let text = RwSignal::new(it.autosave.clone().unwrap_or_else(|| it.draft.clone()));
    let saved = RwSignal::new(text.get_untracked());
    let flags = RwSignal::new(Vec::<String>::new());
    let checklist = RwSignal::new(Vec::<String>::new());
    let status = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let hotkeys = RwSignal::new(keys);
    let video = NodeRef::<Video>::new();

    // Moves on: the next item for this user (not `exclude`), or back to the project.
    let go_next = move |exclude: Option<i64>| {
        leptos::task::spawn_local(async move {
            match annot_next(csrf(), pid, exclude).await {
                Ok(Some(id)) => go(&format!("/annotate/item/{id}")),
                Ok(None) => go(&format!("/annotate/p/{pid}")),
                Err(e) => {
                    busy.set(false);
                    status.set(e.to_string());
                }
            }
        });
    };
    let submit = {
        move || {
            if busy.get_untracked() || !writable {
                return;
            }
            busy.set(true);
            status.set("Submitting…".into());
            leptos::task::spawn_local(async move {
                let r = annot_submit(
                    csrf(),
                    item_id,
                    text.get_untracked(),
                    Some(flags.get_untracked().join(",")),
                    Some(checklist.get_untracked().join(",")),
                )
                .await;
                match r {
                    Ok(()) => go_next(None),
                    Err(e) => {
                        busy.set(false);
                        status.set(e.to_string());
                    }
                }
            });
        }
    };
    let skip = {
        move || {
            if busy.get_untracked() || !writable {
                return;
            }
            busy.set(true);
            leptos::task::spawn_local(async move {
                match annot_skip(csrf(), item_id).await {
                    Ok(()) => go_next(None),
                    Err(e) => {
                        busy.set(false);
                        status.set(e.to_string());
                    }
                }
            });
        }
    };
    // Later: keep the autosaved text, give the lock back, take another item.
    let later = {
        move || {
            if busy.get_untracked() {
                return;
            }
            busy.set(true);
            leptos::task::spawn_local(async move {
                if writable {
                    let _ = annot_autosave(csrf(), item_id, text.get_untracked()).await;
                    let _ = annot_release(csrf(), item_id).await;
                }
                go_next(Some(item_id));
            });
        }
    };

    // Keyboard-first: the caption field has the focus when the item opens.
    Effect::new(move |_| {
        if writable {
            focus("caption");
        }
    });

    // Autosave (and lock heartbeat): every 5 s when changed, at least once a minute.
    Effect::new(move |_| {
        if !writable {
            return;
        }
        let ticks = StoredValue::new(0u32);
        if let Ok(h) = set_interval_with_handle(
            move || {
                let t = ticks.get_value() + 1;
                ticks.set_value(t);
                let cur = text.get_untracked();
                if cur != saved.get_untracked() || t.is_multiple_of(12) {
                    leptos::task::spawn_local(async move {
                        match annot_autosave(csrf(), item_id, cur.clone()).await {
                            Ok(_) => {
                                saved.set(cur);
                                status.set("Draft saved.".into());
                            }
                            Err(e) => status.set(e.to_string()),
                        }
                    });
                }
            },
            std::time::Duration::from_secs(5),
        ) {
            on_cleanup(move || h.clear());
        }
    });

    let listener = {
        window_event_listener(ev::keydown, move |e: ev::KeyboardEvent| {
            let k = hotkeys.get_untracked();
            let key = e.key();
            let (c, a, s) = (e.ctrl_key() || e.meta_key(), e.alt_key(), e.shift_key());
            let m = |spec: &str| hotkey_matches(spec, &key, c, a, s);
            if m(&k.submit) {
                e.prevent_default();
                submit();
            } else if m(&k.skip) {
                e.prevent_default();
                skip();
            } else if m(&k.next) {
                e.prevent_default();
                later();
            } else if m(&k.flag) {
                e.prevent_default();
                focus(&format!("flag-{}", FLAGS[0].0));
            } else if m(&k.play) {
                e.prevent_default();
                player::toggle(video);
            } else if !typing(&e) && !c && !a {
                match key.as_str() {
                    " " => {
                        e.prevent_default();
                        player::toggle(video);
                    }
                    "ArrowLeft" => {
                        e.prevent_default();
                        player::step(video, fps, -1.0);
                    }
                    "ArrowRight" => {
                        e.prevent_default();
                        player::step(video, fps, 1.0);
                    }
                    _ => {}
                }
            }
        })
    };
    on_cleanup(move || listener.remove());

    let words = move || word_count(&text.get());
    let diff = {
        let draft = draft.clone();
        move || {
            word_diff(&draft, &text.get())
                .into_iter()
                .map(|p| match p {
                    DiffPart::Same(w) => EitherOf3::A(view! { <span>{w} " "</span> }),
                    DiffPart::Added(w) => EitherOf3::B(view! { <ins>{w}</ins> " " }),
                    DiffPart::Removed(w) => EitherOf3::C(view! { <del>{w}</del> " " }),
                })
                .collect_view()
        }
    };
    let toggle_in = |list: RwSignal<Vec<String>>, key: &'static str, on: bool| {
        list.update(|l| {
            l.retain(|x| x != key);
            if on {
                l.push(key.to_owned());
            }
        })
    };
    let k = hotkeys.get_untracked();
    let prov = it.provenance.clone();
    view! {
        <h1>"Annotate " <span class="muted">{format!("#{} of {}", it.seq, it.total)}</span></h1>
        <p class="muted">
            <a href=format!("/annotate/p/{pid}")>{it.project_name.clone()}</a>
            " · " <code>{it.videoid.clone()}</code> " · " {it.frames} " frames @ " {fps} " fps · "
            {it.width} "×" {it.height}
        </p>
        {(!writable).then(|| view! {
            <p class="notice" role="alert">
                {if it.status != "open" { format!("This item is {} (read-only).", it.status) }
                 else { "You do not hold this item's lock (read-only). Start from the project page.".to_owned() }}
            </p>
        })}
        {it.sent_back_comment.clone().map(|c| view! {
            <p class="notice" data-testid="sent-back">"Sent back by the reviewer: " {c}</p>
        })}
        <div class="annot-grid">
            {view! { <div>
                <player::Player item_id fps keyframes=it.keyframes.clone() video/>
                <section class="source" aria-label="Source metadata">
                    <h2>"Source"</h2>
                    <dl>
                        <dt>"Title"</dt><dd data-testid="title">{it.title.clone()}</dd>
                        <dt>"Tags"</dt><dd>{it.tags.join(", ")}</dd>
                        <dt>"Description"</dt><dd class="desc">{it.description.clone()}</dd>
                        <dt>"Draft by"</dt>
                        <dd>{prov.method.clone()} {prov.model.clone().map(|m| format!(" ({m})"))}
                            {(!prov.inputs.is_empty()).then(|| format!(" from {}", prov.inputs.join(", ")))}</dd>
                    </dl>
                    <h3>"Draft caption"</h3>
                    <p class="draft" data-testid="draft">{draft.clone()}</p>
                </section>
            </div> }}
            {view! { <section class="editor" aria-label="Caption editor">
                <label for="caption">"Caption"</label>
                <textarea id="caption" rows="6" autofocus=writable readonly=!writable
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))></textarea>
                <p class=move || { if words() > MAX_WORDS { "words over" } else { "words" } } data-testid="words">
                    {words} " / " {MAX_WORDS} " words"
                    {move || (words() > MAX_WORDS).then_some(" — over the guideline")}
                </p>
                <details open>
                    <summary>"Changes against the draft"</summary>
                    <p class="diff" data-testid="diff">{diff}</p>
                </details>
                <fieldset class="checklist">
                    <legend>"The caption states"</legend>
                    {CHECKLIST.into_iter().map(|(key, label)| view! {
                        <label><input type="checkbox" id=format!("check-{key}")
                            on:change=move |ev| toggle_in(checklist, key, event_target_checked(&ev))/>
                            " " {label}</label>
                    }).collect_view()}
                </fieldset>
                <fieldset class="flags">
                    <legend>"Flags (route the clip to review)"</legend>
                    {FLAGS.into_iter().map(|(key, label)| view! {
                        <label><input type="checkbox" id=format!("flag-{key}")
                            on:change=move |ev| toggle_in(flags, key, event_target_checked(&ev))/>
                            " " {label}</label>
                    }).collect_view()}
                </fieldset>
                <div class="actions">
                    <button class="primary" type="button" disabled=move || busy.get() || !writable
                        on:click=move |_| submit()>
                        "Submit " <kbd>{k.submit.clone()}</kbd></button>
                    <button type="button" disabled=move || busy.get() || !writable
                        on:click=move |_| skip()>
                        "Skip " <kbd>{k.skip.clone()}</kbd></button>
                    <button type="button" disabled=move || busy.get()
                        on:click=move |_| later()>
                        "Later / next " <kbd>{k.next.clone()}</kbd></button>
                </div>
                <p class="status" role="status" data-testid="status">{move || status.get()}</p>
                <p class="muted">"Space play/pause · ←/→ frame step (outside the text) · "
                    <kbd>{k.play.clone()}</kbd> " play anywhere · " <kbd>{k.flag.clone()}</kbd> " flags"</p>
                <HotkeySettings hotkeys/>
            </section> }}
        </div>
    }
}

#[component]
fn HotkeySettings(hotkeys: RwSignal<Hotkeys>) -> impl IntoView {
    let save = ServerAction::<AnnotSetHotkeys>::new();
    Effect::new(move |_| {
        if let Some(Ok(k)) = save.value().get() {
            hotkeys.set(k);
        }
    });
    let k = hotkeys.get_untracked();
    let field = |name: &'static str, label: &'static str, value: String| {
        view! {
            <label for=format!("hk-{name}")>{label}</label>
            <input id=format!("hk-{name}") name=name value=value required maxlength="40"/>
        }
    };
    view! {
        <details class="hotkeys">
            <summary>"Hotkeys"</summary>
            <ActionForm action=save attr:class="form">
                <CsrfField/>
                {field("submit", "Submit", k.submit)}
                {field("skip", "Skip", k.skip)}
                {field("flag", "Flags", k.flag)}
                {field("next", "Later / next", k.next)}
                {field("play", "Play / pause", k.play)}
                <button type="submit">"Save hotkeys"</button>
                <p class="status" role="status">{move || match save.value().get() {
                    Some(Ok(_)) => "Saved.".to_owned(),
                    Some(Err(e)) => e.to_string(),
                    None => String::new(),
                }}</p>
            </ActionForm>
        </details>
    }
}
