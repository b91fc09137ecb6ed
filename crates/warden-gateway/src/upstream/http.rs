//! An upstream server behind a Streamable HTTP endpoint, either era.
//!
//! Each message is POSTed. Requests run concurrently (a tool call may stream for minutes);
//! notifications, responses and `initialize` are sent in order, each awaited, so the upstream
//! sees `initialize` → `notifications/initialized` → requests as the client sent them.
//! Handshake-era sessions keep the upstream's `Mcp-Session-Id` and negotiated version and open
//! the standalone GET stream; 2026-07-28 requests get the routing headers computed from the
//! body (the upstream may route on them; they always match what policy decided on).

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use tokio::sync::{mpsc, oneshot};
use warden_protocol::{ErrorCode, Kind, META_PROTOCOL_VERSION, error_response};

use super::{Conn, Limits, UpstreamEvent};

#[derive(Debug, Default)]
struct Session {
    id: Option<String>,
    version: Option<String>,
}

#[derive(Debug)]
struct Upstream {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    session: Mutex<Session>,
    events: mpsc::Sender<UpstreamEvent>,
    max: usize,
}

/// Prepares a connection to a Streamable HTTP upstream (nothing is sent until the first message).
pub fn connect_http(
    url: reqwest::Url,
    headers: HeaderMap,
    limits: &Limits,
) -> anyhow::Result<Conn> {
    let client = super::shared_client()?;
    let (tx, mut outbox) = mpsc::channel::<String>(256);
    let (events, rx) = mpsc::channel(256);
    let (done_tx, done) = oneshot::channel();
    let up = Arc::new(Upstream {
        client,
        url,
        headers,
        session: Mutex::new(Session::default()),
        events,
        max: limits.upstream_message_bytes,
    });
    tokio::spawn(async move {
        while let Some(msg) = outbox.recv().await {
            let (is_request, method) = match warden_protocol::parse(&msg) {
                Ok(m) => (
                    matches!(m.kind, Kind::Request { .. }),
                    m.method().map(str::to_owned),
                ),
                Err(_) => continue, // the relay only sends what it parsed
            };
            if is_request && method.as_deref() != Some("initialize") {
                let up = up.clone();
                tokio::spawn(async move { up.post(msg).await });
            } else {
                up.post(msg).await;
                if method.as_deref() == Some("notifications/initialized") {
                    let up = up.clone();
                    tokio::spawn(async move { up.listen().await });
                }
            }
        }
        // The gateway closed the connection: end the upstream session politely.
        let id = up.session.lock().map(|s| s.id.clone()).unwrap_or_default();
        if let Some(id) = id {
            let _ = up
                .client
                .delete(up.url.clone())
                .headers(up.headers.clone())
                .header("mcp-session-id", id)
                .send()
                .await;
        }
        let _ = up
            .events
            .send(UpstreamEvent::Closed(
                "upstream HTTP connection closed".into(),
            ))
            .await;
        let _ = done_tx.send(());
    });
    Ok(Conn { tx, rx, done })
}

impl Upstream {
    fn request_headers(&self, msg: &warden_protocol::Message<'_>) -> HeaderMap {
        let mut h = self.headers.clone();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        let modern = msg
            .meta(META_PROTOCOL_VERSION)
            .and_then(|v| v.as_str().map(str::to_owned));
        if let Some(version) = modern {
            put(&mut h, "mcp-protocol-version", &version);
            if let Some(method) = msg.method() {
                put(&mut h, "mcp-method", method);
                let field = match method {
                    "tools/call" | "prompts/get" => Some("name"),
                    "resources/read" => Some("uri"),
                    _ => None,
                };
                if let Some(v) = field.and_then(|f| param_str(msg, f)) {
                    put(&mut h, "mcp-name", &header_safe(&v));
                }
            }
        } else if let Ok(s) = self.session.lock() {
            if let Some(id) = &s.id {
                put(&mut h, "mcp-session-id", id);
            }
            if let Some(v) = &s.version {
                put(&mut h, "mcp-protocol-version", v);
            }
        }
        h
    }

