//! Load-time problems, through one `check()` helper: a policy text and the
//! problems expected, each written `"line:col /pointer ~ message part"`, in
//! document order. Every problem must be listed; none may be extra.

use warden_policy::{Policy, Problems};

fn check(text: &str, expected: &[&str]) {
    let problems = match Policy::from_json("policy.json", text) {
        Ok(_) => panic!(
            "policy compiled, but {} problems were expected",
            expected.len()
        ),
        Err(Problems(problems)) => problems,
    };
    let got: Vec<String> = problems
        .iter()
        .map(|p| format!("{}:{} {} ~ {}", p.line, p.column, p.pointer, p.message))
        .collect();
    let matches = got.len() == expected.len()
        && got.iter().zip(expected).all(|(g, e)| {
            let (at, part) = e.split_once(" ~ ").unwrap_or((e, ""));
            g.starts_with(&format!("{at} ~ ")) && g.contains(part)
        });
    assert!(
        matches,
        "problems differ\nwant:\n  {}\ngot:\n  {}",
        expected.join("\n  "),
        got.join("\n  ")
    );
    for p in &problems {
        assert_eq!(p.source, "policy.json");
    }
}

#[test]
fn unknown_fields_at_every_depth_are_all_reported() {
    check(
        r#"{
  "version": "1",
  "default": "deny",
  "extra": true,
  "all_tools": {"limits": [{"counter": "c", "window": "minute", "max": 1, "per": "x"}], "limit": []},
  "tools": {
    "a": {
      "limit": [],
      "deny-if": [],
      "deny_if": [{"path": "args.x", "op": "eq", "value": 1, "resaon": "r"}]
    }
  }
}"#,
        &[
            r#"4:3 /extra ~ unknown field "extra" (allowed: $schema, version, default, hide, all_tools, tools, audit, approval, pinning, lint)"#,
            r#"5:75 /all_tools/limits/0/per ~ unknown field "per" (allowed: counter, window, max, scope, increment_from)"#,
            r#"5:89 /all_tools/limit ~ unknown field "limit"; did you mean "limits"? (allowed: limits)"#,
            r#"8:7 /tools/a/limit ~ unknown field "limit"; did you mean "limits"? (allowed: action, reason, require, deny_if, approve_if, arguments, limits, audit, approval)"#,
            r#"9:7 /tools/a/deny-if ~ did you mean "deny_if"?"#,
            r#"10:62 /tools/a/deny_if/0/resaon ~ unknown field "resaon"; did you mean "reason"? (allowed: path, op, value, reason)"#,
        ],
    );
}

#[test]
fn bad_windows() {
    check(
        r#"{"version": "1", "default": "deny", "tools": {"a": {"limits": [
  {"counter": "a", "window": "fortnight", "max": 1},
  {"counter": "b", "window": 0, "max": 1},
  {"counter": "c", "window": -60, "max": 1},
  {"counter": "d", "window": 1.5, "max": 1},
  {"counter": "e", "window": "60", "max": 1},
  {"counter": "f", "window": null, "max": 1}
]}}}"#,
        &[
            r#"2:30 /tools/a/limits/0/window ~ window must be "second", "minute", "hour", "day" or a positive number of seconds, not "fortnight""#,
            "3:30 /tools/a/limits/1/window ~ positive number of seconds, not 0",
            "4:30 /tools/a/limits/2/window ~ not -60",
            "5:30 /tools/a/limits/3/window ~ not 1.5",
            r#"6:30 /tools/a/limits/4/window ~ not "60""#,
            "7:30 /tools/a/limits/5/window ~ not null",
        ],
    );
}

