//! `warden run`: one server, one policy, stdio or Streamable HTTP towards the client.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use warden_gateway::definitions::Definitions;
use warden_gateway::downstream::http::{HttpGateway, Local, serve_http};
use warden_gateway::downstream::stdio::{StdioEnd, serve_stdio};
use warden_gateway::{AuditLog, Clock, Guard, Limits, SystemClock, UpstreamSpec};

use crate::state::Location;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  warden run --policy policy.json -- npx -y @modelcontextprotocol/server-everything\n  warden run --policy policy.json --listen 127.0.0.1:8080 --upstream https://mcp.example.com/mcp --header 'Authorization: Bearer $TOKEN'"
)]
pub(crate) struct RunArgs {
    /// The policy file (JSON; see docs/policy.md). Refuses to start when it is invalid.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// Where counters are kept (SQLite). Default: $WARDEN_STATE_DIR, else the platform data
    /// dir (~/.local/share/warden).
    #[arg(long, value_name = "DIR", env = "WARDEN_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Serve Streamable HTTP at http://ADDR/mcp instead of speaking MCP on stdin/stdout.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// The upstream server's Streamable HTTP URL (instead of a command after --).
    #[arg(long, value_name = "URL", conflicts_with = "command")]
    pub upstream: Option<reqwest_url::Url>,
    /// A header sent to the upstream URL on every request, "Name: value" (repeatable).
    #[arg(long = "header", value_name = "K: V", requires = "upstream")]
    pub headers: Vec<String>,
    /// The server's name in the audit log. Default: "upstream".
    #[arg(long, value_name = "NAME", default_value = "upstream")]
    pub name: String,
    /// Answer calls at once and commit their audit records within this long (e.g. 100ms),
    /// instead of answering only after each record is committed. A crash can lose the records
    /// of that last interval.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub audit_max_lag: Option<std::time::Duration>,
    /// While audit records cannot be written: deny calls (fail closed, the default) or allow
    /// them.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = FailureMode::Deny)]
    pub audit_on_failure: FailureMode,
    /// Sign checkpoints of the audit chain with this Ed25519 key (PKCS#8 PEM; make one with
    /// `warden audit keygen`).
    #[arg(long, value_name = "FILE")]
    pub audit_signing_key: Option<PathBuf>,
    /// Also serve the admin API (audit queries, export, verification; docs/audit.md) at ADDR,
    /// e.g. 127.0.0.1:9090. Its bearer token is read from the environment variable
    /// WARDEN_ADMIN_TOKEN (at least 16 characters). Default: not served.
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<std::net::SocketAddr>,
    /// The upstream server's command and arguments.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FailureMode {
    Deny,
    Allow,
}

mod reqwest_url {
    pub(crate) type Url = warden_gateway::upstream::Url;
}

/// The state dir: `explicit` (`--state-dir`), else `$WARDEN_STATE_DIR`, else the platform data
/// dir. Every command that reads or writes state resolves it here, so they all agree.
pub(crate) fn state_dir(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let from_env = std::env::var_os("WARDEN_STATE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    match explicit.or(from_env) {
        Some(dir) => Ok(dir),
        None => dirs::data_dir()
            .map(|d| d.join("warden"))
            .context("no platform data directory; pass --state-dir DIR or set WARDEN_STATE_DIR"),
    }
}

pub(crate) fn upstream_spec(args: &RunArgs) -> anyhow::Result<UpstreamSpec> {
    upstream_spec_of(args.upstream.as_ref(), &args.headers, &args.command)
}

