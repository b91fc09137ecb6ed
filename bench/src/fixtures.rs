//! The inputs every measurement shares: the policies Warden runs under, and the
//! 1,000-tool policy of the policy-evaluation benchmark (also used by
//! `benches/policy.rs`, the criterion version).

use serde_json::{Value, json};
use warden_policy::{Call, Policy, Scope};

/// The policy of the relay benchmarks: the demo tools the workload calls are
/// allowed by name and everything else is denied, so every call is looked up
/// and decided, and every decision is audited.
pub fn relay_policy(with_limit: bool) -> Value {
    let rule = if with_limit {
        // A limit no benchmark reaches: the counter is still reserved on every call.
        json!({"limits": [{"counter": "bench_rate", "window": "minute", "max": 100_000_000}]})
    } else {
        json!({})
    };
    json!({
        "version": "1",
        "default": "deny",
        "tools": {"connections.list": rule, "echo": rule, "connections.refresh": {}}
    })
}

/// The policy of the `tools/list` benchmark: every tool allowed, 100 of the
/// synthetic tools hidden by a glob, and the given pinning mode.
pub fn listing_policy(hide: bool, pinning: &str) -> Value {
    let mut doc = json!({"version": "1", "default": "allow", "pinning": pinning});
    if hide {
        doc["hide"] = json!(["bench.tool_01*"]);
    }
    doc
}

/// 700 exact names and 300 globs, with conditions (regex included), argument
/// schemas and limits spread across them.
pub fn thousand_tool_policy() -> Policy {
    let mut tools = serde_json::Map::new();
    for i in 0..700 {
        let mut rule = json!({
            "limits": [{"counter": format!("svc{i}_rate"), "window": "minute", "max": 60}]
        });
        if i % 3 == 0 {
            rule["deny_if"] = json!([
                {"path": "args.query", "op": "regex", "value": "(?i)drop\\s+table"},
                {"path": "args.amount", "op": "gt", "value": 10000}
            ]);
        }
        if i % 5 == 0 {
            rule["require"] = json!([
                {"path": "args.reason", "op": "exists"},
                {"path": "identity.team", "op": "in", "value": ["ops", "finance"]}
            ]);
        }
        if i % 7 == 0 {
            rule["arguments"] = json!({
                "type": "object",
                "properties": {"amount": {"type": "number", "minimum": 0}, "query": {"type": "string"}}
            });
        }
        tools.insert(format!("svc{}.op{}", i / 10, i % 10), rule);
    }
    for i in 0..300 {
        let pattern = match i % 3 {
            0 => format!("zone{i}.*"),
            1 => format!("*.admin{i}"),
            _ => format!("tenant?{i}.*"),
        };
        let rule = json!({
            "deny_if": [{"path": "args.path", "op": "contains", "value": ".."}],
            "limits": [{"counter": "zone_rate", "window": 90, "max": 1000, "scope": "identity"}]
        });
        tools.insert(pattern, rule);
    }
    let doc = json!({
        "version": "1",
        "default": "deny",
        "hide": ["internal.*", "debug"],
        "all_tools": {"limits": [{"counter": "all_calls", "window": "second", "max": 100, "scope": "global"}]},
        "tools": tools
    });
    let text = serde_json::to_string_pretty(&doc).expect("the benchmark policy serializes");
    Policy::from_json("bench.json", &text).expect("the benchmark policy compiles")
}

/// The three decisions measured on [`thousand_tool_policy`]: a tool name, its
/// arguments, and what the decision must be.
#[derive(Debug)]
pub struct Decision {
    /// What the row is called.
    pub label: &'static str,
    /// The tool called.
    pub tool: &'static str,
    /// Its arguments.
    pub arguments: Value,
    /// Whether the call is allowed.
    pub allowed: bool,
}

/// An exact rule with a regex condition, a requirement, a schema and limits;
/// a glob; and a name no rule matches.
pub fn decisions() -> Vec<Decision> {
    vec![
        // svc21.op0 is rule 210: deny_if (regex), require and arguments all apply.
        Decision {
            label: "exact rule: regex condition, requirement, schema, limits",
            tool: "svc21.op0",
            arguments: json!({"query": "select * from t", "amount": 50, "reason": "monthly"}),
            allowed: true,
        },
        Decision {
            label: "glob rule (300 globs)",
            tool: "zone150.refresh",
            arguments: json!({"path": "/srv/data"}),
            allowed: true,
        },
        Decision {
            label: "no rule matches (default deny)",
            tool: "nothing.matches.this",
            arguments: Value::Null,
            allowed: false,
        },
    ]
}

/// The identity every decision is made for.
pub fn identity() -> Value {
    json!({"name": "agent-1", "team": "ops"})
}

/// A [`Call`] of `tool` by [`identity`].
pub fn call<'a>(tool: &'a str, arguments: &'a Value, identity: &'a Value) -> Call<'a> {
    Call {
        tool,
        arguments,
        identity,
        scope: Scope {
            grant: "grant-1",
            identity: "agent-1",
            session: "session-1",
        },
    }
}
