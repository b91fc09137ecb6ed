//! The validator: walks the document tree once, collecting every problem, and
//! builds a [`Config`] only when there are none.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::duration::parse_duration;
use crate::error::{ConfigError, ConfigErrors, Position};
use crate::expand::expand;
use crate::model::{
    AdminConfig, AuditConfig, AuditDurability, Config, DEFAULT_MAX_LAG, EdgeLimits, Grant,
    Identity, JwksSource, JwtConfig, Lifecycle, Listen, OnAuditFailure, Server, Transport,
};
use crate::names::{
    PLAIN_NAME_PATTERN, did_you_mean, is_identity_name, is_plain_name, plain_version,
};
use crate::tree::{Entry, Node, SyntaxError, Val, parse_json, parse_toml};
use warden_policy::text::LineIndex;

/// Top-level keys.
pub(crate) const TOP_FIELDS: &[&str] = &[
    "$schema",
    "state",
    "listen",
    "limits",
    "servers",
    "mcpServers",
    "policies",
    "identities",
    "grants",
    "auth",
    "audit",
    "admin",
];
pub(crate) const AUDIT_FIELDS: &[&str] = &[
    "durability",
    "max_lag",
    "on_failure",
    "signing_key",
    "checkpoint_every",
    "checkpoint_interval",
    "max_age",
    "max_records",
];
pub(crate) const ADMIN_FIELDS: &[&str] = &["address", "token"];
pub(crate) const LISTEN_FIELDS: &[&str] = &["address", "allowed_hosts", "public_url"];
pub(crate) const LIMIT_FIELDS: &[&str] = &[
    "max_body_bytes",
    "max_header_bytes",
    "max_concurrent_requests",
    "max_concurrent_per_session",
    "upstream_timeout",
    "session_idle",
];
/// `[servers.<name>]` fields (command and URL servers together).
pub(crate) const SERVER_FIELDS: &[&str] = &[
    "command",
    "args",
    "env",
    "lifecycle",
    "url",
    "transport",
    "headers",
    "timeout",
];
/// `[mcpServers.<name>]` fields Warden uses.
pub(crate) const CLIENT_SERVER_FIELDS: &[&str] = &[
    "command",
    "args",
    "env",
    "lifecycle",
    "url",
    "headers",
    "type",
    "timeout",
    "disabled",
];
/// Client-only `mcpServers` fields that are ignored with a warning: they
/// steer the client's own approval prompt, which Warden's policy replaces,
/// so ignoring them can never widen access.
pub(crate) const CLIENT_IGNORED_FIELDS: &[&str] = &["autoApprove", "alwaysAllow"];
/// Client fields that are refused with a tailored fix: ignoring them would
/// change what the server does or expose tools the operator turned off.
const CLIENT_REFUSED_FIELDS: &[(&str, &str)] = &[
    (
        "cwd",
        "Warden does not set a child's working directory; remove it and use absolute paths in command and args",
    ),
    (
        "envFile",
        "Warden does not read env files; list the variables in env, taking values from warden's environment with ${VAR}",
    ),
    (
        "disabledTools",
        "Warden does not take tool lists from client configs; hide these tools in the grant's policy (\"hide\": [...])",
    ),
];
pub(crate) const POLICY_FIELDS: &[&str] = &["file", "inline"];
pub(crate) const IDENTITY_FIELDS: &[&str] = &["attributes"];
pub(crate) const GRANT_FIELDS: &[&str] = &["identity", "server", "policy"];
pub(crate) const AUTH_FIELDS: &[&str] = &["jwt"];
pub(crate) const JWT_FIELDS: &[&str] = &[
    "jwks",
    "issuer",
    "audience",
    "algorithms",
    "identity_claim",
    "leeway",
];
/// JWS algorithms accepted for `[auth.jwt] algorithms`: asymmetric only.
pub(crate) const JWT_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];
/// Headers the gateway sets per request: a fixed value in the config would
/// break the protocol (or smuggle a second session), so they are refused.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
];
/// The longest `leeway` accepted: beyond it, expiry stops meaning much.
const MAX_LEEWAY: Duration = Duration::from_secs(600);

/// Reads, parses and validates the config file at `path`.
pub(crate) fn load(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            field: String::new(),
            position: None,
            message: format!("cannot read the config file: {e}; check the path"),
        }])
    })?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let index = LineIndex::new(&text);
    let parsed = if is_json {
        parse_json(&text)
    } else {
        parse_toml(&text)
    };
    let root = parsed.map_err(|errors| {
        let mut errors: Vec<ConfigError> = errors
            .into_iter()
            .map(|SyntaxError { span, message }| ConfigError {
                file: path.to_path_buf(),
                field: String::new(),
                position: span.map(|s| Position::from(index.position(s.start))),
                message,
            })
            .collect();
        errors.sort_by_key(|e| e.position);
        ConfigErrors(errors)
    })?;
    let mut loader = Loader {
        file: path.to_path_buf(),
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        index,
        env,
        errors: Vec::new(),
        file_errors: Vec::new(),
        warnings: Vec::new(),
    };
    let config = loader.document(&root);
    // Config-file problems in document order; problems inside policy files
    // after them, each file's in its own order.
    loader.errors.sort_by_key(|e| e.position);
    let mut errors = loader.errors;
    errors.append(&mut loader.file_errors);
    match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => Err(ConfigErrors(errors)),
    }
}

struct Loader<'a> {
    file: PathBuf,
    dir: PathBuf,
    index: LineIndex<'a>,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// Problems in the config file.
    errors: Vec<ConfigError>,
    /// Problems in files it names.
    file_errors: Vec<ConfigError>,
    warnings: Vec<(Option<usize>, String)>,
}

/// The known members of a table, after unknown ones were reported.
struct Fields<'n> {
    entries: Vec<&'n Entry>,
    /// Where to report a missing member: the table's key, else its value.
    at: usize,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Entry> {
        self.entries.iter().copied().find(|e| e.key == key)
    }
}

/// What the servers seen so far declared, for duplicates and grants.
#[derive(Default)]
struct Declared {
    /// Name → the field that declared it (`servers.x` or `mcpServers.x`).
    servers: BTreeMap<String, String>,
    /// `mcpServers` entries with `disabled = true`.
    disabled: BTreeSet<String>,
    policies: BTreeSet<String>,
    identities: BTreeSet<String>,
}

