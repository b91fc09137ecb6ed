//! Translating messages between the two eras, for a client of one era and an upstream of the
//! other. Objects are edited entry by entry: other entries keep their order and their bytes.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::era::{META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_PROTOCOL_VERSION};
use crate::message::Message;
use crate::splice::{replace_span, span_of};

/// A JSON object as an ordered list of (key, raw value) pairs.
struct Entries<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn write_entries<'a>(entries: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>) -> String {
    let mut out = String::from("{");
    for (k, v) in entries {
        if out.len() > 1 {
            out.push(',');
        }
        // Keys came from valid JSON or from our constants; serialising a str cannot fail.
        out.push_str(&serde_json::to_string(&k).unwrap_or_default());
        out.push(':');
        out.push_str(&v);
    }
    out.push('}');
    out
}

/// Rewrites `params._meta` of a request or notification with `edit`, creating `params` and
/// `_meta` when absent. Returns the new message text.
fn edit_meta(
    msg: &Message<'_>,
    edit: impl FnOnce(&mut Vec<(Cow<'_, str>, Cow<'_, str>)>),
) -> Option<String> {
    let (params_entries, params_span) = match msg.params {
        Some(p) => (
            serde_json::from_str::<Entries<'_>>(p.get()).ok()?.0,
            Some(span_of(msg.raw, p.get())),
        ),
        None => (Vec::new(), None),
    };
    let mut params: Vec<(Cow<'_, str>, Cow<'_, str>)> = params_entries
        .into_iter()
        .map(|(k, v)| (k, Cow::Borrowed(v.get())))
        .collect();
    let meta_at = params.iter().position(|(k, _)| k == "_meta");
    let mut meta: Vec<(Cow<'_, str>, Cow<'_, str>)> = match meta_at {
        Some(i) => serde_json::from_str::<Entries<'_>>(&params[i].1)
            .ok()?
            .0
            .into_iter()
            .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.get().to_owned())))
            .collect(),
        None => Vec::new(),
    };
    edit(&mut meta);
    let meta_text = write_entries(meta);
    match meta_at {
        Some(i) if meta_text == "{}" => {
            params.remove(i);
        }
        Some(i) => params[i].1 = Cow::Owned(meta_text),
        None if meta_text != "{}" => params.push((Cow::Borrowed("_meta"), Cow::Owned(meta_text))),
        None => {}
    }
    let params_text = write_entries(params);
    Some(match params_span {
        Some(span) => replace_span(msg.raw, span, &params_text),
        None => {
            // No params yet: insert them before the closing brace of the message.
            let end = msg.raw.trim_end().len().checked_sub(1)?;
            format!(
                "{},\"params\":{}}}",
                &msg.raw[..end].trim_end(),
                params_text
            )
        }
    })
}

/// The request without the `params` entries named in `keys` (other entries keep their order
/// and bytes). `None` when `params` is not an object or has none of them.
pub fn remove_params(msg: &Message<'_>, keys: &[&str]) -> Option<String> {
    let params = msg.params?;
    let entries = serde_json::from_str::<Entries<'_>>(params.get()).ok()?.0;
    if !entries.iter().any(|(k, _)| keys.contains(&k.as_ref())) {
        return None;
    }
    let kept = entries
        .into_iter()
        .filter(|(k, _)| !keys.contains(&k.as_ref()))
        .map(|(k, v)| (k, Cow::Borrowed(v.get())));
    Some(replace_span(
        msg.raw,
        span_of(msg.raw, params.get()),
        &write_entries(kept),
    ))
}

/// A 2026-07-28 request made legal for a handshake-era upstream: the per-request
/// `io.modelcontextprotocol/*` keys are removed from `_meta` (dual-era servers refuse them on a
/// handshake connection). `None` when `params` is not an object.
pub fn strip_modern_meta(msg: &Message<'_>) -> Option<String> {
    edit_meta(msg, |meta| {
        meta.retain(|(k, _)| !k.starts_with("io.modelcontextprotocol/"));
    })
}

