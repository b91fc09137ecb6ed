//! [`CounterStore`] on PostgreSQL: the sliding-window log in
//! `counter_entries`, shared by every replica.
//!
//! # Locking
//!
//! A reservation is one `READ COMMITTED` transaction that first takes one
//! transaction-scoped advisory lock per distinct key
//! (`pg_advisory_xact_lock`), then reads the keys' entries, checks every
//! limit and inserts. Holding the locks of all its keys makes the
//! read-check-insert atomic against every other reservation on those keys,
//! in this replica or another; reservations on other keys run in parallel.
//! The locks go when the transaction ends, however it ends (commit,
//! rollback, or the connection dropping).
//!
//! Advisory locks rather than row locks because a key's first reservation
//! has no row to lock yet. The lock id of a key is the first 8 bytes of
//! `SHA-256("warden-counter\0" ‖ schema ‖ "\0" ‖ key)`: stable across
//! versions and replicas (Postgres' `hashtext` is not documented as stable),
//! distinct per schema, and with 64 bits collisions are negligible. A
//! collision would only make two keys wait for each other.
//!
//! **No deadlocks.** Each transaction takes its locks sorted by lock id
//! (sorting the ids, not the keys, so even colliding keys keep one order),
//! through `warden_lock_counters`, a PL/pgSQL loop that takes them strictly
//! in array order. Every transaction that writes a key's entries holds the
//! key's lock (reservations and rollbacks alike), so no two of them ever
//! wait on each other's row locks either. The periodic sweep of expired
//! entries takes no advisory locks: it runs as its own statement and skips
//! rows another transaction has locked (`FOR UPDATE SKIP LOCKED`), so it
//! never waits and cannot close a cycle.
//!
//! Keys are stored through `encode_text` (PostgreSQL text cannot hold NUL);
//! lock ids are computed from the keys as given.
//!
//! # Retention
//!
//! As in SQLite, each entry carries `expires_ms = at_ms + the largest window
//! seen for its key`; a reservation with a larger window first extends the
//! key's entries. Every [`PRUNE_INTERVAL_MS`] (of `now_ms`, per replica) a
//! reservation first deletes expired entries of every key, at most
//! [`SWEEP_BATCH`] at a time.

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use sha2::{Digest, Sha256};

use super::{PgState, encode_text};
use crate::counters::{
    CounterStore, LimitCheck, Origin, PRUNE_INTERVAL_MS, Plan, Reservation, ReserveOutcome,
    ReservedEntry, evaluate,
};
use crate::{StoreError, StoreFuture};

/// Largest `now_ms` accepted: half the `i64` range, so that adding a capped
/// window can never overflow a `BIGINT` (PostgreSQL raises an error on
/// overflow).
const MAX_NOW_MS: u64 = (i64::MAX / 2) as u64;

/// Windows longer than this (about 73 million years) are treated as this long
/// for retention arithmetic.
const MAX_WINDOW_MS: i64 = i64::MAX / 4;

/// Most expired entries one sweep deletes, so a sweep after a long idle time
/// stays a short statement; the next sweep takes the rest.
pub const SWEEP_BATCH: i64 = 10_000;

const RESERVE: &str = "reserve counters";
const ROLLBACK: &str = "roll back counters";
const SWEEP: &str = "sweep expired counter entries";

const LOCK_KEYS: &str = "SELECT warden_lock_counters($1)";

/// The largest window each key's entries are kept for.
const SEEN_WINDOWS: &str = "
    SELECT key, MAX(expires_ms - at_ms) FROM counter_entries
    WHERE key = ANY($1) GROUP BY key";

/// Extends the entries of keys now checked with a longer window.
const EXTEND: &str = "
    UPDATE counter_entries AS e SET expires_ms = e.at_ms + w.window_ms
    FROM unnest($1::text[], $2::bigint[]) AS w(key, window_ms)
    WHERE e.key = w.key AND e.expires_ms - e.at_ms < w.window_ms";

/// The entries of each key in its largest checked window, oldest first.
const IN_WINDOWS: &str = "
    SELECT e.key, e.at_ms, e.amount
    FROM counter_entries AS e
    JOIN unnest($1::text[], $2::bigint[]) AS w(key, start_ms) ON e.key = w.key
    WHERE e.at_ms > w.start_ms
    ORDER BY e.at_ms, e.id";

const INSERT: &str = "
    INSERT INTO counter_entries (key, at_ms, amount, expires_ms)
    SELECT k, $2::bigint, a, $2::bigint + r FROM unnest($1::text[], $3::float8[], $4::bigint[]) AS t(k, a, r)
    RETURNING id, key";

