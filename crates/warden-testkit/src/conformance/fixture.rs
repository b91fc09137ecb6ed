//! The conformance fixture's request handling, plugged into the demo engine
//! (which keeps transports, eras, sessions, `ping` and `server/discover`).

use std::collections::BTreeSet;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::SERVER_NAME;
use super::catalog::{
    self, ASKING_PROMPT, ASKING_TOOLS, ERROR_TEXT, NOTIFYING_TOOLS, PNG_BASE64, Question,
    SIMPLE_TEXT, WAV_BASE64,
};
use crate::demo::engine::{AskError, CallCtx, Extension, Proto, Reply, Request, lock};
use crate::{MODERN_VERSION, wire};

/// How long a server request waits for the client's answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between the notifications of the logging and progress tools.
const STEP: Duration = Duration::from_millis(50);
/// `_meta` key by which a 2026-07-28 request opts in to log messages.
const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// Syslog severities, least severe first (`logging/setLevel`).
const LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

const INSTRUCTIONS: &str = "Conformance fixture bundled with Warden: the tools, resources and \
prompts the @modelcontextprotocol/conformance server scenarios call.";

/// The fixture's state: the log level set by `logging/setLevel` and the
/// subscribed resource URIs. Both are per process, not per session: the
/// suite runs one scenario at a time, and a fixture need not do better.
#[derive(Debug, Default)]
pub(crate) struct Fixture {
    min_level: Mutex<usize>,
    subscriptions: Mutex<BTreeSet<String>>,
    server_requests: AtomicU64,
    /// Keys the integrity tag of `requestState` (SipHash with per-process
    /// random keys: the client must not be able to forge or edit a state).
    state_key: RandomState,
}

fn tool_result(content: Value) -> Reply {
    Reply::Result(json!({ "content": content }))
}

fn text(text: impl Into<String>) -> Value {
    json!({ "type": "text", "text": text.into() })
}

fn tool_error(message: impl Into<String>) -> Reply {
    Reply::Result(json!({ "content": [text(message)], "isError": true }))
}

fn invalid_params(message: impl Into<String>) -> Reply {
    Reply::Error {
        code: -32602,
        message: message.into(),
        data: None,
    }
}

fn modern(proto: &Proto) -> bool {
    matches!(proto, Proto::Modern { .. })
}

impl Extension for Fixture {
    fn server_name(&self) -> &'static str {
        SERVER_NAME
    }

    fn instructions(&self) -> &'static str {
        INSTRUCTIONS
    }

    fn capabilities(&self, legacy: bool) -> Value {
        if legacy {
            json!({
                "tools": { "listChanged": false },
                "resources": { "subscribe": true, "listChanged": false },
                "prompts": { "listChanged": false },
                "logging": {},
                "completions": {}
            })
        } else {
            // No `subscribe`/`listChanged`: this fixture serves no
            // `subscriptions/listen` stream (nothing ever changes).
            json!({ "tools": {}, "resources": {}, "prompts": {}, "logging": {}, "completions": {} })
        }
    }

    fn streams(&self, req: &Request) -> bool {
        // Server requests need the call's stream only in the handshake era;
        // on 2026-07-28 the same calls answer `input_required` (and an error,
        // such as -32021, must keep its HTTP status).
        let legacy = !req.has_modern_meta();
        let asks = |name: &str| {
            legacy && (ASKING_TOOLS.contains(&name) || catalog::questions(name).is_some())
        };
        let name = req
            .params
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match req.method.as_str() {
            "prompts/get" => asks(name),
            "tools/call" => {
                req.progress_token().is_some() || NOTIFYING_TOOLS.contains(&name) || asks(name)
            }
            _ => false,
        }
    }

    fn handle<'a>(
        &'a self,
        req: &'a Request,
        ctx: &'a mut CallCtx,
    ) -> Option<BoxFuture<'a, Reply>> {
        let legacy = !modern(&ctx.proto);
        let ready = |reply: Reply| Some(std::future::ready(reply).boxed());
        match req.method.as_str() {
            "tools/list" => ready(Reply::Result(json!({ "tools": catalog::tools() }))),
            "tools/call" => Some(self.call(req, ctx).boxed()),
            "resources/list" => ready(Reply::Result(json!({ "resources": catalog::resources() }))),
            "resources/templates/list" => ready(Reply::Result(
                json!({ "resourceTemplates": catalog::resource_templates() }),
            )),
            "resources/read" => ready(self.read(req, &ctx.proto)),
            // Subscriptions and log levels belong to a session: the
            // 2026-07-28 revision has neither method.
            "resources/subscribe" | "resources/unsubscribe" if legacy => ready(self.subscribe(req)),
            "logging/setLevel" if legacy => ready(self.set_level(req)),
            "prompts/list" => ready(Reply::Result(json!({ "prompts": catalog::prompts() }))),
            "prompts/get"
                if req.params.get("name").and_then(Value::as_str) == Some(ASKING_PROMPT) =>
            {
                Some(self.asking_prompt(req, ctx).boxed())
            }
            "prompts/get" => ready(Self::prompt(req)),
            "completion/complete" => ready(Self::complete(req)),
            _ => None,
        }
    }
}

