//! The guard: where a `tools/call` meets the policy and the counters, and where a `tools/list`
//! result is filtered. Both go through [`Policy`]'s one decision function, so a tool is listed
//! exactly when a call to it could get past the listing steps.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use warden_policy::{Allowed, Call, LimitRequest, Policy, Scope, Verdict};
use warden_protocol::{
    Decision, Era, ErrorCode, denial_result, error_response, input_required_result,
    unknown_tool_result,
};
use warden_store::{
    Approval as Stored, ApprovalStatus, AuditEntry, ClaimKey, CounterStore, LimitCheck,
    Reservation, ReserveOutcome,
};

use crate::approvals::{
    Answer, AnswerError, Answerer, Approvals, INPUT_KEY, NewRequest, SealedState,
};
use crate::audit::{AuditFailure, AuditLog};
use crate::clock::Clock;
use crate::definitions::Definitions;
use crate::relay::Reply;

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
    /// Hold it until its approval is answered: run [`Guard::hold`] off the caller's task.
    Hold(Box<Held>),
}

/// How the human at the client can be asked to approve a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Asking {
    /// Not at all (the client declared no elicitation capability).
    #[default]
    No,
    /// With an `elicitation/create` request of the gateway's own (handshake era).
    Elicit,
    /// With an `input_required` result (2026-07-28).
    InputRequired,
}

/// What the gateway knows of the client behind a call, for approvals.
#[derive(Debug, Clone, Default)]
pub struct ClientSide {
    /// How its user can be asked.
    pub asking: Asking,
    /// A retry carrying a `requestState` this gateway issued, and the answer the client gave
    /// under [`INPUT_KEY`] (`None` when it sent none).
    pub resume: Option<(String, Option<Value>)>,
}

/// Asks the client's user: sends an `elicitation/create` with the given params and resolves
/// to the client's result, or why there is none.
pub type Elicit = Box<dyn FnOnce(Value) -> BoxFuture<'static, Result<Value, String>> + Send>;

/// A held call's way back to its client while it waits.
pub struct ClientLine {
    /// Where the answer, progress and questions go.
    pub reply: Reply,
    /// The client's `progressToken`, if it sent one: progress notifications keep it from
    /// timing out while the call waits.
    pub progress_token: Option<Value>,
    /// Sends an `elicitation/create` with these params to the client and resolves to its
    /// result (or why there is none). `None` when the client cannot be asked this way.
    pub elicit: Option<Elicit>,
    /// Cancelled when the client cancels the call.
    pub cancel: CancellationToken,
}

impl std::fmt::Debug for ClientLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientLine")
            .field("progress_token", &self.progress_token)
            .field("elicit", &self.elicit.is_some())
            .finish_non_exhaustive()
    }
}

/// A call waiting for its approval.
#[derive(Debug)]
pub struct Held {
    id: String,
    era: Era,
    grant: String,
    tool: String,
    digest: String,
    session: String,
    verdict: warden_policy::Approval,
    request: Stored,
    entry: AuditEntry,
    started: tokio::time::Instant,
    approvals: Arc<Approvals>,
}

impl Held {
    /// The approval's id.
    pub fn approval_id(&self) -> &str {
        &self.request.request.id
    }
}

