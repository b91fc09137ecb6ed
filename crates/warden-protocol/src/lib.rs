//! MCP and JSON-RPC, as the gateway's data path needs them: pure functions over raw bytes.
//!
//! Warden relays raw JSON-RPC (DESIGN.md section 2). This crate reads only what policy needs
//! (`jsonrpc`, `id`, `method`, `params.name`, `params.arguments`, `params._meta`, and the tool
//! array of a `tools/list` result) and edits messages by *splicing*: the bytes it does not
//! change are copied as they came, so unknown fields and future additions survive.
//!
//! Architecture invariant: no I/O, no clock, no global state. Everything here is a function of
//! its arguments, so it is fuzzable and testable without a runtime.
#![forbid(unsafe_code)]

mod bridge;
mod era;
mod message;
mod reply;
mod splice;
mod tools;

pub use bridge::{
    add_modern_meta, complete_result, discover_from_initialize, initialize_from_discover,
    modern_meta, remove_params, strip_modern_meta,
};
pub use era::{
    Era, HeaderCheck, LATEST_LEGACY, LEGACY_VERSIONS, META_CLIENT_CAPABILITIES, META_CLIENT_INFO,
    META_PROTOCOL_VERSION, META_SERVER_INFO, MODERN_VERSION, check_headers, request_era,
};
pub use message::{IdKey, Kind, Malformed, Message, parse};
pub use reply::{
    Decision, ErrorCode, denial_result, error_response, input_required_result, unknown_tool_result,
};
pub use splice::{replace_id, replace_span, span_of};
pub use tools::{
    CallParams, ListedTool, PINNED_FIELDS, arguments_digest, call_params, filter_tools_list,
    prefixed_tools, rename_call, tool_fingerprints, tool_names, tool_pin,
};
