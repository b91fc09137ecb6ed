//! The audit test suite every `AuditStore` backend must pass, and the tamper
//! cases every backend with a database an attacker could edit must catch.
//!
//! `audit_suite!(name, make())` instantiates the behaviour cases, each on a
//! fresh, empty store; `make()` returns `(store, guard)`. A backend whose
//! tables can be edited directly also implements [`RawAudit`] and adds
//! `audit_tamper_suite!(name, make_raw())`, where `make_raw()` returns
//! `(store, raw, guard)`. The tamper cases say what the attacker does in
//! portable SQL (or through [`RawAudit::put`]) and what `verify` must report.

use ed25519_dalek::{Signer, SigningKey};
use warden_store::audit::{
    EVENT_RETENTION, GENESIS, TamperKind, VerifyReport, checkpoint_message, entry_hash, verify,
};
use warden_store::{
    Anchor, AuditEntry, AuditQuery, AuditRecord, AuditStore, Checkpoint, Pruned, Retention,
};

use super::{SECOND, T0};

const IDENTITIES: [&str; 3] = ["ana", "bo", "ci-bot"];
const SERVERS: [&str; 2] = ["github", "stripe"];
const TOOLS: [&str; 4] = ["issues.list", "refund", "charge", "search"];
const DECISIONS: [&str; 3] = ["allow", "deny", "rate_limited"];

