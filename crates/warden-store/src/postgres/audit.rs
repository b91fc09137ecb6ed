//! [`AuditStore`] on PostgreSQL: one hash chain shared by every replica.
//!
//! # One linear chain
//!
//! Every append (and prune) is one transaction that starts by locking the
//! single row of `audit_head` (`SELECT ... FOR UPDATE`). That row holds the
//! last `(seq, hash)` written, so the next writer, in this replica or
//! another, waits for the commit and then continues from what was
//! committed: sequence numbers stay consecutive and each record links to the
//! one before, whatever the interleaving. Readers ([`AuditStore::query`])
//! take no lock and see committed batches whole.
//!
//! # Throughput
//!
//! A batch goes in with one binary `COPY ... FROM STDIN`, so a batch costs
//! the same handful of round trips whatever its size; hashing happens in the
//! gateway before the copy. The head lock is held for one batch, so many
//! small concurrent appends serialize on it; the gateway batches records to
//! sustain thousands per second.

use std::fmt::Write as _;
use std::pin::pin;

use tokio_postgres::Row;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::{PgState, decode_text, encode_text};
use crate::audit::{
    Anchor, AuditEntry, AuditQuery, AuditRecord, AuditStore, Checkpoint, HASH_LEN, Hash, Pruned,
    Retention, entry_hash, retention_entry,
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

/// The columns of `audit_records`, in the order of [`AuditRecord`] and the
/// `COPY` below.
const COLUMNS: &str = "seq, prev_hash, hash, time_ms, event, identity, grant_name, server, \
    session, request_id, method, tool, decision, rule, reason, argument_keys, arguments, \
    outcome, result_bytes, latency_us, detail";

/// The types of [`COLUMNS`], for the binary copy.
const COLUMN_TYPES: [Type; 21] = [
    Type::INT8,
    Type::BYTEA,
    Type::BYTEA,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT_ARRAY,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
];

const LOCK_HEAD: &str = "SELECT seq, hash FROM audit_head FOR UPDATE";
const MOVE_HEAD: &str = "UPDATE audit_head SET seq = $1, hash = $2";

/// A value as PostgreSQL stores it: `BIGINT` is signed. `what` names it in
/// the error, as SQLite's backend does.
fn to_i64(value: u64, what: impl FnOnce() -> String) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::ValueOutOfRange {
        what: what(),
        value,
    })
}

/// An entry's integers, converted before anything is locked or hashed, so a
/// bad entry fails the batch naming it and nothing is written.
struct Numbers {
    time_ms: i64,
    result_bytes: Option<i64>,
    latency_us: Option<i64>,
}

impl Numbers {
    fn of(index: usize, entry: &AuditEntry) -> Result<Self, StoreError> {
        let name =
            |field: &'static str| move || format!("audit entry #{index} of the batch: {field}");
        Ok(Self {
            time_ms: to_i64(entry.time_ms, name("time_ms"))?,
            result_bytes: entry
                .result_bytes
                .map(|n| to_i64(n, name("result_bytes")))
                .transpose()?,
            latency_us: entry
                .latency_us
                .map(|n| to_i64(n, name("latency_us")))
                .transpose()?,
        })
    }
}

