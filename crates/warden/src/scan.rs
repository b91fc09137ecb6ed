//! `warden scan`: connect to a server, list every tool, classify each, and write the policy
//! Warden recommends for it (and a catalogue page per server).
//!
//! The classification is `warden-risk`'s (pure); this file connects, prints and writes files.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use warden_gateway::text::{printable, table};
use warden_gateway::upstream::{Limits, UpstreamEvent};
use warden_risk::Assessment;

/// Connect to an MCP server, classify every tool, recommend a policy.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  warden scan -- npx -y @modelcontextprotocol/server-everything\n  warden scan --policy-out policy.json --upstream https://mcp.example.com/mcp --header \"Authorization: Bearer $TOKEN\"\n  warden scan --format markdown -- python my_server.py > catalogue.md"
)]
pub(crate) struct ScanArgs {
    /// Write the recommended policy (JSON) to FILE; `warden check FILE` accepts it.
    #[arg(long, value_name = "FILE")]
    pub policy_out: Option<PathBuf>,
    /// Output: a risk table for people, json or jsonl for scripts, or a Markdown catalogue
    /// page (one section per tool, with its recommended rule).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// The server's name in the catalogue. Default: the name the server gives itself.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The server's Streamable HTTP URL (instead of a command after --).
    #[arg(long, value_name = "URL", conflicts_with = "command")]
    pub upstream: Option<warden_gateway::upstream::Url>,
    /// A header sent to the URL on every request, "Name: value" (repeatable).
    #[arg(long = "header", value_name = "K: V", requires = "upstream")]
    pub headers: Vec<String>,
    /// How long the server may take to answer each request. Default 30s.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30s")]
    pub timeout: Duration,
    /// The server's command and arguments.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
    Jsonl,
    Markdown,
}

/// Most pages of `tools/list` followed.
const MAX_PAGES: usize = 1000;

