//! An upstream server behind the legacy HTTP+SSE transport (protocol 2024-11-05).
//!
//! One long-lived GET opens the event stream. The server's first event, `endpoint`, names the
//! URL to POST messages to (resolved against the stream's URL, and refused unless it is on the
//! same origin, so the operator's upstream credentials never go elsewhere). Every message to
//! the server is one POST; every message from it is a `message` event on the stream.
//!
//! Messages are POSTed in the order the gateway sends them: notifications, responses and
//! `initialize` are awaited one by one, other requests run concurrently. Messages sent before
//! the endpoint is known wait for it; a stream that names no endpoint within 10 seconds, ends,
//! or breaks closes the connection, and the relay answers every waiting request with an error.
//! A request whose POST fails is answered with a JSON-RPC error carrying its id.
//!
//! Events are bounded while they arrive: bytes are passed to the SSE parser a whole line at a
//! time (so a large event is parsed once, not re-scanned per network chunk), and an event
//! larger than the upstream message limit is cut off, dropped with a log line, and skipped to
//! its end; the stream goes on.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderValue};
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use warden_protocol::{ErrorCode, Kind, error_response};

use super::{Conn, Limits, UpstreamEvent};

/// How long the stream may take to name its message endpoint.
const ENDPOINT_WAIT: Duration = Duration::from_secs(10);
/// How long one POST may take (the answer itself comes on the stream).
const POST_TIMEOUT: Duration = Duration::from_secs(30);
/// Room for the SSE framing (`event:`, `data:` prefixes) on top of the message limit.
const FRAMING_SLACK: usize = 4096;
/// The event type the framer gives an event it cut off.
const OVERSIZED: &str = "warden-oversized";

/// Opens a connection to a legacy HTTP+SSE upstream: the event stream is opened at once, in the
/// background; a failure to open it is reported as [`UpstreamEvent::Closed`].
pub fn connect_sse(url: reqwest::Url, headers: HeaderMap, limits: &Limits) -> anyhow::Result<Conn> {
    connect(url, headers, limits.upstream_message_bytes, ENDPOINT_WAIT)
}

/// Where messages are POSTed.
#[derive(Debug, Clone)]
enum Endpoint {
    /// The stream has not named it yet.
    Pending,
    Ready(reqwest::Url),
    /// The stream is gone, with this reason.
    Gone(String),
}

/// The gateway's side of the events: messages until the connection closes, then one
/// `Closed`, then nothing.
#[derive(Debug)]
struct Sink(Mutex<Option<mpsc::Sender<UpstreamEvent>>>);

impl Sink {
    /// False once the connection is closed or the gateway stopped listening.
    async fn message(&self, msg: String) -> bool {
        match &*self.0.lock().await {
            Some(tx) => tx.send(UpstreamEvent::Message(msg)).await.is_ok(),
            None => false,
        }
    }

    async fn close(&self, why: String) {
        if let Some(tx) = self.0.lock().await.take() {
            let _ = tx.send(UpstreamEvent::Closed(why)).await;
        }
    }
}

#[derive(Debug)]
struct Upstream {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    sink: Sink,
    max: usize,
}

fn connect(
    url: reqwest::Url,
    headers: HeaderMap,
    max: usize,
    endpoint_wait: Duration,
) -> anyhow::Result<Conn> {
    let client = super::shared_client()?;
    let (tx, mut outbox) = mpsc::channel::<String>(256);
    let (events, rx) = mpsc::channel(256);
    let (done_tx, done) = oneshot::channel();
    let (endpoint_tx, mut endpoint) = watch::channel(Endpoint::Pending);
    let stop = CancellationToken::new();
    let up = Arc::new(Upstream {
        client,
        url,
        headers,
        sink: Sink(Mutex::new(Some(events))),
        max,
    });

    // Reader: the event stream, until it ends or the gateway closes the connection.
    let reader = {
        let up = up.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let why = tokio::select! {
                why = up.read_stream(&endpoint_tx, endpoint_wait) => why,
                () = stop.cancelled() => "upstream SSE connection closed".to_owned(),
            };
            if !stop.is_cancelled() {
                tracing::warn!(url = %up.url, reason = %why, "upstream SSE connection ended");
            }
            endpoint_tx.send_replace(Endpoint::Gone(why.clone()));
            up.sink.close(why).await;
        })
    };

    // Writer: the gateway's messages, in order, once the endpoint is known.
    tokio::spawn(async move {
        while let Some(msg) = outbox.recv().await {
            let (request_id, method) = match warden_protocol::parse(&msg) {
                Ok(m) => match m.kind {
                    Kind::Request { id, .. } => {
                        (Some(id.get().to_owned()), m.method().map(str::to_owned))
                    }
                    _ => (None, None),
                },
                Err(_) => continue, // the relay only sends what it parsed
            };
            let target = endpoint
                .wait_for(|e| !matches!(e, Endpoint::Pending))
                .await
                .map(|e| e.clone())
                .unwrap_or_else(|_| Endpoint::Gone("upstream SSE connection closed".into()));
            let target = match target {
                Endpoint::Ready(url) => url,
                Endpoint::Gone(why) => {
                    up.fail(request_id, &format!("upstream is gone: {why}"))
                        .await;
                    continue;
                }
                Endpoint::Pending => continue, // wait_for returned, so not pending
            };
            if request_id.is_some() && method.as_deref() != Some("initialize") {
                let up = up.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = up.post(target, msg, request_id) => {}
                        () = stop.cancelled() => {}
                    }
                });
            } else {
                up.post(target, msg, request_id).await;
            }
        }
        // The gateway dropped its sender: end the stream (the server then ends the session).
        stop.cancel();
        let _ = reader.await;
        up.sink.close("upstream SSE connection closed".into()).await;
        let _ = done_tx.send(());
    });
    Ok(Conn { tx, rx, done })
}