/// The `i`-th entry of a test log: a `call` at `T0 + i` seconds, every 10th
/// a `policy_loaded` event instead. Fields cycle with different periods so
/// every filter combination has hits.
pub fn entry(i: u64) -> AuditEntry {
    let time_ms = T0 + i * SECOND;
    if i.is_multiple_of(10) {
        return AuditEntry {
            time_ms,
            event: "policy_loaded".into(),
            detail: Some(format!(r#"{{"file":"policy.json","n":{i}}}"#)),
            ..AuditEntry::default()
        };
    }
    let pick = |xs: &[&str], n: u64| Some(xs[(i % n) as usize].to_owned());
    AuditEntry {
        time_ms,
        event: "call".into(),
        identity: pick(&IDENTITIES, 3),
        grant: Some(format!("grant-{}", i % 3)),
        server: pick(&SERVERS, 2),
        session: Some(format!("s-{}", i / 7)),
        request_id: Some(i.to_string()),
        method: Some("tools/call".into()),
        tool: pick(&TOOLS, 4),
        decision: pick(&DECISIONS, 3),
        rule: Some("/tools/refund".into()),
        reason: (i % 3 == 1).then(|| "refunds over 10000 need approval".into()),
        argument_keys: vec!["amount".into(), "id".into()],
        arguments: None,
        outcome: i.is_multiple_of(3).then(|| "ok".into()),
        result_bytes: Some(100 + i),
        latency_us: Some(1_000 + i),
        detail: None,
    }
}

/// An entry with every field set, including text a naive encoder breaks.
pub fn full_entry() -> AuditEntry {
    AuditEntry {
        time_ms: T0,
        event: "call".into(),
        identity: Some("ana ✓".into()),
        grant: Some("g'1".into()),
        server: Some("srv \"quoted\"".into()),
        session: Some(String::new()),
        request_id: Some(r#""a""#.into()),
        method: Some("tools/call".into()),
        tool: Some("drop; table".into()),
        decision: Some("deny".into()),
        rule: Some("/tools/x~1y".into()),
        reason: Some("line\nbreak\0nul".into()),
        argument_keys: vec!["a".into(), "ü".into(), "[\"]".into()],
        arguments: Some(r#"{"a":1}"#.into()),
        outcome: Some("is_error".into()),
        result_bytes: Some(i64::MAX as u64),
        latency_us: Some(0),
        detail: Some("{}".into()),
    }
}

/// Appends entries `1..=n` in batches of up to 500; returns them.
pub async fn fill(store: &dyn AuditStore, n: u64) -> Vec<AuditEntry> {
    let entries: Vec<AuditEntry> = (1..=n).map(entry).collect();
    let mut next = 1;
    for batch in entries.chunks(500) {
        let seqs = store.append(batch).await.expect("append");
        let want: Vec<u64> = (next..next + batch.len() as u64).collect();
        assert_eq!(seqs, want);
        next += batch.len() as u64;
    }
    entries
}

/// Every record, by `seq`.
pub async fn all(store: &dyn AuditStore) -> Vec<AuditRecord> {
    store
        .query(&AuditQuery::default())
        .await
        .expect("query all")
}

/// The record numbered `seq`.
pub async fn record(store: &dyn AuditStore, seq: u64) -> AuditRecord {
    let found = store
        .query(&AuditQuery {
            after_seq: Some(seq - 1),
            before_seq: Some(seq + 1),
            ..AuditQuery::default()
        })
        .await
        .expect("query one");
    assert_eq!(found.len(), 1, "record {seq}");
    found.into_iter().next().expect("one record")
}

/// The operator's checkpoint key in these tests.
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

pub fn public_key() -> [u8; 32] {
    signing_key().verifying_key().to_bytes()
}

pub fn sign_with(key: &SigningKey, seq: u64, hash: [u8; 32]) -> Checkpoint {
    let time_ms = T0 + 1_000_000;
    Checkpoint {
        seq,
        hash,
        time_ms,
        public_key: key.verifying_key().to_bytes(),
        signature: key
            .sign(&checkpoint_message(seq, &hash, time_ms))
            .to_bytes(),
    }
}

/// Signs record `seq` as it is now and stores the checkpoint.
pub async fn checkpoint(store: &dyn AuditStore, seq: u64) -> Checkpoint {
    let r = record(store, seq).await;
    let c = sign_with(&signing_key(), seq, r.hash);
    store.add_checkpoint(&c).await.expect("add checkpoint");
    c
}

pub fn problems(report: &VerifyReport) -> Vec<(TamperKind, u64)> {
    report.problems.iter().map(|p| (p.kind, p.seq)).collect()
}

pub async fn verified(store: &dyn AuditStore, key: Option<[u8; 32]>) -> VerifyReport {
    verify(store, key).await.expect("verify")
}

fn seqs(records: &[AuditRecord]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

// ---------------------------------------------------------------- behaviour

pub async fn append_chains_consecutive_records(store: &dyn AuditStore) {
    assert_eq!(
        store.append(&[]).await.expect("empty append"),
        Vec::<u64>::new()
    );
    assert_eq!(store.head().await.expect("head"), None);
    assert_eq!(store.anchor().await.expect("anchor"), Anchor::default());
    assert_eq!(store.append(&[entry(1)]).await.expect("append"), [1]);
    let batch = [entry(2), full_entry()];
    assert_eq!(store.append(&batch).await.expect("append"), [2, 3]);
    assert_eq!(
        store.append(&[]).await.expect("empty append"),
        Vec::<u64>::new()
    );

    let records = all(store).await;
    assert_eq!(seqs(&records), [1, 2, 3]);
    let entries = [entry(1), entry(2), full_entry()];
    let mut prev = GENESIS;
    for (r, e) in records.iter().zip(&entries) {
        assert_eq!(&r.entry, e, "record {} round-trips", r.seq);
        assert_eq!(
            r.prev_hash, prev,
            "record {} links to the one before",
            r.seq
        );
        assert_eq!(r.hash, entry_hash(&prev, e));
        prev = r.hash;
    }
    assert_eq!(store.head().await.expect("head"), Some((3, prev)));
    assert_eq!(store.anchor().await.expect("anchor"), Anchor::default());
}

pub async fn batches_build_one_chain(store: &dyn AuditStore) {
    for b in 0..3u64 {
        let batch: Vec<AuditEntry> = (1..=300).map(|i| entry(b * 300 + i)).collect();
        let seqs = store.append(&batch).await.expect("append batch");
        assert_eq!(seqs, (b * 300 + 1..=b * 300 + 300).collect::<Vec<_>>());
    }
    let records = all(store).await;
    assert_eq!(records.len(), 900);
    for w in records.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1);
        assert_eq!(w[1].prev_hash, w[0].hash);
    }
    let report = verified(store, None).await;
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.records, 900);
}

/// What `q` must return from `records`, written out independently of any
/// backend.
fn expected(records: &[AuditRecord], q: &AuditQuery) -> Vec<u64> {
    let same = |want: &Option<String>, have: &Option<String>| {
        want.is_none() || want.as_deref() == have.as_deref()
    };
    let mut hits: Vec<u64> = records
        .iter()
        .filter(|r| {
            let e = &r.entry;
            q.since_ms.is_none_or(|t| e.time_ms >= t)
                && q.until_ms.is_none_or(|t| e.time_ms <= t)
                && q.after_seq.is_none_or(|s| r.seq > s)
                && q.before_seq.is_none_or(|s| r.seq < s)
                && same(&q.identity, &e.identity)
                && same(&q.server, &e.server)
                && same(&q.tool, &e.tool)
                && same(&q.decision, &e.decision)
                && q.event.as_ref().is_none_or(|ev| *ev == e.event)
        })
        .map(|r| r.seq)
        .collect();
    if q.newest_first {
        hits.reverse();
    }
    if q.limit > 0 {
        hits.truncate(q.limit);
    }
    hits
}

pub async fn query_filters_and_pages(store: &dyn AuditStore) {
    fill(store, 60).await;
    let records = all(store).await;
    let t = |i: u64| T0 + i * SECOND;
    let s = |x: &str| Some(x.to_owned());
    let q = AuditQuery::default;
    let cases = [
        q(),
        AuditQuery {
            since_ms: Some(t(10)),
            ..q()
        },
        AuditQuery {
            until_ms: Some(t(20)),
            ..q()
        },
        AuditQuery {
            since_ms: Some(t(10)),
            until_ms: Some(t(20)),
            ..q()
        },
        AuditQuery {
            since_ms: Some(t(20)),
            until_ms: Some(t(10)),
            ..q()
        },
        AuditQuery {
            identity: s("ana"),
            ..q()
        },
        AuditQuery {
            server: s("stripe"),
            ..q()
        },
        AuditQuery {
            tool: s("refund"),
            ..q()
        },
        AuditQuery {
            decision: s("deny"),
            ..q()
        },
        AuditQuery {
            event: s("policy_loaded"),
            ..q()
        },
        AuditQuery {
            identity: s("bo"),
            tool: s("charge"),
            decision: s("allow"),
            ..q()
        },
        AuditQuery {
            identity: s("nobody"),
            ..q()
        },
        AuditQuery {
            after_seq: Some(50),
            ..q()
        },
        AuditQuery {
            before_seq: Some(5),
            ..q()
        },
        AuditQuery {
            after_seq: Some(10),
            before_seq: Some(20),
            server: s("github"),
            ..q()
        },
        AuditQuery { limit: 7, ..q() },
        AuditQuery {
            limit: 7,
            newest_first: true,
            ..q()
        },
        AuditQuery {
            tool: s("search"),
            limit: 3,
            newest_first: true,
            ..q()
        },
        AuditQuery {
            before_seq: Some(30),
            limit: 4,
            newest_first: true,
            ..q()
        },
        AuditQuery {
            since_ms: Some(u64::MAX),
            ..q()
        },
        AuditQuery {
            until_ms: Some(u64::MAX),
            after_seq: Some(u64::MAX),
            ..q()
        },
        AuditQuery {
            before_seq: Some(u64::MAX),
            limit: usize::MAX,
            ..q()
        },
    ];
    for case in &cases {
        let got = seqs(&store.query(case).await.expect("query"));
        assert_eq!(got, expected(&records, case), "{case:?}");
    }

    // Spot checks of the semantics the helper encodes.
    let both = AuditQuery {
        since_ms: Some(t(10)),
        until_ms: Some(t(20)),
        ..q()
    };
    let got = seqs(&store.query(&both).await.expect("query"));
    assert_eq!(got, (10..=20).collect::<Vec<_>>(), "times are inclusive");
    let last3 = AuditQuery {
        limit: 3,
        newest_first: true,
        ..q()
    };
    assert_eq!(
        seqs(&store.query(&last3).await.expect("query")),
        [60, 59, 58]
    );
    let ana = store
        .query(&AuditQuery {
            identity: s("ana"),
            ..q()
        })
        .await
        .expect("query");
    assert!(!ana.is_empty());
    assert!(
        ana.iter()
            .all(|r| r.entry.identity.as_deref() == Some("ana"))
    );

    // Paging forward with after_seq, and backward with before_seq.
    let mut forward = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .query(&AuditQuery {
                after_seq: after,
                limit: 7,
                ..q()
            })
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        after = Some(last.seq);
        forward.extend(seqs(&page));
    }
    assert_eq!(forward, (1..=60).collect::<Vec<_>>());
    let mut backward = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .query(&AuditQuery {
                before_seq: before,
                limit: 9,
                newest_first: true,
                ..q()
            })
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        before = Some(last.seq);
        backward.extend(seqs(&page));
    }
    assert_eq!(backward, (1..=60).rev().collect::<Vec<_>>());
}

