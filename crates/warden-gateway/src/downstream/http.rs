//! Streamable HTTP at `/mcp`, both eras on one endpoint.
//!
//! - Handshake era (2025-03-26 to 2025-11-25): `initialize` without a session opens a gateway
//!   session (`Mcp-Session-Id`, our own random id) with its own upstream connection (its own
//!   child process, or its own upstream HTTP session). Requests are answered with JSON when the
//!   answer is the first thing that comes back, else with an SSE stream carrying progress and
//!   server requests before the answer. `GET` opens the session's stream for server-initiated
//!   messages; `DELETE` ends the session.
//! - 2026-07-28: every POST stands alone. `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name`
//!   are checked against the body (400 and -32020 on mismatch, nothing forwarded). All such
//!   requests share one upstream connection, initialized on their behalf when it is a
//!   handshake-era server. Closing the response stream cancels the request.
//!
//! Denials are HTTP 200 results (DESIGN.md section 2); only transport problems get 4xx.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use warden_protocol::{ErrorCode, HeaderCheck, Kind, MODERN_VERSION, error_response};

use crate::guard::{Guard, Principal};
use crate::relay::{Caller, Relay, RelayOptions};
use crate::upstream::{Limits, UpstreamEvent, UpstreamSpec};

const SESSION_HEADER: &str = "mcp-session-id";

/// Decides who a request is from and which guard decides its calls. `warden run` admits
/// everyone as the local principal; `warden serve` authenticates and looks up the grant.
pub trait Gatekeeper: Send + Sync + std::fmt::Debug {
    /// The caller of a request, or the response that refuses it (401, 403, 503).
    fn admit<'a>(
        &'a self,
        headers: &'a HeaderMap,
    ) -> futures::future::BoxFuture<'a, Result<Admitted, Response>>;
}

/// An admitted request's caller.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// Who is calling.
    pub who: Principal,
    /// What decides their calls.
    pub guard: Arc<Guard>,
}

/// `warden run`'s gatekeeper: every request is the local principal under one guard.
#[derive(Debug)]
pub struct Local(pub Arc<Guard>);

impl Gatekeeper for Local {
    fn admit<'a>(
        &'a self,
        _headers: &'a HeaderMap,
    ) -> futures::future::BoxFuture<'a, Result<Admitted, Response>> {
        Box::pin(async move {
            Ok(Admitted {
                who: Principal::local(),
                guard: self.0.clone(),
            })
        })
    }
}

/// Shared state of one HTTP endpoint (one upstream server).
#[derive(Debug)]
pub struct HttpGateway {
    gatekeeper: Arc<dyn Gatekeeper>,
    upstream: UpstreamSpec,
    limits: Limits,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Sessions of the legacy HTTP+SSE transport (2024-11-05), by id.
    sse_sessions: Mutex<HashMap<String, Arc<SseSession>>>,
    /// The connection shared by stateless requests (and by every session of a shared
    /// upstream), with its restart schedule.
    shared: tokio::sync::Mutex<SharedConn>,
    /// Requests in flight, across the whole gateway (shared by a team's endpoints).
    inflight: Option<Arc<Semaphore>>,
}

/// A session of the legacy HTTP+SSE transport: its own upstream connection, and the stream
/// that carries every message for the client.
#[derive(Debug)]
struct SseSession {
    identity: String,
    relay: Arc<Relay>,
    to_client: mpsc::Sender<String>,
}

/// Ends an HTTP+SSE session when its stream goes away.
struct SseGuard {
    gw: Arc<HttpGateway>,
    sid: String,
}

impl Drop for SseGuard {
    fn drop(&mut self) {
        self.gw
            .sse_sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.sid);
    }
}

/// The shared connection of an endpoint and its restart schedule.
#[derive(Debug, Default)]
struct SharedConn {
    relay: Option<Arc<Relay>>,
    opened_at: Option<tokio::time::Instant>,
    retry_at: Option<tokio::time::Instant>,
    backoff: std::time::Duration,
}

/// A handshake-era session the gateway terminates (a shared upstream): the client's
/// capabilities and info, added to each request that goes to the shared connection.
#[derive(Debug)]
struct Terminated {
    capabilities: String,
    client_info: Option<String>,
    /// The capabilities, parsed: whether the gateway may ask the client (approvals).
    declared: Arc<serde_json::Value>,
}

#[derive(Debug)]
pub(crate) struct Session {
    /// Set when the gateway answered `initialize` itself (shared upstream).
    terminated: Option<Terminated>,
    /// The identity that opened the session; only it may use the session.
    identity: String,
    /// Requests in flight in this session.
    inflight: Option<Arc<Semaphore>>,
    relay: Arc<Relay>,
    streams: Arc<Mutex<Streams>>,
    last_seen: Mutex<tokio::time::Instant>,
}

impl Session {
    fn touch(&self) {
        *self.last_seen.lock().unwrap_or_else(|p| p.into_inner()) = tokio::time::Instant::now();
    }

    /// Idle: no request for `idle`, no request in flight, no GET stream open.
    fn is_idle(&self, idle: std::time::Duration) -> bool {
        let quiet = self
            .last_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
            > idle;
        let streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        quiet
            && streams.posts.iter().all(|(_, tx)| tx.is_closed())
            && streams.get.as_ref().is_none_or(|g| g.is_closed())
    }
}