impl Upstream {
    /// Reads the event stream; returns why it ended.
    async fn read_stream(&self, endpoint: &watch::Sender<Endpoint>, wait: Duration) -> String {
        let deadline = tokio::time::Instant::now() + wait;
        let no_endpoint = || {
            format!(
                "upstream SSE stream {} named no message endpoint within {} s",
                self.url,
                wait.as_secs_f32()
            )
        };
        let mut h = self.headers.clone();
        h.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        let opened = tokio::time::timeout_at(
            deadline,
            self.client.get(self.url.clone()).headers(h).send(),
        )
        .await;
        let resp = match opened {
            Err(_) => return no_endpoint(),
            Ok(Err(e)) => return format!("cannot open upstream SSE stream {}: {e}", self.url),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        let is_sse = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if !status.is_success() || !is_sse {
            return format!(
                "upstream {} answered HTTP {status} without an event stream (is it a Streamable \
                 HTTP endpoint rather than a legacy HTTP+SSE one?)",
                self.url
            );
        }
        let events = framed(resp.bytes_stream(), self.max + FRAMING_SLACK).eventsource();
        let mut events = std::pin::pin!(events);
        loop {
            let pending = matches!(*endpoint.borrow(), Endpoint::Pending);
            let next = if pending {
                match tokio::time::timeout_at(deadline, events.next()).await {
                    Ok(next) => next,
                    Err(_) => return no_endpoint(),
                }
            } else {
                events.next().await
            };
            let ev = match next {
                None => return format!("upstream SSE stream {} ended", self.url),
                Some(Err(e)) => return format!("upstream SSE stream {} broke: {e}", self.url),
                Some(Ok(ev)) => ev,
            };
            match ev.event.as_str() {
                "endpoint" if pending => match self.endpoint_url(ev.data.trim()) {
                    Ok(url) => {
                        tracing::debug!(%url, "upstream SSE message endpoint");
                        endpoint.send_replace(Endpoint::Ready(url));
                    }
                    Err(why) => return why,
                },
                "endpoint" => {
                    tracing::warn!("upstream SSE stream named a second endpoint; ignored")
                }
                "message" if ev.data.trim().is_empty() => {}
                "message" if ev.data.len() > self.max => {
                    tracing::error!(
                        max = self.max,
                        "upstream SSE message over the size limit; dropped"
                    );
                }
                "message" => {
                    if !self.sink.message(ev.data).await {
                        return "the gateway stopped listening".into();
                    }
                }
                OVERSIZED => {} // logged by the framer
                other => tracing::debug!(event = other, "upstream SSE event ignored"),
            }
        }
    }

    /// The URL named by an `endpoint` event, on the stream's own origin.
    fn endpoint_url(&self, data: &str) -> Result<reqwest::Url, String> {
        let url = self
            .url
            .join(data)
            .map_err(|e| format!("upstream SSE endpoint {data:?} is not a URL: {e}"))?;
        if url.origin() != self.url.origin() {
            return Err(format!(
                "upstream SSE endpoint {url} is not on the origin of {}; refused (the \
                 upstream's credentials are not sent elsewhere)",
                self.url
            ));
        }
        Ok(url)
    }

    /// POSTs one message. A request that cannot be delivered is answered with an error.
    async fn post(&self, endpoint: reqwest::Url, msg: String, request_id: Option<String>) {
        let mut h = self.headers.clone();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let sent = self
            .client
            .post(endpoint)
            .headers(h)
            .timeout(POST_TIMEOUT)
            .body(msg)
            .send()
            .await;
        match sent {
            Err(e) => {
                self.fail(request_id, &format!("upstream unreachable: {e}"))
                    .await;
            }
            Ok(resp) => {
                let status = resp.status();
                // The answer comes on the stream; the body is a formality ("Accepted").
                let excerpt = excerpt(resp).await;
                if !status.is_success() {
                    let why = format!("upstream answered HTTP {status}: {excerpt}");
                    if request_id.is_some() {
                        self.fail(request_id, &why).await;
                    } else {
                        tracing::warn!(error = %why, "upstream refused a message");
                    }
                }
            }
        }
    }

    async fn fail(&self, request_id: Option<String>, why: &str) {
        tracing::warn!(error = why, "upstream request failed");
        if let Some(id) = request_id {
            let msg = error_response(Some(&id), ErrorCode::Server, why, None);
            self.sink.message(msg).await;
        }
    }
}

/// The first 200 characters of a response body, reading no more than 4 KiB.
async fn excerpt(resp: reqwest::Response) -> String {
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while body.len() < 4096
        && let Some(Ok(chunk)) = stream.next().await
    {
        body.extend_from_slice(&chunk);
    }
    String::from_utf8_lossy(&body).chars().take(200).collect()
}

/// The stream's bytes regrouped into whole lines, with events over `limit` bytes cut off (see
/// [`Framer`]).
fn framed<S>(inner: S, limit: usize) -> impl Stream<Item = Result<Bytes, reqwest::Error>>
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Unpin,
{
    futures::stream::unfold(
        (inner, Framer::new(limit)),
        |(mut inner, mut framer)| async move {
            loop {
                match inner.next().await? {
                    Ok(chunk) => {
                        let out = framer.push(&chunk);
                        if !out.is_empty() {
                            return Some((Ok(Bytes::from(out)), (inner, framer)));
                        }
                    }
                    Err(e) => return Some((Err(e), (inner, framer))),
                }
            }
        },
    )
}

/// Regroups SSE bytes into whole lines and bounds events.
///
/// A partial line is held back until its end arrives, so the parser sees each line once. When
/// an event grows past `limit` bytes, its partial line is dropped, the parser is given
/// `event: warden-oversized` and a blank line (so what it holds of the event is dispatched
/// under that type, and dropped), and the rest of the event is skipped up to its blank line.
#[derive(Debug)]
struct Framer {
    limit: usize,
    /// The current line, not yet passed on.
    line: Vec<u8>,
    /// Bytes of the current event so far.
    event: usize,
    /// The previous byte (to see `\r\n` as one line end).
    last: u8,
    /// Line ends in a row (two make the blank line that ends an event).
    ends: u8,
    /// Dropping the rest of an oversized event.
    skipping: bool,
}

impl Framer {
    fn new(limit: usize) -> Self {
        Framer {
            limit,
            line: Vec::new(),
            event: 0,
            last: 0,
            ends: 0,
            skipping: false,
        }
    }

