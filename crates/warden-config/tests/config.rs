//! Data-driven tests: every config in `tests/data/` is loaded through one
//! helper and its outcome compared with `<file>.out` beside it (`ok` and
//! the warnings, or every error line). Regenerate the expectations (and
//! `docs/warden.schema.json`) with `WARDEN_BLESS=1 cargo test -p warden-config`,
//! then read the diff.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use warden_config::{
    Config, ConfigErrors, JwksSource, Lifecycle, Server, Transport, json_schema, load,
    load_with_env,
};

const DATA: &str = "tests/data";

/// The environment every fixture is loaded with.
fn env(name: &str) -> Option<String> {
    let value = match name {
        "EXECUTOR_TOKEN" => "exec-token",
        "SENDIT_TOKEN" => "sendit-token",
        "SENDIT_HOST" => "sendit.example.com",
        "GITHUB_TOKEN" => "ghp_test",
        "TOOLS" => "/opt/tools",
        "PGPASSWORD" => "pw",
        "EMPTY" => "",
        _ => return None,
    };
    Some(value.to_owned())
}

fn bless() -> bool {
    std::env::var_os("WARDEN_BLESS").is_some()
}

fn load_data(name: &str) -> Result<Config, ConfigErrors> {
    load_with_env(&Path::new(DATA).join(name), &env)
}

/// What a fixture's `.out` file holds.
fn render(outcome: &Result<Config, ConfigErrors>) -> String {
    match outcome {
        Ok(config) => {
            let mut out = String::from("ok\n");
            for w in &config.warnings {
                out.push_str(&format!("warning: {w}\n"));
            }
            out
        }
        Err(errors) => format!("{errors}\n"),
    }
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(DATA)
        .expect("tests/data exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml" || e == "json"))
        .collect();
    files.sort();
    files
}

