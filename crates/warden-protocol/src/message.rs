//! Classifying one JSON-RPC message without re-serialising it.

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::splice::span_of;

/// A parsed view of one JSON-RPC 2.0 message. It borrows the original text; nothing is copied.
#[derive(Debug)]
pub struct Message<'a> {
    /// The message exactly as received.
    pub raw: &'a str,
    /// Request, notification or response.
    pub kind: Kind<'a>,
    /// `params`, untouched (requests and notifications).
    pub params: Option<&'a RawValue>,
    /// `result`, untouched (successful responses).
    pub result: Option<&'a RawValue>,
}

/// What a message is. Ids are kept as raw JSON text so `1` and `"1"` stay distinct.
#[derive(Debug)]
pub enum Kind<'a> {
    /// Has `method` and a non-null `id`: expects a response.
    Request {
        /// The request id as raw JSON.
        id: &'a RawValue,
        /// The method name.
        method: Cow<'a, str>,
    },
    /// Has `method` and no `id`.
    Notification {
        /// The method name.
        method: Cow<'a, str>,
    },
    /// Has `result` or `error`.
    Response {
        /// The id it answers; `None` for `null` (an error about an unreadable request).
        id: Option<&'a RawValue>,
        /// True when the response carries `error`.
        is_error: bool,
    },
}

/// A request id as a map key: its raw JSON text (`1` and `"1"` differ, as JSON-RPC says).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdKey(pub Box<str>);

impl IdKey {
    /// The key for a raw id.
    pub fn of(id: &RawValue) -> Self {
        IdKey(id.get().into())
    }
    /// The id as raw JSON text, ready to splice into a message.
    pub fn as_json(&self) -> &str {
        &self.0
    }
}

/// Why a message was refused. The gateway answers these itself and never forwards them.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Malformed {
    /// Not JSON at all.
    #[error("parse error: {0}")]
    NotJson(String),
    /// A JSON array: batches were removed from MCP in 2025-06-18 and Warden does not relay them.
    #[error("invalid request: JSON-RPC batches are not supported; send one message at a time")]
    Batch,
    /// JSON, but not a JSON-RPC 2.0 message.
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl Malformed {
    /// The JSON-RPC error code for this problem.
    pub fn error_code(&self) -> crate::ErrorCode {
        match self {
            Malformed::NotJson(_) => crate::ErrorCode::ParseError,
            Malformed::Batch | Malformed::Invalid(_) => crate::ErrorCode::InvalidRequest,
        }
    }

    /// The JSON-RPC error response answering it (id `null`: an unreadable message has none).
    pub fn response(&self) -> String {
        crate::error_response(None, self.error_code(), &self.to_string(), None)
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "nullable_raw")]
    id: Option<Option<&'a RawValue>>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

/// Keeps "absent" (`None`) apart from "null" (`Some(None)`).
fn nullable_raw<'de, D>(d: D) -> Result<Option<Option<&'de RawValue>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw: &'de RawValue = Deserialize::deserialize(d)?;
    Ok(Some(if raw.get() == "null" { None } else { Some(raw) }))
}

