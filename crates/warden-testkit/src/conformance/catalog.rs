//! What the conformance fixture offers: tools, resources, resource templates
//! and prompts, named and shaped as the server scenarios of
//! `@modelcontextprotocol/conformance` ask for them.

use serde_json::{Value, json};

/// A 1×1 red PNG (generated for this fixture).
pub(crate) const PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

/// 10 ms of a 440 Hz tone, 8 kHz mono 16-bit PCM WAV (generated for this fixture).
pub(crate) const WAV_BASE64: &str = concat!(
    "UklGRsQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YaAAAAAAAJUK6xPlGrIe3R5iG6oUgAv7AFj22eye",
    "5YHhAOEo5Jzql/MK/rcIXhLYGUQeHB9GHBgWTg3wAjv4cO645v7h0OBS4znp0fEW/NEGvhCxGLgdPB8OHXAXDg/jBCX6",
    "GPDs55niwOCZ4uznGPAl+uMEDg9wFw4dPB+4HbEYvhDRBhb80fE56VLj0OD+4bjmcO47+PACTg0YFkYcHB9EHtgZ",
);

/// Tools that send notifications (log messages, progress) before their
/// result, so HTTP answers them as SSE.
pub(crate) const NOTIFYING_TOOLS: [&str; 4] = [
    "test_tool_with_logging",
    "test_tool_with_progress",
    "test_logging_tool",
    "test_reconnection",
];

/// Tools that ask the client with one server request (handshake era; on
/// 2026-07-28 they answer `input_required`); [`questions`] lists the others.
pub(crate) const ASKING_TOOLS: [&str; 4] = [
    "test_sampling",
    "test_elicitation",
    "test_elicitation_sep1034_defaults",
    "test_elicitation_sep1330_enums",
];

/// The prompt that asks the user before it can be rendered.
pub(crate) const ASKING_PROMPT: &str = "test_input_required_result_prompt";

fn no_args() -> Value {
    json!({ "type": "object", "properties": {} })
}

fn tool(name: &str, description: &str, input_schema: Value) -> Value {
    json!({ "name": name, "description": description, "inputSchema": input_schema })
}

