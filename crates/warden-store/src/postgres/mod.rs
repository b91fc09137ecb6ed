//! The scale-out backend: Warden's state in a PostgreSQL database shared by
//! every gateway replica (`state = "postgres://..."` in the configuration).
//!
//! [`PgState`] owns a small connection pool and the schema. Like
//! [`SqliteState`](crate::SqliteState), each kind of state lives in a
//! submodule implementing its trait on `PgState`, with its tables added by a
//! migration in [`migrations`]; the two backends pass the same test suites.
//!
//! # Connecting
//!
//! [`PgState::connect`] takes a libpq-style URL
//! (`postgres://user:password@host:5432/database`, or `host=... user=...`)
//! and uses the tables in the connection's current schema (normally
//! `public`). [`PgState::connect_with_schema`] keeps Warden's tables in a
//! schema of their own, created if missing, by setting `search_path` on
//! every pooled connection; tests use it to isolate each case.
//!
//! **TLS is not supported yet.** A URL asking for it (`sslmode=require`,
//! `verify-ca` or `verify-full`) is refused with [`StoreError::PgConfig`]
//! rather than silently sending credentials and state in clear text;
//! `sslmode=prefer` (the default) and `disable` connect without TLS. Run
//! the database on the same host or a private network, or through a local
//! TLS tunnel, until it is.
//!
//! Passwords never appear in errors or `Debug` output: the server is named
//! `user@host:port/database`.
//!
//! # The pool
//!
//! [`deadpool_postgres`]: [`POOL_SIZE`] connections at most, opened on
//! demand, each checked before reuse, waiting at most [`POOL_TIMEOUT`] for a
//! free connection or a new one. It is a small, widely used crate on top of
//! the same driver, and handing a connection back correctly when a task is
//! cancelled mid-transaction is exactly the kind of code not worth owning.
//!
//! Every connection also sets `lock_timeout` to [`LOCK_TIMEOUT`] (unless the
//! URL's `options` set one), so a replica never waits forever behind another
//! that stopped answering while holding a lock: the operation fails, and the
//! gateway fails closed.
//!
//! # Concurrency
//!
//! Several replicas share one database, and every read-check-write runs in
//! one transaction that first takes the lock it needs:
//!
//! - counters: one transaction-scoped advisory lock per key
//!   (`pg_advisory_xact_lock`), always taken in sorted order so two
//!   reservations can never deadlock; reservations on other keys run in
//!   parallel;
//! - the audit log: the one row of `audit_head` (`SELECT ... FOR UPDATE`),
//!   so replicas append to one linear chain;
//! - approvals: the approval's own row (`SELECT ... FOR UPDATE` to decide
//!   or claim it; the expiry sweep skips locked rows), so one decision and
//!   one claim of a single-use approval win, and each expiry is returned
//!   once;
//! - pins: one transaction-scoped advisory lock per server, taken by every
//!   transaction that writes the server's pins, so an observation reads and
//!   writes them as one step and each change is reported once;
//! - migrations: one database-wide advisory lock (see [`migrations`]).
//!
//! Each submodule's source documents its locking in full.

mod approvals;
mod audit;
mod counters;
mod keys;
pub mod migrations;
mod pins;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime, TimeoutType,
};
use tokio_postgres::NoTls;
use tokio_postgres::config::{Host, SslMode};

use crate::StoreError;
use crate::counters::PgOrigin;

/// Most connections one [`PgState`] opens. Default: 8, enough for a gateway
/// on a few cores; every operation holds one for a single short transaction.
pub const POOL_SIZE: usize = 8;

/// How long an operation waits for a pooled connection, and how long opening
/// one may take. Default: 5 seconds, like SQLite's busy timeout.
pub const POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a statement waits for a lock held by another replica before
/// failing. Default: 5 seconds.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// Warden's state in a PostgreSQL database.
///
/// Cheap to clone: clones share one pool. Implements
/// [`CounterStore`](crate::CounterStore), [`KeyStore`](crate::KeyStore),
/// [`AuditStore`](crate::AuditStore), [`ApprovalStore`](crate::ApprovalStore)
/// and [`PinStore`](crate::PinStore). Instances on the same database and
/// schema (replicas) share all state.
#[derive(Clone)]
pub struct PgState {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// `user@host:port/database`, for messages.
    server: String,
    /// The schema holding Warden's tables.
    schema: String,
    /// Who made a reservation (see [`PgOrigin`]).
    origin: PgOrigin,
    /// `now_ms` at or after which counters next sweep expired entries.
    next_sweep_ms: AtomicU64,
}

