//! Data-driven policy cases: `tests/data/*.json`, each a list of suites
//! `{name, policy, calls: [{tool, args?, identity?, scope?, expect, ...}]}`,
//! all run through one `check()` helper.
//!
//! `expect` is a verdict summary:
//! - `unknown`
//! - `deny <DenyKind> <rule>`
//! - `approve <rule>`
//! - `allow <rule>` followed by one `[<rule> <key> <window>s max=<max> +<amount>]`
//!   per limit request, where the key's U+001F separators are shown as `|`.
//!
//! Optional checks per call: `reason` (exact), `reason_contains` (substrings),
//! `listed` (`is_listed`), `describe` (each `LimitRequest::describe`),
//! `limit_reasons` (each `LimitRequest::reason`), `audit` (what
//! `Policy::audit_capture` resolves: the mode, then `redact=` and the names
//! joined by commas when there are any, e.g. `full redact=ssn,card_number`).
//!
//! A suite may also check the policy-wide settings for tool definitions:
//! `pinning` (what `Policy::pinning` says, e.g. `"enforce"`) and `lint` (an
//! object from finding kind to what `Policy::lint_action` says for it, e.g.
//! `{"secret_file": "hide"}`); each counts as a case.
//!
//! For an `approve` verdict: `approval` (the resolved settings, e.g.
//! `approvers=user,operator timeout=600000ms valid_for=0ms mode=hold webhook=none`, a webhook
//! written `webhook=<format>:<url>`) and `then` (what the call is once approved, in the
//! `allow` summary form); `describe` and `limit_reasons` read `then`'s limits.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};
use warden_policy::{Allowed, ApprovalSettings, Call, Policy, Scope, Verdict, WebhookFormat};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Suite {
    name: String,
    policy: Value,
    calls: Vec<Case>,
    pinning: Option<String>,
    lint: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    tool: String,
    args: Option<Value>,
    identity: Option<Value>,
    scope: Option<ScopeCase>,
    expect: String,
    reason: Option<String>,
    reason_contains: Option<Vec<String>>,
    listed: Option<bool>,
    describe: Option<Vec<String>>,
    limit_reasons: Option<Vec<Option<String>>>,
    audit: Option<String>,
    approval: Option<String>,
    then: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ScopeCase {
    grant: Option<String>,
    identity: Option<String>,
    session: Option<String>,
}

/// One line per verdict, so a failing case shows the whole decision.
fn summary(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Unknown => "unknown".to_owned(),
        Verdict::Deny(d) => format!("deny {:?} {}", d.kind, d.rule),
        Verdict::Approve(a) => format!("approve {}", a.rule),
        Verdict::Allow(a) => allowed(a),
    }
}

fn allowed(a: &Allowed) -> String {
    let mut out = format!("allow {}", a.rule);
    for l in &a.limits {
        out.push_str(&format!(
            " [{} {} {}s max={} +{}]",
            l.rule,
            l.key.replace('\u{1f}', "|"),
            l.window_secs,
            l.max,
            l.amount
        ));
    }
    out
}

/// The resolved approval settings on one line.
fn settings(s: &ApprovalSettings) -> String {
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
        "approvers={} timeout={}ms valid_for={}ms mode={} webhook={webhook}",
        s.approver_names().join(","),
        s.timeout_ms,
        s.valid_for_ms,
        s.mode.as_str()
    )
}

fn reason(verdict: &Verdict) -> Option<&str> {
    match verdict {
        Verdict::Deny(d) => Some(&d.reason),
        Verdict::Approve(a) => Some(&a.reason),
        Verdict::Unknown | Verdict::Allow(_) => None,
    }
}

