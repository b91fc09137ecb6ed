//! The classifier's vocabulary: what verbs do, which objects matter, which words raise a risk.
//! Every entry is a plain English word (stemmed when the tables are built, so `delete` also
//! matches `deletes`, `deleted`, `deleting`), or a compound written with `_` (`api_key`), which
//! is matched as a run of words and never stemmed. No tool, product or server names: the rules
//! must hold for servers nobody has seen.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use crate::words::stem;

/// What a verb does to the world, in the order of severity used when two verbs are joined
/// (`create_or_update`, `find_and_delete`): the more severe one decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Act {
    /// Retrieves.
    Read,
    /// Creates or changes, reversibly.
    Write,
    /// Communicates outside.
    Send,
    /// Deletes or overwrites.
    Destroy,
    /// Runs something.
    Execute,
    /// Moves money.
    Pay,
    /// Changes who may do what.
    Govern,
}

/// Flags on a verb entry.
pub(crate) mod flag {
    /// Often a noun (`log`, `run`, `post`, `commit`): a verb only when no other verb is there.
    pub const NOUNISH: u16 = 1;
    /// Says little on its own (`perform`, `manage`, `post` as an HTTP method): the next word,
    /// or the description, says what is done.
    pub const LIGHT: u16 = 2;
    /// Runs what it is given (`run`, `execute`, `eval`, `start`): arbitrary code, commands or
    /// images make it critical.
    pub const RUNS: u16 = 4;
    /// Controls something running (`cancel`, `stop`, `retry`): on a workflow or job it is an
    /// execution, not an edit.
    pub const CONTROL: u16 = 8;
    /// Brings something new into being (`create`, `add`, `post`, `write`): creating a chat
    /// message sends it.
    pub const CREATES: u16 = 16;
    /// Reads contents (`read`, `cat`, `open`): of a file, that is sensitive.
    pub const CONTENT: u16 = 32;
    /// Goes to a location (`navigate`, `fetch`, `visit`): with a URL, that is an SSRF and
    /// exfiltration vector.
    pub const VISITS: u16 = 64;
    /// Always critical when it is the deciding verb (`eval`, `deploy`).
    pub const CRITICAL: u16 = 128;
    /// Acts on a web page as a user would (`click`, `type`, `press`).
    pub const INTERACTS: u16 = 256;
    /// A personal, social gesture (`follow`, `like`, `star`): its object (a user, a channel)
    /// does not make it administration.
    pub const SOCIAL: u16 = 512;
}

use flag::*;