/// Parse one message. Duplicate top-level keys are refused (serde reports them), so the gateway
/// and the upstream can never read different `method`s or `id`s from the same bytes.
pub fn parse(raw: &str) -> Result<Message<'_>, Malformed> {
    let trimmed = raw.trim_start();
    if trimmed.starts_with('[') {
        return Err(Malformed::Batch);
    }
    if !trimmed.starts_with('{') {
        // Give serde's position-bearing message for non-JSON; a valid non-object is still invalid.
        return match serde_json::from_str::<serde::de::IgnoredAny>(raw) {
            Err(e) => Err(Malformed::NotJson(e.to_string())),
            Ok(_) => Err(Malformed::Invalid("a message must be a JSON object".into())),
        };
    }
    let env: Envelope<'_> = serde_json::from_str(raw).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            Malformed::NotJson(e.to_string())
        } else {
            Malformed::Invalid(e.to_string())
        }
    })?;
    if env.jsonrpc.as_deref() != Some("2.0") {
        return Err(Malformed::Invalid(r#""jsonrpc" must be "2.0""#.into()));
    }
    let id = match env.id {
        Some(Some(id)) => {
            let first = id.get().as_bytes().first().copied();
            if !matches!(first, Some(b'"' | b'-' | b'0'..=b'9')) {
                return Err(Malformed::Invalid(
                    "\"id\" must be a string or a number".into(),
                ));
            }
            Some(id)
        }
        _ => None,
    };
    let kind = match (env.method, env.result.is_some(), env.error.is_some()) {
        (Some(method), false, false) => match (id, env.id.is_some()) {
            (Some(id), _) => Kind::Request { id, method },
            (None, false) => Kind::Notification { method },
            (None, true) => {
                return Err(Malformed::Invalid(
                    "a request's \"id\" must not be null".into(),
                ));
            }
        },
        (None, true, false) | (None, false, true) => Kind::Response {
            id,
            is_error: env.error.is_some(),
        },
        (None, true, true) => {
            return Err(Malformed::Invalid(
                "a response has \"result\" or \"error\", not both".into(),
            ));
        }
        (None, false, false) => {
            return Err(Malformed::Invalid(
                "a message needs \"method\" (request or notification) or \"result\"/\"error\" (response)".into(),
            ));
        }
        (Some(_), _, _) => {
            return Err(Malformed::Invalid(
                "a message with \"method\" must not carry \"result\" or \"error\"".into(),
            ));
        }
    };
    Ok(Message {
        raw,
        kind,
        params: env.params,
        result: env.result,
    })
}

impl<'a> Message<'a> {
    /// The method, for requests and notifications.
    pub fn method(&self) -> Option<&str> {
        match &self.kind {
            Kind::Request { method, .. } | Kind::Notification { method } => Some(method),
            Kind::Response { .. } => None,
        }
    }

    /// The id of a request or response.
    pub fn id(&self) -> Option<&'a RawValue> {
        match self.kind {
            Kind::Request { id, .. } => Some(id),
            Kind::Response { id, .. } => id,
            Kind::Notification { .. } => None,
        }
    }

    /// Where the id's bytes sit in [`Message::raw`], for splicing.
    pub fn id_span(&self) -> Option<Range<usize>> {
        self.id().map(|id| span_of(self.raw, id.get()))
    }

    /// Reads `params._meta[key]` as JSON, if present.
    pub fn meta(&self, key: &str) -> Option<serde_json::Value> {
        #[derive(Deserialize)]
        struct P<'a> {
            #[serde(borrow, rename = "_meta")]
            meta: Option<&'a RawValue>,
        }
        let p: P<'_> = serde_json::from_str(self.params?.get()).ok()?;
        let meta: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(p.meta?.get()).ok()?;
        meta.get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_three_kinds() {
        let m = parse(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{}}"#).unwrap();
        assert!(matches!(m.kind, Kind::Request { ref method, .. } if method == "tools/call"));
        assert_eq!(m.id().unwrap().get(), "7");
        let m = parse(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert!(matches!(m.kind, Kind::Notification { .. }));
        let m = parse(r#"{"jsonrpc":"2.0","id":"a","error":{"code":1,"message":"x"}}"#).unwrap();
        assert!(matches!(m.kind, Kind::Response { is_error: true, .. }));
        let m = parse(r#"{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"x"}}"#).unwrap();
        assert!(matches!(m.kind, Kind::Response { id: None, .. }));
    }

    #[test]
    fn refuses_what_is_not_json_rpc() {
        assert!(matches!(parse("{nope"), Err(Malformed::NotJson(_))));
        assert!(matches!(parse("nope"), Err(Malformed::NotJson(_))));
        assert_eq!(parse("[]").unwrap_err(), Malformed::Batch);
        assert!(matches!(parse("42"), Err(Malformed::Invalid(_))));
        assert!(matches!(
            parse(r#"{"id":1,"method":"x"}"#),
            Err(Malformed::Invalid(_))
        ));
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#),
            Err(Malformed::Invalid(_))
        ));
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#),
            Err(Malformed::Invalid(_))
        ));
        // Duplicate keys could make the gateway and the upstream disagree: refused.
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}"#),
            Err(Malformed::Invalid(_))
        ));
    }

    #[test]
    fn id_span_points_at_the_id_bytes() {
        let raw = r#"{"jsonrpc":"2.0", "id" : "abc" ,"method":"x"}"#;
        let m = parse(raw).unwrap();
        assert_eq!(&raw[m.id_span().unwrap()], r#""abc""#);
    }

    #[test]
    fn reads_meta_keys() {
        let raw =
            r#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":{"progressToken":"t"}}}"#;
        assert_eq!(parse(raw).unwrap().meta("progressToken").unwrap(), "t");
    }
}
