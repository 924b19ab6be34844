use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::auth::{list_users, CreateAccount},
    components::{csrf::CsrfField, require_role::RequireRole},
    pages::login::clean_error,
    types::{Role, User},
};

#[component]
pub fn AdminPage() -> impl IntoView {
    view! {
        <Title text="Admin — MagicTime"/>
        <h1>"Admin"</h1>
        <RequireRole role=Role::Admin>
            <Accounts/>
        </RequireRole>
    }
}

/// Loads the accounts on the server and hands them to the editor island.
#[component]
fn Accounts() -> impl IntoView {
    let users = Resource::new(|| (), |_| list_users());
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || users.get().map(|r| match r {
                Ok(users) => view! { <AccountEditor users/> }.into_any(),
                Err(e) => view! {
                    <h2>"Accounts"</h2>
                    <p class="error">{clean_error(&e.to_string())}</p>
                }.into_any(),
            })}
        </Transition>
    }
}

/// The account table and the form that creates one; a created account joins the table.
#[island]
fn AccountEditor(users: Vec<User>) -> impl IntoView {
    let users = RwSignal::new(users);
    let create = ServerAction::<CreateAccount>::new();
    Effect::new(move |_| {
        if let Some(Ok(u)) = create.value().get() {
            users.update(|l| {
                if !l.iter().any(|x| x.id == u.id) {
                    l.push(u)
                }
            });
        }
    });
    let message = move || match create.value().get() {
        Some(Ok(u)) => Some(format!("Created {} ({})", u.email, u.role)),
        Some(Err(e)) => Some(clean_error(&e.to_string())),
        None => None,
    };
    view! {
        <h2>"Accounts"</h2>
        <table>
            <thead><tr><th scope="col">"E-mail"</th><th scope="col">"Role"</th></tr></thead>
            <tbody>
                <For each=move || users.get() key=|u| u.id let(u)>
                    <tr><td>{u.email}</td><td>{u.role.as_str()}</td></tr>
                </For>
            </tbody>
        </table>
        <h2>"New account"</h2>
        <ActionForm action=create attr:class="form">
            <CsrfField/>
            <label for="new-email">"E-mail"</label>
            <input id="new-email" name="email" type="email" required/>
            <label for="new-password">"Initial password"</label>
            <input id="new-password" name="password" type="password" minlength="8" autocomplete="new-password" required/>
            <label for="new-role">"Role"</label>
            <select id="new-role" name="role">
                {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str()>{r.as_str()}</option> }).collect_view()}
            </select>
            <button type="submit">"Create account"</button>
            <p class="status" role="status">{message}</p>
        </ActionForm>
    }
}
