//! The policy Warden recommends for a server's tools, from their assessments: reads allowed,
//! writes allowed under a per-minute limit, executions and sends under a tighter limit with
//! their arguments constrained, destructive, financial and admin tools held for a person's
//! approval, everything else denied. The result is a complete policy document
//! (docs/policy.md) that `warden check` accepts.

use serde_json::{Map, Value, json};

use crate::classify::{Assessment, Category};
use crate::lexicon::LEXICON;
use crate::words::words;

/// Calls a minute allowed to a write tool.
pub const WRITE_PER_MINUTE: u64 = 30;
/// Calls a minute allowed to an execute or send tool.
pub const EXECUTE_SEND_PER_MINUTE: u64 = 10;
/// The longest string accepted for a property named like a command, a URL or a path.
pub const MAX_RISKY_STRING: u64 = 4096;
/// What a URL-like property must look like.
pub const URL_PATTERN: &str = "^https?://";

/// The recommended policy for these tools and their assessments.
///
/// - `default` is `"deny"`: a tool the server adds later is refused until reviewed.
/// - Read tools: `{"action": "allow"}`.
/// - Write tools: allowed with a limit of [`WRITE_PER_MINUTE`] calls a minute (counter
///   `<tool>.calls`, scope `grant`).
/// - Execute and send tools: allowed with a limit of [`EXECUTE_SEND_PER_MINUTE`] a minute and
///   an `arguments` schema derived from the tool's input schema (see [`argument_schema`]).
/// - Destructive, financial and admin tools: `"action": "approve"`, asked of the operator,
///   waiting at most 10 minutes.
///
/// Every rule's `reason` is the first sentence of the assessment's rationale. Names in
/// `hidden` (for example tools a lint found poisoned) go to `hide` and get no rule. A tool
/// whose name is empty or contains `*` or `?` (which the policy would read as a glob) gets no
/// rule and is therefore denied; of several tools with one name, the first decides.
pub fn recommend(tools: &[(Value, Assessment)], hidden: &[String]) -> Value {
    let mut rules = Map::new();
    for (tool, a) in tools {
        let name = a.name.as_str();
        if name.is_empty()
            || name.contains(['*', '?'])
            || hidden.iter().any(|h| h == name)
            || rules.contains_key(name)
        {
            continue;
        }
        rules.insert(name.to_owned(), rule(tool, a));
    }
    let mut policy = Map::new();
    policy.insert("version".to_owned(), json!("1"));
    policy.insert("default".to_owned(), json!("deny"));
    let mut hide: Vec<&String> = Vec::new();
    for h in hidden {
        if !h.is_empty() && !hide.contains(&h) {
            hide.push(h);
        }
    }
    if !hide.is_empty() {
        policy.insert("hide".to_owned(), json!(hide));
    }
    policy.insert("tools".to_owned(), Value::Object(rules));
    Value::Object(policy)
}

/// The first sentence of a rationale: up to and including the first `.` that ends a
/// sentence.
pub fn first_sentence(rationale: &str) -> &str {
    crate::words::first_sentence(rationale).trim()
}

/// The rule for one tool.
fn rule(tool: &Value, a: &Assessment) -> Value {
    let reason = first_sentence(&a.rationale);
    let counter = format!(
        "{}.calls",
        a.name
            .chars()
            .map(|c| if c.is_control() { '_' } else { c })
            .collect::<String>()
    );
    let limit =
        |max: u64| json!([{"counter": counter, "window": "minute", "max": max, "scope": "grant"}]);
    match a.category {
        Category::Read => json!({"action": "allow", "reason": reason}),
        Category::Write => {
            json!({"action": "allow", "reason": reason, "limits": limit(WRITE_PER_MINUTE)})
        }
        Category::Execute | Category::Send => json!({
            "action": "allow",
            "reason": reason,
            "limits": limit(EXECUTE_SEND_PER_MINUTE),
            "arguments": argument_schema(tool),
        }),
        Category::Destructive | Category::Financial | Category::Admin => json!({
            "action": "approve",
            "reason": reason,
            "approval": {"approvers": ["operator"], "timeout": "10m"},
        }),
    }
}

const JSON_TYPES: &[&str] = &[
    "array", "boolean", "integer", "null", "number", "object", "string",
];

/// A JSON Schema for a tool's arguments, derived from its `inputSchema`: an object; when the
/// tool lists its properties, only those (`additionalProperties: false`), each with its own
/// `type` and `enum`, and the tool's `required` (the names it lists). String properties named
/// like a command, a URL or a path get `maxLength` [`MAX_RISKY_STRING`]; URL-like ones must
/// also start with `http://` or `https://` ([`URL_PATTERN`]). Nothing else of the tool's schema
/// is copied: it comes from the server, and a policy must not import its `$ref`s or patterns.
pub fn argument_schema(tool: &Value) -> Value {
    let schema = ["inputSchema", "input_schema", "parameters"]
        .iter()
        .find_map(|k| tool.get(*k));
    let Some(props) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return json!({"type": "object"});
    };
    let mut out = Map::new();
    for (name, spec) in props {
        out.insert(name.clone(), property_schema(name, spec));
    }
    let required: Vec<&str> = schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|r| {
            let mut seen: Vec<&str> = Vec::new();
            for n in r.iter().filter_map(Value::as_str) {
                if props.contains_key(n) && !seen.contains(&n) {
                    seen.push(n);
                }
            }
            seen
        })
        .unwrap_or_default();
    let mut s = Map::new();
    s.insert("type".to_owned(), json!("object"));
    s.insert("properties".to_owned(), Value::Object(out));
    if !required.is_empty() {
        s.insert("required".to_owned(), json!(required));
    }
    s.insert("additionalProperties".to_owned(), json!(false));
    Value::Object(s)
}

