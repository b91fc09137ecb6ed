//! The admin API served beside the gateway by `warden run --admin-listen` and by `warden serve`
//! with `[admin]`, asked over HTTP while the gateway takes calls.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use warden_testkit::client::{ClientEra, McpHttpClient};

const TOKEN: &str = "e2e-admin-token-0123456789abcdef";

fn warden() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_warden"));
    c.env_remove("WARDEN_STATE_DIR")
        .env_remove("WARDEN_ADMIN_TOKEN");
    c
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

/// A running gateway: its MCP URL prefix and its admin API base URL, read from what it prints.
struct Gateway {
    child: Child,
    mcp: String,
    admin: String,
}

impl Gateway {
    fn start(mut cmd: Command) -> Gateway {
        let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (mut mcp, mut admin) = (None, None);
        let mut seen = String::new();
        while mcp.is_none() || admin.is_none() {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("warden exited early:\n{seen}"))
                .unwrap();
            seen.push_str(&line);
            seen.push('\n');
            let url = |marker: &str| {
                line.split_once(marker)
                    .map(|(_, rest)| format!("http://{}", rest.split_whitespace().next().unwrap()))
            };
            if let Some(u) = url("admin API at http://") {
                admin = Some(u.trim_end_matches("/v1/").to_owned());
            } else if let Some(u) = url(" at http://") {
                mcp = Some(u);
            }
        }
        // Keep draining stderr so the gateway never blocks writing logs.
        std::thread::spawn(move || for _ in lines {});
        Gateway {
            child,
            mcp: mcp.unwrap(),
            admin: admin.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}{path}", self.admin))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
    }

    async fn records(&self, query: &str) -> Vec<Value> {
        let resp = self.get(&format!("/v1/audit/records?{query}")).await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        body["records"].as_array().unwrap().clone()
    }

    /// SIGTERM, as a service manager stops it; it must exit cleanly and soon.
    fn stop(mut self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status:?}");
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("warden did not stop within 10 s of SIGTERM");
    }
}

#[tokio::test]
async fn run_serves_the_admin_api_beside_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = warden();
    cmd.args(["run", "--policy"])
        .arg(example("executor-refresh.json"))
        .arg("--state-dir")
        .arg(dir.path())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--",
        ])
        .arg(env!("CARGO_BIN_EXE_warden"))
        .arg("demo-upstream")
        .env("WARDEN_ADMIN_TOKEN", TOKEN);
    let gw = Gateway::start(cmd);

    let health = reqwest::get(format!("{}/v1/health", gw.admin))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let denied = reqwest::get(format!("{}/v1/audit/records", gw.admin))
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);

    let mut client = McpHttpClient::connect(&gw.mcp, ClientEra::legacy())
        .await
        .unwrap();
    client
        .call_tool("connections.refresh", json!({"connection_id": "conn-1"}))
        .await
        .unwrap();
    client
        .call_tool("connections.delete", json!({"connection_id": "conn-1"}))
        .await
        .unwrap();

    let loaded = gw.records("event=policy_loaded").await;
    assert_eq!(loaded.len(), 1);
    let calls = gw.records("event=call").await;
    let seen: Vec<(&str, &str)> = calls
        .iter()
        .map(|r| (r["tool"].as_str().unwrap(), r["decision"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("connections.refresh", "allow"),
            ("connections.delete", "deny")
        ]
    );
    let csv = gw.get("/v1/audit/export?format=csv&decision=deny").await;
    let text = csv.text().await.unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("connections.delete"));
    let report: Value = gw.get("/v1/audit/verify").await.json().await.unwrap();
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["records"], 3);

    let admin = gw.admin.clone();
    gw.stop();
    assert!(
        reqwest::get(format!("{admin}/v1/health")).await.is_err(),
        "the admin API stops with the gateway"
    );
}

#[test]
fn run_refuses_the_admin_api_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    for token in [None, Some("short")] {
        let mut cmd = warden();
        cmd.args(["run", "--policy"])
            .arg(example("executor-refresh.json"))
            .arg("--state-dir")
            .arg(dir.path())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--",
            ])
            .arg(env!("CARGO_BIN_EXE_warden"))
            .arg("demo-upstream");
        if let Some(t) = token {
            cmd.env("WARDEN_ADMIN_TOKEN", t);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("WARDEN_ADMIN_TOKEN") && stderr.contains("16 characters"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn serve_reads_admin_from_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("warden.toml");
    let bin = env!("CARGO_BIN_EXE_warden");
    let policy = example("executor-refresh.json");
    std::fs::write(
        &config,
        format!(
            r#"state = {state:?}

[listen]
address = "127.0.0.1:0"

[servers.executor]
command = {bin:?}
args = ["demo-upstream"]

[policies.refresh]
file = {policy:?}

[identities.ci-agent]

[[grants]]
identity = "ci-agent"
server = "executor"
policy = "refresh"

[admin]
address = "127.0.0.1:0"
token = "${{WARDEN_ADMIN_TOKEN}}"
"#,
            state = dir.path().join("state").display().to_string(),
            policy = policy.display().to_string(),
        ),
    )
    .unwrap();
    let mut cmd = warden();
    cmd.args(["serve", "--config"])
        .arg(&config)
        .env("WARDEN_ADMIN_TOKEN", TOKEN);
    let gw = Gateway::start(cmd);
    let loaded = gw.records("event=policy_loaded").await;
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    assert!(
        loaded[0]["detail"]["config"]
            .as_str()
            .unwrap()
            .ends_with("warden.toml")
    );
    let wrong = reqwest::Client::new()
        .get(format!("{}/v1/audit/records", gw.admin))
        .bearer_auth("not-the-token-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    gw.stop();
}
