//! Counter reservations: the sliding-window log behind every policy limit.
//!
//! # Semantics
//!
//! A limit is a [`LimitCheck`]: `(key, window_ms, max, amount)`. Each counter
//! key has a log of entries `(at_ms, amount)`. The **usage** of a key in a
//! window at time `now_ms` is the sum of the amounts of its entries with
//! `at_ms > now_ms - window_ms`.
//!
//! [`CounterStore::reserve`] takes several limits and is atomic:
//!
//! - If every limit fits (`usage + amount <= max`), one entry per *distinct*
//!   key is recorded at `now_ms` and the answer is
//!   [`ReserveOutcome::Reserved`]. Two limits naming the same key share one
//!   budget and one entry; they should carry the same amount, and if they do
//!   not, the largest is recorded and every limit on that key is checked with
//!   it (checking with a smaller amount than is recorded could overrun a
//!   limit).
//! - Otherwise nothing is recorded and the answer is
//!   [`ReserveOutcome::Exceeded`], naming the first limit (by index) without
//!   room, its current usage, and `retry_after_ms`: the smallest wait after
//!   which that limit would have room for this amount given the entries
//!   recorded now. It is found by dropping the oldest entries until
//!   `usage + amount <= max`; the wait is `dropped.at_ms + window_ms - now_ms`
//!   for the last entry dropped, at least 1. When the amount alone exceeds
//!   `max` the call can never fit and `retry_after_ms` is `None`.
//!
//! Because a reservation only succeeds when the *trailing* window ending now
//! has room, no window-length interval ever holds more than `max` (as long as
//! every reservation on a key checks all of that key's limits). This is
//! stronger than fixed windows, which allow up to `2 * max` across a window
//! boundary.
//!
//! [`CounterStore::rollback`] deletes a reservation's entries, restoring the
//! room exactly; the gateway uses it when the upstream call failed, so failed
//! calls do not consume quota. Rolling back twice, or after the entries were
//! pruned, does nothing.
//!
//! Entries older than the largest window seen for their key are pruned,
//! lazily (on touch, and in a sweep at most every [`PRUNE_INTERVAL_MS`]).
//! A window is "seen" by any reservation on the key, granted or not, and is
//! remembered while the key still has entries: if a key's entries have all
//! expired under a small window, a larger window used for the first time
//! later cannot count them.
//!
//! # Numbers
//!
//! Amounts are `f64` so spend caps can use fractional amounts. Comparisons
//! allow a relative tolerance of `1e-9` (see [`fits`]) so that decimal amounts
//! such as `0.1 + 0.2` against a max of `0.3` are not denied by binary
//! rounding. Amounts must be finite and non-negative, `max` finite and
//! non-negative, and `window_ms` at least 1; anything else is
//! [`StoreError::InvalidCheck`] (a negative amount would create room).
//!
//! # Time
//!
//! The store never reads the clock: every operation takes `now_ms`
//! (milliseconds since the Unix epoch) from the caller. Entries stamped later
//! than `now_ms` (another process with a clock slightly ahead) still count
//! against every window, which keeps the guarantee conservative.

mod memory;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

pub use memory::MemoryCounters;

use crate::{StoreError, StoreFuture};

/// How often, in `now_ms` terms, a store sweeps expired entries of keys it
/// has not touched. Touched keys are pruned on every reservation.
pub const PRUNE_INTERVAL_MS: u64 = 10_000;

/// Relative tolerance of [`fits`].
const TOLERANCE: f64 = 1e-9;

/// One limit a call must have room in.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitCheck {
    /// The counter key, already scoped by the caller (e.g. grant and counter
    /// name). Limits with the same key share one budget.
    pub key: String,
    /// Length of the sliding window in milliseconds; at least 1.
    pub window_ms: u64,
    /// Most usage allowed in any window; finite and non-negative.
    pub max: f64,
    /// What this call adds: 1 for a call counter, the spend for a spend cap.
    /// Finite and non-negative.
    pub amount: f64,
}

impl LimitCheck {
    /// A check of `amount` against `max` per `window_ms` on `key`.
    pub fn new(key: impl Into<String>, window_ms: u64, max: f64, amount: f64) -> Self {
        Self {
            key: key.into(),
            window_ms,
            max,
            amount,
        }
    }
}

