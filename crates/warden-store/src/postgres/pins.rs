//! [`PinStore`] on PostgreSQL: the `pins` table (migration 5), shared by every replica.
//!
//! Text is stored through [`encode_text`] (PostgreSQL text cannot hold NUL; server and tool
//! names and definitions are whatever an upstream sent).
//!
//! # Locking
//!
//! `observe`, `approve` and `approve_all` each run in one transaction that first takes the
//! server's transaction-scoped advisory lock (`pg_advisory_xact_lock`), then reads the
//! server's pins, plans and writes. Every transaction that writes a server's pins holds that
//! lock, so of two replicas observing the same listing at once the second waits, reads what
//! the first wrote and reports nothing: each change is reported once. An advisory lock
//! rather than row locks because a server's first listing has no row to lock yet.
//!
//! The lock id of a server is the first 8 bytes of
//! `SHA-256("warden-pins\0" ‖ schema ‖ "\0" ‖ server)`, the scheme counters use with
//! another prefix: stable, distinct per schema, and with 64 bits a collision (with another
//! server or a counter key) would only make the two wait for each other. Each transaction
//! holds one advisory lock and touches only that server's rows, so none can deadlock with
//! another.
//!
//! `list` and `get` are single reads.

use std::borrow::Cow;
use std::collections::BTreeMap;

use deadpool_postgres::Transaction;
use sha2::{Digest, Sha256};
use tokio_postgres::Row;

use super::{PgState, decode_text, encode_text};
use crate::pins::{ObservedTool, Pin, PinChange, PinStatus, PinStore, approved, plan_observation};
use crate::{StoreError, StoreFuture};

const OBSERVE: &str = "observe tool pins";
const APPROVE: &str = "approve tool pin";
const APPROVE_ALL: &str = "approve tool pins";
const LIST: &str = "list tool pins";
const GET: &str = "look up tool pin";

/// Every column of `pins`, in [`PgState::pin_from_row`]'s order.
const COLUMNS: &str = "server, tool, fingerprint, definition, status, first_seen_ms, \
     changed_ms, approved_ms, approved_by, approved_fingerprint, approved_definition";

/// Writes pins whole, one row per array element, whether they are new or not.
const UPSERT: &str = "INSERT INTO pins (server, tool, fingerprint, definition, status, \
     first_seen_ms, changed_ms, approved_ms, approved_by, approved_fingerprint, \
     approved_definition) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
     $6::bigint[], $7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::text[]) \
     ON CONFLICT (server, tool) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, \
     definition = EXCLUDED.definition, status = EXCLUDED.status, \
     first_seen_ms = EXCLUDED.first_seen_ms, changed_ms = EXCLUDED.changed_ms, \
     approved_ms = EXCLUDED.approved_ms, approved_by = EXCLUDED.approved_by, \
     approved_fingerprint = EXCLUDED.approved_fingerprint, \
     approved_definition = EXCLUDED.approved_definition";

/// `now_ms` as a `BIGINT`, or [`StoreError::TimeOutOfRange`].
fn now(now_ms: u64) -> Result<i64, StoreError> {
    i64::try_from(now_ms).map_err(|_| StoreError::TimeOutOfRange { now_ms })
}

