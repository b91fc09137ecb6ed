//! The PostgreSQL schema, as an ordered list of migrations mirroring
//! SQLite's (same versions, same meaning, PostgreSQL types).
//!
//! The table `schema_version` holds one row per applied migration.
//! Connecting applies the missing ones in one transaction that first takes
//! the database-wide advisory lock [`MIGRATION_LOCK`]
//! (`pg_advisory_xact_lock`), so replicas starting at once apply each
//! migration exactly once: the second waits, then finds nothing to do. The
//! schema named by [`PgState::connect_with_schema`](super::PgState) is
//! created inside that same transaction, since `CREATE SCHEMA IF NOT EXISTS`
//! alone can still fail when two sessions race it.
//!
//! Migrations are append-only: never edit one that has shipped; add the next
//! version instead.

use deadpool_postgres::Object;

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

/// The advisory lock key migrations hold (`pg_advisory_xact_lock`): the bytes
/// of `"wardenMG"`. Database-wide, so replicas on one database never migrate
/// at once, whatever schema they use.
pub const MIGRATION_LOCK: i64 = i64::from_be_bytes(*b"wardenMG");

/// How long a starting replica waits for another one's migration.
const MIGRATION_LOCK_TIMEOUT: &str = "60s";

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "counter entries (sliding-window log)",
        // store_identity: one random id per schema, so a reservation made by
        // one replica can be rolled back by another but never by a store on
        // another database (see counters::Origin).
        // BIGSERIAL: ids come from a sequence and are never reused, so
        // rolling back a stale reservation handle cannot delete a newer
        // entry. expires_ms: at_ms + the largest window seen for the key;
        // sweeps delete rows with expires_ms <= now through its own index.
        // warden_lock_counters: takes the given advisory locks one by one in
        // array order (the caller sorts them), which a PL/pgSQL loop
        // guarantees and a set-returning SELECT does not.
        sql: "
        CREATE TABLE store_identity (
            only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
            store_id TEXT    NOT NULL
        );
        INSERT INTO store_identity (store_id) VALUES (gen_random_uuid()::text);
        CREATE TABLE counter_entries (
            id         BIGSERIAL        PRIMARY KEY,
            key        TEXT             NOT NULL,
            at_ms      BIGINT           NOT NULL,
            amount     DOUBLE PRECISION NOT NULL,
            expires_ms BIGINT           NOT NULL
        );
        CREATE INDEX counter_entries_key_at ON counter_entries (key, at_ms);
        CREATE INDEX counter_entries_expires ON counter_entries (expires_ms);
        CREATE FUNCTION warden_lock_counters(lock_ids BIGINT[]) RETURNS VOID
        LANGUAGE plpgsql AS $$
        DECLARE
            lock_id BIGINT;
        BEGIN
            FOREACH lock_id IN ARRAY lock_ids LOOP
                PERFORM pg_advisory_xact_lock(lock_id);
            END LOOP;
        END
        $$;
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
            id         TEXT   PRIMARY KEY,
            identity   TEXT   NOT NULL,
            key_hash   BYTEA  NOT NULL CHECK (octet_length(key_hash) = 32),
            created_ms BIGINT NOT NULL,
            expires_ms BIGINT,
            revoked_ms BIGINT,
            label      TEXT
        );
        CREATE INDEX api_keys_identity ON api_keys (identity, created_ms);
    ",
    },
    Migration {
        version: 3,
        description: "audit log (hash chain, head, checkpoints, salt)",
        // audit_records: one row per AuditRecord; times in ms, hashes as
        // 32 bytes, argument_keys as text[] in the entry's order. `grant` is
        // a reserved word, hence grant_name.
        // audit_head: the one row every append locks (FOR UPDATE), so
        // replicas build one linear chain; it holds the last (seq, hash)
        // written (0 and the anchor's hash before any) and the anchor where
        // verification starts. Because appends continue from the head row,
        // a tail record deleted by hand leaves a gap verification reports
        // instead of a seq silently reused.
        sql: "
        CREATE TABLE audit_records (
            seq           BIGINT PRIMARY KEY CHECK (seq >= 1),
            prev_hash     BYTEA  NOT NULL CHECK (octet_length(prev_hash) = 32),
            hash          BYTEA  NOT NULL CHECK (octet_length(hash) = 32),
            time_ms       BIGINT NOT NULL,
            event         TEXT   NOT NULL,
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
            argument_keys TEXT[] NOT NULL,
            arguments     TEXT,
            outcome       TEXT,
            result_bytes  BIGINT,
            latency_us    BIGINT,
            detail        TEXT
        );
        CREATE INDEX audit_records_time ON audit_records (time_ms);
        CREATE INDEX audit_records_identity ON audit_records (identity, seq);
        CREATE INDEX audit_records_tool ON audit_records (tool, seq);
        CREATE INDEX audit_records_event ON audit_records (event, seq);
        CREATE TABLE audit_head (
            only_row    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
            seq         BIGINT  NOT NULL,
            hash        BYTEA   NOT NULL CHECK (octet_length(hash) = 32),
            anchor_seq  BIGINT  NOT NULL,
            anchor_hash BYTEA   NOT NULL CHECK (octet_length(anchor_hash) = 32)
        );
        INSERT INTO audit_head (seq, hash, anchor_seq, anchor_hash)
        VALUES (0, decode(repeat('00', 32), 'hex'), 1, decode(repeat('00', 32), 'hex'));
        CREATE TABLE audit_checkpoints (
            seq        BIGINT PRIMARY KEY,
            hash       BYTEA  NOT NULL CHECK (octet_length(hash) = 32),
            time_ms    BIGINT NOT NULL,
            public_key BYTEA  NOT NULL CHECK (octet_length(public_key) = 32),
            signature  BYTEA  NOT NULL CHECK (octet_length(signature) = 64)
        );
        CREATE TABLE audit_salt (
            only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
            salt     BYTEA   NOT NULL CHECK (octet_length(salt) = 32)
        );
    ",
    },
    Migration {
        version: 4,
        description: "approvals (held calls, their answers and uses)",
        // As SQLite's: one column per ApprovalRequest field, then the state;
        // approvers as text[] in the request's order (like audit
        // argument_keys); times in ms, NULL until they apply. Rows are never
        // deleted: the inbox is also the history.
        //
        // approvals_status_created serves list by status (ids compared
        // bytewise, as every ordering here) and the expiry sweep;
        // approvals_claim finds the approvals an identical call may claim.
        sql: "
        CREATE TABLE approvals (
            id             TEXT    PRIMARY KEY,
            created_ms     BIGINT  NOT NULL,
            expires_ms     BIGINT  NOT NULL,
            identity       TEXT    NOT NULL,
            grant_name     TEXT    NOT NULL,
            server         TEXT    NOT NULL,
            session        TEXT,
            tool           TEXT    NOT NULL,
            digest         TEXT    NOT NULL,
            arguments      TEXT    NOT NULL,
            rule           TEXT    NOT NULL,
            reason         TEXT    NOT NULL,
            approvers      TEXT[]  NOT NULL,
            mode           TEXT    NOT NULL,
            valid_for_ms   BIGINT  NOT NULL,
            status         TEXT    NOT NULL
                CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
            decided_by     TEXT,
            decided_ms     BIGINT,
            comment        TEXT,
            valid_until_ms BIGINT,
            single_use     BOOLEAN NOT NULL,
            uses           BIGINT  NOT NULL CHECK (uses >= 0),
            last_used_ms   BIGINT
        );
        CREATE INDEX approvals_status_created
            ON approvals (status, created_ms, id COLLATE \"C\");
        CREATE INDEX approvals_claim ON approvals (grant_name, tool, digest);
    ",
    },
    Migration {
        version: 5,
        description: "definition pins (rug-pull protection)",
        // As SQLite's. server and tool are COLLATE "C", so the primary
        // key's index compares bytewise and serves the listing order (server,
        // then tool) as well as every lookup.
        sql: "
        CREATE TABLE pins (
            server               TEXT   COLLATE \"C\" NOT NULL,
            tool                 TEXT   COLLATE \"C\" NOT NULL,
            fingerprint          TEXT   NOT NULL,
            definition           TEXT   NOT NULL,
            status               TEXT   NOT NULL CHECK (status IN ('approved', 'pending')),
            first_seen_ms        BIGINT NOT NULL,
            changed_ms           BIGINT NOT NULL,
            approved_ms          BIGINT,
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
        // As SQLite's: one row per key with entries, kept by row triggers on
        // counter_entries in the transaction that changes them. Every writer
        // of a key's entries holds the key's advisory lock (reservations,
        // rollbacks, and now the sweep, which only takes locks that are free),
        // so no two transactions ever wait on each other for a summary row.
        // The triggers come before the fill: creating them locks
        // counter_entries against writes until this migration commits, so
        // no entry written by a replica still running the previous build is
        // missed by both. The functions keep this schema's search_path.
        sql: "
        CREATE TABLE counter_keys (
            key     TEXT             PRIMARY KEY,
            total   DOUBLE PRECISION NOT NULL,
            entries BIGINT           NOT NULL,
            keep_ms BIGINT           NOT NULL,
            slack   DOUBLE PRECISION NOT NULL
        );
        CREATE FUNCTION warden_counter_entry_added() RETURNS trigger
        LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
        BEGIN
            INSERT INTO counter_keys AS k (key, total, entries, keep_ms, slack)
            VALUES (NEW.key, NEW.amount, 1, NEW.expires_ms - NEW.at_ms, 0)
            ON CONFLICT (key) DO UPDATE SET
                total = k.total + EXCLUDED.total,
                entries = k.entries + 1,
                keep_ms = GREATEST(k.keep_ms, EXCLUDED.keep_ms),
                slack = k.slack
                    + abs(k.total + EXCLUDED.total) * 2.220446049250313e-16::float8;
            RETURN NULL;
        END
        $$;
        CREATE FUNCTION warden_counter_entry_removed() RETURNS trigger
        LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
        BEGIN
            DELETE FROM counter_keys WHERE key = OLD.key AND entries <= 1;
            UPDATE counter_keys SET
                total = total - OLD.amount,
                entries = entries - 1,
                slack = slack + abs(total - OLD.amount) * 2.220446049250313e-16::float8
            WHERE key = OLD.key;
            RETURN NULL;
        END
        $$;
        CREATE FUNCTION warden_counter_entry_extended() RETURNS trigger
        LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
        BEGIN
            UPDATE counter_keys SET keep_ms = GREATEST(keep_ms, NEW.expires_ms - NEW.at_ms)
            WHERE key = NEW.key;
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER counter_entries_added AFTER INSERT ON counter_entries
            FOR EACH ROW EXECUTE FUNCTION warden_counter_entry_added();
        CREATE TRIGGER counter_entries_removed AFTER DELETE ON counter_entries
            FOR EACH ROW EXECUTE FUNCTION warden_counter_entry_removed();
        CREATE TRIGGER counter_entries_extended AFTER UPDATE OF expires_ms ON counter_entries
            FOR EACH ROW EXECUTE FUNCTION warden_counter_entry_extended();
        INSERT INTO counter_keys (key, total, entries, keep_ms, slack)
        SELECT key, SUM(amount), COUNT(*), MAX(expires_ms - at_ms),
               SUM(amount) * (COUNT(*) + 2) * 4.440892098500626e-16::float8
        FROM counter_entries GROUP BY key;
    ",
    },
];

/// The schema version this build writes.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// What [`migrate`] found.
#[derive(Debug)]
pub(crate) struct Applied {
    /// The schema holding the tables.
    pub(crate) schema: String,
    /// Its store id (table `store_identity`).
    pub(crate) store_id: String,
}

/// Creates `schema` when given, and applies missing migrations.
pub(crate) async fn migrate(
    client: &mut Object,
    server: &str,
    schema: Option<&str>,
) -> Result<Applied, StoreError> {
    let latest = latest_version();
    let tx = client
        .transaction()
        .await
        .map_err(migrate_error(server, latest))?;
    match apply(&tx, server, schema).await {
        Ok(applied) => {
            tx.commit().await.map_err(migrate_error(server, latest))?;
            Ok(applied)
        }
        Err(e) => {
            // Roll back now rather than on drop: a failed connect drops the
            // pool at once, and with it the connection task that would send
            // the rollback, leaving the migration lock held until the server
            // notices the socket is gone.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

fn migrate_error(server: &str, version: u32) -> impl Fn(tokio_postgres::Error) -> StoreError {
    let server = server.to_owned();
    move |source| StoreError::PgMigrate {
        server: server.clone(),
        version,
        source,
    }
}

async fn apply(
    tx: &deadpool_postgres::Transaction<'_>,
    server: &str,
    schema: Option<&str>,
) -> Result<Applied, StoreError> {
    let latest = latest_version();
    let fail = |version: u32| migrate_error(server, version);
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = '{MIGRATION_LOCK_TIMEOUT}'"
    ))
    .await
    .map_err(fail(latest))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(fail(latest))?;
    if let Some(schema) = schema {
        // Validated by the caller: a plain lowercase identifier.
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await
            .map_err(fail(latest))?;
    }
    let current_schema: Option<String> = tx
        .query_one("SELECT current_schema()::text", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(fail(latest))?;
    let Some(current_schema) = current_schema else {
        return Err(StoreError::PgConfig {
            server: server.to_owned(),
            problem: "the connection's search_path names no existing schema, so there is \
                      nowhere to create Warden's tables; create one, or set search_path \
                      for the state user"
                .to_owned(),
        });
    };
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version     INTEGER PRIMARY KEY,
            description TEXT    NOT NULL
        )",
    )
    .await
    .map_err(fail(latest))?;
    let found: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::bigint FROM schema_version",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(fail(latest))?;
    if found > i64::from(latest) {
        return Err(StoreError::PgSchemaTooNew {
            server: server.to_owned(),
            schema: current_schema,
            found,
            supported: latest,
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| i64::from(m.version) > found) {
        let version = fail(migration.version);
        tx.batch_execute(migration.sql).await.map_err(&version)?;
        let number = i32::try_from(migration.version).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO schema_version (version, description) VALUES ($1, $2)",
            &[&number, &migration.description],
        )
        .await
        .map_err(&version)?;
    }
    let store_id: String = tx
        .query_one("SELECT store_id FROM store_identity", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(fail(latest))?;
    Ok(Applied {
        schema: current_schema,
        store_id,
    })
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

    #[test]
    fn versions_match_sqlite() {
        // The two backends describe the same state; a version added to one
        // is added to the other.
        let sqlite = crate::sqlite::migrations::MIGRATIONS;
        for (pg, sq) in MIGRATIONS.iter().zip(sqlite) {
            assert_eq!(pg.version, sq.version);
        }
    }
}
