//! The counter test suite every `CounterStore` backend must pass.
//!
//! Each case takes a fresh, empty store. `counter_suite!` instantiates every
//! case as a named test for one backend, so a new backend (PostgreSQL, Redis)
//! joins with one line.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod approvals;
pub mod audit;
pub mod keys;
pub mod pg;
pub mod pins;

use warden_store::{CounterStore, LimitCheck, Reservation, ReserveOutcome, StoreError};

pub const SECOND: u64 = 1_000;
pub const MINUTE: u64 = 60 * SECOND;
pub const HOUR: u64 = 60 * MINUTE;

/// A plausible epoch time, so tests do not depend on `now_ms` starting at 0.
pub const T0: u64 = 1_760_000_000_000;

/// Counter entries a schema-5 database holds before its migration to key summaries:
/// `(key, at_ms, amount, keep_ms)`, around [`T0`].
pub fn schema_5_entries() -> [(&'static str, i64, f64, i64); 7] {
    let t = T0 as i64;
    let (minute, hour) = (MINUTE as i64, HOUR as i64);
    [
        // Three calls of an hourly limit.
        ("calls", t - 3, 1.0, hour),
        ("calls", t - 2, 1.0, hour),
        ("calls", t - 1, 1.0, hour),
        // Decimal spend filling 0.3 per minute.
        ("cents", t - 2, 0.1, minute),
        ("cents", t - 1, 0.2, minute),
        // Expired, not yet swept.
        ("old", t - 2 * minute, 5.0, minute),
        // Stamped by a clock running ahead.
        ("ahead", t + 5_000, 1.0, 1_000),
    ]
}

pub fn check(key: &str, window_ms: u64, max: f64, amount: f64) -> LimitCheck {
    LimitCheck::new(key, window_ms, max, amount)
}

/// Reserves and expects success; returns the handle.
pub async fn granted(store: &dyn CounterStore, checks: &[LimitCheck], now_ms: u64) -> Reservation {
    match store.reserve(checks, now_ms).await {
        Ok(ReserveOutcome::Reserved(r)) => r,
        other => panic!("expected Reserved at {now_ms} for {checks:?}, got {other:?}"),
    }
}

/// Reserves and expects a denial; returns `(index, retry_after_ms, used)`.
pub async fn denied(
    store: &dyn CounterStore,
    checks: &[LimitCheck],
    now_ms: u64,
) -> (usize, Option<u64>, f64) {
    match store.reserve(checks, now_ms).await {
        Ok(ReserveOutcome::Exceeded {
            index,
            retry_after_ms,
            used,
        }) => (index, retry_after_ms, used),
        other => panic!("expected Exceeded at {now_ms} for {checks:?}, got {other:?}"),
    }
}

pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

pub async fn fit_and_deny_at_max(store: &dyn CounterStore) {
    let c = [check("calls", MINUTE, 3.0, 1.0)];
    for i in 0..3 {
        granted(store, &c, T0 + i).await;
    }
    let (index, retry, used) = denied(store, &c, T0 + 10).await;
    assert_eq!(index, 0);
    assert_eq!(used, 3.0);
    // The oldest entry (T0) leaves the window at T0 + MINUTE.
    assert_eq!(retry, Some(MINUTE - 10));
}

pub async fn retry_after_is_exact(store: &dyn CounterStore) {
    let one = [check("k", SECOND, 3.0, 1.0)];
    for at in [0, 100, 200] {
        granted(store, &one, T0 + at).await;
    }
    // Amount 2 needs usage <= 1: the entries at 0 and 100 must leave the window.
    let two = [check("k", SECOND, 3.0, 2.0)];
    let (_, retry, used) = denied(store, &two, T0 + 500).await;
    assert_eq!(used, 3.0);
    assert_eq!(retry, Some(600));
    let (_, retry, _) = denied(store, &two, T0 + 500 + 599).await;
    assert_eq!(retry, Some(1), "one millisecond before room returns");
    granted(store, &two, T0 + 500 + 600).await;
}

pub async fn room_returns_as_the_window_slides(store: &dyn CounterStore) {
    let c = [check("slide", SECOND, 2.0, 1.0)];
    granted(store, &c, T0).await;
    granted(store, &c, T0 + 500).await;
    denied(store, &c, T0 + 999).await;
    // At T0 + 1000 the entry at T0 is out (window is at_ms > now - window).
    granted(store, &c, T0 + 1_000).await;
    let (_, retry, _) = denied(store, &c, T0 + 1_001).await;
    assert_eq!(retry, Some(499));
    granted(store, &c, T0 + 1_500).await;
    // No window-length interval ever held more than 2: a fixed window would
    // have allowed 4 around T0 + 1000.
}

pub async fn multi_limit_is_atomic(store: &dyn CounterStore) {
    granted(store, &[check("full", MINUTE, 1.0, 1.0)], T0).await;
    let checks = [
        check("a", MINUTE, 1.0, 1.0),
        check("full", MINUTE, 1.0, 1.0),
        check("c", MINUTE, 1.0, 1.0),
    ];
    let (index, retry, used) = denied(store, &checks, T0 + 1).await;
    assert_eq!((index, retry, used), (1, Some(MINUTE - 1), 1.0));
    // Nothing was recorded in "a" or "c": each still has its single slot.
    granted(store, &[check("a", MINUTE, 1.0, 1.0)], T0 + 2).await;
    granted(store, &[check("c", MINUTE, 1.0, 1.0)], T0 + 2).await;
}

pub async fn first_limit_without_room_is_named(store: &dyn CounterStore) {
    granted(store, &[check("x", MINUTE, 1.0, 1.0)], T0).await;
    granted(store, &[check("y", MINUTE, 1.0, 1.0)], T0).await;
    let checks = [
        check("free", MINUTE, 5.0, 1.0),
        check("y", MINUTE, 1.0, 1.0),
        check("x", MINUTE, 1.0, 1.0),
    ];
    assert_eq!(denied(store, &checks, T0 + 1).await.0, 1);
}

pub async fn shared_key_records_one_entry(store: &dyn CounterStore) {
    // Two rules naming one counter: a per-minute and a per-hour limit.
    let checks = [
        check("shared", MINUTE, 2.0, 1.0),
        check("shared", HOUR, 3.0, 1.0),
    ];
    granted(store, &checks, T0).await;
    granted(store, &checks, T0 + 1).await;
    // Two entries, not four: the minute limit is what is full now.
    let (index, _, used) = denied(store, &checks, T0 + 2).await;
    assert_eq!((index, used), (0, 2.0));
    // After the minute passes, the hour limit has one slot left.
    granted(store, &checks, T0 + MINUTE + 1).await;
    let (index, retry, used) = denied(store, &checks, T0 + MINUTE + 2).await;
    assert_eq!((index, used), (1, 3.0));
    assert_eq!(retry, Some(HOUR - MINUTE - 2));
}

pub async fn shared_key_uses_largest_amount(store: &dyn CounterStore) {
    let checks = [
        check("mixed", MINUTE, 4.0, 1.0),
        check("mixed", HOUR, 10.0, 3.0),
    ];
    granted(store, &checks, T0).await;
    // 3 was recorded, and the minute limit is checked with 3 as well.
    let (index, _, used) = denied(store, &checks, T0 + 1).await;
    assert_eq!((index, used), (0, 3.0));
    granted(store, &[check("mixed", MINUTE, 4.0, 1.0)], T0 + 2).await;
}

pub async fn fractional_spend_cap(store: &dyn CounterStore) {
    let spend = |amount| [check("spend", HOUR, 100.0, amount)];
    for i in 0..5 {
        granted(store, &spend(19.99), T0 + i).await;
    }
    let (_, retry, used) = denied(store, &spend(0.06), T0 + 10).await;
    assert!(close(used, 99.95), "used {used}");
    assert_eq!(retry, Some(HOUR - 10));
    granted(store, &spend(0.05), T0 + 11).await;
    denied(store, &spend(0.01), T0 + 12).await;

    // Decimal sums that are not exact in binary still fill a cap exactly.
    let cents = |amount| [check("cents", HOUR, 0.3, amount)];
    granted(store, &cents(0.1), T0).await;
    granted(store, &cents(0.2), T0).await;
    denied(store, &cents(0.1), T0).await;
    granted(store, &cents(0.0), T0).await;
}

pub async fn amount_over_max_never_fits(store: &dyn CounterStore) {
    let (index, retry, used) = denied(store, &[check("big", MINUTE, 4.0, 5.0)], T0).await;
    assert_eq!((index, retry, used), (0, None, 0.0));
    granted(store, &[check("big", MINUTE, 4.0, 3.0)], T0).await;
    let (_, retry, used) = denied(store, &[check("big", MINUTE, 4.0, 4.5)], T0 + 1).await;
    assert_eq!((retry, used), (None, 3.0));
    let (_, retry, _) = denied(store, &[check("zero", MINUTE, 0.0, 1.0)], T0).await;
    assert_eq!(retry, None);
}

pub async fn rollback_restores_room(store: &dyn CounterStore) {
    let c = [
        check("rb", MINUTE, 2.0, 1.0),
        check("rb2", MINUTE, 1.0, 1.0),
    ];
    let first = granted(store, &c[..1], T0).await;
    let both = granted(store, &c, T0 + 1).await;
    assert!(!both.is_empty());
    denied(store, &c, T0 + 2).await;
    store.rollback(&both).await.expect("rollback");
    // Both keys got their room back.
    let again = granted(store, &c, T0 + 3).await;
    // Rolling back twice is harmless and does not touch newer entries.
    store.rollback(&both).await.expect("second rollback");
    denied(store, &c, T0 + 4).await;
    store.rollback(&first).await.expect("rollback first");
    granted(store, &c[..1], T0 + 5).await;
    store.rollback(&again).await.expect("rollback again");
}

pub async fn empty_checks_reserve_nothing(store: &dyn CounterStore) {
    let r = granted(store, &[], T0).await;
    assert!(r.is_empty());
    assert_eq!(r, Reservation::empty());
    store.rollback(&r).await.expect("rollback empty");
    store
        .rollback(&Reservation::empty())
        .await
        .expect("rollback default");
}

pub async fn invalid_checks_are_errors(store: &dyn CounterStore) {
    // A negative amount would create room; it must never be recorded.
    let bad = [
        check("ok", MINUTE, 1.0, 1.0),
        check("neg", MINUTE, 1.0, -5.0),
    ];
    match store.reserve(&bad, T0).await {
        Err(StoreError::InvalidCheck { index: 1, key, .. }) => assert_eq!(key, "neg"),
        other => panic!("expected InvalidCheck, got {other:?}"),
    }
    granted(store, &bad[..1], T0).await; // "ok" was not recorded by the failed call
    for c in [
        check("w", 0, 1.0, 1.0),
        check("m", MINUTE, f64::NAN, 1.0),
        check("a", MINUTE, 1.0, f64::INFINITY),
    ] {
        let err = store.reserve(&[c], T0).await.expect_err("invalid check");
        assert!(err.to_string().contains("invalid limit check #0"), "{err}");
    }
}

pub async fn entries_from_a_later_clock_still_count(store: &dyn CounterStore) {
    // Another replica's clock runs ahead: its entries count in every window.
    let c = [check("skew", SECOND, 1.0, 1.0)];
    granted(store, &c, T0 + 5_000).await;
    let (_, retry, used) = denied(store, &c, T0).await;
    assert_eq!((retry, used), (Some(6_000), 1.0));
}

pub async fn largest_window_seen_keeps_entries(store: &dyn CounterStore) {
    // One counter, two rules: hourly (max 3) on one tool, per minute on
    // another. Calls checking only the minute rule must not prune entries
    // the hour rule still counts.
    let hourly = [check("mixed-window", HOUR, 3.0, 1.0)];
    let minutely = [check("mixed-window", MINUTE, 5.0, 1.0)];
    granted(store, &hourly, T0).await;
    granted(store, &minutely, T0 + 2 * MINUTE).await;
    granted(store, &minutely, T0 + 15 * MINUTE).await;
    let (_, retry, used) = denied(store, &hourly, T0 + 20 * MINUTE).await;
    assert_eq!((retry, used), (Some(40 * MINUTE), 3.0));
}

/// Checks a backend's key summaries against a recount of its entries: one
/// summary per key with entries, the exact number of entries, the largest
/// retention, and a total within its slack of the amounts' sum.
///
/// `entries` are `(key, amount, expires_ms - at_ms)`, `summaries`
/// `(key, total, slack, entries, keep_ms)`, as read from the tables.
pub fn assert_summaries_match(
    entries: &[(String, f64, i64)],
    summaries: &[(String, f64, f64, i64, i64)],
) {
    let mut recount: std::collections::BTreeMap<&str, (f64, i64, i64)> = Default::default();
    for (key, amount, keep) in entries {
        let e = recount.entry(key).or_insert((0.0, 0, 0));
        e.0 += amount;
        e.1 += 1;
        e.2 = e.2.max(*keep);
    }
    let mut keys: Vec<&str> = summaries.iter().map(|s| s.0.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        recount.keys().copied().collect::<Vec<_>>(),
        "one summary per key with entries"
    );
    for (key, total, slack, count, keep_ms) in summaries {
        let (sum, n, keep) = recount[key.as_str()];
        assert_eq!((*count, *keep_ms), (n, keep), "{key}: entries, keep_ms");
        // The recount rounds too: at most `n` units of rounding.
        let recount_error = sum * n as f64 * f64::EPSILON;
        assert!(
            (total - sum).abs() <= slack + recount_error,
            "{key}: total {total} is {} from the recount {sum}, slack {slack}",
            (total - sum).abs()
        );
    }
}

/// A seeded loop of reservations (decimal amounts on limits they fill
/// exactly), rollbacks and time passing (so the sweep runs and keys empty),
/// answered by `store` and by the memory store, which sums every window:
/// the answers must be equal. `after_each` runs after every step (to compare
/// the store's summaries with a recount).
pub async fn decides_like_memory(
    store: &dyn CounterStore,
    seed: u64,
    mut after_each: impl AsyncFnMut(),
) {
    // Each key's limits (window_ms, max); every reservation on a key checks all of them.
    const LIMITS: [&[(u64, f64)]; 3] = [
        &[(1_000, 0.3)],
        &[(500, 0.6), (4_000, 1.0)],
        &[(2_000, 10.0)],
    ];
    const KEYS: [&str; 3] = ["cents", "two-windows", "roomy"];
    const AMOUNTS: [f64; 8] = [0.1, 0.2, 0.1, 0.3, 0.05, 1.0 / 3.0, 0.0, 0.7];
    let memory = warden_store::MemoryCounters::new();
    let mut handles: Vec<(Reservation, Reservation)> = Vec::new();
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut now = T0;
    let (mut reserved, mut exceeded) = (0, 0);
    for step in 0..600 {
        match next(10) {
            0..=5 => {
                let mut checks = Vec::new();
                for (key, limits) in LIMITS.iter().enumerate() {
                    if next(2) == 0 {
                        continue;
                    }
                    let amount = AMOUNTS[next(AMOUNTS.len() as u64) as usize];
                    for &(window_ms, max) in *limits {
                        checks.push(LimitCheck::new(KEYS[key], window_ms, max, amount));
                    }
                }
                let want = memory.reserve(&checks, now).await.expect("memory");
                let got = store.reserve(&checks, now).await.expect("store");
                match (want, got) {
                    (ReserveOutcome::Reserved(m), ReserveOutcome::Reserved(s)) => {
                        reserved += 1;
                        handles.push((m, s));
                    }
                    (
                        ReserveOutcome::Exceeded {
                            index,
                            retry_after_ms,
                            used,
                        },
                        ReserveOutcome::Exceeded {
                            index: got_index,
                            retry_after_ms: got_retry,
                            used: got_used,
                        },
                    ) => {
                        exceeded += 1;
                        assert_eq!((got_index, got_retry), (index, retry_after_ms));
                        assert!(close(used, got_used), "{used} != {got_used}");
                    }
                    (want, got) => panic!(
                        "seed {seed} step {step} at {now} for {checks:?}: \
                         memory {want:?}, store {got:?}"
                    ),
                }
            }
            6 | 7 if !handles.is_empty() => {
                let (m, s) = &handles[next(handles.len() as u64) as usize];
                memory.rollback(m).await.expect("memory rollback");
                store.rollback(s).await.expect("store rollback");
            }
            _ => now += if next(4) == 0 { next(6_000) } else { next(300) },
        }
        after_each().await;
    }
    // Both answers, many times: the loop tests the boundary, not one side of it.
    assert!(
        reserved > 50 && exceeded > 50,
        "{reserved} reserved, {exceeded} exceeded"
    );
}

/// Instantiates every case as a test in a module named `$backend`.
/// `$make` is an expression returning `(store, guard)`; the guard (e.g. a
/// temporary directory) lives until the test ends.
#[macro_export]
macro_rules! counter_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            $crate::counter_suite!(@cases $make;
                fit_and_deny_at_max,
                retry_after_is_exact,
                room_returns_as_the_window_slides,
                multi_limit_is_atomic,
                first_limit_without_room_is_named,
                shared_key_records_one_entry,
                shared_key_uses_largest_amount,
                fractional_spend_cap,
                amount_over_max_never_fits,
                rollback_restores_room,
                empty_checks_reserve_nothing,
                invalid_checks_are_errors,
                entries_from_a_later_clock_still_count,
                largest_window_seen_keeps_entries,
            );
        }
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (store, _guard) = $make;
                common::$case(&store).await;
            }
        )*
    };
}