const VERBS: &[(&str, Act, u16)] = &[
    // Reads.
    ("aggregate", Act::Read, 0),
    ("analyse", Act::Read, 0),
    ("analyze", Act::Read, 0),
    ("ask", Act::Read, 0),
    ("browse", Act::Read, VISITS),
    ("calculate", Act::Read, 0),
    ("capture", Act::Read, NOUNISH),
    ("cat", Act::Read, CONTENT),
    ("check", Act::Read, NOUNISH),
    ("compare", Act::Read, 0),
    ("compute", Act::Read, 0),
    ("convert", Act::Read, 0),
    ("demonstrate", Act::Read, 0),
    ("count", Act::Read, NOUNISH),
    ("crawl", Act::Read, VISITS),
    ("describe", Act::Read, 0),
    ("detail", Act::Read, NOUNISH),
    ("diff", Act::Read, NOUNISH),
    ("discover", Act::Read, 0),
    ("echo", Act::Read, 0),
    ("estimate", Act::Read, 0),
    ("explain", Act::Read, 0),
    ("explore", Act::Read, 0),
    ("export", Act::Read, 0),
    ("extract", Act::Read, 0),
    ("fetch", Act::Read, VISITS),
    ("find", Act::Read, 0),
    ("generate", Act::Read, 0),
    ("get", Act::Read, 0),
    ("glob", Act::Read, 0),
    ("go", Act::Read, NOUNISH | VISITS),
    ("grep", Act::Read, 0),
    ("history", Act::Read, NOUNISH),
    ("identify", Act::Read, 0),
    ("info", Act::Read, NOUNISH),
    ("inspect", Act::Read, 0),
    ("list", Act::Read, 0),
    ("load", Act::Read, NOUNISH),
    ("log", Act::Read, NOUNISH),
    ("look", Act::Read, 0),
    ("lookup", Act::Read, 0),
    ("monitor", Act::Read, NOUNISH),
    ("navigate", Act::Read, VISITS),
    ("open", Act::Read, NOUNISH | CONTENT | VISITS),
    ("parse", Act::Read, 0),
    ("ping", Act::Read, NOUNISH),
    ("poll", Act::Read, NOUNISH),
    ("preview", Act::Read, NOUNISH),
    ("print", Act::Read, NOUNISH),
    ("query", Act::Read, NOUNISH),
    ("read", Act::Read, CONTENT),
    ("recommend", Act::Read, 0),
    ("render", Act::Read, 0),
    ("retrieve", Act::Read, 0),
    ("transcribe", Act::Read, 0),
    ("sample", Act::Read, NOUNISH),
    ("return", Act::Read, NOUNISH),
    ("scan", Act::Read, NOUNISH),
    ("scrape", Act::Read, VISITS),
    ("screenshot", Act::Read, NOUNISH),
    ("search", Act::Read, 0),
    ("see", Act::Read, 0),
    ("show", Act::Read, 0),
    ("simulate", Act::Read, 0),
    ("snapshot", Act::Read, NOUNISH),
    ("stat", Act::Read, NOUNISH),
    ("status", Act::Read, NOUNISH),
    ("suggest", Act::Read, 0),
    ("sum", Act::Read, NOUNISH),
    ("summarize", Act::Read, 0),
    ("summarise", Act::Read, 0),
    ("tail", Act::Read, CONTENT),
    ("test", Act::Read, NOUNISH),
    ("translate", Act::Read, 0),
    ("validate", Act::Read, 0),
    ("verify", Act::Read, 0),
    ("view", Act::Read, 0),
    ("visit", Act::Read, VISITS),
    ("wait", Act::Read, 0),
    ("watch", Act::Read, NOUNISH),
    ("whoami", Act::Read, 0),
    // Writes.
    ("accept", Act::Write, 0),
    ("add", Act::Write, CREATES),
    ("append", Act::Write, CREATES),
    ("approve", Act::Write, CONTROL),
    ("alter", Act::Write, 0),
    ("archive", Act::Write, 0),
    ("assign", Act::Write, 0),
    ("attach", Act::Write, 0),
    ("cancel", Act::Write, CONTROL),
    ("change", Act::Write, NOUNISH),
    ("checkout", Act::Write, NOUNISH),
    ("clone", Act::Write, 0),
    ("close", Act::Write, 0),
    ("comment", Act::Write, NOUNISH | CREATES),
    ("commit", Act::Write, NOUNISH),
    ("complete", Act::Write, 0),
    ("configure", Act::Write, 0),
    ("copy", Act::Write, 0),
    ("connect", Act::Write, 0),
    ("create", Act::Write, CREATES),
    ("decline", Act::Write, 0),
    ("decrement", Act::Write, 0),
    ("detach", Act::Write, 0),
    ("disconnect", Act::Write, 0),
    ("deactivate", Act::Write, 0),
    ("disable", Act::Write, 0),
    ("dismiss", Act::Write, 0),
    ("download", Act::Write, 0),
    ("draft", Act::Write, NOUNISH),
    ("duplicate", Act::Write, 0),
    ("edit", Act::Write, 0),
    ("enable", Act::Write, 0),
    ("finalize", Act::Write, 0),
    ("finalise", Act::Write, 0),
    ("fork", Act::Write, 0),
    ("hide", Act::Write, 0),
    ("ignore", Act::Write, 0),
    ("import", Act::Write, 0),
    ("increment", Act::Write, 0),
    ("insert", Act::Write, CREATES),
    ("label", Act::Write, NOUNISH),
    ("link", Act::Write, NOUNISH),
    ("like", Act::Write, NOUNISH | SOCIAL),
    ("lock", Act::Write, NOUNISH),
    ("mark", Act::Write, 0),
    ("merge", Act::Write, 0),
    ("modify", Act::Write, 0),
    ("move", Act::Write, 0),
    ("mute", Act::Write, SOCIAL),
    ("note", Act::Write, NOUNISH | CREATES),
    ("patch", Act::Write, NOUNISH | LIGHT),
    ("pause", Act::Write, CONTROL),
    ("pin", Act::Write, NOUNISH),
    ("place", Act::Write, CREATES),
    ("post", Act::Write, NOUNISH | LIGHT | CREATES),
    ("prepend", Act::Write, CREATES),
    ("pull", Act::Write, NOUNISH),
    ("push", Act::Write, 0),
    ("put", Act::Write, LIGHT | CREATES),
    ("react", Act::Write, SOCIAL),
    ("rebase", Act::Write, 0),
    ("record", Act::Write, NOUNISH),
    ("refresh", Act::Write, CONTROL),
    ("register", Act::Write, CREATES),
    ("reject", Act::Write, CONTROL),
    ("reload", Act::Write, CONTROL),
    ("remember", Act::Write, CREATES),
    ("rename", Act::Write, 0),
    ("reopen", Act::Write, 0),
    ("reorder", Act::Write, 0),
    ("replace", Act::Write, 0),
    ("reschedule", Act::Write, 0),
    ("resize", Act::Write, 0),
    ("resolve", Act::Write, 0),
    ("restart", Act::Write, CONTROL),
    ("restore", Act::Write, 0),
    ("resume", Act::Write, CONTROL),
    ("retry", Act::Write, CONTROL),
    ("save", Act::Write, CREATES),
    ("scale", Act::Write, 0),
    ("schedule", Act::Write, NOUNISH | CREATES),
    ("set", Act::Write, 0),
    ("snooze", Act::Write, 0),
    ("sort", Act::Write, NOUNISH),
    ("stage", Act::Write, NOUNISH),
    ("star", Act::Write, NOUNISH | SOCIAL),
    ("start", Act::Write, CONTROL),
    ("stop", Act::Write, CONTROL),
    ("store", Act::Write, NOUNISH | CREATES),
    ("subscribe", Act::Write, SOCIAL),
    ("suspend", Act::Write, 0),
    ("switch", Act::Write, 0),
    ("sync", Act::Write, 0),
    ("tag", Act::Write, NOUNISH),
    ("toggle", Act::Write, 0),
    ("transition", Act::Write, NOUNISH),
    ("unarchive", Act::Write, 0),
    ("unassign", Act::Write, 0),
    ("unfollow", Act::Write, SOCIAL),
    ("unhide", Act::Write, 0),
    ("unlink", Act::Write, 0),
    ("unlock", Act::Write, 0),
    ("unmute", Act::Write, SOCIAL),
    ("unpin", Act::Write, 0),
    ("unstage", Act::Write, 0),
    ("unstar", Act::Write, SOCIAL),
    ("unsubscribe", Act::Write, SOCIAL),
    ("update", Act::Write, 0),
    ("upgrade", Act::Write, 0),
    ("upsert", Act::Write, CREATES),
    ("write", Act::Write, CREATES),
    ("follow", Act::Write, SOCIAL),
    // Destroys.
    ("clear", Act::Destroy, 0),
    ("cleanup", Act::Destroy, 0),
    ("decommission", Act::Destroy, 0),
    ("delete", Act::Destroy, 0),
    ("deprovision", Act::Destroy, 0),
    ("destroy", Act::Destroy, 0),
    ("discard", Act::Destroy, 0),
    ("drop", Act::Destroy, 0),
    ("erase", Act::Destroy, 0),
    ("evict", Act::Destroy, 0),
    ("expunge", Act::Destroy, 0),
    ("flush", Act::Destroy, 0),
    ("nuke", Act::Destroy, 0),
    ("overwrite", Act::Destroy, 0),
    ("prune", Act::Destroy, 0),
    ("purge", Act::Destroy, 0),
    ("remove", Act::Destroy, 0),
    ("reset", Act::Destroy, 0),
    ("trash", Act::Destroy, 0),
    ("truncate", Act::Destroy, 0),
    ("uninstall", Act::Destroy, 0),
    ("unregister", Act::Destroy, 0),
    ("wipe", Act::Destroy, 0),
    // Executes.
    ("apply", Act::Execute, LIGHT),
    ("build", Act::Execute, NOUNISH),
    ("call", Act::Execute, NOUNISH),
    ("click", Act::Execute, INTERACTS),
    ("compile", Act::Execute, 0),
    ("deploy", Act::Execute, CRITICAL),
    ("dispatch", Act::Execute, 0),
    ("drag", Act::Execute, INTERACTS),
    ("eval", Act::Execute, RUNS | CRITICAL),
    ("evaluate", Act::Execute, RUNS),
    ("exec", Act::Execute, RUNS | CRITICAL),
    ("execute", Act::Execute, RUNS),
    ("fill", Act::Execute, INTERACTS),
    ("hover", Act::Execute, INTERACTS),
    ("install", Act::Execute, 0),
    ("interrupt", Act::Execute, CONTROL),
    ("invoke", Act::Execute, RUNS),
    ("kill", Act::Execute, CONTROL),
    ("launch", Act::Execute, RUNS),
    ("migrate", Act::Execute, 0),
    ("press", Act::Execute, INTERACTS),
    ("provision", Act::Execute, 0),
    ("redeploy", Act::Execute, CRITICAL),
    ("rerun", Act::Execute, 0),
    ("rollback", Act::Execute, 0),
    ("rotate", Act::Write, 0),
    ("run", Act::Execute, NOUNISH | RUNS),
    ("scroll", Act::Execute, INTERACTS),
    ("select", Act::Execute, NOUNISH | INTERACTS),
    ("signal", Act::Execute, NOUNISH | CONTROL),
    ("spawn", Act::Execute, RUNS),
    ("submit", Act::Execute, INTERACTS),
    ("tap", Act::Execute, INTERACTS),
    ("terminate", Act::Execute, CONTROL),
    ("trigger", Act::Execute, 0),
    ("type", Act::Execute, NOUNISH | INTERACTS),
    // Sends.
    ("announce", Act::Send, 0),
    ("broadcast", Act::Send, NOUNISH),
    ("dm", Act::Send, NOUNISH),
    ("page", Act::Send, NOUNISH),
    ("email", Act::Send, NOUNISH),
    ("forward", Act::Send, 0),
    ("mail", Act::Send, NOUNISH),
    ("message", Act::Send, NOUNISH),
    ("notify", Act::Send, 0),
    ("publish", Act::Send, 0),
    ("reply", Act::Send, NOUNISH),
    ("respond", Act::Send, 0),
    ("retweet", Act::Send, 0),
    ("send", Act::Send, 0),
    ("share", Act::Send, 0),
    ("sms", Act::Send, NOUNISH),
    ("text", Act::Send, NOUNISH),
    ("tweet", Act::Send, NOUNISH),
    ("upload", Act::Send, 0),
    // Moves money.
    ("bill", Act::Pay, NOUNISH),
    ("buy", Act::Pay, 0),
    ("charge", Act::Pay, NOUNISH),
    ("deposit", Act::Pay, NOUNISH),
    ("donate", Act::Pay, 0),
    ("mint", Act::Pay, 0),
    ("invoice", Act::Pay, NOUNISH),
    ("pay", Act::Pay, 0),
    ("payout", Act::Pay, NOUNISH),
    ("purchase", Act::Pay, NOUNISH),
    ("refund", Act::Pay, NOUNISH),
    ("sell", Act::Pay, 0),
    ("swap", Act::Pay, 0),
    ("tip", Act::Pay, NOUNISH),
    ("trade", Act::Pay, NOUNISH),
    ("transfer", Act::Pay, NOUNISH),
    ("void", Act::Pay, 0),
    ("withdraw", Act::Pay, 0),
    // Governs access.
    ("authorize", Act::Govern, 0),
    ("authorise", Act::Govern, 0),
    ("authenticate", Act::Govern, 0),
    ("ban", Act::Govern, 0),
    ("block", Act::Govern, NOUNISH),
    ("deauthorize", Act::Govern, 0),
    ("demote", Act::Govern, 0),
    ("elevate", Act::Govern, 0),
    ("grant", Act::Govern, NOUNISH),
    ("impersonate", Act::Govern, 0),
    ("invite", Act::Govern, 0),
    ("kick", Act::Govern, 0),
    ("log_in", Act::Govern, 0),
    ("login", Act::Govern, NOUNISH),
    ("sign_in", Act::Govern, 0),
    ("revoke", Act::Govern, 0),
    ("unban", Act::Govern, 0),
    ("unblock", Act::Govern, 0),
    // Say little on their own.
    ("allow", Act::Write, LIGHT),
    ("do", Act::Write, LIGHT),
    ("handle", Act::Write, LIGHT),
    ("initiate", Act::Write, LIGHT),
    ("interact", Act::Execute, LIGHT | RUNS),
    ("make", Act::Write, LIGHT),
    ("manage", Act::Write, LIGHT),
    ("operate", Act::Write, LIGHT),
    ("perform", Act::Execute, LIGHT),
    ("process", Act::Write, NOUNISH | LIGHT),
];