/// The answer to [`CounterStore::reserve`].
#[derive(Clone, Debug, PartialEq)]
pub enum ReserveOutcome {
    /// Every limit had room; one entry per distinct key was recorded.
    Reserved(Reservation),
    /// A limit had no room; nothing was recorded.
    Exceeded {
        /// Index into the `checks` slice of the first limit without room.
        index: usize,
        /// Smallest wait, in milliseconds (at least 1), after which that limit
        /// would have room for this amount given the entries recorded now;
        /// `None` when the amount alone exceeds the limit's `max`.
        retry_after_ms: Option<u64>,
        /// That limit's usage in its window, without this call's amount.
        used: f64,
    },
}

impl ReserveOutcome {
    /// `true` for [`ReserveOutcome::Reserved`].
    pub fn is_reserved(&self) -> bool {
        matches!(self, Self::Reserved(_))
    }
}

/// The handle of a granted reservation: enough to roll it back.
///
/// Opaque. It remembers which store made it, and
/// [`CounterStore::rollback`] refuses a handle from another store. The
/// default value is the empty reservation, which every store rolls back as a
/// no-op.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reservation {
    pub(crate) origin: Origin,
    pub(crate) entries: Vec<ReservedEntry>,
}

impl Reservation {
    /// The empty reservation (what an empty `checks` slice reserves).
    pub fn empty() -> Self {
        Self::default()
    }

    /// `true` when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn new(origin: Origin, entries: Vec<ReservedEntry>) -> Self {
        Self { origin, entries }
    }

    /// Checks that `store` (described by `origin`) made this reservation.
    pub(crate) fn check_origin(&self, origin: &Origin) -> Result<(), StoreError> {
        if self.entries.is_empty() || &self.origin == origin {
            Ok(())
        } else {
            Err(StoreError::ForeignReservation {
                made_by: self.origin.to_string(),
                rolled_back_by: origin.to_string(),
            })
        }
    }
}

/// Which store made a reservation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Nothing was recorded anywhere.
    #[default]
    Nowhere,
    /// A [`MemoryCounters`] instance, by its process-unique number.
    Memory(u64),
    /// A SQLite database file. Every `SqliteState` on the same file may roll
    /// back: they share the rows.
    Sqlite(Arc<Path>),
    /// A PostgreSQL schema, known by the random id its first migration
    /// stored. Every `PgState` on that schema (every replica) may roll back,
    /// however its URL spells the server.
    Postgres(PgOrigin),
}

/// Which PostgreSQL schema made a reservation: compared by `store_id` only,
/// `name` is for messages.
#[derive(Clone, Debug)]
pub(crate) struct PgOrigin {
    /// The schema's random id (table `store_identity`).
    pub(crate) store_id: Arc<str>,
    /// `user@host:port/database, schema NAME`, never a password.
    pub(crate) name: Arc<str>,
}

impl PartialEq for PgOrigin {
    fn eq(&self, other: &Self) -> bool {
        self.store_id == other.store_id
    }
}

impl Eq for PgOrigin {}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nowhere => f.write_str("no store"),
            Self::Memory(n) => write!(f, "in-memory counter store #{n}"),
            Self::Sqlite(path) => write!(f, "state database {}", path.display()),
            Self::Postgres(pg) => write!(f, "PostgreSQL state {}", pg.name),
        }
    }
}

/// One recorded entry of a reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReservedEntry {
    /// The counter key, so the memory store finds the log without a scan.
    pub(crate) key: String,
    /// The entry id (SQLite row id, PostgreSQL `BIGSERIAL`, memory entry
    /// number). Never reused.
    pub(crate) id: i64,
}

/// Counter state: atomic multi-limit reservations and their rollback.
///
/// Implemented by [`MemoryCounters`] (tests, single-process ephemeral use) and
/// [`SqliteState`](crate::SqliteState) (the default, shared across processes
/// on one state directory). Both pass the same test suite; the semantics are
/// in the [module documentation](self).
///
/// The methods return boxed futures so the trait stays usable as
/// `dyn CounterStore`; call them as ordinary async methods
/// (`store.reserve(&checks, now_ms).await`). An implementation wraps its body
/// in `Box::pin(async move { ... })`.
pub trait CounterStore: Send + Sync + fmt::Debug {
    /// Reserves room in every limit of `checks` at `now_ms`, all or none.
    ///
    /// An empty `checks` returns `Reserved` with an empty handle and writes
    /// nothing. Errors: [`StoreError::InvalidCheck`] for a malformed check,
    /// backend errors otherwise; on error nothing is recorded.
    fn reserve<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now_ms: u64,
    ) -> StoreFuture<'a, ReserveOutcome>;

    /// Deletes the entries of `reservation`, restoring the room it took.
    ///
    /// Idempotent. Errors with [`StoreError::ForeignReservation`] when the
    /// handle was made by another store.
    fn rollback<'a>(&'a self, reservation: &'a Reservation) -> StoreFuture<'a, ()>;
}

