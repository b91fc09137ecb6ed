//! The demo server over Streamable HTTP, driven by the test kit's client, in
//! both eras and all three era modes. Loopback only.

mod common;

use std::time::Duration;

use anyhow::Context;
use common::{all_text, exact_tools, log_lines, log_text, start_http, text};
use serde_json::{Value, json};
use warden_testkit::client::{ClientEra, McpHttpClient};
use warden_testkit::demo::{DemoEra, SERVER_NAME, TOOL_NAMES};

const MODERN_HEADERS: [(&str, &str); 2] = [
    ("mcp-protocol-version", "2026-07-28"),
    ("mcp-method", "tools/call"),
];

fn modern_call(name: &str, args: Value) -> Value {
    json!({
        "jsonrpc": "2.0", "id": 99, "method": "tools/call",
        "params": {
            "name": name, "arguments": args,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}
            }
        }
    })
}

#[tokio::test]
async fn legacy_handshake_and_catalog_survive_byte_for_byte() -> anyhow::Result<()> {
    let (url, _) = start_http(DemoEra::Both).await?;
    let mut c = McpHttpClient::connect(&url, ClientEra::legacy()).await?;
    assert!(c.session_id().is_some_and(|s| s.len() >= 16));
    assert_eq!(c.protocol_version(), "2025-11-25");
    assert_eq!(c.server_info()["serverInfo"]["name"], SERVER_NAME);
    assert_eq!(
        c.server_info()["capabilities"],
        json!({"tools": {"listChanged": true}})
    );

    let tools = c.list_tools().await?;
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, TOOL_NAMES);
    let raw = c.last_raw().to_owned();
    assert!(
        raw.contains(&exact_tools()),
        "catalog changed on the wire: {raw}"
    );
    assert!(raw.contains(r#""x-future":{"keep":[1,2.50,"é"]}"#));
    assert!(
        !raw.contains("resultType"),
        "legacy results carry no resultType"
    );

    // Version negotiation: a supported version is echoed, others get 2025-11-25.
    for (asked, got) in [
        ("2025-06-18", "2025-06-18"),
        ("2025-03-26", "2025-03-26"),
        ("2024-11-05", "2025-11-25"),
        ("2026-07-28", "2025-11-25"),
    ] {
        let c = McpHttpClient::connect(&url, ClientEra::Legacy(asked.into())).await?;
        assert_eq!(c.protocol_version(), got, "asked {asked}");
    }
    Ok(())
}

#[tokio::test]
async fn legacy_calls_results_fail_modes_and_log() -> anyhow::Result<()> {
    let (url, log) = start_http(DemoEra::Both).await?;
    let mut c = McpHttpClient::connect(&url, ClientEra::legacy()).await?;

    let r = c
        .call_tool(
            "connections.refresh",
            json!({"connection_id": "conn-42", "amount": 10000.50}),
        )
        .await?;
    assert_eq!(text(&r), "Integration conn-42 re-run queued (run 1)");
    assert_eq!(
        r["result"]["structuredContent"],
        json!({"connection_id": "conn-42", "run": 1, "status": "queued"})
    );
    assert_eq!(r["result"]["isError"], false);

    let r = c.call_tool("connections.list", json!({})).await?;
    assert!(text(&r).contains("conn-42: github (active, 1 runs)"), "{r}");

    let r = c
        .call_tool("connections.delete", json!({"connection_id": "conn-99"}))
        .await?;
    assert_eq!(r["result"]["isError"], true);
    assert_eq!(text(&r), "Connection conn-99 not found");

    let r = c.call_tool("no.such.tool", json!({})).await?;
    assert_eq!(r["result"]["isError"], true);

    let r = c
        .call_tool(
            "connections.refresh",
            json!({"connection_id": "c", "fail": "error"}),
        )
        .await?;
    assert_eq!(
        r["error"],
        json!({"code": -32000, "message": "upstream failure requested"})
    );
    assert_eq!(c.last_status(), 200);

    let r = c
        .call_tool(
            "connections.refresh",
            json!({"connection_id": "c", "fail": "tool"}),
        )
        .await?;
    assert_eq!(r["result"]["isError"], true);

    // The arguments are logged as the client wrote them, number spelling included.
    let raw = r#"{"jsonrpc":"2.0","id":"raw-1","method":"tools/call","params":{"name":"connections.list","arguments":{"amount":10000.50,
      "note":"é"}}}"#;
    let r = c.send_raw(raw, &[]).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        log_text(&log)
            .contains(r#""arguments":{"amount":10000.50,       "note":"é"},"id":"raw-1""#),
        "{}",
        log_text(&log)
    );

    let lines = log_lines(&log)?;
    assert_eq!(lines.len(), 7, "one line per tools/call: {lines:?}");
    assert_eq!(lines[0]["tool"], "connections.refresh");
    assert_eq!(lines[0]["protocol"], "2025-11-25");
    assert!(lines[0]["id"].is_u64());
    assert_eq!(lines[0]["arguments"]["connection_id"], "conn-42");
    assert_eq!(lines[3]["tool"], "no.such.tool");
    Ok(())
}

