//! Warden's policy model: parse, check and evaluate policies.
//!
//! A policy is a JSON document (see DESIGN.md section 3) that says, per MCP
//! tool, whether a call is allowed, denied, hidden, rate-limited or needs a
//! human's approval. This crate turns the document into a compiled [`Policy`]
//! and answers one question about one call: [`Policy::evaluate`] returns a
//! [`Verdict`]. [`Policy::is_listed`] answers the `tools/list` question from
//! the same lookup, so a tool can never be listed-but-uncallable or
//! hidden-but-callable.
//!
//! ```
//! use warden_policy::{Call, Policy, Scope, Verdict};
//!
//! let policy = Policy::from_json(
//!     "policy.json",
//!     r#"{"version": "1", "default": "deny",
//!         "tools": {"connections.refresh": {"limits": [
//!           {"counter": "connections.refresh_rate", "window": "minute", "max": 10}]}}}"#,
//! )?;
//! let args = serde_json::json!({});
//! let identity = serde_json::json!({"name": "local"});
//! let call = Call {
//!     tool: "connections.refresh",
//!     arguments: &args,
//!     identity: &identity,
//!     scope: Scope { grant: "g1", identity: "local", session: "s1" },
//! };
//! match policy.evaluate(&call) {
//!     Verdict::Allow(allowed) => assert_eq!(allowed.limits[0].max, 10.0),
//!     other => panic!("expected allow, got {other:?}"),
//! }
//! # Ok::<(), warden_policy::Problems>(())
//! ```
//!
//! The order of evaluation steps, and how tool names find their rule, are
//! documented in one place: the [`evaluate`] module.
//!
//! Two policy-wide settings are about tool definitions rather than calls:
//! [`Policy::pinning`] (what happens to a tool whose definition is new or
//! changed since it was approved) and [`Policy::lint_action`] (what happens to
//! a tool whose definition has a lint finding of a given kind, named as in
//! [`LINT_KINDS`]), for the gateway to apply when it relays `tools/list`.
//!
//! Architecture invariant: this crate is pure. It does no I/O (a remote
//! `$ref` in an `arguments` schema is a load-time problem, never a fetch),
//! never reads the clock, and holds no global state. Counters are not checked
//! here: an [`Allowed`] verdict lists the [`LimitRequest`]s the gateway must
//! reserve atomically in its counter store.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod approval;
pub mod audit;
mod compile;
mod condition;
mod definitions;
pub mod evaluate;
mod glob;
mod limits;
mod model;
mod problems;
pub mod text;

pub use approval::{ApprovalMode, ApprovalSettings, Approver, Webhook, WebhookFormat};
pub use audit::{ArgumentCapture, AuditCapture, CapturedArguments, is_secret_name, redact};
pub use definitions::{LINT_KINDS, LintAction, Pinning};
pub use limits::describe_window;
pub use model::Policy;
pub use problems::{Problem, Problems};

/// One `tools/call` as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The tool name from `params.name`.
    pub tool: &'a str,
    /// `params.arguments`; `Value::Null` when the client sent none. Absent
    /// arguments are validated against an `arguments` schema as `{}`.
    pub arguments: &'a serde_json::Value,
    /// Identity attributes of the caller, e.g. `{"name": "local"}`;
    /// conditions read them through `identity.<dotted.path>`.
    pub identity: &'a serde_json::Value,
    /// The values that scope counters.
    pub scope: Scope<'a>,
}

/// The values that counter keys are scoped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    /// The grant (credential) the call came in on; the default scope.
    pub grant: &'a str,
    /// The identity (agent or team) behind the grant.
    pub identity: &'a str,
    /// The MCP session; whatever the gateway uses when there is none.
    pub session: &'a str,
}

/// The decision for one call. A closed enum: the gateway maps each variant to
/// a response in one place.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Hidden tool: the gateway answers exactly as for a tool that does not exist.
    Unknown,
    /// The call is refused.
    Deny(Denial),
    /// A human must approve the call first; once approved it goes on to the limits
    /// ([`Approval::then`]).
    Approve(Approval),
    /// Allowed, subject to reserving these limits atomically in the counter store.
    Allow(Allowed),
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// Which evaluation step refused the call.
    pub kind: DenyKind,
    /// JSON Pointer into the policy, e.g. `/tools/refund/deny_if/0` or `/default`.
    pub rule: String,
    /// Human text for the agent, without the gateway's `Blocked by policy:` prefix.
    pub reason: String,
}

/// The evaluation step that denied a call, in evaluation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyKind {
    /// No `tools` entry matched and `default` is `"deny"`.
    NotListed,
    /// The matched rule has `"action": "deny"`.
    Action,
    /// A `deny_if` condition held (or could not be evaluated: fail closed).
    DenyIf,
    /// A `require` condition did not hold.
    Require,
    /// The arguments do not satisfy the rule's `arguments` schema.
    Arguments,
    /// A limit's `increment_from` value is missing or not a non-negative number.
    InvalidAmount,
}

/// A call that needs a human's approval.
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    /// JSON Pointer into the policy: `/default`, `/tools/<name>/action` or
    /// `/tools/<name>/approve_if/<i>`.
    pub rule: String,
    /// Human text, starting `approval required: `.
    pub reason: String,
    /// How it is asked for and answered: the rule's `approval` block over the top level's
    /// over the defaults.
    pub settings: std::sync::Arc<ApprovalSettings>,
    /// What the call is once approved: the limits it must still reserve (step 8). A call
    /// whose limits cannot even be computed (an invalid `increment_from` amount) is denied
    /// before anyone is asked.
    pub then: Allowed,
}

/// An allowed call and the counters it must reserve.
#[derive(Debug, Clone, PartialEq)]
pub struct Allowed {
    /// JSON Pointer to the matched tool rule (`/tools/<name>`), or `/default`
    /// when no rule matched and `default` is `"allow"`.
    pub rule: String,
    /// Limits to reserve, `all_tools.limits` first, then the tool's; requests
    /// with the same key, window and max appear once. Empty when unlimited.
    pub limits: Vec<LimitRequest>,
}

/// One counter reservation the gateway must make before forwarding a call.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitRequest {
    /// JSON Pointer to the limit, e.g. `/tools/x/limits/0` or `/all_tools/limits/1`.
    pub rule: String,
    /// The counter name as written in the policy.
    pub counter: String,
    /// Storage key: counter name, scope kind and scope value joined by U+001F
    /// (`name\u{1f}grant\u{1f}<grant>`; global: `name\u{1f}global`). Limits
    /// that name the same counter share one key, hence one budget.
    pub key: String,
    /// What the counter is kept per; default [`ScopeKind::Grant`].
    pub scope: ScopeKind,
    /// Window length in seconds (`"minute"` is 60).
    pub window_secs: u64,
    /// Most the counter may reach within the window.
    pub max: f64,
    /// What this call adds: 1.0, or the value at `increment_from`.
    pub amount: f64,
    /// The limit's `increment_from` path (e.g. `args.amount`) for spend caps;
    /// `None` (the default) for call counters.
    pub increment_from: Option<String>,
    /// The matched tool rule's `reason`, if any (none for `all_tools` limits).
    pub reason: Option<String>,
}

/// What a counter is kept per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ScopeKind {
    /// Per grant (credential). The default.
    #[default]
    Grant,
    /// Per identity (agent or team), across its grants.
    Identity,
    /// Per MCP session.
    Session,
    /// One counter for everyone.
    Global,
}
