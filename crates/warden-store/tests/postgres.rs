//! The shared suites against a real PostgreSQL server, and what only the
//! PostgreSQL backend promises: replicas (separate pools) sharing state,
//! migrations racing safely, TLS refused, passwords never shown.
//!
//! The server comes from `WARDEN_TEST_POSTGRES_URL` (see `common/pg.rs`);
//! these tests fail, never skip, when it is unreachable. Every test works in
//! a fresh schema `warden_test_<random>`, dropped when the test ends.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::audit::{RawAudit, problems, verified};
use common::pg::{Schema, connect, count, fresh_schema_name, pg, raw, raw_in, url};
use common::{HOUR, MINUTE, T0, check, denied, granted};
use tokio::time::Instant;
use warden_store::audit::{GENESIS, TamperKind, entry_hash};
use warden_store::postgres::migrations::latest_version;
use warden_store::{
    Anchor, AuditEntry, AuditQuery, AuditRecord, AuditStore, Checkpoint, CounterStore, KeyStore,
    LimitCheck, MemoryAudit, PgState, ReserveOutcome, Retention, StoreError,
};

counter_suite!(pg_backend, pg().await);
key_suite!(pg_keys, pg().await);
approval_suite!(pg_approvals, pg().await);
approval_race_suite!(pg_approval_races, pg_pair().await);
pin_suite!(pg_pins, pg().await);
pin_race_suite!(pg_pin_races, pg_pin_pair().await);
audit_suite!(pg_audit, pg().await);
audit_tamper_suite!(pg_tamper, pg_raw().await);

/// Direct access to the PostgreSQL tables beside the store's pool: the
/// attacker of the tamper cases, with the rights of the tables' owner.
struct PgRaw {
    client: tokio_postgres::Client,
}

impl PgRaw {
    async fn new(schema: &Schema) -> Self {
        let client = raw_in(schema).await;
        // An owner can drop any constraint; this one would stop the suite's
        // renumbering through negative numbers, not an attacker.
        client
            .batch_execute("ALTER TABLE audit_records DROP CONSTRAINT audit_records_seq_check")
            .await
            .expect("drop the seq constraint");
        Self { client }
    }
}

