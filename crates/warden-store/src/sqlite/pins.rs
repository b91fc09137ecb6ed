//! [`PinStore`] on SQLite: the `pins` table (migration 5).
//!
//! `list` and `get` are single reads. `observe`, `approve` and `approve_all` each run in one
//! `BEGIN IMMEDIATE` transaction: the file's write lock is taken before the server's pins are
//! read, so reading, planning and writing cannot interleave with another connection's, in
//! this process or another. Two processes observing the same listing at once therefore
//! report each change once: the second reads what the first wrote and finds nothing new.
//!
//! Times are stored as SQLite's signed 64-bit integers: a `now_ms` beyond that is
//! [`StoreError::TimeOutOfRange`] before anything is read or written.

use std::collections::BTreeMap;

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{SqliteState, query_error};
use crate::pins::{ObservedTool, Pin, PinChange, PinStatus, PinStore, approved, plan_observation};
use crate::{StoreError, StoreFuture};

const OBSERVE: &str = "observe tool pins";
const APPROVE: &str = "approve tool pin";
const APPROVE_ALL: &str = "approve tool pins";
const LIST: &str = "list tool pins";
const GET: &str = "look up tool pin";

/// Every column of `pins`, in [`pin_from_row`]'s order.
const COLUMNS: &str = "server, tool, fingerprint, definition, status, first_seen_ms, \
     changed_ms, approved_ms, approved_by, approved_fingerprint, approved_definition";

/// Writes a pin whole, whether it is new or not.
const UPSERT: &str = "INSERT INTO pins (server, tool, fingerprint, definition, status, \
     first_seen_ms, changed_ms, approved_ms, approved_by, approved_fingerprint, \
     approved_definition) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
     ON CONFLICT (server, tool) DO UPDATE SET fingerprint = excluded.fingerprint, \
     definition = excluded.definition, status = excluded.status, \
     first_seen_ms = excluded.first_seen_ms, changed_ms = excluded.changed_ms, \
     approved_ms = excluded.approved_ms, approved_by = excluded.approved_by, \
     approved_fingerprint = excluded.approved_fingerprint, \
     approved_definition = excluded.approved_definition";

/// `now_ms` as a SQLite integer, or [`StoreError::TimeOutOfRange`].
fn now(now_ms: u64) -> Result<i64, StoreError> {
    i64::try_from(now_ms).map_err(|_| StoreError::TimeOutOfRange { now_ms })
}

fn pin_from_row(row: &Row<'_>) -> rusqlite::Result<Pin> {
    let status: String = row.get(4)?;
    let status = PinStatus::parse(&status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            4,
            Type::Text,
            format!("unknown pin status {status:?}").into(),
        )
    })?;
    // Negative times (never written) fail the u64 conversions: a damaged row is an error.
    Ok(Pin {
        server: row.get(0)?,
        tool: row.get(1)?,
        fingerprint: row.get(2)?,
        definition: row.get(3)?,
        status,
        first_seen_ms: row.get(5)?,
        changed_ms: row.get(6)?,
        approved_ms: row.get(7)?,
        approved_by: row.get(8)?,
        approved_fingerprint: row.get(9)?,
        approved_definition: row.get(10)?,
    })
}

/// The pins of `server` (only pending ones with `pending_only`), by tool.
fn of_server(
    conn: &Connection,
    server: &str,
    pending_only: bool,
) -> rusqlite::Result<BTreeMap<String, Pin>> {
    let sql = if pending_only {
        format!("SELECT {COLUMNS} FROM pins WHERE server = ?1 AND status = 'pending' ORDER BY tool")
    } else {
        format!("SELECT {COLUMNS} FROM pins WHERE server = ?1 ORDER BY tool")
    };
    conn.prepare_cached(&sql)?
        .query_map([server], pin_from_row)?
        .map(|pin| pin.map(|p| (p.tool.clone(), p)))
        .collect()
}

/// Writes `pin` whole. Its times came from a checked `now_ms` or from the table.
fn upsert(conn: &Connection, pin: &Pin) -> rusqlite::Result<()> {
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    conn.prepare_cached(UPSERT)?.execute(params![
        &pin.server,
        &pin.tool,
        &pin.fingerprint,
        &pin.definition,
        pin.status.as_str(),
        int(pin.first_seen_ms),
        int(pin.changed_ms),
        pin.approved_ms.map(int),
        &pin.approved_by,
        &pin.approved_fingerprint,
        &pin.approved_definition,
    ])?;
    Ok(())
}

