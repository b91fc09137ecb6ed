//! One spanned document tree for both file formats.
//!
//! TOML and JSON are read into the same [`Node`] tree, keeping the byte range
//! of every key and value, so one validator serves both formats and every
//! problem can point at its line and column. (serde's derive stops at the
//! first error; the operator should see every problem at once.)

use std::ops::Range;

/// A value with the byte range it came from.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) value: Val,
    pub(crate) span: Range<usize>,
}

/// The value kinds of TOML and JSON together.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A TOML date/time, kept as written.
    Datetime(String),
    /// JSON `null` (TOML has none).
    Null,
    Array(Vec<Node>),
    /// Entries in document order.
    Table(Vec<Entry>),
}

/// A key and its value.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) key_span: Range<usize>,
    pub(crate) value: Node,
}

impl Val {
    /// "a string", "an integer"...: for "must be X, not Y" messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::Int(_) => "an integer",
            Val::Float(_) => "a float",
            Val::Bool(_) => "a boolean",
            Val::Datetime(_) => "a date-time",
            Val::Null => "null",
            Val::Array(_) => "an array",
            Val::Table(_) => "a table",
        }
    }
}

/// A syntax error: where (byte range, when known) and what.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub(crate) span: Option<Range<usize>>,
    pub(crate) message: String,
}

/// Parses a TOML document, reporting every syntax error the parser finds.
pub(crate) fn parse_toml(text: &str) -> Result<Node, Vec<SyntaxError>> {
    let (doc, errors) = toml::de::DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return Err(errors
            .iter()
            .map(|e| SyntaxError {
                span: e.span(),
                message: format!("invalid TOML: {}", e.message().trim_end()),
            })
            .collect());
    }
    let span = doc.span();
    Ok(Node {
        value: toml_table(doc.get_ref()),
        span,
    })
}

fn toml_table(table: &toml::de::DeTable<'_>) -> Val {
    let mut entries: Vec<Entry> = table
        .iter()
        .map(|(k, v)| Entry {
            key: k.get_ref().to_string(),
            key_span: k.span(),
            value: toml_node(v),
        })
        .collect();
    // The parser keeps keys sorted; problems read best in document order.
    entries.sort_by_key(|e| e.key_span.start);
    Val::Table(entries)
}

fn toml_node(v: &toml::Spanned<toml::de::DeValue<'_>>) -> Node {
    use toml::de::DeValue;
    let value = match v.get_ref() {
        DeValue::String(s) => Val::Str(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Val::Int(n),
            // Out of i64 range: keep it as a float so the checks say "too large".
            Err(_) => Val::Float(f64::MAX),
        },
        DeValue::Float(f) => Val::Float(f.as_str().parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => Val::Bool(*b),
        DeValue::Datetime(d) => Val::Datetime(d.to_string()),
        DeValue::Array(a) => Val::Array(a.iter().map(toml_node).collect()),
        DeValue::Table(t) => toml_table(t),
    };
    Node {
        value,
        span: v.span(),
    }
}

/// Deepest nesting accepted in a JSON file; a config never needs more, and
/// the JSON parser recurses.
const MAX_JSON_DEPTH: usize = 64;

/// Parses a strict JSON document (no comments, no trailing commas).
/// Duplicate keys are syntax errors: JSON parsers disagree on which one wins.
pub(crate) fn parse_json(text: &str) -> Result<Node, Vec<SyntaxError>> {
    if let Some(offset) = warden_policy::text::json_too_deep(text, MAX_JSON_DEPTH) {
        return Err(vec![SyntaxError {
            span: Some(offset..offset),
            message: format!("JSON nested more than {MAX_JSON_DEPTH} levels deep"),
        }]);
    }
    let strict = jsonc_parser::ParseOptions {
        allow_comments: false,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
    };
    let parsed =
        jsonc_parser::parse_to_ast(text, &jsonc_parser::CollectOptions::default(), &strict)
            .map_err(|e| {
                vec![SyntaxError {
                    span: Some(e.range().start..e.range().end),
                    message: format!("invalid JSON: {}", e.kind()),
                }]
            })?;
    let Some(root) = parsed.value else {
        return Err(vec![SyntaxError {
            span: Some(0..0),
            message: r#"the file is empty; a config is a JSON object such as {"servers": {}}"#
                .into(),
        }]);
    };
    // jsonc-parser is lenient in corners (e.g. some escapes and numbers);
    // serde_json is the reference for what JSON is.
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        let offset = warden_policy::text::LineIndex::new(text).offset_of(e.line(), e.column());
        let message = e.to_string();
        let message = message
            .rfind(" at line ")
            .map_or(message.as_str(), |i| &message[..i]);
        return Err(vec![SyntaxError {
            span: Some(offset..offset),
            message: format!("invalid JSON: {message}"),
        }]);
    }
    let mut duplicates = Vec::new();
    let node = json_node(&root, &mut duplicates);
    if duplicates.is_empty() {
        Ok(node)
    } else {
        Err(duplicates)
    }
}

fn json_node(v: &jsonc_parser::ast::Value<'_>, dups: &mut Vec<SyntaxError>) -> Node {
    use jsonc_parser::ast::Value;
    use jsonc_parser::common::Ranged;
    let range = v.range();
    let value = match v {
        Value::StringLit(s) => Val::Str(s.value.to_string()),
        Value::NumberLit(n) => match n.value.parse::<i64>() {
            Ok(i) => Val::Int(i),
            Err(_) => Val::Float(n.value.parse().unwrap_or(f64::NAN)),
        },
        Value::BooleanLit(b) => Val::Bool(b.value),
        Value::NullKeyword(_) => Val::Null,
        Value::Array(a) => Val::Array(a.elements.iter().map(|e| json_node(e, dups)).collect()),
        Value::Object(o) => {
            let mut entries: Vec<Entry> = Vec::with_capacity(o.properties.len());
            for prop in &o.properties {
                let key = prop.name.as_str().to_owned();
                let key_span = prop.name.range().start..prop.name.range().end;
                if entries.iter().any(|e| e.key == key) {
                    dups.push(SyntaxError {
                        span: Some(key_span),
                        message: format!("duplicate key {key:?}; give each key once"),
                    });
                    continue;
                }
                entries.push(Entry {
                    key,
                    key_span,
                    value: json_node(&prop.value, dups),
                });
            }
            Val::Table(entries)
        }
    };
    Node {
        value,
        span: range.start..range.end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_tables_keep_document_order() {
        let node = parse_toml("b = 1\na = 2\n").expect("valid");
        let Val::Table(entries) = node.value else {
            panic!("a table")
        };
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
    }

    #[test]
    fn json_duplicate_keys_are_refused() {
        let errs = parse_json(r#"{"a": 1, "a": 2}"#).expect_err("duplicate");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].span, Some(9..12));
    }

    #[test]
    fn deep_json_is_refused() {
        let text = "[".repeat(100);
        assert!(parse_json(&text).is_err());
    }
}