impl fmt::Debug for PgState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgState")
            .field("server", &self.inner.server)
            .field("schema", &self.inner.schema)
            .finish_non_exhaustive()
    }
}

impl PgState {
    /// Connects to the database `url` names and brings the schema (in the
    /// connection's current schema, normally `public`) up to date.
    ///
    /// # Errors
    ///
    /// [`StoreError::PgConfig`] for a URL that cannot be parsed or asks for
    /// TLS, [`StoreError::PgConnect`] when the server cannot be reached or
    /// refuses the login, [`StoreError::PgMigrate`] when the tables cannot
    /// be created, [`StoreError::PgSchemaTooNew`] when a newer Warden wrote
    /// them.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::open(url, None).await
    }

    /// Like [`PgState::connect`], with Warden's tables in `schema`, created
    /// if missing. Every pooled connection sets `search_path` to it.
    ///
    /// `schema` must be 1 to 63 characters of lowercase ASCII letters,
    /// digits and `_`, not starting with a digit (a name PostgreSQL needs no
    /// quotes for, so it means the same in every statement and setting).
    ///
    /// # Errors
    ///
    /// As [`PgState::connect`]; [`StoreError::PgConfig`] for an invalid
    /// schema name.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        if !valid_schema_name(schema) {
            return Err(StoreError::PgConfig {
                server: redact(url),
                problem: format!(
                    "schema name {schema:?} is not allowed: use 1 to 63 lowercase ASCII \
                     letters, digits and '_', not starting with a digit"
                ),
            });
        }
        Self::open(url, Some(schema)).await
    }

    async fn open(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        let mut config = parse_url(url)?;
        let server = describe(&config);
        // The driver would attempt TLS for `prefer`; without a TLS connector
        // it falls back anyway, so skip the round trip.
        config.ssl_mode(SslMode::Disable);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(POOL_TIMEOUT);
        }
        let mut options = config.get_options().unwrap_or_default().to_owned();
        if !options.contains("lock_timeout") {
            options.push_str(&format!(" -c lock_timeout={}", LOCK_TIMEOUT.as_millis()));
        }
        if let Some(schema) = schema {
            // Validated: no spaces or backslashes to escape.
            options.push_str(&format!(" -c search_path={schema}"));
        }
        config.options(options.trim_start());

        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()
            .map_err(|e| StoreError::PgConfig {
                server: server.clone(),
                problem: format!("cannot build the connection pool: {e}"),
            })?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| pool_error(&server, "connect", e))?;
        let applied = migrations::migrate(&mut client, &server, schema).await?;
        drop(client);
        let origin = PgOrigin {
            store_id: Arc::from(applied.store_id),
            name: Arc::from(format!("{server}, schema {}", applied.schema)),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                server,
                schema: applied.schema,
                origin,
                next_sweep_ms: AtomicU64::new(0),
            }),
        })
    }

    /// The server, as `user@host:port/database` (never the password).
    pub fn server(&self) -> &str {
        &self.inner.server
    }

    /// The PostgreSQL schema holding Warden's tables.
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// A pooled connection, for `op`.
    pub(crate) async fn client(&self, op: &'static str) -> Result<Object, StoreError> {
        self.inner
            .pool
            .get()
            .await
            .map_err(|e| pool_error(&self.inner.server, op, e))
    }

    /// Maps a driver error from `op` to a [`StoreError`].
    pub(crate) fn query_error(
        &self,
        op: &'static str,
    ) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
        move |source| StoreError::PgQuery {
            server: self.inner.server.clone(),
            op,
            source,
        }
    }

    /// A [`StoreError::PgData`] for a value read by `op`.
    pub(crate) fn data_error(&self, op: &'static str, problem: String) -> StoreError {
        StoreError::PgData {
            server: self.inner.server.clone(),
            op,
            problem,
        }
    }
}

fn pool_error(server: &str, op: &'static str, error: PoolError) -> StoreError {
    match error {
        PoolError::Backend(source) => StoreError::PgConnect {
            server: server.to_owned(),
            source,
        },
        PoolError::Timeout(TimeoutType::Create) => StoreError::PgPool {
            server: server.to_owned(),
            op,
            problem: format!(
                "opening a new connection took longer than {} s",
                POOL_TIMEOUT.as_secs()
            ),
        },
        PoolError::Timeout(TimeoutType::Wait) => StoreError::PgPool {
            server: server.to_owned(),
            op,
            problem: format!(
                "all {POOL_SIZE} connections stayed busy for {} s",
                POOL_TIMEOUT.as_secs()
            ),
        },
        other => StoreError::PgPool {
            server: server.to_owned(),
            op,
            problem: other.to_string(),
        },
    }
}

