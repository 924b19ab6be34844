//! The public demo: an admin setting (off by default, the `settings` row `demo_mode`) under
//! which anonymous visitors may generate, within a smaller ceiling ([`DemoLimits`]), a rate per
//! client address and per visitor, and a cap on the demo's queue. A visitor is known by a random
//! cookie (`__Host-mt_visitor`, HttpOnly); its jobs carry the cookie's SHA-256, and a visitor
//! sees those only. Who is asking — an account or a visitor — is a [`Viewer`].
use axum::http::HeaderMap;
use sqlx::AnyPool;

use super::{auth, cookies, ServerState};
use crate::{
    error::AppError,
    types::{RequestLimits, Role, HOST_PREFIX},
};

/// The `settings` key of the demo switch (`on` / `off`).
const SETTING: &str = "demo_mode";
/// The visitor cookie's name (with [`HOST_PREFIX`] behind TLS).
pub const VISITOR_COOKIE: &str = "mt_visitor";
/// How long a visitor cookie lasts: their gallery is theirs for this long.
const VISITOR_TTL_S: i64 = 30 * 24 * 3600;

/// What the demo allows anonymous visitors (`serve --demo-*`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DemoLimits {
    /// Generations per hour per client address and per visitor (also the burst).
    pub per_hour: u32,
    /// The most demo generations waiting in the queue, all visitors together.
    pub queue_cap: i64,
    /// The ceiling of one demo request.
    pub request: RequestLimits,
}

/// Whether the public demo is on.
pub async fn enabled(pool: &AnyPool) -> Result<bool, sqlx::Error> {
    let v: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(SETTING)
        .fetch_optional(pool)
        .await?;
    Ok(v.as_deref() == Some("on"))
}

/// Turns the public demo on or off.
pub async fn set_enabled(pool: &AnyPool, on: bool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO settings(key, value) VALUES ($1, $2) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )
    .bind(SETTING)
    .bind(if on { "on" } else { "off" })
    .execute(pool)
    .await?;
    Ok(())
}

/// Who a job belongs to: an account, or a demo visitor (the SHA-256 of their cookie).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    User(i64),
    Visitor(String),
}

impl Owner {
    /// The job's `created_by` and `visitor` columns (exactly one is set).
    pub fn columns(&self) -> (Option<i64>, Option<&str>) {
        match self {
            Owner::User(id) => (Some(*id), None),
            Owner::Visitor(h) => (None, Some(h.as_str())),
        }
    }
}

/// Who is looking at generations: an account (`role`) or a demo visitor. Admins see every
/// generation, hidden ones too; others see what is not hidden; a visitor only their own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    pub owner: Owner,
    /// `None` for a visitor.
    pub role: Option<Role>,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.role == Some(Role::Admin)
    }

    /// The bindings of the visibility rule every generation query applies:
    /// `($n = 1 OR j.hidden = 0) AND ($n+1 IS NULL OR j.visitor = $n+1)`.
    pub fn visibility(&self) -> (i64, Option<&str>) {
        let visitor = match &self.owner {
            Owner::Visitor(h) => Some(h.as_str()),
            Owner::User(_) => None,
        };
        (i64::from(self.is_admin()), visitor)
    }

    /// Whose jobs this viewer may cancel: `None` for an admin (anyone's).
    pub fn cancels_for(&self) -> Option<&Owner> {
        (!self.is_admin()).then_some(&self.owner)
    }
}

/// The visitor cookie's name.
pub fn visitor_name(secure: bool) -> String {
    if secure {
        format!("{HOST_PREFIX}{VISITOR_COOKIE}")
    } else {
        VISITOR_COOKIE.to_owned()
    }
}

/// The visitor cookie: HttpOnly, SameSite=Lax, `Secure` and `__Host-` unless `--insecure-http`.
pub fn visitor_cookie(value: &str, secure: bool) -> String {
    cookie::Cookie::build((visitor_name(secure), value.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(VISITOR_TTL_S))
        .build()
        .to_string()
}

/// The visitor token of a request's cookie (64 hex characters; anything else is ignored).
pub fn visitor_token(state: &ServerState, headers: &HeaderMap) -> Option<String> {
    cookies::get(headers, &visitor_name(state.secure_cookies))
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Who asks, from a request's headers: the logged-in account, else (with the demo on) the
/// visitor of the cookie — one without a cookie yet has nothing of their own to see; `None` for
/// anyone else.
pub async fn viewer_from_headers(
    state: &ServerState,
    headers: &HeaderMap,
) -> Result<Option<Viewer>, sqlx::Error> {
    if let Some(u) = auth::user_from_headers(state, headers).await? {
        return Ok(Some(Viewer {
            owner: Owner::User(u.id),
            role: Some(u.role),
        }));
    }
    if !enabled(&state.pool).await? {
        return Ok(None);
    }
    let token = visitor_token(state, headers).unwrap_or_else(cookies::random_token);
    Ok(Some(Viewer {
        owner: Owner::Visitor(cookies::token_hash(&token)),
        role: None,
    }))
}

/// Inside a server function: who asks ([`viewer_from_headers`]).
pub async fn viewer() -> Result<Option<Viewer>, AppError> {
    let state = super::state()?;
    let headers: HeaderMap = leptos_axum::extract().await.map_err(AppError::internal)?;
    viewer_from_headers(&state, &headers)
        .await
        .map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_switch_is_off_until_an_admin_turns_it_on() {
        let tmp = tempfile::tempdir().unwrap();
        let pool =
            super::super::db::open(&super::super::db::sqlite_url(&tmp.path().join("t.sqlite")))
                .await
                .unwrap();
        assert!(!enabled(&pool).await.unwrap());
        set_enabled(&pool, true).await.unwrap();
        assert!(enabled(&pool).await.unwrap());
        set_enabled(&pool, false).await.unwrap();
        assert!(!enabled(&pool).await.unwrap());
    }

    #[test]
    fn the_visitor_cookie_is_host_only_and_http_only() {
        let c = visitor_cookie("abc", true);
        assert!(c.starts_with("__Host-mt_visitor=abc;"), "{c}");
        assert!(c.contains("HttpOnly") && c.contains("Secure") && c.contains("Path=/"));
        assert!(visitor_cookie("abc", false).starts_with("mt_visitor=abc;"));
        let admin = Viewer {
            owner: Owner::User(1),
            role: Some(Role::Admin),
        };
        assert_eq!((admin.visibility(), admin.cancels_for()), ((1, None), None));
        let v = Viewer {
            owner: Owner::Visitor("h".into()),
            role: None,
        };
        assert_eq!(v.visibility(), (0, Some("h")));
        assert_eq!(v.cancels_for(), Some(&Owner::Visitor("h".into())));
    }
}
