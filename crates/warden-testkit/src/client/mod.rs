//! A small MCP client for Rust tests and `warden demo`'s scripted session.
//!
//! [`McpHttpClient`] speaks Streamable HTTP and [`McpStdioClient`] speaks to a
//! child process (or any byte stream) over newline-delimited JSON-RPC. Both:
//!
//! - connect in the chosen [`ClientEra`]: legacy sends `initialize` (declaring
//!   the `elicitation` capability) then `notifications/initialized`; stateless
//!   sends `server/discover` and then stamps every request's `params._meta`
//!   with the 2026-07-28 protocol version, client capabilities and client info
//!   (keys the caller already put in `_meta`, such as `progressToken`, stay);
//!   over HTTP they also send `MCP-Protocol-Version`, `Mcp-Method` and
//!   `Mcp-Name` (Base64 sentinel when the name is not header-safe);
//! - return the whole JSON-RPC response message from [`request`](McpHttpClient::request)
//!   (errors included: a JSON-RPC error is an `Ok` value, a transport failure
//!   is an `Err`), keep its exact text in `last_raw()`;
//! - answer server requests on the way (`elicitation/create` with the
//!   configured answer, default `{"action":"accept","content":{"confirm":true}}`;
//!   `ping`; `roots/list` with no roots; anything else `-32601`) and record
//!   them in `take_server_requests()`;
//! - collect notifications (progress...) in `take_notifications()`;
//! - in [`call_tool`](McpHttpClient::call_tool), drive 2026-07-28
//!   `input_required` results to completion (up to 8 rounds), answering
//!   `elicitation/create` input requests the same way; `request` never retries.
//!
//! Request ids are integers counting up from 1 (shared with forks).

mod http;
mod stdio;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::bail;
use serde_json::{Map, Value, json};

pub use http::{McpHttpClient, RawReply};
pub use stdio::McpStdioClient;

use crate::wire::{Kind, classify};
use crate::{
    LATEST_LEGACY_VERSION, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_PROTOCOL_VERSION,
    MODERN_VERSION,
};

/// Which protocol era a client speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEra {
    /// The `initialize` handshake, offering this version (for example `"2025-11-25"`).
    Legacy(String),
    /// Stateless requests carrying this version in `_meta` (for example `"2026-07-28"`).
    Stateless(String),
}

impl ClientEra {
    /// Legacy, offering 2025-11-25.
    pub fn legacy() -> Self {
        ClientEra::Legacy(LATEST_LEGACY_VERSION.to_owned())
    }

    /// Stateless, at 2026-07-28.
    pub fn stateless() -> Self {
        ClientEra::Stateless(MODERN_VERSION.to_owned())
    }

    /// Whether this is the stateless era.
    pub fn is_stateless(&self) -> bool {
        matches!(self, ClientEra::Stateless(_))
    }
}

/// How many `input_required` rounds `call_tool` follows.
const MAX_INPUT_ROUNDS: usize = 8;

/// Protocol state shared by both transports.
#[derive(Debug)]
struct Core {
    era: ClientEra,
    /// Negotiated (legacy) or requested (stateless) version.
    version: String,
    next_id: Arc<AtomicU64>,
    capabilities: Value,
    elicitation_answer: Value,
    server_info: Value,
    notifications: Vec<Value>,
    server_requests: Vec<Value>,
    last_raw: String,
}

impl Core {
    fn new(era: ClientEra) -> Self {
        let version = match &era {
            ClientEra::Legacy(v) | ClientEra::Stateless(v) => v.clone(),
        };
        Core {
            era,
            version,
            next_id: Arc::new(AtomicU64::new(1)),
            capabilities: json!({ "elicitation": {} }),
            elicitation_answer: json!({ "action": "accept", "content": { "confirm": true } }),
            server_info: Value::Null,
            notifications: Vec::new(),
            server_requests: Vec::new(),
            last_raw: String::new(),
        }
    }

    /// A second core for the same connection (shared id counter, fresh logs).
    fn fork(&self) -> Self {
        Core {
            era: self.era.clone(),
            version: self.version.clone(),
            next_id: self.next_id.clone(),
            capabilities: self.capabilities.clone(),
            elicitation_answer: self.elicitation_answer.clone(),
            server_info: self.server_info.clone(),
            notifications: Vec::new(),
            server_requests: Vec::new(),
            last_raw: String::new(),
        }
    }

    fn client_info() -> Value {
        json!({ "name": "warden-testkit", "version": env!("CARGO_PKG_VERSION") })
    }

    fn initialize_params(&self) -> Value {
        json!({
            "protocolVersion": self.version,
            "capabilities": self.capabilities,
            "clientInfo": Self::client_info(),
        })
    }