impl RawAudit for PgRaw {
    async fn exec(&self, sql: &str) {
        self.client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    async fn put(&self, r: &AuditRecord) {
        let e = &r.entry;
        let int = |n: u64| i64::try_from(n).expect("fits BIGINT");
        self.client
            .execute(
                "INSERT INTO audit_records (seq, prev_hash, hash, time_ms, event, identity, \
                 grant_name, server, session, request_id, method, tool, decision, rule, reason, \
                 argument_keys, arguments, outcome, result_bytes, latency_us, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                 $17, $18, $19, $20, $21) \
                 ON CONFLICT (seq) DO UPDATE SET prev_hash = EXCLUDED.prev_hash, \
                 hash = EXCLUDED.hash, time_ms = EXCLUDED.time_ms, event = EXCLUDED.event, \
                 identity = EXCLUDED.identity, grant_name = EXCLUDED.grant_name, \
                 server = EXCLUDED.server, session = EXCLUDED.session, \
                 request_id = EXCLUDED.request_id, method = EXCLUDED.method, \
                 tool = EXCLUDED.tool, decision = EXCLUDED.decision, rule = EXCLUDED.rule, \
                 reason = EXCLUDED.reason, argument_keys = EXCLUDED.argument_keys, \
                 arguments = EXCLUDED.arguments, outcome = EXCLUDED.outcome, \
                 result_bytes = EXCLUDED.result_bytes, latency_us = EXCLUDED.latency_us, \
                 detail = EXCLUDED.detail",
                &[
                    &int(r.seq),
                    &&r.prev_hash[..],
                    &&r.hash[..],
                    &int(e.time_ms),
                    &e.event,
                    &e.identity,
                    &e.grant,
                    &e.server,
                    &e.session,
                    &e.request_id,
                    &e.method,
                    &e.tool,
                    &e.decision,
                    &e.rule,
                    &e.reason,
                    &e.argument_keys,
                    &e.arguments,
                    &e.outcome,
                    &e.result_bytes.map(int),
                    &e.latency_us.map(int),
                    &e.detail,
                ],
            )
            .await
            .expect("put record");
    }

    async fn set_anchor(&self, anchor: Anchor) {
        let first = i64::try_from(anchor.first_seq).expect("fits BIGINT");
        self.client
            .execute(
                "UPDATE audit_head SET anchor_seq = $1, anchor_hash = $2",
                &[&first, &&anchor.prev_hash[..]],
            )
            .await
            .expect("set anchor");
    }
}

/// Two replicas (two pools) on one fresh schema.
async fn pg_pair() -> (
    Arc<dyn warden_store::ApprovalStore>,
    Arc<dyn warden_store::ApprovalStore>,
    Schema,
) {
    let (a, schema) = pg().await;
    let b = connect(&schema.name).await;
    (Arc::new(a), Arc::new(b), schema)
}

/// Two replicas (two pools) on one fresh schema, as pin stores.
async fn pg_pin_pair() -> (
    Arc<dyn warden_store::PinStore>,
    Arc<dyn warden_store::PinStore>,
    Schema,
) {
    let (a, schema) = pg().await;
    let b = connect(&schema.name).await;
    (Arc::new(a), Arc::new(b), schema)
}

async fn pg_raw() -> (PgState, PgRaw, Schema) {
    let (store, schema) = pg().await;
    let raw = PgRaw::new(&schema).await;
    (store, raw, schema)
}

// ---------------------------------------------------------------- schema

#[tokio::test]
async fn connect_creates_schema_and_versions_once() {
    let (store, schema) = pg().await;
    assert_eq!(store.schema(), schema.name);
    let client = raw_in(&schema).await;
    let versions: Vec<i32> = client
        .query("SELECT version FROM schema_version ORDER BY version", &[])
        .await
        .expect("versions")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let all: Vec<i32> = (1..=latest_version() as i32).collect();
    assert_eq!(versions, all);
    drop(store);
    // Reconnecting applies nothing twice.
    let again = connect(&schema.name).await;
    assert_eq!(
        count(&client, "SELECT COUNT(*) FROM schema_version").await,
        i64::from(latest_version())
    );
    drop(again);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_are_applied_once_when_replicas_start_together() {
    let name = fresh_schema_name();
    let schema = Schema { name: name.clone() };
    // Six replicas starting at once on a schema that does not exist yet.
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let (url, name) = (url(), name.clone());
            tokio::spawn(async move { PgState::connect_with_schema(&url, &name).await })
        })
        .collect();
    let mut stores = Vec::new();
    for start in starts {
        stores.push(start.await.expect("task").expect("every replica starts"));
    }
    let client = raw_in(&schema).await;
    assert_eq!(
        count(&client, "SELECT COUNT(*) FROM schema_version").await,
        i64::from(latest_version())
    );
    assert_eq!(
        count(&client, "SELECT COUNT(*) FROM store_identity").await,
        1
    );
    // They are one store: a reservation made by one is rolled back by another.
    let c = [check("shared-origin", MINUTE, 1.0, 1.0)];
    let handle = granted(&stores[0], &c, T0).await;
    denied(&stores[5], &c, T0 + 1).await;
    stores[3]
        .rollback(&handle)
        .await
        .expect("rollback by a replica");
    granted(&stores[5], &c, T0 + 2).await;
}