impl PgState {
    /// Chains `entries` after the head locked by `tx` and copies them in;
    /// moves the head. Returns the sequence numbers given.
    async fn append_in<'e>(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        op: &'static str,
        entries: &'e [AuditEntry],
    ) -> Result<Vec<u64>, StoreError> {
        let err = self.query_error(op);
        let numbers = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| Numbers::of(index, entry))
            .collect::<Result<Vec<_>, _>>()?;
        let statement = tx.prepare_cached(LOCK_HEAD).await.map_err(&err)?;
        let head = tx.query_one(&statement, &[]).await.map_err(&err)?;
        let head_seq: i64 = head.try_get(0).map_err(&err)?;
        let mut seq = u64::try_from(head_seq)
            .map_err(|_| self.data_error(op, format!("audit_head.seq is {head_seq}")))?;
        let mut prev = self.hash_from(op, &head, 1, "audit_head.hash")?;

        let sink = tx
            .copy_in(&format!(
                "COPY audit_records ({COLUMNS}) FROM STDIN (FORMAT binary)"
            ))
            .await
            .map_err(&err)?;
        let mut writer = pin!(BinaryCopyInWriter::new(sink, &COLUMN_TYPES));
        let mut seqs = Vec::with_capacity(entries.len());
        for (entry, n) in entries.iter().zip(&numbers) {
            seq += 1;
            let seq_i64 = to_i64(seq, || "audit seq".to_owned())?;
            // The hash covers the entry as given; the row holds its text
            // encoded (no NUL), which reading decodes back.
            let hash = entry_hash(&prev, entry);
            let e = entry;
            let text = |v: &'e Option<String>| v.as_deref().map(encode_text);
            let argument_keys: Vec<_> = e.argument_keys.iter().map(|k| encode_text(k)).collect();
            let row: [&(dyn ToSql + Sync); 21] = [
                &seq_i64,
                &&prev[..],
                &&hash[..],
                &n.time_ms,
                &encode_text(&e.event),
                &text(&e.identity),
                &text(&e.grant),
                &text(&e.server),
                &text(&e.session),
                &text(&e.request_id),
                &text(&e.method),
                &text(&e.tool),
                &text(&e.decision),
                &text(&e.rule),
                &text(&e.reason),
                &argument_keys,
                &text(&e.arguments),
                &text(&e.outcome),
                &n.result_bytes,
                &n.latency_us,
                &text(&e.detail),
            ];
            writer.as_mut().write(&row).await.map_err(&err)?;
            seqs.push(seq);
            prev = hash;
        }
        writer.as_mut().finish().await.map_err(&err)?;

        let statement = tx.prepare_cached(MOVE_HEAD).await.map_err(&err)?;
        let seq_i64 = to_i64(seq, || "audit seq".to_owned())?;
        tx.execute(&statement, &[&seq_i64, &&prev[..]])
            .await
            .map_err(&err)?;
        Ok(seqs)
    }

    /// Column `index` of `row` as a hash; `what` names it in errors.
    fn hash_from(
        &self,
        op: &'static str,
        row: &Row,
        index: usize,
        what: &str,
    ) -> Result<Hash, StoreError> {
        let bytes: &[u8] = row.try_get(index).map_err(self.query_error(op))?;
        bytes.try_into().map_err(|_| {
            self.data_error(
                op,
                format!("{what} has {} bytes, not {HASH_LEN}", bytes.len()),
            )
        })
    }

    /// Column `index` of `row` as a non-negative integer.
    fn u64_from(
        &self,
        op: &'static str,
        row: &Row,
        index: usize,
        what: &str,
    ) -> Result<u64, StoreError> {
        let n: i64 = row.try_get(index).map_err(self.query_error(op))?;
        u64::try_from(n).map_err(|_| self.data_error(op, format!("{what} is {n}")))
    }

    fn opt_u64_from(
        &self,
        op: &'static str,
        row: &Row,
        index: usize,
        what: &str,
    ) -> Result<Option<u64>, StoreError> {
        let n: Option<i64> = row.try_get(index).map_err(self.query_error(op))?;
        n.map(|n| u64::try_from(n).map_err(|_| self.data_error(op, format!("{what} is {n}"))))
            .transpose()
    }

    fn audit_record_from(&self, op: &'static str, row: &Row) -> Result<AuditRecord, StoreError> {
        let err = self.query_error(op);
        let seq = self.u64_from(op, row, 0, "audit_records.seq")?;
        let what = |column: &str| format!("audit_records.{column} of seq {seq}");
        let damaged = |column: &str| {
            self.data_error(
                op,
                format!("{} holds an escape Warden never writes", what(column)),
            )
        };
        let text = |index: usize, column: &str| -> Result<Option<String>, StoreError> {
            row.try_get::<_, Option<String>>(index)
                .map_err(&err)?
                .map(|stored| decode_text(stored).ok_or_else(|| damaged(column)))
                .transpose()
        };
        let event: String = row.try_get(4).map_err(&err)?;
        let argument_keys: Vec<String> = row.try_get(15).map_err(&err)?;
        Ok(AuditRecord {
            seq,
            prev_hash: self.hash_from(op, row, 1, &what("prev_hash"))?,
            hash: self.hash_from(op, row, 2, &what("hash"))?,
            entry: AuditEntry {
                time_ms: self.u64_from(op, row, 3, &what("time_ms"))?,
                event: decode_text(event).ok_or_else(|| damaged("event"))?,
                identity: text(5, "identity")?,
                grant: text(6, "grant_name")?,
                server: text(7, "server")?,
                session: text(8, "session")?,
                request_id: text(9, "request_id")?,
                method: text(10, "method")?,
                tool: text(11, "tool")?,
                decision: text(12, "decision")?,
                rule: text(13, "rule")?,
                reason: text(14, "reason")?,
                argument_keys: argument_keys
                    .into_iter()
                    .map(|k| decode_text(k).ok_or_else(|| damaged("argument_keys")))
                    .collect::<Result<_, _>>()?,
                arguments: text(16, "arguments")?,
                outcome: text(17, "outcome")?,
                result_bytes: self.opt_u64_from(op, row, 18, &what("result_bytes"))?,
                latency_us: self.opt_u64_from(op, row, 19, &what("latency_us"))?,
                detail: text(20, "detail")?,
            },
        })
    }

    async fn prune_now(
        &self,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<Option<Pruned>, StoreError> {
        let err = self.query_error(PRUNE);
        let mut client = self.client(PRUNE).await?;
        let tx = client.transaction().await.map_err(&err)?;
        // Lock the head first: no append may interleave with the cut.
        let statement = tx.prepare_cached(LOCK_HEAD).await.map_err(&err)?;
        tx.query_one(&statement, &[]).await.map_err(&err)?;

        let total = tx
            .query_one("SELECT COUNT(*) FROM audit_records", &[])
            .await
            .and_then(|row| row.try_get::<_, i64>(0))
            .map_err(&err)?;
        let total = u64::try_from(total).unwrap_or(0);
        // As MemoryAudit: the records before the first one at or after the
        // cutoff, in seq order (a late record stops the cut).
        let by_age = match retention.max_age_ms {
            None => 0,
            Some(age) => match i64::try_from(now_ms.saturating_sub(age)) {
                // Every stored time is below a cutoff beyond BIGINT.
                Err(_) => total,
                Ok(cutoff) => {
                    let n: i64 = tx
                        .query_one(
                            "SELECT COUNT(*) FROM audit_records WHERE seq < COALESCE(
                                (SELECT MIN(seq) FROM audit_records WHERE time_ms >= $1),
                                9223372036854775807)",
                            &[&cutoff],
                        )
                        .await
                        .and_then(|row| row.try_get(0))
                        .map_err(&err)?;
                    u64::try_from(n).unwrap_or(0)
                }
            },
        };
        let by_count = retention
            .max_records
            .map_or(0, |max| total.saturating_sub(max));
        let drop = by_age.max(by_count);
        if drop == 0 {
            tx.commit().await.map_err(&err)?;
            return Ok(None);
        }
        let offset = to_i64(drop - 1, || "records to prune".to_owned())?;
        let last = tx
            .query_one(
                "SELECT seq, hash FROM audit_records ORDER BY seq OFFSET $1 LIMIT 1",
                &[&offset],
            )
            .await
            .map_err(&err)?;
        let last_gone = self.u64_from(PRUNE, &last, 0, "audit_records.seq")?;
        let last_hash = self.hash_from(PRUNE, &last, 1, "audit_records.hash")?;
        let last_gone_i64 = to_i64(last_gone, || "audit seq".to_owned())?;
        let next = tx
            .query_opt(
                "SELECT seq, prev_hash FROM audit_records WHERE seq > $1 ORDER BY seq LIMIT 1",
                &[&last_gone_i64],
            )
            .await
            .map_err(&err)?;
        let anchor = match next {
            Some(row) => Anchor {
                first_seq: self.u64_from(PRUNE, &row, 0, "audit_records.seq")?,
                prev_hash: self.hash_from(PRUNE, &row, 1, "audit_records.prev_hash")?,
            },
            None => Anchor {
                first_seq: last_gone + 1,
                prev_hash: last_hash,
            },
        };
        let first_i64 = to_i64(anchor.first_seq, || "audit seq".to_owned())?;
        tx.execute(
            "DELETE FROM audit_records WHERE seq <= $1",
            &[&last_gone_i64],
        )
        .await
        .map_err(&err)?;
        tx.execute(
            "DELETE FROM audit_checkpoints WHERE seq < $1",
            &[&first_i64],
        )
        .await
        .map_err(&err)?;
        tx.execute(
            "UPDATE audit_head SET anchor_seq = $1, anchor_hash = $2",
            &[&first_i64, &&anchor.prev_hash[..]],
        )
        .await
        .map_err(&err)?;
        // One builder for every backend, so verify reads the same detail.
        let event = retention_entry(drop, last_gone, retention, now_ms);
        let seqs = self
            .append_in(&tx, PRUNE, std::slice::from_ref(&event))
            .await?;
        tx.commit().await.map_err(&err)?;
        Ok(Some(Pruned {
            records: drop,
            anchor,
            event_seq: seqs.first().copied().unwrap_or(0),
        }))
    }
}

