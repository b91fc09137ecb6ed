//! Properties of the parts that read untrusted bytes.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use proptest::prelude::*;
use warden_protocol::{HeaderCheck, Kind, check_headers, filter_tools_list, parse, replace_id};

/// A JSON value with awkward but legal spellings (escapes, spaces, exotic numbers).
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("2.50".to_owned()),
        Just("-0e+3".to_owned()),
        Just(r#""\u00e9\n""#.to_owned()),
        "[a-z]{0,6}".prop_map(|s| format!("\"{s}\"")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[ {} ]", v.join(" , "))),
            prop::collection::vec(("[a-z]{1,4}", inner), 0..4).prop_map(|kv| {
                let mut seen = std::collections::HashSet::new();
                let body: Vec<String> = kv
                    .into_iter()
                    .filter(|(k, _)| seen.insert(k.clone()))
                    .map(|(k, v)| format!("\"{k}\" :{v}"))
                    .collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(s in "\\PC{0,200}") {
        let _ = parse(&s);
    }

    #[test]
    fn arbitrary_json_never_panics(v in json_value()) {
        if let Ok(m) = parse(&v) {
            let _ = m.meta("progressToken");
            let _ = check_headers(&m, HeaderCheck::default());
            if let Some(r) = m.result {
                let _ = filter_tools_list(m.raw, r, |_| false);
            }
        }
    }

    /// Replacing the id changes the id and nothing else.
    #[test]
    fn id_splice_touches_only_the_id(params in json_value(), id in prop_oneof![Just("1".to_owned()), Just(r#""a\"b""#.to_owned()), Just("-2.5e3".to_owned())]) {
        let raw = format!(r#"{{ "params" : {params}, "id":{id} ,"jsonrpc":"2.0","method":"x/y"}}"#);
        let m = parse(&raw).unwrap();
        let is_request = matches!(m.kind, Kind::Request { .. });
        prop_assert!(is_request);
        let out = replace_id(&m, "77").unwrap();
        prop_assert_eq!(out.replacen(r#""id":77"#, &format!(r#""id":{id}"#), 1), raw);
    }
}
