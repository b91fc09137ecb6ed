//! The JSON Schema of the config file, for editors (Even Better TOML / taplo,
//! VS Code's JSON support).
//!
//! These types only describe the file; the loader in `load.rs` reads it,
//! because serde's derive stops at the first problem while `warden serve`
//! reports every problem at once. Tests keep the two in step: every field
//! list of the loader must match the schema's properties, and every valid
//! fixture must validate against the schema.
//!
//! Draft 07 is generated because it is the draft editors support best.

// The fields are read by `schemars`' derive only.
#![allow(dead_code)]

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// warden.toml: the config file of `warden serve`, the Warden team gateway.
/// A file ending in `.json` is read as JSON with the same fields.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Warden gateway config")]
struct ConfigFile {
    /// The schema of this file, for editors; ignored by Warden.
    #[serde(rename = "$schema")]
    schema: Option<String>,
    /// The state backend: a directory for the SQLite file (relative to this file's
    /// directory), or a postgres:// URL. ${VAR} is expanded. Default: $WARDEN_STATE_DIR,
    /// else the platform data directory (~/.local/share/warden).
    #[schemars(length(min = 1))]
    state: Option<String>,
    /// Where the gateway listens and which host names it answers to.
    listen: Option<ListenFile>,
    /// Bounds at the gateway's edge; every field is optional.
    limits: Option<LimitsFile>,
    /// Upstream MCP servers by name (a name appears in URLs as /mcp/<name>).
    #[schemars(extend("propertyNames" = {"pattern": "^(?!.*__)[a-z0-9][a-z0-9_-]{0,62}$"}))]
    servers: Option<BTreeMap<String, ServerFile>>,
    /// Upstream servers in the desktop clients' shape (Claude Desktop, Cursor), so a client
    /// config can be pasted in; merged into `servers` (a name may be in only one of them).
    #[serde(rename = "mcpServers")]
    #[schemars(extend("propertyNames" = {"pattern": "^(?!.*__)[a-z0-9][a-z0-9_-]{0,62}$"}))]
    mcp_servers: Option<BTreeMap<String, ClientServerFile>>,
    /// Policies by name, referenced by grants.
    #[schemars(extend("propertyNames" = {"pattern": "^(?!.*__)[a-z0-9][a-z0-9_-]{0,62}$"}))]
    policies: Option<BTreeMap<String, PolicyFile>>,
    /// Callers by name: the name an API key was created for, or the JWT claim's value.
    #[schemars(extend("propertyNames" = {"pattern": "^\\S{1,256}$"}))]
    identities: Option<BTreeMap<String, IdentityFile>>,
    /// Grants: an identity's access to one server under one policy; at most one per
    /// identity and server.
    grants: Option<Vec<GrantFile>>,
    /// Authentication besides API keys (which are always accepted).
    auth: Option<AuthFile>,
    /// How decisions are recorded in the audit log; every field is optional.
    audit: Option<AuditFile>,
    /// The admin HTTP API (audit queries); served only when this table is present.
    admin: Option<AdminFile>,
}

/// `[audit]`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct AuditFile {
    /// "durable": a call is answered only after its record is committed; "lag": answered at
    /// once, records committed within max_lag. Default "durable".
    #[schemars(extend("default" = "durable"))]
    durability: Option<AuditDurabilityText>,
    /// With durability = "lag": how long a record may wait before it is committed. Default
    /// "100ms".
    #[schemars(extend("default" = "100ms"))]
    max_lag: Option<DurationText>,
    /// While records cannot be written: "deny" calls (fail closed) or "allow" them. Default
    /// "deny".
    #[schemars(extend("default" = "deny"))]
    on_failure: Option<OnFailureText>,
    /// An Ed25519 private key (PKCS#8 PEM file, relative to this file) that signs
    /// checkpoints of the chain; `warden audit keygen` makes one. Default: no checkpoints.
    #[schemars(length(min = 1))]
    signing_key: Option<String>,
    /// Records between signed checkpoints. Default 1000.
    #[schemars(range(min = 1), extend("default" = 1000))]
    checkpoint_every: Option<u64>,
    /// A signed checkpoint at least this often while records are written. Default "60s".
    #[schemars(extend("default" = "60s"))]
    checkpoint_interval: Option<DurationText>,
    /// Records older than this are deleted (checked hourly). Default: kept forever.
    max_age: Option<DurationText>,
    /// At most this many records are kept, the newest. Default: no limit.
    #[schemars(range(min = 1))]
    max_records: Option<u64>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
