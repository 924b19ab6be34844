//! CSRF protection for every state-changing request (double-submit token).
//!
//! Every response to a browser without the `mt_csrf` cookie sets one (random, 256 bits). A POST,
//! PUT, PATCH or DELETE must echo it, either in the `x-csrf-token` header or, for urlencoded form
//! posts (server functions, plain HTML forms), in the `csrf_token` field; a cross-site `Origin`
//! is refused outright. The token is also put in the request's extensions so the page can render
//! it into forms.
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
    types::{CsrfToken, CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER},
};

/// Form bodies larger than this are refused before any handler runs.
const MAX_FORM_BYTES: usize = 1 << 20;

pub async fn layer(State(state): State<ServerState>, req: Request, next: Next) -> Response {
    let existing = cookies::get(req.headers(), CSRF_COOKIE).filter(|t| t.len() == 64);
    let fresh = existing.is_none();
    let token = existing.unwrap_or_else(cookies::random_token);

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
        let ok = !fresh && presented.is_some_and(|p| cookies::tokens_equal(&p, &token));
        if !ok {
            return reject("missing or wrong CSRF token");
        }
        req = Request::from_parts(parts, body);
    }

    req.extensions_mut().insert(CsrfToken(token.clone()));
    let mut res = next.run(req).await;
    if fresh {
        if let Ok(v) = HeaderValue::from_str(&cookies::csrf(&token, state.secure_cookies)) {
            res.headers_mut().append(SET_COOKIE, v);
        }
    }
    res
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