/// How often a held call tells its client it is still waiting.
const HOLD_PROGRESS: std::time::Duration = std::time::Duration::from_secs(5);

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
    approvals: Option<Arc<Approvals>>,
    definitions: Option<Arc<Definitions>>,
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
            approvals: None,
            definitions: None,
        }
    }

    /// Holds calls that need approval in `approvals` (without, such calls are denied).
    pub fn with_approvals(mut self, approvals: Arc<Approvals>) -> Self {
        self.approvals = Some(approvals);
        self
    }

    /// Checks the server's tool definitions (pins, lint) through `definitions`, shared by
    /// every guard of the server.
    pub fn with_definitions(mut self, definitions: Arc<Definitions>) -> Self {
        self.definitions = Some(definitions);
        self
    }

    /// The server's definitions, if this guard checks them.
    pub fn definitions(&self) -> Option<&Arc<Definitions>> {
        self.definitions.as_ref()
    }

    /// The policy in force now.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.current()
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
    /// ends ([`Ticket::finish`]). A call that needs approval is asked for (see
    /// docs/approvals.md): answered at once (`async`, or an `input_required` question), or
    /// returned as [`CallOutcome::Hold`].
    #[allow(clippy::too_many_arguments)]
    pub async fn check_call(
        &self,
        id: &str,
        era: Era,
        tool: &str,
        arguments: &Value,
        who: &Principal,
        session: &str,
        client: &ClientSide,
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
                return CallOutcome::Answer(
                    self.refuse(entry, started, id, era, &d.rule, &d.reason)
                        .await,
                );
            }
            Verdict::Approve(a) => {
                let call = CallRef {
                    id,
                    era,
                    tool,
                    arguments,
                    who,
                    session,
                };
                return self
                    .approval(&policy, a, call, client, entry, started)
                    .await;
            }
            Verdict::Allow(allowed) => allowed,
        };
        if let Some(text) = self.closed_log(&mut entry, id, era, &allowed.rule) {
            return CallOutcome::Answer(text);
        }
        match self.reserve(&entry, started, id, era, tool, &allowed).await {
            Ok(reservation) => CallOutcome::Forward(self.ticket(
                tool,
                entry,
                "allow",
                &allowed.rule,
                reservation,
                started,
            )),
            Err(text) => CallOutcome::Answer(text),
        }
    }

    /// Fail closed while the audit log cannot be written: the denial, if it must be given.
    fn closed_log(&self, entry: &mut AuditEntry, id: &str, era: Era, rule: &str) -> Option<String> {
        let (log, _) = self.audit.as_ref()?;
        if log.accepting() {
            return None;
        }
        let reason = "the gateway's audit log cannot be written right now, so calls are denied (fail closed); try again shortly";
        let text = deny(id, era, "deny", rule, reason, None);
        let mut entry = std::mem::take(entry);
        entry.decision = Some("deny".into());
        entry.rule = Some(rule.to_owned());
        entry.reason = Some(reason.into());
        log.record_nowait(entry);
        Some(text)
    }

    /// Reserves the limits of an allowed call, atomically. `Err` is the answer refusing it
    /// (already recorded): a limit without room, or a store error (fail closed).
    async fn reserve(
        &self,
        entry: &AuditEntry,
        started: tokio::time::Instant,
        id: &str,
        era: Era,
        tool: &str,
        allowed: &Allowed,
    ) -> Result<Option<(Reservation, Arc<dyn CounterStore>)>, String> {
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
            return Ok(None);
        }
        match self.store.reserve(&checks, self.clock.now_ms()).await {
            Ok(ReserveOutcome::Reserved(r)) => Ok(Some((r, self.store.clone()))),
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
                Err(self
                    .answer(
                        entry.clone(),
                        started,
                        "rate_limited",
                        &limit.rule,
                        &reason,
                        text,
                    )
                    .await)
            }
            Err(e) => {
                tracing::error!(error = %e, tool, "counter store failed; denying (fail closed)");
                let reason = "the gateway could not check this tool's limits (state store error), so the call is denied; try again shortly";
                Err(self
                    .refuse(entry.clone(), started, id, era, &allowed.rule, reason)
                    .await)
            }
        }
    }

    fn ticket(
        &self,
        tool: &str,
        mut entry: AuditEntry,
        decision: &str,
        rule: &str,
        reservation: Option<(Reservation, Arc<dyn CounterStore>)>,
        started: tokio::time::Instant,
    ) -> Ticket {
        entry.decision = Some(decision.into());
        entry.rule = Some(rule.to_owned());
        Ticket {
            tool: tool.to_owned(),
            reservation,
            record: self
                .audit
                .as_ref()
                .map(|(log, _)| Box::new((entry, log.clone()))),
            started,
        }
    }

    /// Step 7 of the evaluation: the call needs approval.
    async fn approval(
        &self,
        policy: &Policy,
        verdict: warden_policy::Approval,
        call: CallRef<'_>,
        client: &ClientSide,
        mut entry: AuditEntry,
        started: tokio::time::Instant,
    ) -> CallOutcome {
        let CallRef {
            id,
            era,
            tool,
            arguments,
            who,
            session,
        } = call;
        let Some(approvals) = self.approvals.clone() else {
            let reason = format!(
                "{} — this gateway keeps no approval inbox, so calls that need approval are denied",
                verdict.reason
            );
            return CallOutcome::Answer(
                self.refuse(entry, started, id, era, &verdict.rule, &reason)
                    .await,
            );
        };
        if let Some(text) = self.closed_log(&mut entry, id, era, &verdict.rule) {
            return CallOutcome::Answer(text);
        }
        let digest = warden_protocol::arguments_digest(arguments);
        let key = ClaimKey {
            grant: &who.grant,
            tool,
            digest: &digest,
        };
        let store_failed = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, tool, "approval store failed; denying (fail closed)");
            "the gateway could not read or write its approvals (state store error), so the call is denied; try again shortly".to_owned()
        };

        // A retry answering this gateway's question.
        if let Some((state, answer)) = &client.resume {
            let opened = approvals.sealer().open(state, key);
            let sealed = match opened {
                Ok(s) => s,
                Err(e) => {
                    let reason = e.to_string();
                    entry.detail = Some(json!({"request_state": "refused"}).to_string());
                    let text = error_response(Some(id), ErrorCode::InvalidParams, &reason, None);
                    return CallOutcome::Answer(
                        self.answer(entry, started, "deny", &verdict.rule, &reason, text)
                            .await,
                    );
                }
            };
            // An answer that comes after the deadline is not taken: the approval decides
            // as it stands (approved by someone else meanwhile, or expired).
            let answer = answer
                .as_ref()
                .filter(|_| approvals.now_ms() < sealed.expires_ms);
            return self
                .resumed(
                    &approvals, verdict, call, client, sealed, answer, key, entry, started,
                )
                .await;
        }

        // A standing approval covers identical calls (`valid_for`), or the retry of an
        // `async` call that has been approved. Limits first, so a call refused by them does
        // not use the approval up.
        let reservation = match self
            .reserve(&entry, started, id, era, tool, &verdict.then)
            .await
        {
            Ok(r) => r,
            Err(text) => return CallOutcome::Answer(text),
        };
        match approvals.claim(key, None, session, id).await {
            Ok(Some(a)) => {
                entry.detail = Some(json!({"approval": a.request.id}).to_string());
                return CallOutcome::Forward(self.ticket(
                    tool,
                    entry,
                    "approved",
                    &verdict.rule,
                    reservation,
                    started,
                ));
            }
            Ok(None) => release(reservation).await,
            Err(e) => {
                release(reservation).await;
                let reason = store_failed(&e);
                return CallOutcome::Answer(
                    self.refuse(entry, started, id, era, &verdict.rule, &reason)
                        .await,
                );
            }
        }

        // A new request.
        let capture = policy.audit_capture(tool);
        let shown = warden_policy::redact(arguments, capture.redact);
        let server = self.server_name();
        let request = approvals
            .request(NewRequest {
                verdict: &verdict,
                identity: &who.identity,
                grant: &who.grant,
                server: &server,
                session,
                tool,
                digest: &digest,
                shown_arguments: &shown,
            })
            .await;
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                let reason = store_failed(&e);
                return CallOutcome::Answer(
                    self.refuse(entry, started, id, era, &verdict.rule, &reason)
                        .await,
                );
            }
        };
        let approval_id = request.request.id.clone();
        entry.detail = Some(json!({"approval": approval_id}).to_string());
        let settings = &verdict.settings;
        if client.asking == Asking::InputRequired && settings.asks_user() {
            let state = approvals.sealer().seal(&SealedState {
                approval: approval_id.clone(),
                grant: who.grant.clone(),
                tool: tool.to_owned(),
                digest: digest.clone(),
                expires_ms: request.request.expires_ms,
            });
            return CallOutcome::Answer(
                self.ask_user(entry, started, id, &verdict, &request, &state)
                    .await,
            );
        }
        if settings.mode == warden_policy::ApprovalMode::Async {
            let reason = format!(
                "{}. Approval {approval_id} is pending: an approver can answer it with `warden approvals approve {approval_id}`; once it is approved, call this tool again with exactly the same arguments (it expires at {})",
                verdict.reason,
                crate::approvals::rfc3339(request.request.expires_ms)
            );
            return CallOutcome::Answer(
                self.about_approval(
                    entry,
                    started,
                    id,
                    era,
                    "approval_required",
                    &verdict.rule,
                    &reason,
                    &approval_id,
                )
                .await,
            );
        }
        CallOutcome::Hold(Box::new(Held {
            id: id.to_owned(),
            era,
            grant: who.grant.clone(),
            tool: tool.to_owned(),
            digest,
            session: session.to_owned(),
            verdict,
            request,
            entry,
            started,
            approvals,
        }))
    }

    /// A retry carrying a `requestState` this gateway issued (already opened and checked
    /// against the call): take the client's answer, then go by where the approval stands.
    #[allow(clippy::too_many_arguments)]
    async fn resumed(
        &self,
        approvals: &Arc<Approvals>,
        verdict: warden_policy::Approval,
        call: CallRef<'_>,
        client: &ClientSide,
        sealed: SealedState,
        answer: Option<&Value>,
        key: ClaimKey<'_>,
        mut entry: AuditEntry,
        started: tokio::time::Instant,
    ) -> CallOutcome {
        let CallRef {
            id, era, session, ..
        } = call;
        let approval_id = sealed.approval.clone();
        entry.detail = Some(json!({"approval": approval_id}).to_string());
        if let Some(answer) = answer {
            let (approve, comment) = elicit_answer(answer);
            let given = approvals
                .answer(
                    &approval_id,
                    &Answer {
                        approve,
                        by: Answerer::User,
                        comment,
                        valid_for: None,
                    },
                )
                .await;
            match given {
                Ok(_) | Err(AnswerError::AlreadyDecided { .. }) => {}
                Err(e) => {
                    let reason = e.to_string();
                    return CallOutcome::Answer(
                        self.refuse(entry, started, id, era, &verdict.rule, &reason)
                            .await,
                    );
                }
            }
        }
        let current = match approvals.store().get(&approval_id).await {
            Ok(Some(a)) => a,
            Ok(None) | Err(_) => {
                let reason = format!(
                    "approval {approval_id} could not be read; call the tool again without requestState"
                );
                return CallOutcome::Answer(
                    self.refuse(entry, started, id, era, &verdict.rule, &reason)
                        .await,
                );
            }
        };
        match current.status_at(approvals.now_ms()) {
            ApprovalStatus::Approved => {
                let at = Place { id, era, session };
                let claimed = self
                    .claim_approved(approvals, key, &approval_id, at, &verdict, entry, started)
                    .await;
                match claimed {
                    Ok(outcome) => outcome,
                    Err(entry) => {
                        let reason = format!(
                            "requestState was already used: approval {approval_id} covered one call; call the tool again without it to ask again"
                        );
                        let text =
                            error_response(Some(id), ErrorCode::InvalidParams, &reason, None);
                        CallOutcome::Answer(
                            self.answer(entry, started, "deny", &verdict.rule, &reason, text)
                                .await,
                        )
                    }
                }
            }
            ApprovalStatus::Pending => {
                // No answer yet: ask again with the same question.
                if client.asking == Asking::InputRequired {
                    let state = approvals.sealer().seal(&sealed);
                    return CallOutcome::Answer(
                        self.ask_user(entry, started, id, &verdict, &current, &state)
                            .await,
                    );
                }
                let reason = format!(
                    "{}. Approval {approval_id} is still pending",
                    verdict.reason
                );
                CallOutcome::Answer(
                    self.about_approval(
                        entry,
                        started,
                        id,
                        era,
                        "approval_required",
                        &verdict.rule,
                        &reason,
                        &approval_id,
                    )
                    .await,
                )
            }
            status => {
                let text = self
                    .refused(entry, started, id, era, &verdict.rule, &current, status)
                    .await;
                CallOutcome::Answer(text)
            }
        }
    }

    /// The answer to a call whose approval was denied or expired, recorded as `rejected` or
    /// `expired`.
    #[allow(clippy::too_many_arguments)]
    async fn refused(
        &self,
        entry: AuditEntry,
        started: tokio::time::Instant,
        id: &str,
        era: Era,
        rule: &str,
        a: &Stored,
        status: ApprovalStatus,
    ) -> String {
        let approval_id = a.request.id.as_str();
        let (decision, reason) = if status == ApprovalStatus::Denied {
            let by = a.decided_by.as_deref().unwrap_or("an approver");
            let reason = match a.comment.as_deref().filter(|c| !c.trim().is_empty()) {
                Some(c) => format!("approval {approval_id} was denied by {by}: {c}"),
                None => format!("approval {approval_id} was denied by {by}"),
            };
            ("rejected", reason)
        } else {
            let waited = a.request.expires_ms.saturating_sub(a.request.created_ms);
            (
                "expired",
                format!(
                    "approval {approval_id} expired: nobody answered within {}",
                    human_ms(waited)
                ),
            )
        };
        self.about_approval(
            entry,
            started,
            id,
            era,
            decision,
            rule,
            &reason,
            approval_id,
        )
        .await
    }

    /// Waits for a held call's approval while keeping its client informed, asking the user
    /// through `line.elicit` when the rule lets the user answer. Returns what to do with the
    /// call: forward it, or answer it; `None` when the client cancelled or went away (the call
    /// is recorded as cancelled; the request stays in the inbox until answered or expired).
    pub async fn hold(&self, held: Held, line: ClientLine) -> Option<CallOutcome> {
        let Held {
            id,
            era,
            grant,
            tool,
            digest,
            session,
            verdict,
            request,
            mut entry,
            started,
            approvals,
        } = held;
        let approval_id = request.request.id.clone();
        let expires_ms = request.request.expires_ms;
        let mut rx = approvals.subscribe(&approval_id, expires_ms);
        let mut asking: Option<BoxFuture<'static, Result<Value, String>>> = match line.elicit {
            Some(elicit) if verdict.settings.asks_user() => {
                Some(elicit(elicitation_params(&request)))
            }
            _ => None,
        };
        let until_deadline =
            std::time::Duration::from_millis(expires_ms.saturating_sub(approvals.now_ms()));
        let deadline = tokio::time::Instant::now() + until_deadline;
        let mut ticks = tokio::time::interval(HOLD_PROGRESS);
        let mut progress = 0u64;
        let outcome: Stored = loop {
            if let Some(a) = rx.borrow_and_update().clone() {
                break a;
            }
            tokio::select! {
                _ = line.cancel.cancelled() => {
                    entry.decision = Some("approval_required".into());
                    entry.rule = Some(verdict.rule.clone());
                    entry.outcome = Some("cancelled".into());
                    self.record_quietly(entry, started).await;
                    return None;
                }
                _ = line.reply.closed() => {
                    entry.decision = Some("approval_required".into());
                    entry.rule = Some(verdict.rule.clone());
                    entry.outcome = Some("cancelled".into());
                    self.record_quietly(entry, started).await;
                    return None;
                }
                answer = async { asking.as_mut().expect("guarded by the branch condition").await }, if asking.is_some() => {
                    asking = None;
                    match answer {
                        Ok(result) => {
                            let (approve, comment) = elicit_answer(&result);
                            let given = approvals.answer(&approval_id, &Answer { approve, by: Answerer::User, comment, valid_for: None }).await;
                            match given {
                                Ok(a) => break a,
                                Err(e) => tracing::info!(error = %e, "the user's answer was not taken"),
                            }
                        }
                        // The client could not ask (an error, or no such capability after
                        // all): keep waiting for the other approvers.
                        Err(why) => tracing::info!(error = %why, approval = %approval_id, "the client did not answer the approval question"),
                    }
                }
                changed = rx.changed() => {
                    if changed.is_err() {
                        // Nobody watches any more (should not happen): read the store.
                        match approvals.store().get(&approval_id).await {
                            Ok(Some(a)) if a.status != ApprovalStatus::Pending => break a,
                            _ => tokio::time::sleep(crate::approvals::POLL).await,
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if let Err(e) = approvals.sweep().await {
                        tracing::warn!(error = %e, "could not expire approvals");
                    }
                    match approvals.store().get(&approval_id).await {
                        Ok(Some(a)) if a.status != ApprovalStatus::Pending => break a,
                        _ => tokio::time::sleep(crate::approvals::POLL).await,
                    }
                }
                _ = ticks.tick() => {
                    if let Some(token) = &line.progress_token {
                        progress += 1;
                        let left = expires_ms.saturating_sub(approvals.now_ms());
                        let note = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {
                            "progressToken": token,
                            "progress": progress,
                            "message": format!("waiting for approval {approval_id} (expires in {})", human_ms(left)),
                        }});
                        let _ = line.reply.send(note.to_string()).await;
                    }
                }
            }
        };
        match outcome.status {
            ApprovalStatus::Approved => {
                let key = ClaimKey {
                    grant: &grant,
                    tool: &tool,
                    digest: &digest,
                };
                let at = Place {
                    id: &id,
                    era,
                    session: &session,
                };
                let claimed = self
                    .claim_approved(&approvals, key, &approval_id, at, &verdict, entry, started)
                    .await;
                Some(match claimed {
                    Ok(outcome) => outcome,
                    Err(entry) => {
                        let reason = format!(
                            "approval {approval_id} was approved but already used by an identical call; call again to ask anew"
                        );
                        CallOutcome::Answer(
                            self.refuse(entry, started, &id, era, &verdict.rule, &reason)
                                .await,
                        )
                    }
                })
            }
            status => Some(CallOutcome::Answer(
                self.refused(entry, started, &id, era, &verdict.rule, &outcome, status)
                    .await,
            )),
        }
    }

    /// An approved call goes on: its limits reserved, then its approval claimed. `Err` gives
    /// the record back when the approval could not be claimed (used up by an identical call,
    /// or the store failed); the caller says so. A limit without room answers as usual.
    #[allow(clippy::too_many_arguments)]
    async fn claim_approved(
        &self,
        approvals: &Approvals,
        key: ClaimKey<'_>,
        approval_id: &str,
        at: Place<'_>,
        verdict: &warden_policy::Approval,
        entry: AuditEntry,
        started: tokio::time::Instant,
    ) -> Result<CallOutcome, AuditEntry> {
        let reservation = match self
            .reserve(&entry, started, at.id, at.era, key.tool, &verdict.then)
            .await
        {
            Ok(r) => r,
            Err(text) => return Ok(CallOutcome::Answer(text)),
        };
        match approvals
            .claim(key, Some(approval_id), at.session, at.id)
            .await
        {
            Ok(Some(_)) => Ok(CallOutcome::Forward(self.ticket(
                key.tool,
                entry,
                "approved",
                &verdict.rule,
                reservation,
                started,
            ))),
            other => {
                release(reservation).await;
                if let Err(e) = other {
                    tracing::error!(error = %e, approval = approval_id, "approval store failed while claiming");
                }
                Err(entry)
            }
        }
    }

    /// Answers a call with a denial about its approval (`approval_required`, `rejected`,
    /// `expired`), naming the approval, recorded before the answer is given.
    #[allow(clippy::too_many_arguments)]
    async fn about_approval(
        &self,
        entry: AuditEntry,
        started: tokio::time::Instant,
        id: &str,
        era: Era,
        decision: &str,
        rule: &str,
        reason: &str,
        approval_id: &str,
    ) -> String {
        let text = denial_result(
            id,
            era,
            &Decision {
                decision,
                rule,
                reason,
                retry_after_ms: None,
                approval_id: Some(approval_id),
            },
        );
        self.answer(entry, started, decision, rule, reason, text)
            .await
    }

    /// Answers a 2026-07-28 call with the question for its user (`input_required`, carrying
    /// the sealed `state`), recorded as `approval_required`.
    async fn ask_user(
        &self,
        entry: AuditEntry,
        started: tokio::time::Instant,
        id: &str,
        verdict: &warden_policy::Approval,
        request: &Stored,
        state: &str,
    ) -> String {
        let text = input_required(id, request, state);
        let rule = &verdict.rule;
        self.answer(
            entry,
            started,
            "approval_required",
            rule,
            &verdict.reason,
            text,
        )
        .await
    }

    /// Refuses a call with decision `deny`, recorded before the answer is given.
    async fn refuse(
        &self,
        entry: AuditEntry,
        started: tokio::time::Instant,
        id: &str,
        era: Era,
        rule: &str,
        reason: &str,
    ) -> String {
        let text = deny(id, era, "deny", rule, reason, None);
        self.answer(entry, started, "deny", rule, reason, text)
            .await
    }

    async fn record_quietly(&self, mut entry: AuditEntry, started: tokio::time::Instant) {
        if let Some((log, _)) = &self.audit {
            entry.latency_us = Some(started.elapsed().as_micros() as u64);
            let _ = log.record(entry).await;
        }
    }

    /// The server this guard's calls go to, as the audit log names it.
    fn server_name(&self) -> String {
        self.audit
            .as_ref()
            .map_or_else(|| "upstream".to_owned(), |(_, s)| s.to_string())
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

    /// Denies a call because of its tool's definition (pending approval under
    /// `pinning: "enforce"`, or not checkable), recording it with rule `/pinning`.
    #[allow(clippy::too_many_arguments)]
    pub async fn deny_definition(
        &self,
        id: &str,
        era: Era,
        tool: &str,
        arguments: &Value,
        who: &Principal,
        session: &str,
        reason: &str,
    ) -> String {
        let started = tokio::time::Instant::now();
        let entry = self.entry(&self.policy.current(), id, tool, arguments, who, session);
        let rule = crate::definitions::PINNING_RULE;
        self.refuse(entry, started, id, era, rule, reason).await
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
        let defs = self.definitions.as_deref();
        warden_protocol::filter_tools_list(raw, result, |name| {
            policy.is_listed(name) && defs.is_none_or(|d| d.listed(&policy, name))
        })
    }
}

