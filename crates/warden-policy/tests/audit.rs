//! What the audit log keeps of a call's arguments, data-driven where the
//! cases are data (`tests/audit_data/`):
//!
//! - `secrets.json`: per kind of secret, planted examples (a string, or
//!   `{"text", "secret"}` when only part of the text is the secret). Each is
//!   planted at several depths and places (see [`placements`]); the secret
//!   must vanish and `[REDACTED:<kind>]` appear, through [`redact`] and
//!   through `full` capture.
//! - `clean.json`: ordinary values that must come through unchanged, planted
//!   the same ways.
//! - `redact.json`: `{name, input, extra?, expect}`: exact [`redact`] output.
//!
//! Capture modes (`keys`, `hashed`, `full`) are checked below in code.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};
use warden_policy::audit::{MAX_KEY_BYTES, MAX_STRING_BYTES, MAX_VALUES_BYTES};
use warden_policy::{
    ArgumentCapture, AuditCapture, CapturedArguments, Policy, is_secret_name, redact,
};

const SALT: [u8; 32] = [7; 32];

fn data<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/audit_data")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("data file is readable");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretKind {
    kind: String,
    examples: Vec<Example>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Example {
    Whole(String),
    Part { text: String, secret: String },
}

impl Example {
    fn text(&self) -> &str {
        match self {
            Example::Whole(t) | Example::Part { text: t, .. } => t,
        }
    }

    fn secret(&self) -> &str {
        match self {
            Example::Whole(t) => t,
            Example::Part { secret, .. } => secret,
        }
    }
}

/// A value planted at several depths and places, under innocuous names:
/// `(where, arguments)`.
fn placements(v: &Value) -> Vec<(&'static str, Value)> {
    let mut out = vec![
        ("top level", json!({"note": v})),
        ("nested objects", json!({"a": {"b": {"c": v}}, "id": 1})),
        ("array", json!({"items": [1, "ok", v, null]})),
        ("objects in arrays", json!({"l": [{"m": [[v]]}]})),
        ("bare arguments", v.clone()),
        ("bare array", json!([v])),
    ];
    if let Value::String(s) = v {
        out.push((
            "inside a sentence",
            json!({"text": format!("before {s} after")}),
        ));
        out.push((
            "at a line start",
            json!({"log": format!("line one\n{s}\n")}),
        ));
    }
    out
}

fn full() -> AuditCapture<'static> {
    AuditCapture {
        arguments: ArgumentCapture::Full,
        redact: &[],
    }
}