#[tokio::test]
async fn newer_schema_is_refused_with_a_fix() {
    let (store, schema) = pg().await;
    drop(store);
    raw_in(&schema)
        .await
        .execute(
            "INSERT INTO schema_version (version, description) VALUES (99, 'future')",
            &[],
        )
        .await
        .expect("insert");
    let err = PgState::connect_with_schema(&url(), &schema.name)
        .await
        .expect_err("newer schema");
    assert!(
        matches!(err, StoreError::PgSchemaTooNew { found: 99, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&schema.name) && msg.contains("upgrade warden"),
        "{msg}"
    );
}

#[tokio::test]
async fn connect_uses_the_urls_own_search_path() {
    let name = fresh_schema_name();
    let schema = Schema { name: name.clone() };
    let sep = if url().contains('?') { '&' } else { '?' };
    let with_path = format!("{}{sep}options=-c%20search_path%3D{name}", url());
    // The schema does not exist yet: there is nowhere to put the tables.
    let err = PgState::connect(&with_path).await.expect_err("no schema");
    assert!(matches!(err, StoreError::PgConfig { .. }), "{err:?}");
    assert!(err.to_string().contains("search_path"), "{err}");
    raw()
        .await
        .batch_execute(&format!("CREATE SCHEMA {name}"))
        .await
        .expect("create schema");
    let store = PgState::connect(&with_path).await.expect("connect");
    assert_eq!(store.schema(), name);
    granted(&store, &[check("k", MINUTE, 1.0, 1.0)], T0).await;
    assert_eq!(
        count(
            &raw_in(&schema).await,
            "SELECT COUNT(*) FROM counter_entries"
        )
        .await,
        1
    );
}

// ---------------------------------------------------------------- errors

#[tokio::test]
async fn unreachable_server_fails_naming_it_without_the_password() {
    // Port 1 on loopback: nothing listens there.
    let err = PgState::connect("postgres://warden:hunter2@127.0.0.1:1/state")
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(err, StoreError::PgConnect { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("warden@127.0.0.1:1/state"), "{msg}");
    assert!(msg.contains("is the server running"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
}

#[tokio::test]
async fn tls_and_bad_schema_names_are_refused_up_front() {
    for mode in ["require", "verify-ca", "verify-full"] {
        let err = PgState::connect(&format!("postgres://u:pw@127.0.0.1:1/db?sslmode={mode}"))
            .await
            .expect_err(mode);
        let msg = err.to_string();
        assert!(
            msg.contains("TLS to PostgreSQL is not supported yet") && msg.contains("u:***@"),
            "{msg}"
        );
    }
    let err = PgState::connect_with_schema(&url(), "Robert'); DROP")
        .await
        .expect_err("bad schema");
    assert!(err.to_string().contains("is not allowed"), "{err}");
}

#[tokio::test]
async fn a_failing_statement_names_the_operation_and_the_servers_message() {
    let (store, schema) = pg().await;
    raw_in(&schema)
        .await
        .batch_execute("DROP TABLE api_keys")
        .await
        .expect("drop");
    let err = store.get("aaaaaaaaaaaa").await.expect_err("no table");
    let msg = err.to_string();
    assert!(matches!(err, StoreError::PgQuery { .. }), "{err:?}");
    assert!(
        msg.contains("look up API key failed") && msg.contains("api_keys") && msg.contains("42P01"),
        "{msg}"
    );
}

#[tokio::test]
async fn time_beyond_storage_range_is_an_error() {
    let (store, _schema) = pg().await;
    let err = store
        .reserve(&[check("t", MINUTE, 1.0, 1.0)], u64::MAX)
        .await
        .expect_err("out of range");
    assert!(matches!(err, StoreError::TimeOutOfRange { .. }), "{err:?}");
    let mut r = common::keys::record("aaaaaaaaaaaa", "ana", T0);
    r.expires_ms = Some(u64::MAX);
    assert!(matches!(
        store.create(r).await,
        Err(StoreError::TimeOutOfRange { .. })
    ));
}

// ---------------------------------------------------------------- counters

/// Two replicas (two pools) race many reservations; exactly `max` are
/// granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_counters_under_contention() {
    const MAX: usize = 60;
    let (a, schema) = pg().await;
    let a = Arc::new(a);
    let b = Arc::new(connect(&schema.name).await);
    let mut tasks = Vec::new();
    for worker in 0..16u64 {
        let store: Arc<dyn CounterStore> = if worker % 2 == 0 {
            a.clone()
        } else {
            b.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut granted = 0usize;
            for i in 0..20u64 {
                // A shared budget plus a per-worker limit that always has room.
                let checks = [
                    LimitCheck::new("shared", HOUR, MAX as f64, 1.0),
                    LimitCheck::new(format!("worker-{worker}"), HOUR, 1_000.0, 1.0),
                ];
                match store.reserve(&checks, T0 + i).await.expect("reserve") {
                    ReserveOutcome::Reserved(_) => granted += 1,
                    ReserveOutcome::Exceeded { index, .. } => assert_eq!(index, 0),
                }
            }
            granted
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    assert_eq!(total, MAX, "16 x 20 attempts on a budget of {MAX}");
    let client = raw_in(&schema).await;
    assert_eq!(
        count(
            &client,
            "SELECT COUNT(*) FROM counter_entries WHERE key = 'shared'"
        )
        .await,
        MAX as i64
    );
}

/// Reservations and rollbacks naming the same keys in opposite orders, from
/// two replicas at once: sorted locks mean no deadlock (PostgreSQL would
/// abort one transaction with SQLSTATE 40P01), and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opposite_key_orders_never_deadlock() {
    let (a, schema) = pg().await;
    let a = Arc::new(a);
    let b = Arc::new(connect(&schema.name).await);
    let keys = ["k-a", "k-b", "k-c", "k-d"];
    let mut tasks = Vec::new();
    for worker in 0..8usize {
        let store = if worker % 2 == 0 {
            a.clone()
        } else {
            b.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut kept = 0;
            for i in 0..25usize {
                let mut order: Vec<&str> = keys.to_vec();
                order.rotate_left((worker + i) % keys.len());
                if worker % 3 == 0 {
                    order.reverse();
                }
                let checks: Vec<LimitCheck> = order
                    .iter()
                    .map(|k| LimitCheck::new(*k, HOUR, 1e9, 1.0))
                    .collect();
                let ReserveOutcome::Reserved(r) = store
                    .reserve(&checks, T0 + i as u64)
                    .await
                    .expect("reserve")
                else {
                    panic!("limits have room");
                };
                if i % 2 == 0 {
                    store.rollback(&r).await.expect("rollback");
                } else {
                    kept += 1;
                }
            }
            kept
        }));
    }
    let mut kept = 0;
    for t in tasks {
        kept += t.await.expect("task");
    }
    let client = raw_in(&schema).await;
    assert_eq!(
        count(&client, "SELECT COUNT(*) FROM counter_entries").await,
        kept * keys.len() as i64
    );
}

#[tokio::test]
async fn expired_entries_are_swept() {
    let (store, schema) = pg().await;
    for i in 0..5 {
        granted(&store, &[check("old", MINUTE, 10.0, 1.0)], T0 + i).await;
    }
    let client = raw_in(&schema).await;
    assert_eq!(
        count(&client, "SELECT COUNT(*) FROM counter_entries").await,
        5
    );
    // Well past the window and the sweep interval, another key's call sweeps.
    granted(&store, &[check("new", MINUTE, 10.0, 1.0)], T0 + 2 * MINUTE).await;
    assert_eq!(
        count(&client, "SELECT COUNT(*) FROM counter_entries").await,
        1
    );
}

/// Checks `counter_keys` against a recount of `counter_entries`.
async fn assert_pg_summaries_match(client: &tokio_postgres::Client) {
    let entries: Vec<(String, f64, i64)> = client
        .query(
            "SELECT key, amount, expires_ms - at_ms FROM counter_entries",
            &[],
        )
        .await
        .expect("entries")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let summaries: Vec<(String, f64, f64, i64, i64)> = client
        .query(
            "SELECT key, total, slack, entries, keep_ms FROM counter_keys",
            &[],
        )
        .await
        .expect("summaries")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    common::assert_summaries_match(&entries, &summaries);
}

/// PostgreSQL, which decides most reservations from its key summaries,
/// answers exactly as the memory store, and the summaries always match a
/// recount of the entries, through reservations, rollbacks and sweeps.
#[tokio::test]
async fn summaries_decide_like_the_window_and_match_a_recount() {
    for seed in [3, 11] {
        let (store, schema) = pg().await;
        let client = raw_in(&schema).await;
        common::decides_like_memory(&store, seed, async || {
            assert_pg_summaries_match(&client).await;
        })
        .await;
    }
}

/// A schema written by a build that knew version 5 (no key summaries) with
/// entries in it: the migration summarises them, and reservations decide
/// from the summaries as they did from the entries.
#[tokio::test]
async fn schema_5_counter_entries_are_summarised() {
    use warden_store::postgres::migrations::MIGRATIONS;
    let name = fresh_schema_name();
    let schema = Schema { name: name.clone() };
    let client = raw().await;
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {name}; SET search_path = {name};
             CREATE TABLE schema_version (
                 version     INTEGER PRIMARY KEY,
                 description TEXT    NOT NULL
             );"
        ))
        .await
        .expect("schema");
    for m in MIGRATIONS.iter().take_while(|m| m.version <= 5) {
        client.batch_execute(m.sql).await.expect(m.description);
        client
            .execute(
                "INSERT INTO schema_version (version, description) VALUES ($1, $2)",
                &[&(m.version as i32), &m.description],
            )
            .await
            .expect("version row");
    }
    for (key, at, amount, keep) in common::schema_5_entries() {
        client
            .execute(
                "INSERT INTO counter_entries (key, at_ms, amount, expires_ms) \
                 VALUES ($1, $2, $3, $4)",
                &[&key, &at, &amount, &(at + keep)],
            )
            .await
            .expect("counter entry");
    }

    let store = connect(&name).await;
    let client = raw_in(&schema).await;
    assert_pg_summaries_match(&client).await;
    // The first reservation sweeps the expired entry, and its summary with it.
    let (_, retry, used) = denied(&store, &[check("calls", HOUR, 3.0, 1.0)], T0).await;
    assert_eq!((retry, used), (Some(HOUR - 3), 3.0));
    assert_eq!(
        count(
            &client,
            "SELECT COUNT(*) FROM counter_keys WHERE key = 'old'"
        )
        .await,
        0
    );
    granted(&store, &[check("calls", HOUR, 4.0, 1.0)], T0).await;
    let cents = |amount| [check("cents", MINUTE, 0.3, amount)];
    granted(&store, &cents(0.0), T0).await;
    let (_, retry, _) = denied(&store, &cents(0.1), T0).await;
    assert_eq!(retry, Some(MINUTE - 2));
    let (_, retry, used) = denied(&store, &[check("ahead", 1_000, 1.0, 1.0)], T0).await;
    assert_eq!((retry, used), (Some(6_000), 1.0));
    // A longer window extends the kept entries, and the summary records it.
    granted(&store, &[check("cents", HOUR, 1.0, 0.5)], T0 + 1).await;
    assert_pg_summaries_match(&client).await;
    assert_eq!(
        count(
            &client,
            "SELECT keep_ms FROM counter_keys WHERE key = 'cents'"
        )
        .await,
        HOUR as i64
    );
}

