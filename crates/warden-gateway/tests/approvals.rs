//! Approvals in process: the bundled demo server on an in-memory pipe, a relay, and the
//! approvals service over an in-memory store. What reached the upstream is read from the demo
//! server's call log.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use warden_gateway::approvals::{Answer, Answerer, Approvals, Sealer};
use warden_gateway::relay::{Caller, Relay};
use warden_gateway::webhook::Webhooks;
use warden_gateway::{Clock, Guard, Principal, SystemClock};
use warden_policy::Policy;
use warden_store::{ApprovalStatus, ApprovalStore, MemoryApprovals, MemoryCounters};
use warden_testkit::demo::DemoEra;

const POLICY: &str = r#"{"version": "1", "default": "allow",
  "tools": {
    "connections.refresh": {"action": "approve", "reason": "refreshes need a yes",
                            "approval": {"timeout": "3s"}},
    "connections.list": {"action": "approve",
                         "approval": {"mode": "async", "approvers": ["operator"], "timeout": "30s"}},
    "connections.delete": {"action": "approve",
                           "approval": {"mode": "async", "approvers": ["operator"], "valid_for": "2s"}}
  }}"#;

struct Harness {
    relay: Arc<Relay>,
    caller: Caller,
    log: tempfile::NamedTempFile,
    approvals: Arc<Approvals>,
    store: Arc<MemoryApprovals>,
}

async fn harness(client_capabilities: Value) -> Harness {
    let common::DemoRelay {
        relay,
        log,
        server_out: _,
    } = common::demo_relay(DemoEra::Both, Duration::from_secs(10));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = Arc::new(MemoryApprovals::new());
    let approvals = Approvals::start(
        store.clone(),
        clock.clone(),
        None,
        Arc::new(Webhooks::new(None)),
        Sealer::from_secret(&[3u8; 32]),
    );
    let policy = Arc::new(Policy::from_json("test.json", POLICY).unwrap());
    let guard = Arc::new(
        Guard::new(Arc::new(policy), Arc::new(MemoryCounters::new()), clock)
            .with_approvals(approvals.clone()),
    );
    let caller = Caller {
        guard,
        who: Principal::local(),
        session: "s1".into(),
        declared: None,
    };
    let h = Harness {
        relay,
        caller,
        log,
        approvals,
        store,
    };
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": client_capabilities,
        "clientInfo": {"name": "t", "version": "1"}}});
    let (tx, mut rx) = mpsc::channel(4);
    h.relay
        .client_message(&init.to_string(), &tx, &h.caller)
        .await;
    let r: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    assert!(r["result"]["protocolVersion"].is_string(), "{r}");
    h.relay
        .client_message(
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            &tx,
            &h.caller,
        )
        .await;
    h
}

async fn next(rx: &mut mpsc::Receiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a message within 10 s")
        .expect("a message")
}

fn call(id: u64, tool: &str, args: Value, meta: Option<Value>) -> String {
    let mut params = json!({"name": tool, "arguments": args});
    if let Some(m) = meta {
        params["_meta"] = m;
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}).to_string()
}

fn upstream_calls(h: &Harness, tool: &str) -> Vec<Value> {
    std::fs::read_to_string(h.log.path())
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|c| c["tool"] == tool)
        .collect()
}

fn decision(answer: &Value) -> &Value {
    &answer["result"]["_meta"]["warden/decision"]
}

/// Sends a call and returns the channel its messages come back on.
async fn send(h: &Harness, msg: &str) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(16);
    h.relay.client_message(msg, &tx, &h.caller).await;
    rx
}