/// Evaluates one case against a compiled policy; `Err` says what differed.
fn check(policy: &Policy, case: &Case) -> Result<(), String> {
    let args = case.args.clone().unwrap_or(Value::Null);
    let identity = case
        .identity
        .clone()
        .unwrap_or_else(|| json!({"name": "local"}));
    let scope = case.scope.as_ref();
    let pick = |f: fn(&ScopeCase) -> &Option<String>, default: &'static str| {
        scope
            .and_then(|s| f(s).as_deref())
            .unwrap_or(default)
            .to_owned()
    };
    let (grant, ident, session) = (
        pick(|s| &s.grant, "g1"),
        pick(|s| &s.identity, "i1"),
        pick(|s| &s.session, "s1"),
    );
    let call = Call {
        tool: &case.tool,
        arguments: &args,
        identity: &identity,
        scope: Scope {
            grant: &grant,
            identity: &ident,
            session: &session,
        },
    };
    let verdict = policy.evaluate(&call);
    let mut errors = Vec::new();
    let got = summary(&verdict);
    if got != case.expect {
        errors.push(format!(
            "verdict\n      want {}\n      got  {got}",
            case.expect
        ));
    }
    if let Some(want) = &case.reason
        && reason(&verdict) != Some(want.as_str())
    {
        errors.push(format!(
            "reason\n      want {want}\n      got  {:?}",
            reason(&verdict)
        ));
    }
    for part in case.reason_contains.iter().flatten() {
        if !reason(&verdict).is_some_and(|r| r.contains(part.as_str())) {
            errors.push(format!(
                "reason should contain {part:?}, got {:?}",
                reason(&verdict)
            ));
        }
    }
    if let Some(want) = case.listed {
        let got = policy.is_listed(&case.tool);
        if got != want {
            errors.push(format!("is_listed: want {want}, got {got}"));
        }
    }
    let limits = match &verdict {
        Verdict::Allow(a) => a.limits.as_slice(),
        Verdict::Approve(a) => a.then.limits.as_slice(),
        _ => &[],
    };
    let approval = match &verdict {
        Verdict::Approve(a) => Some(a),
        _ => None,
    };
    if let Some(want) = &case.approval {
        let got = approval.map(|a| settings(&a.settings));
        if got.as_ref() != Some(want) {
            errors.push(format!("approval\n      want {want}\n      got  {got:?}"));
        }
    }
    if let Some(want) = &case.then {
        let got = approval.map(|a| allowed(&a.then));
        if got.as_ref() != Some(want) {
            errors.push(format!("then\n      want {want}\n      got  {got:?}"));
        }
    }
    if let Some(want) = &case.describe {
        let got: Vec<String> = limits.iter().map(|l| l.describe()).collect();
        if &got != want {
            errors.push(format!("describe: want {want:?}, got {got:?}"));
        }
    }
    if let Some(want) = &case.limit_reasons {
        let got: Vec<Option<String>> = limits.iter().map(|l| l.reason.clone()).collect();
        if &got != want {
            errors.push(format!("limit reasons: want {want:?}, got {got:?}"));
        }
    }
    if let Some(want) = &case.audit {
        let capture = policy.audit_capture(&case.tool);
        let mut got = capture.arguments.to_string();
        if !capture.redact.is_empty() {
            got.push_str(&format!(" redact={}", capture.redact.join(",")));
        }
        if &got != want {
            errors.push(format!("audit: want {want:?}, got {got:?}"));
        }
    }
    // Purity: the same call always gets the same verdict.
    if policy.evaluate(&call) != verdict {
        errors.push("a second evaluation gave another verdict".to_owned());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n    "))
    }
}

/// Runs every suite of one data file and reports every failing case at once.
fn run_file(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).expect("data file is readable");
    let suites: Vec<Suite> = serde_json::from_str(&text).expect("data file is a list of suites");
    let mut failures = Vec::new();
    let mut count = 0;
    for suite in &suites {
        let source = serde_json::to_string_pretty(&suite.policy).expect("policy serializes");
        let policy = match Policy::from_json(&format!("{name}.json"), &source) {
            Ok(p) => p,
            Err(problems) => {
                failures.push(format!(
                    "[{}] policy does not compile:\n{problems}",
                    suite.name
                ));
                continue;
            }
        };
        if let Some(want) = &suite.pinning {
            count += 1;
            let got = policy.pinning().as_str();
            if got != want {
                failures.push(format!("[{}] pinning: want {want}, got {got}", suite.name));
            }
        }
        for (kind, want) in suite.lint.iter().flatten() {
            count += 1;
            let got = policy.lint_action(kind).as_str();
            if got != want {
                failures.push(format!(
                    "[{}] lint {kind}: want {want}, got {got}",
                    suite.name
                ));
            }
        }
        for (i, case) in suite.calls.iter().enumerate() {
            count += 1;
            if let Err(e) = check(&policy, case) {
                failures.push(format!(
                    "[{}] call {i} ({}):\n    {e}",
                    suite.name, case.tool
                ));
            }
        }
    }
    assert!(count > 0, "{name}.json has no cases");
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed in {name}.json:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