impl Fixture {
    fn read(&self, req: &Request, proto: &Proto) -> Reply {
        let Some(uri) = req.params.get("uri").and_then(Value::as_str) else {
            return invalid_params("Invalid params: resources/read needs params.uri");
        };
        match catalog::read_resource(uri) {
            Some(result) => Reply::Result(result),
            // -32002 until 2025-11-25; 2026-07-28 uses -32602.
            None => Reply::Error {
                code: if modern(proto) { -32602 } else { -32002 },
                message: format!("Resource not found: {uri}"),
                data: Some(json!({ "uri": uri })),
            },
        }
    }

    fn subscribe(&self, req: &Request) -> Reply {
        let Some(uri) = req.params.get("uri").and_then(Value::as_str) else {
            return invalid_params(format!("Invalid params: {} needs params.uri", req.method));
        };
        let mut subs = lock(&self.subscriptions);
        if req.method == "resources/subscribe" {
            subs.insert(uri.to_owned());
        } else {
            subs.remove(uri);
        }
        Reply::Result(json!({}))
    }

    fn set_level(&self, req: &Request) -> Reply {
        let level = req.params.get("level").and_then(Value::as_str);
        match level.and_then(|l| LEVELS.iter().position(|x| *x == l)) {
            Some(i) => {
                *lock(&self.min_level) = i;
                Reply::Result(json!({}))
            }
            None => invalid_params(format!(
                "Invalid params: level must be one of {}",
                LEVELS.join(", ")
            )),
        }
    }

    fn prompt(req: &Request) -> Reply {
        let Some(name) = req.params.get("name").and_then(Value::as_str) else {
            return invalid_params("Invalid params: prompts/get needs params.name");
        };
        let args = req.params.get("arguments").cloned().unwrap_or(json!({}));
        match catalog::get_prompt(name, &args) {
            Ok(result) => Reply::Result(result),
            Err(message) => invalid_params(message),
        }
    }

    fn complete(req: &Request) -> Reply {
        let reference = req.params.get("ref");
        let argument = req.params.get("argument");
        let (Some(reference), Some(name), Some(value)) = (
            reference,
            argument.and_then(|a| a.get("name")).and_then(Value::as_str),
            argument
                .and_then(|a| a.get("value"))
                .and_then(Value::as_str),
        ) else {
            return invalid_params(
                "Invalid params: completion/complete needs ref and argument {name, value}",
            );
        };
        let values: Vec<&str> = catalog::completion_candidates(reference, name)
            .iter()
            .copied()
            .filter(|v| v.starts_with(value))
            .collect();
        Reply::Result(json!({
            "completion": { "values": values, "total": values.len(), "hasMore": false }
        }))
    }

