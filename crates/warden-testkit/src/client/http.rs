//! The client over Streamable HTTP.

use std::time::Duration;

use anyhow::{Context, bail};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::{ClientEra, Core, shared_accessors};
use crate::wire::encode_header_value;

/// Longest a request may take, streams included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);

/// An HTTP answer as it came, for tests of malformed input.
#[derive(Debug, Clone)]
pub struct RawReply {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`, empty if absent.
    pub content_type: String,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body as text (the whole stream for SSE).
    pub body: String,
}

/// An MCP client over Streamable HTTP (see the [module docs](super)).
#[derive(Debug)]
pub struct McpHttpClient {
    http: reqwest::Client,
    url: String,
    extra_headers: HeaderMap,
    session_id: Option<String>,
    last_status: u16,
    core: Core,
}

impl McpHttpClient {
    /// Connects to an MCP endpoint (`http://host:port/mcp`): legacy runs the
    /// `initialize` handshake and keeps `Mcp-Session-Id`; stateless calls
    /// `server/discover`. Fails if the server answers either with an error.
    pub async fn connect(url: &str, era: ClientEra) -> anyhow::Result<Self> {
        Self::connect_with_headers(url, era, &[]).await
    }

    /// [`connect`](Self::connect), sending these headers on every request
    /// (for example `("authorization", "Bearer ...")` for a gateway).
    pub async fn connect_with_headers(
        url: &str,
        era: ClientEra,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut extra_headers = HeaderMap::new();
        for (name, value) in headers {
            extra_headers.insert(
                HeaderName::from_bytes(name.as_bytes())
                    .with_context(|| format!("bad header name {name}"))?,
                HeaderValue::from_str(value)
                    .with_context(|| format!("bad value for header {name}"))?,
            );
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("cannot build the HTTP client")?;
        let mut client = McpHttpClient {
            http,
            url: url.to_owned(),
            extra_headers,
            session_id: None,
            last_status: 0,
            core: Core::new(era),
        };
        match client.core.era.clone() {
            ClientEra::Legacy(_) => {
                let params = client.core.initialize_params();
                let response = client.request("initialize", params).await?;
                let Some(result) = response.get("result") else {
                    bail!(
                        "initialize failed (HTTP {}): {response}",
                        client.last_status
                    );
                };
                if let Some(v) = result.get("protocolVersion").and_then(Value::as_str) {
                    client.core.version = v.to_owned();
                }
                client.core.server_info = result.clone();
                client
                    .notify("notifications/initialized", json!({}))
                    .await?;
            }
            ClientEra::Stateless(_) => {
                let response = client.request("server/discover", json!({})).await?;
                let Some(result) = response.get("result") else {
                    bail!(
                        "server/discover failed (HTTP {}): {response}",
                        client.last_status
                    );
                };
                client.core.server_info = result.clone();
            }
        }
        Ok(client)
    }

    /// A second handle on the same session (same `Mcp-Session-Id`, shared id
    /// counter), to send while another request is in flight.
    pub fn fork(&self) -> Self {
        McpHttpClient {
            http: self.http.clone(),
            url: self.url.clone(),
            extra_headers: self.extra_headers.clone(),
            session_id: self.session_id.clone(),
            last_status: 0,
            core: self.core.fork(),
        }
    }

    /// The legacy session id, if the server minted one.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// HTTP status of the last POST.
    pub fn last_status(&self) -> u16 {
        self.last_status
    }

    fn headers(&self, msg: Option<&Value>) -> HeaderMap {
        let mut h = self.extra_headers.clone();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        let mut put = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        };
        if let Some(id) = &self.session_id {
            put("mcp-session-id", id);
        }
        let method = msg.and_then(|m| m["method"].as_str());
        // The handshake itself carries no version header.
        if method != Some("initialize") {
            put("mcp-protocol-version", &self.core.version);
        }
        if let (true, Some(msg), Some(method)) = (self.core.era.is_stateless(), msg, method) {
            put("mcp-method", method);
            let name = match method {
                "tools/call" | "prompts/get" => msg["params"]["name"].as_str(),
                "resources/read" => msg["params"]["uri"].as_str(),
                _ => None,
            };
            if let Some(name) = name {
                put("mcp-name", &encode_header_value(name));
            }
        }
        h
    }

    async fn post(&mut self, msg: &Value) -> anyhow::Result<reqwest::Response> {
        let response = self
            .http
            .post(&self.url)
            .headers(self.headers(Some(msg)))
            .body(msg.to_string())
            .send()
            .await
            .with_context(|| format!("POST {} failed", self.url))?;
        self.last_status = response.status().as_u16();
        Ok(response)
    }