/// Whether `used + amount` stays within `max`, with a relative tolerance of
/// `1e-9` so decimal amounts are not denied by binary rounding.
pub fn fits(used: f64, amount: f64, max: f64) -> bool {
    used + amount <= max + TOLERANCE * max.abs().max(1.0)
}

/// What one reservation records for one distinct key.
#[derive(Debug)]
pub(crate) struct KeyPlan<'a> {
    /// The counter key.
    pub(crate) key: &'a str,
    /// The amount recorded: the largest amount among the checks on this key.
    pub(crate) amount: f64,
    /// The largest window among the checks on this key.
    pub(crate) window_ms: u64,
}

/// A validated reservation request.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    /// Distinct keys, in order of first appearance.
    pub(crate) keys: Vec<KeyPlan<'a>>,
    /// For each check, the index of its key in `keys`.
    pub(crate) key_of_check: Vec<usize>,
}

impl<'a> Plan<'a> {
    /// Validates `checks` and groups them by key.
    pub(crate) fn new(checks: &'a [LimitCheck]) -> Result<Self, StoreError> {
        let mut keys: Vec<KeyPlan<'a>> = Vec::new();
        let mut key_of_check = Vec::with_capacity(checks.len());
        for (index, check) in checks.iter().enumerate() {
            let problem = if check.window_ms == 0 {
                Some("window_ms must be at least 1")
            } else if !check.max.is_finite() || check.max < 0.0 {
                Some("max must be a finite, non-negative number")
            } else if !check.amount.is_finite() || check.amount < 0.0 {
                Some("amount must be a finite, non-negative number")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(StoreError::InvalidCheck {
                    index,
                    key: check.key.clone(),
                    problem,
                });
            }
            // A reservation holds a handful of checks: a linear search beats a map.
            match keys.iter().position(|k| k.key == check.key) {
                Some(at) => {
                    let plan = &mut keys[at];
                    plan.amount = plan.amount.max(check.amount);
                    plan.window_ms = plan.window_ms.max(check.window_ms);
                    key_of_check.push(at);
                }
                None => {
                    key_of_check.push(keys.len());
                    keys.push(KeyPlan {
                        key: &check.key,
                        amount: check.amount,
                        window_ms: check.window_ms,
                    });
                }
            }
        }
        Ok(Self { keys, key_of_check })
    }

    /// The amount every check on the key of check `index` is evaluated with.
    pub(crate) fn amount_of_check(&self, index: usize) -> f64 {
        self.key_of_check
            .get(index)
            .and_then(|&k| self.keys.get(k))
            .map_or(0.0, |k| k.amount)
    }
}

/// A key's row of `counter_keys` (SQLite and PostgreSQL): the aggregate of
/// its entries, kept by triggers in the transaction that changes them.
#[derive(Debug)]
pub(crate) struct KeySummary {
    /// The sum of the amounts of all the key's entries, up to `slack`.
    pub(crate) total: f64,
    /// How far `total` may be from the exact sum.
    pub(crate) slack: f64,
    /// How many entries the key has.
    pub(crate) entries: i64,
    /// How long the key's entries are kept: the largest window seen.
    pub(crate) keep_ms: i64,
}

/// Whether a limit of `max` on a key summarised by `summary` certainly has
/// room for `amount`, however `evaluate` would sum the entries of any window.
///
/// The exact sum of all the key's amounts is at most `total + slack`; a
/// window's amounts are some of them, all non-negative, and `evaluate`'s
/// left-to-right sum of at most `entries` of them exceeds their exact sum by
/// less than `entries + 2` units of rounding (which also covers rounding this
/// bound); the slack below is twice that. `fits` only grows with the usage,
/// so when the bound fits, the usage does. A key without entries has usage 0.
pub(crate) fn summary_fits(summary: Option<&KeySummary>, amount: f64, max: f64) -> bool {
    summary.map_or(fits(0.0, amount, max), |s| {
        sum_fits(s.total + s.slack, s.entries, amount, max)
    })
}

