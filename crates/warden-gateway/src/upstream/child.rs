//! An upstream server run as a child process.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};

use super::{Conn, Limits, UpstreamEvent};
use crate::lines::{Line, LineReader};

/// Spawns `program args` with piped stdin/stdout (stderr is inherited, so the server's logs
/// reach the operator) in its own process group, so that shutdown reaches the whole tree
/// (`npx`, shells and wrappers spawn grandchildren).
pub fn spawn_child(
    program: &str,
    args: &[String],
    env: &[(String, String)],
    limits: &Limits,
) -> anyhow::Result<Conn> {
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!("cannot start upstream `{program}`: {e} (is it installed and on PATH?)")
        })?;
    let pid = child.id();
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("child stdin missing"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("child stdout missing"))?;
    let (tx, to_child) = mpsc::channel::<String>(256);
    let (events, rx) = mpsc::channel(256);
    let (done_tx, done) = oneshot::channel();
    let (exit_tx, exit_rx) = oneshot::channel::<String>();

    // Writer: one message per line. Ends when the gateway drops its sender; stdin then closes,
    // which is how MCP asks a stdio server to exit.
    let (stdin_closed_tx, stdin_closed) = oneshot::channel::<()>();
    tokio::spawn(async move {
        crate::lines::write_lines(stdin, to_child).await;
        let _ = stdin_closed_tx.send(());
    });

    // Reader: lines from stdout. Anything that is not one JSON-RPC message per line is the
    // relay's to refuse; oversized lines are skipped with a log line, never buffered whole.
    let max = limits.upstream_message_bytes;
    let reader_events = events.clone();
    tokio::spawn(async move {
        let mut lines = LineReader::new(stdout, max);
        loop {
            match lines.next().await {
                Ok(None) => break,
                Ok(Some(Line::Message(line))) if line.trim().is_empty() => {}
                Ok(Some(Line::Message(line))) => {
                    if reader_events
                        .send(UpstreamEvent::Message(line))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Ok(Some(Line::TooLong)) => {
                    tracing::error!(max, "upstream sent a message over the size limit; dropped");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading upstream stdout failed");
                    break;
                }
            }
        }
        let reason = exit_rx
            .await
            .unwrap_or_else(|_| "upstream process closed its output".into());
        let _ = reader_events.send(UpstreamEvent::Closed(reason)).await;
    });

    // Supervisor: owns the child. Reports its exit, or, when the gateway closes the
    // connection, waits briefly for a clean exit and then terminates the process group.
    tokio::spawn(async move {
        let status = tokio::select! {
            status = child.wait() => status,
            _ = stdin_closed => {
                match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
                    Ok(status) => status,
                    Err(_) => {
                        signal_group(pid, nix::sys::signal::Signal::SIGTERM);
                        match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
                            Ok(status) => status,
                            Err(_) => {
                                signal_group(pid, nix::sys::signal::Signal::SIGKILL);
                                child.wait().await
                            }
                        }
                    }
                }
            }
        };
        // Grandchildren that outlive the leader are ended too.
        signal_group(pid, nix::sys::signal::Signal::SIGTERM);
        let reason = match status {
            Ok(s) => format!("upstream process exited ({s})"),
            Err(e) => format!("upstream process could not be waited for: {e}"),
        };
        let _ = exit_tx.send(reason);
        let _ = done_tx.send(());
    });

    Ok(Conn { tx, rx, done })
}

fn signal_group(pid: Option<u32>, signal: nix::sys::signal::Signal) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), signal);
    }
}
