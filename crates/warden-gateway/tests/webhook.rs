//! Approval webhooks delivered to a real loopback receiver that checks each signature the way
//! a receiver should, and records what it was sent.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use warden_gateway::Clock;
use warden_gateway::webhook::{
    NO_SECRET, WebhookEvent, WebhookKind, Webhooks, signature_header, verify_signature,
};
use warden_policy::{Webhook, WebhookFormat};

const SECRET: &[u8] = b"whsec_0123456789abcdef";
/// 2026-11-21T10:00:00Z.
const T0: u64 = 1_795_255_200_000;

#[derive(Debug)]
struct Fixed;

impl Clock for Fixed {
    fn now_ms(&self) -> u64 {
        T0
    }
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    headers: HeaderMap,
    body: Bytes,
    /// Whether `Warden-Signature` verified with [`SECRET`] at T0.
    verified: bool,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).unwrap().to_str().unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Receiver {
    seen: Mutex<Vec<Seen>>,
    /// Statuses to answer with, in order; 200 once they run out.
    statuses: Mutex<VecDeque<u16>>,
    /// How long to wait before answering.
    delay: Duration,
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    let verified = headers
        .get("warden-signature")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|sig| verify_signature(SECRET, sig, &body, T0 / 1000, 300));
    r.seen.lock().unwrap().push(Seen {
        headers,
        body,
        verified,
    });
    if !r.delay.is_zero() {
        tokio::time::sleep(r.delay).await;
    }
    let status = r.statuses.lock().unwrap().pop_front().unwrap_or(200);
    let status = StatusCode::from_u16(status).unwrap();
    if status.is_redirection() {
        return (status, [("location", "http://127.0.0.1:9/elsewhere")], "").into_response();
    }
    (status, if status.is_success() { "ok" } else { "nope" }).into_response()
}

/// A receiver on 127.0.0.1:0 answering with `statuses` then 200; returns it and its URL.
async fn receiver(statuses: &[u16], delay: Duration) -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver {
        statuses: Mutex::new(statuses.iter().copied().collect()),
        delay,
        ..Receiver::default()
    });
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (r, url)
}

fn hook(url: &str, format: WebhookFormat) -> Webhook {
    Webhook {
        url: url.to_owned(),
        format,
    }
}

/// A sender with the fixed clock and short waits (10 ms) so retries are quick.
fn sender() -> Webhooks {
    Webhooks::new(Some(SECRET.to_vec()))
        .with_clock(Arc::new(Fixed))
        .with_schedule(Duration::from_secs(10), &[Duration::from_millis(10); 3])
}

fn approval() -> Value {
    json!({
        "id": "0a1b2c3d4e5f",
        "status": "pending",
        "server": "payments",
        "tool": "refund",
        "identity": "ci-agent",
        "grant": "ci",
        "session": null,
        "arguments": {"order": "A-1", "amount": 120, "note": "<@U123> & co"},
        "rule": "/servers/payments/tools/refund",
        "reason": "refunds need a human",
        "approvers": ["operator"],
        "mode": "hold",
        "created": "2026-11-21T10:00:00.000Z",
        "expires": "2026-11-21T10:10:00.000Z",
        "decided_by": null,
        "decided": null,
        "comment": null,
        "valid_until": null,
    })
}

fn event(kind: WebhookKind) -> WebhookEvent {
    WebhookEvent {
        kind,
        time_ms: T0,
        approval: approval(),
        summary: "ci-agent asks to call refund on payments".into(),
    }
}

