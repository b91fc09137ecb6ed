//! [`KeyStore`] on PostgreSQL: the `api_keys` table.
//!
//! Text is stored through [`encode_text`] (PostgreSQL text cannot hold NUL,
//! and an id comes from whatever token a client presents). Every operation
//! is a single statement, atomic on its own; `revoke` is one
//! conditional `UPDATE`, so two replicas revoking the same key at once cannot
//! both answer `true` (the second waits for the first's row lock, then finds
//! `revoked_ms` set).

use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use super::{PgState, decode_text, encode_text};
use crate::keys::{KEY_HASH_LEN, KeyRecord, KeyStore};
use crate::{StoreError, StoreFuture};

const CREATE: &str = "create API key";
const GET: &str = "look up API key";
const LIST: &str = "list API keys";
const REVOKE: &str = "revoke API key";

const COLUMNS: &str = "id, identity, key_hash, created_ms, expires_ms, revoked_ms, label";

/// PostgreSQL `BIGINT`s are signed 64-bit.
fn to_sql_time(ms: u64) -> Result<i64, StoreError> {
    i64::try_from(ms).map_err(|_| StoreError::TimeOutOfRange { now_ms: ms })
}

impl PgState {
    fn record_from_row(&self, op: &'static str, row: &Row) -> Result<KeyRecord, StoreError> {
        let err = self.query_error(op);
        let text = |index: usize, column: &str| -> Result<Option<String>, StoreError> {
            row.try_get::<_, Option<String>>(index)
                .map_err(&err)?
                .map(|stored| {
                    decode_text(stored).ok_or_else(|| {
                        self.data_error(
                            op,
                            format!("api_keys.{column} holds an escape Warden never writes"),
                        )
                    })
                })
                .transpose()
        };
        let id =
            text(0, "id")?.ok_or_else(|| self.data_error(op, "api_keys.id is NULL".to_owned()))?;
        let time = |index: usize, column: &str| -> Result<Option<u64>, StoreError> {
            match row.try_get::<_, Option<i64>>(index).map_err(&err)? {
                None => Ok(None),
                Some(ms) => u64::try_from(ms).map(Some).map_err(|_| {
                    self.data_error(op, format!("api_keys.{column} of key {id} is {ms}"))
                }),
            }
        };
        let created_ms = time(3, "created_ms")?.ok_or_else(|| {
            self.data_error(op, format!("api_keys.created_ms of key {id} is NULL"))
        })?;
        let expires_ms = time(4, "expires_ms")?;
        let revoked_ms = time(5, "revoked_ms")?;
        let hash: &[u8] = row.try_get(2).map_err(&err)?;
        // A hash of another length is an error, never a key that matches
        // nothing or everything.
        let hash: [u8; KEY_HASH_LEN] = hash.try_into().map_err(|_| {
            self.data_error(
                op,
                format!("api_keys.key_hash of key {id} has {} bytes", hash.len()),
            )
        })?;
        Ok(KeyRecord {
            identity: text(1, "identity")?.ok_or_else(|| {
                self.data_error(op, format!("api_keys.identity of key {id} is NULL"))
            })?,
            hash,
            created_ms,
            expires_ms,
            revoked_ms,
            label: text(6, "label")?,
            id,
        })
    }
}

impl KeyStore for PgState {
    fn create(&self, record: KeyRecord) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let created = to_sql_time(record.created_ms)?;
            let expires = record.expires_ms.map(to_sql_time).transpose()?;
            let revoked = record.revoked_ms.map(to_sql_time).transpose()?;
            let err = self.query_error(CREATE);
            let client = self.client(CREATE).await?;
            let statement = client
                .prepare_cached(&format!(
                    "INSERT INTO api_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ))
                .await
                .map_err(&err)?;
            let inserted = client
                .execute(
                    &statement,
                    &[
                        &encode_text(&record.id),
                        &encode_text(&record.identity),
                        &&record.hash[..],
                        &created,
                        &expires,
                        &revoked,
                        &record.label.as_deref().map(encode_text),
                    ],
                )
                .await;
            match inserted {
                Ok(_) => Ok(()),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    Err(StoreError::KeyExists { id: record.id })
                }
                Err(e) => Err(err(e)),
            }
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<KeyRecord>> {
        Box::pin(async move {
            let err = self.query_error(GET);
            let client = self.client(GET).await?;
            let statement = client
                .prepare_cached(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"))
                .await
                .map_err(&err)?;
            let row = client
                .query_opt(&statement, &[&encode_text(id)])
                .await
                .map_err(&err)?;
            row.map(|row| self.record_from_row(GET, &row)).transpose()
        })
    }

    fn list<'a>(&'a self, identity: Option<&'a str>) -> StoreFuture<'a, Vec<KeyRecord>> {
        Box::pin(async move {
            let err = self.query_error(LIST);
            let client = self.client(LIST).await?;
            // `$1 IS NULL` lists everything; one prepared statement for both.
            let statement = client
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM api_keys
                     WHERE $1::text IS NULL OR identity = $1
                     ORDER BY created_ms, id COLLATE \"C\""
                ))
                .await
                .map_err(&err)?;
            let rows = client
                .query(&statement, &[&identity.map(encode_text)])
                .await
                .map_err(&err)?;
            rows.iter()
                .map(|row| self.record_from_row(LIST, row))
                .collect()
        })
    }

    fn revoke<'a>(&'a self, id: &'a str, now_ms: u64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let now = to_sql_time(now_ms)?;
            let err = self.query_error(REVOKE);
            let client = self.client(REVOKE).await?;
            let statement = client
                .prepare_cached(
                    "UPDATE api_keys SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL",
                )
                .await
                .map_err(&err)?;
            let changed = client
                .execute(&statement, &[&encode_text(id), &now])
                .await
                .map_err(&err)?;
            Ok(changed == 1)
        })
    }
}
