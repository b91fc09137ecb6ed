//! [`ApprovalStore`] on PostgreSQL: the `approvals` table (migration 4),
//! shared by every replica.
//!
//! Text is stored through [`encode_text`] (PostgreSQL text cannot hold NUL;
//! arguments, reasons and comments are whatever a client or an approver
//! sent), approvers as a `text[]` of encoded names.
//!
//! # Locking
//!
//! Every statement runs in `READ COMMITTED`, where a statement that waits
//! for a row lock then sees the row as the other transaction committed it.
//!
//! - `create` is one `INSERT`: the primary key refuses a taken id, also
//!   against a replica inserting the same id at the same moment.
//! - `decide` is one transaction that reads the row `FOR UPDATE` (waiting
//!   for a replica deciding or claiming it), checks it and updates it. Of
//!   two replicas deciding at once, the second reads the first's decision:
//!   [`Decided::AlreadyDecided`].
//! - `expire` is one `UPDATE` of the pending rows past their deadline,
//!   chosen `FOR UPDATE SKIP LOCKED`: it never waits. A row another sweep is
//!   expiring is skipped (and once that sweep commits, the row is no longer
//!   pending), so each expiry is returned by exactly one sweep. A row a
//!   decision holds at that moment is skipped too: it ends up decided, or,
//!   past its deadline, is expired by the next sweep.
//! - `claim` is one `UPDATE` of the oldest claimable row, chosen
//!   `FOR UPDATE` with `LIMIT 1`. It waits rather than skips, because a
//!   multi-use approval another call is claiming is still good for this one;
//!   after the wait PostgreSQL checks the row again as committed, so a
//!   single-use approval used meanwhile no longer qualifies and the next
//!   candidate, if any, is taken instead. Of two calls racing for a
//!   single-use approval exactly one gets it.
//!
//! Each operation locks at most one row at a time (or skips locked rows), so
//! none can deadlock with another.

use std::borrow::Cow;

use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use super::{PgState, decode_text, encode_text};
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

/// Every column of `approvals`, in [`PgState::approval_from_row`]'s order.
const COLUMNS: &str = "id, created_ms, expires_ms, identity, grant_name, server, session, \
     tool, digest, arguments, rule, reason, approvers, mode, valid_for_ms, status, \
     decided_by, decided_ms, comment, valid_until_ms, single_use, uses, last_used_ms";

/// The largest use count an [`Approval`] holds; further claims keep it there.
const MAX_USES: i64 = u32::MAX as i64;

/// `value` as a `BIGINT`, or [`StoreError::ValueOutOfRange`] naming it.
fn number(what: impl FnOnce() -> String, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::ValueOutOfRange {
        what: what(),
        value,
    })
}

/// `now_ms` as a `BIGINT`, or [`StoreError::TimeOutOfRange`].
fn now(now_ms: u64) -> Result<i64, StoreError> {
    i64::try_from(now_ms).map_err(|_| StoreError::TimeOutOfRange { now_ms })
}

fn oldest_first(out: &mut [Approval]) {
    out.sort_by(|a, b| {
        (a.request.created_ms, &a.request.id).cmp(&(b.request.created_ms, &b.request.id))
    });
}

