//! The demo server over Streamable HTTP at `/mcp`, both eras on one endpoint.
//!
//! Routing a POST: a `MCP-Protocol-Version` header naming a non-handshake
//! version, or (header absent) a body with 2026-07-28 `_meta`, selects the
//! stateless path, as the Python SDK routes it; everything else takes the
//! legacy session path. `LegacyOnly` never takes the stateless path and
//! `StatelessOnly` always does.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::convert::Infallible;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::any;
use bytes::Bytes;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::engine::{CallCtx, Engine, Inflight, Peer, Proto, Request, lock, modern_status};
use super::{DemoEra, DemoOptions};
use crate::LEGACY_VERSIONS;
use crate::wire::{Kind, classify, decode_header_value, error_response};

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";

/// Serves the demo over Streamable HTTP at `http://<listener address>/mcp`
/// until the task is dropped or the listener fails.
pub async fn serve_http(listener: TcpListener, opts: DemoOptions) -> anyhow::Result<()> {
    serve_http_engine(listener, Arc::new(Engine::new(&opts)?)).await
}

/// Serves `engine` over Streamable HTTP (used by servers built on the demo's
/// transports with another catalogue, such as the conformance fixture).
pub(crate) async fn serve_http_engine(
    listener: TcpListener,
    engine: Arc<Engine>,
) -> anyhow::Result<()> {
    let state = Arc::new(HttpState {
        engine,
        sessions: Mutex::new(HashMap::new()),
    });
    let app = Router::new().route("/mcp", any(mcp)).with_state(state);
    axum::serve(listener, app).await?;
    Ok(())
}

#[derive(Debug)]
struct HttpState {
    engine: Arc<Engine>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

/// A legacy session minted by `initialize`.
#[derive(Debug)]
struct Session {
    version: String,
    caps: Value,
    peer: Arc<Peer>,
    inflight: Arc<Inflight>,
    /// The standalone GET stream, if open.
    listener: Mutex<Option<mpsc::UnboundedSender<String>>>,
}

impl HttpState {
    fn era(&self) -> DemoEra {
        self.engine.era
    }
}

async fn mcp(
    State(st): State<Arc<HttpState>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // DNS-rebinding guard: a browser page on another origin must not reach a
    // local server.
    if !origin_allowed(&headers) {
        return json_error(
            StatusCode::FORBIDDEN,
            -32000,
            "Forbidden: Origin not allowed",
        );
    }
    match method {
        Method::POST => post(&st, &headers, &body).await,
        Method::GET | Method::DELETE if st.era() == DemoEra::StatelessOnly => {
            let mut r = json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                -32000,
                "Method Not Allowed: this server speaks only 2026-07-28 (POST)",
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            r
        }
        Method::GET => get(&st, &headers),
        Method::DELETE => delete(&st, &headers),
        _ => {
            let mut r = json_error(StatusCode::METHOD_NOT_ALLOWED, -32000, "Method Not Allowed");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            r
        }
    }
}

fn origin_allowed(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = if authority.starts_with('[') {
        authority
            .split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default().to_owned()
    };
    matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]")
}

