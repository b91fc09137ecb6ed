//! `warden audit query|tail|export|verify|keygen|prune`: the audit log from the command line.
//!
//! Rendering and filters are `warden_gateway::audit_view`'s (shared with the admin API), so a
//! record reads the same here and there; storage is `warden-store`'s. This file parses flags,
//! pages through the store and prints.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use warden_gateway::admin::{AdminState, serve_admin};
use warden_gateway::audit_view::{self, ExportFormat, Filters, Pages, TABLE_HEADER, TimeSpec};
use warden_gateway::text;
use warden_gateway::{Clock as _, SystemClock};
use warden_store::audit::{VerifyReport, verify};
use warden_store::{AuditQuery, AuditRecord, AuditStore, Retention};

use crate::state::{self, Location};

/// Read, follow, export, verify and prune the audit log; make a checkpoint signing key.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    warden audit query --since 1h --decision deny\n  \
    warden audit tail --identity ci-bot\n  \
    warden audit export --format csv --since 2026-11-01T00:00:00Z --out november.csv\n  \
    warden audit verify --public-key audit-signing.pub\n\n\
    Times are RFC 3339 in UTC (2026-11-21T10:00:00Z) or how long before now (15m, 2h, 7d).")]
pub(crate) struct AuditArgs {
    /// Where the audit log is kept. Default: $WARDEN_STATE_DIR, else the platform data dir
    /// (~/.local/share/warden).
    #[arg(long, value_name = "DIR", env = "WARDEN_STATE_DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// Use the state of this `warden serve` configuration (its `state` setting); wins over
    /// --state-dir and WARDEN_STATE_DIR.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum AuditCommand {
    /// Show the newest records that match the filters (oldest of them first).
    Query(QueryArgs),
    /// Show the last records, then follow new ones as they are written (until Ctrl-C).
    Tail(TailArgs),
    /// Write every matching record, oldest first, as JSON Lines or CSV.
    Export(ExportArgs),
    /// Check the hash chain and signed checkpoints; exit 1 if the log was tampered with.
    Verify(VerifyArgs),
    /// Make an Ed25519 key for signing audit checkpoints (PKCS#8 PEM, mode 0600).
    Keygen(KeygenArgs),
    /// Delete old records now, as [audit] max_age / max_records would.
    Prune(PruneArgs),
}

/// Which records: every filter given must match.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct FilterArgs {
    /// Records at or after TIME: RFC 3339 in UTC (2026-11-21T10:00:00Z) or how long before
    /// now (15m, 2h, 7d).
    #[arg(long, value_name = "TIME")]
    pub since: Option<TimeSpec>,
    /// Records at or before TIME (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<TimeSpec>,
    /// Only this identity.
    #[arg(long, value_name = "NAME")]
    pub identity: Option<String>,
    /// Only this server.
    #[arg(long, value_name = "NAME")]
    pub server: Option<String>,
    /// Only this tool.
    #[arg(long, value_name = "NAME")]
    pub tool: Option<String>,
    /// Only this decision: allow, deny, hidden, unknown, rate_limited, approval_required, …
    #[arg(long, value_name = "DECISION")]
    pub decision: Option<String>,
    /// Only this event: call, policy_loaded, tools_changed, key_created, retention, …
    #[arg(long, value_name = "EVENT")]
    pub event: Option<String>,
}

impl FilterArgs {
    fn query(&self, now_ms: u64) -> anyhow::Result<AuditQuery> {
        let filters = Filters {
            since: self.since,
            until: self.until,
            identity: self.identity.clone(),
            server: self.server.clone(),
            tool: self.tool.clone(),
            decision: self.decision.clone(),
            event: self.event.clone(),
        };
        filters
            .query(now_ms)
            .map_err(|e| anyhow::anyhow!("--{} {}", e.parameter, e.message))
    }