#[tokio::test]
async fn reservations_of_another_schema_are_refused() {
    let (a, _sa) = pg().await;
    let (b, _sb) = pg().await;
    let r = granted(&a, &[check("k", MINUTE, 1.0, 1.0)], T0).await;
    match b.rollback(&r).await {
        Err(err @ StoreError::ForeignReservation { .. }) => {
            let msg = err.to_string();
            assert!(
                msg.contains("PostgreSQL state") && msg.contains(a.schema()),
                "{msg}"
            );
        }
        other => panic!("expected ForeignReservation, got {other:?}"),
    }
    a.rollback(&r).await.expect("own rollback");
}

// ---------------------------------------------------------------- keys

#[tokio::test]
async fn replicas_revoking_at_once_revoke_once() {
    let (a, schema) = pg().await;
    let b = connect(&schema.name).await;
    a.create(common::keys::record("aaaaaaaaaaaa", "ana", T0))
        .await
        .expect("create");
    let (ra, rb) = tokio::join!(
        a.revoke("aaaaaaaaaaaa", T0 + 1),
        b.revoke("aaaaaaaaaaaa", T0 + 2)
    );
    let revoked = [ra.expect("revoke a"), rb.expect("revoke b")];
    assert_eq!(revoked.iter().filter(|r| **r).count(), 1, "{revoked:?}");
}