#[test]
fn bad_limits() {
    check(
        r#"{"version": "1", "default": "deny", "tools": {"a": {"limits": [
  {"window": "day"},
  {"counter": "", "window": "day", "max": -1},
  {"counter": "x", "window": "day", "max": "10", "scope": "team"},
  {"counter": "y", "window": "day", "max": 1, "increment_from": "identity.budget"},
  {"counter": "z", "window": "day", "max": 1, "increment_from": "args"},
  "ten per minute"
]}}}"#,
        &[
            r#"2:3 /tools/a/limits/0/counter ~ missing required field "counter""#,
            r#"2:3 /tools/a/limits/0/max ~ missing required field "max""#,
            "3:15 /tools/a/limits/1/counter ~ counter must be a non-empty name",
            "3:43 /tools/a/limits/1/max ~ max must be a non-negative number such as 10, not -1",
            r#"4:44 /tools/a/limits/2/max ~ not "10""#,
            r#"4:59 /tools/a/limits/2/scope ~ scope must be "grant" (the default), "identity", "session" or "global", not "team""#,
            r#"5:65 /tools/a/limits/3/increment_from ~ increment_from "identity.budget" must name an argument, e.g. "args.amount""#,
            r#"6:65 /tools/a/limits/4/increment_from ~ not the whole "args""#,
            "7:3 /tools/a/limits/5 ~ a limit (e.g.",
        ],
    );
}

#[test]
fn bad_ops_and_conditions() {
    check(
        r#"{"version": "1", "default": "deny", "tools": {"a": {"deny_if": [
  {"path": "args.a", "op": "greater_than", "value": 1},
  {"path": "args.a", "op": "lte2", "value": 1},
  {"path": "args.a", "op": "frobnicate", "value": 1},
  {"path": "args.a", "op": "gt"},
  {"path": "args.a", "op": "gt", "value": "10"},
  {"path": "args.a", "op": "in", "value": "a,b"},
  {"path": "args.a", "op": "exists", "value": "yes"},
  {"op": "eq", "value": 1},
  {"path": "amount", "op": "eq", "value": 1},
  {"path": "args..a", "op": "eq", "value": 1},
  {"path": "identity", "op": "exists"},
  {"path": 5, "op": "eq", "value": 1}
], "require": {"path": "args.a", "op": "exists"}}}}"#,
        &[
            r#"2:28 /tools/a/deny_if/0/op ~ unknown op "greater_than"; did you mean "gt"? (allowed: eq, neq, in, not_in, lt, lte, gt, gte, regex, contains, exists)"#,
            r#"3:28 /tools/a/deny_if/1/op ~ did you mean "lte"?"#,
            r#"4:28 /tools/a/deny_if/2/op ~ unknown op "frobnicate" (allowed:"#,
            r#"5:3 /tools/a/deny_if/3/value ~ op "gt" needs a "value"; add one, e.g. "value": 100"#,
            r#"6:43 /tools/a/deny_if/4/value ~ op "gt" needs a number value such as 100, not "10""#,
            r#"7:43 /tools/a/deny_if/5/value ~ op "in" needs an array value such as ["a", "b"], not a string"#,
            r#"8:47 /tools/a/deny_if/6/value ~ op "exists" takes true (the default) or false as its value, not a string"#,
            r#"9:3 /tools/a/deny_if/7/path ~ missing required field "path""#,
            r#"10:12 /tools/a/deny_if/8/path ~ path "amount" must be "args", "args.<field>[.<field>...]" or "identity.<attribute>""#,
            r#"11:12 /tools/a/deny_if/9/path ~ path "args..a" has an empty segment"#,
            r#"12:12 /tools/a/deny_if/10/path ~ path "identity" must be"#,
            "13:12 /tools/a/deny_if/11/path ~ path must be a string, not a number",
            "14:15 /tools/a/require ~ must be an array, not an object",
        ],
    );
}