impl PgState {
    fn approval_from_row(&self, op: &'static str, row: &Row) -> Result<Approval, StoreError> {
        let err = self.query_error(op);
        let damaged =
            |column: &str, what: String| self.data_error(op, format!("approvals.{column} {what}"));
        let opt_text = |index: usize, column: &str| -> Result<Option<String>, StoreError> {
            row.try_get::<_, Option<String>>(index)
                .map_err(&err)?
                .map(|stored| {
                    decode_text(stored).ok_or_else(|| {
                        damaged(column, "holds an escape Warden never writes".to_owned())
                    })
                })
                .transpose()
        };
        let text = |index: usize, column: &str| -> Result<String, StoreError> {
            opt_text(index, column)?.ok_or_else(|| damaged(column, "is NULL".to_owned()))
        };
        let id = text(0, "id")?;
        let opt_number = |index: usize, column: &str| -> Result<Option<u64>, StoreError> {
            match row.try_get::<_, Option<i64>>(index).map_err(&err)? {
                None => Ok(None),
                Some(n) => u64::try_from(n)
                    .map(Some)
                    .map_err(|_| damaged(column, format!("of approval {id} is {n}"))),
            }
        };
        let number = |index: usize, column: &str| -> Result<u64, StoreError> {
            opt_number(index, column)?
                .ok_or_else(|| damaged(column, format!("of approval {id} is NULL")))
        };
        let approvers: Vec<String> = row.try_get(12).map_err(&err)?;
        let approvers = approvers
            .into_iter()
            .map(|a| {
                decode_text(a).ok_or_else(|| {
                    damaged(
                        "approvers",
                        "holds an escape Warden never writes".to_owned(),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let status: String = row.try_get(15).map_err(&err)?;
        let status = ApprovalStatus::parse(&status)
            .ok_or_else(|| damaged("status", format!("of approval {id} is {status:?}")))?;
        let uses = number(21, "uses")?;
        let uses = u32::try_from(uses)
            .map_err(|_| damaged("uses", format!("of approval {id} is {uses}")))?;
        Ok(Approval {
            request: ApprovalRequest {
                created_ms: number(1, "created_ms")?,
                expires_ms: number(2, "expires_ms")?,
                identity: text(3, "identity")?,
                grant: text(4, "grant_name")?,
                server: text(5, "server")?,
                session: opt_text(6, "session")?,
                tool: text(7, "tool")?,
                digest: text(8, "digest")?,
                arguments: text(9, "arguments")?,
                rule: text(10, "rule")?,
                reason: text(11, "reason")?,
                approvers,
                mode: text(13, "mode")?,
                valid_for_ms: number(14, "valid_for_ms")?,
                id: id.clone(),
            },
            status,
            decided_by: opt_text(16, "decided_by")?,
            decided_ms: opt_number(17, "decided_ms")?,
            comment: opt_text(18, "comment")?,
            valid_until_ms: opt_number(19, "valid_until_ms")?,
            single_use: row.try_get(20).map_err(&err)?,
            uses,
            last_used_ms: opt_number(22, "last_used_ms")?,
        })
    }

    async fn create_now(&self, r: &ApprovalRequest) -> Result<(), StoreError> {
        let name = |field: &'static str| move || format!("approval {}: {field}", r.id);
        let created = number(name("created_ms"), r.created_ms)?;
        let expires = number(name("expires_ms"), r.expires_ms)?;
        let valid_for = number(name("valid_for_ms"), r.valid_for_ms)?;
        let approvers: Vec<Cow<'_, str>> = r.approvers.iter().map(|a| encode_text(a)).collect();
        let err = self.query_error(CREATE);
        let client = self.client(CREATE).await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO approvals (id, created_ms, expires_ms, identity, grant_name, \
                 server, session, tool, digest, arguments, rule, reason, approvers, mode, \
                 valid_for_ms, status, single_use, uses) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                 'pending', TRUE, 0)",
            )
            .await
            .map_err(&err)?;
        let inserted = client
            .execute(
                &statement,
                &[
                    &encode_text(&r.id),
                    &created,
                    &expires,
                    &encode_text(&r.identity),
                    &encode_text(&r.grant),
                    &encode_text(&r.server),
                    &r.session.as_deref().map(encode_text),
                    &encode_text(&r.tool),
                    &encode_text(&r.digest),
                    &encode_text(&r.arguments),
                    &encode_text(&r.rule),
                    &encode_text(&r.reason),
                    &approvers,
                    &encode_text(&r.mode),
                    &valid_for,
                ],
            )
            .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                Err(StoreError::ApprovalExists { id: r.id.clone() })
            }
            Err(e) => Err(err(e)),
        }
    }

    async fn get_now(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        let err = self.query_error(GET);
        let client = self.client(GET).await?;
        let statement = client
            .prepare_cached(&format!("SELECT {COLUMNS} FROM approvals WHERE id = $1"))
            .await
            .map_err(&err)?;
        let row = client
            .query_opt(&statement, &[&encode_text(id)])
            .await
            .map_err(&err)?;
        row.map(|row| self.approval_from_row(GET, &row)).transpose()
    }

    async fn list_now(
        &self,
        status: Option<ApprovalStatus>,
        limit: usize,
    ) -> Result<Vec<Approval>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let err = self.query_error(LIST);
        let client = self.client(LIST).await?;
        // Two statements rather than `$1 IS NULL OR status = $1`, so a status
        // filter reads its index in order.
        let rows = match status {
            Some(status) => {
                let statement = client
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM approvals WHERE status = $1
                         ORDER BY created_ms, id COLLATE \"C\" LIMIT $2"
                    ))
                    .await
                    .map_err(&err)?;
                client.query(&statement, &[&status.as_str(), &limit]).await
            }
            None => {
                let statement = client
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM approvals
                         ORDER BY created_ms, id COLLATE \"C\" LIMIT $1"
                    ))
                    .await
                    .map_err(&err)?;
                client.query(&statement, &[&limit]).await
            }
        }
        .map_err(&err)?;
        rows.iter()
            .map(|row| self.approval_from_row(LIST, row))
            .collect()
    }

    async fn decide_now(&self, id: &str, decision: &Decision) -> Result<Decided, StoreError> {
        let at = now(decision.now_ms)?;
        let valid_until = if decision.approve {
            Some(number(
                || format!("approval {id}: valid_until_ms"),
                decision.valid_until_ms,
            )?)
        } else {
            None
        };
        let err = self.query_error(DECIDE);
        let mut client = self.client(DECIDE).await?;
        let tx = client.transaction().await.map_err(&err)?;
        // On an error the transaction is dropped, which rolls it back.
        let decided = self.decide_in(&tx, id, decision, at, valid_until).await?;
        // Also when nothing changed: ends the transaction and its row lock now.
        tx.commit().await.map_err(&err)?;
        Ok(decided)
    }

    /// [`ApprovalStore::decide`] inside `tx`; `valid_until` is the
    /// decision's, already converted (`None` when denying).
    async fn decide_in(
        &self,
        tx: &Transaction<'_>,
        id: &str,
        decision: &Decision,
        at: i64,
        valid_until: Option<i64>,
    ) -> Result<Decided, StoreError> {
        let err = self.query_error(DECIDE);
        let stored_id = encode_text(id);
        let statement = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM approvals WHERE id = $1 FOR UPDATE"
            ))
            .await
            .map_err(&err)?;
        let Some(row) = tx
            .query_opt(&statement, &[&stored_id])
            .await
            .map_err(&err)?
        else {
            return Ok(Decided::NotFound);
        };
        let current = self.approval_from_row(DECIDE, &row)?;
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
        let statement = tx
            .prepare_cached(&format!(
                "UPDATE approvals SET status = $2, decided_by = $3, decided_ms = $4, \
                 comment = $5, valid_until_ms = $6, single_use = $7 WHERE id = $1 \
                 RETURNING {COLUMNS}"
            ))
            .await
            .map_err(&err)?;
        let row = tx
            .query_one(
                &statement,
                &[
                    &stored_id,
                    &status.as_str(),
                    &encode_text(&decision.by),
                    &at,
                    &decision.comment.as_deref().map(encode_text),
                    &valid_until,
                    &single_use,
                ],
            )
            .await
            .map_err(&err)?;
        Ok(Decided::Done(self.approval_from_row(DECIDE, &row)?))
    }

    async fn expire_now(&self, now_ms: u64) -> Result<Vec<Approval>, StoreError> {
        let at = now(now_ms)?;
        let err = self.query_error(EXPIRE);
        let client = self.client(EXPIRE).await?;
        let statement = client
            .prepare_cached(&format!(
                "UPDATE approvals SET status = 'expired', decided_ms = $1
                 WHERE id IN (
                     SELECT id FROM approvals
                     WHERE status = 'pending' AND expires_ms <= $1
                     FOR UPDATE SKIP LOCKED)
                 RETURNING {COLUMNS}"
            ))
            .await
            .map_err(&err)?;
        let rows = client.query(&statement, &[&at]).await.map_err(&err)?;
        let mut expired = rows
            .iter()
            .map(|row| self.approval_from_row(EXPIRE, row))
            .collect::<Result<Vec<_>, _>>()?;
        // RETURNING promises no order.
        oldest_first(&mut expired);
        Ok(expired)
    }

    async fn claim_now(
        &self,
        key: ClaimKey<'_>,
        id: Option<&str>,
        now_ms: u64,
    ) -> Result<Option<Approval>, StoreError> {
        let at = now(now_ms)?;
        let err = self.query_error(CLAIM);
        let client = self.client(CLAIM).await?;
        let statement = client
            .prepare_cached(&format!(
                "UPDATE approvals SET uses = LEAST(uses + 1, $6), last_used_ms = $5
                 WHERE id = (
                     SELECT id FROM approvals
                     WHERE grant_name = $1 AND tool = $2 AND digest = $3
                       AND ($4::text IS NULL OR id = $4)
                       AND status = 'approved' AND valid_until_ms > $5
                       AND (NOT single_use OR uses = 0)
                     ORDER BY created_ms, id COLLATE \"C\" LIMIT 1
                     FOR UPDATE)
                 RETURNING {COLUMNS}"
            ))
            .await
            .map_err(&err)?;
        let row = client
            .query_opt(
                &statement,
                &[
                    &encode_text(key.grant),
                    &encode_text(key.tool),
                    &encode_text(key.digest),
                    &id.map(encode_text),
                    &at,
                    &MAX_USES,
                ],
            )
            .await
            .map_err(&err)?;
        row.map(|row| self.approval_from_row(CLAIM, &row))
            .transpose()
    }
}

impl ApprovalStore for PgState {
    fn create<'a>(&'a self, request: &'a ApprovalRequest) -> StoreFuture<'a, ()> {
        Box::pin(self.create_now(request))
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Approval>> {
        Box::pin(self.get_now(id))
    }

    fn list(&self, status: Option<ApprovalStatus>, limit: usize) -> StoreFuture<'_, Vec<Approval>> {
        Box::pin(self.list_now(status, limit))
    }

    fn decide<'a>(&'a self, id: &'a str, decision: &'a Decision) -> StoreFuture<'a, Decided> {
        Box::pin(self.decide_now(id, decision))
    }

    fn expire(&self, now_ms: u64) -> StoreFuture<'_, Vec<Approval>> {
        Box::pin(self.expire_now(now_ms))
    }

    fn claim<'a>(
        &'a self,
        key: ClaimKey<'a>,
        id: Option<&'a str>,
        now_ms: u64,
    ) -> StoreFuture<'a, Option<Approval>> {
        Box::pin(self.claim_now(key, id, now_ms))
    }
}