/// The default of [`Limits::session_idle`]: a handshake-era session nobody has used for this
/// long is ended with its upstream connection (clients that vanish without `DELETE` must not
/// keep a server process each).
pub const SESSION_IDLE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Where upstream-initiated messages of a session go: the GET stream if one is open, else the
/// newest open POST stream (server requests during a tool call belong there), else a bounded
/// backlog delivered when a GET stream opens.
#[derive(Debug, Default)]
struct Streams {
    get: Option<mpsc::Sender<String>>,
    posts: Vec<(u64, mpsc::Sender<String>)>,
    backlog: VecDeque<String>,
    next: u64,
}

const BACKLOG: usize = 1000;

impl Streams {
    fn route(&mut self, msg: String, is_request: bool) {
        self.posts.retain(|(_, tx)| !tx.is_closed());
        if self.get.as_ref().is_some_and(|g| g.is_closed()) {
            self.get = None;
        }
        let post = self.posts.last().map(|(_, tx)| tx.clone());
        let target = if is_request {
            post.or_else(|| self.get.clone())
        } else {
            self.get.clone().or(post)
        };
        match target {
            Some(tx) => {
                if let Err(
                    mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m),
                ) = tx.try_send(msg)
                {
                    self.keep(m);
                }
            }
            None => self.keep(msg),
        }
    }

    fn keep(&mut self, msg: String) {
        if self.backlog.len() == BACKLOG {
            self.backlog.pop_front();
            tracing::warn!("session backlog full; oldest server message dropped");
        }
        self.backlog.push_back(msg);
    }
}

impl HttpGateway {
    /// A listener's state.
    /// Must be called within a Tokio runtime: it starts the task that ends idle sessions.
    pub fn new(
        gatekeeper: Arc<dyn Gatekeeper>,
        upstream: UpstreamSpec,
        limits: Limits,
    ) -> Arc<Self> {
        let inflight = limits
            .max_concurrent_requests
            .map(|n| Arc::new(Semaphore::new(n)));
        Self::sharing(gatekeeper, upstream, limits, inflight)
    }

    /// Like [`HttpGateway::new`], counting requests in flight in `inflight` (shared by several
    /// endpoints of one gateway) instead of a semaphore of its own.
    pub fn sharing(
        gatekeeper: Arc<dyn Gatekeeper>,
        upstream: UpstreamSpec,
        limits: Limits,
        inflight: Option<Arc<Semaphore>>,
    ) -> Arc<Self> {
        let gw = Arc::new(HttpGateway {
            inflight,
            gatekeeper,
            upstream,
            limits,
            sessions: Mutex::new(HashMap::new()),
            shared: tokio::sync::Mutex::new(SharedConn::default()),
            sse_sessions: Mutex::new(HashMap::new()),
        });
        let weak = Arc::downgrade(&gw);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(gw) = weak.upgrade() else { break };
                gw.sessions().retain(|id, s| {
                    let ended = s.relay.is_closed() && s.terminated.is_none();
                    let keep = !s.is_idle(gw.limits.session_idle) && !ended;
                    if !keep {
                        tracing::info!(session = %id, "ending an idle or ended session");
                    }
                    keep
                });
            }
        });
        gw
    }

    /// The axum router serving `/mcp`.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(
                "/sse",
                axum::routing::get(|State(gw): State<Arc<HttpGateway>>, h: HeaderMap| {
                    gw.sse_open(h, "/messages")
                }),
            )
            .route(
                "/messages",
                post(
                    |State(gw): State<Arc<HttpGateway>>,
                     axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
                     h: HeaderMap,
                     b: Body| {
                        gw.sse_message(h, q.get("session_id").cloned(), b)
                    },
                ),
            )
            .route(
                "/mcp",
                post(|State(gw): State<Arc<HttpGateway>>, h: HeaderMap, b: Body| gw.post(h, b))
                    .get(|State(gw): State<Arc<HttpGateway>>, h: HeaderMap| gw.get(h))
                    .delete(|State(gw): State<Arc<HttpGateway>>, h: HeaderMap| gw.delete(h)),
            )
            // The body bound is ours (Limits::client_message_bytes), answered as JSON-RPC.
            .layer(axum::extract::DefaultBodyLimit::disable())
            .layer(axum::middleware::from_fn_with_state(
                AllowedHosts::from(Vec::new()),
                check_origin,
            ))
            .layer(axum::middleware::from_fn_with_state(
                self.limits.max_header_bytes,
                check_header_size,
            ))
            .with_state(self.clone())
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connects a new upstream and starts the task that feeds its messages to a relay.
    async fn open_relay(
        &self,
        server_out: Option<mpsc::Sender<String>>,
    ) -> anyhow::Result<Arc<Relay>> {
        let conn = self.upstream.connect(&self.limits).await?;
        let crate::upstream::Conn { tx, mut rx, done } = conn;
        let relay = Relay::new(
            tx,
            RelayOptions {
                server_out,
                timeout: self.limits.upstream_timeout,
            },
        );
        let weak = Arc::downgrade(&relay);
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let Some(relay) = weak.upgrade() else { break };
                match ev {
                    UpstreamEvent::Message(m) => relay.upstream_message(m).await,
                    UpstreamEvent::Closed(why) => {
                        relay.upstream_closed(&why).await;
                        break;
                    }
                }
            }
            drop(rx);
            let _ = done.await;
        });
        Ok(relay)
    }

    /// The shared connection, opened on first use and reopened when its upstream has gone
    /// (a crashed child is restarted), waiting 1 s, 2 s, 4 s ... up to 60 s between attempts
    /// while it keeps failing; a connection that stayed up a minute resets the wait.
    pub(crate) async fn stateless_relay(&self) -> Result<Arc<Relay>, String> {
        let mut shared = self.shared.lock().await;
        if let Some(relay) = &shared.relay
            && !relay.is_closed()
        {
            return Ok(relay.clone());
        }
        let now = tokio::time::Instant::now();
        if let Some(at) = shared.retry_at
            && now < at
        {
            return Err(format!(
                "the upstream exited and is restarting; retry in {} s",
                (at - now).as_secs().max(1)
            ));
        }
        if let Some(opened) = shared.opened_at {
            let stayed_up = now.duration_since(opened) >= std::time::Duration::from_secs(60);
            shared.backoff = if stayed_up {
                std::time::Duration::from_secs(1)
            } else {
                (shared.backoff * 2).clamp(
                    std::time::Duration::from_secs(1),
                    std::time::Duration::from_secs(60),
                )
            };
            tracing::warn!(
                backoff_s = shared.backoff.as_secs(),
                "upstream connection lost; reconnecting"
            );
        }
        let opened = self.open_relay(None).await;
        shared.opened_at = Some(now);
        shared.retry_at = Some(now + shared.backoff);
        let relay = opened.map_err(|e| e.to_string())?;
        shared.relay = Some(relay.clone());
        Ok(relay)
    }

    /// The shared connection, or the 502 that says why there is none (for request `id`).
    pub(crate) async fn upstream_or_502(&self, id: Option<&str>) -> Result<Arc<Relay>, Response> {
        self.stateless_relay().await.map_err(|why| {
            json_error(
                StatusCode::BAD_GATEWAY,
                id,
                ErrorCode::Server,
                &format!("cannot reach the upstream: {why}"),
            )
        })
    }

    /// The shared connection's relay, if it is open (nothing is started for this).
    async fn shared_relay(&self) -> Option<Arc<Relay>> {
        self.shared.lock().await.relay.clone()
    }

    fn is_shared(&self) -> bool {
        matches!(self.upstream, UpstreamSpec::Command { shared: true, .. })
    }
}

