//! The admin HTTP API: the audit log for operators and their tools.
//!
//! ```text
//! GET /v1/health            no token; {"status":"ok"}
//! GET /v1/audit/records     filters + after, before, limit (100; ≤ 10000), order=asc|desc
//! GET /v1/audit/export      filters + after, before, format=jsonl|csv; streamed page by page
//! GET /v1/audit/verify      the chain and checkpoints checked (`warden_store::audit::verify`)
//! ```
//!
//! Every `/v1/audit/` endpoint needs `Authorization: Bearer <token>` with the configured admin
//! token. The token is kept only as its SHA-256 and compared in constant time (both sides are
//! hashed first, so neither the bytes nor the length of the real token show in timing), and it
//! is never logged. The filters and the record format are [`crate::audit_view`]'s, shared with
//! `warden audit`; docs/audit.md ("Admin API") documents them for users.
//!
//! Errors are JSON, `{"error": "...", "parameter": "..."}` (the parameter when one is at fault),
//! built in one place ([`ApiError`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;
use warden_store::audit::{VerifyReport, verify};
use warden_store::{AuditQuery, AuditStore, StoreError};

use crate::audit_view::{
    ExportFormat, FILTER_PARAMS, FilterError, Filters, Pages, RecordJson, record_json,
};
use crate::clock::Clock;

/// Records per page of `GET /v1/audit/records` when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 10_000;
/// Records read from the store per chunk of an export.
const EXPORT_PAGE: usize = 1_000;
/// How long requests still running at shutdown (a long export) may go on.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the admin API serves from. Cheap to clone.
#[derive(Clone)]
pub struct AdminState {
    inner: Arc<Inner>,
}

struct Inner {
    audit: Arc<dyn AuditStore>,
    /// SHA-256 of the token: the token itself is not kept, so it cannot leak from here.
    token_hash: [u8; 32],
    clock: Arc<dyn Clock>,
    /// The Ed25519 key checkpoints must be signed with, for `/v1/audit/verify`.
    public_key: Option<[u8; 32]>,
}

impl fmt::Debug for AdminState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminState")
            .field("audit", &self.inner.audit)
            .field("token", &"<redacted>")
            .field("public_key", &self.inner.public_key.is_some())
            .finish_non_exhaustive()
    }
}

impl AdminState {
    /// Serves `audit` to requests bearing `token`; `clock` resolves relative times (`since=2h`).
    pub fn new(audit: Arc<dyn AuditStore>, token: &str, clock: Arc<dyn Clock>) -> AdminState {
        AdminState {
            inner: Arc::new(Inner {
                audit,
                token_hash: Sha256::digest(token.as_bytes()).into(),
                clock,
                public_key: None,
            }),
        }
    }

    /// Checks checkpoint signatures with `key` in `/v1/audit/verify` (the public half of
    /// `[audit] signing_key`). Default: none; checkpoints are then compared with the log only.
    pub fn with_public_key(self, key: Option<[u8; 32]>) -> AdminState {
        AdminState {
            inner: Arc::new(Inner {
                audit: self.inner.audit.clone(),
                token_hash: self.inner.token_hash,
                clock: self.inner.clock.clone(),
                public_key: key,
            }),
        }
    }
}

/// The admin API's routes over `state`.
pub fn router(state: AdminState) -> Router {
    let audit = Router::new()
        .route("/v1/audit/records", get(records))
        .route("/v1/audit/export", get(export))
        .route("/v1/audit/verify", get(verify_log))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/v1/health", get(health))
        .merge(audit)
        .fallback(not_found)
        .with_state(state)
}

/// Serves the admin API on `listener` until `shutdown` completes; requests still running then
/// get [`SHUTDOWN_GRACE`] to finish before their connections are closed.
pub async fn serve_admin(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let graceful = axum::serve(listener, router(state)).with_graceful_shutdown({
        let stop = stop.clone();
        async move { stop.cancelled().await }
    });
    tokio::select! {
        served = graceful => served?,
        () = async {
            shutdown.await;
            stop.cancel();
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!("admin API: requests still running at shutdown were cut off"),
    }
    Ok(())
}

/// An error answer: `{"error": message, "parameter": name}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    parameter: Option<String>,
    message: String,
}