pub async fn head_and_anchor(store: &dyn AuditStore) {
    assert_eq!(store.head().await.expect("head"), None);
    fill(store, 12).await;
    let last = record(store, 12).await;
    assert_eq!(store.head().await.expect("head"), Some((12, last.hash)));
    assert_eq!(store.anchor().await.expect("anchor"), Anchor::default());
}

pub async fn checkpoints_round_trip(store: &dyn AuditStore) {
    assert!(store.checkpoints().await.expect("none").is_empty());
    fill(store, 10).await;
    let five = checkpoint(store, 5).await;
    let three = checkpoint(store, 3).await;
    assert_eq!(
        store.checkpoints().await.expect("list"),
        [three.clone(), five]
    );
    // A second checkpoint for a seq replaces the first.
    let mut later = sign_with(&signing_key(), 5, record(store, 5).await.hash);
    later.time_ms += 1;
    store.add_checkpoint(&later).await.expect("replace");
    assert_eq!(store.checkpoints().await.expect("list"), [three, later]);
    let report = verified(store, Some(public_key())).await;
    // `later` was signed over the old time: its signature no longer holds.
    assert_eq!(problems(&report), [(TamperKind::Checkpoint, 5)]);
    assert_eq!(report.checkpoints_verified, 1);
}

/// The retention event's detail, parsed.
fn retention_detail(r: &AuditRecord) -> serde_json::Value {
    assert_eq!(r.entry.event, EVENT_RETENTION);
    serde_json::from_str(r.entry.detail.as_deref().expect("detail")).expect("detail is JSON")
}