fn accepts(headers: &HeaderMap, mime: &str) -> bool {
    let (kind, _) = mime.split_once('/').unwrap_or((mime, ""));
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|item| item.split(';').next().unwrap_or_default().trim())
        .any(|item| item == mime || item == "*/*" || item == format!("{kind}/*"))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn post(st: &HttpState, headers: &HeaderMap, body: &[u8]) -> Response {
    if !(accepts(headers, "application/json") && accepts(headers, "text/event-stream")) {
        return json_error(
            StatusCode::NOT_ACCEPTABLE,
            -32000,
            "Not Acceptable: Client must accept both application/json and text/event-stream",
        );
    }
    let content_type = header_str(headers, header::CONTENT_TYPE.as_str()).unwrap_or_default();
    if !content_type.trim_start().starts_with("application/json") {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            -32000,
            "Unsupported Media Type: Content-Type must be application/json",
        );
    }
    let parsed = std::str::from_utf8(body)
        .map_err(|e| e.to_string())
        .and_then(|text| {
            serde_json::from_str::<Value>(text)
                .map(|v| (text, v))
                .map_err(|e| e.to_string())
        });
    let (text, msg) = match parsed {
        Ok(p) => p,
        Err(e) => {
            let response = error_response(&Value::Null, -32700, &format!("Parse error: {e}"), None);
            return json_response(StatusCode::BAD_REQUEST, response);
        }
    };
    let kind = classify(&msg);
    if kind == Kind::Invalid {
        return json_error(
            StatusCode::BAD_REQUEST,
            -32600,
            "Invalid Request: the body must be one JSON-RPC 2.0 message (no batches)",
        );
    }
    let header_version = headers.get(VERSION_HEADER);
    let body_modern = msg
        .get("params")
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(crate::META_PROTOCOL_VERSION))
        .is_some();
    let modern = match st.era() {
        DemoEra::LegacyOnly => false,
        DemoEra::StatelessOnly => true,
        DemoEra::Both => match header_version {
            Some(v) => v.to_str().map_or(true, |v| !LEGACY_VERSIONS.contains(&v)),
            None => body_modern,
        },
    };
    if modern {
        post_modern(st, headers, kind, &msg, text).await
    } else {
        post_legacy(st, headers, kind, &msg, text).await
    }
}

async fn post_modern(
    st: &HttpState,
    headers: &HeaderMap,
    kind: Kind,
    msg: &Value,
    text: &str,
) -> Response {
    match kind {
        Kind::Notification => return accepted(),
        Kind::Response => {
            return json_error(
                StatusCode::BAD_REQUEST,
                -32600,
                "Invalid Request: 2026-07-28 clients do not send responses",
            );
        }
        _ => {}
    }
    let req = Request::new(msg, text);
    if req.method == "initialize" && st.era() == DemoEra::StatelessOnly {
        let response = match st.engine.initialize(&req) {
            Ok((response, ..)) | Err(response) => response,
        };
        return json_response(StatusCode::BAD_REQUEST, response);
    }
    let proto = match st
        .engine
        .modern_proto(&req, || check_headers(headers, &req))
    {
        Ok(proto) => proto,
        Err(response) => return json_response(status(modern_status(&response)), response),
    };
    let stream = st.engine.wants_stream(&req, false);
    let ctx = |out| CallCtx {
        proto,
        out,
        peer: None,
        cancel: None,
        cancel_on_disconnect: true,
    };
    answer(st, req, ctx, stream, None).await
}

/// Checks the 2026-07-28 request headers against the body. Checked because an
/// intermediary may route or authorize on the headers while the server acts
/// on the body: the two must never disagree.
fn check_headers(headers: &HeaderMap, req: &Request) -> Result<(), String> {
    let body_version = &req.params["_meta"][crate::META_PROTOCOL_VERSION];
    let body_version = body_version
        .as_str()
        .map_or_else(|| body_version.to_string(), str::to_owned);
    compare(headers, "MCP-Protocol-Version", &body_version, false)?;
    compare(headers, "Mcp-Method", &req.method, false)?;
    let name_field = match req.method.as_str() {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    };
    if let Some(field) = name_field {
        let body_name = &req.params[field];
        let body_name = body_name
            .as_str()
            .map_or_else(|| body_name.to_string(), str::to_owned);
        compare(headers, "Mcp-Name", &body_name, true)?;
    }
    Ok(())
}

fn compare(headers: &HeaderMap, name: &str, body: &str, may_encode: bool) -> Result<(), String> {
    let Some(value) = headers.get(name) else {
        return Err(format!(
            "Header mismatch: required header {name} is missing"
        ));
    };
    let Ok(value) = value.to_str() else {
        return Err(format!(
            "Header mismatch: {name} header has invalid characters"
        ));
    };
    let decoded = if may_encode {
        decode_header_value(value)
            .ok_or_else(|| format!("Header mismatch: {name} header has an invalid Base64 value"))?
    } else {
        value.to_owned()
    };
    if decoded != body {
        return Err(format!(
            "Header mismatch: {name} header value '{decoded}' does not match body value '{body}'"
        ));
    }
    Ok(())
}

