//! The relay's own guarantees, in process: the bundled demo server on an in-memory pipe, an
//! in-memory counter store, and a relay between them.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use warden_gateway::clock::Clock;
use warden_gateway::relay::{Caller, Relay};
use warden_gateway::{Guard, Principal};
use warden_policy::Policy;
use warden_store::MemoryCounters;
use warden_testkit::demo::DemoEra;

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
    log: tempfile::NamedTempFile,
    server_out: mpsc::Receiver<String>,
}

const MODERN_META: &str = r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;

async fn harness(policy: &str, era: DemoEra) -> Harness {
    let common::DemoRelay {
        relay,
        log,
        server_out,
    } = common::demo_relay(era, Duration::from_secs(3));
    let policy = Arc::new(Policy::from_json("test.json", policy).unwrap());
    let guard = Arc::new(Guard::new(
        Arc::new(policy),
        Arc::new(MemoryCounters::new()),
        Arc::new(FixedClock(1_000_000)),
    ));
    let caller = Caller {
        guard,
        who: Principal::local(),
        session: "s1".into(),
        declared: None,
    };
    Harness {
        relay,
        caller,
        log,
        server_out,
    }
}

async fn ask(h: &Harness, msg: &str) -> Value {
    let (tx, mut rx) = mpsc::channel(16);
    h.relay.client_message(msg, &tx, &h.caller).await;
    let answer = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an answer within 10 s")
        .expect("an answer");
    serde_json::from_str(&answer).unwrap()
}

