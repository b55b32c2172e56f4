//! The HTTP side: routes, the headers every answer carries, the token, errors as 4xx with a
//! message, and the static files (vendored: no build step).

use crate::{App, limits, pages, search};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

/// Scripts only from this server, no inline script or style, no plugins, no framing, forms
/// and fetches to this server only: corpus content that slipped through escaping could not
/// run.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// For answers that are corpus bytes or drawings (raw files, charts): nothing in them runs.
pub(crate) const CSP_SANDBOX: &str = "sandbox; default-src 'none'; style-src 'unsafe-inline'";

/// Every route of the server.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/search", get(search::page))
        .route("/search/results", get(search::fragments))
        .route("/api/search", get(search::api))
        .route("/project/{name}", get(pages::project))
        .route("/project/{name}/{release}", get(pages::release))
        .route("/api/project/{name}", get(pages::api_project))
        .route("/api/project/{name}/{release}", get(pages::api_release))
        .route("/blob/{oid}", get(pages::blob))
        .route("/api/blob/{oid}", get(pages::api_blob))
        .route("/api/blob/{oid}/files", get(pages::api_blob_files))
        .route("/stats", get(pages::stats))
        .route("/api/stats", get(pages::api_stats))
        .route("/stats/chart/{id}", get(pages::chart))
        .route("/static/{file}", get(static_file))
        .route("/favicon.ico", get(|| async { axum::http::StatusCode::NO_CONTENT }))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, std::time::Duration::from_secs(limits::PAGE_SECONDS)))
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limits::REQUEST_BYTES))
        .with_state(app)
}

/// An error as the client gets it: a status and a message (a page or `{"error": ...}`).
#[derive(Debug)]
pub(crate) struct WebError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    /// Answer as JSON (API routes) rather than a page.
    pub(crate) api: bool,
}

impl WebError {
    pub(crate) fn bad(message: impl Into<String>) -> WebError {
        WebError { status: StatusCode::BAD_REQUEST, message: message.into(), api: false }
    }
    pub(crate) fn not_found(message: impl Into<String>) -> WebError {
        WebError { status: StatusCode::NOT_FOUND, message: message.into(), api: false }
    }
    /// 503 (with `Retry-After`): `what` is busy.
    pub(crate) fn busy(what: &str) -> WebError {
        WebError { status: StatusCode::SERVICE_UNAVAILABLE, message: format!("{what}: try again in a second"), api: false }
    }
    /// A failure of the server or the corpus (a damaged shard), not of the request.
    pub(crate) fn internal(e: impl std::fmt::Display) -> WebError {
        tracing::warn!("{e}");
        WebError { status: StatusCode::INTERNAL_SERVER_ERROR, message: e.to_string(), api: false }
    }
    /// The same error, answered as JSON.
    pub(crate) fn api(self) -> WebError {
        WebError { api: true, ..self }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let mut r = if self.api {
            (self.status, axum::Json(serde_json::json!({ "error": self.message }))).into_response()
        } else {
            let title = self.status.canonical_reason().unwrap_or("error").to_string();
            let html = pages::render("error.html", minijinja::context! { title, message => self.message }).unwrap_or_else(|e| format!("error: {e}"));
            (self.status, axum::response::Html(html)).into_response()
        };
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

async fn not_found() -> WebError {
    WebError::not_found("no such page")
}

/// The token check (when the server has one), then the headers every answer carries.
async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let mut set_cookie = None;
    if let Some(token) = &app.token {
        match presented(req.headers(), req.uri().query()) {
            Some((given, from_query)) if same(given.as_bytes(), token.as_bytes()) => {
                if from_query {
                    set_cookie = Some(format!("pycorpus_token={token}; HttpOnly; SameSite=Strict; Path=/"));
                }
            }
            _ => {
                let mut r = (StatusCode::UNAUTHORIZED, "this server needs its token: open it with ?token=TOKEN once, or send Authorization: Bearer TOKEN\n").into_response();
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return secure(r);
            }
        }
    }
    let mut r = next.run(req).await;
    if let Some(c) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    secure(r)
}

fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// The token a request carries: its `Authorization: Bearer`, its cookie or its `token=`
/// query parameter (true: from the query).
fn presented<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<(String, bool)> {
    if let Some(t) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) {
        return Some((t.trim().to_string(), false));
    }
    for cookies in headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()) {
        if let Some(t) = cookies.split(';').filter_map(|c| c.trim().strip_prefix("pycorpus_token=")).next() {
            return Some((t.to_string(), false));
        }
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).ok()?;
    pairs.into_iter().find(|(k, _)| k == "token").map(|(_, v)| (v, true))
}

/// Compares in time that depends on the lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The vendored script and style sheet.
async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.js" => (include_str!("../static/app.js"), "text/javascript; charset=utf-8"),
        "style.css" => (include_str!("../static/style.css"), "text/css; charset=utf-8"),
        _ => return WebError::not_found("no such file").into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "max-age=3600")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_found_where_clients_put_it() {
        let mut h = HeaderMap::new();
        assert_eq!(presented(&h, Some("q=x&token=abc")), Some(("abc".into(), true)));
        assert_eq!(presented(&h, Some("q=x")), None);
        h.insert(header::COOKIE, HeaderValue::from_static("a=b; pycorpus_token=sec"));
        assert_eq!(presented(&h, None), Some(("sec".into(), false)));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t0k"));
        assert_eq!(presented(&h, None), Some(("t0k".into(), false)));
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"abc", b"ab"));
    }
}