    async fn post(&self, msg: String) {
        let parsed = match warden_protocol::parse(&msg) {
            Ok(m) => m,
            Err(_) => return,
        };
        let request_id = match parsed.kind {
            Kind::Request { id, .. } => Some(id.get().to_owned()),
            _ => None,
        };
        let is_initialize = parsed.method() == Some("initialize");
        let headers = self.request_headers(&parsed);
        let sent = self
            .client
            .post(self.url.clone())
            .headers(headers)
            .body(msg.clone())
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                self.fail(request_id, &format!("upstream unreachable: {e}"))
                    .await;
                return;
            }
        };
        if is_initialize
            && let Some(sid) = resp
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
            && let Ok(mut s) = self.session.lock()
        {
            s.id = Some(sid.to_owned());
        }
        let status = resp.status();
        let is_sse = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if status.as_u16() == 202 {
            return;
        }
        if is_sse && status.is_success() {
            let mut events = resp.bytes_stream().eventsource();
            while let Some(ev) = events.next().await {
                match ev {
                    Ok(ev) if ev.data.trim().is_empty() => {} // priming events carry no message
                    Ok(ev) if ev.data.len() > self.max => {
                        tracing::error!("upstream SSE message over the size limit; dropped");
                    }
                    Ok(ev) => self.deliver(ev.data, is_initialize).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "upstream SSE stream broke");
                        break;
                    }
                }
            }
            return;
        }
        let body = match read_capped(resp, self.max).await {
            Ok(b) => b,
            Err(e) => {
                self.fail(request_id, &e).await;
                return;
            }
        };
        // Any status: if the body is a JSON-RPC response, it is the answer (2026-07-28 servers
        // answer header and version problems with 400 and a JSON-RPC error).
        if let Ok(m) = warden_protocol::parse(&body)
            && matches!(m.kind, Kind::Response { .. })
        {
            self.deliver(body, is_initialize).await;
            return;
        }
        if request_id.is_some() {
            let excerpt: String = body.chars().take(200).collect();
            let why = if status.as_u16() == 404 && !is_initialize {
                format!("upstream session expired or unknown (HTTP 404): {excerpt}")
            } else {
                format!("upstream answered HTTP {status}: {excerpt}")
            };
            self.fail(request_id, &why).await;
        }
    }

    /// Passes one message on, remembering the negotiated version of a handshake.
    async fn deliver(&self, data: String, is_initialize: bool) {
        if is_initialize
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&data)
            && let Some(ver) = v
                .pointer("/result/protocolVersion")
                .and_then(|v| v.as_str())
            && let Ok(mut s) = self.session.lock()
        {
            s.version = Some(ver.to_owned());
        }
        let _ = self.events.send(UpstreamEvent::Message(data)).await;
    }

    async fn fail(&self, request_id: Option<String>, why: &str) {
        tracing::warn!(error = why, "upstream request failed");
        if let Some(id) = request_id {
            let msg = error_response(Some(&id), ErrorCode::Server, why, None);
            let _ = self.events.send(UpstreamEvent::Message(msg)).await;
        }
    }

    /// The standalone GET stream of a handshake-era session, for server-initiated messages.
    /// A 405 means the server offers none.
    async fn listen(&self) {
        let mut h = self.headers.clone();
        h.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        if let Ok(s) = self.session.lock() {
            if let Some(id) = &s.id {
                put(&mut h, "mcp-session-id", id);
            }
            if let Some(v) = &s.version {
                put(&mut h, "mcp-protocol-version", v);
            }
        }
        let Ok(resp) = self.client.get(self.url.clone()).headers(h).send().await else {
            return;
        };
        if !resp.status().is_success() {
            return;
        }
        let mut events = resp.bytes_stream().eventsource();
        while let Some(Ok(ev)) = events.next().await {
            if !ev.data.trim().is_empty() && ev.data.len() <= self.max {
                self.deliver(ev.data, false).await;
            }
        }
    }
}

async fn read_capped(resp: reqwest::Response, max: usize) -> Result<String, String> {
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("reading upstream response failed: {e}"))?;
        if body.len() + chunk.len() > max {
            return Err(format!(
                "upstream response larger than {max} bytes; dropped"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| "upstream response is not UTF-8".into())
}

fn put(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

fn param_str(msg: &warden_protocol::Message<'_>, field: &str) -> Option<String> {
    let params: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(msg.params?.get()).ok()?;
    params.get(field)?.as_str().map(str::to_owned)
}

/// 2026-07-28 header values: visible ASCII as is, anything else as `=?base64?...?=`.
fn header_safe(v: &str) -> String {
    let plain = !v.is_empty()
        && v.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !v.starts_with(' ')
        && !v.ends_with(' ')
        && !v.starts_with("=?base64?");
    if plain {
        v.to_owned()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(v)
        )
    }
}
