//! [`CounterStore`] on SQLite: the sliding-window log in `counter_entries`.
//!
//! Every reservation is one `BEGIN IMMEDIATE` transaction: it takes the
//! database's write lock before reading, so the read-check-insert cannot
//! interleave with another connection's, in this process or another.
//!
//! # Cost
//!
//! A limit with room is decided without reading its window. Each key has a
//! summary row in `counter_keys`, kept by triggers in the same transaction
//! as every insert and delete of its entries (migration 6): how many entries
//! the key has, the sum of their amounts and a bound on that sum's rounding
//! drift. Every entry of a key counts in no more windows than all of them, so
//! that sum bounds the usage of every window on the key, entries stamped in
//! the future and expired ones not yet swept included; when the bound plus
//! the call fits the limit, so does the exact usage (`summary_fits`). Only
//! a limit the bound does not clear reads its window, first summed by SQLite
//! (`sum_fits`), then row by row to decide exactly and say when to
//! retry. A reservation with room is then a handful of B-tree lookups
//! whatever the number of entries; the entries still expire in the sweep,
//! each deleted once.

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior};

use super::{Conn, SqliteState, query_error};
use crate::counters::{
    CounterStore, KeySummary, LimitCheck, Origin, PRUNE_INTERVAL_MS, Plan, Reservation,
    ReserveOutcome, ReservedEntry, evaluate, sum_fits, summary_fits,
};
use crate::{StoreError, StoreFuture};

/// Largest `now_ms` accepted: half the `i64` range, so that adding a capped
/// window can never overflow SQLite's integers (which would turn into REAL).
const MAX_NOW_MS: u64 = (i64::MAX / 2) as u64;

/// Windows longer than this (about 73 million years) are treated as this long
/// for retention arithmetic.
const MAX_WINDOW_MS: i64 = i64::MAX / 4;

const RESERVE: &str = "reserve counters";
const ROLLBACK: &str = "roll back counters";

impl CounterStore for SqliteState {
    fn reserve<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now_ms: u64,
    ) -> StoreFuture<'a, ReserveOutcome> {
        Box::pin(async move {
            if checks.is_empty() {
                return Ok(ReserveOutcome::Reserved(Reservation::empty()));
            }
            // Validate before taking a blocking thread and the file lock.
            Plan::new(checks)?;
            if now_ms > MAX_NOW_MS {
                return Err(StoreError::TimeOutOfRange { now_ms });
            }
            let checks = checks.to_vec();
            let origin = Origin::Sqlite(self.shared_path());
            self.with_conn(RESERVE, move |conn, path| {
                let err = query_error(path, RESERVE);
                reserve_blocking(conn, &checks, now_ms, origin).map_err(|e| e.into_store(&err))
            })
            .await
        })
    }

    fn rollback<'a>(&'a self, reservation: &'a Reservation) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            reservation.check_origin(&Origin::Sqlite(self.shared_path()))?;
            if reservation.is_empty() {
                return Ok(());
            }
            let entries = reservation.entries.clone();
            self.with_conn(ROLLBACK, move |conn, path| {
                let err = query_error(path, ROLLBACK);
                let tx = conn
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(&err)?;
                {
                    let mut delete = tx
                        .prepare_cached("DELETE FROM counter_entries WHERE id = ?1 AND key = ?2")
                        .map_err(&err)?;
                    for entry in &entries {
                        delete.execute((entry.id, &entry.key)).map_err(&err)?;
                    }
                }
                tx.commit().map_err(&err)
            })
            .await
        })
    }
}