async fn post_legacy(
    st: &HttpState,
    headers: &HeaderMap,
    kind: Kind,
    msg: &Value,
    text: &str,
) -> Response {
    if kind == Kind::Request && msg["method"] == "initialize" {
        return initialize(st, &Request::new(msg, text));
    }
    let session_id = header_str(headers, SESSION_HEADER);
    if st.era() == DemoEra::LegacyOnly && msg["method"] == "server/discover" && session_id.is_none()
    {
        // A 400 without a recognized 2026 error tells a dual-era client to fall back.
        let response = error_response(
            &msg["id"],
            -32601,
            "Method not found: server/discover",
            None,
        );
        return json_response(StatusCode::BAD_REQUEST, response);
    }
    let session = match session_id {
        None => {
            return json_error(
                StatusCode::BAD_REQUEST,
                -32000,
                "Bad Request: Mcp-Session-Id header is required (send initialize first)",
            );
        }
        Some(id) => match lock(&st.sessions).get(id).cloned() {
            Some(s) => s,
            None => return json_error(StatusCode::NOT_FOUND, -32001, "Session not found"),
        },
    };
    if let Some(v) = headers.get(VERSION_HEADER) {
        let v = v.to_str().unwrap_or("(invalid)");
        if !LEGACY_VERSIONS.contains(&v) {
            let message = format!(
                "Bad Request: Unsupported protocol version: {v} (supported versions: {})",
                LEGACY_VERSIONS.join(", ")
            );
            return json_error(StatusCode::BAD_REQUEST, -32000, &message);
        }
    }
    match kind {
        Kind::Response => {
            session.peer.resolve(msg);
            return accepted();
        }
        Kind::Notification => {
            if msg["method"] == "notifications/cancelled" {
                session.inflight.cancel(msg.get("params"));
            }
            return accepted();
        }
        _ => {}
    }
    let req = Request::new(msg, text);
    let stream = st.engine.wants_stream(&req, true);
    let proto = Proto::Legacy {
        version: session.version.clone(),
        caps: session.caps.clone(),
    };
    let cancel = Some(session.inflight.register(&req.id));
    let peer = stream.then(|| session.peer.clone());
    let ctx = |out| CallCtx {
        proto,
        out,
        peer,
        cancel,
        cancel_on_disconnect: false,
    };
    answer(st, req, ctx, stream, Some(session.inflight.clone())).await
}

fn initialize(st: &HttpState, req: &Request) -> Response {
    match st.engine.initialize(req) {
        Ok((response, version, caps)) => {
            let id = new_session_id();
            let session = Session {
                version,
                caps,
                peer: Arc::default(),
                inflight: Arc::default(),
                listener: Mutex::new(None),
            };
            lock(&st.sessions).insert(id.clone(), Arc::new(session));
            let mut r = json_response(StatusCode::OK, response);
            if let Ok(v) = HeaderValue::from_str(&id) {
                r.headers_mut().insert(SESSION_HEADER, v);
            }
            r
        }
        Err(response) => json_response(StatusCode::BAD_REQUEST, response),
    }
}

