//! A PostgreSQL server for tests, and a fresh schema per test.
//!
//! The server comes from `WARDEN_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`. Tests using it fail, never
//! skip, when it is unreachable: a backend that is not tested is not shipped.

use tokio_postgres::NoTls;
use warden_store::PgState;

pub const URL_ENV: &str = "WARDEN_TEST_POSTGRES_URL";
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn url() -> String {
    std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A schema name no other test (or run) uses.
pub fn fresh_schema_name() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random bytes");
    format!("warden_test_{:016x}", u64::from_be_bytes(bytes))
}

/// Drops its schema when the test ends (pass or fail).
pub struct Schema {
    pub name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on:
        // a thread with a runtime of its own does the work.
        let name = self.name.clone();
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let client = raw().await;
                // This thread blocks the test's runtime: a transaction of the
                // test left open (after a panic) cannot end until it returns,
                // so never wait long for its locks; the schema then stays.
                client
                    .batch_execute(&format!(
                        "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {name} CASCADE"
                    ))
                    .await
            })
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}: {done:?}", self.name);
        }
    }
}

/// A plain connection to the test server, outside any `PgState`.
pub async fn raw() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&url(), NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL for tests ({URL_ENV}, default {DEFAULT_URL}) unreachable: {e:?}")
        });
    tokio::spawn(connection);
    client
}

/// A plain connection whose `search_path` is `schema`.
pub async fn raw_in(schema: &Schema) -> tokio_postgres::Client {
    let client = raw().await;
    client
        .batch_execute(&format!("SET search_path = {}", schema.name))
        .await
        .expect("set search_path");
    client
}

pub async fn connect(schema: &str) -> PgState {
    PgState::connect_with_schema(&url(), schema)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL for tests ({URL_ENV}, default {DEFAULT_URL}) unusable: {e}")
        })
}

/// A store in a fresh schema, and the guard that drops the schema.
pub async fn pg() -> (PgState, Schema) {
    let name = fresh_schema_name();
    let store = connect(&name).await;
    (store, Schema { name })
}

pub async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .await
        .and_then(|row| row.try_get(0))
        .expect(sql)
}