enum AuditDurabilityText {
    Durable,
    Lag,
}

#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
enum OnFailureText {
    Deny,
    Allow,
}

/// `[admin]`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct AdminFile {
    /// IP address and port of the admin listener. Default "127.0.0.1:9090" (loopback).
    #[schemars(extend("default" = "127.0.0.1:9090"))]
    address: Option<String>,
    /// The bearer token admin requests must carry, at least 16 characters; use
    /// "${WARDEN_ADMIN_TOKEN}" rather than writing it here.
    #[schemars(length(min = 16))]
    token: String,
}

/// `[listen]`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListenFile {
    /// IP address and port to bind. Default 127.0.0.1:8080 (loopback).
    #[schemars(extend("default" = "127.0.0.1:8080"))]
    address: Option<String>,
    /// Host names accepted in Host and Origin besides localhost and IP literals (defence
    /// against DNS rebinding); names only, no port. Default [].
    #[schemars(extend("default" = []))]
    allowed_hosts: Option<Vec<String>>,
    /// The URL clients use to reach the gateway, for RFC 9728 metadata. Default
    /// http://<address>.
    #[schemars(extend("format" = "uri"))]
    public_url: Option<String>,
}

/// `[limits]`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    /// Largest client request body, in bytes. Default 4194304.
    #[schemars(range(min = 1), extend("default" = 4_194_304))]
    max_body_bytes: Option<u64>,
    /// Largest total size of a request's headers, in bytes. Default 16384.
    #[schemars(range(min = 1), extend("default" = 16_384))]
    max_header_bytes: Option<u64>,
    /// Requests in flight across the whole gateway. Default 256.
    #[schemars(range(min = 1), extend("default" = 256))]
    max_concurrent_requests: Option<u64>,
    /// Requests in flight in one MCP session. Default 16.
    #[schemars(range(min = 1), extend("default" = 16))]
    max_concurrent_per_session: Option<u64>,
    /// How long an upstream request may take (servers may set their own). Default "60s".
    #[schemars(extend("default" = "60s"))]
    upstream_timeout: Option<DurationText>,
    /// An MCP session idle this long is ended. Default "30m".
    #[schemars(extend("default" = "30m"))]
    session_idle: Option<DurationText>,
}

/// An upstream server: a child process (`command`) or a remote endpoint (`url`).
#[derive(JsonSchema)]
#[serde(untagged)]
enum ServerFile {
    Command(CommandServerFile),
    Url(UrlServerFile),
}

/// A child process speaking MCP on stdin/stdout.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct CommandServerFile {
    /// The program (looked up on PATH). ${VAR} is expanded.
    #[schemars(length(min = 1))]
    command: String,
    /// Its arguments. ${VAR} is expanded. Default [].
    args: Option<Vec<String>>,
    /// Variables added to its environment. ${VAR} is expanded in values. Default {}.
    env: Option<BTreeMap<String, String>>,
    /// "shared": one process for all sessions (default); "per-session": one per session.
    lifecycle: Option<LifecycleFile>,
    /// This server's upstream timeout. Default: limits.upstream_timeout.
    timeout: Option<DurationText>,
}

/// A remote MCP server.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct UrlServerFile {
    /// The MCP endpoint, http or https. ${VAR} is expanded.
    url: String,
    /// "streamable-http" (default) or "sse" (legacy HTTP+SSE, 2024-11-05).
    transport: Option<TransportFile>,
    /// Headers sent with every request (upstream credentials). ${VAR} is expanded in values.
    /// Default {}.
    headers: Option<BTreeMap<String, String>>,
    /// This server's upstream timeout. Default: limits.upstream_timeout.
    timeout: Option<DurationText>,
}

/// A server in the desktop clients' `mcpServers` shape.
#[derive(JsonSchema)]
#[serde(untagged)]
enum ClientServerFile {
    Command(ClientCommandServerFile),
    Url(ClientUrlServerFile),
}

