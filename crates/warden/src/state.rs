//! Where state lives and how it is opened: a SQLite directory (the default) or a PostgreSQL
//! database. Every command that reads or writes state (`run`, `serve`, `keys`, `audit`) goes
//! through [`Location::resolve`] and [`open`], so they all agree on where it is.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use warden_gateway::AuditLog;
use warden_gateway::approvals::{Approvals, Sealer};
use warden_gateway::audit::Signer;
use warden_gateway::webhook::Webhooks;
use warden_gateway::{AuditSettings, Durability, OnFailure};
use warden_store::{
    ApprovalStore, AuditStore, CounterStore, KeyStore, PgState, PinStore, SqliteState,
};

/// Where state is kept.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    /// `<dir>/warden.db`.
    Dir(PathBuf),
    /// A `postgres://` URL (as written; never printed whole, it may hold a password).
    Postgres(String),
}

impl Location {
    /// `--config FILE` (its `state`), else `--state-dir DIR`, else `$WARDEN_STATE_DIR`, else
    /// the platform data directory.
    pub(crate) fn resolve(
        state_dir: Option<PathBuf>,
        config: Option<&Path>,
    ) -> anyhow::Result<Self> {
        match config {
            Some(file) => {
                let config = warden_config::load(file).map_err(|problems| {
                    anyhow::anyhow!("{} is invalid:\n{problems}", file.display())
                })?;
                Self::of_config(&config)
            }
            None => Ok(Location::Dir(crate::run::state_dir(state_dir)?)),
        }
    }

    /// The `state` of a loaded config, else the default directory.
    pub(crate) fn of_config(config: &warden_config::Config) -> anyhow::Result<Self> {
        Ok(match config.state.as_deref() {
            Some(url) if is_postgres(url) => Location::Postgres(url.to_owned()),
            Some(dir) => Location::Dir(PathBuf::from(dir)),
            None => Location::Dir(crate::run::state_dir(None)?),
        })
    }

    /// For messages: the directory, or the database without credentials.
    pub(crate) fn describe(&self) -> String {
        match self {
            Location::Dir(d) => d.display().to_string(),
            Location::Postgres(url) => redact_url(url),
        }
    }
}

fn is_postgres(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(an unparsable postgres URL)".into(),
    }
}

/// The opened state.
#[derive(Clone)]
pub(crate) struct Stores {
    pub counters: Arc<dyn CounterStore>,
    pub keys: Arc<dyn KeyStore>,
    pub audit: Arc<dyn AuditStore>,
    pub approvals: Arc<dyn ApprovalStore>,
    pub pins: Arc<dyn PinStore>,
}

/// Opens (creating and migrating if needed) the state at `location`. On SQLite the audit log
/// gets its own connection, committing with full fsync (see `SqliteState::open_audit`).
pub(crate) async fn open(location: &Location) -> anyhow::Result<Stores> {
    match location {
        Location::Dir(dir) => {
            let state = SqliteState::open(dir)?;
            let audit = SqliteState::open_audit(dir)?;
            Ok(Stores {
                counters: Arc::new(state.clone()),
                keys: Arc::new(state.clone()),
                pins: Arc::new(state.clone()),
                approvals: Arc::new(state),
                audit: Arc::new(audit),
            })
        }
        Location::Postgres(url) => {
            let pg = PgState::connect(url)
                .await
                .with_context(|| format!("state {}", location.describe()))?;
            Ok(Stores {
                counters: Arc::new(pg.clone()),
                keys: Arc::new(pg.clone()),
                approvals: Arc::new(pg.clone()),
                pins: Arc::new(pg.clone()),
                audit: Arc::new(pg),
            })
        }
    }
}

/// The environment variable holding the key approval webhooks are signed with.
pub(crate) const WEBHOOK_SECRET_VAR: &str = "WARDEN_WEBHOOK_SECRET";

/// The webhook signing secret from the environment, if set and not empty.
pub(crate) fn webhook_secret() -> Option<Vec<u8>> {
    std::env::var(WEBHOOK_SECRET_VAR)
        .ok()
        .filter(|s| !s.is_empty())
        .map(String::into_bytes)
}

/// Refuses policies whose approvals announce to webhooks when there is no secret to sign
/// them with: an unsigned announcement could not be told from a forged one.
pub(crate) fn check_webhooks<'a>(
    policies: impl IntoIterator<Item = (&'a str, &'a warden_policy::Policy)>,
) -> anyhow::Result<()> {
    if webhook_secret().is_some() {
        return Ok(());
    }
    for (name, policy) in policies {
        if let Some(hook) = policy.approval_webhooks().first() {
            anyhow::bail!(
                "{name}: an approval webhook ({}) needs a signing secret: set {WEBHOOK_SECRET_VAR} in the gateway's environment (any long random string; give the receiver the same)",
                warden_gateway::webhook::redacted_url(&hook.url)
            );
        }
    }
    Ok(())
}

/// The approvals of this gateway process over the opened state: held calls, the inbox
/// `warden approvals` answers, webhooks signed with `$WARDEN_WEBHOOK_SECRET`, request states
/// sealed with a key derived from the installation's secret salt.
pub(crate) fn start_approvals(
    stores: &Stores,
    audit: &Arc<AuditLog>,
    clock: Arc<dyn warden_gateway::Clock>,
) -> Arc<Approvals> {
    let webhooks = Arc::new(Webhooks::new(webhook_secret()).with_clock(clock.clone()));
    Approvals::start(
        stores.approvals.clone(),
        clock,
        Some(audit.clone()),
        webhooks,
        Sealer::from_secret(audit.salt()),
    )
}

/// The gateway's audit settings from a config's `[audit]`.
pub(crate) fn audit_settings(config: &warden_config::AuditConfig) -> anyhow::Result<AuditSettings> {
    let signer = match &config.signing_key {
        None => None,
        Some(path) => Some(Signer {
            key: read_signing_key(path)?,
            every_records: config.checkpoint_every,
            every: config.checkpoint_interval,
        }),
    };
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Ok(AuditSettings {
        durability: match config.durability {
            warden_config::AuditDurability::Durable => Durability::Durable,
            warden_config::AuditDurability::Lag(d) => Durability::Lag(d),
        },
        on_failure: match config.on_failure {
            warden_config::OnAuditFailure::Deny => OnFailure::Deny,
            warden_config::OnAuditFailure::Allow => OnFailure::Allow,
        },
        signer,
        retention: warden_store::Retention {
            max_age_ms: config.max_age.map(ms),
            max_records: config.max_records,
        },
        ..AuditSettings::default()
    })
}

/// SHA-256 of a file's bytes, hex: how an event names the exact policy text in force.
pub(crate) fn digest_file(path: &Path) -> Option<String> {
    use sha2::Digest as _;
    let bytes = std::fs::read(path).ok()?;
    Some(warden_store::audit::hex(&sha2::Sha256::digest(&bytes)))
}

/// Reads an Ed25519 private key (PKCS#8 PEM, as `warden audit keygen` or
/// `openssl genpkey -algorithm ed25519` writes it).
pub(crate) fn read_signing_key(path: &Path) -> anyhow::Result<ed25519_dalek::SigningKey> {
    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "audit.signing_key: cannot read {} (make a key with `warden audit keygen --out {}`)",
            path.display(),
            path.display()
        )
    })?;
    ed25519_dalek::SigningKey::from_pkcs8_pem(&text).map_err(|e| {
        anyhow::anyhow!(
            "audit.signing_key: {} is not an Ed25519 private key in PKCS#8 PEM ({e}); make one with `warden audit keygen --out FILE`",
            path.display()
        )
    })
}
