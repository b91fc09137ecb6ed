//! The client speaks MCP on the gateway's stdin/stdout: a desktop client spawns `warden run`
//! in place of the server.

use std::sync::Arc;

use tokio::sync::mpsc;
use warden_protocol::{ErrorCode, error_response};

use crate::guard::{Guard, Principal};
use crate::lines::{Line, LineReader};
use crate::relay::{Caller, Relay, RelayOptions};
use crate::upstream::{Limits, UpstreamEvent, UpstreamSpec};

/// How a stdio session ended.
#[derive(Debug)]
pub enum StdioEnd {
    /// The client closed stdin: a normal exit.
    ClientClosed,
    /// The upstream went away first; the reason was reported to the client.
    UpstreamClosed(String),
}

/// Relays between this process's stdin/stdout and one upstream connection until either side
/// ends. Stdout carries only JSON-RPC messages; logs go to stderr.
pub async fn serve_stdio(
    guard: Arc<Guard>,
    upstream: &UpstreamSpec,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<StdioEnd> {
    let conn = upstream.connect(&limits).await?;
    let (out_tx, out_rx) = mpsc::channel::<String>(1024);
    let writer = tokio::spawn(crate::lines::write_lines(client_output(), out_rx));
    let relay = Relay::new(
        conn.tx.clone(),
        RelayOptions {
            server_out: Some(out_tx.clone()),
            timeout: limits.upstream_timeout,
        },
    );
    let caller = Caller {
        guard,
        who: Principal::local(),
        session: format!("stdio-{}", std::process::id()),
        declared: None,
    };
    let crate::upstream::Conn { tx, mut rx, done } = conn;
    drop(tx);
    let (closed_tx, mut closed_rx) = mpsc::channel::<String>(1);
    let pump_relay = relay.clone();
    let pump = tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            match ev {
                UpstreamEvent::Message(m) => pump_relay.upstream_message(m).await,
                UpstreamEvent::Closed(why) => {
                    pump_relay.upstream_closed(&why).await;
                    let _ = closed_tx.send(why).await;
                    break;
                }
            }
        }
    });

    let mut lines = LineReader::new(client_input(), limits.client_message_bytes);
    tokio::pin!(shutdown);
    let end = loop {
        tokio::select! {
            _ = &mut shutdown => break StdioEnd::ClientClosed,
            line = lines.next() => match line {
                Ok(None) => break StdioEnd::ClientClosed,
                Ok(Some(Line::Message(line))) if line.trim().is_empty() => {}
                Ok(Some(Line::Message(line))) => {
                    relay.client_message(&line, &out_tx, &caller).await;
                }
                Ok(Some(Line::TooLong)) => {
                    let why = format!(
                        "message larger than {} bytes; not forwarded",
                        limits.client_message_bytes
                    );
                    let _ = out_tx
                        .send(error_response(None, ErrorCode::InvalidRequest, &why, None))
                        .await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading stdin failed");
                    break StdioEnd::ClientClosed;
                }
            },
            why = closed_rx.recv() => {
                break StdioEnd::UpstreamClosed(why.unwrap_or_default());
            }
        }
    };
    // Close the upstream (stdin EOF, then terminate), flush what is owed to the client.
    drop(relay);
    pump.abort();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(6), done).await;
    drop(out_tx);
    let _ = writer.await;
    Ok(end)
}

/// The client's side of stdin. When it is a pipe (as when a client starts `warden run`), it is
/// read directly by the event loop; `tokio::io::stdin` would hand every read to a blocking
/// thread and back, a pair of thread switches per message. Anything else (a terminal, a
/// file) falls back to `tokio::io::stdin`.
fn client_input() -> Box<dyn tokio::io::AsyncRead + Unpin + Send> {
    use std::os::fd::AsFd;
    let pipe = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .and_then(tokio::net::unix::pipe::Receiver::from_owned_fd);
    match pipe {
        Ok(pipe) => Box::new(pipe),
        Err(_) => Box::new(tokio::io::stdin()),
    }
}

/// The client's side of stdout: a pipe written directly by the event loop, else
/// `tokio::io::stdout` (see [`client_input`]).
fn client_output() -> Box<dyn tokio::io::AsyncWrite + Unpin + Send> {
    use std::os::fd::AsFd;
    let pipe = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .and_then(tokio::net::unix::pipe::Sender::from_owned_fd);
    match pipe {
        Ok(pipe) => Box::new(pipe),
        Err(_) => Box::new(tokio::io::stdout()),
    }
}
