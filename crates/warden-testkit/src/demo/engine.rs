//! Transport-independent request handling for the demo server.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::tools::{self, State, ToolOutput};
use super::{DemoEra, DemoOptions, SERVER_NAME};
use crate::wire::{self, error_response, id_key, result_response, result_response_raw};
use crate::{
    LATEST_LEGACY_VERSION, LEGACY_VERSIONS, META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION,
    META_SERVER_INFO, MODERN_VERSION,
};

/// Longest `sleep_ms` honoured.
const MAX_SLEEP_MS: u64 = 30_000;
/// Interval between progress notifications.
const PROGRESS_STEP_MS: u64 = 100;
/// How long a legacy `ask` waits for the client's answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(60);

const INSTRUCTIONS: &str = "Demo upstream bundled with Warden. Its tools mirror the Executor and \
SendIt seed servers. Test arguments on any tool: fail (error|tool), sleep_ms, ask (confirm).";

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the
/// demo's state stays usable; a test failure elsewhere must not cascade).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The era a request is served under, with what the client declared.
#[derive(Debug, Clone)]
pub(crate) enum Proto {
    /// Handshake era: the session's negotiated version and `initialize` capabilities.
    Legacy { version: String, caps: Value },
    /// Stateless era: the request's own `_meta` version and capabilities.
    Modern { version: String, caps: Value },
}

impl Proto {
    pub(crate) fn version(&self) -> &str {
        match self {
            Proto::Legacy { version, .. } | Proto::Modern { version, .. } => version,
        }
    }

    pub(crate) fn caps(&self) -> &Value {
        match self {
            Proto::Legacy { caps, .. } | Proto::Modern { caps, .. } => caps,
        }
    }
}

/// A client request as the engine needs it.
#[derive(Debug)]
pub(crate) struct Request {
    pub id: Value,
    pub method: String,
    pub params: Value,
    /// `params.arguments` as the client wrote it (for the call log).
    pub raw_args: Option<String>,
}

impl Request {
    /// Builds a request from its parsed message and original text.
    pub(crate) fn new(msg: &Value, text: &str) -> Self {
        let method = msg["method"].as_str().unwrap_or_default().to_owned();
        let raw_args = (method == "tools/call")
            .then(|| raw_arguments(text))
            .flatten();
        Request {
            id: msg["id"].clone(),
            method,
            params: msg.get("params").cloned().unwrap_or_else(|| json!({})),
            raw_args,
        }
    }

    pub(crate) fn meta(&self) -> Option<&Value> {
        self.params.get("_meta")
    }

    /// Whether the request carries the 2026-07-28 per-request `_meta` marker.
    pub(crate) fn has_modern_meta(&self) -> bool {
        self.meta()
            .and_then(|m| m.get(META_PROTOCOL_VERSION))
            .is_some()
    }

    /// The request's progress token, if it asked for progress.
    pub(crate) fn progress_token(&self) -> Option<&Value> {
        self.meta()
            .and_then(|m| m.get("progressToken"))
            .filter(|t| t.is_string() || t.is_number())
    }

    fn argument(&self, key: &str) -> Option<&Value> {
        self.params.get("arguments").and_then(|a| a.get(key))
    }

    /// Whether a `tools/call` may stream before its result (progress, a long
    /// sleep that may be cancelled, or a legacy elicitation).
    pub(crate) fn wants_stream(&self, legacy: bool) -> bool {
        self.method == "tools/call"
            && (self.progress_token().is_some()
                || self.argument("sleep_ms").is_some()
                || (legacy && self.argument("ask").is_some()))
    }
}

/// `params.arguments` of a message, as written (line breaks, which valid JSON
/// only has as whitespace, become spaces so the log stays one line).
fn raw_arguments(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Msg<'a> {
        #[serde(borrow)]
        params: Option<Params<'a>>,
    }
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow)]
        arguments: Option<&'a RawValue>,
    }
    let msg: Msg<'_> = serde_json::from_str(text).ok()?;
    let raw = msg.params?.arguments?.get();
    Some(raw.replace(['\n', '\r'], " "))
}

