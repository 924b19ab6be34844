//! Login, logout, first-admin setup and account management.
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::types::Role;
use crate::types::{Account, User};

/// The logged-in user of this request, if any.
#[server(prefix = "/api", endpoint = "me", input = GetUrl)]
pub async fn get_user() -> Result<Option<User>, AppError> {
    crate::ssr::auth::current_user().await
}

/// Checks the credentials, starts a session (cookie) and redirects to `next` (a local path).
#[server(prefix = "/api", endpoint = "login")]
pub async fn login(
    csrf_token: String,
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    use crate::ssr::auth;
    let _ = csrf_token; // checked by the CSRF layer before this body runs
                        // Contexts are taken before the first await: during SSR the reactive owner can be gone by
                        // the time a future resumes (a re-rendered Suspense), and then a lookup fails.
    let state = crate::ssr::state()?;
    let res = crate::ssr::response()?;
    let peer = leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .await
        .map(|c| c.0.ip())
        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
    let headers: axum::http::HeaderMap =
        leptos_axum::extract().await.map_err(AppError::internal)?;
    let client = crate::ssr::client_ip::client_ip(peer, &headers, &state.trusted_proxies);
    // Failures slow further attempts down (no lockout). Per account the spacing stays short, so
    // someone guessing at the admin's e-mail cannot keep the admin out; per client it grows to
    // 30 s between attempts.
    let keys = [
        (
            format!("email:{}", email.trim().to_lowercase()),
            std::time::Duration::from_secs(5),
        ),
        (format!("ip:{client}"), std::time::Duration::from_secs(30)),
    ];
    match state.login_limiter.begin(&keys) {
        Ok(wait) => tokio::time::sleep(wait).await,
        Err(retry) => {
            return Err(AppError::TooManyRequests(format!(
                "too many failed logins; try again in {} s",
                retry.as_secs().max(1)
            )))
        }
    }
    let user = auth::authenticate(&state.pool, &email, &password)
        .await
        .map_err(AppError::internal)?;
    let Some(user) = user else {
        // (the attempt was counted as a failure when it began)
        return Err(AppError::Unauthorized("wrong e-mail or password".into()));
    };
    state.login_limiter.succeeded(&keys);
    auth::start_session(&state, &res, user.id).await?;
    tracing::info!(user = user.id, role = %user.role, "login");
    leptos_axum::redirect(&local_path(next.as_deref()));
    Ok(())
}

/// Ends the session and clears the cookie.
#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout(csrf_token: String) -> Result<(), AppError> {
    use crate::ssr::{auth, cookies};
    use axum::http::{header::SET_COOKIE, HeaderMap, HeaderValue};
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let res = crate::ssr::response()?;
    let headers: HeaderMap = leptos_axum::extract().await.map_err(AppError::internal)?;
    if let Some(token) = cookies::get(&headers, &cookies::session_name(state.secure_cookies)) {
        auth::delete_session(&state.pool, &token)
            .await
            .map_err(AppError::internal)?;
    }
    // Back to an anonymous, random CSRF token: the ended session's one is not reused.
    for cookie in [
        cookies::session("", 0, state.secure_cookies),
        cookies::csrf(&cookies::random_token(), state.secure_cookies),
    ] {
        res.append_header(
            SET_COOKIE,
            HeaderValue::from_str(&cookie).map_err(AppError::internal)?,
        );
    }
    leptos_axum::redirect("/");
    Ok(())
}

/// Creates the first admin with the one-time token printed in the server log at first start.
#[server(prefix = "/api", endpoint = "setup")]
pub async fn setup_admin(
    csrf_token: String,
    token: String,
    email: String,
    password: String,
) -> Result<(), AppError> {
    use crate::ssr::{auth, cookies};
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let ok = {
        let held = state
            .setup_token_hash
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        held.as_deref()
            .is_some_and(|h| cookies::tokens_equal(h, &cookies::token_hash(token.trim())))
    };
    if !ok
        || auth::admin_exists(&state.pool)
            .await
            .map_err(AppError::internal)?
    {
        return Err(AppError::Forbidden("invalid or used setup token".into()));
    }
    let admin = auth::create_user(&state.pool, &email, &password, Role::Admin)
        .await
        .map_err(AppError::from)?;
    *state
        .setup_token_hash
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = None;
    tracing::info!("first admin created through /setup");
    // Logged in at once: the next thing an admin does is create accounts.
    let res = crate::ssr::response()?;
    auth::start_session(&state, &res, admin.id).await?;
    leptos_axum::redirect("/admin");
    Ok(())
}

/// Every account with its status and live sessions (admin only).
#[server(prefix = "/api", endpoint = "users", input = GetUrl)]
pub async fn list_users() -> Result<Vec<Account>, AppError> {
    use crate::ssr::auth;
    let state = crate::ssr::state()?;
    auth::require_role(Role::Admin).await?;
    auth::list_accounts(&state.pool)
        .await
        .map_err(AppError::internal)
}

/// What an admin can do to an account: `disable` (it cannot log in, its sessions end), `enable`,
/// or `logout` (end all its sessions). Not to the admin's own account (422). Returns the account.
#[server(prefix = "/api", endpoint = "account_action")]
pub async fn account_action(
    csrf_token: String,
    id: i64,
    action: String,
) -> Result<Account, AppError> {
    use crate::ssr::auth;
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let admin = auth::require_role(Role::Admin).await?;
    if id == admin.id {
        return Err(AppError::Invalid(
            "not your own account: ask another admin".into(),
        ));
    }
    let found = match action.as_str() {
        "disable" | "enable" => auth::set_disabled(&state.pool, id, action == "disable")
            .await
            .map_err(AppError::internal)?,
        "logout" => {
            auth::revoke_sessions(&state.pool, id)
                .await
                .map_err(AppError::internal)?;
            true
        }
        _ => {
            return Err(AppError::Invalid(
                "unknown action: disable, enable or logout".into(),
            ))
        }
    };
    let account = match found {
        true => auth::account(&state.pool, id)
            .await
            .map_err(AppError::internal)?,
        false => None,
    };
    let account = account.ok_or_else(|| AppError::NotFound("no such account".into()))?;
    tracing::info!(by = admin.id, user = id, action, "account action");
    Ok(account)
}

/// Creates an account with a role (admin only).
#[server(prefix = "/api", endpoint = "create_account")]
pub async fn create_account(
    csrf_token: String,
    email: String,
    password: String,
    role: String,
) -> Result<User, AppError> {
    use crate::ssr::auth;
    let _ = csrf_token;
    let state = crate::ssr::state()?;
    let admin = auth::require_role(Role::Admin).await?;
    let role = Role::parse(&role).ok_or_else(|| AppError::Invalid("unknown role".into()))?;
    let user = auth::create_user(&state.pool, &email, &password, role)
        .await
        .map_err(AppError::from)?;
    tracing::info!(by = admin.id, user = user.id, role = %role, "account created");
    Ok(user)
}

/// `next` if it is a path on this site, else `/` (no open redirects).
pub fn local_path(next: Option<&str>) -> String {
    match next {
        // Browsers drop tabs and newlines from URLs (`/\t/evil.example` is `//evil.example`,
        // another site) and read `\` as `/`: no control characters, no backslashes.
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_open_redirects() {
        use super::local_path;
        assert_eq!(local_path(Some("/studies")), "/studies");
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(Some("/\\evil")), "/");
        assert_eq!(local_path(Some("/\t/evil.example")), "/");
        assert_eq!(local_path(Some("/\n/evil.example")), "/");
        assert_eq!(local_path(Some("/\r\n/evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }
}
