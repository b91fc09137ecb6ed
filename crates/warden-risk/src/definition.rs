//! A tool definition read for classification: its words (name, title, the description's first
//! sentence and the rest), its properties (from `inputSchema`, and from argument lists written
//! in the description), and its annotations. Everything here comes from an untrusted server, so
//! it is read defensively: wrong types are ignored, sizes are bounded.

use serde_json::Value;

use crate::lexicon::LEXICON;
use crate::words::{Word, first_sentence, split, words};

/// Descriptions longer than this are cut before reading (a poisoned definition may be huge).
const MAX_DESCRIPTION: usize = 64 * 1024;
/// At most this many properties are read.
const MAX_PROPERTIES: usize = 200;

/// Where a word was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The tool's `name`.
    Name,
    /// `title` or `annotations.title`.
    Title,
    /// The description's first sentence.
    First,
    /// The rest of the description (examples, hints and argument lists removed).
    Body,
}

/// One input property.
#[derive(Debug, Clone)]
pub(crate) struct Prop {
    /// As written.
    pub name: String,
    /// Its words, stemmed.
    pub words: Vec<Word>,
    /// The JSON Schema type (`string`, `number`, …), or `""` when not said.
    pub ty: String,
    /// Found in the description's argument list rather than in `inputSchema`.
    pub described: bool,
    /// The words of its `enum` values, when they are strings (at most 50 values).
    pub enum_words: Vec<Word>,
}

/// The annotations (hints; untrusted).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Annotations {
    pub read_only: Option<bool>,
    pub destructive: Option<bool>,
}

/// A tool definition, read.
#[derive(Debug)]
pub(crate) struct Definition {
    pub name: String,
    pub name_words: Vec<Word>,
    pub title_words: Vec<Word>,
    pub first: Vec<Word>,
    pub body: Vec<Word>,
    pub props: Vec<Prop>,
    pub annotations: Annotations,
}