/// What a property is named like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Url,
    Risky,
    Plain,
}

fn shape(name: &str) -> Shape {
    let lx = &*LEXICON;
    let ws = words(name);
    if ws.iter().any(|w| lx.url_props.contains(&w.stem)) {
        Shape::Url
    } else if ws.iter().any(|w| {
        lx.path_props.contains(&w.stem)
            || lx.exec_props.contains(&w.stem)
            || w.stem == "query"
            || w.stem == "statement"
    }) {
        Shape::Risky
    } else {
        Shape::Plain
    }
}

fn property_schema(name: &str, spec: &Value) -> Value {
    let mut out = Map::new();
    let types: Vec<&str> = match spec.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut types: Vec<&str> = types
        .into_iter()
        .filter(|t| JSON_TYPES.contains(t))
        .collect();
    types.dedup();
    match types.len() {
        0 => {}
        1 => {
            out.insert("type".to_owned(), json!(types[0]));
        }
        _ => {
            out.insert("type".to_owned(), json!(types));
        }
    }
    if let Some(e) = spec.get("enum").and_then(Value::as_array)
        && !e.is_empty()
    {
        out.insert("enum".to_owned(), Value::Array(e.clone()));
    }
    // A string that may be a command, a URL or a path: bounded, and a URL must be web.
    let stringy = types.contains(&"string") || (types.is_empty() && !out.contains_key("enum"));
    if stringy {
        match shape(name) {
            Shape::Url => {
                out.insert("maxLength".to_owned(), json!(MAX_RISKY_STRING));
                out.insert("pattern".to_owned(), json!(URL_PATTERN));
            }
            Shape::Risky => {
                out.insert("maxLength".to_owned(), json!(MAX_RISKY_STRING));
            }
            Shape::Plain => {}
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::classify;

    fn pair(t: Value) -> (Value, Assessment) {
        let a = classify(&t);
        (t, a)
    }

    #[test]
    fn one_rule_per_category() {
        let tools = vec![
            pair(json!({"name": "list_things", "description": "List things."})),
            pair(json!({"name": "update_thing", "description": "Update a thing."})),
            pair(
                json!({"name": "run_command", "description": "Run a shell command.",
                "inputSchema": {"type": "object", "properties": {
                    "command": {"type": "string"}, "cwd_path": {"type": "string"},
                    "callback_url": {"type": ["string", "null"]}, "timeout": {"type": "integer"},
                    "mode": {"enum": ["a", "b"]}, "weird": {"type": "str", "$ref": "#/x"}},
                    "required": ["command", "command", "ghost"]}}),
            ),
            pair(json!({"name": "delete_thing", "description": "Delete a thing."})),
            pair(json!({"name": "evil", "description": "List things."})),
            pair(json!({"name": "glob*", "description": "List things."})),
        ];
        let p = recommend(&tools, &["evil".to_owned(), "evil".to_owned()]);
        assert_eq!(p["version"], "1");
        assert_eq!(p["default"], "deny");
        assert_eq!(p["hide"], json!(["evil"]));
        let t = &p["tools"];
        assert_eq!(
            t["list_things"],
            json!({"action": "allow",
            "reason": "Read tool, low risk: it retrieves data and changes nothing."})
        );
        assert_eq!(
            t["update_thing"]["limits"],
            json!([{"counter": "update_thing.calls",
            "window": "minute", "max": 30, "scope": "grant"}])
        );
        let run = &t["run_command"];
        assert_eq!(run["limits"][0]["max"], 10);
        assert_eq!(
            run["arguments"],
            json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "maxLength": 4096},
                    "cwd_path": {"type": "string", "maxLength": 4096},
                    "callback_url": {"type": ["string", "null"], "maxLength": 4096, "pattern": "^https?://"},
                    "timeout": {"type": "integer"},
                    "mode": {"enum": ["a", "b"]},
                    "weird": {}
                },
                "required": ["command"],
                "additionalProperties": false
            })
        );
        assert_eq!(t["delete_thing"]["action"], "approve");
        assert_eq!(
            t["delete_thing"]["approval"],
            json!({"approvers": ["operator"], "timeout": "10m"})
        );
        assert!(t.get("evil").is_none());
        assert!(t.get("glob*").is_none());
    }

    #[test]
    fn reason_is_the_rationales_first_sentence() {
        let (_, a) = pair(json!({"name": "send_email", "description": "Send an email."}));
        let p = recommend(&[(json!({"name": "send_email"}), a.clone())], &[]);
        let reason = p["tools"]["send_email"]["reason"].as_str().unwrap();
        assert!(
            a.rationale.starts_with(reason),
            "{reason} / {}",
            a.rationale
        );
        assert!(reason.ends_with('.') && !reason.contains(". "), "{reason}");
        assert_eq!(
            p["tools"]["send_email"]["arguments"],
            json!({"type": "object"})
        );
    }
}
