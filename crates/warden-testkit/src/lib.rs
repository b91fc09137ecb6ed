//! Warden's test kit: the demo MCP server bundled with Warden, and a small MCP
//! client for end-to-end tests.
//!
//! - [`demo`] is a realistic MCP server (the tools of the Executor and SendIt
//!   seed servers) that speaks both protocol eras on stdio and Streamable HTTP.
//!   `warden demo` runs it as its upstream, and tests use it to prove what
//!   reached an upstream (it appends every `tools/call` to a log file).
//! - [`conformance`] is the fixture the official conformance suite's server
//!   scenarios run against, directly and through Warden (the demo's engine and
//!   transports with another catalogue).
//! - [`client`] is a deliberately small MCP client over Streamable HTTP or a
//!   child's stdio, for tests and for `warden demo`'s scripted session.
//!
//! Both sides relay JSON as text where it matters (the tool catalog, logged
//! arguments), so tests can check that bytes survive a gateway unchanged.

#![forbid(unsafe_code)]

pub mod client;
pub mod conformance;
pub mod demo;
mod wire;

/// The stateless ("modern") protocol revision: per-request `_meta`,
/// `server/discover`, `resultType`, `input_required`.
pub const MODERN_VERSION: &str = "2026-07-28";

/// The newest handshake ("legacy") revision; the demo server counter-offers it
/// when a client asks `initialize` for a version it does not support.
pub const LATEST_LEGACY_VERSION: &str = "2025-11-25";

/// Every handshake revision the demo server and the client accept, newest first.
pub const LEGACY_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// `_meta` key carrying a 2026-07-28 request's protocol version (required).
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// `_meta` key carrying a 2026-07-28 request's client capabilities (required).
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

/// `_meta` key carrying a 2026-07-28 request's client name and version (optional).
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";

/// `_meta` key carrying the server's name and version on 2026-07-28 results.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
