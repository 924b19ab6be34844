//! Participants (anonymous): join/resume, completion, media by opaque id and the
//! high-rate answer endpoint (per-participant rate limit; acknowledged once durable).
use std::{net::SocketAddr, sync::OnceLock};

use axum::{
    body::Bytes,
    extract::{ConnectInfo, Path as UrlPath, Request, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use magictime_app::ssr::{
    rate_limit::TokenBuckets,
    studies::{
        store::{self, JoinRequest, StudyError},
        writer::{AnswerError, AnswerIn, AnswerWriter},
    },
    ServerState,
};
use serde_json::json;

use super::{bad, AppError};

/// Longest panel id / study id / session id stored (Prolific's are 24 characters).
const MAX_PANEL_FIELD: usize = 100;

pub(super) async fn join(
    State(state): State<ServerState>,
    UrlPath(slug): UrlPath<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    Json(req): Json<JoinRequest>,
) -> Result<Response, AppError> {
    for (name, v) in [
        ("token", &req.token),
        ("PROLIFIC_PID", &req.prolific_pid),
        ("STUDY_ID", &req.study_id),
        ("SESSION_ID", &req.session_id),
    ] {
        if v.as_ref()
            .is_some_and(|v| v.chars().count() > MAX_PANEL_FIELD)
        {
            return Err(bad(format!(
                "{name} is longer than {MAX_PANEL_FIELD} characters"
            )));
        }
    }
    let client =
        magictime_app::ssr::client_ip::client_ip(peer.ip(), &headers, &state.trusted_proxies);
    if !join_rate_ok(client) {
        return Err(AppError::TooManyRequests(
            "too many joins from your address: wait a minute and try again".into(),
        ));
    }
    let st = store::by_slug(&state.pool, &slug).await?;
    let j = store::join(&state.pool, &st, &req).await?;
    let s = store::participant_state(&state.pool, &st, j.participant_id, &j.token).await?;
    Ok(Json(s).into_response())
}

#[derive(serde::Deserialize)]
pub(super) struct TokenBody {
    token: String,
}

pub(super) async fn complete(
    State(state): State<ServerState>,
    UrlPath(slug): UrlPath<String>,
    Json(b): Json<TokenBody>,
) -> Result<Response, AppError> {
    let st = store::by_slug(&state.pool, &slug).await?;
    let pid = store::participant_by_token(&state.pool, st.id, &b.token)
        .await?
        .ok_or(StudyError::UnknownParticipant)?;
    if !store::complete(&state.pool, &st, pid).await? {
        return Err(AppError::Conflict(
            "some trials are not answered yet".into(),
        ));
    }
    let code = st.design.completion_code.clone();
    let redirect = st
        .design
        .redirect_url
        .as_ref()
        .map(|u| u.replace("{code}", &code));
    Ok(Json(json!({ "completion_code": code, "redirect": redirect })).into_response())
}

/// Videos by participant address (`store::media_alias`: one per trial position, so a video
/// shown twice is not recognisable by its address), or by media id for the study's researchers
/// (previews). No condition, prompt or metadata is exposed.
pub(super) async fn media(
    State(state): State<ServerState>,
    UrlPath(key): UrlPath<String>,
    req: Request,
) -> Result<Response, AppError> {
    let not_found = || AppError::NotFound("not found".into());
    if key.len() == 24 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        let study: i64 = sqlx::query_scalar("SELECT study_id FROM stimuli WHERE media_id = $1")
            .bind(&key)
            .fetch_optional(&state.pool)
            .await?
            .ok_or_else(not_found)?;
        // a media id is the researchers' name for the file: only they may use it
        super::owned(&state, req.headers(), study)
            .await
            .map_err(|_| not_found())?;
        let path = store::media_dir(&state.data_dir, study).join(format!("{key}.mp4"));
        let mut res = tower_http::services::ServeFile::new(path)
            .try_call(req)
            .await
            .map_err(|e| bad(e.to_string()))?
            .into_response();
        res.headers_mut().remove(header::LAST_MODIFIED);
        res.headers_mut().remove(header::ETAG);
        return Ok(res);
    }
    let (study, media_id) = store::resolve_media_alias(&state.pool, &key)
        .await?
        .ok_or_else(not_found)?;
    let path = store::media_dir(&state.data_dir, study).join(format!("{media_id}.mp4"));
    serve_padded(&path, &padding(&key), req.headers().get(header::RANGE))
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => not_found(),
            _ => AppError::internal(format_args!("study media {}: {e}", path.display())),
        })
}

/// What a participant's copy of a stimulus ends with: an MP4 `free` box (players skip it) of 8 to
/// 4,096 bytes chosen by the address, so two addresses of one video differ in size as well as
/// in name.
fn padding(alias: &str) -> Vec<u8> {
    let mac = alias.rsplit('-').next().unwrap_or_default();
    let r = u16::from_str_radix(mac.get(..4).unwrap_or("0"), 16).unwrap_or(0);
    let n = 8 + usize::from(r) % 4089;
    let mut v = vec![0u8; n];
    v[..4].copy_from_slice(&(n as u32).to_be_bytes());
    v[4..8].copy_from_slice(b"free");
    v
}

/// The inclusive byte range a `Range` header asks of `len` bytes: `Ok(None)` for the whole
/// (no header, another unit, or several ranges, which are answered whole as RFC 9110 allows),
/// `Err` when it cannot be satisfied (416).
fn byte_range(h: Option<&header::HeaderValue>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = h
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| ());
    let (start, end) = match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => {
            let n = num(b)?.min(len);
            if n == 0 {
                return Err(());
            }
            (len - n, len - 1)
        }
        (false, true) => (num(a)?, len.saturating_sub(1)),
        (false, false) => (num(a)?, num(b)?.min(len.saturating_sub(1))),
        (true, true) => return Err(()),
    };
    if start >= len || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// Streams the file at `path` followed by `pad`, honouring a single byte range.
