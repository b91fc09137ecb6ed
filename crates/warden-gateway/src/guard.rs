//! The guard: where a `tools/call` meets the policy and the counters, and where a `tools/list`
//! result is filtered. Both go through [`Policy`]'s one decision function, so a tool is listed
//! exactly when a call to it could get past the listing steps.

use std::sync::Arc;

use serde_json::Value;
use warden_policy::{Call, LimitRequest, Policy, Scope, Verdict};
use warden_protocol::{Decision, Era, denial_result, unknown_tool_result};
use warden_store::{CounterStore, LimitCheck, Reservation, ReserveOutcome};

use warden_store::AuditEntry;

use crate::audit::{AuditFailure, AuditLog};
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

/// A call on its way upstream: what must be committed or rolled back when it ends, and its
/// audit record, completed with the upstream's outcome. It carries its own store and log, so it
/// is settled against the counters it reserved in even if the policy or the configuration
/// changed meanwhile.
#[derive(Debug)]
pub struct Ticket {
    /// The tool called.
    pub tool: String,
    reservation: Option<(Reservation, Arc<dyn CounterStore>)>,
    record: Option<Box<(AuditEntry, Arc<AuditLog>)>>,
    started: tokio::time::Instant,
}

impl Ticket {
    /// Ends the call: keeps or rolls back its reservation, then records it with its outcome.
    /// `result_bytes` is the size of the upstream's answer, when there was one. Returns once
    /// the record is durable (see [`crate::audit`]); `Err` means it is not, and the answer
    /// must not be given to the client as if it were.
    pub async fn finish(
        self,
        outcome: Outcome,
        result_bytes: Option<usize>,
    ) -> Result<(), AuditFailure> {
        if let (Some((r, store)), Settlement::Failed) = (&self.reservation, outcome.settlement())
            && let Err(e) = store.rollback(r).await
        {
            tracing::warn!(error = %e, tool = %self.tool, "could not roll back a failed call's reservation");
        }
        let Some(record) = self.record else {
            return Ok(());
        };
        let (mut entry, log) = *record;
        entry.outcome = Some(outcome.as_str().to_owned());
        entry.result_bytes = result_bytes.map(|n| n as u64);
        entry.latency_us = Some(self.started.elapsed().as_micros() as u64);
        log.record(entry).await
    }
}

/// How the upstream's part of a call ended, as the audit log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A result that is not `isError`.
    Ok,
    /// A JSON-RPC error.
    Error,
    /// A result with `isError: true`.
    IsError,
    /// The request never reached the upstream (its connection was closed).
    NotSent,
    /// No answer: the upstream died or timed out after receiving it.
    NoAnswer,
    /// The client cancelled it.
    Cancelled,
}

