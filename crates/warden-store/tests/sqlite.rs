//! What only the SQLite backend promises: files, schema, persistence, and
//! sharing one state directory between instances and processes.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::approvals::{approve, key, pending, request};
use common::{HOUR, MINUTE, SECOND, T0, check, denied, granted};
use rusqlite::Connection;
use tempfile::TempDir;
use warden_store::sqlite::migrations::{MIGRATIONS, latest_version};
use warden_store::{
    ApprovalStatus, ApprovalStore, AuditStore, CounterStore, Decided, KeyStore, LimitCheck,
    PinStore, ReserveOutcome, SqliteState, StoreError,
};

fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join("warden.db")).expect("raw connection")
}

/// A database as a build that knew schema versions up to `version` left it (no data).
fn at_version(dir: &Path, version: u32) -> Connection {
    let conn = raw(dir);
    conn.execute_batch(
        "CREATE TABLE schema_version (
            version     INTEGER PRIMARY KEY NOT NULL,
            description TEXT    NOT NULL
        )",
    )
    .expect("schema_version");
    for m in MIGRATIONS.iter().take_while(|m| m.version <= version) {
        conn.execute_batch(m.sql).expect(m.description);
        conn.execute(
            "INSERT INTO schema_version (version, description) VALUES (?1, ?2)",
            (m.version, m.description),
        )
        .expect("version row");
    }
    conn
}

fn sqlite() -> (SqliteState, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteState::open(dir.path()).expect("open state");
    (store, dir)
}

/// Two instances on one directory: two connections, as two gateway
/// processes would have.
fn sqlite_pair() -> (Arc<dyn ApprovalStore>, Arc<dyn ApprovalStore>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = SqliteState::open(dir.path()).expect("open a");
    let b = SqliteState::open(dir.path()).expect("open b");
    (Arc::new(a), Arc::new(b), dir)
}

approval_suite!(sqlite_approvals, sqlite());
approval_race_suite!(sqlite_approval_races, sqlite_pair());
pin_suite!(sqlite_pins, sqlite());
pin_race_suite!(sqlite_pin_races, sqlite_pin_pair());

/// Two instances on one directory, as pin stores.
fn sqlite_pin_pair() -> (Arc<dyn PinStore>, Arc<dyn PinStore>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = SqliteState::open(dir.path()).expect("open a");
    let b = SqliteState::open(dir.path()).expect("open b");
    (Arc::new(a), Arc::new(b), dir)
}

fn count_rows(dir: &Path) -> i64 {
    raw(dir)
        .query_row("SELECT COUNT(*) FROM counter_entries", [], |r| r.get(0))
        .expect("count")
}

#[tokio::test]
async fn open_creates_dir_wal_and_schema() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("nested/state");
    let store = SqliteState::open(&dir).expect("open");
    let canonical = std::fs::canonicalize(&dir).expect("canonical");
    assert_eq!(store.path(), canonical.join("warden.db"));
    let conn = raw(&dir);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_version ORDER BY version")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("versions");
    let all: Vec<i64> = (1..=i64::from(latest_version())).collect();
    assert_eq!(versions, all);
    drop(store);
    // Reopening applies nothing twice.
    SqliteState::open(&dir).expect("reopen");
    let n: i64 = raw(&dir)
        .query_row("SELECT COUNT(*) FROM schema_version", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, i64::from(latest_version()));
}

#[tokio::test]
async fn entries_survive_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let c = [check("persist", HOUR, 2.0, 1.0)];
    {
        let store = SqliteState::open(dir.path()).expect("open");
        granted(&store, &c, T0).await;
        granted(&store, &c, T0 + 1).await;
    }
    let store = SqliteState::open(dir.path()).expect("reopen");
    let (_, retry, used) = denied(&store, &c, T0 + MINUTE).await;
    assert_eq!((retry, used), (Some(HOUR - MINUTE), 2.0));
}

#[tokio::test]
async fn rollback_works_after_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let c = [check("rb-persist", HOUR, 1.0, 1.0)];
    let handle = {
        let store = SqliteState::open(dir.path()).expect("open");
        granted(&store, &c, T0).await
    };
    // Another spelling of the same directory is the same store.
    let store = SqliteState::open(&dir.path().join(".")).expect("reopen");
    store.rollback(&handle).await.expect("rollback");
    granted(&store, &c, T0 + 1).await;
}