/// PostgreSQL text cannot hold NUL; a client can still send one (in a
/// token's id, an identity, a session a counter key is scoped by), and it
/// must be an ordinary value, not a server error.
#[tokio::test]
async fn nul_and_its_escape_are_ordinary_text() {
    let (store, schema) = pg().await;
    let nul = "k\0ey";
    let lookalike = "k\u{FFFF}0ey";
    let r = granted(&store, &[check(nul, MINUTE, 1.0, 1.0)], T0).await;
    denied(&store, &[check(nul, MINUTE, 1.0, 1.0)], T0 + 1).await;
    // A distinct key, even though it is what NUL is stored as.
    granted(&store, &[check(lookalike, MINUTE, 1.0, 1.0)], T0 + 1).await;
    store.rollback(&r).await.expect("rollback");
    granted(&store, &[check(nul, MINUTE, 1.0, 1.0)], T0 + 2).await;
    assert_eq!(
        count(
            &raw_in(&schema).await,
            "SELECT COUNT(*) FROM counter_entries"
        )
        .await,
        2
    );

    let mut key = common::keys::record("id\0nul", "who\0m", T0);
    key.label = Some("label \u{FFFF} \0".into());
    store.create(key.clone()).await.expect("create");
    assert_eq!(store.get("id\0nul").await.expect("get"), Some(key.clone()));
    assert_eq!(store.get("id\u{FFFF}0nul").await.expect("get"), None);
    assert_eq!(store.list(Some("who\0m")).await.expect("list"), [key]);
    assert!(store.revoke("id\0nul", T0 + 1).await.expect("revoke"));
}

// ---------------------------------------------------------------- audit

fn entry(i: u64) -> AuditEntry {
    let pick = |options: &[&str]| options[(i as usize) % options.len()].to_owned();
    AuditEntry {
        time_ms: T0 + i * 1_000,
        event: if i % 7 == 3 {
            "policy_loaded".into()
        } else {
            "call".into()
        },
        identity: (!i.is_multiple_of(5)).then(|| pick(&["ana", "bob", "ci-bot"])),
        grant: Some(pick(&["g1", "g2"])),
        server: Some(pick(&["github", "stripe", "slack", "db"])),
        session: Some(format!("s-{}", i / 10)),
        request_id: Some(i.to_string()),
        method: Some("tools/call".into()),
        tool: Some(pick(&[
            "refund",
            "list",
            "nul\0tool",
            "delete",
            "nul\u{FFFF}0tool",
        ])),
        decision: Some(pick(&["allow", "deny", "rate_limited"])),
        rule: Some(format!("/tools/t{}", i % 3)),
        reason: (i % 4 == 1).then(|| "over the limit ✓ \0 \u{FFFF}0".to_owned()),
        argument_keys: (0..(i % 4)).map(|k| format!("arg{k}")).collect(),
        arguments: i.is_multiple_of(6).then(|| format!("{{\"n\":{i}}}")),
        outcome: Some(pick(&["ok", "error", "is_error"])),
        result_bytes: i.is_multiple_of(2).then_some(i * 10),
        latency_us: Some(i * 3 + u64::from(i.is_multiple_of(2)) * (1 << 40)),
        detail: i
            .is_multiple_of(9)
            .then(|| "{\"file\":\"p.json\"}".to_owned()),
    }
}

