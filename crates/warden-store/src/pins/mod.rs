//! Definition pins: rug-pull protection for the tools the gateway relays.
//!
//! # What is stored
//!
//! One [`Pin`] per (server, tool): the tool's current definition (its canonical JSON, see
//! `warden_protocol::tool_pin`) and fingerprint (lowercase hex SHA-256 of that text), whether
//! that definition is approved or pending, and the definition that was approved last. For a
//! tool whose definition changed after approval, the store therefore holds both: the pending
//! new one in `fingerprint`/`definition` and the approved one in
//! `approved_fingerprint`/`approved_definition`, so a reviewer can diff them.
//!
//! # Semantics
//!
//! - [`PinStore::observe`] records one listing of a server (one `tools/list` page),
//!   atomically. When the server has no pins at all yet, every listed tool is pinned as
//!   approved (trust on first use, `approved_by = "first-use"`) and nothing is reported.
//!   Otherwise each listed tool is compared with its pin:
//!   - no pin: pinned pending, reported [`PinChangeKind::New`];
//!   - approved, another fingerprint: pending with the new definition beside the approved
//!     one, reported [`PinChangeKind::Changed`];
//!   - pending, another fingerprint than its pending one: the pending definition is
//!     replaced, reported [`PinChangeKind::Changed`] (again); when the new fingerprint is
//!     the approved one, it is approved again instead, reported
//!     [`PinChangeKind::Reverted`];
//!   - same fingerprint as stored: nothing.
//!
//!   Tools absent from the listing are left alone (a page may be partial). Entries are
//!   taken in order, so a tool listed twice with two definitions ends up pending on the
//!   second (reported `New` or `Changed`), never approved on either silently after first
//!   use. Each change is reported by exactly one call: two processes observing the same
//!   listing at once get it once between them, because each observation reads and writes
//!   the server's pins under one lock.
//! - [`PinStore::approve`] approves one pending pin: its pending definition becomes the
//!   approved one (`approved_ms`, `approved_by` set). `None` when the pin is unknown or not
//!   pending, so of two approvers only the first is answered with the pin.
//!   [`PinStore::approve_all`] does the same for every pending pin of a server.
//! - [`PinStore::list`] and [`PinStore::get`] read pins; lists are ordered by server, then
//!   tool (both compared by their UTF-8 bytes).
//!
//! `changed_ms` is when the pin's current definition was first observed (first sight, a
//! change, a revert); approving does not change it. Pins are never deleted by these
//! operations.

mod memory;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub use memory::MemoryPins;

use crate::StoreFuture;

/// Who approved the pins made on a server's first listing.
pub const FIRST_USE: &str = "first-use";

/// One tool of a listing, as [`PinStore::observe`] takes it: `(tool name, fingerprint,
/// canonical definition)`, what `warden_protocol::tool_pin` returns.
pub type ObservedTool = (String, String, String);

/// Whether a pin's current definition may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinStatus {
    /// The current definition is the approved one.
    Approved,
    /// The current definition is new or changed and waits for approval.
    Pending,
}

impl PinStatus {
    /// `"approved"` or `"pending"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Pending => "pending",
        }
    }

    /// The status named by [`as_str`](Self::as_str); `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "approved" => Self::Approved,
            "pending" => Self::Pending,
            _ => return None,
        })
    }
}

impl fmt::Display for PinStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pinned definition of one tool of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The server (upstream) offering the tool.
    pub server: String,
    /// The tool's name.
    pub tool: String,
    /// Lowercase hex SHA-256 of `definition`: the definition last observed.
    pub fingerprint: String,
    /// The canonical JSON of the definition last observed.
    pub definition: String,
    /// Whether `definition` is the approved one.
    pub status: PinStatus,
    /// When the tool was first observed (milliseconds since the Unix epoch).
    pub first_seen_ms: u64,
    /// When `definition` was first observed: first sight, a change or a revert.
    pub changed_ms: u64,
    /// When the approved definition was approved; `None` if none ever was.
    pub approved_ms: Option<u64>,
    /// Who approved it ([`FIRST_USE`] for a server's first listing); `None` if nobody did.
    pub approved_by: Option<String>,
    /// The fingerprint of the approved definition (equal to `fingerprint` when approved);
    /// `None` for a new tool never approved.
    pub approved_fingerprint: Option<String>,
    /// The approved definition (equal to `definition` when approved); `None` for a new
    /// tool never approved.
    pub approved_definition: Option<String>,
}

