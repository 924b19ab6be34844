use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::{
        auth::{list_users, AccountAction, CreateAccount},
        jobs::demo_mode,
    },
    components::{
        csrf::{token, CsrfField},
        require_role::RequireRole,
    },
    types::{Account, Role},
};

#[component]
pub fn AdminPage() -> impl IntoView {
    view! {
        <Title text="Admin — MagicTime"/>
        <h1>"Admin"</h1>
        <RequireRole role=Role::Admin>
            <Accounts/>
            <PublicDemo/>
        </RequireRole>
    }
}

/// The public demo's switch: a plain form (no WASM); the server function answers its post
/// with a redirect back here.
#[component]
fn PublicDemo() -> impl IntoView {
    let on = Resource::new(|| (), |_| demo_mode());
    view! {
        <h2>"Public demo"</h2>
        <p class="muted">
            "When on, anyone may generate on the Generate page without an account, within the "
            "demo's limits (serve's --demo-* options: steps, frames, size, generations per hour "
            "per visitor and per address, the demo's queue). Each visitor sees only their own "
            "videos; a researcher's are never shown to them. An admin can hide any generation on "
            "its page."
        </p>
        <Transition fallback=|| ()>
            {move || on.get().map(|r| match r {
                Ok(on) => view! {
                    <form method="post" action="/api/set_demo_mode" class="inline">
                        <CsrfField/>
                        <input type="hidden" name="on" value=(!on).to_string()/>
                        <span data-testid="demo-state">{if on { "The public demo is on. " } else { "The public demo is off. " }}</span>
                        <button type="submit" data-testid="demo-toggle">{if on { "Turn it off" } else { "Turn it on" }}</button>
                    </form>
                }.into_any(),
                Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
            })}
        </Transition>
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
                    <p class="error">{e.to_string()}</p>
                }.into_any(),
            })}
        </Transition>
    }
}

/// The account table (status, live sessions, disable / enable / log out everywhere) and the form
/// that creates one; a created account joins the table.
#[island]
fn AccountEditor(users: Vec<Account>) -> impl IntoView {
    let users = RwSignal::new(users);
    let create = ServerAction::<CreateAccount>::new();
    let act = ServerAction::<AccountAction>::new();
    Effect::new(move |_| {
        if let Some(Ok(u)) = create.value().get() {
            users.update(|l| {
                if !l.iter().any(|x| x.user.id == u.id) {
                    l.push(Account {
                        user: u,
                        disabled: false,
                        sessions: 0,
                    })
                }
            });
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(a)) = act.value().get() {
            users.update(|l| {
                if let Some(x) = l.iter_mut().find(|x| x.user.id == a.user.id) {
                    *x = a;
                }
            });
        }
    });
    let message = move || match create.value().get() {
        Some(Ok(u)) => Some(format!("Created {} ({})", u.email, u.role)),
        Some(Err(e)) => Some(e.to_string()),
        None => None,
    };
    let act_error = move || match act.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    };
    let run = move |id: i64, action: &'static str| {
        act.dispatch(AccountAction {
            csrf_token: token(),
            id,
            action: action.to_owned(),
        });
    };
    view! {
        <h2>"Accounts"</h2>
        <table>
            <thead><tr>
                <th scope="col">"E-mail"</th><th scope="col">"Role"</th>
                <th scope="col">"Status"</th><th scope="col">"Sessions"</th>
                <th scope="col">"Actions"</th>
            </tr></thead>
            <tbody>
                <For each=move || users.get() key=|a| (a.user.id, a.disabled, a.sessions) let(a)>
                    <tr data-testid=format!("account-{}", a.user.email)>
                        <td>{a.user.email.clone()}</td>
                        <td>{a.user.role.as_str()}</td>
                        <td>{if a.disabled { "disabled" } else { "active" }}</td>
                        <td>{a.sessions}</td>
                        <td>
                            {
                                let id = a.user.id;
                                let (label, what) = if a.disabled {
                                    ("Enable", "enable")
                                } else {
                                    ("Disable", "disable")
                                };
                                view! {
                                    <button type="button" class="secondary" on:click=move |_| run(id, what)>{label}</button>
                                    " "
                                    <button type="button" class="secondary" on:click=move |_| run(id, "logout")>"Log out everywhere"</button>
                                }
                            }
                        </td>
                    </tr>
                </For>
            </tbody>
        </table>
        <p class="error" role="alert">{act_error}</p>
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
