//! The demo server over stdio: as a child process (`warden-demo-server`) and
//! in-process over a duplex pipe, both eras.

mod common;

use std::time::Duration;

use common::{all_text, exact_tools, log_lines, log_path, text};
use serde_json::{Value, json};
use warden_testkit::client::{ClientEra, McpStdioClient};
use warden_testkit::demo::{self, DemoEra, DemoOptions, TOOL_NAMES};

const BIN: &str = env!("CARGO_BIN_EXE_warden-demo-server");

async fn spawn(
    era: ClientEra,
    server_era: &str,
) -> anyhow::Result<(McpStdioClient, std::path::PathBuf)> {
    let log = log_path("stdio");
    let log_arg = log.to_string_lossy().into_owned();
    let c = McpStdioClient::spawn(BIN, &["--log", &log_arg, "--era", server_era], era).await?;
    Ok((c, log))
}

#[tokio::test]
async fn legacy_child_process_session() -> anyhow::Result<()> {
    let (mut c, log) = spawn(ClientEra::legacy(), "both").await?;
    assert_eq!(c.protocol_version(), "2025-11-25");
    assert_eq!(c.list_tools().await?.len(), TOOL_NAMES.len());
    assert!(c.last_raw().contains(&exact_tools()), "{}", c.last_raw());

    let r = c
        .call_tool("connections.refresh", json!({"connection_id": "conn-42"}))
        .await?;
    assert_eq!(text(&r), "Integration conn-42 re-run queued (run 1)");
    let r = c
        .call_tool(
            "connections.refresh",
            json!({"connection_id": "x", "fail": "error"}),
        )
        .await?;
    assert_eq!(r["error"]["message"], "upstream failure requested");
    let r = c.request("ping", json!({})).await?;
    assert_eq!(r["result"], json!({}));
    let r = c.request("prompts/list", json!({})).await?;
    assert_eq!(r["error"]["code"], -32601);

    // Progress, then the server asks for confirmation over stdout.
    let r = c
        .request(
            "tools/call",
            json!({"name": "connections.delete", "arguments": {"connection_id": "conn-13", "sleep_ms": 250, "ask": "confirm"},
                   "_meta": {"progressToken": "d"}}),
        )
        .await?;
    assert!(
        all_text(&r).contains("Client answered: action=accept"),
        "{r}"
    );
    assert_eq!(c.take_notifications().len(), 3);
    assert_eq!(c.take_server_requests()[0]["method"], "elicitation/create");

    // Malformed input.
    c.send_raw(b"{oops\n").await?;
    let m = c.next_message(Duration::from_secs(5)).await?;
    assert_eq!(
        m.map(|m| (m["id"].clone(), m["error"]["code"].clone())),
        Some((Value::Null, json!(-32700)))
    );
    c.send_raw(b"{\"jsonrpc\":\"1.0\",\"id\":4,\"method\":\"ping\"}\n")
        .await?;
    let m = c.next_message(Duration::from_secs(5)).await?;
    assert_eq!(m.map(|m| m["error"]["code"].clone()), Some(json!(-32600)));

    let lines = log_lines(&log)?;
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["protocol"] == "2025-11-25"));
    assert_eq!(c.close().await?, Some(0), "exits cleanly when stdin closes");
    Ok(())
}

