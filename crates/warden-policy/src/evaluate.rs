//! The decision function: one call in, one [`Verdict`] out.
//!
//! # Rule lookup
//!
//! A tool name is matched against the `tools` keys: an exact key wins over
//! any glob; among matching globs the longest pattern (in characters) wins,
//! and equal lengths are broken by the lexicographic order of the patterns,
//! so the result never depends on key order in the file.
//!
//! # Evaluation order
//!
//! Steps run in this order and the first that decides wins, so a call that
//! breaks two rules is reported for the earlier one:
//!
//! 1. **hidden**: the name matches `hide` → [`Verdict::Unknown`] (answered as
//!    a tool that does not exist, so hiding leaks no names).
//! 2. **not listed**: no `tools` key matches → `default` decides: `"deny"`
//!    → [`DenyKind::NotListed`] at `/default`; `"approve"` → approval at
//!    `/default`; `"allow"` → go on to step 8 with no tool rule
//!    (`all_tools.limits` still apply).
//! 3. **`action: deny`** → [`DenyKind::Action`].
//! 4. **`deny_if`**: any condition holding denies ([`DenyKind::DenyIf`]).
//! 5. **`require`**: every condition must hold ([`DenyKind::Require`]).
//! 6. **`arguments`**: the JSON Schema must accept the arguments
//!    ([`DenyKind::Arguments`]; absent arguments are checked as `{}`).
//! 7. **approval**: `action: approve`, or any `approve_if` holding →
//!    [`Verdict::Approve`].
//! 8. **limits**: [`Verdict::Allow`] with one [`LimitRequest`] per limit,
//!    `all_tools.limits` first; an `increment_from` value that is missing or
//!    not a non-negative number denies ([`DenyKind::InvalidAmount`]).
//!
//! A missing value makes a `deny_if`/`approve_if` condition not hold and a
//! `require` condition fail. A value of the wrong type for its operator is an
//! evaluation error and fails closed: it denies under `deny_if`, fails under
//! `require`, and asks for approval under `approve_if`.
//!
//! [`Policy::is_listed`](crate::Policy::is_listed) uses the same lookup (steps 1 and 2), so
//! `tools/list` shows exactly the tools a call could reach.

use serde_json::Value;

use crate::condition::{self, Outcome};
use crate::model::{Action, Limit, Policy, Rule};
use crate::{Allowed, Approval, Call, Denial, DenyKind, LimitRequest, Verdict};

/// Most schema errors listed in one denial; the rest are counted.
const MAX_SCHEMA_ERRORS: usize = 5;

/// Steps 1 and 2: where a tool name lands.
pub(crate) enum Lookup<'p> {
    Hidden,
    Unmatched,
    Rule(&'p Rule),
}

