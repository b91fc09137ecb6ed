//! The audit log as people and programs read it: a record as JSON and as CSV, a table for
//! people, the filters that pick records, and paging through a log too large to hold.
//!
//! The command line (`warden audit`) and the admin API both use this module, so a field or a
//! filter means the same thing in both, and an export from one reads like an export from the
//! other.
//!
//! Architecture invariant: nothing here reads the clock. Relative times (`15m`) are resolved
//! against a `now_ms` the caller passes.

use std::fmt;
use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use warden_store::audit::{EVENT_CALL, hex};
use warden_store::{AuditQuery, AuditRecord, AuditStore, StoreError};

use crate::text;

/// The fields of a record in JSON and the columns of CSV, in this order.
pub const FIELDS: [&str; 22] = [
    "seq",
    "time",
    "time_ms",
    "event",
    "identity",
    "grant",
    "server",
    "session",
    "request_id",
    "method",
    "tool",
    "decision",
    "rule",
    "reason",
    "argument_keys",
    "arguments",
    "outcome",
    "result_bytes",
    "latency_us",
    "detail",
    "prev_hash",
    "hash",
];

/// A record for programs. Serializes with the fields in [`FIELDS`] order, every field present
/// (`null` when absent), so JSON Lines read well and diff well.
///
/// `time` is RFC 3339 in UTC with milliseconds (`null` only for a time past year 9999, which
/// no real record has). `arguments` and `detail` are stored as JSON text and appear as JSON:
/// the stored text itself when it is valid JSON on one line (so a record exported can be
/// re-hashed exactly), else re-encoded, else as a string.
#[derive(Debug, Serialize)]
pub struct RecordJson<'a> {
    /// Position in the log.
    pub seq: u64,
    /// `time_ms` as RFC 3339.
    pub time: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// `call` or the event's name.
    pub event: &'a str,
    /// See [`warden_store::AuditEntry`] for the rest.
    pub identity: Option<&'a str>,
    pub grant: Option<&'a str>,
    pub server: Option<&'a str>,
    pub session: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub method: Option<&'a str>,
    pub tool: Option<&'a str>,
    pub decision: Option<&'a str>,
    pub rule: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub argument_keys: &'a [String],
    pub arguments: Option<JsonText<'a>>,
    pub outcome: Option<&'a str>,
    pub result_bytes: Option<u64>,
    pub latency_us: Option<u64>,
    pub detail: Option<JsonText<'a>>,
    /// The hash of the record before, as hex.
    pub prev_hash: String,
    /// This record's hash, as hex.
    pub hash: String,
}

/// A stored JSON text, shown as the JSON it holds.
#[derive(Debug)]
pub enum JsonText<'a> {
    /// Valid JSON on one line: written exactly as stored.
    Raw(&'a RawValue),
    /// Valid JSON over several lines: re-encoded on one.
    Parsed(Value),
    /// Not JSON (a damaged record): written as a string.
    Text(&'a str),
}

impl<'a> JsonText<'a> {
    fn new(text: &'a str) -> Self {
        match serde_json::from_str::<&RawValue>(text) {
            Ok(raw) if !raw.get().contains(['\n', '\r']) => JsonText::Raw(raw),
            Ok(_) => serde_json::from_str(text).map_or(JsonText::Text(text), JsonText::Parsed),
            Err(_) => JsonText::Text(text),
        }
    }
}

impl Serialize for JsonText<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            JsonText::Raw(raw) => raw.serialize(s),
            JsonText::Parsed(value) => value.serialize(s),
            JsonText::Text(text) => text.serialize(s),
        }
    }
}

/// `r` for programs: see [`RecordJson`]. Serialize it (`serde_json::to_writer`) to keep the
/// field order; `serde_json::to_value` would sort the fields.
pub fn record_json(r: &AuditRecord) -> RecordJson<'_> {
    let e = &r.entry;
    RecordJson {
        seq: r.seq,
        time: rfc3339_ms(e.time_ms),
        time_ms: e.time_ms,
        event: &e.event,
        identity: e.identity.as_deref(),
        grant: e.grant.as_deref(),
        server: e.server.as_deref(),
        session: e.session.as_deref(),
        request_id: e.request_id.as_deref(),
        method: e.method.as_deref(),
        tool: e.tool.as_deref(),
        decision: e.decision.as_deref(),
        rule: e.rule.as_deref(),
        reason: e.reason.as_deref(),
        argument_keys: &e.argument_keys,
        arguments: e.arguments.as_deref().map(JsonText::new),
        outcome: e.outcome.as_deref(),
        result_bytes: e.result_bytes,
        latency_us: e.latency_us,
        detail: e.detail.as_deref().map(JsonText::new),
        prev_hash: hex(&r.prev_hash),
        hash: hex(&r.hash),
    }
}