#[tokio::test]
async fn stateless_child_process() -> anyhow::Result<()> {
    let (mut c, log) = spawn(ClientEra::stateless(), "both").await?;
    assert_eq!(c.server_info()["resultType"], "complete");
    c.list_tools().await?;
    assert!(c.last_raw().contains(&exact_tools()));
    assert!(c.last_raw().contains(r#""resultType":"complete""#));

    let r = c
        .call_tool(
            "connections.refresh",
            json!({"connection_id": "conn-7", "ask": "confirm"}),
        )
        .await?;
    assert_eq!(r["result"]["resultType"], "complete");
    assert!(all_text(&r).contains(r#"content={"confirm":true}"#), "{r}");

    let r = c.request("ping", json!({})).await?;
    assert_eq!(r["error"]["code"], -32601, "no ping in 2026-07-28");
    c.set_capabilities(json!({}));
    let r = c
        .call_tool("connections.list", json!({"ask": "confirm"}))
        .await?;
    assert_eq!(r["error"]["code"], -32021);

    // A request without the 2026-07-28 _meta and without initialize.
    c.send(&json!({"jsonrpc": "2.0", "id": "bare", "method": "tools/list"}))
        .await?;
    let m = c.next_message(Duration::from_secs(5)).await?;
    assert_eq!(m.map(|m| m["error"]["code"].clone()), Some(json!(-32602)));

    let lines = log_lines(&log)?;
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["protocol"], "2026-07-28");
    assert_eq!(c.close().await?, Some(0));
    Ok(())
}

#[tokio::test]
async fn cancelled_notification_stops_a_stdio_call() -> anyhow::Result<()> {
    let (mut c, _) = spawn(ClientEra::legacy(), "both").await?;
    let call = json!({"jsonrpc": "2.0", "id": "slow", "method": "tools/call",
        "params": {"name": "connections.refresh", "arguments": {"connection_id": "conn-42", "sleep_ms": 3000},
                   "_meta": {"progressToken": 1}}});
    c.send(&call).await?;
    let first = c.next_message(Duration::from_secs(5)).await?;
    assert_eq!(
        first.map(|m| m["method"].clone()),
        Some(json!("notifications/progress"))
    );
    c.notify("notifications/cancelled", json!({"requestId": "slow"}))
        .await?;
    // Drain what was in flight; no response to "slow" may come.
    while let Some(m) = c.next_message(Duration::from_millis(400)).await? {
        assert!(m.get("id").is_none(), "unexpected response {m}");
    }
    let r = c
        .call_tool("connections.refresh", json!({"connection_id": "conn-42"}))
        .await?;
    assert_eq!(text(&r), "Integration conn-42 re-run queued (run 1)");
    Ok(())
}

#[tokio::test]
async fn era_modes_over_stdio() -> anyhow::Result<()> {
    // Legacy-only: discover is an unknown method, so a dual-era client falls back.
    let err = spawn(ClientEra::stateless(), "legacy")
        .await
        .expect_err("no discover");
    assert!(err.to_string().contains("-32601"), "{err:#}");
    let (mut c, _) = spawn(ClientEra::legacy(), "legacy").await?;
    let r = c.request("server/discover", json!({})).await?;
    assert_eq!(r["error"]["code"], -32601);

    // Stateless-only: initialize is refused, naming the supported version.
    let err = spawn(ClientEra::legacy(), "stateless")
        .await
        .expect_err("no initialize");
    assert!(err.to_string().contains("-32022"), "{err:#}");
    assert!(
        err.to_string().contains(r#""supported":["2026-07-28"]"#),
        "{err:#}"
    );
    let (mut c, _) = spawn(ClientEra::stateless(), "stateless").await?;
    assert_eq!(c.server_info()["supportedVersions"], json!(["2026-07-28"]));
    let r = c.call_tool("connections.list", json!({})).await?;
    assert!(text(&r).starts_with("3 connections"));

    // Both: one process serves a legacy session and stateless requests side by side.
    let (mut c, log) = spawn(ClientEra::legacy(), "both").await?;
    let modern = json!({"name": "connections.list", "arguments": {},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}});
    let r = c.request("tools/call", modern).await?;
    assert_eq!(r["result"]["resultType"], "complete");
    let r = c.call_tool("connections.list", json!({})).await?;
    assert!(r["result"].get("resultType").is_none());
    let protocols: Vec<Value> = log_lines(&log)?
        .into_iter()
        .map(|l| l["protocol"].clone())
        .collect();
    assert_eq!(protocols, [json!("2026-07-28"), json!("2025-11-25")]);
    Ok(())
}

#[tokio::test]
async fn in_process_over_a_duplex_pipe() -> anyhow::Result<()> {
    let (client_side, server_side) = tokio::io::duplex(64 * 1024);
    let (server_read, server_write) = tokio::io::split(server_side);
    let server = tokio::spawn(demo::serve_io(
        server_read,
        server_write,
        DemoOptions {
            log: None,
            era: DemoEra::Both,
            ..DemoOptions::default()
        },
    ));
    let (read, write) = tokio::io::split(client_side);
    let mut c = McpStdioClient::connect_io(read, write, ClientEra::legacy()).await?;
    let r = c.call_tool("execute_connector_operation", json!({"connector": "slack", "operation": "send_message", "params": {"channel": "#ops", "text": "hi"}})).await?;
    assert_eq!(
        text(&r),
        "Executed slack.send_message (send) with 2 parameters (operation op-1 completed)"
    );
    c.close().await?;
    tokio::time::timeout(Duration::from_secs(5), server).await???;
    Ok(())
}
