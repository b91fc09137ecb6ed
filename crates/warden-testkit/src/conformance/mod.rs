//! The conformance fixture: an MCP server offering what the server scenarios
//! of the official `@modelcontextprotocol/conformance` suite call, so the
//! suite can run against it directly and through Warden and the two results
//! can be compared (`tests/conformance/run.sh`, `docs/conformance.md`).
//!
//! It is the demo server's engine and transports (both eras, stdio and
//! Streamable HTTP, sessions, SSE, the `Origin` guard) with another catalogue
//! plugged in; see [`crate::demo`] for the transport behaviour.
//!
//! # Catalogue
//!
//! | kind | names |
//! |---|---|
//! | tools | `test_simple_text`, `test_image_content`, `test_audio_content`, `test_embedded_resource`, `test_multiple_content_types`, `test_tool_with_logging` (3 info log messages, 50 ms apart), `test_tool_with_progress` (progress 0/50/100 of 100 when the request has a progress token), `test_error_handling` (`isError: true`), `test_sampling {prompt}` (`sampling/createMessage`), `test_elicitation {message}`, `test_elicitation_sep1034_defaults`, `test_elicitation_sep1330_enums` (`elicitation/create`), `json_schema_2020_12_tool` (2020-12 keywords in its `inputSchema`), `test_reconnection`, `test_logging_tool` |
//! | tools that ask the client | `test_missing_capability` (sampling), `test_streaming_elicitation`, `test_input_required_result_{elicitation, sampling, list_roots, request_state, multiple_inputs, multi_round, tampered_state, capabilities}` |
//! | resources | `test://static-text`, `test://static-binary` (PNG blob), `test://watched-resource`; template `test://template/{id}/data` |
//! | prompts | `test_simple_prompt`, `test_prompt_with_arguments {arg1, arg2}`, `test_prompt_with_embedded_resource {resourceUri}`, `test_prompt_with_image`, `test_input_required_result_prompt` (asks the user first) |
//! | other | `logging/setLevel`, `completion/complete`, `resources/subscribe`, `resources/unsubscribe` |
//!
//! Capabilities: `tools`, `resources` (`subscribe` in the handshake era),
//! `prompts`, `logging`, `completions`.
//!
//! # Eras
//!
//! Handshake era: tools and prompts that ask the client send server requests
//! on the call's SSE stream (one per question, round after round) and wait up
//! to 30 s each; questions needing a capability the client did not declare
//! are not asked, and a round with none left is a tool error. 2026-07-28: the
//! same calls answer `input_required` (one result per round; the round and
//! the answers so far travel in a `requestState` tagged with a per-process
//! keyed hash, so an edited or foreign state is refused with `-32602`; a
//! retry missing answers is asked again), or `-32021` naming the missing
//! capability; log messages are sent only when the request's `_meta` carries
//! `io.modelcontextprotocol/logLevel`; `logging/setLevel` and
//! `resources/subscribe|unsubscribe` do not exist (`-32601`), and
//! `server/discover` advertises no `listChanged`/`subscribe` (no
//! `subscriptions/listen` stream is served).
//!
//! # Deliberate limits
//!
//! - `test_reconnection` answers on the open stream: the demo transport sends
//!   no SSE event ids, so the SSE polling scenario (SEP-1699, priming events,
//!   `retry`, resumption with `Last-Event-ID`) only reports warnings.
//! - No tasks (the tasks extension) and no `x-mcp-header` parameters (the
//!   demo transport does not validate `Mcp-Param-*` headers).
//! - The log level and the subscriptions are per process, not per session,
//!   and no `notifications/resources/updated` is ever sent (nothing changes).

mod catalog;
mod fixture;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use crate::demo::engine::Engine;
use crate::demo::{DemoEra, DemoOptions};

/// The fixture's `serverInfo.name`.
pub const SERVER_NAME: &str = "warden-conformance";

fn engine(era: DemoEra) -> anyhow::Result<Arc<Engine>> {
    let opts = DemoOptions {
        log: None,
        era,
        ..DemoOptions::default()
    };
    Ok(Arc::new(Engine::with_extension(
        &opts,
        Arc::new(fixture::Fixture::default()),
    )?))
}

/// Serves the fixture over Streamable HTTP at `http://<listener address>/mcp`
/// until the task is dropped or the listener fails.
pub async fn serve_http(listener: TcpListener, era: DemoEra) -> anyhow::Result<()> {
    crate::demo::http::serve_http_engine(listener, engine(era)?).await
}