async fn init(h: &Harness) {
    let r = ask(h, r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#).await;
    assert!(r["result"]["protocolVersion"].is_string(), "{r}");
    let (tx, _rx) = mpsc::channel(1);
    h.relay
        .client_message(
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            &tx,
            &h.caller,
        )
        .await;
}

fn call(id: &str, tool: &str, args: Value) -> String {
    json!({"jsonrpc": "2.0", "id": serde_json::from_str::<Value>(id).unwrap(), "method": "tools/call",
           "params": {"name": tool, "arguments": args}})
    .to_string()
}

fn logged_calls(h: &Harness) -> Vec<Value> {
    std::fs::read_to_string(h.log.path())
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const ALLOW_ALL: &str = r#"{"version":"1","default":"allow"}"#;

#[tokio::test]
async fn clients_with_the_same_id_get_their_own_answers() {
    let h = harness(ALLOW_ALL, DemoEra::Both).await;
    init(&h).await;
    // Two requests with the same id in flight at once: the slow one must not get the fast
    // one's answer, and vice versa.
    let slow = call(
        "7",
        "connections.refresh",
        json!({"connection_id": "slow", "sleep_ms": 300}),
    );
    let fast = call("7", "connections.refresh", json!({"connection_id": "fast"}));
    let (a, b) = tokio::join!(ask(&h, &slow), ask(&h, &fast));
    assert_eq!(a["id"], 7);
    assert_eq!(b["id"], 7);
    assert!(
        a["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("slow"),
        "{a}"
    );
    assert!(
        b["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("fast"),
        "{b}"
    );
    // The upstream saw two distinct ids, not the client's.
    let ids: Vec<Value> = logged_calls(&h).iter().map(|c| c["id"].clone()).collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn answers_keep_the_clients_id_bytes() {
    let h = harness(ALLOW_ALL, DemoEra::Both).await;
    init(&h).await;
    let (tx, mut rx) = mpsc::channel(4);
    h.relay
        .client_message(
            r#"{"jsonrpc":"2.0","id":"ab\u0063","method":"tools/list"}"#,
            &tx,
            &h.caller,
        )
        .await;
    let raw = rx.recv().await.unwrap();
    assert!(raw.contains(r#""id":"ab\u0063""#), "{raw}");
}

#[tokio::test]
async fn cancellation_reaches_the_upstream_under_its_own_id() {
    let h = harness(ALLOW_ALL, DemoEra::Both).await;
    init(&h).await;
    let (tx, mut rx) = mpsc::channel(4);
    let slow = call(
        "\"c1\"",
        "connections.refresh",
        json!({"connection_id": "x", "sleep_ms": 2000}),
    );
    h.relay.client_message(&slow, &tx, &h.caller).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.relay
        .client_message(
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c1","reason":"user"}}"#,
            &tx,
            &h.caller,
        )
        .await;
    // The demo server stops a cancelled call and sends nothing; the relay stopped waiting.
    let got = tokio::time::timeout(Duration::from_millis(2500), rx.recv()).await;
    assert!(
        matches!(got, Err(_) | Ok(None)),
        "no answer after cancel: {got:?}"
    );
    // A later call still works.
    let r = ask(&h, &call("2", "connections.list", json!({}))).await;
    assert_eq!(r["result"]["isError"], false, "{r}");
}

#[tokio::test]
async fn failed_calls_are_refunded_and_successful_ones_are_not() {
    let policy = r#"{"version":"1","default":"deny","tools":{"connections.refresh":{"limits":[
        {"counter":"r","window":"minute","max":2}]}}}"#;
    let h = harness(policy, DemoEra::Both).await;
    init(&h).await;
    for (i, fail) in ["error", "tool", "error", "tool"].iter().enumerate() {
        let r = ask(
            &h,
            &call(
                &i.to_string(),
                "connections.refresh",
                json!({"connection_id": "a", "fail": fail}),
            ),
        )
        .await;
        assert!(
            r.get("error").is_some() || r["result"]["isError"] == true,
            "{r}"
        );
        assert!(
            r["result"]["_meta"]["warden/decision"].is_null(),
            "not a policy refusal: {r}"
        );
    }
    for i in 10..12 {
        let r = ask(
            &h,
            &call(
                &i.to_string(),
                "connections.refresh",
                json!({"connection_id": "a"}),
            ),
        )
        .await;
        assert_eq!(r["result"]["isError"], false, "{r}");
    }
    let r = ask(
        &h,
        &call("12", "connections.refresh", json!({"connection_id": "a"})),
    )
    .await;
    assert_eq!(
        r["result"]["_meta"]["warden/decision"]["decision"], "rate_limited",
        "{r}"
    );
    assert_eq!(
        r["result"]["_meta"]["warden/decision"]["retry_after_ms"],
        60_000
    );
    assert_eq!(
        logged_calls(&h).len(),
        6,
        "the refused call never reached the upstream"
    );
}

#[tokio::test]
async fn an_upstream_that_dies_answers_every_waiting_request() {
    let h = harness(ALLOW_ALL, DemoEra::Both).await;
    init(&h).await;
    let (tx, mut rx) = mpsc::channel(4);
    h.relay
        .client_message(
            &call(
                "5",
                "connections.refresh",
                json!({"connection_id": "a", "sleep_ms": 5000}),
            ),
            &tx,
            &h.caller,
        )
        .await;
    h.relay
        .upstream_closed("upstream process exited (exit status: 1)")
        .await;
    let r: Value = serde_json::from_str(&rx.recv().await.unwrap()).unwrap();
    assert_eq!(r["id"], 5);
    assert!(
        r["error"]["message"].as_str().unwrap().contains("exited"),
        "{r}"
    );
    // New requests are answered at once, not left hanging.
    let r = ask(&h, &call("6", "connections.list", json!({}))).await;
    assert!(r["error"].is_object(), "{r}");
}

#[tokio::test]
async fn malformed_client_messages_are_answered_and_not_forwarded() {
    let h = harness(ALLOW_ALL, DemoEra::Both).await;
    init(&h).await;
    for bad in [
        "{not json",
        "[]",
        r#"{"jsonrpc":"1.0","id":1,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}"#,
    ] {
        let r = ask(&h, bad).await;
        assert!(
            r["error"]["code"].as_i64().unwrap() <= -32600,
            "{bad} → {r}"
        );
    }
    assert!(logged_calls(&h).is_empty());
}

#[tokio::test]
async fn tools_list_is_filtered_and_the_rest_is_byte_for_byte() {
    let policy = r#"{"version":"1","default":"deny","hide":["connections.list"],
        "tools":{"connections.*":{},"connections.delete":{"action":"deny"}}}"#;
    let h = harness(policy, DemoEra::Both).await;
    init(&h).await;
    let r = ask(&h, r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).await;
    let names: Vec<&str> = r["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["connections.refresh", "connections.delete"]);
    // The hidden tool is answered as unknown, with no trace of the policy.
    let r = ask(&h, &call("2", "connections.list", json!({}))).await;
    assert_eq!(
        r["result"]["content"][0]["text"],
        "Unknown tool: connections.list"
    );
    assert!(r["result"]["_meta"].is_null());
    // The explicitly denied tool is listed but refused with its rule.
    let r = ask(
        &h,
        &call("3", "connections.delete", json!({"connection_id": "a"})),
    )
    .await;
    assert_eq!(
        r["result"]["_meta"]["warden/decision"]["rule"],
        "/tools/connections.delete/action"
    );
    assert!(logged_calls(&h).is_empty());
}

#[tokio::test]
async fn a_stateless_client_is_bridged_to_a_handshake_only_server() {
    let h = harness(ALLOW_ALL, DemoEra::LegacyOnly).await;
    let list = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{"_meta":{MODERN_META}}}}}"#
    );
    let r = ask(&h, &list).await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    assert_eq!(r["result"]["cacheScope"], "private");
    assert!(!r["result"]["tools"].as_array().unwrap().is_empty());
    let discover = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"server/discover","params":{{"_meta":{MODERN_META}}}}}"#
    );
    let r = ask(&h, &discover).await;
    assert_eq!(r["result"]["supportedVersions"][0], "2026-07-28", "{r}");
    assert_eq!(
        r["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "warden-demo"
    );
    let c = format!(
        r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"connections.list","arguments":{{}},"_meta":{MODERN_META}}}}}"#
    );
    let r = ask(&h, &c).await;
    assert_eq!(r["result"]["isError"], false, "{r}");
    assert_eq!(r["result"]["resultType"], "complete");
}