/// Nouns that name an action, for descriptions such as "Performs retrieval from…" or
/// "Initiate a refund": what a light verb is doing.
const NOMINALS: &[(&str, Act)] = &[
    ("keyboard", Act::Execute),
    ("mouse", Act::Execute),
    ("analysis", Act::Read),
    ("creation", Act::Write),
    ("deletion", Act::Destroy),
    ("deployment", Act::Execute),
    ("edit", Act::Write),
    ("execution", Act::Execute),
    ("insertion", Act::Write),
    ("lookup", Act::Read),
    ("migration", Act::Execute),
    ("modification", Act::Write),
    ("payment", Act::Pay),
    ("refund", Act::Pay),
    ("removal", Act::Destroy),
    ("retrieval", Act::Read),
    ("search", Act::Read),
    ("transfer", Act::Pay),
    ("update", Act::Write),
    ("upload", Act::Send),
];

/// Runs of words read as one noun. The joined form is the word's stem and text.
const COMPOUNDS: &[&str] = &[
    "access_key",
    "access_list",
    "access_token",
    "allow_list",
    "anon_key",
    "api_key",
    "api_token",
    "auth_token",
    "bank_account",
    "branch_protection",
    "client_secret",
    "container_image",
    "credit_card",
    "deploy_key",
    "edge_function",
    "environment_variable",
    "env_var",
    "gpg_key",
    "invoice_item",
    "knowledge_base",
    "log_in",
    "merge_request",
    "network_request",
    "payment_intent",
    "payment_link",
    "payment_method",
    "personal_access_token",
    "phone_number",
    "private_key",
    "pull_request",
    "refresh_token",
    "resource_server",
    "secret_key",
    "security_group",
    "service_account",
    "sign_in",
    "signing_key",
    "source_code",
    "ssh_key",
    "user_group",
    "who_am_i",
    // Subscriptions that are not billing.
    "event_subscription",
    "resource_subscription",
    "notification_subscription",
    "push_subscription",
    "topic_subscription",
    "webhook_subscription",
];

