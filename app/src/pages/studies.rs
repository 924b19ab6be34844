//! The researcher's list of studies and the form that creates one. Each study's own page
//! (design, stimuli, lifecycle, results) is `pages::study` at `/studies/{id}`.
use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::studies::list_studies, components::csrf::CsrfField, components::require_role::RequireRole,
    types::Role,
};

#[component]
pub fn StudiesPage() -> impl IntoView {
    view! {
        <Title text="Studies — MagicTime"/>
        <h1>"Studies"</h1>
        <p class="lead">"Design blind user studies, share participant links and read the statistics."</p>
        <RequireRole role=Role::Researcher>
            <StudyList/>
        </RequireRole>
    }
}

#[component]
fn StudyList() -> impl IntoView {
    let studies = Resource::new(|| (), |_| list_studies());
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || studies.get().map(|r| match r {
                Ok(list) if list.is_empty() => view! { <p>"No studies yet."</p> }.into_any(),
                Ok(list) => view! {
                    <table data-testid="studies">
                        <thead><tr>
                            <th scope="col">"Study"</th><th scope="col">"Design"</th>
                            <th scope="col">"Status"</th><th scope="col">"Participants"</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|s| view! {
                                <tr>
                                    <td><a href=format!("/studies/{}", s.id) rel="external">{s.title}</a></td>
                                    <td>{s.kind}</td>
                                    <td>{s.status}</td>
                                    <td>{format!("{} ({} completed)", s.participants, s.completed)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
                Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
            })}
        </Transition>
        <h2>"New study"</h2>
        <form method="post" action="/studies/new" class="form">
            <CsrfField/>
            <label for="study-title">"Title"</label>
            <input id="study-title" name="title" required/>
            <label for="study-kind">"Design"</label>
            <select id="study-kind" name="kind">
                <option value="pairwise">"Pairwise (2AFC, optional tie)"</option>
                <option value="best_of_k">"Best of k"</option>
                <option value="rating">"Rating 1–5"</option>
            </select>
            <label for="study-k">"Videos per trial (best of k)"</label>
            <input id="study-k" name="k" type="number" min="2" max="6" value="4"/>
            <label for="study-trials">"Trials per participant"</label>
            <input id="study-trials" name="trials_per_participant" type="number" min="1" value="10"/>
            <p class="hint">"The paper's four criteria are asked by default; edit them and everything else on the study's page."</p>
            <button type="submit">"Create study"</button>
        </form>
    }
}
