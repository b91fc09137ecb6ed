//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;
use warden_testkit::demo::{self, DemoEra, DemoOptions};

/// A fresh log path under the system temp dir (removed if it exists).
pub fn log_path(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "warden-testkit-{}-{tag}-{n}.jsonl",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

/// The log's lines, parsed.
pub fn log_lines(path: &PathBuf) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)?;
    text.lines().map(|l| Ok(serde_json::from_str(l)?)).collect()
}

/// The raw log text.
pub fn log_text(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Starts the demo over HTTP on 127.0.0.1:0; returns its `/mcp` URL and log path.
pub async fn start_http(era: DemoEra) -> anyhow::Result<(String, PathBuf)> {
    let log = log_path("http");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    let opts = DemoOptions {
        log: Some(log.clone()),
        era,
        ..DemoOptions::default()
    };
    tokio::spawn(async move {
        if let Err(e) = demo::serve_http(listener, opts).await {
            eprintln!("demo server failed: {e:#}");
        }
    });
    Ok((url, log))
}

/// The text of the first content block of a tools/call response.
pub fn text(response: &Value) -> &str {
    response
        .pointer("/result/content/0/text")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// All text blocks of a tools/call response, joined by newlines.
pub fn all_text(response: &Value) -> String {
    response
        .pointer("/result/content")
        .and_then(Value::as_array)
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The exact catalog bytes the demo serves.
pub fn exact_tools() -> String {
    format!(r#""tools":{}"#, demo::TOOLS_JSON)
}