/// Money: acting on these (other than reading) is financial.
const MONEY: &[&str] = &[
    "bank_account",
    "billing",
    "capture",
    "charge",
    "checkout",
    "credit",
    "credit_card",
    "deposit",
    "dispute",
    "expense",
    "fund",
    "invoice",
    "invoice_item",
    "money",
    "order",
    "payment",
    "payment_intent",
    "payment_link",
    "payment_method",
    "payout",
    "payroll",
    "refund",
    "reimbursement",
    "subscription",
    "transaction",
    "transfer",
    "wallet",
    "withdrawal",
];

/// Catalogue objects: they carry amounts but creating them moves no money.
const CATALOG: &[&str] = &[
    "catalog",
    "coupon",
    "discount",
    "plan",
    "price",
    "product",
    "promo",
    "promotion",
    "sku",
    "tax_rate",
];

/// Access: acting on these (other than reading) is administration.
const ADMIN: &[&str] = &[
    "access",
    "access_key",
    "access_list",
    "access_token",
    "acl",
    "admin",
    "administrator",
    "allow_list",
    "allowlist",
    "anon_key",
    "api_key",
    "api_token",
    "auth",
    "auth_token",
    "authentication",
    "authorization",
    "branch_protection",
    "cidr",
    "client_secret",
    "collaborator",
    "credential",
    "delegate",
    "delegation",
    "deploy_key",
    "dsn",
    "firewall",
    "forwarding",
    "gpg_key",
    "iam",
    "invitation",
    "login",
    "member",
    "membership",
    "mfa",
    "oauth",
    "ownership",
    "passphrase",
    "password",
    "permission",
    "personal_access_token",
    "policy",
    "private_key",
    "privilege",
    "rbac",
    "refresh_token",
    "resource_server",
    "role",
    "ruleset",
    "saml",
    "scope",
    "secret",
    "secret_key",
    "security",
    "security_group",
    "service_account",
    "signing_key",
    "ssh_key",
    "sso",
    "token",
    "totp",
    "user",
    "user_group",
    "visibility",
    "webhook",
    "whitelist",
];

