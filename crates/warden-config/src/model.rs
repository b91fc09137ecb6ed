//! The loaded, validated config: what `warden serve` runs from.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A validated config. Every name it holds resolves: each grant's identity,
/// server and policy exist. Cheap to share: hold it as `Arc<Config>` and swap
/// the whole `Arc` on reload; policies are already `Arc`s.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file this was loaded from, as given to [`load`](crate::load).
    pub source: PathBuf,
    /// `state`: a state directory for SQLite (relative paths are resolved
    /// against the config file's directory) or a `postgres://` /
    /// `postgresql://` URL, kept as written for later backends. Default
    /// `None`: the gateway uses `$WARDEN_STATE_DIR`, else the platform data
    /// directory (`~/.local/share/warden`).
    pub state: Option<String>,
    /// `[listen]`: where and under which names the gateway answers.
    pub listen: Listen,
    /// `[limits]`: edge limits; each defaults as documented on [`EdgeLimits`].
    pub limits: EdgeLimits,
    /// `[servers.<name>]` and `[mcpServers.<name>]` together, by name.
    /// Default: empty.
    pub servers: BTreeMap<String, Server>,
    /// `[policies.<name>]`, compiled. Default: empty.
    pub policies: BTreeMap<String, Arc<warden_policy::Policy>>,
    /// Every policy file read (resolved against the config file's directory,
    /// not canonicalised), in name order without repeats: with
    /// [`source`](Config::source), what a reload watcher watches.
    pub policy_files: Vec<PathBuf>,
    /// `[identities.<name>]`, by name. Default: empty.
    pub identities: BTreeMap<String, Identity>,
    /// `[[grants]]`, in file order. Default: empty.
    pub grants: Vec<Grant>,
    /// `[auth.jwt]`: JWT bearer tokens, when configured. Default `None`: only
    /// API keys are accepted.
    pub jwt: Option<JwtConfig>,
    /// `[audit]`: how decisions are recorded. Default: durable, fail closed,
    /// no signing, everything kept.
    pub audit: AuditConfig,
    /// `[admin]`: the admin HTTP API. Default `None`: not served.
    pub admin: Option<AdminConfig>,
    /// Things accepted but worth telling the operator (client-only
    /// `mcpServers` fields that were ignored, disabled servers, grants without
    /// a policy), one line each in the `file:line:col: field: message` form.
    pub warnings: Vec<String>,
}

impl Config {
    /// The grant of `identity` for `server`, if any (there is at most one).
    pub fn grant(&self, identity: &str, server: &str) -> Option<&Grant> {
        self.grants
            .iter()
            .find(|g| g.identity == identity && g.server == server)
    }

    /// Every grant of `identity`, in file order.
    pub fn grants_of(&self, identity: &str) -> impl Iterator<Item = &Grant> {
        self.grants.iter().filter(move |g| g.identity == identity)
    }
}

/// `[listen]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// `address`: the socket address to bind. Default `127.0.0.1:8080`
    /// (loopback: the gateway is reachable from other machines only when
    /// configured so).
    pub address: SocketAddr,
    /// `allowed_hosts`: names accepted in `Host` and `Origin` besides
    /// `localhost` and IP literals (the defence against DNS rebinding), stored
    /// lower-case, without port. Default: empty.
    pub allowed_hosts: Vec<String>,
    /// `public_url`: the URL clients use to reach the gateway (an `http` or
    /// `https` URL), for RFC 9728 protected-resource metadata. Default `None`,
    /// meaning `http://<address>`; see [`Listen::base_url`].
    pub public_url: Option<String>,
}

impl Listen {
    /// The gateway's base URL without a trailing slash: `public_url` when
    /// set, else `http://<address>`.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.address),
        }
    }
}

impl Default for Listen {
    fn default() -> Listen {
        Listen {
            address: SocketAddr::from(([127, 0, 0, 1], 8080)),
            allowed_hosts: Vec::new(),
            public_url: None,
        }
    }
}