const DELETE: &str = "
    DELETE FROM counter_entries AS e
    USING unnest($1::bigint[], $2::text[]) AS r(id, key)
    WHERE e.id = r.id AND e.key = r.key";

const SWEEP_SQL: &str = "
    DELETE FROM counter_entries WHERE id IN (
        SELECT id FROM counter_entries WHERE expires_ms <= $1::bigint
        LIMIT $2::bigint FOR UPDATE SKIP LOCKED)";

fn clamp_window(window_ms: u64) -> i64 {
    i64::try_from(window_ms).map_or(MAX_WINDOW_MS, |w| w.min(MAX_WINDOW_MS))
}

impl PgState {
    fn origin(&self) -> Origin {
        Origin::Postgres(self.inner.origin.clone())
    }

    /// The advisory lock id of `key` in this schema (see the module docs).
    fn lock_id(&self, key: &str) -> i64 {
        let digest = Sha256::new()
            .chain_update(b"warden-counter\0")
            .chain_update(self.inner.schema.as_bytes())
            .chain_update(b"\0")
            .chain_update(key.as_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(first)
    }

    /// The sorted, distinct lock ids of `keys`.
    fn lock_ids<'k>(&self, keys: impl Iterator<Item = &'k str>) -> Vec<i64> {
        let mut ids: Vec<i64> = keys.map(|k| self.lock_id(k)).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Deletes expired entries when this replica has not for
    /// [`PRUNE_INTERVAL_MS`]; one task sweeps, the others go on.
    async fn sweep_if_due(&self, now_ms: u64, now: i64) -> Result<(), StoreError> {
        let due = self.inner.next_sweep_ms.load(Ordering::Relaxed);
        if now_ms < due {
            return Ok(());
        }
        let next = now_ms.saturating_add(PRUNE_INTERVAL_MS);
        if self
            .inner
            .next_sweep_ms
            .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return Ok(());
        }
        let swept = async {
            let client = self.client(SWEEP).await?;
            let err = self.query_error(SWEEP);
            let statement = client.prepare_cached(SWEEP_SQL).await.map_err(&err)?;
            client
                .execute(&statement, &[&now, &SWEEP_BATCH])
                .await
                .map_err(&err)
        }
        .await;
        if swept.is_err() {
            // Try again on the next call rather than in an interval.
            self.inner.next_sweep_ms.store(0, Ordering::Relaxed);
        }
        swept.map(|_| ())
    }