/// Refuses a request whose headers (names and values) add up to more than `max` bytes, with
/// 431 and a JSON-RPC error, before anything else reads them.
pub async fn check_header_size(
    State(max): State<usize>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if size > max {
        let why = format!("request headers total {size} bytes, over the limit of {max}");
        return json_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            None,
            ErrorCode::InvalidRequest,
            &why,
        );
    }
    next.run(req).await
}

/// Host names served besides `localhost` and IP addresses (`listen.allowed_hosts`).
pub type AllowedHosts = Arc<[String]>;

/// Against DNS rebinding: a web page must not reach a gateway on this machine through a
/// hostname that resolves to it. A request that names an `Origin` is served only when that
/// origin is this machine (`localhost`, `127.0.0.1`, `[::1]`); requests without `Origin` (MCP
/// clients that are not browsers) are served. The `Host` header must name this machine or an
/// IP address, so a rebound hostname is refused even when a browser omits `Origin`. Names in
/// `allowed` (the team gateway's `listen.allowed_hosts`) are served too.
pub async fn check_origin(
    State(allowed): State<AllowedHosts>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let is_local_host =
        |h: &str| is_local_host(h) || allowed.iter().any(|a| a.eq_ignore_ascii_case(h));
    let headers = req.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://").map(|(_, rest)| rest))
            .map(|rest| host_part(rest).to_owned());
        if !host.as_deref().is_some_and(is_local_host) {
            let why = format!(
                "Forbidden: Origin {:?} is not this machine; Warden serves browsers only from localhost",
                origin.to_str().unwrap_or("?")
            );
            return json_error(StatusCode::FORBIDDEN, None, ErrorCode::InvalidRequest, &why);
        }
    }
    if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        let name = host_part(host);
        if !(is_local_host(name)
            || name
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok())
        {
            let why = format!("Forbidden: Host {host:?} is not an address of this gateway");
            return json_error(StatusCode::FORBIDDEN, None, ErrorCode::InvalidRequest, &why);
        }
    }
    next.run(req).await
}

/// `host[:port]` → `host` (IPv6 literals keep their brackets).
fn host_part(authority: &str) -> &str {
    let authority = authority.split('/').next().unwrap_or(authority);
    if authority.starts_with('[') {
        return authority.split_inclusive(']').next().unwrap_or(authority);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

fn is_local_host(host: &str) -> bool {
    matches!(
        host.to_ascii_lowercase().as_str(),
        "localhost" | "127.0.0.1" | "[::1]"
    )
}

pub(crate) fn json_error(
    status: StatusCode,
    id: Option<&str>,
    code: ErrorCode,
    message: &str,
) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        error_response(id, code, message, None),
    )
        .into_response()
}

pub(crate) fn header_str<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Reads a body of at most `max` bytes. A larger one is read on and discarded (up to a bound)
/// so that the client, which is still sending, receives the 413 instead of a reset connection.
pub(crate) async fn read_body(body: Body, max: usize) -> Result<Bytes, ()> {
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    let mut seen = 0usize;
    let drain_bound = max.saturating_mul(4);
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { return Err(()) };
        seen += chunk.len();
        if seen > drain_bound {
            return Err(());
        }
        if seen <= max {
            buf.extend_from_slice(&chunk);
        }
    }
    if seen > max {
        Err(())
    } else {
        Ok(Bytes::from(buf))
    }
}

