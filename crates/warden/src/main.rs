//! `warden`: the command line. Parsing arguments, reading files, printing results; the work
//! is done by the library crates.
#![forbid(unsafe_code)]

mod approvals;
mod audit;
mod check;
mod classify;
mod demo;
mod keys;
mod pins;
mod run;
mod scan;
mod serve;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Warden: a policy gateway for the Model Context Protocol.
#[derive(Debug, Parser)]
#[command(name = "warden", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Protect one MCP server: relay a client to it through a policy.
    Run(run::RunArgs),
    /// Manage API keys: create (shown once), list, revoke.
    Keys(keys::KeysArgs),
    /// Read, follow, export and verify the audit log; make a checkpoint signing key; prune.
    Audit(audit::AuditArgs),
    /// Answer calls held for a human's approval: list, show, approve, deny.
    Approvals(approvals::ApprovalsArgs),
    /// Review and approve tool definitions that are new or changed since they were approved
    /// (rug-pull protection): list, diff, approve.
    Pins(pins::PinsArgs),
    /// Run the team gateway: many servers, identities, grants and credentials, from a
    /// configuration file (docs/gateway.md).
    Serve(serve::ServeArgs),
    /// Validate policy files; every problem is printed with its JSON Pointer and line:column.
    Check {
        /// Policy files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Classify MCP tools (a tools/list result, a JSON array, or one per line): category,
    /// risk and evidence for each, as a table, JSON, JSONL or a Markdown catalogue.
    Classify(classify::ClassifyArgs),
    /// Connect to an MCP server, list its tools, classify each, and recommend a policy
    /// (--policy-out) or write a catalogue page (--format markdown).
    Scan(scan::ScanArgs),
    /// Show Warden working: a gateway in front of the bundled demo server, with the seed
    /// policy, and a short scripted agent session.
    Demo(demo::DemoArgs),
    /// The bundled demo MCP server (speaks MCP on stdio, or HTTP with --http).
    #[command(hide = true)]
    DemoUpstream(demo::UpstreamArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { files } => check::check(&files),
        Command::Classify(args) => classify::classify(args),
        Command::Scan(args) => run_async(scan::scan(args)),
        Command::Run(args) => run_async(run::run(args)),
        Command::Serve(args) => run_async(serve::serve(args)),
        Command::Keys(args) => run_async(keys::keys(args)),
        Command::Audit(args) => run_async(audit::audit(args)),
        Command::Approvals(args) => run_async(approvals::approvals(args)),
        Command::Pins(args) => run_async(pins::pins(args)),
        Command::Demo(args) => run_async(demo::demo(args)),
        Command::DemoUpstream(args) => run_async(demo::upstream(args)),
    }
}

fn run_async(fut: impl std::future::Future<Output = anyhow::Result<ExitCode>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warden: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(fut) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("warden: {e:#}");
            ExitCode::FAILURE
        }
    };
    // A read of stdin blocks a runtime thread until input arrives; do not wait for it (a
    // signal must stop `warden run` even while the client keeps stdin open).
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}

/// Logs go to stderr (stdout may be the MCP channel). `WARDEN_LOG` sets the filter
/// (for example `WARDEN_LOG=debug`).
pub(crate) fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