    async fn call(&self, req: &Request, ctx: &mut CallCtx) -> Reply {
        let Some(name) = req.params.get("name").and_then(Value::as_str) else {
            return invalid_params("Invalid params: tools/call needs params.name");
        };
        let empty = json!({});
        let args = match req.params.get("arguments") {
            None | Some(Value::Null) => &empty,
            Some(a @ Value::Object(_)) => a,
            Some(_) => {
                return invalid_params("Invalid params: tools/call arguments must be an object");
            }
        };
        let arg = |key: &str| args.get(key).and_then(Value::as_str);
        if let Some(rounds) = catalog::questions(name) {
            return match self.questioned(req, ctx, name, &rounds).await {
                Ok(answers) => tool_result(json!([text(answered(name, &answers))])),
                Err(reply) => reply,
            };
        }
        let image = || json!({ "type": "image", "data": PNG_BASE64, "mimeType": "image/png" });
        match name {
            "test_simple_text" => tool_result(json!([text(SIMPLE_TEXT)])),
            "test_image_content" => tool_result(json!([image()])),
            "test_audio_content" => tool_result(
                json!([{ "type": "audio", "data": WAV_BASE64, "mimeType": "audio/wav" }]),
            ),
            "test_embedded_resource" => tool_result(json!([{
                "type": "resource",
                "resource": {
                    "uri": "test://embedded-resource",
                    "mimeType": "text/plain",
                    "text": "This is an embedded resource content."
                }
            }])),
            "test_multiple_content_types" => tool_result(json!([
                text("Multiple content types test:"),
                image(),
                {
                    "type": "resource",
                    "resource": {
                        "uri": "test://mixed-content-resource",
                        "mimeType": "application/json",
                        "text": json!({ "test": "data", "value": 123 }).to_string()
                    }
                }
            ])),
            "test_error_handling" => tool_error(ERROR_TEXT),
            "test_tool_with_logging" => self.with_logging(req, ctx).await,
            "test_tool_with_progress" => Self::with_progress(req, ctx).await,
            "test_sampling" => {
                let Some(prompt) = arg("prompt") else {
                    return tool_error("test_sampling needs the argument prompt");
                };
                let params = json!({
                    "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
                    "maxTokens": 100
                });
                match self
                    .ask(req, ctx, "sampling", "sampling/createMessage", params)
                    .await
                {
                    Ok(answer) => {
                        let said = answer
                            .pointer("/content/text")
                            .and_then(Value::as_str)
                            .map_or_else(|| answer["content"].to_string(), str::to_owned);
                        tool_result(json!([text(format!("LLM response: {said}"))]))
                    }
                    Err(reply) => reply,
                }
            }
            "test_elicitation" => {
                let Some(message) = arg("message") else {
                    return tool_error("test_elicitation needs the argument message");
                };
                self.elicit(
                    req,
                    ctx,
                    message,
                    catalog::elicitation_schema(),
                    "User response",
                )
                .await
            }
            "test_elicitation_sep1034_defaults" => {
                let message = "Please review and update the form fields with defaults";
                self.elicit(
                    req,
                    ctx,
                    message,
                    catalog::defaults_schema(),
                    "Elicitation completed",
                )
                .await
            }
            "test_elicitation_sep1330_enums" => {
                let message = "Please select options from the enum fields";
                self.elicit(
                    req,
                    ctx,
                    message,
                    catalog::enums_schema(),
                    "Elicitation completed",
                )
                .await
            }
            "json_schema_2020_12_tool" => tool_result(json!([text(format!(
                "json_schema_2020_12_tool called with {args}"
            ))])),
            "test_logging_tool" => {
                self.log(req, ctx, "info", "test_logging_tool was called");
                tool_result(json!([text("Logging tool executed")]))
            }
            "test_reconnection" => tool_result(json!([text(
                "Reconnection test completed (this fixture answers on the open stream)"
            )])),
            _ => tool_error(format!("Unknown tool: {name}")),
        }
    }