/// The upstream named by `--upstream URL` (with `--header`s) or by a command after `--`.
pub(crate) fn upstream_spec_of(
    upstream: Option<&reqwest_url::Url>,
    header_args: &[String],
    command: &[String],
) -> anyhow::Result<UpstreamSpec> {
    match (upstream, command.split_first()) {
        (Some(url), None) => {
            let mut headers = warden_gateway::upstream::HeaderMap::new();
            for h in header_args {
                let (name, value) = h
                    .split_once(':')
                    .with_context(|| format!("--header {h:?}: expected \"Name: value\""))?;
                let name = warden_gateway::upstream::HeaderName::from_bytes(name.trim().as_bytes())
                    .with_context(|| format!("--header {h:?}: invalid header name"))?;
                let value = warden_gateway::upstream::HeaderValue::from_str(value.trim())
                    .with_context(|| format!("--header {h:?}: invalid header value"))?;
                headers.append(name, value);
            }
            Ok(UpstreamSpec::Http {
                url: url.clone(),
                headers,
            })
        }
        (None, Some((program, args))) => Ok(UpstreamSpec::Command {
            program: program.clone(),
            args: args.to_vec(),
            env: Vec::new(),
            shared: false,
        }),
        (None, None) => anyhow::bail!(
            "no upstream: give the server's command after --, for example `warden run --policy policy.json -- npx -y @modelcontextprotocol/server-everything`, or --upstream URL"
        ),
        (Some(_), Some(_)) => {
            anyhow::bail!("give either --upstream URL or a command after --, not both")
        }
    }
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    crate::init_logging(if args.listen.is_some() {
        "info"
    } else {
        "warn"
    });
    let policy = match crate::check::load_policy(&args.policy) {
        Ok(p) => p,
        Err(problems) => {
            eprintln!("{}", problems.trim_end());
            eprintln!(
                "warden run: refusing to start: {} is invalid (run `warden check {}` after fixing)",
                args.policy.display(),
                args.policy.display()
            );
            return Ok(ExitCode::from(2));
        }
    };
    let upstream = upstream_spec(&args)?;
    crate::state::check_webhooks([(args.policy.display().to_string().as_str(), &policy)])?;
    let admin_token = match args.admin_listen {
        Some(_) => Some(crate::audit::admin_token_from_env()?),
        None => None,
    };
    let location = Location::Dir(state_dir(args.state_dir.clone())?);
    let stores = crate::state::open(&location).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let audit_config = warden_config::AuditConfig {
        durability: match args.audit_max_lag {
            Some(d) => warden_config::AuditDurability::Lag(d),
            None => warden_config::AuditDurability::Durable,
        },
        on_failure: match args.audit_on_failure {
            FailureMode::Deny => warden_config::OnAuditFailure::Deny,
            FailureMode::Allow => warden_config::OnAuditFailure::Allow,
        },
        signing_key: args.audit_signing_key.clone(),
        ..warden_config::AuditConfig::default()
    };
    let settings = crate::state::audit_settings(&audit_config)?;
    let audit = AuditLog::start(stores.audit.clone(), settings, clock.clone())
        .await
        .with_context(|| format!("cannot open the audit log in {}", location.describe()))?;
    let loaded = warden_store::AuditEntry::event(
        clock.now_ms(),
        "policy_loaded",
        &serde_json::json!({
            "server": args.name,
            "policy": args.policy.display().to_string(),
            "sha256": crate::state::digest_file(&args.policy),
        }),
    );
    audit
        .record(loaded)
        .await
        .context("cannot write to the audit log")?;
    let approvals = crate::state::start_approvals(&stores, &audit, clock.clone());
    let admin = match (args.admin_listen, admin_token) {
        (Some(addr), Some(token)) => Some(
            crate::audit::start_admin(
                addr,
                &token,
                stores.audit.clone(),
                args.audit_signing_key.as_deref(),
                clock.clone(),
                Some(crate::audit::AdminApprovals {
                    approvals: approvals.clone(),
                    keys: Some(stores.keys.clone()),
                    groups: Arc::new(|_: &str| Vec::new()),
                }),
            )
            .await?,
        ),
        _ => None,
    };
    let definitions = Arc::new(Definitions::new(
        &args.name,
        stores.pins.clone(),
        Some(audit.clone()),
        clock.clone(),
    ));
    let guard = Arc::new(
        Guard::fixed(policy, stores.counters.clone(), clock)
            .with_audit(audit.clone(), &args.name)
            .with_definitions(definitions)
            .with_approvals(approvals),
    );
    let limits = Limits::default();
    let code = serve(&args, guard, upstream, limits).await;
    if let Some(admin) = admin {
        admin.stop().await;
    }
    audit.flush().await;
    code
}

async fn serve(
    args: &RunArgs,
    guard: Arc<Guard>,
    upstream: UpstreamSpec,
    limits: Limits,
) -> anyhow::Result<ExitCode> {
    match args.listen {
        None => {
            let end = serve_stdio(guard, &upstream, limits, shutdown_signal()).await?;
            Ok(match end {
                StdioEnd::ClientClosed => ExitCode::SUCCESS,
                StdioEnd::UpstreamClosed(why) => {
                    eprintln!("warden run: {why}");
                    ExitCode::FAILURE
                }
            })
        }
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (is the port in use?)"))?;
            let local = listener.local_addr()?;
            eprintln!(
                "warden: serving MCP at http://{local}/mcp (upstream: {})",
                upstream.describe()
            );
            let gw = HttpGateway::new(Arc::new(Local(guard)), upstream, limits);
            serve_http(gw, listener, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
