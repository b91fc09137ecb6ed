//! The shared API key suite, run against memory and SQLite, and what only
//! the SQLite backend promises (persistence, sharing a directory).

mod common;

use std::sync::Arc;

use common::keys::{T0, record};
use tempfile::TempDir;
use warden_store::{KeyStatus, KeyStore, MemoryKeys, SqliteState, StoreError};

fn memory() -> (MemoryKeys, ()) {
    (MemoryKeys::new(), ())
}

fn sqlite() -> (SqliteState, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteState::open(dir.path()).expect("open state");
    (store, dir)
}

key_suite!(memory_backend, memory());
key_suite!(sqlite_backend, sqlite());

#[tokio::test]
async fn sqlite_keys_survive_reopen_and_are_shared() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = SqliteState::open(dir.path()).expect("open");
        store
            .create(record("aaaaaaaaaaaa", "ana", T0))
            .await
            .expect("create");
    }
    let a: Arc<dyn KeyStore> = Arc::new(SqliteState::open(dir.path()).expect("reopen"));
    let b: Arc<dyn KeyStore> = Arc::new(SqliteState::open(dir.path()).expect("second"));
    assert!(a.get("aaaaaaaaaaaa").await.expect("get").is_some());
    // Two instances (standing in for two processes) revoking at once: exactly
    // one of them revokes.
    let (ra, rb) = tokio::join!(
        a.revoke("aaaaaaaaaaaa", T0 + 1),
        b.revoke("aaaaaaaaaaaa", T0 + 2)
    );
    let revoked = [ra.expect("revoke a"), rb.expect("revoke b")];
    assert_eq!(revoked.iter().filter(|r| **r).count(), 1, "{revoked:?}");
    let got = b.get("aaaaaaaaaaaa").await.expect("get").expect("present");
    assert_eq!(got.status(T0 + 3), KeyStatus::Revoked);
}

#[tokio::test]
async fn sqlite_refuses_times_it_cannot_store() {
    let (store, _dir) = sqlite();
    let mut r = record("aaaaaaaaaaaa", "ana", T0);
    r.expires_ms = Some(u64::MAX);
    match store.create(r).await {
        Err(StoreError::TimeOutOfRange { .. }) => {}
        other => panic!("expected TimeOutOfRange, got {other:?}"),
    }
    assert!(store.get("aaaaaaaaaaaa").await.expect("get").is_none());
}

#[test]
fn debug_leaves_the_hash_out() {
    let text = format!("{:?}", record("aaaaaaaaaaaa", "ana", T0));
    assert!(
        text.contains("aaaaaaaaaaaa") && !text.contains("hash"),
        "{text}"
    );
}
