//! The shared suites against a real PostgreSQL server, and what only the
//! PostgreSQL backend promises: replicas (separate pools) sharing state,
//! migrations racing safely, TLS refused, passwords never shown.
//!
//! The server comes from `WARDEN_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`. These tests fail, never skip,
//! when it is unreachable: a backend that is not tested is not shipped.
//! Every test works in a fresh schema `warden_test_<random>`, dropped when
//! the test ends.

mod common;

use std::sync::Arc;

use common::{HOUR, MINUTE, T0, check, denied, granted};
use tokio_postgres::NoTls;
use warden_store::postgres::migrations::latest_version;
use warden_store::{CounterStore, KeyStore, LimitCheck, PgState, ReserveOutcome, StoreError};

const URL_ENV: &str = "WARDEN_TEST_POSTGRES_URL";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn url() -> String {
    std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A schema name no other test (or run) uses.
fn fresh_schema_name() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random bytes");
    format!("warden_test_{:016x}", u64::from_be_bytes(bytes))
}

/// Drops its schema when the test ends (pass or fail).
struct Schema {
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on:
        // a thread with a runtime of its own does the work.
        let name = self.name.clone();
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let client = raw().await;
                // This thread blocks the test's runtime: a transaction of the
                // test left open (after a panic) cannot end until it returns,
                // so never wait long for its locks; the schema then stays.
                client
                    .batch_execute(&format!(
                        "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {name} CASCADE"
                    ))
                    .await
            })
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}: {done:?}", self.name);
        }
    }
}

/// A plain connection to the test server, outside any `PgState`.
async fn raw() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&url(), NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL for tests ({URL_ENV}, default {DEFAULT_URL}) unreachable: {e:?}")
        });
    tokio::spawn(connection);
    client
}

/// A plain connection whose `search_path` is `schema`.
async fn raw_in(schema: &Schema) -> tokio_postgres::Client {
    let client = raw().await;
    client
        .batch_execute(&format!("SET search_path = {}", schema.name))
        .await
        .expect("set search_path");
    client
}

async fn connect(schema: &str) -> PgState {
    PgState::connect_with_schema(&url(), schema)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL for tests ({URL_ENV}, default {DEFAULT_URL}) unusable: {e}")
        })
}

/// A store in a fresh schema, and the guard that drops the schema.
async fn pg() -> (PgState, Schema) {
    let name = fresh_schema_name();
    let store = connect(&name).await;
    (store, Schema { name })
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .await
        .and_then(|row| row.try_get(0))
        .expect(sql)
}

counter_suite!(pg_backend, pg().await);
key_suite!(pg_keys, pg().await);

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