/// The one helper: every fixture against its expectation.
#[test]
fn every_fixture_matches_its_expectation() {
    let mut failures = Vec::new();
    for path in fixtures() {
        let got = render(&load_with_env(&path, &env));
        let out = PathBuf::from(format!("{}.out", path.display()));
        if bless() {
            std::fs::write(&out, &got).expect("write expectation");
            continue;
        }
        let want = std::fs::read_to_string(&out).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "--- {}\n--- want:\n{want}--- got:\n{got}",
                path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every field path the loader reports exists as written, and no fixture's
/// expectation is empty (a fixture that reports nothing tests nothing).
#[test]
fn expectations_are_not_empty() {
    if bless() {
        return; // the other test is writing them
    }
    for path in fixtures() {
        let out = std::fs::read_to_string(format!("{}.out", path.display())).unwrap_or_default();
        assert!(
            !out.trim().is_empty(),
            "{} has no expectation",
            path.display()
        );
    }
}

fn errors_of(name: &str) -> Vec<String> {
    match load_data(name) {
        Ok(_) => panic!("{name} should fail"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

fn has(errors: &[String], needle: &str) -> bool {
    errors.iter().any(|e| e.contains(needle))
}

#[test]
fn full_example() {
    let c = load_data("full.toml").expect("valid");
    assert_eq!(c.source, Path::new(DATA).join("full.toml"));
    assert_eq!(c.state.as_deref(), Some("/var/lib/warden"));
    assert_eq!(c.listen.address.to_string(), "0.0.0.0:8443");
    assert_eq!(
        c.listen.allowed_hosts,
        ["gateway.internal", "warden.example.com"]
    );
    assert_eq!(c.listen.base_url(), "https://gateway.internal");
    assert_eq!(c.limits.max_body_bytes, 1_048_576);
    assert_eq!(c.limits.max_header_bytes, 8192);
    assert_eq!(c.limits.max_concurrent_requests, 64);
    assert_eq!(c.limits.max_concurrent_per_session, 4);
    assert_eq!(c.limits.upstream_timeout, Duration::from_secs(45));
    assert_eq!(c.limits.session_idle, Duration::from_secs(3600));

    assert_eq!(
        c.servers["executor"],
        Server::Command {
            command: "npx".into(),
            args: vec!["-y".into(), "@example/executor-mcp".into()],
            env: [("EXECUTOR_TOKEN".to_owned(), "exec-token".to_owned())].into(),
            lifecycle: Lifecycle::PerSession,
            timeout: None,
        }
    );
    assert_eq!(
        c.servers["sendit"],
        Server::Http {
            url: "https://sendit.example.com/mcp".into(),
            headers: [("Authorization".to_owned(), "Bearer sendit-token".to_owned())].into(),
            transport: Transport::StreamableHttp,
            timeout: Some(Duration::from_secs(30)),
        }
    );
    assert_eq!(c.servers["sendit"].timeout(), Some(Duration::from_secs(30)));

    let names: Vec<&str> = c.policies.keys().map(String::as_str).collect();
    assert_eq!(names, ["list-only", "refresh-only", "sendit-execute"]);
    assert_eq!(
        c.policy_files,
        [
            Path::new(DATA).join("../../../../examples/executor-refresh.json"),
            Path::new(DATA).join("../../../../examples/sendit-execute.json"),
        ]
    );
    let listed = |policy: &str, tool: &str| c.policies[policy].is_listed(tool);
    assert!(listed("refresh-only", "connections.refresh"));
    assert!(!listed("refresh-only", "connections.delete"));
    assert!(listed("sendit-execute", "execute_connector_operation"));
    assert!(listed("list-only", "connections.list"));
    assert!(!listed("list-only", "connections.refresh"));

    let ci = &c.identities["ci-agent"];
    assert_eq!(ci.name, "ci-agent");
    assert_eq!(
        serde_json::Value::Object(ci.attributes.clone()),
        serde_json::json!({"team": "platform", "tier": 2, "oncall": true, "regions": ["eu", "us"]})
    );
    assert!(c.identities["alice@example.com"].attributes.is_empty());

    assert_eq!(c.grants.len(), 3);
    let g = c.grant("ci-agent", "sendit").expect("granted");
    assert_eq!(g.policy.as_deref(), Some("sendit-execute"));
    assert!(c.grant("alice@example.com", "sendit").is_none());
    let servers: Vec<&str> = c.grants_of("ci-agent").map(|g| g.server.as_str()).collect();
    assert_eq!(servers, ["executor", "sendit"]);

    let jwt = c.jwt.as_ref().expect("jwt");
    assert_eq!(
        jwt.jwks,
        JwksSource::Url("https://issuer.example/.well-known/jwks.json".into())
    );
    assert_eq!(jwt.issuer, "https://issuer.example");
    assert_eq!(jwt.audience, "warden");
    assert_eq!(jwt.algorithms, ["RS256", "ES256"]);
    assert_eq!(jwt.identity_claim, "email");
    assert_eq!(jwt.leeway, Duration::from_secs(10));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn debug_output_hides_credentials() {
    let c = load_data("full.toml").expect("valid");
    let printed = format!("{c:?}");
    assert!(!printed.contains("exec-token") && !printed.contains("sendit-token"));
    assert!(printed.contains("EXECUTOR_TOKEN") && printed.contains("Authorization"));
}

#[test]
fn defaults() {
    let c = load_data("empty.toml").expect("valid");
    assert_eq!(c.state, None);
    assert_eq!(c.listen.address.to_string(), "127.0.0.1:8080");
    assert!(c.listen.allowed_hosts.is_empty());
    assert_eq!(c.listen.public_url, None);
    assert_eq!(c.listen.base_url(), "http://127.0.0.1:8080");
    assert_eq!(c.limits.max_body_bytes, 4_194_304);
    assert_eq!(c.limits.max_header_bytes, 16_384);
    assert_eq!(c.limits.max_concurrent_requests, 256);
    assert_eq!(c.limits.max_concurrent_per_session, 16);
    assert_eq!(c.limits.upstream_timeout, Duration::from_secs(60));
    assert_eq!(c.limits.session_idle, Duration::from_secs(1800));
    assert!(c.servers.is_empty() && c.policies.is_empty() && c.grants.is_empty());
    assert!(c.jwt.is_none());

    let jwt = load_data("jwt_loopback.toml")
        .expect("valid")
        .jwt
        .expect("jwt");
    assert_eq!(jwt.identity_claim, "sub");
    assert_eq!(jwt.leeway, Duration::from_secs(30));
}

#[test]
fn claude_desktop_config_pasted_as_is() {
    let c = load_data("claude_desktop.json").expect("valid");
    let Server::Command {
        command,
        args,
        env,
        lifecycle,
        timeout,
    } = &c.servers["github"]
    else {
        panic!("a command server")
    };
    assert_eq!(command, "npx");
    assert_eq!(args, &["-y", "@modelcontextprotocol/server-github"]);
    assert_eq!(env["GITHUB_PERSONAL_ACCESS_TOKEN"], "ghp_example");
    assert_eq!(*lifecycle, Lifecycle::Shared);
    assert_eq!(*timeout, None);
    assert!(matches!(&c.servers["filesystem"], Server::Command { args, .. } if args.len() == 4));
    assert!(c.warnings.is_empty());
}

#[test]
fn client_fields_in_toml() {
    let c = load_data("client_fields.toml").expect("valid");
    let names: Vec<&str> = c.servers.keys().map(String::as_str).collect();
    // `old` has disabled = true: not served.
    assert_eq!(names, ["github", "legacy", "remote"]);
    assert!(matches!(
        &c.servers["remote"],
        Server::Http { transport: Transport::StreamableHttp, timeout: Some(t), .. } if *t == Duration::from_secs(20)
    ));
    assert!(matches!(
        &c.servers["legacy"],
        Server::Http {
            transport: Transport::Sse,
            ..
        }
    ));
    assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("mcpServers.github.autoApprove"))
    );
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("mcpServers.remote.alwaysAllow"))
    );
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("mcpServers.old.disabled"))
    );
}