    /// Sends a request and returns the whole response message (a JSON-RPC
    /// error is `Ok`; see [`last_status`](Self::last_status) for the HTTP
    /// status). Answers server requests and collects notifications met on an
    /// SSE response.
    pub async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let (id, msg) = self.core.request(method, params)?;
        let response = self.post(&msg).await?;
        let status = response.status();
        if method == "initialize"
            && let Some(sid) = response.headers().get("mcp-session-id")
        {
            self.session_id = Some(
                sid.to_str()
                    .context("Mcp-Session-Id is not ASCII")?
                    .to_owned(),
            );
        }
        let content_type = content_type(response.headers());
        if content_type.starts_with("text/event-stream") {
            return self.read_stream(response, id, method).await;
        }
        let text = response
            .text()
            .await
            .context("cannot read the response body")?;
        if text.trim().is_empty() {
            bail!("{method}: HTTP {status} with no response message");
        }
        let value: Value = serde_json::from_str(&text).with_context(|| {
            format!("{method}: HTTP {status} with a body that is not JSON: {text}")
        })?;
        self.core.last_raw = text;
        Ok(value)
    }

    async fn read_stream(
        &mut self,
        response: reqwest::Response,
        id: u64,
        method: &str,
    ) -> anyhow::Result<Value> {
        let mut events = response.bytes_stream().eventsource();
        while let Some(event) = events.next().await {
            let event = event.with_context(|| format!("{method}: broken SSE stream"))?;
            if event.data.trim().is_empty() {
                continue; // priming events carry no message
            }
            let msg: Value = serde_json::from_str(&event.data)
                .with_context(|| format!("{method}: SSE event is not JSON: {}", event.data))?;
            match self.core.route(msg, id) {
                Ok(Some(response)) => {
                    self.core.last_raw = event.data;
                    return Ok(response);
                }
                Ok(None) => {}
                Err(answer) => {
                    let reply = self.post(&answer).await?;
                    if !reply.status().is_success() {
                        bail!(
                            "{method}: answering a server request got HTTP {}",
                            reply.status()
                        );
                    }
                }
            }
        }
        bail!("{method}: the SSE stream ended without a response")
    }

    /// Sends a notification; fails unless the server answers 202.
    pub async fn notify(&mut self, method: &str, params: Value) -> anyhow::Result<()> {
        let msg = json!({ "jsonrpc": "2.0", "method": method, "params": params });
        let response = self.post(&msg).await?;
        let status = response.status();
        if status != reqwest::StatusCode::ACCEPTED {
            let body = response.text().await.unwrap_or_default();
            bail!("{method}: expected HTTP 202, got {status}: {body}");
        }
        Ok(())
    }

    /// POSTs `body` as is, with the session/version headers and `headers`
    /// on top, and returns whatever came back.
    pub async fn send_raw(
        &mut self,
        body: impl Into<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<RawReply> {
        let mut h = self.headers(None);
        for (name, value) in headers {
            h.insert(
                HeaderName::from_bytes(name.as_bytes())?,
                HeaderValue::from_str(value)?,
            );
        }
        let response = self
            .http
            .post(&self.url)
            .headers(h)
            .body(body.into())
            .send()
            .await?;
        self.last_status = response.status().as_u16();
        raw_reply(response).await
    }

    /// Sends any HTTP method to the endpoint with the session headers (for
    /// GET/DELETE tests); the body is read to the end, so do not use it on a
    /// stream that stays open.
    pub async fn send_method(&mut self, method: reqwest::Method) -> anyhow::Result<RawReply> {
        let mut h = self.headers(None);
        h.remove(CONTENT_TYPE);
        h.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let response = self
            .http
            .request(method, &self.url)
            .headers(h)
            .send()
            .await?;
        raw_reply(response).await
    }

    /// Ends the session: DELETE for legacy (its status is returned), nothing
    /// to do for stateless (returns 0).
    pub async fn close(mut self) -> anyhow::Result<u16> {
        if self.session_id.is_none() {
            return Ok(0);
        }
        Ok(self.send_method(reqwest::Method::DELETE).await?.status)
    }

    shared_accessors!();
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

async fn raw_reply(response: reqwest::Response) -> anyhow::Result<RawReply> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = content_type(&headers);
    let body = response.text().await?;
    Ok(RawReply {
        status,
        content_type,
        headers,
        body,
    })
}
