//! The in-process setup the relay tests share: the bundled demo server on an in-memory pipe,
//! and a relay in front of it with its upstream pump running.

#![allow(dead_code, clippy::unwrap_used)] // each test binary uses a part; a failed unwrap fails the test

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use warden_gateway::relay::{Relay, RelayOptions};
use warden_testkit::demo::{DemoEra, DemoOptions};

/// A relay in front of the demo server.
pub struct DemoRelay {
    /// The relay; its upstream messages are pumped in a task of their own.
    pub relay: Arc<Relay>,
    /// The demo server's log: one JSON line per call that reached it.
    pub log: tempfile::NamedTempFile,
    /// What the relay sends the client unasked (server requests, notifications).
    pub server_out: mpsc::Receiver<String>,
}

/// Starts the demo server speaking `era` on a pipe, and a relay to it whose requests time out
/// after `timeout`.
pub fn demo_relay(era: DemoEra, timeout: Duration) -> DemoRelay {
    let log = tempfile::NamedTempFile::new().unwrap();
    let (gateway_end, server_end) = tokio::io::duplex(1 << 20);
    let (server_read, server_write) = tokio::io::split(server_end);
    let opts = DemoOptions {
        log: Some(log.path().to_owned()),
        era,
        ..DemoOptions::default()
    };
    tokio::spawn(warden_testkit::demo::serve_io(
        server_read,
        server_write,
        opts,
    ));
    let (read, mut write) = tokio::io::split(gateway_end);
    let (up_tx, mut up_rx) = mpsc::channel::<String>(64);
    tokio::spawn(async move {
        while let Some(mut m) = up_rx.recv().await {
            m.push('\n');
            if write.write_all(m.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let (out_tx, server_out) = mpsc::channel(64);
    let relay = Relay::new(
        up_tx,
        RelayOptions {
            server_out: Some(out_tx),
            timeout: Some(timeout),
        },
    );
    let pump = relay.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            pump.upstream_message(line).await;
        }
        pump.upstream_closed("upstream process exited").await;
    });
    DemoRelay {
        relay,
        log,
        server_out,
    }
}
