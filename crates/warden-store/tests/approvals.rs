//! The shared approval suite and races on the in-memory twin (SQLite and
//! PostgreSQL run them in `sqlite.rs` and `postgres.rs`).

mod common;

use std::sync::Arc;

use warden_store::{ApprovalStore, MemoryApprovals};

fn memory() -> (MemoryApprovals, ()) {
    (MemoryApprovals::new(), ())
}

/// Two handles on one store: the same store, shared.
fn memory_pair() -> (Arc<dyn ApprovalStore>, Arc<dyn ApprovalStore>, ()) {
    let store: Arc<dyn ApprovalStore> = Arc::new(MemoryApprovals::new());
    (store.clone(), store, ())
}

approval_suite!(memory_backend, memory());
approval_race_suite!(memory_races, memory_pair());

#[test]
fn debug_prints_no_records() {
    let text = format!("{:?}", MemoryApprovals::new());
    assert_eq!(text, "MemoryApprovals { .. }");
}
