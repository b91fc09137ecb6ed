//! `warden keys create|list|revoke`: API keys for the team gateway.
//!
//! Keys live in the state directory's SQLite file, hashed; a key is printed
//! once, when it is made. Printing is this file's job; making and checking
//! keys is `warden-auth`'s, storing them `warden-store`'s.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context as _;
use serde_json::{Value, json};
use warden_gateway::text::{printable, table};
use warden_gateway::{Clock as _, SystemClock};
use warden_store::{AuditStore, KeyRecord, KeyStore, StoreError};

use crate::state::Location;

/// Manage API keys: create (shown once), list, revoke.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  warden keys create ci-bot --expires 90d --label \"CI runner\"\n  warden keys list --identity ci-bot\n  warden keys revoke 3f2a9c0b1d4e"
)]
pub(crate) struct KeysArgs {
    /// Where keys are kept (SQLite). Default: $WARDEN_STATE_DIR, else the platform data dir
    /// (~/.local/share/warden).
    #[arg(long, value_name = "DIR", env = "WARDEN_STATE_DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// Use the state of this `warden serve` configuration (its `state` setting); wins over
    /// --state-dir and WARDEN_STATE_DIR.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum KeysCommand {
    /// Make an API key for IDENTITY. The key is printed once and cannot be shown again.
    Create(CreateArgs),
    /// List keys (never the keys themselves): id, identity, label, times, status.
    List(ListArgs),
    /// Revoke a key by its id; it stops working at once and stays listed as revoked.
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// The identity the key authenticates (as named in the gateway's grants).
    #[arg(value_name = "IDENTITY")]
    pub identity: String,
    /// Lifetime, e.g. 30d, 12h, 90min. Default: the key does not expire.
    #[arg(long, value_name = "DURATION", value_parser = parse_lifetime)]
    pub expires: Option<Duration>,
    /// A note for people, e.g. "CI runner". Default: none.
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,
    /// Output: text for people (the key alone on stdout, notes on stderr), or json.
    #[arg(long, value_enum, default_value_t = CreateFormat::Text)]
    pub format: CreateFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CreateFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Only the keys of this identity. Default: all keys.
    #[arg(long, value_name = "NAME")]
    pub identity: Option<String>,
    /// Output: a table for people, or json for scripts.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RevokeArgs {
    /// The key's id: the 12 hex characters after `wdn_`, as shown by `warden keys list`.
    #[arg(value_name = "ID")]
    pub id: String,
}

/// Longest accepted identity name, in characters.
const MAX_IDENTITY_CHARS: usize = 256;

pub(crate) async fn keys(args: KeysArgs) -> anyhow::Result<ExitCode> {
    let location = Location::resolve(args.state_dir, args.config.as_deref())?;
    let stores = crate::state::open(&location).await?;
    let now_ms = SystemClock.now_ms();
    let store = stores.keys.as_ref();
    let audit = stores.audit.as_ref();
    match args.command {
        KeysCommand::Create(a) => create(store, audit, a, now_ms).await,
        KeysCommand::List(a) => list(store, a, now_ms).await,
        KeysCommand::Revoke(a) => revoke(store, audit, &a.id, now_ms).await,
    }
}

/// The audit event of a key being made or revoked. Never the key or its hash.
fn key_event(event: &str, record: &KeyRecord, now_ms: u64) -> warden_store::AuditEntry {
    let mut entry = warden_store::AuditEntry::event(
        now_ms,
        event,
        &json!({"key_id": record.id, "label": record.label, "expires_ms": record.expires_ms, "by": "warden keys"}),
    );
    entry.identity = Some(record.identity.clone());
    entry
}

