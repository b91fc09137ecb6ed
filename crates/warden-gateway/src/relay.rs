//! The relay: one client conversation (a stdio client, an HTTP session, or the stateless
//! 2026-07-28 clients of an HTTP listener) joined to one upstream connection.
//!
//! What it does to messages, and nothing more:
//! - client requests get a fresh upstream id (spliced; every other byte as sent) and the
//!   upstream's answer gets the client's id back, byte for byte. Ids of different clients, and
//!   of the gateway's own requests, can therefore never be confused;
//! - `tools/call` goes through the [`Guard`] first; `tools/list` results are filtered on the way
//!   back; everything else is relayed raw, both ways, including unknown methods;
//! - the eras are bridged when client and upstream differ (see [`Mode`]);
//! - malformed client messages are answered with a JSON-RPC error and never forwarded;
//!   malformed upstream messages are logged and dropped;
//! - when the upstream goes away, every waiting request is answered with an error.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot};
use warden_protocol::{
    Era, ErrorCode, Kind, LATEST_LEGACY, META_CLIENT_CAPABILITIES, META_CLIENT_INFO,
    META_PROTOCOL_VERSION, MODERN_VERSION, Message, error_response,
};

use tokio_util::sync::CancellationToken;

use crate::approvals::{INPUT_KEY, STATE_PREFIX};
use crate::definitions::{Definitions, Standing};
use crate::guard::{
    Asking, CallOutcome, ClientLine, ClientSide, Guard, Outcome, Principal, Ticket,
};

/// Who sends a message and what decides it: the guard of their grant, the principal counters
/// are keyed by, and the session key for counters of scope `session`. It travels with each
/// message, so one relay can serve many callers (the stateless endpoint) and a reload can give
/// a session a new guard between two calls.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Policy, counters and clock of this caller's grant.
    pub guard: Arc<Guard>,
    /// Who the caller is.
    pub who: Principal,
    /// Session key for counters of scope `session`.
    pub session: String,
    /// The capabilities a handshake-era client declared in an `initialize` the transport
    /// answered itself (a session on a shared upstream); `None` when the relay sees the
    /// client's `initialize` (it learns them there) or the client is 2026-07-28 (they come
    /// with each request).
    pub declared: Option<Arc<Value>>,
}

/// Where a message for the client goes. Each request carries its own; for stdio they are all
/// clones of the one stdout writer.
pub type Reply = mpsc::Sender<String>;

/// How the two ends speak to each other.
#[derive(Debug, Clone)]
enum Mode {
    /// Nothing learnt yet.
    Unknown,
    /// Same era both ends (or the upstream speaks both): relay as is.
    Direct,
    /// Handshake-era client, 2026-07-28-only upstream: the gateway answered `initialize` from
    /// `server/discover` and adds the per-request `_meta` the upstream needs.
    ToModern {
        capabilities: Arc<str>,
        client_info: Option<Arc<str>>,
    },
    /// 2026-07-28 client, handshake-era upstream: the gateway initialized the upstream on the
    /// client's behalf, answers `server/discover` itself, strips the per-request `_meta` and
    /// adds `resultType` (and cache fields) to results.
    ToLegacy { init: Arc<Value> },
}

#[derive(Debug)]
enum What {
    Call(Ticket),
    /// A client's `tools/list`; `paged` when it asked for a page after the first.
    List {
        paged: bool,
        guard: Arc<Guard>,
        /// The `_meta` the gateway's own `tools/list` needs, from the client's request.
        meta: Option<Value>,
    },
    Initialize {
        params: Value,
    },
    Internal(oneshot::Sender<String>),
    Plain,
}

#[derive(Debug)]
struct Pending {
    client_id: Box<str>,
    /// The caller's session: client ids are unique only within it.
    session: Box<str>,
    reply: Option<Reply>,
    what: What,
    era: Era,
    method: Box<str>,
    progress: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    pending: HashMap<u64, Pending>,
    closed: Option<String>,
    catalog: Catalog,
    parked: HashMap<String, Parked>,
    /// The capabilities in the client's `initialize`, once the relay has carried it.
    client_capabilities: Option<Value>,
    /// Requests the upstream sent the client, by the id the client knows them by: the
    /// upstream's own id, to answer with.
    server_requests: HashMap<u64, String>,
    /// The gateway's own questions to the client (approvals), by id: the session asked and
    /// where the answer goes. Never forwarded upstream.
    asks: HashMap<u64, (Box<str>, oneshot::Sender<String>)>,
    /// Calls held for approval, by session and client id: cancelled by the client's
    /// `notifications/cancelled`.
    held: HashMap<(Box<str>, Box<str>), CancellationToken>,
    /// The definitions of this upstream's server, once a caller's guard brought them: told
    /// when the upstream says its tools changed.
    definitions: Option<Arc<Definitions>>,
}

/// A call from a 2026-07-28 client whose handshake-era upstream asked the client something
/// (elicitation, sampling, roots). The question went back to the client as an `input_required`
/// result carrying `requestState`; the upstream call waits here for the client's retry.
#[derive(Debug)]
struct Parked {
    upstream_id: u64,
    server_request_id: String,
    key: String,
    tool: Option<String>,
}

/// Server requests a 2026-07-28 client can answer through `input_required`.
const INPUT_METHODS: &[&str] = &["elicitation/create", "sampling/createMessage", "roots/list"];
/// Requests that may be answered with `input_required`.
const INPUT_CAPABLE: &[&str] = &["tools/call", "prompts/get", "resources/read"];
/// How long a parked call waits for the client's retry before the upstream is told no.
const PARK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// The tools the upstream lists (before filtering), learnt from the `tools/list` answers the
/// relay carries or from a fetch of its own. A call to a tool the upstream does not list is
/// answered exactly as a call to a hidden tool, so a hidden name cannot be told from a name
/// that does not exist, whatever the policy's `default`.
#[derive(Debug, Default)]
struct Catalog {
    names: HashSet<String>,
    complete: bool,
    fetched_at: Option<tokio::time::Instant>,
    /// Fingerprints of the definitions in the last complete listing a client received, to
    /// tell when they change (an audit event); empty until one is seen.
    prints: HashMap<String, u64>,
    /// The pages of the listing being received.
    incoming: HashMap<String, u64>,
}

/// How a server's tool definitions changed between two listings.
#[derive(Debug, Default)]
struct ToolsChanged {
    added: Vec<String>,
    removed: Vec<String>,
    changed: Vec<String>,
}

impl ToolsChanged {
    fn between(old: &HashMap<String, u64>, new: &HashMap<String, u64>) -> Option<Self> {
        let mut c = ToolsChanged::default();
        for (name, print) in new {
            match old.get(name) {
                None => c.added.push(name.clone()),
                Some(p) if p != print => c.changed.push(name.clone()),
                Some(_) => {}
            }
        }
        c.removed = old
            .keys()
            .filter(|n| !new.contains_key(*n))
            .cloned()
            .collect();
        if c.added.is_empty() && c.removed.is_empty() && c.changed.is_empty() {
            return None;
        }
        c.added.sort();
        c.removed.sort();
        c.changed.sort();
        Some(c)
    }
}