/// The first millisecond RFC 3339 (four-digit years) cannot write.
const YEAR_10000_MS: u64 = 253_402_300_800_000;

/// `ms` since the Unix epoch as RFC 3339 in UTC with milliseconds
/// (`2026-11-21T10:00:00.000Z`); `None` past year 9999.
pub fn rfc3339_ms(ms: u64) -> Option<String> {
    (ms < YEAR_10000_MS).then(|| {
        humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
    })
}

/// The format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object ([`RecordJson`]) per line.
    Jsonl,
    /// RFC 4180 CSV: a header row of [`FIELDS`], then one row per record.
    Csv,
}

impl ExportFormat {
    /// The media type to send it with.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The usual file extension (`jsonl`, `csv`).
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Csv => "csv",
        }
    }

    /// Writes what comes before the records: the CSV header row; nothing for JSON Lines.
    pub fn write_header(self, out: &mut impl Write) -> std::io::Result<()> {
        match self {
            ExportFormat::Jsonl => Ok(()),
            ExportFormat::Csv => {
                let mut w = csv_writer(out);
                w.write_record(FIELDS)?;
                w.flush()
            }
        }
    }

    /// Writes `records`, one line (row) each.
    pub fn write_records(
        self,
        records: &[AuditRecord],
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        match self {
            ExportFormat::Jsonl => write_jsonl(records, out),
            ExportFormat::Csv => {
                let mut w = csv_writer(out);
                for r in records {
                    w.write_record(csv_row(r))?;
                }
                w.flush()
            }
        }
    }
}

impl FromStr for ExportFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "jsonl" => Ok(ExportFormat::Jsonl),
            "csv" => Ok(ExportFormat::Csv),
            other => Err(format!(
                "{:?} is not an export format; use jsonl or csv",
                text::printable(other)
            )),
        }
    }
}