impl HttpGateway {
    /// Handles a POST: one client message.
    pub async fn post(self: Arc<Self>, headers: HeaderMap, body: Body) -> Response {
        // The body is read (within its bound) before anything may refuse the request: a
        // refusal sent while the client is still sending would cost it the connection, and a
        // client retrying after a 401 needs that connection.
        let Ok(body) = read_body(body, self.limits.client_message_bytes).await else {
            return too_large(self.limits.client_message_bytes);
        };
        // Over the limit, say so at once (503 with Retry-After) rather than queue without bound.
        let mut permits = Vec::new();
        if let Some(sem) = &self.inflight {
            match acquire(sem, Limit::Gateway) {
                Ok(p) => permits.push(p),
                Err(refused) => return refused,
            }
        }
        let admitted = match self.gatekeeper.admit(&headers).await {
            Ok(a) => a,
            Err(refused) => return refused,
        };
        handle_post(self, admitted, headers, body, permits).await
    }

    /// Handles a GET: the session's stream for server-initiated messages.
    pub async fn get(self: Arc<Self>, headers: HeaderMap) -> Response {
        let admitted = match self.gatekeeper.admit(&headers).await {
            Ok(a) => a,
            Err(refused) => return refused,
        };
        handle_get(self, admitted, headers).await
    }

    /// Handles a DELETE: ends a session.
    pub async fn delete(self: Arc<Self>, headers: HeaderMap) -> Response {
        let admitted = match self.gatekeeper.admit(&headers).await {
            Ok(a) => a,
            Err(refused) => return refused,
        };
        handle_delete(self, admitted, headers).await
    }

    /// GET on the legacy HTTP+SSE transport (2024-11-05): opens a session whose stream first
    /// names, in an `endpoint` event, where to POST messages (`messages_path?session_id=…`),
    /// then carries every message for the client. Each such session has its own upstream
    /// connection; closing the stream ends the session.
    pub async fn sse_open(self: Arc<Self>, headers: HeaderMap, messages_path: &str) -> Response {
        let admitted = match self.gatekeeper.admit(&headers).await {
            Ok(a) => a,
            Err(refused) => return refused,
        };
        let (tx, rx) = mpsc::channel::<String>(256);
        let relay = match self.open_relay(Some(tx.clone())).await {
            Ok(r) => r,
            Err(e) => {
                let why = format!("cannot start the upstream: {e}");
                return json_error(StatusCode::BAD_GATEWAY, None, ErrorCode::Server, &why);
            }
        };
        let sid = uuid::Uuid::new_v4().simple().to_string();
        self.sse_sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                sid.clone(),
                Arc::new(SseSession {
                    identity: admitted.who.identity,
                    relay,
                    to_client: tx,
                }),
            );
        let endpoint = format!("event: endpoint\ndata: {messages_path}?session_id={sid}\n\n");
        let guard = SseGuard {
            gw: self.clone(),
            sid,
        };
        let first =
            futures::stream::once(async move { Ok::<_, Infallible>(Bytes::from(endpoint)) });
        let rest = tokio_stream_from(rx).map(move |m| {
            let _session_lives_while_the_stream_does = &guard;
            Ok::<_, Infallible>(Bytes::from(format!("event: message\ndata: {m}\n\n")))
        });
        sse_response(first.chain(rest))
    }

    /// POST on the legacy HTTP+SSE transport: one client message for session `session_id`,
    /// answered 202; its answer travels on the session's stream.
    pub async fn sse_message(
        self: Arc<Self>,
        headers: HeaderMap,
        session_id: Option<String>,
        body: Body,
    ) -> Response {
        let Ok(body) = read_body(body, self.limits.client_message_bytes).await else {
            return too_large(self.limits.client_message_bytes);
        };
        let admitted = match self.gatekeeper.admit(&headers).await {
            Ok(a) => a,
            Err(refused) => return refused,
        };
        let session = session_id.and_then(|sid| {
            self.sse_sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&sid)
                .filter(|s| s.identity == admitted.who.identity)
                .cloned()
                .map(|s| (sid, s))
        });
        let Some((sid, session)) = session else {
            return json_error(
                StatusCode::NOT_FOUND,
                None,
                ErrorCode::InvalidRequest,
                "Session not found: open the SSE stream first",
            );
        };
        let Ok(text) = String::from_utf8(body.to_vec()) else {
            return json_error(
                StatusCode::BAD_REQUEST,
                None,
                ErrorCode::ParseError,
                "body is not UTF-8",
            );
        };
        let caller = Caller {
            guard: admitted.guard,
            who: admitted.who,
            session: sid,
            declared: None,
        };
        session
            .relay
            .client_message(&text, &session.to_client, &caller)
            .await;
        StatusCode::ACCEPTED.into_response()
    }

    /// The session `sid` if `who` opened it. Someone else's session is "not found": its
    /// existence is not theirs to learn.
    fn session_of(&self, sid: &str, who: &Principal) -> Option<Arc<Session>> {
        self.sessions()
            .get(sid)
            .filter(|s| s.identity == who.identity)
            .cloned()
            .inspect(|s| s.touch())
    }
}

/// Which concurrency limit a permit counts against.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Limit {
    /// Requests in flight in the whole gateway: 503 beyond.
    Gateway,
    /// Requests in flight in one session: 429 beyond.
    Session,
}

/// A permit to have one more request in flight, or the refusal to send at once.
pub(crate) fn acquire(
    sem: &Arc<Semaphore>,
    limit: Limit,
) -> Result<OwnedSemaphorePermit, Response> {
    sem.clone().try_acquire_owned().map_err(|_| match limit {
        Limit::Gateway => busy(
            StatusCode::SERVICE_UNAVAILABLE,
            "the gateway is at its limit of requests in flight (limits.max_concurrent_requests)",
        ),
        Limit::Session => busy(
            StatusCode::TOO_MANY_REQUESTS,
            "this session is at its limit of requests in flight (limits.max_concurrent_per_session)",
        ),
    })
}