/// How long a complete catalog is trusted for a miss before it is fetched again (a server may
/// add tools without telling; `notifications/tools/list_changed` invalidates it at once).
const CATALOG_FRESH: std::time::Duration = std::time::Duration::from_secs(5);
/// Most pages fetched when the gateway lists the upstream's tools itself.
const CATALOG_MAX_PAGES: usize = 100;

/// One client conversation over one upstream connection.
#[derive(Debug)]
pub struct Relay {
    me: std::sync::Weak<Relay>,
    timeout: Option<std::time::Duration>,
    upstream: mpsc::Sender<String>,
    server_out: Option<Reply>,
    state: std::sync::Mutex<State>,
    mode: std::sync::Mutex<Mode>,
    handshake: Mutex<()>,
    next_id: AtomicU64,
    /// Ids of requests sent to the client (the upstream's, renumbered, and the gateway's own),
    /// from one counter so they can never collide.
    next_down: AtomicU64,
}

/// Options of a relay.
#[derive(Debug)]
pub struct RelayOptions {
    /// Where upstream-initiated messages (server requests, notifications) go. `None` when the
    /// client cannot receive them (stateless HTTP clients): server requests are then refused
    /// with an error to the upstream.
    pub server_out: Option<Reply>,
    /// How long a request may wait for the upstream's answer. On expiry the client gets an
    /// error, the upstream gets `notifications/cancelled`, and a call's reservation stands (it
    /// may have acted). `None`: no limit (`warden run`, where the client decides).
    pub timeout: Option<std::time::Duration>,
}

impl Relay {
    /// A relay sending to `upstream`.
    pub fn new(upstream: mpsc::Sender<String>, opts: RelayOptions) -> Arc<Self> {
        Arc::new_cyclic(|me| Relay {
            me: me.clone(),
            timeout: opts.timeout,
            upstream,
            server_out: opts.server_out,
            state: std::sync::Mutex::new(State::default()),
            mode: std::sync::Mutex::new(Mode::Unknown),
            handshake: Mutex::new(()),
            next_id: AtomicU64::new(1),
            next_down: AtomicU64::new(1),
        })
    }

    fn mode(&self) -> std::sync::MutexGuard<'_, Mode> {
        self.mode.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock would be a bug; the data is still consistent enough
        // to answer errors with, so recover the guard rather than propagate the poison.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles one message from the client. Answers (denials, errors) go to `reply`. Returns the
    /// upstream id when a request was forwarded, so a transport can cancel it.
    pub async fn client_message(&self, raw: &str, reply: &Reply, caller: &Caller) -> Option<u64> {
        let msg = match warden_protocol::parse(raw) {
            Ok(m) => m,
            Err(e) => {
                let _ = reply.send(e.response()).await;
                return None;
            }
        };
        match &msg.kind {
            Kind::Response { id, .. } => {
                self.client_response(&msg, id.map(|i| i.get()), caller)
                    .await;
                None
            }
            Kind::Notification { method } => {
                self.client_notification(&msg, method, caller).await;
                None
            }
            Kind::Request { id, method } => {
                self.client_request(&msg, id.get(), method, reply, caller)
                    .await
            }
        }
    }

    /// The client answering a request sent to it: the gateway's own question (consumed here,
    /// never forwarded), or the upstream's, sent back under the upstream's id.
    async fn client_response(&self, msg: &Message<'_>, id: Option<&str>, caller: &Caller) {
        let Some(down) = id.and_then(|i| i.parse::<u64>().ok()) else {
            tracing::debug!("client response with an id the gateway never sent; dropped");
            return;
        };
        let (ask, upstream_id) = {
            let mut st = self.state();
            let ask = match st.asks.get(&down) {
                Some((session, _)) if **session == *caller.session => st.asks.remove(&down),
                _ => None,
            };
            let upstream_id = match ask {
                Some(_) => None,
                None => st.server_requests.remove(&down),
            };
            (ask, upstream_id)
        };
        if let Some((_, tx)) = ask {
            let _ = tx.send(msg.raw.to_owned());
            return;
        }
        match upstream_id.and_then(|u| restore_id(msg.raw, &u)) {
            Some(out) => self.send_upstream(out).await,
            None => tracing::debug!("client response for no request in flight; dropped"),
        }
    }

    /// Sends the client a request of the gateway's own on `reply` and waits for its result.
    async fn ask_client(
        self: Arc<Self>,
        reply: Reply,
        session: String,
        method: &'static str,
        params: Value,
    ) -> Result<Value, String> {
        /// Forgets the question when its answer is no longer awaited (answered, or the held
        /// call ended first), so unanswered questions do not pile up.
        struct Forget(Arc<Relay>, u64);
        impl Drop for Forget {
            fn drop(&mut self) {
                self.0.state().asks.remove(&self.1);
            }
        }
        let (tx, rx) = oneshot::channel();
        let down = self.next_down.fetch_add(1, Ordering::Relaxed);
        self.state()
            .asks
            .insert(down, (session.into_boxed_str(), tx));
        let _forget = Forget(self.clone(), down);
        let msg =
            serde_json::json!({"jsonrpc": "2.0", "id": down, "method": method, "params": params});
        if reply.send(msg.to_string()).await.is_err() {
            return Err("the client is gone".into());
        }
        let raw = rx.await.map_err(|_| "no answer".to_owned())?;
        let v: Value = serde_json::from_str(&raw).map_err(|e| e.to_string())?;
        match (v.get("result"), v.get("error")) {
            (Some(r), _) => Ok(r.clone()),
            (None, Some(e)) => Err(format!("the client refused: {e}")),
            _ => Err("an answer with neither result nor error".into()),
        }
    }

    async fn client_notification(&self, msg: &Message<'_>, method: &str, caller: &Caller) {
        let mode = self.mode().clone();
        let out = match (method, &mode) {
            ("notifications/initialized", Mode::ToModern { .. }) => return,
            ("notifications/cancelled", _) => match self.translate_cancel(msg, caller) {
                Some(out) => out,
                None => return,
            },
            (_, Mode::ToLegacy { .. }) => {
                warden_protocol::strip_modern_meta(msg).unwrap_or_else(|| msg.raw.to_owned())
            }
            _ => msg.raw.to_owned(),
        };
        self.send_upstream(out).await;
    }

