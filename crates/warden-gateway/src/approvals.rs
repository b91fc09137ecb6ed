//! Approvals: the inbox of held calls, who may answer them, and how an answer reaches the
//! call that waits for it.
//!
//! A call whose policy rule asks for approval becomes a pending request in the state store
//! ([`ApprovalStore`]), so it survives a restart and any gateway process (or `warden
//! approvals` in another process) can answer it. The process that made the request watches
//! it: a poller reads the pending requests every [`POLL`] and wakes the calls waiting for the
//! ones that were answered; answers given in this process wake them at once. Requests whose
//! deadline passes are expired by whoever sweeps first; each expiry is recorded once.
//!
//! Every request, answer, expiry and use of an approval is an audit event
//! (`approval_requested`, `approval_granted`, `approval_denied`, `approval_expired`,
//! `approval_used`) naming who and when.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::watch;
use warden_policy::{Approver, Webhook};
use warden_store::{
    Approval, ApprovalRequest, ApprovalStatus, ApprovalStore, AuditEntry, ClaimKey, Decided,
    Decision, StoreError,
};

use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::webhook::{WebhookEvent, WebhookKind, Webhooks};

/// How often the process re-reads the requests it watches (answers given by another
/// process reach a held call within this).
pub const POLL: Duration = Duration::from_millis(500);
/// How often requests nobody watches are swept for expiry.
const SWEEP: Duration = Duration::from_secs(30);
/// Most pending requests read per poll.
const POLL_LIMIT: usize = 10_000;
/// The prefix of a `requestState` this gateway issued.
pub const STATE_PREFIX: &str = "wdn1.";
/// The key of the question in an `input_required` result, and of its answer.
pub const INPUT_KEY: &str = "warden.approval";

/// Who answers a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answerer {
    /// The human at the calling client, through elicitation or `input_required`.
    User,
    /// Operator access: `detail` says which (`cli:<os user>`, `admin-api`).
    Operator { detail: String },
    /// An identity, authenticated by its own credential; `groups` from its attributes.
    Identity { name: String, groups: Vec<String> },
}

impl Answerer {
    /// As recorded in `decided_by` and the audit log: `user`, `operator:<detail>`, the name.
    pub fn label(&self) -> String {
        match self {
            Answerer::User => "user".into(),
            Answerer::Operator { detail } => format!("operator:{detail}"),
            Answerer::Identity { name, .. } => name.clone(),
        }
    }