/// Server-to-client requests awaiting the client's response (legacy era).
#[derive(Debug, Default)]
pub(crate) struct Peer {
    pending: Mutex<HashMap<String, oneshot::Sender<Value>>>,
}

impl Peer {
    fn register(&self, id: &Value) -> oneshot::Receiver<Value> {
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id_key(id), tx);
        rx
    }

    /// Routes a client's response to the request waiting for it; false if none is.
    pub(crate) fn resolve(&self, response: &Value) -> bool {
        let key = id_key(&response["id"]);
        match lock(&self.pending).remove(&key) {
            Some(tx) => tx.send(response.clone()).is_ok(),
            None => false,
        }
    }

    /// Fails every pending request (the channel to the client is gone).
    pub(crate) fn abandon_all(&self) {
        lock(&self.pending).clear();
    }
}

/// In-flight requests that `notifications/cancelled` may stop.
#[derive(Debug, Default)]
pub(crate) struct Inflight {
    map: Mutex<HashMap<String, oneshot::Sender<()>>>,
}

impl Inflight {
    /// Registers a request; the receiver fires if it is cancelled.
    pub(crate) fn register(&self, id: &Value) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        lock(&self.map).insert(id_key(id), tx);
        rx
    }

    /// Forgets a finished request.
    pub(crate) fn finish(&self, id: &Value) {
        lock(&self.map).remove(&id_key(id));
    }

    /// Applies a `notifications/cancelled`; unknown ids are ignored, as the spec asks.
    pub(crate) fn cancel(&self, params: Option<&Value>) {
        let Some(id) = params.and_then(|p| p.get("requestId")) else {
            return;
        };
        if let Some(tx) = lock(&self.map).remove(&id_key(id)) {
            let _ = tx.send(());
        }
    }

    /// Cancels everything (the session ended).
    pub(crate) fn cancel_all(&self) {
        for (_, tx) in lock(&self.map).drain() {
            let _ = tx.send(());
        }
    }
}

/// Where a request's related messages go and what can stop it.
#[derive(Debug)]
pub(crate) struct CallCtx {
    /// The era the request is served under.
    pub proto: Proto,
    /// Messages sent before the response (progress, server requests): the
    /// request's SSE stream on HTTP, stdout on stdio.
    pub out: mpsc::UnboundedSender<String>,
    /// Present when this request may send the client its own requests.
    pub peer: Option<Arc<Peer>>,
    /// Fires on `notifications/cancelled`.
    pub cancel: Option<oneshot::Receiver<()>>,
    /// Treat the `out` receiver going away as cancellation (2026-07-28 HTTP,
    /// where closing the stream is how a client cancels).
    pub cancel_on_disconnect: bool,
}

impl CallCtx {
    /// Resolves when the request is cancelled; never otherwise.
    pub(crate) async fn cancelled(&mut self) {
        let CallCtx {
            out,
            cancel,
            cancel_on_disconnect,
            ..
        } = self;
        let explicit = async {
            if let Some(rx) = cancel.as_mut()
                && rx.await.is_ok()
            {
                return;
            }
            // The registration was dropped without a cancel: never fires.
            *cancel = None;
            std::future::pending::<()>().await;
        };
        let disconnect = async {
            if *cancel_on_disconnect {
                out.closed().await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = explicit => {}
            () = disconnect => {}
        }
    }
}

/// Why a server-to-client request got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AskError {
    /// This request has no channel for server requests (no `peer`).
    NoStream,
    /// The stream to the client closed before the request could be sent.
    Closed,
    /// The client went away before answering.
    Gone,
    /// No answer within the timeout.
    TimedOut,
    /// The client's request was cancelled meanwhile.
    Cancelled,
}

