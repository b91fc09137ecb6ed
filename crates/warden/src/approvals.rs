//! `warden approvals list|show|approve|deny`: the inbox of calls held for approval.
//!
//! Reads and answers the approvals in the state a gateway uses (`--state-dir` or `--config`),
//! so a held call in a running `warden run` or `warden serve` goes on within half a second of
//! the answer. Without `--key`, the answer is given with operator access (whoever can open the
//! state); with an approver's API key (`--key` or `WARDEN_APPROVER_KEY`) it is given as that
//! identity. Who may answer what is `warden_gateway::approvals::may_answer`'s to decide.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;
use warden_gateway::approvals::{Answer, Answerer, approval_json, rfc3339};
use warden_gateway::text::{printable, table};
use warden_gateway::{AuditLog, AuditSettings, Clock as _, SystemClock};
use warden_store::{Approval, ApprovalStatus, ApprovalStore};

use crate::state::Location;

/// Answer calls held for approval: list, show, approve, deny.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  warden approvals list\n  warden approvals show 3f2a9c0b1d4e\n  warden approvals approve 3f2a9c0b1d4e --for 1h --comment \"refund agreed with the customer\"\n  warden approvals deny 3f2a9c0b1d4e --comment \"amount too high\""
)]
pub(crate) struct ApprovalsArgs {
    /// Where the gateway keeps its state (SQLite). Default: $WARDEN_STATE_DIR, else the
    /// platform data dir (~/.local/share/warden).
    #[arg(long, value_name = "DIR", env = "WARDEN_STATE_DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// Use the state of this `warden serve` configuration (its `state` setting); wins over
    /// --state-dir and WARDEN_STATE_DIR. Also gives approvers' group memberships.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: ApprovalsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum ApprovalsCommand {
    /// List approvals (pending ones by default), oldest first.
    List(ListArgs),
    /// Show one approval: the call, the rule, who may answer, where it stands.
    Show(ShowArgs),
    /// Approve a pending call; it goes on (a held call at once, an async one on its retry).
    Approve(AnswerArgs),
    /// Deny a pending call; the agent is told who denied it and why.
    Deny(DenyArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StatusFilter {
    Pending,
    Approved,
    Denied,
    Expired,
    All,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Which approvals. Default: pending.
    #[arg(long, value_enum, default_value_t = StatusFilter::Pending)]
    pub status: StatusFilter,
    /// Most approvals shown. Default 100.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Output: a table for people, or json (an array) for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    /// The approval's id (12 hex characters).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Output: text for people, or json.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AnswerArgs {
    /// The approval's id (12 hex characters).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Let identical calls (same grant, tool and arguments) pass for this long, e.g. 30m or
    /// 8h. Default: the rule's `valid_for` (by default, this one call only).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub valid_for: Option<Duration>,
    /// Why, for the audit log (and the agent, on a denial).
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// Answer as the identity of this API key (an approver's own key). Default: operator
    /// access.
    #[arg(
        long,
        value_name = "KEY",
        env = "WARDEN_APPROVER_KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DenyArgs {
    /// The approval's id (12 hex characters).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Why, for the audit log and the agent.
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// Answer as the identity of this API key (an approver's own key). Default: operator
    /// access.
    #[arg(
        long,
        value_name = "KEY",
        env = "WARDEN_APPROVER_KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,
}

pub(crate) async fn approvals(args: ApprovalsArgs) -> anyhow::Result<ExitCode> {
    let location = Location::resolve(args.state_dir, args.config.as_deref())?;
    let stores = crate::state::open(&location).await?;
    let now_ms = SystemClock.now_ms();
    let store = stores.approvals.as_ref();
    match args.command {
        ApprovalsCommand::List(a) => list(store, &a, now_ms).await,
        ApprovalsCommand::Show(a) => show(store, &a, now_ms).await,
        ApprovalsCommand::Approve(a) => {
            let answer = AnswerRequest {
                id: a.id,
                approve: true,
                comment: a.comment,
                valid_for: a.valid_for,
                key: a.key,
            };
            give(&stores, args.config.as_deref(), answer).await
        }
        ApprovalsCommand::Deny(a) => {
            let answer = AnswerRequest {
                id: a.id,
                approve: false,
                comment: a.comment,
                valid_for: None,
                key: a.key,
            };
            give(&stores, args.config.as_deref(), answer).await
        }
    }
}

async fn list(store: &dyn ApprovalStore, args: &ListArgs, now_ms: u64) -> anyhow::Result<ExitCode> {
    let status = match args.status {
        StatusFilter::Pending => Some(ApprovalStatus::Pending),
        StatusFilter::Approved => Some(ApprovalStatus::Approved),
        StatusFilter::Denied => Some(ApprovalStatus::Denied),
        StatusFilter::Expired => Some(ApprovalStatus::Expired),
        StatusFilter::All => None,
    };
    let mut found = store.list(status, args.limit.max(1)).await?;
    // Pending past the deadline but not swept yet is expired to the reader.
    if args.status == StatusFilter::Pending {
        found.retain(|a| a.status_at(now_ms) == ApprovalStatus::Pending);
    }
    match args.format {
        Format::Json => {
            let all: Vec<Value> = found.iter().map(|a| approval_json(a, now_ms)).collect();
            println!("{}", Value::Array(all));
        }
        Format::Table => {
            if found.is_empty() {
                eprintln!("No {} approvals.", status.map_or("", |s| s.as_str()));
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<[String; 7]> = found
                .iter()
                .map(|a| {
                    let r = &a.request;
                    [
                        r.id.clone(),
                        a.status_at(now_ms).to_string(),
                        printable(&r.tool),
                        printable(&r.server),
                        printable(&r.identity),
                        rfc3339(r.created_ms),
                        rfc3339(r.expires_ms),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    [
                        "ID",
                        "STATUS",
                        "TOOL",
                        "SERVER",
                        "IDENTITY",
                        "REQUESTED",
                        "EXPIRES"
                    ],
                    &rows
                )
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(store: &dyn ApprovalStore, args: &ShowArgs, now_ms: u64) -> anyhow::Result<ExitCode> {
    let Some(a) = store.get(&args.id).await? else {
        eprintln!(
            "warden approvals: no approval with id {}; `warden approvals list --status all` shows them all",
            printable(&args.id)
        );
        return Ok(ExitCode::FAILURE);
    };
    match args.format {
        Format::Json => println!("{}", approval_json(&a, now_ms)),
        Format::Table => print!("{}", describe(&a, now_ms)),
    }
    Ok(ExitCode::SUCCESS)
}

/// One approval as text for people.
fn describe(a: &Approval, now_ms: u64) -> String {
    let r = &a.request;
    let arguments = serde_json::from_str::<Value>(&r.arguments)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| r.arguments.clone());
    let mut out = format!(
        "Approval {}: {}\n  tool       {} on {}\n  caller     {} (grant {}{})\n  rule       {}\n  reason     {}\n  approvers  {}\n  mode       {}\n  requested  {}\n  expires    {}\n",
        r.id,
        a.status_at(now_ms),
        printable(&r.tool),
        printable(&r.server),
        printable(&r.identity),
        printable(&r.grant),
        r.session
            .as_deref()
            .map(|s| format!(", session {}", printable(s)))
            .unwrap_or_default(),
        r.rule,
        printable(&r.reason),
        r.approvers.join(", "),
        r.mode,
        rfc3339(r.created_ms),
        rfc3339(r.expires_ms),
    );
    if let (Some(by), Some(at)) = (&a.decided_by, a.decided_ms) {
        out.push_str(&format!(
            "  answered   {} by {}\n",
            rfc3339(at),
            printable(by)
        ));
    }
    if let Some(c) = &a.comment {
        out.push_str(&format!("  comment    {}\n", printable(c)));
    }
    if let Some(until) = a.valid_until_ms {
        let scope = if a.single_use {
            "one call"
        } else {
            "identical calls"
        };
        out.push_str(&format!(
            "  covers     {scope} until {} (used {} time(s))\n",
            rfc3339(until),
            a.uses
        ));
    }
    out.push_str("  arguments\n");
    for line in printable(&arguments).lines() {
        out.push_str("    ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

struct AnswerRequest {
    id: String,
    approve: bool,
    comment: Option<String>,
    valid_for: Option<Duration>,
    key: Option<String>,
}

async fn give(
    stores: &crate::state::Stores,
    config: Option<&std::path::Path>,
    req: AnswerRequest,
) -> anyhow::Result<ExitCode> {
    let clock: Arc<dyn warden_gateway::Clock> = Arc::new(SystemClock);
    let now_ms = clock.now_ms();
    let by = match &req.key {
        None => Answerer::Operator {
            detail: format!(
                "cli:{}",
                std::env::var("USER")
                    .or_else(|_| std::env::var("LOGNAME"))
                    .unwrap_or_else(|_| "unknown".into())
            ),
        },
        Some(key) => {
            let auth = warden_auth::Authenticator::new(stores.keys.clone(), None);
            let who = auth
                .authenticate(Some(&format!("Bearer {key}")), now_ms)
                .await
                .map_err(|e| anyhow::anyhow!("the approver key was refused: {e}"))?;
            // Group memberships come from the gateway's configuration, when given.
            let mut attributes = Value::Object(who.attributes.clone());
            if let Some(file) = config
                && let Ok(cfg) = warden_config::load(file)
                && let Some(identity) = cfg.identities.get(&who.identity)
            {
                attributes = Value::Object(identity.attributes.clone());
            }
            Answerer::Identity {
                groups: Answerer::groups_of(&attributes),
                name: who.identity,
            }
        }
    };
    let audit = AuditLog::start(stores.audit.clone(), AuditSettings::default(), clock)
        .await
        .context("cannot open the audit log")?;
    let answer = Answer {
        approve: req.approve,
        by,
        comment: req.comment,
        valid_for: req.valid_for,
    };
    let result = warden_gateway::approvals::answer(
        stores.approvals.as_ref(),
        Some(&audit),
        now_ms,
        &req.id,
        &answer,
    )
    .await;
    audit.flush().await;
    match result {
        Ok(a) => {
            let r = &a.request;
            let verb = if req.approve { "approved" } else { "denied" };
            println!(
                "{verb} {} ({} on {} for {})",
                r.id,
                printable(&r.tool),
                printable(&r.server),
                printable(&r.identity)
            );
            if let Some(until) = a.valid_until_ms.filter(|_| req.approve) {
                if a.single_use {
                    eprintln!(
                        "It covers this one call, if made before {}.",
                        rfc3339(until)
                    );
                } else {
                    eprintln!("Identical calls pass until {}.", rfc3339(until));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("warden approvals: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("{e}; write a duration such as 30m, 8h or 2d"))?;
    if d.as_millis() == 0 {
        return Err("the duration must be longer than zero".to_owned());
    }
    if d > Duration::from_secs(30 * 24 * 3600) {
        return Err("at most 30 days".to_owned());
    }
    Ok(d)
}