#[tokio::test]
async fn empty_checks_write_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteState::open(dir.path()).expect("open");
    granted(&store, &[], T0).await;
    assert_eq!(count_rows(dir.path()), 0);
}

#[tokio::test]
async fn expired_entries_are_pruned() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteState::open(dir.path()).expect("open");
    for i in 0..5 {
        granted(&store, &[check("old", MINUTE, 10.0, 1.0)], T0 + i).await;
    }
    assert_eq!(count_rows(dir.path()), 5);
    // Well past the window and the prune interval, another key's call prunes.
    granted(&store, &[check("new", MINUTE, 10.0, 1.0)], T0 + 2 * MINUTE).await;
    assert_eq!(count_rows(dir.path()), 1);
}

#[tokio::test]
async fn newer_schema_is_refused_with_a_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(SqliteState::open(dir.path()).expect("open"));
    raw(dir.path())
        .execute(
            "INSERT INTO schema_version (version, description) VALUES (99, 'future')",
            [],
        )
        .expect("insert");
    let err = SqliteState::open(dir.path()).expect_err("newer schema");
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("warden.db") && msg.contains("upgrade warden"),
        "{msg}"
    );
}

#[tokio::test]
async fn unusable_state_dir_names_the_path_and_fix() {
    let root = tempfile::tempdir().expect("temp dir");
    let file = root.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let err = SqliteState::open(&file).expect_err("dir is a file");
    let msg = err.to_string();
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
    assert!(
        msg.contains("not-a-dir") && msg.contains("--state-dir"),
        "{msg}"
    );

    // The database path exists but is a directory.
    let dir = root.path().join("state");
    std::fs::create_dir_all(dir.join("warden.db")).expect("mkdir");
    let err = SqliteState::open(&dir).expect_err("db is a dir");
    let msg = err.to_string();
    assert!(msg.starts_with("cannot open state database"), "{msg}");
    assert!(
        msg.contains("warden.db") && msg.contains("WARDEN_STATE_DIR"),
        "{msg}"
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test]
async fn time_beyond_storage_range_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteState::open(dir.path()).expect("open");
    let err = store
        .reserve(&[check("t", MINUTE, 1.0, 1.0)], u64::MAX)
        .await
        .expect_err("out of range");
    assert!(matches!(err, StoreError::TimeOutOfRange { .. }), "{err:?}");
}

/// Two instances on one directory (two connections, as two gateways would
/// have) race many reservations; exactly `max` are granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn two_instances_share_counters_under_contention() {
    const MAX: usize = 60;
    let dir = tempfile::tempdir().expect("temp dir");
    let a = Arc::new(SqliteState::open(dir.path()).expect("open a"));
    let b = Arc::new(SqliteState::open(dir.path()).expect("open b"));
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
    let shared: i64 = raw(dir.path())
        .query_row(
            "SELECT COUNT(*) FROM counter_entries WHERE key = 'shared'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(shared, MAX as i64);
}

/// Checks `counter_keys` against a recount of `counter_entries`.
fn assert_summaries_match(dir: &Path) {
    let conn = raw(dir);
    let entries: Vec<(String, f64, i64)> = conn
        .prepare("SELECT key, amount, expires_ms - at_ms FROM counter_entries ORDER BY id")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .expect("entries");
    let summaries: Vec<(String, f64, f64, i64, i64)> = conn
        .prepare("SELECT key, total, slack, entries, keep_ms FROM counter_keys")
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect()
        })
        .expect("summaries");
    common::assert_summaries_match(&entries, &summaries);
}

/// SQLite, which decides most reservations from its key summaries, answers
/// exactly as the memory store, and the summaries always match a recount of
/// the entries, through reservations, rollbacks and sweeps.
#[tokio::test]
async fn summaries_decide_like_the_window_and_match_a_recount() {
    for seed in [1, 7, 42] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteState::open(dir.path()).expect("open");
        common::decides_like_memory(&store, seed, async || assert_summaries_match(dir.path()))
            .await;
    }
}