/// Admin objects that only count when the tool's own name makes them its object (a `filter`
/// created on a mailbox forwards or deletes future mail; a filter in a search is a parameter).
const ADMIN_BY_NAME: &[&str] = &["filter", "public"];

/// Messages: creating one sends it.
const MESSAGES: &[&str] = &[
    "dm",
    "email",
    "mail",
    "message",
    "notification",
    "post",
    "reply",
    "sms",
    "tweet",
];

/// Credentials: generating one mints access.
const CREDENTIALS: &[&str] = &[
    "access_key",
    "access_token",
    "anon_key",
    "api_key",
    "api_token",
    "auth_token",
    "credential",
    "deploy_key",
    "password",
    "personal_access_token",
    "private_key",
    "refresh_token",
    "secret",
    "secret_key",
    "signing_key",
    "ssh_key",
    "token",
];

/// What a comment is public on: commenting there notifies and is read by others.
const PUBLIC_TARGETS: &[&str] = &[
    "commit",
    "discussion",
    "issue",
    "merge_request",
    "post",
    "pr",
    "pull_request",
    "review",
    "ticket",
    "tweet",
    "video",
];

/// Comment-like objects.
const COMMENTS: &[&str] = &["comment", "reply", "review"];

/// Words that keep a message from leaving: it is prepared, not sent.
const UNSENT: &[&str] = &["draft", "pending", "template"];

