//! `warden demo` and the hidden `warden demo-upstream`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::{Value, json};
use warden_gateway::downstream::http::{HttpGateway, Local, serve_http};
use warden_gateway::{Guard, Limits, SystemClock, UpstreamSpec};
use warden_policy::Policy;
use warden_testkit::client::{ClientEra, McpHttpClient};

use warden_testkit::demo::{DemoEra, DemoOptions};

#[derive(Debug, clap::Args)]
pub(crate) struct UpstreamArgs {
    /// Serve Streamable HTTP on this address instead of stdio.
    #[arg(long, value_name = "ADDR")]
    http: Option<std::net::SocketAddr>,
    /// Append one JSON line per received tools/call to this file.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Protocol eras to speak: both, legacy or modern.
    #[arg(long, default_value = "both")]
    era: String,
}

pub(crate) async fn upstream(args: UpstreamArgs) -> anyhow::Result<ExitCode> {
    crate::init_logging("warn");
    let era = match args.era.as_str() {
        "both" => DemoEra::Both,
        "legacy" => DemoEra::LegacyOnly,
        "modern" => DemoEra::StatelessOnly,
        other => anyhow::bail!("--era {other:?}: expected both, legacy or modern"),
    };
    let opts = DemoOptions {
        log: args.log,
        era,
        ..DemoOptions::default()
    };
    match args.http {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            eprintln!(
                "warden demo server at http://{}/mcp",
                listener.local_addr()?
            );
            warden_testkit::demo::serve_http(listener, opts).await?;
        }
        None => warden_testkit::demo::serve_stdio(opts).await?,
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Address for the gateway's HTTP endpoint.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// Keep counters here. Default: a fresh temporary directory, so every demo starts with
    /// full quotas.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Exit after the scripted session instead of serving until Ctrl-C.
    #[arg(long)]
    once: bool,
}

/// The seed policy the demo enforces: connections.refresh rate-capped, everything else denied.
const SEED_POLICY: &str = include_str!("../../../examples/executor-refresh.json");

pub(crate) async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    crate::init_logging("warn");
    let temp;
    let dir = match args.state_dir {
        Some(dir) => dir,
        None => {
            temp = tempfile::Builder::new().prefix("warden-demo-").tempdir()?;
            temp.path().to_owned()
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let policy_path = dir.join("policy.json");
    std::fs::write(&policy_path, SEED_POLICY)
        .with_context(|| format!("cannot write {}", policy_path.display()))?;
    let policy = Policy::from_json(&policy_path.display().to_string(), SEED_POLICY)
        .map_err(|p| anyhow::anyhow!("the bundled seed policy is invalid:\n{p}"))?;
    let exe = std::env::current_exe().context("cannot find the warden executable")?;
    let exe_str = exe.display().to_string();
    let upstream = UpstreamSpec::Command {
        program: exe_str.clone(),
        args: vec!["demo-upstream".into()],
        env: Vec::new(),
        shared: false,
    };
    let stores = crate::state::open(&crate::state::Location::Dir(dir.clone())).await?;
    let clock: Arc<dyn warden_gateway::Clock> = Arc::new(SystemClock);
    let audit = warden_gateway::AuditLog::start(
        stores.audit.clone(),
        warden_gateway::AuditSettings::default(),
        clock.clone(),
    )
    .await?;
    let guard = Arc::new(
        Guard::fixed(policy, stores.counters.clone(), clock).with_audit(audit.clone(), "demo"),
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (is the port in use?)", args.listen))?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    let gw = HttpGateway::new(Arc::new(Local(guard)), upstream, Limits::default());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_http(gw, listener, async {
        let _ = stop_rx.await;
    }));

    let stdio_config = json!({"mcpServers": {"warden-demo": {
        "command": exe_str,
        "args": ["run", "--policy", policy_path.display().to_string(), "--", exe_str, "demo-upstream"]}}});
    let http_config = json!({"mcpServers": {"warden-demo": {"url": url}}});
    println!("Warden demo: a policy gateway in front of the bundled demo MCP server\n");
    println!("  endpoint  {url}   (Streamable HTTP, protocol 2025-03-26 to 2026-07-28)");
    println!("  policy    {}", policy_path.display());
    println!("            connections.refresh: at most 10 calls a minute; every other tool denied");
    println!("  state     {}\n", dir.display());
    println!("Paste into an MCP client that speaks HTTP:\n  {http_config}");
    println!(
        "or, while this demo runs, for a desktop client that starts servers itself (stdio):\n  {stdio_config}\n"
    );

    let played = play_session(&url).await;
    if let Err(e) = &played {
        eprintln!("warden demo: the scripted session failed: {e:#}");
    }
    if played.is_ok() && !args.once {
        println!("\nThe gateway is still running at {url}: point a client at it. Ctrl-C to stop.");
        crate::run::shutdown_signal().await;
    }
    let _ = stop_tx.send(());
    server.await??;
    Ok(if played.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A short agent session: what the agent sees, an allowed call, the 11th call in a minute,
/// and a denied tool, each with what the gateway said.
async fn play_session(url: &str) -> anyhow::Result<()> {
    let mut agent = McpHttpClient::connect(url, ClientEra::legacy()).await?;
    println!("Agent session (MCP client -> Warden -> demo server):");
    let tools = agent.list_tools().await?;
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    println!(
        "  tools/list                 -> {} (the server has {}; the others are denied by default, so not listed)",
        names.join(", "),
        warden_testkit::demo::TOOL_NAMES.len()
    );
    for n in 1..=11 {
        let reply = agent
            .call_tool("connections.refresh", json!({"connection_id": "conn-42"}))
            .await?;
        if n == 1 || n >= 10 {
            println!("  call {n:>2} connections.refresh -> {}", outcome(&reply));
        } else if n == 2 {
            println!("  calls 2-9 connections.refresh -> allowed");
        }
    }
    let reply = agent
        .call_tool("connections.delete", json!({"connection_id": "conn-42"}))
        .await?;
    println!("  call    connections.delete  -> {}", outcome(&reply));
    let _ = agent.close().await;
    Ok(())
}

fn outcome(reply: &Value) -> String {
    let result = &reply["result"];
    let text = result["content"][0]["text"].as_str().unwrap_or("(no text)");
    match (&result["isError"], &result["_meta"]["warden/decision"]) {
        (Value::Bool(true), Value::Object(d)) => format!(
            "DENIED ({}, rule {})\n       \"{text}\"",
            d.get("decision").and_then(Value::as_str).unwrap_or("deny"),
            d.get("rule").and_then(Value::as_str).unwrap_or("?"),
        ),
        (Value::Bool(true), _) => format!("error: {text}"),
        _ if reply.get("error").is_some() => format!("error: {}", reply["error"]),
        _ => format!("allowed: {text}"),
    }
}
