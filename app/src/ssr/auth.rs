//! Accounts and server-side sessions in the database, and the role checks every server function uses.
use axum::http::HeaderMap;
use sqlx::AnyPool;

use super::{cookies, password};
use crate::{
    error::AppError,
    types::{Account, Role, User},
};

/// How long a session lives.
pub const SESSION_TTL_S: i64 = 14 * 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("an account with e-mail {0} already exists")]
    EmailTaken(String),
    #[error("invalid e-mail address")]
    BadEmail,
    #[error("{0}")]
    Password(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

fn valid_email(email: &str) -> bool {
    let email = email.trim();
    email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(a, d)| !a.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !email.contains(char::is_whitespace)
}

/// Creates an account; hashing runs on a blocking thread.
pub async fn create_user(
    pool: &AnyPool,
    email: &str,
    pw: &str,
    role: Role,
) -> Result<User, AccountError> {
    let email = email.trim();
    if !valid_email(email) {
        return Err(AccountError::BadEmail);
    }
    password::check_policy(pw).map_err(AccountError::Password)?;
    let phc = password::hash_blocking(pw.to_owned())
        .await
        .map_err(AccountError::Password)?;
    let res = sqlx::query_scalar(
        "INSERT INTO users(email, password_hash, role) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(email)
    .bind(phc)
    .bind(role.as_str())
    .fetch_one(pool)
    .await;
    match res {
        Ok(id) => Ok(User {
            id,
            email: email.to_owned(),
            role,
        }),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(AccountError::EmailTaken(email.to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Checks e-mail + password; `None` when either is wrong (no hint which).
pub async fn authenticate(
    pool: &AnyPool,
    email: &str,
    pw: &str,
) -> Result<Option<User>, sqlx::Error> {
    let row: Option<(i64, String, String, String, i64)> = sqlx::query_as(
        "SELECT id, email, password_hash, role, \
           CASE WHEN disabled_at IS NULL THEN 0 ELSE 1 END FROM users WHERE email = $1",
    )
    .bind(email.trim())
    .fetch_optional(pool)
    .await?;
    let Some((id, email, phc, role, disabled)) = row else {
        // Spend the same time as a real check so response time does not reveal accounts.
        let _ = password::verify_blocking(pw.to_owned(), DUMMY_PHC.to_owned()).await;
        return Ok(None);
    };
    // A disabled account answers like a wrong password, after the same work.
    if !password::verify_blocking(pw.to_owned(), phc).await || disabled != 0 {
        return Ok(None);
    }
    Ok(Role::parse(&role).map(|role| User { id, email, role }))
}

/// A valid argon2 hash of a random password, verified against when the e-mail is unknown.
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$WvYx2W6xTCpIuV8lYd0KJ9a9T4WgFyA0jvJ9FDBjOJk";

pub async fn admin_exists(pool: &AnyPool) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
        .fetch_one(pool)
        .await?;
    Ok(n > 0)
}

/// Every account with its status and number of live sessions (the admin's table).
pub async fn list_accounts(pool: &AnyPool) -> Result<Vec<Account>, sqlx::Error> {
    let rows: Vec<(i64, String, String, i64, i64)> = sqlx::query_as(
        "SELECT u.id, u.email, u.role, CASE WHEN u.disabled_at IS NULL THEN 0 ELSE 1 END, \
           (SELECT COUNT(*) FROM sessions s WHERE s.user_id = u.id \
              AND s.expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
         FROM users u ORDER BY u.id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, email, role, disabled, sessions)| {
            Role::parse(&role).map(|role| Account {
                user: User { id, email, role },
                disabled: disabled != 0,
                sessions,
            })
        })
        .collect())
}

/// One account of [`list_accounts`], `None` if there is no such account.
pub async fn account(pool: &AnyPool, id: i64) -> Result<Option<Account>, sqlx::Error> {
    Ok(list_accounts(pool)
        .await?
        .into_iter()
        .find(|a| a.user.id == id))
}

/// Disables (ends its sessions; it cannot log in) or enables an account. `false`: no such account.
pub async fn set_disabled(pool: &AnyPool, id: i64, disabled: bool) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let n = sqlx::query(
        "UPDATE users SET disabled_at = CASE WHEN $1 THEN \
           COALESCE(disabled_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) ELSE NULL END \
         WHERE id = $2",
    )
    .bind(disabled)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if disabled {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(n == 1)
}

/// Ends every session of an account ("log out everywhere"); returns how many there were.
pub async fn revoke_sessions(pool: &AnyPool, user_id: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(pool)
        .await?
        .rows_affected())
}

/// Deletes expired sessions (at start-up and with every login); returns how many.
pub async fn purge_expired_sessions(pool: &AnyPool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM sessions WHERE expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    )
    .execute(pool)
    .await?
    .rows_affected())
}

/// Starts a session; returns the token for the cookie (only its hash is stored). Expired
/// sessions are purged on the way.
pub async fn create_session(pool: &AnyPool, user_id: i64) -> Result<String, sqlx::Error> {
    purge_expired_sessions(pool).await?;
    let token = cookies::random_token();
    sqlx::query(
        "INSERT INTO sessions(token_hash, user_id, expires_at) \
         VALUES ($1, $2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $3))",
    )
    .bind(cookies::token_hash(&token))
    .bind(user_id)
    .bind(format!("+{SESSION_TTL_S} seconds"))
    .execute(pool)
    .await?;
    Ok(token)
}

pub async fn delete_session(pool: &AnyPool, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(cookies::token_hash(token))
        .execute(pool)
        .await?;
    Ok(())
}

