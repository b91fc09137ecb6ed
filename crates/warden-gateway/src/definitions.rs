//! What the gateway knows of one server's tool definitions: their pins (rug-pull protection,
//! docs/pinning.md) and what the lint found in them (tool poisoning).
//!
//! One [`Definitions`] per server, shared by every guard of that server (`warden run` has one;
//! `warden serve` one per configured server, kept across requests and reloads). It observes
//! each listing the relay carries or fetches ([`Definitions::observe`]): each tool's
//! canonical definition is pinned in the [`PinStore`] (trust on first use for a server without
//! pins), each change is an audit event `tool_definition_changed`, and the facts learnt (which
//! tools wait for approval, which the lint would hide) decide what is listed
//! ([`Definitions::listed`]) and whether a call may go on ([`Definitions::check_call`]).
//!
//! The facts are a cache of the store for this process: a tool whose pin state was never
//! learnt, or facts made stale by `notifications/tools/list_changed`, make the relay check
//! again (fetching the whole catalogue) before a call is decided; under `enforce` a check
//! that cannot be made denies (fail closed).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};
use warden_policy::{LintAction, Pinning, Policy};
use warden_store::{AuditEntry, ObservedTool, PinChangeKind, PinStatus, PinStore};

use crate::audit::AuditLog;
use crate::clock::Clock;

/// The pointer a pinning denial names as its rule.
pub const PINNING_RULE: &str = "/pinning";

/// One server's tool definitions: pins, lint findings, and the facts last learnt.
#[derive(Debug)]
pub struct Definitions {
    server: String,
    pins: Arc<dyn PinStore>,
    audit: Option<Arc<AuditLog>>,
    clock: Arc<dyn Clock>,
    registry: Option<Arc<Registry>>,
    facts: std::sync::Mutex<Facts>,
    /// One check at a time per server, so a burst of calls after a change fetches once.
    checking: tokio::sync::Mutex<()>,
    /// The pin of each tool definition seen lately, by the definition's text as the server
    /// sent it: an unchanged definition is not parsed, written canonically and hashed again
    /// on every listing (that was most of what a listing of 1,000 unchanged tools cost).
    pin_memo: std::sync::Mutex<HashMap<String, ObservedTool>>,
}

/// How many definitions [`Definitions::pin_memo`] remembers before it starts afresh.
const PIN_MEMO_MAX: usize = 20_000;

#[derive(Debug, Default)]
struct Facts {
    /// The server has pins in the store: its first listing was trusted.
    seeded: bool,
    /// `notifications/tools/list_changed` arrived since the last check.
    stale: bool,
    /// The fingerprint each tool had when last observed by this process.
    observed: HashMap<String, String>,
    /// Tools whose current definition waits for approval.
    pending: HashSet<String>,
    /// Lint findings of each tool's last observed definition.
    findings: HashMap<String, Vec<LintFinding>>,
    /// (tool, fingerprint, kind) already recorded by this process.
    reported: HashSet<(String, String, String)>,
}

/// One lint finding, as the gateway keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintFinding {
    /// What was found (`hidden_instructions`, `invisible_unicode`, ...).
    pub kind: String,
    /// Where (`description`, `inputSchema.properties.x.description`, ...).
    pub field: String,
    /// What was seen, safe to print.
    pub evidence: String,
}

impl From<warden_risk::lint::Finding> for LintFinding {
    fn from(f: warden_risk::lint::Finding) -> Self {
        LintFinding {
            kind: f.kind.as_str().to_owned(),
            field: f.field,
            evidence: f.evidence,
        }
    }
}

/// What a call to a tool meets before the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Nothing in the way.
    Clear,
    /// The pin state is not known in this process, or is stale: check first.
    Unchecked,
    /// The lint hides the tool: answer as an unknown tool.
    Hidden,
    /// The definition waits for approval under `enforce`: deny with this reason.
    Pending(String),
}

