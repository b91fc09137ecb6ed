//! The embedded default backend: one SQLite file in the state directory.
//!
//! [`SqliteState`] owns the connection and the schema. Each kind of state
//! (counters, API keys, the audit log, approvals and pins) lives in its own
//! submodule that implements its trait on `SqliteState` and
//! adds its tables through a new entry in [`migrations`].
//!
//! # Durability
//!
//! [`SqliteState::open`] commits with `synchronous = NORMAL`: a process crash
//! loses nothing, a power cut may lose the last few commits, which for
//! counters means a few forgotten calls. The audit log must not lose a
//! decision that was answered, so the gateway writes it through a second
//! instance from [`SqliteState::open_audit`], whose commits are on disk
//! (`synchronous = FULL`) before `append` returns. Both work on the same file
//! and every trait; only the cost of a commit differs.
//!
//! # Concurrency
//!
//! One connection per `SqliteState`, behind a `std::sync::Mutex`; every
//! operation runs on tokio's blocking pool so the async executor never waits
//! on disk or on a lock. Several processes (two gateways on one state
//! directory) share the file safely: the database runs in WAL mode, every
//! read-check-write runs in a `BEGIN IMMEDIATE` transaction, which takes the
//! file's write lock before reading so no other connection can interleave,
//! and a connection that finds the lock taken waits up to [`BUSY_TIMEOUT`]
//! before failing with [`StoreError::Busy`].

mod approvals;
mod audit;
mod counters;
mod keys;
pub mod migrations;
mod pins;

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};

use crate::StoreError;

/// Name of the database file inside the state directory.
pub const DB_FILE_NAME: &str = "warden.db";

/// How long an operation waits for another connection's lock before failing
/// with [`StoreError::Busy`]. Default: 5 seconds.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Warden's state in `<state_dir>/warden.db`.
///
/// Cheap to clone: clones share one connection. Implements
/// [`CounterStore`](crate::CounterStore), [`KeyStore`](crate::KeyStore),
/// [`AuditStore`](crate::AuditStore), [`ApprovalStore`](crate::ApprovalStore)
/// and [`PinStore`](crate::PinStore). Separate instances (or processes) on the
/// same directory share all state through the file.
#[derive(Clone)]
pub struct SqliteState {
    inner: Arc<Inner>,
}

struct Inner {
    path: Arc<Path>,
    conn: Mutex<Conn>,
}

/// The connection and the bookkeeping that goes with it; reached only
/// through [`SqliteState::with_conn`].
pub(crate) struct Conn {
    pub(crate) conn: Connection,
    /// `now_ms` at or after which counters next delete expired entries.
    pub(crate) next_prune_ms: u64,
}

impl fmt::Debug for SqliteState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteState")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteState {
    /// Opens (creating if needed) `dir/warden.db`, creating `dir` and its
    /// parents, and brings the schema up to date.
    ///
    /// Sets WAL journaling, `synchronous = NORMAL` and a busy timeout of
    /// [`BUSY_TIMEOUT`]. Blocks on disk I/O: call it at startup, or from
    /// `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`StoreError::CreateDir`] or [`StoreError::Open`] when the directory or
    /// file is unusable, [`StoreError::Migrate`] when the schema cannot be
    /// updated, [`StoreError::SchemaTooNew`] on a file written by a newer
    /// Warden.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, "NORMAL")
    }

    /// Opens the same file as [`open`](Self::open), for the audit writer:
    /// identical but for `synchronous = FULL`, so a committed audit batch
    /// survives a power cut, not only a crash of the process (WAL mode syncs
    /// the log on every commit: one `fsync` per [`append`] batch).
    ///
    /// The gateway keeps one instance from `open` for counters and keys (a
    /// call should not wait on the disk for them) and one from `open_audit`
    /// for the audit log. Any instance can read the log; which one wrote a
    /// record changes only how durable its commit was.
    ///
    /// [`append`]: crate::AuditStore::append
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn open_audit(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, "FULL")
    }

    /// [`open`](Self::open) with the `synchronous` pragma set to `NORMAL` or
    /// `FULL`.
    fn open_with(dir: &Path, synchronous: &str) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        // Canonical, so instances opened as `state` and `./state` recognise
        // each other's reservations.
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let path = dir.join(DB_FILE_NAME);
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(open_err)?;
        // The busy timeout first: switching to WAL needs the lock too.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // WAL lets readers proceed while one writer commits. On file systems
        // without shared memory SQLite keeps its rollback journal; locking
        // stays correct, only slower, so the answer is not checked.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(open_err)?;
        // In WAL mode NORMAL never corrupts; a power cut may lose the last
        // few commits (a few counter entries), which is worth one fsync less
        // per call. The audit connection asks for FULL (see `open_audit`).
        conn.pragma_update(None, "synchronous", synchronous)
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_err)?;
        migrations::migrate(&mut conn, &path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: Arc::from(path),
                conn: Mutex::new(Conn {
                    conn,
                    next_prune_ms: 0,
                }),
            }),
        })
    }

    /// The database file, `<state_dir>/warden.db`.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub(crate) fn shared_path(&self) -> Arc<Path> {
        Arc::clone(&self.inner.path)
    }

    /// Runs `f` with the connection on the blocking pool.
    ///
    /// `op` names the operation in errors. `f` gets the path for its own
    /// error messages.
    pub(crate) async fn with_conn<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn, &Path) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // A panic mid-transaction drops the transaction, which rolls it
            // back, so the connection is consistent and safe to reuse.
            let mut conn = inner.conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn, &inner.path)
        })
        .await
        .map_err(|source| StoreError::Task { op, source })?
    }
}

/// Maps a SQLite error from `op` on `path` to a [`StoreError`], singling out
/// lock timeouts.
pub(crate) fn query_error(path: &Path, op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy {
            path: path.clone(),
            op,
            timeout_ms: u64::try_from(BUSY_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
            source,
        },
        _ => StoreError::Query {
            path: path.clone(),
            op,
            source,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn synchronous(state: &SqliteState) -> i64 {
        state
            .with_conn("read synchronous", |conn, path| {
                conn.conn
                    .query_row("PRAGMA synchronous", [], |row| row.get(0))
                    .map_err(query_error(path, "read synchronous"))
            })
            .await
            .expect("pragma")
    }

    #[tokio::test]
    async fn audit_connection_syncs_every_commit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let normal = SqliteState::open(dir.path()).expect("open");
        let full = SqliteState::open_audit(dir.path()).expect("open audit");
        // 1 is NORMAL, 2 is FULL.
        assert_eq!(synchronous(&normal).await, 1);
        assert_eq!(synchronous(&full).await, 2);
        assert_eq!(normal.path(), full.path(), "one file");
    }
}