/// Adds `clause $n` for a bound parameter.
fn bind<'a>(
    sql: &mut String,
    params: &mut Vec<&'a (dyn ToSql + Sync)>,
    clause: &str,
    value: &'a (dyn ToSql + Sync),
) {
    params.push(value);
    let _ = write!(sql, " AND {clause} ${}", params.len());
}

impl AuditStore for PgState {
    fn append<'a>(&'a self, entries: &'a [AuditEntry]) -> StoreFuture<'a, Vec<u64>> {
        Box::pin(async move {
            if entries.is_empty() {
                return Ok(Vec::new());
            }
            let err = self.query_error(APPEND);
            let mut client = self.client(APPEND).await?;
            let tx = client.transaction().await.map_err(&err)?;
            let seqs = self.append_in(&tx, APPEND, entries).await?;
            tx.commit().await.map_err(&err)?;
            Ok(seqs)
        })
    }

    fn query<'a>(&'a self, query: &'a AuditQuery) -> StoreFuture<'a, Vec<AuditRecord>> {
        Box::pin(async move {
            // Bounds beyond BIGINT: a lower bound no stored value reaches
            // matches nothing; an upper bound beyond them all is no bound.
            let beyond = |v: Option<u64>| v.is_some_and(|v| i64::try_from(v).is_err());
            if beyond(query.since_ms) || beyond(query.after_seq) {
                return Ok(Vec::new());
            }
            let lower = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
            let upper = |v: Option<u64>| v.and_then(|v| i64::try_from(v).ok());
            let since = lower(query.since_ms);
            let until = upper(query.until_ms);
            let after = lower(query.after_seq);
            let before = query
                .before_seq
                .map(|v| i64::try_from(v).unwrap_or(i64::MAX));
            let limit = (query.limit > 0).then(|| i64::try_from(query.limit).unwrap_or(i64::MAX));

            let mut sql = format!("SELECT {COLUMNS} FROM audit_records WHERE TRUE");
            let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
            if let Some(v) = &since {
                bind(&mut sql, &mut params, "time_ms >=", v);
            }
            if let Some(v) = &until {
                bind(&mut sql, &mut params, "time_ms <=", v);
            }
            if let Some(v) = &after {
                bind(&mut sql, &mut params, "seq >", v);
            }
            if let Some(v) = &before {
                bind(&mut sql, &mut params, "seq <", v);
            }
            // Compared in their stored form (see encode_text).
            let text = |v: &'a Option<String>| v.as_deref().map(encode_text);
            let (identity, server, tool, decision, event) = (
                text(&query.identity),
                text(&query.server),
                text(&query.tool),
                text(&query.decision),
                text(&query.event),
            );
            if let Some(v) = &identity {
                bind(&mut sql, &mut params, "identity =", v);
            }
            if let Some(v) = &server {
                bind(&mut sql, &mut params, "server =", v);
            }
            if let Some(v) = &tool {
                bind(&mut sql, &mut params, "tool =", v);
            }
            if let Some(v) = &decision {
                bind(&mut sql, &mut params, "decision =", v);
            }
            if let Some(v) = &event {
                bind(&mut sql, &mut params, "event =", v);
            }
            sql.push_str(if query.newest_first {
                " ORDER BY seq DESC"
            } else {
                " ORDER BY seq"
            });
            if let Some(v) = &limit {
                params.push(v);
                let _ = write!(sql, " LIMIT ${}", params.len());
            }

            let err = self.query_error(QUERY);
            let client = self.client(QUERY).await?;
            // Cached per shape: one per combination of filters set, a handful
            // in practice (2^11 at the very most).
            let statement = client.prepare_cached(&sql).await.map_err(&err)?;
            let rows = client.query(&statement, &params).await.map_err(&err)?;
            rows.iter()
                .map(|row| self.audit_record_from(QUERY, row))
                .collect()
        })
    }

