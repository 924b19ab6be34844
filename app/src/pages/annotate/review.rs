//! Review of one item: the captions of the current round side by side (with their diff against
//! the draft), accept one, edit and accept, send back with a comment, or reject; then the full
//! history of every version (who, when, what changed).
use leptos::either::{Either, EitherOf3};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::fmt_opt;
use crate::{
    api::annotate::{
        annot_review_item,
        text::{word_count, word_diff, DiffPart},
        AnnotReview, ReviewItem,
    },
    components::csrf::CsrfField,
};

fn diff_view(old: &str, new: &str) -> impl IntoView {
    word_diff(old, new)
        .into_iter()
        .map(|p| match p {
            DiffPart::Same(w) => EitherOf3::A(view! { <span>{w} " "</span> }),
            DiffPart::Added(w) => EitherOf3::B(view! { <ins>{w}</ins> " " }),
            DiffPart::Removed(w) => EitherOf3::C(view! { <del>{w}</del> " " }),
        })
        .collect_view()
}

#[component]
pub fn ReviewPage() -> impl IntoView {
    let params = use_params_map();
    let iid = move || {
        params
            .read()
            .get("iid")
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let data = Resource::new(iid, annot_review_item);
    view! {
        <Title text="Review — MagicTime"/>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || data.get().map(|r| match r {
                Ok(d) => view! { <Review d/> }.into_any(),
                Err(e) => view! {
                    <h1>"Review"</h1>
                    <p class="error" role="alert">{e.to_string()}</p>
                }.into_any(),
            })}
        </Transition>
    }
}

/// The review of one item: an island that reloads the item after each decision.
#[island]
fn Review(d: ReviewItem) -> impl IntoView {
    let item_id = d.item.id;
    let data = RwSignal::new(Ok::<_, String>(d));
    let decide = ServerAction::<AnnotReview>::new();
    Effect::new(move |prev: Option<()>| {
        decide.version().track();
        if prev.is_some() {
            leptos::task::spawn_local(async move {
                data.set(annot_review_item(item_id).await.map_err(|e| e.to_string()));
            });
        }
    });
    move || match data.get() {
        Ok(d) => Either::Left(view! { <ReviewView d decide/> }),
        Err(e) => Either::Right(view! {
            <h1>"Review"</h1>
            <p class="error" role="alert">{e}</p>
        }),
    }
}

#[component]
fn ReviewView(d: ReviewItem, decide: ServerAction<AnnotReview>) -> impl IntoView {
    let it = d.item.clone();
    let item_id = it.id;
    let draft = it.draft.clone();
    let round = it.round;
    let current: Vec<_> = d
        .versions
        .iter()
        .filter(|v| v.round == round && matches!(v.kind.as_str(), "submit" | "review_edit"))
        .cloned()
        .collect();
    // Goes into a textarea through prop:value, never as a text child: tachys renders
    // <textarea> children unescaped in SSR (a caption with "</textarea><script>" would break out).
    let first_text = current
        .iter()
        .find(|v| v.kind == "submit")
        .map(|v| v.text.clone())
        .unwrap_or_else(|| draft.clone());
    let accepted = d.accepted_version;
    let message = move || match decide.value().get() {
        Some(Ok(())) => "Saved.".to_owned(),
        Some(Err(e)) => e.to_string(),
        None => String::new(),
    };
    view! {
        <h1>"Review " <span class="muted">{format!("#{} {}", it.seq, it.videoid)}</span></h1>
        <p class="muted"><a href=format!("/annotate/p/{}", it.project_id)>{it.project_name.clone()}</a>
            " · status " <b data-testid="review-status">{it.status.clone()}</b> " · round " {round + 1}</p>
        <div class="firstlast">
            <figure><img src=format!("/annotate/media/{item_id}/keyframe/0") alt="First frame"/><figcaption>"First frame"</figcaption></figure>
            <figure><img src=format!("/annotate/media/{item_id}/keyframe/7") alt="Last frame"/><figcaption>"Last frame"</figcaption></figure>
        </div>
        <p><b>"Draft: "</b> <span class="draft">{draft.clone()}</span></p>
        <p class="status" role="status">{message}</p>
        <h2>"Captions of this round"</h2>
        <div class="versions">
            {current.into_iter().map(|v| {
                let is_accepted = accepted == Some(v.id);
                view! {
                    <article class=if is_accepted { "version accepted" } else { "version" } data-testid="version">
                        <h3>{v.user.clone()} <span class="muted">" · " {v.kind.clone()}</span></h3>
                        <p class="caption">{v.text.clone()}</p>
                        <p class="muted">{word_count(&v.text)} " words · " {fmt_opt(v.seconds, 1, " s")}
                            {(!v.flags.is_empty()).then(|| format!(" · flags: {}", v.flags.join(", ")))}
                            {(!v.checklist.is_empty()).then(|| format!(" · states: {}", v.checklist.join(", ")))}</p>
                        <p class="diff">{diff_view(&draft, &v.text)}</p>
                        <ActionForm action=decide>
                            <CsrfField/>
                            <input type="hidden" name="item_id" value=item_id/>
                            <input type="hidden" name="action" value="accept"/>
                            <input type="hidden" name="version_id" value=v.id/>
                            <button type="submit" disabled=is_accepted>
                                {if is_accepted { "Accepted" } else { "Accept this caption" }}</button>
                        </ActionForm>
                    </article>
                }
            }).collect_view()}
        </div>
        <div class="review-forms">
            <ActionForm action=decide attr:class="form">
                <CsrfField/>
                <input type="hidden" name="item_id" value=item_id/>
                <input type="hidden" name="action" value="edit"/>
                <label for="edit-text">"Edit and accept"</label>
                <textarea id="edit-text" name="text" rows="4" prop:value=first_text></textarea>
                <button type="submit">"Accept edited caption"</button>
            </ActionForm>
            <ActionForm action=decide attr:class="form">
                <CsrfField/>
                <input type="hidden" name="item_id" value=item_id/>
                <input type="hidden" name="action" value="send_back"/>
                <label for="back-comment">"Send back with a comment"</label>
                <textarea id="back-comment" name="comment" rows="2" required></textarea>
                <button type="submit">"Send back"</button>
            </ActionForm>
            <ActionForm action=decide attr:class="form">
                <CsrfField/>
                <input type="hidden" name="item_id" value=item_id/>
                <input type="hidden" name="action" value="reject"/>
                <label for="reject-comment">"Reject the clip (excluded from exports)"</label>
                <input id="reject-comment" name="comment"/>
                <button type="submit">"Reject"</button>
            </ActionForm>
        </div>
        <h2>"History"</h2>
        <table class="history">
            <thead><tr><th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"Round"</th>
                <th scope="col">"What"</th><th scope="col">"Caption (changes against the draft)"</th></tr></thead>
            <tbody>
                {d.versions.into_iter().map(|v| {
                    let what = match v.kind.as_str() {
                        "accept" => format!("accepted version {}", v.ref_version.unwrap_or(0)),
                        k => k.to_owned(),
                    };
                    let body = if v.text.is_empty() { Either::Left(view! { <span>{v.comment.clone()}</span> }) }
                        else { Either::Right(view! { <span>{diff_view(&draft, &v.text)}</span> }) };
                    view! {
                        <tr><td>{v.created_at.clone()}</td><td>{v.user.clone()}</td><td>{v.round + 1}</td>
                            <td>{what}</td><td>{body}</td></tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
