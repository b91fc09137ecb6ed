//! The shared audit suite on every backend, the tamper cases on SQLite
//! (editing the database file directly, as an attacker with the file
//! would), and what only the SQLite backend promises: one chain from several
//! connections and processes, persistence, durability settings.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::audit::{RawAudit, all, entry, fill, public_key, verified};
use rusqlite::{Connection, params};
use tempfile::TempDir;
use warden_store::audit::{TamperKind, verify};
use warden_store::{
    Anchor, AuditEntry, AuditQuery, AuditRecord, AuditStore, MemoryAudit, SqliteState, StoreError,
};

fn memory() -> (MemoryAudit, ()) {
    (MemoryAudit::new(), ())
}

fn sqlite() -> (SqliteState, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteState::open_audit(dir.path()).expect("open state");
    (store, dir)
}

audit_suite!(memory_backend, memory());
audit_suite!(sqlite_backend, sqlite());

/// Direct access to `warden.db`, beside the store's own connection.
struct SqliteRaw {
    path: PathBuf,
}

impl SqliteRaw {
    fn conn(&self) -> Connection {
        let conn = Connection::open(&self.path).expect("raw connection");
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .expect("busy timeout");
        conn
    }
}

impl RawAudit for SqliteRaw {
    async fn exec(&self, sql: &str) {
        self.conn()
            .execute(sql, [])
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn put(&self, r: &AuditRecord) {
        let e = &r.entry;
        let keys = serde_json::to_string(&e.argument_keys).expect("keys");
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO audit_records (seq, prev_hash, hash, time_ms, event, \
                 identity, grant_name, server, session, request_id, method, tool, decision, \
                 rule, reason, argument_keys, arguments, outcome, result_bytes, latency_us, \
                 detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
                 ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
                params![
                    r.seq,
                    &r.prev_hash[..],
                    &r.hash[..],
                    e.time_ms,
                    e.event,
                    e.identity,
                    e.grant,
                    e.server,
                    e.session,
                    e.request_id,
                    e.method,
                    e.tool,
                    e.decision,
                    e.rule,
                    e.reason,
                    keys,
                    e.arguments,
                    e.outcome,
                    e.result_bytes,
                    e.latency_us,
                    e.detail,
                ],
            )
            .expect("put record");
    }

    async fn set_anchor(&self, anchor: Anchor) {
        self.conn()
            .execute(
                "UPDATE audit_meta SET anchor_first_seq = ?1, anchor_prev_hash = ?2",
                params![anchor.first_seq, &anchor.prev_hash[..]],
            )
            .expect("set anchor");
    }
}

fn sqlite_raw() -> (SqliteState, SqliteRaw, TempDir) {
    let (store, dir) = sqlite();
    let raw = SqliteRaw {
        path: store.path().to_path_buf(),
    };
    (store, raw, dir)
}

audit_tamper_suite!(sqlite_tamper, sqlite_raw());

#[tokio::test]
async fn suite_accepts_trait_objects() {
    // The gateway holds `Arc<dyn AuditStore>`; the trait must allow it.
    let (sq, _dir) = sqlite();
    let stores: Vec<Arc<dyn AuditStore>> = vec![Arc::new(MemoryAudit::new()), Arc::new(sq)];
    for store in stores {
        common::audit::head_and_anchor(store.as_ref()).await;
    }
}

/// Two instances on one directory (as two gateways would have), appending
/// batches at once: one linear chain, every batch contiguous.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_append_one_chain() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = SqliteState::open_audit(dir.path()).expect("open a");
    let b = SqliteState::open(dir.path()).expect("open b");
    let mut tasks = Vec::new();
    for worker in 0..8u64 {
        let store = if worker % 2 == 0 {
            a.clone()
        } else {
            b.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..25u64 {
                let batch: Vec<AuditEntry> = (0..4)
                    .map(|k| entry(worker * 1_000 + i * 4 + k + 1))
                    .collect();
                let seqs = store.append(&batch).await.expect("append");
                assert_eq!(seqs.len(), 4);
                assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "batch {seqs:?}");
                got.extend(seqs);
            }
            got
        }));
    }
    let mut every: Vec<u64> = Vec::new();
    for t in tasks {
        every.extend(t.await.expect("task"));
    }
    every.sort_unstable();
    assert_eq!(every, (1..=800).collect::<Vec<_>>());
    let report = verified(&a, None).await;
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.records, 800);
    // Both instances agree on the salt, whoever made it.
    assert_eq!(a.salt().await.expect("salt"), b.salt().await.expect("salt"));
}