    /// The `groups` attribute of an identity's attributes (a string or a list of strings).
    pub fn groups_of(attributes: &Value) -> Vec<String> {
        match attributes.get("groups") {
            Some(Value::String(g)) => vec![g.clone()],
            Some(Value::Array(gs)) => gs
                .iter()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Whether `who` may answer `request`: named among its approvers, and not the identity that
/// made the call (separation of duties). The error says why not, for the approver.
pub fn may_answer(request: &ApprovalRequest, who: &Answerer) -> Result<(), String> {
    let approvers: Vec<Approver> = request
        .approvers
        .iter()
        .map(|a| Approver::parse(a))
        .collect();
    let listed = || request.approvers.join(", ");
    match who {
        Answerer::User => {
            if approvers.contains(&Approver::User) {
                Ok(())
            } else {
                Err(format!(
                    "the user at the client may not answer approval {}; its approvers are: {}",
                    request.id,
                    listed()
                ))
            }
        }
        Answerer::Operator { .. } => {
            if approvers.contains(&Approver::Operator) {
                Ok(())
            } else {
                Err(format!(
                    "operator access may not answer approval {}; its approvers are: {} (answer with an approver's key: --key or WARDEN_APPROVER_KEY)",
                    request.id,
                    listed()
                ))
            }
        }
        Answerer::Identity { name, groups } => {
            if *name == request.identity {
                return Err(format!(
                    "{name} made this call and cannot approve it (separation of duties); another approver must answer approval {}",
                    request.id
                ));
            }
            let named = approvers.iter().any(|a| match a {
                Approver::Identity(n) => n == name,
                Approver::Group(g) => groups.contains(g),
                Approver::User | Approver::Operator => false,
            });
            if named {
                Ok(())
            } else {
                Err(format!(
                    "{name} is not an approver of approval {}; its approvers are: {}",
                    request.id,
                    listed()
                ))
            }
        }
    }
}

/// An answer to give.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Approve or deny.
    pub approve: bool,
    /// Who answers.
    pub by: Answerer,
    /// A comment for the record.
    pub comment: Option<String>,
    /// Overrides the rule's `valid_for` (`--for`): identical calls pass for this long.
    pub valid_for: Option<Duration>,
}

/// Why an answer was not taken.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// No approval has this id.
    #[error("no approval with id {0}; `warden approvals list` shows the pending ones")]
    NotFound(String),
    /// The answerer may not answer it.
    #[error("{0}")]
    NotAllowed(String),
    /// It was answered or expired already.
    #[error("approval {id} is already {status}{by}")]
    AlreadyDecided {
        /// The approval.
        id: String,
        /// What it is.
        status: ApprovalStatus,
        /// ` by <who>`, or empty.
        by: String,
    },
    /// The store failed.
    #[error("the approval store failed: {0}")]
    Store(#[from] StoreError),
}

/// Answers request `id` in `store` and records it in `audit`. Checks who may answer first.
/// This is what `warden approvals approve|deny`, the admin API and the client's own answer
/// all go through.
pub async fn answer(
    store: &dyn ApprovalStore,
    audit: Option<&AuditLog>,
    now_ms: u64,
    id: &str,
    answer: &Answer,
) -> Result<Approval, AnswerError> {
    let Some(current) = store.get(id).await? else {
        return Err(AnswerError::NotFound(id.to_owned()));
    };
    may_answer(&current.request, &answer.by).map_err(AnswerError::NotAllowed)?;
    let valid_for_ms = answer
        .valid_for
        .map_or(current.request.valid_for_ms, |d| d.as_millis() as u64);
    // An approval that covers one call stays claimable for as long as the request could wait:
    // the held call claims it at once; an async caller has that long to retry.
    let window = if valid_for_ms > 0 {
        valid_for_ms
    } else {
        current
            .request
            .expires_ms
            .saturating_sub(current.request.created_ms)
    };
    let decision = Decision {
        approve: answer.approve,
        by: answer.by.label(),
        comment: answer.comment.clone(),
        now_ms,
        valid_until_ms: now_ms.saturating_add(window),
        single_use: valid_for_ms == 0,
    };
    match store.decide(id, &decision).await? {
        Decided::Done(a) => {
            if let Some(log) = audit {
                let event = if a.status == ApprovalStatus::Approved {
                    "approval_granted"
                } else {
                    "approval_denied"
                };
                let mut detail = json!({
                    "approval": a.request.id,
                    "caller": a.request.identity,
                    "comment": a.comment,
                });
                if a.status == ApprovalStatus::Approved {
                    detail["valid_until_ms"] = json!(a.valid_until_ms);
                    detail["single_use"] = json!(a.single_use);
                }
                let mut entry = event_entry(now_ms, event, &a, detail);
                entry.identity = Some(decision.by.clone());
                if let Err(e) = log.record(entry).await {
                    tracing::error!(error = %e, "an approval answer's audit record is not durable");
                }
            }
            Ok(a)
        }
        Decided::NotFound => Err(AnswerError::NotFound(id.to_owned())),
        Decided::AlreadyDecided(a) => Err(AnswerError::AlreadyDecided {
            id: id.to_owned(),
            status: a.status,
            by: a
                .decided_by
                .as_deref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default(),
        }),
        Decided::PastDeadline(_) => Err(AnswerError::AlreadyDecided {
            id: id.to_owned(),
            status: ApprovalStatus::Expired,
            by: String::new(),
        }),
    }
}

/// An audit event about approval `a`, with its call's grant, server, session and tool.
fn event_entry(now_ms: u64, event: &str, a: &Approval, detail: Value) -> AuditEntry {
    let mut entry = AuditEntry::event(now_ms, event, &detail);
    entry.identity = Some(a.request.identity.clone());
    entry.grant = Some(a.request.grant.clone());
    entry.server = Some(a.request.server.clone());
    entry.session = a.request.session.clone();
    entry.tool = Some(a.request.tool.clone());
    entry.rule = Some(a.request.rule.clone());
    entry
}

/// Records the expiry of each of `expired` (an [`ApprovalStore::expire`] result).
pub async fn record_expired(audit: Option<&AuditLog>, now_ms: u64, expired: &[Approval]) {
    let Some(log) = audit else { return };
    for a in expired {
        let detail = json!({"approval": a.request.id, "expires_ms": a.request.expires_ms});
        if let Err(e) = log
            .record(event_entry(now_ms, "approval_expired", a, detail))
            .await
        {
            tracing::error!(error = %e, "an approval expiry's audit record is not durable");
        }
    }
}

/// An approval as the CLI's JSON, the admin API and webhooks show it. Times are RFC 3339;
/// `status` is as of `now_ms` (a pending request past its deadline reads `expired`).
pub fn approval_json(a: &Approval, now_ms: u64) -> Value {
    let r = &a.request;
    let arguments: Value = serde_json::from_str(&r.arguments).unwrap_or(Value::Null);
    json!({
        "id": r.id,
        "status": a.status_at(now_ms).as_str(),
        "server": r.server,
        "tool": r.tool,
        "identity": r.identity,
        "grant": r.grant,
        "session": r.session,
        "arguments": arguments,
        "digest": r.digest,
        "rule": r.rule,
        "reason": r.reason,
        "approvers": r.approvers,
        "mode": r.mode,
        "created": rfc3339(r.created_ms),
        "expires": rfc3339(r.expires_ms),
        "valid_for_s": r.valid_for_ms / 1000,
        "decided_by": a.decided_by,
        "decided": a.decided_ms.map(rfc3339),
        "comment": a.comment,
        "valid_until": a.valid_until_ms.map(rfc3339),
        "single_use": a.single_use,
        "uses": a.uses,
    })
}

/// `ms` since the epoch as RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// What a `requestState` issued by this gateway binds: the approval, the call's grant, tool
/// and argument digest, and when it stops being accepted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SealedState {
    /// The approval id.
    #[serde(rename = "a")]
    pub approval: String,
    /// The grant of the call.
    #[serde(rename = "g")]
    pub grant: String,
    /// The tool.
    #[serde(rename = "t")]
    pub tool: String,
    /// The argument digest.
    #[serde(rename = "d")]
    pub digest: String,
    /// Not accepted from this time on (ms since the epoch).
    #[serde(rename = "e")]
    pub expires_ms: u64,
}

/// Why a `requestState` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not issued by this gateway, or altered.
    #[error(
        "requestState was not issued by this gateway or was altered; call the tool again without it"
    )]
    Forged,
    /// Issued for a different call.
    #[error(
        "requestState belongs to a different call (another grant, tool or arguments); call the tool again without it"
    )]
    OtherCall,
}