impl Policy {
    pub(crate) fn lookup(&self, tool: &str) -> Lookup<'_> {
        let hidden_exact = !self.hide_exact.is_empty() && self.hide_exact.contains(tool);
        if hidden_exact || self.hide_globs.find(tool).is_some() {
            return Lookup::Hidden;
        }
        let index = self
            .exact
            .get(tool)
            .copied()
            .or_else(|| self.globs.find(tool));
        match index.and_then(|i| self.rules.get(i)) {
            Some(rule) => Lookup::Rule(rule),
            None => Lookup::Unmatched,
        }
    }

    /// Same evaluation that gates calls, for `tools/list`: false if the tool
    /// is hidden, or not matched by any `tools` entry while `default` is
    /// `"deny"`. Explicitly denied tools (action `"deny"`) stay listed, and so
    /// do unmatched tools under default `"approve"`/`"allow"`.
    pub fn is_listed(&self, tool: &str) -> bool {
        match self.lookup(tool) {
            Lookup::Hidden => false,
            Lookup::Unmatched => self.default != Action::Deny,
            Lookup::Rule(_) => true,
        }
    }

    /// The one decision function. Pure: the same policy and call always give
    /// the same verdict. See the module documentation for the order of steps.
    pub fn evaluate(&self, call: &Call<'_>) -> Verdict {
        let tool = call.tool;
        let rule = match self.lookup(tool) {
            Lookup::Hidden => return Verdict::Unknown,
            Lookup::Rule(rule) => rule,
            Lookup::Unmatched => {
                return match self.default {
                    Action::Deny => deny(
                        DenyKind::NotListed,
                        "/default",
                        format!(
                            "tool {} is not allowed by this policy (default: deny)",
                            quoted(tool)
                        ),
                    ),
                    Action::Approve => self.approve(
                        "/default".to_owned(),
                        format!(
                            "approval required: tool {} is not listed in this policy (default: approve)",
                            quoted(tool)
                        ),
                        &self.approval,
                        "/default",
                        None,
                        call,
                    ),
                    Action::Allow => self.allow("/default", None, call),
                };
            }
        };

        if rule.action == Action::Deny {
            let reason = rule
                .reason
                .clone()
                .unwrap_or_else(|| format!("tool {} is denied by policy", quoted(tool)));
            return deny(
                DenyKind::Action,
                &format!("{}/action", rule.pointer),
                reason,
            );
        }

        for cond in &rule.deny_if {
            let reason = match condition::evaluate(cond, call) {
                Outcome::Holds(v) => pick(cond.reason.as_ref(), rule, || {
                    condition::holds_text(cond, v)
                }),
                Outcome::WrongType(why) => with_custom(cond.reason.as_ref(), rule, why),
                Outcome::Fails(_) | Outcome::Missing => continue,
            };
            return deny(DenyKind::DenyIf, &cond.pointer, reason);
        }

        for cond in &rule.require {
            let reason = match condition::evaluate(cond, call) {
                Outcome::Holds(_) => continue,
                Outcome::Fails(v) => pick(cond.reason.as_ref(), rule, || {
                    condition::fails_text(cond, v)
                }),
                Outcome::Missing => pick(cond.reason.as_ref(), rule, || {
                    condition::fails_text(cond, None)
                }),
                Outcome::WrongType(why) => with_custom(cond.reason.as_ref(), rule, why),
            };
            return deny(DenyKind::Require, &cond.pointer, reason);
        }

        if let Some(schema) = &rule.arguments {
            let empty = Value::Object(serde_json::Map::new());
            let args = if call.arguments.is_null() {
                &empty
            } else {
                call.arguments
            };
            if !schema.is_valid(args) {
                let mut errors = Vec::new();
                let mut more = 0usize;
                for err in schema.iter_errors(args) {
                    if errors.len() < MAX_SCHEMA_ERRORS {
                        let at = match err.instance_path.as_str() {
                            "" => "(root)".to_owned(),
                            p => p.to_owned(),
                        };
                        errors.push(format!(
                            "at {at}: {}",
                            condition::truncate(&err.to_string(), 160)
                        ));
                    } else {
                        more += 1;
                    }
                }
                let mut list = errors.join("; ");
                if more > 0 {
                    list.push_str(&format!("; and {more} more"));
                }
                let reason = match &rule.reason {
                    Some(r) => format!("{r} (arguments do not match the policy's schema: {list})"),
                    None => format!("arguments do not match the policy's schema: {list}"),
                };
                return deny(
                    DenyKind::Arguments,
                    &format!("{}/arguments", rule.pointer),
                    reason,
                );
            }
        }

        if rule.action == Action::Approve {
            let why = rule
                .reason
                .clone()
                .unwrap_or_else(|| format!("tool {} requires approval", quoted(tool)));
            return self.approve(
                format!("{}/action", rule.pointer),
                format!("approval required: {why}"),
                &rule.approval,
                &rule.pointer,
                Some(rule),
                call,
            );
        }
        for cond in &rule.approve_if {
            let why = match condition::evaluate(cond, call) {
                Outcome::Holds(v) => pick(cond.reason.as_ref(), rule, || {
                    condition::holds_text(cond, v)
                }),
                Outcome::WrongType(why) => with_custom(cond.reason.as_ref(), rule, why),
                Outcome::Fails(_) | Outcome::Missing => continue,
            };
            return self.approve(
                cond.pointer.clone(),
                format!("approval required: {why}"),
                &rule.approval,
                &rule.pointer,
                Some(rule),
                call,
            );
        }

        self.allow(&rule.pointer, Some(rule), call)
    }

    /// Step 7: approval, carrying what step 8 gives once approved. An invalid amount denies
    /// now: nobody should approve a call that would be refused afterwards anyway.
    #[allow(clippy::too_many_arguments)]
    fn approve(
        &self,
        rule_pointer: String,
        reason: String,
        settings: &std::sync::Arc<crate::ApprovalSettings>,
        pointer: &str,
        rule: Option<&Rule>,
        call: &Call<'_>,
    ) -> Verdict {
        match self.allow(pointer, rule, call) {
            Verdict::Allow(then) => Verdict::Approve(Approval {
                rule: rule_pointer,
                reason,
                settings: settings.clone(),
                then,
            }),
            other => other,
        }
    }

    /// Step 8: the limit requests, `all_tools` first, deduplicated.
    fn allow(&self, pointer: &str, rule: Option<&Rule>, call: &Call<'_>) -> Verdict {
        let tool_limits: &[Limit] = rule.map_or(&[], |r| &r.limits);
        let reason = rule.and_then(|r| r.reason.as_ref());
        let all = self.all_tools_limits.iter().map(|l| (l, None));
        let own = tool_limits.iter().map(|l| (l, reason));
        let mut limits: Vec<LimitRequest> =
            Vec::with_capacity(self.all_tools_limits.len() + tool_limits.len());
        for (limit, reason) in all.chain(own) {
            let amount = match &limit.increment_from {
                None => 1.0,
                Some(path) => match condition::resolve(path, call).map(|v| (v, v.as_f64())) {
                    Some((_, Some(n))) if n.is_finite() && n >= 0.0 => n,
                    found => {
                        let got = match found {
                            None => "it is missing".to_owned(),
                            Some((v, _)) => {
                                format!("got {}", condition::truncate(&v.to_string(), 60))
                            }
                        };
                        return deny(
                            DenyKind::InvalidAmount,
                            &format!("{}/increment_from", limit.pointer),
                            format!(
                                "{} must be a non-negative number to count against counter {} ({got})",
                                path.text,
                                quoted(&limit.counter)
                            ),
                        );
                    }
                },
            };
            let key = limit.key(&call.scope);
            let duplicate = limits
                .iter()
                .any(|r| r.key == key && r.window_secs == limit.window_secs && r.max == limit.max);
            if duplicate {
                continue;
            }
            limits.push(LimitRequest {
                rule: limit.pointer.clone(),
                counter: limit.counter.clone(),
                key,
                scope: limit.scope,
                window_secs: limit.window_secs,
                max: limit.max,
                amount,
                increment_from: limit.increment_from.as_ref().map(|p| p.text.clone()),
                reason: reason.cloned(),
            });
        }
        Verdict::Allow(Allowed {
            rule: pointer.to_owned(),
            limits,
        })
    }
}

fn deny(kind: DenyKind, rule: &str, reason: String) -> Verdict {
    Verdict::Deny(Denial {
        kind,
        rule: rule.to_owned(),
        reason,
    })
}

/// The condition's reason, else the rule's, else the generated text.
fn pick(cond: Option<&String>, rule: &Rule, generated: impl FnOnce() -> String) -> String {
    cond.or(rule.reason.as_ref())
        .cloned()
        .unwrap_or_else(generated)
}

/// An evaluation error always says the type was wrong; a written reason
/// comes first when there is one.
fn with_custom(cond: Option<&String>, rule: &Rule, why: String) -> String {
    match cond.or(rule.reason.as_ref()) {
        Some(r) => format!("{r} ({why})"),
        None => why,
    }
}

fn quoted(tool: &str) -> String {
    Value::from(condition::truncate(tool, 80)).to_string()
}
