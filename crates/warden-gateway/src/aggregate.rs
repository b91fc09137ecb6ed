//! The aggregated endpoint `/mcp` of the team gateway: the tools of every server the caller has
//! a grant for, behind one URL.
//!
//! A tool is named `<server>__<tool>` here (server names cannot contain `__`, so the name is
//! split back at its first `__`). Each call goes to that server's shared connection under the
//! caller's grant for that server, so its own policy, counters and denials apply exactly as on
//! `/mcp/<server>`. A tool name offered by several servers is not a collision here (prefixes
//! keep them apart) but is reported in the listing's `_meta["warden/collisions"]` and in the
//! log, so an operator sees where an agent might confuse them. The endpoint serves tools only:
//! prompts and resources stay on the per-server endpoints. Warden answers `initialize`,
//! `server/discover` and `ping` itself; sessions (handshake era) belong to their identity.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::mpsc;
use warden_protocol::{
    ErrorCode, Kind, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_SERVER_INFO, MODERN_VERSION,
    Message, error_response,
};

use crate::downstream::http::{
    Limit, accepts_sse, acquire, check_stateless, header_str, json_error, parse_body, read_body,
    relay_request, too_large,
};
use crate::relay::Caller;
use crate::team::Team;

/// The separator between a server's name and its tool's.
pub const SEPARATOR: &str = "__";
const SESSION_HEADER: &str = "mcp-session-id";
/// Pages fetched from one server for one listing.
const MAX_PAGES: usize = 50;

/// Handshake-era sessions of the aggregated endpoint.
#[derive(Debug, Default)]
pub(crate) struct Sessions(Mutex<HashMap<String, Agg>>);

#[derive(Debug, Clone)]
struct Agg {
    identity: String,
    capabilities: String,
    client_info: Option<String>,
}

impl Sessions {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Agg>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn result(id: &str, result: &Value) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#)
}

