//! Messages the gateway writes itself: denials, unknown-tool answers and JSON-RPC errors.

use serde::Serialize;

use crate::era::Era;

/// What the gateway decided, as shown to the agent in `_meta["warden/decision"]`.
#[derive(Debug, Clone, Serialize)]
pub struct Decision<'a> {
    /// `"deny"`, `"rate_limited"`, `"approval_required"` (an approval is pending),
    /// `"rejected"` (an approver said no) or `"expired"` (nobody answered in time).
    pub decision: &'a str,
    /// JSON Pointer into the policy naming the rule that decided.
    pub rule: &'a str,
    /// The reason, as in the text block (without the `Blocked by policy:` prefix).
    pub reason: &'a str,
    /// For limits: milliseconds until the counter has room again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// For approvals: the approval's id, what approvers answer and the agent can quote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<&'a str>,
}

/// JSON-RPC error codes the gateway uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// -32700: the bytes are not JSON.
    ParseError,
    /// -32600: JSON, but not a valid request.
    InvalidRequest,
    /// -32601: unknown method.
    MethodNotFound,
    /// -32602: invalid params.
    InvalidParams,
    /// -32603: the gateway failed (for example the upstream is gone).
    Internal,
    /// -32020: 2026-07-28 routing header missing or not matching the body.
    HeaderMismatch,
    /// -32022: unsupported protocol version.
    UnsupportedVersion,
    /// -32000: a server error (upstream unreachable, exited, timed out).
    Server,
}

impl ErrorCode {
    /// The numeric code.
    pub fn code(self) -> i64 {
        match self {
            ErrorCode::ParseError => -32700,
            ErrorCode::InvalidRequest => -32600,
            ErrorCode::MethodNotFound => -32601,
            ErrorCode::InvalidParams => -32602,
            ErrorCode::Internal => -32603,
            ErrorCode::HeaderMismatch => -32020,
            ErrorCode::UnsupportedVersion => -32022,
            ErrorCode::Server => -32000,
        }
    }
}

fn id_or_null(id: Option<&str>) -> &str {
    id.unwrap_or("null")
}

/// A JSON-RPC error response. `id` is raw JSON text (`None` gives `null`).
pub fn error_response(
    id: Option<&str>,
    code: ErrorCode,
    message: &str,
    data: Option<&serde_json::Value>,
) -> String {
    let mut error = serde_json::json!({"code": code.code(), "message": message});
    if let Some(data) = data {
        error["data"] = data.clone();
    }
    format!(
        r#"{{"jsonrpc":"2.0","id":{},"error":{}}}"#,
        id_or_null(id),
        error
    )
}

/// How a denial looks (DESIGN.md section 2): a normal `tools/call` result with `isError: true`,
/// a text block starting `Blocked by policy:`, and the machine-readable decision in `_meta`.
/// Never an HTTP error: SDKs tear the session down on those.
pub fn denial_result(id: &str, era: Era, decision: &Decision<'_>) -> String {
    let text = format!("Blocked by policy: {}", decision.reason);
    let mut result = serde_json::json!({
        "content": [{"type": "text", "text": text}],
        "isError": true,
        "_meta": {"warden/decision": decision},
    });
    if era == Era::Modern {
        result["resultType"] = "complete".into();
    }
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#)
}

/// A 2026-07-28 `input_required` result: the client answers `input_requests` (an object of
/// `{"method", "params"}` requests keyed by name) and retries the same request with the
/// answers in `inputResponses` and `request_state` echoed as `requestState`.
pub fn input_required_result(
    id: &str,
    input_requests: &serde_json::Value,
    request_state: &str,
) -> String {
    let result = serde_json::json!({
        "resultType": "input_required",
        "inputRequests": input_requests,
        "requestState": request_state,
    });
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#)
}

/// The answer to a call of a hidden tool: what the official SDKs answer for a tool that does
/// not exist (an `isError` result saying `Unknown tool: <name>`), with nothing that says a
/// policy was involved, so hiding does not leak names.
pub fn unknown_tool_result(id: &str, era: Era, tool: &str) -> String {
    let mut result = serde_json::json!({
        "content": [{"type": "text", "text": format!("Unknown tool: {tool}")}],
        "isError": true,
    });
    if era == Era::Modern {
        result["resultType"] = "complete".into();
    }
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denial_is_a_result_with_the_decision() {
        let d = Decision {
            decision: "rate_limited",
            rule: "/tools/connections.refresh/limits/0",
            reason: "rate limit reached",
            retry_after_ms: Some(1500),
            approval_id: None,
        };
        let out: serde_json::Value =
            serde_json::from_str(&denial_result("\"a\"", Era::Legacy, &d)).unwrap();
        assert_eq!(out["id"], "a");
        assert_eq!(out["result"]["isError"], true);
        assert_eq!(
            out["result"]["content"][0]["text"],
            "Blocked by policy: rate limit reached"
        );
        assert_eq!(
            out["result"]["_meta"]["warden/decision"]["retry_after_ms"],
            1500
        );
        assert!(out["result"].get("resultType").is_none());
        let out: serde_json::Value =
            serde_json::from_str(&denial_result("1", Era::Modern, &d)).unwrap();
        assert_eq!(out["result"]["resultType"], "complete");
    }

    #[test]
    fn errors_carry_code_and_null_id() {
        let out: serde_json::Value =
            serde_json::from_str(&error_response(None, ErrorCode::ParseError, "bad", None))
                .unwrap();
        assert_eq!(out["error"]["code"], -32700);
        assert!(out["id"].is_null());
    }
}
