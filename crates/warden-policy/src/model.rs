//! The compiled policy: what `compile` produces and `evaluate` reads.
//!
//! Everything a call needs is resolved at load time: globs are pre-sorted by
//! precedence, regexes and schemas are compiled, JSON Pointers for verdicts
//! are pre-built, and paths are pre-split, so evaluation allocates only the
//! strings a verdict carries.

use std::collections::{HashMap, HashSet};

use crate::ScopeKind;
use crate::audit::ArgumentCapture;
use crate::glob::GlobSet;

/// A compiled, immutable policy. Build it with [`Policy::from_json`]; share
/// it freely (`Send + Sync`), and evaluate calls with [`Policy::evaluate`].
#[derive(Debug)]
pub struct Policy {
    pub(crate) default: Action,
    /// Exact names from `hide`.
    pub(crate) hide_exact: HashSet<String>,
    /// Glob patterns from `hide` (any match hides).
    pub(crate) hide_globs: GlobSet,
    /// `all_tools.limits`, applied to every allowed call.
    pub(crate) all_tools_limits: Vec<Limit>,
    /// Exact tool names to an index into `rules`.
    pub(crate) exact: HashMap<String, usize>,
    /// Glob tool patterns by precedence, each with an index into `rules`.
    pub(crate) globs: GlobSet,
    pub(crate) rules: Vec<Rule>,
    /// Top-level `audit.arguments`, or the default ([`ArgumentCapture::Keys`]).
    pub(crate) audit_arguments: ArgumentCapture,
    /// Top-level `audit.redact`, as written.
    pub(crate) audit_redact: Vec<String>,
    /// The top-level `approval` block over the defaults: what `default: "approve"` uses.
    pub(crate) approval: std::sync::Arc<crate::ApprovalSettings>,
    /// `pinning`, or the default ([`crate::Pinning::Warn`]).
    pub(crate) pinning: crate::Pinning,
    /// `lint`, resolved per finding kind.
    pub(crate) lint: crate::definitions::LintSettings,
}

/// `allow`, `deny` or `approve`: a rule's `action` or the policy's `default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Allow,
    Deny,
    Approve,
}

/// One `tools.<name>` entry.
#[derive(Debug)]
pub(crate) struct Rule {
    /// `/tools/<escaped name>`.
    pub(crate) pointer: String,
    pub(crate) action: Action,
    pub(crate) reason: Option<String>,
    pub(crate) require: Vec<Condition>,
    pub(crate) deny_if: Vec<Condition>,
    pub(crate) approve_if: Vec<Condition>,
    pub(crate) arguments: Option<jsonschema::Validator>,
    pub(crate) limits: Vec<Limit>,
    /// The rule's `audit.arguments`; `None` falls back to the top level.
    pub(crate) audit_arguments: Option<ArgumentCapture>,
    /// Top-level `audit.redact` followed by the rule's own names (lists add
    /// up), without repeats: resolved at load time so a call borrows it.
    pub(crate) audit_redact: Vec<String>,
    /// The rule's `approval` block over the top level's over the defaults, resolved at
    /// load time.
    pub(crate) approval: std::sync::Arc<crate::ApprovalSettings>,
}

/// One condition of `require`, `deny_if` or `approve_if`.
#[derive(Debug)]
pub(crate) struct Condition {
    /// e.g. `/tools/refund/deny_if/0`.
    pub(crate) pointer: String,
    pub(crate) path: Path,
    pub(crate) op: Op,
    /// The condition's `value` as written, for generated reasons.
    pub(crate) value_text: String,
    pub(crate) reason: Option<String>,
}

/// A compiled operator with its operand.
#[derive(Debug)]
pub(crate) enum Op {
    Eq(serde_json::Value),
    Neq(serde_json::Value),
    In(Vec<serde_json::Value>),
    NotIn(Vec<serde_json::Value>),
    Lt(f64),
    Lte(f64),
    Gt(f64),
    Gte(f64),
    Regex(regex::Regex),
    Contains(serde_json::Value),
    Exists(bool),
}

impl Op {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Eq(_) => "eq",
            Op::Neq(_) => "neq",
            Op::In(_) => "in",
            Op::NotIn(_) => "not_in",
            Op::Lt(_) => "lt",
            Op::Lte(_) => "lte",
            Op::Gt(_) => "gt",
            Op::Gte(_) => "gte",
            Op::Regex(_) => "regex",
            Op::Contains(_) => "contains",
            Op::Exists(_) => "exists",
        }
    }
}

/// Where a path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    Args,
    Identity,
}

/// A pre-split `args.a.b` or `identity.x` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Path {
    pub(crate) root: Root,
    /// Each segment, with its array index when it is a decimal number.
    pub(crate) segments: Vec<(String, Option<usize>)>,
    /// The path as written, for messages.
    pub(crate) text: String,
}

/// One compiled limit.
#[derive(Debug)]
pub(crate) struct Limit {
    /// e.g. `/tools/x/limits/0`.
    pub(crate) pointer: String,
    pub(crate) counter: String,
    pub(crate) scope: ScopeKind,
    pub(crate) window_secs: u64,
    pub(crate) max: f64,
    pub(crate) increment_from: Option<Path>,
}