/// The message in a request body, or the 400 that refuses it.
pub(crate) fn parse_body(body: &Bytes) -> Result<warden_protocol::Message<'_>, Response> {
    let text = std::str::from_utf8(body).map_err(|_| {
        json_error(
            StatusCode::BAD_REQUEST,
            None,
            ErrorCode::ParseError,
            "body is not UTF-8",
        )
    })?;
    warden_protocol::parse(text).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            e.response(),
        )
            .into_response()
    })
}

/// A refusal for load: the client may retry in a second.
pub(crate) fn busy(status: StatusCode, why: &str) -> Response {
    let mut resp = json_error(status, None, ErrorCode::Server, why);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

pub(crate) type Permits = Vec<OwnedSemaphorePermit>;

/// The answer to a body over `limit` bytes.
pub(crate) fn too_large(limit: usize) -> Response {
    let why = format!("request body larger than {limit} bytes; not forwarded");
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        None,
        ErrorCode::InvalidRequest,
        &why,
    )
}

/// Reads and discards a body (within a bound), so that a refusal does not cost the client its
/// connection.
pub(crate) async fn drain(body: Body) {
    let _ = read_body(body, 1 << 20).await;
}

async fn handle_post(
    gw: Arc<HttpGateway>,
    admitted: Admitted,
    headers: HeaderMap,
    body: Bytes,
    permits: Permits,
) -> Response {
    let msg = match parse_body(&body) {
        Ok(m) => m,
        Err(refused) => return refused,
    };
    let header_version = header_str(&headers, "mcp-protocol-version");
    let modern = warden_protocol::request_era(&msg) == warden_protocol::Era::Modern
        || header_version == Some(MODERN_VERSION);
    if modern {
        return stateless_post(&gw, admitted, &headers, &msg, permits).await;
    }
    session_post(&gw, admitted, &headers, &msg, permits).await
}