    /// `notifications/cancelled` names the client's request id: point it at the upstream id.
    /// The call may already have acted, so its reservation stands.
    fn translate_cancel(&self, msg: &Message<'_>, caller: &Caller) -> Option<String> {
        let params: Value = serde_json::from_str(msg.params?.get()).ok()?;
        let client_id = serde_json::to_string(params.get("requestId")?).ok()?;
        let held = self
            .state()
            .held
            .remove(&(caller.session.as_str().into(), client_id.as_str().into()));
        if let Some(cancel) = held {
            cancel.cancel();
            return None;
        }
        let upstream_id = {
            let st = self.state();
            st.pending
                .iter()
                .find(|(_, p)| {
                    *p.client_id == *client_id && *p.session == *caller.session && p.reply.is_some()
                })
                .map(|(id, _)| *id)?
        };
        self.forget(upstream_id);
        let mut params = params;
        params["requestId"] = upstream_id.into();
        Some(serde_json::json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params}).to_string())
    }

    /// The transport lost the client while `upstream_id` was running (2026-07-28 over HTTP
    /// cancels by closing the stream): tell the upstream and stop waiting.
    pub async fn cancel(&self, upstream_id: u64) {
        if self.forget(upstream_id) {
            let note = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": upstream_id, "reason": "client disconnected"}});
            self.send_upstream(note.to_string()).await;
        }
    }

    /// Drops a pending request without an answer; its call (if any) is settled as unknown.
    fn forget(&self, upstream_id: u64) -> bool {
        let pending = self.state().pending.remove(&upstream_id);
        match pending {
            Some(p) => {
                if let What::Call(ticket) = p.what {
                    tokio::spawn(async move {
                        // The client gets no answer, so a record that is not durable changes
                        // nothing for it; the writer has logged why.
                        let _ = ticket.finish(Outcome::Cancelled, None).await;
                    });
                }
                true
            }
            None => false,
        }
    }

    async fn client_request(
        &self,
        msg: &Message<'_>,
        id: &str,
        method: &str,
        reply: &Reply,
        caller: &Caller,
    ) -> Option<u64> {
        let era = warden_protocol::request_era(msg);
        let mode = match self.establish(msg, era, method).await {
            Ok(mode) => mode,
            Err(why) => {
                let _ = reply
                    .send(error_response(Some(id), ErrorCode::Server, &why, None))
                    .await;
                return None;
            }
        };
        // Requests the gateway answers itself when bridging.
        match (&mode, method) {
            (Mode::ToLegacy { init }, "server/discover") => {
                let _ = reply
                    .send(warden_protocol::discover_from_initialize(id, init))
                    .await;
                return None;
            }
            (Mode::ToModern { .. }, "ping") => {
                let _ = reply
                    .send(format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#))
                    .await;
                return None;
            }
            _ => {}
        }
        if INPUT_CAPABLE.contains(&method)
            && let Some(resumed) = self.resume(msg, id, reply).await
        {
            return resumed;
        }
        let what = match method {
            "tools/call" => {
                let params = match warden_protocol::call_params(msg.params) {
                    Ok(p) => p,
                    Err(why) => {
                        let _ = reply
                            .send(error_response(
                                Some(id),
                                ErrorCode::InvalidParams,
                                &why,
                                None,
                            ))
                            .await;
                        return None;
                    }
                };
                if !self.tool_exists(&params.name, msg, caller).await {
                    let answer = caller
                        .guard
                        .unknown_tool(
                            id,
                            era,
                            &params.name,
                            &params.arguments,
                            &caller.who,
                            &caller.session,
                        )
                        .await;
                    let _ = reply.send(answer).await;
                    return None;
                }
                if let Some(answer) = self
                    .check_definition(id, era, &params.name, &params.arguments, msg, caller)
                    .await
                {
                    let _ = reply.send(answer).await;
                    return None;
                }
                let client = self.client_side(msg, era, caller);
                let outcome = caller
                    .guard
                    .check_call(
                        id,
                        era,
                        &params.name,
                        &params.arguments,
                        &caller.who,
                        &caller.session,
                        &client,
                    )
                    .await;
                // A retry answering the gateway's own question: the upstream never sees the
                // state or the answer.
                let stripped = client.resume.as_ref().and_then(|_| {
                    warden_protocol::remove_params(msg, &["requestState", "inputResponses"])
                });
                match outcome {
                    CallOutcome::Answer(answer) => {
                        let _ = reply.send(answer).await;
                        return None;
                    }
                    CallOutcome::Forward(ticket) => match &stripped {
                        Some(text) => {
                            let m = warden_protocol::parse(text).ok()?;
                            return self
                                .forward_client_request(
                                    &m,
                                    &mode,
                                    What::Call(ticket),
                                    id,
                                    era,
                                    method,
                                    reply,
                                    caller,
                                )
                                .await;
                        }
                        None => What::Call(ticket),
                    },
                    CallOutcome::Hold(held) => {
                        let raw = stripped.unwrap_or_else(|| msg.raw.to_owned());
                        self.spawn_hold(*held, raw, msg, client.asking, mode, era, reply, caller);
                        return None;
                    }
                }
            }
            "tools/list" => What::List {
                guard: caller.guard.clone(),
                meta: self.internal_meta(msg),
                paged: msg
                    .params
                    .and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
                    .is_some_and(|p| p.get("cursor").is_some()),
            },
            "initialize" => {
                let params: Value = msg
                    .params
                    .and_then(|p| serde_json::from_str(p.get()).ok())
                    .unwrap_or(Value::Null);
                self.state().client_capabilities = params.get("capabilities").cloned();
                What::Initialize { params }
            }
            _ => What::Plain,
        };
        self.forward_client_request(msg, &mode, what, id, era, method, reply, caller)
            .await
    }

    /// How the user behind a call can be asked, and the retry state it carries, if ours.
    fn client_side(&self, msg: &Message<'_>, era: Era, caller: &Caller) -> ClientSide {
        let has_elicitation =
            |caps: Option<&Value>| caps.is_some_and(|c| c.get("elicitation").is_some());
        let asking = if let Some(caps) = &caller.declared {
            if has_elicitation(Some(caps)) {
                Asking::Elicit
            } else {
                Asking::No
            }
        } else if era == Era::Modern {
            let caps = msg.meta(META_CLIENT_CAPABILITIES);
            if has_elicitation(caps.as_ref()) {
                Asking::InputRequired
            } else {
                Asking::No
            }
        } else if has_elicitation(self.state().client_capabilities.as_ref()) {
            Asking::Elicit
        } else {
            Asking::No
        };
        #[derive(serde::Deserialize)]
        struct Retry {
            #[serde(rename = "requestState")]
            request_state: Option<String>,
            #[serde(rename = "inputResponses")]
            input_responses: Option<Value>,
        }
        let resume = msg
            .params
            .and_then(|p| serde_json::from_str::<Retry>(p.get()).ok())
            .and_then(|r| {
                let state = r.request_state.filter(|s| s.starts_with(STATE_PREFIX))?;
                let answer = r
                    .input_responses
                    .and_then(|mut v| v.get_mut(INPUT_KEY).map(Value::take));
                Some((state, answer))
            });
        ClientSide { asking, resume }
    }

    /// Runs a held call off the caller's task: waits for its approval (asking the user when
    /// it can), then forwards it or answers it.
    #[allow(clippy::too_many_arguments)]
    fn spawn_hold(
        &self,
        held: crate::guard::Held,
        raw: String,
        msg: &Message<'_>,
        asking: Asking,
        mode: Mode,
        era: Era,
        reply: &Reply,
        caller: &Caller,
    ) {
        let Some(this) = self.me.upgrade() else {
            return;
        };
        let id = msg
            .id()
            .map(|i| i.get().to_owned())
            .unwrap_or_else(|| "null".into());
        let cancel = CancellationToken::new();
        self.state().held.insert(
            (caller.session.as_str().into(), id.as_str().into()),
            cancel.clone(),
        );
        let elicit: Option<crate::guard::Elicit> = (asking == Asking::Elicit).then(|| {
            let (relay, reply, session) = (this.clone(), reply.clone(), caller.session.clone());
            Box::new(move |params: Value| {
                Box::pin(relay.ask_client(reply, session, "elicitation/create", params))
                    as futures::future::BoxFuture<'static, Result<Value, String>>
            }) as crate::guard::Elicit
        });
        let line = ClientLine {
            reply: reply.clone(),
            progress_token: msg.meta("progressToken"),
            elicit,
            cancel,
        };
        let (reply, caller) = (reply.clone(), caller.clone());
        tokio::spawn(async move {
            let outcome = caller.guard.hold(held, line).await;
            this.state()
                .held
                .remove(&(caller.session.as_str().into(), id.as_str().into()));
            match outcome {
                None => {}
                Some(CallOutcome::Answer(text)) => {
                    let _ = reply.send(text).await;
                }
                Some(CallOutcome::Forward(ticket)) => {
                    let Ok(m) = warden_protocol::parse(&raw) else {
                        return;
                    };
                    this.forward_client_request(
                        &m,
                        &mode,
                        What::Call(ticket),
                        &id,
                        era,
                        "tools/call",
                        &reply,
                        &caller,
                    )
                    .await;
                }
                Some(CallOutcome::Hold(_)) => {
                    tracing::error!("a held call was held again; dropped");
                }
            }
        });
    }

    /// Forwards a client request (after its decision), translated for the upstream's era.
    #[allow(clippy::too_many_arguments)]
    async fn forward_client_request(
        &self,
        msg: &Message<'_>,
        mode: &Mode,
        what: What,
        id: &str,
        era: Era,
        method: &str,
        reply: &Reply,
        caller: &Caller,
    ) -> Option<u64> {
        let out = match mode {
            Mode::ToLegacy { .. } => warden_protocol::strip_modern_meta(msg),
            Mode::ToModern {
                capabilities,
                client_info,
            } => warden_protocol::add_modern_meta(
                msg,
                MODERN_VERSION,
                capabilities,
                client_info.as_deref(),
            ),
            _ => None,
        };
        let progress = msg
            .meta("progressToken")
            .and_then(|t| serde_json::to_string(&t).ok());
        let pending = Pending {
            client_id: id.into(),
            session: caller.session.as_str().into(),
            reply: Some(reply.clone()),
            what,
            era,
            method: method.into(),
            progress,
        };
        match out {
            Some(text) => match warden_protocol::parse(&text) {
                Ok(m) => self.forward_request(&m, pending).await,
                Err(_) => self.forward_request(msg, pending).await,
            },
            None => self.forward_request(msg, pending).await,
        }
    }

    /// Sends a request upstream under a fresh id, remembering how to answer it.
    async fn forward_request(&self, msg: &Message<'_>, pending: Pending) -> Option<u64> {
        let upstream_id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let out = warden_protocol::replace_id(msg, &upstream_id.to_string())?;
        let closed = {
            let mut st = self.state();
            match &st.closed {
                Some(why) => Some((why.clone(), pending)),
                None => {
                    st.pending.insert(upstream_id, pending);
                    None
                }
            }
        };
        if let Some((why, pending)) = closed {
            self.answer_closed(pending, &why, Outcome::NotSent).await;
            return None;
        }
        if self.upstream.send(out).await.is_ok() {
            self.arm_timeout(upstream_id);
        } else {
            let removed = self.state().pending.remove(&upstream_id);
            if let Some(p) = removed {
                self.answer_closed(p, "upstream connection is closed", Outcome::NotSent)
                    .await;
            }
            return None;
        }
        Some(upstream_id)
    }

    /// Starts the clock on a forwarded request (see [`RelayOptions::timeout`]). A call parked
    /// for the client's input is not timed out here: it has its own, longer limit.
    fn arm_timeout(&self, upstream_id: u64) {
        let Some(limit) = self.timeout else { return };
        let me = self.me.clone();
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            let Some(relay) = me.upgrade() else { return };
            let expired = {
                let mut st = relay.state();
                match st.pending.get(&upstream_id) {
                    Some(p) if p.reply.is_some() => st.pending.remove(&upstream_id),
                    _ => None,
                }
            };
            let Some(p) = expired else { return };
            let why = format!(
                "the upstream did not answer within {} s",
                limit.as_secs_f64()
            );
            relay.answer_closed(p, &why, Outcome::NoAnswer).await;
            let note = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": upstream_id, "reason": why}});
            relay.send_upstream(note.to_string()).await;
        });
    }

    async fn answer_closed(&self, p: Pending, why: &str, outcome: Outcome) {
        // The call's record first: the client's error answer is an acknowledgement too.
        if let What::Call(ticket) = p.what {
            let _ = ticket.finish(outcome, None).await;
        }
        let text = format!("{why}; the request was not completed");
        if let Some(reply) = &p.reply {
            let _ = reply
                .send(error_response(
                    Some(&p.client_id),
                    ErrorCode::Server,
                    &text,
                    None,
                ))
                .await;
        }
    }

    async fn send_upstream(&self, msg: String) {
        if self.upstream.send(msg).await.is_err() {
            tracing::debug!("upstream gone; message dropped");
        }
    }

    /// A request of the gateway's own to the upstream, awaiting its response.
    async fn internal(&self, method: &str, params: Value) -> Result<Value, String> {
        let (tx, rx) = oneshot::channel();
        let upstream_id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut st = self.state();
            if let Some(why) = &st.closed {
                return Err(why.clone());
            }
            st.pending.insert(
                upstream_id,
                Pending {
                    client_id: "null".into(),
                    session: "".into(),
                    reply: None,
                    what: What::Internal(tx),
                    era: Era::Legacy,
                    method: method.into(),
                    progress: None,
                },
            );
        }
        let msg = serde_json::json!({"jsonrpc": "2.0", "id": upstream_id, "method": method, "params": params});
        self.send_upstream(msg.to_string()).await;
        let raw = tokio::time::timeout(std::time::Duration::from_secs(30), rx)
            .await
            .map_err(|_| format!("upstream did not answer {method} within 30 s"))?
            .map_err(|_| "upstream connection closed".to_owned())?;
        serde_json::from_str(&raw).map_err(|e| format!("unreadable answer to {method}: {e}"))
    }

    /// Learns, once, how the two ends speak (see [`Mode`]). A handshake-era client's
    /// `initialize` is forwarded as is: the mode is settled when its answer comes back. A
    /// 2026-07-28 client's first request other than `server/discover` makes the gateway probe
    /// the upstream with `server/discover`, and initialize it if it is handshake-era only.
    async fn establish(&self, msg: &Message<'_>, era: Era, method: &str) -> Result<Mode, String> {
        let _handshake = self.handshake.lock().await;
        let current = self.mode().clone();
        if !matches!(current, Mode::Unknown) || era == Era::Legacy || method == "server/discover" {
            return Ok(current);
        }
        let meta = |k: &str| msg.meta(k).unwrap_or(Value::Null);
        let caps = match meta(META_CLIENT_CAPABILITIES) {
            Value::Null => serde_json::json!({}),
            c => c,
        };
        let probe_meta = warden_protocol::modern_meta(&caps, None);
        let probe = self
            .internal("server/discover", serde_json::json!({"_meta": probe_meta}))
            .await?;
        if probe.get("result").is_some() {
            *self.mode() = Mode::Direct;
            return Ok(Mode::Direct);
        }
        let client_info = match meta(META_CLIENT_INFO) {
            Value::Null => {
                serde_json::json!({"name": "warden", "version": env!("CARGO_PKG_VERSION")})
            }
            info => info,
        };
        let init = self
            .internal(
                "initialize",
                serde_json::json!({"protocolVersion": LATEST_LEGACY, "capabilities": caps, "clientInfo": client_info}),
            )
            .await?;
        let Some(result) = init.get("result") else {
            return Err(format!(
                "the upstream accepts neither server/discover nor initialize: {}",
                init.get("error").unwrap_or(&Value::Null)
            ));
        };
        self.send_upstream(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned())
            .await;
        tracing::info!("bridging a 2026-07-28 client to a handshake-era upstream");
        let bridged = Mode::ToLegacy {
            init: Arc::new(result.clone()),
        };
        *self.mode() = bridged.clone();
        Ok(bridged)
    }

    /// Handles one message from the upstream.
    pub async fn upstream_message(self: &Arc<Self>, raw: String) {
        let msg = match warden_protocol::parse(&raw) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "upstream sent a malformed message; dropped");
                return;
            }
        };
        match &msg.kind {
            Kind::Response { id, is_error } => {
                let key = id.and_then(|id| id.get().parse::<u64>().ok());
                let pending = key.and_then(|k| self.state().pending.remove(&k));
                match pending {
                    Some(p) => self.answer(&msg, p, *is_error).await,
                    None => tracing::debug!("response for no pending request; dropped"),
                }
            }
            Kind::Request { method, .. } => {
                if self.park_for_input(&msg, method).await {
                    return;
                }
                // A bridged 2026-07-28 client cannot take a server request as such.
                let bridged = matches!(*self.mode(), Mode::ToLegacy { .. });
                match &self.server_out {
                    Some(out) if !bridged => {
                        // Renumbered so the client can never confuse it with a question of
                        // the gateway's own; the answer goes back under the upstream's id.
                        let down = self.next_down.fetch_add(1, Ordering::Relaxed);
                        let upstream_id = msg.id().map(|i| i.get().to_owned());
                        let renamed = upstream_id.as_ref().and_then(|u| {
                            let out = warden_protocol::replace_id(&msg, &down.to_string())?;
                            self.state().server_requests.insert(down, u.clone());
                            Some(out)
                        });
                        let _ = out.send(renamed.unwrap_or_else(|| raw.clone())).await;
                    }
                    _ => {
                        let id = msg.id().map(|i| i.get().to_owned());
                        let why = format!(
                            "the client of this gateway connection cannot receive server requests ({method})"
                        );
                        self.send_upstream(error_response(
                            id.as_deref(),
                            ErrorCode::MethodNotFound,
                            &why,
                            None,
                        ))
                        .await;
                    }
                }
            }
            Kind::Notification { method } => {
                if method == "notifications/tools/list_changed" {
                    let mut st = self.state();
                    st.catalog.complete = false;
                    if let Some(defs) = &st.definitions {
                        defs.mark_stale();
                    }
                }
                // Progress goes where its request's answer goes; the rest to the session.
                let target = if method == "notifications/progress" {
                    let token = msg
                        .params
                        .and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
                        .and_then(|p| {
                            p.get("progressToken")
                                .and_then(|t| serde_json::to_string(t).ok())
                        });
                    let st = self.state();
                    token.and_then(|t| {
                        st.pending
                            .values()
                            .find(|p| p.progress.as_deref() == Some(t.as_str()))
                            .and_then(|p| p.reply.clone())
                    })
                } else {
                    None
                };
                if let Some(out) = target.or_else(|| self.server_out.clone()) {
                    let _ = out.send(raw.clone()).await;
                }
            }
        }
    }

    async fn answer(self: &Arc<Self>, msg: &Message<'_>, p: Pending, is_error: bool) {
        let Pending {
            client_id,
            reply,
            what,
            era,
            method,
            ..
        } = p;
        // A call's answer waits for its audit record; see the end.
        let mut call: Option<Ticket> = None;
        // The upstream's bytes, or an edit of them; the client's id is restored below.
        let edited: Option<String> = match what {
            What::Internal(tx) => {
                let _ = tx.send(msg.raw.to_owned());
                return;
            }
            What::Call(ticket) => {
                call = Some(ticket);
                None
            }
            What::List { paged, guard, meta } if !is_error => {
                let last_page = msg.result.is_some_and(is_last_page);
                if let Some(result) = msg.result
                    && let Some(change) = self.learn_catalog(result, paged)
                {
                    guard.record_event(
                        "tools_changed",
                        serde_json::json!({
                            "added": change.added,
                            "removed": change.removed,
                            "changed": change.changed,
                        }),
                    );
                }
                if let Some(defs) = guard.definitions().cloned() {
                    // Pins and lint need the store (and, on a server's first listing, the
                    // whole catalogue, fetched through this pump): off the pump.
                    let this = self.clone();
                    let raw = msg.raw.to_owned();
                    tokio::spawn(async move {
                        let Ok(m) = warden_protocol::parse(&raw) else {
                            return;
                        };
                        let checked = this
                            .observe_listing(&guard, &defs, &m, meta, paged, last_page)
                            .await;
                        let filtered = match checked {
                            Ok(()) => m
                                .result
                                .ok_or_else(|| "no result".to_owned())
                                .and_then(|r| guard.filter_list(m.raw, r)),
                            Err(why) => Err(why),
                        };
                        let text = match filtered {
                            Ok(edited) => match this.outgoing(
                                edited.as_deref().unwrap_or(m.raw),
                                &client_id,
                                era,
                                &method,
                            ) {
                                Some(text) => text,
                                None => return,
                            },
                            Err(why) => withheld(&client_id, &why),
                        };
                        send_to(&reply, text).await;
                    });
                    return;
                }
                let filtered = msg
                    .result
                    .ok_or_else(|| "no result".to_owned())
                    .and_then(|r| guard.filter_list(msg.raw, r));
                match filtered {
                    Ok(f) => f,
                    Err(why) => {
                        send_to(&reply, withheld(&client_id, &why)).await;
                        return;
                    }
                }
            }
            What::Initialize { params } => {
                if is_error && refuses_handshake(msg) {
                    // Maybe a 2026-07-28-only upstream: bridge, off the pump task (the bridge
                    // waits for upstream answers that this task delivers).
                    let this = self.clone();
                    let error = msg.raw.to_owned();
                    tokio::spawn(async move {
                        let text = match this.bridge_initialize(&client_id, &params).await {
                            Some(text) => text,
                            None => restore_id(&error, &client_id).unwrap_or(error),
                        };
                        send_to(&reply, text).await;
                    });
                    return;
                }
                let mut m = self.mode();
                if matches!(*m, Mode::Unknown) {
                    *m = Mode::Direct;
                }
                None
            }
            What::List { .. } | What::Plain => None,
        };
        let Some(out) = self.outgoing(
            edited.as_deref().unwrap_or(msg.raw),
            &client_id,
            era,
            &method,
        ) else {
            return;
        };
        match call {
            None => send_to(&reply, out).await,
            Some(ticket) => {
                let outcome = if is_error {
                    Outcome::Error
                } else if result_is_error(msg) {
                    Outcome::IsError
                } else {
                    Outcome::Ok
                };
                let bytes = msg.raw.len();
                // Off the upstream pump: waiting here for the commit would serialise every
                // answer behind it, where answers waiting together share one commit.
                tokio::spawn(async move {
                    let text = match ticket.finish(outcome, Some(bytes)).await {
                        Ok(()) => out,
                        Err(e) => error_response(
                            Some(&client_id),
                            ErrorCode::Internal,
                            &format!(
                                "the call reached the upstream, but its audit record could not be written, so the result is withheld (fail closed): {e}"
                            ),
                            None,
                        ),
                    };
                    send_to(&reply, text).await;
                });
            }
        }
    }

    /// An upstream answer as the client gets it: its id restored, and completed for a bridged
    /// 2026-07-28 client.
    fn outgoing(&self, raw: &str, client_id: &str, era: Era, method: &str) -> Option<String> {
        let mut out = restore_id(raw, client_id)?;
        let to_legacy = matches!(*self.mode(), Mode::ToLegacy { .. });
        if era == Era::Modern
            && to_legacy
            && let Ok(m) = warden_protocol::parse(&out)
            && let Some(done) = warden_protocol::complete_result(&m, is_cacheable(method))
        {
            out = done;
        }
        Some(out)
    }

    /// Observes a `tools/list` page the relay carries (pins, lint). On a server's first
    /// listing the whole catalogue is fetched first and observed together, so trust on first
    /// use covers every page. `Err` withholds the page: only under `pinning: "enforce"`.
    async fn observe_listing(
        &self,
        guard: &Guard,
        defs: &Arc<Definitions>,
        msg: &Message<'_>,
        meta: Option<Value>,
        paged: bool,
        last_page: bool,
    ) -> Result<(), String> {
        self.state().definitions.get_or_insert_with(|| defs.clone());
        let policy = guard.policy();
        let page = msg.result.map(page_tools).unwrap_or_default();
        let observed = async {
            let _one = defs.lock().await;
            if defs.needs_catalog(&policy).await? && (paged || !last_page) {
                let (_, all) = self.fetch_catalog(meta).await?;
                defs.observe(&policy, &all, true).await?;
            }
            defs.observe(&policy, &page, !paged && last_page).await
        }
        .await;
        match observed {
            Ok(()) => Ok(()),
            Err(why) if defs.enforcing(&policy) => Err(format!(
                "its tool definitions could not be checked against their pins: {why}"
            )),
            Err(why) => {
                tracing::warn!(error = %why, server = defs.server(), "tool definitions not checked");
                Ok(())
            }
        }
    }

    /// Checks a call's tool definition before the policy: a tool the lint hides is answered
    /// as unknown, a pending one (under `enforce`) is denied. A tool whose pin state this
    /// process does not know yet is checked first (the whole catalogue is fetched and
    /// observed); when that fails, `enforce` denies (fail closed). `None`: go on.
    async fn check_definition(
        &self,
        id: &str,
        era: Era,
        tool: &str,
        arguments: &Value,
        msg: &Message<'_>,
        caller: &Caller,
    ) -> Option<String> {
        let defs = caller.guard.definitions()?.clone();
        self.state().definitions.get_or_insert_with(|| defs.clone());
        let policy = caller.guard.policy();
        let mut standing = defs.check_call(&policy, tool).await;
        if standing == Standing::Unchecked {
            let checked = async {
                let _one = defs.lock().await;
                if defs.check_call(&policy, tool).await != Standing::Unchecked {
                    return Ok(());
                }
                let (_, all) = self.fetch_catalog(self.internal_meta(msg)).await?;
                defs.observe(&policy, &all, true).await
            }
            .await;
            standing = match checked {
                Ok(()) => defs.check_call(&policy, tool).await,
                Err(why) => {
                    tracing::warn!(error = %why, tool, server = defs.server(), "tool definition not checked");
                    Standing::Pending(defs.unchecked_reason(tool, &why))
                }
            };
            if standing == Standing::Unchecked {
                standing = Standing::Pending(
                    defs.unchecked_reason(tool, "the server did not list it when asked"),
                );
            }
        }
        let who = &caller.who;
        match standing {
            Standing::Clear | Standing::Unchecked => None,
            Standing::Hidden => Some(
                caller
                    .guard
                    .unknown_tool(id, era, tool, arguments, who, &caller.session)
                    .await,
            ),
            Standing::Pending(_) if !defs.enforcing(&policy) => None,
            Standing::Pending(reason) => Some(
                caller
                    .guard
                    .deny_definition(id, era, tool, arguments, who, &caller.session, &reason)
                    .await,
            ),
        }
    }

    /// The upstream refused a handshake-era `initialize`. If it speaks 2026-07-28, answer the
    /// client's `initialize` from `server/discover` and bridge from then on.
    async fn bridge_initialize(&self, client_id: &str, params: &Value) -> Option<String> {
        let _handshake = self.handshake.lock().await;
        let capabilities = params
            .get("capabilities")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        let client_info = params.get("clientInfo").cloned();
        let meta = warden_protocol::modern_meta(&capabilities, client_info.as_ref());
        let discover = self
            .internal("server/discover", serde_json::json!({"_meta": meta}))
            .await
            .ok()?;
        let found = discover.get("result")?;
        let asked = params.get("protocolVersion").and_then(Value::as_str);
        let answer = warden_protocol::initialize_from_discover(client_id, asked, found);
        *self.mode() = Mode::ToModern {
            capabilities: capabilities.to_string().into(),
            client_info: client_info.map(|i| i.to_string().into()),
        };
        tracing::info!("bridging a handshake-era client to a 2026-07-28 upstream");
        Some(answer)
    }

    /// A handshake-era upstream sent `elicitation/create` (or sampling, or roots) while a
    /// bridged 2026-07-28 client waits for a call: the revision has no server requests, so the
    /// question goes to the client as that call's `input_required` result, and the upstream call
    /// is parked under an unguessable `requestState` until the client retries with the answer.
    /// Only when exactly one such call is waiting can the question be attributed (the wire
    /// does not say which request a server request belongs to); otherwise it is refused.
    async fn park_for_input(self: &Arc<Self>, msg: &Message<'_>, method: &str) -> bool {
        if !matches!(*self.mode(), Mode::ToLegacy { .. }) || !INPUT_METHODS.contains(&method) {
            return false;
        }
        let Some(server_request_id) = msg.id().map(|i| i.get().to_owned()) else {
            return false;
        };
        let token = uuid::Uuid::new_v4().simple().to_string();
        let key = "warden-input-1".to_owned();
        let (client_id, reply) = {
            let mut st = self.state();
            let mut waiting = st.pending.iter_mut().filter(|(_, p)| {
                p.era == Era::Modern && p.reply.is_some() && INPUT_CAPABLE.contains(&&*p.method)
            });
            let (Some((&upstream_id, p)), None) = (waiting.next(), waiting.next()) else {
                return false;
            };
            let tool = match &p.what {
                What::Call(ticket) => Some(ticket.tool.clone()),
                _ => None,
            };
            let taken = (p.client_id.clone(), p.reply.take());
            st.parked.insert(
                token.clone(),
                Parked {
                    upstream_id,
                    server_request_id: server_request_id.clone(),
                    key: key.clone(),
                    tool,
                },
            );
            taken
        };
        let params: Value = msg
            .params
            .and_then(|p| serde_json::from_str(p.get()).ok())
            .unwrap_or_else(|| serde_json::json!({}));
        let result = serde_json::json!({
            "resultType": "input_required",
            "inputRequests": {key: {"method": method, "params": params}},
            "requestState": token,
        });
        send_to(
            &reply,
            format!(r#"{{"jsonrpc":"2.0","id":{client_id},"result":{result}}}"#),
        )
        .await;
        // A client that never retries must not hold the upstream call forever.
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(PARK_TIMEOUT).await;
            let Some(this) = this.upgrade() else { return };
            let expired = this.state().parked.remove(&token);
            if let Some(parked) = expired {
                let why = "the client did not answer within 10 minutes";
                this.send_upstream(error_response(
                    Some(&parked.server_request_id),
                    ErrorCode::Server,
                    why,
                    None,
                ))
                .await;
            }
        });
        true
    }

    /// A retry carrying a `requestState` the gateway issued: answer the parked upstream
    /// request with the client's input and let the call's result answer this retry.
    /// `None` when the retry is not one of ours (it then goes through the policy as usual).
    async fn resume(&self, msg: &Message<'_>, id: &str, reply: &Reply) -> Option<Option<u64>> {
        let params: Value = serde_json::from_str(msg.params?.get()).ok()?;
        let token = params.get("requestState")?.as_str()?;
        // A state replayed on another call is refused and leaves the genuine one usable.
        let parked = {
            let mut st = self.state();
            let tool = params.get("name").and_then(Value::as_str);
            match st.parked.get(token) {
                Some(p) if p.tool.as_deref() == tool => st.parked.remove(token),
                Some(_) => None,
                None => return None,
            }
        };
        let Some(parked) = parked else {
            let why = "requestState does not belong to this call";
            let _ = reply
                .send(error_response(
                    Some(id),
                    ErrorCode::InvalidParams,
                    why,
                    None,
                ))
                .await;
            return Some(None);
        };
        let answer = params
            .get("inputResponses")
            .and_then(|r| r.get(&parked.key))
            .cloned();
        // Point the waiting call at this retry before the upstream can answer it.
        let resumed = {
            let mut st = self.state();
            match st.pending.get_mut(&parked.upstream_id) {
                Some(p) => {
                    p.client_id = id.into();
                    p.reply = Some(reply.clone());
                    true
                }
                None => false,
            }
        };
        if !resumed {
            let why = "the call this input was for has ended";
            let _ = reply
                .send(error_response(Some(id), ErrorCode::Server, why, None))
                .await;
            return Some(None);
        }
        let to_upstream = match answer {
            Some(result) => format!(
                r#"{{"jsonrpc":"2.0","id":{},"result":{result}}}"#,
                parked.server_request_id
            ),
            None => error_response(
                Some(&parked.server_request_id),
                ErrorCode::InvalidParams,
                "the client sent no answer for this request",
                None,
            ),
        };
        self.send_upstream(to_upstream).await;
        Some(Some(parked.upstream_id))
    }

    /// Records the names of a `tools/list` answer the relay carried; at the last page, says how
    /// the definitions changed since the previous complete listing, if they did.
    fn learn_catalog(
        &self,
        result: &serde_json::value::RawValue,
        paged: bool,
    ) -> Option<ToolsChanged> {
        let prints = warden_protocol::tool_fingerprints(result);
        let last_page = is_last_page(result);
        let mut st = self.state();
        let catalog = &mut st.catalog;
        if !paged {
            catalog.names.clear();
            catalog.incoming.clear();
        }
        catalog.names.extend(prints.iter().map(|(n, _)| n.clone()));
        catalog.incoming.extend(prints);
        catalog.complete = last_page;
        catalog.fetched_at = Some(tokio::time::Instant::now());
        if !last_page {
            return None;
        }
        let new = std::mem::take(&mut catalog.incoming);
        let change = if catalog.prints.is_empty() {
            None
        } else {
            ToolsChanged::between(&catalog.prints, &new)
        };
        catalog.prints = new;
        change
    }

    /// Whether the upstream lists `tool`. On a miss the catalog is fetched again unless it is
    /// complete and fresh. When the upstream cannot be asked, this says yes and the policy
    /// decides alone (it still refuses what it does not allow).
    async fn tool_exists(&self, tool: &str, msg: &Message<'_>, caller: &Caller) -> bool {
        {
            let st = self.state();
            if st.catalog.names.contains(tool) {
                return true;
            }
            let fresh = st
                .catalog
                .fetched_at
                .is_some_and(|t| t.elapsed() < CATALOG_FRESH);
            if st.catalog.complete && fresh {
                return false;
            }
        }
        let fetched = match caller.guard.definitions() {
            Some(defs) => {
                let _one = defs.lock().await;
                match self.fetch_catalog(self.internal_meta(msg)).await {
                    Ok((names, tools)) => {
                        let policy = caller.guard.policy();
                        if let Err(why) = defs.observe(&policy, &tools, true).await {
                            tracing::warn!(error = %why, server = defs.server(), "tool definitions not checked");
                        }
                        Ok(names)
                    }
                    Err(why) => Err(why),
                }
            }
            None => self
                .fetch_catalog(self.internal_meta(msg))
                .await
                .map(|(names, _)| names),
        };
        match fetched {
            Ok(names) => names.contains(tool),
            Err(why) => {
                tracing::debug!(error = %why, "could not list the upstream's tools");
                true
            }
        }
    }

    /// Lists every page of the upstream's tools with the gateway's own requests: their names,
    /// and each tool's JSON object.
    async fn fetch_catalog(
        &self,
        meta: Option<Value>,
    ) -> Result<(HashSet<String>, Vec<String>), String> {
        let mut names = HashSet::new();
        let mut all = Vec::new();
        let mut cursor: Option<Value> = None;
        for _ in 0..CATALOG_MAX_PAGES {
            let mut params = serde_json::Map::new();
            if let Some(c) = cursor.take() {
                params.insert("cursor".into(), c);
            }
            if let Some(m) = &meta {
                params.insert("_meta".into(), m.clone());
            }
            let answer = self.internal("tools/list", Value::Object(params)).await?;
            let result = answer.get("result").ok_or_else(|| {
                format!(
                    "tools/list refused: {}",
                    answer.get("error").unwrap_or(&Value::Null)
                )
            })?;
            let tools = result
                .get("tools")
                .and_then(Value::as_array)
                .ok_or("no tools array")?;
            names.extend(
                tools
                    .iter()
                    .filter_map(|t| t.get("name")?.as_str().map(str::to_owned)),
            );
            all.extend(tools.iter().map(Value::to_string));
            match result.get("nextCursor") {
                Some(c) if !c.is_null() => cursor = Some(c.clone()),
                _ => break,
            }
        }
        let mut st = self.state();
        st.catalog.names = names.clone();
        st.catalog.complete = true;
        st.catalog.fetched_at = Some(tokio::time::Instant::now());
        Ok((names, all))
    }

    /// The `_meta` the gateway's own requests need to be understood by the upstream: the
    /// 2026-07-28 keys when the upstream speaks that era, nothing for a handshake-era one.
    fn internal_meta(&self, msg: &Message<'_>) -> Option<Value> {
        match &*self.mode() {
            Mode::ToModern {
                capabilities,
                client_info,
            } => {
                let capabilities =
                    serde_json::from_str(capabilities).unwrap_or_else(|_| serde_json::json!({}));
                let info: Option<Value> = client_info
                    .as_deref()
                    .and_then(|i| serde_json::from_str(i).ok());
                Some(warden_protocol::modern_meta(&capabilities, info.as_ref()))
            }
            Mode::ToLegacy { .. } => None,
            Mode::Direct | Mode::Unknown => {
                let version = msg.meta(META_PROTOCOL_VERSION)?;
                let mut m = serde_json::Map::new();
                m.insert(META_PROTOCOL_VERSION.into(), version);
                m.insert(
                    META_CLIENT_CAPABILITIES.into(),
                    msg.meta(META_CLIENT_CAPABILITIES)
                        .unwrap_or_else(|| serde_json::json!({})),
                );
                if let Some(info) = msg.meta(META_CLIENT_INFO) {
                    m.insert(META_CLIENT_INFO.into(), info);
                }
                Some(Value::Object(m))
            }
        }
    }

    /// The upstream is gone: every waiting request gets an error instead of a hang. Calls that
    /// reached it may have acted, so their reservations stand.
    pub async fn upstream_closed(&self, why: &str) {
        let drained: Vec<Pending> = {
            let mut st = self.state();
            st.closed = Some(why.to_owned());
            st.pending.drain().map(|(_, p)| p).collect()
        };
        for p in drained {
            self.answer_closed(p, why, Outcome::NoAnswer).await;
        }
    }

    /// True once the upstream connection has ended.
    pub fn is_closed(&self) -> bool {
        self.state().closed.is_some()
    }
}