impl Loader<'_> {
    // ---- reporting ----------------------------------------------------

    fn error(&mut self, field: &str, offset: usize, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.clone(),
            field: field.to_owned(),
            position: Some(Position::from(self.index.position(offset))),
            message: message.into(),
        });
    }

    fn warn(&mut self, field: &str, offset: usize, message: &str) {
        let e = ConfigError {
            file: self.file.clone(),
            field: field.to_owned(),
            position: Some(Position::from(self.index.position(offset))),
            message: message.to_owned(),
        };
        self.warnings.push((Some(offset), e.to_string()));
    }

    fn error_count(&self) -> usize {
        self.errors.len() + self.file_errors.len()
    }

    // ---- shapes -------------------------------------------------------

    /// The node as a table; unknown members are reported (with a
    /// suggestion), known ones returned. `key` is the table's own key entry
    /// when it has one (missing members are reported there).
    fn table<'n>(
        &mut self,
        node: &'n Node,
        key_at: Option<usize>,
        field: &str,
        allowed: &[&str],
    ) -> Option<Fields<'n>> {
        let Val::Table(entries) = &node.value else {
            self.error(
                field,
                node.span.start,
                format!("must be a table, not {}", node.value.kind()),
            );
            return None;
        };
        let mut known = Vec::with_capacity(entries.len());
        for entry in entries {
            if allowed.contains(&entry.key.as_str()) {
                known.push(entry);
            } else {
                let hint = did_you_mean(&entry.key, allowed.iter().copied());
                self.error(
                    &child(field, &entry.key),
                    entry.key_span.start,
                    format!(
                        "unknown field {:?}{hint}; allowed here: {}",
                        entry.key,
                        allowed.join(", ")
                    ),
                );
            }
        }
        Some(Fields {
            entries: known,
            at: key_at.unwrap_or(node.span.start),
        })
    }

    fn string<'n>(&mut self, node: &'n Node, field: &str) -> Option<&'n str> {
        match &node.value {
            Val::Str(s) => Some(s),
            other => {
                self.error(
                    field,
                    node.span.start,
                    format!("must be a string, not {}", other.kind()),
                );
                None
            }
        }
    }

    /// A string with `${VAR}` expanded; every problem reported.
    fn expanded(&mut self, node: &Node, field: &str) -> Option<String> {
        let text = self.string(node, field)?;
        match expand(text, self.env) {
            Ok(value) => Some(value),
            Err(errors) => {
                for e in errors {
                    self.error(field, node.span.start, e.message());
                }
                None
            }
        }
    }

    fn nonempty_string(&mut self, node: &Node, field: &str, example: &str) -> Option<String> {
        let s = self.string(node, field)?;
        if s.trim().is_empty() {
            self.error(
                field,
                node.span.start,
                format!("must not be empty; e.g. {example}"),
            );
            return None;
        }
        Some(s.to_owned())
    }

    fn positive(&mut self, node: &Node, field: &str) -> Option<usize> {
        match &node.value {
            Val::Int(n) if *n > 0 => match usize::try_from(*n) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.error(field, node.span.start, "too large for this machine");
                    None
                }
            },
            Val::Int(n) => {
                self.error(
                    field,
                    node.span.start,
                    format!("must be greater than 0, not {n}; remove it to use the default"),
                );
                None
            }
            other => {
                self.error(
                    field,
                    node.span.start,
                    format!("must be a positive integer, not {}", other.kind()),
                );
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, field: &str, zero_ok: bool) -> Option<Duration> {
        let Val::Str(text) = &node.value else {
            let extra = match node.value {
                Val::Int(n) => format!(
                    " (a bare number has no unit; write \"{n}s\" for seconds or \"{n}ms\" for milliseconds)"
                ),
                _ => String::new(),
            };
            self.error(
                field,
                node.span.start,
                format!(
                    "must be a duration string such as \"60s\", not {}{extra}",
                    node.value.kind()
                ),
            );
            return None;
        };
        match parse_duration(text) {
            Ok(d) if d.is_zero() && !zero_ok => {
                self.error(
                    field,
                    node.span.start,
                    "must be longer than 0; remove it to use the default",
                );
                None
            }
            Ok(d) => Some(d),
            Err(message) => {
                self.error(field, node.span.start, message);
                None
            }
        }
    }

    fn bool(&mut self, node: &Node, field: &str) -> Option<bool> {
        match node.value {
            Val::Bool(b) => Some(b),
            _ => {
                self.error(
                    field,
                    node.span.start,
                    format!("must be true or false, not {}", node.value.kind()),
                );
                None
            }
        }
    }

    fn array<'n>(&mut self, node: &'n Node, field: &str) -> Option<&'n [Node]> {
        match &node.value {
            Val::Array(items) => Some(items),
            other => {
                self.error(
                    field,
                    node.span.start,
                    format!("must be an array, not {}", other.kind()),
                );
                None
            }
        }
    }

    /// An array of strings, `${VAR}`-expanded when `expand` is set.
    fn strings(&mut self, node: &Node, field: &str, expand: bool) -> Option<Vec<String>> {
        let items = self.array(node, field)?;
        let before = self.error_count();
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let here = format!("{field}[{i}]");
            let value = if expand {
                self.expanded(item, &here)
            } else {
                self.string(item, &here).map(str::to_owned)
            };
            if let Some(value) = value {
                if value.contains('\0') {
                    self.error(&here, item.span.start, "must not contain a NUL character");
                }
                out.push(value);
            }
        }
        (self.error_count() == before).then_some(out)
    }

    /// A table of strings, `${VAR}`-expanded; `key_problem` vets each key.
    fn string_map(
        &mut self,
        node: &Node,
        field: &str,
        key_problem: &dyn Fn(&str) -> Option<String>,
        value_problem: &dyn Fn(&str) -> Option<&'static str>,
    ) -> Option<BTreeMap<String, String>> {
        let Val::Table(entries) = &node.value else {
            self.error(
                field,
                node.span.start,
                format!("must be a table of strings, not {}", node.value.kind()),
            );
            return None;
        };
        let before = self.error_count();
        let mut out = BTreeMap::new();
        for entry in entries {
            let here = child(field, &entry.key);
            if let Some(message) = key_problem(&entry.key) {
                self.error(&here, entry.key_span.start, message);
            }
            if let Some(value) = self.expanded(&entry.value, &here) {
                // The value may hold a secret: say what is wrong, never echo it.
                if let Some(message) = value_problem(&value) {
                    self.error(&here, entry.value.span.start, message);
                }
                out.insert(entry.key.clone(), value);
            }
        }
        (self.error_count() == before).then_some(out)
    }

    /// One of `choices` (value, result); a miss suggests the closest.
    fn choice<T: Copy>(&mut self, node: &Node, field: &str, choices: &[(&str, T)]) -> Option<T> {
        let text = self.string(node, field)?;
        if let Some((_, v)) = choices.iter().find(|(name, _)| *name == text) {
            return Some(*v);
        }
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let hint = did_you_mean(text, names.iter().copied());
        let list = names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(" or ");
        self.error(
            field,
            node.span.start,
            format!("{text:?} is not allowed{hint}; use {list}"),
        );
        None
    }

    // ---- the document -------------------------------------------------

    fn document(&mut self, root: &Node) -> Option<Config> {
        let fields = self.table(root, None, "", TOP_FIELDS)?;
        let before = self.error_count();
        if let Some(e) = fields.get("$schema") {
            // Only for editors; its value does not matter to Warden.
            self.string(&e.value, "$schema");
        }
        let state = fields.get("state").and_then(|e| self.state(&e.value));
        let listen = match fields.get("listen") {
            Some(e) => self.listen(e),
            None => Some(Listen::default()),
        };
        let limits = match fields.get("limits") {
            Some(e) => self.limits(e),
            None => Some(EdgeLimits::default()),
        };
        let mut declared = Declared::default();
        let mut servers = BTreeMap::new();
        if let Some(e) = fields.get("servers") {
            self.servers(e, false, &mut servers, &mut declared);
        }
        if let Some(e) = fields.get("mcpServers") {
            self.servers(e, true, &mut servers, &mut declared);
        }
        let mut policies = BTreeMap::new();
        let mut policy_files = Vec::new();
        if let Some(e) = fields.get("policies") {
            self.policies(e, &mut policies, &mut policy_files, &mut declared);
        }
        let mut identities = BTreeMap::new();
        if let Some(e) = fields.get("identities") {
            self.identities(e, &mut identities, &mut declared);
        }
        let grants = match fields.get("grants") {
            Some(e) => self.grants(&e.value, &declared),
            None => Vec::new(),
        };
        let jwt = fields.get("auth").and_then(|e| self.auth(e));
        let audit = match fields.get("audit") {
            Some(e) => self.audit(e),
            None => Some(AuditConfig::default()),
        };
        let admin = fields.get("admin").and_then(|e| self.admin(e));
        if self.error_count() != before {
            return None;
        }
        self.warnings.sort_by_key(|(at, _)| *at);
        policy_files.sort();
        policy_files.dedup();
        Some(Config {
            source: self.file.clone(),
            state,
            listen: listen?,
            limits: limits?,
            servers,
            policies,
            policy_files,
            identities,
            grants,
            jwt,
            audit: audit?,
            admin,
            warnings: self.warnings.drain(..).map(|(_, w)| w).collect(),
        })
    }

    fn state(&mut self, node: &Node) -> Option<String> {
        let value = self.expanded(node, "state")?;
        if value.trim().is_empty() {
            self.error(
                "state",
                node.span.start,
                "must not be empty; remove it to use $WARDEN_STATE_DIR or the platform data directory",
            );
            return None;
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            return Some(value);
        }
        if let Some(scheme_end) = value.find("://") {
            self.error(
                "state",
                node.span.start,
                format!(
                    "unsupported state backend {:?}; use a directory (SQLite) or a postgres:// URL",
                    &value[..scheme_end]
                ),
            );
            return None;
        }
        Some(self.dir.join(value).to_string_lossy().into_owned())
    }

    fn listen(&mut self, entry: &Entry) -> Option<Listen> {
        let f = self.table(
            &entry.value,
            Some(entry.key_span.start),
            "listen",
            LISTEN_FIELDS,
        )?;
        let before = self.error_count();
        let mut listen = Listen::default();
        if let Some(e) = f.get("address")
            && let Some(text) = self.string(&e.value, "listen.address")
        {
            match text.parse::<SocketAddr>() {
                Ok(addr) => listen.address = addr,
                Err(_) => {
                    let fix = if text.starts_with("localhost") {
                        "use an IP address, e.g. \"127.0.0.1:8080\""
                    } else if text.parse::<IpAddr>().is_ok() {
                        "add a port, e.g. \"0.0.0.0:8080\""
                    } else {
                        "write an IP address and a port, e.g. \"127.0.0.1:8080\" or \"[::1]:8080\""
                    };
                    self.error(
                        "listen.address",
                        e.value.span.start,
                        format!("{text:?} is not a socket address; {fix}"),
                    );
                }
            }
        }
        if let Some(e) = f.get("allowed_hosts")
            && let Some(items) = self.array(&e.value, "listen.allowed_hosts")
        {
            for (i, item) in items.iter().enumerate() {
                let here = format!("listen.allowed_hosts[{i}]");
                let Some(host) = self.string(item, &here) else {
                    continue;
                };
                match host_problem(host) {
                    Some(message) => self.error(&here, item.span.start, message),
                    None => listen.allowed_hosts.push(host.to_ascii_lowercase()),
                }
            }
        }
        if let Some(e) = f.get("public_url")
            && let Some(text) = self.string(&e.value, "listen.public_url")
        {
            match url_problem(text, false) {
                Some(message) => self.error("listen.public_url", e.value.span.start, message),
                None => listen.public_url = Some(text.to_owned()),
            }
        }
        (self.error_count() == before).then_some(listen)
    }

    fn limits(&mut self, entry: &Entry) -> Option<EdgeLimits> {
        let f = self.table(
            &entry.value,
            Some(entry.key_span.start),
            "limits",
            LIMIT_FIELDS,
        )?;
        let before = self.error_count();
        let mut limits = EdgeLimits::default();
        let counts: [(&str, &mut usize); 4] = [
            ("max_body_bytes", &mut limits.max_body_bytes),
            ("max_header_bytes", &mut limits.max_header_bytes),
            (
                "max_concurrent_requests",
                &mut limits.max_concurrent_requests,
            ),
            (
                "max_concurrent_per_session",
                &mut limits.max_concurrent_per_session,
            ),
        ];
        for (name, slot) in counts {
            if let Some(e) = f.get(name)
                && let Some(n) = self.positive(&e.value, &format!("limits.{name}"))
            {
                *slot = n;
            }
        }
        let durations: [(&str, &mut Duration); 2] = [
            ("upstream_timeout", &mut limits.upstream_timeout),
            ("session_idle", &mut limits.session_idle),
        ];
        for (name, slot) in durations {
            if let Some(e) = f.get(name)
                && let Some(d) = self.duration(&e.value, &format!("limits.{name}"), false)
            {
                *slot = d;
            }
        }
        (self.error_count() == before).then_some(limits)
    }

    fn audit(&mut self, entry: &Entry) -> Option<AuditConfig> {
        let f = self.table(
            &entry.value,
            Some(entry.key_span.start),
            "audit",
            AUDIT_FIELDS,
        )?;
        let before = self.error_count();
        let mut audit = AuditConfig::default();
        let lag = match f.get("durability") {
            Some(e) => self.choice(
                &e.value,
                "audit.durability",
                &[("durable", false), ("lag", true)],
            ),
            None => Some(false),
        };
        let max_lag = match f.get("max_lag") {
            Some(e) => {
                if lag == Some(false) {
                    self.error(
                        "audit.max_lag",
                        e.value.span.start,
                        "applies only with durability = \"lag\"; set durability = \"lag\" or remove max_lag",
                    );
                }
                self.duration(&e.value, "audit.max_lag", false)
            }
            None => Some(DEFAULT_MAX_LAG),
        };
        if let (Some(true), Some(max)) = (lag, max_lag) {
            audit.durability = AuditDurability::Lag(max);
        }
        if let Some(e) = f.get("on_failure")
            && let Some(v) = self.choice(
                &e.value,
                "audit.on_failure",
                &[
                    ("deny", OnAuditFailure::Deny),
                    ("allow", OnAuditFailure::Allow),
                ],
            )
        {
            audit.on_failure = v;
        }
        if let Some(e) = f.get("signing_key")
            && let Some(path) = self.nonempty_string(&e.value, "audit.signing_key", "audit-key.pem")
        {
            audit.signing_key = Some(self.dir.join(path));
        }
        if let Some(e) = f.get("checkpoint_every")
            && let Some(n) = self.positive(&e.value, "audit.checkpoint_every")
        {
            audit.checkpoint_every = n as u64;
        }
        if let Some(e) = f.get("checkpoint_interval")
            && let Some(d) = self.duration(&e.value, "audit.checkpoint_interval", false)
        {
            audit.checkpoint_interval = d;
        }
        if let Some(e) = f.get("max_age") {
            audit.max_age = self.duration(&e.value, "audit.max_age", false);
        }
        if let Some(e) = f.get("max_records") {
            audit.max_records = self
                .positive(&e.value, "audit.max_records")
                .map(|n| n as u64);
        }
        (self.error_count() == before).then_some(audit)
    }

    fn admin(&mut self, entry: &Entry) -> Option<AdminConfig> {
        let f = self.table(
            &entry.value,
            Some(entry.key_span.start),
            "admin",
            ADMIN_FIELDS,
        )?;
        let before = self.error_count();
        let mut address = SocketAddr::from(([127, 0, 0, 1], 9090));
        if let Some(e) = f.get("address")
            && let Some(text) = self.string(&e.value, "admin.address")
        {
            match text.parse::<SocketAddr>() {
                Ok(a) => address = a,
                Err(_) => self.error(
                    "admin.address",
                    e.value.span.start,
                    format!("{text:?} is not a socket address; write an IP address and a port, e.g. \"127.0.0.1:9090\""),
                ),
            }
        }
        let token = match f.get("token") {
            Some(e) => self.expanded(&e.value, "admin.token"),
            None => {
                self.error(
                    "admin.token",
                    entry.key_span.start,
                    "is required: the admin API answers only requests bearing this token; add token = \"${WARDEN_ADMIN_TOKEN}\" and set that variable to a long random value",
                );
                None
            }
        };
        if let Some(t) = &token
            && t.len() < 16
        {
            let at = f
                .get("token")
                .map_or(entry.key_span.start, |e| e.value.span.start);
            self.error(
                "admin.token",
                at,
                "is too short: use at least 16 characters (e.g. the output of `openssl rand -hex 32`)",
            );
        }
        (self.error_count() == before).then_some(AdminConfig {
            address,
            token: token?,
        })
    }

    // ---- servers ------------------------------------------------------

    fn servers(
        &mut self,
        entry: &Entry,
        client: bool,
        out: &mut BTreeMap<String, Server>,
        declared: &mut Declared,
    ) {
        let section = if client { "mcpServers" } else { "servers" };
        let Val::Table(entries) = &entry.value.value else {
            self.error(
                section,
                entry.value.span.start,
                format!(
                    "must be a table of servers by name, not {}",
                    entry.value.value.kind()
                ),
            );
            return;
        };
        for server in entries {
            let field = child(section, &server.key);
            let name = server.key.as_str();
            if !is_plain_name(name) {
                let suggestion = plain_version(name)
                    .map(|s| format!(", e.g. {s:?}"))
                    .unwrap_or_default();
                self.error(
                    &field,
                    server.key_span.start,
                    format!(
                        "{name:?} is not a valid server name: names match {PLAIN_NAME_PATTERN} \
                         (they appear in URLs as /mcp/<name>); rename it{suggestion}"
                    ),
                );
            } else if let Some(first) = declared.servers.get(name) {
                self.error(
                    &field,
                    server.key_span.start,
                    format!(
                        "server {name:?} is defined twice, in {first} and in {field}; \
                         keep one of them or rename one"
                    ),
                );
                continue;
            } else {
                declared.servers.insert(name.to_owned(), field.clone());
            }
            let parsed = if client {
                self.client_server(server, &field, declared)
            } else {
                self.server(server, &field)
            };
            if let Some(parsed) = parsed {
                out.insert(name.to_owned(), parsed);
            }
        }
    }

    /// `[servers.<name>]`.
    fn server(&mut self, entry: &Entry, field: &str) -> Option<Server> {
        let f = self.table(
            &entry.value,
            Some(entry.key_span.start),
            field,
            SERVER_FIELDS,
        )?;
        self.server_body(&f, field, None)
    }

    /// `[mcpServers.<name>]`: the desktop clients' shape.
    fn client_server(
        &mut self,
        entry: &Entry,
        field: &str,
        declared: &mut Declared,
    ) -> Option<Server> {
        let mut allowed: Vec<&str> = CLIENT_SERVER_FIELDS.to_vec();
        allowed.extend(CLIENT_IGNORED_FIELDS);
        allowed.extend(CLIENT_REFUSED_FIELDS.iter().map(|(name, _)| *name));
        let f = self.table(&entry.value, Some(entry.key_span.start), field, &allowed)?;
        let before = self.error_count();
        for (name, fix) in CLIENT_REFUSED_FIELDS {
            if let Some(e) = f.get(name) {
                self.error(
                    &child(field, name),
                    e.key_span.start,
                    format!("{name:?} is not supported: {fix}"),
                );
            }
        }
        for name in CLIENT_IGNORED_FIELDS {
            if let Some(e) = f.get(name) {
                self.warn(
                    &child(field, name),
                    e.key_span.start,
                    "ignored: it steers the client's own approval prompt; through Warden, \
                     the grant's policy decides every call (use \"action\": \"approve\" there \
                     to ask a person)",
                );
            }
        }
        if let Some(e) = f.get("disabled")
            && self.bool(&e.value, &child(field, "disabled")) == Some(true)
        {
            declared.disabled.insert(entry.key.clone());
            self.warn(
                &child(field, "disabled"),
                e.key_span.start,
                "disabled = true: this server is not served; remove the line to serve it",
            );
            return None;
        }
        let server = self.server_body(&f, field, f.get("type"));
        if self.error_count() != before {
            return None;
        }
        server
    }

    /// The fields both shapes share. `client_type` is an `mcpServers`
    /// entry's `type`.
    fn server_body(
        &mut self,
        f: &Fields<'_>,
        field: &str,
        client_type: Option<&Entry>,
    ) -> Option<Server> {
        let before = self.error_count();
        let here = |name: &str| child(field, name);
        let timeout = f
            .get("timeout")
            .and_then(|e| self.duration(&e.value, &here("timeout"), false));
        let server = match (f.get("command"), f.get("url")) {
            (Some(_), Some(url)) => {
                self.error(
                    &here("url"),
                    url.key_span.start,
                    "a server has either `command` (a child process) or `url` (a remote \
                     server), not both; remove one",
                );
                None
            }
            (None, None) => {
                self.error(
                    field,
                    f.at,
                    "missing `command` or `url`; add command = \"npx\" (with args) to run a \
                     child process, or url = \"https://host/mcp\" for a remote server",
                );
                None
            }
            (Some(command), None) => {
                for name in ["transport", "headers"] {
                    if let Some(e) = f.get(name) {
                        self.error(
                            &here(name),
                            e.key_span.start,
                            format!(
                                "`{name}` applies to url servers, and this one runs `command`; \
                                 remove it (pass credentials to a child in `env`)"
                            ),
                        );
                    }
                }
                if let Some(t) = client_type {
                    self.choice(&t.value, &here("type"), &[("stdio", ())]);
                }
                let command_value = self.expanded(&command.value, &here("command"));
                if let Some(c) = &command_value
                    && (c.trim().is_empty() || c.contains('\0'))
                {
                    self.error(
                        &here("command"),
                        command.value.span.start,
                        "must name a program, e.g. \"npx\"",
                    );
                }
                let args = match f.get("args") {
                    Some(e) => self.strings(&e.value, &here("args"), true),
                    None => Some(Vec::new()),
                };
                let env = match f.get("env") {
                    Some(e) => self.string_map(&e.value, &here("env"), &env_key_problem, &|v| {
                        v.contains('\0')
                            .then_some("must not contain a NUL character")
                    }),
                    None => Some(BTreeMap::new()),
                };
                let lifecycle = match f.get("lifecycle") {
                    Some(e) => self.choice(
                        &e.value,
                        &here("lifecycle"),
                        &[
                            ("shared", Lifecycle::Shared),
                            ("per-session", Lifecycle::PerSession),
                        ],
                    ),
                    None => Some(Lifecycle::Shared),
                };
                Some(Server::Command {
                    command: command_value?,
                    args: args?,
                    env: env?,
                    lifecycle: lifecycle?,
                    timeout,
                })
            }
            (None, Some(url)) => {
                for name in ["args", "env", "lifecycle"] {
                    if let Some(e) = f.get(name) {
                        self.error(
                            &here(name),
                            e.key_span.start,
                            format!(
                                "`{name}` applies to command servers, and this one is a `url`; \
                                 remove it"
                            ),
                        );
                    }
                }
                let transports = [
                    ("streamable-http", Transport::StreamableHttp),
                    ("sse", Transport::Sse),
                ];
                let transport = match (f.get("transport"), client_type) {
                    (Some(e), _) => self.choice(&e.value, &here("transport"), &transports),
                    (None, Some(t)) => {
                        let Val::Str(s) = &t.value.value else {
                            self.string(&t.value, &here("type"));
                            return None;
                        };
                        if s == "stdio" {
                            self.error(
                                &here("type"),
                                t.value.span.start,
                                "\"stdio\" needs `command`; a `url` server is \"http\" \
                                 (Streamable HTTP) or \"sse\"",
                            );
                            None
                        } else {
                            self.choice(
                                &t.value,
                                &here("type"),
                                &[
                                    ("http", Transport::StreamableHttp),
                                    ("streamable-http", Transport::StreamableHttp),
                                    ("sse", Transport::Sse),
                                ],
                            )
                        }
                    }
                    (None, None) => Some(Transport::StreamableHttp),
                };
                let url_value = self.expanded(&url.value, &here("url"));
                if let Some(u) = &url_value
                    && let Some(message) = url_problem(u, true)
                {
                    self.error(&here("url"), url.value.span.start, message);
                }
                let headers = match f.get("headers") {
                    Some(e) => self.string_map(
                        &e.value,
                        &here("headers"),
                        &header_name_problem,
                        &header_value_problem,
                    ),
                    None => Some(BTreeMap::new()),
                };
                Some(Server::Http {
                    url: url_value?,
                    headers: headers?,
                    transport: transport?,
                    timeout,
                })
            }
        };
        if self.error_count() != before {
            return None;
        }
        server
    }

    // ---- policies -----------------------------------------------------

    fn policies(
        &mut self,
        entry: &Entry,
        out: &mut BTreeMap<String, Arc<warden_policy::Policy>>,
        files: &mut Vec<PathBuf>,
        declared: &mut Declared,
    ) {
        let Val::Table(entries) = &entry.value.value else {
            self.error(
                "policies",
                entry.value.span.start,
                format!(
                    "must be a table of policies by name, not {}",
                    entry.value.value.kind()
                ),
            );
            return;
        };
        for policy in entries {
            let field = child("policies", &policy.key);
            let name = policy.key.as_str();
            if is_plain_name(name) {
                declared.policies.insert(name.to_owned());
            } else {
                let suggestion = plain_version(name)
                    .map(|s| format!(", e.g. {s:?}"))
                    .unwrap_or_default();
                self.error(
                    &field,
                    policy.key_span.start,
                    format!(
                        "{name:?} is not a valid policy name: names match {PLAIN_NAME_PATTERN}; \
                         rename it{suggestion}"
                    ),
                );
            }
            let Some(f) = self.table(
                &policy.value,
                Some(policy.key_span.start),
                &field,
                POLICY_FIELDS,
            ) else {
                continue;
            };
            let compiled = match (f.get("file"), f.get("inline")) {
                (Some(_), Some(inline)) => {
                    self.error(
                        &child(&field, "inline"),
                        inline.key_span.start,
                        "a policy is either a `file` or `inline`, not both; remove one",
                    );
                    None
                }
                (None, None) => {
                    self.error(
                        &field,
                        f.at,
                        "missing `file` or `inline`; add file = \"policies/name.json\" (relative \
                         to this config file) or an inline table",
                    );
                    None
                }
                (Some(file), None) => self.policy_file(file, &field, files),
                (None, Some(inline)) => self.inline_policy(inline, &field),
            };
            if let Some(p) = compiled {
                out.insert(name.to_owned(), Arc::new(p));
            }
        }
    }

    fn policy_file(
        &mut self,
        entry: &Entry,
        field: &str,
        files: &mut Vec<PathBuf>,
    ) -> Option<warden_policy::Policy> {
        let here = child(field, "file");
        let name = self.nonempty_string(&entry.value, &here, "\"policies/name.json\"")?;
        let path = self.dir.join(&name);
        files.push(path.clone());
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                self.error(
                    &here,
                    entry.value.span.start,
                    format!(
                        "cannot read policy file {}: {e}; relative paths start at the config \
                         file's directory",
                        path.display()
                    ),
                );
                return None;
            }
        };
        let source = path.display().to_string();
        match warden_policy::Policy::from_json(&source, &text) {
            Ok(policy) => Some(policy),
            Err(problems) => {
                for p in problems.0 {
                    self.file_errors.push(ConfigError {
                        file: path.clone(),
                        field: p.pointer,
                        position: Some(crate::error::Position {
                            line: p.line,
                            column: p.column,
                        }),
                        message: p.message,
                    });
                }
                None
            }
        }
    }

    /// An inline policy: the table is written out as JSON and compiled; the
    /// policy crate's JSON Pointers are mapped back onto the config file.
    fn inline_policy(&mut self, entry: &Entry, field: &str) -> Option<warden_policy::Policy> {
        let here = child(field, "inline");
        if !matches!(entry.value.value, Val::Table(_)) {
            self.error(
                &here,
                entry.value.span.start,
                format!(
                    "must be a table (a policy document), not {}",
                    entry.value.value.kind()
                ),
            );
            return None;
        }
        let mut text = String::new();
        if let Err(message) = write_json(&entry.value, &mut text) {
            self.error(&here, entry.value.span.start, message);
            return None;
        }
        match warden_policy::Policy::from_json(&here, &text) {
            Ok(policy) => Some(policy),
            Err(problems) => {
                for p in problems.0 {
                    let (node, path) = resolve_pointer(&entry.value, &p.pointer);
                    let at = node.map_or(entry.key_span.start, |n| n.span.start);
                    self.error(&format!("{here}{path}"), at, p.message);
                }
                None
            }
        }
    }

    // ---- identities and grants ----------------------------------------

    fn identities(
        &mut self,
        entry: &Entry,
        out: &mut BTreeMap<String, Identity>,
        declared: &mut Declared,
    ) {
        let Val::Table(entries) = &entry.value.value else {
            self.error(
                "identities",
                entry.value.span.start,
                format!(
                    "must be a table of identities by name, not {}",
                    entry.value.value.kind()
                ),
            );
            return;
        };
        for identity in entries {
            let field = child("identities", &identity.key);
            let name = identity.key.as_str();
            if is_identity_name(name) {
                declared.identities.insert(name.to_owned());
            } else {
                self.error(
                    &field,
                    identity.key_span.start,
                    format!(
                        "{name:?} is not a valid identity name: 1 to 256 characters without \
                         spaces or control characters (e.g. \"ci-agent\" or \"alice@example.com\")"
                    ),
                );
            }
            let Some(f) = self.table(
                &identity.value,
                Some(identity.key_span.start),
                &field,
                IDENTITY_FIELDS,
            ) else {
                continue;
            };
            let mut attributes = serde_json::Map::new();
            let before = self.error_count();
            if let Some(e) = f.get("attributes") {
                let here = child(&field, "attributes");
                if let Val::Table(attrs) = &e.value.value {
                    for attr in attrs {
                        let at = child(&here, &attr.key);
                        if attr.key == "name" {
                            self.error(
                                &at,
                                attr.key_span.start,
                                "`name` is reserved: identity.name is the identity's key; \
                                 rename the attribute",
                            );
                            continue;
                        }
                        match to_json(&attr.value) {
                            Ok(v) => {
                                attributes.insert(attr.key.clone(), v);
                            }
                            Err(message) => self.error(&at, attr.value.span.start, message),
                        }
                    }
                } else {
                    self.error(
                        &here,
                        e.value.span.start,
                        format!("must be a table, not {}", e.value.value.kind()),
                    );
                }
            }
            if self.error_count() == before {
                out.insert(
                    name.to_owned(),
                    Identity {
                        name: name.to_owned(),
                        attributes,
                    },
                );
            }
        }
    }

    fn grants(&mut self, node: &Node, declared: &Declared) -> Vec<Grant> {
        let Some(items) = self.array(node, "grants") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            let field = format!("grants[{i}]");
            let Some(f) = self.table(item, None, &field, GRANT_FIELDS) else {
                continue;
            };
            let before = self.error_count();
            let mut get = |name: &str, required: bool| -> Option<(String, usize)> {
                let here = child(&field, name);
                match f.get(name) {
                    Some(e) => self
                        .string(&e.value, &here)
                        .map(|s| (s.to_owned(), e.value.span.start)),
                    None => {
                        if required {
                            self.error(
                                &here,
                                f.at,
                                format!(
                                    "missing `{name}`; every grant names an identity and a server"
                                ),
                            );
                        }
                        None
                    }
                }
            };
            let identity = get("identity", true);
            let server = get("server", true);
            let policy = get("policy", false);
            if let Some((name, at)) = &identity
                && !declared.identities.contains(name)
            {
                let hint = did_you_mean(name, declared.identities.iter().map(String::as_str));
                self.error(
                    &child(&field, "identity"),
                    *at,
                    format!("unknown identity {name:?}{hint}; declare it under [identities] or fix the name"),
                );
            }
            if let Some((name, at)) = &server {
                if declared.disabled.contains(name) {
                    self.error(
                        &child(&field, "server"),
                        *at,
                        format!(
                            "server {name:?} is disabled (mcpServers.{name}.disabled = true); \
                             enable it or remove this grant"
                        ),
                    );
                } else if !declared.servers.contains_key(name) {
                    let hint = did_you_mean(name, declared.servers.keys().map(String::as_str));
                    self.error(
                        &child(&field, "server"),
                        *at,
                        format!(
                            "unknown server {name:?}{hint}; declare it under [servers] or fix the name"
                        ),
                    );
                }
            }
            if let Some((name, at)) = &policy
                && !declared.policies.contains(name)
            {
                let hint = did_you_mean(name, declared.policies.iter().map(String::as_str));
                self.error(
                    &child(&field, "policy"),
                    *at,
                    format!(
                        "unknown policy {name:?}{hint}; declare it under [policies] or fix the name"
                    ),
                );
            }
            if let (Some((identity, _)), Some((server, _))) = (&identity, &server) {
                let key = (identity.clone(), server.clone());
                if let Some(first) = seen.get(&key) {
                    self.error(
                        &field,
                        item.span.start,
                        format!(
                            "a second grant of identity {identity:?} for server {server:?} \
                             (the first is grants[{first}]); one grant per identity and \
                             server: merge their rules into one policy"
                        ),
                    );
                } else {
                    seen.insert(key, i);
                }
            }
            if self.error_count() != before {
                continue;
            }
            let (Some((identity, _)), Some((server, _))) = (identity, server) else {
                continue;
            };
            if policy.is_none() {
                self.warn(
                    &field,
                    item.span.start,
                    &format!(
                        "no policy: this grant denies every call of {identity:?} to {server:?}; \
                         add policy = \"<name>\" to allow tools"
                    ),
                );
            }
            out.push(Grant {
                identity,
                server,
                policy: policy.map(|(p, _)| p),
            });
        }
        out
    }

    // ---- auth ---------------------------------------------------------

    fn auth(&mut self, entry: &Entry) -> Option<JwtConfig> {
        let f = self.table(
            &entry.value,
            Some(entry.key_span.start),
            "auth",
            AUTH_FIELDS,
        )?;
        let jwt = f.get("jwt")?;
        let field = "auth.jwt";
        let f = self.table(&jwt.value, Some(jwt.key_span.start), field, JWT_FIELDS)?;
        let before = self.error_count();
        let here = |name: &str| child(field, name);
        let mut required = |name: &str, example: &str| -> Option<&Entry> {
            let e = f.get(name);
            if e.is_none() {
                self.error(
                    &here(name),
                    f.at,
                    format!("missing `{name}`; add it, e.g. {name} = {example}"),
                );
            }
            e
        };
        let jwks = required(
            "jwks",
            "\"https://issuer.example/.well-known/jwks.json\" (or a file path)",
        );
        let issuer = required("issuer", "\"https://issuer.example\"");
        let audience = required("audience", "\"warden\"");
        let algorithms = required("algorithms", "[\"RS256\", \"ES256\"]");
        let jwks = jwks.and_then(|e| self.jwks(&e.value, &here("jwks")));
        let issuer = issuer.and_then(|e| {
            self.nonempty_string(&e.value, &here("issuer"), "\"https://issuer.example\"")
        });
        let audience =
            audience.and_then(|e| self.nonempty_string(&e.value, &here("audience"), "\"warden\""));
        let algorithms = algorithms.and_then(|e| self.algorithms(&e.value, &here("algorithms")));
        let identity_claim = match f.get("identity_claim") {
            Some(e) => self.nonempty_string(&e.value, &here("identity_claim"), "\"sub\""),
            None => Some("sub".to_owned()),
        };
        let leeway = match f.get("leeway") {
            Some(e) => {
                let d = self.duration(&e.value, &here("leeway"), true);
                if let Some(d) = d
                    && d > MAX_LEEWAY
                {
                    self.error(
                        &here("leeway"),
                        e.value.span.start,
                        "at most \"10m\": a longer leeway accepts tokens long expired; \
                         fix the clocks instead",
                    );
                }
                d
            }
            None => Some(Duration::from_secs(30)),
        };
        if self.error_count() != before {
            return None;
        }
        Some(JwtConfig {
            jwks: jwks?,
            issuer: issuer?,
            audience: audience?,
            algorithms: algorithms?,
            identity_claim: identity_claim?,
            leeway: leeway?,
        })
    }

    fn jwks(&mut self, node: &Node, field: &str) -> Option<JwksSource> {
        let text = self.nonempty_string(
            node,
            field,
            "\"https://issuer.example/.well-known/jwks.json\"",
        )?;
        if text.contains("://") {
            let problem = match url::Url::parse(&text) {
                Err(e) => Some(format!("not a valid URL ({e})")),
                Ok(u) if u.scheme() == "https" => None,
                Ok(u) if u.scheme() == "http" && is_loopback(&u) => None,
                Ok(u) if u.scheme() == "http" => Some(
                    "plain http is accepted only on a loopback host: keys fetched without TLS \
                     could be swapped in transit, letting anyone mint accepted tokens; use https"
                        .to_owned(),
                ),
                Ok(u) => Some(format!(
                    "unsupported scheme {:?}; use an https URL or a file path",
                    u.scheme()
                )),
            };
            return match problem {
                Some(message) => {
                    self.error(field, node.span.start, message);
                    None
                }
                None => Some(JwksSource::Url(text)),
            };
        }
        let path = self.dir.join(&text);
        let problem = match std::fs::read_to_string(&path) {
            Err(e) => Some(format!(
                "cannot read JWKS file {}: {e}; relative paths start at the config file's directory",
                path.display()
            )),
            Ok(body) => match serde_json::from_str::<serde_json::Value>(&body) {
                Ok(v) if v.get("keys").is_some_and(serde_json::Value::is_array) => None,
                _ => Some(format!(
                    "JWKS file {} is not a JSON Web Key Set (a JSON object with a \"keys\" array)",
                    path.display()
                )),
            },
        };
        match problem {
            Some(message) => {
                self.error(field, node.span.start, message);
                None
            }
            None => Some(JwksSource::File(path)),
        }
    }

    fn algorithms(&mut self, node: &Node, field: &str) -> Option<Vec<String>> {
        let items = self.array(node, field)?;
        if items.is_empty() {
            self.error(
                field,
                node.span.start,
                format!(
                    "must list at least one algorithm (no default, so tokens are never accepted \
                     by accident); choose from {}",
                    JWT_ALGORITHMS.join(" ")
                ),
            );
            return None;
        }
        let before = self.error_count();
        let mut out: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let here = format!("{field}[{i}]");
            let Some(alg) = self.string(item, &here) else {
                continue;
            };
            let message = if JWT_ALGORITHMS.contains(&alg) {
                if out.iter().any(|a| a == alg) {
                    Some(format!("{alg} is listed twice; list it once"))
                } else {
                    out.push(alg.to_owned());
                    None
                }
            } else if alg.starts_with("HS") {
                Some(format!(
                    "{alg} is refused: HMAC algorithms use a shared secret, which does not belong \
                     in a JWKS setup (anyone who can verify could also mint tokens); use RS256, \
                     ES256 or EdDSA"
                ))
            } else if alg.eq_ignore_ascii_case("none") {
                Some("\"none\" is refused: unsigned tokens prove nothing".to_owned())
            } else {
                let hint = did_you_mean(alg, JWT_ALGORITHMS.iter().copied());
                Some(format!(
                    "unsupported algorithm {alg:?}{hint}; choose from {}",
                    JWT_ALGORITHMS.join(" ")
                ))
            };
            if let Some(message) = message {
                self.error(&here, item.span.start, message);
            }
        }
        (self.error_count() == before).then_some(out)
    }
}