/// Words that make a subscription something other than billing.
const UNBILLED: &[&str] = &[
    "calendar",
    "channel",
    "event",
    "feed",
    "newsletter",
    "notification",
    "repository",
    "thread",
    "topic",
    "webhook",
];

/// What runs arbitrary code when run: critical with a running verb.
const ARBITRARY: &[&str] = &[
    "bash",
    "binary",
    "cell",
    "cmd",
    "code",
    "command",
    "container",
    "container_image",
    "cypher",
    "executable",
    "expression",
    "image",
    "javascript",
    "js",
    "notebook",
    "pane",
    "pod",
    "powershell",
    "process",
    "program",
    "python",
    "repl",
    "ruby",
    "script",
    "shell",
    "snippet",
    "sql",
    "terminal",
    "tty",
];

/// Of those, what is code or a command rather than an image or a process: storing one is
/// arranging for it to run.
const CODE: &[&str] = &[
    "bash",
    "cmd",
    "code",
    "command",
    "cypher",
    "expression",
    "javascript",
    "js",
    "notebook",
    "powershell",
    "program",
    "python",
    "ruby",
    "script",
    "shell",
    "snippet",
    "sql",
];

/// What runs: a workflow, a job, a build. Controlling one is an execution.
const RUNNABLE: &[&str] = &[
    "action",
    "automation",
    "build",
    "cron",
    "dag",
    "flow",
    "function",
    "integration",
    "job",
    "lambda",
    "pane",
    "pipeline",
    "playbook",
    "process",
    "run",
    "runbook",
    "session",
    "task",
    "terminal",
    "tty",
    "workflow",
];

/// Data-changing SQL and friends.
const DML: &[&str] = &["delete", "insert", "merge", "update", "upsert"];

/// Code or DDL pushed to production: changing these is a deployment.
const DEPLOYS: &[&str] = &["deploy", "edge_function", "migration", "production", "prod"];

/// Bulk: many things at once.
const BULK: &[&str] = &[
    "all",
    "batch",
    "bulk",
    "entire",
    "every",
    "everything",
    "many",
    "mass",
    "multiple",
    "recursive",
    "recursively",
];

/// Containers of data whose removal takes everything inside with it.
const CONTAINERS: &[&str] = &[
    "account",
    "cluster",
    "collection",
    "database",
    "db",
    "environment",
    "namespace",
    "organization",
    "org",
    "project",
    "repo",
    "repository",
    "schema",
    "stack",
    "table",
    "tenant",
    "workspace",
    "zone",
];

/// Sending to many at once.
const AUDIENCES: &[&str] = &[
    "all",
    "audience",
    "batch",
    "broadcast",
    "bulk",
    "campaign",
    "everyone",
    "mass",
    "newsletter",
    "segment",
];

/// Reading these exposes private data: personal data, communications, secrets, logs.
const SENSITIVE: &[&str] = &[
    "access",
    "access_key",
    "address",
    "api_key",
    "appointment",
    "attachment",
    "balance",
    "bank_account",
    "billing",
    "calendar",
    "chat",
    "collaborator",
    "contact",
    "conversation",
    "cookie",
    "cost",
    "credential",
    "credit_card",
    "customer",
    "dm",
    "email",
    "employee",
    "env",
    "env_var",
    "environment_variable",
    "header",
    "inbox",
    "invoice",
    "kb",
    "knowledge_base",
    "log",
    "mail",
    "meeting",
    "member",
    "message",
    "network_request",
    "order",
    "password",
    "patient",
    "payment",
    "people",
    "permission",
    "person",
    "personal",
    "phone",
    "phone_number",
    "pii",
    "policy",
    "private",
    "private_key",
    "profile",
    "ticket",
    "recording",
    "reply",
    "role",
    "salary",
    "screenshot",
    "secret",
    "sms",
    "snapshot",
    "source_code",
    "token",
    "transaction",
    "transcript",
    "user",
    "voicemail",
];

