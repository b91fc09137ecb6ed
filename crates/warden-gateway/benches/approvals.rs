//! What approvals cost: the store operations on the call path, and how soon a held call goes
//! on once someone answers.
//!
//! `cargo bench -p warden-gateway --bench approvals` (SQLite in a temporary directory, and
//! PostgreSQL from $WARDEN_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test,
//! in a schema of its own, `warden_bench_approvals`; ids are random, so runs add up harmlessly).
//!
//! - `claim`: a call covered by a standing approval (`valid_for`) claims it: one atomic store
//!   round trip, what such a call pays over an allowed one;
//! - `request`: a call that needs a new approval stores the request;
//! - wake-up: how long after an answer the held call learns of it, answered in this process
//!   (the admin API, the user's elicitation answer: a direct wake-up) and from another process
//!   (`warden approvals approve`: through the store, seen by the 500 ms poller).
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use warden_gateway::approvals::{Answer, Answerer, Approvals, NewRequest, Sealer};
use warden_gateway::webhook::Webhooks;
use warden_gateway::{Clock, SystemClock};
use warden_store::{ApprovalStore, ClaimKey, PgState, SqliteState};

const SERIAL: usize = 500;
const WAKES: usize = 20;

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    format!(
        "p50 {:>9.3?}  p90 {:>9.3?}  p99 {:>9.3?}  (n={})",
        at(0.5),
        at(0.9),
        at(0.99),
        samples.len()
    )
}

fn verdict() -> warden_policy::Approval {
    let policy = warden_policy::Policy::from_json(
        "bench.json",
        r#"{"version":"1","default":"deny","tools":{"refund":{"action":"approve","approval":{"approvers":["operator"],"mode":"async","valid_for":"1h"}}}}"#,
    )
    .unwrap();
    let args = serde_json::json!({"amount": 10});
    let call = warden_policy::Call {
        tool: "refund",
        arguments: &args,
        identity: &serde_json::json!({"name": "agent"}),
        scope: warden_policy::Scope {
            grant: "g",
            identity: "agent",
            session: "s",
        },
    };
    match policy.evaluate(&call) {
        warden_policy::Verdict::Approve(a) => a,
        other => panic!("{other:?}"),
    }
}

fn new_request<'a>(
    verdict: &'a warden_policy::Approval,
    digest: &'a str,
    args: &'a serde_json::Value,
) -> NewRequest<'a> {
    NewRequest {
        verdict,
        identity: "agent",
        grant: "g",
        server: "payments",
        session: "s",
        tool: "refund",
        digest,
        shown_arguments: args,
    }
}

fn operator() -> Answer {
    Answer {
        approve: true,
        by: Answerer::Operator {
            detail: "bench".into(),
        },
        comment: None,
        valid_for: None,
    }
}

async fn run(name: &str, store: Arc<dyn ApprovalStore>) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let approvals = Approvals::start(
        store.clone(),
        clock.clone(),
        None,
        Arc::new(Webhooks::new(None)),
        Sealer::from_secret(&[9u8; 32]),
    );
    let verdict = verdict();
    let args = serde_json::json!({"amount": 10});

    // Storing new requests.
    let mut requests = Vec::with_capacity(SERIAL);
    let mut ids = Vec::with_capacity(SERIAL);
    for i in 0..SERIAL {
        let digest = format!("digest-{i}");
        let t = Instant::now();
        let a = approvals
            .request(new_request(&verdict, &digest, &args))
            .await
            .unwrap();
        requests.push(t.elapsed());
        ids.push(a.request.id);
    }
    println!("{name:<10} request  {}", percentiles(requests));

    // Claiming a standing (multi-use) approval.
    approvals.answer(&ids[0], &operator()).await.unwrap();
    let key = ClaimKey {
        grant: "g",
        tool: "refund",
        digest: "digest-0",
    };
    let mut claims = Vec::with_capacity(SERIAL);
    for _ in 0..SERIAL {
        let t = Instant::now();
        let got = store.claim(key, None, clock.now_ms()).await.unwrap();
        claims.push(t.elapsed());
        assert!(got.is_some());
    }
    println!("{name:<10} claim    {}", percentiles(claims));

    // Wake-ups: answered here, and through the store as another process would.
    for (how, direct) in [("in-process", true), ("other-process", false)] {
        let mut wakes = Vec::with_capacity(WAKES);
        for i in 0..WAKES {
            let digest = format!("wake-{how}-{i}");
            let a = approvals
                .request(new_request(&verdict, &digest, &args))
                .await
                .unwrap();
            let mut rx = approvals.subscribe(&a.request.id, a.request.expires_ms);
            // Answer at a random point of the poll cycle, as a person would.
            tokio::time::sleep(Duration::from_millis(37 * i as u64 % 500)).await;
            let t = Instant::now();
            if direct {
                approvals.answer(&a.request.id, &operator()).await.unwrap();
            } else {
                warden_gateway::approvals::answer(
                    &*store,
                    None,
                    clock.now_ms(),
                    &a.request.id,
                    &operator(),
                )
                .await
                .unwrap();
            }
            rx.wait_for(|v| v.is_some()).await.unwrap();
            wakes.push(t.elapsed());
        }
        println!("{name:<10} wake-up  {how:<13} {}", percentiles(wakes));
    }
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    run("sqlite", Arc::new(SqliteState::open(dir.path()).unwrap())).await;
    let url = std::env::var("WARDEN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let pg = PgState::connect_with_schema(&url, "warden_bench_approvals")
        .await
        .unwrap();
    run("postgres", Arc::new(pg)).await;
}