/// Serves the fixture on this process's stdin/stdout until stdin closes.
pub async fn serve_stdio(era: DemoEra) -> anyhow::Result<()> {
    serve_io(tokio::io::stdin(), tokio::io::stdout(), era).await
}

/// Serves the fixture over any byte stream pair (one JSON-RPC message per line).
pub async fn serve_io<R, W>(reader: R, writer: W, era: DemoEra) -> anyhow::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    crate::demo::stdio::serve_io_engine(reader, writer, engine(era)?).await
}

/// Names of the fixture's tools, in `tools/list` order.
pub fn tool_names() -> Vec<String> {
    catalog::tools()
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{Value, json};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines, ReadHalf, WriteHalf};
    use tokio::io::{DuplexStream, split};

    use super::*;
    use crate::{META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION, MODERN_VERSION};

    const WAIT: Duration = Duration::from_secs(10);

    /// The fixture on an in-process pipe, spoken to one line at a time.
    struct Pipe {
        tx: WriteHalf<DuplexStream>,
        rx: Lines<BufReader<ReadHalf<DuplexStream>>>,
        next: u64,
    }

    impl Pipe {
        fn start() -> Self {
            let (client, server) = tokio::io::duplex(1 << 16);
            let (server_r, server_w) = split(server);
            tokio::spawn(serve_io(server_r, server_w, DemoEra::Both));
            let (rx, tx) = split(client);
            Pipe {
                tx,
                rx: BufReader::new(rx).lines(),
                next: 0,
            }
        }

        async fn send(&mut self, msg: &Value) {
            let line = format!("{msg}\n");
            self.tx.write_all(line.as_bytes()).await.expect("write");
        }

        async fn recv(&mut self) -> Value {
            let line = tokio::time::timeout(WAIT, self.rx.next_line())
                .await
                .expect("an answer in time")
                .expect("read")
                .expect("a line");
            serde_json::from_str(&line).expect("JSON")
        }

        /// Sends a request; returns its response and what came before it.
        /// Server requests are answered with `answer(method)`.
        async fn request(
            &mut self,
            method: &str,
            params: Value,
            answer: impl Fn(&str) -> Value,
        ) -> (Value, Vec<Value>) {
            self.next += 1;
            let id = self.next;
            self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
                .await;
            let mut before = Vec::new();
            loop {
                let msg = self.recv().await;
                if msg.get("method").is_some() && msg.get("id").is_some() {
                    let result = answer(msg["method"].as_str().unwrap_or_default());
                    self.send(&json!({"jsonrpc": "2.0", "id": msg["id"], "result": result}))
                        .await;
                    before.push(msg);
                } else if msg.get("id") == Some(&json!(id)) {
                    return (msg, before);
                } else {
                    before.push(msg);
                }
            }
        }

        async fn initialize(&mut self, caps: Value) -> Value {
            let params = json!({"protocolVersion": "2025-11-25", "capabilities": caps,
                                "clientInfo": {"name": "t", "version": "1"}});
            let (r, _) = self.request("initialize", params, |_| json!({})).await;
            self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
                .await;
            r
        }
    }

    fn none(_: &str) -> Value {
        json!({})
    }

    fn modern(caps: Value, params: Value) -> Value {
        let mut params = params;
        params["_meta"] =
            json!({ META_PROTOCOL_VERSION: MODERN_VERSION, META_CLIENT_CAPABILITIES: caps });
        params
    }

    #[tokio::test]
    async fn legacy_session_serves_the_whole_catalogue() {
        let mut p = Pipe::start();
        let init = p
            .initialize(json!({"sampling": {}, "elicitation": {}}))
            .await;
        assert_eq!(init["result"]["serverInfo"]["name"], SERVER_NAME);
        assert_eq!(
            init["result"]["capabilities"]["resources"]["subscribe"],
            true
        );

        let (r, _) = p.request("tools/list", json!({}), none).await;
        let names: Vec<_> = r["result"]["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(names, tool_names());
        let (r, _) = p
            .request(
                "resources/read",
                json!({"uri": "test://template/123/data"}),
                none,
            )
            .await;
        assert!(
            r["result"]["contents"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .contains("\"123\""),
            "{r}"
        );
        let (r, _) = p
            .request("resources/read", json!({"uri": "test://nope"}), none)
            .await;
        assert_eq!(r["error"]["code"], -32002);
        let (r, _) = p
            .request(
                "prompts/get",
                json!({"name": "test_prompt_with_arguments",
                                           "arguments": {"arg1": "a1", "arg2": "a2"}}),
                none,
            )
            .await;
        assert_eq!(
            r["result"]["messages"][0]["content"]["text"],
            "Prompt with arguments: arg1='a1', arg2='a2'"
        );
        let (r, _) = p
            .request(
                "prompts/get",
                json!({"name": "test_prompt_with_arguments"}),
                none,
            )
            .await;
        assert_eq!(r["error"]["code"], -32602);
        let (r, _) = p
            .request(
                "completion/complete",
                json!({"ref": {"type": "ref/prompt", "name": "test_prompt_with_arguments"},
                                                   "argument": {"name": "arg1", "value": "par"}}),
                none,
            )
            .await;
        assert_eq!(
            r["result"]["completion"]["values"],
            json!(["paris", "park", "party"])
        );
        let (r, _) = p
            .request("logging/setLevel", json!({"level": "warning"}), none)
            .await;
        assert_eq!(r["result"], json!({}));

        // Below the level set: no log messages.
        let (r, before) = p
            .request(
                "tools/call",
                json!({"name": "test_tool_with_logging"}),
                none,
            )
            .await;
        assert!(before.is_empty(), "{before:?}");
        assert_eq!(r["result"]["content"][0]["type"], "text");
        let _ = p
            .request("logging/setLevel", json!({"level": "debug"}), none)
            .await;
        let (_, before) = p
            .request(
                "tools/call",
                json!({"name": "test_tool_with_logging"}),
                none,
            )
            .await;
        assert_eq!(before.len(), 3);
        assert!(
            before
                .iter()
                .all(|m| m["method"] == "notifications/message")
        );

        let (_, before) = p
            .request(
                "tools/call",
                json!({"name": "test_tool_with_progress", "_meta": {"progressToken": "p"}}),
                none,
            )
            .await;
        let progress: Vec<_> = before
            .iter()
            .map(|m| m["params"]["progress"].clone())
            .collect();
        assert_eq!(progress, vec![json!(0), json!(50), json!(100)]);

        let (r, before) = p
            .request("tools/call", json!({"name": "test_sampling", "arguments": {"prompt": "hi"}}), |_| {
                json!({"role": "assistant", "content": {"type": "text", "text": "hello"}, "model": "m"})
            })
            .await;
        assert_eq!(before[0]["method"], "sampling/createMessage");
        assert_eq!(before[0]["params"]["messages"][0]["content"]["text"], "hi");
        assert_eq!(r["result"]["content"][0]["text"], "LLM response: hello");

        let (r, before) = p
            .request(
                "tools/call",
                json!({"name": "test_elicitation_sep1034_defaults"}),
                |_| json!({"action": "accept", "content": {"name": "x"}}),
            )
            .await;
        assert_eq!(
            before[0]["params"]["requestedSchema"]["properties"]["score"]["default"],
            95.5
        );
        assert_eq!(before[0]["params"]["mode"], "form");
        assert_eq!(
            r["result"]["content"][0]["text"],
            "Elicitation completed: action=accept, content={\"name\":\"x\"}"
        );

        let (r, _) = p
            .request("tools/call", json!({"name": "test_error_handling"}), none)
            .await;
        assert_eq!(r["result"]["isError"], true);
    }

    #[tokio::test]
    async fn legacy_client_without_the_capability_gets_a_tool_error() {
        let mut p = Pipe::start();
        p.initialize(json!({})).await;
        let (r, before) = p
            .request(
                "tools/call",
                json!({"name": "test_elicitation", "arguments": {"message": "m"}}),
                none,
            )
            .await;
        assert!(before.is_empty());
        assert_eq!(r["result"]["isError"], true);
    }

    #[tokio::test]
    async fn modern_requests_use_input_required() {
        let mut p = Pipe::start();
        let caps = json!({"elicitation": {}});
        let call = json!({"name": "test_elicitation", "arguments": {"message": "who?"}});
        let (r, _) = p
            .request("tools/call", modern(caps.clone(), call.clone()), none)
            .await;
        let result = &r["result"];
        assert_eq!(result["resultType"], "input_required", "{r}");
        assert_eq!(
            result["inputRequests"]["elicitation"]["method"],
            "elicitation/create"
        );
        let state = result["requestState"].clone();

        let mut retry = modern(caps, call.clone());
        retry["inputResponses"] = json!({"elicitation": {"action": "decline"}});
        retry["requestState"] = state;
        let (r, _) = p.request("tools/call", retry, none).await;
        assert_eq!(r["result"]["resultType"], "complete");
        assert_eq!(
            r["result"]["content"][0]["text"],
            "User response: action=decline, content={}"
        );

        let (r, _) = p.request("tools/call", modern(json!({}), call), none).await;
        assert_eq!(r["error"]["code"], -32021);
        let (r, _) = p
            .request("resources/list", modern(json!({}), json!({})), none)
            .await;
        assert_eq!(r["result"]["cacheScope"], "private");
        let (r, _) = p
            .request(
                "logging/setLevel",
                modern(json!({}), json!({"level": "info"})),
                none,
            )
            .await;
        assert_eq!(r["error"]["code"], -32601);
        let (r, _) = p
            .request("server/discover", modern(json!({}), json!({})), none)
            .await;
        // No listChanged: this fixture serves no subscriptions/listen stream.
        assert_eq!(r["result"]["capabilities"]["prompts"], json!({}));
    }

    #[tokio::test]
    async fn modern_multi_round_state_is_tagged_and_checked() {
        let mut p = Pipe::start();
        let caps = json!({"elicitation": {}, "sampling": {}});
        let call = json!({"name": "test_input_required_result_multi_round", "arguments": {}});
        let (r, _) = p
            .request("tools/call", modern(caps.clone(), call.clone()), none)
            .await;
        assert!(r["result"]["inputRequests"]["step1"].is_object(), "{r}");
        let state1 = r["result"]["requestState"].clone();

        let mut retry = modern(caps.clone(), call.clone());
        retry["inputResponses"] =
            json!({"step1": {"action": "accept", "content": {"name": "Ada"}}});
        retry["requestState"] = state1.clone();
        let (r, _) = p.request("tools/call", retry.clone(), none).await;
        assert!(r["result"]["inputRequests"]["step2"].is_object(), "{r}");
        let state2 = r["result"]["requestState"].clone();
        assert_ne!(state1, state2);

        retry["inputResponses"] =
            json!({"step2": {"action": "accept", "content": {"color": "teal"}}});
        retry["requestState"] = state2.clone();
        let (r, _) = p.request("tools/call", retry.clone(), none).await;
        assert_eq!(
            r["result"]["content"][0]["text"],
            "Hello, Ada! Your favorite color is teal."
        );

        // A state edited by the client, or one issued for another tool, is refused.
        retry["requestState"] = json!(format!("{}x", state2.as_str().unwrap_or_default()));
        let (r, _) = p.request("tools/call", retry.clone(), none).await;
        assert_eq!(r["error"]["code"], -32602, "{r}");
        let mut other = modern(
            caps.clone(),
            json!({"name": "test_input_required_result_request_state"}),
        );
        other["inputResponses"] = json!({"confirm": {"action": "accept", "content": {"ok": true}}});
        other["requestState"] = state1;
        let (r, _) = p.request("tools/call", other, none).await;
        assert_eq!(r["error"]["code"], -32602, "{r}");

        // Only the questions the client can answer are asked.
        let only_sampling = modern(
            json!({"sampling": {}}),
            json!({"name": "test_input_required_result_capabilities"}),
        );
        let (r, _) = p.request("tools/call", only_sampling, none).await;
        let asked: Vec<_> = r["result"]["inputRequests"]
            .as_object()
            .expect("asks")
            .keys()
            .cloned()
            .collect();
        assert_eq!(asked, vec!["summary".to_owned()]);
    }

    #[tokio::test]
    async fn legacy_multi_round_asks_over_the_stream() {
        let mut p = Pipe::start();
        p.initialize(json!({"elicitation": {}})).await;
        let (r, before) = p
            .request(
                "tools/call",
                json!({"name": "test_input_required_result_multi_round"}),
                |_| json!({"action": "accept", "content": {"name": "Ada", "color": "teal"}}),
            )
            .await;
        assert_eq!(before.len(), 2);
        assert_eq!(
            r["result"]["content"][0]["text"],
            "Hello, Ada! Your favorite color is teal."
        );
        let (r, before) = p
            .request(
                "prompts/get",
                json!({"name": "test_input_required_result_prompt"}),
                |_| json!({"action": "accept", "content": {"context": "tests"}}),
            )
            .await;
        assert_eq!(before[0]["method"], "elicitation/create");
        assert_eq!(
            r["result"]["messages"][0]["content"]["text"],
            "Use this context: tests"
        );
    }
}
