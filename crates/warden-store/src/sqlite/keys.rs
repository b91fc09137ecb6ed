//! [`KeyStore`] on SQLite: the `api_keys` table.
//!
//! Every operation is a single statement, atomic on its own; `revoke` is one
//! conditional `UPDATE`, so two processes revoking the same key at once
//! cannot both answer `true`.

use rusqlite::{OptionalExtension, Row};

use super::{SqliteState, query_error};
use crate::keys::{KeyRecord, KeyStore};
use crate::{StoreError, StoreFuture};

const CREATE: &str = "create API key";
const GET: &str = "look up API key";
const LIST: &str = "list API keys";
const REVOKE: &str = "revoke API key";

const COLUMNS: &str = "id, identity, key_hash, created_ms, expires_ms, revoked_ms, label";

/// SQLite integers are signed 64-bit.
fn to_sql_time(ms: u64) -> Result<i64, StoreError> {
    i64::try_from(ms).map_err(|_| StoreError::TimeOutOfRange { now_ms: ms })
}

fn from_sql_time(row: &Row<'_>, index: usize) -> rusqlite::Result<u64> {
    let ms: i64 = row.get(index)?;
    u64::try_from(ms).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Integer, e.into())
    })
}

fn from_sql_opt_time(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<u64>> {
    match row.get::<_, Option<i64>>(index)? {
        None => Ok(None),
        Some(_) => from_sql_time(row, index).map(Some),
    }
}

fn record_from_row(row: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
        id: row.get(0)?,
        identity: row.get(1)?,
        // A blob of another length fails the conversion (a damaged row is an
        // error, never a key that matches nothing or everything).
        hash: row.get(2)?,
        created_ms: from_sql_time(row, 3)?,
        expires_ms: from_sql_opt_time(row, 4)?,
        revoked_ms: from_sql_opt_time(row, 5)?,
        label: row.get(6)?,
    })
}

impl KeyStore for SqliteState {
    fn create(&self, record: KeyRecord) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let created = to_sql_time(record.created_ms)?;
            let expires = record.expires_ms.map(to_sql_time).transpose()?;
            let revoked = record.revoked_ms.map(to_sql_time).transpose()?;
            self.with_conn(CREATE, move |conn, path| {
                let err = query_error(path, CREATE);
                let inserted = conn
                    .conn
                    .prepare_cached(&format!(
                        "INSERT INTO api_keys ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                    ))
                    .and_then(|mut insert| {
                        insert.execute((
                            &record.id,
                            &record.identity,
                            &record.hash[..],
                            created,
                            expires,
                            revoked,
                            &record.label,
                        ))
                    });
                match inserted {
                    Ok(_) => Ok(()),
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
                    {
                        Err(StoreError::KeyExists { id: record.id })
                    }
                    Err(e) => Err(err(e)),
                }
            })
            .await
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<KeyRecord>> {
        Box::pin(async move {
            let id = id.to_owned();
            self.with_conn(GET, move |conn, path| {
                let err = query_error(path, GET);
                conn.conn
                    .prepare_cached(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"))
                    .map_err(&err)?
                    .query_row([&id], record_from_row)
                    .optional()
                    .map_err(&err)
            })
            .await
        })
    }

    fn list<'a>(&'a self, identity: Option<&'a str>) -> StoreFuture<'a, Vec<KeyRecord>> {
        Box::pin(async move {
            let identity = identity.map(str::to_owned);
            self.with_conn(LIST, move |conn, path| {
                let err = query_error(path, LIST);
                // `?1 IS NULL` lists everything; one cached statement for both.
                let mut select = conn
                    .conn
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM api_keys
                         WHERE ?1 IS NULL OR identity = ?1
                         ORDER BY created_ms, id"
                    ))
                    .map_err(&err)?;
                let rows = select
                    .query_map([&identity], record_from_row)
                    .map_err(&err)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
            })
            .await
        })
    }

    fn revoke<'a>(&'a self, id: &'a str, now_ms: u64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let now = to_sql_time(now_ms)?;
            let id = id.to_owned();
            self.with_conn(REVOKE, move |conn, path| {
                let err = query_error(path, REVOKE);
                let changed = conn
                    .conn
                    .prepare_cached(
                        "UPDATE api_keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
                    )
                    .map_err(&err)?
                    .execute((&id, now))
                    .map_err(&err)?;
                Ok(changed == 1)
            })
            .await
        })
    }
}