#[tokio::test]
async fn a_held_call_asks_the_user_and_goes_on_when_accepted() {
    let h = harness(json!({"elicitation": {}})).await;
    let mut rx = send(
        &h,
        &call(
            7,
            "connections.refresh",
            json!({"connection_id": "c-1"}),
            None,
        ),
    )
    .await;
    let ask: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    let message = ask["params"]["message"].as_str().unwrap();
    for part in [
        "connections.refresh",
        "c-1",
        "/tools/connections.refresh/action",
    ] {
        assert!(message.contains(part), "{part} missing from {message}");
    }
    assert!(upstream_calls(&h, "connections.refresh").is_empty());
    // The answer is the gateway's: never forwarded upstream.
    let reply = json!({"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "accept", "content": {"comment": "ok"}}});
    let (tx, _keep) = mpsc::channel(1);
    h.relay
        .client_message(&reply.to_string(), &tx, &h.caller)
        .await;
    let answer: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    assert_eq!(answer["id"], 7);
    assert_ne!(answer["result"]["isError"], true, "{answer}");
    assert_eq!(upstream_calls(&h, "connections.refresh").len(), 1);
    let a = &h.store.list(None, 10).await.unwrap()[0];
    assert_eq!(a.status, ApprovalStatus::Approved);
    assert_eq!(a.decided_by.as_deref(), Some("user"));
    assert_eq!(a.comment.as_deref(), Some("ok"));
    assert_eq!(a.uses, 1);
}

#[tokio::test]
async fn a_declined_question_denies_the_call() {
    let h = harness(json!({"elicitation": {}})).await;
    let mut rx = send(
        &h,
        &call(
            8,
            "connections.refresh",
            json!({"connection_id": "c-2"}),
            None,
        ),
    )
    .await;
    let ask: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    let reply = json!({"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "decline"}});
    let (tx, _keep) = mpsc::channel(1);
    h.relay
        .client_message(&reply.to_string(), &tx, &h.caller)
        .await;
    let answer: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert_eq!(decision(&answer)["decision"], "rejected");
    assert!(upstream_calls(&h, "connections.refresh").is_empty());
}

#[tokio::test]
async fn a_held_call_without_elicitation_waits_for_an_approver_elsewhere() {
    let h = harness(json!({})).await;
    let mut rx = send(
        &h,
        &call(
            9,
            "connections.refresh",
            json!({"connection_id": "c-3"}),
            None,
        ),
    )
    .await;
    // Another process answers through the store alone; the poller notices.
    let id = loop {
        if let Some(a) = h.store.list(None, 10).await.unwrap().first() {
            break a.request.id.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let op = Answer {
        approve: true,
        by: Answerer::Operator {
            detail: "test".into(),
        },
        comment: None,
        valid_for: None,
    };
    warden_gateway::approvals::answer(&*h.store, None, SystemClock.now_ms(), &id, &op)
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    assert_ne!(answer["result"]["isError"], true, "{answer}");
    assert_eq!(upstream_calls(&h, "connections.refresh").len(), 1);
}

#[tokio::test]
async fn nobody_answering_expires_the_call() {
    let h = harness(json!({})).await;
    let mut rx = send(
        &h,
        &call(
            10,
            "connections.refresh",
            json!({"connection_id": "c-4"}),
            None,
        ),
    )
    .await;
    let answer: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    assert_eq!(decision(&answer)["decision"], "expired", "{answer}");
    assert!(upstream_calls(&h, "connections.refresh").is_empty());
    let a = &h.store.list(None, 10).await.unwrap()[0];
    assert_eq!(a.status, ApprovalStatus::Expired);
}

#[tokio::test]
async fn async_calls_return_the_id_and_pass_once_approved() {
    let h = harness(json!({"elicitation": {}})).await;
    let args = json!({"connector": "github"});
    let mut rx = send(&h, &call(11, "connections.list", args.clone(), None)).await;
    let first: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    assert_eq!(decision(&first)["decision"], "approval_required", "{first}");
    let id = decision(&first)["approval_id"].as_str().unwrap().to_owned();
    assert!(
        first["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains(&id)
    );
    // The user may not answer this one (approvers: operator).
    let user = Answer {
        approve: true,
        by: Answerer::User,
        comment: None,
        valid_for: None,
    };
    assert!(h.approvals.answer(&id, &user).await.is_err());
    let op = Answer {
        by: Answerer::Operator {
            detail: "test".into(),
        },
        ..user
    };
    h.approvals.answer(&id, &op).await.unwrap();
    // Different arguments: a new request.
    let mut rx = send(
        &h,
        &call(12, "connections.list", json!({"connector": "slack"}), None),
    )
    .await;
    let other: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    assert_eq!(decision(&other)["decision"], "approval_required");
    assert_ne!(decision(&other)["approval_id"], id.as_str());
    // The identical retry passes, once.
    let mut rx = send(&h, &call(13, "connections.list", args.clone(), None)).await;
    let retry: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    assert_ne!(retry["result"]["isError"], true, "{retry}");
    assert_eq!(upstream_calls(&h, "connections.list").len(), 1);
    let mut rx = send(&h, &call(14, "connections.list", args, None)).await;
    let again: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    assert_eq!(decision(&again)["decision"], "approval_required");
    assert_eq!(upstream_calls(&h, "connections.list").len(), 1);
}

#[tokio::test]
async fn valid_for_covers_identical_calls_until_it_lapses() {
    let h = harness(json!({})).await;
    let args = json!({"connection_id": "c-9"});
    let mut rx = send(&h, &call(20, "connections.delete", args.clone(), None)).await;
    let first: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    let id = decision(&first)["approval_id"].as_str().unwrap().to_owned();
    let op = Answer {
        approve: true,
        by: Answerer::Operator {
            detail: "test".into(),
        },
        comment: None,
        valid_for: None,
    };
    h.approvals.answer(&id, &op).await.unwrap();
    for n in 21..23 {
        let mut rx = send(&h, &call(n, "connections.delete", args.clone(), None)).await;
        let ok: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
        assert_ne!(decision(&ok)["decision"], "approval_required", "{ok}");
    }
    assert_eq!(upstream_calls(&h, "connections.delete").len(), 2);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut rx = send(&h, &call(23, "connections.delete", args, None)).await;
    let lapsed: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    assert_eq!(decision(&lapsed)["decision"], "approval_required");
    assert_eq!(upstream_calls(&h, "connections.delete").len(), 2);
}

const MODERN: &str = "2026-07-28";

fn modern_meta(elicitation: bool) -> Value {
    let caps = if elicitation {
        json!({"elicitation": {}})
    } else {
        json!({})
    };
    json!({"io.modelcontextprotocol/protocolVersion": MODERN,
           "io.modelcontextprotocol/clientCapabilities": caps})
}

#[tokio::test]
async fn modern_clients_get_input_required_with_a_sealed_state() {
    let h = harness(json!({})).await;
    let args = json!({"connection_id": "c-5"});
    let mut rx = send(
        &h,
        &call(
            30,
            "connections.refresh",
            args.clone(),
            Some(modern_meta(true)),
        ),
    )
    .await;
    let first: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    assert_eq!(first["result"]["resultType"], "input_required", "{first}");
    let state = first["result"]["requestState"].as_str().unwrap().to_owned();
    let requests = first["result"]["inputRequests"].as_object().unwrap();
    let (key, question) = requests.iter().next().unwrap();
    assert_eq!(question["method"], "elicitation/create");
    let retry = |id: u64, state: &str, args: &Value| {
        let mut params = json!({"name": "connections.refresh", "arguments": args,
            "_meta": modern_meta(true), "requestState": state,
            "inputResponses": {key.clone(): {"action": "accept", "content": {}}}});
        params["_meta"] = modern_meta(true);
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}).to_string()
    };
    // A tampered state: refused, nothing forwarded.
    let mut tampered = state.clone().into_bytes();
    let at = tampered.len() / 2;
    tampered[at] = if tampered[at] == b'x' { b'y' } else { b'x' };
    let tampered = String::from_utf8(tampered).unwrap();
    let mut rx = send(&h, &retry(31, &tampered, &args)).await;
    let refused: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    // The state on other arguments: refused.
    let mut rx = send(&h, &retry(32, &state, &json!({"connection_id": "c-6"}))).await;
    let refused: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert!(upstream_calls(&h, "connections.refresh").is_empty());
    // The genuine retry passes; the upstream sees neither state nor answer.
    let mut rx = send(&h, &retry(33, &state, &args)).await;
    let ok: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    assert_ne!(ok["result"]["isError"], true, "{ok}");
    let calls = upstream_calls(&h, "connections.refresh");
    assert_eq!(calls.len(), 1);
    // Replayed: refused, still one call.
    let mut rx = send(&h, &retry(34, &state, &args)).await;
    let replay: Value = serde_json::from_str(&next(&mut rx).await).unwrap();
    assert_eq!(replay["error"]["code"], -32602, "{replay}");
    assert_eq!(upstream_calls(&h, "connections.refresh").len(), 1);
}
