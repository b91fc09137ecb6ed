//! [`AuditStore`] on SQLite: the tables `audit_records`, `audit_meta` and
//! `audit_checkpoints` (migration 3).
//!
//! `append` and `prune` each run in one `BEGIN IMMEDIATE` transaction: the
//! file's write lock is taken before the head of the chain is read, so two
//! connections (in this process or another) appending at once still build
//! one linear chain, each batch after the other. Reads (`query`, `head`,
//! `anchor`, `checkpoints`) are single statements and see a committed state.

use rusqlite::types::{Type, Value};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{SqliteState, query_error};
use crate::audit::{
    Anchor, AuditEntry, AuditQuery, AuditRecord, AuditStore, Checkpoint, Hash, Pruned, Retention,
    entry_hash, retention_entry,
};
use crate::{StoreError, StoreFuture};

const APPEND: &str = "append audit records";
const QUERY: &str = "query audit records";
const HEAD: &str = "read audit head";
const ANCHOR: &str = "read audit anchor";
const ADD_CHECKPOINT: &str = "store audit checkpoint";
const CHECKPOINTS: &str = "read audit checkpoints";
const PRUNE: &str = "prune audit records";
const SALT: &str = "read audit salt";

/// Every column of `audit_records`, in [`record_from_row`]'s order.
const RECORD_COLUMNS: &str = "seq, prev_hash, hash, time_ms, event, identity, grant_name, \
     server, session, request_id, method, tool, decision, rule, reason, argument_keys, \
     arguments, outcome, result_bytes, latency_us, detail";

const INSERT_RECORD: &str = "INSERT INTO audit_records (seq, prev_hash, hash, time_ms, event, \
     identity, grant_name, server, session, request_id, method, tool, decision, rule, reason, \
     argument_keys, arguments, outcome, result_bytes, latency_us, detail) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
     ?19, ?20, ?21)";

/// The largest number SQLite's integers hold.
const MAX_SQL: u64 = i64::MAX as u64;

/// Refuses a value SQLite cannot store, naming it.
fn fits(what: impl FnOnce() -> String, value: u64) -> Result<(), StoreError> {
    if value > MAX_SQL {
        return Err(StoreError::ValueOutOfRange {
            what: what(),
            value,
        });
    }
    Ok(())
}

/// Checks every number of a batch before the file lock is taken, so a bad
/// entry fails the batch with a message naming it rather than a bind error.
fn check_entries(entries: &[AuditEntry]) -> Result<(), StoreError> {
    for (index, e) in entries.iter().enumerate() {
        let name =
            |field: &'static str| move || format!("audit entry #{index} of the batch: {field}");
        fits(name("time_ms"), e.time_ms)?;
        if let Some(n) = e.result_bytes {
            fits(name("result_bytes"), n)?;
        }
        if let Some(n) = e.latency_us {
            fits(name("latency_us"), n)?;
        }
    }
    Ok(())
}

fn record_from_row(row: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    let keys: String = row.get(15)?;
    let argument_keys = serde_json::from_str(&keys)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(15, Type::Text, Box::new(e)))?;
    Ok(AuditRecord {
        seq: row.get(0)?,
        // A blob of another length fails the conversion: a damaged row is an
        // error, never a hash that happens to match.
        prev_hash: row.get(1)?,
        hash: row.get(2)?,
        entry: AuditEntry {
            time_ms: row.get(3)?,
            event: row.get(4)?,
            identity: row.get(5)?,
            grant: row.get(6)?,
            server: row.get(7)?,
            session: row.get(8)?,
            request_id: row.get(9)?,
            method: row.get(10)?,
            tool: row.get(11)?,
            decision: row.get(12)?,
            rule: row.get(13)?,
            reason: row.get(14)?,
            argument_keys,
            arguments: row.get(16)?,
            outcome: row.get(17)?,
            result_bytes: row.get(18)?,
            latency_us: row.get(19)?,
            detail: row.get(20)?,
        },
    })
}

fn checkpoint_from_row(row: &Row<'_>) -> rusqlite::Result<Checkpoint> {
    Ok(Checkpoint {
        seq: row.get(0)?,
        hash: row.get(1)?,
        time_ms: row.get(2)?,
        public_key: row.get(3)?,
        signature: row.get(4)?,
    })
}

