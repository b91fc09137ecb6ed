//! The processes a measurement runs: upstream servers, Warden and the peer,
//! each on loopback, each stopped when the measurement ends.

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long a server may take to say it listens.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The last lines a process wrote to stderr, for error messages.
type Tail = Arc<Mutex<VecDeque<String>>>;

/// A running process (killed if dropped without [`Proc::stop`]).
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    tail: Tail,
}

/// A command line: the program and its arguments.
#[derive(Debug, Clone)]
pub struct Cmd {
    /// The program.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
}

impl Cmd {
    /// `program args...`.
    pub fn new(program: impl AsRef<Path>, args: &[&str]) -> Self {
        Cmd {
            program: program.as_ref().display().to_string(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// This command with more arguments.
    pub fn with(mut self, more: &[&str]) -> Self {
        self.args.extend(more.iter().map(|a| (*a).to_owned()));
        self
    }

    /// `self -- upstream...`, as `warden run` takes its upstream.
    pub fn then(mut self, upstream: &Cmd) -> Self {
        self.args.push("--".to_owned());
        self.args.push(upstream.program.clone());
        self.args.extend(upstream.args.iter().cloned());
        self
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args).kill_on_drop(true);
        c
    }
}

impl Proc {
    /// Starts a server speaking MCP on its stdin/stdout.
    pub fn stdio(name: &str, cmd: &Cmd) -> anyhow::Result<(Proc, ChildStdin, ChildStdout)> {
        let mut child = cmd
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {name}: {}", cmd.program))?;
        let stdin = child.stdin.take().context("stdin")?;
        let stdout = child.stdout.take().context("stdout")?;
        let tail = Tail::default();
        if let Some(err) = child.stderr.take() {
            drain(err, tail.clone(), None);
        }
        Ok((
            Proc {
                name: name.to_owned(),
                child,
                tail,
            },
            stdin,
            stdout,
        ))
    }

    /// Starts a server with no stdin and stdout, its stderr kept (and watched for `ready`).
    fn background(
        name: &str,
        cmd: &Cmd,
        ready: Option<(String, tokio::sync::oneshot::Sender<String>)>,
    ) -> anyhow::Result<Proc> {
        let mut child = cmd
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {name}: {}", cmd.program))?;
        let tail = Tail::default();
        let err = child.stderr.take().context("stderr")?;
        drain(err, tail.clone(), ready);
        Ok(Proc {
            name: name.to_owned(),
            child,
            tail,
        })
    }

    /// Starts an HTTP server and waits until it prints a line containing
    /// `marker` and its `http://` URL, which is returned.
    pub async fn http(name: &str, cmd: &Cmd, marker: &str) -> anyhow::Result<(Proc, String)> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut proc = Self::background(name, cmd, Some((marker.to_owned(), tx)))?;
        match tokio::time::timeout(READY_TIMEOUT, rx).await {
            Ok(Ok(url)) => Ok((proc, url)),
            _ => {
                let status = proc.child.try_wait().ok().flatten();
                bail!(
                    "{name} did not report its address (exit status {status:?}); its stderr:\n{}",
                    proc.tail()
                )
            }
        }
    }

    /// Starts a server that prints nothing useful and waits until `port` on
    /// loopback accepts connections.
    pub async fn http_on_port(name: &str, cmd: &Cmd, port: u16) -> anyhow::Result<Proc> {
        let mut proc = Self::background(name, cmd, None)?;
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(proc);
            }
            if let Ok(Some(status)) = proc.child.try_wait() {
                bail!(
                    "{name} exited ({status}) before listening; its stderr:\n{}",
                    proc.tail()
                );
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "{name} did not listen on port {port} within {READY_TIMEOUT:?}; its stderr:\n{}",
                    proc.tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .id()
            .with_context(|| format!("{} has exited", self.name))
    }

    /// Resident memory of the process, in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("cannot read the memory of {}", self.name))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no VmRSS for {}", self.name))
    }

    /// CPU time the process has used so far, user and system, all threads.
    pub fn cpu(&self) -> anyhow::Result<Duration> {
        let pid = self.pid()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("cannot read the CPU time of {}", self.name))?;
        // Fields after the command name (which may hold spaces) start at state; utime and
        // stime are fields 14 and 15, in clock ticks.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
            bail!("cannot parse /proc/{pid}/stat of {}", self.name);
        };
        // Linux reports these in USER_HZ, 100 per second on every architecture it runs on.
        Ok(Duration::from_millis((user + system) * 10))
    }

    /// The last lines the process wrote to stderr.
    pub fn tail(&self) -> String {
        let lines = self.tail.lock().map(|t| t.clone()).unwrap_or_default();
        lines.into_iter().collect::<Vec<_>>().join("\n")
    }

    /// Whether it is still running; an error naming its last words if not.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!(
                "{} exited ({status}); its stderr:\n{}",
                self.name,
                self.tail()
            );
        }
        Ok(())
    }

    /// Asks the process to stop (SIGTERM), then kills it after 5 s.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}

/// Keeps the last 40 lines of `err`; sends the first `http://` URL of a line
/// containing the marker, if asked.
fn drain(
    err: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    tail: Tail,
    mut ready: Option<(String, tokio::sync::oneshot::Sender<String>)>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(err).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some((marker, _)) = &ready
                && line.contains(marker.as_str())
                && let Some(at) = line.find("http://")
            {
                let url: String = line[at..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                if let Some((_, tx)) = ready.take() {
                    let _ = tx.send(url);
                }
            }
            if let Ok(mut t) = tail.lock() {
                if t.len() == 40 {
                    t.pop_front();
                }
                t.push_back(line);
            }
        }
    });
}

/// A loopback port free at the time of asking.
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(l.local_addr()?.port())
}