/// A time already checked (it came from a `now_ms` that fits, or from the table).
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PgState {
    /// The advisory lock id of `server`'s pins in this schema (see the module docs).
    fn pin_lock_id(&self, server: &str) -> i64 {
        let digest = Sha256::new()
            .chain_update(b"warden-pins\0")
            .chain_update(self.inner.schema.as_bytes())
            .chain_update(b"\0")
            .chain_update(server.as_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(first)
    }

    fn pin_from_row(&self, op: &'static str, row: &Row) -> Result<Pin, StoreError> {
        let err = self.query_error(op);
        let damaged =
            |column: &str, what: String| self.data_error(op, format!("pins.{column} {what}"));
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
        let opt_number = |index: usize, column: &str| -> Result<Option<u64>, StoreError> {
            match row.try_get::<_, Option<i64>>(index).map_err(&err)? {
                None => Ok(None),
                Some(n) => u64::try_from(n)
                    .map(Some)
                    .map_err(|_| damaged(column, format!("is {n}"))),
            }
        };
        let number = |index: usize, column: &str| -> Result<u64, StoreError> {
            opt_number(index, column)?.ok_or_else(|| damaged(column, "is NULL".to_owned()))
        };
        let status: String = row.try_get(4).map_err(&err)?;
        let status =
            PinStatus::parse(&status).ok_or_else(|| damaged("status", format!("is {status:?}")))?;
        Ok(Pin {
            server: text(0, "server")?,
            tool: text(1, "tool")?,
            fingerprint: text(2, "fingerprint")?,
            definition: text(3, "definition")?,
            status,
            first_seen_ms: number(5, "first_seen_ms")?,
            changed_ms: number(6, "changed_ms")?,
            approved_ms: opt_number(7, "approved_ms")?,
            approved_by: opt_text(8, "approved_by")?,
            approved_fingerprint: opt_text(9, "approved_fingerprint")?,
            approved_definition: opt_text(10, "approved_definition")?,
        })
    }

    /// Takes `server`'s lock inside `tx`.
    async fn lock_pins(
        &self,
        tx: &Transaction<'_>,
        op: &'static str,
        server: &str,
    ) -> Result<(), StoreError> {
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&self.pin_lock_id(server)],
        )
        .await
        .map_err(self.query_error(op))?;
        Ok(())
    }

    /// The pins of `server` (only pending ones with `pending_only`), by tool.
    async fn pins_of(
        &self,
        tx: &Transaction<'_>,
        op: &'static str,
        server: &str,
        pending_only: bool,
    ) -> Result<BTreeMap<String, Pin>, StoreError> {
        let err = self.query_error(op);
        let filter = if pending_only {
            " AND status = 'pending'"
        } else {
            ""
        };
        let statement = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM pins WHERE server = $1{filter} ORDER BY tool"
            ))
            .await
            .map_err(&err)?;
        let rows = tx
            .query(&statement, &[&encode_text(server)])
            .await
            .map_err(&err)?;
        rows.iter()
            .map(|row| {
                let pin = self.pin_from_row(op, row)?;
                Ok((pin.tool.clone(), pin))
            })
            .collect()
    }

    /// Writes `pins` whole, in one statement.
    async fn upsert_pins(
        &self,
        tx: &Transaction<'_>,
        op: &'static str,
        pins: &[Pin],
    ) -> Result<(), StoreError> {
        if pins.is_empty() {
            return Ok(());
        }
        let texts = |f: fn(&Pin) -> &str| -> Vec<Cow<'_, str>> {
            pins.iter().map(|p| encode_text(f(p))).collect()
        };
        let opt_texts = |f: fn(&Pin) -> Option<&str>| -> Vec<Option<Cow<'_, str>>> {
            pins.iter().map(|p| f(p).map(encode_text)).collect()
        };
        let servers = texts(|p| &p.server);
        let tools = texts(|p| &p.tool);
        let fingerprints = texts(|p| &p.fingerprint);
        let definitions = texts(|p| &p.definition);
        let statuses: Vec<&str> = pins.iter().map(|p| p.status.as_str()).collect();
        let first_seen: Vec<i64> = pins.iter().map(|p| int(p.first_seen_ms)).collect();
        let changed: Vec<i64> = pins.iter().map(|p| int(p.changed_ms)).collect();
        let approved_ms: Vec<Option<i64>> = pins.iter().map(|p| p.approved_ms.map(int)).collect();
        let approved_by = opt_texts(|p| p.approved_by.as_deref());
        let approved_fingerprints = opt_texts(|p| p.approved_fingerprint.as_deref());
        let approved_definitions = opt_texts(|p| p.approved_definition.as_deref());
        let err = self.query_error(op);
        let statement = tx.prepare_cached(UPSERT).await.map_err(&err)?;
        tx.execute(
            &statement,
            &[
                &servers,
                &tools,
                &fingerprints,
                &definitions,
                &statuses,
                &first_seen,
                &changed,
                &approved_ms,
                &approved_by,
                &approved_fingerprints,
                &approved_definitions,
            ],
        )
        .await
        .map_err(&err)?;
        Ok(())
    }

    async fn observe_pins_now(
        &self,
        server: &str,
        tools: &[ObservedTool],
        now_ms: u64,
    ) -> Result<Vec<PinChange>, StoreError> {
        now(now_ms)?;
        let err = self.query_error(OBSERVE);
        let mut client = self.client(OBSERVE).await?;
        // On an error the transaction is dropped, which rolls it back.
        let tx = client.transaction().await.map_err(&err)?;
        self.lock_pins(&tx, OBSERVE, server).await?;
        let stored = self.pins_of(&tx, OBSERVE, server, false).await?;
        let first_use = stored.is_empty();
        let plan = plan_observation(server, stored, first_use, tools, now_ms);
        self.upsert_pins(&tx, OBSERVE, &plan.writes).await?;
        tx.commit().await.map_err(&err)?;
        Ok(plan.changes)
    }

    async fn approve_pin_now(
        &self,
        server: &str,
        tool: &str,
        by: &str,
        now_ms: u64,
    ) -> Result<Option<Pin>, StoreError> {
        now(now_ms)?;
        let err = self.query_error(APPROVE);
        let mut client = self.client(APPROVE).await?;
        let tx = client.transaction().await.map_err(&err)?;
        self.lock_pins(&tx, APPROVE, server).await?;
        let statement = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM pins WHERE server = $1 AND tool = $2"
            ))
            .await
            .map_err(&err)?;
        let row = tx
            .query_opt(&statement, &[&encode_text(server), &encode_text(tool)])
            .await
            .map_err(&err)?;
        let current = row
            .map(|row| self.pin_from_row(APPROVE, &row))
            .transpose()?;
        let next = current.and_then(|pin| approved(&pin, by, now_ms));
        if let Some(pin) = &next {
            self.upsert_pins(&tx, APPROVE, std::slice::from_ref(pin))
                .await?;
        }
        // Also when nothing changed: ends the transaction and its lock now.
        tx.commit().await.map_err(&err)?;
        Ok(next)
    }

    async fn approve_all_pins_now(
        &self,
        server: &str,
        by: &str,
        now_ms: u64,
    ) -> Result<Vec<Pin>, StoreError> {
        now(now_ms)?;
        let err = self.query_error(APPROVE_ALL);
        let mut client = self.client(APPROVE_ALL).await?;
        let tx = client.transaction().await.map_err(&err)?;
        self.lock_pins(&tx, APPROVE_ALL, server).await?;
        let pending = self.pins_of(&tx, APPROVE_ALL, server, true).await?;
        let out: Vec<Pin> = pending
            .values()
            .filter_map(|pin| approved(pin, by, now_ms))
            .collect();
        self.upsert_pins(&tx, APPROVE_ALL, &out).await?;
        tx.commit().await.map_err(&err)?;
        Ok(out)
    }

    async fn list_pins_now(&self, server: Option<&str>) -> Result<Vec<Pin>, StoreError> {
        let err = self.query_error(LIST);
        let client = self.client(LIST).await?;
        let rows = match server {
            Some(server) => {
                let statement = client
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM pins WHERE server = $1 ORDER BY tool"
                    ))
                    .await
                    .map_err(&err)?;
                client.query(&statement, &[&encode_text(server)]).await
            }
            None => {
                let statement = client
                    .prepare_cached(&format!("SELECT {COLUMNS} FROM pins ORDER BY server, tool"))
                    .await
                    .map_err(&err)?;
                client.query(&statement, &[]).await
            }
        }
        .map_err(&err)?;
        let mut pins = rows
            .iter()
            .map(|row| self.pin_from_row(LIST, row))
            .collect::<Result<Vec<_>, _>>()?;
        // The columns compare the stored (encoded) bytes; only text holding NUL or U+FFFF
        // sorts differently from its decoded form, so put the decoded order back.
        pins.sort_by(|a, b| (&a.server, &a.tool).cmp(&(&b.server, &b.tool)));
        Ok(pins)
    }

    async fn get_pin_now(&self, server: &str, tool: &str) -> Result<Option<Pin>, StoreError> {
        let err = self.query_error(GET);
        let client = self.client(GET).await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM pins WHERE server = $1 AND tool = $2"
            ))
            .await
            .map_err(&err)?;
        let row = client
            .query_opt(&statement, &[&encode_text(server), &encode_text(tool)])
            .await
            .map_err(&err)?;
        row.map(|row| self.pin_from_row(GET, &row)).transpose()
    }
}

impl PinStore for PgState {
    fn observe<'a>(
        &'a self,
        server: &'a str,
        tools: &'a [ObservedTool],
        now_ms: u64,
    ) -> StoreFuture<'a, Vec<PinChange>> {
        Box::pin(self.observe_pins_now(server, tools, now_ms))
    }

    fn approve<'a>(
        &'a self,
        server: &'a str,
        tool: &'a str,
        by: &'a str,
        now_ms: u64,
    ) -> StoreFuture<'a, Option<Pin>> {
        Box::pin(self.approve_pin_now(server, tool, by, now_ms))
    }

    fn approve_all<'a>(
        &'a self,
        server: &'a str,
        by: &'a str,
        now_ms: u64,
    ) -> StoreFuture<'a, Vec<Pin>> {
        Box::pin(self.approve_all_pins_now(server, by, now_ms))
    }

    fn list<'a>(&'a self, server: Option<&'a str>) -> StoreFuture<'a, Vec<Pin>> {
        Box::pin(self.list_pins_now(server))
    }

    fn get<'a>(&'a self, server: &'a str, tool: &'a str) -> StoreFuture<'a, Option<Pin>> {
        Box::pin(self.get_pin_now(server, tool))
    }
}