pub async fn prune_by_age(store: &dyn AuditStore) {
    let retention = Retention {
        max_age_ms: Some(60 * SECOND),
        max_records: None,
    };
    assert_eq!(
        store.prune(&retention, T0).await.expect("empty prune"),
        None
    );
    fill(store, 30).await;
    checkpoint(store, 5).await;
    let twenty = checkpoint(store, 20).await;
    let ten = record(store, 10).await;
    // Records older than T0 + 11 s go: 1 to 10.
    let now = T0 + 11 * SECOND + 60 * SECOND;
    let pruned = store.prune(&retention, now).await.expect("prune");
    let anchor = Anchor {
        first_seq: 11,
        prev_hash: ten.hash,
    };
    assert_eq!(
        pruned,
        Some(Pruned {
            records: 10,
            anchor,
            event_seq: 31
        })
    );
    assert_eq!(store.anchor().await.expect("anchor"), anchor);
    assert_eq!(store.checkpoints().await.expect("checkpoints"), [twenty]);
    let records = all(store).await;
    assert_eq!(seqs(&records), (11..=31).collect::<Vec<_>>());
    assert_eq!(records[0].prev_hash, ten.hash);
    let event = &records[20];
    assert_eq!(event.entry.time_ms, now);
    assert_eq!(
        retention_detail(event),
        serde_json::json!({"deleted": 10, "through_seq": 10,
                           "max_age_ms": 60 * SECOND, "max_records": null})
    );
    let report = verified(store, Some(public_key())).await;
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(
        (report.first_seq, report.checkpoints_verified),
        (Some(11), 1)
    );

    // Nothing more is old enough: nothing happens, nothing is appended.
    assert_eq!(
        store.prune(&retention, now).await.expect("prune again"),
        None
    );
    assert_eq!(store.head().await.expect("head").map(|h| h.0), Some(31));
}

