//! The peer gateway measured beside Warden: the Python `mcp-proxy`, installed
//! by `bench/peer/setup.sh`, exposing a stdio server over Streamable HTTP.

/// How the report names it.
pub const NAME: &str = "mcp-proxy 0.13.0 (Python)";

/// Its arguments before `--port PORT -- COMMAND`: loopback only, and quiet
/// (at its default level it logs a line per request). It answers JSON, keeps a
/// session per `initialize`, and relays every session to one upstream process.
pub const ARGS: [&str; 4] = ["--host", "127.0.0.1", "--log-level", "WARNING"];

/// The path of its Streamable HTTP endpoint.
pub const PATH: &str = "/mcp";
