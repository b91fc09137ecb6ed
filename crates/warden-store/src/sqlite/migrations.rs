//! The SQLite schema, as an ordered list of migrations.
//!
//! The table `schema_version` holds one row per applied migration. Opening a
//! database applies the missing ones in one `BEGIN IMMEDIATE` transaction, so
//! two processes opening a fresh directory at once cannot both apply them.
//! Migrations are append-only: never edit one that has shipped; add the next
//! version instead.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::StoreError;

/// One schema step.
#[derive(Debug)]
pub struct Migration {
    /// Version reached after applying it; consecutive from 1.
    pub version: u32,
    /// What it adds, recorded in `schema_version`.
    pub description: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "counter entries (sliding-window log)",
        // AUTOINCREMENT: ids of deleted rows are never reused, so rolling back a
        // stale reservation handle cannot delete a newer entry.
        // expires_ms: at_ms + the largest window seen for the key; pruning
        // deletes rows with expires_ms <= now through its own index.
        sql: "
        CREATE TABLE counter_entries (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            key        TEXT    NOT NULL,
            at_ms      INTEGER NOT NULL,
            amount     REAL    NOT NULL,
            expires_ms INTEGER NOT NULL
        );
        CREATE INDEX counter_entries_key_at ON counter_entries (key, at_ms);
        CREATE INDEX counter_entries_expires ON counter_entries (expires_ms);
    ",
    },
    Migration {
        version: 2,
        description: "API keys (hashed, never the key itself)",
        // key_hash: SHA-256 of the whole key string, 32 bytes. expires_ms and
        // revoked_ms are NULL while they do not apply. Rows are never
        // deleted, so audit entries can always be traced to an identity.
        sql: "
        CREATE TABLE api_keys (
            id         TEXT    PRIMARY KEY NOT NULL,
            identity   TEXT    NOT NULL,
            key_hash   BLOB    NOT NULL CHECK (length(key_hash) = 32),
            created_ms INTEGER NOT NULL,
            expires_ms INTEGER,
            revoked_ms INTEGER,
            label      TEXT
        );
        CREATE INDEX api_keys_identity ON api_keys (identity, created_ms);
    ",
    },
    Migration {
        version: 3,
        description: "audit log (hash-chained records, anchor and salt, checkpoints)",
        // audit_records: one column per AuditEntry field, in its order.
        // seq is the rowid, assigned as head + 1 inside the appending
        // transaction (never AUTOINCREMENT: numbers must stay consecutive).
        // grant_name: `grant` is reserved in PostgreSQL; one name for both
        // schemas. argument_keys: a JSON array of strings. Each filter of
        // AuditQuery has an index; an index on a rowid table ends with the
        // rowid, so `WHERE tool = ? ORDER BY seq` reads one index in order.
        //
        // audit_meta: one row. The anchor (where verification starts) and
        // the salt for hashed argument values, NULL until first asked for and
        // then set once by whichever connection gets there first.
        //
        // audit_checkpoints: signed statements "record seq has this hash",
        // stored as given.
        sql: "
        CREATE TABLE audit_records (
            seq           INTEGER PRIMARY KEY NOT NULL,
            prev_hash     BLOB    NOT NULL CHECK (length(prev_hash) = 32),
            hash          BLOB    NOT NULL CHECK (length(hash) = 32),
            time_ms       INTEGER NOT NULL,
            event         TEXT    NOT NULL,
            identity      TEXT,
            grant_name    TEXT,
            server        TEXT,
            session       TEXT,
            request_id    TEXT,
            method        TEXT,
            tool          TEXT,
            decision      TEXT,
            rule          TEXT,
            reason        TEXT,
            argument_keys TEXT    NOT NULL,
            arguments     TEXT,
            outcome       TEXT,
            result_bytes  INTEGER,
            latency_us    INTEGER,
            detail        TEXT
        );
        CREATE INDEX audit_records_time ON audit_records (time_ms);
        CREATE INDEX audit_records_identity ON audit_records (identity);
        CREATE INDEX audit_records_server ON audit_records (server);
        CREATE INDEX audit_records_tool ON audit_records (tool);
        CREATE INDEX audit_records_decision ON audit_records (decision);
        CREATE INDEX audit_records_event ON audit_records (event);

        CREATE TABLE audit_meta (
            id               INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
            anchor_first_seq INTEGER NOT NULL,
            anchor_prev_hash BLOB    NOT NULL CHECK (length(anchor_prev_hash) = 32),
            salt             BLOB    CHECK (salt IS NULL OR length(salt) = 32)
        );
        INSERT INTO audit_meta (id, anchor_first_seq, anchor_prev_hash)
        VALUES (1, 1, zeroblob(32));

        CREATE TABLE audit_checkpoints (
            seq        INTEGER PRIMARY KEY NOT NULL,
            hash       BLOB    NOT NULL CHECK (length(hash) = 32),
            time_ms    INTEGER NOT NULL,
            public_key BLOB    NOT NULL CHECK (length(public_key) = 32),
            signature  BLOB    NOT NULL CHECK (length(signature) = 64)
        );
    ",
    },
    Migration {
        version: 4,
        description: "approvals (held calls, their answers and uses)",
        // One column per ApprovalRequest field, then the state. grant_name:
        // `grant` is reserved in PostgreSQL; one name for both schemas.
        // approvers: a JSON array of strings. Times in ms; decided_ms,
        // valid_until_ms and last_used_ms are NULL until they apply.
        // single_use is 0 or 1. Rows are never deleted: the inbox is also
        // the history.
        //
        // approvals_status_created serves list (by status, oldest first) and
        // the expiry sweep (status = 'pending'); approvals_claim finds the
        // approvals an identical call may claim.
        sql: "
        CREATE TABLE approvals (
            id             TEXT    PRIMARY KEY NOT NULL,
            created_ms     INTEGER NOT NULL,
            expires_ms     INTEGER NOT NULL,
            identity       TEXT    NOT NULL,
            grant_name     TEXT    NOT NULL,
            server         TEXT    NOT NULL,
            session        TEXT,
            tool           TEXT    NOT NULL,
            digest         TEXT    NOT NULL,
            arguments      TEXT    NOT NULL,
            rule           TEXT    NOT NULL,
            reason         TEXT    NOT NULL,
            approvers      TEXT    NOT NULL,
            mode           TEXT    NOT NULL,
            valid_for_ms   INTEGER NOT NULL,
            status         TEXT    NOT NULL
                CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
            decided_by     TEXT,
            decided_ms     INTEGER,
            comment        TEXT,
            valid_until_ms INTEGER,
            single_use     INTEGER NOT NULL CHECK (single_use IN (0, 1)),
            uses           INTEGER NOT NULL CHECK (uses >= 0),
            last_used_ms   INTEGER
        );
        CREATE INDEX approvals_status_created ON approvals (status, created_ms, id);
        CREATE INDEX approvals_claim ON approvals (grant_name, tool, digest);
    ",
    },
    Migration {
        version: 5,
        description: "definition pins (rug-pull protection)",
        // One row per (server, tool): the definition last observed (canonical
        // JSON) and its fingerprint (lowercase hex SHA-256), whether it is
        // approved or pending, and the definition approved last (NULL for a
        // new tool never approved), so a changed tool keeps both. Times in ms;
        // approved_ms and approved_by are NULL until something is approved.
        // The primary key's index serves every lookup and the listing order
        // (server, then tool, compared bytewise).
        sql: "
        CREATE TABLE pins (
            server               TEXT    NOT NULL,
            tool                 TEXT    NOT NULL,
            fingerprint          TEXT    NOT NULL,
            definition           TEXT    NOT NULL,
            status               TEXT    NOT NULL CHECK (status IN ('approved', 'pending')),
            first_seen_ms        INTEGER NOT NULL,
            changed_ms           INTEGER NOT NULL,
            approved_ms          INTEGER,
            approved_by          TEXT,
            approved_fingerprint TEXT,
            approved_definition  TEXT,
            PRIMARY KEY (server, tool)
        );
    ",
    },
    Migration {
        version: 6,
        description: "counter key summaries (a reservation with room reads no entries)",
        // One row per key that has entries in counter_entries: their number, the
        // sum of their amounts, how long they are kept (expires_ms - at_ms, the
        // largest window seen for the key), and slack, a bound on how far total
        // may have drifted from the exact sum through floating-point rounding.
        // Triggers keep it in the same statement as every change to
        // counter_entries, whoever makes it (a reservation, a rollback, the
        // sweep, or a process of an older build that opened the file before
        // this migration and still runs),
        // so it is the aggregate of the entries by construction. Rows of
        // counter_entries are only inserted and deleted, and their expires_ms
        // extended; nothing updates their key or amount.
        //
        // slack grows by one unit of rounding (2^-52, twice the most an IEEE
        // addition can be off) of the new total per change, and starts at 0
        // when a key's first entry arrives: the row goes with the key's last
        // entry. The fill below sums with TOTAL, whose error on n non-negative
        // amounts stays below (n + 2) units of rounding of the total; twice
        // that is the starting slack.
        sql: "
        CREATE TABLE counter_keys (
            key     TEXT    PRIMARY KEY NOT NULL,
            total   REAL    NOT NULL,
            entries INTEGER NOT NULL,
            keep_ms INTEGER NOT NULL,
            slack   REAL    NOT NULL
        ) WITHOUT ROWID;

        INSERT INTO counter_keys (key, total, entries, keep_ms, slack)
        SELECT key, TOTAL(amount), COUNT(*), MAX(expires_ms - at_ms),
               TOTAL(amount) * (COUNT(*) + 2) * 4.440892098500626e-16
        FROM counter_entries GROUP BY key;

        CREATE TRIGGER counter_entries_insert AFTER INSERT ON counter_entries BEGIN
            INSERT INTO counter_keys (key, total, entries, keep_ms, slack)
            VALUES (new.key, new.amount, 1, new.expires_ms - new.at_ms, 0.0)
            ON CONFLICT (key) DO UPDATE SET
                total = total + excluded.total,
                entries = entries + 1,
                keep_ms = MAX(keep_ms, excluded.keep_ms),
                slack = slack + ABS(total + excluded.total) * 2.220446049250313e-16;
        END;

        CREATE TRIGGER counter_entries_delete AFTER DELETE ON counter_entries BEGIN
            DELETE FROM counter_keys WHERE key = old.key AND entries <= 1;
            UPDATE counter_keys SET
                total = total - old.amount,
                entries = entries - 1,
                slack = slack + ABS(total - old.amount) * 2.220446049250313e-16
            WHERE key = old.key;
        END;

        CREATE TRIGGER counter_entries_extend AFTER UPDATE OF expires_ms ON counter_entries BEGIN
            UPDATE counter_keys SET keep_ms = MAX(keep_ms, new.expires_ms - new.at_ms)
            WHERE key = new.key;
        END;
    ",
    },
];

/// The schema version this build writes.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Applies missing migrations; returns the resulting version.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<u32, StoreError> {
    let latest = latest_version();
    let fail = |version: u32| {
        move |source| StoreError::Migrate {
            path: path.to_path_buf(),
            version,
            source,
        }
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail(latest))?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version     INTEGER PRIMARY KEY NOT NULL,
            description TEXT    NOT NULL
        )",
    )
    .map_err(fail(latest))?;
    let current: i64 = tx
        .query_row("SELECT MAX(version) FROM schema_version", [], |row| {
            row.get::<_, Option<i64>>(0)
        })
        .optional()
        .map_err(fail(latest))?
        .flatten()
        .unwrap_or(0);
    if current > i64::from(latest) {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found: current,
            supported: latest,
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| i64::from(m.version) > current) {
        tx.execute_batch(migration.sql)
            .map_err(fail(migration.version))?;
        tx.execute(
            "INSERT INTO schema_version (version, description) VALUES (?1, ?2)",
            (migration.version, migration.description),
        )
        .map_err(fail(migration.version))?;
    }
    tx.commit().map_err(fail(latest))?;
    Ok(latest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.description);
        }
    }
}