/// POST `/mcp`.
pub(crate) async fn post(team: Arc<Team>, headers: HeaderMap, body: Body) -> Response {
    // The body first (within its bound): a refusal sent while the client is still sending
    // would cost it the connection.
    let limit = team.config().limits.max_body_bytes;
    let Ok(body) = read_body(body, limit).await else {
        return too_large(limit);
    };
    let permit = match acquire(team.inflight(), Limit::Gateway) {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    let who = match team.authenticate(&headers, None).await {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let msg = match parse_body(&body) {
        Ok(m) => m,
        Err(refused) => return refused,
    };
    let modern = warden_protocol::request_era(&msg) == warden_protocol::Era::Modern
        || header_str(&headers, "mcp-protocol-version") == Some(MODERN_VERSION);
    // Who the session (or the stateless request) is, and with what capabilities the gateway
    // speaks to the servers for it.
    let (session, agg) = if modern {
        if let Err(refused) = check_stateless(&msg, &headers) {
            return refused;
        }
        let caps = msg
            .meta(META_CLIENT_CAPABILITIES)
            .unwrap_or_else(|| serde_json::json!({}));
        let info = msg.meta(META_CLIENT_INFO).map(|i| i.to_string());
        (
            "stateless".to_owned(),
            Agg {
                identity: who.identity.clone(),
                capabilities: caps.to_string(),
                client_info: info,
            },
        )
    } else if msg.method() == Some("initialize") {
        return initialize(&team, &who.identity, &msg);
    } else {
        let Some(sid) = header_str(&headers, SESSION_HEADER) else {
            return json_error(
                StatusCode::BAD_REQUEST,
                msg.id().map(|i| i.get()),
                ErrorCode::InvalidRequest,
                "Bad Request: Mcp-Session-Id header is required (send initialize first)",
            );
        };
        match team
            .aggregate_sessions()
            .map()
            .get(sid)
            .filter(|a| a.identity == who.identity)
        {
            Some(a) => (sid.to_owned(), a.clone()),
            None => {
                return json_error(
                    StatusCode::NOT_FOUND,
                    msg.id().map(|i| i.get()),
                    ErrorCode::InvalidRequest,
                    "Session not found: initialize a new session",
                );
            }
        }
    };
    let Kind::Request { id, method } = &msg.kind else {
        // Notifications and responses: nothing to do for a tools-only endpoint (cancellation
        // of a call reaches its server through the stream the call is on).
        return StatusCode::ACCEPTED.into_response();
    };
    let id = id.get();
    let status_of = |code: ErrorCode| match (modern, code) {
        (true, ErrorCode::MethodNotFound) => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    };
    match method.as_ref() {
        "ping" => json(StatusCode::OK, result(id, &serde_json::json!({}))),
        "server/discover" => json(
            StatusCode::OK,
            result(
                id,
                &serde_json::json!({
            "resultType": "complete", "supportedVersions": [MODERN_VERSION],
            "capabilities": {"tools": {}}, "_meta": {META_SERVER_INFO: server_info()},
            "instructions": instructions(), "ttlMs": 0, "cacheScope": "private"}),
            ),
        ),
        "tools/list" => {
            let listing = list(&team, &who, &agg, &session).await;
            let mut body = serde_json::json!({"tools": listing.tools});
            if !listing.collisions.is_empty() || !listing.unavailable.is_empty() {
                let mut meta = serde_json::Map::new();
                if !listing.collisions.is_empty() {
                    meta.insert(
                        "warden/collisions".into(),
                        serde_json::json!(listing.collisions),
                    );
                }
                if !listing.unavailable.is_empty() {
                    meta.insert(
                        "warden/unavailable".into(),
                        serde_json::json!(listing.unavailable),
                    );
                }
                body["_meta"] = Value::Object(meta);
            }
            if modern {
                body["resultType"] = "complete".into();
                body["ttlMs"] = 0.into();
                body["cacheScope"] = "private".into();
            }
            json(StatusCode::OK, result(id, &body))
        }
        "tools/call" => {
            call(
                &team,
                &who,
                &agg,
                &session,
                &msg,
                id,
                modern,
                accepts_sse(&headers),
                permit,
            )
            .await
        }
        other => {
            let why = format!(
                "{other} is not served on the aggregated endpoint /mcp, which offers tools only; use /mcp/<server> for prompts and resources"
            );
            json(
                status_of(ErrorCode::MethodNotFound),
                error_response(Some(id), ErrorCode::MethodNotFound, &why, None),
            )
        }
    }
}

fn server_info() -> Value {
    serde_json::json!({"name": "warden", "version": env!("CARGO_PKG_VERSION")})
}

fn instructions() -> String {
    format!(
        "The tools of every MCP server you may use through this Warden gateway, each named <server>{SEPARATOR}<tool>."
    )
}

/// `initialize`: a new aggregated session, answered by the gateway.
fn initialize(team: &Arc<Team>, identity: &str, msg: &Message<'_>) -> Response {
    let id = msg.id().map(|i| i.get()).unwrap_or("null");
    let params: Value = msg
        .params
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .unwrap_or(Value::Null);
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = match asked {
        Some(v) if warden_protocol::LEGACY_VERSIONS.contains(&v) => v,
        _ => warden_protocol::LATEST_LEGACY,
    };
    let sid = uuid::Uuid::new_v4().simple().to_string();
    team.aggregate_sessions().map().insert(
        sid.clone(),
        Agg {
            identity: identity.to_owned(),
            capabilities: params
                .get("capabilities")
                .cloned()
                .unwrap_or_else(|| serde_json::json!({}))
                .to_string(),
            client_info: params.get("clientInfo").map(|i| i.to_string()),
        },
    );
    let answer = result(
        id,
        &serde_json::json!({"protocolVersion": version,
        "capabilities": {"tools": {}}, "serverInfo": server_info(), "instructions": instructions()}),
    );
    let mut resp = json(StatusCode::OK, answer);
    if let Ok(v) = HeaderValue::from_str(&sid) {
        resp.headers_mut().insert(SESSION_HEADER, v);
    }
    resp
}

/// DELETE `/mcp`: ends an aggregated session.
pub(crate) async fn delete(team: Arc<Team>, headers: HeaderMap) -> Response {
    let who = match team.authenticate(&headers, None).await {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let Some(sid) = header_str(&headers, SESSION_HEADER) else {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response();
    };
    let mut map = team.aggregate_sessions().map();
    match map.get(sid) {
        Some(a) if a.identity == who.identity => {
            map.remove(sid);
            StatusCode::OK.into_response()
        }
        _ => json_error(
            StatusCode::NOT_FOUND,
            None,
            ErrorCode::InvalidRequest,
            "Session not found",
        ),
    }
}

/// The caller's `_meta` for a server request made on their behalf.
fn meta(agg: &Agg) -> Value {
    let capabilities =
        serde_json::from_str(&agg.capabilities).unwrap_or_else(|_| serde_json::json!({}));
    let info: Option<Value> = agg
        .client_info
        .as_deref()
        .and_then(|i| serde_json::from_str(i).ok());
    warden_protocol::modern_meta(&capabilities, info.as_ref())
}

struct Listing {
    tools: Vec<Box<serde_json::value::RawValue>>,
    collisions: BTreeMap<String, Vec<String>>,
    unavailable: BTreeMap<String, String>,
}

/// Every granted server's tools, as its own policy lists them for this caller, prefixed.
async fn list(
    team: &Arc<Team>,
    who: &warden_auth::Authenticated,
    agg: &Agg,
    session: &str,
) -> Listing {
    let config = team.config();
    let mut listing = Listing {
        tools: Vec::new(),
        collisions: BTreeMap::new(),
        unavailable: BTreeMap::new(),
    };
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for grant in config.grants_of(&who.identity) {
        let server = grant.server.as_str();
        let (Some(gw), Some(admitted)) = (
            team.gateway_of(server),
            team.admit_grant(who, server, &config),
        ) else {
            continue;
        };
        let relay = match gw.stateless_relay().await {
            Ok(r) => r,
            Err(why) => {
                listing.unavailable.insert(server.to_owned(), why);
                continue;
            }
        };
        let caller = Caller {
            guard: admitted.guard,
            who: admitted.who,
            session: session.to_owned(),
            declared: None,
        };
        let mut cursor: Option<Value> = None;
        for _ in 0..MAX_PAGES {
            let mut params = serde_json::json!({"_meta": meta(agg)});
            if let Some(c) = cursor.take() {
                params["cursor"] = c;
            }
            let request = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": params});
            let (tx, mut rx) = mpsc::channel(4);
            relay
                .client_message(&request.to_string(), &tx, &caller)
                .await;
            drop(tx);
            let Some(answer) = rx.recv().await else { break };
            let Ok(m) = warden_protocol::parse(&answer) else {
                break;
            };
            let Some(res) = m.result else {
                listing
                    .unavailable
                    .insert(server.to_owned(), answer.clone());
                break;
            };
            let prefix = format!("{server}{SEPARATOR}");
            for (name, tool) in warden_protocol::prefixed_tools(res, &prefix).unwrap_or_default() {
                if let Ok(raw) = serde_json::value::RawValue::from_string(tool) {
                    listing.tools.push(raw);
                }
                seen.entry(name).or_default().push(server.to_owned());
            }
            match serde_json::from_str::<Value>(res.get())
                .ok()
                .and_then(|r| r.get("nextCursor").cloned())
            {
                Some(c) if !c.is_null() => cursor = Some(c),
                _ => break,
            }
        }
    }
    for (name, servers) in seen {
        if servers.len() > 1 {
            tracing::warn!(tool = %name, servers = ?servers, "the same tool name is offered by several servers; the aggregated endpoint keeps them apart by prefix");
            listing.collisions.insert(name, servers);
        }
    }
    listing
}

/// A `tools/call` for `<server>__<tool>`, relayed to that server under its grant.
#[allow(clippy::too_many_arguments)]
async fn call(
    team: &Arc<Team>,
    who: &warden_auth::Authenticated,
    agg: &Agg,
    session: &str,
    msg: &Message<'_>,
    id: &str,
    modern: bool,
    sse_ok: bool,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Response {
    let era = if modern {
        warden_protocol::Era::Modern
    } else {
        warden_protocol::Era::Legacy
    };
    let name = match warden_protocol::call_params(msg.params) {
        Ok(p) => p.name.into_owned(),
        Err(why) => {
            return json(
                if modern {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::OK
                },
                error_response(Some(id), ErrorCode::InvalidParams, &why, None),
            );
        }
    };
    let config = team.config();
    // A name that does not split, or names a server without a grant, is a tool that does not
    // exist here: answered as such, like a hidden tool.
    let target = name.split_once(SEPARATOR).and_then(|(server, tool)| {
        let admitted = team.admit_grant(who, server, &config)?;
        Some((team.gateway_of(server)?, admitted, tool.to_owned()))
    });
    let Some((gw, admitted, tool)) = target else {
        return json(
            StatusCode::OK,
            warden_protocol::unknown_tool_result(id, era, &name),
        );
    };
    let relay = match gw.upstream_or_502(Some(id)).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let Some(renamed) = warden_protocol::rename_call(msg, &tool) else {
        return json(
            StatusCode::OK,
            warden_protocol::unknown_tool_result(id, era, &name),
        );
    };
    // The server is spoken to in 2026-07-28 whatever the client's era (the relay bridges).
    let outgoing = if modern {
        renamed
    } else {
        let Ok(m) = warden_protocol::parse(&renamed) else {
            return json_error(
                StatusCode::BAD_REQUEST,
                Some(id),
                ErrorCode::InvalidRequest,
                "unreadable request",
            );
        };
        warden_protocol::add_modern_meta(
            &m,
            MODERN_VERSION,
            &agg.capabilities,
            agg.client_info.as_deref(),
        )
        .unwrap_or(renamed)
    };
    let Ok(out_msg) = warden_protocol::parse(&outgoing) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            Some(id),
            ErrorCode::InvalidRequest,
            "unreadable request",
        );
    };
    let caller = Caller {
        guard: admitted.guard,
        who: admitted.who,
        session: session.to_owned(),
        declared: None,
    };
    relay_request(relay, &out_msg, None, sse_ok, &caller, vec![permit], modern).await
}
