//! `tools/call` parameters and `tools/list` results.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::splice::{replace_span, span_of};

/// What policy reads of a `tools/call` request.
#[derive(Debug)]
pub struct CallParams<'a> {
    /// `params.name`.
    pub name: Cow<'a, str>,
    /// `params.arguments`, parsed (conditions and schemas need the values); `Null` when absent.
    pub arguments: serde_json::Value,
}

#[derive(Deserialize)]
struct RawCall<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default)]
    arguments: Option<serde_json::Value>,
}

/// Reads `params` of a `tools/call`. An error names what is missing, for a `-32602` answer.
pub fn call_params(params: Option<&RawValue>) -> Result<CallParams<'_>, String> {
    let params = params.ok_or("tools/call needs params with a \"name\"")?;
    let raw: RawCall<'_> = serde_json::from_str(params.get())
        .map_err(|e| format!("invalid tools/call params: {e}"))?;
    let arguments = raw.arguments.unwrap_or(serde_json::Value::Null);
    if !(arguments.is_object() || arguments.is_null()) {
        return Err("tools/call \"arguments\" must be an object".into());
    }
    Ok(CallParams {
        name: raw.name,
        arguments,
    })
}

/// One tool of a `tools/list` result: its name and its bytes as the server sent them.
#[derive(Debug)]
pub struct ListedTool<'a> {
    /// The tool's `name`.
    pub name: Cow<'a, str>,
    /// The whole tool object, untouched.
    pub raw: &'a RawValue,
}

#[derive(Deserialize)]
struct ListResult<'a> {
    #[serde(borrow)]
    tools: &'a RawValue,
}

#[derive(Deserialize)]
struct NameOnly<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

fn listed_tools<'a>(result: &'a RawValue) -> Option<(&'a RawValue, Vec<ListedTool<'a>>)> {
    let list: ListResult<'a> = serde_json::from_str(result.get()).ok()?;
    let items: Vec<&'a RawValue> = serde_json::from_str(list.tools.get()).ok()?;
    let mut tools = Vec::with_capacity(items.len());
    for raw in items {
        let n: NameOnly<'a> = serde_json::from_str(raw.get()).ok()?;
        tools.push(ListedTool { name: n.name, raw });
    }
    Some((list.tools, tools))
}

/// The names in a `tools/list` result, in order (empty when it is not one).
pub fn tool_names(result: &RawValue) -> Vec<String> {
    listed_tools(result)
        .map(|(_, t)| t.into_iter().map(|t| t.name.into_owned()).collect())
        .unwrap_or_default()
}

/// The tools of a `tools/list` result with a fingerprint of each one's bytes, in order (empty
/// when it is not one). The fingerprint tells whether a definition changed between two
/// listings of the same server; it is not meant to outlive the process.
pub fn tool_fingerprints(result: &RawValue) -> Vec<(String, u64)> {
    use std::hash::{Hash as _, Hasher as _};
    listed_tools(result)
        .map(|(_, t)| {
            t.into_iter()
                .map(|t| {
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    t.raw.get().hash(&mut h);
                    (t.name.into_owned(), h.finish())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Removes from a `tools/list` response (`msg`, whose result is `result`) the tools `keep`
/// refuses. Kept tools are copied byte for byte, in order; the rest of the message is untouched.
/// Returns `None` when nothing was removed (forward the original bytes), and also when the
/// result is not a readable tool list: the caller must then fail closed.
pub fn filter_tools_list(
    raw: &str,
    result: &RawValue,
    mut keep: impl FnMut(&str) -> bool,
) -> Result<Option<String>, String> {
    let (array, tools) =
        listed_tools(result).ok_or("upstream tools/list result has no readable \"tools\" array")?;
    if tools.iter().all(|t| keep(&t.name)) {
        return Ok(None);
    }
    let mut out = String::with_capacity(array.get().len());
    out.push('[');
    for tool in tools.iter().filter(|t| keep(&t.name)) {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(tool.raw.get());
    }
    out.push(']');
    Ok(Some(replace_span(raw, span_of(raw, array.get()), &out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_tools_and_keeps_unknown_fields_byte_for_byte() {
        let raw = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","x-future":{"keep":[1,2.50,"é"]}}, {"name":"b"},{"name":"c","icons":[]}],"nextCursor":"n"}}"#;
        let m = crate::parse(raw).unwrap();
        let out = filter_tools_list(raw, m.result.unwrap(), |n| n != "b")
            .unwrap()
            .unwrap();
        assert_eq!(
            out,
            r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","x-future":{"keep":[1,2.50,"é"]}},{"name":"c","icons":[]}],"nextCursor":"n"}}"#
        );
        assert!(
            filter_tools_list(raw, m.result.unwrap(), |_| true)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn unreadable_lists_are_errors() {
        let raw = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"title":"no name"}]}}"#;
        let m = crate::parse(raw).unwrap();
        assert!(filter_tools_list(raw, m.result.unwrap(), |_| true).is_err());
    }

    #[test]
    fn call_params_reads_name_and_arguments() {
        let raw = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a\u002eb","arguments":{"x":1}}}"#;
        let m = crate::parse(raw).unwrap();
        let p = call_params(m.params).unwrap();
        assert_eq!(p.name, "a.b");
        assert_eq!(p.arguments["x"], 1);
        assert!(call_params(None).is_err());
        let raw = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":[1]}}"#;
        assert!(call_params(crate::parse(raw).unwrap().params).is_err());
    }
}

#[derive(Deserialize)]
struct NameRaw<'a> {
    #[serde(borrow)]
    name: &'a RawValue,
}

/// `msg` (a `tools/call`) with `params.name` replaced by `name`; every other byte unchanged.
pub fn rename_call(msg: &crate::Message<'_>, name: &str) -> Option<String> {
    let params = msg.params?;
    let found: NameRaw<'_> = serde_json::from_str(params.get()).ok()?;
    let new = serde_json::to_string(name).ok()?;
    Some(replace_span(
        msg.raw,
        span_of(msg.raw, found.name.get()),
        &new,
    ))
}

/// The tools of a `tools/list` result with each name prefixed (`<prefix><name>`), each tool's
/// other bytes unchanged, paired with the original names. `None` when it is not a tool list.
pub fn prefixed_tools(result: &RawValue, prefix: &str) -> Option<Vec<(String, String)>> {
    let (_, tools) = listed_tools(result)?;
    tools
        .into_iter()
        .map(|t| {
            let raw = t.raw.get();
            let found: NameRaw<'_> = serde_json::from_str(raw).ok()?;
            let new = serde_json::to_string(&format!("{prefix}{}", t.name)).ok()?;
            let text = replace_span(raw, span_of(raw, found.name.get()), &new);
            Some((t.name.into_owned(), text))
        })
        .collect()
}

#[cfg(test)]
mod rename_tests {
    use super::*;

    #[test]
    fn renames_only_the_name() {
        let raw = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"exec__a.b","arguments":{"name":"x"}}}"#;
        let m = crate::parse(raw).unwrap();
        assert_eq!(
            rename_call(&m, "a.b").unwrap(),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a.b","arguments":{"name":"x"}}}"#
        );
        let raw = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"title":"T", "name" : "a.b","x":[1,2.50]}]}}"#;
        let m = crate::parse(raw).unwrap();
        let tools = prefixed_tools(m.result.unwrap(), "exec__").unwrap();
        assert_eq!(tools[0].0, "a.b");
        assert_eq!(
            tools[0].1,
            r#"{"title":"T", "name" : "exec__a.b","x":[1,2.50]}"#
        );
    }
}