#[test]
fn bad_regex() {
    check(
        r#"{"version": "1", "default": "deny", "tools": {"a": {"require": [
  {"path": "args.a", "op": "regex", "value": "(unclosed"},
  {"path": "args.a", "op": "regex", "value": "a{99999999}"},
  {"path": "args.a", "op": "regex", "value": ["^a"]}
]}}}"#,
        &[
            "2:46 /tools/a/require/0/value ~ regex does not compile: unclosed group; fix the pattern",
            "3:46 /tools/a/require/1/value ~ regex does not compile: Compiled regex exceeds size limit",
            r#"4:46 /tools/a/require/2/value ~ the value of op "regex" must be a string, not an array"#,
        ],
    );
}

#[test]
fn bad_schemas_point_inside_the_schema() {
    check(
        r#"{"version": "1", "default": "deny", "tools": {
  "a": {"arguments": {"type": "objekt",
                      "properties": {"n": {"minimum": "x"}}}},
  "b": {"arguments": {"properties": {"n": {"$ref": "https://example.com/n.json"}}}},
  "c": {"arguments": "object"},
  "d": {"arguments": {"$schema": "https://example.com/my-draft", "type": "object"}}
}}"#,
        &[
            r#"2:31 /tools/a/arguments/type ~ invalid JSON Schema: "objekt" is not valid under any of the schemas"#,
            r#"3:55 /tools/a/arguments/properties/n/minimum ~ invalid JSON Schema: "x" is not of type "number""#,
            r#"4:22 /tools/b/arguments ~ Warden does not fetch https://example.com/n.json; inline the schema under "$defs""#,
            "5:22 /tools/c/arguments ~ must be an object, not a string",
            "6:22 /tools/d/arguments ~ invalid JSON Schema: Unknown specification: https://example.com/my-draft",
        ],
    );
}

#[test]
fn bad_audit_settings() {
    check(
        r#"{"version": "1", "default": "deny",
 "audit": {"arguments": "hash", "redcat": ["ssn"]},
 "tools": {
  "a": {"audit": {"arguments": "Full"}},
  "b": {"audit": {"arguments": "everything", "redact": "ssn"}},
  "c": {"audit": {"arguments": "verbatim", "redact": ["", "__", 7, "card_number"]}},
  "d": {"audit": {"arguments": true}},
  "e": {"audit": "hashed"},
  "f": {"audit": ["full"]},
  "g": {"arguments": "full"},
  "h": {"audits": {}}
}}"#,
        &[
            r#"2:25 /audit/arguments ~ audit arguments must be "keys" (the default: argument names only), "hashed" (salted hashes of the values) or "full" (values with secrets redacted), not "hash"; did you mean "hashed"?"#,
            r#"2:33 /audit/redcat ~ unknown field "redcat"; did you mean "redact"? (allowed: arguments, redact)"#,
            r#"4:32 /tools/a/audit/arguments ~ not "Full"; did you mean "full"?"#,
            r#"5:32 /tools/b/audit/arguments ~ not "everything"; did you mean "full"?"#,
            r#"5:56 /tools/b/audit/redact ~ redact (a list of field names such as ["ssn", "card_number"]) must be an array, not a string"#,
            r#"6:32 /tools/c/audit/arguments ~ "full" (values with secrets redacted), not "verbatim""#,
            r#"6:55 /tools/c/audit/redact/0 ~ redact entry "" names no field; write a field name such as "ssn""#,
            r#"6:59 /tools/c/audit/redact/1 ~ redact entry "__" names no field"#,
            "6:65 /tools/c/audit/redact/2 ~ each redact entry must be a string, not a number",
            r#"7:32 /tools/d/audit/arguments ~ not true"#,
            r#"8:18 /tools/e/audit ~ audit must be an object, not a string; write "audit": {"arguments": "hashed"}"#,
            r#"9:18 /tools/f/audit ~ audit (e.g. {"arguments": "hashed", "redact": ["ssn"]}) must be an object, not an array"#,
            r#"10:22 /tools/g/arguments ~ arguments is a JSON Schema for the call's arguments, not an audit setting; to choose what the audit log records, write "audit": {"arguments": "full"}"#,
            r#"11:9 /tools/h/audits ~ unknown field "audits"; did you mean "audit"?"#,
        ],
    );
    // "verbatim" is no known spelling: the message must not guess.
    let Err(problems) = Policy::from_json(
        "p.json",
        r#"{"version": "1", "default": "deny", "audit": {"arguments": "verbatim"}}"#,
    ) else {
        panic!("should not compile");
    };
    assert!(!problems.to_string().contains("did you mean"), "{problems}");
}

