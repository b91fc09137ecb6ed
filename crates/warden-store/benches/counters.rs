//! What a counter reservation costs on SQLite as its window fills.
//!
//! `cargo bench -p warden-store --bench counters -- --warm-up-time 1 --measurement-time 3`
//!
//! One key, one limit of 1,000,000,000 per hour (always room), with 0, 1,000 and 10,000
//! entries already in the window. `reserve` is what a call pays; each measured reservation is
//! rolled back outside the timing, so the window holds the same entries throughout.
//!
//! `nearly full` is the case no summary can decide: 20,000 entries kept for an hour, checked
//! by a half-hour limit with room for exactly one more call, so the half hour's 10,000 entries
//! must be summed.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use warden_store::{CounterStore, LimitCheck, ReserveOutcome, SqliteState};

const HOUR: u64 = 3_600_000;
const T0: u64 = 1_760_000_000_000;
/// Every reservation happens here; the entries lie in the hour before.
const NOW: u64 = T0 + HOUR;

/// A state directory whose key `calls` holds `entries` entries of 1, kept for an hour, spread
/// evenly over `span_ms` from `T0`; written directly in one transaction (reserving them one by
/// one would take minutes on a build where each reservation reads the window).
fn filled(entries: u64, span_ms: u64) -> (SqliteState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteState::open(dir.path()).unwrap();
    let mut conn = rusqlite::Connection::open(store.path()).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO counter_entries (key, at_ms, amount, expires_ms)
                 VALUES ('calls', ?1, 1.0, ?2)",
            )
            .unwrap();
        for i in 0..entries {
            let at = (T0 + i * span_ms / entries.max(1)) as i64;
            insert.execute((at, at + HOUR as i64)).unwrap();
        }
    }
    tx.commit().unwrap();
    (store, dir)
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("sqlite reserve");
    for (label, entries, span_ms, window_ms) in [
        ("1 h, 0 entries", 0, HOUR / 2, HOUR),
        ("1 h, 1,000 entries", 1_000, HOUR / 2, HOUR),
        ("1 h, 10,000 entries", 10_000, HOUR / 2, HOUR),
        (
            "30 min nearly full, 10,000 of 20,000",
            20_000,
            HOUR,
            HOUR / 2,
        ),
    ] {
        let (store, _dir) = filled(entries, span_ms);
        let max = if window_ms == HOUR {
            1e9
        } else {
            // Room for exactly one more: the entries in the half hour, plus one.
            (0..entries)
                .filter(|i| T0 + i * span_ms / entries > NOW - window_ms)
                .count() as f64
                + 1.0
        };
        let checks = [LimitCheck::new("calls", window_ms, max, 1.0)];
        g.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let outcome = runtime
                        .block_on(store.reserve(black_box(&checks), NOW))
                        .unwrap();
                    spent += start.elapsed();
                    let ReserveOutcome::Reserved(handle) = outcome else {
                        panic!("{label}: no room");
                    };
                    runtime.block_on(store.rollback(&handle)).unwrap();
                }
                spent
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