/// The queries compared between memory and PostgreSQL.
fn queries() -> Vec<AuditQuery> {
    let q = AuditQuery::default;
    vec![
        q(),
        AuditQuery {
            newest_first: true,
            limit: 7,
            ..q()
        },
        AuditQuery {
            since_ms: Some(T0 + 10_000),
            until_ms: Some(T0 + 30_000),
            ..q()
        },
        AuditQuery {
            until_ms: Some(u64::MAX),
            since_ms: Some(0),
            ..q()
        },
        AuditQuery {
            since_ms: Some(u64::MAX),
            ..q()
        },
        AuditQuery {
            identity: Some("ana".into()),
            ..q()
        },
        AuditQuery {
            server: Some("stripe".into()),
            tool: Some("refund".into()),
            ..q()
        },
        AuditQuery {
            decision: Some("deny".into()),
            newest_first: true,
            ..q()
        },
        AuditQuery {
            event: Some("policy_loaded".into()),
            ..q()
        },
        AuditQuery {
            after_seq: Some(5),
            before_seq: Some(20),
            limit: 4,
            ..q()
        },
        AuditQuery {
            after_seq: Some(u64::MAX),
            ..q()
        },
        AuditQuery {
            before_seq: Some(u64::MAX),
            newest_first: true,
            limit: 3,
            ..q()
        },
        AuditQuery {
            identity: Some("nobody".into()),
            ..q()
        },
        AuditQuery {
            identity: Some("ana' OR '1'='1".into()),
            ..q()
        },
        AuditQuery {
            tool: Some("nul\0tool".into()),
            ..q()
        },
        AuditQuery {
            tool: Some("nul\u{FFFF}0tool".into()),
            ..q()
        },
    ]
}

async fn same_log(memory: &MemoryAudit, pg: &PgState, context: &str) {
    for query in queries() {
        let want = memory.query(&query).await.expect("memory query");
        let got = pg.query(&query).await.expect("pg query");
        assert_eq!(got, want, "{context}: {query:?}");
    }
    assert_eq!(
        pg.head().await.expect("head"),
        memory.head().await.expect("head"),
        "{context}"
    );
    assert_eq!(
        pg.anchor().await.expect("anchor"),
        memory.anchor().await.expect("anchor"),
        "{context}"
    );
    assert_eq!(
        pg.checkpoints().await.expect("checkpoints"),
        memory.checkpoints().await.expect("checkpoints"),
        "{context}"
    );
}

fn checkpoint(seq: u64, time_ms: u64) -> Checkpoint {
    Checkpoint {
        seq,
        hash: [seq as u8; 32],
        time_ms,
        public_key: [7; 32],
        signature: [9; 64],
    }
}

/// Everything `MemoryAudit` does, PostgreSQL does identically: sequence
/// numbers, hashes, every query filter, prune (records, anchor, the
/// retention event and its detail), checkpoints.
#[tokio::test]
async fn audit_matches_the_in_memory_reference() {
    let (pg, _schema) = pg().await;
    let memory = MemoryAudit::new();
    assert_eq!(pg.head().await.expect("head"), None);
    assert!(pg.append(&[]).await.expect("empty").is_empty());
    same_log(&memory, &pg, "empty").await;

    let entries: Vec<AuditEntry> = (0..40).map(entry).collect();
    for batch in [
        &entries[..1],
        &entries[1..15],
        &entries[15..16],
        &entries[16..],
    ] {
        let want = memory.append(batch).await.expect("memory append");
        let got = pg.append(batch).await.expect("pg append");
        assert_eq!(got, want);
    }
    for cp in [
        checkpoint(10, T0),
        checkpoint(30, T0 + 1),
        checkpoint(10, T0 + 2),
    ] {
        memory.add_checkpoint(&cp).await.expect("cp");
        pg.add_checkpoint(&cp).await.expect("cp");
    }
    same_log(&memory, &pg, "after appends").await;

    let now = T0 + 100_000;
    for (retention, label) in [
        (Retention::default(), "no limits"),
        (
            Retention {
                max_records: Some(100),
                ..Retention::default()
            },
            "under the count",
        ),
        (
            Retention {
                max_age_ms: Some(now - (T0 + 12_500)),
                ..Retention::default()
            },
            "by age",
        ),
        (
            Retention {
                max_records: Some(20),
                max_age_ms: Some(now - T0),
            },
            "by count",
        ),
        (
            Retention {
                max_records: Some(0),
                ..Retention::default()
            },
            "everything",
        ),
    ] {
        let want = memory.prune(&retention, now).await.expect("memory prune");
        let got = pg.prune(&retention, now).await.expect("pg prune");
        assert_eq!(got, want, "{label}");
        same_log(&memory, &pg, label).await;
    }
    // Appending after a prune continues the chain from the retention event.
    let more: Vec<AuditEntry> = (40..45).map(entry).collect();
    assert_eq!(
        pg.append(&more).await.expect("pg"),
        memory.append(&more).await.expect("memory")
    );
    same_log(&memory, &pg, "after prune and append").await;
}