/// What an observation changed for one tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinChangeKind {
    /// A tool the server did not offer before: pinned pending.
    New,
    /// A definition other than the one stored: pending.
    Changed,
    /// A pending tool is back to its approved definition: approved again.
    Reverted,
}

impl PinChangeKind {
    /// `"new"`, `"changed"` or `"reverted"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Changed => "changed",
            Self::Reverted => "reverted",
        }
    }
}

impl fmt::Display for PinChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change an observation made, reported once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinChange {
    /// The tool.
    pub tool: String,
    /// What happened.
    pub kind: PinChangeKind,
    /// The fingerprint stored before (`None` for a new tool).
    pub old_fingerprint: Option<String>,
    /// The fingerprint stored now.
    pub new_fingerprint: String,
}

/// Definition pins, per server and tool.
///
/// Implemented by [`MemoryPins`] (tests), [`SqliteState`](crate::SqliteState) (the default,
/// shared across processes on one state directory) and [`PgState`](crate::PgState) (shared
/// by gateway replicas). All pass the same test suite; the semantics are in the
/// [module documentation](self).
pub trait PinStore: Send + Sync + fmt::Debug {
    /// Records one listing of `server` at `now_ms`, atomically; returns the changes it made,
    /// in listing order (empty on the server's first listing: trust on first use).
    fn observe<'a>(
        &'a self,
        server: &'a str,
        tools: &'a [ObservedTool],
        now_ms: u64,
    ) -> StoreFuture<'a, Vec<PinChange>>;

    /// Approves the pending pin of `tool` on `server`; returns it as approved, or `None`
    /// when there is no such pin or it is not pending (nothing changes).
    fn approve<'a>(
        &'a self,
        server: &'a str,
        tool: &'a str,
        by: &'a str,
        now_ms: u64,
    ) -> StoreFuture<'a, Option<Pin>>;

    /// Approves every pending pin of `server`; returns them as approved, by tool.
    fn approve_all<'a>(
        &'a self,
        server: &'a str,
        by: &'a str,
        now_ms: u64,
    ) -> StoreFuture<'a, Vec<Pin>>;

    /// Every pin, or those of one server, ordered by server then tool.
    fn list<'a>(&'a self, server: Option<&'a str>) -> StoreFuture<'a, Vec<Pin>>;

    /// The pin of `tool` on `server`, if any.
    fn get<'a>(&'a self, server: &'a str, tool: &'a str) -> StoreFuture<'a, Option<Pin>>;
}

/// What one observation does to a server's pins: the rows to write (final state, one per
/// tool, by tool) and the changes to report (in listing order).
#[derive(Debug, Default)]
pub(crate) struct ObservationPlan {
    pub(crate) writes: Vec<Pin>,
    pub(crate) changes: Vec<PinChange>,
}