    /// Sends a log message if the session's level (legacy) or the request's
    /// `_meta` opt-in (2026-07-28) lets it through.
    fn log(&self, req: &Request, ctx: &CallCtx, level: &str, data: &str) {
        let rank = LEVELS.iter().position(|l| *l == level).unwrap_or(0);
        let min = match &ctx.proto {
            Proto::Legacy { .. } => Some(*lock(&self.min_level)),
            Proto::Modern { .. } => req
                .meta()
                .and_then(|m| m.get(META_LOG_LEVEL))
                .and_then(Value::as_str)
                .and_then(|l| LEVELS.iter().position(|x| *x == l)),
        };
        if min.is_some_and(|min| rank >= min) {
            let note = json!({
                "jsonrpc": "2.0",
                "method": "notifications/message",
                "params": { "level": level, "logger": "test_tool_with_logging", "data": data },
            });
            let _ = ctx.out.send(note.to_string());
        }
    }

    async fn with_logging(&self, req: &Request, ctx: &mut CallCtx) -> Reply {
        let steps = [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
        ];
        for (i, step) in steps.into_iter().enumerate() {
            if i > 0 && !pause(ctx).await {
                return Reply::Cancelled;
            }
            self.log(req, ctx, "info", step);
        }
        tool_result(json!([text("Tool with logging executed successfully")]))
    }

    async fn with_progress(req: &Request, ctx: &mut CallCtx) -> Reply {
        let token = req.progress_token().cloned();
        for (i, progress) in [0, 50, 100].into_iter().enumerate() {
            if i > 0 && !pause(ctx).await {
                return Reply::Cancelled;
            }
            if let Some(token) = &token {
                let note = json!({
                    "jsonrpc": "2.0",
                    "method": "notifications/progress",
                    "params": {
                        "progressToken": token, "progress": progress, "total": 100,
                        "message": format!("{progress} of 100"),
                    },
                });
                let _ = ctx.out.send(note.to_string());
            }
        }
        tool_result(json!([text("Tool with progress executed successfully")]))
    }

    async fn elicit(
        &self,
        req: &Request,
        ctx: &mut CallCtx,
        message: &str,
        schema: Value,
        label: &str,
    ) -> Reply {
        let mut params = json!({ "message": message, "requestedSchema": schema });
        // `mode` exists from 2025-11-25 on.
        if matches!(ctx.proto.version(), "2025-11-25" | MODERN_VERSION)
            && let Some(obj) = params.as_object_mut()
        {
            obj.insert("mode".into(), json!("form"));
        }
        match self
            .ask(req, ctx, "elicitation", "elicitation/create", params)
            .await
        {
            Ok(answer) => {
                let action = answer
                    .get("action")
                    .and_then(Value::as_str)
                    .unwrap_or("(none)");
                let content = answer.get("content").cloned().unwrap_or(json!({}));
                tool_result(json!([text(format!(
                    "{label}: action={action}, content={content}"
                ))]))
            }
            Err(reply) => reply,
        }
    }

