//! The guard: where a `tools/call` meets the policy and the counters, and where a `tools/list`
//! result is filtered. Both go through [`Policy`]'s one decision function, so a tool is listed
//! exactly when a call to it could get past the listing steps.

use std::sync::Arc;

use serde_json::Value;
use warden_policy::{Call, LimitRequest, Policy, Scope, Verdict};
use warden_protocol::{Decision, Era, denial_result, unknown_tool_result};
use warden_store::{CounterStore, LimitCheck, Reservation, ReserveOutcome};

use crate::clock::Clock;

/// Who is calling: the identity and grant the counters are keyed by. `warden run` has one
/// local identity with one grant; the team gateway fills these from credentials.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Identity name (`identity.name` in conditions).
    pub identity: String,
    /// Grant id: the identity's access to this server under this policy.
    pub grant: String,
    /// Identity attributes readable by conditions as `identity.<path>`.
    pub attributes: Value,
}

impl Principal {
    /// The single local principal of `warden run`: identity `local`, grant `local`.
    pub fn local() -> Self {
        Principal {
            identity: "local".into(),
            grant: "local".into(),
            attributes: serde_json::json!({"name": "local"}),
        }
    }
}

/// What to do with a `tools/call`.
#[derive(Debug)]
pub enum CallOutcome {
    /// Forward it; settle the ticket when the upstream answers.
    Forward(Ticket),
    /// Answer the client with this message (a denial or an unknown-tool result); forward nothing.
    Answer(String),
}

/// A call on its way upstream: what must be committed or rolled back when it ends. It carries
/// its own store, so it is settled against the counters it reserved in even if the policy or
/// the configuration changed meanwhile.
#[derive(Debug)]
pub struct Ticket {
    /// The tool called.
    pub tool: String,
    reservation: Option<(Reservation, Arc<dyn CounterStore>)>,
}

impl Ticket {
    /// Ends the call: keeps or rolls back its reservation.
    pub async fn settle(self, how: Settlement) {
        if let (Some((r, store)), Settlement::Failed) = (&self.reservation, how)
            && let Err(e) = store.rollback(r).await
        {
            tracing::warn!(error = %e, tool = %self.tool, "could not roll back a failed call's reservation");
        }
    }
}

/// Where a guard gets its policy, read once per decision: a reload swaps what this returns,
/// and a call decided under the old version finishes under it.
pub trait PolicySource: Send + Sync + std::fmt::Debug {
    /// The policy in force now.
    fn current(&self) -> Arc<Policy>;
}

impl PolicySource for Arc<Policy> {
    fn current(&self) -> Arc<Policy> {
        self.clone()
    }
}

/// How the upstream's part of a call ended, for settling its reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// The upstream answered with a result that is not `isError`: the reservation stands.
    Succeeded,
    /// The upstream answered with a JSON-RPC error or an `isError` result, or the request never
    /// reached it: the reservation is rolled back, so failed calls do not use up quota.
    Failed,
    /// The outcome is unknown (the upstream died after receiving the call, or the client
    /// cancelled): the call may have acted, so the reservation stands.
    Unknown,
}

/// Policy, counters and the clock: what decides the calls of one grant.
#[derive(Debug)]
pub struct Guard {
    policy: Arc<dyn PolicySource>,
    store: Arc<dyn CounterStore>,
    clock: Arc<dyn Clock>,
}

impl Guard {
    /// A guard reading its policy from `policy`, with counters in `store`.
    pub fn new(
        policy: Arc<dyn PolicySource>,
        store: Arc<dyn CounterStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Guard {
            policy,
            store,
            clock,
        }
    }

    /// A guard over one fixed policy (`warden run`).
    pub fn fixed(policy: Policy, store: Arc<dyn CounterStore>, clock: Arc<dyn Clock>) -> Self {
        Guard::new(Arc::new(Arc::new(policy)), store, clock)
    }