/// A child process, as desktop clients write it.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct ClientCommandServerFile {
    /// The program (looked up on PATH). ${VAR} is expanded.
    #[schemars(length(min = 1))]
    command: String,
    /// Its arguments. ${VAR} is expanded. Default [].
    args: Option<Vec<String>>,
    /// Variables added to its environment. ${VAR} is expanded in values. Default {}.
    env: Option<BTreeMap<String, String>>,
    /// Only "stdio" for a command.
    #[serde(rename = "type")]
    kind: Option<StdioType>,
    /// Warden's extension: "shared" (default) or "per-session".
    lifecycle: Option<LifecycleFile>,
    /// This server's upstream timeout, a duration string (a bare number is refused:
    /// clients disagree on its unit). Default: limits.upstream_timeout.
    timeout: Option<DurationText>,
    /// true: the server is not served (a warning says so). Default false.
    disabled: Option<bool>,
    /// Client-only: ignored with a warning (the grant's policy decides every call).
    #[serde(rename = "autoApprove")]
    auto_approve: Option<Vec<String>>,
    /// Client-only: ignored with a warning (the grant's policy decides every call).
    #[serde(rename = "alwaysAllow")]
    always_allow: Option<Vec<String>>,
}

/// A remote server, as desktop clients write it.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct ClientUrlServerFile {
    /// The MCP endpoint, http or https. ${VAR} is expanded.
    url: String,
    /// Headers sent with every request. ${VAR} is expanded in values. Default {}.
    headers: Option<BTreeMap<String, String>>,
    /// "http" or "streamable-http" (Streamable HTTP, the default) or "sse" (legacy).
    #[serde(rename = "type")]
    kind: Option<UrlType>,
    /// This server's upstream timeout, a duration string. Default: limits.upstream_timeout.
    timeout: Option<DurationText>,
    /// true: the server is not served (a warning says so). Default false.
    disabled: Option<bool>,
    /// Client-only: ignored with a warning.
    #[serde(rename = "autoApprove")]
    auto_approve: Option<Vec<String>>,
    /// Client-only: ignored with a warning.
    #[serde(rename = "alwaysAllow")]
    always_allow: Option<Vec<String>>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum LifecycleFile {
    Shared,
    PerSession,
}

#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum TransportFile {
    StreamableHttp,
    Sse,
}

#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum StdioType {
    Stdio,
}

#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum UrlType {
    Http,
    StreamableHttp,
    Sse,
}

/// A policy: a file or an inline table.
#[derive(JsonSchema)]
#[serde(untagged)]
enum PolicyFile {
    File(PolicyFromFile),
    Inline(PolicyInline),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct PolicyFromFile {
    /// A policy JSON file, relative to this config file's directory.
    #[schemars(length(min = 1))]
    file: String,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct PolicyInline {
    /// The policy document itself (see docs/policy.md), e.g.
    /// { version = "1", default = "deny", tools = { "connections.list" = {} } }.
    inline: serde_json::Map<String, serde_json::Value>,
}

/// `[identities.<name>]`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct IdentityFile {
    /// Attributes readable in policy conditions as identity.<key>; `name` is reserved
    /// (identity.name is the table's key). Default {}.
    #[schemars(extend("not" = {"required": ["name"]}))]
    attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `[[grants]]`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct GrantFile {
    /// A key of [identities].
    identity: String,
    /// A key of [servers] or [mcpServers].
    server: String,
    /// A key of [policies]. Omitted: the grant denies every call.
    policy: Option<String>,
}

/// `[auth]`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    /// JWT bearer tokens checked against a JWKS. Default: none (API keys only).
    jwt: Option<JwtFile>,
}

/// `[auth.jwt]`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct JwtFile {
    /// The JWKS: an https URL (http only on loopback) or a file path relative to this file.
    #[schemars(length(min = 1))]
    jwks: String,
    /// The required `iss`.
    #[schemars(length(min = 1))]
    issuer: String,
    /// The required `aud`.
    #[schemars(length(min = 1))]
    audience: String,
    /// Accepted `alg` values; required, no default. HMAC (HS*) and "none" are refused.
    #[schemars(length(min = 1))]
    algorithms: Vec<JwtAlgorithm>,
    /// The claim naming the identity. Default "sub".
    #[schemars(length(min = 1), extend("default" = "sub"))]
    identity_claim: Option<String>,
    /// Clock skew allowed on exp and nbf, at most "10m". Default "30s".
    #[schemars(extend("default" = "30s"))]
    leeway: Option<DurationText>,
}

#[derive(JsonSchema)]
enum JwtAlgorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

/// A duration such as "500ms", "60s", "5m", "1h30m" or "2d".
struct DurationText;

impl JsonSchema for DurationText {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: numbers with units ms, s, m, h, d, e.g. \"500ms\", \"60s\", \"5m\", \"1h30m\".",
            "type": "string",
            "pattern": "^([0-9]+(ms|s|m|h|d))+$"
        })
    }
}