/// A database written by a build that knew schema version 5 (no key
/// summaries) with entries in it: the migration summarises them, and
/// reservations decide from the summaries as they did from the entries.
#[tokio::test]
async fn schema_5_counter_entries_are_summarised() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let conn = at_version(dir.path(), 5);
        for (key, at, amount, keep) in common::schema_5_entries() {
            conn.execute(
                "INSERT INTO counter_entries (key, at_ms, amount, expires_ms) \
                 VALUES (?1, ?2, ?3, ?4)",
                (key, at, amount, at + keep),
            )
            .expect("counter entry");
        }
    }

    let store = SqliteState::open(dir.path()).expect("open migrates");
    assert_summaries_match(dir.path());
    let (_, retry, used) = denied(&store, &[check("calls", HOUR, 3.0, 1.0)], T0).await;
    assert_eq!((retry, used), (Some(HOUR - 3), 3.0));
    granted(&store, &[check("calls", HOUR, 4.0, 1.0)], T0).await;
    let cents = |amount| [check("cents", MINUTE, 0.3, amount)];
    granted(&store, &cents(0.0), T0).await;
    let (_, retry, _) = denied(&store, &cents(0.1), T0).await;
    assert_eq!(retry, Some(MINUTE - 2));
    let (_, retry, used) = denied(&store, &[check("ahead", SECOND, 1.0, 1.0)], T0).await;
    assert_eq!((retry, used), (Some(6_000), 1.0));
    // A longer window extends the kept entries, and the summary records it.
    granted(&store, &[check("cents", HOUR, 1.0, 0.5)], T0 + 1).await;
    assert_summaries_match(dir.path());
    let keep: i64 = raw(dir.path())
        .query_row(
            "SELECT keep_ms FROM counter_keys WHERE key = 'cents'",
            [],
            |r| r.get(0),
        )
        .expect("cents summary");
    assert_eq!(keep, HOUR as i64);
    // The sweep deletes the expired entry and its key's summary.
    granted(
        &store,
        &[check("other", MINUTE, 1.0, 1.0)],
        T0 + 20 * SECOND,
    )
    .await;
    assert_summaries_match(dir.path());
    let old: i64 = raw(dir.path())
        .query_row(
            "SELECT COUNT(*) FROM counter_keys WHERE key = 'old'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(old, 0);
}

const CHILD_DIR_ENV: &str = "WARDEN_STORE_TEST_CHILD_DIR";
const CHILD_ATTEMPTS: usize = 150;
const CROSS_PROCESS_MAX: usize = 100;

/// The body of a child process of `two_processes_share_counters`; a no-op
/// when run as an ordinary test.
#[tokio::test]
async fn child_process_reserver() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let store = SqliteState::open(Path::new(&dir)).expect("child open");
    let mut granted = 0;
    for i in 0..CHILD_ATTEMPTS as u64 {
        let checks = [LimitCheck::new(
            "cross",
            HOUR,
            CROSS_PROCESS_MAX as f64,
            1.0,
        )];
        if store
            .reserve(&checks, T0 + i)
            .await
            .expect("reserve")
            .is_reserved()
        {
            granted += 1;
        }
    }
    println!("GRANTED={granted}");
}

/// Two real processes on one state directory: together they never reserve
/// more than `max`.
#[test]
fn two_processes_share_counters() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Create the schema first so the children race on counters, not setup.
    drop(SqliteState::open(dir.path()).expect("open"));
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "child_process_reserver",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_DIR_ENV, dir.path())
                .output_async()
        })
        .collect();
    let mut total = 0;
    for child in children {
        let out = child.wait_with_output().expect("child output");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let granted: usize = stdout
            .lines()
            .find_map(|l| l.split_once("GRANTED=").map(|(_, n)| n))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no GRANTED line in {stdout}"));
        total += granted;
    }
    assert_eq!(total, CROSS_PROCESS_MAX, "2 x {CHILD_ATTEMPTS} attempts");
}

/// Starts a command with piped output without waiting for it.
trait SpawnPiped {
    fn output_async(&mut self) -> std::process::Child;
}

impl SpawnPiped for std::process::Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn child")
    }
}

// ---------------------------------------------------------------- approvals

#[tokio::test]
async fn approval_numbers_beyond_storage_are_refused() {
    let (store, _dir) = sqlite();
    common::approvals::numbers_beyond_storage_are_refused(&store).await;
}

