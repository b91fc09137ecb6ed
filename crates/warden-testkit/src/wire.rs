//! JSON-RPC framing helpers shared by the demo server and the client.

use serde_json::{Value, json};

/// What a parsed JSON-RPC message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Has `method` and `id`.
    Request,
    /// Has `method`, no `id`.
    Notification,
    /// Has `id` and `result` or `error`, no `method`.
    Response,
    /// Anything else (not an object, no `jsonrpc: "2.0"`, ...).
    Invalid,
}

/// Classifies a message by the fields JSON-RPC 2.0 defines.
pub(crate) fn classify(msg: &Value) -> Kind {
    let Some(obj) = msg.as_object() else {
        return Kind::Invalid;
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Kind::Invalid;
    }
    let id_ok = matches!(obj.get("id"), Some(Value::String(_) | Value::Number(_)));
    match (obj.get("method"), obj.contains_key("id")) {
        (Some(Value::String(_)), true) if id_ok => Kind::Request,
        (Some(Value::String(_)), false) => Kind::Notification,
        (None, true) if obj.contains_key("result") || obj.contains_key("error") => Kind::Response,
        _ => Kind::Invalid,
    }
}

/// A stable map key for a request id (`7` and `"7"` stay distinct).
pub(crate) fn id_key(id: &Value) -> String {
    id.to_string()
}

/// A JSON-RPC error response, serialized on one line.
pub(crate) fn error_response(id: &Value, code: i64, message: &str, data: Option<Value>) -> String {
    let mut error = json!({ "code": code, "message": message });
    if let (Some(data), Some(obj)) = (data, error.as_object_mut()) {
        obj.insert("data".into(), data);
    }
    json!({ "jsonrpc": "2.0", "id": id, "error": error }).to_string()
}

/// A JSON-RPC result response whose `result` is already serialized JSON text.
pub(crate) fn result_response_raw(id: &Value, result_json: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result_json}}}"#)
}

/// A JSON-RPC result response.
pub(crate) fn result_response(id: &Value, result: &Value) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "result": result }).to_string()
}

/// The error code of a serialized response, if it is an error.
pub(crate) fn error_code(response: &str) -> Option<i64> {
    let v: Value = serde_json::from_str(response).ok()?;
    v.get("error")?.get("code")?.as_i64()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard Base64 with padding.
pub(crate) fn base64_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard Base64 (padding optional); `None` on any invalid input.
pub(crate) fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let trimmed = input.trim_end_matches('=');
    if input.len() - trimmed.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in trimmed.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    // Leftover bits must be padding zeros, and a lone 6-bit group is invalid.
    if bits >= 6 || (acc & ((1 << bits) - 1)) != 0 {
        return None;
    }
    Some(out)
}

const SENTINEL_PREFIX: &str = "=?base64?";
const SENTINEL_SUFFIX: &str = "?=";

/// Encodes a value for `Mcp-Name` / `Mcp-Param-*`: as-is when it is plain
/// header-safe ASCII, else the `=?base64?...?=` sentinel form (also used when
/// the plain value itself looks like a sentinel, to stay unambiguous).
pub(crate) fn encode_header_value(value: &str) -> String {
    let safe = !value.is_empty()
        && value.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && !value.starts_with(' ')
        && !value.ends_with(' ');
    let looks_encoded = value.starts_with(SENTINEL_PREFIX) && value.ends_with(SENTINEL_SUFFIX);
    if safe && !looks_encoded {
        value.to_owned()
    } else {
        format!(
            "{SENTINEL_PREFIX}{}{SENTINEL_SUFFIX}",
            base64_encode(value.as_bytes())
        )
    }
}

/// Decodes a header value that may use the Base64 sentinel; `None` when the
/// sentinel's payload is not valid Base64 of UTF-8.
pub(crate) fn decode_header_value(value: &str) -> Option<String> {
    match value
        .strip_prefix(SENTINEL_PREFIX)
        .and_then(|v| v.strip_suffix(SENTINEL_SUFFIX))
    {
        Some(payload) => String::from_utf8(base64_decode(payload)?).ok(),
        None => Some(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_matches_the_spec_examples() {
        assert_eq!(
            base64_encode("Hello, 世界".as_bytes()),
            "SGVsbG8sIOS4lueVjA=="
        );
        assert_eq!(base64_encode(b" padded "), "IHBhZGRlZCA=");
        assert_eq!(base64_encode(b"line1\nline2"), "bGluZTEKbGluZTI=");
        for s in ["", "a", "ab", "abc", "abcd", "é€😀"] {
            assert_eq!(
                base64_decode(&base64_encode(s.as_bytes())).as_deref(),
                Some(s.as_bytes())
            );
        }
        assert_eq!(base64_decode("a"), None);
        assert_eq!(base64_decode("ab!="), None);
    }

    #[test]
    fn header_values_use_the_sentinel_only_when_needed() {
        assert_eq!(
            encode_header_value("connections.refresh"),
            "connections.refresh"
        );
        assert_eq!(
            encode_header_value("=?base64?literal?="),
            "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="
        );
        assert_eq!(
            encode_header_value("Hello, 世界"),
            "=?base64?SGVsbG8sIOS4lueVjA==?="
        );
        assert_eq!(
            decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(decode_header_value("plain").as_deref(), Some("plain"));
        assert_eq!(decode_header_value("=?base64?***?="), None);
    }

    #[test]
    fn classify_follows_json_rpc() {
        assert_eq!(
            classify(&json!({"jsonrpc":"2.0","id":1,"method":"x"})),
            Kind::Request
        );
        assert_eq!(
            classify(&json!({"jsonrpc":"2.0","method":"x"})),
            Kind::Notification
        );
        assert_eq!(
            classify(&json!({"jsonrpc":"2.0","id":"a","result":{}})),
            Kind::Response
        );
        assert_eq!(
            classify(&json!({"jsonrpc":"2.0","id":null,"method":"x"})),
            Kind::Invalid
        );
        assert_eq!(classify(&json!([1])), Kind::Invalid);
        assert_eq!(classify(&json!({"id":1,"method":"x"})), Kind::Invalid);
    }
}