#[tokio::test]
async fn log_survives_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (records, salt, checkpoints) = {
        let store = SqliteState::open_audit(dir.path()).expect("open");
        fill(&store, 40).await;
        common::audit::checkpoint(&store, 40).await;
        let keep = warden_store::Retention {
            max_age_ms: None,
            max_records: Some(30),
        };
        store.prune(&keep, common::T0 + 1).await.expect("prune");
        (
            all(&store).await,
            store.salt().await.expect("salt"),
            store.checkpoints().await.expect("checkpoints"),
        )
    };
    let store = SqliteState::open(dir.path()).expect("reopen");
    assert_eq!(all(&store).await, records);
    assert_eq!(store.salt().await.expect("salt"), salt);
    assert_eq!(store.checkpoints().await.expect("checkpoints"), checkpoints);
    assert_eq!(store.anchor().await.expect("anchor").first_seq, 11);
    let report = verify(&store, Some(public_key())).await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.last_signed_seq, Some(40));
    // The chain continues where it was.
    assert_eq!(store.append(&[entry(1)]).await.expect("append"), [42]);
}

#[tokio::test]
async fn numbers_beyond_sqlite_integers_are_refused() {
    let (store, _dir) = sqlite();
    let mut bad = entry(2);
    bad.latency_us = Some(u64::MAX);
    match store.append(&[entry(1), bad]).await {
        Err(err @ StoreError::ValueOutOfRange { .. }) => {
            let text = err.to_string();
            assert!(text.contains("#1") && text.contains("latency_us"), "{text}");
        }
        other => panic!("expected ValueOutOfRange, got {other:?}"),
    }
    assert_eq!(
        store.head().await.expect("head"),
        None,
        "nothing of the batch was written"
    );
    let mut late = entry(1);
    late.time_ms = u64::MAX;
    assert!(store.append(&[late]).await.is_err());
    let far = warden_store::Retention {
        max_age_ms: Some(1),
        max_records: None,
    };
    assert!(matches!(
        store.prune(&far, u64::MAX).await,
        Err(StoreError::TimeOutOfRange { .. })
    ));
}

#[tokio::test]
async fn damaged_rows_are_errors_not_reports() {
    // A row the store cannot even read (argument keys that are not JSON)
    // fails verify with an error naming the operation, not a report.
    let (store, raw, _dir) = sqlite_raw();
    fill(&store, 5).await;
    raw.exec("UPDATE audit_records SET argument_keys = 'not json' WHERE seq = 3")
        .await;
    let err = verify(&store, None).await.expect_err("undecodable row");
    assert!(err.to_string().contains("query audit records"), "{err}");
    let ok = store
        .query(&AuditQuery {
            before_seq: Some(3),
            ..AuditQuery::default()
        })
        .await
        .expect("rows before it still read");
    assert_eq!(ok.len(), 2);
}

#[tokio::test]
async fn tamper_reports_name_the_record() {
    let (store, raw, _dir) = sqlite_raw();
    fill(&store, 20).await;
    raw.exec("UPDATE audit_records SET decision = 'allow' WHERE seq = 11")
        .await;
    let report = verified(&store, None).await;
    assert_eq!(report.problems.len(), 1);
    let problem = &report.problems[0];
    assert_eq!((problem.kind, problem.seq), (TamperKind::Edited, 11));
    assert!(problem.message.contains("record 11"), "{}", problem.message);
    assert_eq!(
        problem.to_string(),
        format!("edited at record 11: {}", problem.message)
    );
}

const CHILD_DIR_ENV: &str = "WARDEN_STORE_TEST_AUDIT_CHILD_DIR";
const CHILD_BATCHES: u64 = 40;

/// The body of a child process of `two_processes_append_one_chain`; a no-op
/// when run as an ordinary test.
#[tokio::test]
async fn child_process_appender() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let store = SqliteState::open_audit(Path::new(&dir)).expect("child open");
    for i in 0..CHILD_BATCHES {
        let batch: Vec<AuditEntry> = (1..=5).map(|k| entry(i * 5 + k)).collect();
        store.append(&batch).await.expect("append");
    }
    let salt = store.salt().await.expect("salt");
    println!("SALT={}", warden_store::audit::hex(&salt));
}

/// Two real processes appending to one file build one chain and agree on
/// the salt.
#[test]
fn two_processes_append_one_chain() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(SqliteState::open(dir.path()).expect("open"));
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "child_process_appender",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_DIR_ENV, dir.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn child")
        })
        .collect();
    let mut salts = Vec::new();
    for child in children {
        let out = child.wait_with_output().expect("child output");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let salt = stdout
            .lines()
            .find_map(|l| l.split_once("SALT=").map(|(_, s)| s.trim().to_owned()))
            .unwrap_or_else(|| panic!("no SALT line in {stdout}"));
        salts.push(salt);
    }
    assert_eq!(salts[0], salts[1], "one salt for the installation");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = SqliteState::open(dir.path()).expect("open");
        let report = verified(&store, None).await;
        assert!(report.is_intact(), "{:?}", report.problems);
        assert_eq!(report.records, 2 * CHILD_BATCHES * 5);
    });
}
