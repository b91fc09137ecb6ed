//! The `approval` block: who may approve a held call, how long it waits, how long an
//! approval lasts, whether the call waits or returns at once, and where to announce it.
//!
//! The block may appear at the top level (defaults for every approval of the policy,
//! `default: "approve"` included) and in any tool rule; a rule's fields override the top
//! level's field by field, and fields written nowhere take the defaults below.

/// How a call that needs approval is asked for and answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalSettings {
    /// `approvers`: who may approve. Default `["user", "operator"]`.
    pub approvers: Vec<Approver>,
    /// `timeout`: how long a request waits for an answer; then it expires and the call is
    /// denied. Also how long an approval given to an `async` request waits for the retry.
    /// Written as whole seconds or a duration (`"90s"`, `"10m"`, `"2h"`); more than 0 and at
    /// most 7 days. Default 10 minutes.
    pub timeout_ms: u64,
    /// `valid_for`: once approved, identical calls (same grant, tool and argument digest)
    /// pass without asking again for this long; at most 30 days. Default 0: the approval
    /// covers one call.
    pub valid_for_ms: u64,
    /// `mode`: `"hold"` (the call waits for the answer) or `"async"` (the call returns at
    /// once naming the approval; the agent retries after approval). Default `"hold"`.
    pub mode: ApprovalMode,
    /// `webhook`: where each request (and its outcome) is POSTed. Default none; a rule's
    /// `"webhook": null` turns off the top level's.
    pub webhook: Option<Webhook>,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings {
            approvers: vec![Approver::User, Approver::Operator],
            timeout_ms: 10 * 60 * 1000,
            valid_for_ms: 0,
            mode: ApprovalMode::Hold,
            webhook: None,
        }
    }
}

impl ApprovalSettings {
    /// Whether the human at the client may be asked (`"user"` is an approver).
    pub fn asks_user(&self) -> bool {
        self.approvers.contains(&Approver::User)
    }

    /// The approvers as written in the policy, e.g. `["user", "group:finance"]`.
    pub fn approver_names(&self) -> Vec<String> {
        self.approvers.iter().map(Approver::to_string).collect()
    }
}

/// One entry of `approvers`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Approver {
    /// `"user"`: the human at the client, asked through the protocol (elicitation, or an
    /// `input_required` result on 2026-07-28).
    User,
    /// `"operator"`: whoever holds the gateway's operator access: `warden approvals` on the
    /// state, or the admin API's token.
    Operator,
    /// `"group:<name>"`: any identity whose `groups` attribute lists `<name>`.
    Group(String),
    /// Any other text: that identity, authenticated by its own credential.
    Identity(String),
}

impl Approver {
    /// Reads one `approvers` entry.
    pub fn parse(text: &str) -> Approver {
        match text {
            "user" => Approver::User,
            "operator" => Approver::Operator,
            _ => match text.strip_prefix("group:") {
                Some(g) => Approver::Group(g.to_owned()),
                None => Approver::Identity(text.to_owned()),
            },
        }
    }
}

impl std::fmt::Display for Approver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Approver::User => f.write_str("user"),
            Approver::Operator => f.write_str("operator"),
            Approver::Group(g) => write!(f, "group:{g}"),
            Approver::Identity(i) => f.write_str(i),
        }
    }
}

/// `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApprovalMode {
    /// The call waits for the answer (the client gets progress notifications meanwhile).
    #[default]
    Hold,
    /// The call returns at once with an `isError` result naming the approval id.
    Async,
}

impl ApprovalMode {
    /// `"hold"` or `"async"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalMode::Hold => "hold",
            ApprovalMode::Async => "async",
        }
    }
}

/// `webhook`: `{"url": "https://…", "format": "json" | "slack"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `url`: an `http` or `https` URL, as normalized by the `url` crate.
    pub url: String,
    /// `format`: the body's shape. Default [`WebhookFormat::Json`].
    pub format: WebhookFormat,
}

/// The body of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebhookFormat {
    /// Warden's own JSON document.
    #[default]
    Json,
    /// A body Slack's incoming webhooks accept (`text` and `blocks`).
    Slack,
}

impl crate::Policy {
    /// Every webhook the policy's approvals announce to (top level and rules), without
    /// repeats: the gateway refuses a policy naming one when it has no secret to sign with.
    pub fn approval_webhooks(&self) -> Vec<&Webhook> {
        let mut out: Vec<&Webhook> = Vec::new();
        let all = std::iter::once(&self.approval).chain(self.rules.iter().map(|r| &r.approval));
        for settings in all {
            if let Some(hook) = &settings.webhook
                && !out.contains(&hook)
            {
                out.push(hook);
            }
        }
        out
    }
}