/// The user of a session token, if the session exists and has not expired.
pub async fn session_user(pool: &AnyPool, token: &str) -> Result<Option<User>, sqlx::Error> {
    let row: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT u.id, u.email, u.role FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
           AND u.disabled_at IS NULL",
    )
    .bind(cookies::token_hash(token))
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(id, email, role)| Role::parse(&role).map(|role| User { id, email, role })))
}

/// The logged-in user of a request, from its session cookie (only the name the server sets:
/// behind TLS an unprefixed `mt_session` planted by someone else is not read).
pub async fn user_from_headers(
    state: &super::ServerState,
    headers: &HeaderMap,
) -> Result<Option<User>, sqlx::Error> {
    match cookies::get(headers, &cookies::session_name(state.secure_cookies)) {
        Some(token) => session_user(&state.pool, &token).await,
        None => Ok(None),
    }
}

/// Inside a server function: starts a session for `user_id` and sets its cookies on the
/// response (the session, and its CSRF token replacing the anonymous one: `ssr::cookies`).
pub async fn start_session(
    state: &super::ServerState,
    res: &leptos_axum::ResponseOptions,
    user_id: i64,
) -> Result<(), AppError> {
    use axum::http::{header::SET_COOKIE, HeaderValue};
    let token = create_session(&state.pool, user_id)
        .await
        .map_err(AppError::internal)?;
    for cookie in [
        cookies::session(&token, SESSION_TTL_S, state.secure_cookies),
        cookies::csrf(&cookies::csrf_for_session(&token), state.secure_cookies),
    ] {
        res.append_header(
            SET_COOKIE,
            HeaderValue::from_str(&cookie).map_err(AppError::internal)?,
        );
    }
    Ok(())
}

/// Inside a server function: the request's user, if logged in.
pub async fn current_user() -> Result<Option<User>, AppError> {
    let state = crate::ssr::state()?;
    let headers: HeaderMap = leptos_axum::extract().await.map_err(AppError::internal)?;
    user_from_headers(&state, &headers)
        .await
        .map_err(AppError::internal)
}

/// Inside a server function: the user, who must have (or satisfy) `needed`; otherwise the
/// response becomes 401 (not logged in) or 403 (wrong role) with an error.
pub async fn require_role(needed: Role) -> Result<User, AppError> {
    match current_user().await? {
        None => Err(AppError::login_required()),
        Some(u) if !u.role.satisfies(needed) => Err(AppError::Forbidden(format!(
            "forbidden: this needs the {needed} role"
        ))),
        Some(u) => Ok(u),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accounts_and_sessions() {
        let tmp = tempfile::tempdir().unwrap();
        let pool =
            super::super::db::open(&super::super::db::sqlite_url(&tmp.path().join("t.sqlite")))
                .await
                .unwrap();
        assert!(!admin_exists(&pool).await.unwrap());
        let u = create_user(&pool, "a@example.org", "password1", Role::Admin)
            .await
            .unwrap();
        assert!(admin_exists(&pool).await.unwrap());
        assert!(matches!(
            create_user(&pool, "A@example.org", "password1", Role::Annotator).await,
            Err(AccountError::EmailTaken(_))
        ));
        assert!(matches!(
            create_user(&pool, "bad", "password1", Role::Annotator).await,
            Err(AccountError::BadEmail)
        ));
        assert!(matches!(
            create_user(&pool, "b@example.org", "short", Role::Annotator).await,
            Err(AccountError::Password(_))
        ));
        assert_eq!(
            authenticate(&pool, "a@example.org", "password1")
                .await
                .unwrap(),
            Some(u.clone())
        );
        assert_eq!(
            authenticate(&pool, "a@example.org", "password2")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            authenticate(&pool, "x@example.org", "password1")
                .await
                .unwrap(),
            None
        );
        let tok = create_session(&pool, u.id).await.unwrap();
        assert_eq!(session_user(&pool, &tok).await.unwrap(), Some(u.clone()));
        assert_eq!(session_user(&pool, "forged").await.unwrap(), None);
        delete_session(&pool, &tok).await.unwrap();
        assert_eq!(session_user(&pool, &tok).await.unwrap(), None);

        // Disabled: its sessions end, it cannot log in; enabled again, it can.
        let tok = create_session(&pool, u.id).await.unwrap();
        assert!(set_disabled(&pool, u.id, true).await.unwrap());
        assert_eq!(session_user(&pool, &tok).await.unwrap(), None);
        assert_eq!(
            authenticate(&pool, "a@example.org", "password1")
                .await
                .unwrap(),
            None
        );
        assert!(account(&pool, u.id).await.unwrap().unwrap().disabled);
        assert!(set_disabled(&pool, u.id, false).await.unwrap());
        assert!(!set_disabled(&pool, 9999, true).await.unwrap());
        assert!(authenticate(&pool, "a@example.org", "password1")
            .await
            .unwrap()
            .is_some());
        // Log out everywhere.
        let (t1, _t2) = (
            create_session(&pool, u.id).await.unwrap(),
            create_session(&pool, u.id).await.unwrap(),
        );
        assert_eq!(account(&pool, u.id).await.unwrap().unwrap().sessions, 2);
        assert_eq!(revoke_sessions(&pool, u.id).await.unwrap(), 2);
        assert_eq!(session_user(&pool, &t1).await.unwrap(), None);
        // Expired sessions are purged (by the next login).
        sqlx::query("INSERT INTO sessions(token_hash, user_id, expires_at) VALUES ('old', $1, '2000-01-01T00:00:00.000Z')")
            .bind(u.id)
            .execute(&pool)
            .await
            .unwrap();
        create_session(&pool, u.id).await.unwrap();
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE token_hash = 'old'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(left, 0);
        pool.close().await;
    }

    #[test]
    fn dummy_hash_is_valid() {
        assert!(argon2::password_hash::PasswordHash::new(DUMMY_PHC).is_ok());
    }
}
