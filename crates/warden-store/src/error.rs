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
}