/// A handshake-era request made legal for a 2026-07-28 upstream: the protocol version, the
/// client capabilities and client info (as raw JSON, from the client's `initialize`) are added
/// to `_meta`.
pub fn add_modern_meta(
    msg: &Message<'_>,
    version: &str,
    capabilities: &str,
    client_info: Option<&str>,
) -> Option<String> {
    let version = serde_json::to_string(version).ok()?;
    edit_meta(msg, |meta| {
        meta.retain(|(k, _)| !k.starts_with("io.modelcontextprotocol/"));
        meta.push((Cow::Borrowed(META_PROTOCOL_VERSION), Cow::Owned(version)));
        meta.push((
            Cow::Borrowed(META_CLIENT_CAPABILITIES),
            Cow::Owned(capabilities.to_owned()),
        ));
        if let Some(info) = client_info {
            meta.push((Cow::Borrowed(META_CLIENT_INFO), Cow::Owned(info.to_owned())));
        }
    })
}

/// A handshake-era response made legal for a 2026-07-28 client: `resultType` is added when
/// absent and, for list results, the cache fields the revision requires (`ttlMs: 0`,
/// `cacheScope: "private"`: never cache what policy may change). Error responses are unchanged.
pub fn complete_result(msg: &Message<'_>, cacheable: bool) -> Option<String> {
    let result = msg.result?;
    let entries = serde_json::from_str::<Entries<'_>>(result.get()).ok()?.0;
    let has = |key: &str| entries.iter().any(|(k, _)| k == key);
    let mut add: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
    if !has("resultType") {
        add.push((Cow::Borrowed("resultType"), Cow::Borrowed("\"complete\"")));
    }
    if cacheable && !has("ttlMs") {
        add.push((Cow::Borrowed("ttlMs"), Cow::Borrowed("0")));
    }
    if cacheable && !has("cacheScope") {
        add.push((Cow::Borrowed("cacheScope"), Cow::Borrowed("\"private\"")));
    }
    if add.is_empty() {
        return None;
    }
    let all = entries
        .into_iter()
        .map(|(k, v)| (k, Cow::Borrowed(v.get())))
        .chain(add);
    Some(replace_span(
        msg.raw,
        span_of(msg.raw, result.get()),
        &write_entries(all),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_and_adds_meta() {
        let raw = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":2.50},"_meta":{"progressToken":"t","io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
        let m = crate::parse(raw).unwrap();
        let s = strip_modern_meta(&m).unwrap();
        assert_eq!(
            s,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":2.50},"_meta":{"progressToken":"t"}}}"#
        );
        let m = crate::parse(&s).unwrap();
        let back = add_modern_meta(&m, "2026-07-28", "{}", None).unwrap();
        let v: serde_json::Value = serde_json::from_str(&back).unwrap();
        assert_eq!(v["params"]["_meta"][META_PROTOCOL_VERSION], "2026-07-28");
        assert_eq!(v["params"]["_meta"]["progressToken"], "t");
        let bare = crate::parse(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&add_modern_meta(&bare, "2026-07-28", "{}", None).unwrap())
                .unwrap();
        assert_eq!(
            v["params"]["_meta"][META_CLIENT_CAPABILITIES],
            serde_json::json!({})
        );
        let only_meta = crate::parse(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        )
        .unwrap();
        assert_eq!(
            strip_modern_meta(&only_meta).unwrap(),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#
        );
    }

    #[test]
    fn removes_params_entries() {
        let raw = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","requestState":"s","arguments":{"a":2.50},"inputResponses":{"k":{}}}}"#;
        let m = crate::parse(raw).unwrap();
        assert_eq!(
            remove_params(&m, &["requestState", "inputResponses"]).unwrap(),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":2.50}}}"#
        );
        assert!(remove_params(&m, &["nothing"]).is_none());
    }

    #[test]
    fn completes_results() {
        let raw = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#;
        let m = crate::parse(raw).unwrap();
        assert_eq!(
            complete_result(&m, true).unwrap(),
            r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[],"resultType":"complete","ttlMs":0,"cacheScope":"private"}}"#
        );
        let raw = r#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete"}}"#;
        assert!(complete_result(&crate::parse(raw).unwrap(), false).is_none());
    }
}

