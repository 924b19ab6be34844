//! Reading and writing the cookies the server uses (session and CSRF).
use axum::http::{header::COOKIE, HeaderMap};
use cookie::{Cookie, SameSite};

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

/// The session cookie: HttpOnly, SameSite=Lax, `Secure` behind TLS.
pub fn session(value: &str, max_age_s: i64, secure: bool) -> String {
    Cookie::build((crate::types::SESSION_COOKIE, value.to_owned()))
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
    Cookie::build((crate::types::CSRF_COOKIE, value.to_owned()))
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
        assert!(s.contains("HttpOnly") && s.contains("SameSite=Lax") && s.contains("Secure"));
        assert!(!csrf("tok", false).contains("HttpOnly"));
        assert_eq!(random_token().len(), 64);
        assert!(
            tokens_equal("abc", "abc") && !tokens_equal("abc", "abd") && !tokens_equal("a", "ab")
        );
    }
}
