//! Approvals: calls held for a human's yes or no, and the answers that let them through.
//!
//! # What is stored
//!
//! An [`ApprovalRequest`] is written when a call needs approval and no standing approval
//! covers it: who called (identity, grant, session), where (server, tool), what (the
//! argument digest that identifies identical calls, and the arguments as approvers see them,
//! secrets already redacted by the caller), why (the rule and its reason), and how it may be
//! answered (approvers, mode, the deadline `expires_ms`, and the rule's `valid_for_ms`).
//! An [`Approval`] is that request with its state: pending, approved, denied or expired,
//! who decided and when, the comment, until when the approval can be used
//! (`valid_until_ms`), whether it covers one call or many (`single_use`), and how often it
//! was used.
//!
//! # Semantics
//!
//! - [`ApprovalStore::create`] inserts a pending request; an id already present is
//!   [`StoreError::ApprovalExists`] and nothing changes.
//! - [`ApprovalStore::get`] returns one approval in whatever state it is.
//! - [`ApprovalStore::list`] returns approvals oldest first (by `created_ms`, then id),
//!   optionally only those of one stored status, at most `limit` of them.
//! - [`ApprovalStore::decide`] answers a request: only a pending one whose deadline has not
//!   passed (`now_ms < expires_ms`) changes, atomically, so two approvers answering at once
//!   (even from two processes) give one decision and the other is told
//!   [`Decided::AlreadyDecided`].
//! - [`ApprovalStore::expire`] turns every pending request whose deadline has passed
//!   (`expires_ms <= now_ms`) into expired and returns those it changed: each expiry is
//!   returned exactly once, whichever process sweeps first, so each is recorded once.
//! - [`ApprovalStore::claim`] uses an approval for a call: the oldest approved approval for
//!   the same grant, tool and digest that is still valid (`now_ms < valid_until_ms`) and, if
//!   `single_use`, not used yet. It counts the use (`uses + 1`, `last_used_ms = now_ms`)
//!   atomically, so a single-use approval lets exactly one of two racing calls through.
//!   With `id`, only that approval may be claimed (a held call claims the very approval it
//!   waited for; a retry carrying a request state claims the one the state names).
//!
//! Records are never deleted by these operations: the inbox is also the history.

mod memory;

use std::fmt;

pub use memory::MemoryApprovals;

#[cfg(doc)]
use crate::StoreError;
use crate::StoreFuture;

/// A call waiting for approval, as first stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    /// Public id: 12 lowercase hex characters made by the gateway; what approvers type.
    pub id: String,
    /// When the request was made (milliseconds since the Unix epoch).
    pub created_ms: u64,
    /// The deadline: a request still pending at this time is expired (the call is denied).
    pub expires_ms: u64,
    /// The identity that made the call (it can never approve it).
    pub identity: String,
    /// The grant the call came in on.
    pub grant: String,
    /// The server (upstream) the call is for.
    pub server: String,
    /// The MCP session of the call; `None` when there is none.
    pub session: Option<String>,
    /// The tool called.
    pub tool: String,
    /// Lowercase hex SHA-256 of the canonical JSON of the arguments: identical calls share it.
    pub digest: String,
    /// The arguments as approvers see them (JSON text, secrets redacted by the caller).
    pub arguments: String,
    /// JSON Pointer to the policy rule that asked for approval.
    pub rule: String,
    /// The rule's reason, as the agent would read it.
    pub reason: String,
    /// Who may answer, as written in the policy (`user`, `operator`, names, `group:<name>`).
    pub approvers: Vec<String>,
    /// `hold` or `async`.
    pub mode: String,
    /// The rule's `valid_for` in milliseconds: 0 means the approval covers one call.
    pub valid_for_ms: u64,
}

/// Where an approval stands, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalStatus {
    /// Waiting for an answer.
    Pending,
    /// Approved: identical calls may claim it while it is valid.
    Approved,
    /// Denied by an approver.
    Denied,
    /// Nobody answered before the deadline.
    Expired,
}

impl ApprovalStatus {
    /// `"pending"`, `"approved"`, `"denied"` or `"expired"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
        }
    }

    /// The status named by [`as_str`](Self::as_str); `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "expired" => Self::Expired,
            _ => return None,
        })
    }
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// What was asked.
    pub request: ApprovalRequest,
    /// The stored status. A pending approval past its deadline that no sweep has expired yet
    /// is still stored as pending: see [`Approval::status_at`].
    pub status: ApprovalStatus,
    /// Who answered (`user`, `operator:<who>`, an identity name); `None` while pending and
    /// for expired requests.
    pub decided_by: Option<String>,
    /// When it was answered or expired.
    pub decided_ms: Option<u64>,
    /// The approver's comment, if any.
    pub comment: Option<String>,
    /// Approved: the approval can be claimed until this time (exclusive).
    pub valid_until_ms: Option<u64>,
    /// Approved: whether it covers one call only (true) or every identical call until
    /// `valid_until_ms` (false).
    pub single_use: bool,
    /// How many calls claimed it.
    pub uses: u32,
    /// When it was last claimed.
    pub last_used_ms: Option<u64>,
}

