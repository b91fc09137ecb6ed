//! Runs Warden's conformance fixture (see `warden_testkit::conformance`).
//!
//! ```text
//! warden-conformance-server [--http ADDR] [--era both|legacy|stateless]
//! ```
//!
//! Without `--http` it speaks on stdin/stdout. With `--http 127.0.0.1:0` it
//! prints `listening on http://ADDR/mcp` to stderr once bound.

#![forbid(unsafe_code)]

use anyhow::{Context, bail};
use warden_testkit::conformance;
use warden_testkit::demo::DemoEra;

const USAGE: &str = "usage: warden-conformance-server [--http ADDR] [--era both|legacy|stateless]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut era = DemoEra::Both;
    let mut http = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--http" => http = Some(value("--http")?),
            "--era" => {
                era = match value("--era")?.as_str() {
                    "both" => DemoEra::Both,
                    "legacy" => DemoEra::LegacyOnly,
                    "stateless" => DemoEra::StatelessOnly,
                    other => bail!("unknown era {other:?}: use both, legacy or stateless\n{USAGE}"),
                }
            }
            "-h" | "--help" => {
                eprintln!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    match http {
        None => conformance::serve_stdio(era).await,
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            eprintln!("listening on http://{}/mcp", listener.local_addr()?);
            conformance::serve_http(listener, era).await
        }
    }
}