/// The 2026-07-28 checks of one request, in the order the reference servers apply them:
/// required `_meta` keys (-32602), headers against the body (-32020), responses refused, then
/// the version (-32022). A refusal is the HTTP answer; nothing is forwarded.
pub(crate) fn check_stateless(
    msg: &warden_protocol::Message<'_>,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let id = msg.id().map(|i| i.get());
    // The order of the 2026-07-28 checks: required `_meta` keys (-32602), headers against the
    // body (-32020), then the version (-32022). Each is answered here, never forwarded.
    if let Kind::Request { .. } = msg.kind {
        let version = msg.meta(warden_protocol::META_PROTOCOL_VERSION);
        let capabilities = msg.meta(warden_protocol::META_CLIENT_CAPABILITIES);
        if !version.as_ref().is_some_and(|v| v.is_string())
            || !capabilities.as_ref().is_some_and(|c| c.is_object())
        {
            let why = format!(
                "Invalid params: 2026-07-28 requests carry _meta[\"{}\"] (a string) and _meta[\"{}\"] (an object)",
                warden_protocol::META_PROTOCOL_VERSION,
                warden_protocol::META_CLIENT_CAPABILITIES
            );
            return Err(json_error(
                StatusCode::BAD_REQUEST,
                id,
                ErrorCode::InvalidParams,
                &why,
            ));
        }
    }
    let check = HeaderCheck {
        protocol_version: header_str(headers, "mcp-protocol-version"),
        method: header_str(headers, "mcp-method"),
        name: header_str(headers, "mcp-name"),
    };
    if let Err(why) = warden_protocol::check_headers(msg, check) {
        // Never forwarded: a header must not be a way around a rule.
        return Err(json_error(
            StatusCode::BAD_REQUEST,
            id,
            ErrorCode::HeaderMismatch,
            &format!("Header mismatch: {why}"),
        ));
    }
    if let Kind::Response { .. } = msg.kind {
        return Err(json_error(
            StatusCode::BAD_REQUEST,
            id,
            ErrorCode::InvalidRequest,
            "2026-07-28 clients do not send responses",
        ));
    }
    let requested = msg.meta(warden_protocol::META_PROTOCOL_VERSION);
    if let Some(v) = requested.as_ref().and_then(|v| v.as_str())
        && v != MODERN_VERSION
    {
        let data = serde_json::json!({"supported": [MODERN_VERSION], "requested": v});
        let body = error_response(
            id,
            ErrorCode::UnsupportedVersion,
            "Unsupported protocol version",
            Some(&data),
        );
        return Err((
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response());
    }
    Ok(())
}

/// A 2026-07-28 request: check headers against the body, then relay on the shared connection.
async fn stateless_post(
    gw: &Arc<HttpGateway>,
    admitted: Admitted,
    headers: &HeaderMap,
    msg: &warden_protocol::Message<'_>,
    permits: Permits,
) -> Response {
    if let Err(refused) = check_stateless(msg, headers) {
        return refused;
    }
    let id = msg.id().map(|i| i.get());
    let relay = match gw.upstream_or_502(id).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let caller = Caller {
        guard: admitted.guard,
        who: admitted.who,
        // 2026-07-28 has no sessions: counters of scope `session` are shared by the
        // stateless requests of this endpoint.
        session: "stateless".into(),
        declared: None,
    };
    relay_request(
        relay,
        msg,
        None,
        accepts_sse(headers),
        &caller,
        permits,
        true,
    )
    .await
}

/// A handshake-era message: `initialize` opens a session, everything else needs one.
async fn session_post(
    gw: &Arc<HttpGateway>,
    admitted: Admitted,
    headers: &HeaderMap,
    msg: &warden_protocol::Message<'_>,
    mut permits: Permits,
) -> Response {
    let id = msg.id().map(|i| i.get());
    if msg.method() == Some("initialize") && gw.is_shared() {
        return terminated_initialize(gw, admitted, msg).await;
    }
    if msg.method() == Some("initialize") {
        let sid = uuid::Uuid::new_v4().simple().to_string();
        let streams = Arc::new(Mutex::new(Streams::default()));
        let (out_tx, mut out_rx) = mpsc::channel::<String>(256);
        let relay = match gw.open_relay(Some(out_tx)).await {
            Ok(r) => r,
            Err(e) => {
                return json_error(
                    StatusCode::BAD_GATEWAY,
                    id,
                    ErrorCode::Server,
                    &format!("cannot start the upstream: {e}"),
                );
            }
        };
        // Route upstream-initiated messages of this session.
        let route_streams = streams.clone();
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                let is_request = matches!(
                    warden_protocol::parse(&m).map(|m| m.kind),
                    Ok(Kind::Request { .. })
                );
                route_streams
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .route(m, is_request);
            }
        });
        let session = Arc::new(Session {
            terminated: None,
            inflight: gw
                .limits
                .max_concurrent_per_session
                .map(|n| Arc::new(Semaphore::new(n))),
            identity: admitted.who.identity.clone(),
            last_seen: Mutex::new(tokio::time::Instant::now()),
            relay: relay.clone(),
            streams,
        });
        gw.sessions().insert(sid.clone(), session.clone());
        let caller = Caller {
            guard: admitted.guard,
            who: admitted.who,
            session: sid.clone(),
            declared: None,
        };
        let mut resp = relay_request(
            relay,
            msg,
            Some(&session),
            accepts_sse(headers),
            &caller,
            permits,
            false,
        )
        .await;
        if let Ok(v) = HeaderValue::from_str(&sid) {
            resp.headers_mut().insert(SESSION_HEADER, v);
        }
        return resp;
    }
    let Some(sid) = header_str(headers, SESSION_HEADER) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            id,
            ErrorCode::InvalidRequest,
            "Bad Request: Mcp-Session-Id header is required (send initialize first)",
        );
    };
    let Some(session) = gw.session_of(sid, &admitted.who) else {
        return json_error(
            StatusCode::NOT_FOUND,
            id,
            ErrorCode::InvalidRequest,
            "Session not found: initialize a new session",
        );
    };
    if session.relay.is_closed() && session.terminated.is_none() {
        gw.sessions().remove(sid);
        return json_error(
            StatusCode::NOT_FOUND,
            id,
            ErrorCode::InvalidRequest,
            "Session ended because its upstream exited: initialize a new session",
        );
    }
    let caller = Caller {
        guard: admitted.guard,
        who: admitted.who,
        session: sid.to_owned(),
        declared: session.terminated.as_ref().map(|t| t.declared.clone()),
    };
    // A terminated session: the gateway answers `ping` and `initialized` itself and speaks
    // 2026-07-28 for the client on the shared connection.
    let translated: Option<String> = match &session.terminated {
        None => None,
        Some(t) => {
            match (&msg.kind, msg.method()) {
                (Kind::Request { id, .. }, Some("ping")) => {
                    let pong = format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#, id.get());
                    return ([(header::CONTENT_TYPE, "application/json")], pong).into_response();
                }
                (Kind::Notification { .. }, Some(m)) if m != "notifications/cancelled" => {
                    return StatusCode::ACCEPTED.into_response();
                }
                (Kind::Response { .. }, _) => {
                    // The answer to a question of the gateway's own (an approval); the shared
                    // connection sends no requests of its own to sessions.
                    if let Some(relay) = gw.shared_relay().await {
                        let (tx, _rx) = mpsc::channel(1);
                        relay.client_message(msg.raw, &tx, &caller).await;
                    }
                    return StatusCode::ACCEPTED.into_response();
                }
                _ => {}
            }
            warden_protocol::add_modern_meta(
                msg,
                MODERN_VERSION,
                &t.capabilities,
                t.client_info.as_deref(),
            )
        }
    };
    let parsed = translated.as_deref().map(warden_protocol::parse);
    let msg = match &parsed {
        Some(Ok(m)) => m,
        _ => msg,
    };
    // A terminated session rides the shared connection, restarted if its process died.
    let relay = if session.terminated.is_some() {
        match gw.upstream_or_502(id).await {
            Ok(r) => r,
            Err(refused) => return refused,
        }
    } else {
        session.relay.clone()
    };
    match msg.kind {
        Kind::Request { .. } => {
            if let Some(sem) = &session.inflight {
                match acquire(sem, Limit::Session) {
                    Ok(p) => permits.push(p),
                    Err(refused) => return refused,
                }
            }
            relay_request(
                relay,
                msg,
                Some(&session),
                accepts_sse(headers),
                &caller,
                permits,
                false,
            )
            .await
        }
        _ => {
            let (tx, mut rx) = mpsc::channel(8);
            relay.client_message(msg.raw, &tx, &caller).await;
            drop(tx);
            // Notifications are answered only when refused (a malformed one).
            match rx.recv().await {
                Some(err) => (
                    StatusCode::BAD_REQUEST,
                    [(header::CONTENT_TYPE, "application/json")],
                    err,
                )
                    .into_response(),
                None => StatusCode::ACCEPTED.into_response(),
            }
        }
    }
}

