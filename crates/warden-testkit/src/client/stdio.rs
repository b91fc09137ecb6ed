//! The client over newline-delimited JSON-RPC (a child's stdio, or any stream).

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::{ClientEra, Core, shared_accessors};

/// Longest `request` waits for its response.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);

/// An MCP client over a child's stdio (see the [module docs](super)).
pub struct McpStdioClient {
    child: Option<Child>,
    writer: Option<Box<dyn AsyncWrite + Unpin + Send>>,
    lines: mpsc::UnboundedReceiver<String>,
    core: Core,
}

impl std::fmt::Debug for McpStdioClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpStdioClient")
            .field("child", &self.child)
            .field("input_open", &self.writer.is_some())
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl McpStdioClient {
    /// Starts `program args...` (stdin/stdout piped, stderr inherited, killed
    /// on drop) and connects in `era` as [`McpHttpClient::connect`](super::McpHttpClient::connect) does.
    pub async fn spawn(program: &str, args: &[&str], era: ClientEra) -> anyhow::Result<Self> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {program}"))?;
        let stdin = child.stdin.take().context("child has no stdin")?;
        let stdout = child.stdout.take().context("child has no stdout")?;
        let mut client = Self::unconnected(stdout, stdin, era);
        client.child = Some(child);
        client.handshake().await?;
        Ok(client)
    }

    /// Connects over an existing stream pair (for example a
    /// `tokio::io::duplex` to an in-process [`serve_io`](crate::demo::serve_io)).
    pub async fn connect_io<R, W>(reader: R, writer: W, era: ClientEra) -> anyhow::Result<Self>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let mut client = Self::unconnected(reader, writer, era);
        client.handshake().await?;
        Ok(client)
    }

    fn unconnected<R, W>(reader: R, writer: W, era: ClientEra) -> Self
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(reader).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        McpStdioClient {
            child: None,
            writer: Some(Box::new(writer)),
            lines,
            core: Core::new(era),
        }
    }

    async fn handshake(&mut self) -> anyhow::Result<()> {
        match self.core.era.clone() {
            ClientEra::Legacy(_) => {
                let params = self.core.initialize_params();
                let response = self.request("initialize", params).await?;
                let Some(result) = response.get("result") else {
                    bail!("initialize failed: {response}");
                };
                if let Some(v) = result.get("protocolVersion").and_then(Value::as_str) {
                    self.core.version = v.to_owned();
                }
                self.core.server_info = result.clone();
                self.notify("notifications/initialized", json!({})).await
            }
            ClientEra::Stateless(_) => {
                let response = self.request("server/discover", json!({})).await?;
                let Some(result) = response.get("result") else {
                    bail!("server/discover failed: {response}");
                };
                self.core.server_info = result.clone();
                Ok(())
            }
        }
    }

    /// Writes bytes to the server as they are (add the `\n` yourself).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let writer = self
            .writer
            .as_mut()
            .context("the client's input is closed")?;
        writer.write_all(bytes).await?;
        writer.flush().await?;
        Ok(())
    }

    /// Writes one message line without waiting for anything.
    pub async fn send(&mut self, msg: &Value) -> anyhow::Result<()> {
        let mut line = msg.to_string();
        line.push('\n');
        self.send_raw(line.as_bytes()).await
    }

    /// The next message from the server, as sent; `None` after `wait` with
    /// nothing; an error when the server closed its output. Server requests
    /// are returned, not answered.
    pub async fn next_message(&mut self, wait: Duration) -> anyhow::Result<Option<Value>> {
        Ok(self.next_line(wait).await?.map(|(_, v)| v))
    }

    async fn next_line(&mut self, wait: Duration) -> anyhow::Result<Option<(String, Value)>> {
        loop {
            match tokio::time::timeout(wait, self.lines.recv()).await {
                Err(_) => return Ok(None),
                Ok(None) => bail!("the server closed its output"),
                Ok(Some(line)) if line.trim().is_empty() => {}
                Ok(Some(line)) => {
                    let value = serde_json::from_str(&line).with_context(|| {
                        format!("the server wrote a line that is not JSON: {line}")
                    })?;
                    return Ok(Some((line, value)));
                }
            }
        }
    }

    /// Sends a request and returns the whole response message, answering
    /// server requests and collecting notifications until it arrives.
    pub async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let (id, msg) = self.core.request(method, params)?;
        self.send(&msg).await?;
        loop {
            let Some((line, value)) = self.next_line(REQUEST_TIMEOUT).await? else {
                bail!(
                    "{method}: no response within {} s",
                    REQUEST_TIMEOUT.as_secs()
                );
            };
            match self.core.route(value, id) {
                Ok(Some(response)) => {
                    self.core.last_raw = line;
                    return Ok(response);
                }
                Ok(None) => {}
                Err(answer) => self.send(&answer).await?,
            }
        }
    }

    /// Sends a notification.
    pub async fn notify(&mut self, method: &str, params: Value) -> anyhow::Result<()> {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }))
            .await
    }

    /// Closes the server's input and waits up to 5 s for it to exit (then
    /// kills it). Returns the exit code, if the child exited with one.
    pub async fn close(mut self) -> anyhow::Result<Option<i32>> {
        if let Some(mut writer) = self.writer.take() {
            // Shut down, not just drop: a split stream's write half closes
            // nothing on drop while its read half lives.
            let _ = writer.shutdown().await;
        }
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
            Ok(status) => Ok(status?.code()),
            Err(_) => {
                child.kill().await?;
                bail!("the server did not exit within 5 s of its input closing")
            }
        }
    }

    shared_accessors!();
}
