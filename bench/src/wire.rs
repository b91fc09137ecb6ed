//! The few JSON-RPC messages the workloads send, and the check of each answer.

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// The handshake revision the workloads speak.
pub const LEGACY_VERSION: &str = "2025-11-25";
/// The stateless revision.
pub const MODERN_VERSION: &str = "2026-07-28";

/// A `tools/call` of `tool` with `arguments`, as one line of JSON (no newline).
pub fn call(id: u64, tool: &str, arguments: &Value, modern: bool) -> String {
    let mut params = json!({"name": tool, "arguments": arguments});
    if modern {
        params["_meta"] = modern_meta();
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}).to_string()
}

/// A `tools/list` request.
pub fn list(id: u64) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": {}}).to_string()
}

/// The `initialize` request of a client that declares no capabilities.
pub fn initialize(id: u64) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": LEGACY_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "warden-bench", "version": env!("CARGO_PKG_VERSION")}
    }})
    .to_string()
}

/// `notifications/initialized`.
pub fn initialized() -> String {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string()
}

/// The `_meta` a 2026-07-28 request carries.
fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

/// The parts of a message the workloads look at.
#[derive(Debug, Deserialize)]
pub struct Incoming<'a> {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default, borrow)]
    method: Option<&'a str>,
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default, borrow)]
    error: Option<&'a RawValue>,
}

/// What one line from a server is.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    /// The answer to request `id`.
    Response(u64),
    /// A notification or a request from the server: not what a workload waits for.
    Other,
}

/// Parses a message and, if it answers a request, checks that the answer is a
/// successful result (not a JSON-RPC error, not `isError`), and that it
/// contains `expect` when given.
pub fn classify(text: &str, expect: Option<&str>) -> anyhow::Result<Kind> {
    let msg: Incoming<'_> = serde_json::from_str(text)
        .with_context(|| format!("not a JSON-RPC message: {}", clip(text)))?;
    if msg.method.is_some() {
        return Ok(Kind::Other);
    }
    let id = msg
        .id
        .as_ref()
        .and_then(Value::as_u64)
        .with_context(|| format!("an answer without a numeric id: {}", clip(text)))?;
    if let Some(error) = msg.error {
        bail!("request {id} failed: {}", clip(error.get()));
    }
    let result = msg
        .result
        .with_context(|| format!("answer {id} has no result: {}", clip(text)))?;
    if result.get().contains(r#""isError":true"#) {
        bail!("request {id} was refused: {}", clip(result.get()));
    }
    if let Some(expect) = expect
        && !result.get().contains(expect)
    {
        bail!("answer {id} lacks {expect:?}: {}", clip(result.get()));
    }
    Ok(Kind::Response(id))
}

/// At most 300 characters of `text`, for error messages.
fn clip(text: &str) -> String {
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked() {
        let ok = r#"{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"hi"}]}}"#;
        assert_eq!(classify(ok, Some("hi")).unwrap(), Kind::Response(3));
        assert!(classify(ok, Some("bye")).is_err());
        let refused = r#"{"jsonrpc":"2.0","id":3,"result":{"content":[],"isError":true}}"#;
        assert!(classify(refused, None).is_err());
        let error = r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"no"}}"#;
        assert!(classify(error, None).is_err());
        let note = r#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#;
        assert_eq!(classify(note, None).unwrap(), Kind::Other);
        assert!(classify("not json", None).is_err());
    }
}