impl Definitions {
    /// The definitions of `server`, pinned in `pins`, recorded in `audit`.
    pub fn new(
        server: &str,
        pins: Arc<dyn PinStore>,
        audit: Option<Arc<AuditLog>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Definitions {
            server: server.to_owned(),
            pins,
            audit,
            clock,
            registry: None,
            facts: std::sync::Mutex::default(),
            checking: tokio::sync::Mutex::new(()),
            pin_memo: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Shares the servers' last listings through `registry`, for the lints that compare
    /// servers (`shadowing`, `cross_server_reference`).
    pub fn with_registry(mut self, registry: Arc<Registry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The server's name.
    pub fn server(&self) -> &str {
        &self.server
    }

    fn facts(&self) -> std::sync::MutexGuard<'_, Facts> {
        self.facts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the policy enforces pins (`pinning: "enforce"`).
    pub fn enforcing(&self, policy: &Policy) -> bool {
        policy.pinning() == Pinning::Enforce
    }

    /// Makes the next call check again (the server said its tools changed).
    pub fn mark_stale(&self) {
        self.facts().stale = true;
    }

    /// Whether the whole catalogue must be fetched before a page may be observed: the server
    /// has no pins yet, and trust on first use must cover every page at once.
    pub async fn needs_catalog(&self, policy: &Policy) -> Result<bool, String> {
        if policy.pinning() == Pinning::Off || self.facts().seeded {
            return Ok(false);
        }
        let pins = self
            .pins
            .list(Some(&self.server))
            .await
            .map_err(|e| e.to_string())?;
        let seeded = !pins.is_empty();
        self.facts().seeded = seeded;
        Ok(!seeded)
    }

    /// One check at a time; hold the guard while fetching and observing.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.checking.lock().await
    }

    /// Observes a listing (a page, or the whole catalogue): pins each tool unless pinning is
    /// off, records each change, lints each tool, and learns what is pending and hidden.
    /// `tools` are the tools' JSON objects as the server sent them.
    pub async fn observe(
        &self,
        policy: &Policy,
        tools: &[String],
        complete: bool,
    ) -> Result<(), String> {
        let now = self.clock.now_ms();
        let pinned = self.pins_of(tools);
        let observed: Vec<ObservedTool> = pinned.iter().flatten().cloned().collect();
        let mode = policy.pinning();
        // A listing this process has seen before, tool for tool, changes nothing in the store
        // (each pin already holds that fingerprint), so it is not written again: a listing of
        // 1,000 unchanged tools used to cost a write transaction reading every pin twice.
        let unchanged = self.unchanged(&observed, mode);
        if mode != Pinning::Off && !unchanged {
            let changes = self
                .pins
                .observe(&self.server, &observed, now)
                .await
                .map_err(|e| e.to_string())?;
            for c in &changes {
                let verb = match c.kind {
                    PinChangeKind::New => "is new since the server's tools were approved",
                    PinChangeKind::Changed => "changed since it was approved",
                    PinChangeKind::Reverted => "is back to its approved definition",
                };
                if c.kind == PinChangeKind::Reverted {
                    tracing::info!(server = %self.server, tool = %c.tool, "tool definition {verb}");
                } else {
                    tracing::warn!(
                        server = %self.server, tool = %c.tool,
                        "tool definition {verb}; review with `warden pins diff {} {}`",
                        self.server, c.tool
                    );
                }
                self.record(
                    "tool_definition_changed",
                    json!({
                        "tool": c.tool,
                        "kind": c.kind.as_str(),
                        "old_fingerprint": c.old_fingerprint,
                        "new_fingerprint": c.new_fingerprint,
                    }),
                );
            }
            let pins = self
                .pins
                .list(Some(&self.server))
                .await
                .map_err(|e| e.to_string())?;
            let mut f = self.facts();
            f.seeded = !pins.is_empty();
            f.pending = pins
                .iter()
                .filter(|p| p.status == PinStatus::Pending)
                .map(|p| p.tool.clone())
                .collect();
        }
        // Lint findings depend on the definition alone, except across servers (the registry
        // of `warden serve`): an unchanged listing keeps the findings already learnt.
        if mode == Pinning::Off {
            // Fingerprints learnt while pinning was off were never stored: should a reload
            // turn pinning on, the next listing must go to the store, not pass as unchanged.
            self.facts().seeded = false;
        }
        let linted = if unchanged && self.registry.is_none() {
            Vec::new()
        } else {
            self.lint(tools, &pinned)
        };
        let mut f = self.facts();
        for (name, fingerprint, _) in &observed {
            f.observed.insert(name.clone(), fingerprint.clone());
        }
        for (tool, fingerprint, findings) in linted {
            for finding in &findings {
                if policy.lint_action(&finding.kind) == LintAction::Off {
                    continue;
                }
                let key = (tool.clone(), fingerprint.clone(), finding.kind.clone());
                if f.reported.insert(key) {
                    tracing::warn!(
                        server = %self.server, tool = %tool, kind = %finding.kind,
                        field = %finding.field, "suspicious tool definition"
                    );
                    self.record(
                        "tool_definition_finding",
                        json!({
                            "tool": tool,
                            "kind": finding.kind,
                            "field": finding.field,
                            "evidence": finding.evidence,
                        }),
                    );
                }
            }
            f.findings.insert(tool, findings);
        }
        if complete {
            f.stale = false;
        }
        Ok(())
    }

    /// Whether `observed` is, tool for tool, what this process last observed and stored, with
    /// nothing to learn from the store either. Not when the facts are stale (the server said
    /// its tools changed: the store may know of a change another process saw), nor under
    /// `enforce` while a tool is pending here (another process may have approved it since,
    /// `warden pins approve`); under `warn` pending tools change nothing. A definition another
    /// process saw change is a new fingerprint here too once this process lists it.
    fn unchanged(&self, observed: &[ObservedTool], mode: Pinning) -> bool {
        let f = self.facts();
        let known = !f.stale
            && !observed.is_empty()
            && observed
                .iter()
                .all(|(name, print, _)| f.observed.get(name) == Some(print));
        known
            && match mode {
                Pinning::Off => true,
                Pinning::Warn => f.seeded,
                Pinning::Enforce => f.seeded && f.pending.is_empty(),
            }
    }

    /// The pin of each tool (`None` where the text is not a tool), from the memo where the
    /// same text was pinned before.
    fn pins_of(&self, tools: &[String]) -> Vec<Option<ObservedTool>> {
        let mut memo = self.pin_memo.lock().unwrap_or_else(|p| p.into_inner());
        if memo.len() > PIN_MEMO_MAX {
            memo.clear();
        }
        tools
            .iter()
            .map(|t| {
                if let Some(pin) = memo.get(t.as_str()) {
                    return Some(pin.clone());
                }
                let pin = warden_protocol::tool_pin(t)?;
                memo.insert(t.clone(), pin.clone());
                Some(pin)
            })
            .collect()
    }

    /// Lints each tool (`pinned` holds their pins, in the same order): its findings, by tool
    /// with its fingerprint.
    fn lint(
        &self,
        tools: &[String],
        pinned: &[Option<ObservedTool>],
    ) -> Vec<(String, String, Vec<LintFinding>)> {
        let mut parsed: Vec<Value> = Vec::with_capacity(tools.len());
        let mut out: Vec<(String, String, Vec<LintFinding>)> = Vec::new();
        for (raw, pin) in tools.iter().zip(pinned) {
            let (Some((name, fingerprint, _)), Ok(tool)) =
                (pin, serde_json::from_str::<Value>(raw))
            else {
                continue;
            };
            let findings = warden_risk::lint::lint_tool(&tool)
                .into_iter()
                .map(LintFinding::from)
                .collect();
            out.push((name.clone(), fingerprint.clone(), findings));
            parsed.push(tool);
        }
        if let Some(registry) = &self.registry {
            for (tool, finding) in registry.cross_server(&self.server, &parsed) {
                if let Some(entry) = out.iter_mut().find(|(n, _, _)| *n == tool) {
                    entry.2.push(finding);
                }
            }
        }
        out
    }

    /// Whether `tool` may be listed (the policy's own `is_listed` is checked apart): not when
    /// its definition waits for approval under `enforce`, nor when the lint hides it.
    pub fn listed(&self, policy: &Policy, tool: &str) -> bool {
        let f = self.facts();
        let pending = policy.pinning() == Pinning::Enforce && f.pending.contains(tool);
        !pending && !hidden_by_lint(policy, f.findings.get(tool))
    }

    /// What a call to `tool` meets, from the facts last learnt. A pending tool is looked up
    /// in the store again, so an approval given by another process counts at once.
    pub async fn check_call(&self, policy: &Policy, tool: &str) -> Standing {
        let (fingerprint, pending, hidden) = {
            let f = self.facts();
            if f.stale || !f.observed.contains_key(tool) {
                return Standing::Unchecked;
            }
            (
                f.observed.get(tool).cloned(),
                f.pending.contains(tool),
                hidden_by_lint(policy, f.findings.get(tool)),
            )
        };
        if hidden {
            return Standing::Hidden;
        }
        if policy.pinning() != Pinning::Enforce || !pending {
            return Standing::Clear;
        }
        match self.pins.get(&self.server, tool).await {
            Ok(Some(pin))
                if pin.status == PinStatus::Approved
                    && Some(&pin.fingerprint) == fingerprint.as_ref() =>
            {
                self.facts().pending.remove(tool);
                Standing::Clear
            }
            Ok(_) => Standing::Pending(self.pending_reason(tool)),
            Err(e) => {
                tracing::error!(error = %e, tool, "pin store failed; denying (fail closed)");
                Standing::Pending(format!(
                    "the gateway could not check the definition of tool \"{tool}\" (state store error), so the call is denied; try again shortly"
                ))
            }
        }
    }

    /// Why a pending tool's call is denied.
    pub fn pending_reason(&self, tool: &str) -> String {
        format!(
            "the definition of tool \"{tool}\" on server \"{server}\" is new or changed since it was approved; an operator can review it with `warden pins diff {server} {tool}` and approve it with `warden pins approve {server} {tool}`",
            server = self.server
        )
    }

    /// The reason a call is denied when its definition could not be checked at all.
    pub fn unchecked_reason(&self, tool: &str, why: &str) -> String {
        format!(
            "the definition of tool \"{tool}\" on server \"{}\" could not be checked against its approved pin ({why}), so the call is denied (fail closed); try again shortly",
            self.server
        )
    }

    /// Records an event about this server, without waiting.
    fn record(&self, event: &str, detail: Value) {
        let Some(log) = &self.audit else {
            return;
        };
        let mut entry = AuditEntry::event(log.now_ms(), event, &detail);
        entry.server = Some(self.server.clone());
        let log = log.clone();
        tokio::spawn(async move {
            if let Err(e) = log.record(entry).await {
                tracing::error!(error = %e, "an event's audit record is not durable");
            }
        });
    }
}

fn hidden_by_lint(policy: &Policy, findings: Option<&Vec<LintFinding>>) -> bool {
    findings.is_some_and(|fs| {
        fs.iter()
            .any(|f| policy.lint_action(&f.kind) == LintAction::Hide)
    })
}

/// The servers' last listings, team-wide, for the lints that compare servers.
#[derive(Debug, Default)]
pub struct Registry {
    listings: std::sync::Mutex<std::collections::BTreeMap<String, Vec<Value>>>,
}

impl Registry {
    /// Records `server`'s listing and returns the cross-server findings of its tools, by tool.
    fn cross_server(&self, server: &str, tools: &[Value]) -> Vec<(String, LintFinding)> {
        let mut all = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        all.insert(server.to_owned(), tools.to_vec());
        if all.len() < 2 {
            return Vec::new();
        }
        let servers: Vec<(&str, Vec<Value>)> =
            all.iter().map(|(s, t)| (s.as_str(), t.clone())).collect();
        warden_risk::lint::lint_servers(&servers)
            .into_iter()
            .filter(|(s, _, _)| s == server)
            .map(|(_, tool, f)| (tool, LintFinding::from(f)))
            .collect()
    }
}
