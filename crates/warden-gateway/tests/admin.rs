//! The admin API over a real loopback listener, asked the way an operator's tools ask it.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::sync::Arc;

use ed25519_dalek::{Signer as _, SigningKey};
use reqwest::StatusCode;
use serde_json::Value;
use warden_gateway::Clock;
use warden_gateway::admin::{AdminState, serve_admin};
use warden_gateway::audit_view::FIELDS;
use warden_store::audit::{Hash, checkpoint_message};
use warden_store::{
    Anchor, AuditEntry, AuditQuery, AuditRecord, AuditStore, Checkpoint, MemoryAudit, Pruned,
    Retention, StoreFuture,
};

const TOKEN: &str = "test-admin-token-0123456789";
/// 2026-11-21T10:00:00Z.
const T0: u64 = 1_795_255_200_000;
const MINUTE: u64 = 60_000;

/// The admin API's clock: "now" is an hour after T0.
#[derive(Debug)]
struct Fixed;

impl Clock for Fixed {
    fn now_ms(&self) -> u64 {
        T0 + 60 * MINUTE
    }
}

struct Api {
    base: String,
    http: reqwest::Client,
    store: Arc<MemoryAudit>,
}

impl Api {
    async fn start() -> Api {
        let store = Arc::new(MemoryAudit::new());
        let state = AdminState::new(store.clone(), TOKEN, Arc::new(Fixed));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(serve_admin(listener, state, std::future::pending()));
        Api {
            base,
            http: reqwest::Client::new(),
            store,
        }
    }

