//! The config file of `warden serve`: load it, validate it, describe it.
//!
//! [`load`] reads a config file (and the policy files it names), checks
//! everything, and returns either a [`Config`] or **every** problem found,
//! each with the file, the field (`servers.executor.lifecycle`), the line and
//! column, and the fix ([`ConfigErrors`]). [`json_schema`] describes the
//! format for editors; it is published as `docs/warden.schema.json`.
//!
//! Apart from reading the files it names and the environment (for `${VAR}`),
//! this crate does no I/O: it opens no socket and starts no process.
//!
//! The format (every field, its default and meaning, `${VAR}` expansion, the desktop
//! clients' `mcpServers` shape) is documented for users in `docs/gateway.md`, section
//! "Configuration reference"; keep that page in step with this crate.
#![forbid(unsafe_code)]

mod duration;
mod error;
mod expand;
mod load;
mod model;
mod names;
mod schema;
mod tree;

use std::path::Path;

pub use error::{ConfigError, ConfigErrors, Position};
pub use model::{
    AdminConfig, AuditConfig, AuditDurability, Config, DEFAULT_MAX_LAG, EdgeLimits, Grant,
    Identity, JwksSource, JwtConfig, Lifecycle, Listen, OnAuditFailure, Server, Transport,
};

/// Loads and validates the config file at `path`, expanding `${VAR}` from the
/// process environment. A `.json` extension selects JSON, anything else TOML.
///
/// # Errors
///
/// [`ConfigErrors`] with every problem found in the config file and the
/// policy files it names.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with_env(path, &|name| std::env::var(name).ok())
}

/// [`load`], with `${VAR}` looked up through `env` instead of the process
/// environment (for tests, or to expand from a chosen set of variables).
///
/// # Errors
///
/// [`ConfigErrors`] with every problem found.
pub fn load_with_env(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    load::load(path, env)
}

/// The JSON Schema (draft 07) of the config file, for editors. The same
/// schema is committed as `docs/warden.schema.json`; a test fails when that
/// file is stale (regenerate with `WARDEN_BLESS=1 cargo test -p warden-config`).
pub fn json_schema() -> serde_json::Value {
    schema::json_schema()
}
