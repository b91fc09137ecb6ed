//! [`ApprovalStore`] on SQLite: the `approvals` table (migration 4).
//!
//! `create` is one `INSERT` (the primary key refuses a taken id), `get` and
//! `list` single reads. `decide`, `expire` and `claim` each run in one
//! `BEGIN IMMEDIATE` transaction: the file's write lock is taken before the
//! row is read, so the check and the change cannot interleave with another
//! connection's, in this process or another. Two processes deciding one
//! request give one decision; two claiming one single-use approval give one
//! claim; two sweeps return each expiry once.
//!
//! Numbers are stored as SQLite's signed 64-bit integers: a time passed as
//! `now_ms` beyond that is [`StoreError::TimeOutOfRange`], any other number
//! [`StoreError::ValueOutOfRange`], before anything is read or written.

use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::{SqliteState, query_error};
use crate::approvals::{
    Approval, ApprovalRequest, ApprovalStatus, ApprovalStore, ClaimKey, Decided, Decision,
};
use crate::{StoreError, StoreFuture};

const CREATE: &str = "create approval";
const GET: &str = "look up approval";
const LIST: &str = "list approvals";
const DECIDE: &str = "decide approval";
const EXPIRE: &str = "expire approvals";
const CLAIM: &str = "claim approval";

/// Every column of `approvals`, in [`approval_from_row`]'s order.
const COLUMNS: &str = "id, created_ms, expires_ms, identity, grant_name, server, session, \
     tool, digest, arguments, rule, reason, approvers, mode, valid_for_ms, status, \
     decided_by, decided_ms, comment, valid_until_ms, single_use, uses, last_used_ms";

/// A new request: pending, single use until decided otherwise, never used.
const INSERT: &str = "INSERT INTO approvals (id, created_ms, expires_ms, identity, grant_name, \
     server, session, tool, digest, arguments, rule, reason, approvers, mode, valid_for_ms, \
     status, single_use, uses) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, 'pending', 1, 0)";

/// The largest use count an [`Approval`] holds; further claims keep it there.
const MAX_USES: i64 = u32::MAX as i64;

/// `value` as a SQLite integer, or [`StoreError::ValueOutOfRange`] naming it.
fn number(what: impl FnOnce() -> String, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::ValueOutOfRange {
        what: what(),
        value,
    })
}

/// `now_ms` as a SQLite integer, or [`StoreError::TimeOutOfRange`].
fn now(now_ms: u64) -> Result<i64, StoreError> {
    i64::try_from(now_ms).map_err(|_| StoreError::TimeOutOfRange { now_ms })
}

fn damaged(index: usize, problem: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, problem.into())
}

fn approval_from_row(row: &Row<'_>) -> rusqlite::Result<Approval> {
    let approvers: String = row.get(12)?;
    let approvers = serde_json::from_str(&approvers)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(12, Type::Text, Box::new(e)))?;
    let status: String = row.get(15)?;
    let status = ApprovalStatus::parse(&status)
        .ok_or_else(|| damaged(15, format!("unknown approval status {status:?}")))?;
    // Negative numbers (never written) fail the u64/u32 conversions: a
    // damaged row is an error, never an approval that reads differently.
    Ok(Approval {
        request: ApprovalRequest {
            id: row.get(0)?,
            created_ms: row.get(1)?,
            expires_ms: row.get(2)?,
            identity: row.get(3)?,
            grant: row.get(4)?,
            server: row.get(5)?,
            session: row.get(6)?,
            tool: row.get(7)?,
            digest: row.get(8)?,
            arguments: row.get(9)?,
            rule: row.get(10)?,
            reason: row.get(11)?,
            approvers,
            mode: row.get(13)?,
            valid_for_ms: row.get(14)?,
        },
        status,
        decided_by: row.get(16)?,
        decided_ms: row.get(17)?,
        comment: row.get(18)?,
        valid_until_ms: row.get(19)?,
        single_use: row.get(20)?,
        uses: row.get(21)?,
        last_used_ms: row.get(22)?,
    })
}