    async fn reserve_now(
        &self,
        checks: &[LimitCheck],
        now_ms: u64,
    ) -> Result<ReserveOutcome, StoreError> {
        if checks.is_empty() {
            return Ok(ReserveOutcome::Reserved(Reservation::empty()));
        }
        let plan = Plan::new(checks)?;
        if now_ms > MAX_NOW_MS {
            return Err(StoreError::TimeOutOfRange { now_ms });
        }
        let now = i64::try_from(now_ms).map_err(|_| StoreError::TimeOutOfRange { now_ms })?;
        self.sweep_if_due(now_ms, now).await?;

        let err = self.query_error(RESERVE);
        let mut client = self.client(RESERVE).await?;
        let tx = client.transaction().await.map_err(&err)?;
        let lock_ids = self.lock_ids(plan.keys.iter().map(|k| k.key));
        let statement = tx.prepare_cached(LOCK_KEYS).await.map_err(&err)?;
        tx.execute(&statement, &[&lock_ids]).await.map_err(&err)?;

        // Keys as stored (see encode_text); rows are matched against these.
        let stored_keys: Vec<Cow<'_, str>> = plan.keys.iter().map(|k| encode_text(k.key)).collect();
        let keys: Vec<&str> = stored_keys.iter().map(AsRef::as_ref).collect();
        let windows: Vec<i64> = plan
            .keys
            .iter()
            .map(|k| clamp_window(k.window_ms))
            .collect();

        // Retention per key: the largest window seen while the key has
        // entries, extended to this call's largest window if that is longer.
        let statement = tx.prepare_cached(SEEN_WINDOWS).await.map_err(&err)?;
        let seen = tx.query(&statement, &[&keys]).await.map_err(&err)?;
        let mut retain = windows.clone();
        let mut extend_keys: Vec<&str> = Vec::new();
        let mut extend_windows: Vec<i64> = Vec::new();
        for row in &seen {
            let key: &str = row.try_get(0).map_err(&err)?;
            let kept: Option<i64> = row.try_get(1).map_err(&err)?;
            let Some(at) = keys.iter().position(|k| *k == key) else {
                continue;
            };
            match kept {
                Some(kept) if kept >= windows[at] => retain[at] = kept,
                _ => {
                    extend_keys.push(key);
                    extend_windows.push(windows[at]);
                }
            }
        }
        if !extend_keys.is_empty() {
            let statement = tx.prepare_cached(EXTEND).await.map_err(&err)?;
            tx.execute(&statement, &[&extend_keys, &extend_windows])
                .await
                .map_err(&err)?;
        }

        // Every key's entries in its largest checked window, oldest first
        // (ties by id), grouped by key in that order.
        let starts: Vec<i64> = windows.iter().map(|w| now.saturating_sub(*w)).collect();
        let statement = tx.prepare_cached(IN_WINDOWS).await.map_err(&err)?;
        let rows = tx
            .query(&statement, &[&keys, &starts])
            .await
            .map_err(&err)?;
        let mut entries: Vec<Vec<(i64, f64)>> = vec![Vec::new(); keys.len()];
        for row in &rows {
            let key: &str = row.try_get(0).map_err(&err)?;
            let at_ms: i64 = row.try_get(1).map_err(&err)?;
            let amount: f64 = row.try_get(2).map_err(&err)?;
            if let Some(at) = keys.iter().position(|k| *k == key) {
                entries[at].push((at_ms, amount));
            }
        }

        for (index, check) in checks.iter().enumerate() {
            let Some(&key_at) = plan.key_of_check.get(index) else {
                continue;
            };
            let start = now.saturating_sub(clamp_window(check.window_ms));
            let window = entries[key_at]
                .iter()
                .filter(|(at_ms, _)| *at_ms > start)
                // Rows are only written by this code with at_ms >= 0.
                .map(|&(at_ms, amount)| (u64::try_from(at_ms).unwrap_or(0), amount));
            let amount = plan.amount_of_check(index);
            if let Some(outcome) = evaluate(index, check, amount, window, now_ms) {
                // Commit rather than roll back: window extensions are worth
                // keeping; nothing was recorded for this call.
                tx.commit().await.map_err(&err)?;
                return Ok(outcome);
            }
        }

        let amounts: Vec<f64> = plan.keys.iter().map(|k| k.amount).collect();
        let statement = tx.prepare_cached(INSERT).await.map_err(&err)?;
        let inserted = tx
            .query(&statement, &[&keys, &now, &amounts, &retain])
            .await
            .map_err(&err)?;
        let mut reserved = Vec::with_capacity(inserted.len());
        for row in &inserted {
            let stored: &str = row.try_get(1).map_err(&err)?;
            // The handle carries the key as the caller named it.
            if let Some(at) = keys.iter().position(|k| *k == stored) {
                reserved.push(ReservedEntry {
                    id: row.try_get(0).map_err(&err)?,
                    key: plan.keys[at].key.to_owned(),
                });
            }
        }
        tx.commit().await.map_err(&err)?;
        Ok(ReserveOutcome::Reserved(Reservation::new(
            self.origin(),
            reserved,
        )))
    }

    async fn rollback_now(&self, reservation: &Reservation) -> Result<(), StoreError> {
        reservation.check_origin(&self.origin())?;
        if reservation.is_empty() {
            return Ok(());
        }
        let err = self.query_error(ROLLBACK);
        let mut client = self.client(ROLLBACK).await?;
        let tx = client.transaction().await.map_err(&err)?;
        // The keys' locks, like a reservation: every writer of a key's
        // entries holds them, so writers never wait on each other's rows.
        let lock_ids = self.lock_ids(reservation.entries.iter().map(|e| e.key.as_str()));
        let statement = tx.prepare_cached(LOCK_KEYS).await.map_err(&err)?;
        tx.execute(&statement, &[&lock_ids]).await.map_err(&err)?;
        let ids: Vec<i64> = reservation.entries.iter().map(|e| e.id).collect();
        let keys: Vec<Cow<'_, str>> = reservation
            .entries
            .iter()
            .map(|e| encode_text(&e.key))
            .collect();
        let statement = tx.prepare_cached(DELETE).await.map_err(&err)?;
        tx.execute(&statement, &[&ids, &keys]).await.map_err(&err)?;
        tx.commit().await.map_err(&err)
    }
}

impl CounterStore for PgState {
    fn reserve<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now_ms: u64,
    ) -> StoreFuture<'a, ReserveOutcome> {
        Box::pin(self.reserve_now(checks, now_ms))
    }

    fn rollback<'a>(&'a self, reservation: &'a Reservation) -> StoreFuture<'a, ()> {
        Box::pin(self.rollback_now(reservation))
    }
}