pub async fn prune_by_count(store: &dyn AuditStore) {
    fill(store, 30).await;
    let r25 = record(store, 25).await;
    let keep5 = Retention {
        max_age_ms: None,
        max_records: Some(5),
    };
    let pruned = store.prune(&keep5, T0 + HOUR_MS).await.expect("prune");
    let anchor = Anchor {
        first_seq: 26,
        prev_hash: r25.hash,
    };
    assert_eq!(
        pruned,
        Some(Pruned {
            records: 25,
            anchor,
            event_seq: 31
        })
    );
    assert_eq!(seqs(&all(store).await), (26..=31).collect::<Vec<_>>());
    let detail = retention_detail(&record(store, 31).await);
    assert_eq!(detail["deleted"], 25);
    assert_eq!(detail["through_seq"], 25);
    assert_eq!(detail["max_records"], 5);
    assert!(verified(store, None).await.is_intact());

    // Keep none: everything goes, the retention event starts the log again.
    let r31 = record(store, 31).await;
    let none = Retention {
        max_age_ms: None,
        max_records: Some(0),
    };
    let pruned = store
        .prune(&none, T0 + 2 * HOUR_MS)
        .await
        .expect("prune all");
    let anchor = Anchor {
        first_seq: 32,
        prev_hash: r31.hash,
    };
    assert_eq!(
        pruned,
        Some(Pruned {
            records: 6,
            anchor,
            event_seq: 32
        })
    );
    let records = all(store).await;
    assert_eq!(seqs(&records), [32]);
    assert_eq!(records[0].prev_hash, r31.hash);

    // The chain goes on from there.
    assert_eq!(store.append(&[entry(99)]).await.expect("append"), [33]);
    let report = verified(store, None).await;
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!((report.first_seq, report.last_seq), (Some(32), Some(33)));

    // A limit the log is within removes nothing.
    let big = Retention {
        max_age_ms: None,
        max_records: Some(u64::MAX),
    };
    assert_eq!(
        store.prune(&big, T0 + 3 * HOUR_MS).await.expect("prune"),
        None
    );
}

const HOUR_MS: u64 = 3_600 * SECOND;

pub async fn prune_applies_the_stricter_limit(store: &dyn AuditStore) {
    fill(store, 30).await;
    // By age, 1 to 5 would go; by count (keep 20), 1 to 10.
    let retention = Retention {
        max_age_ms: Some(10 * SECOND),
        max_records: Some(20),
    };
    let pruned = store
        .prune(&retention, T0 + 16 * SECOND)
        .await
        .expect("prune")
        .expect("something went");
    assert_eq!((pruned.records, pruned.anchor.first_seq), (10, 11));
    // By age, 1 to 25 would go; by count, 1 to 11.
    let pruned = store
        .prune(&retention, T0 + 36 * SECOND)
        .await
        .expect("prune")
        .expect("something went");
    assert_eq!((pruned.records, pruned.anchor.first_seq), (15, 26));
    assert!(verified(store, None).await.is_intact());
}