/// Whether `rows` non-negative amounts whose sum, however it was rounded, is
/// at most `total` certainly leave room for `amount` under `max` as
/// `evaluate` sums them: its left-to-right sum of the same rows exceeds their
/// exact sum by less than `rows + 2` units of rounding of `total`, and the
/// margin here is twice that. When this says no, only reading the rows
/// decides.
pub(crate) fn sum_fits(total: f64, rows: i64, amount: f64, max: f64) -> bool {
    let rows = rows.max(0) as f64;
    fits(
        total + total.abs() * (rows + 2.0) * f64::EPSILON * 2.0,
        amount,
        max,
    )
}

/// Whether an entry stamped `at_ms` counts in a window of `window_ms` ending
/// at `now_ms` (`at_ms > now_ms - window_ms`, without underflow).
pub(crate) fn in_window(at_ms: u64, window_ms: u64, now_ms: u64) -> bool {
    at_ms.saturating_add(window_ms) > now_ms
}

/// Evaluates one limit against its key's entries.
///
/// `entries` yields `(at_ms, amount)` of the key's entries in the window,
/// oldest first (ties in any fixed order). Returns `None` when the limit has
/// room, else the `Exceeded` outcome for check `index`.
pub(crate) fn evaluate<I>(
    index: usize,
    check: &LimitCheck,
    amount: f64,
    entries: I,
    now_ms: u64,
) -> Option<ReserveOutcome>
where
    I: Iterator<Item = (u64, f64)> + Clone,
{
    let used: f64 = entries.clone().map(|(_, a)| a).sum();
    if fits(used, amount, check.max) {
        return None;
    }
    let retry_after_ms = if fits(0.0, amount, check.max) {
        // Drop the oldest entries until the rest leaves room. The running
        // `dropped` is folded in the same order as `used`, so dropping every
        // entry leaves exactly 0 and the loop always finds a point.
        let mut dropped = 0.0;
        let mut retry = None;
        for (at_ms, entry_amount) in entries {
            dropped += entry_amount;
            if fits(used - dropped, amount, check.max) {
                let wait = at_ms.saturating_add(check.window_ms).saturating_sub(now_ms);
                retry = Some(wait.max(1));
                break;
            }
        }
        retry
    } else {
        None
    };
    Some(ReserveOutcome::Exceeded {
        index,
        retry_after_ms,
        used,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_admits_decimal_sums() {
        assert!(!fits(0.1 + 0.2, 0.0, 0.3 - 1e-6));
        assert!(fits(0.1 + 0.2, 0.0, 0.3));
        assert!(fits(2.0, 1.0, 3.0));
        assert!(!fits(2.0, 1.01, 3.0));
    }

    #[test]
    fn plan_groups_keys_with_max_amount_and_window() {
        let checks = [
            LimitCheck::new("a", 1_000, 5.0, 1.0),
            LimitCheck::new("b", 1_000, 5.0, 1.0),
            LimitCheck::new("a", 60_000, 50.0, 3.0),
        ];
        let plan = Plan::new(&checks).expect("valid");
        assert_eq!(plan.keys.len(), 2);
        assert_eq!(plan.key_of_check, vec![0, 1, 0]);
        assert_eq!(plan.keys[0].amount, 3.0);
        assert_eq!(plan.keys[0].window_ms, 60_000);
        assert_eq!(plan.amount_of_check(0), 3.0);
    }

    #[test]
    fn plan_rejects_values_that_would_create_room() {
        for bad in [
            LimitCheck::new("k", 0, 1.0, 1.0),
            LimitCheck::new("k", 1, f64::NAN, 1.0),
            LimitCheck::new("k", 1, -1.0, 1.0),
            LimitCheck::new("k", 1, 1.0, -0.5),
            LimitCheck::new("k", 1, 1.0, f64::INFINITY),
        ] {
            let checks = [LimitCheck::new("ok", 1, 1.0, 1.0), bad];
            match Plan::new(&checks) {
                Err(StoreError::InvalidCheck { index: 1, .. }) => {}
                other => panic!("expected InvalidCheck for #1, got {other:?}"),
            }
        }
    }

    #[test]
    fn retry_is_when_enough_oldest_entries_expire() {
        let check = LimitCheck::new("k", 1_000, 3.0, 2.0);
        let entries = [(100u64, 1.0), (200, 1.0), (300, 1.0)];
        // used 3; needs usage <= 1, so the two oldest must expire: 200 + 1000 - 500.
        let out = evaluate(7, &check, 2.0, entries.iter().copied(), 500);
        assert_eq!(
            out,
            Some(ReserveOutcome::Exceeded {
                index: 7,
                retry_after_ms: Some(700),
                used: 3.0
            })
        );
        let too_big = LimitCheck::new("k", 1_000, 3.0, 4.0);
        let out = evaluate(0, &too_big, 4.0, std::iter::empty(), 500);
        assert_eq!(
            out,
            Some(ReserveOutcome::Exceeded {
                index: 0,
                retry_after_ms: None,
                used: 0.0
            })
        );
    }

    #[test]
    fn window_bounds_do_not_underflow() {
        assert!(in_window(0, 10, 5));
        assert!(in_window(1, 10, 10));
        assert!(!in_window(0, 10, 10));
        assert!(in_window(u64::MAX, 10, 10));
    }

    fn summary(total: f64, slack: f64, entries: i64) -> KeySummary {
        KeySummary {
            total,
            slack,
            entries,
            keep_ms: 1_000,
        }
    }

    #[test]
    fn a_key_without_entries_has_room_for_what_fits_the_max() {
        assert!(summary_fits(None, 1.0, 1.0));
        assert!(summary_fits(None, 0.0, 0.0));
        assert!(!summary_fits(None, 1.5, 1.0));
    }

    #[test]
    fn the_summary_decides_decimal_amounts_like_the_window() {
        // What the triggers store after 0.1 then 0.2: the sums and their drift.
        let total = 0.1 + 0.2;
        let s = summary(total, total.abs() * f64::EPSILON, 2);
        assert!(summary_fits(Some(&s), 0.0, 0.3), "0.1 + 0.2 fills 0.3");
        assert!(!summary_fits(Some(&s), 0.1, 0.3), "and nothing more fits");
        assert!(!summary_fits(Some(&s), 0.0, 0.3 - 1e-6));
        // Integer counts decide at the exact boundary.
        let s = summary(8.0, 0.0, 8);
        assert!(summary_fits(Some(&s), 1.0, 9.0));
        assert!(!summary_fits(Some(&s), 2.0, 9.0));
    }

    #[test]
    fn slack_only_makes_the_summary_more_careful() {
        // A drifted total (a large amount came and went) never says "room"
        // where the exact sum might not have it.
        let s = summary(1.0, 1e-3, 1);
        assert!(!summary_fits(Some(&s), 1.0, 2.0));
        assert!(summary_fits(Some(&s), 1.0, 2.01));
    }

    #[test]
    fn where_the_summary_finds_room_every_window_has_it() {
        // Entries come and go (some huge, so the total drifts); the summary
        // is updated as the triggers do. For windows of the live entries
        // summed as `evaluate` sums them, and limits just around that usage,
        // the summary never finds room the window lacks.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut live = std::collections::VecDeque::new();
        let (mut total, mut slack) = (0.0f64, 0.0f64);
        for step in 0..5_000 {
            let roll = next();
            if roll % 3 == 0 && !live.is_empty() {
                let gone: f64 = live.pop_front().unwrap_or(0.0);
                if live.is_empty() {
                    // The key's last entry takes its summary row with it.
                    (total, slack) = (0.0, 0.0);
                } else {
                    total -= gone;
                    slack += total.abs() * f64::EPSILON;
                }
            } else {
                let amount = match roll % 50 {
                    0 => 1e6 + 0.1,
                    n => (n as f64) / 10.0 + (roll % 7) as f64 / 3.0,
                };
                if live.is_empty() {
                    (total, slack) = (amount, 0.0);
                } else {
                    total += amount;
                    slack += total.abs() * f64::EPSILON;
                }
                live.push_back(amount);
            }
            let s = summary(total, slack, live.len() as i64);
            let skip = if live.is_empty() {
                0
            } else {
                step % live.len()
            };
            for from in [0, skip] {
                let used: f64 = live.iter().skip(from).copied().sum();
                for k in -3..=3 {
                    let max = used * (1.0 + f64::from(k) * 5e-10);
                    for amount in [0.0, 0.1] {
                        if summary_fits(Some(&s), amount, max) {
                            assert!(
                                fits(used, amount, max),
                                "step {step}: {used} + {amount} > {max}"
                            );
                        }
                    }
                }
            }
        }
    }
}
