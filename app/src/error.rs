//! The web layer's one error type: what server functions and the server's JSON routes return.
//! Each variant is an HTTP status and the message the user sees (`Display`); `Internal` hides
//! its cause, which is logged where it is made (`AppError::internal`, the `From` impls of
//! `ssr::error`). In the browser it arrives through server_fn as `<status>|<message>`.
use leptos::server_fn::{
    error::{FromServerFnError, ServerFnErrorErr},
    Bytes, ContentType, Decodes, Encodes, Format, FormatType,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppError {
    /// 400: a request the server could not read.
    BadRequest(String),
    /// 401: not logged in, or wrong credentials.
    Unauthorized(String),
    /// 403: logged in but not allowed.
    Forbidden(String),
    /// 404
    NotFound(String),
    /// 409: a state that does not allow it (locked, already done, closed).
    Conflict(String),
    /// 413: over a size cap or quota.
    PayloadTooLarge(String),
    /// 422: input that is well formed but refused.
    Invalid(String),
    /// 429: a rate or queue limit.
    TooManyRequests(String),
    /// 500: the cause was logged on the server; the user sees a generic message.
    Internal,
    /// server_fn's own failures (network, (de)serialisation), shown as they are.
    ServerFn(String),
}

pub const LOGIN_REQUIRED: &str = "login required";
const INTERNAL: &str = "internal server error";

impl AppError {
    /// 401 "login required".
    pub fn login_required() -> Self {
        AppError::Unauthorized(LOGIN_REQUIRED.to_owned())
    }

    /// Whether this is the 401 of a missing login (pages show a login link instead).
    pub fn is_login_required(&self) -> bool {
        matches!(self, AppError::Unauthorized(m) if m == LOGIN_REQUIRED)
    }

    /// The HTTP status this error is answered with.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::Unauthorized(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Conflict(_) => 409,
            AppError::PayloadTooLarge(_) => 413,
            AppError::Invalid(_) => 422,
            AppError::TooManyRequests(_) => 429,
            AppError::Internal | AppError::ServerFn(_) => 500,
        }
    }

    /// The message the user sees.
    pub fn message(&self) -> &str {
        match self {
            AppError::BadRequest(m)
            | AppError::Unauthorized(m)
            | AppError::Forbidden(m)
            | AppError::NotFound(m)
            | AppError::Conflict(m)
            | AppError::PayloadTooLarge(m)
            | AppError::Invalid(m)
            | AppError::TooManyRequests(m)
            | AppError::ServerFn(m) => m,
            AppError::Internal => INTERNAL,
        }
    }

    fn from_wire(status: &str, m: &str) -> Self {
        let m = m.to_owned();
        match status {
            "400" => AppError::BadRequest(m),
            "401" => AppError::Unauthorized(m),
            "403" => AppError::Forbidden(m),
            "404" => AppError::NotFound(m),
            "409" => AppError::Conflict(m),
            "413" => AppError::PayloadTooLarge(m),
            "422" => AppError::Invalid(m),
            "429" => AppError::TooManyRequests(m),
            "500" if m == INTERNAL => AppError::Internal,
            _ => AppError::ServerFn(m),
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for AppError {}

/// `<status>|<message>` as text: small in the WASM bundle (no JSON for errors).
pub struct AppErrorEncoding;

impl ContentType for AppErrorEncoding {
    const CONTENT_TYPE: &'static str = "text/plain";
}

impl FormatType for AppErrorEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl Encodes<AppError> for AppErrorEncoding {
    type Error = std::convert::Infallible;

    fn encode(e: &AppError) -> Result<Bytes, Self::Error> {
        Ok(Bytes::from(format!("{}|{}", e.status_code(), e.message())))
    }
}

impl Decodes<AppError> for AppErrorEncoding {
    type Error = String;

    fn decode(bytes: Bytes) -> Result<AppError, Self::Error> {
        let text = String::from_utf8_lossy(&bytes);
        let (status, m) = text.split_once('|').ok_or("no status in the error")?;
        Ok(AppError::from_wire(status, m))
    }
}

impl FromServerFnError for AppError {
    type Encoder = AppErrorEncoding;

    fn from_server_fn_error(e: ServerFnErrorErr) -> Self {
        AppError::ServerFn(e.to_string())
    }

    /// On the server this is where a server function's error becomes its response: the
    /// response's status is the error's.
    fn ser(&self) -> Bytes {
        #[cfg(feature = "ssr")]
        self.set_response_status();
        match AppErrorEncoding::encode(self) {
            Ok(b) => b,
            Err(never) => match never {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_crosses_the_wire_unchanged() {
        for e in [
            AppError::BadRequest("bad answer: x".into()),
            AppError::login_required(),
            AppError::Unauthorized("wrong e-mail or password".into()),
            AppError::Forbidden("forbidden: this needs the researcher role".into()),
            AppError::NotFound("no such study".into()),
            AppError::Conflict("already answered: answers cannot be changed".into()),
            AppError::PayloadTooLarge("too large".into()),
            AppError::Invalid("a|b: c".into()),
            AppError::TooManyRequests("try again".into()),
            AppError::Internal,
            AppError::ServerFn("error reaching server to call server function: x".into()),
        ] {
            let bytes = AppErrorEncoding::encode(&e).unwrap();
            assert_eq!(AppErrorEncoding::decode(bytes).unwrap(), e);
        }
        assert!(AppError::login_required().is_login_required());
        assert_eq!(AppError::Internal.to_string(), "internal server error");
        assert_eq!(AppError::Forbidden("x".into()).status_code(), 403);
    }
}
