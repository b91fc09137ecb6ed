//! Approval webhooks: each approval request, and its outcome, POSTed to the URL a policy's
//! `approval.webhook` names, signed so the receiver can tell it came from this gateway.
//!
//! Every delivery carries these headers:
//!
//! - `Content-Type: application/json`
//! - `User-Agent: warden/<version>`
//! - `Warden-Event`: the event type, e.g. `approval.requested`
//! - `Warden-Delivery`: a UUID v4 naming the event, the same on every retry of it
//! - `Warden-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256>`, see [`signature_header`]
//!
//! The body is Warden's JSON document ([`WebhookFormat::Json`]) or a message Slack's incoming
//! webhooks accept ([`WebhookFormat::Slack`]). A delivery is tried up to four times, with waits
//! of 1 s, 5 s and 25 s between attempts and a 10 s timeout on each; see [`Webhooks::send`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac as _};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use tokio::task::JoinHandle;
use warden_policy::{Webhook, WebhookFormat};

use crate::audit_view::rfc3339_ms;
use crate::clock::{Clock, SystemClock};
use crate::text::{printable, truncate};

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Warden-Signature";
/// The header that names the event type (`approval.requested`, …).
pub const EVENT_HEADER: &str = "Warden-Event";
/// The header that names the delivery: a UUID v4, the same on every retry of one event.
pub const DELIVERY_HEADER: &str = "Warden-Delivery";

/// The message when deliveries are asked for but no secret signs them.
pub const NO_SECRET: &str =
    "no webhook secret is configured: set WARDEN_WEBHOOK_SECRET in the gateway's environment";

/// The default timeout of one attempt: 10 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default waits between attempts: 1 s, 5 s, 25 s (so at most four attempts).
pub const DEFAULT_WAITS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(25),
];

/// The most characters of the arguments a Slack message shows.
const SLACK_ARGUMENTS_MAX: usize = 2000;
/// The most characters of one field value (Slack allows 2,000 per field, label included).
const SLACK_FIELD_MAX: usize = 500;
/// The most characters of the summary in a section (Slack allows 3,000).
const SLACK_SUMMARY_MAX: usize = 2900;
/// The most bytes of a refusing receiver's body quoted in the error.
const ERROR_BODY_MAX: usize = 300;

const USER_AGENT: &str = concat!("warden/", env!("CARGO_PKG_VERSION"));

type HmacSha256 = Hmac<Sha256>;

/// Sends approval webhooks. Cheap to clone: clones share the HTTP client and the secret.
///
/// Defaults: the system clock, a 10 s timeout per attempt ([`DEFAULT_TIMEOUT`]) and waits of
/// 1 s, 5 s and 25 s between attempts ([`DEFAULT_WAITS`]); redirects are never followed.
#[derive(Clone)]
pub struct Webhooks {
    /// The client, or why it could not be built (then every delivery fails with that).
    client: Result<reqwest::Client, String>,
    secret: Option<Arc<[u8]>>,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    waits: Arc<[Duration]>,
}

impl fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhooks")
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .field("clock", &self.clock)
            .field("timeout", &self.timeout)
            .field("waits", &self.waits)
            .finish_non_exhaustive()
    }
}