/// The `initialize` answer for a handshake-era client, built from a `server/discover` result
/// (`discovered`): the version the client asked for when the handshake era has it, else the
/// newest; the server's capabilities, info and instructions.
pub fn initialize_from_discover(
    id: &str,
    asked_version: Option<&str>,
    discovered: &serde_json::Value,
) -> String {
    let asked = asked_version.unwrap_or(crate::LATEST_LEGACY);
    let version = if crate::LEGACY_VERSIONS.contains(&asked) {
        asked
    } else {
        crate::LATEST_LEGACY
    };
    let info_pointer = format!("/_meta/{}", crate::META_SERVER_INFO.replace('/', "~1"));
    let mut result = serde_json::json!({
        "protocolVersion": version,
        "capabilities": discovered.get("capabilities").cloned().unwrap_or_else(|| serde_json::json!({})),
        "serverInfo": discovered.pointer(&info_pointer).cloned()
            .unwrap_or_else(|| serde_json::json!({"name": "upstream", "version": "unknown"})),
    });
    if let Some(instructions) = discovered.get("instructions") {
        result["instructions"] = instructions.clone();
    }
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#)
}

/// The `server/discover` answer for a 2026-07-28 client, built from a handshake-era
/// `initialize` result (`init`). Never cacheable: what a client may see depends on policy.
pub fn discover_from_initialize(id: &str, init: &serde_json::Value) -> String {
    let mut result = serde_json::json!({
        "resultType": "complete",
        "supportedVersions": [crate::MODERN_VERSION],
        "capabilities": init.get("capabilities").cloned().unwrap_or_else(|| serde_json::json!({})),
        "_meta": {crate::META_SERVER_INFO: init.get("serverInfo").cloned().unwrap_or(serde_json::Value::Null)},
        "ttlMs": 0,
        "cacheScope": "private",
    });
    if let Some(instructions) = init.get("instructions") {
        result["instructions"] = instructions.clone();
    }
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#)
}

#[cfg(test)]
mod answer_tests {
    use super::*;

    #[test]
    fn initialize_and_discover_translate_into_each_other() {
        let init = serde_json::json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
            "serverInfo": {"name": "s", "version": "1"}, "instructions": "hi"});
        let d: serde_json::Value =
            serde_json::from_str(&discover_from_initialize("1", &init)).unwrap();
        let back: serde_json::Value = serde_json::from_str(&initialize_from_discover(
            "2",
            Some("2025-06-18"),
            &d["result"],
        ))
        .unwrap();
        assert_eq!(back["result"]["serverInfo"], init["serverInfo"]);
        assert_eq!(back["result"]["capabilities"], init["capabilities"]);
        assert_eq!(back["result"]["instructions"], "hi");
        assert_eq!(back["result"]["protocolVersion"], "2025-06-18");
        let newest: serde_json::Value = serde_json::from_str(&initialize_from_discover(
            "3",
            Some("2099-01-01"),
            &d["result"],
        ))
        .unwrap();
        assert_eq!(newest["result"]["protocolVersion"], crate::LATEST_LEGACY);
    }
}

/// The `_meta` a 2026-07-28 request carries for a client: the protocol version, the client's
/// capabilities and, when known, its info. Used when the gateway speaks that era on a client's
/// behalf.
pub fn modern_meta(
    capabilities: &serde_json::Value,
    client_info: Option<&serde_json::Value>,
) -> serde_json::Value {
    let mut meta = serde_json::Map::new();
    meta.insert(META_PROTOCOL_VERSION.into(), crate::MODERN_VERSION.into());
    meta.insert(META_CLIENT_CAPABILITIES.into(), capabilities.clone());
    if let Some(info) = client_info {
        meta.insert(META_CLIENT_INFO.into(), info.clone());
    }
    serde_json::Value::Object(meta)
}
