//! `warden pins list|diff|approve`: the approved definitions of the servers' tools, and the
//! new or changed ones waiting for an operator (docs/pinning.md).
//!
//! Reads and writes the pins in the state a gateway uses (`--state-dir` or `--config`), so an
//! approval counts for a running `warden run` or `warden serve` at the next call or listing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::{Value, json};
use warden_gateway::text::{printable, table};
use warden_gateway::{AuditLog, AuditSettings, SystemClock};
use warden_store::{AuditEntry, Pin, PinStatus, PinStore};

use crate::state::Location;

/// Review and approve tool definitions: list, diff, approve.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  warden pins list --status pending\n  warden pins diff github create_issue\n  warden pins approve github create_issue\n  warden pins approve github --all"
)]
pub(crate) struct PinsArgs {
    /// Where the gateway keeps its state (SQLite). Default: $WARDEN_STATE_DIR, else the
    /// platform data dir (~/.local/share/warden).
    #[arg(long, value_name = "DIR", env = "WARDEN_STATE_DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// Use the state of this `warden serve` configuration (its `state` setting); wins over
    /// --state-dir and WARDEN_STATE_DIR.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: PinsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum PinsCommand {
    /// List pins (all by default), by server then tool.
    List(ListArgs),
    /// Show a pending definition beside the approved one, and how they differ.
    Diff(DiffArgs),
    /// Approve a pending definition (or every pending one of a server with --all).
    Approve(ApproveArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StatusFilter {
    Pending,
    Approved,
    All,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Only this server's pins.
    #[arg(long, value_name = "SERVER")]
    pub server: Option<String>,
    /// Which pins. Default: all.
    #[arg(long, value_enum, default_value_t = StatusFilter::All)]
    pub status: StatusFilter,
    /// Output: a table for people, or json (an array) for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DiffArgs {
    /// The server (as the gateway names it: `--name` of `warden run`, or the `servers` key).
    pub server: String,
    /// The tool.
    pub tool: String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ApproveArgs {
    /// The server.
    pub server: String,
    /// The tool (or --all).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub tool: Option<String>,
    /// Approve every pending definition of the server.
    #[arg(long)]
    pub all: bool,
}

pub(crate) async fn pins(args: PinsArgs) -> anyhow::Result<ExitCode> {
    let location = Location::resolve(args.state_dir, args.config.as_deref())?;
    let stores = crate::state::open(&location).await?;
    let store = stores.pins.as_ref();
    match args.command {
        PinsCommand::List(a) => list(store, &a).await,
        PinsCommand::Diff(a) => diff(store, &a).await,
        PinsCommand::Approve(a) => approve(&stores, &a).await,
    }
}

fn ms_text(ms: Option<u64>) -> String {
    ms.map_or_else(|| "-".to_owned(), warden_gateway::approvals::rfc3339)
}

fn pin_json(p: &Pin) -> Value {
    json!({
        "server": p.server,
        "tool": p.tool,
        "status": p.status.as_str(),
        "fingerprint": p.fingerprint,
        "approved_fingerprint": p.approved_fingerprint,
        "first_seen": warden_gateway::approvals::rfc3339(p.first_seen_ms),
        "changed": warden_gateway::approvals::rfc3339(p.changed_ms),
        "approved": p.approved_ms.map(warden_gateway::approvals::rfc3339),
        "approved_by": p.approved_by,
    })
}

async fn list(store: &dyn PinStore, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let pins: Vec<Pin> = store
        .list(args.server.as_deref())
        .await
        .context("cannot read the pins")?
        .into_iter()
        .filter(|p| match args.status {
            StatusFilter::All => true,
            StatusFilter::Pending => p.status == PinStatus::Pending,
            StatusFilter::Approved => p.status == PinStatus::Approved,
        })
        .collect();
    match args.format {
        Format::Json => {
            let all: Vec<Value> = pins.iter().map(pin_json).collect();
            println!("{}", serde_json::to_string_pretty(&all)?);
        }
        Format::Table => {
            if pins.is_empty() {
                eprintln!("No pins.");
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<[String; 6]> = pins
                .iter()
                .map(|p| {
                    [
                        printable(&p.server),
                        printable(&p.tool),
                        p.status.as_str().to_owned(),
                        p.fingerprint.chars().take(12).collect(),
                        ms_text(Some(p.changed_ms)),
                        p.approved_by.as_deref().map_or("-".into(), printable),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    [
                        "SERVER",
                        "TOOL",
                        "STATUS",
                        "FINGERPRINT",
                        "CHANGED",
                        "APPROVED BY"
                    ],
                    &rows
                )
            );
            let pending = pins
                .iter()
                .filter(|p| p.status == PinStatus::Pending)
                .count();
            if pending > 0 {
                eprintln!(
                    "{pending} pending: review with `warden pins diff SERVER TOOL`, then `warden pins approve SERVER TOOL`."
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The pin of `tool` on `server`, or the message saying why there is none.
async fn find(
    store: &dyn PinStore,
    server: &str,
    tool: &str,
) -> anyhow::Result<Result<Pin, String>> {
    if let Some(pin) = store
        .get(server, tool)
        .await
        .context("cannot read the pins")?
    {
        return Ok(Ok(pin));
    }
    let of_server = store
        .list(Some(server))
        .await
        .context("cannot read the pins")?;
    if of_server.is_empty() {
        let servers: std::collections::BTreeSet<String> = store
            .list(None)
            .await
            .context("cannot read the pins")?
            .into_iter()
            .map(|p| p.server)
            .collect();
        let known: Vec<&str> = servers.iter().map(String::as_str).collect();
        return Ok(Err(format!(
            "no pins for server \"{}\" (servers with pins: {})",
            printable(server),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )));
    }
    Ok(Err(format!(
        "server \"{}\" has no tool \"{}\"",
        printable(server),
        printable(tool)
    )))
}

fn pretty(definition: &str) -> String {
    serde_json::from_str::<Value>(definition)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| definition.to_owned())
}

async fn diff(store: &dyn PinStore, args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let pin = match find(store, &args.server, &args.tool).await? {
        Ok(pin) => pin,
        Err(why) => {
            eprintln!("warden pins: {why}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if pin.status != PinStatus::Pending {
        eprintln!(
            "warden pins: nothing pending for \"{}\" on \"{}\": its definition is the approved one (approved by {} at {})",
            printable(&pin.tool),
            printable(&pin.server),
            pin.approved_by.as_deref().map_or("-".into(), printable),
            ms_text(pin.approved_ms)
        );
        return Ok(ExitCode::FAILURE);
    }
    let old = pin.approved_definition.as_deref().map(pretty);
    let new = pretty(&pin.definition);
    println!(
        "Tool {} on server {}: {}",
        printable(&pin.tool),
        printable(&pin.server),
        if old.is_some() {
            "changed since it was approved"
        } else {
            "new, never approved"
        }
    );
    println!();
    match &old {
        Some(old) => {
            println!(
                "Approved ({}, by {} at {}):",
                pin.approved_fingerprint.as_deref().unwrap_or("-"),
                pin.approved_by.as_deref().map_or("-".into(), printable),
                ms_text(pin.approved_ms)
            );
            println!("{}", printable_block(old));
        }
        None => println!("Approved: none"),
    }
    println!();
    println!(
        "Pending ({}, seen at {}):",
        pin.fingerprint,
        ms_text(Some(pin.changed_ms))
    );
    println!("{}", printable_block(&new));
    println!();
    println!("Diff (- approved, + pending):");
    let empty = String::new();
    for line in line_diff(old.as_ref().unwrap_or(&empty), &new) {
        println!("{}", printable(&line));
    }
    println!();
    println!(
        "Approve it with: warden pins approve {} {}",
        printable(&pin.server),
        printable(&pin.tool)
    );
    Ok(ExitCode::SUCCESS)
}

/// Each line made safe to print (untrusted text: control characters escaped).
fn printable_block(text: &str) -> String {
    text.lines().map(printable).collect::<Vec<_>>().join("\n")
}

/// A line diff of `old` and `new` (longest common subsequence): each line prefixed with
/// `"  "` (both), `"- "` (old only) or `"+ "` (new only).
fn line_diff(old: &str, new: &str) -> Vec<String> {
    let a: Vec<&str> = if old.is_empty() {
        Vec::new()
    } else {
        old.lines().collect()
    };
    let b: Vec<&str> = new.lines().collect();
    // lcs[i][j]: length of the LCS of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len() + b.len());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(format!("  {}", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    out
}

async fn approve(stores: &crate::state::Stores, args: &ApproveArgs) -> anyhow::Result<ExitCode> {
    let clock: Arc<dyn warden_gateway::Clock> = Arc::new(SystemClock);
    let now_ms = clock.now_ms();
    let by = format!(
        "operator:cli:{}",
        std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into())
    );
    let store = stores.pins.as_ref();
    let approved: Vec<Pin> = match &args.tool {
        Some(tool) if !args.all => {
            let pin = match find(store, &args.server, tool).await? {
                Ok(pin) => pin,
                Err(why) => {
                    eprintln!("warden pins: {why}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            match store
                .approve(&args.server, tool, &by, now_ms)
                .await
                .context("cannot approve the pin")?
            {
                Some(p) => vec![p],
                None => {
                    eprintln!(
                        "warden pins: nothing pending for \"{}\" on \"{}\" (its definition {} is the approved one)",
                        printable(tool),
                        printable(&args.server),
                        pin.fingerprint.chars().take(12).collect::<String>()
                    );
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        _ => {
            if store
                .list(Some(&args.server))
                .await
                .context("cannot read the pins")?
                .is_empty()
            {
                eprintln!(
                    "warden pins: no pins for server \"{}\"",
                    printable(&args.server)
                );
                return Ok(ExitCode::FAILURE);
            }
            let all = store
                .approve_all(&args.server, &by, now_ms)
                .await
                .context("cannot approve the pins")?;
            if all.is_empty() {
                eprintln!(
                    "warden pins: nothing pending on server \"{}\"",
                    printable(&args.server)
                );
                return Ok(ExitCode::FAILURE);
            }
            all
        }
    };
    let audit = AuditLog::start(stores.audit.clone(), AuditSettings::default(), clock)
        .await
        .context("cannot open the audit log")?;
    for p in &approved {
        let detail = json!({
            "tool": p.tool,
            "fingerprint": p.fingerprint,
            "by": by,
        });
        let mut entry = AuditEntry::event(now_ms, "tool_definition_approved", &detail);
        entry.server = Some(p.server.clone());
        entry.identity = Some(by.clone());
        if let Err(e) = audit.record(entry).await {
            eprintln!("warden pins: the approval is made, but its audit record is not: {e}");
        }
        println!(
            "approved {} on {} ({})",
            printable(&p.tool),
            printable(&p.server),
            p.fingerprint.chars().take(12).collect::<String>()
        );
    }
    audit.flush().await;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::line_diff;

    #[test]
    fn a_line_diff_keeps_common_lines() {
        assert_eq!(
            line_diff("a\nb\nc", "a\nx\nc"),
            ["  a", "- b", "+ x", "  c"]
        );
        assert_eq!(line_diff("", "a"), ["+ a"]);
        assert_eq!(line_diff("a", "a"), ["  a"]);
    }
}