impl CallCtx {
    /// Sends the client a request (legacy era, on this request's stream) and
    /// waits up to `timeout` for its response message (`result` or `error`).
    pub(crate) async fn ask_client(
        &mut self,
        id: Value,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, AskError> {
        let Some(peer) = self.peer.clone() else {
            return Err(AskError::NoStream);
        };
        let rx = peer.register(&id);
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        if self.out.send(request.to_string()).is_err() {
            return Err(AskError::Closed);
        }
        tokio::select! {
            r = tokio::time::timeout(timeout, rx) => match r {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(_)) => Err(AskError::Gone),
                Err(_) => Err(AskError::TimedOut),
            },
            () = self.cancelled() => Err(AskError::Cancelled),
        }
    }
}

/// What an [`Extension`] answers a request with; the engine adds the id and,
/// on 2026-07-28, `resultType`, `_meta` and (list results) `ttlMs`/`cacheScope`.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A JSON-RPC result.
    Result(Value),
    /// A JSON-RPC error.
    Error {
        code: i64,
        message: String,
        data: Option<Value>,
    },
    /// Cancelled: no response is sent.
    Cancelled,
}

/// A catalogue plugged into the engine in place of the demo tools (the
/// conformance fixture is one). The engine keeps the transports, eras,
/// sessions, `ping` and `server/discover`; the extension answers every method
/// it claims, `tools/list` and `tools/call` included.
pub(crate) trait Extension: Send + Sync + std::fmt::Debug {
    /// `serverInfo.name`.
    fn server_name(&self) -> &'static str;
    /// `instructions` in `initialize` / `server/discover`.
    fn instructions(&self) -> &'static str;
    /// Server capabilities in `initialize` (`legacy`) / `server/discover`.
    fn capabilities(&self, legacy: bool) -> Value;
    /// Whether this request should be answered as an SSE stream (it sends
    /// notifications or server requests before its result).
    fn streams(&self, req: &Request) -> bool;
    /// The answer to a request, or `None` if the extension does not handle
    /// this method (the engine then answers as the demo does).
    fn handle<'a>(
        &'a self,
        req: &'a Request,
        ctx: &'a mut CallCtx,
    ) -> Option<futures::future::BoxFuture<'a, Reply>>;
}

/// The demo server's shared state and request handling.
#[derive(Debug)]
pub(crate) struct Engine {
    pub era: DemoEra,
    /// The `tools/list` array as sent: [`TOOLS_JSON`], plus any synthetic tools.
    catalog: String,
    state: Mutex<State>,
    log: Option<Mutex<File>>,
    server_requests: AtomicU64,
    ext: Option<Arc<dyn Extension>>,
}