/// `[limits]`: bounds at the gateway's edge. Every value is positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeLimits {
    /// `max_body_bytes`: the largest client request body. Default 4194304 (4 MiB).
    pub max_body_bytes: usize,
    /// `max_header_bytes`: the largest total size of a request's headers.
    /// Default 16384 (16 KiB).
    pub max_header_bytes: usize,
    /// `max_concurrent_requests`: requests in flight across the whole
    /// gateway. Default 256.
    pub max_concurrent_requests: usize,
    /// `max_concurrent_per_session`: requests in flight in one MCP session.
    /// Default 16.
    pub max_concurrent_per_session: usize,
    /// `upstream_timeout`: how long a request to an upstream may take, unless
    /// the server sets its own `timeout`. Default 60 s.
    pub upstream_timeout: Duration,
    /// `session_idle`: an MCP session with no traffic for this long is ended.
    /// Default 30 min.
    pub session_idle: Duration,
}

impl Default for EdgeLimits {
    fn default() -> EdgeLimits {
        EdgeLimits {
            max_body_bytes: 4 * 1024 * 1024,
            max_header_bytes: 16 * 1024,
            max_concurrent_requests: 256,
            max_concurrent_per_session: 16,
            upstream_timeout: Duration::from_secs(60),
            session_idle: Duration::from_secs(30 * 60),
        }
    }
}

/// An upstream MCP server. `${VAR}` references in its strings are already
/// expanded. Its `Debug` output shows the names of `env` variables and
/// `headers` but not their values, which are usually credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum Server {
    /// A child process speaking MCP on stdin/stdout.
    Command {
        /// `command`: the program, looked up on `PATH` when not a path.
        command: String,
        /// `args`: its arguments. Default: none.
        args: Vec<String>,
        /// `env`: variables added to the gateway's environment for it.
        /// Default: none.
        env: BTreeMap<String, String>,
        /// `lifecycle`: one process for all sessions or one per session.
        /// Default [`Lifecycle::Shared`].
        lifecycle: Lifecycle,
        /// `timeout`: overrides [`EdgeLimits::upstream_timeout`] for this
        /// server. Default `None`.
        timeout: Option<Duration>,
    },
    /// A remote server reached over HTTP.
    Http {
        /// `url`: the MCP endpoint (`http` or `https`).
        url: String,
        /// `headers`: sent with every request to it (upstream credentials live
        /// here, never the client's). Default: none.
        headers: BTreeMap<String, String>,
        /// `transport`: Streamable HTTP or legacy HTTP+SSE. Default
        /// [`Transport::StreamableHttp`].
        transport: Transport,
        /// `timeout`: overrides [`EdgeLimits::upstream_timeout`] for this
        /// server. Default `None`.
        timeout: Option<Duration>,
    },
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values of env and headers carry upstream secrets; a config printed
        // in a log must not leak them.
        fn names(map: &BTreeMap<String, String>) -> Vec<&str> {
            map.keys().map(String::as_str).collect()
        }
        match self {
            Server::Command {
                command,
                args,
                env,
                lifecycle,
                timeout,
            } => f
                .debug_struct("Command")
                .field("command", command)
                .field("args", args)
                .field("env (values hidden)", &names(env))
                .field("lifecycle", lifecycle)
                .field("timeout", timeout)
                .finish(),
            Server::Http {
                url,
                headers,
                transport,
                timeout,
            } => f
                .debug_struct("Http")
                .field("url", url)
                .field("headers (values hidden)", &names(headers))
                .field("transport", transport)
                .field("timeout", timeout)
                .finish(),
        }
    }
}

impl Server {
    /// The server's own `timeout`, if set.
    pub fn timeout(&self) -> Option<Duration> {
        match self {
            Server::Command { timeout, .. } | Server::Http { timeout, .. } => *timeout,
        }
    }
}