// ---- helpers --------------------------------------------------------------

/// `parent.key`, quoting keys that are not bare TOML keys.
pub(crate) fn child(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare {
        key.to_owned()
    } else {
        serde_json::to_string(key).unwrap_or_else(|_| format!("{key:?}"))
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

fn env_key_problem(key: &str) -> Option<String> {
    if key.is_empty() || key.contains('=') || key.contains('\0') {
        Some("not a valid environment variable name (empty, or contains = or NUL)".to_owned())
    } else {
        None
    }
}

fn header_name_problem(name: &str) -> Option<String> {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Some(format!("{name:?} is not a valid HTTP header name"));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Some(format!(
            "{name} is set by the gateway for each request; remove it"
        ));
    }
    None
}

fn header_value_problem(value: &str) -> Option<&'static str> {
    value
        .chars()
        .any(|c| c.is_control() && c != '\t')
        .then_some("the value (after ${VAR} expansion) contains a line break or control character")
}

/// Why `text` is not an acceptable http(s) URL (never echoing it: it may
/// hold an expanded secret). `endpoint` allows a path and query.
fn url_problem(text: &str, endpoint: bool) -> Option<String> {
    match url::Url::parse(text) {
        Err(e) => Some(format!(
            "not a valid URL ({e}); write an absolute URL such as \"https://host/mcp\""
        )),
        Ok(u) if u.scheme() != "http" && u.scheme() != "https" => Some(format!(
            "the scheme must be http or https, not {:?}",
            u.scheme()
        )),
        Ok(u) if u.host().is_none() => Some("the URL has no host".to_owned()),
        Ok(u) if u.fragment().is_some() => Some("remove the #fragment".to_owned()),
        Ok(u) if !endpoint && u.query().is_some() => Some("remove the ?query".to_owned()),
        Ok(_) => None,
    }
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn host_problem(host: &str) -> Option<String> {
    if host.contains("://") || host.contains('/') {
        return Some(format!(
            "{host:?} is not a host name; write the name alone, e.g. \"gateway.internal\""
        ));
    }
    if host.contains(':') {
        return Some(format!(
            "{host:?}: write the name without a port (any port is accepted for an allowed name)"
        ));
    }
    if host.contains('*') {
        return Some(format!(
            "{host:?}: wildcards are not supported; list each name"
        ));
    }
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63)
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    (!ok).then(|| format!("{host:?} is not a valid host name"))
}