    /// Asks the client (`capability` names what it must have declared):
    /// legacy era, a server-to-client request on the call's stream;
    /// 2026-07-28, an `input_required` result answered by the retry's
    /// `inputResponses[capability]`. `Err` is the reply to send instead.
    async fn ask(
        &self,
        req: &Request,
        ctx: &mut CallCtx,
        capability: &str,
        method: &str,
        params: Value,
    ) -> Result<Value, Reply> {
        let declared = ctx.proto.caps().get(capability).is_some();
        if modern(&ctx.proto) {
            if !declared {
                return Err(Reply::Error {
                    code: -32021,
                    message: format!(
                        "Server requires the {capability} capability for this request"
                    ),
                    data: Some(json!({ "requiredCapabilities": { capability: {} } })),
                });
            }
            let tool = req.params.get("name").cloned().unwrap_or(Value::Null);
            let state = wire::base64_encode(
                json!({ "ask": capability, "tool": tool })
                    .to_string()
                    .as_bytes(),
            );
            if let Some(answer) = req
                .params
                .get("inputResponses")
                .and_then(|r| r.get(capability))
            {
                if req.params.get("requestState").and_then(Value::as_str) != Some(state.as_str()) {
                    return Err(invalid_params(
                        "Invalid params: requestState is missing or does not belong to this request",
                    ));
                }
                return Ok(answer.clone());
            }
            return Err(Reply::Result(json!({
                "resultType": "input_required",
                "inputRequests": { capability: { "method": method, "params": params } },
                "requestState": state,
            })));
        }
        if !declared {
            return Err(tool_error(format!(
                "The client did not declare the {capability} capability"
            )));
        }
        let n = self.server_requests.fetch_add(1, Ordering::Relaxed) + 1;
        let id = json!(format!("conf-{n}"));
        match ctx.ask_client(id, method, params, ASK_TIMEOUT).await {
            Ok(response) => match response.get("result") {
                Some(result) => Ok(result.clone()),
                None => Err(tool_error(format!(
                    "The client answered {method} with an error: {}",
                    response.get("error").unwrap_or(&Value::Null)
                ))),
            },
            Err(AskError::Cancelled) => Err(Reply::Cancelled),
            Err(e) => Err(tool_error(format!("{method} got no answer: {e:?}"))),
        }
    }
}

impl Fixture {
    async fn asking_prompt(&self, req: &Request, ctx: &mut CallCtx) -> Reply {
        let rounds = catalog::questions(ASKING_PROMPT).unwrap_or_default();
        match self.questioned(req, ctx, ASKING_PROMPT, &rounds).await {
            Ok(answers) => Reply::Result(json!({
                "description": "A prompt rendered with the user's context",
                "messages": [{
                    "role": "user",
                    "content": { "type": "text", "text": answered(ASKING_PROMPT, &answers) }
                }]
            })),
            Err(reply) => reply,
        }
    }

    /// Asks `rounds` of questions (only those whose capability the client
    /// declared; `-32021` or a tool error if it declared none of a round's)
    /// and returns the answers by key. Handshake era: server requests on the
    /// call's stream. 2026-07-28: one `input_required` result per round,
    /// with the round and the answers so far in an integrity-tagged
    /// `requestState`; a retry missing answers is asked again, a state that
    /// fails its check is refused with `-32602`. `Err` is the reply to send.
    async fn questioned(
        &self,
        req: &Request,
        ctx: &mut CallCtx,
        name: &str,
        rounds: &[Vec<Question>],
    ) -> Result<Map<String, Value>, Reply> {
        let caps = ctx.proto.caps().clone();
        let asked = |round: &[Question]| -> Result<Vec<Question>, Reply> {
            let asked: Vec<Question> = round
                .iter()
                .filter(|q| caps.get(q.capability()).is_some())
                .cloned()
                .collect();
            match round.first() {
                Some(first) if asked.is_empty() => Err(Reply::Error {
                    code: -32021,
                    message: format!(
                        "Server requires the {} capability for this request",
                        first.capability()
                    ),
                    data: Some(json!({ "requiredCapabilities": { first.capability(): {} } })),
                }),
                _ => Ok(asked),
            }
        };
        if !modern(&ctx.proto) {
            let mut answers = Map::new();
            for round in rounds {
                let asked = asked(round).map_err(|e| match e {
                    Reply::Error { message, .. } => tool_error(message),
                    other => other,
                })?;
                for q in asked {
                    let n = self.server_requests.fetch_add(1, Ordering::Relaxed) + 1;
                    let id = json!(format!("conf-{n}"));
                    let response = match ctx.ask_client(id, q.method, q.params, ASK_TIMEOUT).await {
                        Ok(response) => response,
                        Err(AskError::Cancelled) => return Err(Reply::Cancelled),
                        Err(e) => {
                            return Err(tool_error(format!("{} got no answer: {e:?}", q.method)));
                        }
                    };
                    let Some(result) = response.get("result") else {
                        return Err(tool_error(format!(
                            "The client answered {} with an error: {}",
                            q.method,
                            response.get("error").unwrap_or(&Value::Null)
                        )));
                    };
                    answers.insert(q.key.to_owned(), result.clone());
                }
            }
            return Ok(answers);
        }

        let (mut round, mut answers) = match req.params.get("requestState") {
            None | Some(Value::Null) => (0, Map::new()),
            Some(state) => self.open_state(state, name).ok_or_else(|| {
                invalid_params("Invalid params: requestState failed its integrity check or belongs to another request")
            })?,
        };
        let empty = Map::new();
        let responses = req
            .params
            .get("inputResponses")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        while let Some(questions) = rounds.get(round) {
            let asked = asked(questions)?;
            // An answer that is not a result object is no answer: ask again.
            if !asked
                .iter()
                .all(|q| responses.get(q.key).is_some_and(Value::is_object))
            {
                let requests: Map<String, Value> = asked
                    .iter()
                    .map(|q| {
                        (
                            q.key.to_owned(),
                            json!({ "method": q.method, "params": q.params }),
                        )
                    })
                    .collect();
                return Err(Reply::Result(json!({
                    "resultType": "input_required",
                    "inputRequests": requests,
                    "requestState": self.seal_state(name, round, &answers),
                })));
            }
            for q in &asked {
                answers.insert(q.key.to_owned(), responses[q.key].clone());
            }
            round += 1;
        }
        Ok(answers)
    }