pub async fn salt_is_stable(store: &dyn AuditStore) {
    let first = store.salt().await.expect("salt");
    assert_ne!(first, [0; 32]);
    assert_eq!(store.salt().await.expect("salt again"), first);
}

pub async fn long_log_verifies(store: &dyn AuditStore) {
    // More than two of verify's pages.
    const N: u64 = 12_000;
    let mut next = 1;
    while next <= N {
        let batch: Vec<AuditEntry> = (next..next + 500).map(entry).collect();
        store.append(&batch).await.expect("append");
        next += 500;
    }
    for seq in [3_000, 6_000, 9_000, N] {
        checkpoint(store, seq).await;
    }
    let report = verified(store, Some(public_key())).await;
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.records, N);
    assert_eq!((report.first_seq, report.last_seq), (Some(1), Some(N)));
    assert_eq!((report.checkpoints, report.checkpoints_verified), (4, 4));
    assert_eq!(report.last_signed_seq, Some(N));
    let empty_key = verified(store, None).await;
    assert!(empty_key.is_intact());
    assert_eq!(empty_key.checkpoints_verified, 0);
}

pub async fn empty_log_verifies(store: &dyn AuditStore) {
    let report = verified(store, Some(public_key())).await;
    assert!(report.is_intact());
    assert_eq!(report, VerifyReport::default());
}

/// Instantiates every behaviour case as a test in a module named
/// `$backend`. `$make` is an expression returning `(store, guard)`; the
/// guard (a temporary directory, a database handle) lives until the test
/// ends.
#[macro_export]
macro_rules! audit_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            $crate::audit_suite!(@cases $make;
                append_chains_consecutive_records,
                batches_build_one_chain,
                query_filters_and_pages,
                head_and_anchor,
                checkpoints_round_trip,
                prune_by_age,
                prune_by_count,
                prune_applies_the_stricter_limit,
                salt_is_stable,
                long_log_verifies,
                empty_log_verifies,
            );
        }
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (store, _guard) = $make;
                common::audit::$case(&store).await;
            }
        )*
    };
}

// ------------------------------------------------------------------ tamper

/// Write access to a backend's audit tables that bypasses the store: how
/// the tamper cases play an attacker who can edit the database.
///
/// The SQL the cases pass to [`exec`](RawAudit::exec) reads the same in
/// SQLite and PostgreSQL: table `audit_records` with columns `seq` and
/// `tool`, table `audit_checkpoints`, integer literals only.
#[allow(async_fn_in_trait)] // test code: never used as a trait object
pub trait RawAudit {
    /// Runs one statement.
    async fn exec(&self, sql: &str);
    /// Writes `record` as the row numbered `record.seq`, every column as
    /// given, replacing any row with that number.
    async fn put(&self, record: &AuditRecord);
    /// Overwrites the stored anchor.
    async fn set_anchor(&self, anchor: Anchor);
}

/// Moves rows `from..` up by `by` (down when negative) without ever
/// holding two rows with one number: through negative numbers first.
pub async fn renumber(raw: &impl RawAudit, from: u64, by: i64) {
    raw.exec(&format!(
        "UPDATE audit_records SET seq = -seq WHERE seq >= {from}"
    ))
    .await;
    raw.exec(&format!(
        "UPDATE audit_records SET seq = {by} - seq WHERE seq < 0"
    ))
    .await;
}

/// The only problems `verify` reports, as `(kind, seq)`.
async fn expect(store: &dyn AuditStore, key: Option<[u8; 32]>, want: &[(TamperKind, u64)]) {
    let report = verified(store, key).await;
    assert_eq!(problems(&report), want, "{:#?}", report.problems);
}

pub async fn tamper_edited_field(store: &dyn AuditStore, raw: &impl RawAudit) {
    fill(store, 20).await;
    raw.exec("UPDATE audit_records SET tool = 'forged' WHERE seq = 7")
        .await;
    expect(store, None, &[(TamperKind::Edited, 7)]).await;
}