/// The `tools/list` array.
pub(crate) fn tools() -> Value {
    let string_arg = |arg: &str, description: &str| {
        json!({
            "type": "object",
            "properties": { arg: { "type": "string", "description": description } },
            "required": [arg],
        })
    };
    json!([
        tool(
            "test_simple_text",
            "Returns a simple text block.",
            no_args()
        ),
        tool("test_image_content", "Returns a 1x1 PNG image.", no_args()),
        tool("test_audio_content", "Returns a short WAV clip.", no_args()),
        tool(
            "test_embedded_resource",
            "Returns an embedded text resource.",
            no_args()
        ),
        tool(
            "test_multiple_content_types",
            "Returns text, an image and an embedded resource.",
            no_args()
        ),
        tool(
            "test_tool_with_logging",
            "Sends three info log messages while it runs.",
            no_args()
        ),
        tool(
            "test_tool_with_progress",
            "Reports progress 0, 50 and 100 of 100 when asked for progress.",
            no_args()
        ),
        tool(
            "test_error_handling",
            "Always fails with a tool error.",
            no_args()
        ),
        tool(
            "test_sampling",
            "Asks the client's LLM (sampling/createMessage) and returns its answer.",
            string_arg("prompt", "The prompt to send to the LLM")
        ),
        tool(
            "test_elicitation",
            "Asks the user for a username and an email (elicitation/create).",
            string_arg("message", "The message to show the user")
        ),
        tool(
            "test_elicitation_sep1034_defaults",
            "Asks the user with a form whose fields carry default values (SEP-1034).",
            no_args()
        ),
        tool(
            "test_elicitation_sep1330_enums",
            "Asks the user with a form using every enum variant (SEP-1330).",
            no_args()
        ),
        tool(
            "json_schema_2020_12_tool",
            "Tool with JSON Schema 2020-12 features",
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {
                    "address": {
                        "$anchor": "addressDef",
                        "type": "object",
                        "properties": { "street": { "type": "string" }, "city": { "type": "string" } }
                    }
                },
                "properties": {
                    "name": { "type": "string" },
                    "address": { "$ref": "#/$defs/address" },
                    "contactMethod": { "type": "string", "enum": ["phone", "email"] },
                    "phone": { "type": "string" },
                    "email": { "type": "string" }
                },
                "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
                "if": {
                    "properties": { "contactMethod": { "const": "phone" } },
                    "required": ["contactMethod"]
                },
                "then": { "required": ["phone"] },
                "else": { "required": ["email"] },
                "additionalProperties": false
            })
        ),
        tool(
            "test_reconnection",
            "Answers on its SSE stream (this fixture does not close streams for SSE polling).",
            no_args()
        ),
        tool(
            "test_logging_tool",
            "Sends an info log message (2026-07-28: only when the request sets a log level).",
            no_args()
        ),
        tool(
            "test_missing_capability",
            "Needs the client's sampling capability (-32021 without it on 2026-07-28).",
            no_args()
        ),
        tool(
            "test_streaming_elicitation",
            "Asks the user a question: a server request (handshake era) or input_required (2026-07-28).",
            no_args()
        ),
        tool(
            "test_input_required_result_elicitation",
            "Asks the user's name, then greets.",
            no_args()
        ),
        tool(
            "test_input_required_result_sampling",
            "Asks the client's LLM a question.",
            no_args()
        ),
        tool(
            "test_input_required_result_list_roots",
            "Asks the client for its roots.",
            no_args()
        ),
        tool(
            "test_input_required_result_request_state",
            "Asks for a confirmation and checks the echoed requestState.",
            no_args()
        ),
        tool(
            "test_input_required_result_multiple_inputs",
            "Asks for a name, an LLM greeting and the client's roots at once.",
            no_args()
        ),
        tool(
            "test_input_required_result_multi_round",
            "Asks two questions, one per round.",
            no_args()
        ),
        tool(
            "test_input_required_result_tampered_state",
            "Asks for a confirmation; a requestState that fails its integrity check is refused.",
            no_args()
        ),
        tool(
            "test_input_required_result_capabilities",
            "Asks through sampling and elicitation, only those the client declared.",
            no_args()
        ),
    ])
}

/// Fixed text content blocks.
pub(crate) const SIMPLE_TEXT: &str = "This is a simple text response for testing.";
pub(crate) const ERROR_TEXT: &str = "This tool intentionally returns an error for testing";

/// The `resources/list` array.
pub(crate) fn resources() -> Value {
    json!([
        {
            "uri": "test://static-text",
            "name": "static-text",
            "title": "Static text",
            "description": "A static text resource.",
            "mimeType": "text/plain"
        },
        {
            "uri": "test://static-binary",
            "name": "static-binary",
            "title": "Static binary",
            "description": "A static binary resource (a 1x1 PNG).",
            "mimeType": "image/png"
        },
        {
            "uri": "test://watched-resource",
            "name": "watched-resource",
            "title": "Watched resource",
            "description": "A resource clients may subscribe to.",
            "mimeType": "text/plain"
        }
    ])
}

/// The `resources/templates/list` array.
pub(crate) fn resource_templates() -> Value {
    json!([{
        "uriTemplate": "test://template/{id}/data",
        "name": "template-data",
        "title": "Data by id",
        "description": "JSON data for an id, substituted into the URI.",
        "mimeType": "application/json"
    }])
}

/// The contents of a resource, or `None` if no such resource exists.
pub(crate) fn read_resource(uri: &str) -> Option<Value> {
    let content = match uri {
        "test://static-text" => json!({
            "uri": uri, "mimeType": "text/plain",
            "text": "This is the content of the static text resource."
        }),
        "test://static-binary" => {
            json!({ "uri": uri, "mimeType": "image/png", "blob": PNG_BASE64 })
        }
        "test://watched-resource" => json!({
            "uri": uri, "mimeType": "text/plain", "text": "Watched resource content."
        }),
        _ => {
            let id = uri
                .strip_prefix("test://template/")?
                .strip_suffix("/data")
                .filter(|id| !id.is_empty() && !id.contains('/'))?;
            let data =
                json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") });
            json!({ "uri": uri, "mimeType": "application/json", "text": data.to_string() })
        }
    };
    Some(json!({ "contents": [content] }))
}

