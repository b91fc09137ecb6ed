//! `warden-bench`: measures Warden against direct calls and a peer gateway and
//! prints the report (see docs/benchmarks.md; `bench/run.sh` builds and runs it).

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use warden_bench::report::{self, Report};
use warden_bench::scenarios::{self, Programs, Scratch, Sizes};

/// The measurements, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    /// Policy evaluation alone.
    Policy,
    /// stdio: serial latency and pipelined throughput.
    Stdio,
    /// Streamable HTTP: concurrent sessions, both eras.
    Http,
    /// tools/list of 1,005 tools: filtering and pinning.
    Listing,
    /// Resident memory idle and per session.
    Memory,
    /// The same HTTP workload through the peer gateway.
    Peer,
}

const ALL: [Part; 6] = [
    Part::Policy,
    Part::Stdio,
    Part::Http,
    Part::Listing,
    Part::Memory,
    Part::Peer,
];

/// Measures Warden against calling MCP servers directly and against a peer
/// gateway, side by side, on loopback. Prints the report as Markdown.
#[derive(Debug, Parser)]
#[command(name = "warden-bench")]
struct Args {
    /// A tiny run that proves every measurement works (CI); its figures mean nothing.
    #[arg(long)]
    smoke: bool,
    /// Rounds per comparison (the paths take turns in each).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Measured seconds per path per round of each HTTP load.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Run only these parts (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<Part>,
    /// Skip these parts (comma-separated).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<Part>,
    /// Also write the report into this file, between its generated-section
    /// markers (docs/benchmarks.md).
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
    /// Where `warden` and `warden-demo-server` are. Default: beside this program.
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// The repository (for server-everything and the peer). Default: the one this was built from.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Give up after this many minutes.
    #[arg(long, default_value_t = 20)]
    max_minutes: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let limit = Duration::from_secs(args.max_minutes * 60);
    match tokio::time::timeout(limit, run(&args)).await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("warden-bench: {e:#}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!(
                "warden-bench: gave up after {} minutes (--max-minutes)",
                args.max_minutes
            );
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let bin_dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("this program has no directory")?
            .to_owned(),
    };
    let root = args
        .root
        .clone()
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")));
    let programs = Programs {
        warden: bin_dir.join("warden"),
        demo: bin_dir.join("warden-demo-server"),
        everything: root
            .join("tests/e2e/node_modules/@modelcontextprotocol/server-everything/dist/index.js"),
        peer: root.join("bench/peer/.venv/bin/mcp-proxy"),
    };
    for (what, path, fix) in [
        (
            "warden",
            &programs.warden,
            "cargo build --release -p warden",
        ),
        (
            "warden-demo-server",
            &programs.demo,
            "cargo build --release -p warden-testkit",
        ),
        (
            "server-everything",
            &programs.everything,
            "scripts/setup-peers.sh",
        ),
    ] {
        if !path.exists() {
            anyhow::bail!(
                "{what} not found at {}: run {fix} (bench/run.sh does)",
                path.display()
            );
        }
    }
    let sizes = if args.smoke {
        Sizes::smoke()
    } else {
        Sizes::full(args.rounds.max(1), args.seconds)
    };
    let parts: Vec<Part> = ALL
        .into_iter()
        .filter(|p| args.only.is_empty() || args.only.contains(p))
        .filter(|p| !args.skip.contains(p))
        .collect();
    let mut report = Report {
        command: command_line(),
        ..Report::default()
    };
    let mut scratch = Scratch::new()?;
    for part in parts {
        eprintln!("warden-bench: {part:?}…");
        let started = tokio::time::Instant::now();
        let r = &mut report;
        match part {
            Part::Policy => scenarios::policy(r, &sizes),
            Part::Stdio => scenarios::stdio(r, &programs, &sizes, &mut scratch).await,
            Part::Http => scenarios::http(r, &programs, &sizes, &mut scratch).await,
            Part::Listing => scenarios::listing(r, &programs, &sizes, &mut scratch).await,
            Part::Memory => scenarios::memory(r, &programs, &sizes, &mut scratch).await,
            Part::Peer => scenarios::peer(r, &programs, &sizes, &mut scratch).await,
        }
        .with_context(|| format!("{part:?}"))?;
        eprintln!(
            "warden-bench: {part:?} done in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let text = report.markdown(&report::machine());
    println!("{text}");
    if let Some(path) = &args.write {
        report::splice_into(path, &text)?;
        eprintln!("warden-bench: wrote {}", path.display());
    }
    Ok(())
}

/// How this run was asked for, as the report quotes it: the arguments a user gives
/// `bench/run.sh`, without the directories it adds (they name this machine's paths).
fn command_line() -> String {
    let mut shown = vec!["bench/run.sh".to_owned()];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--bin-dir" || arg == "--root" {
            args.next();
        } else if !arg.starts_with("--bin-dir=") && !arg.starts_with("--root=") {
            shown.push(arg);
        }
    }
    shown.join(" ")
}