    /// Builds a request, stamping 2026-07-28 `_meta` when stateless.
    fn request(&self, method: &str, params: Value) -> anyhow::Result<(u64, Value)> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut params = match params {
            Value::Null => Map::new(),
            Value::Object(map) => map,
            other => bail!("request params must be an object, not {other}"),
        };
        if self.era.is_stateless() {
            let meta = params
                .entry("_meta")
                .or_insert_with(|| Value::Object(Map::new()));
            let Some(meta) = meta.as_object_mut() else {
                bail!("params._meta must be an object");
            };
            meta.insert(META_PROTOCOL_VERSION.into(), json!(self.version));
            meta.insert(META_CLIENT_CAPABILITIES.into(), self.capabilities.clone());
            meta.insert(META_CLIENT_INFO.into(), Self::client_info());
        }
        let msg = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        Ok((id, msg))
    }

    /// Answers a server-to-client request and records it.
    fn answer_server_request(&mut self, request: &Value) -> Value {
        self.server_requests.push(request.clone());
        let id = &request["id"];
        match request["method"].as_str() {
            Some("elicitation/create") => {
                json!({ "jsonrpc": "2.0", "id": id, "result": self.elicitation_answer })
            }
            Some("ping") => json!({ "jsonrpc": "2.0", "id": id, "result": {} }),
            Some("roots/list") => json!({ "jsonrpc": "2.0", "id": id, "result": { "roots": [] } }),
            _ => json!({
                "jsonrpc": "2.0",
                "id": id,
                "error": { "code": -32601, "message": "Method not found" }
            }),
        }
    }

    /// Builds `inputResponses` for an `input_required` result, recording the
    /// input requests as server requests.
    fn input_responses(&mut self, input_requests: &Value) -> anyhow::Result<Value> {
        let mut responses = Map::new();
        if let Some(map) = input_requests.as_object() {
            for (key, request) in map {
                self.server_requests.push(request.clone());
                let answer = match request["method"].as_str() {
                    Some("elicitation/create") => self.elicitation_answer.clone(),
                    Some("roots/list") => json!({ "roots": [] }),
                    other => {
                        bail!("cannot answer input request {key}: unsupported method {other:?}")
                    }
                };
                responses.insert(key.clone(), answer);
            }
        }
        Ok(Value::Object(responses))
    }

    /// Sorts one incoming message: `Some(response)` when it answers `id`.
    /// Server requests come back as `Err(answer)` for the caller to send.
    fn route(&mut self, msg: Value, id: u64) -> Result<Option<Value>, Value> {
        match classify(&msg) {
            Kind::Response if msg["id"] == json!(id) => Ok(Some(msg)),
            Kind::Request => Err(self.answer_server_request(&msg)),
            _ => {
                self.notifications.push(msg);
                Ok(None)
            }
        }
    }
}

/// Whether a response is a 2026-07-28 `input_required` result.
fn input_required(response: &Value) -> Option<&Value> {
    let result = response.get("result")?;
    (result.get("resultType").and_then(Value::as_str) == Some("input_required")).then_some(result)
}

/// Adds an `input_required` round's answers to the original params.
fn retry_params(params: &Value, inputs: Value, result: &Value) -> Value {
    let mut params = params.clone();
    if let Some(obj) = params.as_object_mut() {
        obj.insert("inputResponses".into(), inputs);
        match result.get("requestState") {
            Some(state) => obj.insert("requestState".into(), state.clone()),
            None => obj.remove("requestState"),
        };
    }
    params
}

/// The `tools` array of a `tools/list` response, or an error naming what came back.
fn tools_of(response: &Value) -> anyhow::Result<Vec<Value>> {
    match response.pointer("/result/tools").and_then(Value::as_array) {
        Some(tools) => Ok(tools.clone()),
        None => bail!("tools/list did not return tools: {response}"),
    }
}

/// Generates the accessors both clients share.
macro_rules! shared_accessors {
    () => {
        /// The negotiated (legacy) or requested (stateless) protocol version.
        pub fn protocol_version(&self) -> &str {
            &self.core.version
        }

        /// The `initialize` result (legacy) or `server/discover` result (stateless).
        pub fn server_info(&self) -> &serde_json::Value {
            &self.core.server_info
        }

        /// The exact text of the last response message received.
        pub fn last_raw(&self) -> &str {
            &self.core.last_raw
        }

        /// Notifications received so far (and responses to other requests), oldest first.
        pub fn take_notifications(&mut self) -> Vec<serde_json::Value> {
            std::mem::take(&mut self.core.notifications)
        }

        /// Server requests received so far (legacy requests, and 2026-07-28
        /// `inputRequests` entries), oldest first.
        pub fn take_server_requests(&mut self) -> Vec<serde_json::Value> {
            std::mem::take(&mut self.core.server_requests)
        }

        /// Sets the result sent for `elicitation/create`. Default:
        /// `{"action":"accept","content":{"confirm":true}}`.
        pub fn set_elicitation_answer(&mut self, answer: serde_json::Value) {
            self.core.elicitation_answer = answer;
        }

        /// Sets the capabilities stamped on later stateless requests. Default:
        /// `{"elicitation":{}}`. (Legacy declares its capabilities once, in `initialize`.)
        pub fn set_capabilities(&mut self, capabilities: serde_json::Value) {
            self.core.capabilities = capabilities;
        }

        /// `tools/list`'s tools; an error if the server answered with an error.
        pub async fn list_tools(&mut self) -> anyhow::Result<Vec<serde_json::Value>> {
            let response = self.request("tools/list", serde_json::json!({})).await?;
            $crate::client::tools_of(&response)
        }

        /// Calls a tool and returns the whole response message, following
        /// 2026-07-28 `input_required` rounds.
        pub async fn call_tool(
            &mut self,
            name: &str,
            arguments: serde_json::Value,
        ) -> anyhow::Result<serde_json::Value> {
            let mut params = serde_json::json!({ "name": name, "arguments": arguments });
            for _ in 0..$crate::client::MAX_INPUT_ROUNDS {
                let response = self.request("tools/call", params.clone()).await?;
                let Some(result) = $crate::client::input_required(&response) else {
                    return Ok(response);
                };
                let inputs = self.core.input_responses(&result["inputRequests"])?;
                params = $crate::client::retry_params(&params, inputs, result);
            }
            anyhow::bail!("{name}: still input_required after {} rounds", $crate::client::MAX_INPUT_ROUNDS)
        }
    };
}
use shared_accessors;
