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
//! in array order. Every transaction that writes a key's entries or its
//! summary row holds the key's lock (reservations, rollbacks and the sweep
//! alike), so no two of them ever wait on each other's row locks either. The
//! periodic sweep of expired entries only takes locks that are free
//! (`pg_try_advisory_xact_lock`) and leaves the other keys for a later
//! sweep, so it never waits and cannot close a cycle. (Replicas of a build
//! before migration 6 sweep without the keys' locks, their deletes updating
//! summary rows through the triggers; while they run beside newer ones,
//! PostgreSQL may have to break a deadlock between such a sweep and a
//! reservation by failing one of them.)
//!
//! # Cost
//!
//! As in SQLite, each key has a summary row in `counter_keys` (its number
//! of entries, the sum of their amounts, a bound on that sum's rounding
//! drift, and how long they are kept), kept by triggers in the transaction
//! that changes the entries (migration 6). When every limit of a
//! reservation has room even counting all its key's entries
//! (`summary_fits`), nothing is read but the summaries; otherwise the
//! entries of each key's largest checked window are read and the limits the
//! summaries did not clear are decided exactly.
//!
//! Keys are stored through `encode_text` (PostgreSQL text cannot hold NUL);
//! lock ids are computed from the keys as given.
//!
//! # Retention
//!
//! As in SQLite, each entry carries `expires_ms = at_ms + the largest window
//! seen for its key`; a reservation with a larger window first extends the
//! key's entries. Every [`PRUNE_INTERVAL_MS`] (of `now_ms`, per replica) a
//! reservation first deletes expired entries, at most [`SWEEP_BATCH`] at a
//! time, of the keys whose locks are free.

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use sha2::{Digest, Sha256};

use super::{PgState, decode_text, encode_text};
use crate::counters::{
    CounterStore, KeySummary, LimitCheck, Origin, PRUNE_INTERVAL_MS, Plan, Reservation,
    ReserveOutcome, ReservedEntry, evaluate, summary_fits,
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

/// The summaries of the keys that have entries.
const SUMMARIES: &str = "
    SELECT key, total, slack, entries, keep_ms FROM counter_keys WHERE key = ANY($1)";

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

/// The keys of (at most `$2` of) the expired entries.
const EXPIRED_KEYS: &str = "
    SELECT DISTINCT key FROM (
        SELECT key FROM counter_entries WHERE expires_ms <= $1::bigint LIMIT $2::bigint) AS e";

/// Takes those of the given advisory locks that are free, without waiting
/// (so the order does not matter); returns the ones taken.
const TRY_LOCK_KEYS: &str = "
    SELECT id FROM unnest($1::bigint[]) AS t(id) WHERE pg_try_advisory_xact_lock(id)";

const SWEEP_SQL: &str = "
    DELETE FROM counter_entries WHERE id IN (
        SELECT id FROM counter_entries
        WHERE key = ANY($3::text[]) AND expires_ms <= $1::bigint LIMIT $2::bigint)";

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
            let mut client = self.client(SWEEP).await?;
            let err = self.query_error(SWEEP);
            let tx = client.transaction().await.map_err(&err)?;
            let statement = tx.prepare_cached(EXPIRED_KEYS).await.map_err(&err)?;
            let rows = tx
                .query(&statement, &[&now, &SWEEP_BATCH])
                .await
                .map_err(&err)?;
            // Each key's entries and summary are written only under its lock.
            let mut keys: Vec<(i64, String)> = Vec::with_capacity(rows.len());
            for row in &rows {
                let stored: String = row.try_get(0).map_err(&err)?;
                // A key this code did not write cannot be locked; leave it.
                if let Some(key) = decode_text(stored.clone()) {
                    keys.push((self.lock_id(&key), stored));
                }
            }
            if keys.is_empty() {
                return Ok(());
            }
            let ids: Vec<i64> = keys.iter().map(|(id, _)| *id).collect();
            let statement = tx.prepare_cached(TRY_LOCK_KEYS).await.map_err(&err)?;
            let locked: Vec<i64> = tx
                .query(&statement, &[&ids])
                .await
                .map_err(&err)?
                .iter()
                .map(|row| row.try_get(0))
                .collect::<Result<_, _>>()
                .map_err(&err)?;
            let free: Vec<&str> = keys
                .iter()
                .filter(|(id, _)| locked.contains(id))
                .map(|(_, key)| key.as_str())
                .collect();
            let statement = tx.prepare_cached(SWEEP_SQL).await.map_err(&err)?;
            tx.execute(&statement, &[&now, &SWEEP_BATCH, &free])
                .await
                .map_err(&err)?;
            tx.commit().await.map_err(&err)
        }
        .await;
        if swept.is_err() {
            // Try again on the next call rather than in an interval.
            self.inner.next_sweep_ms.store(0, Ordering::Relaxed);
        }
        swept
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

        // Per key: its summary, and how long a new entry must be kept (the
        // largest window seen while the key has entries, extended to this
        // call's largest window if that is longer).
        let statement = tx.prepare_cached(SUMMARIES).await.map_err(&err)?;
        let rows = tx.query(&statement, &[&keys]).await.map_err(&err)?;
        let mut summaries: Vec<Option<KeySummary>> = keys.iter().map(|_| None).collect();
        for row in &rows {
            let key: &str = row.try_get(0).map_err(&err)?;
            if let Some(at) = keys.iter().position(|k| *k == key) {
                summaries[at] = Some(KeySummary {
                    total: row.try_get(1).map_err(&err)?,
                    slack: row.try_get(2).map_err(&err)?,
                    entries: row.try_get(3).map_err(&err)?,
                    keep_ms: row.try_get(4).map_err(&err)?,
                });
            }
        }
        let mut retain = windows.clone();
        let mut extend_keys: Vec<&str> = Vec::new();
        let mut extend_windows: Vec<i64> = Vec::new();
        for (at, summary) in summaries.iter().enumerate() {
            match summary {
                Some(s) if s.keep_ms >= windows[at] => retain[at] = s.keep_ms,
                Some(_) => {
                    extend_keys.push(keys[at]);
                    extend_windows.push(windows[at]);
                }
                None => {}
            }
        }
        if !extend_keys.is_empty() {
            let statement = tx.prepare_cached(EXTEND).await.map_err(&err)?;
            tx.execute(&statement, &[&extend_keys, &extend_windows])
                .await
                .map_err(&err)?;
        }

        // The limits the summaries cannot clear are decided from the entries.
        let unclear: Vec<usize> = checks
            .iter()
            .enumerate()
            .filter(|&(index, check)| {
                let summary = plan
                    .key_of_check
                    .get(index)
                    .and_then(|&k| summaries[k].as_ref());
                !summary_fits(summary, plan.amount_of_check(index), check.max)
            })
            .map(|(index, _)| index)
            .collect();
        if !unclear.is_empty() {
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

            for index in unclear {
                let check = &checks[index];
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