impl Webhooks {
    /// A sender whose deliveries are signed with `secret`, the HMAC key of the
    /// `Warden-Signature` header. `None` (or an empty key) means every delivery fails at once,
    /// sending nothing, with the error [`NO_SECRET`]. Reads the [`SystemClock`]; use
    /// [`with_clock`](Self::with_clock) to change it, and [`with_schedule`](Self::with_schedule)
    /// to change the default timeout (10 s) and waits (1 s, 5 s, 25 s).
    pub fn new(secret: Option<Vec<u8>>) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| format!("the HTTP client could not be built: {}", error_text(e)));
        Webhooks {
            client,
            secret: secret.filter(|s| !s.is_empty()).map(Arc::from),
            clock: Arc::new(SystemClock),
            timeout: DEFAULT_TIMEOUT,
            waits: Arc::from(DEFAULT_WAITS.as_slice()),
        }
    }

    /// The same sender reading `clock` for the signature's timestamp (default: the system
    /// clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same sender with `timeout` per attempt (default 10 s) and `waits` between attempts
    /// (default 1 s, 5 s, 25 s): a delivery is attempted at most `waits.len() + 1` times.
    pub fn with_schedule(mut self, timeout: Duration, waits: &[Duration]) -> Self {
        self.timeout = timeout;
        self.waits = Arc::from(waits);
        self
    }

    /// Whether a secret is configured (without one, every delivery fails).
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// Delivers `event` to `hook` in the background (a Tokio runtime must be running).
    ///
    /// The body is built once and every attempt carries the same `Warden-Delivery` id; each
    /// attempt is signed afresh with the current time. A 2xx response ends the delivery. A
    /// network error, a timeout, 408, 429 or 5xx is retried after the next wait (by default
    /// 1 s, 5 s, 25 s: four attempts in all, each with a 10 s timeout); any other status
    /// (other 4xx, and 3xx: redirects are not followed) ends it at once. Each failure is
    /// logged with `tracing::warn!`, naming the URL without its query string or credentials.
    ///
    /// The handle resolves to `Ok(status)` after a 2xx, or to `Err(text)` naming the URL
    /// (without query string) and the last failure. Without a secret, or with a URL that is
    /// not `http`/`https`, it resolves to `Err` at once and nothing is sent.
    pub fn send(&self, hook: &Webhook, event: WebhookEvent) -> JoinHandle<Result<u16, String>> {
        let this = self.clone();
        let hook = hook.clone();
        tokio::spawn(async move { this.deliver(&hook, &event).await })
    }

    async fn deliver(&self, hook: &Webhook, event: &WebhookEvent) -> Result<u16, String> {
        let shown = redacted_url(&hook.url);
        let fail = |why: &str| {
            tracing::warn!(url = %shown, event = event.kind.as_str(), "webhook not sent: {why}");
            Err(format!("webhook {shown}: {why}"))
        };
        let Some(secret) = self.secret.as_deref() else {
            return fail(NO_SECRET);
        };
        let client = match &self.client {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        let url = match reqwest::Url::parse(&hook.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            Ok(_) => return fail("the URL is not http or https"),
            Err(e) => return fail(&format!("the URL is not valid: {e}")),
        };
        let delivery = uuid::Uuid::new_v4().to_string();
        let body = match hook.format {
            WebhookFormat::Json => json_body(event, &delivery),
            WebhookFormat::Slack => slack_body(event),
        };
        let body = match serde_json::to_vec(&body) {
            Ok(b) => b,
            Err(e) => return fail(&format!("the body could not be written: {e}")),
        };
        let attempts = self.waits.len() + 1;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let timestamp_s = self.clock.now_ms() / 1000;
            let outcome = client
                .post(url.clone())
                .timeout(self.timeout)
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .header(EVENT_HEADER, event.kind.as_str())
                .header(DELIVERY_HEADER, delivery.as_str())
                .header(
                    SIGNATURE_HEADER,
                    signature_header(secret, timestamp_s, &body),
                )
                .body(body.clone())
                .send()
                .await;
            let (why, retry) = match outcome {
                Ok(response) if response.status().is_success() => {
                    return Ok(response.status().as_u16());
                }
                Ok(response) => {
                    let status = response.status();
                    let retry = status.is_server_error()
                        || status == StatusCode::REQUEST_TIMEOUT
                        || status == StatusCode::TOO_MANY_REQUESTS;
                    (refusal_text(response).await, retry)
                }
                Err(e) if e.is_timeout() => (
                    format!(
                        "no response within {}",
                        humantime::format_duration(self.timeout)
                    ),
                    true,
                ),
                Err(e) => (error_text(e), true),
            };
            let wait = self.waits.get(attempt - 1).filter(|_| retry);
            match wait {
                Some(wait) => {
                    tracing::warn!(
                        url = %shown,
                        event = event.kind.as_str(),
                        delivery = %delivery,
                        "webhook attempt {attempt} of {attempts} failed: {why}; retrying in {}",
                        humantime::format_duration(*wait),
                    );
                    tokio::time::sleep(*wait).await;
                }
                None => {
                    let why = if attempt > 1 {
                        format!("{why} (after {attempt} attempts)")
                    } else {
                        why
                    };
                    tracing::warn!(
                        url = %shown,
                        event = event.kind.as_str(),
                        delivery = %delivery,
                        "webhook not delivered: {why}",
                    );
                    return Err(format!("webhook {shown}: {why}"));
                }
            }
        }
    }
}