/// Writes `records` as JSON Lines: one [`RecordJson`] per line.
pub fn write_jsonl(records: &[AuditRecord], out: &mut impl Write) -> std::io::Result<()> {
    for r in records {
        serde_json::to_writer(&mut *out, &record_json(r))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn csv_writer<W: Write>(out: W) -> csv::Writer<W> {
    // RFC 4180: CRLF line ends, fields quoted when they hold a comma, quote or line break.
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out)
}

/// `r` as CSV cells, in [`FIELDS`] order: absent values are empty cells, `argument_keys` is a
/// JSON array, and `arguments` and `detail` are the JSON text as stored.
pub fn csv_row(r: &AuditRecord) -> [String; FIELDS.len()] {
    let e = &r.entry;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let num = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    [
        r.seq.to_string(),
        rfc3339_ms(e.time_ms).unwrap_or_default(),
        e.time_ms.to_string(),
        e.event.clone(),
        opt(&e.identity),
        opt(&e.grant),
        opt(&e.server),
        opt(&e.session),
        opt(&e.request_id),
        opt(&e.method),
        opt(&e.tool),
        opt(&e.decision),
        opt(&e.rule),
        opt(&e.reason),
        Value::from(e.argument_keys.clone()).to_string(),
        opt(&e.arguments),
        opt(&e.outcome),
        num(e.result_bytes),
        num(e.latency_us),
        opt(&e.detail),
        hex(&r.prev_hash),
        hex(&r.hash),
    ]
}

/// The columns of the table for people.
pub const TABLE_HEADER: [&str; 9] = [
    "SEQ", "TIME", "IDENTITY", "SERVER", "TOOL", "DECISION", "OUTCOME", "RULE", "LATENCY",
];

/// Widest a table cell gets; the full value is in the JSON output.
const MAX_CELL: usize = 48;

/// `r` as a row of the table: values made printable and cut to a readable width, `-` for
/// absent ones. Events other than calls show their name as the DECISION (`policy_loaded`).
pub fn table_row(r: &AuditRecord) -> [String; 9] {
    let e = &r.entry;
    let cell = |v: Option<&str>| match v {
        Some(v) if !v.is_empty() => text::truncate(&text::printable(v), MAX_CELL),
        _ => "-".to_owned(),
    };
    let decision = if e.event == EVENT_CALL {
        cell(e.decision.as_deref())
    } else {
        cell(Some(&e.event))
    };
    [
        r.seq.to_string(),
        rfc3339_ms(e.time_ms).unwrap_or_else(|| format!("(time_ms {})", e.time_ms)),
        cell(e.identity.as_deref()),
        cell(e.server.as_deref()),
        cell(e.tool.as_deref()),
        decision,
        cell(e.outcome.as_deref()),
        cell(e.rule.as_deref()),
        e.latency_us.map_or_else(|| "-".to_owned(), latency),
    ]
}

/// `records` as a table for people, header first, columns fitted to the values.
pub fn table(records: &[AuditRecord]) -> String {
    let rows: Vec<[String; 9]> = records.iter().map(table_row).collect();
    text::table(TABLE_HEADER, &rows)
}

/// A latency in microseconds for people: `850µs`, `12.3ms`, `1.25s`.
pub fn latency(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

/// A time filter as written: an instant, or a span before now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSpec {
    /// This many milliseconds since the Unix epoch.
    At(u64),
    /// This long before now.
    Ago(Duration),
}

/// How to write a time filter, for error messages.
pub const TIME_HELP: &str =
    "write an RFC 3339 time in UTC (2026-11-21T10:00:00Z) or how long before now (15m, 2h, 7d)";

impl FromStr for TimeSpec {
    type Err = String;

    /// `2026-11-21T10:00:00Z` (fractions of a second allowed, UTC only), `2026-11-21`
    /// (midnight UTC), or a duration before now: `90s`, `15m`, `2h`, `7d`, `1h 30m`.
    fn from_str(s: &str) -> Result<Self, String> {
        let shown = text::printable(s);
        if s.is_empty() {
            return Err(format!("the time is empty; {TIME_HELP}"));
        }
        let looks_like_date = s.len() >= 10 && s.as_bytes()[4] == b'-';
        if !looks_like_date && s.starts_with(|c: char| c.is_ascii_digit()) {
            return humantime::parse_duration(s)
                .map(TimeSpec::Ago)
                .map_err(|e| format!("{shown:?} is not a duration ({e}); {TIME_HELP}"));
        }
        let full = if s.len() == 10 {
            format!("{s}T00:00:00Z")
        } else {
            s.to_owned()
        };
        match humantime::parse_rfc3339(&full) {
            Ok(t) => t
                .duration_since(UNIX_EPOCH)
                .ok()
                .and_then(|d| u64::try_from(d.as_millis()).ok())
                .map(TimeSpec::At)
                .ok_or_else(|| format!("{shown:?} is out of range; {TIME_HELP}")),
            Err(_) if looks_like_date && !s.ends_with(['Z', 'z']) && s.len() >= 19 => Err(format!(
                "{shown:?} is not in UTC; only UTC times are accepted: end the time with Z, \
                 e.g. 2026-11-21T10:00:00Z"
            )),
            Err(e) if looks_like_date => Err(format!("{shown:?} is not a time ({e}); {TIME_HELP}")),
            Err(_) => Err(format!("{shown:?} is not a time; {TIME_HELP}")),
        }
    }
}

impl TimeSpec {
    /// The instant meant, in milliseconds since the Unix epoch, with "now" at `now_ms`.
    pub fn resolve(self, now_ms: u64) -> u64 {
        match self {
            TimeSpec::At(ms) => ms,
            TimeSpec::Ago(d) => {
                now_ms.saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            }
        }
    }
}

/// The names of the filter parameters, as the admin API takes them (the CLI as `--NAME`).
pub const FILTER_PARAMS: [&str; 7] = [
    "since", "until", "identity", "server", "tool", "decision", "event",
];

/// Which records to show: every filter set must match. Default: all records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Records at or after this time.
    pub since: Option<TimeSpec>,
    /// Records at or before this time.
    pub until: Option<TimeSpec>,
    /// Exactly this identity.
    pub identity: Option<String>,
    /// Exactly this server.
    pub server: Option<String>,
    /// Exactly this tool.
    pub tool: Option<String>,
    /// Exactly this decision (`allow`, `deny`, …).
    pub decision: Option<String>,
    /// Exactly this event (`call`, `policy_loaded`, …).
    pub event: Option<String>,
}