#[test]
fn json_config_with_both_server_shapes() {
    let c = load_data("json_full.json").expect("valid");
    assert!(
        matches!(&c.servers["executor"], Server::Command { command, .. } if command == "warden")
    );
    assert!(matches!(
        &c.servers["sendit"],
        Server::Http { transport: Transport::Sse, headers, .. } if headers["X-Api-Key"] == "sendit-token"
    ));
    assert_eq!(
        c.grant("ci-agent", "sendit").and_then(|g| g.policy.clone()),
        None
    );
    assert_eq!(c.warnings.len(), 1, "a grant without policy warns");
}

#[test]
fn variables_are_expanded_and_escapes_kept() {
    let c = load_data("expand.toml").expect("valid");
    let Server::Command {
        command, args, env, ..
    } = &c.servers["executor"]
    else {
        panic!("a command server")
    };
    assert_eq!(command, "/opt/tools/executor");
    assert_eq!(
        args,
        &["--token=exec-token", "literal ${NOT_A_VAR}", "price: $5"]
    );
    assert_eq!(env["TOKEN"], "exec-token");
    assert_eq!(env["PLAIN"], "no vars");
    assert_eq!(env["EMPTY"], "");
    let Server::Http { url, headers, .. } = &c.servers["sendit"] else {
        panic!("an http server")
    };
    assert_eq!(url, "https://sendit.example.com/mcp");
    assert_eq!(headers["Authorization"], "Bearer sendit-token");
    assert_eq!(headers["X-Template"], "${user}");

    let c = load_data("state_postgres.toml").expect("valid");
    assert_eq!(
        c.state.as_deref(),
        Some("postgres://warden:pw@db.internal/warden")
    );
    let c = load_data("state_relative.toml").expect("valid");
    assert_eq!(
        c.state.map(PathBuf::from),
        Some(Path::new(DATA).join("state"))
    );
}

#[test]
fn unset_variables_name_the_variable_and_the_field() {
    let errors = errors_of("expand_unset.toml");
    for (field, var) in [
        ("servers.executor.command", "MISSING_BIN"),
        ("servers.executor.args[0]", "MISSING_TOKEN"),
        ("servers.sendit.url", "MISSING_HOST"),
        (
            "servers.sendit.headers.Authorization",
            "MISSING_SENDIT_TOKEN",
        ),
    ] {
        assert!(
            has(
                &errors,
                &format!("{field}: environment variable {var} is not set")
            ),
            "{field} {var}: {errors:#?}"
        );
    }
    assert!(has(&errors, "servers.executor.args[1]: `${1BAD}`"));
    assert!(has(&errors, "servers.executor.args[2]: `${` is not closed"));
    assert!(has(
        &errors,
        "servers.executor.env.OTHER: `${MISSING_OTHER:-default}`"
    ));
    // A variable that is set is never mentioned.
    assert!(!has(&errors, "EXECUTOR_TOKEN"));
}

#[test]
fn every_problem_is_reported_at_once_with_its_field() {
    let errors = errors_of("everything_at_once.toml");
    for field in [
        ": state: ",
        ": listen.address: ",
        ": limits.session_idle: ",
        ": servers.executor.lifecycle: ",
        ": mcpServers.Sendit: ",
        ": mcpServers.Sendit.url: ",
        ": identities.\"has space\": ",
        ": grants[0].identity: ",
        ": grants[0].server: ",
        ": grants[0].policy: ",
        ": auth.jwt.algorithms[0]: ",
        "policies/broken.json:3:",
    ] {
        assert!(has(&errors, field), "{field}: {errors:#?}");
    }
    // Every config-file problem has a position.
    let all = load_data("everything_at_once.toml").expect_err("invalid");
    assert!(all.0.iter().all(|e| e.position.is_some()));
}

