//! CSRF protection for every state-changing request (double-submit token bound to the session).
//!
//! The token of a request with a session cookie is derived from the session token
//! ([`cookies::csrf_for_session`]); without one it is a random 256-bit value. Whenever the CSRF
//! cookie (`__Host-mt_csrf`, `mt_csrf` under `--insecure-http`) does not hold the request's token,
//! the response sets it, so the page's script can read it. A POST, PUT, PATCH or DELETE must echo
//! the token, either in the `x-csrf-token` header or, for urlencoded form posts (server
//! functions, plain HTML forms), in the `csrf_token` field; a cross-site `Origin` is refused
//! outright. With a session, a token chosen by someone else (planted in the cookie before login,
//! or taken from another session) does not match. The token is also put in the request's
//! extensions so the page can render it into forms.
use axum::{
    body::Body,
    extract::{Request, State},
    http::{
        header::{CONTENT_TYPE, HOST, ORIGIN, SET_COOKIE},
        HeaderValue, Method, StatusCode,
    },
    middleware::Next,
    response::{IntoResponse, Response},
};
use magictime_app::{
    ssr::{cookies, ServerState},
    types::{CsrfToken, CSRF_FIELD, CSRF_HEADER},
};

/// Form bodies larger than this are refused before any handler runs.
const MAX_FORM_BYTES: usize = 1 << 20;

pub async fn layer(State(state): State<ServerState>, req: Request, next: Next) -> Response {
    let secure = state.secure_cookies;
    let in_cookie =
        cookies::get(req.headers(), &cookies::csrf_name(secure)).filter(|t| t.len() == 64);
    let session =
        cookies::get(req.headers(), &cookies::session_name(secure)).filter(|t| !t.is_empty());
    // Anonymous: the browser's random token, which it must already hold to post anything.
    let (token, known) = match (&session, &in_cookie) {
        (Some(s), _) => (cookies::csrf_for_session(s), true),
        (None, Some(t)) => (t.clone(), true),
        (None, None) => (cookies::random_token(), false),
    };
    let set_cookie = in_cookie.as_deref() != Some(token.as_str());

    let mut req = req;
    if changes_state(req.method()) {
        if cross_origin(&req) {
            return reject("cross-origin request refused");
        }
        let (parts, body) = req.into_parts();
        let (presented, body) = if let Some(h) = parts.headers.get(CSRF_HEADER) {
            (h.to_str().ok().map(str::to_owned), body)
        } else if is_form(&parts.headers) {
            let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
                Ok(b) => b,
                Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response(),
            };
            let field = form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v.into_owned());
            (field, Body::from(bytes))
        } else {
            (None, body)
        };
        let ok = known && presented.is_some_and(|p| cookies::tokens_equal(&p, &token));
        if !ok {
            return reject("missing or wrong CSRF token");
        }
        req = Request::from_parts(parts, body);
    }

    req.extensions_mut().insert(CsrfToken(token.clone()));
    let mut res = next.run(req).await;
    // (A handler that starts or ends a session sets the cookie itself: it knows the new token.)
    if set_cookie
        && !res
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .any(|v| sets_csrf(v, secure))
    {
        if let Ok(v) = HeaderValue::from_str(&cookies::csrf(&token, secure)) {
            res.headers_mut().append(SET_COOKIE, v);
        }
    }
    res
}

fn sets_csrf(v: &HeaderValue, secure: bool) -> bool {
    v.to_str()
        .is_ok_and(|v| v.starts_with(&format!("{}=", cookies::csrf_name(secure))))
}

fn changes_state(m: &Method) -> bool {
    matches!(
        *m,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

fn is_form(h: &axum::http::HeaderMap) -> bool {
    h.get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// An `Origin` header whose host differs from `Host`.
fn cross_origin(req: &Request) -> bool {
    let (Some(origin), Some(host)) = (req.headers().get(ORIGIN), req.headers().get(HOST)) else {
        return false;
    };
    let (Ok(origin), Ok(host)) = (origin.to_str(), host.to_str()) else {
        return true;
    };
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    origin_host != host
}

fn reject(msg: &'static str) -> Response {
    tracing::warn!("CSRF: {msg}");
    (StatusCode::FORBIDDEN, msg).into_response()
}