/// The last record's `(seq, hash)`.
fn last_record(conn: &Connection) -> rusqlite::Result<Option<(u64, Hash)>> {
    conn.prepare_cached("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
}

fn read_anchor(conn: &Connection) -> rusqlite::Result<Anchor> {
    conn.prepare_cached("SELECT anchor_first_seq, anchor_prev_hash FROM audit_meta WHERE id = 1")?
        .query_row([], |row| {
            Ok(Anchor {
                first_seq: row.get(0)?,
                prev_hash: row.get(1)?,
            })
        })
}

/// Appends `entries` after the current head. Runs inside the caller's
/// transaction, which must already hold the write lock.
fn append_rows(conn: &Connection, entries: &[AuditEntry]) -> rusqlite::Result<Vec<u64>> {
    let (mut seq, mut prev) = match last_record(conn)? {
        Some(head) => head,
        None => {
            let anchor = read_anchor(conn)?;
            (anchor.first_seq.saturating_sub(1), anchor.prev_hash)
        }
    };
    let mut insert = conn.prepare_cached(INSERT_RECORD)?;
    let mut seqs = Vec::with_capacity(entries.len());
    for e in entries {
        seq += 1;
        let hash = entry_hash(&prev, e);
        // Display of a JSON value cannot fail, unlike `to_string`'s Result.
        let keys = serde_json::Value::from(e.argument_keys.clone()).to_string();
        insert.execute(params![
            seq,
            &prev[..],
            &hash[..],
            e.time_ms,
            &e.event,
            &e.identity,
            &e.grant,
            &e.server,
            &e.session,
            &e.request_id,
            &e.method,
            &e.tool,
            &e.decision,
            &e.rule,
            &e.reason,
            keys,
            &e.arguments,
            &e.outcome,
            e.result_bytes,
            e.latency_us,
            &e.detail,
        ])?;
        seqs.push(seq);
        prev = hash;
    }
    Ok(seqs)
}

/// The statement and parameters for `q`, or `None` when no record can match
/// (a bound beyond what SQLite stores).
fn query_sql(q: &AuditQuery) -> Option<(String, Vec<Value>)> {
    let mut conds: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let mut push = |cond: &str, value: Value| {
        values.push(value);
        conds.push(format!("{cond} ?{}", values.len()));
    };
    // Stored numbers are at most i64::MAX: a lower bound above it matches
    // nothing, an upper bound above it filters nothing.
    let int = |n: u64| i64::try_from(n).ok().map(Value::Integer);
    if let Some(since) = q.since_ms {
        push("time_ms >=", int(since)?);
    }
    if let Some(until) = q.until_ms.and_then(int) {
        push("time_ms <=", until);
    }
    if let Some(after) = q.after_seq {
        push("seq >", int(after)?);
    }
    if let Some(before) = q.before_seq.and_then(int) {
        push("seq <", before);
    }
    for (column, want) in [
        ("identity", &q.identity),
        ("server", &q.server),
        ("tool", &q.tool),
        ("decision", &q.decision),
    ] {
        if let Some(want) = want {
            push(&format!("{column} ="), Value::Text(want.clone()));
        }
    }
    if let Some(event) = &q.event {
        push("event =", Value::Text(event.clone()));
    }
    let mut sql = format!("SELECT {RECORD_COLUMNS} FROM audit_records");
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(if q.newest_first {
        " ORDER BY seq DESC"
    } else {
        " ORDER BY seq"
    });
    // LIMIT -1 is SQLite for "no limit".
    let limit = match q.limit {
        0 => -1,
        n => i64::try_from(n).unwrap_or(i64::MAX),
    };
    values.push(Value::Integer(limit));
    sql.push_str(&format!(" LIMIT ?{}", values.len()));
    Some((sql, values))
}

/// [`AuditStore::prune`] inside the caller's write transaction.
fn prune_rows(
    conn: &Connection,
    retention: &Retention,
    now_ms: u64,
) -> rusqlite::Result<Option<Pruned>> {
    let Some((last_seq, _)) = last_record(conn)? else {
        return Ok(None);
    };
    // Every record with seq < keep_from goes.
    let mut keep_from = 0;
    if let Some(age) = retention.max_age_ms {
        // The oldest records up to the first one young enough to stay, as
        // the in-memory twin does: a record older than the cutoff behind a
        // younger one (a replica's clock ran ahead) stays with it. The unary
        // `+` keeps SQLite off the time index: walking seq order stops at the
        // first young record, after reading only what goes, where the index
        // would visit every record kept.
        let cutoff = now_ms.saturating_sub(age);
        let first_young: Option<u64> = conn
            .prepare_cached(
                "SELECT seq FROM audit_records WHERE +time_ms >= ?1 ORDER BY seq LIMIT 1",
            )?
            .query_row([cutoff], |row| row.get(0))
            .optional()?;
        keep_from = keep_from.max(first_young.unwrap_or(last_seq + 1));
    }
    if let Some(max) = retention.max_records {
        let boundary = match max.checked_sub(1) {
            None => last_seq + 1,
            // The max-th newest record is the first one kept.
            Some(offset) => conn
                .prepare_cached(
                    "SELECT seq FROM audit_records ORDER BY seq DESC LIMIT 1 OFFSET ?1",
                )?
                .query_row([i64::try_from(offset).unwrap_or(i64::MAX)], |row| {
                    row.get(0)
                })
                .optional()?
                .unwrap_or(0),
        };
        keep_from = keep_from.max(boundary);
    }
    let last_gone: Option<(u64, Hash)> = conn
        .prepare_cached(
            "SELECT seq, hash FROM audit_records WHERE seq < ?1 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([keep_from], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let Some((through_seq, through_hash)) = last_gone else {
        return Ok(None);
    };
    let deleted = conn
        .prepare_cached("DELETE FROM audit_records WHERE seq < ?1")?
        .execute([keep_from])? as u64;
    let first_kept: Option<(u64, Hash)> = conn
        .prepare_cached("SELECT seq, prev_hash FROM audit_records ORDER BY seq LIMIT 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let anchor = match first_kept {
        Some((first_seq, prev_hash)) => Anchor {
            first_seq,
            prev_hash,
        },
        None => Anchor {
            first_seq: through_seq + 1,
            prev_hash: through_hash,
        },
    };
    conn.prepare_cached(
        "UPDATE audit_meta SET anchor_first_seq = ?1, anchor_prev_hash = ?2 WHERE id = 1",
    )?
    .execute(params![anchor.first_seq, &anchor.prev_hash[..]])?;
    conn.prepare_cached("DELETE FROM audit_checkpoints WHERE seq < ?1")?
        .execute([anchor.first_seq])?;
    let event = retention_entry(deleted, through_seq, retention, now_ms);
    let event_seq = append_rows(conn, std::slice::from_ref(&event))?
        .first()
        .copied()
        .unwrap_or_default();
    Ok(Some(Pruned {
        records: deleted,
        anchor,
        event_seq,
    }))
}

fn read_salt(conn: &Connection) -> rusqlite::Result<Option<[u8; 32]>> {
    conn.prepare_cached("SELECT salt FROM audit_meta WHERE id = 1")?
        .query_row([], |row| row.get(0))
}

impl AuditStore for SqliteState {
    fn append<'a>(&'a self, entries: &'a [AuditEntry]) -> StoreFuture<'a, Vec<u64>> {
        Box::pin(async move {
            if entries.is_empty() {
                return Ok(Vec::new());
            }
            check_entries(entries)?;
            let entries = entries.to_vec();
            self.with_conn(APPEND, move |conn, path| {
                let err = query_error(path, APPEND);
                let tx = conn
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(&err)?;
                let seqs = append_rows(&tx, &entries).map_err(&err)?;
                tx.commit().map_err(&err)?;
                Ok(seqs)
            })
            .await
        })
    }

    fn query<'a>(&'a self, query: &'a AuditQuery) -> StoreFuture<'a, Vec<AuditRecord>> {
        Box::pin(async move {
            let Some((sql, values)) = query_sql(query) else {
                return Ok(Vec::new());
            };
            self.with_conn(QUERY, move |conn, path| {
                let err = query_error(path, QUERY);
                let mut select = conn.conn.prepare_cached(&sql).map_err(&err)?;
                let rows = select
                    .query_map(rusqlite::params_from_iter(values), record_from_row)
                    .map_err(&err)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
            })
            .await
        })
    }

    fn head(&self) -> StoreFuture<'_, Option<(u64, Hash)>> {
        Box::pin(async move {
            self.with_conn(HEAD, move |conn, path| {
                last_record(&conn.conn).map_err(query_error(path, HEAD))
            })
            .await
        })
    }

    fn anchor(&self) -> StoreFuture<'_, Anchor> {
        Box::pin(async move {
            self.with_conn(ANCHOR, move |conn, path| {
                read_anchor(&conn.conn).map_err(query_error(path, ANCHOR))
            })
            .await
        })
    }

    fn add_checkpoint<'a>(&'a self, checkpoint: &'a Checkpoint) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            fits(|| "checkpoint seq".to_owned(), checkpoint.seq)?;
            fits(|| "checkpoint time_ms".to_owned(), checkpoint.time_ms)?;
            let c = checkpoint.clone();
            self.with_conn(ADD_CHECKPOINT, move |conn, path| {
                conn.conn
                    .prepare_cached(
                        "INSERT OR REPLACE INTO audit_checkpoints
                         (seq, hash, time_ms, public_key, signature)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .and_then(|mut insert| {
                        insert.execute(params![
                            c.seq,
                            &c.hash[..],
                            c.time_ms,
                            &c.public_key[..],
                            &c.signature[..],
                        ])
                    })
                    .map(drop)
                    .map_err(query_error(path, ADD_CHECKPOINT))
            })
            .await
        })
    }

    fn checkpoints(&self) -> StoreFuture<'_, Vec<Checkpoint>> {
        Box::pin(async move {
            self.with_conn(CHECKPOINTS, move |conn, path| {
                let err = query_error(path, CHECKPOINTS);
                let mut select = conn
                    .conn
                    .prepare_cached(
                        "SELECT seq, hash, time_ms, public_key, signature
                         FROM audit_checkpoints ORDER BY seq",
                    )
                    .map_err(&err)?;
                let rows = select.query_map([], checkpoint_from_row).map_err(&err)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
            })
            .await
        })
    }

    fn prune<'a>(
        &'a self,
        retention: &'a Retention,
        now_ms: u64,
    ) -> StoreFuture<'a, Option<Pruned>> {
        Box::pin(async move {
            if now_ms > MAX_SQL {
                return Err(StoreError::TimeOutOfRange { now_ms });
            }
            let retention = *retention;
            self.with_conn(PRUNE, move |conn, path| {
                let err = query_error(path, PRUNE);
                let tx = conn
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(&err)?;
                let pruned = prune_rows(&tx, &retention, now_ms).map_err(&err)?;
                // Nothing to go: the transaction wrote nothing either way.
                tx.commit().map_err(&err)?;
                Ok(pruned)
            })
            .await
        })
    }

    fn salt(&self) -> StoreFuture<'_, [u8; 32]> {
        Box::pin(async move {
            self.with_conn(SALT, move |conn, path| {
                let err = query_error(path, SALT);
                if let Some(salt) = read_salt(&conn.conn).map_err(&err)? {
                    return Ok(salt);
                }
                // First use. Only a NULL salt is replaced, in one statement,
                // so when two processes race both read back the winner's.
                let fresh = crate::random_salt()?;
                conn.conn
                    .prepare_cached("UPDATE audit_meta SET salt = ?1 WHERE id = 1 AND salt IS NULL")
                    .and_then(|mut update| update.execute([&fresh[..]]))
                    .map_err(&err)?;
                read_salt(&conn.conn)
                    .map_err(&err)?
                    .ok_or_else(|| err(rusqlite::Error::QueryReturnedNoRows))
            })
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_binds_every_filter() {
        let q = AuditQuery {
            since_ms: Some(1),
            until_ms: Some(2),
            identity: Some("ana".into()),
            server: Some("s".into()),
            tool: Some("t".into()),
            decision: Some("deny".into()),
            event: Some("call".into()),
            after_seq: Some(3),
            before_seq: Some(9),
            limit: 5,
            newest_first: true,
        };
        let (sql, values) = query_sql(&q).expect("can match");
        assert!(sql.ends_with("ORDER BY seq DESC LIMIT ?10"), "{sql}");
        assert_eq!(values.len(), 10);
        assert!(
            !sql.contains("ana"),
            "values are bound, never spliced: {sql}"
        );
    }

    #[test]
    fn bounds_beyond_sqlite_integers() {
        let nothing = AuditQuery {
            since_ms: Some(u64::MAX),
            ..AuditQuery::default()
        };
        assert!(query_sql(&nothing).is_none());
        let everything = AuditQuery {
            until_ms: Some(u64::MAX),
            before_seq: Some(u64::MAX),
            ..AuditQuery::default()
        };
        let (sql, _) = query_sql(&everything).expect("can match");
        assert!(!sql.contains("WHERE"), "{sql}");
    }
}
