//! Property tests: random reserve / rollback / time-advance sequences against
//! a naive model, on every backend.
//!
//! The model keeps every entry forever and answers each question by brute
//! force, so it shares no code with the stores' incremental logic (pruning,
//! window bookkeeping, the retry computation). Checked after every step:
//! outcomes equal the model's (which makes "rollback restores room exactly"
//! observable), and for every limit, no window-length interval of recorded
//! entries holds more than `max`.

mod common;

use proptest::prelude::*;
use proptest::sample::Index;
use warden_store::counters::fits;
use warden_store::{
    CounterStore, LimitCheck, MemoryCounters, Reservation, ReserveOutcome, SqliteState,
};

/// Each key's limits `(window_ms, max)`. A reservation on a key checks all of
/// them (the condition under which the window guarantee holds). Key 1 has two
/// windows, so it is a shared key; key 2 has a fractional max.
const LIMITS: [&[(u64, f64)]; 3] = [
    &[(1_000, 5.0)],
    &[(500, 3.0), (2_000, 6.0)],
    &[(1_500, 2.5)],
];
const KEYS: [&str; 3] = ["a", "b", "c"];
const T0: u64 = 1_760_000_000_000;

#[derive(Clone, Debug)]
enum Op {
    /// Reserve on distinct keys with the given amounts, in this order.
    Reserve(Vec<(usize, f64)>),
    /// Roll back one of the reservations made so far (any, even twice).
    Rollback(Index),
    /// Let time pass.
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let amount = prop::sample::select(vec![0.0, 0.5, 1.0, 1.0, 1.0, 1.5, 2.0, 3.0, 7.0]);
    let reserve = prop::collection::vec((0..KEYS.len(), amount), 1..=3).prop_map(|mut v| {
        let mut seen = [false; KEYS.len()];
        v.retain(|&(k, _)| !std::mem::replace(&mut seen[k], true));
        Op::Reserve(v)
    });
    prop_oneof![
        5 => reserve,
        2 => any::<Index>().prop_map(Op::Rollback),
        3 => prop_oneof![0..50u64, 0..2_500u64].prop_map(Op::Advance),
    ]
}

#[derive(Debug)]
struct ModelEntry {
    key: usize,
    at_ms: u64,
    amount: f64,
    reservation: usize,
    live: bool,
}

#[derive(Debug, Default)]
struct Model {
    entries: Vec<ModelEntry>,
    reservations: usize,
}

impl Model {
    fn usage(&self, key: usize, window_ms: u64, at_ms: u64) -> f64 {
        self.entries
            .iter()
            .filter(|e| e.live && e.key == key && e.at_ms + window_ms > at_ms)
            .map(|e| e.amount)
            .sum()
    }

    /// The expected outcome: `None` for Reserved, else `(index, retry, used)`.
    fn decide(
        &self,
        checks: &[(usize, LimitCheck)],
        now: u64,
    ) -> Option<(usize, Option<u64>, f64)> {
        for (index, (key, c)) in checks.iter().enumerate() {
            let used = self.usage(*key, c.window_ms, now);
            if fits(used, c.amount, c.max) {
                continue;
            }
            let retry = if fits(0.0, c.amount, c.max) {
                // Brute force: the earliest later time at which it fits.
                // Usage only changes when an entry leaves the window.
                let mut candidates: Vec<u64> = self
                    .entries
                    .iter()
                    .filter(|e| e.live && e.key == *key && e.at_ms + c.window_ms > now)
                    .map(|e| (e.at_ms + c.window_ms - now).max(1))
                    .collect();
                candidates.sort_unstable();
                candidates
                    .into_iter()
                    .find(|&r| fits(self.usage(*key, c.window_ms, now + r), c.amount, c.max))
            } else {
                None
            };
            return Some((index, retry, used));
        }
        None
    }

    fn assert_window_invariant(&self) {
        for (key, limits) in LIMITS.iter().enumerate() {
            for &(window_ms, max) in *limits {
                // The fullest interval (t - w, t] ends at some entry's time.
                for end in self.entries.iter().filter(|e| e.live && e.key == key) {
                    let sum: f64 = self
                        .entries
                        .iter()
                        .filter(|e| e.live && e.key == key)
                        .filter(|e| e.at_ms <= end.at_ms && e.at_ms + window_ms > end.at_ms)
                        .map(|e| e.amount)
                        .sum();
                    assert!(
                        fits(sum, 0.0, max),
                        "key {} holds {sum} > {max} in ({}, {}]",
                        KEYS[key],
                        end.at_ms.saturating_sub(window_ms),
                        end.at_ms
                    );
                }
            }
        }
    }
}

async fn run(store: &dyn CounterStore, ops: &[Op]) {
    let mut model = Model::default();
    let mut handles: Vec<(usize, Reservation)> = Vec::new();
    let mut now = T0;
    for op in ops {
        match op {
            Op::Advance(ms) => now += ms,
            Op::Rollback(pick) => {
                if handles.is_empty() {
                    continue;
                }
                let (id, handle) = &handles[pick.index(handles.len())];
                store.rollback(handle).await.expect("rollback");
                for e in model.entries.iter_mut().filter(|e| e.reservation == *id) {
                    e.live = false;
                }
            }
            Op::Reserve(keys) => {
                let checks: Vec<(usize, LimitCheck)> = keys
                    .iter()
                    .flat_map(|&(key, amount)| {
                        LIMITS[key]
                            .iter()
                            .map(move |&(w, max)| (key, LimitCheck::new(KEYS[key], w, max, amount)))
                    })
                    .collect();
                let plain: Vec<LimitCheck> = checks.iter().map(|(_, c)| c.clone()).collect();
                let expected = model.decide(&checks, now);
                let got = store.reserve(&plain, now).await.expect("reserve");
                match (expected, got) {
                    (None, ReserveOutcome::Reserved(handle)) => {
                        let id = model.reservations;
                        model.reservations += 1;
                        for &(key, amount) in keys {
                            model.entries.push(ModelEntry {
                                key,
                                at_ms: now,
                                amount,
                                reservation: id,
                                live: true,
                            });
                        }
                        handles.push((id, handle));
                    }
                    (
                        Some((index, retry, used)),
                        ReserveOutcome::Exceeded {
                            index: got_index,
                            retry_after_ms,
                            used: got_used,
                        },
                    ) => {
                        assert_eq!(got_index, index, "index at {now} for {plain:?}");
                        assert_eq!(retry_after_ms, retry, "retry at {now} for {plain:?}");
                        assert!((got_used - used).abs() < 1e-9, "used {got_used} != {used}");
                    }
                    (expected, got) => {
                        panic!("at {now} for {plain:?}: model {expected:?}, store {got:?}")
                    }
                }
            }
        }
        model.assert_window_invariant();
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn memory_counters_match_the_model(ops in prop::collection::vec(op(), 1..80)) {
        block_on(run(&MemoryCounters::new(), &ops));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn sqlite_counters_match_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteState::open(dir.path()).expect("open");
        block_on(run(&store, &ops));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn postgres_counters_match_the_model(ops in prop::collection::vec(op(), 1..60)) {
        block_on(async {
            let (store, _schema) = common::pg::pg().await;
            run(&store, &ops).await;
        });
    }
}