/// The parts of a call the approval steps need.
#[derive(Debug, Clone, Copy)]
struct CallRef<'a> {
    id: &'a str,
    era: Era,
    tool: &'a str,
    arguments: &'a Value,
    who: &'a Principal,
    session: &'a str,
}

/// Where a call's answer goes: its id, era and session.
#[derive(Debug, Clone, Copy)]
struct Place<'a> {
    id: &'a str,
    era: Era,
    session: &'a str,
}

/// Gives back a reservation the call will not use.
async fn release(reservation: Option<(Reservation, Arc<dyn CounterStore>)>) {
    if let Some((r, store)) = reservation
        && let Err(e) = store.rollback(&r).await
    {
        tracing::warn!(error = %e, "could not roll back a reservation");
    }
}

/// Reads an elicitation result: approve on `accept`, deny on `decline` or `cancel` (or
/// anything else); the `comment` field of the content, if any.
fn elicit_answer(result: &Value) -> (bool, Option<String>) {
    let approve = result.get("action").and_then(Value::as_str) == Some("accept");
    let comment = result
        .pointer("/content/comment")
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty())
        .map(str::to_owned)
        .or_else(|| match result.get("action").and_then(Value::as_str) {
            Some("cancel") => Some("the user dismissed the question".to_owned()),
            _ => None,
        });
    (approve, comment)
}

