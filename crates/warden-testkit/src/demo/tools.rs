//! The demo server's tool catalog and the in-memory state its tools act on.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The demo server's `tools/list` array, exactly as it goes on the wire.
///
/// It is kept as text, not built from `serde_json::Value`, because some of its
/// bytes exist to prove they survive a gateway unchanged: `2.50` would become
/// `2.5` and `"é"` could be escaped by a re-serialization. Fields a gateway
/// may not model: `outputSchema` (`connections.refresh`), `icons`
/// (`connections.list`), `_meta` (`execute_connector_operation`) and the
/// unknown `x-future` (`get_connector_capabilities`).
pub const TOOLS_JSON: &str = concat!(
    "[",
    r#"{"name":"connections.refresh","title":"Re-run integration","description":"Re-run an integration","#,
    r#""inputSchema":{"type":"object","properties":{"connection_id":{"type":"string","description":"The connection to re-run, for example conn-42"}},"required":["connection_id"]},"#,
    r#""outputSchema":{"type":"object","properties":{"connection_id":{"type":"string"},"run":{"type":"integer"},"status":{"type":"string","enum":["queued"]}},"required":["connection_id","run","status"]},"#,
    r#""annotations":{"title":"Re-run integration","readOnlyHint":false,"destructiveHint":false,"idempotentHint":false,"openWorldHint":true}}"#,
    ",",
    r#"{"name":"connections.list","title":"List connections","description":"List the integrations connected to this workspace, with their status and run count.","#,
    r#""inputSchema":{"type":"object","properties":{"status":{"type":"string","enum":["active","paused"],"description":"Only list connections with this status"}}},"#,
    r#""icons":[{"src":"data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCAxNiAxNiI+PGNpcmNsZSBjeD0iOCIgY3k9IjgiIHI9IjYiIGZpbGw9IiMyZjZmZGQiLz48L3N2Zz4=","mimeType":"image/svg+xml","sizes":["any"]}],"#,
    r#""annotations":{"title":"List connections","readOnlyHint":true,"openWorldHint":false}}"#,
    ",",
    r#"{"name":"connections.delete","title":"Delete connection","description":"Permanently delete a connection and its stored credentials. This cannot be undone.","#,
    r#""inputSchema":{"type":"object","properties":{"connection_id":{"type":"string","description":"The connection to delete"}},"required":["connection_id"]},"#,
    r#""annotations":{"title":"Delete connection","readOnlyHint":false,"destructiveHint":true,"idempotentHint":true,"openWorldHint":false}}"#,
    ",",
    r#"{"name":"execute_connector_operation","title":"Execute connector operation","description":"Execute a specific operation on a connected connector. Use get_connector_capabilities to discover available operations. Operations include read/write actions specific to each connector.","#,
    r#""inputSchema":{"type":"object","properties":{"connector":{"type":"string","description":"Connector name, for example github or slack"},"operation":{"type":"string","description":"Operation name from get_connector_capabilities"},"params":{"type":"object","description":"Operation parameters"}},"required":["connector","operation","params"]},"#,
    r#""annotations":{"title":"Execute connector operation","readOnlyHint":false,"destructiveHint":true,"idempotentHint":false,"openWorldHint":true},"#,
    r#""_meta":{"demo/owner":"warden"}}"#,
    ",",
    r#"{"name":"get_connector_capabilities","title":"Get connector capabilities","description":"List the operations a connector supports, with their kind and parameters.","#,
    r#""inputSchema":{"type":"object","properties":{"connector":{"type":"string","description":"Connector name, for example github or slack"}},"required":["connector"]},"#,
    r#""annotations":{"title":"Get connector capabilities","readOnlyHint":true,"openWorldHint":false},"#,
    r#""x-future":{"keep":[1,2.50,"é"]}}"#,
    "]"
);

/// [`TOOLS_JSON`] followed by `extra` synthetic read tools (`bench.tool_0000`, ...), each with
/// a description, an input schema and annotations of a typical size.
pub(crate) fn catalog(extra: usize) -> String {
    if extra == 0 {
        return TOOLS_JSON.to_owned();
    }
    let mut out = String::with_capacity(TOOLS_JSON.len() + extra * 420);
    out.push_str(&TOOLS_JSON[..TOOLS_JSON.len() - 1]);
    for i in 0..extra {
        let tool = json!({
            "name": synthetic_name(i),
            "description": format!(
                "Look up record {i} of the benchmark catalog and return its fields. \
                 Read-only; safe to call repeatedly."
            ),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "description": "The record to read"},
                    "fields": {"type": "array", "items": {"type": "string"}, "description": "Fields to return"}
                },
                "required": ["id"]
            },
            "annotations": {"title": format!("Benchmark tool {i}"), "readOnlyHint": true, "openWorldHint": false}
        });
        out.push(',');
        out.push_str(&tool.to_string());
    }
    out.push(']');
    out
}

