//! What a counter reservation costs on SQLite and PostgreSQL as its window fills.
//!
//! `cargo bench -p warden-store --bench counters -- --warm-up-time 1 --measurement-time 3`
//! (PostgreSQL from $WARDEN_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test,
//! in a fresh schema `warden_bench_counters_<random>`, dropped afterwards).
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
use warden_store::{CounterStore, LimitCheck, PgState, ReserveOutcome, SqliteState};

const HOUR: u64 = 3_600_000;
const T0: u64 = 1_760_000_000_000;
/// Every reservation happens here; the entries lie in the hour before.
const NOW: u64 = T0 + HOUR;

/// A state directory whose key `calls` holds `entries` entries of 1, kept for an hour, spread
/// evenly over `span_ms` from `T0`; written directly in one transaction (reserving them one by
/// one would take minutes on a build where each reservation reads the window).
/// Times reservations of `checks` (each rolled back, so the window stays as filled).
fn bench_reserve(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    runtime: &tokio::runtime::Runtime,
    label: &str,
    store: &dyn CounterStore,
    checks: &[LimitCheck],
) {
    g.bench_function(label, |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let outcome = runtime
                    .block_on(store.reserve(black_box(checks), NOW))
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

/// A fresh PostgreSQL schema whose key `calls` holds entries as in [`filled`].
async fn pg_filled(url: &str, schema: &str, entries: u64, span_ms: u64) -> PgState {
    let client = pg_client(url).await;
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .unwrap();
    let store = PgState::connect_with_schema(url, schema).await.unwrap();
    client
        .execute(
            &format!(
                "INSERT INTO {schema}.counter_entries (key, at_ms, amount, expires_ms)
                 SELECT 'calls', t, 1.0, t + $4::bigint FROM (
                     SELECT $1::bigint + i * $2::bigint / GREATEST($3::bigint, 1) AS t
                     FROM generate_series(0, $3::bigint - 1) AS i) AS s"
            ),
            &[
                &(T0 as i64),
                &(span_ms as i64),
                &(entries as i64),
                &(HOUR as i64),
            ],
        )
        .await
        .unwrap();
    store
}

async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// The cases: label, entries, the span they are spread over, the limit's window.
const CASES: [(&str, u64, u64, u64); 4] = [
    ("1 h, 0 entries", 0, HOUR / 2, HOUR),
    ("1 h, 1,000 entries", 1_000, HOUR / 2, HOUR),
    ("1 h, 10,000 entries", 10_000, HOUR / 2, HOUR),
    (
        "30 min nearly full, 10,000 of 20,000",
        20_000,
        HOUR,
        HOUR / 2,
    ),
];

/// The limit of a case: room to spare in an hour, or room for exactly one more call in the
/// half hour (the entries in it, plus one).
fn limit(entries: u64, span_ms: u64, window_ms: u64) -> [LimitCheck; 1] {
    let max = if window_ms == HOUR {
        1e9
    } else {
        (0..entries)
            .filter(|i| T0 + i * span_ms / entries > NOW - window_ms)
            .count() as f64
            + 1.0
    };
    [LimitCheck::new("calls", window_ms, max, 1.0)]
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("sqlite reserve");
    for (label, entries, span_ms, window_ms) in CASES {
        let (store, _dir) = filled(entries, span_ms);
        let checks = limit(entries, span_ms, window_ms);
        bench_reserve(&mut g, &runtime, label, &store, &checks);
    }
    g.finish();

    let url = std::env::var("WARDEN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let mut id = [0u8; 4];
    getrandom::fill(&mut id).unwrap();
    let schema = format!("warden_bench_counters_{:08x}", u32::from_be_bytes(id));
    let mut g = c.benchmark_group("postgres reserve");
    for (label, entries, span_ms, window_ms) in CASES {
        let store = runtime.block_on(pg_filled(&url, &schema, entries, span_ms));
        let checks = limit(entries, span_ms, window_ms);
        bench_reserve(&mut g, &runtime, label, &store, &checks);
        drop(store);
    }
    g.finish();
    runtime.block_on(async {
        pg_client(&url)
            .await
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await
            .unwrap();
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