/// Database contents (not their metadata): rows, documents, query results.
const RECORDS: &[&str] = &["document", "record", "row"];
/// What "all" or "every" must be followed by to mean bulk: data, not fields.
const ITEMS: &[&str] = &[
    "data", "document", "email", "entry", "event", "file", "issue", "item", "key", "match",
    "matching", "message", "object", "record", "resource", "result", "row", "task", "user",
    "contact",
];
/// SQL-ish words that say a query is a database statement, not a search.
const STATEMENTS: &[&str] = &[
    "collection",
    "cypher",
    "database",
    "db",
    "soql",
    "sparql",
    "sql",
    "statement",
    "table",
];
/// Statements beyond reading and changing rows.
const DDL: &[&str] = &[
    "alter",
    "any",
    "arbitrary",
    "create",
    "ddl",
    "drop",
    "grant",
    "truncate",
];
/// Things whose contents are private: "the contents of a file", "content from URLs".
const CONTAINERS_OF_CONTENT: &[&str] = &[
    "attachment",
    "blob",
    "document",
    "email",
    "file",
    "message",
    "note",
    "object",
    "page",
    "uri",
    "url",
    "vault",
];
/// Where records live.
const DATABASES: &[&str] = &["collection", "database", "db", "table"];
/// Querying words.
const QUERIES: &[&str] = &[
    "aggregation",
    "cypher",
    "graphql",
    "query",
    "select",
    "soql",
    "sparql",
    "sql",
];

/// The caller itself: reading one's own identity is not reading personal data.
const SELF: &[&str] = &[
    "authenticated",
    "current",
    "me",
    "my",
    "myself",
    "self",
    "who_am_i",
    "whoami",
    "yourself",
];

/// Public knowledge: reading it exposes nothing, whatever it is about.
const DOCS: &[&str] = &[
    "doc",
    "docs",
    "documentation",
    "faq",
    "guide",
    "help",
    "manual",
    "readme",
    "tutorial",
];

/// Words that end a noun phrase.
const PREPOSITIONS: &[&str] = &[
    "about", "across", "after", "against", "as", "at", "based", "before", "between", "by", "for",
    "from", "if", "in", "into", "of", "on", "onto", "per", "than", "that", "to", "under", "using",
    "via", "when", "where", "which", "while", "with", "within", "without",
];

/// Words that carry nothing.
const STOP: &[&str] = &[
    "a",
    "an",
    "and",
    "any",
    "api",
    "its",
    "new",
    "one",
    "or",
    "some",
    "specific",
    "specified",
    "the",
    "their",
    "this",
    "tool",
    "will",
    "your",
    "existing",
    "given",
    "provided",
    "single",
];

/// Property names that carry code or commands.
const EXEC_PROPS: &[&str] = &[
    "bash",
    "cmd",
    "code",
    "command",
    "expression",
    "javascript",
    "js",
    "powershell",
    "program",
    "python",
    "script",
    "shell",
    "snippet",
    "sql",
];
/// Words that may accompany an exec property word without changing its meaning.
const EXEC_PROP_NEUTRAL: &[&str] = &[
    "block",
    "body",
    "content",
    "full",
    "input",
    "line",
    "raw",
    "run",
    "source",
    "statement",
    "string",
    "text",
    "to",
    "execute",
    "exec",
];
/// Property names that carry an amount of money.
const MONEY_PROPS: &[&str] = &["amount", "price", "refund", "payment", "total", "fee"];
/// Property names that carry a currency.
const CURRENCY_PROPS: &[&str] = &["currency"];
/// Property names that name where a message goes.
const ADDRESS_PROPS: &[&str] = &["bcc", "cc", "channel", "chat", "phone", "recipient", "to"];
/// Property names that carry a message.
const PAYLOAD_PROPS: &[&str] = &["body", "content", "html", "message", "subject", "text"];
/// Words that make a property an identifier or a reference, not content.
const IDENTIFIERS: &[&str] = &[
    "hash",
    "id",
    "ids",
    "index",
    "jid",
    "key",
    "name",
    "number",
    "path",
    "ref",
    "timestamp",
    "ts",
    "type",
    "uri",
    "url",
    "uuid",
];
/// Property names that choose what a multiplexing tool does.
const ACTION_PROPS: &[&str] = &["action", "command", "method", "op", "operation", "verb"];
/// Property names that carry access.
const ADMIN_PROPS: &[&str] = &[
    "access_level",
    "admin",
    "grant",
    "password",
    "permission",
    "policy_document",
    "privilege",
    "role",
    "scope",
];
/// Property names that name a location: a URL, a path.
pub(crate) const URL_PROPS: &[&str] = &["endpoint", "href", "uri", "url", "webhook"];
/// Property names that name a path.
pub(crate) const PATH_PROPS: &[&str] = &[
    "dir",
    "directory",
    "file",
    "filename",
    "filepath",
    "folder",
    "path",
];