    /// Ten records: calls by ana and bo a minute apart from T0, then two events.
    async fn with_records() -> Api {
        let api = Api::start().await;
        let mut entries: Vec<AuditEntry> = (0..8)
            .map(|i| AuditEntry {
                time_ms: T0 + i * MINUTE,
                event: "call".into(),
                identity: Some(if i % 2 == 0 { "ana" } else { "bo" }.into()),
                server: Some("crm".into()),
                tool: Some(if i < 4 { "refund" } else { "lookup" }.into()),
                decision: Some(if i == 3 { "deny" } else { "allow" }.into()),
                argument_keys: vec!["amount".into()],
                latency_us: Some(1_000 + i),
                ..AuditEntry::default()
            })
            .collect();
        for (i, event) in ["policy_loaded", "key_created"].iter().enumerate() {
            entries.push(AuditEntry {
                time_ms: T0 + (8 + i as u64) * MINUTE,
                event: (*event).into(),
                detail: Some(r#"{"note":"x, \"y\""}"#.into()),
                ..AuditEntry::default()
            });
        }
        api.store.append(&entries).await.unwrap();
        api
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, path: &str) -> Value {
        let resp = self.get(path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        resp.json().await.unwrap()
    }

    /// The `seq`s of the records `path` answers.
    async fn seqs(&self, path: &str) -> Vec<u64> {
        self.json(path).await["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect()
    }

    /// A 400 for `path`: the parameter it names and its message.
    async fn bad(&self, path: &str) -> (String, String) {
        let resp = self.get(path).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: Value = resp.json().await.unwrap();
        (
            body["parameter"].as_str().unwrap_or_default().to_owned(),
            body["error"].as_str().unwrap().to_owned(),
        )
    }
}

#[tokio::test]
async fn health_needs_no_token() {
    let api = Api::start().await;
    let resp = reqwest::get(format!("{}/v1/health", api.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );
}

#[tokio::test]
async fn audit_endpoints_need_the_token() {
    let api = Api::with_records().await;
    for path in ["/v1/audit/records", "/v1/audit/export"] {
        let url = format!("{}{path}", api.base);
        let cases = [
            (None, "needs the admin token"),
            (Some("Bearer not-the-token".to_owned()), "token is wrong"),
            (Some(format!("Basic {TOKEN}")), "must be `Bearer <token>`"),
            (Some(TOKEN.to_owned()), "must be `Bearer <token>`"),
            (Some(format!("Bearer {TOKEN}x")), "token is wrong"),
            (Some("Bearer".to_owned()), "must be `Bearer <token>`"),
        ];
        for (header, says) in cases {
            let mut req = api.http.get(&url);
            if let Some(h) = &header {
                req = req.header("authorization", h);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path} {header:?}");
            assert_eq!(
                resp.headers()["www-authenticate"],
                "Bearer realm=\"warden-admin\""
            );
            let body: Value = resp.json().await.unwrap();
            let error = body["error"].as_str().unwrap();
            assert!(error.contains(says), "{header:?}: {error}");
            assert!(!error.contains(TOKEN), "the token is never echoed");
        }
        // The scheme is case-insensitive (RFC 7235).
        let resp = api
            .http
            .get(&url)
            .header("authorization", format!("bearer {TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn records_have_every_field() {
    let api = Api::with_records().await;
    let body = api.json("/v1/audit/records").await;
    let records = body["records"].as_array().unwrap();
    assert_eq!(records.len(), 10);
    assert_eq!(body["next_after"], Value::Null);
    let first = &records[0];
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut fields = FIELDS.to_vec();
    fields.sort_unstable();
    assert_eq!(keys, fields);
    assert_eq!(first["seq"], 1);
    assert_eq!(first["time"], "2026-11-21T10:00:00.000Z");
    assert_eq!(first["argument_keys"], serde_json::json!(["amount"]));
    assert_eq!(records[9]["event"], "key_created");
    assert_eq!(records[9]["detail"]["note"], "x, \"y\"");
    assert_eq!(records[1]["prev_hash"], first["hash"]);
}

#[tokio::test]
async fn filters() {
    let api = Api::with_records().await;
    let r = "/v1/audit/records";
    assert_eq!(api.seqs(&format!("{r}?identity=ana")).await, [1, 3, 5, 7]);
    assert_eq!(
        api.seqs(&format!("{r}?identity=bo&tool=refund")).await,
        [2, 4]
    );
    assert_eq!(api.seqs(&format!("{r}?decision=deny")).await, [4]);
    assert_eq!(api.seqs(&format!("{r}?event=policy_loaded")).await, [9]);
    assert_eq!(
        api.seqs(&format!("{r}?server=crm&tool=lookup")).await,
        [5, 6, 7, 8]
    );
    assert_eq!(
        api.seqs(&format!("{r}?identity=nobody")).await,
        [] as [u64; 0]
    );
    // Times: inclusive; RFC 3339 or a span before now (now is T0 + 60 min).
    assert_eq!(
        api.seqs(&format!(
            "{r}?since=2026-11-21T10:02:00Z&until=2026-11-21T10:04:00.000Z"
        ))
        .await,
        [3, 4, 5]
    );
    assert_eq!(api.seqs(&format!("{r}?since=52m")).await, [9, 10]);
    assert_eq!(api.seqs(&format!("{r}?until=1h")).await, [1]);
    // Percent-encoded values are decoded.
    assert_eq!(
        api.seqs(&format!("{r}?since=2026-11-21T10%3A08%3A00Z"))
            .await,
        [9, 10]
    );
}

#[tokio::test]
async fn paging_forward_and_backward() {
    let api = Api::with_records().await;
    let mut seen = Vec::new();
    let mut path = "/v1/audit/records?limit=4".to_owned();
    loop {
        let body = api.json(&path).await;
        seen.extend(
            body["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["seq"].as_u64().unwrap()),
        );
        assert_eq!(body["next_before"], Value::Null);
        match body["next_after"].as_u64() {
            Some(after) => path = format!("/v1/audit/records?limit=4&after={after}"),
            None => break,
        }
    }
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());

    let body = api.json("/v1/audit/records?order=desc&limit=3").await;
    assert_eq!(body["next_before"], 8);
    assert_eq!(body["next_after"], Value::Null);
    assert_eq!(
        api.seqs("/v1/audit/records?order=desc&limit=3&before=8")
            .await,
        [7, 6, 5]
    );
    // An exact fit says there is no next page.
    let body = api.json("/v1/audit/records?limit=10").await;
    assert_eq!(body["next_after"], Value::Null);
    assert_eq!(api.seqs("/v1/audit/records?after=3&before=6").await, [4, 5]);
}

#[tokio::test]
async fn export_jsonl_and_csv() {
    let api = Api::with_records().await;
    let resp = api.get("/v1/audit/export?format=jsonl&identity=ana").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("warden-audit.jsonl")
    );
    let text = resp.text().await.unwrap();
    let seqs: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, [1, 3, 5, 7]);
    // The same records as /records, field for field.
    let from_records = api.json("/v1/audit/records?identity=ana").await;
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first, from_records["records"][0]);

    // JSON Lines is the default.
    let text = api.get("/v1/audit/export").await.text().await.unwrap();
    assert_eq!(text.lines().count(), 10);

    let resp = api.get("/v1/audit/export?format=csv").await;
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let bytes = resp.bytes().await.unwrap();
    let mut reader = csv::Reader::from_reader(bytes.as_ref());
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), FIELDS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 10);
    let col = |name: &str| FIELDS.iter().position(|f| *f == name).unwrap();
    assert_eq!(&rows[3][col("decision")], "deny");
    assert_eq!(&rows[8][col("detail")], r#"{"note":"x, \"y\""}"#);
    assert_eq!(&rows[0][col("time")], "2026-11-21T10:00:00.000Z");

    // Nothing matches: a CSV still has its header, JSON Lines is empty.
    let text = api
        .get("/v1/audit/export?format=csv&identity=nobody")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(text.lines().count(), 1);
    let text = api
        .get("/v1/audit/export?identity=nobody")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(text, "");
}

#[tokio::test]
async fn export_streams_many_pages() {
    let api = Api::start().await;
    let entries: Vec<AuditEntry> = (0..2_500)
        .map(|i| AuditEntry {
            time_ms: T0 + i,
            event: "call".into(),
            tool: Some(format!("t{i}")),
            ..AuditEntry::default()
        })
        .collect();
    api.store.append(&entries).await.unwrap();
    let resp = api.get("/v1/audit/export?after=10").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    let seqs: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (11..=2_500).collect::<Vec<_>>());
}

#[tokio::test]
async fn bad_parameters_are_named() {
    let api = Api::with_records().await;
    let cases = [
        (
            "/v1/audit/records?since=yesterday",
            "since",
            "2026-11-21T10:00:00Z",
        ),
        (
            "/v1/audit/records?until=2026-11-21T10:00:00+01:00",
            "until",
            "UTC",
        ),
        ("/v1/audit/records?since=5m&until=2h", "until", "swap"),
        ("/v1/audit/records?limit=0", "limit", "1 to 10000"),
        ("/v1/audit/records?limit=10001", "limit", "1 to 10000"),
        ("/v1/audit/records?limit=many", "limit", "limit=500"),
        ("/v1/audit/records?order=sideways", "order", "asc"),
        ("/v1/audit/records?after=-1", "after", "after=120"),
        ("/v1/audit/records?before=x", "before", "sequence number"),
        ("/v1/audit/records?identity=", "identity", "empty"),
        ("/v1/audit/records?tool=a&tool=b", "tool", "twice"),
        ("/v1/audit/records?actor=ana", "actor", "identity"),
        (
            "/v1/audit/records?format=csv",
            "format",
            "unknown parameter",
        ),
        ("/v1/audit/export?format=xml", "format", "jsonl or csv"),
        ("/v1/audit/export?limit=5", "limit", "unknown parameter"),
    ];
    for (path, parameter, says) in cases {
        let (named, error) = api.bad(path).await;
        assert_eq!(named, parameter, "{path}: {error}");
        assert!(error.contains(says), "{path}: {error}");
    }
}

#[tokio::test]
async fn unknown_paths_are_json_404s() {
    let api = Api::start().await;
    let resp = api.get("/v1/nothing").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("/v1/audit/records")
    );
}

#[tokio::test]
async fn stops_on_shutdown() {
    let store: Arc<dyn AuditStore> = Arc::new(MemoryAudit::new());
    let state = AdminState::new(store, TOKEN, Arc::new(Fixed));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_admin(listener, state, async {
        let _ = rx.await;
    }));
    tx.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// A log whose record 3 was edited behind the chain's back: queries see the edit.
#[derive(Debug)]
struct Edited(MemoryAudit);

impl AuditStore for Edited {
    fn append<'a>(&'a self, entries: &'a [AuditEntry]) -> StoreFuture<'a, Vec<u64>> {
        self.0.append(entries)
    }
    fn query<'a>(&'a self, query: &'a AuditQuery) -> StoreFuture<'a, Vec<AuditRecord>> {
        Box::pin(async move {
            let mut got = self.0.query(query).await?;
            for r in &mut got {
                if r.seq == 3 {
                    r.entry.decision = Some("allow".into());
                }
            }
            Ok(got)
        })
    }
    fn head(&self) -> StoreFuture<'_, Option<(u64, Hash)>> {
        self.0.head()
    }
    fn anchor(&self) -> StoreFuture<'_, Anchor> {
        self.0.anchor()
    }
    fn add_checkpoint<'a>(&'a self, checkpoint: &'a Checkpoint) -> StoreFuture<'a, ()> {
        self.0.add_checkpoint(checkpoint)
    }
    fn checkpoints(&self) -> StoreFuture<'_, Vec<Checkpoint>> {
        self.0.checkpoints()
    }
    fn prune<'a>(
        &'a self,
        retention: &'a Retention,
        now_ms: u64,
    ) -> StoreFuture<'a, Option<Pruned>> {
        self.0.prune(retention, now_ms)
    }
    fn salt(&self) -> StoreFuture<'_, [u8; 32]> {
        self.0.salt()
    }
}