#[tokio::test]
async fn legacy_progress_arrives_on_the_post_stream() -> anyhow::Result<()> {
    let (url, _) = start_http(DemoEra::Both).await?;
    let mut c = McpHttpClient::connect(&url, ClientEra::legacy()).await?;
    let r = c
        .request(
            "tools/call",
            json!({
                "name": "connections.list",
                "arguments": {"sleep_ms": 350},
                "_meta": {"progressToken": "p-1"}
            }),
        )
        .await?;
    assert!(text(&r).starts_with("3 connections"), "{r}");
    let progress: Vec<Value> = c
        .take_notifications()
        .into_iter()
        .filter(|n| n["method"] == "notifications/progress")
        .collect();
    let values: Vec<u64> = progress
        .iter()
        .filter_map(|n| n["params"]["progress"].as_u64())
        .collect();
    assert_eq!(values, [100, 200, 300, 350]);
    assert!(
        progress
            .iter()
            .all(|n| n["params"]["progressToken"] == "p-1" && n["params"]["total"] == 350)
    );
    Ok(())
}

#[tokio::test]
async fn legacy_cancel_stops_the_call_and_sends_no_result() -> anyhow::Result<()> {
    let (url, _) = start_http(DemoEra::Both).await?;
    let mut c = McpHttpClient::connect(&url, ClientEra::legacy()).await?;
    let mut other = c.fork();
    let call = tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let r = c
            .request(
                "tools/call",
                json!({
                    "name": "connections.refresh",
                    "arguments": {"connection_id": "conn-42", "sleep_ms": 5000},
                    "_meta": {"progressToken": 7}
                }),
            )
            .await;
        (r, started.elapsed(), c.take_notifications().len())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Ids are shared with forks: 1 was initialize, so the call above is 2.
    other
        .notify(
            "notifications/cancelled",
            json!({"requestId": 2, "reason": "test"}),
        )
        .await?;
    let (r, elapsed, progress) = call.await?;
    let err = r.expect_err("a cancelled call has no response");
    assert!(err.to_string().contains("without a response"), "{err:#}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(progress >= 1, "progress flowed before the cancel");
    // The cancelled refresh never ran.
    let r = other
        .call_tool("connections.refresh", json!({"connection_id": "x"}))
        .await?;
    assert_eq!(text(&r), "Integration x re-run queued (run 1)");
    Ok(())
}

#[tokio::test]
async fn legacy_elicitation_is_a_server_request_answered_by_the_client() -> anyhow::Result<()> {
    let (url, _) = start_http(DemoEra::Both).await?;
    let mut c = McpHttpClient::connect(&url, ClientEra::legacy()).await?;
    let r = c
        .call_tool(
            "connections.delete",
            json!({"connection_id": "conn-7", "ask": "confirm"}),
        )
        .await?;
    assert_eq!(r["result"]["isError"], false, "{r}");
    let all = all_text(&r);
    assert!(all.contains("Connection conn-7 (slack) deleted"), "{all}");
    assert!(
        all.contains(r#"Client answered: action=accept content={"confirm":true}"#),
        "{all}"
    );
    let asked = c.take_server_requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["method"], "elicitation/create");
    assert!(
        asked[0]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("srv-"))
    );
    assert_eq!(asked[0]["params"]["mode"], "form");

    c.set_elicitation_answer(json!({"action": "decline"}));
    let r = c
        .call_tool(
            "connections.delete",
            json!({"connection_id": "conn-42", "ask": "confirm"}),
        )
        .await?;
    assert!(text(&r).starts_with("Not confirmed"), "{r}");
    let r = c.call_tool("connections.list", json!({})).await?;
    assert!(
        text(&r).contains("conn-42"),
        "a declined delete did nothing"
    );
    Ok(())
}