/// Seals and opens `requestState` values: `wdn1.<payload>.<mac>` (base64url), the MAC an
/// HMAC-SHA256 under a key derived from the installation's secret salt, so any replica of
/// the gateway can open what another issued, and nobody else can make one.
#[derive(Clone)]
pub struct Sealer {
    key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl Sealer {
    /// A sealer whose key is derived from `secret` (the audit store's salt).
    pub fn from_secret(secret: &[u8]) -> Self {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC takes any key");
        mac.update(b"warden-request-state-v1");
        let mut key = [0u8; 32];
        key.copy_from_slice(&mac.finalize().into_bytes());
        Sealer { key }
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(payload);
        mac
    }

    /// The sealed text of `state`.
    pub fn seal(&self, state: &SealedState) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = serde_json::to_vec(state).unwrap_or_default();
        let tag = self.mac(&payload).finalize().into_bytes();
        format!("{STATE_PREFIX}{}.{}", b64.encode(&payload), b64.encode(tag))
    }

    /// Opens `text` and checks it binds this call (`key`). Whether it has expired
    /// ([`SealedState::expires_ms`]) is the caller's to judge: an answer that comes too late
    /// is an expired approval, not a forged state.
    pub fn open(&self, text: &str, key: ClaimKey<'_>) -> Result<SealedState, StateError> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let rest = text.strip_prefix(STATE_PREFIX).ok_or(StateError::Forged)?;
        let (payload, tag) = rest.split_once('.').ok_or(StateError::Forged)?;
        let payload = b64.decode(payload).map_err(|_| StateError::Forged)?;
        let tag = b64.decode(tag).map_err(|_| StateError::Forged)?;
        // Constant-time comparison of the tag.
        self.mac(&payload)
            .verify_slice(&tag)
            .map_err(|_| StateError::Forged)?;
        let state: SealedState =
            serde_json::from_slice(&payload).map_err(|_| StateError::Forged)?;
        if state.grant != key.grant || state.tool != key.tool || state.digest != key.digest {
            return Err(StateError::OtherCall);
        }
        Ok(state)
    }
}

/// A request being watched by this process: calls waiting for it, and where to announce its
/// outcome.
#[derive(Debug)]
struct Watched {
    tx: watch::Sender<Option<Approval>>,
    webhook: Option<Webhook>,
    expires_ms: u64,
}