/// A node as JSON (for identity attributes).
fn to_json(node: &Node) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match &node.value {
        Val::Str(s) | Val::Datetime(s) => Value::String(s.clone()),
        Val::Int(n) => Value::from(*n),
        Val::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or("not representable in JSON (nan or infinite)")?,
        Val::Bool(b) => Value::Bool(*b),
        Val::Null => Value::Null,
        Val::Array(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Val::Table(entries) => Value::Object(
            entries
                .iter()
                .map(|e| Ok((e.key.clone(), to_json(&e.value)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// Writes a node as JSON text, keeping document order (so the policy
/// compiler reports problems in the order the operator wrote them).
fn write_json(node: &Node, out: &mut String) -> Result<(), String> {
    match &node.value {
        Val::Table(entries) => {
            out.push('{');
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::from(e.key.as_str()).to_string());
                out.push(':');
                write_json(&e.value, out)?;
            }
            out.push('}');
        }
        Val::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out)?;
            }
            out.push(']');
        }
        _ => out.push_str(&to_json(node)?.to_string()),
    }
    Ok(())
}

/// The deepest node a JSON Pointer reaches (a missing member resolves to its
/// parent) and the pointer as a config path suffix (`.tools."a.b".limits[0]`).
fn resolve_pointer<'n>(root: &'n Node, pointer: &str) -> (Option<&'n Node>, String) {
    let mut node = Some(root);
    let mut path = String::new();
    if pointer.is_empty() {
        return (node, path);
    }
    let mut lost = false;
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        let current = if lost { None } else { node.map(|n| &n.value) };
        let next = match current {
            Some(Val::Array(items)) => {
                path.push_str(&format!("[{token}]"));
                token.parse::<usize>().ok().and_then(|i| items.get(i))
            }
            Some(Val::Table(entries)) => {
                path = child(&path, &token);
                entries.iter().find(|e| e.key == token).map(|e| &e.value)
            }
            _ => {
                path = child(&path, &token);
                None
            }
        };
        // A missing member: keep pointing at the deepest node found, but
        // finish the path.
        match next {
            Some(n) => node = Some(n),
            None => lost = true,
        }
    }
    if !path.starts_with('[') {
        path.insert(0, '.');
    }
    (node, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_quotes_only_when_needed() {
        assert_eq!(child("", "servers"), "servers");
        assert_eq!(child("servers", "send-it_2"), "servers.send-it_2");
        assert_eq!(
            child("identities", "alice@example.com"),
            "identities.\"alice@example.com\""
        );
        assert_eq!(child("a", ""), "a.\"\"");
    }

    #[test]
    fn header_rules() {
        assert_eq!(header_name_problem("Authorization"), None);
        assert!(header_name_problem("Bad Header").is_some());
        assert!(header_name_problem("mcp-session-id").is_some());
        assert!(header_value_problem("a\r\nb").is_some());
        assert_eq!(header_value_problem("Bearer x\ty"), None);
    }

    #[test]
    fn host_rules() {
        assert_eq!(host_problem("gateway.internal"), None);
        for bad in ["https://x", "x:8080", "*.x", "", "a..b", "a b"] {
            assert!(host_problem(bad).is_some(), "{bad}");
        }
    }
}