    /// Takes a chunk; returns the bytes to pass on (whole lines only).
    fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in chunk {
            let is_end = b == b'\r' || b == b'\n';
            if is_end {
                if !(b == b'\n' && self.last == b'\r') {
                    self.ends = self.ends.saturating_add(1);
                }
            } else {
                self.ends = 0;
            }
            self.last = b;
            let event_over = is_end && self.ends >= 2;
            if self.skipping {
                if event_over {
                    self.skipping = false;
                    self.event = 0;
                }
                continue;
            }
            self.event += 1;
            if is_end {
                out.append(&mut self.line);
                out.push(b);
                if event_over {
                    self.event = 0;
                }
            } else if self.event > self.limit {
                tracing::error!(
                    limit = self.limit,
                    "upstream SSE event over the size limit; dropped"
                );
                self.line.clear();
                out.extend_from_slice(format!("event: {OVERSIZED}\n\n").as_bytes());
                self.skipping = true;
            } else {
                self.line.push(b);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Runs the framer over `input` cut into `step`-byte chunks, then parses the result.
    async fn frame_events(input: &[u8], limit: usize, step: usize) -> Vec<(String, String)> {
        let mut framer = Framer::new(limit);
        let mut chunks = Vec::new();
        for part in input.chunks(step) {
            let out = framer.push(part);
            // Only whole lines are passed on.
            if let Some(&last) = out.last() {
                assert!(last == b'\n' || last == b'\r', "{out:?}");
            }
            chunks.push(Ok::<_, std::convert::Infallible>(out));
        }
        futures::stream::iter(chunks)
            .eventsource()
            .map(|e| {
                let e = e.unwrap();
                (e.event, e.data)
            })
            .collect()
            .await
    }

    #[tokio::test]
    async fn the_framer_passes_events_through_whatever_the_chunking() {
        let input = b"event: endpoint\r\ndata: /m?s=1\r\n\r\n: ping\n\nevent: message\ndata: {\"a\":1}\n\ndata: x\rdata: y\r\r: end\n";
        for step in 1..input.len() {
            let got = frame_events(input, 1000, step).await;
            assert_eq!(
                got,
                [
                    ("endpoint".into(), "/m?s=1".into()),
                    ("message".into(), "{\"a\":1}".into()),
                    ("message".into(), "x\ny".into()),
                ],
                "step {step}"
            );
        }
    }

    #[tokio::test]
    async fn the_framer_cuts_off_an_oversized_event_and_goes_on() {
        let big = "z".repeat(500);
        let input = format!(
            "event: message\ndata: {{\"small\":1}}\n\nevent: message\ndata: {big}\ndata: {big}\r\n\r\nevent: message\ndata: {{\"after\":2}}\n\n"
        );
        for step in [1, 7, 64, 4096] {
            let got = frame_events(input.as_bytes(), 300, step).await;
            let kept: Vec<_> = got.iter().filter(|(e, _)| e != OVERSIZED).collect();
            assert_eq!(
                kept,
                [
                    &("message".to_owned(), "{\"small\":1}".to_owned()),
                    &("message".to_owned(), "{\"after\":2}".to_owned()),
                ],
                "step {step}"
            );
            assert!(got.iter().all(|(_, d)| d.len() <= 300));
        }
    }

    /// A one-shot HTTP server: answers the first GET with `stream` (then holds the connection
    /// open), and every POST with `post_status`; returns its base URL.
    async fn fake_server(stream: &'static str, post_status: u16) -> reqwest::Url {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    if head.starts_with("GET") {
                        let _ = sock
                            .write_all(
                                format!(
                                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                                     connection: close\r\n\r\n{stream}"
                                )
                                .as_bytes(),
                            )
                            .await;
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    } else {
                        let _ = sock
                            .write_all(
                                format!(
                                    "HTTP/1.1 {post_status} X\r\ncontent-length: 4\r\n\
                                     connection: close\r\n\r\nnope"
                                )
                                .as_bytes(),
                            )
                            .await;
                    }
                });
            }
        });
        format!("http://{addr}/sse").parse().unwrap()
    }

    async fn next(rx: &mut mpsc::Receiver<UpstreamEvent>) -> UpstreamEvent {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("an event within 5 s")
            .expect("an event")
    }

    #[tokio::test]
    async fn a_stream_without_an_endpoint_closes_the_connection() {
        let url = fake_server(": hello\n\n", 202).await;
        let conn = connect(url, HeaderMap::new(), 1 << 20, Duration::from_millis(300)).unwrap();
        let mut rx = conn.rx;
        conn.tx
            .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.into())
            .await
            .unwrap();
        match next(&mut rx).await {
            UpstreamEvent::Closed(why) => assert!(why.contains("no message endpoint"), "{why}"),
            other => panic!("{other:?}"),
        }
        // Nothing follows the close.
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn an_endpoint_on_another_origin_is_refused() {
        let url = fake_server("event: endpoint\ndata: http://elsewhere.example/m\n\n", 202).await;
        let conn = connect(url, HeaderMap::new(), 1 << 20, ENDPOINT_WAIT).unwrap();
        let mut rx = conn.rx;
        match next(&mut rx).await {
            UpstreamEvent::Closed(why) => assert!(why.contains("not on the origin"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_refused_post_answers_the_request_with_its_id() {
        let url = fake_server("event: endpoint\ndata: messages?s=1\n\n", 500).await;
        let conn = connect(url, HeaderMap::new(), 1 << 20, ENDPOINT_WAIT).unwrap();
        let mut rx = conn.rx;
        // A notification's refusal has no one to answer; the request's does.
        conn.tx
            .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into())
            .await
            .unwrap();
        conn.tx
            .send(r#"{"jsonrpc":"2.0","id":"q7","method":"tools/list"}"#.into())
            .await
            .unwrap();
        match next(&mut rx).await {
            UpstreamEvent::Message(m) => {
                let v: serde_json::Value = serde_json::from_str(&m).unwrap();
                assert_eq!(v["id"], "q7");
                assert_eq!(v["error"]["code"], -32000);
                let text = v["error"]["message"].as_str().unwrap();
                assert!(text.contains("HTTP 500") && text.contains("nope"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        // Dropping the sender ends the connection.
        drop(conn.tx);
        assert!(matches!(next(&mut rx).await, UpstreamEvent::Closed(_)));
        tokio::time::timeout(Duration::from_secs(5), conn.done)
            .await
            .unwrap()
            .unwrap();
    }
}