/// An error inside [`reserve_blocking`]: either already a [`StoreError`] or
/// a SQLite error still to be mapped with the operation's context.
enum Failure {
    Sqlite(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl Failure {
    fn into_store(self, map: &impl Fn(rusqlite::Error) -> StoreError) -> StoreError {
        match self {
            Self::Sqlite(e) => map(e),
            Self::Store(e) => e,
        }
    }
}

fn clamp_window(window_ms: u64) -> i64 {
    i64::try_from(window_ms).map_or(MAX_WINDOW_MS, |w| w.min(MAX_WINDOW_MS))
}

fn reserve_blocking(
    conn: &mut Conn,
    checks: &[LimitCheck],
    now_ms: u64,
    origin: Origin,
) -> Result<ReserveOutcome, Failure> {
    let plan = Plan::new(checks)?;
    let now = i64::try_from(now_ms).map_err(|_| StoreError::TimeOutOfRange { now_ms })?;
    let tx = conn
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)?;

    let prune = now_ms >= conn.next_prune_ms;
    if prune {
        tx.prepare_cached("DELETE FROM counter_entries WHERE expires_ms <= ?1")?
            .execute([now])?;
    }

    // Per key: its summary, and how long a new entry must be kept (the
    // largest window seen while the key has entries).
    let mut summaries = Vec::with_capacity(plan.keys.len());
    let mut retain_ms = Vec::with_capacity(plan.keys.len());
    for key in &plan.keys {
        let summary = read_summary(&tx, key.key)?;
        let seen = summary.as_ref().map(|s| s.keep_ms);
        retain_ms.push(remember_window(
            &tx,
            key.key,
            clamp_window(key.window_ms),
            seen,
        )?);
        summaries.push(summary);
    }

    let mut window = Vec::new();
    for (index, check) in checks.iter().enumerate() {
        let amount = plan.amount_of_check(index);
        let summary = plan
            .key_of_check
            .get(index)
            .and_then(|&k| summaries[k].as_ref());
        if summary_fits(summary, amount, check.max) {
            continue;
        }
        let start = now.saturating_sub(clamp_window(check.window_ms));
        // SQLite sums the window itself (its `TOTAL` may round differently from
        // `evaluate`'s sum, which `sum_fits` allows for); the rows are read only when that
        // sum does not clearly leave room, to decide exactly and say when to retry.
        let (total, count): (f64, i64) = tx
            .prepare_cached(
                "SELECT TOTAL(amount), COUNT(*) FROM counter_entries
                 WHERE key = ?1 AND at_ms > ?2",
            )?
            .query_row((&check.key, start), |row| Ok((row.get(0)?, row.get(1)?)))?;
        if sum_fits(total, count, amount, check.max) {
            continue;
        }
        window.clear();
        let mut select = tx.prepare_cached(
            "SELECT at_ms, amount FROM counter_entries
             WHERE key = ?1 AND at_ms > ?2 ORDER BY at_ms, id",
        )?;
        let rows = select.query_map((&check.key, start), |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, f64>(1)?))
        })?;
        for row in rows {
            let (at_ms, amount) = row?;
            // Rows are only written by this code with at_ms >= 0.
            window.push((u64::try_from(at_ms).unwrap_or(0), amount));
        }
        if let Some(outcome) = evaluate(index, check, amount, window.iter().copied(), now_ms) {
            drop(select);
            // Commit rather than roll back: pruning and window extensions
            // are worth keeping; nothing was recorded for this call.
            tx.commit()?;
            if prune {
                conn.next_prune_ms = now_ms.saturating_add(PRUNE_INTERVAL_MS);
            }
            return Ok(outcome);
        }
    }

    let mut reserved = Vec::with_capacity(plan.keys.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO counter_entries (key, at_ms, amount, expires_ms)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (key, retain) in plan.keys.iter().zip(&retain_ms) {
            insert.execute((key.key, now, key.amount, now.saturating_add(*retain)))?;
            reserved.push(ReservedEntry {
                key: key.key.to_owned(),
                id: tx.last_insert_rowid(),
            });
        }
    }
    tx.commit()?;
    if prune {
        conn.next_prune_ms = now_ms.saturating_add(PRUNE_INTERVAL_MS);
    }
    Ok(ReserveOutcome::Reserved(Reservation::new(origin, reserved)))
}

/// The summary of `key`; `None` when it has no entries.
fn read_summary(tx: &Transaction<'_>, key: &str) -> Result<Option<KeySummary>, Failure> {
    let summary = tx
        .prepare_cached("SELECT total, slack, entries, keep_ms FROM counter_keys WHERE key = ?1")?
        .query_row([key], |row| {
            Ok(KeySummary {
                total: row.get(0)?,
                slack: row.get(1)?,
                entries: row.get(2)?,
                keep_ms: row.get(3)?,
            })
        })
        .optional()?;
    Ok(summary)
}

/// Records that `key` is checked with `window_ms`: when that is longer than
/// the key's entries are kept for (`seen`, from its summary; `None` when it
/// has no entries), extends them so the window can still count them (the
/// summary's trigger records the new length). Returns how long a new entry
/// of the key must be kept.
fn remember_window(
    tx: &Transaction<'_>,
    key: &str,
    window_ms: i64,
    seen: Option<i64>,
) -> Result<i64, Failure> {
    match seen {
        Some(seen) if seen >= window_ms => Ok(seen),
        Some(_) => {
            // Rare: once per key and longer window while the key has entries.
            tx.prepare_cached(
                "UPDATE counter_entries SET expires_ms = at_ms + ?2
                 WHERE key = ?1 AND expires_ms - at_ms < ?2",
            )?
            .execute((key, window_ms))?;
            Ok(window_ms)
        }
        None => Ok(window_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sum_decides_only_with_room_to_spare() {
        assert!(sum_fits(0.0, 0, 1.0, 1.0));
        assert!(sum_fits(8.0, 8, 1.0, 10.0));
        // Exactly full: room for nothing more.
        assert!(sum_fits(8.0, 8, 1.0, 9.0));
        assert!(!sum_fits(9.0, 9, 1.0, 9.0));
        assert!(!sum_fits(0.1 + 0.2, 2, 0.0, 0.3 - 1e-6));
    }
}