#[tokio::test]
async fn approvals_survive_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let r = request("aaaaaaaaaaaa", T0);
    {
        let store = SqliteState::open(dir.path()).expect("open");
        ApprovalStore::create(&store, &r).await.expect("create");
    }
    let store = SqliteState::open(dir.path()).expect("reopen");
    assert_eq!(
        ApprovalStore::get(&store, "aaaaaaaaaaaa")
            .await
            .expect("get"),
        Some(pending(&r))
    );
}

/// A database written by a build that knew schema version 3 (counters,
/// keys, audit) is brought to the current version on open, its data kept.
#[tokio::test]
async fn schema_3_database_migrates_keeping_its_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let conn = at_version(dir.path(), 3);
        conn.execute(
            "INSERT INTO api_keys (id, identity, key_hash, created_ms) VALUES (?1, ?2, ?3, ?4)",
            ("aaaaaaaaaaaa", "ana", &[7u8; 32][..], T0 as i64),
        )
        .expect("key");
        conn.execute(
            "INSERT INTO counter_entries (key, at_ms, amount, expires_ms) VALUES (?1, ?2, ?3, ?4)",
            ("calls", T0 as i64, 1.0, (T0 + HOUR) as i64),
        )
        .expect("counter entry");
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'approvals'",
                [],
                |r| r.get(0),
            )
            .expect("tables");
        assert_eq!(tables, 0, "a version 3 database has no approvals");
    }

    let store = SqliteState::open(dir.path()).expect("open migrates");
    let versions: Vec<i64> = raw(dir.path())
        .prepare("SELECT version FROM schema_version ORDER BY version")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("versions");
    assert_eq!(
        versions,
        (1..=i64::from(latest_version())).collect::<Vec<_>>()
    );
    // The old data is there.
    let k = KeyStore::get(&store, "aaaaaaaaaaaa")
        .await
        .expect("get key")
        .expect("key kept");
    assert_eq!((k.identity.as_str(), k.hash), ("ana", [7u8; 32]));
    let (_, _, used) = denied(&store, &[check("calls", HOUR, 1.0, 1.0)], T0 + 1).await;
    assert_eq!(used, 1.0, "the counter entry is kept");
    assert_eq!(store.head().await.expect("audit head"), None);
    // And approvals work.
    let r = request("bbbbbbbbbbbb", T0);
    ApprovalStore::create(&store, &r)
        .await
        .expect("create approval");
    assert_eq!(
        ApprovalStore::get(&store, "bbbbbbbbbbbb")
            .await
            .expect("get"),
        Some(pending(&r))
    );
}

const APPROVER_DIR_ENV: &str = "WARDEN_STORE_TEST_APPROVER_DIR";
const CROSS_PROCESS_REQUESTS: usize = 60;

fn cross_process_id(i: usize) -> String {
    format!("{i:012x}")
}

/// The body of a child process of `two_processes_decide_and_claim_once`; a
/// no-op when run as an ordinary test.
#[tokio::test]
async fn child_process_approver() {
    let Ok(dir) = std::env::var(APPROVER_DIR_ENV) else {
        return;
    };
    let store = SqliteState::open(Path::new(&dir)).expect("child open");
    let (mut done, mut claimed) = (0, 0);
    for i in 0..CROSS_PROCESS_REQUESTS {
        let id = cross_process_id(i);
        let decision = approve(T0 + 1, T0 + HOUR, true);
        match store.decide(&id, &decision).await.expect("decide") {
            Decided::Done(_) => done += 1,
            Decided::AlreadyDecided(a) => assert_eq!(a.status, ApprovalStatus::Approved),
            other => panic!("{id}: {other:?}"),
        }
        if store
            .claim(key(), Some(&id), T0 + 2)
            .await
            .expect("claim")
            .is_some()
        {
            claimed += 1;
        }
    }
    println!("DONE={done} CLAIMED={claimed}");
}

