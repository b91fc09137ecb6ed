//! The demo MCP server bundled with Warden (`warden demo` runs it as its
//! upstream; tests run it in-process or as `warden-demo-server`).
//!
//! # Tools
//!
//! The tools mirror the Executor and SendIt seed servers and act on in-memory
//! state (three seeded connections `conn-42` github, `conn-7` slack, `conn-13`
//! stripe; a global run counter; an operation counter):
//!
//! | tool | kind | arguments |
//! |---|---|---|
//! | `connections.refresh` | execute | `connection_id` (required); has an `outputSchema` and returns `structuredContent` |
//! | `connections.list` | read | `status` (optional); has `icons` |
//! | `connections.delete` | destructive | `connection_id` (required); unknown ids are tool errors |
//! | `execute_connector_operation` | execute | `connector`, `operation`, `params`; has `_meta: {"demo/owner":"warden"}` |
//! | `get_connector_capabilities` | read | `connector`; has the unknown field `"x-future":{"keep":[1,2.50,"é"]}` |
//!
//! The catalog is served byte for byte from [`TOOLS_JSON`], so a test can
//! check that `2.50` and `"é"` survived a gateway. Unknown tools and bad
//! arguments are answered as tool errors (`isError: true`), as the official
//! SDKs do.
//!
//! # Test behaviours (extra `tools/call` arguments, any tool)
//!
//! Applied in this order after the call is logged:
//!
//! - `"sleep_ms": N` (capped at 30000) waits N ms. If the request's
//!   `_meta.progressToken` is set, a `notifications/progress` (`progress` = ms
//!   elapsed, `total` = N) is sent every 100 ms, the last one at N. A
//!   `notifications/cancelled` naming the request id stops it and no response
//!   is sent; on 2026-07-28 over HTTP, closing the response stream does the
//!   same.
//! - `"fail": "error"` answers the JSON-RPC error `-32000 "upstream failure
//!   requested"`.
//! - `"ask": "confirm"` asks the client to confirm. Legacy era: the server sends
//!   its own `elicitation/create` request (ids `"srv-1"`, `"srv-2"`, ...) on the
//!   request's SSE stream (HTTP) or stdout (stdio), waits up to 60 s for the
//!   client's response, and the result gains a text block
//!   `Client answered: action=<action> content=<content JSON>`; a declined or
//!   cancelled answer skips the tool's effect. The client must have declared
//!   the `elicitation` capability in `initialize`. 2026-07-28: the server
//!   answers `resultType: "input_required"` with `inputRequests.confirm` (an
//!   `elicitation/create`) and a `requestState`; the retry carrying
//!   `inputResponses.confirm` and the same `requestState` completes the same
//!   way. Without `elicitation` in `clientCapabilities` the answer is `-32021`.
//! - `"fail": "tool"` answers a result with `isError: true`.
//!
//! # Large catalogs
//!
//! [`DemoOptions::extra_tools`] (`--extra-tools N`) appends N synthetic read
//! tools `bench.tool_0000`, `bench.tool_0001`, ... after [`TOOLS_JSON`], each
//! with a description, an input schema and annotations of a typical size;
//! calling one answers `"<name>: ok"`. Benchmarks list them; the catalog is
//! built once, at start.
//!
//! # Call log
//!
//! With [`DemoOptions::log`] set, every received `tools/call` (valid or not,
//! before any behaviour runs) is appended to that file as one JSON line and
//! flushed before the call is answered:
//! `{"tool":"connections.refresh","arguments":{...},"id":7,"protocol":"2025-11-25"}`.
//! `arguments` is the request's own JSON text (line breaks turned into spaces)
//! and `protocol` the version the call was served under. A 2026-07-28
//! `input_required` round trip logs two lines (one per `tools/call`).
//!
//! # Eras
//!
//! [`DemoEra::Both`] (the default) serves both eras on one endpoint/process:
//!
//! - **Legacy** (2025-03-26, 2025-06-18, 2025-11-25): `initialize` answers the
//!   requested version if supported, else `2025-11-25`, with capabilities
//!   `{"tools":{"listChanged":true}}` and serverInfo `warden-demo`. Requests
//!   other than `ping` before `initialize` are rejected (`-32602` in `Both`,
//!   which also names the 2026-07-28 `_meta`; `-32600` in `LegacyOnly`).
//! - **2026-07-28**: a request whose `params._meta` carries
//!   `io.modelcontextprotocol/protocolVersion` is served statelessly, checked
//!   in this order: missing `protocolVersion`/`clientCapabilities` → `-32602`;
//!   on HTTP, `MCP-Protocol-Version`/`Mcp-Method`/`Mcp-Name` missing, invalid
//!   or different from the body (Base64 sentinel decoded) → `-32020`; a
//!   non-string version → `-32602`; a version other than 2026-07-28 → `-32022`
//!   with `data.supported`/`data.requested`. Methods: `server/discover`,
//!   `tools/list`, `tools/call` (`ping` does not exist in this revision). Every
//!   result carries `resultType` and `_meta["io.modelcontextprotocol/serverInfo"]`;
//!   `tools/list` and `server/discover` also carry `ttlMs: 0` and
//!   `cacheScope: "private"`.
//!
//! On stdio one process may serve both eras at once: `initialize` sets up the
//! legacy session, and requests with 2026-07-28 `_meta` are served statelessly
//! beside it. [`DemoEra::LegacyOnly`] answers `server/discover` with `-32601`
//! and treats 2026-07-28 requests as legacy ones. [`DemoEra::StatelessOnly`]
//! rejects `initialize` with `-32022`, naming `supported: ["2026-07-28"]` and
//! the `requested` version (HTTP 400), as a modern-only server should.
//!
//! Unknown methods are `-32601`; malformed JSON is `-32700` with `id: null`;
//! anything else that is not a JSON-RPC 2.0 message (batches included) is
//! `-32600`.
//!
//! # Transports
//!
//! - [`serve_stdio`] / [`serve_io`]: newline-delimited JSON-RPC; nothing but
//!   messages on the output (diagnostics go to stderr). Returns when the input
//!   closes, after giving in-flight calls up to 2 s to finish.
//! - [`serve_http`]: Streamable HTTP at `/mcp`. A POST takes the 2026-07-28
//!   path when its `MCP-Protocol-Version` header names a non-handshake version
//!   or, without that header, when its body carries 2026-07-28 `_meta` (the
//!   Python SDK's routing); otherwise the legacy path. Legacy: `initialize`
//!   mints `Mcp-Session-Id`; later requests without it get 400, with an
//!   unknown one 404; an unsupported `MCP-Protocol-Version` gets 400;
//!   notifications and responses get 202; `GET` opens the session's SSE stream
//!   (one per session, else 409); `DELETE` ends the session (200); JSON-RPC
//!   errors travel with 200; a client disconnect is not a cancellation.
//!   2026-07-28: POST only, no sessions, HTTP status from the error code (400
//!   for -32700/-32600/-32602/-32020/-32021/-32022, 404 for -32601, else 200);
//!   `GET`/`DELETE` get 405 (`Allow: POST`) in `StatelessOnly`. Both eras: a
//!   `tools/call` with a progress token, `sleep_ms` or (legacy) `ask` is
//!   answered as an SSE stream (`event: message`, no event ids), everything
//!   else as JSON; POSTs must `Accept` both `application/json` and
//!   `text/event-stream` (else 406) and send `Content-Type: application/json`
//!   (else 415); an `Origin` other than `localhost`, `127.0.0.1` or `[::1]`
//!   gets 403.