#[test]
fn wrong_or_missing_version_and_default() {
    check(
        r#"{"version": 1, "default": "block"}"#,
        &[
            r#"1:13 /version ~ unsupported version 1; this Warden reads version "1" (write "version": "1")"#,
            r#"1:27 /default ~ default must be "allow", "deny" or "approve", not "block""#,
        ],
    );
    check(
        r#"{"version": "2"}"#,
        &[
            r#"1:1 /default ~ missing required field "default"; add it, e.g. "default": "deny" (or "allow", "approve")"#,
            r#"1:13 /version ~ unsupported version "2""#,
        ],
    );
    check(
        r#"{"tools": {}}"#,
        &[
            r#"1:1 /version ~ missing required field "version"; add it, e.g. "version": "1""#,
            r#"1:1 /default ~ missing required field "default""#,
        ],
    );
}

#[test]
fn duplicate_keys_inside_schemas_and_values() {
    check(
        r#"{"version": "1", "default": "deny", "tools": {"a": {
  "arguments": {"type": "object", "properties": {"n": {"type": "number", "type": "string"}}},
  "deny_if": [{"path": "args.o", "op": "eq", "value": {"k": 1, "k": 2}}]
}}}"#,
        &[
            r#"2:74 /tools/a/arguments/properties/n/type ~ duplicate key "type"; give each key once"#,
            r#"3:64 /tools/a/deny_if/0/value/k ~ duplicate key "k""#,
        ],
    );
}

#[test]
fn conflicting_counters_are_reported_at_each_conflicting_use() {
    check(
        r#"{"version": "1", "default": "deny",
 "all_tools": {"limits": [{"counter": "spend", "window": "day", "max": 100, "increment_from": "args.amount"}]},
 "tools": {
  "a": {"limits": [{"counter": "spend", "window": "hour", "max": 10, "increment_from": "args.amount"}]},
  "b": {"limits": [{"counter": "spend", "window": "day", "max": 100, "scope": "identity", "increment_from": "args.amount"}]},
  "c": {"limits": [{"counter": "spend", "window": "day", "max": 100}]},
  "d": {"limits": [{"counter": "spend", "window": "day", "max": 100, "increment_from": "args.total"}]}
}}"#,
        &[
            r#"5:79 /tools/b/limits/0/scope ~ counter "spend" is used with scope identity, increment_from args.amount here but with scope grant, increment_from args.amount at /all_tools/limits/0; limits sharing a counter must use the same scope and increment_from"#,
            "6:20 /tools/c/limits/0 ~ used with scope grant, no increment_from here",
            "7:88 /tools/d/limits/0/increment_from ~ increment_from args.total here",
        ],
    );
}

#[test]
fn wrong_types_and_duplicates() {
    check(
        r#"{"$schema": 7, "version": "1", "default": "deny", "hide": ["", 3, "ok"],
 "tools": {"a": "deny", "b": {"action": "block", "reason": 5}, "": {}, "b": {}},
 "default": "allow"}"#,
        &[
            "1:13 /$schema ~ $schema must be a string, not a number",
            "1:60 /hide/0 ~ hide entries must not be empty",
            "1:64 /hide/1 ~ each hide entry must be a string, not a number",
            r#"2:17 /tools/a ~ a tool rule (e.g. {"action": "deny", "reason": "..."}) must be an object, not a string"#,
            r#"2:41 /tools/b/action ~ action must be "allow", "deny" or "approve", not "block""#,
            "2:60 /tools/b/reason ~ reason must be a string, not a number",
            "2:64 /tools/ ~ a tool name must not be empty",
            r#"2:72 /tools/b ~ tool "b" appears twice; merge the two rules into one"#,
            r#"3:2 /default ~ duplicate field "default"; give each field once"#,
        ],
    );
    check(
        r#"{"version": "1", "default": "deny", "tools": [], "hide": "*", "all_tools": []}"#,
        &[
            "1:46 /tools ~ tools must be an object, not an array",
            "1:58 /hide ~ hide must be an array, not a string",
            "1:76 /all_tools ~ all_tools must be an object, not an array",
        ],
    );
}