#[tokio::test]
async fn a_handshake_client_is_bridged_to_a_stateless_only_server() {
    let h = harness(ALLOW_ALL, DemoEra::StatelessOnly).await;
    init(&h).await;
    let r = ask(&h, &call("1", "connections.list", json!({}))).await;
    assert_eq!(r["result"]["isError"], false, "{r}");
    let logged = logged_calls(&h);
    assert_eq!(logged[0]["protocol"], "2026-07-28", "{logged:?}");
    let r = ask(&h, r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#).await;
    assert_eq!(r["result"], json!({}));
    drop(h.server_out);
}

#[tokio::test]
async fn a_hidden_tool_cannot_be_told_from_one_that_does_not_exist() {
    for default in ["deny", "allow"] {
        let policy =
            format!(r#"{{"version":"1","default":"{default}","hide":["connections.list"]}}"#);
        let h = harness(&policy, DemoEra::Both).await;
        init(&h).await;
        // Whether or not the client listed the tools first, the answers are the same bytes.
        let hidden = ask(&h, &call("1", "connections.list", json!({}))).await;
        let missing = ask(&h, &call("1", "no.such.tool", json!({}))).await;
        assert_eq!(
            hidden.to_string().replace("connections.list", "NAME"),
            missing.to_string().replace("no.such.tool", "NAME"),
            "default {default}"
        );
        assert_eq!(hidden["result"]["isError"], true);
        assert!(logged_calls(&h).is_empty(), "neither reached the upstream");
    }
}

#[tokio::test]
async fn a_server_question_reaches_a_stateless_client_as_input_required() {
    let h = harness(ALLOW_ALL, DemoEra::LegacyOnly).await;
    let meta = r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}"#;
    let first = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"connections.refresh","arguments":{{"connection_id":"c","ask":"confirm"}},"_meta":{meta}}}}}"#
    );
    let r = ask(&h, &first).await;
    assert_eq!(r["result"]["resultType"], "input_required", "{r}");
    let (key, question) = r["result"]["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    assert_eq!(question["method"], "elicitation/create");
    let state = r["result"]["requestState"].as_str().unwrap();

    // The state is bound to its call: replayed on another tool it is refused.
    let replay = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"connections.list","arguments":{{}},"requestState":"{state}","inputResponses":{{}},"_meta":{meta}}}}}"#
    );
    let r = ask(&h, &replay).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");

    // The honest retry completes the upstream call.
    let state = state.to_owned();
    let retry = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "connections.refresh", "arguments": {"connection_id": "c", "ask": "confirm"},
        "requestState": state,
        "inputResponses": {key: {"action": "accept", "content": {"confirm": true}}},
        "_meta": serde_json::from_str::<Value>(meta).unwrap()}});
    let r = ask(&h, &retry.to_string()).await;
    assert_eq!(r["id"], 3);
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    assert!(
        r["result"]["content"].to_string().contains("action=accept"),
        "{r}"
    );
}

#[tokio::test]
async fn a_request_the_upstream_does_not_answer_in_time_gets_an_error() {
    // The harness relays with a 3 s upstream timeout.
    let h = harness(ALLOW_ALL, DemoEra::Both).await;
    init(&h).await;
    let slow = call(
        "9",
        "connections.refresh",
        json!({"connection_id": "a", "sleep_ms": 8000}),
    );
    let r = ask(&h, &slow).await;
    assert_eq!(r["id"], 9);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not answer within 3 s"),
        "{r}"
    );
    // The upstream was told to stop, and the relay still serves.
    let r = ask(&h, &call("10", "connections.list", json!({}))).await;
    assert_eq!(r["result"]["isError"], false, "{r}");
}