/// The name of synthetic tool `i` (see [`catalog`]).
fn synthetic_name(i: usize) -> String {
    format!("bench.tool_{i:04}")
}

/// Names of the catalog's tools, in catalog order.
pub const TOOL_NAMES: [&str; 5] = [
    "connections.refresh",
    "connections.list",
    "connections.delete",
    "execute_connector_operation",
    "get_connector_capabilities",
];

/// An operation: (name, kind, parameters).
type Operation = (&'static str, &'static str, &'static str);
/// A connector and its operations.
type Connector = (&'static str, &'static [Operation]);

const CONNECTORS: &[Connector] = &[
    (
        "github",
        &[
            ("list_issues", "read", "repo"),
            ("create_issue", "write", "repo, title, body"),
            ("delete_repo", "destructive", "repo"),
        ],
    ),
    (
        "slack",
        &[
            ("list_channels", "read", "-"),
            ("send_message", "send", "channel, text"),
        ],
    ),
    (
        "stripe",
        &[
            ("list_charges", "read", "customer"),
            ("create_refund", "financial", "charge, amount"),
        ],
    ),
];

#[derive(Debug)]
struct Connection {
    connector: &'static str,
    status: &'static str,
    runs: u64,
}

/// What the tools act on: connections, a global run counter, an operation counter.
#[derive(Debug)]
pub(crate) struct State {
    connections: BTreeMap<String, Connection>,
    runs: u64,
    operations: u64,
}

impl Default for State {
    fn default() -> Self {
        let seed = [
            ("conn-42", "github", "active"),
            ("conn-7", "slack", "active"),
            ("conn-13", "stripe", "paused"),
        ];
        State {
            connections: seed
                .into_iter()
                .map(|(id, connector, status)| {
                    let conn = Connection {
                        connector,
                        status,
                        runs: 0,
                    };
                    (id.to_owned(), conn)
                })
                .collect(),
            runs: 0,
            operations: 0,
        }
    }
}

/// A tool's answer before the era-specific wrapping.
#[derive(Debug)]
pub(crate) struct ToolOutput {
    pub text: String,
    pub structured: Option<Value>,
    pub is_error: bool,
}

impl ToolOutput {
    fn ok(text: String) -> Self {
        ToolOutput {
            text,
            structured: None,
            is_error: false,
        }
    }

    pub(crate) fn error(text: String) -> Self {
        ToolOutput {
            text,
            structured: None,
            is_error: true,
        }
    }

    /// The `CallToolResult` object (without era fields).
    pub(crate) fn into_result(self, extra_text: Option<String>) -> Value {
        let mut content = vec![json!({ "type": "text", "text": self.text })];
        if let Some(extra) = extra_text {
            content.push(json!({ "type": "text", "text": extra }));
        }
        let mut result = json!({ "content": content, "isError": self.is_error });
        if let (Some(structured), Some(obj)) = (self.structured, result.as_object_mut()) {
            obj.insert("structuredContent".into(), structured);
        }
        result
    }
}

fn required_str<'a>(args: &'a Value, key: &str) -> Result<&'a str, ToolOutput> {
    match args.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(ToolOutput::error(format!(
            "Invalid arguments: {key} must be a non-empty string"
        ))),
        None => Err(ToolOutput::error(format!(
            "Invalid arguments: {key} is required"
        ))),
    }
}

impl State {
    /// Runs one tool. Unknown tools and bad arguments are tool errors
    /// (`isError: true`), as the official SDKs answer them.
    pub(crate) fn run(&mut self, tool: &str, args: &Value) -> ToolOutput {
        let out = match tool {
            "connections.refresh" => self.refresh(args),
            "connections.list" => Ok(self.list(args)),
            "connections.delete" => self.delete(args),
            "execute_connector_operation" => self.execute(args),
            "get_connector_capabilities" => capabilities(args),
            _ if tool.starts_with("bench.tool_") => Ok(ToolOutput::ok(format!("{tool}: ok"))),
            _ => Err(ToolOutput::error(format!("Unknown tool: {tool}"))),
        };
        out.unwrap_or_else(|e| e)
    }

    fn refresh(&mut self, args: &Value) -> Result<ToolOutput, ToolOutput> {
        let id = required_str(args, "connection_id")?;
        self.runs += 1;
        let run = self.runs;
        if let Some(conn) = self.connections.get_mut(id) {
            conn.runs += 1;
        }
        let mut out = ToolOutput::ok(format!("Integration {id} re-run queued (run {run})"));
        out.structured = Some(json!({ "connection_id": id, "run": run, "status": "queued" }));
        Ok(out)
    }