#[test]
fn syntax_errors_are_one_problem_with_a_position() {
    let cases = [
        (
            "{\"version\": \"1\",\n \"default\": \"deny\",}",
            "2:19  ~ invalid JSON: Trailing commas are not allowed",
        ),
        (
            "{\"version\": \"1\", // note\n \"default\": \"deny\"}",
            "1:18  ~ invalid JSON: Comments are not allowed",
        ),
        ("{\"version\": '1'}", "1:13  ~ invalid JSON: expected value"),
        (
            "{\"version\": \"1\"\n  \"default\": \"deny\"}",
            "2:3  ~ invalid JSON: expected `,` or `}`",
        ),
        (
            "{version: \"1\"}",
            "1:2  ~ invalid JSON: Expected string for object property",
        ),
        ("{\"a\": [1, 2", "1:7  ~ invalid JSON: Unterminated array"),
        (
            "{} {}",
            "1:4  ~ invalid JSON: Text cannot contain more than one JSON value",
        ),
        (
            "{\"é\": \"ü\", \"x\": 'y'}",
            "1:17  ~ invalid JSON: expected value",
        ),
        ("", "1:1  ~ the file is empty"),
        ("  \n ", "1:1  ~ the file is empty"),
        ("[1]", "1:1  ~ a policy must be a JSON object"),
        ("null", "1:1  ~ a policy must be a JSON object"),
    ];
    for (text, want) in cases {
        check(text, &[want]);
    }
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    check(&deep, &["1:101  ~ JSON nested more than 100 levels deep"]);
}

#[test]
fn display_is_one_line_per_problem() {
    let Err(problems) = Policy::from_json(
        "p.json",
        "{\"version\": \"1\", \"default\": \"deny\", \"tools\": {\"a\": {\"limit\": []}}}\n",
    ) else {
        panic!("should not compile");
    };
    assert_eq!(
        problems.to_string(),
        r#"p.json:1:53: /tools/a/limit: unknown field "limit"; did you mean "limits"? (allowed: action, reason, require, deny_if, approve_if, arguments, limits, audit, approval)"#
    );
    let Err(problems) = Policy::from_json("p.json", "{\"x\": 1,\n\"version\": \"1\"}") else {
        panic!("should not compile");
    };
    assert_eq!(
        problems.to_string(),
        "p.json:1:1: /default: missing required field \"default\"; add it, e.g. \"default\": \"deny\" (or \"allow\", \"approve\")\n\
         p.json:1:2: /x: unknown field \"x\" (allowed: $schema, version, default, hide, all_tools, tools, audit, approval, pinning, lint)"
    );
    let Err(problems) = Policy::from_json("p.json", "{,}") else {
        panic!("should not compile");
    };
    assert!(problems.to_string().starts_with("p.json:1:2: invalid JSON"));
    let _: &dyn std::error::Error = &problems;
}