pub(crate) fn accepts_sse(headers: &HeaderMap) -> bool {
    header_str(headers, "accept").is_some_and(|a| a.contains("text/event-stream"))
}

/// Cancels the upstream request if the client goes away before its answer.
struct CancelOnDrop {
    relay: Arc<Relay>,
    upstream_id: Option<u64>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(id) = self.upstream_id.take() {
            let relay = self.relay.clone();
            tokio::spawn(async move { relay.cancel(id).await });
        }
    }
}

/// `initialize` on a shared upstream: the gateway opens the session and answers itself, from
/// the shared connection's `server/discover` (which the relay bridges for a handshake-era
/// upstream), so one upstream process serves every session.
async fn terminated_initialize(
    gw: &Arc<HttpGateway>,
    admitted: Admitted,
    msg: &warden_protocol::Message<'_>,
) -> Response {
    let id = msg.id().map(|i| i.get()).unwrap_or("null");
    let relay = match gw.upstream_or_502(Some(id)).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let params: serde_json::Value = msg
        .params
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .unwrap_or_else(|| serde_json::json!({}));
    let capabilities = params
        .get("capabilities")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    let client_info = params.get("clientInfo").cloned();
    let meta = warden_protocol::modern_meta(&capabilities, client_info.as_ref());
    let discover = serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "server/discover",
        "params": {"_meta": meta}});
    let sid = uuid::Uuid::new_v4().simple().to_string();
    let caller = Caller {
        guard: admitted.guard,
        who: admitted.who,
        session: sid.clone(),
        declared: None,
    };
    let (tx, mut rx) = mpsc::channel(4);
    relay
        .client_message(&discover.to_string(), &tx, &caller)
        .await;
    drop(tx);
    let found = match rx
        .recv()
        .await
        .and_then(|a| serde_json::from_str::<serde_json::Value>(&a).ok())
    {
        Some(a) if a.get("result").is_some() => a["result"].clone(),
        other => {
            let why = format!(
                "the upstream did not describe itself: {}",
                other.unwrap_or_default()
            );
            return json_error(StatusCode::BAD_GATEWAY, Some(id), ErrorCode::Server, &why);
        }
    };
    let asked = params.get("protocolVersion").and_then(|v| v.as_str());
    let answer = warden_protocol::initialize_from_discover(id, asked, &found);
    let session = Arc::new(Session {
        terminated: Some(Terminated {
            capabilities: capabilities.to_string(),
            client_info: client_info.map(|i| i.to_string()),
            declared: Arc::new(capabilities.clone()),
        }),
        inflight: gw
            .limits
            .max_concurrent_per_session
            .map(|n| Arc::new(Semaphore::new(n))),
        identity: caller.who.identity.clone(),
        last_seen: Mutex::new(tokio::time::Instant::now()),
        relay,
        streams: Arc::new(Mutex::new(Streams::default())),
    });
    gw.sessions().insert(sid.clone(), session);
    let mut resp = ([(header::CONTENT_TYPE, "application/json")], answer).into_response();
    if let Ok(v) = HeaderValue::from_str(&sid) {
        resp.headers_mut().insert(SESSION_HEADER, v);
    }
    resp
}