/// Whether a `tools/list` result is the last page (no `nextCursor`).
fn is_last_page(result: &serde_json::value::RawValue) -> bool {
    serde_json::from_str::<Page<'_>>(result.get()).is_ok_and(|p| p.next_cursor.is_none())
}

/// What the relay reads of a `tools/list` result: the tools borrowed as raw text, and whether
/// a cursor follows (`null` counts as none). Everything else is skipped, not built.
#[derive(serde::Deserialize)]
struct Page<'a> {
    #[serde(borrow, default)]
    tools: Option<Vec<&'a serde_json::value::RawValue>>,
    #[serde(rename = "nextCursor", borrow, default)]
    next_cursor: Option<&'a serde_json::value::RawValue>,
}

/// Each tool's JSON object in a `tools/list` result, as the server sent it.
fn page_tools(result: &serde_json::value::RawValue) -> Vec<String> {
    serde_json::from_str::<Page<'_>>(result.get())
        .ok()
        .and_then(|p| p.tools)
        .map(|ts| ts.iter().map(|t| t.get().to_owned()).collect())
        .unwrap_or_default()
}

/// The error answering a `tools/list` whose answer cannot be checked (fail closed: it could
/// carry tools the policy or the pins hide).
fn withheld(client_id: &str, why: &str) -> String {
    tracing::error!(error = %why, "tools/list answer withheld");
    let text = format!(
        "the upstream's tools/list answer could not be checked against the policy, so it is withheld: {why}"
    );
    error_response(Some(client_id), ErrorCode::Internal, &text, None)
}