/// Two real processes on one state directory decide and claim the same
/// single-use approvals: each is decided once and claimed once in total.
#[test]
fn two_processes_decide_and_claim_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store: &dyn ApprovalStore = &SqliteState::open(dir.path()).expect("open");
        for i in 0..CROSS_PROCESS_REQUESTS {
            store
                .create(&request(&cross_process_id(i), T0))
                .await
                .expect("create");
        }
    });
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "child_process_approver",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(APPROVER_DIR_ENV, dir.path())
                .output_async()
        })
        .collect();
    let (mut done, mut claimed) = (0, 0);
    for child in children {
        let out = child.wait_with_output().expect("child output");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let field = |name: &str| -> usize {
            stdout
                .split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {stdout}"))
        };
        done += field("DONE=");
        claimed += field("CLAIMED=");
    }
    assert_eq!(done, CROSS_PROCESS_REQUESTS, "each request decided once");
    assert_eq!(
        claimed, CROSS_PROCESS_REQUESTS,
        "each approval claimed once"
    );
    runtime.block_on(async {
        let store: &dyn ApprovalStore = &SqliteState::open(dir.path()).expect("open");
        let all = store.list(None, 1_000).await.expect("list");
        assert_eq!(all.len(), CROSS_PROCESS_REQUESTS);
        for a in all {
            assert_eq!((a.status, a.uses), (ApprovalStatus::Approved, 1));
        }
    });
}

// ---------------------------------------------------------------- pins

#[tokio::test]
async fn pin_times_beyond_storage_are_refused() {
    let (store, _dir) = sqlite();
    common::pins::times_beyond_storage_are_refused(&store).await;
}

#[tokio::test]
async fn pins_survive_reopen() {
    use common::pins::{SERVER, first_use, obs};
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = SqliteState::open(dir.path()).expect("open");
        PinStore::observe(&store, SERVER, &[obs("search", 1)], T0)
            .await
            .expect("observe");
    }
    let store = SqliteState::open(dir.path()).expect("reopen");
    assert_eq!(
        PinStore::get(&store, SERVER, "search").await.expect("get"),
        Some(first_use(SERVER, "search", 1, T0))
    );
    // Not a first use any more: a new tool is pending.
    let changes = PinStore::observe(&store, SERVER, &[obs("fork", 1)], T0 + 1)
        .await
        .expect("observe");
    assert_eq!(changes.len(), 1);
}

/// A database written by a build that knew schema version 4 (approvals, no pins) is
/// brought to the current version on open, its approvals kept, and pins work.
#[tokio::test]
async fn schema_4_database_migrates_keeping_its_data() {
    use common::pins::{SERVER, first_use, obs};
    let dir = tempfile::tempdir().expect("temp dir");
    let r = request("aaaaaaaaaaaa", T0);
    at_version(dir.path(), 4);
    {
        // Written while the file is at version 4: the approvals table exists.
        let conn = raw(dir.path());
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('approvals', 'pins')",
                [],
                |r| r.get(0),
            )
            .expect("tables");
        assert_eq!(tables, 1, "a version 4 database has approvals, no pins");
        conn.execute(
            "INSERT INTO approvals (id, created_ms, expires_ms, identity, grant_name, server, \
             session, tool, digest, arguments, rule, reason, approvers, mode, valid_for_ms, \
             status, single_use, uses) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
             ?12, ?13, ?14, ?15, 'pending', 1, 0)",
            rusqlite::params![
                &r.id,
                r.created_ms as i64,
                r.expires_ms as i64,
                &r.identity,
                &r.grant,
                &r.server,
                &r.session,
                &r.tool,
                &r.digest,
                &r.arguments,
                &r.rule,
                &r.reason,
                serde_json::Value::from(r.approvers.clone()).to_string(),
                &r.mode,
                r.valid_for_ms as i64,
            ],
        )
        .expect("approval row");
    }
    let store = SqliteState::open(dir.path()).expect("open migrates");
    let versions: Vec<i64> = raw(dir.path())
        .prepare("SELECT version FROM schema_version ORDER BY version")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("versions");
    assert_eq!(
        versions,
        (1..=i64::from(latest_version())).collect::<Vec<_>>()
    );
    assert_eq!(
        ApprovalStore::get(&store, "aaaaaaaaaaaa")
            .await
            .expect("get"),
        Some(pending(&r)),
        "the approval is kept"
    );
    PinStore::observe(&store, SERVER, &[obs("search", 1)], T0)
        .await
        .expect("observe");
    assert_eq!(
        PinStore::list(&store, None).await.expect("list"),
        [first_use(SERVER, "search", 1, T0)]
    );
}
