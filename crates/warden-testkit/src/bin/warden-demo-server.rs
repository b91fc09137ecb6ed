//! Runs Warden's demo MCP server (see `warden_testkit::demo`).
//!
//! ```text
//! warden-demo-server [--http ADDR] [--log FILE] [--era both|legacy|stateless] [--extra-tools N]
//! ```
//!
//! Without `--http` it speaks on stdin/stdout. With `--http 127.0.0.1:0` it
//! prints `listening on http://ADDR/mcp` to stderr once bound.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::{Context, bail};
use warden_testkit::demo::{self, DemoEra, DemoOptions};

const USAGE: &str = "usage: warden-demo-server [--http ADDR] [--log FILE] [--era both|legacy|stateless] [--extra-tools N]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut opts = DemoOptions::default();
    let mut http = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--http" => http = Some(value("--http")?),
            "--log" => opts.log = Some(PathBuf::from(value("--log")?)),
            "--era" => {
                opts.era = match value("--era")?.as_str() {
                    "both" => DemoEra::Both,
                    "legacy" => DemoEra::LegacyOnly,
                    "stateless" => DemoEra::StatelessOnly,
                    other => bail!("unknown era {other:?}: use both, legacy or stateless\n{USAGE}"),
                }
            }
            "--extra-tools" => {
                let n = value("--extra-tools")?;
                opts.extra_tools = n
                    .parse()
                    .with_context(|| format!("--extra-tools {n:?}: expected a count, e.g. 1000"))?;
            }
            "-h" | "--help" => {
                eprintln!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    match http {
        None => demo::serve_stdio(opts).await,
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            eprintln!("listening on http://{}/mcp", listener.local_addr()?);
            demo::serve_http(listener, opts).await
        }
    }
}