/// The stemmed tables, built once.
pub(crate) struct Lexicon {
    verbs: HashMap<String, (Act, u16)>,
    nominals: HashMap<String, Act>,
    /// Compounds as their words' stems, longest first.
    pub compounds: Vec<(Vec<String>, &'static str)>,
    pub money: HashSet<String>,
    pub catalog: HashSet<String>,
    pub admin: HashSet<String>,
    pub admin_by_name: HashSet<String>,
    pub messages: HashSet<String>,
    pub credentials: HashSet<String>,
    pub public_targets: HashSet<String>,
    pub comments: HashSet<String>,
    pub unsent: HashSet<String>,
    pub unbilled: HashSet<String>,
    pub arbitrary: HashSet<String>,
    pub runnable: HashSet<String>,
    pub code: HashSet<String>,
    pub dml: HashSet<String>,
    pub deploys: HashSet<String>,
    pub bulk: HashSet<String>,
    pub containers: HashSet<String>,
    pub audiences: HashSet<String>,
    pub sensitive: HashSet<String>,
    pub records: HashSet<String>,
    pub items: HashSet<String>,
    pub statements: HashSet<String>,
    pub ddl: HashSet<String>,
    pub databases: HashSet<String>,
    pub containers_of_content: HashSet<String>,
    pub queries: HashSet<String>,
    pub selfish: HashSet<String>,
    pub docs: HashSet<String>,
    pub prepositions: HashSet<String>,
    pub stop: HashSet<String>,
    pub exec_props: HashSet<String>,
    pub exec_prop_neutral: HashSet<String>,
    pub money_props: HashSet<String>,
    pub currency_props: HashSet<String>,
    pub address_props: HashSet<String>,
    pub payload_props: HashSet<String>,
    pub admin_props: HashSet<String>,
    pub identifiers: HashSet<String>,
    pub action_props: HashSet<String>,
    pub url_props: HashSet<String>,
    pub path_props: HashSet<String>,
}

/// A table entry's key: compounds as written, words stemmed.
fn key(entry: &str) -> String {
    if entry.contains('_') {
        entry.to_owned()
    } else {
        stem(entry)
    }
}

fn set(entries: &[&str]) -> HashSet<String> {
    entries.iter().map(|e| key(e)).collect()
}

pub(crate) static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| {
    let mut compounds: Vec<(Vec<String>, &'static str)> = COMPOUNDS
        .iter()
        .map(|c| (c.split('_').map(stem).collect(), *c))
        .collect();
    compounds.sort_by_key(|(parts, _)| std::cmp::Reverse(parts.len()));
    Lexicon {
        verbs: VERBS.iter().map(|(w, a, f)| (stem(w), (*a, *f))).collect(),
        nominals: NOMINALS.iter().map(|(w, a)| (stem(w), *a)).collect(),
        compounds,
        money: set(MONEY),
        catalog: set(CATALOG),
        admin: set(ADMIN),
        admin_by_name: set(ADMIN_BY_NAME),
        messages: set(MESSAGES),
        credentials: set(CREDENTIALS),
        public_targets: set(PUBLIC_TARGETS),
        comments: set(COMMENTS),
        unsent: set(UNSENT),
        unbilled: set(UNBILLED),
        arbitrary: set(ARBITRARY),
        runnable: set(RUNNABLE),
        code: set(CODE),
        dml: set(DML),
        deploys: set(DEPLOYS),
        bulk: set(BULK),
        containers: set(CONTAINERS),
        audiences: set(AUDIENCES),
        sensitive: set(SENSITIVE),
        records: set(RECORDS),
        items: set(ITEMS),
        statements: set(STATEMENTS),
        ddl: set(DDL),
        databases: set(DATABASES),
        containers_of_content: set(CONTAINERS_OF_CONTENT),
        queries: set(QUERIES),
        selfish: set(SELF),
        docs: set(DOCS),
        prepositions: set(PREPOSITIONS),
        stop: set(STOP),
        exec_props: set(EXEC_PROPS),
        exec_prop_neutral: set(EXEC_PROP_NEUTRAL),
        money_props: set(MONEY_PROPS),
        currency_props: set(CURRENCY_PROPS),
        address_props: set(ADDRESS_PROPS),
        payload_props: set(PAYLOAD_PROPS),
        admin_props: set(ADMIN_PROPS),
        identifiers: set(IDENTIFIERS),
        action_props: set(ACTION_PROPS),
        url_props: set(URL_PROPS),
        path_props: set(PATH_PROPS),
    }
});

impl Lexicon {
    /// The verb entry for a stem.
    pub fn verb(&self, stem: &str) -> Option<(Act, u16)> {
        self.verbs.get(stem).copied()
    }

    /// The action a noun names, for light verbs.
    pub fn nominal(&self, stem: &str) -> Option<Act> {
        self.nominals.get(stem).copied()
    }
}