pub(crate) mod engine;
pub(crate) mod http;
pub(crate) mod stdio;
mod tools;

use std::path::PathBuf;

pub use http::serve_http;
pub use stdio::{serve_io, serve_stdio};
pub use tools::{TOOL_NAMES, TOOLS_JSON};

/// The demo server's `serverInfo.name` (legacy) and
/// `_meta["io.modelcontextprotocol/serverInfo"].name` (2026-07-28).
pub const SERVER_NAME: &str = "warden-demo";

/// Which protocol eras the demo server speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DemoEra {
    /// Both eras (the default): `initialize` sessions and stateless 2026-07-28 requests.
    #[default]
    Both,
    /// Only the `initialize` era: `server/discover` is `-32601` and 2026-07-28
    /// `_meta` is ignored, like a server built before 2026.
    LegacyOnly,
    /// Only 2026-07-28: `initialize` is rejected, no sessions, no GET stream.
    StatelessOnly,
}

/// How to run the demo server. The default logs nothing and speaks both eras.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// File to append one JSON line per received `tools/call` to (created if
    /// missing). Default: no log.
    pub log: Option<PathBuf>,
    /// Protocol eras to speak. Default: [`DemoEra::Both`].
    pub era: DemoEra,
    /// Synthetic tools listed after the catalog (`bench.tool_0000`, ...), for
    /// benchmarks of large catalogs; calling one answers a short text. Default: 0.
    pub extra_tools: usize,
}