#[test]
fn grants_suggest_the_closest_name() {
    let errors = errors_of("grants.toml");
    assert!(has(
        &errors,
        r#"unknown identity "ci-agnet" (did you mean "ci-agent"?)"#
    ));
    assert!(has(
        &errors,
        r#"unknown server "exector" (did you mean "executor"?)"#
    ));
    assert!(has(
        &errors,
        r#"unknown policy "refresh-onyl" (did you mean "refresh-only"?)"#
    ));
    assert!(has(&errors, r#"unknown server "database"; declare"#));
    assert!(has(
        &errors,
        "grants[2]: a second grant of identity \"ci-agent\" for server \"executor\" (the first is grants[1])"
    ));
    assert!(has(&errors, "grants[3].identity: missing `identity`"));
}

#[test]
fn policy_problems_carry_the_policy_files_path_and_position() {
    let all = load_data("policies.toml").expect_err("invalid");
    let broken: Vec<_> = all
        .0
        .iter()
        .filter(|e| e.file.ends_with("policies/broken.json"))
        .collect();
    assert!(broken.len() >= 2, "{all}");
    assert!(
        broken
            .iter()
            .all(|e| e.position.is_some() && e.field.starts_with('/'))
    );
    let errors: Vec<String> = all.0.iter().map(ToString::to_string).collect();
    assert!(has(
        &errors,
        "policies.missing.file: cannot read policy file"
    ));
    assert!(has(&errors, "policies/not-json.json:1:"));
    assert!(has(&errors, "policies.bad-inline.inline.version: "));
    assert!(has(
        &errors,
        "policies.bad-inline.inline.tools.\"a.b\".action: "
    ));
    assert!(has(
        &errors,
        "policies.bad-inline.inline.tools.c.limits[0].scope: "
    ));
    assert!(has(&errors, "policies.both.inline: a policy is either"));
    assert!(has(&errors, "policies.neither: missing `file` or `inline`"));
}

#[test]
fn jwt_rules() {
    let errors = errors_of("jwt.toml");
    assert!(has(
        &errors,
        "auth.jwt.jwks: plain http is accepted only on a loopback host"
    ));
    assert!(has(&errors, "auth.jwt.audience: missing `audience`"));
    assert!(has(&errors, "auth.jwt.issuer: must not be empty"));
    assert!(has(
        &errors,
        "auth.jwt.algorithms[1]: HS256 is refused: HMAC algorithms use a shared secret"
    ));
    assert!(has(&errors, "auth.jwt.algorithms[2]: \"none\" is refused"));
    assert!(has(
        &errors,
        "auth.jwt.algorithms[3]: unsupported algorithm \"rs384\" (did you mean \"RS384\"?)"
    ));
    assert!(has(
        &errors,
        "auth.jwt.algorithms[4]: RS256 is listed twice"
    ));
    assert!(has(&errors, "auth.jwt.algorithms[5]: must be a string"));
    assert!(has(&errors, "auth.jwt.leeway: at most \"10m\""));
    let errors = errors_of("jwt_more.toml");
    assert!(has(
        &errors,
        "auth.jwt.algorithms: must list at least one algorithm"
    ));
    assert!(has(&errors, "auth.jwt.jwks: cannot read JWKS file"));
    let jwt = load_data("jwt_file.toml").expect("valid").jwt.expect("jwt");
    assert_eq!(
        jwt.jwks,
        JwksSource::File(Path::new(DATA).join("keys/jwks.json"))
    );
    assert_eq!(jwt.leeway, Duration::ZERO);
}

#[test]
fn syntax_errors_have_positions() {
    for name in ["syntax.toml", "syntax.json", "duplicate_key.json"] {
        let all = load_data(name).expect_err("invalid");
        assert!(
            all.0
                .iter()
                .all(|e| e.position.is_some() && e.field.is_empty()),
            "{name}: {all}"
        );
    }
}

#[test]
fn unknown_fields_are_reported_everywhere_with_positions() {
    let all = load_data("unknown_fields.toml").expect_err("invalid");
    let errors: Vec<String> = all.0.iter().map(ToString::to_string).collect();
    for (field, line) in [
        ("stat", 1),
        ("version", 2),
        ("listen.adress", 5),
        ("limits.max_body", 8),
        ("servers.executor.comand", 11),
        ("policies.p.fiel", 15),
        ("identities.ci-agent.attrs", 19),
        ("grants[0].polciy", 24),
        ("auth.oidc", 27),
        ("auth.jwt.identity_claims", 34),
    ] {
        let prefix = format!("tests/data/unknown_fields.toml:{line}:1: {field}: unknown field");
        assert!(
            errors.iter().any(|e| e.starts_with(&prefix)),
            "{prefix}: {errors:#?}"
        );
    }
    assert!(has(
        &errors,
        r#"unknown field "comand" (did you mean "command"?)"#
    ));
}

#[test]
fn a_missing_file_is_one_error_without_position() {
    let all = load_data("no-such-config.toml").expect_err("missing");
    assert_eq!(all.0.len(), 1);
    assert_eq!(all.0[0].position, None);
    assert!(
        all.to_string()
            .starts_with("tests/data/no-such-config.toml: cannot read")
    );
}

#[test]
fn load_reads_the_process_environment() {
    // No ${VAR} in this file, so the test does not depend on (or change)
    // the process environment.
    let c = load(&Path::new(DATA).join("claude_desktop.json")).expect("valid");
    assert_eq!(c.servers.len(), 2);
}

#[test]
fn the_bundled_example_loads() {
    let path = Path::new("../../examples/warden.toml");
    let c = load_with_env(path, &|_| None).expect("examples/warden.toml is valid");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(
        c.servers
            .values()
            .all(|s| matches!(s, Server::Command { command, args, .. }
        if command == "warden" && args.first().map(String::as_str) == Some("demo-upstream")))
    );
    assert_eq!(c.policy_files.len(), 2);
}

#[test]
fn config_is_cheap_to_share() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Arc<Config>>();
    let c = Arc::new(load_data("full.toml").expect("valid"));
    let copy = (*c).clone();
    assert!(Arc::ptr_eq(
        &c.policies["refresh-only"],
        &copy.policies["refresh-only"]
    ));
}

// ---- the schema -------------------------------------------------------------

const SCHEMA_FILE: &str = "../../docs/warden.schema.json";

#[test]
fn schema_file_is_up_to_date() {
    let want = format!(
        "{}\n",
        serde_json::to_string_pretty(&json_schema()).expect("serialisable")
    );
    if bless() {
        std::fs::write(SCHEMA_FILE, &want).expect("write the schema");
        return;
    }
    let got = std::fs::read_to_string(SCHEMA_FILE).unwrap_or_default();
    assert!(
        got == want,
        "docs/warden.schema.json is stale: run WARDEN_BLESS=1 cargo test -p warden-config"
    );
}

/// A fixture as JSON, for the schema validator.
fn as_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("readable");
    if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).expect("JSON")
    } else {
        let value: toml::Value = toml::from_str(&text).expect("TOML");
        serde_json::to_value(value).expect("as JSON")
    }
}