/// What happened to an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookKind {
    /// A call is held for approval: `approval.requested`.
    Requested,
    /// An approver said yes: `approval.approved`.
    Approved,
    /// An approver said no: `approval.denied`.
    Denied,
    /// Nobody answered before the deadline: `approval.expired`.
    Expired,
}

impl WebhookKind {
    /// The event type: `"approval.requested"`, `"approval.approved"`, `"approval.denied"` or
    /// `"approval.expired"` (the `type` field and the `Warden-Event` header).
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookKind::Requested => "approval.requested",
            WebhookKind::Approved => "approval.approved",
            WebhookKind::Denied => "approval.denied",
            WebhookKind::Expired => "approval.expired",
        }
    }
}

impl fmt::Display for WebhookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// What happened.
    pub kind: WebhookKind,
    /// When it happened (milliseconds since the Unix epoch): the body's `time`.
    pub time_ms: u64,
    /// The approval as JSON, passed through unchanged in the JSON body. The Slack body reads
    /// `id`, `server`, `tool`, `identity`, `rule`, `reason`, `arguments`, `expires` (RFC 3339
    /// text or milliseconds), `decided_by` and `comment`; any of them may be absent.
    pub approval: Value,
    /// One line for people, e.g. `ci-agent asks to call refund on payments`.
    pub summary: String,
}

/// Warden's JSON body: `type`, `time` (RFC 3339 UTC), `delivery`, `summary`, `approval`.
fn json_body(event: &WebhookEvent, delivery: &str) -> Value {
    json!({
        "type": event.kind.as_str(),
        "time": rfc3339_ms(event.time_ms).unwrap_or_else(|| event.time_ms.to_string()),
        "delivery": delivery,
        "summary": event.summary,
        "approval": event.approval,
    })
}

/// A Slack message: the summary as `text`, then blocks: the summary with the approval's
/// fields, the arguments as a code block, and how to answer (or who answered).
fn slack_body(event: &WebhookEvent) -> Value {
    let a = &event.approval;
    let id = text_of(a, "id");
    let field = |label: &str, value: String| {
        let value = if value.is_empty() {
            "—".to_owned()
        } else {
            value
        };
        json!({
            "type": "mrkdwn",
            "text": format!("*{label}*\n{}", slack_escape(&truncate(&value, SLACK_FIELD_MAX))),
        })
    };
    let expires = match a.get("expires") {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(rfc3339_ms)
            .unwrap_or_else(|| n.to_string()),
        _ => text_of(a, "expires"),
    };
    let mut summary = slack_escape(&truncate(&event.summary, SLACK_SUMMARY_MAX));
    let reason = text_of(a, "reason");
    if !reason.is_empty() {
        summary.push_str(&format!(
            "\n_{}_",
            slack_escape(&truncate(&reason, SLACK_FIELD_MAX))
        ));
    }
    let arguments = match a.get("arguments") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(v) => serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()),
    };
    let context = match event.kind {
        WebhookKind::Requested => format!(
            "Answer with `warden approvals approve {id}` or `warden approvals deny {id}`",
            id = slack_escape(&id)
        ),
        WebhookKind::Approved | WebhookKind::Denied => {
            let verb = if event.kind == WebhookKind::Approved {
                "Approved"
            } else {
                "Denied"
            };
            let by = text_of(a, "decided_by");
            let mut line = if by.is_empty() {
                verb.to_owned()
            } else {
                format!(
                    "{verb} by {}",
                    slack_escape(&truncate(&by, SLACK_FIELD_MAX))
                )
            };
            let comment = text_of(a, "comment");
            if !comment.is_empty() {
                line.push_str(&format!(
                    ": “{}”",
                    slack_escape(&truncate(&comment, SLACK_FIELD_MAX))
                ));
            }
            line
        }
        WebhookKind::Expired => "Expired: nobody answered before the deadline".to_owned(),
    };
    json!({
        "text": slack_escape(&event.summary),
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": summary},
                "fields": [
                    field("Server", text_of(a, "server")),
                    field("Tool", text_of(a, "tool")),
                    field("Identity", text_of(a, "identity")),
                    field("Rule", text_of(a, "rule")),
                    field("Approval id", id.clone()),
                    field("Expires", expires),
                ],
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": slack_code_block(&arguments)},
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": context}],
            },
        ],
    })
}