impl Outcome {
    /// The name in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::IsError => "is_error",
            Outcome::NotSent => "not_sent",
            Outcome::NoAnswer => "no_answer",
            Outcome::Cancelled => "cancelled",
        }
    }

    fn settlement(self) -> Settlement {
        match self {
            Outcome::Ok => Settlement::Succeeded,
            Outcome::Error | Outcome::IsError | Outcome::NotSent => Settlement::Failed,
            Outcome::NoAnswer | Outcome::Cancelled => Settlement::Unknown,
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

/// What a call's outcome means for its reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settlement {
    /// The upstream answered with a result that is not `isError`: the reservation stands.
    Succeeded,
    /// The upstream answered with a JSON-RPC error or an `isError` result, or the request never
    /// reached it: the reservation is rolled back, so failed calls do not use up quota.
    Failed,
    /// The outcome is unknown (the upstream died after receiving the call, or the client
    /// cancelled): the call may have acted, so the reservation stands.
    Unknown,
}

/// Policy, counters, the clock and the audit log: what decides and records the calls of one
/// grant.
#[derive(Debug)]
pub struct Guard {
    policy: Arc<dyn PolicySource>,
    store: Arc<dyn CounterStore>,
    clock: Arc<dyn Clock>,
    audit: Option<(Arc<AuditLog>, Arc<str>)>,
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
            audit: None,
        }
    }

    /// Records every decision of this guard in `log`, as calls to `server`.
    pub fn with_audit(mut self, log: Arc<AuditLog>, server: &str) -> Self {
        self.audit = Some((log, server.into()));
        self
    }

    /// The audit log, if this guard records.
    pub fn audit(&self) -> Option<&Arc<AuditLog>> {
        self.audit.as_ref().map(|(log, _)| log)
    }

    /// A guard over one fixed policy (`warden run`).
    pub fn fixed(policy: Policy, store: Arc<dyn CounterStore>, clock: Arc<dyn Clock>) -> Self {
        Guard::new(Arc::new(Arc::new(policy)), store, clock)
    }

    /// Decides a `tools/call` (the evaluation order is the policy crate's; limits are reserved
    /// here, atomically, in the counter store) and records the decision. `id` is the client's
    /// raw request id, used for the answer. Any error on this path denies: fail closed. A
    /// denial is answered after its record is durable; an allowed call is recorded when it
    /// ends ([`Ticket::finish`]).
    pub async fn check_call(
        &self,
        id: &str,
        era: Era,
        tool: &str,
        arguments: &Value,
        who: &Principal,
        session: &str,
    ) -> CallOutcome {
        let started = tokio::time::Instant::now();
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
        let mut entry = self.entry(&policy, id, tool, arguments, who, session);
        let allowed = match policy.evaluate(&call) {
            Verdict::Unknown => {
                let text = unknown_tool_result(id, era, tool);
                return CallOutcome::Answer(
                    self.answer(entry, started, "hidden", "/hide", "", text)
                        .await,
                );
            }
            Verdict::Deny(d) => {
                let text = deny(id, era, "deny", &d.rule, &d.reason, None);
                return CallOutcome::Answer(
                    self.answer(entry, started, "deny", &d.rule, &d.reason, text)
                        .await,
                );
            }
            Verdict::Approve(a) => {
                // Approvals are not built yet: an approval rule holds nothing and denies, saying so.
                let reason = format!(
                    "{} — approval is required for this call, and this gateway cannot take approvals yet, so it is denied",
                    a.reason
                );
                let text = deny(id, era, "approval_required", &a.rule, &reason, None);
                return CallOutcome::Answer(
                    self.answer(entry, started, "approval_required", &a.rule, &reason, text)
                        .await,
                );
            }
            Verdict::Allow(allowed) => allowed,
        };
        if let Some((log, _)) = &self.audit
            && !log.accepting()
        {
            let reason = "the gateway's audit log cannot be written right now, so calls are denied (fail closed); try again shortly";
            let text = deny(id, era, "deny", &allowed.rule, reason, None);
            entry.decision = Some("deny".into());
            entry.rule = Some(allowed.rule.clone());
            entry.reason = Some(reason.into());
            log.record_nowait(entry);
            return CallOutcome::Answer(text);
        }
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
        let reservation = if checks.is_empty() {
            None
        } else {
            match self.store.reserve(&checks, self.clock.now_ms()).await {
                Ok(ReserveOutcome::Reserved(r)) => Some((r, self.store.clone())),
                Ok(ReserveOutcome::Exceeded {
                    index,
                    retry_after_ms,
                    ..
                }) => {
                    let limit = &allowed.limits[index];
                    let reason = limit_reason(tool, limit, retry_after_ms);
                    let text = deny(
                        id,
                        era,
                        "rate_limited",
                        &limit.rule,
                        &reason,
                        retry_after_ms,
                    );
                    return CallOutcome::Answer(
                        self.answer(entry, started, "rate_limited", &limit.rule, &reason, text)
                            .await,
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, tool, "counter store failed; denying (fail closed)");
                    let reason = "the gateway could not check this tool's limits (state store error), so the call is denied; try again shortly";
                    let text = deny(id, era, "deny", &allowed.rule, reason, None);
                    return CallOutcome::Answer(
                        self.answer(entry, started, "deny", &allowed.rule, reason, text)
                            .await,
                    );
                }
            }
        };
        entry.decision = Some("allow".into());
        entry.rule = Some(allowed.rule.clone());
        CallOutcome::Forward(Ticket {
            tool: tool.to_owned(),
            reservation,
            record: self
                .audit
                .as_ref()
                .map(|(log, _)| Box::new((entry, log.clone()))),
            started,
        })
    }

    /// Answers a call to a tool the upstream does not list, recording it with decision
    /// `unknown`. The answer is byte-identical to a hidden tool's.
    pub async fn unknown_tool(
        &self,
        id: &str,
        era: Era,
        tool: &str,
        arguments: &Value,
        who: &Principal,
        session: &str,
    ) -> String {
        let started = tokio::time::Instant::now();
        let entry = self.entry(&self.policy.current(), id, tool, arguments, who, session);
        let text = unknown_tool_result(id, era, tool);
        self.answer(entry, started, "unknown", "", "", text).await
    }

    /// Records an event about this guard's server (e.g. `tools_changed`), without waiting.
    pub fn record_event(&self, event: &str, detail: Value) {
        let Some((log, server)) = &self.audit else {
            return;
        };
        let mut entry = AuditEntry::event(log.now_ms(), event, &detail);
        entry.server = Some(server.to_string());
        let log = log.clone();
        tokio::spawn(async move {
            if let Err(e) = log.record(entry).await {
                tracing::error!(error = %e, "an event's audit record is not durable");
            }
        });
    }

    /// The record of a call, before its decision.
    fn entry(
        &self,
        policy: &Policy,
        id: &str,
        tool: &str,
        arguments: &Value,
        who: &Principal,
        session: &str,
    ) -> AuditEntry {
        let Some((log, server)) = &self.audit else {
            return AuditEntry::default();
        };
        // What the policy lets the log keep of the arguments: by default their names only.
        let captured = policy.audit_capture(tool).capture(arguments, log.salt());
        AuditEntry {
            time_ms: log.now_ms(),
            event: warden_store::audit::EVENT_CALL.into(),
            identity: Some(who.identity.clone()),
            grant: Some(who.grant.clone()),
            server: Some(server.to_string()),
            session: Some(session.to_owned()),
            request_id: Some(id.to_owned()),
            method: Some("tools/call".into()),
            tool: Some(tool.to_owned()),
            argument_keys: captured.keys,
            arguments: captured.values,
            ..AuditEntry::default()
        }
    }

    /// Records a decision that answers the call here, then gives the answer. A failed record
    /// does not change the answer: it is a refusal either way.
    async fn answer(
        &self,
        mut entry: AuditEntry,
        started: tokio::time::Instant,
        decision: &str,
        rule: &str,
        reason: &str,
        text: String,
    ) -> String {
        if let Some((log, _)) = &self.audit {
            entry.decision = Some(decision.to_owned());
            entry.rule = (!rule.is_empty()).then(|| rule.to_owned());
            entry.reason = (!reason.is_empty()).then(|| reason.to_owned());
            entry.latency_us = Some(started.elapsed().as_micros() as u64);
            if let Err(e) = log.record(entry).await {
                tracing::error!(error = %e, decision, "a refusal's audit record is not durable");
            }
        }
        text
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