macro_rules! case_files {
    ($($name:ident),* $(,)?) => {
        $( #[test] fn $name() { run_file(stringify!($name)); } )*
        const FILES: &[&str] = &[$(stringify!($name)),*];
    };
}

case_files!(
    seeds,
    order,
    defaults,
    hide,
    globs,
    operators,
    limits,
    arguments,
    audit,
    approval,
    definitions
);

#[test]
fn every_data_file_is_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for entry in std::fs::read_dir(dir).expect("tests/data exists") {
        let path = entry.expect("directory entry").path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        assert!(
            FILES.contains(&stem),
            "{} is not listed in case_files!",
            path.display()
        );
    }
}

/// The seed policies' promise: ten calls in a minute fit the grant's budget,
/// and every call asks for the same counter key.
#[test]
fn seed_policy_budget_fits_ten_calls() {
    let policy = Policy::from_json(
        "seed.json",
        r#"{"version": "1", "default": "deny", "tools": {"connections.refresh": {"limits": [{"counter": "connections.refresh_rate", "window": "minute", "max": 10, "scope": "grant"}]}}}"#,
    )
    .expect("seed policy compiles");
    let args = json!({});
    let identity = json!({"name": "local"});
    let call = Call {
        tool: "connections.refresh",
        arguments: &args,
        identity: &identity,
        scope: Scope {
            grant: "g1",
            identity: "local",
            session: "s1",
        },
    };
    let mut used = 0.0;
    for _ in 0..10 {
        let Verdict::Allow(allowed) = policy.evaluate(&call) else {
            panic!("seed policy must allow connections.refresh");
        };
        let [limit] = allowed.limits.as_slice() else {
            panic!("one limit expected, got {:?}", allowed.limits);
        };
        assert_eq!(
            (limit.window_secs, limit.max, limit.scope),
            (60, 10.0, warden_policy::ScopeKind::Grant)
        );
        assert_eq!(limit.key, "connections.refresh_rate\u{1f}grant\u{1f}g1");
        used += limit.amount;
        assert!(used <= limit.max);
    }
}

#[test]
fn policy_is_send_sync_debug() {
    fn assert<T: Send + Sync + std::fmt::Debug>() {}
    assert::<Policy>();
    assert::<Verdict>();
}

/// A rule without an `approval` block shares the top level's settings (one `Arc`); a rule
/// with one gets its own.
#[test]
fn rules_without_a_block_share_the_top_level_settings() {
    let policy = Policy::from_json(
        "shared.json",
        r#"{"version": "1", "default": "approve",
            "approval": {"approvers": ["operator"], "timeout": "5m"},
            "tools": {"a": {"action": "approve"}, "b": {"action": "approve"},
                      "c": {"action": "approve", "approval": {"valid_for": "1h"}}}}"#,
    )
    .expect("compiles");
    let args = json!({});
    let identity = json!({"name": "local"});
    let settings = |tool: &str| {
        let call = Call {
            tool,
            arguments: &args,
            identity: &identity,
            scope: Scope {
                grant: "g1",
                identity: "local",
                session: "s1",
            },
        };
        match policy.evaluate(&call) {
            Verdict::Approve(a) => a.settings,
            other => panic!("{tool}: expected approval, got {other:?}"),
        }
    };
    let (top, a, b, c) = (
        settings("other"),
        settings("a"),
        settings("b"),
        settings("c"),
    );
    assert!(std::sync::Arc::ptr_eq(&top, &a));
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert!(!std::sync::Arc::ptr_eq(&a, &c));
    assert_eq!((c.timeout_ms, c.valid_for_ms), (300_000, 3_600_000));
    assert_eq!(c.approver_names(), ["operator"]);
}