impl PinStore for SqliteState {
    fn observe<'a>(
        &'a self,
        server: &'a str,
        tools: &'a [ObservedTool],
        now_ms: u64,
    ) -> StoreFuture<'a, Vec<PinChange>> {
        Box::pin(async move {
            now(now_ms)?;
            let (server, tools) = (server.to_owned(), tools.to_vec());
            self.with_conn(OBSERVE, move |conn, path| {
                let err = query_error(path, OBSERVE);
                let tx = conn
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(&err)?;
                let stored = of_server(&tx, &server, false).map_err(&err)?;
                let first_use = stored.is_empty();
                let plan = plan_observation(&server, stored, first_use, &tools, now_ms);
                for pin in &plan.writes {
                    upsert(&tx, pin).map_err(&err)?;
                }
                tx.commit().map_err(&err)?;
                Ok(plan.changes)
            })
            .await
        })
    }

    fn approve<'a>(
        &'a self,
        server: &'a str,
        tool: &'a str,
        by: &'a str,
        now_ms: u64,
    ) -> StoreFuture<'a, Option<Pin>> {
        Box::pin(async move {
            now(now_ms)?;
            let (server, tool, by) = (server.to_owned(), tool.to_owned(), by.to_owned());
            self.with_conn(APPROVE, move |conn, path| {
                let err = query_error(path, APPROVE);
                let tx = conn
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(&err)?;
                let current = tx
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM pins WHERE server = ?1 AND tool = ?2"
                    ))
                    .and_then(|mut s| s.query_row([&server, &tool], pin_from_row).optional())
                    .map_err(&err)?;
                let next = current.and_then(|pin| approved(&pin, &by, now_ms));
                if let Some(pin) = &next {
                    upsert(&tx, pin).map_err(&err)?;
                }
                tx.commit().map_err(&err)?;
                Ok(next)
            })
            .await
        })
    }

    fn approve_all<'a>(
        &'a self,
        server: &'a str,
        by: &'a str,
        now_ms: u64,
    ) -> StoreFuture<'a, Vec<Pin>> {
        Box::pin(async move {
            now(now_ms)?;
            let (server, by) = (server.to_owned(), by.to_owned());
            self.with_conn(APPROVE_ALL, move |conn, path| {
                let err = query_error(path, APPROVE_ALL);
                let tx = conn
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(&err)?;
                let pending = of_server(&tx, &server, true).map_err(&err)?;
                let mut out = Vec::with_capacity(pending.len());
                for pin in pending.values() {
                    if let Some(next) = approved(pin, &by, now_ms) {
                        upsert(&tx, &next).map_err(&err)?;
                        out.push(next);
                    }
                }
                tx.commit().map_err(&err)?;
                Ok(out)
            })
            .await
        })
    }

    fn list<'a>(&'a self, server: Option<&'a str>) -> StoreFuture<'a, Vec<Pin>> {
        Box::pin(async move {
            let server = server.map(str::to_owned);
            self.with_conn(LIST, move |conn, path| {
                let err = query_error(path, LIST);
                match server {
                    Some(server) => of_server(&conn.conn, &server, false)
                        .map(|pins| pins.into_values().collect())
                        .map_err(&err),
                    None => conn
                        .conn
                        .prepare_cached(&format!(
                            "SELECT {COLUMNS} FROM pins ORDER BY server, tool"
                        ))
                        .and_then(|mut s| {
                            s.query_map([], pin_from_row)?
                                .collect::<rusqlite::Result<Vec<_>>>()
                        })
                        .map_err(&err),
                }
            })
            .await
        })
    }

    fn get<'a>(&'a self, server: &'a str, tool: &'a str) -> StoreFuture<'a, Option<Pin>> {
        Box::pin(async move {
            let (server, tool) = (server.to_owned(), tool.to_owned());
            self.with_conn(GET, move |conn, path| {
                conn.conn
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM pins WHERE server = ?1 AND tool = ?2"
                    ))
                    .and_then(|mut s| s.query_row([&server, &tool], pin_from_row).optional())
                    .map_err(query_error(path, GET))
            })
            .await
        })
    }
}
