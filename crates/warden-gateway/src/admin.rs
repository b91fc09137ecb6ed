//! The admin HTTP API: the audit log for operators and their tools.
//!
//! ```text
//! GET /v1/health            no token; {"status":"ok"}
//! GET /v1/audit/records     filters + after, before, limit (100; ≤ 10000), order=asc|desc
//! GET /v1/audit/export      filters + after, before, format=jsonl|csv; streamed page by page
//! GET /v1/audit/verify      the chain and checkpoints checked (`warden_store::audit::verify`)
//! GET  /v1/approvals                 status=pending|approved|denied|expired|all, limit
//! GET  /v1/approvals/{id}            one approval
//! POST /v1/approvals/{id}/approve    {"comment"?, "for"?: "1h"}
//! POST /v1/approvals/{id}/deny       {"comment"?}
//! ```
//!
//! The approval endpoints take the admin token (operator access) or an approver's own API key
//! (`wdn_…`, answering as that identity); who may answer what is decided by
//! [`crate::approvals::may_answer`], as for `warden approvals`.
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
use axum::extract::Path;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
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
    /// The approvals inbox, when served.
    approvals: Option<ApprovalsAccess>,
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
                approvals: None,
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
                approvals: self.inner.approvals.clone(),
                token_hash: self.inner.token_hash,
                clock: self.inner.clock.clone(),
                public_key: key,
            }),
        }
    }

    /// Serves the approvals inbox of `approvals`: listed and answered with the admin token
    /// (operator access) or an approver's API key checked in `keys`; `groups` gives an
    /// identity's groups (from the gateway's configuration). Default: not served.
    pub fn with_approvals(
        self,
        approvals: Arc<crate::approvals::Approvals>,
        keys: Option<Arc<dyn warden_store::KeyStore>>,
        groups: GroupsOf,
    ) -> AdminState {
        AdminState {
            inner: Arc::new(Inner {
                audit: self.inner.audit.clone(),
                approvals: Some(ApprovalsAccess {
                    approvals,
                    auth: keys.map(|k| Arc::new(warden_auth::Authenticator::new(k, None))),
                    groups,
                }),
                token_hash: self.inner.token_hash,
                clock: self.inner.clock.clone(),
                public_key: self.inner.public_key,
            }),
        }
    }
}

/// An identity's groups, by name.
pub type GroupsOf = Arc<dyn Fn(&str) -> Vec<String> + Send + Sync>;

/// What the approval endpoints need.
#[derive(Clone)]
struct ApprovalsAccess {
    approvals: Arc<crate::approvals::Approvals>,
    auth: Option<Arc<warden_auth::Authenticator>>,
    groups: GroupsOf,
}

/// The admin API's routes over `state`.
pub fn router(state: AdminState) -> Router {
    let audit = Router::new()
        .route("/v1/audit/records", get(records))
        .route("/v1/audit/export", get(export))
        .route("/v1/audit/verify", get(verify_log))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let approvals = Router::new()
        .route("/v1/approvals", get(approvals_list))
        .route("/v1/approvals/{id}", get(approvals_show))
        .route("/v1/approvals/{id}/approve", post(approvals_approve))
        .route("/v1/approvals/{id}/deny", post(approvals_deny));
    Router::new()
        .route("/v1/health", get(health))
        .merge(audit)
        .merge(approvals)
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
                  /v1/audit/export, /v1/audit/verify (docs/audit.md, \"Admin API\") and \
                  /v1/approvals (docs/approvals.md)"
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
                    `Authorization: Bearer <token>` with the gateway's admin token ([admin] \
                    token, or WARDEN_ADMIN_TOKEN for `warden run --admin-listen`)");
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
        Err(
            "the admin token is wrong; use the gateway's admin token ([admin] token, or \
             WARDEN_ADMIN_TOKEN for `warden run --admin-listen`)",
        )
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

// ---------------------------------------------------------------------------------------------
// Approvals
// ---------------------------------------------------------------------------------------------

impl ApiError {
    fn status(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            parameter: None,
            message: message.into(),
        }
    }
}

/// Who is asking: the admin token is operator access; an API key is its identity.
async fn approver(
    state: &AdminState,
    headers: &HeaderMap,
) -> Result<(ApprovalsAccess, crate::approvals::Answerer), Response> {
    let unauthorized = |message: String| {
        let mut resp = ApiError::status(StatusCode::UNAUTHORIZED, message).into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"warden-admin\""),
        );
        resp
    };
    let Some(access) = state.inner.approvals.clone() else {
        return Err(ApiError::status(
            StatusCode::NOT_FOUND,
            "this gateway serves no approvals inbox",
        )
        .into_response());
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    match (&bearer, &access.auth) {
        (Some(token), Some(auth)) if token.starts_with("wdn_") => {
            let now = state.inner.clock.now_ms();
            match auth
                .authenticate(Some(&format!("Bearer {token}")), now)
                .await
            {
                Ok(who) => {
                    let groups = (access.groups)(&who.identity);
                    Ok((
                        access,
                        crate::approvals::Answerer::Identity {
                            name: who.identity,
                            groups,
                        },
                    ))
                }
                Err(e) => Err(unauthorized(format!("the API key was refused: {e}"))),
            }
        }
        _ => match check_token(state, headers) {
            Ok(()) => Ok((
                access,
                crate::approvals::Answerer::Operator {
                    detail: "admin-api".into(),
                },
            )),
            Err(message) => Err(unauthorized(format!(
                "{message}; an approver may also send their own API key"
            ))),
        },
    }
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn approvals_list(
    State(state): State<AdminState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let (access, _) = match approver(&state, &headers).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let params = match params(raw, &["status", "limit"]) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let status = match params.get("status").map(String::as_str) {
        None | Some("pending") => Some(warden_store::ApprovalStatus::Pending),
        Some("all") => None,
        Some(s) => match warden_store::ApprovalStatus::parse(s) {
            Some(s) => Some(s),
            None => {
                return ApiError::bad(
                    "status",
                    format!("status must be pending, approved, denied, expired or all, not {s:?}"),
                )
                .into_response();
            }
        },
    };
    let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return ApiError::bad("limit", format!("limit must be 1 to {MAX_LIMIT}"))
                .into_response();
        }
    };
    let now = state.inner.clock.now_ms();
    match access.approvals.store().list(status, limit).await {
        Ok(mut found) => {
            if status == Some(warden_store::ApprovalStatus::Pending) {
                found.retain(|a| a.status_at(now) == warden_store::ApprovalStatus::Pending);
            }
            let all: Vec<serde_json::Value> = found
                .iter()
                .map(|a| crate::approvals::approval_json(a, now))
                .collect();
            no_store(json(StatusCode::OK, &serde_json::json!({"approvals": all})))
        }
        Err(e) => ApiError::store(&e).into_response(),
    }
}