pub async fn tamper_deleted_record(store: &dyn AuditStore, raw: &impl RawAudit) {
    fill(store, 20).await;
    raw.exec("DELETE FROM audit_records WHERE seq = 7").await;
    expect(store, None, &[(TamperKind::Deleted, 7)]).await;
}

pub async fn tamper_deleted_and_renumbered(store: &dyn AuditStore, raw: &impl RawAudit) {
    fill(store, 20).await;
    raw.exec("DELETE FROM audit_records WHERE seq BETWEEN 7 AND 9")
        .await;
    renumber(raw, 10, -3).await;
    let records = all(store).await;
    assert_eq!(seqs(&records), (1..=17).collect::<Vec<_>>(), "no gap left");
    expect(store, None, &[(TamperKind::Deleted, 7)]).await;
}

pub async fn tamper_cut_from_the_front(store: &dyn AuditStore, raw: &impl RawAudit) {
    fill(store, 20).await;
    let five = record(store, 5).await;
    raw.exec("DELETE FROM audit_records WHERE seq <= 5").await;
    expect(store, None, &[(TamperKind::Deleted, 1)]).await;
    // Moving the anchor hides the gap, but no retention event explains it.
    raw.set_anchor(Anchor {
        first_seq: 6,
        prev_hash: five.hash,
    })
    .await;
    expect(store, None, &[(TamperKind::Anchor, 6)]).await;
}

pub async fn tamper_cut_after_retention(store: &dyn AuditStore, raw: &impl RawAudit) {
    fill(store, 30).await;
    let keep20 = Retention {
        max_age_ms: None,
        max_records: Some(20),
    };
    store.prune(&keep20, T0 + HOUR_MS).await.expect("prune");
    let fifteen = record(store, 15).await;
    raw.exec("DELETE FROM audit_records WHERE seq <= 15").await;
    raw.set_anchor(Anchor {
        first_seq: 16,
        prev_hash: fifteen.hash,
    })
    .await;
    expect(store, None, &[(TamperKind::Anchor, 16)]).await;
}

/// A forged call: someone's refund that never happened.
fn forged_entry() -> AuditEntry {
    AuditEntry {
        tool: Some("refund".into()),
        decision: Some("allow".into()),
        reason: Some("approved".into()),
        ..entry(7)
    }
}

pub async fn tamper_inserted_record(store: &dyn AuditStore, raw: &impl RawAudit) {
    fill(store, 20).await;
    let six = record(store, 6).await;
    renumber(raw, 7, 1).await;
    // The forger knows the hashing and links to record 6.
    let entry = forged_entry();
    let hash = entry_hash(&six.hash, &entry);
    raw.put(&AuditRecord {
        seq: 7,
        prev_hash: six.hash,
        hash,
        entry,
    })
    .await;
    expect(store, None, &[(TamperKind::Inserted, 7)]).await;
}

pub async fn tamper_inserted_unlinked_record(store: &dyn AuditStore, raw: &impl RawAudit) {
    fill(store, 20).await;
    renumber(raw, 7, 1).await;
    let forged = AuditRecord {
        seq: 7,
        prev_hash: [1; 32],
        hash: [2; 32],
        entry: forged_entry(),
    };
    raw.put(&forged).await;
    expect(store, None, &[(TamperKind::Inserted, 7)]).await;
}

pub async fn tamper_swapped_rows(store: &dyn AuditStore, raw: &impl RawAudit) {
    fill(store, 30).await;
    let (ten, twenty) = (record(store, 10).await, record(store, 20).await);
    raw.put(&AuditRecord {
        seq: 10,
        ..twenty.clone()
    })
    .await;
    raw.put(&AuditRecord {
        seq: 20,
        ..ten.clone()
    })
    .await;
    let report = verified(store, None).await;
    assert_eq!(problems(&report), [(TamperKind::Reordered, 10)]);
    let message = &report.problems[0].message;
    assert!(message.contains("records 10 and 20"), "{message}");
}