    /// Decides a `tools/call` (the evaluation order is the policy crate's; limits are reserved
    /// here, atomically, in the counter store). `id` is the client's raw request id, used for
    /// the answer. Any error on this path denies: fail closed.
    pub async fn check_call(
        &self,
        id: &str,
        era: Era,
        tool: &str,
        arguments: &Value,
        who: &Principal,
        session: &str,
    ) -> CallOutcome {
        let call = Call {
            tool,
            arguments,
            identity: &who.attributes,
            scope: Scope {
                grant: &who.grant,
                identity: &who.identity,
                session,
            },
        };
        let policy = self.policy.current();
        let allowed = match policy.evaluate(&call) {
            Verdict::Unknown => return CallOutcome::Answer(unknown_tool_result(id, era, tool)),
            Verdict::Deny(d) => {
                return CallOutcome::Answer(deny(id, era, "deny", &d.rule, &d.reason, None));
            }
            Verdict::Approve(a) => {
                // Approvals are not built yet: an approval rule holds nothing and denies, saying so.
                let reason = format!(
                    "{} — approval is required for this call, and this gateway cannot take approvals yet, so it is denied",
                    a.reason
                );
                return CallOutcome::Answer(deny(
                    id,
                    era,
                    "approval_required",
                    &a.rule,
                    &reason,
                    None,
                ));
            }
            Verdict::Allow(allowed) => allowed,
        };
        let checks: Vec<LimitCheck> = allowed
            .limits
            .iter()
            .map(|l| LimitCheck {
                key: l.key.clone(),
                window_ms: l.window_secs.saturating_mul(1000),
                max: l.max,
                amount: l.amount,
            })
            .collect();
        if checks.is_empty() {
            return CallOutcome::Forward(Ticket {
                tool: tool.to_owned(),
                reservation: None,
            });
        }
        match self.store.reserve(&checks, self.clock.now_ms()).await {
            Ok(ReserveOutcome::Reserved(r)) => CallOutcome::Forward(Ticket {
                tool: tool.to_owned(),
                reservation: Some((r, self.store.clone())),
            }),
            Ok(ReserveOutcome::Exceeded {
                index,
                retry_after_ms,
                ..
            }) => {
                let limit = &allowed.limits[index];
                let reason = limit_reason(tool, limit, retry_after_ms);
                CallOutcome::Answer(deny(
                    id,
                    era,
                    "rate_limited",
                    &limit.rule,
                    &reason,
                    retry_after_ms,
                ))
            }
            Err(e) => {
                tracing::error!(error = %e, tool, "counter store failed; denying (fail closed)");
                CallOutcome::Answer(deny(
                    id,
                    era,
                    "deny",
                    &allowed.rule,
                    "the gateway could not check this tool's limits (state store error), so the call is denied; try again shortly",
                    None,
                ))
            }
        }
    }

    /// Filters a `tools/list` response with the same evaluation that gates calls. `Ok(None)`:
    /// forward the original bytes. An unreadable list is an error: the caller fails closed.
    pub fn filter_list(
        &self,
        raw: &str,
        result: &serde_json::value::RawValue,
    ) -> Result<Option<String>, String> {
        let policy = self.policy.current();
        warden_protocol::filter_tools_list(raw, result, |name| policy.is_listed(name))
    }
}

fn deny(
    id: &str,
    era: Era,
    decision: &str,
    rule: &str,
    reason: &str,
    retry: Option<u64>,
) -> String {
    denial_result(
        id,
        era,
        &Decision {
            decision,
            rule,
            reason,
            retry_after_ms: retry,
        },
    )
}

fn limit_reason(tool: &str, limit: &LimitRequest, retry_after_ms: Option<u64>) -> String {
    let base = match &limit.reason {
        Some(r) => format!("{r} (limit reached: {})", limit.describe()),
        None => format!("rate limit reached for {tool}: {}", limit.describe()),
    };
    match retry_after_ms {
        Some(ms) => format!("{base}; retry after {}", human_ms(ms)),
        None => format!("{base}; this call alone exceeds the limit and will never fit"),
    }
}

/// `1500` → `"2 s"`, `90000` → `"1 min 30 s"`: rounded up, never "0 s".
fn human_ms(ms: u64) -> String {
    let secs = ms.div_ceil(1000).max(1);
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::human_ms;

    #[test]
    fn durations_read_well() {
        assert_eq!(human_ms(1), "1 s");
        assert_eq!(human_ms(1500), "2 s");
        assert_eq!(human_ms(60_000), "1 min");
        assert_eq!(human_ms(90_000), "1 min 30 s");
        assert_eq!(human_ms(3_700_000), "1 h 1 min");
    }
}