/// Parses `url`, refusing TLS before anything is sent.
fn parse_url(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let tls_refused = |mode: &str| StoreError::PgConfig {
        server: redact(url),
        problem: format!(
            "sslmode={mode} asks for TLS, and TLS to PostgreSQL is not supported yet; \
             reach the database over a private network or a local TLS tunnel and use \
             sslmode=disable (or leave sslmode out)"
        ),
    };
    // Read sslmode first: the driver does not know `verify-ca`/`verify-full`
    // and would only say the value is invalid.
    if let Some(mode) = requested_sslmode(url)
        && matches!(mode.as_str(), "require" | "verify-ca" | "verify-full")
    {
        return Err(tls_refused(&mode));
    }
    let config: tokio_postgres::Config =
        url.parse()
            .map_err(|e: tokio_postgres::Error| StoreError::PgConfig {
                server: redact(url),
                problem: format!(
                    "{e}: {} (expected postgres://user:password@host:5432/database)",
                    std::error::Error::source(&e).map_or_else(String::new, ToString::to_string)
                ),
            })?;
    if config.get_ssl_mode() == SslMode::Require {
        return Err(tls_refused("require"));
    }
    Ok(config)
}

/// The last `sslmode` value in a URL or key/value connection string.
fn requested_sslmode(url: &str) -> Option<String> {
    let mut found = None;
    let mut rest = url;
    while let Some(at) = rest.find("sslmode") {
        rest = &rest[at + "sslmode".len()..];
        let Some(after_eq) = rest.trim_start().strip_prefix('=') else {
            continue;
        };
        let value: String = after_eq
            .trim_start()
            .trim_start_matches('\'')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        found = Some(value.to_ascii_lowercase());
    }
    found
}

/// `url` with its password replaced by `***`, for messages about a URL that
/// could not be parsed.
pub(crate) fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    // postgres://user:password@host/...
    if let Some(scheme_end) = out.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = out[authority_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| authority_start + i);
        if let Some(at) = out[authority_start..authority_end].rfind('@') {
            let userinfo = &out[authority_start..authority_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(authority_start + colon + 1..authority_start + at, "***");
            }
        }
    }
    // password=... as a URL query parameter or a key/value pair.
    let mut search_from = 0;
    while let Some(found) = out[search_from..].find("password") {
        let key_end = search_from + found + "password".len();
        search_from = key_end;
        // Only ASCII is skipped, so byte offsets stay on char boundaries.
        let skip_spaces = |mut i: usize| {
            while out.as_bytes().get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            i
        };
        let eq = skip_spaces(key_end);
        if out.as_bytes().get(eq) != Some(&b'=') {
            continue;
        }
        let value_start = skip_spaces(eq + 1);
        let value = &out[value_start..];
        let value_len = if let Some(quoted) = value.strip_prefix('\'') {
            // A quoted key/value: up to the first quote not escaped.
            let mut escaped = false;
            let mut end = quoted.len();
            for (i, c) in quoted.char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '\'' if !escaped => {
                        end = i + 1;
                        break;
                    }
                    _ => escaped = false,
                }
            }
            1 + end
        } else {
            value
                .find(|c: char| c == '&' || c == '#' || c.is_whitespace())
                .unwrap_or(value.len())
        };
        out.replace_range(value_start..value_start + value_len, "***");
        search_from = value_start + 3;
    }
    out
}

/// What stands in for NUL in stored text (see [`encode_text`]): U+FFFF, a
/// noncharacter that no text Warden handles means to contain.
const TEXT_ESCAPE: char = '\u{FFFF}';