/// A filter that cannot be used: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {message}")]
pub struct FilterError {
    /// The parameter's name, as in [`FILTER_PARAMS`] (the CLI's flag is `--` and this name).
    pub parameter: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Filters {
    /// Sets the filter called `name` from its text. `Ok(false)` when `name` is not a filter.
    pub fn set(&mut self, name: &str, value: &str) -> Result<bool, FilterError> {
        let Some(parameter) = FILTER_PARAMS.into_iter().find(|p| *p == name) else {
            return Ok(false);
        };
        let text = Some(value.to_owned());
        match parameter {
            "since" | "until" => {
                let t = value
                    .parse::<TimeSpec>()
                    .map_err(|message| FilterError { parameter, message })?;
                if parameter == "since" {
                    self.since = Some(t);
                } else {
                    self.until = Some(t);
                }
            }
            "identity" => self.identity = text,
            "server" => self.server = text,
            "tool" => self.tool = text,
            "decision" => self.decision = text,
            _ => self.event = text,
        }
        Ok(true)
    }

    /// The store query for these filters, relative times resolved at `now_ms`. Paging
    /// (`after_seq`, `before_seq`, `limit`, order) is left for the caller.
    pub fn query(&self, now_ms: u64) -> Result<AuditQuery, FilterError> {
        for (parameter, value) in [
            ("identity", &self.identity),
            ("server", &self.server),
            ("tool", &self.tool),
            ("decision", &self.decision),
            ("event", &self.event),
        ] {
            if value.as_deref() == Some("") {
                return Err(FilterError {
                    parameter,
                    message: "is empty; give a value, or leave it out to match any".into(),
                });
            }
        }
        let since_ms = self.since.map(|t| t.resolve(now_ms));
        let until_ms = self.until.map(|t| t.resolve(now_ms));
        if let (Some(since), Some(until)) = (since_ms, until_ms)
            && since > until
        {
            return Err(FilterError {
                parameter: "until",
                message: format!(
                    "is before since ({} < {}); no record can match: swap them or widen the range",
                    rfc3339_ms(until).unwrap_or_else(|| until.to_string()),
                    rfc3339_ms(since).unwrap_or_else(|| since.to_string()),
                ),
            });
        }
        Ok(AuditQuery {
            since_ms,
            until_ms,
            identity: self.identity.clone(),
            server: self.server.clone(),
            tool: self.tool.clone(),
            decision: self.decision.clone(),
            event: self.event.clone(),
            ..AuditQuery::default()
        })
    }
}

/// Reads the records of a query page by page, oldest first, up to the head of the log as it
/// was when the reading began: an export is a consistent snapshot however long it takes and
/// however much is written meanwhile, and never holds more than one page in memory.
pub struct Pages {
    store: Arc<dyn AuditStore>,
    query: AuditQuery,
    done: bool,
}

impl fmt::Debug for Pages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pages")
            .field("query", &self.query)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Pages {
    /// Pages of `page_size` records (at least 1) matching `query` (its limit and order are
    /// replaced; its `after_seq` and `before_seq` are kept).
    pub async fn new(
        store: Arc<dyn AuditStore>,
        mut query: AuditQuery,
        page_size: usize,
    ) -> Result<Pages, StoreError> {
        let head = store.head().await?;
        query.limit = page_size.max(1);
        query.newest_first = false;
        let done = match head {
            None => true,
            Some((last, _)) => {
                let end = last.saturating_add(1);
                query.before_seq = Some(query.before_seq.map_or(end, |b| b.min(end)));
                false
            }
        };
        Ok(Pages { store, query, done })
    }

    /// The next page; `None` once every record has been read.
    pub async fn next_page(&mut self) -> Result<Option<Vec<AuditRecord>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let page = self.store.query(&self.query).await?;
        if page.len() < self.query.limit {
            self.done = true;
        }
        match page.last() {
            Some(last) => {
                self.query.after_seq = Some(last.seq);
                Ok(Some(page))
            }
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_store::{AuditEntry, MemoryAudit};

    const T0: u64 = 1_795_255_200_000; // 2026-11-21T10:00:00Z

    fn call(tool: &str) -> AuditEntry {
        AuditEntry {
            time_ms: T0 + 123,
            event: "call".into(),
            identity: Some("ana".into()),
            server: Some("crm".into()),
            tool: Some(tool.into()),
            decision: Some("deny".into()),
            rule: Some("/tools/refund/deny_if/0".into()),
            reason: Some("over 10,000 \"USD\"\nask finance".into()),
            argument_keys: vec!["amount".into(), "reason".into()],
            arguments: Some(r#"{"amount":12000,"reason":"x"}"#.into()),
            latency_us: Some(1_234),
            ..AuditEntry::default()
        }
    }

    async fn store_with(entries: &[AuditEntry]) -> Arc<dyn AuditStore> {
        let store = Arc::new(MemoryAudit::new());
        store.append(entries).await.unwrap();
        store
    }

    async fn all(store: &Arc<dyn AuditStore>) -> Vec<AuditRecord> {
        store.query(&AuditQuery::default()).await.unwrap()
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339_ms(T0 + 5).unwrap(), "2026-11-21T10:00:00.005Z");
        assert_eq!(rfc3339_ms(u64::MAX), None);
    }

    #[tokio::test]
    async fn json_has_every_field_in_order() {
        let store = store_with(&[call("refund")]).await;
        let r = &all(&store).await[0];
        let text = serde_json::to_string(&record_json(r)).unwrap();
        // Field order, as people read it.
        let keys: Vec<String> = {
            let mut de = serde_json::Deserializer::from_str(&text);
            let map: serde_json::Map<String, Value> =
                serde::Deserialize::deserialize(&mut de).unwrap();
            map.keys().cloned().collect()
        };
        let mut sorted = FIELDS.map(str::to_owned).to_vec();
        sorted.sort();
        assert_eq!(keys, sorted, "every field, none more");
        let positions: Vec<usize> = FIELDS
            .iter()
            .map(|f| text.find(&format!("\"{f}\":")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["time"], "2026-11-21T10:00:00.123Z");
        assert_eq!(v["arguments"]["amount"], 12000);
        assert_eq!(v["argument_keys"][1], "reason");
        assert_eq!(v["detail"], Value::Null);
        assert_eq!(v["hash"], hex(&r.hash));
        // The stored arguments text survives exactly.
        assert!(text.contains(r#""arguments":{"amount":12000,"reason":"x"}"#));
    }

    #[tokio::test]
    async fn damaged_json_text_is_kept_as_a_string() {
        let mut e = call("t");
        e.detail = Some("{not json".into());
        e.arguments = Some("{\n\"a\": 1\n}".into());
        let store = store_with(&[e]).await;
        let mut out = Vec::new();
        write_jsonl(&all(&store).await, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1, "one line per record: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["detail"], "{not json");
        assert_eq!(v["arguments"]["a"], 1);
    }

    #[tokio::test]
    async fn csv_quotes_and_matches_the_json_columns() {
        let store = store_with(&[call("refund"), call("a,b")]).await;
        let mut out = Vec::new();
        ExportFormat::Csv.write_header(&mut out).unwrap();
        ExportFormat::Csv
            .write_records(&all(&store).await, &mut out)
            .unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("seq,time,time_ms,event,"), "{text}");
        assert!(text.contains("\r\n"));
        assert!(
            text.contains(
                r#""over 10,000 ""USD""
ask finance""#
            ),
            "{text}"
        );
        let mut reader = csv::Reader::from_reader(out.as_slice());
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), FIELDS);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[1][10], "a,b");
        assert_eq!(&rows[0][14], r#"["amount","reason"]"#);
        assert_eq!(&rows[0][5], "", "absent grant is an empty cell");
    }

    #[tokio::test]
    async fn table_for_people() {
        let mut evil = call("x\u{1b}[2Jy");
        evil.identity = Some("a".repeat(100));
        let event = AuditEntry {
            time_ms: T0,
            event: "policy_loaded".into(),
            detail: Some(r#"{"file":"p.json"}"#.into()),
            ..AuditEntry::default()
        };
        let store = store_with(&[call("refund"), evil, event]).await;
        let text = table(&all(&store).await);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("SEQ  TIME"), "{text}");
        assert!(
            lines[1].contains("refund") && lines[1].contains("deny"),
            "{text}"
        );
        assert!(lines[1].ends_with("1.2ms"), "{text}");
        assert!(lines[2].contains("x\\u{1b}[2Jy"), "{text}");
        assert!(!text.contains('\u{1b}'));
        assert!(lines[2].contains('…'), "long values are cut: {text}");
        assert!(lines[3].contains("policy_loaded"), "{text}");
        // Columns line up: DECISION starts at the same place on every line.
        let col = lines[0].find("DECISION").unwrap();
        assert_eq!(&lines[3][col..col + 13], "policy_loaded");
    }

    #[test]
    fn latencies() {
        assert_eq!(latency(850), "850µs");
        assert_eq!(latency(12_345), "12.3ms");
        assert_eq!(latency(1_250_000), "1.25s");
    }

    #[test]
    fn time_filters() {
        let now = T0;
        let t = |s: &str| s.parse::<TimeSpec>().map(|t| t.resolve(now));
        assert_eq!(t("2026-11-21T10:00:00Z"), Ok(T0));
        assert_eq!(t("2026-11-21T10:00:00.250Z"), Ok(T0 + 250));
        assert_eq!(t("2026-11-21"), Ok(T0 - 10 * 3_600_000));
        assert_eq!(t("15m"), Ok(T0 - 15 * 60_000));
        assert_eq!(t("2h"), Ok(T0 - 2 * 3_600_000));
        assert_eq!(t("7d"), Ok(T0 - 7 * 86_400_000));
        assert_eq!(t("1h 30m"), Ok(T0 - 90 * 60_000));
        let err = t("yesterday").unwrap_err();
        assert!(
            err.contains("2026-11-21T10:00:00Z") && err.contains("15m"),
            "{err}"
        );
        let err = t("2026-11-21T10:00:00+02:00").unwrap_err();
        assert!(err.contains("only UTC"), "{err}");
        assert!(t("15 parsecs").is_err());
        assert!(t("").is_err());
        assert!(t("2026-13-01").is_err());
    }

    #[test]
    fn filters_build_a_query() {
        let mut f = Filters::default();
        assert_eq!(f.set("since", "1h"), Ok(true));
        assert_eq!(f.set("tool", "refund"), Ok(true));
        assert_eq!(f.set("limit", "5"), Ok(false));
        let q = f.query(T0).unwrap();
        assert_eq!(q.since_ms, Some(T0 - 3_600_000));
        assert_eq!(q.tool.as_deref(), Some("refund"));

        let err = f.set("until", "soon").unwrap_err();
        assert_eq!(err.parameter, "until");
        f.set("until", "2h").unwrap();
        let err = f.query(T0).unwrap_err();
        assert_eq!(err.parameter, "until");
        assert!(err.message.contains("swap"), "{err}");

        let mut f = Filters::default();
        f.set("identity", "").unwrap();
        assert_eq!(f.query(T0).unwrap_err().parameter, "identity");
    }

    #[tokio::test]
    async fn pages_stop_at_the_head_seen_first() {
        let entries: Vec<AuditEntry> = (0..25).map(|i| call(&format!("t{i}"))).collect();
        let store = store_with(&entries).await;
        let mut pages = Pages::new(store.clone(), AuditQuery::default(), 10)
            .await
            .unwrap();
        let first = pages.next_page().await.unwrap().unwrap();
        assert_eq!(first.len(), 10);
        // Written after the export began: not part of it.
        store.append(&entries[..5]).await.unwrap();
        let mut seqs: Vec<u64> = first.iter().map(|r| r.seq).collect();
        while let Some(page) = pages.next_page().await.unwrap() {
            assert!(page.len() <= 10);
            seqs.extend(page.iter().map(|r| r.seq));
        }
        assert_eq!(seqs, (1..=25).collect::<Vec<_>>());

        let empty: Arc<dyn AuditStore> = Arc::new(MemoryAudit::new());
        let mut pages = Pages::new(empty, AuditQuery::default(), 10).await.unwrap();
        assert!(pages.next_page().await.unwrap().is_none());
    }
}
