//! Workloads over Streamable HTTP: N sessions, each a loop of `tools/call`, all
//! at once, the way a team's agents share one gateway.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use anyhow::{Context, bail};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;
use tokio::sync::Barrier;

use crate::stats::Samples;
use crate::wire::{self, Kind};

/// The protocol era of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `initialize`, then calls on the `Mcp-Session-Id` session.
    Legacy,
    /// 2026-07-28: every request stands alone (no session).
    Modern,
}

impl Era {
    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Era::Legacy => wire::LEGACY_VERSION,
            Era::Modern => wire::MODERN_VERSION,
        }
    }
}

/// An HTTP client for loopback benchmarks: no proxy, no Nagle, a connection per session.
pub fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(4096)
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")
}

/// One client session with an MCP endpoint.
#[derive(Debug)]
pub struct Session {
    http: reqwest::Client,
    url: String,
    headers: HeaderMap,
    era: Era,
    next_id: u64,
}

impl Session {
    /// Opens a session: the handshake for [`Era::Legacy`], nothing for [`Era::Modern`].
    pub async fn open(http: &reqwest::Client, url: &str, era: Era) -> anyhow::Result<Self> {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let mut s = Session {
            http: http.clone(),
            url: url.to_owned(),
            headers,
            era,
            next_id: 1,
        };
        if era == Era::Legacy {
            let resp = s
                .post(wire::initialize(0))
                .await
                .with_context(|| format!("initialize at {url}"))?;
            let sid = resp
                .headers()
                .get("mcp-session-id")
                .cloned()
                .with_context(|| format!("{url} answered initialize without Mcp-Session-Id"))?;
            let body = read_answer(resp).await?;
            wire::classify(&body, Some("protocolVersion"))?;
            s.headers.insert("mcp-session-id", sid);
            s.headers.insert(
                "mcp-protocol-version",
                HeaderValue::from_static(wire::LEGACY_VERSION),
            );
            let resp = s.post(wire::initialized()).await?;
            if !resp.status().is_success() {
                bail!("{url} refused notifications/initialized: {}", resp.status());
            }
        } else {
            s.headers.insert(
                "mcp-protocol-version",
                HeaderValue::from_static(wire::MODERN_VERSION),
            );
            s.headers
                .insert("mcp-method", HeaderValue::from_static("tools/call"));
        }
        Ok(s)
    }

    async fn post(&self, body: String) -> anyhow::Result<reqwest::Response> {
        self.http
            .post(&self.url)
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {}", self.url))
    }

    /// One `tools/call`; fails unless it is answered with a successful result.
    pub async fn call(
        &mut self,
        tool: &str,
        arguments: &Value,
        expect: Option<&str>,
    ) -> anyhow::Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let modern = self.era == Era::Modern;
        let mut req = self
            .http
            .post(&self.url)
            .headers(self.headers.clone())
            .body(wire::call(id, tool, arguments, modern));
        if modern {
            req = req.header("mcp-name", tool);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("POST {}", self.url))?;
        let body = read_answer(resp).await?;
        match wire::classify(&body, expect)? {
            Kind::Response(got) if got == id => Ok(()),
            other => bail!("expected the answer to {id}, got {other:?}"),
        }
    }

    /// Ends a legacy session (`DELETE`).
    pub async fn close(self) {
        if self.era == Era::Legacy {
            let _ = self
                .http
                .delete(&self.url)
                .headers(self.headers.clone())
                .send()
                .await;
        }
    }
}

/// The JSON-RPC answer in a response: the body, or the last `data:` of an SSE stream.
async fn read_answer(resp: reqwest::Response) -> anyhow::Result<String> {
    let status = resp.status();
    let sse = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = resp.text().await.context("reading the answer")?;
    if !status.is_success() {
        bail!("HTTP {status}: {body}");
    }
    if !sse {
        return Ok(body);
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .rfind(|d| d.contains(r#""id""#) && !d.contains(r#""method""#))
        .map(str::to_owned)
        .with_context(|| format!("an SSE answer without a response: {body}"))
}

/// What one HTTP measurement does.
#[derive(Debug, Clone)]
pub struct Load {
    /// The endpoint.
    pub url: String,
    /// The protocol era.
    pub era: Era,
    /// Concurrent sessions.
    pub sessions: usize,
    /// The tool called and its arguments.
    pub tool: String,
    /// Arguments of each call.
    pub arguments: Value,
    /// Text every answer contains.
    pub expect: Option<String>,
    /// Calls before this are not counted.
    pub warmup: Duration,
    /// How long calls are counted.
    pub measure: Duration,
}

/// What one run of a [`Load`] measured.
#[derive(Debug)]
pub struct Outcome {
    /// Latencies of the calls started after the warm-up.
    pub samples: Samples,
    /// Calls per second over the measured interval.
    pub rate: f64,
    /// Every call made, warm-up included.
    pub calls: usize,
}

/// Runs `load`: opens the sessions, then every session calls in a loop until
/// the time is up.
pub async fn run(http: &reqwest::Client, load: &Load) -> anyhow::Result<Outcome> {
    let load = Arc::new(load.clone());
    let barrier = Arc::new(Barrier::new(load.sessions + 1));
    let mut tasks = Vec::with_capacity(load.sessions);
    for _ in 0..load.sessions {
        let (http, load, barrier) = (http.clone(), load.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let opened = Session::open(&http, &load.url, load.era).await;
            // Every session starts calling at once, failed ones included (they report below).
            barrier.wait().await;
            let mut session = opened?;
            let begin = Instant::now();
            let (warm_end, end) = (begin + load.warmup, begin + load.warmup + load.measure);
            let mut samples = Samples::default();
            let mut last = begin;
            let mut calls = 0;
            while Instant::now() < end {
                let t0 = Instant::now();
                session
                    .call(&load.tool, &load.arguments, load.expect.as_deref())
                    .await?;
                last = Instant::now();
                calls += 1;
                if t0 >= warm_end {
                    samples.push(last - t0);
                }
            }
            session.close().await;
            anyhow::Ok((samples, warm_end, last, calls))
        }));
    }
    barrier.wait().await;
    let mut all = Samples::default();
    let (mut from, mut to) = (None::<Instant>, None::<Instant>);
    let mut calls = 0;
    for t in tasks {
        let (samples, warm_end, last, n) = t.await.context("a session task panicked")??;
        calls += n;
        from = Some(from.map_or(warm_end, |f| f.min(warm_end)));
        to = Some(to.map_or(last, |t| t.max(last)));
        all.absorb(samples);
    }
    let (Some(from), Some(to)) = (from, to) else {
        bail!("no session ran");
    };
    let secs = to.saturating_duration_since(from).as_secs_f64().max(1e-9);
    let rate = all.len() as f64 / secs;
    Ok(Outcome {
        samples: all,
        rate,
        calls,
    })
}

/// Opens `n` legacy sessions and keeps them open (for memory measurements).
pub async fn open_many(
    http: &reqwest::Client,
    url: &str,
    n: usize,
) -> anyhow::Result<Vec<Session>> {
    let mut out = Vec::with_capacity(n);
    // 32 handshakes at a time: quick, without a queue of hundreds at the server.
    while out.len() < n {
        let batch = (n - out.len()).min(32);
        let opened =
            futures::future::join_all((0..batch).map(|_| Session::open(http, url, Era::Legacy)))
                .await;
        for s in opened {
            out.push(s?);
        }
    }
    Ok(out)
}
