//! What the audit log records of a call's arguments.
//!
//! The gateway writes one audit record per `tools/call`. What it keeps of the
//! arguments is the operator's choice, per policy and per tool rule
//! (`"audit": {"arguments": ..., "redact": [...]}`), resolved by
//! [`Policy::audit_capture`] and applied by the gateway:
//!
//! - [`ArgumentCapture::Keys`] (the default): the top-level argument names.
//! - [`ArgumentCapture::Hashed`]: each top-level value replaced by
//!   `"hmac-sha256:<hex>"`, an HMAC-SHA256 keyed with the installation's
//!   32-byte salt over the value's canonical JSON, so equal values give equal
//!   hashes and an auditor can tell a value was used again without seeing it.
//! - [`ArgumentCapture::Full`]: the values, with secrets replaced by
//!   `"[REDACTED:<kind>]"` and long strings cut.
//!
//! Pure like the rest of the crate.

use std::fmt;

use crate::evaluate::Lookup;
use crate::model::Policy;

/// How a call's arguments are recorded. Chosen by `audit.arguments` in the
/// policy; the default is [`ArgumentCapture::Keys`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ArgumentCapture {
    /// Top-level argument names only, never values. The default.
    #[default]
    Keys,
    /// Each top-level value replaced by a salted hash of its canonical JSON.
    Hashed,
    /// Values, with secrets redacted and long strings cut.
    Full,
}

impl ArgumentCapture {
    /// The policy spelling: `"keys"`, `"hashed"` or `"full"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ArgumentCapture::Keys => "keys",
            ArgumentCapture::Hashed => "hashed",
            ArgumentCapture::Full => "full",
        }
    }
}

impl fmt::Display for ArgumentCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The audit settings that apply to one tool: [`Policy::audit_capture`]
/// resolves them. The default is
/// `keys` with no extra names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AuditCapture<'a> {
    /// The matched rule's `audit.arguments`, else the top-level one, else
    /// [`ArgumentCapture::Keys`].
    pub arguments: ArgumentCapture,
    /// Extra field names whose values are secrets, as written in the policy:
    /// the top-level `audit.redact` followed by the matched rule's (the lists
    /// add up), without repeats. Empty by default.
    pub redact: &'a [String],
}

impl Policy {
    /// The audit settings for a call to `tool`: the rule that
    /// [`evaluate`](Policy::evaluate) would use (exact names beat globs,
    /// longer globs beat shorter), falling back to the top-level `audit`
    /// for its `arguments`, then to the default [`ArgumentCapture::Keys`].
    /// Hidden and unlisted tools get the top-level settings.
    pub fn audit_capture(&self, tool: &str) -> AuditCapture<'_> {
        match self.lookup(tool) {
            Lookup::Rule(rule) => AuditCapture {
                arguments: rule.audit_arguments.unwrap_or(self.audit_arguments),
                redact: &rule.audit_redact,
            },
            Lookup::Hidden | Lookup::Unmatched => AuditCapture {
                arguments: self.audit_arguments,
                redact: &self.audit_redact,
            },
        }
    }
}