async fn serve_padded(
    path: &std::path::Path,
    pad: &[u8],
    range: Option<&header::HeaderValue>,
) -> std::io::Result<Response> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = tokio::fs::File::open(path).await?;
    let flen = file.metadata().await?.len();
    let total = flen + pad.len() as u64;
    let mut res = Response::builder()
        .header(header::CONTENT_TYPE, "video/mp4")
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "private, max-age=86400");
    let (start, end) = match byte_range(range, total) {
        Ok(Some((s, e))) => {
            res = res
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {s}-{e}/{total}"));
            (s, e)
        }
        Ok(None) => (0, total - 1),
        Err(()) => {
            return Ok(Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{total}"))
                .body(axum::body::Body::empty())
                .unwrap_or_default());
        }
    };
    let from_file = if start < flen {
        file.seek(std::io::SeekFrom::Start(start)).await?;
        end.min(flen - 1) + 1 - start
    } else {
        0
    };
    let pad_part =
        pad[start.saturating_sub(flen) as usize..(end + 1).saturating_sub(flen) as usize].to_vec();
    let body = file.take(from_file).chain(std::io::Cursor::new(pad_part));
    Ok(res
        .header(header::CONTENT_LENGTH, end + 1 - start)
        .body(axum::body::Body::from_stream(
            tokio_util::io::ReaderStream::new(body),
        ))
        .unwrap_or_default())
}

/// Per-participant answers: bursts of 30, then 10 per second.
fn rate_ok(token: &str) -> bool {
    static BUCKETS: OnceLock<TokenBuckets> = OnceLock::new();
    BUCKETS
        .get_or_init(|| TokenBuckets::new(30, 10.0))
        .take(token)
}

/// Joins per client address: bursts of 60, then one a second (a classroom behind one NAT can
/// still start together; a script cannot create thousands of participants).
fn join_rate_ok(ip: std::net::IpAddr) -> bool {
    static BUCKETS: OnceLock<TokenBuckets> = OnceLock::new();
    BUCKETS
        .get_or_init(|| TokenBuckets::new(60, 1.0))
        .take(&ip.to_string())
}

/// Answers per client address: bursts of 300, then 60 a second (a class of 60 behind one NAT
/// answering every second still passes; tokens made up per request, which the per-participant
/// limit cannot see, cannot flood the answer writer).
fn answer_ip_rate_ok(ip: std::net::IpAddr) -> bool {
    static BUCKETS: OnceLock<TokenBuckets> = OnceLock::new();
    BUCKETS
        .get_or_init(|| TokenBuckets::new(300, 60.0))
        .take(&ip.to_string())
}

/// The answer endpoint: JSON in, acknowledged only once committed.
pub(super) async fn answer(
    writer: AnswerWriter,
    state: ServerState,
    peer: SocketAddr,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let client =
        magictime_app::ssr::client_ip::client_ip(peer.ip(), &headers, &state.trusted_proxies);
    if !answer_ip_rate_ok(client) {
        return AppError::TooManyRequests("too many answers from your address".into())
            .into_response();
    }
    let a: AnswerIn = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return AppError::BadRequest(format!("bad answer: {e}")).into_response(),
    };
    if a.token.len() != 64 {
        return AppError::from(AnswerError::NotAssigned).into_response();
    }
    if !rate_ok(&a.token) {
        return AppError::TooManyRequests("too many answers".into()).into_response();
    }
    match writer.submit(a).await {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        // 409 like "already answered", marked so the page can stop instead of moving on.
        Err(AnswerError::Closed) => (
            StatusCode::CONFLICT,
            Json(json!({ "error": AnswerError::Closed.to_string(), "closed": true })),
        )
            .into_response(),
        Err(e) => AppError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        let h = |s: &'static str| header::HeaderValue::from_static(s);
        assert_eq!(byte_range(None, 100), Ok(None));
        assert_eq!(byte_range(Some(&h("bytes=0-9")), 100), Ok(Some((0, 9))));
        assert_eq!(byte_range(Some(&h("bytes=90-")), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some(&h("bytes=-10")), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some(&h("bytes=-500")), 100), Ok(Some((0, 99))));
        assert_eq!(
            byte_range(Some(&h("bytes=50-500")), 100),
            Ok(Some((50, 99)))
        );
        assert_eq!(byte_range(Some(&h("bytes=0-1,5-6")), 100), Ok(None));
        assert_eq!(byte_range(Some(&h("items=0-1")), 100), Ok(None));
        assert_eq!(byte_range(Some(&h("bytes=100-")), 100), Err(()));
        assert_eq!(byte_range(Some(&h("bytes=9-3")), 100), Err(()));
        assert_eq!(byte_range(Some(&h("bytes=-0")), 100), Err(()));
        assert_eq!(byte_range(Some(&h("bytes=x-3")), 100), Err(()));
    }

    #[test]
    fn padding_is_a_free_box_sized_by_the_address() {
        let a = padding("12-0-00ff0000000000000000000000000000");
        let b = padding("12-1-ffff0000000000000000000000000000");
        assert_eq!(a.len(), 8 + 0xff);
        assert_eq!(b.len(), 8 + 0xffff % 4089);
        assert_eq!(&a[..4], &((8 + 0xff) as u32).to_be_bytes());
        assert_eq!(&a[4..8], b"free");
        assert!(a[8..].iter().all(|&x| x == 0));
    }
}