#[tokio::test]
async fn json_body_and_headers() {
    let (r, url) = receiver(&[], Duration::ZERO).await;
    let got = sender()
        .send(
            &hook(&url, WebhookFormat::Json),
            event(WebhookKind::Requested),
        )
        .await
        .unwrap();
    assert_eq!(got, Ok(200));

    let seen = r.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert!(s.verified, "signature verifies");
    assert_eq!(s.header("content-type"), "application/json");
    assert_eq!(
        s.header("user-agent"),
        format!("warden/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(s.header("warden-event"), "approval.requested");
    let delivery = uuid::Uuid::parse_str(s.header("warden-delivery")).unwrap();
    assert_eq!(delivery.get_version_num(), 4);
    assert_eq!(
        s.header("warden-signature"),
        signature_header(SECRET, T0 / 1000, &s.body)
    );

    let body = s.json();
    assert_eq!(
        body,
        json!({
            "type": "approval.requested",
            "time": "2026-11-21T10:00:00.000Z",
            "delivery": delivery.to_string(),
            "summary": "ci-agent asks to call refund on payments",
            "approval": approval(),
        })
    );
}

#[tokio::test]
async fn outcome_events_name_their_type() {
    let (r, url) = receiver(&[], Duration::ZERO).await;
    let hook = hook(&url, WebhookFormat::Json);
    let w = sender();
    for kind in [
        WebhookKind::Approved,
        WebhookKind::Denied,
        WebhookKind::Expired,
    ] {
        assert_eq!(w.send(&hook, event(kind)).await.unwrap(), Ok(200));
    }
    let seen = r.seen.lock().unwrap().clone();
    let types: Vec<String> = seen.iter().map(|s| s.json()["type"].to_string()).collect();
    assert_eq!(
        types,
        [
            r#""approval.approved""#,
            r#""approval.denied""#,
            r#""approval.expired""#
        ]
    );
    for s in &seen {
        assert_eq!(s.header("warden-event"), s.json()["type"]);
        assert!(s.verified);
    }
    // Each event is its own delivery.
    assert_ne!(
        seen[0].header("warden-delivery"),
        seen[1].header("warden-delivery")
    );
}

#[tokio::test]
async fn slack_body_shape_and_escaping() {
    let (r, url) = receiver(&[], Duration::ZERO).await;
    let mut e = event(WebhookKind::Requested);
    e.summary = "ci-agent <!channel> asks to call refund & more".into();
    let got = sender()
        .send(&hook(&url, WebhookFormat::Slack), e)
        .await
        .unwrap();
    assert_eq!(got, Ok(200));
    let seen = r.seen.lock().unwrap().clone();
    assert!(seen[0].verified);
    assert_eq!(seen[0].header("warden-event"), "approval.requested");
    let body = seen[0].json();

    assert_eq!(
        body["text"],
        "ci-agent &lt;!channel&gt; asks to call refund &amp; more"
    );
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 3);

    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    assert_eq!(
        blocks[0]["text"]["text"],
        "ci-agent &lt;!channel&gt; asks to call refund &amp; more\n_refunds need a human_"
    );
    let fields: Vec<&str> = blocks[0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "*Server*\npayments",
            "*Tool*\nrefund",
            "*Identity*\nci-agent",
            "*Rule*\n/servers/payments/tools/refund",
            "*Approval id*\n0a1b2c3d4e5f",
            "*Expires*\n2026-11-21T10:10:00.000Z",
        ]
    );

    assert_eq!(blocks[1]["type"], "section");
    let code = blocks[1]["text"]["text"].as_str().unwrap();
    assert!(
        code.starts_with("```\n") && code.ends_with("\n```"),
        "{code}"
    );
    assert!(code.contains(r#""order": "A-1""#), "{code}");
    assert!(
        code.contains(r#""note": "&lt;@U123&gt; &amp; co""#),
        "{code}"
    );

    assert_eq!(blocks[2]["type"], "context");
    assert_eq!(
        blocks[2]["elements"][0]["text"],
        "Answer with `warden approvals approve 0a1b2c3d4e5f` or `warden approvals deny 0a1b2c3d4e5f`"
    );
}

#[tokio::test]
async fn slack_outcome_says_who_decided() {
    let (r, url) = receiver(&[], Duration::ZERO).await;
    let mut e = event(WebhookKind::Approved);
    e.approval["status"] = json!("approved");
    e.approval["decided_by"] = json!("operator:ana");
    e.approval["comment"] = json!("ok for <order> A-1");
    let got = sender()
        .send(&hook(&url, WebhookFormat::Slack), e)
        .await
        .unwrap();
    assert_eq!(got, Ok(200));
    let body = r.seen.lock().unwrap()[0].json();
    assert_eq!(
        body["blocks"][2]["elements"][0]["text"],
        "Approved by operator:ana: “ok for &lt;order&gt; A-1”"
    );
}

#[tokio::test]
async fn server_error_is_retried_with_the_same_delivery_id() {
    let (r, url) = receiver(&[500], Duration::ZERO).await;
    let got = sender()
        .send(
            &hook(&url, WebhookFormat::Json),
            event(WebhookKind::Requested),
        )
        .await
        .unwrap();
    assert_eq!(got, Ok(200));
    let seen = r.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.verified));
    assert_eq!(
        seen[0].header("warden-delivery"),
        seen[1].header("warden-delivery")
    );
    assert_eq!(seen[0].body, seen[1].body);
}

#[tokio::test]
async fn too_many_requests_and_request_timeout_are_retried() {
    let (r, url) = receiver(&[429, 408], Duration::ZERO).await;
    let got = sender()
        .send(
            &hook(&url, WebhookFormat::Json),
            event(WebhookKind::Requested),
        )
        .await
        .unwrap();
    assert_eq!(got, Ok(200));
    assert_eq!(r.seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn client_error_is_not_retried() {
    let (r, url) = receiver(&[400], Duration::ZERO).await;
    let got = sender()
        .send(
            &hook(&url, WebhookFormat::Json),
            event(WebhookKind::Requested),
        )
        .await
        .unwrap();
    let err = got.unwrap_err();
    assert!(err.contains(&url), "{err}");
    assert!(err.contains("HTTP 400 Bad Request: nope"), "{err}");
    assert_eq!(r.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (r, url) = receiver(&[302], Duration::ZERO).await;
    let got = sender()
        .send(
            &hook(&url, WebhookFormat::Json),
            event(WebhookKind::Requested),
        )
        .await
        .unwrap();
    let err = got.unwrap_err();
    assert!(
        err.contains("HTTP 302 Found (redirects are not followed)"),
        "{err}"
    );
    assert_eq!(r.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn gives_up_after_four_attempts_without_the_query_in_the_error() {
    let (r, url) = receiver(&[503, 503, 503, 503], Duration::ZERO).await;
    let got = sender()
        .send(
            &hook(&format!("{url}?token=s3cret"), WebhookFormat::Json),
            event(WebhookKind::Requested),
        )
        .await
        .unwrap();
    let err = got.unwrap_err();
    assert_eq!(
        err,
        format!("webhook {url}: HTTP 503 Service Unavailable: nope (after 4 attempts)")
    );
    assert_eq!(r.seen.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn each_attempt_times_out() {
    let (r, url) = receiver(&[], Duration::from_secs(5)).await;
    let w = sender().with_schedule(Duration::from_millis(200), &[Duration::from_millis(10)]);
    let got = w
        .send(
            &hook(&url, WebhookFormat::Json),
            event(WebhookKind::Requested),
        )
        .await
        .unwrap();
    assert_eq!(
        got,
        Err(format!(
            "webhook {url}: no response within 200ms (after 2 attempts)"
        ))
    );
    assert_eq!(r.seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn no_secret_fails_at_once_and_sends_nothing() {
    let (r, url) = receiver(&[], Duration::ZERO).await;
    for secret in [None, Some(Vec::new())] {
        let w = Webhooks::new(secret);
        assert!(!w.has_secret());
        let got = w
            .send(
                &hook(&format!("{url}?token=s3cret"), WebhookFormat::Json),
                event(WebhookKind::Requested),
            )
            .await
            .unwrap();
        assert_eq!(got, Err(format!("webhook {url}: {NO_SECRET}")));
    }
    assert!(NO_SECRET.contains("WARDEN_WEBHOOK_SECRET"));
    assert!(NO_SECRET.contains("WARDEN_WEBHOOK_SECRET"));
    assert!(r.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn urls_other_than_http_fail_at_once() {
    let got = sender()
        .send(
            &hook("file:///etc/passwd", WebhookFormat::Json),
            event(WebhookKind::Requested),
        )
        .await
        .unwrap();
    assert_eq!(
        got,
        Err("webhook file:///etc/passwd: the URL is not http or https".into())
    );
}

/// The default schedule, on tokio's paused clock: four attempts at a closed port, with 1 s,
/// 5 s and 25 s between them.
#[tokio::test(start_paused = true)]
async fn unreachable_port_fails_after_the_default_attempts() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hook");
    let w = Webhooks::new(Some(SECRET.to_vec())).with_clock(Arc::new(Fixed));
    let start = tokio::time::Instant::now();
    let got = w
        .send(
            &hook(&format!("{url}?token=s3cret"), WebhookFormat::Json),
            event(WebhookKind::Requested),
        )
        .await
        .unwrap();
    let err = got.unwrap_err();
    assert!(err.starts_with(&format!("webhook {url}: ")), "{err}");
    assert!(err.ends_with("(after 4 attempts)"), "{err}");
    assert!(err.contains("tcp connect error"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    // 1 s + 5 s + 25 s of waits, and no attempt ran into its 10 s timeout.
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_secs(31), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(41), "{elapsed:?}");
}