/// The string at `key` (other JSON values as JSON text; absent or null as empty).
fn text_of(v: &Value, key: &str) -> String {
    match v.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `text` escaped as Slack asks of text in messages: `&` as `&amp;`, `<` as `&lt;`, `>` as
/// `&gt;` (so no one's text can become a link or an `@channel` mention).
pub fn slack_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` in a Slack code block: escaped, at most 2,000 characters as shown (ending in `…`
/// when cut, never inside an escape), and with any run of three backticks spaced out
/// (`` ` ` ` ``) so the text cannot close the block and format what follows.
fn slack_code_block(text: &str) -> String {
    let text = text.replace("```", "` ` `");
    let mut shown = String::new();
    let mut count = 0;
    let total: usize = text.chars().map(escaped_len).sum();
    for c in text.chars() {
        let n = escaped_len(c);
        if total > SLACK_ARGUMENTS_MAX && count + n > SLACK_ARGUMENTS_MAX - 1 {
            shown.push('…');
            break;
        }
        count += n;
        shown.push_str(&slack_escape(c.encode_utf8(&mut [0; 4])));
    }
    format!("```\n{shown}\n```")
}

fn escaped_len(c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        _ => 1,
    }
}

/// The `Warden-Signature` header for `body` sent at `timestamp_s` (Unix seconds):
/// `t=<timestamp_s>,v1=<lowercase hex HMAC-SHA256(secret, "<timestamp_s>." ‖ body)>`.
pub fn signature_header(secret: &[u8], timestamp_s: u64, body: &[u8]) -> String {
    format!(
        "t={timestamp_s},v1={}",
        hex(&mac(secret, timestamp_s, body))
    )
}

/// Whether `header` (a `Warden-Signature` value) signs `body` with `secret` at a time within
/// `tolerance_s` seconds of `now_s`, before or after. Any `v1=` entry may match (several
/// allow a secret to be rotated); unknown entries are ignored. The comparison takes the same
/// time whatever the bytes.
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_s: u64,
    tolerance_s: u64,
) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<u64>().ok(),
            Some(("v1", s)) => signatures.push(s),
            _ => {}
        }
    }
    let Some(t) = timestamp else {
        return false;
    };
    if t.abs_diff(now_s) > tolerance_s {
        return false;
    }
    let want = hex(&mac(secret, t, body));
    if want.is_empty() {
        return false;
    }
    let mut ok = subtle::Choice::from(0);
    for s in signatures {
        ok |= want.as_bytes().ct_eq(s.as_bytes());
    }
    ok.into()
}

fn mac(secret: &[u8], timestamp_s: u64, body: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `url` as it may be logged: without its query string, fragment or credentials (a webhook
/// URL's query often holds its token). Text that is not a URL is cut at the first `?` or `#`.
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => {
            let end = url.find(['?', '#']).unwrap_or(url.len());
            printable(&url[..end])
        }
    }
}