/// What the human at the client is shown: the server, the tool, the arguments and the rule.
pub(crate) fn elicitation_params(a: &Stored) -> Value {
    let r = &a.request;
    let mut args = r.arguments.clone();
    if args.len() > 2000 {
        let mut cut = 2000;
        while !args.is_char_boundary(cut) {
            cut -= 1;
        }
        args.truncate(cut);
        args.push('…');
    }
    let message = format!(
        "Approve this tool call?

Server: {}
Tool: {}
Arguments: {}
Rule: {} ({})

Accept to approve it, decline to deny it. Approval {} expires at {}.",
        crate::text::printable(&r.server),
        crate::text::printable(&r.tool),
        args,
        r.rule,
        r.reason,
        r.id,
        crate::approvals::rfc3339(r.expires_ms)
    );
    json!({
        "message": message,
        "requestedSchema": {
            "type": "object",
            "properties": {
                "comment": {"type": "string", "title": "Comment", "description": "Optional: why (kept in the audit log)"}
            }
        }
    })
}

/// The 2026-07-28 question: an `input_required` result asking the user, with the sealed state.
fn input_required(id: &str, a: &Stored, state: &str) -> String {
    let mut params = elicitation_params(a);
    params["mode"] = "form".into();
    let requests = json!({INPUT_KEY: {"method": "elicitation/create", "params": params}});
    input_required_result(id, &requests, state)
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
            approval_id: None,
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
