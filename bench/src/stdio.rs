//! Workloads over stdio: one client process talking newline-delimited JSON-RPC
//! to a server's stdin/stdout, the way a desktop client runs `warden run`.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter, Lines};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::Semaphore;

use crate::procs::{Cmd, Proc};
use crate::stats::Samples;
use crate::wire::{self, Kind};

/// Longest the harness waits for any one answer before calling the run failed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// An initialized MCP session with a server on its stdio.
#[derive(Debug)]
pub struct StdioSession {
    proc: Proc,
    input: BufWriter<ChildStdin>,
    output: Lines<BufReader<ChildStdout>>,
    next_id: u64,
}

impl StdioSession {
    /// Starts `cmd` and runs the handshake.
    pub async fn start(name: &str, cmd: &Cmd) -> anyhow::Result<Self> {
        let (proc, stdin, stdout) = Proc::stdio(name, cmd)?;
        let mut s = StdioSession {
            proc,
            input: BufWriter::new(stdin),
            output: BufReader::with_capacity(1 << 16, stdout).lines(),
            next_id: 1,
        };
        let id = s.id();
        s.send(&wire::initialize(id)).await?;
        s.answer(id, Some("protocolVersion"))
            .await
            .with_context(|| format!("{name}: initialize"))?;
        s.send(&wire::initialized()).await?;
        Ok(s)
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    async fn send(&mut self, line: &str) -> anyhow::Result<()> {
        self.input.write_all(line.as_bytes()).await?;
        self.input.write_all(b"\n").await?;
        self.input
            .flush()
            .await
            .context("the server closed its input")
    }

    /// Reads until the answer to `id`, which must be a successful result.
    async fn answer(&mut self, id: u64, expect: Option<&str>) -> anyhow::Result<()> {
        loop {
            let line = match tokio::time::timeout(ANSWER_TIMEOUT, self.output.next_line()).await {
                Ok(Ok(Some(line))) => line,
                Ok(Ok(None)) | Ok(Err(_)) => {
                    self.proc.check_alive()?;
                    bail!(
                        "the server closed its output; its stderr:\n{}",
                        self.proc.tail()
                    )
                }
                Err(_) => bail!("no answer to request {id} within {ANSWER_TIMEOUT:?}"),
            };
            match wire::classify(&line, expect)? {
                Kind::Response(got) if got == id => return Ok(()),
                Kind::Response(got) => bail!("expected the answer to {id}, got one to {got}"),
                Kind::Other => {}
            }
        }
    }

    /// `n` calls one after the other; the latency of each.
    pub async fn serial(
        &mut self,
        tool: &str,
        arguments: &Value,
        expect: Option<&str>,
        n: usize,
    ) -> anyhow::Result<Samples> {
        let mut samples = Samples::default();
        for _ in 0..n {
            let id = self.id();
            let line = wire::call(id, tool, arguments, false);
            let t0 = Instant::now();
            self.send(&line).await?;
            self.answer(id, expect).await?;
            samples.push(t0.elapsed());
        }
        Ok(samples)
    }

    /// `n` `tools/list` requests one after the other; the latency of each. Each
    /// answer must contain `expect`.
    pub async fn list_serial(&mut self, expect: &str, n: usize) -> anyhow::Result<Samples> {
        let mut samples = Samples::default();
        for _ in 0..n {
            let id = self.id();
            let t0 = Instant::now();
            self.send(&wire::list(id)).await?;
            self.answer(id, Some(expect)).await?;
            samples.push(t0.elapsed());
        }
        Ok(samples)
    }

    /// How many tools one `tools/list` returns (one page).
    pub async fn count_tools(&mut self) -> anyhow::Result<usize> {
        let id = self.id();
        self.send(&wire::list(id)).await?;
        loop {
            let line = tokio::time::timeout(ANSWER_TIMEOUT, self.output.next_line())
                .await
                .context("no answer within the timeout")??
                .context("the server closed its output")?;
            if wire::classify(&line, None)? == Kind::Response(id) {
                let msg: Value = serde_json::from_str(&line)?;
                return msg["result"]["tools"]
                    .as_array()
                    .map(Vec::len)
                    .context("a tools/list result without tools");
            }
        }
    }

    /// `n` calls written without waiting for answers, at most `window` in
    /// flight; calls per second from the first write to the last answer.
    pub async fn pipelined(
        &mut self,
        tool: &str,
        arguments: &Value,
        n: usize,
        window: usize,
    ) -> anyhow::Result<f64> {
        let first = self.next_id;
        self.next_id += n as u64;
        let lines: Vec<String> = (first..first + n as u64)
            .map(|id| wire::call(id, tool, arguments, false))
            .collect();
        let permits = Arc::new(Semaphore::new(window));
        let (input, output) = (&mut self.input, &mut self.output);
        let t0 = Instant::now();
        let write = async {
            for line in &lines {
                permits.acquire().await?.forget();
                input.write_all(line.as_bytes()).await?;
                input.write_all(b"\n").await?;
                // Flush when the window is full, as a client with nothing more to say would.
                if permits.available_permits() == 0 {
                    input.flush().await?;
                }
            }
            input.flush().await?;
            anyhow::Ok(())
        };
        let read = async {
            let mut seen = 0;
            while seen < n {
                let line = tokio::time::timeout(ANSWER_TIMEOUT, output.next_line())
                    .await
                    .context("no answer within the timeout")??
                    .context("the server closed its output")?;
                if let Kind::Response(id) = wire::classify(&line, None)? {
                    if !(first..first + n as u64).contains(&id) {
                        bail!("an answer to an unknown request {id}");
                    }
                    seen += 1;
                    permits.add_permits(1);
                }
            }
            anyhow::Ok(())
        };
        let (w, r) = tokio::join!(write, read);
        w.context("writing the calls")?;
        r.context("reading the answers")?;
        Ok(n as f64 / t0.elapsed().as_secs_f64())
    }

    /// CPU time the server process has used so far.
    pub fn cpu(&self) -> anyhow::Result<Duration> {
        self.proc.cpu()
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        self.proc.rss_kib()
    }

    /// Closes the session and stops the server.
    pub async fn stop(self) {
        drop(self.input);
        self.proc.stop().await;
    }
}