/// `HTTP 400 Bad Request: <the start of the body>` for a response that is not a success.
async fn refusal_text(mut response: reqwest::Response) -> String {
    let status = response.status();
    let mut text = format!("HTTP {status}");
    if status.is_redirection() {
        text.push_str(" (redirects are not followed)");
        return text;
    }
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_MAX {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let body = String::from_utf8_lossy(&body);
    let body = body.trim();
    if !body.is_empty() {
        text.push_str(": ");
        text.push_str(&printable(&truncate(body, ERROR_BODY_MAX)));
    }
    text
}

/// A reqwest error and its causes, without the URL (which may hold a token).
fn error_text(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_known_answer() {
        // Computed independently: Python's hmac.new(b"whsec_test",
        // b'1795255200.{"a":1}', hashlib.sha256).hexdigest().
        let header = signature_header(b"whsec_test", 1_795_255_200, br#"{"a":1}"#);
        assert_eq!(
            header,
            "t=1795255200,v1=4c9209adfe495bc33ed2eb898e7cef1243a71b0d2cb9ea26d84ebd0d5852d79c"
        );
        assert!(verify_signature(
            b"whsec_test",
            &header,
            br#"{"a":1}"#,
            1_795_255_200,
            300
        ));
    }

    #[test]
    fn tampering_and_stale_timestamps_are_rejected() {
        let key = b"k";
        let body = br#"{"type":"approval.requested"}"#;
        let t = 1_795_255_200;
        let header = signature_header(key, t, body);
        assert!(verify_signature(key, &header, body, t + 300, 300));
        assert!(verify_signature(key, &header, body, t - 300, 300));
        // Another body, another key, another timestamp with the same MAC.
        assert!(!verify_signature(
            key,
            &header,
            br#"{"type":"approval.approved"}"#,
            t,
            300
        ));
        assert!(!verify_signature(b"other", &header, body, t, 300));
        let moved = header.replace(&format!("t={t}"), &format!("t={}", t + 1));
        assert!(!verify_signature(key, &moved, body, t, 300));
        // Too old, too new.
        assert!(!verify_signature(key, &header, body, t + 301, 300));
        assert!(!verify_signature(key, &header, body, t - 301, 300));
        // Malformed headers.
        for bad in ["", "t=,v1=", "v1=00", "t=1795255200", "t=x,v1=00"] {
            assert!(!verify_signature(key, bad, body, t, 300), "{bad}");
        }
        // Upper-case hex is not what we send.
        assert!(!verify_signature(key, &header.to_uppercase(), body, t, 300));
    }

    #[test]
    fn any_v1_entry_may_match() {
        let header = signature_header(b"new", 10, b"x");
        let v1 = header.split_once(",v1=").unwrap().1;
        let both = format!("t=10,v1={},v1={v1}", "0".repeat(64));
        assert!(verify_signature(b"new", &both, b"x", 10, 0));
    }

    #[test]
    fn urls_are_logged_without_query_or_credentials() {
        assert_eq!(
            redacted_url("https://user:pw@hooks.example/services/T0?token=abc#f"),
            "https://hooks.example/services/T0"
        );
        assert_eq!(redacted_url("not a url?token=abc"), "not a url");
    }

    #[test]
    fn slack_escaping_and_code_block() {
        assert_eq!(slack_escape("a & <b> c"), "a &amp; &lt;b&gt; c");
        let block = slack_code_block("x```y");
        assert_eq!(block, "```\nx` ` `y\n```");
        let long = "&".repeat(1000);
        let block = slack_code_block(&long);
        let inner = block.trim_start_matches("```\n").trim_end_matches("\n```");
        assert!(
            inner.chars().count() <= SLACK_ARGUMENTS_MAX,
            "{}",
            inner.len()
        );
        assert!(inner.ends_with("&amp;…"), "cut between escapes");
        let short = slack_code_block(&"a".repeat(SLACK_ARGUMENTS_MAX));
        assert!(!short.contains('…'));
    }

    #[test]
    fn event_types() {
        assert_eq!(WebhookKind::Requested.as_str(), "approval.requested");
        assert_eq!(WebhookKind::Approved.as_str(), "approval.approved");
        assert_eq!(WebhookKind::Denied.as_str(), "approval.denied");
        assert_eq!(WebhookKind::Expired.as_str(), "approval.expired");
    }

    #[test]
    fn slack_outcome_names_who_decided() {
        let event = WebhookEvent {
            kind: WebhookKind::Denied,
            time_ms: 0,
            approval: json!({"id": "abc", "decided_by": "operator:ana", "comment": "no <refunds>",
                             "expires": 1_795_255_200_000u64}),
            summary: "s".into(),
        };
        let body = slack_body(&event);
        let context = body["blocks"][2]["elements"][0]["text"].as_str().unwrap();
        assert_eq!(context, "Denied by operator:ana: “no &lt;refunds&gt;”");
        let expires = body["blocks"][0]["fields"][5]["text"].as_str().unwrap();
        assert_eq!(expires, "*Expires*\n2026-11-21T10:00:00.000Z");
    }
}
