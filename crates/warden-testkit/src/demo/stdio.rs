//! The demo server over newline-delimited JSON-RPC (stdio or any byte stream).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::engine::{CallCtx, Engine, Inflight, Peer, Proto, Request, lock};
use super::{DemoEra, DemoOptions};
use crate::wire::{Kind, classify, error_response};

/// How long in-flight calls may finish after the input closes.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Serves the demo on this process's stdin/stdout until stdin closes.
///
/// Only JSON-RPC messages are written to stdout; diagnostics go to stderr.
pub async fn serve_stdio(opts: DemoOptions) -> anyhow::Result<()> {
    serve_io(tokio::io::stdin(), tokio::io::stdout(), opts).await
}

/// Serves the demo over any byte stream pair (one JSON-RPC message per line),
/// until `reader` reaches end of file. In-flight calls get 2 s to finish,
/// then are dropped.
pub async fn serve_io<R, W>(reader: R, writer: W, opts: DemoOptions) -> anyhow::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    serve_io_engine(reader, writer, Arc::new(Engine::new(&opts)?)).await
}

/// Serves `engine` over a byte stream pair (used by servers built on the
/// demo's transports with another catalogue, such as the conformance fixture).
pub(crate) async fn serve_io_engine<R, W>(
    reader: R,
    writer: W,
    engine: Arc<Engine>,
) -> anyhow::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let writer_task = tokio::spawn(write_lines(writer, rx));
    let conn = Conn::default();
    let mut tasks = JoinSet::new();
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).await? == 0 {
            break;
        }
        while tasks.try_join_next().is_some() {}
        on_line(&engine, &conn, &tx, &mut tasks, &buf);
    }
    // Nobody can answer a server request any more.
    conn.peer.abandon_all();
    let drained = tokio::time::timeout(DRAIN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.shutdown().await;
    }
    drop(tx);
    writer_task.await??;
    Ok(())
}

async fn write_lines<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::UnboundedReceiver<String>,
) -> anyhow::Result<()> {
    while let Some(line) = rx.recv().await {
        writer.write_all(line.as_bytes()).await?;
        writer.write_all(b"\n").await?;
        writer.flush().await?;
    }
    Ok(())
}

/// One stdio connection: at most one legacy session, plus stateless requests.
#[derive(Debug, Default)]
struct Conn {
    /// Negotiated version and client capabilities once `initialize` succeeded.
    legacy: Mutex<Option<(String, Value)>>,
    peer: Arc<Peer>,
    inflight: Arc<Inflight>,
}

fn on_line(
    engine: &Arc<Engine>,
    conn: &Conn,
    tx: &mpsc::UnboundedSender<String>,
    tasks: &mut JoinSet<()>,
    line: &[u8],
) {
    let send = |msg: String| {
        let _ = tx.send(msg);
    };
    let text = match std::str::from_utf8(line) {
        Ok(t) => t.trim(),
        Err(_) => {
            return send(error_response(
                &Value::Null,
                -32700,
                "Parse error: not UTF-8",
                None,
            ));
        }
    };
    if text.is_empty() {
        return;
    }
    let msg: Value = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            return send(error_response(
                &Value::Null,
                -32700,
                &format!("Parse error: {e}"),
                None,
            ));
        }
    };
    match classify(&msg) {
        Kind::Invalid => {
            let id = match msg.get("id") {
                Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
                _ => Value::Null,
            };
            send(error_response(
                &id,
                -32600,
                "Invalid Request: not a JSON-RPC 2.0 message",
                None,
            ));
        }
        Kind::Response => {
            conn.peer.resolve(&msg);
        }
        Kind::Notification => {
            if msg["method"] == "notifications/cancelled" {
                conn.inflight.cancel(msg.get("params"));
            }
        }
        Kind::Request => on_request(engine, conn, tx, tasks, Request::new(&msg, text)),
    }
}

fn on_request(
    engine: &Arc<Engine>,
    conn: &Conn,
    tx: &mpsc::UnboundedSender<String>,
    tasks: &mut JoinSet<()>,
    req: Request,
) {
    let send = |msg: String| {
        let _ = tx.send(msg);
    };
    if engine.era == DemoEra::LegacyOnly && req.method == "server/discover" {
        return send(error_response(
            &req.id,
            -32601,
            "Method not found: server/discover",
            None,
        ));
    }
    if req.method == "initialize" && !(engine.era != DemoEra::LegacyOnly && req.has_modern_meta()) {
        return match engine.initialize(&req) {
            Ok((response, version, caps)) => {
                *lock(&conn.legacy) = Some((version, caps));
                send(response);
            }
            Err(response) => send(response),
        };
    }
    let proto = if engine.era == DemoEra::StatelessOnly
        || (engine.era == DemoEra::Both && req.has_modern_meta())
    {
        match engine.modern_proto(&req, || Ok(())) {
            Ok(proto) => proto,
            Err(response) => return send(response),
        }
    } else {
        let session = lock(&conn.legacy).clone();
        match session {
            Some((version, caps)) => Proto::Legacy { version, caps },
            None if req.method == "ping" => Proto::Legacy {
                version: String::new(),
                caps: Value::Null,
            },
            None if engine.era == DemoEra::Both => match engine.modern_proto(&req, || Ok(())) {
                Ok(proto) => proto,
                Err(response) => return send(response),
            },
            None => {
                return send(error_response(
                    &req.id,
                    -32600,
                    "Invalid Request: the server is not initialized; send initialize first",
                    None,
                ));
            }
        }
    };
    let legacy = matches!(proto, Proto::Legacy { .. });
    let ctx = CallCtx {
        proto,
        out: tx.clone(),
        peer: legacy.then(|| conn.peer.clone()),
        cancel: Some(conn.inflight.register(&req.id)),
        cancel_on_disconnect: false,
    };
    let engine = engine.clone();
    let inflight = conn.inflight.clone();
    let tx = tx.clone();
    tasks.spawn(async move {
        let id = req.id.clone();
        let response = engine.handle(req, ctx).await;
        inflight.finish(&id);
        if let Some(response) = response {
            let _ = tx.send(response);
        }
    });
}