/// Relays one client request and answers the POST: JSON when the answer is the first message
/// back, else an SSE stream of everything for this request, ending with the answer.
pub(crate) async fn relay_request(
    relay: Arc<Relay>,
    msg: &warden_protocol::Message<'_>,
    session: Option<&Arc<Session>>,
    sse_ok: bool,
    caller: &Caller,
    permits: Permits,
    stateless: bool,
) -> Response {
    let client_id = msg.id().map(|i| i.get().to_owned()).unwrap_or_default();
    let (tx, mut rx) = mpsc::channel::<String>(64);
    let post_slot = session.map(|s| {
        let mut st = s.streams.lock().unwrap_or_else(|p| p.into_inner());
        st.next += 1;
        let slot = st.next;
        st.posts.push((slot, tx.clone()));
        (s.streams.clone(), slot)
    });
    let upstream_id = relay.client_message(msg.raw, &tx, caller).await;
    drop(tx);
    // 2026-07-28 cancels by closing the stream; in the handshake era a disconnect is not a
    // cancellation (clients send notifications/cancelled), so the call runs on.
    let mut guard = CancelOnDrop {
        relay,
        upstream_id: upstream_id.filter(|_| stateless),
    };
    let unregister = move || {
        if let Some((streams, slot)) = &post_slot {
            streams
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .posts
                .retain(|(s, _)| s != slot);
        }
    };
    let Some(first) = rx.recv().await else {
        unregister();
        return json_error(
            StatusCode::BAD_GATEWAY,
            Some(&client_id),
            ErrorCode::Server,
            "no answer from the upstream",
        );
    };
    if is_answer(&first, &client_id) || !sse_ok {
        guard.upstream_id = None;
        unregister();
        let body = if is_answer(&first, &client_id) {
            first
        } else {
            // A JSON-only client: skip interim messages, wait for the answer.
            let mut answer = None;
            while let Some(m) = rx.recv().await {
                if is_answer(&m, &client_id) {
                    answer = Some(m);
                    break;
                }
            }
            match answer {
                Some(a) => a,
                None => {
                    return json_error(
                        StatusCode::BAD_GATEWAY,
                        Some(&client_id),
                        ErrorCode::Server,
                        "no answer from the upstream",
                    );
                }
            }
        };
        // 2026-07-28 gives JSON-RPC errors an HTTP status of their own; the handshake era
        // answers them with 200.
        let status = if stateless {
            stateless_status(&body)
        } else {
            StatusCode::OK
        };
        return (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    // The permits travel with the stream: the request is in flight until its answer is sent.
    let stream = futures::stream::unfold(
        (Some(first), rx, guard, client_id, Some(unregister), permits),
        |(next, mut rx, mut guard, client_id, mut unregister, permits)| async move {
            let msg = match next {
                Some(m) => m,
                None => rx.recv().await?,
            };
            let done = is_answer(&msg, &client_id);
            if done {
                guard.upstream_id = None;
                if let Some(u) = unregister.take() {
                    u();
                }
                // End the stream after this event by closing the channel.
                rx.close();
            }
            let event = format!("event: message\ndata: {msg}\n\n");
            Some((
                Ok::<_, Infallible>(Bytes::from(event)),
                (None, rx, guard, client_id, unregister, permits),
            ))
        },
    );
    sse_response(stream)
}

/// The HTTP status of a 2026-07-28 answer: 400 for malformed requests, params, headers,
/// capabilities and versions, 404 for unknown methods, 200 otherwise (tool errors and denials
/// are results, and results are 200).
fn stateless_status(answer: &str) -> StatusCode {
    #[derive(serde::Deserialize)]
    struct E {
        code: i64,
    }
    #[derive(serde::Deserialize)]
    struct A {
        error: Option<E>,
    }
    match serde_json::from_str::<A>(answer)
        .ok()
        .and_then(|a| a.error)
        .map(|e| e.code)
    {
        Some(-32700 | -32600 | -32602 | -32020 | -32021 | -32022) => StatusCode::BAD_REQUEST,
        Some(-32601) => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

fn is_answer(msg: &str, client_id: &str) -> bool {
    matches!(warden_protocol::parse(msg), Ok(m) if matches!(m.kind, Kind::Response { id: Some(id), .. } if id.get() == client_id))
}

async fn handle_get(gw: Arc<HttpGateway>, admitted: Admitted, headers: HeaderMap) -> Response {
    let Some(sid) = header_str(&headers, SESSION_HEADER) else {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response();
    };
    let Some(session) = gw.session_of(sid, &admitted.who) else {
        return json_error(
            StatusCode::NOT_FOUND,
            None,
            ErrorCode::InvalidRequest,
            "Session not found",
        );
    };
    let (tx, rx) = mpsc::channel::<String>(256);
    {
        let mut st = session.streams.lock().unwrap_or_else(|p| p.into_inner());
        if st.get.as_ref().is_some_and(|g| !g.is_closed()) {
            return json_error(
                StatusCode::CONFLICT,
                None,
                ErrorCode::InvalidRequest,
                "this session already has a GET stream open",
            );
        }
        while let Some(m) = st.backlog.pop_front() {
            if tx.try_send(m).is_err() {
                break;
            }
        }
        st.get = Some(tx);
    }
    let stream = tokio_stream_from(rx)
        .map(|m| Ok::<_, Infallible>(Bytes::from(format!("event: message\ndata: {m}\n\n"))));
    sse_response(stream)
}

/// An SSE response carrying `stream`'s events as they come (no proxy buffering).
fn sse_response<S>(stream: S) -> Response
where
    S: futures::Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
{
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("x-accel-buffering", "no")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn tokio_stream_from(rx: mpsc::Receiver<String>) -> impl futures::Stream<Item = String> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) })
}

async fn handle_delete(gw: Arc<HttpGateway>, admitted: Admitted, headers: HeaderMap) -> Response {
    let Some(sid) = header_str(&headers, SESSION_HEADER) else {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response();
    };
    let removed = match gw.session_of(sid, &admitted.who) {
        Some(_) => gw.sessions().remove(sid),
        None => None,
    };
    match removed {
        // Dropping the session drops its relay and with it the upstream connection.
        Some(_) => StatusCode::OK.into_response(),
        None => json_error(
            StatusCode::NOT_FOUND,
            None,
            ErrorCode::InvalidRequest,
            "Session not found",
        ),
    }
}

/// Serves until `shutdown` resolves.
pub async fn serve_http(
    gw: Arc<HttpGateway>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, gw.router())
        .with_graceful_shutdown(shutdown)
        .await?;
    // End every session (and its upstream process).
    gw.sessions().clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let (tx, _rx) = mpsc::channel(1);
        let relay = Relay::new(
            tx,
            RelayOptions {
                server_out: None,
                timeout: None,
            },
        );
        Session {
            terminated: None,
            inflight: None,
            identity: "local".into(),
            relay,
            streams: Arc::new(Mutex::new(Streams::default())),
            last_seen: Mutex::new(tokio::time::Instant::now()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn sessions_expire_only_when_quiet_and_unwatched() {
        let s = session();
        assert!(!s.is_idle(SESSION_IDLE));
        tokio::time::advance(SESSION_IDLE + std::time::Duration::from_secs(1)).await;
        assert!(s.is_idle(SESSION_IDLE));
        // An open GET stream means the client is still there.
        let (get_tx, get_rx) = mpsc::channel(1);
        s.streams.lock().unwrap().get = Some(get_tx);
        assert!(!s.is_idle(SESSION_IDLE));
        drop(get_rx);
        assert!(s.is_idle(SESSION_IDLE));
        // Any request makes it fresh again.
        s.touch();
        assert!(!s.is_idle(SESSION_IDLE));
    }
}