#[tokio::test]
async fn legacy_transport_rules() -> anyhow::Result<()> {
    let (url, _) = start_http(DemoEra::Both).await?;
    let mut c = McpHttpClient::connect(&url, ClientEra::legacy()).await?;
    let list = r#"{"jsonrpc":"2.0","id":50,"method":"tools/list"}"#;

    // A version header that is no handshake version takes the 2026-07-28 path
    // on a dual-era server (as the Python SDK routes it): 400 either way.
    let r = c
        .send_raw(list, &[("mcp-protocol-version", "1999-01-01")])
        .await?;
    assert_eq!(r.status, 400, "{}", r.body);

    let r = c.send_raw("{not json", &[]).await?;
    assert_eq!(r.status, 400);
    let body: Value = serde_json::from_str(&r.body)?;
    assert_eq!(body["id"], Value::Null);
    assert_eq!(body["error"]["code"], -32700);

    let r = c.request("resources/list", json!({})).await?;
    assert_eq!(r["error"]["code"], -32601);
    let r = c.request("ping", json!({})).await?;
    assert_eq!(r["result"], json!({}));

    let r = c
        .send_raw(list, &[("origin", "https://evil.example")])
        .await?;
    assert_eq!(r.status, 403);
    let r = c.send_raw(list, &[("accept", "application/json")]).await?;
    assert_eq!(r.status, 406);
    let r = c.send_raw(list, &[("content-type", "text/plain")]).await?;
    assert_eq!(r.status, 415);
    let r = c
        .send_raw(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, &[])
        .await?;
    assert_eq!(r.status, 400);

    // Notifications and responses: 202.
    let r = c
        .send_raw(
            r#"{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}"#,
            &[],
        )
        .await?;
    assert_eq!((r.status, r.body.as_str()), (202, ""));
    let r = c
        .send_raw(r#"{"jsonrpc":"2.0","id":"srv-404","result":{}}"#, &[])
        .await?;
    assert_eq!(r.status, 202);

    // GET opens the session's stream; a second one conflicts.
    let session = c.session_id().context("session")?.to_owned();
    let http = reqwest::Client::new();
    let get = || {
        http.get(&url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &session)
            .send()
    };
    let stream = get().await?;
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    assert_eq!(get().await?.status(), 409);
    drop(stream);

    // No session, unknown session, ended session.
    let bare = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(list)
        .send()
        .await?;
    assert_eq!(bare.status(), 400);
    let r = c.send_raw(list, &[("mcp-session-id", "nope")]).await?;
    assert_eq!(r.status, 404);
    let mut again = c.fork();
    assert_eq!(c.close().await?, 200);
    let r = again.send_raw(list, &[]).await?;
    assert_eq!(r.status, 404);
    Ok(())
}

#[tokio::test]
async fn stateless_discover_list_and_call() -> anyhow::Result<()> {
    let (url, log) = start_http(DemoEra::Both).await?;
    let mut c = McpHttpClient::connect(&url, ClientEra::stateless()).await?;
    assert_eq!(c.session_id(), None);
    let info = c.server_info().clone();
    assert_eq!(info["resultType"], "complete");
    assert_eq!(info["supportedVersions"][0], "2026-07-28");
    assert_eq!(
        info["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        SERVER_NAME
    );
    assert_eq!(
        (info["ttlMs"].clone(), info["cacheScope"].clone()),
        (json!(0), json!("private"))
    );

    let tools = c.list_tools().await?;
    assert_eq!(tools.len(), TOOL_NAMES.len());
    let raw = c.last_raw().to_owned();
    assert!(raw.contains(&exact_tools()), "{raw}");
    let v: Value = serde_json::from_str(&raw)?;
    assert_eq!(v["result"]["resultType"], "complete");
    assert_eq!(v["result"]["cacheScope"], "private");
    assert_eq!(
        v["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        SERVER_NAME
    );

    let r = c
        .call_tool("get_connector_capabilities", json!({"connector": "github"}))
        .await?;
    assert!(text(&r).starts_with("github supports 3 operations"), "{r}");
    assert_eq!(r["result"]["resultType"], "complete");
    assert!(r["result"]["_meta"]["io.modelcontextprotocol/serverInfo"].is_object());

    let r = c
        .call_tool(
            "connections.refresh",
            json!({"connection_id": "c", "fail": "error"}),
        )
        .await?;
    assert_eq!(r["error"]["code"], -32000);
    assert_eq!(c.last_status(), 200);
    let r = c
        .call_tool(
            "connections.refresh",
            json!({"connection_id": "c", "fail": "tool"}),
        )
        .await?;
    assert_eq!(r["result"]["isError"], true);

    // A name that is not header-safe travels Base64-encoded in Mcp-Name.
    let r = c.call_tool("outil-é", json!({})).await?;
    assert_eq!(c.last_status(), 200);
    assert_eq!(text(&r), "Unknown tool: outil-é");

    let lines = log_lines(&log)?;
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| l["protocol"] == "2026-07-28"));
    assert_eq!(lines[3]["tool"], "outil-é");
    Ok(())
}

#[tokio::test]
async fn stateless_validation_order_and_statuses() -> anyhow::Result<()> {
    let (url, log) = start_http(DemoEra::Both).await?;
    let mut c = McpHttpClient::connect(&url, ClientEra::stateless()).await?;
    let call = modern_call("connections.list", json!({})).to_string();

    let named = |name| [MODERN_HEADERS[0], MODERN_HEADERS[1], ("mcp-name", name)];
    let r = c
        .send_raw(call.as_str(), &named("connections.list"))
        .await?;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = c
        .send_raw(call.as_str(), &named("connections.delete"))
        .await?;
    assert_eq!(r.status, 400);
    let v: Value = serde_json::from_str(&r.body)?;
    assert_eq!(v["error"]["code"], -32020);
    assert_eq!(v["id"], 99);
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("connections.delete"))
    );

    let r = c.send_raw(call.as_str(), &MODERN_HEADERS).await?; // no Mcp-Name at all
    assert_eq!(r.status, 400);
    assert!(r.body.contains("-32020"));

    let r = c
        .send_raw(
            call.as_str(),
            &[
                ("mcp-method", "tools/list"),
                ("mcp-name", "connections.list"),
            ],
        )
        .await?;
    assert!(r.status == 400 && r.body.contains("-32020"), "{}", r.body);

    // Unsupported version, same in header and body.
    let mut old = modern_call("connections.list", json!({}));
    old["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let r = c
        .send_raw(
            old.to_string(),
            &[
                ("mcp-protocol-version", "2099-01-01"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "connections.list"),
            ],
        )
        .await?;
    assert_eq!(r.status, 400);
    let v: Value = serde_json::from_str(&r.body)?;
    assert_eq!(v["error"]["code"], -32022);
    assert_eq!(v["error"]["data"]["requested"], "2099-01-01");
    assert_eq!(v["error"]["data"]["supported"][0], "2026-07-28");

    // Missing required _meta comes first: -32602 even with mismatched headers.
    let bare = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "x", "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
    let r = c.send_raw(bare.to_string(), &named("y")).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("-32602"));

    // Unknown method and ping: 404 + -32601.
    for method in ["foo/bar", "ping"] {
        let r = c.request(method, json!({})).await?;
        assert_eq!(
            (c.last_status(), r["error"]["code"].clone()),
            (404, json!(-32601)),
            "{method}"
        );
    }

    // Notifications: 202; responses are not for 2026-07-28 clients.
    c.notify("notifications/cancelled", json!({"requestId": 1}))
        .await?;
    let r = c
        .send_raw(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, &MODERN_HEADERS)
        .await?;
    assert_eq!(r.status, 400);

    // Only the well-formed call reached the tool log (rejections never do).
    let lines = log_lines(&log)?;
    assert_eq!(lines.len(), 1, "{lines:?}");
    Ok(())
}