/// The schema as JSON: draft 07, with `Option` fields as plain optional
/// fields (the loader refuses `null`, so the schema does too).
pub(crate) fn json_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<ConfigFile>();
    let mut value = schema.to_value();
    strip_null(&mut value);
    value
}

/// Removes `null` from `type` arrays and `{"type": "null"}` from `anyOf`,
/// recursively.
fn strip_null(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(any)) = map.get_mut("anyOf") {
                any.retain(|s| s.get("type").is_none_or(|t| t != "null"));
                if any.len() == 1 {
                    let only = any.remove(0);
                    map.remove("anyOf");
                    match only {
                        // Draft 07 ignores the siblings of `$ref`: keep it in
                        // an `allOf` so a description next to it still shows.
                        Value::Object(inner) if inner.contains_key("$ref") => {
                            map.insert("allOf".into(), Value::Array(vec![Value::Object(inner)]));
                        }
                        Value::Object(inner) => {
                            for (k, v) in inner {
                                map.entry(k).or_insert(v);
                            }
                        }
                        other => {
                            map.insert("allOf".into(), Value::Array(vec![other]));
                        }
                    }
                }
            }
            for v in map.values_mut() {
                strip_null(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::load::{
        ADMIN_FIELDS, AUDIT_FIELDS, AUTH_FIELDS, CLIENT_IGNORED_FIELDS, CLIENT_SERVER_FIELDS,
        GRANT_FIELDS, IDENTITY_FIELDS, JWT_ALGORITHMS, JWT_FIELDS, LIMIT_FIELDS, LISTEN_FIELDS,
        POLICY_FIELDS, SERVER_FIELDS, TOP_FIELDS,
    };
    use crate::names::PLAIN_NAME_PATTERN;

    fn definition<'a>(schema: &'a Value, name: &str) -> &'a Value {
        if name.is_empty() {
            return schema;
        }
        &schema["definitions"][name]
    }

    fn properties(schema: &Value, name: &str) -> Vec<String> {
        let mut keys: Vec<String> = definition(schema, name)["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} has properties"))
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    fn sorted(lists: &[&[&str]]) -> Vec<String> {
        let mut out: Vec<String> = lists
            .iter()
            .flat_map(|l| l.iter().map(|s| (*s).to_owned()))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The schema describes exactly the fields the loader reads.
    #[test]
    fn schema_fields_match_the_loader() {
        let schema = super::json_schema();
        assert_eq!(properties(&schema, ""), sorted(&[TOP_FIELDS]));
        assert_eq!(properties(&schema, "ListenFile"), sorted(&[LISTEN_FIELDS]));
        assert_eq!(properties(&schema, "LimitsFile"), sorted(&[LIMIT_FIELDS]));
        assert_eq!(properties(&schema, "AuditFile"), sorted(&[AUDIT_FIELDS]));
        assert_eq!(properties(&schema, "AdminFile"), sorted(&[ADMIN_FIELDS]));
        let mut server = properties(&schema, "CommandServerFile");
        server.extend(properties(&schema, "UrlServerFile"));
        server.sort();
        server.dedup();
        assert_eq!(server, sorted(&[SERVER_FIELDS]));
        let mut client = properties(&schema, "ClientCommandServerFile");
        client.extend(properties(&schema, "ClientUrlServerFile"));
        client.sort();
        client.dedup();
        assert_eq!(
            client,
            sorted(&[CLIENT_SERVER_FIELDS, CLIENT_IGNORED_FIELDS])
        );
        let mut policy = properties(&schema, "PolicyFromFile");
        policy.extend(properties(&schema, "PolicyInline"));
        policy.sort();
        assert_eq!(policy, sorted(&[POLICY_FIELDS]));
        assert_eq!(
            properties(&schema, "IdentityFile"),
            sorted(&[IDENTITY_FIELDS])
        );
        assert_eq!(properties(&schema, "GrantFile"), sorted(&[GRANT_FIELDS]));
        assert_eq!(properties(&schema, "AuthFile"), sorted(&[AUTH_FIELDS]));
        assert_eq!(properties(&schema, "JwtFile"), sorted(&[JWT_FIELDS]));
        let algs: Vec<&str> = schema["definitions"]["JwtAlgorithm"]["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(algs, JWT_ALGORITHMS);
        for section in ["servers", "mcpServers", "policies"] {
            assert_eq!(
                schema["properties"][section]["propertyNames"]["pattern"], PLAIN_NAME_PATTERN,
                "{section}"
            );
        }
    }
}