#[test]
fn valid_configs_satisfy_the_schema_and_broken_ones_mostly_do_not() {
    let schema = json_schema();
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let mut paths = fixtures();
    paths.push(PathBuf::from("../../examples/warden.toml"));
    for path in paths {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("syntax") || name.starts_with("duplicate_key") {
            continue;
        }
        let loads = load_with_env(&path, &env).is_ok();
        let instance = as_json(&path);
        let problems: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{}: {e}", e.instance_path))
            .collect();
        if loads {
            assert!(problems.is_empty(), "{}: {problems:#?}", path.display());
        }
    }
    for broken in [
        "unknown_fields.toml",
        "servers.toml",
        "limits.toml",
        "client_refused.json",
    ] {
        let instance = as_json(&Path::new(DATA).join(broken));
        assert!(
            !validator.is_valid(&instance),
            "{broken} should break the schema"
        );
    }
}

#[test]
fn audit_and_admin_settings_are_read() {
    let config = load_data("audit_ok.toml").expect("valid");
    let a = &config.audit;
    assert_eq!(
        a.durability,
        warden_config::AuditDurability::Lag(Duration::from_millis(250))
    );
    assert_eq!(a.on_failure, warden_config::OnAuditFailure::Allow);
    assert!(a.signing_key.as_ref().unwrap().ends_with("keys/audit.pem"));
    assert_eq!(a.checkpoint_every, 500);
    assert_eq!(a.checkpoint_interval, Duration::from_secs(30));
    assert_eq!(a.max_age, Some(Duration::from_secs(90 * 86_400)));
    assert_eq!(a.max_records, Some(1_000_000));
    let admin = config.admin.as_ref().expect("admin");
    assert_eq!(admin.address.to_string(), "127.0.0.1:9191");
    assert_eq!(admin.token, "0123456789abcdef0123");
    // Absent tables: durable, fail closed, no admin API.
    let plain = load_data("empty.toml").expect("valid");
    assert_eq!(plain.audit, warden_config::AuditConfig::default());
    assert!(plain.admin.is_none());
}
