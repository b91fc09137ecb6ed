//! A legacy HTTP+SSE upstream (protocol 2024-11-05): the official Python SDK's SSE server
//! (`tests/fixtures/legacy_sse_server.py`, run with the repository's `.venv`) behind a relay
//! and a policy, driven by a handshake-era client in process.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use warden_gateway::clock::Clock;
use warden_gateway::relay::{Caller, Relay, RelayOptions};
use warden_gateway::upstream::{HeaderMap, HeaderValue, Limits, UpstreamEvent, connect_sse};
use warden_gateway::{Guard, Principal};
use warden_policy::Policy;
use warden_store::MemoryCounters;

#[derive(Debug)]
struct FixedClock(u64);
impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        self.0
    }
}

struct Harness {
    relay: Arc<Relay>,
    caller: Caller,
    server: Child,
}

/// Starts the fixture server on a free port and waits until it accepts connections.
async fn start_server() -> (Child, u16) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup-peers.sh to install the Python MCP SDK",
        python.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy_sse_server.py");
    let mut server = Command::new(python)
        .arg(fixture)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (server, port);
        }
        if let Ok(Some(status)) = server.try_wait() {
            panic!("the fixture server exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the fixture server did not listen on port {port} within 20 s");
}

async fn harness(policy: &str, limits: Limits, timeout: Duration) -> Harness {
    let (server, port) = start_server().await;
    let url = format!("http://127.0.0.1:{port}/sse").parse().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("x-upstream-key", HeaderValue::from_static("sekrit"));
    let conn = connect_sse(url, headers, &limits).unwrap();
    let policy = Arc::new(Policy::from_json("test.json", policy).unwrap());
    let guard = Arc::new(Guard::new(
        Arc::new(policy),
        Arc::new(MemoryCounters::new()),
        Arc::new(FixedClock(1_000_000)),
    ));
    let (out_tx, mut server_out) = mpsc::channel::<String>(64);
    tokio::spawn(async move { while server_out.recv().await.is_some() {} });
    let relay = Relay::new(
        conn.tx,
        RelayOptions {
            server_out: Some(out_tx),
            timeout: Some(timeout),
        },
    );
    let pump = relay.clone();
    let mut rx = conn.rx;
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            match ev {
                UpstreamEvent::Message(m) => pump.upstream_message(m).await,
                UpstreamEvent::Closed(why) => {
                    pump.upstream_closed(&why).await;
                    break;
                }
            }
        }
    });
    let caller = Caller {
        guard,
        who: Principal::local(),
        session: "s1".into(),
        declared: None,
    };
    Harness {
        relay,
        caller,
        server,
    }
}

async fn ask(h: &Harness, msg: &str) -> Value {
    let (tx, mut rx) = mpsc::channel(16);
    h.relay.client_message(msg, &tx, &h.caller).await;
    let answer = tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("an answer within 15 s")
        .expect("an answer");
    serde_json::from_str(&answer).unwrap()
}

async fn init(h: &Harness) {
    let r = ask(h, r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"legacy","version":"1"}}}"#).await;
    assert_eq!(r["result"]["protocolVersion"], "2024-11-05", "{r}");
    assert_eq!(r["result"]["serverInfo"]["name"], "legacy-sse-fixture");
    let (tx, _rx) = mpsc::channel(1);
    h.relay
        .client_message(
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            &tx,
            &h.caller,
        )
        .await;
}

fn call(id: u64, tool: &str, args: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": args}})
    .to_string()
}

fn text(r: &Value) -> &str {
    r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {r}"))
}

const POLICY: &str = r#"{"version":"1","default":"deny","hide":["big"],
    "tools":{"echo":{},"sleep":{},"header":{},"called":{},"wipe":{"action":"deny"}}}"#;
const ALLOW_ALL: &str = r#"{"version":"1","default":"allow"}"#;

#[tokio::test]
async fn a_legacy_sse_server_is_relayed_under_the_policy() {
    let h = harness(POLICY, Limits::default(), Duration::from_secs(10)).await;
    init(&h).await;

    let r = ask(&h, r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).await;
    let mut names: Vec<&str> = r["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["called", "echo", "header", "sleep", "wipe"]);

    let r = ask(&h, &call(2, "echo", json!({"text": "hi"}))).await;
    assert_eq!(r["id"], 2);
    assert_eq!(text(&r), "echo: hi", "{r}");

    // Concurrent calls each get their own answer.
    let asks: Vec<String> = (10..16)
        .map(|i| call(i, "echo", json!({"text": i.to_string()})))
        .collect();
    let answers = futures::future::join_all(asks.iter().map(|a| ask(&h, a))).await;
    for (i, r) in (10..16).zip(&answers) {
        assert_eq!(r["id"], i);
        assert_eq!(text(r), format!("echo: {i}"));
    }

    // The denied call is answered by the policy and never reaches the server.
    let r = ask(&h, &call(3, "wipe", json!({"target": "prod"}))).await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(text(&r).starts_with("Blocked by policy:"), "{r}");
    assert_eq!(
        r["result"]["_meta"]["warden/decision"]["rule"],
        "/tools/wipe/action"
    );
    // The hidden tool is unknown.
    let r = ask(&h, &call(4, "big", json!({"size": 1}))).await;
    assert_eq!(text(&r), "Unknown tool: big", "{r}");

    // The operator's header reached the server on the POSTs.
    let r = ask(&h, &call(5, "header", json!({"name": "x-upstream-key"}))).await;
    assert_eq!(text(&r), "sekrit");

    let r = ask(&h, &call(6, "called", json!({}))).await;
    assert_eq!(text(&r), "echo,echo,echo,echo,echo,echo,echo,header");
}

#[tokio::test]
async fn the_upstream_going_away_fails_pending_requests() {
    let mut h = harness(ALLOW_ALL, Limits::default(), Duration::from_secs(60)).await;
    init(&h).await;
    let (tx, mut rx) = mpsc::channel(4);
    h.relay
        .client_message(&call(1, "sleep", json!({"seconds": 30})), &tx, &h.caller)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.server.start_kill().unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an answer within 10 s, not the call's 30 s")
        .unwrap();
    let r: Value = serde_json::from_str(&r).unwrap();
    assert_eq!(r["id"], 1);
    assert_eq!(r["error"]["code"], -32000, "{r}");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(message.contains("upstream SSE stream"), "{message}");
    assert!(h.relay.is_closed());
    // Later requests are answered at once, too.
    let r = ask(&h, &call(2, "echo", json!({"text": "late"}))).await;
    assert!(r["error"]["code"].is_i64(), "{r}");
}

#[tokio::test]
async fn an_oversized_message_is_dropped_and_the_stream_goes_on() {
    let limits = Limits {
        upstream_message_bytes: 64 << 10,
        ..Limits::default()
    };
    let h = harness(ALLOW_ALL, limits, Duration::from_secs(3)).await;
    init(&h).await;
    // The answer is over the limit: dropped, so the call times out in the relay.
    let r = ask(&h, &call(1, "big", json!({"size": 200_000}))).await;
    let message = r["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("did not answer within"), "{r}");
    // The same stream still carries the next answers, small or just under the limit.
    let r = ask(&h, &call(2, "echo", json!({"text": "still here"}))).await;
    assert_eq!(text(&r), "echo: still here");
    let r = ask(&h, &call(3, "big", json!({"size": 30_000}))).await;
    assert_eq!(text(&r).len(), 30_000);
}
