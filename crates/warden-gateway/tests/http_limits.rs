//! Concurrency limits at the HTTP edge: beyond them the gateway says so at once.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use warden_gateway::downstream::http::{HttpGateway, Local, serve_http};
use warden_gateway::{Guard, Limits, SystemClock, UpstreamSpec};
use warden_policy::Policy;
use warden_store::MemoryCounters;
use warden_testkit::client::{ClientEra, McpHttpClient};
use warden_testkit::demo::DemoOptions;

/// A gateway with `limits` in front of the demo server (over HTTP, in process).
async fn gateway(limits: Limits) -> String {
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_url = format!("http://{}/mcp", upstream.local_addr().unwrap());
    tokio::spawn(warden_testkit::demo::serve_http(
        upstream,
        DemoOptions::default(),
    ));
    let policy = Policy::from_json("p.json", r#"{"version":"1","default":"allow"}"#).unwrap();
    let guard = Arc::new(Guard::fixed(
        policy,
        Arc::new(MemoryCounters::new()),
        Arc::new(SystemClock),
    ));
    let spec = UpstreamSpec::Http {
        url: up_url.parse().unwrap(),
        headers: Default::default(),
    };
    let gw = HttpGateway::new(Arc::new(Local(guard)), spec, limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(serve_http(gw, listener, std::future::pending()));
    url
}

fn slow_call(id: u64) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "connections.list", "arguments": {"sleep_ms": 1500}}})
    .to_string()
}

#[tokio::test]
async fn a_session_over_its_limit_gets_429_and_recovers() {
    let url = gateway(Limits {
        max_concurrent_per_session: Some(1),
        ..Limits::default()
    })
    .await;
    let mut first = McpHttpClient::connect(&url, ClientEra::legacy())
        .await
        .unwrap();
    let mut second = first.fork();
    let slow = tokio::spawn(async move { first.send_raw(slow_call(100), &[]).await.unwrap() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = second.send_raw(slow_call(101), &[]).await.unwrap();
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(
        refused.body.contains("max_concurrent_per_session"),
        "{}",
        refused.body
    );
    assert_eq!(refused.headers.get("retry-after").unwrap(), "1");
    let done = slow.await.unwrap();
    assert_eq!(done.status, 200, "{}", done.body);
    // The permit is released with the answer.
    let again = second
        .call_tool("connections.list", json!({}))
        .await
        .unwrap();
    assert_eq!(again["result"]["isError"], false, "{again}");
}

#[tokio::test]
async fn the_gateway_over_its_limit_gets_503() {
    let url = gateway(Limits {
        max_concurrent_requests: Some(1),
        ..Limits::default()
    })
    .await;
    let mut a = McpHttpClient::connect(&url, ClientEra::stateless())
        .await
        .unwrap();
    let mut b = McpHttpClient::connect(&url, ClientEra::stateless())
        .await
        .unwrap();
    let slow = tokio::spawn(async move {
        a.call_tool("connections.list", json!({"sleep_ms": 1500}))
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = b.call_tool("connections.list", json!({})).await;
    assert_eq!(b.last_status(), 503, "{refused:?}");
    assert_eq!(slow.await.unwrap()["result"]["isError"], false);
}
