//! The shared pin suite and races on the in-memory twin (SQLite and PostgreSQL run them in
//! `sqlite.rs` and `postgres.rs`).

mod common;

use std::sync::Arc;

use warden_store::{MemoryPins, PinStore};

fn memory() -> (MemoryPins, ()) {
    (MemoryPins::new(), ())
}

/// Two handles on one store: the same store, shared.
fn memory_pair() -> (Arc<dyn PinStore>, Arc<dyn PinStore>, ()) {
    let store: Arc<dyn PinStore> = Arc::new(MemoryPins::new());
    (store.clone(), store, ())
}

pin_suite!(memory_backend, memory());
pin_race_suite!(memory_races, memory_pair());

#[test]
fn debug_prints_no_pins() {
    let text = format!("{:?}", MemoryPins::new());
    assert_eq!(text, "MemoryPins { .. }");
}