/// How many processes a command server gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lifecycle {
    /// `"shared"`: one process serves every session (the default).
    #[default]
    Shared,
    /// `"per-session"`: each MCP session gets its own process, ended with the
    /// session.
    PerSession,
}

/// The HTTP transport of a URL server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// `"streamable-http"`: Streamable HTTP (2025-03-26 and later; the default).
    #[default]
    StreamableHttp,
    /// `"sse"`: the legacy HTTP+SSE transport (2024-11-05).
    Sse,
}

/// `[identities.<name>]`: a caller, named by an API key or a JWT claim.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The table's key; conditions read it as `identity.name`.
    pub name: String,
    /// `attributes`: readable in conditions as `identity.<key>`. Never holds
    /// `name`. Default: empty.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// `[[grants]]`: an identity's access to one server under one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `identity`: a key of `[identities]`.
    pub identity: String,
    /// `server`: a key of `[servers]` / `[mcpServers]`.
    pub server: String,
    /// `policy`: a key of `[policies]`. Default `None`: the grant denies
    /// every call (PolicyLayer's model).
    pub policy: Option<String>,
}

/// `[auth.jwt]`: JWT bearer tokens verified against a JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// `jwks`: where the signing keys are.
    pub jwks: JwksSource,
    /// `issuer`: the required `iss`.
    pub issuer: String,
    /// `audience`: the required `aud` (a token's `aud` must contain it).
    pub audience: String,
    /// `algorithms`: the accepted `alg` values, a non-empty subset of RS256
    /// RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA. No default.
    pub algorithms: Vec<String>,
    /// `identity_claim`: the claim whose value is the identity's name.
    /// Default `"sub"`.
    pub identity_claim: String,
    /// `leeway`: clock skew allowed on `exp` and `nbf`. Default 30 s.
    pub leeway: Duration,
}

/// Where a JWKS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A local file (resolved against the config file's directory).
    File(PathBuf),
    /// An `https` URL (or `http` on a loopback host).
    Url(String),
}

/// `max_lag` when `durability = "lag"` does not set it: 100 ms.
pub const DEFAULT_MAX_LAG: Duration = Duration::from_millis(100);

/// `[audit]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// `durability` (and `max_lag`). Default durable.
    pub durability: AuditDurability,
    /// `on_failure`. Default deny (fail closed).
    pub on_failure: OnAuditFailure,
    /// `signing_key`: an Ed25519 private key (PKCS#8 PEM), resolved against
    /// the config file's directory. Default `None`: checkpoints are not made.
    pub signing_key: Option<PathBuf>,
    /// `checkpoint_every`: records between signed checkpoints. Default 1000.
    pub checkpoint_every: u64,
    /// `checkpoint_interval`: a checkpoint at least this often while records
    /// are written. Default 60 s.
    pub checkpoint_interval: Duration,
    /// `max_age`: records older than this are deleted. Default `None`: kept.
    pub max_age: Option<Duration>,
    /// `max_records`: at most this many records are kept. Default `None`.
    pub max_records: Option<u64>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            durability: AuditDurability::Durable,
            on_failure: OnAuditFailure::Deny,
            signing_key: None,
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(60),
            max_age: None,
            max_records: None,
        }
    }
}

/// `audit.durability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditDurability {
    /// `"durable"`: a call is answered after its record is committed.
    Durable,
    /// `"lag"`: answered at once; records committed within `max_lag`.
    Lag(Duration),
}

/// `audit.on_failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnAuditFailure {
    /// `"deny"`: calls are denied while records cannot be written.
    Deny,
    /// `"allow"`: calls go on; failures are logged.
    Allow,
}

/// `[admin]`: the admin HTTP API.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// `address`. Default `127.0.0.1:9090`.
    pub address: SocketAddr,
    /// `token`: the bearer token admin requests must carry (required).
    pub token: String,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}
