//! Definition pins in process: the bundled demo server on an in-memory pipe, a relay whose
//! guard checks the server's definitions against `MemoryPins`, and the audit log in memory.
//! A changed definition is made by approving, in the store, another definition of a tool than
//! the one the server lists (as if the server had changed it since).

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use warden_gateway::definitions::Definitions;
use warden_gateway::relay::{Caller, Relay};
use warden_gateway::{AuditLog, AuditSettings, Clock, Guard, Principal, SystemClock};
use warden_policy::Policy;
use warden_store::{
    AuditQuery, AuditStore, MemoryAudit, MemoryCounters, MemoryPins, PinStatus, PinStore,
};
use warden_testkit::demo::DemoEra;

const SERVER: &str = "demo";
const TOOL: &str = "connections.list";

struct Harness {
    relay: Arc<Relay>,
    caller: Caller,
    log: tempfile::NamedTempFile,
    pins: Arc<MemoryPins>,
    audit: Arc<MemoryAudit>,
    defs: Arc<Definitions>,
    tx: mpsc::Sender<String>,
    rx: mpsc::Receiver<String>,
    next_id: u64,
}

async fn harness(pinning: &str) -> Harness {
    let common::DemoRelay {
        relay,
        log,
        server_out: _,
    } = common::demo_relay(DemoEra::Both, Duration::from_secs(10));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let audit = Arc::new(MemoryAudit::new());
    let log_writer = AuditLog::start(audit.clone(), AuditSettings::default(), clock.clone())
        .await
        .unwrap();
    let pins = Arc::new(MemoryPins::new());
    let defs = Arc::new(Definitions::new(
        SERVER,
        pins.clone(),
        Some(log_writer.clone()),
        clock.clone(),
    ));
    let text = format!(r#"{{"version": "1", "default": "allow", "pinning": "{pinning}"}}"#);
    let policy = Arc::new(Policy::from_json("test.json", &text).unwrap());
    let guard = Arc::new(
        Guard::new(Arc::new(policy), Arc::new(MemoryCounters::new()), clock)
            .with_audit(log_writer, SERVER)
            .with_definitions(defs.clone()),
    );
    let caller = Caller {
        guard,
        who: Principal::local(),
        session: "s1".into(),
        declared: None,
    };
    let (tx, rx) = mpsc::channel(16);
    let mut h = Harness {
        relay,
        caller,
        log,
        pins,
        audit,
        defs,
        tx,
        rx,
        next_id: 1,
    };
    let r = h
        .request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}}),
        )
        .await;
    assert!(r["result"]["protocolVersion"].is_string(), "{r}");
    h.relay
        .client_message(
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            &h.tx,
            &h.caller,
        )
        .await;
    h
}

impl Harness {
    async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.relay
            .client_message(&msg.to_string(), &self.tx, &self.caller)
            .await;
        let text = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("an answer within 10 s")
            .expect("an answer");
        serde_json::from_str(&text).unwrap()
    }

    async fn listed(&mut self) -> Vec<String> {
        let r = self.request("tools/list", json!({})).await;
        r["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("a tool list: {r}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn call(&mut self, tool: &str) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": {}}))
            .await
    }

    fn upstream_calls(&self, tool: &str) -> usize {
        std::fs::read_to_string(self.log.path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|c| c["tool"] == tool)
            .count()
    }

    /// Makes the store's approved definition of `tool` another one than the server lists.
    async fn approve_another_definition(&self, tool: &str) {
        let fake = (
            tool.to_owned(),
            "0".repeat(64),
            json!({"name": tool, "description": "the definition approved before"}).to_string(),
        );
        self.pins.observe(SERVER, &[fake], 1).await.unwrap();
        self.pins
            .approve(SERVER, tool, "test", 2)
            .await
            .unwrap()
            .unwrap();
        self.defs.mark_stale();
    }

    async fn events(&self, event: &str) -> Vec<Value> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let q = AuditQuery {
            event: Some(event.into()),
            ..AuditQuery::default()
        };
        self.audit
            .query(&q)
            .await
            .unwrap()
            .into_iter()
            .map(|r| serde_json::from_str(r.entry.detail.as_deref().unwrap()).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn the_first_listing_pins_every_tool() {
    let mut h = harness("enforce").await;
    let names = h.listed().await;
    assert!(names.len() > 3, "{names:?}");
    let pins = h.pins.list(Some(SERVER)).await.unwrap();
    assert_eq!(pins.len(), names.len());
    assert!(
        pins.iter()
            .all(|p| p.status == PinStatus::Approved
                && p.approved_by.as_deref() == Some("first-use"))
    );
    assert!(h.events("tool_definition_changed").await.is_empty());
    let r = h.call(TOOL).await;
    assert_ne!(r["result"]["isError"], true, "{r}");
}

#[tokio::test]
async fn under_enforce_a_changed_definition_is_hidden_and_denied_until_approved() {
    let mut h = harness("enforce").await;
    assert!(h.listed().await.contains(&TOOL.to_owned()));
    h.approve_another_definition(TOOL).await;

    // A call checks again first (the facts are stale): denied, and nothing reaches the server.
    let r = h.call(TOOL).await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    let decision = &r["result"]["_meta"]["warden/decision"];
    assert_eq!(decision["decision"], "deny", "{r}");
    assert_eq!(decision["rule"], "/pinning", "{r}");
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("warden pins approve demo connections.list"),
        "{text}"
    );
    assert_eq!(h.upstream_calls(TOOL), 0);
    assert!(!h.listed().await.contains(&TOOL.to_owned()));

    let events = h.events("tool_definition_changed").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["tool"], TOOL);
    assert_eq!(events[0]["kind"], "changed");
    assert_eq!(events[0]["old_fingerprint"], "0".repeat(64));

    // Approved elsewhere (the store): listed and callable again.
    h.pins
        .approve(SERVER, TOOL, "operator:test", 3)
        .await
        .unwrap()
        .unwrap();
    let r = h.call(TOOL).await;
    assert_ne!(r["result"]["isError"], true, "{r}");
    assert_eq!(h.upstream_calls(TOOL), 1);
    assert!(h.listed().await.contains(&TOOL.to_owned()));
}

#[tokio::test]
async fn under_warn_nothing_is_hidden_but_the_change_is_recorded() {
    let mut h = harness("warn").await;
    assert!(h.listed().await.contains(&TOOL.to_owned()));
    h.approve_another_definition(TOOL).await;
    assert!(h.listed().await.contains(&TOOL.to_owned()));
    let r = h.call(TOOL).await;
    assert_ne!(r["result"]["isError"], true, "{r}");
    assert_eq!(h.upstream_calls(TOOL), 1);
    let events = h.events("tool_definition_changed").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        h.pins.get(SERVER, TOOL).await.unwrap().unwrap().status,
        PinStatus::Pending
    );
}

#[tokio::test]
async fn under_off_nothing_is_pinned() {
    let mut h = harness("off").await;
    h.listed().await;
    assert!(h.pins.list(None).await.unwrap().is_empty());
}