/// Plans [`PinStore::observe`] against `stored`, the server's pins as read under the
/// server's lock (by tool; only the listed tools are needed, unless `first_use` must be
/// decided by the caller). `first_use` is whether the server had no pins at all. Every
/// backend writes exactly `writes`, so all share these semantics.
pub(crate) fn plan_observation(
    server: &str,
    mut stored: BTreeMap<String, Pin>,
    first_use: bool,
    tools: &[ObservedTool],
    now_ms: u64,
) -> ObservationPlan {
    let mut plan = ObservationPlan::default();
    let mut written = BTreeSet::new();
    for (tool, fingerprint, definition) in tools {
        let next = match stored.get(tool) {
            None if first_use => Some((
                Pin {
                    server: server.to_owned(),
                    tool: tool.clone(),
                    fingerprint: fingerprint.clone(),
                    definition: definition.clone(),
                    status: PinStatus::Approved,
                    first_seen_ms: now_ms,
                    changed_ms: now_ms,
                    approved_ms: Some(now_ms),
                    approved_by: Some(FIRST_USE.to_owned()),
                    approved_fingerprint: Some(fingerprint.clone()),
                    approved_definition: Some(definition.clone()),
                },
                None,
            )),
            None => Some((
                Pin {
                    server: server.to_owned(),
                    tool: tool.clone(),
                    fingerprint: fingerprint.clone(),
                    definition: definition.clone(),
                    status: PinStatus::Pending,
                    first_seen_ms: now_ms,
                    changed_ms: now_ms,
                    approved_ms: None,
                    approved_by: None,
                    approved_fingerprint: None,
                    approved_definition: None,
                },
                Some(PinChangeKind::New),
            )),
            Some(pin) if pin.fingerprint == *fingerprint => None,
            Some(pin) => {
                let reverted = pin.status == PinStatus::Pending
                    && pin.approved_fingerprint.as_deref() == Some(fingerprint.as_str());
                let mut next = pin.clone();
                next.fingerprint = fingerprint.clone();
                next.definition = definition.clone();
                next.changed_ms = now_ms;
                let kind = if reverted {
                    next.status = PinStatus::Approved;
                    // The approved definition as stored, not as sent: equal fingerprints.
                    if let Some(approved) = &pin.approved_definition {
                        next.definition = approved.clone();
                    }
                    PinChangeKind::Reverted
                } else {
                    next.status = PinStatus::Pending;
                    PinChangeKind::Changed
                };
                Some((next, Some(kind)))
            }
        };
        let Some((next, kind)) = next else {
            continue;
        };
        if let Some(kind) = kind {
            plan.changes.push(PinChange {
                tool: tool.clone(),
                kind,
                old_fingerprint: stored.get(tool).map(|p| p.fingerprint.clone()),
                new_fingerprint: next.fingerprint.clone(),
            });
        }
        written.insert(tool.clone());
        stored.insert(tool.clone(), next);
    }
    plan.writes = written
        .into_iter()
        .filter_map(|tool| stored.remove(&tool))
        .collect();
    plan
}

/// `pin` approved by `by` at `now_ms`, or `None` when it is not pending.
pub(crate) fn approved(pin: &Pin, by: &str, now_ms: u64) -> Option<Pin> {
    (pin.status == PinStatus::Pending).then(|| Pin {
        status: PinStatus::Approved,
        approved_ms: Some(now_ms),
        approved_by: Some(by.to_owned()),
        approved_fingerprint: Some(pin.fingerprint.clone()),
        approved_definition: Some(pin.definition.clone()),
        ..pin.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tool: &str, fp: &str) -> ObservedTool {
        (
            tool.to_owned(),
            fp.to_owned(),
            format!("{{\"fp\":\"{fp}\"}}"),
        )
    }

    #[test]
    fn a_tool_listed_twice_is_pending_on_its_second_definition() {
        let plan = plan_observation("s", BTreeMap::new(), true, &[t("a", "1"), t("a", "2")], 5);
        assert_eq!(plan.writes.len(), 1);
        let pin = &plan.writes[0];
        assert_eq!(pin.status, PinStatus::Pending);
        assert_eq!(
            (
                pin.fingerprint.as_str(),
                pin.approved_fingerprint.as_deref()
            ),
            ("2", Some("1"))
        );
        assert_eq!(
            plan.changes,
            [PinChange {
                tool: "a".into(),
                kind: PinChangeKind::Changed,
                old_fingerprint: Some("1".into()),
                new_fingerprint: "2".into(),
            }]
        );
        // Listed twice with one definition: once.
        let plan = plan_observation("s", BTreeMap::new(), true, &[t("a", "1"), t("a", "1")], 5);
        assert_eq!((plan.writes.len(), plan.changes.len()), (1, 0));
    }
}