    fn any(&self) -> bool {
        self.since.is_some()
            || self.until.is_some()
            || self.identity.is_some()
            || self.server.is_some()
            || self.tool.is_some()
            || self.decision.is_some()
            || self.event.is_some()
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct QueryArgs {
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Show at most N records (the newest). Default 100.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub limit: u64,
    /// Output: a table for people, json (one array) or jsonl (one object per line).
    #[arg(long, value_enum, default_value_t = QueryFormat::Table)]
    pub format: QueryFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum QueryFormat {
    Table,
    Json,
    Jsonl,
}

#[derive(Debug, clap::Args)]
pub(crate) struct TailArgs {
    /// Show the last N records first. Default 20.
    #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub lines: u64,
    /// Print the last records and stop, instead of following new ones.
    #[arg(long)]
    pub no_follow: bool,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Output: a table for people, or jsonl (one object per line).
    #[arg(long, value_enum, default_value_t = TailFormat::Table)]
    pub format: TailFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TailFormat {
    Table,
    Jsonl,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// jsonl (one JSON object per line) or csv (RFC 4180, with a header row).
    #[arg(long, value_enum)]
    pub format: ExportFormatArg,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Write to FILE (replaced only once the export is complete) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExportFormatArg {
    Jsonl,
    Csv,
}

impl From<ExportFormatArg> for ExportFormat {
    fn from(f: ExportFormatArg) -> Self {
        match f {
            ExportFormatArg::Jsonl => ExportFormat::Jsonl,
            ExportFormatArg::Csv => ExportFormat::Csv,
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The Ed25519 public key that signs checkpoints: base64 of its 32 bytes (as
    /// `warden audit keygen` prints it), or a file holding that or a PEM public key
    /// (`openssl pkey -pubout`). Without it, checkpoints are compared with the log but their
    /// signatures are not checked.
    #[arg(long, value_name = "KEY")]
    pub public_key: Option<String>,
    /// Output: a summary for people, or json (the full report) for scripts.
    #[arg(long, value_enum, default_value_t = VerifyFormat::Text)]
    pub format: VerifyFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum VerifyFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct KeygenArgs {
    /// Where to write the private key (PKCS#8 PEM, mode 0600). An existing file is never
    /// overwritten.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PruneArgs {
    /// Delete records older than this (e.g. 90d, 12h). Default: [audit] max_age of --config.
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    pub max_age: Option<Duration>,
    /// Keep at most this many records, the newest. Default: [audit] max_records of --config.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_records: Option<u64>,
}

/// Exit code of `verify` when the log was tampered with.
const EXIT_TAMPERED: u8 = 1;
/// Exit code of `verify` when it could not check (bad key, unreadable state).
const EXIT_USAGE: u8 = 2;
/// Records per page of an export or a follow.
const PAGE: usize = 1_000;
/// How often `tail` looks for new records.
const POLL: Duration = Duration::from_millis(500);

pub(crate) async fn audit(args: AuditArgs) -> anyhow::Result<ExitCode> {
    if let AuditCommand::Keygen(a) = &args.command {
        return keygen(&a.out);
    }
    if let AuditCommand::Verify(a) = &args.command {
        // Exit 1 means "tampered" for verify, so its other failures get 2.
        return match verify_command(&args, a).await {
            Ok(code) => Ok(code),
            Err(e) => {
                eprintln!("warden audit verify: {e:#}");
                Ok(ExitCode::from(EXIT_USAGE))
            }
        };
    }
    let location = Location::resolve(args.state_dir.clone(), args.config.as_deref())?;
    let store = state::open(&location).await?.audit;
    let now_ms = SystemClock.now_ms();
    match args.command {
        AuditCommand::Query(a) => query(store, &a, now_ms, &location).await,
        AuditCommand::Tail(a) => tail(store, &a, now_ms).await,
        AuditCommand::Export(a) => export(store, &a, now_ms).await,
        AuditCommand::Prune(a) => prune(store.as_ref(), &a, args.config.as_deref(), now_ms).await,
        AuditCommand::Verify(_) | AuditCommand::Keygen(_) => unreachable!("handled above"),
    }
}

/// Writes to stdout; `Ok(false)` once the reader has gone (`warden audit query | head`),
/// which is not an error.
fn emit(bytes: &[u8]) -> io::Result<bool> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}

async fn query(
    store: Arc<dyn AuditStore>,
    args: &QueryArgs,
    now_ms: u64,
    location: &Location,
) -> anyhow::Result<ExitCode> {
    let limit = usize::try_from(args.limit).unwrap_or(usize::MAX);
    let mut q = args.filters.query(now_ms)?;
    // The newest `limit`, one more to know whether older ones were left out.
    q.limit = limit.saturating_add(1);
    q.newest_first = true;
    let mut records = store.query(&q).await?;
    let more = records.len() > limit;
    records.truncate(limit);
    records.reverse();
    let mut out = Vec::new();
    match args.format {
        QueryFormat::Table => {
            if records.is_empty() {
                if args.filters.any() {
                    eprintln!("No audit records match these filters.");
                } else {
                    eprintln!("The audit log in {} is empty.", location.describe());
                }
                return Ok(ExitCode::SUCCESS);
            }
            out.extend_from_slice(audit_view::table(&records).as_bytes());
        }
        QueryFormat::Json => {
            let all: Vec<_> = records.iter().map(audit_view::record_json).collect();
            serde_json::to_writer(&mut out, &all)?;
            out.push(b'\n');
        }
        QueryFormat::Jsonl => audit_view::write_jsonl(&records, &mut out)?,
    }
    emit(&out)?;
    if more {
        eprintln!(
            "Showing the newest {limit} matching records; older ones match too. \
             Raise --limit, narrow with --since/--until, or use `warden audit export`."
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Minimum widths of the tail table's columns, so rows printed later line up with the first
/// ones in most cases (a wider value pushes its row's later columns right).
const TAIL_WIDTHS: [usize; 9] = [5, 24, 8, 8, 12, 8, 7, 8, 0];

async fn tail(
    store: Arc<dyn AuditStore>,
    args: &TailArgs,
    now_ms: u64,
) -> anyhow::Result<ExitCode> {
    let mut q = args.filters.query(now_ms)?;
    // Follow from the head as it is now, whatever the filters: records older than the last
    // N shown must not turn up later.
    let head = store.head().await?.map_or(0, |(seq, _)| seq);
    q.before_seq = Some(head.saturating_add(1));
    q.limit = usize::try_from(args.lines).unwrap_or(usize::MAX);
    q.newest_first = true;
    let mut last = if args.lines == 0 {
        Vec::new()
    } else {
        store.query(&q).await?
    };
    last.reverse();

    let mut widths = TAIL_WIDTHS;
    if args.format == TailFormat::Table {
        let rows: Vec<[String; 9]> = last.iter().map(audit_view::table_row).collect();
        for (i, w) in widths.iter_mut().enumerate() {
            *w = rows
                .iter()
                .map(|r| r[i].chars().count())
                .chain([TABLE_HEADER[i].chars().count(), *w])
                .max()
                .unwrap_or(0);
        }
        if !emit(text::table_line(&TABLE_HEADER, &widths).as_bytes())? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    if !print_tail(&last, args.format, &widths)? || args.no_follow {
        return Ok(ExitCode::SUCCESS);
    }

    q.before_seq = None;
    q.after_seq = Some(head);
    q.limit = PAGE;
    q.newest_first = false;
    let stop = crate::run::shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(ExitCode::SUCCESS),
            () = tokio::time::sleep(POLL) => {}
        }
        loop {
            let page = match store.query(&q).await {
                Ok(page) => page,
                Err(e) => {
                    // A busy or briefly unreachable store is retried at the next poll.
                    tracing::warn!(error = %e, "could not read the audit log; retrying");
                    break;
                }
            };
            if let Some(r) = page.last() {
                q.after_seq = Some(r.seq);
            }
            if !print_tail(&page, args.format, &widths)? {
                return Ok(ExitCode::SUCCESS);
            }
            if page.len() < PAGE {
                break;
            }
        }
    }
}

/// Prints `records` as tail does; `Ok(false)` once stdout is closed.
fn print_tail(records: &[AuditRecord], format: TailFormat, widths: &[usize]) -> io::Result<bool> {
    if records.is_empty() {
        return Ok(true);
    }
    let mut out = Vec::new();
    match format {
        TailFormat::Table => {
            for r in records {
                out.extend_from_slice(
                    text::table_line(&audit_view::table_row(r), widths).as_bytes(),
                );
            }
        }
        TailFormat::Jsonl => audit_view::write_jsonl(records, &mut out)?,
    }
    emit(&out)
}

async fn export(
    store: Arc<dyn AuditStore>,
    args: &ExportArgs,
    now_ms: u64,
) -> anyhow::Result<ExitCode> {
    let format = ExportFormat::from(args.format);
    let q = args.filters.query(now_ms)?;
    let mut pages = Pages::new(store, q, PAGE).await?;
    match &args.out {
        None => {
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            match write_export(&mut pages, format, &mut out, None).await {
                Err(e) if is_broken_pipe(&e) => {}
                other => {
                    other?;
                    out.flush()?;
                }
            }
        }
        Some(path) => {
            // Written beside the target and moved into place at the end, so FILE is never a
            // half-written export (and is created readable by its owner only).
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("--out: cannot write in {}", dir.display()))?;
            let mut out = io::BufWriter::new(tmp);
            let progress = std::io::IsTerminal::is_terminal(&io::stderr());
            let (n, first, last) =
                write_export(&mut pages, format, &mut out, Some(progress)).await?;
            let tmp = out.into_inner().map_err(|e| e.into_error())?;
            tmp.as_file().sync_all()?;
            tmp.persist(path)
                .with_context(|| format!("--out: cannot write {}", path.display()))?;
            let range = match (first, last) {
                (Some(a), Some(b)) => format!(" (seq {a}–{b})"),
                _ => String::new(),
            };
            eprintln!("Exported {n} records{range} to {}.", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Writes every page; returns the count and the first and last `seq`. With
/// `progress: Some(true)`, a running count goes to stderr.
async fn write_export(
    pages: &mut Pages,
    format: ExportFormat,
    out: &mut impl Write,
    progress: Option<bool>,
) -> anyhow::Result<(u64, Option<u64>, Option<u64>)> {
    format.write_header(out)?;
    let (mut n, mut first, mut last) = (0u64, None, None);
    while let Some(page) = pages.next_page().await? {
        format.write_records(&page, out)?;
        n += page.len() as u64;
        first = first.or(page.first().map(|r| r.seq));
        last = page.last().map(|r| r.seq);
        if progress == Some(true) {
            eprint!("\rExported {n} records…");
        }
    }
    if progress == Some(true) && n > 0 {
        eprint!("\r");
    }
    Ok((n, first, last))
}

async fn verify_command(args: &AuditArgs, v: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let key = v
        .public_key
        .as_deref()
        .map(parse_public_key)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--public-key: {e}"))?;
    let location = Location::resolve(args.state_dir.clone(), args.config.as_deref())?;
    let store = state::open(&location).await?.audit;
    let report = verify(store.as_ref(), key).await?;
    let mut out = Vec::new();
    match v.format {
        VerifyFormat::Json => {
            serde_json::to_writer(&mut out, &report)?;
            out.push(b'\n');
        }
        VerifyFormat::Text => out.extend_from_slice(summary(&report, key.is_some()).as_bytes()),
    }
    emit(&out)?;
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_TAMPERED)
    })
}

/// The verify report for people.
fn summary(report: &VerifyReport, with_key: bool) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let range = match (report.first_seq, report.last_seq) {
        (Some(a), Some(b)) => format!(" (seq {a}–{b})"),
        _ => String::new(),
    };
    if report.is_intact() {
        if report.records == 0 {
            s.push_str("The audit log is empty: nothing to check.\n");
        } else {
            let _ = writeln!(
                s,
                "Audit log intact: {} records checked{range}.",
                report.records
            );
        }
    } else {
        let n = report.problems.len();
        let _ = writeln!(
            s,
            "Audit log TAMPERED: {n} problem{} in {} records{range}:",
            if n == 1 { "" } else { "s" },
            report.records
        );
        for p in &report.problems {
            let _ = writeln!(
                s,
                "  seq {:<8} {:<10} {}",
                p.seq,
                p.kind.to_string(),
                text::printable(&p.message)
            );
        }
    }
    let _ = write!(s, "Checkpoints: {} stored", report.checkpoints);
    if with_key {
        let _ = write!(
            s,
            ", {} verified with the public key",
            report.checkpoints_verified
        );
        match report.last_signed_seq {
            Some(seq) => {
                let _ = write!(s, "; signed up to seq {seq}");
            }
            None if report.checkpoints > 0 => s.push_str("; none is signed by this key"),
            None => {}
        }
        s.push_str(".\n");
    } else if report.checkpoints > 0 {
        s.push_str("; their signatures were not checked: pass --public-key to check them.\n");
    } else {
        s.push_str(
            ". Without signed checkpoints, whoever can write the database could rewrite the \
             whole chain undetected: set [audit] signing_key (see `warden audit keygen`).\n",
        );
    }
    s
}

/// Longest key file read.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// A public key from `--public-key`: base64 of 32 bytes, or a file holding that or a PEM
/// SubjectPublicKeyInfo.
fn parse_public_key(arg: &str) -> Result<[u8; 32], String> {
    if let Some(key) = base64_key(arg.trim()) {
        return Ok(key);
    }
    let path = Path::new(arg);
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "{arg:?} is neither base64 of a 32-byte Ed25519 public key nor a readable file ({e}); \
             give the key `warden audit keygen` printed, or a file holding it"
        )
    })?;
    if meta.len() > MAX_KEY_FILE {
        return Err(format!(
            "{} is too large to be a public key",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = text.trim();
    if text.contains("PRIVATE KEY-----") {
        return Err(format!(
            "{} holds a private key; verify with the public key only (it was printed by \
             `warden audit keygen`, or: openssl pkey -in {} -pubout)",
            path.display(),
            path.display()
        ));
    }
    if text.starts_with("-----BEGIN") {
        use ed25519_dalek::pkcs8::DecodePublicKey as _;
        return ed25519_dalek::VerifyingKey::from_public_key_pem(text)
            .map(|k| k.to_bytes())
            .map_err(|e| {
                format!(
                    "{} is not an Ed25519 public key in PEM ({e})",
                    path.display()
                )
            });
    }
    base64_key(text).ok_or_else(|| {
        format!(
            "{} holds neither base64 of a 32-byte Ed25519 public key nor a PEM public key",
            path.display()
        )
    })
}

fn base64_key(text: &str) -> Option<[u8; 32]> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    let bytes = STANDARD
        .decode(text)
        .or_else(|_| STANDARD_NO_PAD.decode(text))
        .ok()?;
    let key: [u8; 32] = bytes.try_into().ok()?;
    // Not every 32 bytes is a point on the curve; refuse what could never verify.
    ed25519_dalek::VerifyingKey::from_bytes(&key).ok()?;
    Some(key)
}

/// `warden audit keygen --out FILE`.
fn keygen(out: &Path) -> anyhow::Result<ExitCode> {
    let public = write_new_key(out)?;
    // The config resolves a relative signing_key against its own directory, so give the
    // absolute path: it is right wherever warden.toml is.
    let path = std::fs::canonicalize(out).unwrap_or_else(|_| out.to_owned());
    let shown = path.display();
    eprintln!(
        "Wrote a new Ed25519 audit signing key to {shown} (mode 0600). Keep it secret and back it up.\n\nPublic key (give it to whoever verifies the log):"
    );
    // The public key alone on stdout, so `PUB=$(warden audit keygen --out FILE)` works.
    println!("{public}");
    eprintln!(
        "\nTo sign checkpoints with it, add to warden.toml (or run with --audit-signing-key {shown}):\n\n  \
         [audit]\n  signing_key = \"{shown}\"\n\n\
         To verify the log:\n\n  warden audit verify --public-key {public}"
    );
    Ok(ExitCode::SUCCESS)
}

/// Makes a key, writes it to `path` as PKCS#8 PEM (a new file, mode 0600), and returns the
/// public key in base64.
fn write_new_key(path: &Path) -> anyhow::Result<String> {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| anyhow::anyhow!("cannot get randomness from the system: {e}"))?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let pem = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("cannot encode the key: {e}"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "--out: {} already exists; a key is never overwritten (choose another file, or \
                 remove the old one if it is really no longer needed)",
                path.display()
            )
        } else {
            anyhow::anyhow!("--out: cannot create {}: {e}", path.display())
        }
    })?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()?;
    Ok(base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_bytes()))
}

fn parse_age(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("{e}; write a duration such as 90d, 12h or 30min"))?;
    if d.is_zero() {
        return Err("must be longer than zero (that would delete everything)".into());
    }
    Ok(d)
}

async fn prune(
    store: &dyn AuditStore,
    args: &PruneArgs,
    config: Option<&Path>,
    now_ms: u64,
) -> anyhow::Result<ExitCode> {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let mut retention = Retention {
        max_age_ms: args.max_age.map(ms),
        max_records: args.max_records,
    };
    if retention.max_age_ms.is_none()
        && retention.max_records.is_none()
        && let Some(file) = config
    {
        let config = warden_config::load(file)
            .map_err(|problems| anyhow::anyhow!("{} is invalid:\n{problems}", file.display()))?;
        retention = Retention {
            max_age_ms: config.audit.max_age.map(ms),
            max_records: config.audit.max_records,
        };
    }
    if retention.max_age_ms.is_none() && retention.max_records.is_none() {
        anyhow::bail!(
            "say what to keep: --max-age (e.g. --max-age 90d) and/or --max-records (e.g. \
             --max-records 1000000), or --config with [audit] max_age / max_records"
        );
    }
    let before = store.anchor().await?;
    match store.prune(&retention, now_ms).await? {
        None => println!("Nothing to delete: every record is within the retention."),
        Some(p) => {
            let last_gone = p.anchor.first_seq.saturating_sub(1);
            println!(
                "Deleted {} records (seq {}–{last_gone}); the log now starts at seq {}. \
                 Recorded as a retention event, seq {}.",
                p.records, before.first_seq, p.anchor.first_seq, p.event_seq
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Shortest admin token accepted (the same rule as `[admin] token`).
const MIN_ADMIN_TOKEN: usize = 16;

/// The admin token of `warden run --admin-listen`, from `WARDEN_ADMIN_TOKEN`.
pub(crate) fn admin_token_from_env() -> anyhow::Result<String> {
    let how = "admin requests send it as `Authorization: Bearer <token>`; make one with                `export WARDEN_ADMIN_TOKEN=$(openssl rand -hex 32)`";
    match std::env::var("WARDEN_ADMIN_TOKEN") {
        Ok(t) if t.trim().len() >= MIN_ADMIN_TOKEN => Ok(t.trim().to_owned()),
        Ok(t) if !t.trim().is_empty() => anyhow::bail!(
            "--admin-listen: WARDEN_ADMIN_TOKEN is too short: use at least {MIN_ADMIN_TOKEN} characters; {how}"
        ),
        Err(std::env::VarError::NotUnicode(_)) => {
            anyhow::bail!("--admin-listen: WARDEN_ADMIN_TOKEN is not valid UTF-8; {how}")
        }
        _ => anyhow::bail!(
            "--admin-listen needs a token in the environment variable WARDEN_ADMIN_TOKEN \
             (at least {MIN_ADMIN_TOKEN} characters); {how}"
        ),
    }
}

/// The admin API running beside a gateway (`warden serve` with `[admin]`, `warden run
/// --admin-listen`).
#[derive(Debug)]
pub(crate) struct AdminServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Binds `address` and serves the admin API over `audit` there, requests bearing `token`, until
/// [`AdminServer::stop`]. With `signing_key` (the `[audit]` one), `/v1/audit/verify` checks
/// checkpoint signatures with its public half.
/// The approvals inbox the admin API serves: answered with the admin token or an approver's
/// API key from `keys`; `groups` names an identity's groups.
pub(crate) struct AdminApprovals {
    pub approvals: Arc<warden_gateway::approvals::Approvals>,
    pub keys: Option<Arc<dyn warden_store::KeyStore>>,
    pub groups: warden_gateway::admin::GroupsOf,
}

pub(crate) async fn start_admin(
    address: std::net::SocketAddr,
    token: &str,
    audit: Arc<dyn AuditStore>,
    signing_key: Option<&Path>,
    clock: Arc<dyn warden_gateway::Clock>,
    approvals: Option<AdminApprovals>,
) -> anyhow::Result<AdminServer> {
    let public_key = signing_key
        .map(|p| state::read_signing_key(p).map(|k| k.verifying_key().to_bytes()))
        .transpose()?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| {
            format!("cannot listen on {address} for the admin API (is the port in use?)")
        })?;
    let local = listener.local_addr()?;
    if !local.ip().is_loopback() {
        tracing::warn!(
            "the admin API listens on {local}, beyond this machine, over plain HTTP: its token \
             and the audit records cross the network unencrypted; put it behind TLS or bind it \
             to 127.0.0.1"
        );
    }
    eprintln!("warden: admin API at http://{local}/v1/ (bearer token required; docs/audit.md)");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut admin = AdminState::new(audit, token, clock).with_public_key(public_key);
    if let Some(a) = approvals {
        admin = admin.with_approvals(a.approvals, a.keys, a.groups);
    }
    let task = tokio::spawn(serve_admin(listener, admin, async move {
        let _ = stopped.await;
    }));
    Ok(AdminServer { stop, task })
}

impl AdminServer {
    /// Stops taking requests and waits for those running (a few seconds at most).
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the admin API failed"),
            Err(e) => tracing::error!(error = %e, "the admin API task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;
    use warden_store::audit::{Tamper, TamperKind};

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Top,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Top {
        Audit(AuditArgs),
    }

    fn parse(args: &[&str]) -> Result<AuditArgs, clap::Error> {
        let mut all = vec!["warden", "audit"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|c| match c.command {
            Top::Audit(a) => a,
        })
    }

    #[test]
    fn flags_and_defaults() {
        let a = parse(&[
            "query",
            "--since",
            "2h",
            "--tool",
            "refund",
            "--state-dir",
            "/s",
        ])
        .unwrap();
        assert_eq!(a.state_dir.as_deref(), Some(Path::new("/s")));
        let AuditCommand::Query(q) = a.command else {
            panic!()
        };
        assert_eq!(q.limit, 100);
        assert_eq!(q.format, QueryFormat::Table);
        assert_eq!(
            q.filters.since,
            Some(TimeSpec::Ago(Duration::from_secs(7200)))
        );
        // Global flags go before the subcommand too.
        let a = parse(&["--config", "w.toml", "tail", "-n", "5", "--no-follow"]).unwrap();
        assert_eq!(a.config.as_deref(), Some(Path::new("w.toml")));
        let AuditCommand::Tail(t) = a.command else {
            panic!()
        };
        assert_eq!((t.lines, t.no_follow), (5, true));
        let a = parse(&["tail"]).unwrap();
        let AuditCommand::Tail(t) = a.command else {
            panic!()
        };
        assert_eq!(
            (t.lines, t.no_follow, t.format),
            (20, false, TailFormat::Table)
        );
    }

    #[test]
    fn bad_flags_say_how_to_fix_them() {
        let err = parse(&["query", "--since", "yesterday"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--since") && err.contains("2026-11-21T10:00:00Z"),
            "{err}"
        );
        let err = parse(&["query", "--limit", "0"]).unwrap_err().to_string();
        assert!(err.contains("--limit"), "{err}");
        let err = parse(&["export"]).unwrap_err().to_string();
        assert!(err.contains("--format"), "{err}");
        let err = parse(&["export", "--format", "xml"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("jsonl") && err.contains("csv"), "{err}");
        let err = parse(&["prune", "--max-age", "0s"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("longer than zero"), "{err}");
        let err = parse(&["keygen"]).unwrap_err().to_string();
        assert!(err.contains("--out"), "{err}");
    }

    #[test]
    fn filter_errors_name_the_flag() {
        let f = FilterArgs {
            since: Some(TimeSpec::Ago(Duration::from_secs(60))),
            until: Some(TimeSpec::Ago(Duration::from_secs(3600))),
            ..FilterArgs::default()
        };
        let err = f.query(10_000_000).unwrap_err().to_string();
        assert!(err.starts_with("--until "), "{err}");
    }

    #[test]
    fn keygen_writes_a_private_key_once() {
        use ed25519_dalek::pkcs8::DecodePrivateKey as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.pem");
        let public = write_new_key(&path).unwrap();
        let pem = std::fs::read_to_string(&path).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(
            parse_public_key(&public),
            Ok(key.verifying_key().to_bytes())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let err = write_new_key(&path).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), pem, "untouched");
        // Two keys differ.
        assert_ne!(write_new_key(&dir.path().join("b.pem")).unwrap(), public);
    }

    #[test]
    fn public_keys_in_every_form() {
        use ed25519_dalek::pkcs8::EncodePublicKey as _;
        let dir = tempfile::tempdir().unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let bytes = key.verifying_key().to_bytes();
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert_eq!(parse_public_key(&b64), Ok(bytes));
        assert_eq!(parse_public_key(b64.trim_end_matches('=')), Ok(bytes));

        let file = dir.path().join("k.pub");
        std::fs::write(&file, format!("{b64}\n")).unwrap();
        assert_eq!(parse_public_key(file.to_str().unwrap()), Ok(bytes));

        let pem = key
            .verifying_key()
            .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap();
        std::fs::write(&file, pem).unwrap();
        assert_eq!(parse_public_key(file.to_str().unwrap()), Ok(bytes));

        let private = dir.path().join("k.pem");
        write_new_key(&private).unwrap();
        let err = parse_public_key(private.to_str().unwrap()).unwrap_err();
        assert!(err.contains("private key"), "{err}");

        let err = parse_public_key("not-a-key").unwrap_err();
        assert!(err.contains("keygen"), "{err}");
        std::fs::write(&file, "hello").unwrap();
        assert!(parse_public_key(file.to_str().unwrap()).is_err());
        // Base64, but of 16 bytes.
        assert!(parse_public_key("AAAAAAAAAAAAAAAAAAAAAA==").is_err());
    }

    fn report(problems: Vec<Tamper>) -> VerifyReport {
        VerifyReport {
            records: 120,
            first_seq: Some(1),
            last_seq: Some(120),
            checkpoints: 2,
            checkpoints_verified: 2,
            last_signed_seq: Some(100),
            problems,
        }
    }

    #[test]
    fn summaries() {
        let s = summary(&report(vec![]), true);
        assert!(
            s.starts_with("Audit log intact: 120 records checked (seq 1–120)."),
            "{s}"
        );
        assert!(
            s.contains("2 verified with the public key; signed up to seq 100"),
            "{s}"
        );
        let s = summary(&report(vec![]), false);
        assert!(s.contains("pass --public-key"), "{s}");

        let s = summary(
            &report(vec![Tamper {
                seq: 57,
                kind: TamperKind::Edited,
                message: "record 57 was changed\u{1b}[2J".into(),
            }]),
            true,
        );
        assert!(
            s.starts_with("Audit log TAMPERED: 1 problem in 120 records"),
            "{s}"
        );
        assert!(
            s.contains("seq 57       edited     record 57 was changed\\u{1b}[2J"),
            "{s}"
        );

        let empty = VerifyReport::default();
        assert!(summary(&empty, false).starts_with("The audit log is empty"));
        assert!(summary(&empty, false).contains("signing_key"));
    }
}
