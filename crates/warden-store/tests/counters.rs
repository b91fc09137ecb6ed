//! The shared counter suite, run against every backend.

mod common;

use tempfile::TempDir;
use warden_store::{
    CounterStore, LimitCheck, MemoryCounters, ReserveOutcome, SqliteState, StoreError,
};

fn memory() -> (MemoryCounters, ()) {
    (MemoryCounters::new(), ())
}

fn sqlite() -> (SqliteState, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteState::open(dir.path()).expect("open state");
    (store, dir)
}

counter_suite!(memory_backend, memory());
counter_suite!(sqlite_backend, sqlite());

#[tokio::test]
async fn suite_accepts_trait_objects() {
    // The gateway holds `Arc<dyn CounterStore>`; the trait must allow it.
    let (sq, _dir) = sqlite();
    let stores: Vec<std::sync::Arc<dyn CounterStore>> = vec![
        std::sync::Arc::new(MemoryCounters::new()),
        std::sync::Arc::new(sq),
    ];
    for store in stores {
        common::fit_and_deny_at_max(store.as_ref()).await;
    }
}

#[tokio::test]
async fn reservations_are_refused_by_other_stores() {
    let a = MemoryCounters::new();
    let b = MemoryCounters::new();
    let (sq, _dir) = sqlite();
    let checks = [LimitCheck::new("k", 1_000, 5.0, 1.0)];
    let ReserveOutcome::Reserved(from_a) = a.reserve(&checks, 0).await.expect("reserve") else {
        panic!("expected Reserved");
    };
    for other in [&b as &dyn CounterStore, &sq] {
        match other.rollback(&from_a).await {
            Err(err @ StoreError::ForeignReservation { .. }) => {
                assert!(err.to_string().contains("in-memory counter store"), "{err}");
            }
            res => panic!("expected ForeignReservation, got {res:?}"),
        }
    }
    a.rollback(&from_a).await.expect("own rollback");
}