#[test]
fn bad_approval_blocks() {
    check(
        r#"{"version": "1", "default": "approve",
 "approval": {"approvers": [], "timeout": 0, "valid_for": "31d", "mode": "wait", "webhok": {}},
 "tools": {
  "a": {"approval": {"approvers": ["", " alice", "User", "group:", "Group:finance", "group: x", 7, "bob", "bob", "a\u0001"]}},
  "b": {"approval": {"timeout": "10", "valid_for": -1}},
  "c": {"approval": {"timeout": "ten minutes", "valid_for": 1.5}},
  "d": {"approval": {"timeout": true, "valid_for": "1500us"}},
  "e": {"approval": {"timeout": "8d", "valid_for": 2592001}},
  "f": {"approval": {"webhook": "https://hooks.example.com/x"}},
  "g": {"approval": {"webhook": {"format": "slak"}}},
  "h": {"approval": {"webhook": {"url": "ftp://example.com/x", "format": 1}}},
  "i": {"approval": {"webhook": {"url": "hooks.example.com/x", "secret": "s"}}},
  "j": {"approval": ["operator"]},
  "k": {"approval": {"mode": "async", "approvers": ["user"]}},
  "l": {"timeout": "10m", "approvers": ["operator"]},
  "m": {"approval": {"approver": ["operator"], "mode": "Async"}},
  "n": {"approval": "operator"}
}}"#,
        &[
            r#"2:28 /approval/approvers ~ approvers must not be empty, or nobody could approve; list at least one, e.g. ["operator"]"#,
            r#"2:43 /approval/timeout ~ timeout must be more than 0 and at most 7 days, e.g. "10m", not 0"#,
            r#"2:59 /approval/valid_for ~ valid_for must be at most 30 days (0, the default, makes each approval cover one call), e.g. "1h", not "31d""#,
            r#"2:74 /approval/mode ~ mode must be "hold" (the default: the call waits for the answer) or "async" (the call returns at once and is retried once approved), not "wait"; did you mean "hold"?"#,
            r#"2:82 /approval/webhok ~ unknown field "webhok"; did you mean "webhook"? (allowed: approvers, timeout, valid_for, mode, webhook)"#,
            r#"4:36 /tools/a/approval/approvers/0 ~ an approver must not be empty; write "user", "operator", an identity such as "alice@example.com", or "group:<name>""#,
            r#"4:40 /tools/a/approval/approvers/1 ~ approver " alice" has leading or trailing whitespace; write "alice""#,
            r#"4:50 /tools/a/approval/approvers/2 ~ approver "User" is not a keyword; did you mean "user"?"#,
            r#"4:58 /tools/a/approval/approvers/3 ~ approver "group:" names no group; write "group:<name>", e.g. "group:finance""#,
            r#"4:68 /tools/a/approval/approvers/4 ~ did you mean "group:finance"?"#,
            r#"4:85 /tools/a/approval/approvers/5 ~ approver "group: x" has whitespace around the group name; write "group:x""#,
            "4:97 /tools/a/approval/approvers/6 ~ each approver must be a string, not a number",
            r#"4:107 /tools/a/approval/approvers/8 ~ approver "bob" appears twice; list each approver once"#,
            r#"4:114 /tools/a/approval/approvers/9 ~ approver "a\u0001" contains control characters"#,
            r#"5:33 /tools/b/approval/timeout ~ timeout "10" needs a unit: write "10s", or the number 10 for seconds"#,
            r#"5:52 /tools/b/approval/valid_for ~ valid_for must be a whole, non-negative number of seconds (e.g. 600) or a duration such as "1h", not -1"#,
            r#"6:33 /tools/c/approval/timeout ~ timeout "ten minutes" is not a duration (expected number at 0); write one such as "10m" or "1h 30m", or a number of seconds"#,
            "6:61 /tools/c/approval/valid_for ~ not 1.5",
            r#"7:33 /tools/d/approval/timeout ~ timeout must be a number of seconds or a duration such as "10m", not a boolean"#,
            r#"7:52 /tools/d/approval/valid_for ~ valid_for "1500us" is finer than a millisecond"#,
            r#"8:33 /tools/e/approval/timeout ~ timeout must be more than 0 and at most 7 days, e.g. "10m", not "8d""#,
            "8:52 /tools/e/approval/valid_for ~ valid_for must be at most 30 days (0, the default, makes each approval cover one call), e.g. \"1h\", not 2592001",
            r#"9:33 /tools/f/approval/webhook ~ webhook must be an object, not a string; write "webhook": {"url": "https://hooks.example.com/x"}"#,
            r#"10:33 /tools/g/approval/webhook/url ~ missing required field "url"; add it, e.g. "url": "https://hooks.example.com/warden""#,
            r#"10:44 /tools/g/approval/webhook/format ~ webhook format must be "json" (the default: Warden's own document) or "slack" (a body Slack's incoming webhooks accept), not "slak"; did you mean "slack"?"#,
            r#"11:41 /tools/h/approval/webhook/url ~ webhook url must be an http or https URL, not "ftp:", e.g. "https://hooks.example.com/warden""#,
            "11:74 /tools/h/approval/webhook/format ~ not 1",
            r#"12:41 /tools/i/approval/webhook/url ~ webhook url "hooks.example.com/x" is not a URL (relative URL without a base); write an absolute URL such as "https://hooks.example.com/warden""#,
            r#"12:64 /tools/i/approval/webhook/secret ~ unknown field "secret" (allowed: url, format)"#,
            r#"13:21 /tools/j/approval ~ approval must be an object, not an array; to say who may approve, write "approval": {"approvers": ["operator"]}"#,
            r#"14:30 /tools/k/approval/mode ~ mode "async" with "user" as the only approver cannot work: an async request returns at once, so nobody at the client can answer it; add "operator" or a named approver to approvers, or use mode "hold""#,
            r#"15:9 /tools/l/timeout ~ unknown field "timeout"; it belongs in the approval block: "approval": {"timeout": ...} (allowed: action, reason, require, deny_if, approve_if, arguments, limits, audit, approval)"#,
            r#"15:27 /tools/l/approvers ~ unknown field "approvers"; it belongs in the approval block: "approval": {"approvers": ...}"#,
            r#"16:22 /tools/m/approval/approver ~ unknown field "approver"; did you mean "approvers"? (allowed: approvers, timeout, valid_for, mode, webhook)"#,
            r#"16:56 /tools/m/approval/mode ~ not "Async"; did you mean "async"?"#,
            r#"17:21 /tools/n/approval ~ approval (e.g. {"approvers": ["operator"], "timeout": "10m"}) must be an object, not a string"#,
        ],
    );
}