/// Five records and a checkpoint over them signed with `key`.
async fn signed_log(store: &dyn AuditStore, key: &SigningKey) {
    let entries: Vec<AuditEntry> = (0..5)
        .map(|i| AuditEntry {
            time_ms: T0 + i,
            event: "call".into(),
            decision: Some("deny".into()),
            ..AuditEntry::default()
        })
        .collect();
    store.append(&entries).await.unwrap();
    let (seq, hash) = store.head().await.unwrap().unwrap();
    let signature = key
        .sign(&checkpoint_message(seq, &hash, T0 + 10))
        .to_bytes();
    store
        .add_checkpoint(&Checkpoint {
            seq,
            hash,
            time_ms: T0 + 10,
            public_key: key.verifying_key().to_bytes(),
            signature,
        })
        .await
        .unwrap();
}

async fn serve(store: Arc<dyn AuditStore>, public_key: Option<[u8; 32]>) -> String {
    let state = AdminState::new(store, TOKEN, Arc::new(Fixed)).with_public_key(public_key);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve_admin(listener, state, std::future::pending()));
    base
}

async fn verify_report(base: &str) -> Value {
    let resp = reqwest::Client::new()
        .get(format!("{base}/v1/audit/verify"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn verify_an_intact_log() {
    let key = SigningKey::from_bytes(&[9; 32]);
    let store = Arc::new(MemoryAudit::new());
    signed_log(store.as_ref(), &key).await;
    let base = serve(store.clone(), Some(key.verifying_key().to_bytes())).await;
    let report = verify_report(&base).await;
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["signatures_checked"], true);
    assert_eq!(report["records"], 5);
    assert_eq!(report["first_seq"], 1);
    assert_eq!(report["last_seq"], 5);
    assert_eq!(report["checkpoints"], 1);
    assert_eq!(report["checkpoints_verified"], 1);
    assert_eq!(report["last_signed_seq"], 5);
    assert_eq!(report["problems"], serde_json::json!([]));

    // Without a key, signatures are not checked.
    let base = serve(store, None).await;
    let report = verify_report(&base).await;
    assert_eq!(report["intact"], true);
    assert_eq!(report["signatures_checked"], false);
    assert_eq!(report["checkpoints_verified"], 0);
}

#[tokio::test]
async fn verify_names_tampering() {
    let key = SigningKey::from_bytes(&[9; 32]);
    let store = Arc::new(Edited(MemoryAudit::new()));
    signed_log(store.as_ref(), &key).await;
    let base = serve(store, Some(key.verifying_key().to_bytes())).await;
    let report = verify_report(&base).await;
    assert_eq!(report["intact"], false, "{report}");
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["seq"] == 3 && p["kind"] == "edited"),
        "{report}"
    );

    let resp = reqwest::Client::new()
        .get(format!("{base}/v1/audit/verify?deep=1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = reqwest::get(format!("{base}/v1/audit/verify"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------------------------------
// Approvals
// ---------------------------------------------------------------------------------------------

mod approvals {
    use super::*;
    use warden_gateway::approvals::{Approvals, Sealer};
    use warden_gateway::webhook::Webhooks;
    use warden_store::{ApprovalRequest, ApprovalStore, KeyStore, MemoryApprovals, MemoryKeys};

    struct Inbox {
        base: String,
        http: reqwest::Client,
        store: Arc<MemoryApprovals>,
        /// An API key of `alice` (an approver) and of `agent` (the caller).
        alice: String,
        agent: String,
    }

    fn request(id: &str, approvers: &[&str]) -> ApprovalRequest {
        ApprovalRequest {
            id: id.into(),
            created_ms: T0,
            expires_ms: T0 + 120 * MINUTE,
            identity: "agent".into(),
            grant: "agent@crm".into(),
            server: "crm".into(),
            session: Some("s".into()),
            tool: "refund".into(),
            digest: "d".into(),
            arguments: r#"{"amount":5000}"#.into(),
            rule: "/tools/refund/action".into(),
            reason: "approval required: refunds".into(),
            approvers: approvers.iter().map(|a| a.to_string()).collect(),
            mode: "async".into(),
            valid_for_ms: 0,
        }
    }

    async fn inbox() -> Inbox {
        let store = Arc::new(MemoryApprovals::new());
        let keys = Arc::new(MemoryKeys::new());
        let alice = warden_auth::new_key("alice", None, None, T0);
        let agent = warden_auth::new_key("agent", None, None, T0);
        keys.create(alice.record.clone()).await.unwrap();
        keys.create(agent.record.clone()).await.unwrap();
        let clock: Arc<dyn Clock> = Arc::new(Fixed);
        let approvals = Approvals::start(
            store.clone(),
            clock.clone(),
            None,
            Arc::new(Webhooks::new(None)),
            Sealer::from_secret(&[1u8; 32]),
        );
        let groups: warden_gateway::admin::GroupsOf = Arc::new(|name: &str| {
            if name == "bo" {
                vec!["finance".into()]
            } else {
                Vec::new()
            }
        });
        let state = AdminState::new(Arc::new(MemoryAudit::new()), TOKEN, clock).with_approvals(
            approvals,
            Some(keys),
            groups,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(serve_admin(listener, state, std::future::pending()));
        Inbox {
            base,
            http: reqwest::Client::new(),
            store,
            alice: alice.secret,
            agent: agent.secret,
        }
    }

    impl Inbox {
        async fn post(&self, path: &str, bearer: &str, body: &str) -> (StatusCode, Value) {
            let resp = self
                .http
                .post(format!("{}{path}", self.base))
                .bearer_auth(bearer)
                .body(body.to_owned())
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json().await.unwrap())
        }

        async fn get(&self, path: &str, bearer: &str) -> (StatusCode, Value) {
            let resp = self
                .http
                .get(format!("{}{path}", self.base))
                .bearer_auth(bearer)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json().await.unwrap())
        }
    }

    #[tokio::test]
    async fn lists_shows_and_answers_with_the_admin_token() {
        let api = inbox().await;
        api.store
            .create(&request("aaaaaaaaaaaa", &["operator"]))
            .await
            .unwrap();
        let (status, list) = api.get("/v1/approvals", TOKEN).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["approvals"][0]["id"], "aaaaaaaaaaaa");
        assert_eq!(list["approvals"][0]["arguments"]["amount"], 5000);
        let (status, one) = api.get("/v1/approvals/aaaaaaaaaaaa", TOKEN).await;
        assert_eq!(
            (status, &one["status"]),
            (StatusCode::OK, &"pending".into())
        );
        let (status, done) = api
            .post(
                "/v1/approvals/aaaaaaaaaaaa/approve",
                TOKEN,
                r#"{"comment": "ok", "for": "1h"}"#,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{done}");
        assert_eq!(done["status"], "approved");
        assert_eq!(done["decided_by"], "operator:admin-api");
        assert_eq!(done["single_use"], false);
        // Answered already: 409; unknown: 404; nothing pending any more.
        let (status, _) = api.post("/v1/approvals/aaaaaaaaaaaa/deny", TOKEN, "").await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, _) = api.post("/v1/approvals/bbbbbbbbbbbb/deny", TOKEN, "").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, list) = api.get("/v1/approvals", TOKEN).await;
        assert_eq!(list["approvals"], serde_json::json!([]));
        let (_, all) = api.get("/v1/approvals?status=all", TOKEN).await;
        assert_eq!(all["approvals"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn approvers_answer_with_their_own_key_and_never_their_own_call() {
        let api = inbox().await;
        api.store
            .create(&request(
                "cccccccccccc",
                &["alice", "agent", "group:finance"],
            ))
            .await
            .unwrap();
        // The caller, though listed: refused (separation of duties).
        let (status, body) = api
            .post("/v1/approvals/cccccccccccc/approve", &api.agent, "")
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("separation of duties"),
            "{body}"
        );
        // The operator is not listed here.
        let (status, _) = api
            .post("/v1/approvals/cccccccccccc/approve", TOKEN, "")
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // A wrong key: 401.
        let (status, _) = api
            .post(
                "/v1/approvals/cccccccccccc/approve",
                "wdn_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                "",
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // Bad bodies: 400, nothing changed.
        let (status, _) = api
            .post(
                "/v1/approvals/cccccccccccc/approve",
                &api.alice,
                r#"{"for": "forever"}"#,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = api
            .post(
                "/v1/approvals/cccccccccccc/deny",
                &api.alice,
                r#"{"for": "1h"}"#,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, done) = api
            .post(
                "/v1/approvals/cccccccccccc/deny",
                &api.alice,
                r#"{"comment": "too much"}"#,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{done}");
        assert_eq!(done["status"], "denied");
        assert_eq!(done["decided_by"], "alice");
        assert_eq!(done["comment"], "too much");
    }
}