pub(crate) async fn scan(args: ScanArgs) -> anyhow::Result<ExitCode> {
    crate::init_logging("warn");
    let spec = crate::run::upstream_spec_of(args.upstream.as_ref(), &args.headers, &args.command)?;
    let what = match &args.upstream {
        Some(url) => url.to_string(),
        None => args.command.join(" "),
    };
    eprintln!("warden scan: connecting to {what} …");
    let (server_info, tools) = list_tools(&spec, args.timeout)
        .await
        .with_context(|| format!("scanning {what}"))?;
    let server = args.name.clone().unwrap_or_else(|| {
        server_info
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("server")
            .to_owned()
    });
    eprintln!(
        "warden scan: {} lists {} tool(s)",
        printable(&server),
        tools.len()
    );
    let assessed: Vec<(Value, Assessment)> = tools
        .into_iter()
        .map(|t| {
            let a = warden_risk::classify(&t);
            (t, a)
        })
        .collect();
    let findings: Vec<Vec<warden_risk::lint::Finding>> = assessed
        .iter()
        .map(|(t, _)| warden_risk::lint::lint_tool(t))
        .collect();
    let poisoned: Vec<String> = assessed
        .iter()
        .zip(&findings)
        .filter(|(_, f)| !f.is_empty())
        .map(|((_, a), _)| a.name.clone())
        .collect();
    let policy = warden_risk::recommend::recommend(&assessed, &poisoned);
    if let Some(path) = &args.policy_out {
        let text = serde_json::to_string_pretty(&policy)? + "\n";
        // The recommendation must be a policy Warden runs: checked before it is written.
        warden_policy::Policy::from_json(&path.display().to_string(), &text).map_err(|p| {
            anyhow::anyhow!(
                "the recommended policy does not compile (a bug; please report it):\n{p}"
            )
        })?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!(
            "warden scan: wrote the recommended policy to {} (`warden check {}` accepts it; review it before use)",
            path.display(),
            path.display()
        );
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Markdown => {
            write!(
                out,
                "{}",
                warden_risk::catalog::markdown(&server, &assessed, &policy)
            )?;
        }
        Format::Json | Format::Jsonl => {
            let rows: Vec<Value> = assessed
                .iter()
                .zip(&findings)
                .map(|((_, a), f)| {
                    json!({
                        "name": a.name, "category": a.category, "risk": a.risk,
                        "evidence": a.evidence, "rationale": a.rationale,
                        "findings": f,
                        "rule": policy.pointer(&format!("/tools/{}", a.name.replace('~', "~0").replace('/', "~1"))),
                        "hidden": poisoned.contains(&a.name),
                    })
                })
                .collect();
            if args.format == Format::Json {
                writeln!(out, "{}", Value::Array(rows))?;
            } else {
                for r in rows {
                    writeln!(out, "{r}")?;
                }
            }
        }
        Format::Table => {
            let rows: Vec<[String; 5]> = assessed
                .iter()
                .zip(&findings)
                .map(|((_, a), f)| {
                    let handling = if !f.is_empty() {
                        "hide (poisoned)".to_owned()
                    } else {
                        handling(&policy, &a.name)
                    };
                    let findings = f
                        .iter()
                        .map(|f| {
                            serde_json::to_value(f.kind)
                                .ok()
                                .and_then(|k| k.as_str().map(str::to_owned))
                                .unwrap_or_default()
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    [
                        printable(&a.name),
                        a.category.as_str().to_owned(),
                        a.risk.as_str().to_owned(),
                        handling,
                        findings,
                    ]
                })
                .collect();
            write!(
                out,
                "{}",
                table(
                    ["TOOL", "CATEGORY", "RISK", "RECOMMENDED", "FINDINGS"],
                    &rows
                )
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The recommended rule of `tool`, in a few words.
fn handling(policy: &Value, tool: &str) -> String {
    let Some(rule) = policy.get("tools").and_then(|t| t.get(tool)) else {
        return "deny".into();
    };
    if rule.get("action").and_then(Value::as_str) == Some("approve") {
        return "approve".into();
    }
    match rule.pointer("/limits/0") {
        Some(l) => format!(
            "allow, {}/{}",
            l.get("max").map(Value::to_string).unwrap_or_default(),
            l.get("window").and_then(Value::as_str).unwrap_or("window")
        ),
        None => "allow".into(),
    }
}

/// Connects, initializes (the handshake era, or 2026-07-28 when the server speaks only that)
/// and lists every page of tools. Returns the server's info and the tools.
async fn list_tools(
    spec: &warden_gateway::UpstreamSpec,
    timeout: Duration,
) -> anyhow::Result<(Value, Vec<Value>)> {
    let limits = Limits {
        upstream_timeout: Some(timeout),
        ..Limits::default()
    };
    let conn = spec.connect(&limits).await?;
    let mut client = Client {
        tx: conn.tx,
        rx: conn.rx,
        next: 1,
        timeout,
        meta: None,
    };
    let init = client
        .request(
            "initialize",
            json!({"protocolVersion": warden_protocol::LATEST_LEGACY, "capabilities": {},
                   "clientInfo": {"name": "warden-scan", "version": env!("CARGO_PKG_VERSION")}}),
        )
        .await?;
    let info = match (init.get("result"), init.get("error")) {
        (Some(r), _) => {
            client
                .notify("notifications/initialized", json!({}))
                .await?;
            r.get("serverInfo").cloned().unwrap_or(Value::Null)
        }
        (None, _) => {
            // A 2026-07-28-only server refuses the handshake: discover it instead.
            let meta = warden_protocol::modern_meta(
                &json!({}),
                Some(&json!({"name": "warden-scan", "version": env!("CARGO_PKG_VERSION")})),
            );
            let found = client
                .request("server/discover", json!({"_meta": meta}))
                .await?;
            let Some(r) = found.get("result") else {
                bail!(
                    "the server accepts neither initialize nor server/discover: {}",
                    init.get("error").unwrap_or(&Value::Null)
                );
            };
            client.meta = Some(meta);
            r.pointer(&format!(
                "/_meta/{}",
                warden_protocol::META_SERVER_INFO.replace('/', "~1")
            ))
            .cloned()
            .unwrap_or(Value::Null)
        }
    };
    let mut tools = Vec::new();
    let mut cursor: Option<Value> = None;
    for page in 1..=MAX_PAGES {
        let mut params = serde_json::Map::new();
        if let Some(c) = cursor.take() {
            params.insert("cursor".into(), c);
        }
        if let Some(m) = &client.meta {
            params.insert("_meta".into(), m.clone());
        }
        let answer = client.request("tools/list", Value::Object(params)).await?;
        let Some(result) = answer.get("result") else {
            bail!(
                "tools/list was refused: {}",
                answer.get("error").unwrap_or(&Value::Null)
            );
        };
        let listed = result
            .get("tools")
            .and_then(Value::as_array)
            .context("the tools/list result has no tools array")?;
        tools.extend(listed.iter().cloned());
        if page > 1 {
            eprintln!("warden scan: page {page}, {} tool(s) so far", tools.len());
        }
        match result.get("nextCursor") {
            Some(c) if !c.is_null() => cursor = Some(c.clone()),
            _ => break,
        }
    }
    Ok((info, tools))
}

/// Just enough of an MCP client to list tools.
struct Client {
    tx: tokio::sync::mpsc::Sender<String>,
    rx: tokio::sync::mpsc::Receiver<UpstreamEvent>,
    next: u64,
    timeout: Duration,
    meta: Option<Value>,
}

impl Client {
    async fn notify(&mut self, method: &str, params: Value) -> anyhow::Result<()> {
        let msg = json!({"jsonrpc": "2.0", "method": method, "params": params});
        self.tx
            .send(msg.to_string())
            .await
            .map_err(|_| anyhow::anyhow!("the server went away"))
    }

    async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.next;
        self.next += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.tx
            .send(msg.to_string())
            .await
            .map_err(|_| anyhow::anyhow!("the server went away before {method}"))?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let event = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .map_err(|_| {
                    anyhow::anyhow!(
                        "the server did not answer {method} within {:?}",
                        self.timeout
                    )
                })?;
            let raw = match event {
                Some(UpstreamEvent::Message(m)) => m,
                Some(UpstreamEvent::Closed(why)) => {
                    bail!("the server went away during {method}: {why}")
                }
                None => bail!("the server went away during {method}"),
            };
            let Ok(v) = serde_json::from_str::<Value>(&raw) else {
                continue;
            };
            match (v.get("id"), v.get("method")) {
                (Some(i), None) if *i == json!(id) => return Ok(v),
                (Some(i), Some(m)) => {
                    // A request from the server: answer ping, refuse the rest.
                    let answer = if m == "ping" {
                        json!({"jsonrpc": "2.0", "id": i, "result": {}})
                    } else {
                        json!({"jsonrpc": "2.0", "id": i, "error": {"code": -32601, "message": "warden scan answers no requests"}})
                    };
                    let _ = self.tx.send(answer.to_string()).await;
                }
                _ => {}
            }
        }
    }
}
