//! `evaluate` and `is_listed` on a generated 1,000-tool policy, and the
//! audit capture of a typical call's arguments in each mode.
//!
//! Run: `cargo bench -p warden-policy -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use warden_policy::{ArgumentCapture, AuditCapture, Call, Policy, Scope, Verdict};

/// 700 exact names and 300 globs, with conditions (regex included),
/// argument schemas and limits spread across them.
fn policy() -> Policy {
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
    let text = serde_json::to_string_pretty(&doc).expect("serializes");
    Policy::from_json("bench.json", &text).expect("bench policy compiles")
}

fn call<'a>(tool: &'a str, args: &'a Value, identity: &'a Value) -> Call<'a> {
    Call {
        tool,
        arguments: args,
        identity,
        scope: Scope {
            grant: "grant-1",
            identity: "agent-1",
            session: "session-1",
        },
    }
}

fn bench(c: &mut Criterion) {
    let policy = policy();
    let identity = json!({"name": "agent-1", "team": "ops"});
    // svc21.op0 is rule 210: deny_if (regex), require and arguments all apply.
    let exact_args = json!({"query": "select * from t", "amount": 50, "reason": "monthly"});
    let glob_args = json!({"path": "/srv/data"});
    let none = Value::Null;

    let exact = call("svc21.op0", &exact_args, &identity);
    let glob = call("zone150.refresh", &glob_args, &identity);
    let unlisted = call("nothing.matches.this", &none, &identity);
    assert!(matches!(policy.evaluate(&exact), Verdict::Allow(_)));
    assert!(matches!(policy.evaluate(&glob), Verdict::Allow(_)));
    assert!(matches!(policy.evaluate(&unlisted), Verdict::Deny(_)));

    let mut g = c.benchmark_group("evaluate");
    g.bench_function("exact hit (regex, require, schema, limits)", |b| {
        b.iter(|| policy.evaluate(black_box(&exact)))
    });
    g.bench_function("glob hit", |b| b.iter(|| policy.evaluate(black_box(&glob))));
    g.bench_function("unlisted", |b| {
        b.iter(|| policy.evaluate(black_box(&unlisted)))
    });
    g.finish();

    let mut g = c.benchmark_group("is_listed");
    for tool in ["svc21.op0", "zone150.refresh", "nothing.matches.this"] {
        g.bench_function(tool, |b| b.iter(|| policy.is_listed(black_box(tool))));
    }
    g.finish();

    // Runs on every call: a dozen arguments, nested values, one secret.
    let args = json!({
        "customer_id": "cus_NffrFeUfNV2Hib", "amount": 1250, "currency": "eur",
        "reason": "Customer was charged twice for order 1234; refund the second charge.",
        "metadata": {"ticket": "SUP-4412", "agent": "refund-bot", "tags": ["billing", "duplicate"]},
        "items": [{"sku": "A-100", "qty": 2}, {"sku": "B-200", "qty": 1}],
        "api_key": "sk_live_51HxYzAbCdEfGhIjKlMnOpQr", "notify": true,
        "callback": "https://hooks.example.com/refunds/done", "idempotency_key": "550e8400-e29b-41d4-a716-446655440000"
    });
    let salt = [7u8; 32];
    let names = ["ssn".to_owned()];
    let mut g = c.benchmark_group("audit capture");
    for mode in [
        ArgumentCapture::Keys,
        ArgumentCapture::Hashed,
        ArgumentCapture::Full,
    ] {
        let capture = AuditCapture {
            arguments: mode,
            redact: &names,
        };
        g.bench_function(mode.as_str(), |b| {
            b.iter(|| capture.capture(black_box(&args), &salt))
        });
    }
    g.bench_function("audit_capture lookup", |b| {
        b.iter(|| policy.audit_capture(black_box("zone150.refresh")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