async fn approvals_show(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (access, _) = match approver(&state, &headers).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let now = state.inner.clock.now_ms();
    match access.approvals.store().get(&id).await {
        Ok(Some(a)) => no_store(json(
            StatusCode::OK,
            &crate::approvals::approval_json(&a, now),
        )),
        Ok(None) => ApiError::status(StatusCode::NOT_FOUND, format!("no approval with id {id:?}"))
            .into_response(),
        Err(e) => ApiError::store(&e).into_response(),
    }
}

async fn approvals_approve(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    approvals_answer(state, headers, id, body, true).await
}

async fn approvals_deny(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    approvals_answer(state, headers, id, body, false).await
}

async fn approvals_answer(
    state: AdminState,
    headers: HeaderMap,
    id: String,
    body: Bytes,
    approve: bool,
) -> Response {
    use crate::approvals::AnswerError;
    let (access, by) = match approver(&state, &headers).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct AnswerBody {
        comment: Option<String>,
        #[serde(rename = "for")]
        valid_for: Option<String>,
    }
    let parsed: AnswerBody = if body.iter().all(u8::is_ascii_whitespace) {
        AnswerBody {
            comment: None,
            valid_for: None,
        }
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                return ApiError::bad(
                    "body",
                    format!(
                        "the body must be JSON like {{\"comment\": \"why\", \"for\": \"1h\"}}: {e}"
                    ),
                )
                .into_response();
            }
        }
    };
    let valid_for = match (&parsed.valid_for, approve) {
        (None, _) => None,
        (Some(_), false) => {
            return ApiError::bad("for", "\"for\" applies to approvals only").into_response();
        }
        (Some(text), true) => {
            match humantime::parse_duration(text) {
                Ok(d) if !d.is_zero() && d <= Duration::from_secs(30 * 24 * 3600) => Some(d),
                _ => {
                    return ApiError::bad(
                    "for",
                    format!("\"for\" must be a duration from 1s to 30d, such as \"1h\", not {text:?}"),
                )
                .into_response();
                }
            }
        }
    };
    let answer = crate::approvals::Answer {
        approve,
        by,
        comment: parsed.comment,
        valid_for,
    };
    let now = state.inner.clock.now_ms();
    match access.approvals.answer(&id, &answer).await {
        Ok(a) => no_store(json(
            StatusCode::OK,
            &crate::approvals::approval_json(&a, now),
        )),
        Err(e @ AnswerError::NotFound(_)) => {
            ApiError::status(StatusCode::NOT_FOUND, e.to_string()).into_response()
        }
        Err(e @ AnswerError::NotAllowed(_)) => {
            ApiError::status(StatusCode::FORBIDDEN, e.to_string()).into_response()
        }
        Err(e @ AnswerError::AlreadyDecided { .. }) => {
            ApiError::status(StatusCode::CONFLICT, e.to_string()).into_response()
        }
        Err(AnswerError::Store(e)) => ApiError::store(&e).into_response(),
    }
}