async fn create(
    store: &dyn KeyStore,
    audit: &dyn AuditStore,
    args: CreateArgs,
    now_ms: u64,
) -> anyhow::Result<ExitCode> {
    check_identity(&args.identity)?;
    let expires_ms = match args.expires {
        None => None,
        Some(d) => Some(
            u64::try_from(d.as_millis())
                .ok()
                .and_then(|ms| now_ms.checked_add(ms))
                .filter(|ms| i64::try_from(*ms).is_ok())
                .context("--expires is too far in the future; use a shorter duration")?,
        ),
    };
    // Ids are 48 random bits: a collision is all but impossible, but if one
    // happens, a fresh key is made rather than failing.
    let mut attempts = 0;
    let made = loop {
        let made = warden_auth::new_key(&args.identity, expires_ms, args.label.clone(), now_ms);
        match store.create(made.record.clone()).await {
            Ok(()) => break made,
            Err(StoreError::KeyExists { .. }) if attempts < 3 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    };
    let record = &made.record;
    // A key the audit log does not know of must not work: take it back if the record fails.
    if let Err(e) = audit
        .append(&[key_event("key_created", record, now_ms)])
        .await
    {
        let _ = store.revoke(&record.id, now_ms).await;
        anyhow::bail!("the key was not issued: its audit record could not be written ({e})");
    }
    match args.format {
        CreateFormat::Json => {
            let mut out = record_json(record, now_ms);
            if let Some(o) = out.as_object_mut() {
                o.insert("key".into(), Value::String(made.secret.clone()));
            }
            println!("{out}");
        }
        CreateFormat::Text => {
            let expires = record.expires_ms.map_or_else(
                || "never expires".to_owned(),
                |ms| format!("expires {}", rfc3339(ms)),
            );
            eprintln!(
                "Created API key {} for identity {:?} ({expires}):\n",
                record.id, record.identity
            );
            // The key alone on stdout, so `KEY=$(warden keys create NAME)` works.
            println!("{}", made.secret);
            eprintln!(
                "\nCopy it now: it is stored only as a hash and cannot be shown again.\n\
                 Clients send it as the header `Authorization: Bearer <key>`.\n\
                 Revoke it with: warden keys revoke {}",
                record.id
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(store: &dyn KeyStore, args: ListArgs, now_ms: u64) -> anyhow::Result<ExitCode> {
    let records = store.list(args.identity.as_deref()).await?;
    match args.format {
        ListFormat::Json => {
            let all: Vec<Value> = records.iter().map(|r| record_json(r, now_ms)).collect();
            println!("{}", Value::Array(all));
        }
        ListFormat::Table => {
            if records.is_empty() {
                match &args.identity {
                    Some(who) => eprintln!("No API keys for identity {who:?}."),
                    None => {
                        eprintln!("No API keys yet. Make one with: warden keys create IDENTITY")
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<[String; 6]> = records
                .iter()
                .map(|r| {
                    [
                        r.id.clone(),
                        printable(&r.identity),
                        r.label.as_deref().map_or_else(|| "-".to_owned(), printable),
                        rfc3339(r.created_ms),
                        r.expires_ms.map_or_else(|| "never".to_owned(), rfc3339),
                        r.status(now_ms).to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    ["ID", "IDENTITY", "LABEL", "CREATED", "EXPIRES", "STATUS"],
                    &rows
                )
            );
            std::io::stdout().flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn revoke(
    store: &dyn KeyStore,
    audit: &dyn AuditStore,
    id: &str,
    now_ms: u64,
) -> anyhow::Result<ExitCode> {
    // Accept a whole key too (someone pasting what they were given), but
    // never print it back.
    let id = warden_auth::key_id(id).unwrap_or(id);
    if store.revoke(id, now_ms).await? {
        let record = store.get(id).await?;
        if let Some(r) = &record {
            // The revocation stands either way; a missing record is reported, not hidden.
            audit
                .append(&[key_event("key_revoked", r, now_ms)])
                .await
                .context("the key is revoked, but the audit record of it could not be written")?;
        }
        let who = record
            .map(|r| format!(" (identity {:?})", r.identity))
            .unwrap_or_default();
        println!("Revoked API key {id}{who}; it is refused from now on.");
        return Ok(ExitCode::SUCCESS);
    }
    match store.get(id).await? {
        Some(r) => {
            let at = r.revoked_ms.map(rfc3339).unwrap_or_default();
            println!("API key {id} was already revoked at {at}.");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!(
                "warden keys revoke: no API key with id {:?}; `warden keys list` shows the ids",
                printable(id)
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn check_identity(identity: &str) -> anyhow::Result<()> {
    if identity.trim().is_empty() {
        anyhow::bail!(
            "the identity is empty; name who the key is for, e.g. `warden keys create ci-bot`"
        );
    }
    if identity.trim() != identity || identity.chars().any(char::is_control) {
        anyhow::bail!(
            "identity {identity:?} has leading/trailing spaces or control characters; use a plain name"
        );
    }
    if identity.chars().count() > MAX_IDENTITY_CHARS {
        anyhow::bail!("the identity is longer than {MAX_IDENTITY_CHARS} characters");
    }
    Ok(())
}

fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("{e}; write a duration such as 30d, 12h or 90min"))?;
    if d.as_millis() == 0 {
        return Err("the lifetime must be longer than zero".to_owned());
    }
    Ok(d)
}

/// RFC 3339 in UTC, to the second.
fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// A record for scripts: times both as RFC 3339 and as milliseconds.
fn record_json(r: &KeyRecord, now_ms: u64) -> Value {
    json!({
        "id": r.id,
        "identity": r.identity,
        "label": r.label,
        "created": rfc3339(r.created_ms),
        "created_ms": r.created_ms,
        "expires": r.expires_ms.map(rfc3339),
        "expires_ms": r.expires_ms,
        "revoked": r.revoked_ms.map(rfc3339),
        "revoked_ms": r.revoked_ms,
        "status": r.status(now_ms).as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        assert_eq!(parse_lifetime("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_lifetime("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert!(parse_lifetime("0s").is_err());
        assert!(parse_lifetime("soon").is_err());
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_760_000_000_000), "2025-10-09T08:53:20Z");
    }

    #[test]
    fn identities() {
        assert!(check_identity("ci-bot").is_ok());
        for bad in ["", "  ", " ana", "ana\n", "a\u{7}b"] {
            assert!(check_identity(bad).is_err(), "{bad:?}");
        }
    }
}