/// Text as PostgreSQL stores it. PostgreSQL text cannot hold NUL (U+0000),
/// yet any string a client sends (a tool name, a request id, an identity)
/// may contain one, and refusing it would let a client keep its calls out
/// of the audit log or turn a lookup into a server error. So NUL is stored
/// as U+FFFF `0`, and U+FFFF itself as U+FFFF U+FFFF; every other text is
/// stored as it is. The mapping is one-to-one, so an equality filter on an
/// encoded value finds exactly the rows holding it.
pub(crate) fn encode_text(text: &str) -> Cow<'_, str> {
    if !text.contains(['\0', TEXT_ESCAPE]) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        match c {
            '\0' => {
                out.push(TEXT_ESCAPE);
                out.push('0');
            }
            TEXT_ESCAPE => {
                out.push(TEXT_ESCAPE);
                out.push(TEXT_ESCAPE);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The text [`encode_text`] stored as `stored`; `None` for a sequence it
/// never writes (the row was edited by hand).
pub(crate) fn decode_text(stored: String) -> Option<String> {
    if !stored.contains(TEXT_ESCAPE) {
        return Some(stored);
    }
    let mut out = String::with_capacity(stored.len());
    let mut chars = stored.chars();
    while let Some(c) = chars.next() {
        if c != TEXT_ESCAPE {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '0' => out.push('\0'),
            TEXT_ESCAPE => out.push(TEXT_ESCAPE),
            _ => return None,
        }
    }
    Some(out)
}

/// `user@host:port/database` for a parsed configuration: what errors name.
fn describe(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(dir) => format!("{}:{port}", dir.display()),
            }
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "localhost:5432".to_owned()
    } else {
        hosts.join(",")
    };
    let user = config.get_user().unwrap_or("?");
    let database = config.get_dbname().unwrap_or(user);
    format!("{user}@{hosts}/{database}")
}

fn valid_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    first_ok
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://warden:s3cr%40t@db:5432/state"),
            "postgres://warden:***@db:5432/state"
        );
        assert_eq!(
            redact("postgres://warden@db/state?password=hunter2&sslmode=disable"),
            "postgres://warden@db/state?password=***&sslmode=disable"
        );
        assert_eq!(
            redact("host=db user=warden password = 'a b\\' c' dbname=state"),
            "host=db user=warden password = *** dbname=state"
        );
        assert_eq!(redact("host=db password=x"), "host=db password=***");
        assert_eq!(
            redact("postgres://db/state"),
            "postgres://db/state",
            "nothing to hide"
        );
        // An '@' in the path is not userinfo.
        assert_eq!(redact("postgres://db/a@b"), "postgres://db/a@b");
    }

    #[test]
    fn tls_is_refused_before_connecting() {
        for url in [
            "postgres://u:pw@db/state?sslmode=require",
            "postgres://u@db/state?sslmode=verify-full",
            "host=db sslmode = verify-ca",
        ] {
            let err = parse_url(url).expect_err(url);
            let msg = err.to_string();
            assert!(
                msg.contains("TLS to PostgreSQL is not supported yet"),
                "{msg}"
            );
            assert!(!msg.contains("pw@"), "{msg}");
        }
        parse_url("postgres://u@db/state?sslmode=disable").expect("disable");
        parse_url("postgres://u@db/state?sslmode=prefer").expect("prefer");
    }

    #[test]
    fn unparsable_urls_name_the_redacted_url() {
        let err = parse_url("postgres://u:topsecret@db:notaport/state").expect_err("bad port");
        let msg = err.to_string();
        assert!(msg.contains("u:***@db"), "{msg}");
        assert!(!msg.contains("topsecret"), "{msg}");
    }

    #[test]
    fn servers_are_described_without_passwords() {
        let config = parse_url("postgres://warden:pw@db.internal:6543/state").expect("parse");
        assert_eq!(describe(&config), "warden@db.internal:6543/state");
        let config = parse_url("host=/run/postgresql user=w").expect("parse");
        assert_eq!(describe(&config), "w@/run/postgresql:5432/w");
    }

    #[test]
    fn text_encoding_round_trips_and_leaves_plain_text_alone() {
        for text in [
            "",
            "plain",
            "ü ✓ \"q\" \\",
            "\0",
            "a\0b\0",
            "\u{FFFF}",
            "\u{FFFF}0",
            "\0\u{FFFF}\u{FFFF}0\0",
        ] {
            let stored = encode_text(text);
            assert!(!stored.contains('\0'), "{stored:?}");
            assert_eq!(decode_text(stored.into_owned()).as_deref(), Some(text));
        }
        assert!(matches!(encode_text("plain"), Cow::Borrowed("plain")));
        // One-to-one: distinct texts never share a stored form.
        assert_ne!(encode_text("\0"), encode_text("\u{FFFF}0"));
        assert_eq!(decode_text("dangling \u{FFFF}".into()), None);
        assert_eq!(decode_text("\u{FFFF}x".into()), None);
    }

    #[test]
    fn schema_names_need_no_quoting() {
        for ok in ["warden", "_w", "warden_test_0a1b", &"a".repeat(63)] {
            assert!(valid_schema_name(ok), "{ok}");
        }
        for bad in ["", "Warden", "1w", "w-x", "w x", "w;drop", &"a".repeat(64)] {
            assert!(!valid_schema_name(bad), "{bad}");
        }
    }
}
