//! `warden demo`, the README's first command, run as a user runs it.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use warden_testkit::client::{ClientEra, McpHttpClient};

fn warden() -> Command {
    Command::new(env!("CARGO_BIN_EXE_warden"))
}

#[test]
fn the_scripted_session_shows_an_allowed_call_the_rate_limit_and_a_denial() {
    let out = warden().args(["demo", "--once"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |needle: &str| {
        stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{stdout}"))
            .to_owned()
    };
    assert!(
        line("tools/list").contains("-> connections.refresh ("),
        "only the allowed tool is listed"
    );
    assert!(
        line("call  1 connections.refresh").contains("allowed: Integration conn-42 re-run queued")
    );
    assert!(line("call 10 connections.refresh").contains("allowed"));
    assert!(
        line("call 11 connections.refresh")
            .contains("DENIED (rate_limited, rule /tools/connections.refresh/limits/0)")
    );
    assert!(
        stdout.contains(
            "Blocked by policy: rate limit reached for connections.refresh: 10 per minute"
        )
    );
    assert!(line("connections.delete  ->").contains("DENIED (deny, rule /default)"));
    // The configuration to paste is real JSON pointing at the endpoint.
    let endpoint = line("endpoint")
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    let config: serde_json::Value = serde_json::from_str(line("\"url\"").trim()).unwrap();
    assert_eq!(config["mcpServers"]["warden-demo"]["url"], endpoint);
}

#[tokio::test]
async fn the_demo_gateway_keeps_serving_clients_until_stopped() {
    let mut child = warden()
        .args(["demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut endpoint = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("endpoint") {
            endpoint = rest.split_whitespace().next().map(str::to_owned);
        }
        if line.contains("still running") {
            break;
        }
    }
    let endpoint = endpoint.expect("the demo prints its endpoint");
    // The session used up the minute's quota; another client of the same grant is refused too.
    let mut client = McpHttpClient::connect(&endpoint, ClientEra::stateless())
        .await
        .unwrap();
    let reply = client
        .call_tool("connections.refresh", json!({"connection_id": "conn-7"}))
        .await
        .unwrap();
    assert_eq!(
        reply["result"]["_meta"]["warden/decision"]["decision"], "rate_limited",
        "{reply}"
    );
    let reply = client
        .call_tool("connections.list", json!({}))
        .await
        .unwrap();
    assert_eq!(
        reply["result"]["_meta"]["warden/decision"]["rule"], "/default",
        "{reply}"
    );

    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("warden demo did not stop within 10 s of SIGTERM");
}