#[tokio::test]
async fn stateless_progress_and_input_required() -> anyhow::Result<()> {
    let (url, log) = start_http(DemoEra::Both).await?;
    let mut c = McpHttpClient::connect(&url, ClientEra::stateless()).await?;
    let r = c
        .request(
            "tools/call",
            json!({"name": "connections.list", "arguments": {"sleep_ms": 200}, "_meta": {"progressToken": "t"}}),
        )
        .await?;
    assert_eq!(r["result"]["resultType"], "complete");
    let n = c.take_notifications();
    assert_eq!(n.len(), 2, "{n:?}");
    assert_eq!(
        n[1]["params"],
        json!({"progressToken": "t", "progress": 200, "total": 200, "message": "connections.list: 200 of 200 ms"})
    );

    // The raw round trip: input_required with an elicitation and a state.
    let first = c
        .request("tools/call", json!({"name": "connections.refresh", "arguments": {"connection_id": "conn-42", "ask": "confirm"}}))
        .await?;
    let result = &first["result"];
    assert_eq!(result["resultType"], "input_required");
    assert_eq!(
        result["inputRequests"]["confirm"]["method"],
        "elicitation/create"
    );
    assert!(result["requestState"].is_string());

    // call_tool drives it to completion.
    let r = c
        .call_tool(
            "connections.refresh",
            json!({"connection_id": "conn-42", "ask": "confirm"}),
        )
        .await?;
    assert_eq!(r["result"]["resultType"], "complete");
    let all = all_text(&r);
    assert!(
        all.contains("Integration conn-42 re-run queued (run 1)"),
        "{all}"
    );
    assert!(all.contains(r#"action=accept content={"confirm":true}"#));
    assert_eq!(c.take_server_requests().len(), 1);

    // A wrong requestState is rejected.
    let r = c
        .request(
            "tools/call",
            json!({"name": "connections.refresh", "arguments": {"connection_id": "c", "ask": "confirm"},
                   "inputResponses": {"confirm": {"action": "accept", "content": {"confirm": true}}},
                   "requestState": "forged"}),
        )
        .await?;
    assert_eq!(r["error"]["code"], -32602);

    // Without the elicitation capability: -32021 naming it, HTTP 400.
    c.set_capabilities(json!({}));
    let r = c
        .call_tool(
            "connections.refresh",
            json!({"connection_id": "c", "ask": "confirm"}),
        )
        .await?;
    assert_eq!(c.last_status(), 400);
    assert_eq!(r["error"]["code"], -32021);
    assert_eq!(
        r["error"]["data"]["requiredCapabilities"],
        json!({"elicitation": {}})
    );

    // Every tools/call is logged, the retry included.
    assert_eq!(log_lines(&log)?.len(), 6);
    Ok(())
}

#[tokio::test]
async fn stateless_closing_the_stream_cancels() -> anyhow::Result<()> {
    let (url, _) = start_http(DemoEra::Both).await?;
    let call = modern_call(
        "connections.refresh",
        json!({"connection_id": "conn-42", "sleep_ms": 1500}),
    );
    let mut call = call;
    call["params"]["_meta"]["progressToken"] = json!("p");
    let mut response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "connections.refresh")
        .body(call.to_string())
        .send()
        .await?;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let first = response.chunk().await?.context("a progress event")?;
    assert!(String::from_utf8_lossy(&first).contains("notifications/progress"));
    drop(response);
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let mut c = McpHttpClient::connect(&url, ClientEra::stateless()).await?;
    let r = c
        .call_tool("connections.refresh", json!({"connection_id": "conn-42"}))
        .await?;
    assert_eq!(
        text(&r),
        "Integration conn-42 re-run queued (run 1)",
        "the dropped call never ran"
    );
    Ok(())
}

#[tokio::test]
async fn legacy_only_upstream() -> anyhow::Result<()> {
    let (url, log) = start_http(DemoEra::LegacyOnly).await?;
    let err = McpHttpClient::connect(&url, ClientEra::stateless())
        .await
        .expect_err("no discover");
    assert!(err.to_string().contains("-32601"), "{err:#}");
    let mut c = McpHttpClient::connect(&url, ClientEra::legacy()).await?;
    let r = c.request("server/discover", json!({})).await?;
    assert_eq!(
        (c.last_status(), r["error"]["code"].clone()),
        (200, json!(-32601))
    );
    let list = r#"{"jsonrpc":"2.0","id":50,"method":"tools/list"}"#;
    let r = c
        .send_raw(list, &[("mcp-protocol-version", "1999-01-01")])
        .await?;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("Unsupported protocol version: 1999-01-01"),
        "{}",
        r.body
    );
    // 2026-07-28 _meta is just ignored inside a legacy session.
    let r = c
        .request(
            "tools/call",
            modern_call("connections.list", json!({}))["params"].clone(),
        )
        .await?;
    assert!(text(&r).starts_with("3 connections"));
    assert!(r["result"].get("resultType").is_none());
    assert_eq!(log_lines(&log)?[0]["protocol"], "2025-11-25");
    Ok(())
}

#[tokio::test]
async fn stateless_only_upstream() -> anyhow::Result<()> {
    let (url, _) = start_http(DemoEra::StatelessOnly).await?;
    let err = McpHttpClient::connect(&url, ClientEra::legacy())
        .await
        .expect_err("no handshake");
    assert!(err.to_string().contains("HTTP 400"), "{err:#}");
    let mut c = McpHttpClient::connect(&url, ClientEra::stateless()).await?;
    assert_eq!(c.server_info()["supportedVersions"], json!(["2026-07-28"]));
    let r = c
        .send_raw(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
            &[],
        )
        .await?;
    assert_eq!(r.status, 400);
    let v: Value = serde_json::from_str(&r.body)?;
    assert_eq!(v["error"]["code"], -32022);
    assert_eq!(
        v["error"]["data"],
        json!({"supported": ["2026-07-28"], "requested": "2025-11-25"})
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("2026-07-28"))
    );
    let r = c.send_method(reqwest::Method::GET).await?;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "POST");
    let r = c.call_tool("connections.list", json!({})).await?;
    assert_eq!(r["result"]["resultType"], "complete");
    Ok(())
}