/// The approvals of one gateway process: the store, the audit log, the watched requests.
#[derive(Debug)]
pub struct Approvals {
    store: Arc<dyn ApprovalStore>,
    clock: Arc<dyn Clock>,
    audit: Option<Arc<AuditLog>>,
    webhooks: Arc<Webhooks>,
    sealer: Sealer,
    watched: Mutex<HashMap<String, Watched>>,
}

/// What a new request is about.
#[derive(Debug, Clone)]
pub struct NewRequest<'a> {
    /// The policy's verdict.
    pub verdict: &'a warden_policy::Approval,
    /// Who called.
    pub identity: &'a str,
    /// On which grant.
    pub grant: &'a str,
    /// The server.
    pub server: &'a str,
    /// The MCP session.
    pub session: &'a str,
    /// The tool.
    pub tool: &'a str,
    /// The argument digest.
    pub digest: &'a str,
    /// The arguments as approvers see them (secrets redacted).
    pub shown_arguments: &'a Value,
}

impl Approvals {
    /// The approvals of this process over `store`, recording in `audit`, announcing through
    /// `webhooks`, sealing request states with `sealer`. Starts the poller (needs a Tokio
    /// runtime); it stops when the last handle is dropped.
    pub fn start(
        store: Arc<dyn ApprovalStore>,
        clock: Arc<dyn Clock>,
        audit: Option<Arc<AuditLog>>,
        webhooks: Arc<Webhooks>,
        sealer: Sealer,
    ) -> Arc<Approvals> {
        let this = Arc::new(Approvals {
            store,
            clock,
            audit,
            webhooks,
            sealer,
            watched: Mutex::new(HashMap::new()),
        });
        tokio::spawn(poller(Arc::downgrade(&this)));
        this
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ApprovalStore> {
        &self.store
    }

    /// The request-state sealer.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// Now, by the gateway's clock.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn watched(&self) -> std::sync::MutexGuard<'_, HashMap<String, Watched>> {
        self.watched.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a new pending request for a call, records `approval_requested` and announces it.
    pub async fn request(&self, new: NewRequest<'_>) -> Result<Approval, StoreError> {
        let now = self.now_ms();
        let settings = &new.verdict.settings;
        let request = ApprovalRequest {
            id: new_id(),
            created_ms: now,
            expires_ms: now.saturating_add(settings.timeout_ms),
            identity: new.identity.to_owned(),
            grant: new.grant.to_owned(),
            server: new.server.to_owned(),
            session: Some(new.session.to_owned()),
            tool: new.tool.to_owned(),
            digest: new.digest.to_owned(),
            arguments: new.shown_arguments.to_string(),
            rule: new.verdict.rule.clone(),
            reason: new.verdict.reason.clone(),
            approvers: settings.approver_names(),
            mode: settings.mode.as_str().to_owned(),
            valid_for_ms: settings.valid_for_ms,
        };
        self.store.create(&request).await?;
        let approval = Approval::pending(request);
        let (tx, _) = watch::channel(None);
        self.watched().insert(
            approval.request.id.clone(),
            Watched {
                tx,
                webhook: settings.webhook.clone(),
                expires_ms: approval.request.expires_ms,
            },
        );
        if let Some(log) = &self.audit {
            let detail = json!({
                "approval": approval.request.id,
                "approvers": approval.request.approvers,
                "mode": approval.request.mode,
                "expires_ms": approval.request.expires_ms,
                "digest": approval.request.digest,
                "reason": approval.request.reason,
            });
            let entry = event_entry(now, "approval_requested", &approval, detail);
            if let Err(e) = log.record(entry).await {
                tracing::error!(error = %e, "an approval request's audit record is not durable");
            }
        }
        if let Some(hook) = &settings.webhook {
            self.announce(hook, WebhookKind::Requested, &approval, now);
        }
        Ok(approval)
    }

    fn announce(&self, hook: &Webhook, kind: WebhookKind, a: &Approval, now_ms: u64) {
        let r = &a.request;
        let summary = match kind {
            WebhookKind::Requested => format!(
                "{} asks to call {} on {} (approval {})",
                r.identity, r.tool, r.server, r.id
            ),
            WebhookKind::Approved => format!(
                "approval {} ({} on {} for {}) was approved by {}",
                r.id,
                r.tool,
                r.server,
                r.identity,
                a.decided_by.as_deref().unwrap_or("?")
            ),
            WebhookKind::Denied => format!(
                "approval {} ({} on {} for {}) was denied by {}",
                r.id,
                r.tool,
                r.server,
                r.identity,
                a.decided_by.as_deref().unwrap_or("?")
            ),
            WebhookKind::Expired => format!(
                "approval {} ({} on {} for {}) expired unanswered",
                r.id, r.tool, r.server, r.identity
            ),
        };
        let event = WebhookEvent {
            kind,
            time_ms: now_ms,
            approval: approval_json(a, now_ms),
            summary,
        };
        let delivery = self.webhooks.send(hook, event);
        let audit = self.audit.clone();
        let (id, clock) = (r.id.clone(), self.clock.clone());
        tokio::spawn(async move {
            if let Ok(Err(why)) = delivery.await
                && let Some(log) = audit
            {
                let entry = AuditEntry::event(
                    clock.now_ms(),
                    "approval_webhook_failed",
                    &json!({"approval": id, "error": why}),
                );
                let _ = log.record(entry).await;
            }
        });
    }

    /// A receiver that sees request `id` once it is answered or expired (`None` until then).
    /// Requests made by another process are watched from the first subscription.
    pub fn subscribe(&self, id: &str, expires_ms: u64) -> watch::Receiver<Option<Approval>> {
        let mut watched = self.watched();
        match watched.get(id) {
            Some(w) => w.tx.subscribe(),
            None => {
                let (tx, rx) = watch::channel(None);
                watched.insert(
                    id.to_owned(),
                    Watched {
                        tx,
                        webhook: None,
                        expires_ms,
                    },
                );
                rx
            }
        }
    }

    /// Answers `id` here (the client's user, the admin API) and wakes its waiters at once.
    pub async fn answer(&self, id: &str, a: &Answer) -> Result<Approval, AnswerError> {
        let now = self.now_ms();
        let done = answer(&*self.store, self.audit.as_deref(), now, id, a).await?;
        self.resolved(done.clone(), now);
        Ok(done)
    }

    /// Expires what is due now, records each expiry, and wakes their waiters.
    pub async fn sweep(&self) -> Result<(), StoreError> {
        let now = self.now_ms();
        let expired = self.store.expire(now).await?;
        record_expired(self.audit.as_deref(), now, &expired).await;
        for a in expired {
            self.resolved(a, now);
        }
        Ok(())
    }

    /// An approval reached its end: wake the waiters, announce the outcome, stop watching.
    fn resolved(&self, a: Approval, now_ms: u64) {
        let watched = self.watched().remove(&a.request.id);
        let Some(w) = watched else { return };
        if let Some(hook) = &w.webhook {
            let kind = match a.status {
                ApprovalStatus::Approved => WebhookKind::Approved,
                ApprovalStatus::Denied => WebhookKind::Denied,
                ApprovalStatus::Expired | ApprovalStatus::Pending => WebhookKind::Expired,
            };
            self.announce(hook, kind, &a, now_ms);
        }
        let _ = w.tx.send(Some(a));
    }

    /// Uses an approval for a call (only `id` when given) and records `approval_used`.
    pub async fn claim(
        &self,
        key: ClaimKey<'_>,
        id: Option<&str>,
        session: &str,
        request_id: &str,
    ) -> Result<Option<Approval>, StoreError> {
        let now = self.now_ms();
        let claimed = self.store.claim(key, id, now).await?;
        if let (Some(a), Some(log)) = (&claimed, &self.audit) {
            let detail = json!({
                "approval": a.request.id,
                "uses": a.uses,
                "by_session": session,
                "by_request": request_id,
            });
            let entry = event_entry(now, "approval_used", a, detail);
            if let Err(e) = log.record(entry).await {
                tracing::error!(error = %e, "an approval use's audit record is not durable");
            }
        }
        Ok(claimed)
    }

    /// One poll: wakes the waiters of watched requests that are no longer pending, and
    /// expires those past their deadline.
    async fn poll(&self, sweep_all: bool) -> Result<(), StoreError> {
        let now = self.now_ms();
        let (ids, due): (Vec<String>, bool) = {
            let w = self.watched();
            (
                w.keys().cloned().collect(),
                w.values().any(|w| w.expires_ms <= now),
            )
        };
        if due || sweep_all {
            self.sweep().await?;
        }
        if ids.is_empty() {
            return Ok(());
        }
        let pending: std::collections::HashSet<String> = self
            .store
            .list(Some(ApprovalStatus::Pending), POLL_LIMIT)
            .await?
            .into_iter()
            .map(|a| a.request.id)
            .collect();
        for id in ids.iter().filter(|id| !pending.contains(*id)) {
            if let Some(a) = self.store.get(id).await?
                && a.status != ApprovalStatus::Pending
            {
                self.resolved(a, now);
            }
        }
        Ok(())
    }
}

/// Polls while the approvals are alive.
async fn poller(this: Weak<Approvals>) {
    let mut since_sweep = Duration::ZERO;
    loop {
        tokio::time::sleep(POLL).await;
        since_sweep += POLL;
        let Some(approvals) = this.upgrade() else {
            return;
        };
        let sweep_all = since_sweep >= SWEEP;
        if sweep_all {
            since_sweep = Duration::ZERO;
        }
        if let Err(e) = approvals.poll(sweep_all).await {
            tracing::warn!(error = %e, "could not read pending approvals");
        }
    }
}

/// A new approval id: 12 lowercase hex characters from a random UUID (48 random bits: ids
/// are for typing, not secrets; answering one needs an approver's credential).
fn new_id() -> String {
    let mut id = uuid::Uuid::new_v4().simple().to_string();
    id.truncate(12);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(approvers: &[&str]) -> ApprovalRequest {
        ApprovalRequest {
            id: "a1".into(),
            created_ms: 0,
            expires_ms: 1000,
            identity: "agent".into(),
            grant: "g".into(),
            server: "s".into(),
            session: None,
            tool: "t".into(),
            digest: "d".into(),
            arguments: "{}".into(),
            rule: "/tools/t/action".into(),
            reason: "r".into(),
            approvers: approvers.iter().map(|s| s.to_string()).collect(),
            mode: "hold".into(),
            valid_for_ms: 0,
        }
    }

    #[test]
    fn who_may_answer() {
        let r = request(&["operator", "alice", "group:finance"]);
        let op = Answerer::Operator {
            detail: "cli".into(),
        };
        assert!(may_answer(&r, &op).is_ok());
        assert!(may_answer(&r, &Answerer::User).is_err());
        let alice = Answerer::Identity {
            name: "alice".into(),
            groups: vec![],
        };
        assert!(may_answer(&r, &alice).is_ok());
        let bob = Answerer::Identity {
            name: "bob".into(),
            groups: vec!["finance".into()],
        };
        assert!(may_answer(&r, &bob).is_ok());
        let carol = Answerer::Identity {
            name: "carol".into(),
            groups: vec!["sales".into()],
        };
        assert!(
            may_answer(&r, &carol)
                .unwrap_err()
                .contains("not an approver")
        );
        // The caller itself, even when listed by name or group.
        let r = request(&["agent", "group:finance"]);
        let agent = Answerer::Identity {
            name: "agent".into(),
            groups: vec!["finance".into()],
        };
        assert!(
            may_answer(&r, &agent)
                .unwrap_err()
                .contains("separation of duties")
        );
    }

    #[test]
    fn sealed_states_bind_the_call() {
        let sealer = Sealer::from_secret(&[7u8; 32]);
        let state = SealedState {
            approval: "abc".into(),
            grant: "g".into(),
            tool: "t".into(),
            digest: "d".into(),
            expires_ms: 100,
        };
        let text = sealer.seal(&state);
        let key = ClaimKey {
            grant: "g",
            tool: "t",
            digest: "d",
        };
        assert_eq!(sealer.open(&text, key), Ok(state.clone()));
        let other = ClaimKey { digest: "e", ..key };
        assert_eq!(sealer.open(&text, other), Err(StateError::OtherCall));
        // Another installation's key, a flipped byte, garbage: forged.
        let stranger = Sealer::from_secret(&[8u8; 32]);
        assert_eq!(stranger.open(&text, key), Err(StateError::Forged));
        let mut bytes = text.clone().into_bytes();
        let at = STATE_PREFIX.len() + 3;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).unwrap();
        assert_eq!(sealer.open(&flipped, key), Err(StateError::Forged));
        assert_eq!(sealer.open("wdn1.x.y", key), Err(StateError::Forged));
        // A payload re-encoded with another approval id keeps the old tag: forged.
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let tag = text.rsplit('.').next().unwrap();
        let forged_payload = serde_json::to_vec(&SealedState {
            approval: "zzz".into(),
            ..state
        })
        .unwrap();
        let forged = format!("{STATE_PREFIX}{}.{tag}", b64.encode(forged_payload));
        assert_eq!(sealer.open(&forged, key), Err(StateError::Forged));
    }
}
