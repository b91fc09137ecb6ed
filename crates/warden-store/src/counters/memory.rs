//! The in-memory twin of the counter store.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{
    CounterStore, LimitCheck, Origin, PRUNE_INTERVAL_MS, Plan, Reservation, ReserveOutcome,
    ReservedEntry, evaluate, in_window,
};
use crate::{StoreError, StoreFuture};

/// Numbers memory stores so a reservation names the instance that made it.
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

/// Counters kept in process memory.
///
/// For tests and for single-process gateways that do not need counters to
/// survive a restart. State is lost on drop and is not shared between
/// instances. Default: empty.
pub struct MemoryCounters {
    instance: u64,
    state: Mutex<MemoryState>,
}

impl fmt::Debug for MemoryCounters {
    /// Names the instance only: the state can be large, and formatting must
    /// not take the lock.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCounters")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct MemoryState {
    keys: HashMap<String, KeyLog>,
    /// Entry ids are never reused, so a stale rollback cannot hit a new entry.
    next_id: i64,
    /// `now_ms` at or after which the next full sweep runs.
    next_sweep_ms: u64,
}

/// The log of one key.
#[derive(Debug)]
struct KeyLog {
    /// The largest window seen for this key while it had entries; entries
    /// older than this are pruned.
    max_window_ms: u64,
    /// Sorted by `(at_ms, id)`: oldest first.
    entries: VecDeque<Entry>,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    id: i64,
    at_ms: u64,
    amount: f64,
}

impl KeyLog {
    fn prune(&mut self, now_ms: u64) {
        while let Some(front) = self.entries.front() {
            if in_window(front.at_ms, self.max_window_ms, now_ms) {
                break;
            }
            self.entries.pop_front();
        }
    }

    fn window(&self, window_ms: u64, now_ms: u64) -> impl Iterator<Item = (u64, f64)> + Clone {
        let start = self
            .entries
            .partition_point(|e| !in_window(e.at_ms, window_ms, now_ms));
        self.entries.range(start..).map(|e| (e.at_ms, e.amount))
    }

    fn insert(&mut self, entry: Entry) {
        // Callers normally pass a non-decreasing `now_ms`, so this appends;
        // concurrent callers may pass slightly older times, hence the search.
        let at = self.entries.partition_point(|e| e.at_ms <= entry.at_ms);
        self.entries.insert(at, entry);
    }
}

impl Default for MemoryCounters {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryCounters {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            instance: NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(MemoryState::default()),
        }
    }

    fn origin(&self) -> Origin {
        Origin::Memory(self.instance)
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        // A panic while holding the lock cannot leave a half-made reservation
        // that undercounts: entries are only pushed after every check passed,
        // so at worst some were recorded (overcounting). Recovering keeps the
        // gateway serving instead of failing every call from then on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn reserve_now(
        &self,
        checks: &[LimitCheck],
        now_ms: u64,
    ) -> Result<ReserveOutcome, StoreError> {
        if checks.is_empty() {
            return Ok(ReserveOutcome::Reserved(Reservation::empty()));
        }
        let plan = Plan::new(checks)?;
        let mut state = self.lock();
        state.sweep(now_ms);

        for key in &plan.keys {
            if let Some(log) = state.keys.get_mut(key.key) {
                // Remember the window before pruning, so entries a larger
                // window still needs are kept (even if this call is denied).
                log.max_window_ms = log.max_window_ms.max(key.window_ms);
                log.prune(now_ms);
            }
        }

        for (index, check) in checks.iter().enumerate() {
            let amount = plan.amount_of_check(index);
            let denied = match state.keys.get(&check.key) {
                Some(log) => evaluate(
                    index,
                    check,
                    amount,
                    log.window(check.window_ms, now_ms),
                    now_ms,
                ),
                None => evaluate(index, check, amount, std::iter::empty(), now_ms),
            };
            if let Some(outcome) = denied {
                return Ok(outcome);
            }
        }

        let mut reserved = Vec::with_capacity(plan.keys.len());
        for key in &plan.keys {
            state.next_id += 1;
            let id = state.next_id;
            let log = state
                .keys
                .entry(key.key.to_owned())
                .or_insert_with(|| KeyLog {
                    max_window_ms: key.window_ms,
                    entries: VecDeque::new(),
                });
            log.insert(Entry {
                id,
                at_ms: now_ms,
                amount: key.amount,
            });
            reserved.push(ReservedEntry {
                key: key.key.to_owned(),
                id,
            });
        }
        Ok(ReserveOutcome::Reserved(Reservation::new(
            self.origin(),
            reserved,
        )))
    }

    fn rollback_now(&self, reservation: &Reservation) -> Result<(), StoreError> {
        reservation.check_origin(&self.origin())?;
        if reservation.is_empty() {
            return Ok(());
        }
        let mut state = self.lock();
        for entry in &reservation.entries {
            let Some(log) = state.keys.get_mut(&entry.key) else {
                continue;
            };
            // The entry is almost always among the newest.
            if let Some(at) = log.entries.iter().rposition(|e| e.id == entry.id) {
                log.entries.remove(at);
            }
            if log.entries.is_empty() {
                state.keys.remove(&entry.key);
            }
        }
        Ok(())
    }
}

impl MemoryState {
    /// Drops expired entries and empty keys at most every
    /// [`PRUNE_INTERVAL_MS`], so idle keys do not accumulate.
    fn sweep(&mut self, now_ms: u64) {
        if now_ms < self.next_sweep_ms {
            return;
        }
        self.next_sweep_ms = now_ms.saturating_add(PRUNE_INTERVAL_MS);
        self.keys.retain(|_, log| {
            log.prune(now_ms);
            !log.entries.is_empty()
        });
    }
}

impl CounterStore for MemoryCounters {
    fn reserve<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now_ms: u64,
    ) -> StoreFuture<'a, ReserveOutcome> {
        Box::pin(async move { self.reserve_now(checks, now_ms) })
    }

    fn rollback<'a>(&'a self, reservation: &'a Reservation) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.rollback_now(reservation) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_forgets_idle_keys() {
        let store = MemoryCounters::new();
        let checks = [LimitCheck::new("idle", 1_000, 5.0, 1.0)];
        assert!(
            store
                .reserve_now(&checks, 0)
                .expect("reserve")
                .is_reserved()
        );
        assert_eq!(store.lock().keys.len(), 1);
        let other = [LimitCheck::new("busy", 1_000, 5.0, 1.0)];
        assert!(
            store
                .reserve_now(&other, PRUNE_INTERVAL_MS + 5_000)
                .expect("reserve")
                .is_reserved()
        );
        let state = store.lock();
        assert!(!state.keys.contains_key("idle"));
        assert!(state.keys.contains_key("busy"));
    }

    #[test]
    fn out_of_order_times_stay_sorted() {
        let mut log = KeyLog {
            max_window_ms: 100,
            entries: VecDeque::new(),
        };
        for (id, at_ms) in [(1, 50), (2, 40), (3, 60), (4, 40)] {
            log.insert(Entry {
                id,
                at_ms,
                amount: 1.0,
            });
        }
        let order: Vec<i64> = log.entries.iter().map(|e| e.id).collect();
        assert_eq!(order, vec![2, 4, 1, 3]);
    }
}