/// The `prompts/list` array.
pub(crate) fn prompts() -> Value {
    let arg = |name: &str, description: &str| json!({ "name": name, "description": description, "required": true });
    json!([
        { "name": "test_simple_prompt", "description": "A simple prompt without arguments." },
        {
            "name": "test_prompt_with_arguments",
            "description": "A prompt with two required arguments.",
            "arguments": [arg("arg1", "First test argument"), arg("arg2", "Second test argument")]
        },
        {
            "name": "test_prompt_with_embedded_resource",
            "description": "A prompt embedding a resource.",
            "arguments": [arg("resourceUri", "URI of the resource to embed")]
        },
        { "name": "test_prompt_with_image", "description": "A prompt with an image." },
        { "name": ASKING_PROMPT, "description": "Asks the user for context before it is rendered." }
    ])
}

/// The `prompts/get` result, or an error message for bad params.
pub(crate) fn get_prompt(name: &str, args: &Value) -> Result<Value, String> {
    let arg = |key: &str| {
        args.get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("Invalid params: prompt {name} needs the argument {key}"))
    };
    let user = |content: Value| json!({ "role": "user", "content": content });
    let messages = match name {
        "test_simple_prompt" => json!([user(
            json!({ "type": "text", "text": "This is a simple prompt for testing." })
        )]),
        "test_prompt_with_arguments" => {
            let text = format!(
                "Prompt with arguments: arg1='{}', arg2='{}'",
                arg("arg1")?,
                arg("arg2")?
            );
            json!([user(json!({ "type": "text", "text": text }))])
        }
        "test_prompt_with_embedded_resource" => json!([
            user(json!({
                "type": "resource",
                "resource": {
                    "uri": arg("resourceUri")?,
                    "mimeType": "text/plain",
                    "text": "Embedded resource content for testing."
                }
            })),
            user(json!({ "type": "text", "text": "Please process the embedded resource above." }))
        ]),
        "test_prompt_with_image" => json!([
            user(json!({ "type": "image", "data": PNG_BASE64, "mimeType": "image/png" })),
            user(json!({ "type": "text", "text": "Please analyze the image above." }))
        ]),
        _ => return Err(format!("Invalid params: unknown prompt {name}")),
    };
    Ok(json!({ "messages": messages }))
}

/// Completion candidates for a prompt argument or a template variable.
pub(crate) fn completion_candidates(reference: &Value, argument: &str) -> &'static [&'static str] {
    let kind = reference.get("type").and_then(Value::as_str);
    let name = reference
        .get("name")
        .or_else(|| reference.get("uri"))
        .and_then(Value::as_str);
    match (kind, name, argument) {
        (Some("ref/prompt"), Some("test_prompt_with_arguments"), "arg1" | "arg2") => {
            &["paris", "park", "party", "test", "testing"]
        }
        (Some("ref/resource"), Some("test://template/{id}/data"), "id") => &["1", "2", "3", "123"],
        _ => &[],
    }
}

/// The schema of `test_elicitation`'s form.
pub(crate) fn elicitation_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "username": { "type": "string", "description": "User's response" },
            "email": { "type": "string", "description": "User's email address" }
        },
        "required": ["username", "email"]
    })
}

/// The SEP-1034 form: a default value for every primitive type.
pub(crate) fn defaults_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "title": "Name", "default": "John Doe" },
            "age": { "type": "integer", "title": "Age", "default": 30 },
            "score": { "type": "number", "title": "Score", "default": 95.5 },
            "status": {
                "type": "string", "title": "Status",
                "enum": ["active", "inactive", "pending"], "default": "active"
            },
            "verified": { "type": "boolean", "title": "Verified", "default": true }
        }
    })
}