async fn send_to(reply: &Option<Reply>, text: String) {
    if let Some(reply) = reply {
        let _ = reply.send(text).await;
    }
}

fn restore_id(raw: &str, client_id: &str) -> Option<String> {
    warden_protocol::parse(raw)
        .ok()
        .and_then(|m| warden_protocol::replace_id(&m, client_id))
}

/// Whether an error answering `initialize` says the server does not speak the handshake era
/// (-32022, or an error naming the versions it supports), as opposed to refusing a malformed
/// request, which the client must see as it is.
fn refuses_handshake(msg: &Message<'_>) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(msg.raw) else {
        return false;
    };
    let error = &v["error"];
    error["code"] == ErrorCode::UnsupportedVersion.code() || error["data"]["supported"].is_array()
}

/// Results that 2026-07-28 requires cache fields on.
fn is_cacheable(method: &str) -> bool {
    matches!(
        method,
        "tools/list"
            | "prompts/list"
            | "resources/list"
            | "resources/templates/list"
            | "resources/read"
    )
}

/// `result.isError == true`.
fn result_is_error(msg: &Message<'_>) -> bool {
    #[derive(serde::Deserialize)]
    struct R {
        #[serde(rename = "isError", default)]
        is_error: bool,
    }
    msg.result
        .and_then(|r| serde_json::from_str::<R>(r.get()).ok())
        .is_some_and(|r| r.is_error)
}