impl ApiError {
    fn bad(parameter: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            parameter: Some(parameter.to_owned()),
            message: message.into(),
        }
    }

    fn store(e: &StoreError) -> ApiError {
        tracing::error!(error = %e, "admin API: the audit store could not be read");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            parameter: None,
            message: format!("the audit store could not be read: {e}"),
        }
    }
}

impl From<FilterError> for ApiError {
    fn from(e: FilterError) -> ApiError {
        ApiError::bad(e.parameter, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            parameter: Option<&'a str>,
        }
        json(
            self.status,
            &Body {
                error: &self.message,
                parameter: self.parameter.as_deref(),
            },
        )
    }
}

fn json(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "admin API: could not encode an answer");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn health() -> Response {
    json(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        parameter: None,
        message: "no such endpoint; the admin API serves GET /v1/health, /v1/audit/records, \
                  /v1/audit/export and /v1/audit/verify (docs/audit.md, \"Admin API\")"
            .into(),
    }
}

/// Lets the request through only with the right bearer token; answers 401 otherwise. Audit
/// answers are marked `Cache-Control: no-store`: they should not linger in caches.
async fn require_token(State(state): State<AdminState>, req: Request, next: Next) -> Response {
    if let Err(message) = check_token(&state, req.headers()) {
        let mut resp = ApiError {
            status: StatusCode::UNAUTHORIZED,
            parameter: None,
            message: message.into(),
        }
        .into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"warden-admin\""),
        );
        return resp;
    }
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn check_token(state: &AdminState, headers: &HeaderMap) -> Result<(), &'static str> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err("this endpoint needs the admin token: send the header \
                    `Authorization: Bearer <token>` with the token of the [admin] configuration");
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or("the Authorization header must be `Bearer <token>`")?;
    let given: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    if bool::from(given.ct_eq(&state.inner.token_hash)) {
        Ok(())
    } else {
        Err("the admin token is wrong; use the token of the [admin] configuration")
    }
}

/// The query string as name → value, refusing names `allowed` does not list and names given
/// twice (which value would win is not obvious, so neither does).
fn params(
    raw: Option<String>,
    allowed: &[&'static str],
) -> Result<HashMap<&'static str, String>, ApiError> {
    let mut out = HashMap::new();
    let raw = raw.unwrap_or_default();
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let Some(known) = allowed.iter().copied().find(|a| *a == name) else {
            let takes = if allowed.is_empty() {
                "no parameters".to_owned()
            } else {
                allowed.join(", ")
            };
            return Err(ApiError::bad(
                &name,
                format!("unknown parameter {name:?}; this endpoint takes {takes}"),
            ));
        };
        if out.insert(known, value.into_owned()).is_some() {
            return Err(ApiError::bad(
                known,
                format!("{known} is given twice; give it once"),
            ));
        }
    }
    Ok(out)
}

/// The filters in `params`, as a store query with relative times resolved now.
fn filter_query(
    state: &AdminState,
    params: &HashMap<&'static str, String>,
) -> Result<AuditQuery, ApiError> {
    let mut filters = Filters::default();
    for name in FILTER_PARAMS {
        if let Some(value) = params.get(name) {
            filters.set(name, value)?;
        }
    }
    let mut query = filters.query(state.inner.clock.now_ms())?;
    query.after_seq = seq_param(params, "after")?;
    query.before_seq = seq_param(params, "before")?;
    Ok(query)
}

fn seq_param(
    params: &HashMap<&'static str, String>,
    name: &'static str,
) -> Result<Option<u64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::bad(
                    name,
                    format!(
                        "{name} must be a sequence number (a whole number, 0 or more), e.g. {name}=120"
                    ),
                )
            })
        })
        .transpose()
}

const RECORDS_PARAMS: [&str; 11] = [
    "since", "until", "identity", "server", "tool", "decision", "event", "after", "before",
    "limit", "order",
];

/// A page of records. With `order=asc`, `next_after` is the `after` that asks for the next
/// page; with `order=desc`, `next_before` is the `before` that does. `null` when this page
/// holds the last matching record.
#[derive(Serialize)]
struct Page<'a> {
    records: Vec<RecordJson<'a>>,
    next_after: Option<u64>,
    next_before: Option<u64>,
}