impl Engine {
    /// Opens the call log (if any) and seeds the state.
    pub(crate) fn new(opts: &DemoOptions) -> anyhow::Result<Self> {
        let log = match &opts.log {
            Some(path) => Some(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("cannot open the demo call log {}", path.display()))?,
            )),
            None => None,
        };
        Ok(Engine {
            era: opts.era,
            catalog: tools::catalog(opts.extra_tools),
            state: Mutex::new(State::default()),
            log,
            server_requests: AtomicU64::new(0),
            ext: None,
        })
    }

    /// An engine whose methods are answered by `ext` first.
    pub(crate) fn with_extension(
        opts: &DemoOptions,
        ext: Arc<dyn Extension>,
    ) -> anyhow::Result<Self> {
        let mut engine = Self::new(opts)?;
        engine.ext = Some(ext);
        Ok(engine)
    }

    /// Whether a request is answered as an SSE stream on HTTP.
    pub(crate) fn wants_stream(&self, req: &Request, legacy: bool) -> bool {
        match &self.ext {
            Some(ext) => ext.streams(req),
            None => req.wants_stream(legacy),
        }
    }

    fn instructions(&self) -> &'static str {
        self.ext.as_ref().map_or(INSTRUCTIONS, |e| e.instructions())
    }

    fn capabilities(&self, legacy: bool) -> Value {
        match &self.ext {
            Some(ext) => ext.capabilities(legacy),
            None if legacy => json!({ "tools": { "listChanged": true } }),
            None => json!({ "tools": {} }),
        }
    }

    /// Versions named in `server/discover` and `-32022` errors.
    fn supported_versions(&self) -> Vec<&'static str> {
        let mut v = vec![MODERN_VERSION];
        if self.era == DemoEra::Both {
            v.extend(LEGACY_VERSIONS);
        }
        v
    }

    fn server_info(&self) -> Value {
        let name = self.ext.as_ref().map_or(SERVER_NAME, |e| e.server_name());
        json!({ "name": name, "version": env!("CARGO_PKG_VERSION") })
    }

    /// Answers `initialize`: the response and, on success, the session's
    /// negotiated version and client capabilities.
    pub(crate) fn initialize(&self, req: &Request) -> Result<(String, String, Value), String> {
        let requested = req.params.get("protocolVersion").and_then(Value::as_str);
        if self.era == DemoEra::StatelessOnly {
            // A modern-only server names its versions in the error: a legacy
            // client has no other way to tell its user what went wrong.
            let message = format!(
                "Unsupported protocol version: this server speaks only {MODERN_VERSION} and has no \
                 initialize handshake (requested {})",
                requested.unwrap_or("none")
            );
            let data = json!({ "supported": [MODERN_VERSION], "requested": requested });
            return Err(error_response(&req.id, -32022, &message, Some(data)));
        }
        let Some(requested) = requested else {
            return Err(error_response(
                &req.id,
                -32602,
                "Invalid params: initialize needs params.protocolVersion",
                None,
            ));
        };
        let version = if LEGACY_VERSIONS.contains(&requested) {
            requested
        } else {
            LATEST_LEGACY_VERSION
        };
        let caps = req
            .params
            .get("capabilities")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let result = json!({
            "protocolVersion": version,
            "capabilities": self.capabilities(true),
            "serverInfo": self.server_info(),
            "instructions": self.instructions(),
        });
        Ok((result_response(&req.id, &result), version.to_owned(), caps))
    }

    /// Validates a 2026-07-28 request's `_meta` (and, through `check_headers`,
    /// its HTTP headers) in the reference order; the error response otherwise.
    pub(crate) fn modern_proto(
        &self,
        req: &Request,
        check_headers: impl FnOnce() -> Result<(), String>,
    ) -> Result<Proto, String> {
        let meta = req.meta();
        let version = meta.and_then(|m| m.get(META_PROTOCOL_VERSION));
        let caps = meta.and_then(|m| m.get(META_CLIENT_CAPABILITIES));
        let (Some(version), Some(caps)) = (version, caps) else {
            let message = format!(
                "Invalid params: a {MODERN_VERSION} request needs _meta[\"{META_PROTOCOL_VERSION}\"] \
                 and _meta[\"{META_CLIENT_CAPABILITIES}\"]{}",
                if self.era == DemoEra::Both {
                    " (or send initialize first to use a 2025 protocol version)"
                } else {
                    ""
                }
            );
            return Err(error_response(&req.id, -32602, &message, None));
        };
        if let Err(message) = check_headers() {
            return Err(error_response(&req.id, -32020, &message, None));
        }
        let Some(version) = version.as_str() else {
            return Err(error_response(
                &req.id,
                -32602,
                &format!("Invalid params: _meta[\"{META_PROTOCOL_VERSION}\"] must be a string"),
                None,
            ));
        };
        if !caps.is_object() {
            return Err(error_response(
                &req.id,
                -32602,
                &format!("Invalid params: _meta[\"{META_CLIENT_CAPABILITIES}\"] must be an object"),
                None,
            ));
        }
        if version != MODERN_VERSION {
            let data = json!({ "supported": self.supported_versions(), "requested": version });
            return Err(error_response(
                &req.id,
                -32022,
                "Unsupported protocol version",
                Some(data),
            ));
        }
        Ok(Proto::Modern {
            version: version.to_owned(),
            caps: caps.clone(),
        })
    }

    /// Answers a request served under `ctx.proto`; `None` if it was cancelled.
    pub(crate) async fn handle(&self, req: Request, mut ctx: CallCtx) -> Option<String> {
        let modern = matches!(ctx.proto, Proto::Modern { .. });
        let reply = match self.ext.clone() {
            Some(ext) => match ext.handle(&req, &mut ctx) {
                Some(reply) => Some(reply.await),
                None => None,
            },
            None => None,
        };
        if let Some(reply) = reply {
            return match reply {
                Reply::Result(result) => Some(self.finish(&req, &ctx.proto, result)),
                Reply::Error {
                    code,
                    message,
                    data,
                } => Some(error_response(&req.id, code, &message, data)),
                Reply::Cancelled => None,
            };
        }
        match (req.method.as_str(), modern) {
            ("ping", false) => Some(result_response(&req.id, &json!({}))),
            ("tools/list", _) => Some(self.tools_list(&req, &ctx.proto)),
            ("server/discover", true) => Some(self.discover(&req)),
            ("tools/call", _) => self.tools_call(&req, &mut ctx).await,
            (method, _) => Some(error_response(
                &req.id,
                -32601,
                &format!("Method not found: {method}"),
                None,
            )),
        }
    }

    fn tools_list(&self, req: &Request, proto: &Proto) -> String {
        let extra = match proto {
            Proto::Legacy { .. } => String::new(),
            Proto::Modern { .. } => format!(
                r#","ttlMs":0,"cacheScope":"private","resultType":"complete","_meta":{}"#,
                json!({ META_SERVER_INFO: self.server_info() })
            ),
        };
        result_response_raw(&req.id, &format!(r#"{{"tools":{}{extra}}}"#, self.catalog))
    }

    fn discover(&self, req: &Request) -> String {
        let result = json!({
            "resultType": "complete",
            "supportedVersions": self.supported_versions(),
            "capabilities": self.capabilities(false),
            "instructions": self.instructions(),
            "ttlMs": 0,
            "cacheScope": "private",
            "_meta": { META_SERVER_INFO: self.server_info() },
        });
        result_response(&req.id, &result)
    }

    /// Adds the 2026-07-28 result fields.
    fn finish(&self, req: &Request, proto: &Proto, mut result: Value) -> String {
        if let (Proto::Modern { .. }, Some(obj)) = (proto, result.as_object_mut()) {
            obj.entry("resultType").or_insert_with(|| json!("complete"));
            if matches!(
                req.method.as_str(),
                "tools/list"
                    | "prompts/list"
                    | "resources/list"
                    | "resources/templates/list"
                    | "resources/read"
            ) {
                obj.entry("ttlMs").or_insert_with(|| json!(0));
                obj.entry("cacheScope").or_insert_with(|| json!("private"));
            }
            obj.insert(
                "_meta".into(),
                json!({ META_SERVER_INFO: self.server_info() }),
            );
        }
        result_response(&req.id, &result)
    }

    fn log_call(&self, req: &Request, proto: &Proto) {
        let Some(log) = &self.log else { return };
        let tool = req.params.get("name").cloned().unwrap_or(Value::Null);
        let arguments = req.raw_args.as_deref().unwrap_or("null");
        let line = format!(
            r#"{{"tool":{tool},"arguments":{arguments},"id":{},"protocol":{}}}"#,
            req.id,
            Value::from(proto.version())
        );
        let mut file = lock(log);
        // One write per line: several demo processes may share a log file (O_APPEND keeps
        // whole writes whole, not a line and its newline written apart).
        let line = format!("{line}\n");
        if let Err(e) = file.write_all(line.as_bytes()).and_then(|()| file.flush()) {
            eprintln!("warden-demo: cannot write the call log: {e}");
        }
    }

    async fn tools_call(&self, req: &Request, ctx: &mut CallCtx) -> Option<String> {
        let proto = ctx.proto.clone();
        self.log_call(req, &proto);
        let Some(name) = req.params.get("name").and_then(Value::as_str) else {
            return Some(error_response(
                &req.id,
                -32602,
                "Invalid params: tools/call needs params.name",
                None,
            ));
        };
        let empty = json!({});
        let args = match req.params.get("arguments") {
            None | Some(Value::Null) => &empty,
            Some(a @ Value::Object(_)) => a,
            Some(_) => {
                return Some(error_response(
                    &req.id,
                    -32602,
                    "Invalid params: tools/call arguments must be an object",
                    None,
                ));
            }
        };

        if let Some(ms) = args.get("sleep_ms").and_then(Value::as_u64) {
            let cancelled = !self.sleep(req, ctx, name, ms.min(MAX_SLEEP_MS)).await;
            if cancelled {
                return None;
            }
        }
        let fail = args.get("fail").and_then(Value::as_str);
        if fail == Some("error") {
            return Some(error_response(
                &req.id,
                -32000,
                "upstream failure requested",
                None,
            ));
        }
        let mut answer_text = None;
        if args.get("ask").and_then(Value::as_str) == Some("confirm") {
            let answer = match &proto {
                Proto::Legacy { .. } => self.ask_legacy(ctx, name).await?,
                Proto::Modern { .. } => match self.ask_modern(req, &proto, name) {
                    Ok(answer) => answer,
                    Err(early) => return Some(early),
                },
            };
            match answer {
                Answer::Confirmed(text) => answer_text = Some(text),
                Answer::Refused(text) => {
                    let out = ToolOutput {
                        text,
                        structured: None,
                        is_error: false,
                    };
                    return Some(self.finish(req, &proto, out.into_result(None)));
                }
                Answer::Failed(text) => {
                    let out = ToolOutput::error(text);
                    return Some(self.finish(req, &proto, out.into_result(None)));
                }
            }
        }
        let output = if fail == Some("tool") {
            ToolOutput::error(format!("{name} failed: tool failure requested"))
        } else {
            lock(&self.state).run(name, args)
        };
        Some(self.finish(req, &proto, output.into_result(answer_text)))
    }

    /// Sleeps `ms`, sending progress if asked; false if cancelled.
    async fn sleep(&self, req: &Request, ctx: &mut CallCtx, name: &str, ms: u64) -> bool {
        let token = req.progress_token().cloned();
        let mut done = 0;
        while done < ms {
            let step = PROGRESS_STEP_MS.min(ms - done);
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(step)) => {}
                () = ctx.cancelled() => return false,
            }
            done += step;
            if let Some(token) = &token {
                let note = json!({
                    "jsonrpc": "2.0",
                    "method": "notifications/progress",
                    "params": {
                        "progressToken": token,
                        "progress": done,
                        "total": ms,
                        "message": format!("{name}: {done} of {ms} ms"),
                    },
                });
                let _ = ctx.out.send(note.to_string());
            }
        }
        true
    }

    fn elicitation_params(proto: &Proto, name: &str) -> Value {
        let mut params = json!({
            "message": format!("Confirm {name}?"),
            "requestedSchema": {
                "type": "object",
                "properties": {
                    "confirm": { "type": "boolean", "title": "Confirm", "description": format!("Run {name}") }
                },
                "required": ["confirm"]
            }
        });
        // `mode` exists from 2025-11-25 on.
        if matches!(proto.version(), "2025-11-25" | MODERN_VERSION)
            && let Some(obj) = params.as_object_mut()
        {
            obj.insert("mode".into(), json!("form"));
        }
        params
    }

    /// Asks the client over a server-to-client request; `None` if cancelled.
    async fn ask_legacy(&self, ctx: &mut CallCtx, name: &str) -> Option<Answer> {
        if ctx.proto.caps().get("elicitation").is_none() {
            return Some(Answer::Failed(
                "Cannot ask for confirmation: the client did not declare the elicitation capability"
                    .into(),
            ));
        }
        let n = self.server_requests.fetch_add(1, Ordering::Relaxed) + 1;
        let id = json!(format!("srv-{n}"));
        let params = Self::elicitation_params(&ctx.proto, name);
        let response = ctx
            .ask_client(id, "elicitation/create", params, ASK_TIMEOUT)
            .await;
        Some(match response {
            Ok(response) => match response.get("result") {
                Some(result) => Answer::from_elicit_result(result),
                None => Answer::Failed(format!(
                    "The client answered the elicitation with an error: {}",
                    response.get("error").unwrap_or(&Value::Null)
                )),
            },
            Err(AskError::NoStream) => Answer::Failed(
                "Cannot ask for confirmation: this request has no stream for server requests"
                    .into(),
            ),
            Err(AskError::Closed) => {
                Answer::Failed("Cannot ask for confirmation: the stream closed".into())
            }
            Err(AskError::Cancelled) => return None,
            Err(AskError::Gone) => Answer::Failed("The client went away before answering".into()),
            Err(AskError::TimedOut) => {
                Answer::Failed("The client did not answer within 60 s".into())
            }
        })
    }

    /// The 2026-07-28 round trip: `input_required` first, the answer on retry.
    /// `Err` carries a response to send as is.
    fn ask_modern(&self, req: &Request, proto: &Proto, name: &str) -> Result<Answer, String> {
        if proto.caps().get("elicitation").is_none() {
            let data = json!({ "requiredCapabilities": { "elicitation": {} } });
            return Err(error_response(
                &req.id,
                -32021,
                "Server requires the elicitation capability for this request",
                Some(data),
            ));
        }
        // Tampering with this state can only make the retry fail, so the spec
        // lets it go without integrity protection.
        let state = wire::base64_encode(
            json!({ "ask": "confirm", "tool": name })
                .to_string()
                .as_bytes(),
        );
        let answer = req
            .params
            .get("inputResponses")
            .and_then(|r| r.get("confirm"));
        if let Some(answer) = answer {
            if req.params.get("requestState").and_then(Value::as_str) != Some(state.as_str()) {
                return Err(error_response(
                    &req.id,
                    -32602,
                    "Invalid params: requestState is missing or does not belong to this request",
                    None,
                ));
            }
            return Ok(Answer::from_elicit_result(answer));
        }
        let result = json!({
            "resultType": "input_required",
            "inputRequests": {
                "confirm": { "method": "elicitation/create", "params": Self::elicitation_params(proto, name) }
            },
            "requestState": state,
        });
        Err(self.finish(req, proto, result))
    }
}

/// What the client said to "confirm?".
#[derive(Debug)]
enum Answer {
    /// Accepted: proceed and add this text.
    Confirmed(String),
    /// Declined or cancelled: say so, do nothing.
    Refused(String),
    /// No usable answer: a tool error.
    Failed(String),
}

impl Answer {
    fn from_elicit_result(result: &Value) -> Self {
        let action = result
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or("(none)");
        let content = result.get("content").cloned().unwrap_or(Value::Null);
        let text = format!("Client answered: action={action} content={content}");
        let confirmed = content.get("confirm").and_then(Value::as_bool) != Some(false);
        if action == "accept" && confirmed {
            Answer::Confirmed(text)
        } else {
            Answer::Refused(format!("Not confirmed, nothing done. {text}"))
        }
    }
}

/// HTTP status for a 2026-07-28 error response, per the reference table.
pub(crate) fn modern_status(response: &str) -> u16 {
    match wire::error_code(response) {
        Some(-32700 | -32600 | -32602 | -32020 | -32021 | -32022) => 400,
        Some(-32601) => 404,
        _ => 200,
    }
}