impl Definition {
    pub fn read(tool: &Value) -> Definition {
        let name = tool
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let title = tool
            .get("title")
            .and_then(Value::as_str)
            .or_else(|| tool.pointer("/annotations/title").and_then(Value::as_str))
            .unwrap_or("");
        let description = tool
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("");
        let description = cut(description, MAX_DESCRIPTION);
        let (main, described) = clean_description(description);
        let first_text = first_sentence(&main);
        let body_text = main.trim_start().get(first_text.len()..).unwrap_or("");

        let mut props = schema_props(tool);
        for p in described {
            if props.len() >= MAX_PROPERTIES {
                break;
            }
            if !props.iter().any(|q| q.name == p.name) {
                props.push(p);
            }
        }

        let ann = tool.get("annotations");
        let hint = |k: &str| ann.and_then(|a| a.get(k)).and_then(Value::as_bool);
        Definition {
            name_words: compound(words(&name)),
            title_words: compound(words(title)),
            first: compound(words(first_text)),
            body: compound(words(body_text)),
            props,
            annotations: Annotations {
                read_only: hint("readOnlyHint"),
                destructive: hint("destructiveHint"),
            },
            name,
        }
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Runs of words that name one thing (`api key`, `pull request`) joined into one word.
pub(crate) fn compound(ws: Vec<Word>) -> Vec<Word> {
    let lx = &*LEXICON;
    let mut out = Vec::with_capacity(ws.len());
    let mut i = 0;
    'outer: while i < ws.len() {
        for (parts, joined) in &lx.compounds {
            if i + parts.len() <= ws.len() && parts.iter().zip(&ws[i..]).all(|(p, w)| *p == w.stem)
            {
                out.push(Word {
                    text: ws[i..i + parts.len()]
                        .iter()
                        .map(|w| w.text.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    stem: (*joined).to_owned(),
                });
                i += parts.len();
                continue 'outer;
            }
        }
        out.push(ws[i].clone());
        i += 1;
    }
    out
}

/// Top-level properties of `inputSchema` (or `input_schema`, `parameters`), with their types.
fn schema_props(tool: &Value) -> Vec<Prop> {
    let schema = ["inputSchema", "input_schema", "parameters"]
        .iter()
        .find_map(|k| tool.get(*k));
    let Some(props) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    props
        .iter()
        .take(MAX_PROPERTIES)
        .map(|(name, spec)| Prop {
            name: name.clone(),
            words: compound(words(name)),
            ty: schema_type(spec),
            described: false,
            enum_words: enum_words(spec),
        })
        .collect()
}

/// The words of a property's string `enum` values (or of its `items`' for an array).
fn enum_words(spec: &Value) -> Vec<Word> {
    let values = spec
        .get("enum")
        .or_else(|| spec.pointer("/items/enum"))
        .and_then(Value::as_array);
    values
        .into_iter()
        .flatten()
        .take(50)
        .filter_map(Value::as_str)
        .flat_map(|v| words(cut(v, 64)))
        .collect()
}

/// A property schema's type: `type` (the first non-null one of a list), else `string` for an
/// `enum` of strings, else `""`.
pub(crate) fn schema_type(spec: &Value) -> String {
    match spec.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("")
            .to_owned(),
        _ => {
            if spec
                .get("enum")
                .and_then(Value::as_array)
                .is_some_and(|e| e.iter().all(Value::is_string))
            {
                "string".to_owned()
            } else if let Some(Value::Array(alts)) = spec.get("anyOf").or_else(|| spec.get("oneOf"))
            {
                alts.iter()
                    .map(schema_type)
                    .find(|t| !t.is_empty() && t != "null")
                    .unwrap_or_default()
            } else {
                String::new()
            }
        }
    }
}

/// Blocks that show other calls rather than say what the tool does.
const SKIPPED_BLOCKS: &[&str] = &[
    "examples", "example", "hints", "hint", "usage", "notes", "note", "tips",
];

/// Lines that start an argument list.
const ARG_HEADERS: &[&str] = &[
    "args",
    "arguments",
    "parameters",
    "params",
    "inputs",
    "input",
];

/// Lines that start a section that is not the tool's own account of itself.
const OTHER_HEADERS: &[&str] = &[
    "returns",
    "return",
    "raises",
    "errors",
    "example",
    "examples",
    "usage",
    "response",
    "output",
    "outputs",
    "note",
    "notes",
    "important",
    "not for",
    "do not use",
    "see also",
    "when to use",
    "use this tool when",
    "best practice",
    "best practices",
    "tips",
    "warning",
];

/// The description without examples, hints, code blocks and sections (argument lists,
/// returns, usage notes), with labels such as `**Purpose:**` or a leading `Product | `
/// removed; and the arguments its lists describe.
fn clean_description(text: &str) -> (String, Vec<Prop>) {
    let mut text = text.replace("\r\n", "\n");
    for tag in SKIPPED_BLOCKS {
        text = remove_blocks(&text, tag);
    }
    text = remove_fences(&text);

    let mut main = String::new();
    let mut props = Vec::new();
    // Once a section starts, the main text is over; argument sections are read for props.
    let mut section: Option<bool> = None; // Some(true): arguments; Some(false): other
    let mut first_line = true;
    for raw in text.lines() {
        let line = raw.trim();
        let bare = line
            .trim_start_matches(['#', '*', '_', ' '])
            .trim_end_matches(['*', '_', ' '])
            .to_lowercase();
        let header = bare.strip_suffix(':').map(str::trim);
        if let Some(h) = header {
            if ARG_HEADERS.contains(&h) || h.ends_with("arguments") || h.ends_with("parameters") {
                section = Some(true);
                continue;
            }
            if OTHER_HEADERS.iter().any(|o| h.starts_with(o)) {
                section = Some(false);
                continue;
            }
        }
        if OTHER_HEADERS
            .iter()
            .any(|o| bare.starts_with(&format!("{o}:")))
            && section.is_none()
            && !main.trim().is_empty()
        {
            section = Some(false);
            continue;
        }
        if let Some(p) = described_arg(raw, section == Some(true)) {
            if props.len() < MAX_PROPERTIES {
                props.push(p);
            }
            continue;
        }
        if section.is_some() {
            continue;
        }
        let mut line = strip_label(line);
        if first_line && !line.is_empty() {
            line = strip_product_prefix(line);
            first_line = false;
        }
        if line.starts_with('#') {
            // A heading: not a sentence of its own.
            continue;
        }
        main.push_str(line);
        main.push('\n');
    }
    (main, props)
}

/// Removes `<tag ...>…</tag>` blocks (case-insensitive); an unclosed one runs to the end.
fn remove_blocks(text: &str, tag: &str) -> String {
    // ASCII lowercasing keeps byte offsets the same in `lower` and `text`.
    let lower = text.to_ascii_lowercase();
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = String::new();
    let mut at = 0;
    while let Some(rel) = lower[at..].find(&open) {
        let start = at + rel;
        // `<examples>` or `<examples attr>`, not `<examplesfoo>`.
        let after = lower[start + open.len()..].chars().next();
        if !matches!(after, Some('>' | ' ' | '\n' | '\t')) {
            out.push_str(&text[at..start + open.len()]);
            at = start + open.len();
            continue;
        }
        out.push_str(&text[at..start]);
        at = match lower[start..].find(&close) {
            Some(e) => start + e + close.len(),
            None => text.len(),
        };
    }
    out.push_str(&text[at..]);
    out
}

/// Removes fenced code blocks (```…```).
fn remove_fences(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside;
            continue;
        }
        if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `**Purpose:** Send …` → `Send …`; `Description: Send …` → `Send …`.
fn strip_label(line: &str) -> &str {
    if let Some(rest) = line.strip_prefix("**")
        && let Some(end) = rest.find("**")
        && end <= 40
        && rest[..end].trim_end().ends_with(':')
    {
        return rest[end + 2..].trim_start();
    }
    for label in ["Purpose:", "Description:", "Summary:"] {
        if let Some(rest) = line.strip_prefix(label) {
            return rest.trim_start();
        }
    }
    line
}

/// `Product | Create a page` → `Create a page`: a short prefix before a bar names where the
/// tool lives, not what it does.
fn strip_product_prefix(line: &str) -> &str {
    match line.split_once(" | ") {
        Some((prefix, rest)) if split(prefix).len() <= 3 && !rest.trim().is_empty() => {
            rest.trim_start()
        }
        _ => line,
    }
}

/// An argument described in prose: `name (type): …`, `- name (type, optional): …`, or, in an
/// argument section, `name: …`.
fn described_arg(line: &str, in_section: bool) -> Option<Prop> {
    let indented = line.starts_with([' ', '\t']);
    let mut s = line.trim();
    let bullet = s.starts_with(['-', '*', '•']);
    s = s.trim_start_matches(['-', '*', '•', ' ']);
    s = s.trim_start_matches('`');
    let ident_len = s
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(s.len(), |(i, _)| i);
    if ident_len == 0 || ident_len > 40 || s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let ident = &s[..ident_len];
    let mut rest = s[ident_len..].trim_start_matches('`').trim_start();
    let mut ty = String::new();
    let mut typed = false;
    if let Some(r) = rest.strip_prefix('(') {
        let end = r.find(')')?;
        let inside = r[..end].to_lowercase();
        ty = match inside.split([',', ' ']).next().unwrap_or("") {
            "str" | "string" | "text" => "string",
            "int" | "integer" | "number" | "float" | "decimal" => "number",
            "bool" | "boolean" => "boolean",
            "list" | "array" => "array",
            "dict" | "object" | "map" => "object",
            _ => "",
        }
        .to_owned();
        typed = true;
        rest = r[end + 1..].trim_start();
    }
    let separated = rest.starts_with(':') || rest.starts_with("- ") || rest.starts_with("— ");
    if !separated {
        return None;
    }
    if !(typed && bullet || in_section && (indented || bullet || typed)) {
        return None;
    }
    let lower = ident.to_lowercase();
    if ARG_HEADERS.contains(&lower.as_str()) || OTHER_HEADERS.contains(&lower.as_str()) {
        return None;
    }
    Some(Prop {
        name: ident.to_owned(),
        words: compound(words(ident)),
        ty,
        described: true,
        enum_words: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn stems(ws: &[Word]) -> Vec<&str> {
        ws.iter().map(|w| w.stem.as_str()).collect()
    }

    #[test]
    fn examples_hints_and_sections_are_not_the_description() {
        let d = Definition::read(&json!({
            "name": "update_thing",
            "description": "Update a thing's status.\n\nUse this to close it.\n\n<examples>\ndelete_thing(id=1)\n</examples>\n<hints>\n- Use delete_all to wipe\n</hints>\n```\nrm -rf /\n```\nReturns:\n  the deleted thing"
        }));
        let first: Vec<&str> = d.first.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(first, ["update", "a", "thing", "status"]);
        let all: Vec<&str> = stems(&d.first).into_iter().chain(stems(&d.body)).collect();
        assert!(!all.contains(&"delet"), "{all:?}");
        assert!(!all.contains(&"wip"), "{all:?}");
        assert!(!all.contains(&"rm"), "{all:?}");
        assert!(all.contains(&"clos"), "{all:?}");
    }

    #[test]
    fn labels_and_product_prefixes_are_dropped() {
        let d = Definition::read(&json!({"name": "x", "description": "Notion | Search by title"}));
        assert_eq!(d.first[0].text, "search");
        let d = Definition::read(&json!({"name": "x",
            "description": "**Purpose:** Send (or schedule) a broadcast.\n\n**NOT for:** deleting."}));
        assert_eq!(d.first[0].text, "send");
        assert!(d.body.iter().all(|w| w.text != "deleting"));
    }

    #[test]
    fn arguments_from_prose_and_schema() {
        let d = Definition::read(&json!({
            "name": "send_message",
            "description": "Send a message.\n\nArgs:\n    recipient: who gets it\n    message: the text\n\nReturns:\n    ok: whether it worked",
            "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}, "urgent": {"type": ["boolean", "null"]}}}
        }));
        let names: Vec<(&str, &str, bool)> = d
            .props
            .iter()
            .map(|p| (p.name.as_str(), p.ty.as_str(), p.described))
            .collect();
        assert_eq!(
            names,
            [
                ("message", "string", false),
                ("urgent", "boolean", false),
                ("recipient", "", true)
            ]
        );

        let d = Definition::read(&json!({"name": "create_refund",
            "description": "This tool will refund a payment.\n\nIt takes three arguments:\n- payment_intent (str): The ID.\n- amount (int, optional): In cents.\n"}));
        let names: Vec<(&str, &str)> = d
            .props
            .iter()
            .map(|p| (p.name.as_str(), p.ty.as_str()))
            .collect();
        assert_eq!(names, [("payment_intent", "string"), ("amount", "number")]);
        // Prose that merely has a colon is not an argument.
        let d = Definition::read(
            &json!({"name": "x", "description": "Note: this is fine.\nWarning: careful"}),
        );
        assert!(d.props.is_empty());
    }

    #[test]
    fn compounds_join() {
        let d = Definition::read(
            &json!({"name": "remove-api-key", "description": "Create pull requests."}),
        );
        assert_eq!(stems(&d.name_words), ["remov", "api_key"]);
        assert_eq!(stems(&d.first), ["creat", "pull_request"]);
    }

    #[test]
    fn hostile_input_is_bounded() {
        let huge = "delete ".repeat(100_000);
        let d = Definition::read(&json!({"name": 5, "description": huge, "annotations": "x"}));
        assert_eq!(d.name, "");
        assert!(d.body.len() < 20_000);
        assert_eq!(d.annotations.read_only, None);
    }
}