async fn records(
    State(state): State<AdminState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = params(raw, &RECORDS_PARAMS)?;
    let mut query = filter_query(&state, &params)?;
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad(
                    "limit",
                    format!("limit must be a number from 1 to {MAX_LIMIT}, e.g. limit=500; page through more with after"),
                )
            })?,
    };
    let newest_first = match params.get("order").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            return Err(ApiError::bad(
                "order",
                "order must be asc (oldest first, the default) or desc (newest first)",
            ));
        }
    };
    // One more than asked, to know whether there is a next page.
    query.limit = limit + 1;
    query.newest_first = newest_first;
    let mut got = state
        .inner
        .audit
        .query(&query)
        .await
        .map_err(|e| ApiError::store(&e))?;
    let more = got.len() > limit;
    got.truncate(limit);
    let next = got.last().map(|r| r.seq).filter(|_| more);
    let page = Page {
        records: got.iter().map(record_json).collect(),
        next_after: next.filter(|_| !newest_first),
        next_before: next.filter(|_| newest_first),
    };
    Ok(json(StatusCode::OK, &page))
}

const EXPORT_PARAMS: [&str; 10] = [
    "since", "until", "identity", "server", "tool", "decision", "event", "after", "before",
    "format",
];

/// The matching records up to the head of the log at the time of the request, in `seq` order,
/// read and sent [`EXPORT_PAGE`] at a time. The first page is read before answering, so a
/// store that cannot be read gets a 500; a failure later cuts the body short (the chunked
/// encoding is not terminated, so clients see an error rather than a short export).
async fn export(
    State(state): State<AdminState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = params(raw, &EXPORT_PARAMS)?;
    let format = match params.get("format") {
        None => ExportFormat::Jsonl,
        Some(f) => f
            .parse::<ExportFormat>()
            .map_err(|m| ApiError::bad("format", format!("format: {m}")))?,
    };
    let query = filter_query(&state, &params)?;
    let mut pages = Pages::new(state.inner.audit.clone(), query, EXPORT_PAGE)
        .await
        .map_err(|e| ApiError::store(&e))?;
    let mut first = Vec::new();
    let head = pages.next_page().await.map_err(|e| ApiError::store(&e))?;
    let rendered = format.write_header(&mut first).and_then(|()| match &head {
        Some(page) => format.write_records(page, &mut first),
        None => Ok(()),
    });
    if let Err(e) = rendered {
        return Err(ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            parameter: None,
            message: format!("the export could not be written: {e}"),
        });
    }
    let rest = head.is_some().then_some(pages);
    let body = export_body(first, rest, format);
    let disposition = format!(
        "attachment; filename=\"warden-audit.{}\"",
        format.extension()
    );
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// `first`, then the pages left in `pages` rendered in `format`, ending at the first error.
fn export_body(
    first: Vec<u8>,
    pages: Option<Pages>,
    format: ExportFormat,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    use futures::StreamExt as _;
    let rest = futures::stream::unfold(pages, move |pages| async move {
        let mut pages = pages?;
        match pages.next_page().await {
            Ok(Some(page)) => {
                let mut buf = Vec::new();
                match format.write_records(&page, &mut buf) {
                    Ok(()) => Some((Ok(Bytes::from(buf)), Some(pages))),
                    Err(e) => Some((Err(e), None)),
                }
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "admin API: export cut short; the audit store could not be read");
                Some((Err(std::io::Error::other(e)), None))
            }
        }
    });
    futures::stream::once(async move { Ok(Bytes::from(first)) }).chain(rest)
}

/// The verification report, with `intact` first. 200 whether or not the log is intact: a
/// tampered log is a finding, not a failed request.
#[derive(Serialize)]
struct Verified {
    intact: bool,
    /// Whether checkpoint signatures were checked against a configured public key.
    signatures_checked: bool,
    #[serde(flatten)]
    report: VerifyReport,
}

async fn verify_log(
    State(state): State<AdminState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    params(raw, &[])?;
    let report = verify(state.inner.audit.as_ref(), state.inner.public_key)
        .await
        .map_err(|e| ApiError::store(&e))?;
    if !report.is_intact() {
        tracing::warn!(
            problems = report.problems.len(),
            "admin API: audit verification found tampering"
        );
    }
    Ok(json(
        StatusCode::OK,
        &Verified {
            intact: report.is_intact(),
            signatures_checked: state.inner.public_key.is_some(),
            report,
        },
    ))
}
