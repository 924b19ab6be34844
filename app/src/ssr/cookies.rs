//! Reading and writing the cookies the server uses (session and CSRF).
//!
//! Served over TLS (the default), both cookies are `Secure` and carry the `__Host-` prefix: a
//! browser only accepts such a cookie from a secure origin, for path `/` and without a `Domain`,
//! so a sibling subdomain or a plain-HTTP response cannot plant one (session fixation, a chosen
//! CSRF token). `serve --insecure-http` (local plain-HTTP use) drops both: browsers refuse
//! `__Host-` cookies that are not `Secure`.
use axum::http::{header::COOKIE, HeaderMap};
use cookie::{Cookie, SameSite};

use crate::types::{CSRF_COOKIE, HOST_PREFIX, SESSION_COOKIE};

/// The session cookie's name: `__Host-mt_session`, or `mt_session` without TLS.
pub fn session_name(secure: bool) -> String {
    prefixed(SESSION_COOKIE, secure)
}

/// The CSRF cookie's name: `__Host-mt_csrf`, or `mt_csrf` without TLS.
pub fn csrf_name(secure: bool) -> String {
    prefixed(CSRF_COOKIE, secure)
}

fn prefixed(name: &str, secure: bool) -> String {
    if secure {
        format!("{HOST_PREFIX}{name}")
    } else {
        name.to_owned()
    }
}

/// The value of cookie `name` in the request headers, if any.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// The session cookie: HttpOnly, SameSite=Lax, `Secure` and `__Host-` unless `--insecure-http`.
pub fn session(value: &str, max_age_s: i64, secure: bool) -> String {
    Cookie::build((session_name(secure), value.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age_s))
        .build()
        .to_string()
}

/// The CSRF cookie: readable by the page's script (double-submit), SameSite=Lax.
pub fn csrf(value: &str, secure: bool) -> String {
    Cookie::build((csrf_name(secure), value.to_owned()))
        .path("/")
        .http_only(false)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build()
        .to_string()
}

/// A random 256-bit token, hex-encoded.
pub fn random_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The CSRF token of a session: SHA-256 of the session token under a label of its own, hex.
/// Only whoever holds the (HttpOnly) session cookie can compute it, so a token planted in the
/// CSRF cookie before login is worthless after it, and a new session gets a new token. It is not
/// the hash the database stores ([`token_hash`]): a leaked sessions table gives no CSRF tokens.
pub fn csrf_for_session(session_token: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"magictime csrf v1\0");
    h.update(session_token.as_bytes());
    hex::encode(h.finalize())
}

/// SHA-256 of a token, hex-encoded (what the database stores instead of the token).
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time string comparison for tokens.
pub fn tokens_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn parse_and_build() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("a=1; mt_session=abc; b=2"));
        assert_eq!(get(&h, "mt_session").as_deref(), Some("abc"));
        assert_eq!(get(&h, "zzz"), None);
        let s = session("tok", 60, true);
        assert!(s.starts_with("__Host-mt_session=tok;"), "{s}");
        assert!(s.contains("HttpOnly") && s.contains("SameSite=Lax") && s.contains("Secure"));
        assert!(s.contains("Path=/") && !s.contains("Domain"), "{s}");
        let plain = session("tok", 60, false);
        assert!(plain.starts_with("mt_session=tok;") && !plain.contains("Secure"));
        assert!(csrf("tok", true).starts_with("__Host-mt_csrf=tok;"));
        assert!(!csrf("tok", false).contains("HttpOnly"));
        let (a, b) = (csrf_for_session("s1"), csrf_for_session("s2"));
        assert_eq!(a.len(), 64);
        assert!(a != b && a == csrf_for_session("s1") && a != token_hash("s1"));
        assert_eq!(random_token().len(), 64);
        assert!(
            tokens_equal("abc", "abc") && !tokens_equal("abc", "abd") && !tokens_equal("a", "ab")
        );
    }
}