    fn tag(&self, payload: &str) -> String {
        format!("{:016x}", self.state_key.hash_one(payload))
    }

    fn seal_state(&self, name: &str, round: usize, answers: &Map<String, Value>) -> String {
        let state = json!({ "for": name, "round": round, "answers": answers });
        let payload = wire::base64_encode(state.to_string().as_bytes());
        let tag = self.tag(&payload);
        format!("{payload}.{tag}")
    }

    fn open_state(&self, state: &Value, name: &str) -> Option<(usize, Map<String, Value>)> {
        let (payload, tag) = state.as_str()?.rsplit_once('.')?;
        if self.tag(payload) != tag {
            return None;
        }
        let state: Value = serde_json::from_slice(&wire::base64_decode(payload)?).ok()?;
        if state["for"] != name {
            return None;
        }
        let round = usize::try_from(state["round"].as_u64()?).ok()?;
        Some((round, state["answers"].as_object()?.clone()))
    }
}

/// The text a questioning tool or prompt completes with, from its answers.
fn answered(name: &str, answers: &Map<String, Value>) -> String {
    let get = |key: &str, pointer: &str| {
        answers
            .get(key)
            .and_then(|a| a.pointer(pointer))
            .map_or_else(
                || "(no answer)".to_owned(),
                |v| v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
    };
    match name {
        "test_missing_capability" => format!("Sampled: {}", get("completion", "/content/text")),
        "test_streaming_elicitation" | "test_input_required_result_elicitation" => {
            format!("Hello, {}!", get("user_name", "/content/name"))
        }
        "test_input_required_result_sampling" => {
            format!(
                "The model said: {}",
                get("capital_question", "/content/text")
            )
        }
        "test_input_required_result_list_roots" => {
            format!("Roots: {}", get("client_roots", "/roots"))
        }
        "test_input_required_result_request_state"
        | "test_input_required_result_tampered_state" => {
            format!("state-ok: confirmed ok={}", get("confirm", "/content/ok"))
        }
        "test_input_required_result_multi_round" => format!(
            "Hello, {}! Your favorite color is {}.",
            get("step1", "/content/name"),
            get("step2", "/content/color")
        ),
        ASKING_PROMPT => format!(
            "Use this context: {}",
            get("user_context", "/content/context")
        ),
        _ => format!(
            "Received answers for: {}",
            answers.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Waits one step; false if the request was cancelled meanwhile.
async fn pause(ctx: &mut CallCtx) -> bool {
    tokio::select! {
        () = tokio::time::sleep(STEP) => true,
        () = ctx.cancelled() => false,
    }
}
