//! Property tests: no input makes the compiler, the evaluator or the audit
//! capture panic, listing agrees with calling, and the `keys` and `hashed`
//! audit modes never let a value through.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use warden_policy::{
    ApprovalSettings, ArgumentCapture, AuditCapture, Call, DenyKind, Policy, Scope, Verdict,
    WebhookFormat,
};

/// Words a policy uses, so random documents often reach deep checks.
const WORDS: &[&str] = &[
    "version",
    "default",
    "hide",
    "all_tools",
    "tools",
    "$schema",
    "action",
    "reason",
    "require",
    "deny_if",
    "approve_if",
    "arguments",
    "limits",
    "path",
    "op",
    "value",
    "counter",
    "window",
    "max",
    "scope",
    "increment_from",
    "1",
    "allow",
    "deny",
    "approve",
    "minute",
    "day",
    "grant",
    "global",
    "session",
    "identity",
    "args",
    "args.a",
    "args.a.0",
    "identity.name",
    "eq",
    "neq",
    "in",
    "not_in",
    "lt",
    "lte",
    "gt",
    "gte",
    "regex",
    "contains",
    "exists",
    "*",
    "a*",
    "a?",
    "a",
    "b",
    "^a+$",
    "(",
    "type",
    "object",
    "properties",
    "required",
    "$ref",
    "#/$defs/x",
    "audit",
    "redact",
    "keys",
    "hashed",
    "full",
    "approval",
    "approvers",
    "timeout",
    "valid_for",
    "mode",
    "hold",
    "async",
    "webhook",
    "url",
    "format",
    "slack",
    "user",
    "operator",
    "group:a",
    "10m",
    "https://h.example/x",
    "pinning",
    "enforce",
    "warn",
    "off",
    "lint",
    "secret_file",
    "shadowing",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(WORDS).prop_map(str::to_owned),
        1 => "[a-z.*?$_]{0,6}",
        1 => any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        (-100i64..100_000).prop_map(Value::from),
        word().prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((word(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Call arguments: like [`json_value`], with longer strings (prose, tokens,
/// arbitrary text) so that leaks of values would show.
fn argument_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        word().prop_map(Value::from),
        "[ -~]{8,60}".prop_map(Value::from),
        "[A-Za-z0-9+/_-]{30,50}".prop_map(Value::from),
        "(ghp_|sk-|AKIA|wdn_0123456789ab_|https://u:)[A-Za-z0-9@]{8,40}".prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((word(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Every string value (not object keys) in `v`, at any depth.
fn string_values<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|i| string_values(i, out)),
        Value::Object(map) => map.values().for_each(|i| string_values(i, out)),
        _ => {}
    }
}

/// The durations [`approval_block`] writes, with their milliseconds.
const DURATIONS: &[(&str, u64)] = &[("10m", 600_000), ("1h 30m", 5_400_000), ("7d", 604_800_000)];

/// An `approval` block with some of its fields: almost always valid (async with only
/// "user" is the one way it is not).
fn approval_block() -> impl Strategy<Value = Value> {
    let approvers = proptest::sample::subsequence(
        &["user", "operator", "alice@example.com", "group:finance"][..],
        1..=3,
    );
    let duration = prop_oneof![
        proptest::sample::select(DURATIONS).prop_map(|(text, _)| json!(text)),
        (0u64..100).prop_map(|secs| json!(secs)),
    ];
    let webhook = prop_oneof![
        Just(Value::Null),
        Just(json!({"url": "https://hooks.example.com/x"})),
        Just(json!({"url": "http://localhost:8080/hook", "format": "slack"})),
    ];
    (
        proptest::option::of(approvers),
        proptest::option::of(
            duration
                .clone()
                .prop_filter("timeout > 0", |d| d != &json!(0)),
        ),
        proptest::option::of(duration),
        proptest::option::of(proptest::sample::select(&["hold", "async"][..])),
        proptest::option::of(webhook),
    )
        .prop_map(|(approvers, timeout, valid_for, mode, webhook)| {
            let mut block = Map::new();
            let fields = [
                ("approvers", approvers.map(|a| json!(a))),
                ("timeout", timeout),
                ("valid_for", valid_for),
                ("mode", mode.map(Value::from)),
                ("webhook", webhook),
            ];
            for (name, value) in fields {
                if let Some(value) = value {
                    block.insert(name.to_owned(), value);
                }
            }
            Value::Object(block)
        })
}

/// Milliseconds of a duration [`approval_block`] wrote.
fn duration_ms(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().expect("whole seconds") * 1000,
        Value::String(s) => {
            DURATIONS
                .iter()
                .find(|(text, _)| text == s)
                .expect("a known duration")
                .1
        }
        other => panic!("not a duration: {other}"),
    }
}

/// What an approval's settings must be, worked out from the document: each field from the
/// rule's block, else the top level's, else the default.
fn expected_settings(doc: &Value, rule: Option<&str>) -> String {
    let top = doc.get("approval");
    let own = rule.and_then(|k| doc["tools"][k].get("approval"));
    let field = |name: &str| {
        own.and_then(|b| b.get(name))
            .or_else(|| top.and_then(|b| b.get(name)))
    };
    let approvers = field("approvers").map_or("user,operator".to_owned(), |a| {
        let names: Vec<&str> = a
            .as_array()
            .expect("list")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        names.join(",")
    });
    let webhook = match field("webhook") {
        None | Some(Value::Null) => "none".to_owned(),
        Some(w) => format!(
            "{}:{}",
            w.get("format").and_then(Value::as_str).unwrap_or("json"),
            w["url"].as_str().expect("url")
        ),
    };
    format!(
        "{approvers} {} {} {} {webhook}",
        field("timeout").map_or(600_000, duration_ms),
        field("valid_for").map_or(0, duration_ms),
        field("mode").and_then(Value::as_str).unwrap_or("hold"),
    )
}

/// The same line for compiled settings.
fn settings_line(s: &ApprovalSettings) -> String {
    let webhook = match &s.webhook {
        None => "none".to_owned(),
        Some(w) => {
            let format = match w.format {
                WebhookFormat::Json => "json",
                WebhookFormat::Slack => "slack",
            };
            format!("{format}:{}", w.url)
        }
    };
    format!(
        "{} {} {} {} {webhook}",
        s.approver_names().join(","),
        s.timeout_ms,
        s.valid_for_ms,
        s.mode.as_str()
    )
}

/// A policy that is often valid: the right shape with random parts.
fn policy_like() -> impl Strategy<Value = Value> {
    let condition = (
        proptest::sample::select(&["args.a", "args.b.c", "args", "identity.name", "args.a.0"][..]),
        proptest::sample::select(
            &[
                "eq", "neq", "in", "not_in", "lt", "lte", "gt", "gte", "regex", "contains",
                "exists",
            ][..],
        ),
        json_value(),
    )
        .prop_map(|(path, op, value)| {
            let value = match op {
                "in" | "not_in" if !value.is_array() => json!([value]),
                "lt" | "lte" | "gt" | "gte" if !value.is_number() => json!(5),
                "regex" if !value.is_string() => json!("^a"),
                "exists" if !value.is_boolean() => json!(true),
                _ => value,
            };
            json!({"path": path, "op": op, "value": value})
        })
        .boxed();
    let limit = (
        proptest::sample::select(&["c1", "c2"][..]),
        prop_oneof![Just(json!("minute")), Just(json!(60)), Just(json!(90))],
        0u32..20,
        proptest::option::of(Just("args.a")),
    )
        .prop_map(|(counter, window, max, inc)| {
            // Same counter, same settings: keeps the consistency check happy.
            let mut l = json!({"counter": counter, "window": window, "max": max});
            if counter == "c2" {
                l["scope"] = json!("session");
                if let Some(inc) = inc {
                    l["increment_from"] = json!(inc);
                }
            }
            l
        })
        .boxed();
    let rule = (
        proptest::sample::select(&["allow", "deny", "approve"][..]),
        proptest::collection::vec(condition.clone(), 0..3),
        proptest::collection::vec(condition.clone(), 0..3),
        proptest::collection::vec(condition, 0..3),
        proptest::collection::vec(limit.clone(), 0..3),
        any::<bool>(),
        proptest::option::of(proptest::sample::select(&["keys", "hashed", "full"][..])),
        proptest::option::weighted(0.3, approval_block()),
    )
        .prop_map(
            |(action, require, deny_if, approve_if, limits, schema, audit, approval)| {
                let mut r = json!({"action": action, "require": require, "deny_if": deny_if,
                               "approve_if": approve_if, "limits": limits});
                if schema {
                    r["arguments"] =
                        json!({"type": "object", "properties": {"a": {"type": "number"}}});
                }
                if let Some(mode) = audit {
                    r["audit"] = json!({"arguments": mode, "redact": ["ssn"]});
                }
                if let Some(block) = approval {
                    r["approval"] = block;
                }
                r
            },
        );
    (
        proptest::sample::select(&["allow", "deny", "approve"][..]),
        proptest::collection::vec(
            proptest::sample::select(&["a", "a*", "b?", "*.x"][..]),
            0..2,
        ),
        proptest::collection::vec(limit, 0..2),
        proptest::collection::vec(
            (
                proptest::sample::select(&["a", "ab", "a*", "*b", "a.x", "?"][..]),
                rule,
            ),
            0..5,
        ),
        proptest::option::weighted(0.3, approval_block()),
    )
        .prop_map(|(default, hide, all, tools, approval)| {
            let tools: Map<String, Value> =
                tools.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let mut doc = json!({"version": "1", "default": default, "hide": hide,
                   "all_tools": {"limits": all}, "tools": tools});
            if let Some(block) = approval {
                doc["approval"] = block;
            }
            doc
        })
}

/// Listing and calling come from one lookup and must agree.
fn check_consistent(policy: &Policy, tool: &str, args: &Value, identity: &Value) {
    let call = Call {
        tool,
        arguments: args,
        identity,
        scope: Scope {
            grant: "g",
            identity: "i",
            session: "s",
        },
    };
    let verdict = policy.evaluate(&call);
    let listed = policy.is_listed(tool);
    match &verdict {
        Verdict::Unknown => assert!(!listed, "{tool}: unknown but listed"),
        Verdict::Deny(d) if d.kind == DenyKind::NotListed => {
            assert!(!listed, "{tool}: not listed but is_listed")
        }
        _ => assert!(listed, "{tool}: {verdict:?} but not listed"),
    }
    let then = match &verdict {
        Verdict::Allow(a) => Some(a),
        Verdict::Approve(a) => {
            assert!(a.rule.starts_with(&a.then.rule), "{verdict:?}");
            Some(&a.then)
        }
        _ => None,
    };
    for l in then.iter().flat_map(|a| &a.limits) {
        assert!(l.amount >= 0.0 && l.amount.is_finite());
    }
    assert_eq!(policy.evaluate(&call), verdict, "evaluation is not pure");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_compiles_or_explains(text in any::<String>()) {
        if let Err(problems) = Policy::from_json("fuzz.json", &text) {
            prop_assert!(!problems.0.is_empty());
        }
    }

    #[test]
    fn any_json_compiles_or_explains(doc in json_value()) {
        let text = serde_json::to_string_pretty(&doc).expect("serializes");
        if let Err(problems) = Policy::from_json("fuzz.json", &text) {
            prop_assert!(!problems.0.is_empty());
            for p in &problems.0 {
                prop_assert!(p.line >= 1 && p.column >= 1);
            }
        }
    }

    #[test]
    fn policy_shaped_json_never_panics(
        doc in policy_like(),
        tool in proptest::sample::select(&["a", "ab", "abc", "a.x", "b", "x", ""][..]),
        args in json_value(),
        identity in json_value(),
    ) {
        let text = serde_json::to_string(&doc).expect("serializes");
        match Policy::from_json("fuzz.json", &text) {
            Ok(policy) => {
                check_consistent(&policy, tool, &args, &identity);
                let call = Call {
                    tool,
                    arguments: &args,
                    identity: &identity,
                    scope: Scope { grant: "g", identity: "i", session: "s" },
                };
                if let Verdict::Approve(a) = policy.evaluate(&call) {
                    // `policy_like` tool names hold no `/` or `~`.
                    let key = a.rule.strip_prefix("/tools/").and_then(|r| r.split('/').next());
                    prop_assert_eq!(settings_line(&a.settings), expected_settings(&doc, key));
                }
            }
            Err(problems) => prop_assert!(!problems.0.is_empty()),
        }
    }

    #[test]
    fn any_arguments_never_panic(args in json_value(), identity in json_value(), tool in word()) {
        let policy = Policy::from_json("rich.json", RICH).expect("rich policy compiles");
        check_consistent(&policy, &tool, &args, &identity);
        for tool in ["pay", "files.read", "files.delete", "search"] {
            check_consistent(&policy, tool, &args, &identity);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn capture_never_panics_nor_leaks_values_in_keys_and_hashed_mode(
        args in argument_value(),
        mode in proptest::sample::select(
            &[ArgumentCapture::Keys, ArgumentCapture::Hashed, ArgumentCapture::Full][..],
        ),
        names in proptest::collection::vec(word(), 0..3),
        salt in any::<[u8; 32]>(),
    ) {
        let capture = AuditCapture { arguments: mode, redact: &names };
        let got = capture.capture(&args, &salt);
        let mut sorted = got.keys.clone();
        sorted.sort();
        prop_assert_eq!(&sorted, &got.keys);
        if let Value::Object(map) = &args {
            prop_assert_eq!(got.keys.len(), map.len());
        } else {
            prop_assert!(got.keys.is_empty());
        }
        match (mode, &got.values) {
            (ArgumentCapture::Keys, None) => {}
            (ArgumentCapture::Keys, Some(v)) => prop_assert!(false, "keys mode recorded {}", v),
            (_, None) => prop_assert!(false, "{} mode recorded no values", mode),
            (_, Some(text)) => {
                let parsed: Result<Value, _> = serde_json::from_str(text);
                prop_assert!(parsed.is_ok(), "not JSON: {}", text);
            }
        }
        if mode != ArgumentCapture::Full {
            // What may legitimately appear: the names, the hash prefix, markers.
            let allowed = format!("{} hmac-sha256: [REDACTED:field] #", got.keys.join(" "));
            let record = format!("{} {}", got.keys.join(" "), got.values.as_deref().unwrap_or(""));
            let mut strings = Vec::new();
            string_values(&args, &mut strings);
            for s in strings {
                if s.chars().count() >= 8 && !allowed.contains(s) {
                    // JSON escaping could hide a leak: check the escaped form too.
                    let escaped = Value::from(s).to_string();
                    prop_assert!(!record.contains(s), "{:?} leaked into {}", s, record);
                    prop_assert!(!record.contains(escaped.trim_matches('"')), "{:?} leaked", s);
                }
            }
        }
    }

    #[test]
    fn audit_capture_uses_the_rule_evaluate_uses(
        doc in policy_like(),
        tool in proptest::sample::select(&["a", "ab", "abc", "a.x", "b", "x", ""][..]),
        args in json_value(),
    ) {
        let text = serde_json::to_string(&doc).expect("serializes");
        let Ok(policy) = Policy::from_json("fuzz.json", &text) else { return Ok(()) };
        let identity = json!({"name": "local"});
        let call = Call {
            tool,
            arguments: &args,
            identity: &identity,
            scope: Scope { grant: "g", identity: "i", session: "s" },
        };
        let rule = match policy.evaluate(&call) {
            Verdict::Unknown => None,
            Verdict::Deny(d) => Some(d.rule),
            Verdict::Approve(a) => Some(a.rule),
            Verdict::Allow(a) => Some(a.rule),
        };
        // An `all_tools` limit's pointer does not say which rule matched.
        prop_assume!(!rule.as_deref().is_some_and(|r| r.starts_with("/all_tools/")));
        // `policy_like` tool names hold no `/` or `~`, so the pointer's
        // second segment is the key.
        let key = rule.as_deref().and_then(|r| r.strip_prefix("/tools/")).map(|r| r.split('/').next().unwrap_or(r));
        let audit = key.and_then(|k| doc["tools"][k].get("audit"));
        let want = match audit.and_then(|a| a["arguments"].as_str()) {
            Some("hashed") => ArgumentCapture::Hashed,
            Some("full") => ArgumentCapture::Full,
            _ => ArgumentCapture::Keys,
        };
        let capture = policy.audit_capture(tool);
        prop_assert_eq!(capture.arguments, want, "rule {:?}", rule);
        let redact: &[String] = if audit.is_some() { &["ssn".to_owned()] } else { &[] };
        prop_assert_eq!(capture.redact, redact);
    }
}

const RICH: &str = r#"{
  "version": "1", "default": "allow", "hide": ["internal.*"],
  "all_tools": {"limits": [{"counter": "calls", "window": "minute", "max": 100}]},
  "tools": {
    "pay": {
      "deny_if": [{"path": "args.amount", "op": "gt", "value": 10000},
                  {"path": "args.to", "op": "regex", "value": "^acct_[0-9]+$"},
                  {"path": "args.tags", "op": "contains", "value": "test"}],
      "require": [{"path": "args.reason", "op": "exists"},
                  {"path": "identity.team", "op": "in", "value": ["finance"]}],
      "approve_if": [{"path": "args.amount", "op": "gte", "value": 1000}],
      "arguments": {"type": "object", "properties": {"amount": {"type": "number", "minimum": 0}}},
      "limits": [{"counter": "spend", "window": "day", "max": 50000, "increment_from": "args.amount"}]
    },
    "files.*": {"deny_if": [{"path": "args.path", "op": "contains", "value": ".."}]},
    "files.delete": {"action": "approve"},
    "*": {"require": [{"path": "args", "op": "neq", "value": null}]}
  }
}"#;

/// Guards the generator: most policy-shaped documents must compile, or the
/// property above would only exercise the error path.
#[test]
fn policy_shaped_json_mostly_compiles() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = policy_like();
    let total = 200;
    let mut ok = 0;
    for _ in 0..total {
        let doc = strategy.new_tree(&mut runner).expect("generates").current();
        let text = serde_json::to_string(&doc).expect("serializes");
        match Policy::from_json("gen.json", &text) {
            Ok(_) => ok += 1,
            Err(problems) => eprintln!("{problems}"),
        }
    }
    assert!(
        ok * 2 > total,
        "only {ok} of {total} generated policies compiled"
    );
}