#[test]
fn every_planted_secret_is_redacted_at_any_depth() {
    let kinds: Vec<SecretKind> = data("secrets.json");
    let mut failures = Vec::new();
    let mut count = 0;
    for kind in &kinds {
        let marker = format!("[REDACTED:{}]", kind.kind);
        assert!(!kind.examples.is_empty(), "{}: no examples", kind.kind);
        for example in &kind.examples {
            let value = Value::String(example.text().to_owned());
            for (place, args) in placements(&value) {
                count += 1;
                let redacted = redact(&args, &[] as &[&str]).to_string();
                let captured = full().capture(&args, &SALT).values.unwrap_or_default();
                for (how, out) in [("redact", &redacted), ("full capture", &captured)] {
                    // JSON text escapes newlines; compare with the escaped secret too.
                    let escaped = Value::from(example.secret()).to_string();
                    let escaped = escaped.trim_matches('"');
                    if out.contains(example.secret()) || out.contains(escaped) {
                        failures.push(format!("{}: {how} leaks it ({place}): {out}", kind.kind));
                    } else if !out.contains(&marker) {
                        failures.push(format!(
                            "{}: {how} lacks {marker} ({place}): {out}",
                            kind.kind
                        ));
                    }
                }
            }
        }
    }
    assert!(count > 100, "only {count} placements");
    assert!(
        failures.is_empty(),
        "{} of {count} placements failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn ordinary_values_are_not_redacted() {
    let values: Vec<Value> = data("clean.json");
    let mut failures = Vec::new();
    for value in &values {
        for (place, args) in placements(value) {
            let out = redact(&args, &[] as &[&str]);
            if out != args {
                failures.push(format!("{value} ({place}) became {out}"));
            }
            let captured = full().capture(&args, &SALT).values.unwrap_or_default();
            let want = match &args {
                Value::Null => "{}".to_owned(),
                other => other.to_string(),
            };
            let back: Value = serde_json::from_str(&captured).expect("full capture is JSON");
            if back != serde_json::from_str::<Value>(&want).expect("json") {
                failures.push(format!("{value} ({place}): full capture gave {captured}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedactCase {
    name: String,
    input: Value,
    #[serde(default)]
    extra: Vec<String>,
    expect: Value,
}

#[test]
fn redaction_cases() {
    let cases: Vec<RedactCase> = data("redact.json");
    let mut failures = Vec::new();
    for case in &cases {
        let got = redact(&case.input, &case.extra);
        if got != case.expect {
            failures.push(format!(
                "[{}]\n    want {}\n    got  {got}",
                case.name, case.expect
            ));
        }
        // Redaction is idempotent: markers are not secrets.
        let again = redact(&got, &case.extra);
        if again != got {
            failures.push(format!(
                "[{}] a second pass changed {got} to {again}",
                case.name
            ));
        }
    }
    assert!(!cases.is_empty());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn secret_names_are_public_for_other_checks() {
    assert!(is_secret_name("X-Api-Key", &[] as &[&str]));
    assert!(is_secret_name("customerSSN", &["ssn"]));
    assert!(!is_secret_name("author", &["ssn"]));
}

// ---- capture modes ----------------------------------------------------------

fn capture(mode: ArgumentCapture, redact: &[String], args: &Value) -> CapturedArguments {
    AuditCapture {
        arguments: mode,
        redact,
    }
    .capture(args, &SALT)
}

fn hashes(captured: &CapturedArguments) -> serde_json::Map<String, Value> {
    let text = captured.values.as_deref().expect("hashed mode has values");
    match serde_json::from_str(text).expect("values are JSON") {
        Value::Object(map) => map,
        other => panic!("expected an object, got {other}"),
    }
}

#[test]
fn keys_mode_records_sorted_names_only() {
    let args = json!({"zeta": "z", "alpha": {"deep": "secret value"}, "Mid": [1, 2]});
    let got = capture(ArgumentCapture::Keys, &[], &args);
    assert_eq!(
        got,
        CapturedArguments {
            keys: vec!["Mid".into(), "alpha".into(), "zeta".into()],
            values: None,
        }
    );
    for args in [json!(null), json!([1, 2]), json!("text"), json!(5)] {
        assert_eq!(
            capture(ArgumentCapture::Keys, &[], &args),
            CapturedArguments::default(),
            "{args}"
        );
    }
    // A name that is itself a secret is not recorded as it is; a huge one is cut.
    let long = "k".repeat(10_000);
    let args = json!({"ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5": 1, long.clone(): 2});
    let got = capture(ArgumentCapture::Keys, &[], &args);
    assert_eq!(got.keys[0], "[REDACTED:github-token]");
    assert!(got.keys[1].starts_with(&"k".repeat(MAX_KEY_BYTES)));
    assert!(got.keys[1].ends_with("…[TRUNCATED: 10000 bytes]"));
    assert!(got.keys[1].len() < MAX_KEY_BYTES + 40);
}

#[test]
fn hashed_mode_same_value_same_hash() {
    let a = json!({"customer": "cus_123", "amount": 100, "filter": {"b": [1, {"y": 2, "x": 1}], "a": null}});
    // The same values in another key order, and under other names.
    let b = json!({"filter": {"a": null, "b": [1, {"x": 1, "y": 2}]}, "amount": 100.0, "customer": "cus_123"});
    let c =
        json!({"other": "cus_123", "total": 100, "query": {"a": null, "b": [1, {"x": 1, "y": 2}]}});
    let (ha, hb, hc) = (
        hashes(&capture(ArgumentCapture::Hashed, &[], &a)),
        hashes(&capture(ArgumentCapture::Hashed, &[], &b)),
        hashes(&capture(ArgumentCapture::Hashed, &[], &c)),
    );
    assert_eq!(ha, hb, "key order and 100 vs 100.0 must not matter");
    assert_eq!(ha["customer"], hc["other"]);
    assert_eq!(ha["amount"], hc["total"]);
    assert_eq!(ha["filter"], hc["query"]);
    assert_ne!(ha["customer"], ha["amount"]);
    for v in ha.values() {
        let s = v.as_str().expect("hashes are strings");
        let hex = s.strip_prefix("hmac-sha256:").expect("prefixed");
        assert_eq!(hex.len(), 64);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }
    // Different values differ, including by type.
    let d = json!({"customer": "cus_124", "amount": "100"});
    let hd = hashes(&capture(ArgumentCapture::Hashed, &[], &d));
    assert_ne!(ha["customer"], hd["customer"]);
    assert_ne!(ha["amount"], hd["amount"]);
}

#[test]
fn hashed_mode_is_keyed_by_the_salt() {
    let args = json!({"q": "find the invoice"});
    let one = AuditCapture {
        arguments: ArgumentCapture::Hashed,
        redact: &[],
    };
    let h1 = one.capture(&args, &[1; 32]);
    let h2 = one.capture(&args, &[2; 32]);
    assert_ne!(h1.values, h2.values);
    assert_eq!(h1.values, one.capture(&args, &[1; 32]).values);
    assert_eq!(h1.keys, vec!["q".to_owned()]);
}

/// HMAC-SHA256 over the canonical JSON, exactly: computed independently
/// here for one value (key 32 bytes of 0x0b, message `"abc"` with quotes).
#[test]
fn hashed_mode_is_hmac_sha256_of_canonical_json() {
    use hmac::{Hmac, Mac};
    let salt = [0x0b; 32];
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&salt).expect("any key length");
    mac.update(br#"{"a":[1,true],"b":"x"}"#);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let args = json!({"v": {"b": "x", "a": [1.0, true]}});
    let got = AuditCapture {
        arguments: ArgumentCapture::Hashed,
        redact: &[],
    }
    .capture(&args, &salt);
    assert_eq!(
        got.values.as_deref(),
        Some(format!(r#"{{"v":"hmac-sha256:{want}"}}"#).as_str())
    );
}

#[test]
fn hashed_mode_never_shows_values() {
    let args = json!({"query": "quarterly revenue by region", "nested": {"inner": "confidential memo text"},
                      "list": ["first secret item", "second secret item"]});
    let got = capture(ArgumentCapture::Hashed, &[], &args);
    let text = got.values.expect("hashed has values");
    for needle in ["quarterly", "confidential", "memo", "secret item", "inner"] {
        assert!(!text.contains(needle), "{needle} in {text}");
    }
    assert_eq!(got.keys, vec!["list", "nested", "query"]);
}

/// Low-entropy secrets (passwords, SSNs) are not hashed: the salt lives in
/// the same store as the log, so their hashes could be reversed by guessing.
#[test]
fn hashed_mode_redacts_secret_names_instead_of_hashing() {
    let names = vec!["ssn".to_owned()];
    let args = json!({"password": "hunter2", "ssn": "078-05-1120", "user": "ann", "remember": true, "auth": false});
    let map = hashes(&capture(ArgumentCapture::Hashed, &names, &args));
    assert_eq!(map["password"], "[REDACTED:field]");
    assert_eq!(map["ssn"], "[REDACTED:field]");
    assert!(
        map["user"]
            .as_str()
            .is_some_and(|s| s.starts_with("hmac-sha256:"))
    );
    assert!(
        map["auth"]
            .as_str()
            .is_some_and(|s| s.starts_with("hmac-sha256:"))
    );
}

#[test]
fn hashed_and_full_mode_shapes_for_odd_arguments() {
    let absent = capture(ArgumentCapture::Hashed, &[], &Value::Null);
    assert_eq!(absent.values.as_deref(), Some("{}"));
    assert_eq!(
        capture(ArgumentCapture::Full, &[], &Value::Null)
            .values
            .as_deref(),
        Some("{}")
    );
    let bare = capture(ArgumentCapture::Hashed, &[], &json!("just text"));
    let v: Value = serde_json::from_str(bare.values.as_deref().expect("values")).expect("json");
    assert!(v.as_str().is_some_and(|s| s.starts_with("hmac-sha256:")));
    assert!(bare.keys.is_empty());
    let full = capture(ArgumentCapture::Full, &[], &json!(["a", 1]));
    assert_eq!(full.values.as_deref(), Some(r#"["a",1]"#));
}

#[test]
fn full_mode_redacts_with_the_policy_names() {
    let policy = Policy::from_json(
        "p.json",
        r#"{"version": "1", "default": "allow", "audit": {"arguments": "full", "redact": ["ssn"]},
            "tools": {"pay": {"audit": {"redact": ["card_number"]}}}}"#,
    )
    .expect("compiles");
    let args = json!({"ssn": "078-05-1120", "card": {"cardNumber": "4111 1111 1111 1111"}, "memo": "rent",
                      "api_key": "abc", "url": "https://bob:pw123456@example.com/"});
    let pay = policy.audit_capture("pay").capture(&args, &SALT);
    let v: Value = serde_json::from_str(pay.values.as_deref().expect("full")).expect("json");
    assert_eq!(
        v,
        json!({"ssn": "[REDACTED:field]", "card": {"cardNumber": "[REDACTED:field]"}, "memo": "rent",
               "api_key": "[REDACTED:field]", "url": "https://bob:[REDACTED:url-password]@example.com/"})
    );
    assert_eq!(pay.keys, vec!["api_key", "card", "memo", "ssn", "url"]);
    // Another tool has only the policy's names.
    let other = policy.audit_capture("other").capture(&args, &SALT);
    assert!(other.values.expect("full").contains("4111 1111 1111 1111"));
}

#[test]
fn full_mode_cuts_long_strings_after_redacting() {
    let long = "x".repeat(MAX_STRING_BYTES * 3);
    // A private key longer than the bound is still found whole.
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
        "QUJD".repeat(MAX_STRING_BYTES)
    );
    let args = json!({"body": long, "key": pem, "short": "fine"});
    let got = capture(ArgumentCapture::Full, &[], &args);
    let v: Value = serde_json::from_str(got.values.as_deref().expect("full")).expect("json");
    let body = v["body"].as_str().expect("string");
    assert!(body.starts_with(&"x".repeat(MAX_STRING_BYTES)));
    assert!(body.ends_with(&format!("…[TRUNCATED: {} bytes]", MAX_STRING_BYTES * 3)));
    assert_eq!(v["key"], "[REDACTED:private-key]");
    assert_eq!(v["short"], "fine");
    // Multi-byte characters are never split.
    let wide = "é".repeat(MAX_STRING_BYTES);
    let got = capture(ArgumentCapture::Full, &[], &json!({"t": wide}));
    assert!(
        got.values
            .expect("full")
            .contains("…[TRUNCATED: 8192 bytes]")
    );
}

#[test]
fn full_mode_output_is_bounded() {
    let many: Vec<String> = (0..10_000)
        .map(|i| format!("item number {i} with some text"))
        .collect();
    let wide: serde_json::Map<String, Value> = (0..10_000)
        .map(|i| (format!("field{i:05}"), json!("value text here")))
        .collect();
    for args in [
        json!({"rows": many}),
        Value::Object(wide),
        json!({"blobs": vec!["y".repeat(MAX_STRING_BYTES); 100]}),
    ] {
        let got = capture(ArgumentCapture::Full, &[], &args);
        let text = got.values.expect("full");
        assert!(
            text.len() < MAX_VALUES_BYTES + 2 * MAX_STRING_BYTES,
            "{} bytes",
            text.len()
        );
        assert!(text.contains("[TRUNCATED"), "no marker");
        let _: Value = serde_json::from_str(&text).expect("still JSON");
    }
    let got = capture(
        ArgumentCapture::Full,
        &[],
        &json!({"rows": (0..10_000).collect::<Vec<_>>()}),
    );
    assert!(got.values.expect("full").contains("more items]"));
}

#[test]
fn capture_of_deep_values_stays_within_bounds() {
    let mut deep = json!("AKIAIOSFODNN7EXAMPLE");
    for _ in 0..200 {
        deep = json!([deep]);
    }
    for mode in [
        ArgumentCapture::Keys,
        ArgumentCapture::Hashed,
        ArgumentCapture::Full,
    ] {
        let got = capture(mode, &[], &json!({"d": deep}));
        assert!(!got.values.unwrap_or_default().contains("AKIA"), "{mode}");
    }
    let out = redact(&deep, &[] as &[&str]).to_string();
    assert!(out.contains("[REDACTED:too-deep]"));
    assert!(!out.contains("AKIA"));
}
