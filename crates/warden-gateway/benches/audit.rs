//! Audit log throughput and the latency it adds to a call, per backend.
//!
//! `cargo bench -p warden-gateway --bench audit` (PostgreSQL from $WARDEN_TEST_POSTGRES_URL,
//! default postgres://postgres@127.0.0.1:5432/test; a fresh schema, dropped afterwards).
//!
//! - throughput: 64 tasks record as fast as they can for a few seconds through the gateway's
//!   writer (batched group commits), durable and lag mode; records per second sustained;
//! - latency: one caller records serially, durable mode; the p50/p90/p99 of `record` is what the
//!   durable mode adds to each call's answer (lag mode adds only the enqueue).
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use warden_gateway::{AuditLog, AuditSettings, Durability, SystemClock};
use warden_store::{AuditEntry, AuditStore, MemoryAudit, PgState, SqliteState};

const TASKS: usize = 64;
const RUN: Duration = Duration::from_secs(4);
const SERIAL: usize = 400;

fn entry(i: u64) -> AuditEntry {
    AuditEntry {
        time_ms: 1_760_000_000_000 + i,
        event: "call".into(),
        identity: Some("agent-7".into()),
        grant: Some("agent-7@demo".into()),
        server: Some("demo".into()),
        session: Some("3f1c0d2e-6a7b-4c8d-9e0f-1a2b3c4d5e6f".into()),
        request_id: Some(i.to_string()),
        method: Some("tools/call".into()),
        tool: Some("connections.refresh".into()),
        decision: Some("allow".into()),
        rule: Some("/tools/connections.refresh".into()),
        argument_keys: vec!["connection_id".into()],
        outcome: Some("ok".into()),
        result_bytes: Some(180),
        latency_us: Some(850),
        ..AuditEntry::default()
    }
}

async fn throughput(store: Arc<dyn AuditStore>, durability: Durability) -> f64 {
    let settings = AuditSettings {
        durability,
        ..AuditSettings::default()
    };
    let log = AuditLog::start(store, settings, Arc::new(SystemClock))
        .await
        .unwrap();
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while start.elapsed() < RUN {
                    log.record(entry(t as u64 * 1_000_000 + n)).await.unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    log.flush().await;
    total as f64 / start.elapsed().as_secs_f64()
}

async fn serial_latency(store: Arc<dyn AuditStore>) -> (f64, f64, f64) {
    let log = AuditLog::start(store, AuditSettings::default(), Arc::new(SystemClock))
        .await
        .unwrap();
    let mut times = Vec::with_capacity(SERIAL);
    for i in 0..SERIAL {
        let t = Instant::now();
        log.record(entry(i as u64)).await.unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize];
    (at(0.5), at(0.9), at(0.99))
}

async fn report(name: &str, make: impl AsyncFn() -> Arc<dyn AuditStore>) {
    let durable = throughput(make().await, Durability::Durable).await;
    let lag = throughput(make().await, Durability::Lag(Duration::from_millis(100))).await;
    let (p50, p90, p99) = serial_latency(make().await).await;
    println!("| {name} | {durable:>9.0} | {lag:>9.0} | {p50:>7.0} | {p90:>7.0} | {p99:>7.0} |");
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs it once as a smoke test.
    let smoke = std::env::args().all(|a| a != "--bench");
    if smoke {
        let store: Arc<dyn AuditStore> = Arc::new(MemoryAudit::new());
        let log = AuditLog::start(
            store.clone(),
            AuditSettings::default(),
            Arc::new(SystemClock),
        )
        .await
        .unwrap();
        log.record(entry(1)).await.unwrap();
        return;
    }
    println!(
        "{TASKS} concurrent writers for {} s; serial latency over {SERIAL} records",
        RUN.as_secs()
    );
    println!("| backend | durable rec/s | lag rec/s | p50 µs | p90 µs | p99 µs |");
    println!("|---|---|---|---|---|---|");
    report("memory", async || {
        Arc::new(MemoryAudit::new()) as Arc<dyn AuditStore>
    })
    .await;
    let dirs: Vec<tempfile::TempDir> = Vec::new();
    let dirs = std::sync::Mutex::new(dirs);
    report("sqlite", async || {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteState::open_audit(dir.path()).unwrap();
        dirs.lock().unwrap().push(dir);
        Arc::new(store) as Arc<dyn AuditStore>
    })
    .await;
    let url = std::env::var("WARDEN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    // One schema of its own, emptied afterwards, so runs do not pile up records.
    let pg = PgState::connect_with_schema(&url, "warden_bench_audit")
        .await
        .unwrap();
    report("postgres", async || {
        Arc::new(pg.clone()) as Arc<dyn AuditStore>
    })
    .await;
    let everything = warden_store::Retention {
        max_age_ms: None,
        max_records: Some(0),
    };
    pg.prune(&everything, u64::MAX / 4).await.unwrap();
}
