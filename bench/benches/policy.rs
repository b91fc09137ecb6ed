//! Policy evaluation alone, with criterion: `evaluate` and `is_listed` on the
//! 1,000-tool policy of [`fixtures::thousand_tool_policy`], and the audit
//! capture of a typical call's arguments in each mode. `warden-bench` measures
//! the same decisions without criterion for docs/benchmarks.md.
//!
//! Run: `cargo bench -p warden-bench --bench policy -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use warden_bench::fixtures;
use warden_policy::{ArgumentCapture, AuditCapture, Verdict};

fn bench(c: &mut Criterion) {
    let policy = fixtures::thousand_tool_policy();
    let identity = fixtures::identity();
    let mut g = c.benchmark_group("evaluate");
    for d in fixtures::decisions() {
        let call = fixtures::call(d.tool, &d.arguments, &identity);
        assert_eq!(
            matches!(policy.evaluate(&call), Verdict::Allow(_)),
            d.allowed,
            "{}",
            d.label
        );
        g.bench_function(d.label, |b| b.iter(|| policy.evaluate(black_box(&call))));
    }
    g.finish();

    let mut g = c.benchmark_group("is_listed");
    for tool in ["svc21.op0", "zone150.refresh", "nothing.matches.this"] {
        g.bench_function(tool, |b| b.iter(|| policy.is_listed(black_box(tool))));
    }
    g.finish();

    // Runs on every call: a dozen arguments, nested values, one secret.
    let args = json!({
        "customer_id": "cus_NffrFeUfNV2Hib", "amount": 1250, "currency": "eur",
        "reason": "Customer was charged twice for order 1234; refund the second charge.",
        "metadata": {"ticket": "SUP-4412", "agent": "refund-bot", "tags": ["billing", "duplicate"]},
        "items": [{"sku": "A-100", "qty": 2}, {"sku": "B-200", "qty": 1}],
        "api_key": "sk_live_51HxYzAbCdEfGhIjKlMnOpQr", "notify": true,
        "callback": "https://hooks.example.com/refunds/done", "idempotency_key": "550e8400-e29b-41d4-a716-446655440000"
    });
    let salt = [7u8; 32];
    let names = ["ssn".to_owned()];
    let mut g = c.benchmark_group("audit capture");
    for mode in [
        ArgumentCapture::Keys,
        ArgumentCapture::Hashed,
        ArgumentCapture::Full,
    ] {
        let capture = AuditCapture {
            arguments: mode,
            redact: &names,
        };
        g.bench_function(mode.as_str(), |b| {
            b.iter(|| capture.capture(black_box(&args), &salt))
        });
    }
    g.bench_function("audit_capture lookup", |b| {
        b.iter(|| policy.audit_capture(black_box("zone150.refresh")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