/// Verifies the whole log and expects it intact; returns how many records.
async fn assert_intact(store: &PgState) -> u64 {
    let report = verified(store, None).await;
    assert!(report.is_intact(), "{:#?}", report.problems);
    report.records
}

/// Replicas appending at once build one chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_appending_at_once_build_one_chain() {
    let (a, schema) = pg().await;
    let a = Arc::new(a);
    let b = Arc::new(connect(&schema.name).await);
    let mut tasks = Vec::new();
    for worker in 0..8u64 {
        let store = if worker % 2 == 0 {
            a.clone()
        } else {
            b.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..15u64 {
                let batch: Vec<AuditEntry> = (0..=(i % 3))
                    .map(|j| entry(worker * 1_000 + i * 10 + j))
                    .collect();
                let got = store.append(&batch).await.expect("append");
                assert_eq!(got.len(), batch.len());
                // A batch is contiguous: nothing interleaves inside it.
                assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "{got:?}");
                seqs.extend(got);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort_unstable();
    let n = all.len() as u64;
    assert_eq!(all, (1..=n).collect::<Vec<_>>(), "every seq given once");
    assert_eq!(assert_intact(&a).await, n);
    let (head_seq, _) = b.head().await.expect("head").expect("non-empty");
    assert_eq!(head_seq, n);
}

/// Batches go in at thousands of records per second (the gateway's audit
/// writer batches; a release build is faster still).
#[tokio::test]
async fn batched_appends_sustain_thousands_per_second() {
    const TOTAL: u64 = 20_000;
    const BATCH: u64 = 500;
    let (store, _schema) = pg().await;
    let entries: Vec<AuditEntry> = (0..TOTAL).map(entry).collect();
    let started = Instant::now();
    for batch in entries.chunks(BATCH as usize) {
        store.append(batch).await.expect("append");
    }
    let elapsed = started.elapsed();
    let rate = TOTAL as f64 / elapsed.as_secs_f64();
    eprintln!("appended {TOTAL} audit records in {elapsed:?}: {rate:.0} records/s");
    assert!(
        elapsed < Duration::from_secs(10),
        "{TOTAL} records took {elapsed:?} ({rate:.0}/s)"
    );
    assert_eq!(assert_intact(&store).await, TOTAL);
}

#[tokio::test]
async fn the_first_chained_record_links_to_genesis() {
    let (store, _schema) = pg().await;
    let seqs = store.append(&[entry(1)]).await.expect("append");
    assert_eq!(seqs, [1]);
    let r = store.query(&AuditQuery::default()).await.expect("query");
    assert_eq!(r[0].prev_hash, GENESIS);
    assert_eq!(r[0].hash, entry_hash(&GENESIS, &entry(1)));
}

#[tokio::test]
async fn values_beyond_bigint_are_refused_and_nothing_is_written() {
    let (store, _schema) = pg().await;
    let mut big = entry(1);
    big.result_bytes = Some(u64::MAX);
    match store.append(&[entry(0), big]).await {
        Err(err @ StoreError::ValueOutOfRange { .. }) => {
            let text = err.to_string();
            assert!(
                text.contains("#1") && text.contains("result_bytes"),
                "{text}"
            );
        }
        other => panic!("expected ValueOutOfRange, got {other:?}"),
    }
    assert_eq!(store.head().await.expect("head"), None);
    assert_eq!(store.append(&[entry(2)]).await.expect("append"), [1]);
}

#[tokio::test]
async fn the_salt_is_made_once_and_shared_by_replicas() {
    let (a, schema) = pg().await;
    let b = connect(&schema.name).await;
    let (sa, sb) = tokio::join!(a.salt(), b.salt());
    let sa = sa.expect("salt a");
    assert_eq!(sa, sb.expect("salt b"));
    assert_ne!(sa, [0; 32]);
    assert_eq!(a.salt().await.expect("again"), sa);
}

/// Appends continue from the head row, not from the last row left: a tail
/// deleted by hand stays a gap that verify names, even with no checkpoint
/// past it and after more appends.
#[tokio::test]
async fn a_deleted_tail_stays_visible_after_more_appends() {
    let (store, raw, _schema) = pg_raw().await;
    common::audit::fill(&store, 20).await;
    raw.exec("DELETE FROM audit_records WHERE seq > 15").await;
    assert_eq!(store.append(&[entry(1)]).await.expect("append"), [21]);
    let report = verified(&store, None).await;
    assert_eq!(problems(&report), [(TamperKind::Deleted, 16)]);
}

// ---------------------------------------------------------------- approvals

#[tokio::test]
async fn approval_numbers_beyond_bigint_are_refused() {
    let (store, _schema) = pg().await;
    common::approvals::numbers_beyond_storage_are_refused(&store).await;
}

/// NUL and U+FFFF are stored escaped, and an equality match on the stored
/// form (a claim's key, an id) finds exactly the row holding that text.
#[tokio::test]
async fn approval_text_with_nul_is_stored_and_matched() {
    use common::approvals::{GRANT, TOOL, approve, decided, pending, request};
    use warden_store::{ApprovalStore, ClaimKey};
    let (store, schema) = pg().await;
    let store: &dyn ApprovalStore = &store;
    let mut r = request("id\0nul", T0);
    r.digest = "d\0".to_owned();
    r.approvers = vec!["a\0b".to_owned(), "\u{FFFF}0".to_owned()];
    store.create(&r).await.expect("create");
    let mut lookalike = request("id\u{FFFF}0nul", T0);
    lookalike.digest = "d\u{FFFF}0".to_owned();
    store.create(&lookalike).await.expect("a different id");
    assert_eq!(store.get("id\0nul").await.expect("get"), Some(pending(&r)));
    assert_eq!(
        store.get("id\u{FFFF}0nul").await.expect("get"),
        Some(pending(&lookalike))
    );
    decided(store, "id\0nul", &approve(T0 + 1, T0 + HOUR, true)).await;
    decided(store, "id\u{FFFF}0nul", &approve(T0 + 1, T0 + HOUR, true)).await;
    let key = |digest| ClaimKey {
        grant: GRANT,
        tool: TOOL,
        digest,
    };
    let got = store
        .claim(key("d\0"), None, T0 + 2)
        .await
        .expect("claim")
        .expect("claimable");
    assert_eq!(got.request.id, "id\0nul");
    assert_eq!(
        store.claim(key("d\0"), None, T0 + 3).await.expect("claim"),
        None
    );
    let got = store
        .claim(key("d\u{FFFF}0"), Some("id\u{FFFF}0nul"), T0 + 2)
        .await
        .expect("claim")
        .expect("claimable");
    assert_eq!(got.request.digest, "d\u{FFFF}0");
    assert_eq!(
        count(
            &raw_in(&schema).await,
            "SELECT COUNT(*) FROM approvals WHERE strpos(id, chr(65535)) > 0"
        )
        .await,
        2,
        "both ids hold the escape character"
    );
}

// ---------------------------------------------------------------- pins

#[tokio::test]
async fn pin_times_beyond_bigint_are_refused() {
    let (store, _schema) = pg().await;
    common::pins::times_beyond_storage_are_refused(&store).await;
}

/// NUL and U+FFFF are stored escaped: the table holds no NUL, and the listing is in the
/// order of the names as given, not of their stored form.
#[tokio::test]
async fn pin_names_with_nul_are_stored_escaped_and_listed_in_order() {
    use common::pins::obs;
    use warden_store::PinStore;
    let (store, schema) = pg().await;
    let store: &dyn PinStore = &store;
    // Stored, "a\0" becomes "a\u{FFFF}0", which sorts after "a\u{1}"; as given it sorts before.
    for server in ["a\u{1}", "a\0", "a"] {
        store
            .observe(
                server,
                &[obs("t\0", 1), obs("t", 1), obs("t\u{FFFF}", 1)],
                T0,
            )
            .await
            .expect("observe");
    }
    let listed: Vec<(String, String)> = store
        .list(None)
        .await
        .expect("list")
        .into_iter()
        .map(|p| (p.server, p.tool))
        .collect();
    let mut want = Vec::new();
    for server in ["a", "a\0", "a\u{1}"] {
        for tool in ["t", "t\0", "t\u{FFFF}"] {
            want.push((server.to_owned(), tool.to_owned()));
        }
    }
    assert_eq!(listed, want);
    assert_eq!(
        count(
            &raw_in(&schema).await,
            "SELECT COUNT(*) FROM pins WHERE strpos(server || tool, chr(65535)) > 0"
        )
        .await,
        7,
        "every name holding NUL or U+FFFF is stored escaped"
    );
}