/// The SEP-1330 form: every enum variant.
pub(crate) fn enums_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "untitledSingle": { "type": "string", "enum": ["option1", "option2", "option3"] },
            "titledSingle": {
                "type": "string",
                "oneOf": [
                    { "const": "value1", "title": "First Option" },
                    { "const": "value2", "title": "Second Option" },
                    { "const": "value3", "title": "Third Option" }
                ]
            },
            "legacyEnum": {
                "type": "string",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"]
            },
            "untitledMulti": {
                "type": "array",
                "items": { "type": "string", "enum": ["option1", "option2", "option3"] }
            },
            "titledMulti": {
                "type": "array",
                "items": {
                    "anyOf": [
                        { "const": "value1", "title": "First Choice" },
                        { "const": "value2", "title": "Second Choice" },
                        { "const": "value3", "title": "Third Choice" }
                    ]
                }
            }
        }
    })
}

/// A question a tool or prompt asks the client: the key of its answer, the
/// client method, and that method's params.
#[derive(Debug, Clone)]
pub(crate) struct Question {
    pub key: &'static str,
    pub method: &'static str,
    pub params: Value,
}

impl Question {
    /// The client capability the question needs.
    pub(crate) fn capability(&self) -> &'static str {
        match self.method {
            "sampling/createMessage" => "sampling",
            "roots/list" => "roots",
            _ => "elicitation",
        }
    }
}

fn ask_text(key: &'static str, message: &str, field: &str, kind: &str) -> Question {
    Question {
        key,
        method: "elicitation/create",
        params: json!({
            "message": message,
            "requestedSchema": {
                "type": "object",
                "properties": { field: { "type": kind } },
                "required": [field]
            }
        }),
    }
}

fn ask_llm(key: &'static str, prompt: &str, max_tokens: u32) -> Question {
    Question {
        key,
        method: "sampling/createMessage",
        params: json!({
            "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
            "maxTokens": max_tokens
        }),
    }
}

fn ask_roots(key: &'static str) -> Question {
    Question {
        key,
        method: "roots/list",
        params: json!({}),
    }
}

/// The rounds of questions of a tool or prompt that asks the client
/// (answered by server requests in the handshake era, by `input_required`
/// round trips on 2026-07-28), or `None` if it asks nothing this way.
pub(crate) fn questions(name: &str) -> Option<Vec<Vec<Question>>> {
    let confirm = || ask_text("confirm", "Please confirm", "ok", "boolean");
    Some(match name {
        "test_missing_capability" => vec![vec![ask_llm("completion", "Say something", 50)]],
        "test_streaming_elicitation" => {
            vec![vec![ask_text(
                "user_name",
                "What is your name?",
                "name",
                "string",
            )]]
        }
        "test_input_required_result_elicitation" => {
            vec![vec![ask_text(
                "user_name",
                "What is your name?",
                "name",
                "string",
            )]]
        }
        "test_input_required_result_sampling" => vec![vec![ask_llm(
            "capital_question",
            "What is the capital of France?",
            100,
        )]],
        "test_input_required_result_list_roots" => vec![vec![ask_roots("client_roots")]],
        "test_input_required_result_request_state"
        | "test_input_required_result_tampered_state" => {
            vec![vec![confirm()]]
        }
        "test_input_required_result_multiple_inputs" => vec![vec![
            ask_text("user_name", "What is your name?", "name", "string"),
            ask_llm("greeting", "Generate a greeting", 50),
            ask_roots("client_roots"),
        ]],
        "test_input_required_result_multi_round" => vec![
            vec![ask_text(
                "step1",
                "Step 1: What is your name?",
                "name",
                "string",
            )],
            vec![ask_text(
                "step2",
                "Step 2: What is your favorite color?",
                "color",
                "string",
            )],
        ],
        "test_input_required_result_capabilities" => vec![vec![
            ask_llm("summary", "Summarize the conversation", 50),
            ask_text(
                "preference",
                "Which format do you prefer?",
                "format",
                "string",
            ),
        ]],
        ASKING_PROMPT => vec![vec![ask_text(
            "user_context",
            "What context should the prompt use?",
            "context",
            "string",
        )]],
        _ => return None,
    })
}
