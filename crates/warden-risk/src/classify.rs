//! The classifier: a tool definition in, a category, a risk, the evidence and a rationale out.

use serde::Serialize;

/// What a tool does (DESIGN.md section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Retrieves data, no side effect.
    Read,
    /// Creates or updates data, reversibly.
    Write,
    /// Deletes or irreversibly overwrites.
    Destructive,
    /// Runs code, commands, queries, workflows, builds, integrations, deployments.
    Execute,
    /// Communicates outside: email, chat, posts, notifications, webhooks.
    Send,
    /// Moves money, charges, refunds, payouts, billing changes.
    Financial,
    /// Permissions, credentials, users, security settings, access grants.
    Admin,
}

impl Category {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Read => "read",
            Category::Write => "write",
            Category::Destructive => "destructive",
            Category::Execute => "execute",
            Category::Send => "send",
            Category::Financial => "financial",
            Category::Admin => "admin",
        }
    }
}

/// How dangerous it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Risk {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }
}

/// The classifier's judgement of one tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// The tool's name as given.
    pub name: String,
    /// What it does.
    pub category: Category,
    /// How dangerous.
    pub risk: Risk,
    /// What decided, each a short phrase naming the word, property or annotation and where it
    /// was found, e.g. `name word "delete"`, `property "amount" (number)`.
    pub evidence: Vec<String>,
    /// One or two plain-English sentences: what the tool does and what to do about it.
    pub rationale: String,
}

/// Classifies one MCP `Tool` object (`name`, `description`, `inputSchema`, `annotations`, …).
pub fn classify(tool: &serde_json::Value) -> Assessment {
    let _ = tool;
    unimplemented!("the classifier is being written")
}
