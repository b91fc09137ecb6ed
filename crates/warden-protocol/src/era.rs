//! The two protocol eras and the 2026-07-28 routing headers.

use base64::Engine as _;

use crate::message::{Kind, Message};

/// `_meta` key carrying a 2026-07-28 request's protocol version.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key carrying a 2026-07-28 request's client capabilities.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key carrying a 2026-07-28 request's client info.
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// `_meta` key carrying a 2026-07-28 result's server info.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
/// The stateless revision.
pub const MODERN_VERSION: &str = "2026-07-28";
/// The newest handshake (legacy) revision.
pub const LATEST_LEGACY: &str = "2025-11-25";
/// Handshake revisions Warden relays, oldest first.
pub const LEGACY_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// Which protocol era a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2024-11-05 to 2025-11-25: `initialize`, sessions, server-to-client requests.
    Legacy,
    /// 2026-07-28: stateless, `_meta` on every request, `server/discover`.
    Modern,
}

/// The era a request declares: `Modern` when its `_meta` names a protocol version (every
/// 2026-07-28 request must), else `Legacy`.
pub fn request_era(msg: &Message<'_>) -> Era {
    match msg.meta(META_PROTOCOL_VERSION) {
        Some(serde_json::Value::String(_)) => Era::Modern,
        _ => Era::Legacy,
    }
}

/// The 2026-07-28 HTTP headers of one request, as received (names are matched by the caller,
/// case-insensitively).
#[derive(Debug, Default, Clone, Copy)]
pub struct HeaderCheck<'h> {
    /// `MCP-Protocol-Version`.
    pub protocol_version: Option<&'h str>,
    /// `Mcp-Method`.
    pub method: Option<&'h str>,
    /// `Mcp-Name`.
    pub name: Option<&'h str>,
}

/// Checks 2026-07-28 routing headers against the body. The gateway decides on the body; this
/// exists so that a header can never be a way around a rule: an intermediary that routes on
/// `Mcp-Name` must see the same tool the policy saw. On mismatch the answer is HTTP 400 with
/// JSON-RPC error -32020 and the message is never forwarded.
pub fn check_headers(msg: &Message<'_>, headers: HeaderCheck<'_>) -> Result<(), String> {
    let body_version = msg.meta(META_PROTOCOL_VERSION);
    match (
        headers.protocol_version,
        body_version.as_ref().and_then(|v| v.as_str()),
    ) {
        (Some(h), Some(b)) if h == b => {}
        (None, _) => return Err("missing MCP-Protocol-Version header".into()),
        (Some(h), b) => {
            return Err(format!(
                "MCP-Protocol-Version header value '{h}' does not match body value '{}'",
                b.unwrap_or("(none)")
            ));
        }
    }
    let Kind::Request { method, .. } = &msg.kind else {
        return Ok(());
    };
    match headers.method {
        Some(h) if h == method => {}
        Some(h) => {
            return Err(format!(
                "Mcp-Method header value '{h}' does not match body value '{method}'"
            ));
        }
        None => return Err("missing Mcp-Method header".into()),
    }
    let name_field = match method.as_ref() {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    };
    let body_name = name_field.and_then(|f| param_str(msg, f));
    match (name_field, headers.name.map(decode_header_value), body_name) {
        (None, None, _) => Ok(()),
        (None, Some(_), _) => Err(format!("unexpected Mcp-Name header on {method}")),
        (Some(_), None, _) => Err("missing Mcp-Name header".into()),
        (Some(field), Some(h), b) => match (h, b) {
            (Some(h), Some(b)) if h == b => Ok(()),
            (h, b) => Err(format!(
                "Mcp-Name header value '{}' does not match body value '{}' (params.{field})",
                h.unwrap_or_else(|| "(undecodable)".into()),
                b.unwrap_or_else(|| "(none)".into())
            )),
        },
    }
}

fn param_str(msg: &Message<'_>, field: &str) -> Option<String> {
    let params: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(msg.params?.get()).ok()?;
    params.get(field)?.as_str().map(str::to_owned)
}

/// Header values that are not header-safe travel as `=?base64?<base64 of UTF-8>?=`.
fn decode_header_value(v: &str) -> Option<String> {
    match v
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
        None => Some(v.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"connections.delete","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;

    fn h<'a>(v: &'a str, m: &'a str, n: Option<&'a str>) -> HeaderCheck<'a> {
        HeaderCheck {
            protocol_version: Some(v),
            method: Some(m),
            name: n,
        }
    }

    #[test]
    fn era_follows_meta() {
        let m = crate::parse(CALL).unwrap();
        assert_eq!(request_era(&m), Era::Modern);
        let m = crate::parse(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
        assert_eq!(request_era(&m), Era::Legacy);
    }

    #[test]
    fn headers_must_match_the_body() {
        let m = crate::parse(CALL).unwrap();
        assert!(
            check_headers(
                &m,
                h("2026-07-28", "tools/call", Some("connections.delete"))
            )
            .is_ok()
        );
        // A spoofed name is refused, whatever the header claims.
        let e = check_headers(&m, h("2026-07-28", "tools/call", Some("connections.list")));
        assert!(e.unwrap_err().contains("does not match"));
        assert!(
            check_headers(
                &m,
                h("2026-07-28", "tools/list", Some("connections.delete"))
            )
            .is_err()
        );
        assert!(check_headers(&m, h("2026-07-28", "tools/call", None)).is_err());
        assert!(
            check_headers(
                &m,
                h("2025-11-25", "tools/call", Some("connections.delete"))
            )
            .is_err()
        );
        let b64 = format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode("connections.delete")
        );
        assert!(check_headers(&m, h("2026-07-28", "tools/call", Some(&b64))).is_ok());
    }
}