    fn head(&self) -> StoreFuture<'_, Option<(u64, Hash)>> {
        Box::pin(async move {
            let err = self.query_error(HEAD);
            let client = self.client(HEAD).await?;
            let statement = client
                .prepare_cached("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1")
                .await
                .map_err(&err)?;
            let row = client.query_opt(&statement, &[]).await.map_err(&err)?;
            row.map(|row| {
                Ok((
                    self.u64_from(HEAD, &row, 0, "audit_records.seq")?,
                    self.hash_from(HEAD, &row, 1, "audit_records.hash")?,
                ))
            })
            .transpose()
        })
    }

    fn anchor(&self) -> StoreFuture<'_, Anchor> {
        Box::pin(async move {
            let err = self.query_error(ANCHOR);
            let client = self.client(ANCHOR).await?;
            let statement = client
                .prepare_cached("SELECT anchor_seq, anchor_hash FROM audit_head")
                .await
                .map_err(&err)?;
            let row = client.query_one(&statement, &[]).await.map_err(&err)?;
            Ok(Anchor {
                first_seq: self.u64_from(ANCHOR, &row, 0, "audit_head.anchor_seq")?,
                prev_hash: self.hash_from(ANCHOR, &row, 1, "audit_head.anchor_hash")?,
            })
        })
    }

    fn add_checkpoint<'a>(&'a self, checkpoint: &'a Checkpoint) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let seq = to_i64(checkpoint.seq, || "checkpoint seq".to_owned())?;
            let time = to_i64(checkpoint.time_ms, || "checkpoint time_ms".to_owned())?;
            let err = self.query_error(ADD_CHECKPOINT);
            let client = self.client(ADD_CHECKPOINT).await?;
            let statement = client
                .prepare_cached(
                    "INSERT INTO audit_checkpoints (seq, hash, time_ms, public_key, signature)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (seq) DO UPDATE SET hash = EXCLUDED.hash,
                         time_ms = EXCLUDED.time_ms, public_key = EXCLUDED.public_key,
                         signature = EXCLUDED.signature",
                )
                .await
                .map_err(&err)?;
            client
                .execute(
                    &statement,
                    &[
                        &seq,
                        &&checkpoint.hash[..],
                        &time,
                        &&checkpoint.public_key[..],
                        &&checkpoint.signature[..],
                    ],
                )
                .await
                .map_err(&err)?;
            Ok(())
        })
    }

    fn checkpoints(&self) -> StoreFuture<'_, Vec<Checkpoint>> {
        Box::pin(async move {
            let err = self.query_error(CHECKPOINTS);
            let client = self.client(CHECKPOINTS).await?;
            let statement = client
                .prepare_cached(
                    "SELECT seq, hash, time_ms, public_key, signature
                     FROM audit_checkpoints ORDER BY seq",
                )
                .await
                .map_err(&err)?;
            let rows = client.query(&statement, &[]).await.map_err(&err)?;
            rows.iter()
                .map(|row| {
                    let seq = self.u64_from(CHECKPOINTS, row, 0, "audit_checkpoints.seq")?;
                    let bytes = |index: usize| -> Result<&[u8], StoreError> {
                        row.try_get(index).map_err(&err)
                    };
                    let wrong = |column: &str, len: usize| {
                        self.data_error(
                            CHECKPOINTS,
                            format!("audit_checkpoints.{column} of seq {seq} has {len} bytes"),
                        )
                    };
                    let public_key = bytes(3)?;
                    let signature = bytes(4)?;
                    Ok(Checkpoint {
                        seq,
                        hash: self.hash_from(CHECKPOINTS, row, 1, "audit_checkpoints.hash")?,
                        time_ms: self.u64_from(CHECKPOINTS, row, 2, "audit_checkpoints.time_ms")?,
                        public_key: public_key
                            .try_into()
                            .map_err(|_| wrong("public_key", public_key.len()))?,
                        signature: signature
                            .try_into()
                            .map_err(|_| wrong("signature", signature.len()))?,
                    })
                })
                .collect()
        })
    }

    fn prune<'a>(
        &'a self,
        retention: &'a Retention,
        now_ms: u64,
    ) -> StoreFuture<'a, Option<Pruned>> {
        Box::pin(self.prune_now(retention, now_ms))
    }

    fn salt(&self) -> StoreFuture<'_, [u8; 32]> {
        Box::pin(async move {
            let err = self.query_error(SALT);
            let client = self.client(SALT).await?;
            let select = client
                .prepare_cached("SELECT salt FROM audit_salt")
                .await
                .map_err(&err)?;
            let mut row = client.query_opt(&select, &[]).await.map_err(&err)?;
            if row.is_none() {
                // Whoever inserts first wins; everyone reads the winner's.
                let fresh = crate::random_salt()?;
                client
                    .execute(
                        "INSERT INTO audit_salt (salt) VALUES ($1) ON CONFLICT DO NOTHING",
                        &[&&fresh[..]],
                    )
                    .await
                    .map_err(&err)?;
                row = client.query_opt(&select, &[]).await.map_err(&err)?;
            }
            let row = row.ok_or_else(|| {
                self.data_error(SALT, "audit_salt is empty right after an insert".to_owned())
            })?;
            let salt: &[u8] = row.try_get(0).map_err(&err)?;
            salt.try_into().map_err(|_| {
                self.data_error(SALT, format!("audit_salt.salt has {} bytes", salt.len()))
            })
        })
    }
}