/// The approval `id` as stored.
fn select(conn: &rusqlite::Connection, id: &str) -> rusqlite::Result<Option<Approval>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM approvals WHERE id = ?1"))?
        .query_row([id], approval_from_row)
        .optional()
}

fn oldest_first(out: &mut [Approval]) {
    out.sort_by(|a, b| {
        (a.request.created_ms, &a.request.id).cmp(&(b.request.created_ms, &b.request.id))
    });
}

/// [`ApprovalStore::decide`] inside the caller's write transaction.
/// `valid_until` is the decision's, already converted (`None` when denying).
fn decide_row(
    tx: &Transaction<'_>,
    id: &str,
    decision: &Decision,
    at: i64,
    valid_until: Option<i64>,
) -> rusqlite::Result<Decided> {
    let Some(current) = select(tx, id)? else {
        return Ok(Decided::NotFound);
    };
    if current.status != ApprovalStatus::Pending {
        return Ok(Decided::AlreadyDecided(current));
    }
    if decision.now_ms >= current.request.expires_ms {
        return Ok(Decided::PastDeadline(current));
    }
    let (status, single_use) = if decision.approve {
        (ApprovalStatus::Approved, decision.single_use)
    } else {
        // Denying leaves valid_until_ms NULL and single_use as it was.
        (ApprovalStatus::Denied, current.single_use)
    };
    tx.prepare_cached(
        "UPDATE approvals SET status = ?2, decided_by = ?3, decided_ms = ?4, comment = ?5, \
         valid_until_ms = ?6, single_use = ?7 WHERE id = ?1",
    )?
    .execute(params![
        id,
        status.as_str(),
        &decision.by,
        at,
        &decision.comment,
        valid_until,
        single_use,
    ])?;
    let after = select(tx, id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    Ok(Decided::Done(after))
}

/// [`ApprovalStore::claim`] inside the caller's write transaction.
fn claim_row(
    tx: &Transaction<'_>,
    key: (&str, &str, &str),
    id: Option<&str>,
    at: i64,
) -> rusqlite::Result<Option<Approval>> {
    let found: Option<String> = tx
        .prepare_cached(
            "SELECT id FROM approvals
             WHERE grant_name = ?1 AND tool = ?2 AND digest = ?3 AND (?4 IS NULL OR id = ?4)
               AND status = 'approved' AND valid_until_ms > ?5
               AND (single_use = 0 OR uses = 0)
             ORDER BY created_ms, id LIMIT 1",
        )?
        .query_row(params![key.0, key.1, key.2, id, at], |row| row.get(0))
        .optional()?;
    let Some(found) = found else {
        return Ok(None);
    };
    tx.prepare_cached(&format!(
        "UPDATE approvals SET uses = MIN(uses + 1, ?3), last_used_ms = ?2 WHERE id = ?1 \
         RETURNING {COLUMNS}"
    ))?
    .query_row(params![found, at, MAX_USES], approval_from_row)
    .map(Some)
}

impl ApprovalStore for SqliteState {
    fn create<'a>(&'a self, request: &'a ApprovalRequest) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = |field: &'static str| {
                let id = &request.id;
                move || format!("approval {id}: {field}")
            };
            let created = number(name("created_ms"), request.created_ms)?;
            let expires = number(name("expires_ms"), request.expires_ms)?;
            let valid_for = number(name("valid_for_ms"), request.valid_for_ms)?;
            let r = request.clone();
            self.with_conn(CREATE, move |conn, path| {
                // Display of a JSON value cannot fail, unlike `to_string`'s Result.
                let approvers = serde_json::Value::from(r.approvers.clone()).to_string();
                let inserted = conn.conn.prepare_cached(INSERT).and_then(|mut insert| {
                    insert.execute(params![
                        &r.id,
                        created,
                        expires,
                        &r.identity,
                        &r.grant,
                        &r.server,
                        &r.session,
                        &r.tool,
                        &r.digest,
                        &r.arguments,
                        &r.rule,
                        &r.reason,
                        approvers,
                        &r.mode,
                        valid_for,
                    ])
                });
                match inserted {
                    Ok(_) => Ok(()),
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
                    {
                        Err(StoreError::ApprovalExists { id: r.id })
                    }
                    Err(e) => Err(query_error(path, CREATE)(e)),
                }
            })
            .await
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Approval>> {
        Box::pin(async move {
            let id = id.to_owned();
            self.with_conn(GET, move |conn, path| {
                select(&conn.conn, &id).map_err(query_error(path, GET))
            })
            .await
        })
    }

    fn list(&self, status: Option<ApprovalStatus>, limit: usize) -> StoreFuture<'_, Vec<Approval>> {
        Box::pin(async move {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            self.with_conn(LIST, move |conn, path| {
                let err = query_error(path, LIST);
                // Two statements rather than `?1 IS NULL OR status = ?1`, so
                // a status filter reads its index in order.
                let rows = match status {
                    Some(status) => {
                        let mut select = conn
                            .conn
                            .prepare_cached(&format!(
                                "SELECT {COLUMNS} FROM approvals WHERE status = ?1
                                 ORDER BY created_ms, id LIMIT ?2"
                            ))
                            .map_err(&err)?;
                        select
                            .query_map(params![status.as_str(), limit], approval_from_row)
                            .map_err(&err)?
                            .collect::<rusqlite::Result<Vec<_>>>()
                    }
                    None => {
                        let mut select = conn
                            .conn
                            .prepare_cached(&format!(
                                "SELECT {COLUMNS} FROM approvals ORDER BY created_ms, id LIMIT ?1"
                            ))
                            .map_err(&err)?;
                        select
                            .query_map([limit], approval_from_row)
                            .map_err(&err)?
                            .collect::<rusqlite::Result<Vec<_>>>()
                    }
                };
                rows.map_err(&err)
            })
            .await
        })
    }

    fn decide<'a>(&'a self, id: &'a str, decision: &'a Decision) -> StoreFuture<'a, Decided> {
        Box::pin(async move {
            let at = now(decision.now_ms)?;
            let valid_until = if decision.approve {
                Some(number(
                    || format!("approval {id}: valid_until_ms"),
                    decision.valid_until_ms,
                )?)
            } else {
                None
            };
            let (id, decision) = (id.to_owned(), decision.clone());
            self.with_conn(DECIDE, move |conn, path| {
                let err = query_error(path, DECIDE);
                let tx = conn
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(&err)?;
                let decided = decide_row(&tx, &id, &decision, at, valid_until).map_err(&err)?;
                tx.commit().map_err(&err)?;
                Ok(decided)
            })
            .await
        })
    }

    fn expire(&self, now_ms: u64) -> StoreFuture<'_, Vec<Approval>> {
        Box::pin(async move {
            let at = now(now_ms)?;
            self.with_conn(EXPIRE, move |conn, path| {
                let err = query_error(path, EXPIRE);
                let tx = conn
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(&err)?;
                let mut expired = {
                    let mut update = tx
                        .prepare_cached(&format!(
                            "UPDATE approvals SET status = 'expired', decided_ms = ?1
                             WHERE status = 'pending' AND expires_ms <= ?1
                             RETURNING {COLUMNS}"
                        ))
                        .map_err(&err)?;
                    update
                        .query_map([at], approval_from_row)
                        .map_err(&err)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .map_err(&err)?
                };
                tx.commit().map_err(&err)?;
                // RETURNING promises no order.
                oldest_first(&mut expired);
                Ok(expired)
            })
            .await
        })
    }

    fn claim<'a>(
        &'a self,
        key: ClaimKey<'a>,
        id: Option<&'a str>,
        now_ms: u64,
    ) -> StoreFuture<'a, Option<Approval>> {
        Box::pin(async move {
            let at = now(now_ms)?;
            let key = (
                key.grant.to_owned(),
                key.tool.to_owned(),
                key.digest.to_owned(),
            );
            let id = id.map(str::to_owned);
            self.with_conn(CLAIM, move |conn, path| {
                let err = query_error(path, CLAIM);
                let tx = conn
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(&err)?;
                let claimed =
                    claim_row(&tx, (&key.0, &key.1, &key.2), id.as_deref(), at).map_err(&err)?;
                tx.commit().map_err(&err)?;
                Ok(claimed)
            })
            .await
        })
    }
}