impl Approval {
    /// A request as [`ApprovalStore::create`] stores it: pending, unanswered, unused.
    pub fn pending(request: ApprovalRequest) -> Approval {
        Approval {
            request,
            status: ApprovalStatus::Pending,
            decided_by: None,
            decided_ms: None,
            comment: None,
            valid_until_ms: None,
            single_use: true,
            uses: 0,
            last_used_ms: None,
        }
    }

    /// The status at `now_ms`: a pending request past its deadline reads as expired.
    pub fn status_at(&self, now_ms: u64) -> ApprovalStatus {
        match self.status {
            ApprovalStatus::Pending if now_ms >= self.request.expires_ms => ApprovalStatus::Expired,
            s => s,
        }
    }

    /// Whether a call could claim it at `now_ms` (see [`ApprovalStore::claim`]).
    pub fn claimable_at(&self, now_ms: u64) -> bool {
        self.status == ApprovalStatus::Approved
            && self.valid_until_ms.is_some_and(|until| now_ms < until)
            && !(self.single_use && self.uses > 0)
    }
}

/// An answer to a pending request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Approve (true) or deny (false).
    pub approve: bool,
    /// Who answers (`user`, `operator:<who>`, an identity name).
    pub by: String,
    /// A comment for the record; `None` by default.
    pub comment: Option<String>,
    /// When.
    pub now_ms: u64,
    /// Approving: until when it can be claimed (exclusive). Ignored when denying.
    pub valid_until_ms: u64,
    /// Approving: one call only (true) or every identical call until `valid_until_ms`.
    pub single_use: bool,
}

/// What [`ApprovalStore::decide`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// The answer was stored; the approval as it now is.
    Done(Approval),
    /// No approval has that id.
    NotFound,
    /// It was already approved, denied or expired; unchanged, as it is.
    AlreadyDecided(Approval),
    /// It is pending but its deadline has passed: unchanged (a sweep will expire it).
    PastDeadline(Approval),
}

/// The calls a claim may use an approval for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimKey<'a> {
    /// The grant of the call.
    pub grant: &'a str,
    /// The tool called.
    pub tool: &'a str,
    /// The call's argument digest.
    pub digest: &'a str,
}

/// Approvals: the inbox of held calls and the answers that let them through.
///
/// Implemented by [`MemoryApprovals`] (tests), [`SqliteState`](crate::SqliteState) (the
/// default, shared across processes on one state directory) and
/// [`PgState`](crate::PgState) (shared by gateway replicas). All pass the same test suite;
/// the semantics are in the [module documentation](self).
pub trait ApprovalStore: Send + Sync + fmt::Debug {
    /// Stores a new pending request.
    ///
    /// Errors: [`StoreError::ApprovalExists`] when the id is taken (nothing is changed),
    /// backend errors otherwise.
    fn create<'a>(&'a self, request: &'a ApprovalRequest) -> StoreFuture<'a, ()>;

    /// The approval with `id`, in whatever state it is; `None` if unknown.
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Approval>>;

    /// Approvals oldest first (by `created_ms`, then id): all, or only those stored with
    /// `status`; at most `limit`.
    fn list(&self, status: Option<ApprovalStatus>, limit: usize) -> StoreFuture<'_, Vec<Approval>>;

    /// Answers the pending request `id`, atomically (see the module documentation).
    fn decide<'a>(&'a self, id: &'a str, decision: &'a Decision) -> StoreFuture<'a, Decided>;

    /// Expires every pending request whose deadline is at or before `now_ms`; returns those
    /// this call expired (`status` Expired, `decided_ms = now_ms`), oldest first.
    fn expire(&self, now_ms: u64) -> StoreFuture<'_, Vec<Approval>>;

    /// Claims an approval for a call matching `key` at `now_ms` (only approval `id` when
    /// given) and counts the use; returns the approval after the claim, or `None` when no
    /// approval covers the call.
    fn claim<'a>(
        &'a self,
        key: ClaimKey<'a>,
        id: Option<&'a str>,
        now_ms: u64,
    ) -> StoreFuture<'a, Option<Approval>>;
}