/// Runs a request and answers it as JSON or as an SSE stream. `inflight` is
/// the legacy session's registry (the request is registered in it already).
async fn answer(
    st: &HttpState,
    req: Request,
    ctx: impl FnOnce(mpsc::UnboundedSender<String>) -> CallCtx,
    stream: bool,
    inflight: Option<Arc<Inflight>>,
) -> Response {
    let engine = st.engine.clone();
    let modern = inflight.is_none();
    let (tx, rx) = mpsc::unbounded_channel();
    let ctx = ctx(tx.clone());
    let id = req.id.clone();
    if stream {
        tokio::spawn(async move {
            let response = engine.handle(req, ctx).await;
            if let Some(inflight) = inflight {
                inflight.finish(&id);
            }
            if let Some(response) = response {
                let _ = tx.send(response);
            }
        });
        return sse_response(rx);
    }
    drop(tx);
    // `rx` lives until this handler ends: if the client goes away first, the
    // handler is dropped and a 2026-07-28 call sees that as cancellation.
    let _rx = rx;
    let response = engine.handle(req, ctx).await;
    if let Some(inflight) = inflight {
        inflight.finish(&id);
    }
    match response {
        Some(response) => {
            let code = if modern {
                status(modern_status(&response))
            } else {
                StatusCode::OK
            };
            json_response(code, response)
        }
        // Cancelled: no JSON-RPC response exists, so none is sent.
        None => accepted(),
    }
}

fn get(st: &HttpState, headers: &HeaderMap) -> Response {
    let session = match session_for(st, headers) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    if !accepts(headers, "text/event-stream") {
        return json_error(
            StatusCode::NOT_ACCEPTABLE,
            -32000,
            "Not Acceptable: Client must accept text/event-stream",
        );
    }
    let mut listener = lock(&session.listener);
    if listener.as_ref().is_some_and(|tx| !tx.is_closed()) {
        return json_error(
            StatusCode::CONFLICT,
            -32000,
            "Conflict: Only one SSE stream is allowed per session",
        );
    }
    let (tx, rx) = mpsc::unbounded_channel();
    *listener = Some(tx);
    sse_response(rx)
}

fn delete(st: &HttpState, headers: &HeaderMap) -> Response {
    let session = match session_for(st, headers) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    if let Some(id) = header_str(headers, SESSION_HEADER) {
        lock(&st.sessions).remove(id);
    }
    session.inflight.cancel_all();
    session.peer.abandon_all();
    lock(&session.listener).take();
    Response::new(Body::empty())
}

fn session_for(st: &HttpState, headers: &HeaderMap) -> Result<Arc<Session>, Box<Response>> {
    let Some(id) = header_str(headers, SESSION_HEADER) else {
        return Err(Box::new(json_error(
            StatusCode::BAD_REQUEST,
            -32000,
            "Bad Request: Mcp-Session-Id header is required",
        )));
    };
    lock(&st.sessions).get(id).cloned().ok_or_else(|| {
        Box::new(json_error(
            StatusCode::NOT_FOUND,
            -32001,
            "Session not found",
        ))
    })
}

/// A 128-bit random session id from the standard library's per-process
/// random hash keys (no extra dependency; fine for a demo server).
fn new_session_id() -> String {
    let mut out = String::new();
    for _ in 0..2 {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(out.len());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
}

fn json_response(code: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn json_error(code: StatusCode, rpc_code: i64, message: &str) -> Response {
    json_response(code, error_response(&Value::Null, rpc_code, message, None))
}

fn accepted() -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::ACCEPTED;
    r
}

fn sse_response(rx: mpsc::UnboundedReceiver<String>) -> Response {
    let events = futures::stream::unfold(rx, |mut rx| async move {
        let msg = rx.recv().await?;
        let event = Bytes::from(format!("event: message\ndata: {msg}\n\n"));
        Some((Ok::<_, Infallible>(event), rx))
    });
    let mut r = Response::new(Body::from_stream(events));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_origins_pass() {
        let mut h = HeaderMap::new();
        assert!(origin_allowed(&h));
        for (origin, ok) in [
            ("http://localhost:3000", true),
            ("http://127.0.0.1", true),
            ("http://[::1]:8080", true),
            ("https://evil.example", false),
            ("http://localhost.evil.example", false),
            ("null", false),
        ] {
            h.insert(header::ORIGIN, HeaderValue::from_static(origin));
            assert_eq!(origin_allowed(&h), ok, "{origin}");
        }
    }

    #[test]
    fn session_ids_are_visible_ascii_and_distinct() {
        let a = new_session_id();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        assert_ne!(a, new_session_id());
    }
}
