//! Upstream servers: a child process on stdio, a Streamable HTTP URL, or a legacy HTTP+SSE URL.
//! Either way the rest of the gateway sees a [`Conn`]: raw messages out, raw messages and a
//! final close reason in.

mod child;
mod http;
mod sse;

use tokio::sync::mpsc;

pub use child::spawn_child;
pub use http::connect_http;
pub use reqwest::Url;
pub use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
pub use sse::connect_sse;

/// The HTTP client every HTTP and SSE upstream connection of this process shares: one
/// connection pool (sessions reuse each other's idle keep-alive connections) and one TLS
/// configuration, instead of a client built per session (its root store alone cost tens of
/// kilobytes and a TLS setup per session). Headers are per request, so nothing of one session
/// leaks into another.
fn shared_client() -> anyhow::Result<reqwest::Client> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client.clone());
    }
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()?;
    Ok(CLIENT.get_or_init(|| client).clone())
}

/// Where the upstream server is.
#[derive(Debug, Clone)]
pub enum UpstreamSpec {
    /// A program spoken to over its stdin/stdout (newline-delimited JSON-RPC).
    Command {
        /// Program to run.
        program: String,
        /// Its arguments.
        args: Vec<String>,
        /// Environment variables set for it, on top of the gateway's own (upstream credentials
        /// come from here, never from the client).
        env: Vec<(String, String)>,
        /// One process for every session of an HTTP endpoint (the gateway initializes it and
        /// answers each client's `initialize` itself), instead of one per session.
        shared: bool,
    },
    /// A Streamable HTTP endpoint.
    Http {
        /// The endpoint URL.
        url: reqwest::Url,
        /// Extra headers sent on every request (upstream credentials from the operator, never
        /// the client's).
        headers: reqwest::header::HeaderMap,
    },
    /// A legacy HTTP+SSE endpoint (protocol 2024-11-05): the URL of its event stream.
    Sse {
        /// The event stream's URL (the server names where to POST).
        url: reqwest::Url,
        /// Extra headers sent on the stream's GET and on every POST (upstream credentials from
        /// the operator, never the client's).
        headers: HeaderMap,
    },
}

impl UpstreamSpec {
    /// Opens one connection (spawns one process, prepares one HTTP session, or opens one SSE
    /// stream).
    pub async fn connect(&self, limits: &Limits) -> anyhow::Result<Conn> {
        match self {
            UpstreamSpec::Command {
                program, args, env, ..
            } => spawn_child(program, args, env, limits),
            UpstreamSpec::Http { url, headers } => {
                connect_http(url.clone(), headers.clone(), limits)
            }
            UpstreamSpec::Sse { url, headers } => connect_sse(url.clone(), headers.clone(), limits),
        }
    }

    /// A short description for logs and messages.
    pub fn describe(&self) -> String {
        match self {
            UpstreamSpec::Command { program, args, .. } => std::iter::once(program.as_str())
                .chain(args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
            UpstreamSpec::Http { url, .. } | UpstreamSpec::Sse { url, .. } => url.to_string(),
        }
    }
}

/// Size bounds on the data path.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest message accepted from a client, in bytes. Default 4 MiB.
    pub client_message_bytes: usize,
    /// Largest message accepted from an upstream, in bytes. Default 64 MiB (tool results may
    /// carry images and files).
    pub upstream_message_bytes: usize,
    /// How long a request may wait for the upstream's answer. Default: no limit.
    pub upstream_timeout: Option<std::time::Duration>,
    /// An HTTP session without requests for this long ends. Default 30 minutes.
    pub session_idle: std::time::Duration,
    /// Largest total size of one HTTP request's headers (names and values), in bytes; larger
    /// requests get 431. Default 16 KiB.
    pub max_header_bytes: usize,
    /// Requests in flight on one HTTP endpoint (503 beyond). Default: no limit.
    pub max_concurrent_requests: Option<usize>,
    /// Requests in flight in one HTTP session (429 beyond). Default: no limit.
    pub max_concurrent_per_session: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            client_message_bytes: 4 << 20,
            upstream_message_bytes: 64 << 20,
            upstream_timeout: None,
            session_idle: crate::downstream::http::SESSION_IDLE,
            max_header_bytes: 16 << 10,
            max_concurrent_requests: None,
            max_concurrent_per_session: None,
        }
    }
}

/// What an upstream connection reports.
#[derive(Debug)]
pub enum UpstreamEvent {
    /// One JSON-RPC message, as received.
    Message(String),
    /// The connection is gone (process exited, HTTP session ended); no more events follow.
    Closed(String),
}

/// One connection to an upstream. Dropping `tx` (or calling [`Conn::shutdown`]) ends it; a
/// child process is then given a moment to exit and is killed with its process group.
#[derive(Debug)]
pub struct Conn {
    /// Messages to the upstream.
    pub tx: mpsc::Sender<String>,
    /// Messages from the upstream.
    pub rx: mpsc::Receiver<UpstreamEvent>,
    /// Resolves when the connection's resources are released.
    pub done: tokio::sync::oneshot::Receiver<()>,
}

impl Conn {
    /// Closes the connection and waits until it is released (the child has exited).
    pub async fn shutdown(self) {
        drop(self.tx);
        drop(self.rx);
        let _ = self.done.await;
    }
}
