//! What the gateway does about tool definitions themselves, policy-wide: `pinning` (a tool
//! whose definition changed since it was approved, or that appeared after the server was
//! first seen) and `lint` (definitions that look like an attack: hidden instructions,
//! invisible characters, …).
//!
//! The finding kinds are plain strings here ([`LINT_KINDS`]), the names `warden-risk` gives
//! them, so this crate stays independent of the linter.

use std::fmt;

use crate::Policy;

/// What happens to a tool whose definition is not the approved one: `"pinning"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Pinning {
    /// Definitions are not pinned.
    Off,
    /// New and changed tools are recorded and reported, and still listed and callable. The
    /// default.
    #[default]
    Warn,
    /// New and changed tools are withheld (not listed, not callable) until approved.
    Enforce,
}

impl Pinning {
    /// `"off"`, `"warn"` or `"enforce"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pinning::Off => "off",
            Pinning::Warn => "warn",
            Pinning::Enforce => "enforce",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Pinning> {
        Some(match text {
            "off" => Pinning::Off,
            "warn" => Pinning::Warn,
            "enforce" => Pinning::Enforce,
            _ => return None,
        })
    }
}

impl fmt::Display for Pinning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to a tool with a lint finding of some kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LintAction {
    /// The kind is not checked.
    Off,
    /// The finding is reported; the tool stays listed and callable.
    Warn,
    /// The finding is reported and the tool is hidden: not listed, and called it answers as
    /// a tool that does not exist.
    Hide,
}

impl LintAction {
    /// `"off"`, `"warn"` or `"hide"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LintAction::Off => "off",
            LintAction::Warn => "warn",
            LintAction::Hide => "hide",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<LintAction> {
        Some(match text {
            "off" => LintAction::Off,
            "warn" => LintAction::Warn,
            "hide" => LintAction::Hide,
            _ => return None,
        })
    }
}

impl fmt::Display for LintAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The lint finding kinds a policy can name, with the action each gets when the policy
/// says nothing: the four that are attacks inside one definition are hidden, the two that
/// only show across servers (and may be an accident of naming) are reported.
pub const LINT_KINDS: &[(&str, LintAction)] = &[
    ("hidden_instructions", LintAction::Hide),
    ("invisible_unicode", LintAction::Hide),
    ("ansi_escape", LintAction::Hide),
    ("secret_file", LintAction::Hide),
    ("cross_server_reference", LintAction::Warn),
    ("shadowing", LintAction::Warn),
];

/// The compiled `lint` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LintSettings {
    /// The action of each of [`LINT_KINDS`], in its order.
    pub(crate) actions: [LintAction; 6],
    /// What a kind this build does not know gets: the blanket action written (`"lint":
    /// "off"`, or the object's `"default"`), else warn.
    pub(crate) other: LintAction,
}

impl Default for LintSettings {
    fn default() -> Self {
        let mut actions = [LintAction::Warn; 6];
        for (slot, (_, action)) in actions.iter_mut().zip(LINT_KINDS) {
            *slot = *action;
        }
        LintSettings {
            actions,
            other: LintAction::Warn,
        }
    }
}

impl LintSettings {
    /// Every kind gets `action`.
    pub(crate) fn all(action: LintAction) -> Self {
        LintSettings {
            actions: [action; 6],
            other: action,
        }
    }
}

impl Policy {
    /// The policy's `pinning`; [`Pinning::Warn`] when it has none.
    pub fn pinning(&self) -> Pinning {
        self.pinning
    }

    /// What to do with a tool that has a lint finding of `kind` (a name of [`LINT_KINDS`],
    /// e.g. `"hidden_instructions"`). The policy's `lint` decides: a kind it names gets that
    /// action, the others its `"default"` (or the one action `"lint": "<action>"` gives every
    /// kind), else the built-in default of [`LINT_KINDS`]. A kind this build does not know
    /// gets the policy's blanket action if it wrote one, else [`LintAction::Warn`].
    pub fn lint_action(&self, kind: &str) -> LintAction {
        LINT_KINDS
            .iter()
            .position(|(name, _)| *name == kind)
            .and_then(|i| self.lint.actions.get(i).copied())
            .unwrap_or(self.lint.other)
    }
}
