//! The one error type of this crate.
//!
//! Every variant says where it came from (which file, which operation) and,
//! where there is one, what the operator can do about it. The gateway turns
//! these into denials (fail closed) in exactly one place; this crate never
//! decides what a failure means for a call.

use std::path::PathBuf;

/// The hint appended to errors an operator fixes by choosing or repairing the
/// state directory.
const STATE_DIR_HINT: &str = "check --state-dir / WARDEN_STATE_DIR permissions";

/// Why a state operation failed.
///
/// Marked `#[non_exhaustive]`: later backends (audit, approvals, PostgreSQL,
/// Redis) add variants, so match with a wildcard arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The state directory does not exist and could not be created.
    #[error("cannot create state directory {path}: {source} ({STATE_DIR_HINT})")]
    CreateDir {
        /// The directory that was being created.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The SQLite database file could not be opened or configured.
    #[error("cannot open state database {path}: {source} ({STATE_DIR_HINT})")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },

    /// Bringing the database schema up to date failed.
    #[error(
        "cannot migrate state database {path} to schema version {version}: {source} \
         (the file may be damaged or read-only; {STATE_DIR_HINT})"
    )]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// The schema version that was being applied.
        version: u32,
        /// The underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },

    /// The database was written by a newer Warden whose schema this build does
    /// not know; using it could corrupt state, so it is refused.
    #[error(
        "state database {path} has schema version {found}, newer than this build supports \
         ({supported}); upgrade warden or point --state-dir / WARDEN_STATE_DIR at another directory"
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
        /// The newest version this build knows.
        supported: u32,
    },

    /// Another process held the database lock for longer than the busy
    /// timeout.
    #[error(
        "state database {path} stayed locked by another process for more than {timeout_ms} ms \
         during {op} (is another warden using the same --state-dir under heavy load?); \
         the call was not counted, retry it"
    )]
    Busy {
        /// The database file.
        path: PathBuf,
        /// The operation that waited.
        op: &'static str,
        /// How long it waited.
        timeout_ms: u64,
        /// The underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },

    /// A query against the database failed.
    #[error(
        "state database {path}: {op} failed: {source} (check free disk space; {STATE_DIR_HINT})"
    )]
    Query {
        /// The database file.
        path: PathBuf,
        /// The operation that failed, e.g. `"reserve counters"`.
        op: &'static str,
        /// The underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },

    /// A limit check cannot be evaluated (a bug or a hostile value upstream of
    /// the store: a negative amount would otherwise *create* room).
    #[error("invalid limit check #{index} for counter {key:?}: {problem}")]
    InvalidCheck {
        /// Position of the check in the slice passed to `reserve`.
        index: usize,
        /// The check's counter key.
        key: String,
        /// What is wrong with it.
        problem: &'static str,
    },

    /// A time value does not fit the backend's storage (SQLite stores signed
    /// 64-bit integers).
    #[error("time {now_ms} ms is out of range for the state store (clock misconfigured?)")]
    TimeOutOfRange {
        /// The rejected `now_ms`.
        now_ms: u64,
    },

    /// A number does not fit the backend's integers (SQLite and PostgreSQL
    /// store signed 64-bit ones); nothing was written.
    #[error(
        "{what} is {value}, more than the state store can hold ({}); nothing was written \
         (a clock or a counter upstream of the store is wrong)",
        i64::MAX
    )]
    ValueOutOfRange {
        /// Which value, e.g. `"audit entry #3 of the batch: latency_us"`.
        what: String,
        /// The rejected value.
        value: u64,
    },

    /// A reservation was handed to a store that did not make it; rolling it
    /// back there would delete someone else's entries.
    #[error("reservation was made by {made_by} and cannot be rolled back by {rolled_back_by}")]
    ForeignReservation {
        /// The store that made the reservation.
        made_by: String,
        /// The store asked to roll it back.
        rolled_back_by: String,
    },

    /// An API key with this id already exists; nothing was stored. Ids are
    /// random, so this means a collision (make a new key) or a record
    /// written twice.
    #[error("an API key with id {id} already exists; create a new key")]
    KeyExists {
        /// The id that is taken.
        id: String,
    },

    /// An approval with this id already exists; nothing was stored. Ids are
    /// random, so this means a collision (ask again) or a request written twice.
    #[error("an approval with id {id} already exists; nothing was stored")]
    ApprovalExists {
        /// The id that is taken.
        id: String,
    },

    /// The blocking task running a database operation panicked or was
    /// cancelled.
    #[error("state store task for {op} did not finish: {source}")]
    Task {
        /// The operation that was running.
        op: &'static str,
        /// The join error from tokio.
        #[source]
        source: tokio::task::JoinError,
    },

    /// The operating system's random number generator failed; there is no
    /// safe fallback for a secret salt.
    #[error("the operating system's random number generator failed: {message}")]
    Random {
        /// What the OS said.
        message: String,
    },

    /// The PostgreSQL state URL cannot be used as given (unparsable, asks for
    /// TLS, or names an invalid schema). `server` is the URL with any
    /// password replaced by `***`.
    #[error("PostgreSQL state URL {server}: {problem}")]
    PgConfig {
        /// The server, as the URL names it, password redacted.
        server: String,
        /// What is wrong and how to fix it.
        problem: String,
    },

    /// No connection to the PostgreSQL server could be made (at startup, or
    /// when the pool had to open a new one).
    #[error(
        "cannot connect to PostgreSQL at {server}: {} (is the server running and \
         reachable? check host, port, user, password and database in the state URL)",
        pg_detail(.source)
    )]
    PgConnect {
        /// The server: `user@host:port/database`, never the password.
        server: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// Every pooled connection stayed busy, or the pool is closed.
    #[error(
        "PostgreSQL at {server}: no connection free for {op}: {problem} (the gateway is \
         waiting on a slow server or holds more concurrent calls than the pool has \
         connections; the call was not counted, retry it)"
    )]
    PgPool {
        /// The server: `user@host:port/database`.
        server: String,
        /// The operation that waited.
        op: &'static str,
        /// What the pool said.
        problem: String,
    },

    /// A statement against PostgreSQL failed.
    #[error(
        "PostgreSQL at {server}: {op} failed: {} (check the server's log and that the \
         state user may read and write Warden's tables)",
        pg_detail(.source)
    )]
    PgQuery {
        /// The server: `user@host:port/database`.
        server: String,
        /// The operation that failed, e.g. `"reserve counters"`.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// Bringing the PostgreSQL schema up to date failed.
    #[error(
        "cannot migrate PostgreSQL state at {server} to schema version {version}: {} \
         (the state user needs CREATE on the database, or on the schema it uses)",
        pg_detail(.source)
    )]
    PgMigrate {
        /// The server: `user@host:port/database`.
        server: String,
        /// The schema version that was being applied.
        version: u32,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// The PostgreSQL schema was written by a newer Warden; using it could
    /// corrupt state shared with those replicas, so it is refused.
    #[error(
        "PostgreSQL state at {server} (schema {schema}) has schema version {found}, newer \
         than this build supports ({supported}); upgrade warden, or point the state URL at \
         another database"
    )]
    PgSchemaTooNew {
        /// The server: `user@host:port/database`.
        server: String,
        /// The PostgreSQL schema holding Warden's tables.
        schema: String,
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        supported: u32,
    },

    /// A row read from PostgreSQL holds a value no Warden writes (a negative
    /// time, a hash of the wrong length): the table was edited by hand or is
    /// damaged.
    #[error(
        "PostgreSQL at {server}: {op} read a value Warden never writes: {problem} \
         (was the table edited by hand? restore it from a backup)"
    )]
    PgData {
        /// The server: `user@host:port/database`.
        server: String,
        /// The operation that read it.
        op: &'static str,
        /// Which column of which row, and what it holds.
        problem: String,
    },
}

/// The driver's error with its causes: `tokio_postgres::Error` displays only
/// its kind ("db error"), which tells an operator nothing; the server's
/// message (with its SQLSTATE) or the I/O cause is what they need.
fn pg_detail(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            text.push_str("; ");
            text.push_str(detail);
        }
        if let Some(hint) = db.hint() {
            text.push_str("; hint: ");
            text.push_str(hint);
        }
        return text;
    }
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