/// Async with only "user" as approver is refused where the block writes the mode or the
/// approvers, once: rules that inherit the combination are not reported again.
#[test]
fn async_approval_needs_an_approver_besides_the_user() {
    check(
        r#"{"version": "1", "default": "approve",
 "approval": {"approvers": ["user"], "mode": "async"},
 "tools": {"a": {"action": "approve"}, "b": {"approval": {"timeout": "1m"}}}}"#,
        &[
            r#"2:46 /approval/mode ~ mode "async" with "user" as the only approver cannot work: an async request returns at once, so nobody at the client can answer it; add "operator" or a named approver to approvers, or use mode "hold""#,
        ],
    );
    check(
        r#"{"version": "1", "default": "deny",
 "approval": {"approvers": ["user"]},
 "tools": {"a": {"action": "approve", "approval": {"mode": "async"}}}}"#,
        &[r#"3:60 /tools/a/approval/mode ~ mode "async" with "user" as the only approver"#],
    );
    check(
        r#"{"version": "1", "default": "deny",
 "approval": {"mode": "async"},
 "tools": {"a": {"approval": {"approvers": ["user"]}}}}"#,
        &[r#"3:44 /tools/a/approval/approvers ~ an async request returns at once"#],
    );
}

#[test]
fn bad_pinning_and_lint() {
    check(
        r#"{"version": "1", "default": "deny",
 "pinning": "strict",
 "lint": {"hidden_instruction": "hide", "shadow": "warn", "secret_file": "block",
          "ansi_escape": true, "default": "sometimes", "colour": "off",
          "shadowing": "warn", "shadowing": "hide"},
 "tools": {"a": {"pinning": "enforce", "lint": "off"}}}"#,
        &[
            r#"2:13 /pinning ~ pinning must be "off", "warn" (the default: new and changed tools are reported) or "enforce" (they are withheld until approved), not "strict"; did you mean "enforce"?"#,
            r#"3:11 /lint/hidden_instruction ~ unknown finding kind "hidden_instruction"; did you mean "hidden_instructions"? (allowed: default, hidden_instructions, invisible_unicode, ansi_escape, secret_file, cross_server_reference, shadowing)"#,
            r#"3:41 /lint/shadow ~ unknown finding kind "shadow"; did you mean "shadowing"?"#,
            r#"3:74 /lint/secret_file ~ secret_file must be "off", "warn" (report the finding) or "hide" (report it and hide the tool), not "block"; did you mean "hide"?"#,
            r#"4:26 /lint/ansi_escape ~ ansi_escape must be "off", "warn" (report the finding) or "hide" (report it and hide the tool), not true"#,
            r#"4:43 /lint/default ~ default must be "off", "warn" (report the finding) or "hide" (report it and hide the tool), not "sometimes""#,
            r#"4:56 /lint/colour ~ unknown finding kind "colour" (allowed: default, hidden_instructions"#,
            r#"5:32 /lint/shadowing ~ duplicate field "shadowing"; give each field once"#,
            r#"6:18 /tools/a/pinning ~ unknown field "pinning"; "pinning" applies to the whole policy: write it at the top level (allowed: action,"#,
            r#"6:40 /tools/a/lint ~ unknown field "lint"; "lint" applies to the whole policy: write it at the top level"#,
        ],
    );
}