pub async fn tamper_swapped_seq_numbers(store: &dyn AuditStore, raw: &impl RawAudit) {
    fill(store, 30).await;
    raw.exec("UPDATE audit_records SET seq = -1 WHERE seq = 12")
        .await;
    raw.exec("UPDATE audit_records SET seq = 12 WHERE seq = 13")
        .await;
    raw.exec("UPDATE audit_records SET seq = 13 WHERE seq = -1")
        .await;
    expect(store, None, &[(TamperKind::Reordered, 12)]).await;
}

pub async fn tamper_rewritten_chain(store: &dyn AuditStore, raw: &impl RawAudit) {
    fill(store, 30).await;
    for seq in [10, 20, 30] {
        checkpoint(store, seq).await;
    }
    // Record 15 edited, and every hash from there on recomputed: each
    // record is consistent and linked.
    let mut prev = record(store, 14).await.hash;
    for mut r in all(store).await.into_iter().skip(14) {
        if r.seq == 15 {
            r.entry.decision = Some("allow".into());
            r.entry.tool = Some("covered-up".into());
        }
        r.prev_hash = prev;
        r.hash = entry_hash(&prev, &r.entry);
        prev = r.hash;
        raw.put(&r).await;
    }
    let report = verified(store, Some(public_key())).await;
    assert_eq!(
        problems(&report),
        [(TamperKind::Checkpoint, 20)],
        "{:#?}",
        report.problems
    );
    assert_eq!(
        (report.checkpoints_verified, report.last_signed_seq),
        (1, Some(10))
    );
    // Only the checkpoints tell: without them the rewrite is invisible.
    raw.exec("DELETE FROM audit_checkpoints").await;
    assert!(verified(store, Some(public_key())).await.is_intact());
}

pub async fn tamper_forged_checkpoint(store: &dyn AuditStore, _raw: &impl RawAudit) {
    fill(store, 20).await;
    checkpoint(store, 5).await;
    // Someone else's key vouches for the current record 10.
    let impostor = SigningKey::from_bytes(&[9; 32]);
    let forged = sign_with(&impostor, 10, record(store, 10).await.hash);
    store.add_checkpoint(&forged).await.expect("add");
    let report = verified(store, Some(public_key())).await;
    assert_eq!(problems(&report), [(TamperKind::Checkpoint, 10)]);
    assert!(report.problems[0].message.contains("another key"));
    assert_eq!(report.checkpoints_verified, 1);
    // Without a key, only agreement with the log is checked, and it agrees.
    let report = verified(store, None).await;
    assert!(report.is_intact());
    assert_eq!(report.checkpoints_verified, 0);
}

pub async fn tamper_truncated_end(store: &dyn AuditStore, raw: &impl RawAudit) {
    fill(store, 20).await;
    checkpoint(store, 20).await;
    raw.exec("DELETE FROM audit_records WHERE seq > 15").await;
    let report = verified(store, Some(public_key())).await;
    assert_eq!(problems(&report), [(TamperKind::Deleted, 16)]);
    assert!(report.problems[0].message.contains("records 16 to 20"));
}

/// Instantiates every tamper case as a test in a module named `$backend`.
/// `$make` is an expression returning `(store, raw, guard)`, `raw`
/// implementing [`RawAudit`] on the same database as `store`.
#[macro_export]
macro_rules! audit_tamper_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            $crate::audit_tamper_suite!(@cases $make;
                tamper_edited_field,
                tamper_deleted_record,
                tamper_deleted_and_renumbered,
                tamper_cut_from_the_front,
                tamper_cut_after_retention,
                tamper_inserted_record,
                tamper_inserted_unlinked_record,
                tamper_swapped_rows,
                tamper_swapped_seq_numbers,
                tamper_rewritten_chain,
                tamper_forged_checkpoint,
                tamper_truncated_end,
            );
        }
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (store, raw, _guard) = $make;
                common::audit::$case(&store, &raw).await;
            }
        )*
    };
}