    fn list(&self, args: &Value) -> ToolOutput {
        let filter = args.get("status").and_then(Value::as_str);
        let rows: Vec<String> = self
            .connections
            .iter()
            .filter(|(_, c)| filter.is_none_or(|f| f == c.status))
            .map(|(id, c)| format!("- {id}: {} ({}, {} runs)", c.connector, c.status, c.runs))
            .collect();
        let noun = if rows.len() == 1 {
            "connection"
        } else {
            "connections"
        };
        ToolOutput::ok(format!("{} {noun}\n{}", rows.len(), rows.join("\n")))
    }

    fn delete(&mut self, args: &Value) -> Result<ToolOutput, ToolOutput> {
        let id = required_str(args, "connection_id")?;
        match self.connections.remove(id) {
            Some(conn) => Ok(ToolOutput::ok(format!(
                "Connection {id} ({}) deleted with its stored credentials",
                conn.connector
            ))),
            None => Err(ToolOutput::error(format!("Connection {id} not found"))),
        }
    }

    fn execute(&mut self, args: &Value) -> Result<ToolOutput, ToolOutput> {
        let connector = required_str(args, "connector")?;
        let operation = required_str(args, "operation")?;
        let (_, ops) = find_connector(connector)?;
        let Some((_, kind, _)) = ops.iter().find(|(name, _, _)| *name == operation) else {
            return Err(ToolOutput::error(format!(
                "Connector {connector} has no operation {operation}; call get_connector_capabilities"
            )));
        };
        let count = args
            .get("params")
            .and_then(Value::as_object)
            .map_or(0, serde_json::Map::len);
        self.operations += 1;
        let plural = if count == 1 { "" } else { "s" };
        Ok(ToolOutput::ok(format!(
            "Executed {connector}.{operation} ({kind}) with {count} parameter{plural} (operation op-{} completed)",
            self.operations
        )))
    }
}

fn find_connector(name: &str) -> Result<&'static Connector, ToolOutput> {
    CONNECTORS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
        let known: Vec<&str> = CONNECTORS.iter().map(|(n, _)| *n).collect();
        ToolOutput::error(format!(
            "Unknown connector {name}; connected connectors: {}",
            known.join(", ")
        ))
    })
}

fn capabilities(args: &Value) -> Result<ToolOutput, ToolOutput> {
    let connector = required_str(args, "connector")?;
    let (_, ops) = find_connector(connector)?;
    let rows: Vec<String> = ops
        .iter()
        .map(|(name, kind, params)| format!("- {name} ({kind}): params {params}"))
        .collect();
    Ok(ToolOutput::ok(format!(
        "{connector} supports {} operations\n{}",
        ops.len(),
        rows.join("\n")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_one_line_of_valid_json_with_the_relay_probes() {
        assert!(!TOOLS_JSON.contains('\n'));
        let tools: Vec<Value> = serde_json::from_str(TOOLS_JSON).expect("catalog parses");
        let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
        assert_eq!(names, TOOL_NAMES);
        assert!(TOOLS_JSON.contains(r#""x-future":{"keep":[1,2.50,"é"]}"#));
        assert!(TOOLS_JSON.contains(r#""_meta":{"demo/owner":"warden"}"#));
    }

    #[test]
    fn synthetic_tools_follow_the_catalog_and_answer() {
        let tools: Vec<Value> = serde_json::from_str(&catalog(1000)).expect("catalog parses");
        assert_eq!(tools.len(), 1005);
        assert_eq!(tools[5]["name"], "bench.tool_0000");
        assert_eq!(tools[1004]["name"], "bench.tool_0999");
        assert_eq!(catalog(0), TOOLS_JSON);
        let out = State::default().run("bench.tool_0007", &json!({"id": "r1"}));
        assert!(!out.is_error);
        assert_eq!(out.text, "bench.tool_0007: ok");
    }

    #[test]
    fn tools_act_on_state() {
        let mut s = State::default();
        let r = s.run("connections.refresh", &json!({"connection_id": "conn-42"}));
        assert_eq!(r.text, "Integration conn-42 re-run queued (run 1)");
        let r = s.run("connections.refresh", &json!({"connection_id": "conn-9"}));
        assert_eq!(r.text, "Integration conn-9 re-run queued (run 2)");
        assert!(
            s.run("connections.list", &json!({}))
                .text
                .contains("conn-42: github (active, 1 runs)")
        );
        assert!(
            !s.run("connections.delete", &json!({"connection_id": "conn-7"}))
                .is_error
        );
        assert!(
            s.run("connections.delete", &json!({"connection_id": "conn-7"}))
                .is_error
        );
        assert!(s.run("connections.refresh", &json!({})).is_error);
        assert!(s.run("nope", &json!({})).is_error);
        let r = s.run(
            "execute_connector_operation",
            &json!({"connector": "github", "operation": "create_issue", "params": {"repo": "a"}}),
        );
        assert_eq!(
            r.text,
            "Executed github.create_issue (write) with 1 parameter (operation op-1 completed)"
        );
    }
}