#[test]
fn pinning_and_lint_of_the_wrong_type() {
    let cases = [
        (
            r#"{"version": "1", "default": "deny", "pinning": true}"#,
            r#"1:48 /pinning ~ pinning must be "off", "warn" (the default: new and changed tools are reported) or "enforce" (they are withheld until approved), not true; did you mean "enforce"?"#,
        ),
        (
            r#"{"version": "1", "default": "deny", "pinning": false}"#,
            r#"1:48 /pinning ~ not false; did you mean "off"?"#,
        ),
        (
            r#"{"version": "1", "default": "deny", "pinning": {"mode": "enforce"}}"#,
            r#"1:48 /pinning ~ not {"mode": "enforce"}"#,
        ),
        (
            r#"{"version": "1", "default": "deny", "pinning": "Warn"}"#,
            r#"1:48 /pinning ~ not "Warn"; did you mean "warn"?"#,
        ),
        (
            r#"{"version": "1", "default": "deny", "lint": "block"}"#,
            r#"1:45 /lint ~ lint must be "off", "warn" or "hide" (for every kind of finding), or an object of those by kind such as {"default": "warn", "secret_file": "hide"}, not "block"; did you mean "hide"?"#,
        ),
        (
            r#"{"version": "1", "default": "deny", "lint": ["secret_file"]}"#,
            r#"1:45 /lint ~ not ["secret_file"]"#,
        ),
        (
            r#"{"version": "1", "default": "deny", "lint": {"Secret-Files": "hide"}}"#,
            r#"1:46 /lint/Secret-Files ~ unknown finding kind "Secret-Files"; did you mean "secret_file"?"#,
        ),
        (
            r#"{"version": "1", "default": "deny", "lint": {"all": "off"}}"#,
            r#"1:46 /lint/all ~ unknown finding kind "all"; did you mean "default"?"#,
        ),
        (
            r#"{"version": "1", "default": "deny", "lint": {"shadowing": null}}"#,
            r#"1:59 /lint/shadowing ~ shadowing must be "off", "warn" (report the finding) or "hide" (report it and hide the tool), not null"#,
        ),
    ];
    for (text, want) in cases {
        check(text, &[want]);
    }
}
