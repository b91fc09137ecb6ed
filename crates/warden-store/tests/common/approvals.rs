//! The approval test suite every `ApprovalStore` backend must pass, and the
//! races every backend shared by several processes or replicas must win.
//!
//! `approval_suite!(name, make())` instantiates the behaviour cases, each on
//! a fresh, empty store; `make()` returns `(store, guard)`.
//! `approval_race_suite!(name, make_two())` instantiates the races, where
//! `make_two()` returns `(a, b, guard)`: two handles (`Arc<dyn
//! ApprovalStore>`) on one fresh store, as two processes or replicas would
//! hold them.

use std::collections::BTreeSet;
use std::sync::Arc;

use warden_store::{
    Approval, ApprovalRequest, ApprovalStatus, ApprovalStore, ClaimKey, Decided, Decision,
    StoreError,
};

use super::{HOUR, MINUTE, T0};

pub const GRANT: &str = "grant-ops";
pub const TOOL: &str = "refund";
pub const DIGEST: &str = "5f0e1c8a9b2d4e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f";

/// The claim key of [`request`]'s calls.
pub fn key() -> ClaimKey<'static> {
    ClaimKey {
        grant: GRANT,
        tool: TOOL,
        digest: DIGEST,
    }
}

/// A plain request made at `created_ms`, due an hour later.
pub fn request(id: &str, created_ms: u64) -> ApprovalRequest {
    ApprovalRequest {
        id: id.to_owned(),
        created_ms,
        expires_ms: created_ms + HOUR,
        identity: "ci-bot".to_owned(),
        grant: GRANT.to_owned(),
        server: "stripe".to_owned(),
        session: Some("session-1".to_owned()),
        tool: TOOL.to_owned(),
        digest: DIGEST.to_owned(),
        arguments: r#"{"amount":12000,"charge":"ch_1"}"#.to_owned(),
        rule: "/tools/refund".to_owned(),
        reason: "refunds over 10000 need approval".to_owned(),
        approvers: vec!["operator".to_owned(), "group:finance".to_owned()],
        mode: "hold".to_owned(),
        valid_for_ms: 0,
    }
}

/// A request with every field set to text a naive encoder breaks: unicode,
/// quotes, SQL, newlines, NUL, U+FFFF.
pub fn full_request() -> ApprovalRequest {
    ApprovalRequest {
        id: "0a1b2c3d4e5f".to_owned(),
        created_ms: T0,
        expires_ms: T0 + 15 * MINUTE,
        identity: "ana ✓".to_owned(),
        grant: "g'1\0".to_owned(),
        server: "srv \"quoted\"".to_owned(),
        session: Some(String::new()),
        tool: "drop; table approvals".to_owned(),
        digest: "d\u{FFFF}0".to_owned(),
        arguments: "{\"note\":\"line\\nbreak\",\"ü\":\"\u{0}\"}".to_owned(),
        rule: "/tools/x~1y".to_owned(),
        reason: "line\nbreak\0nul".to_owned(),
        approvers: vec![
            "user".to_owned(),
            "group:fïnance".to_owned(),
            "[\"]".to_owned(),
            "a\0b".to_owned(),
            String::new(),
        ],
        mode: "async".to_owned(),
        valid_for_ms: 8 * HOUR,
    }
}

/// The approval `create(r)` stores.
pub fn pending(r: &ApprovalRequest) -> Approval {
    Approval::pending(r.clone())
}

pub fn approve(now_ms: u64, valid_until_ms: u64, single_use: bool) -> Decision {
    Decision {
        approve: true,
        by: "operator:ana".to_owned(),
        comment: Some("ok ✓".to_owned()),
        now_ms,
        valid_until_ms,
        single_use,
    }
}

pub fn deny(now_ms: u64) -> Decision {
    Decision {
        approve: false,
        by: "bo".to_owned(),
        comment: None,
        now_ms,
        valid_until_ms: now_ms + HOUR,
        single_use: false,
    }
}

pub async fn create(store: &dyn ApprovalStore, r: &ApprovalRequest) {
    store.create(r).await.expect("create");
}

pub async fn get(store: &dyn ApprovalStore, id: &str) -> Approval {
    store
        .get(id)
        .await
        .expect("get")
        .unwrap_or_else(|| panic!("approval {id} is stored"))
}

/// Decides and expects it stored; returns the approval as it now is.
pub async fn decided(store: &dyn ApprovalStore, id: &str, d: &Decision) -> Approval {
    match store.decide(id, d).await.expect("decide") {
        Decided::Done(a) => a,
        other => panic!("expected Done deciding {id}, got {other:?}"),
    }
}

/// A request created and approved at `created_ms + 1`.
pub async fn approved(
    store: &dyn ApprovalStore,
    id: &str,
    created_ms: u64,
    valid_until_ms: u64,
    single_use: bool,
) -> Approval {
    create(store, &request(id, created_ms)).await;
    decided(
        store,
        id,
        &approve(created_ms + 1, valid_until_ms, single_use),
    )
    .await
}

pub async fn claim(store: &dyn ApprovalStore, id: Option<&str>, now_ms: u64) -> Option<Approval> {
    store.claim(key(), id, now_ms).await.expect("claim")
}

fn ids(approvals: &[Approval]) -> Vec<&str> {
    approvals.iter().map(|a| a.request.id.as_str()).collect()
}

pub async fn list_ids(
    store: &dyn ApprovalStore,
    status: Option<ApprovalStatus>,
    limit: usize,
) -> Vec<String> {
    let got = store.list(status, limit).await.expect("list");
    ids(&got).into_iter().map(str::to_owned).collect()
}

// ---------------------------------------------------------------- behaviour

pub async fn create_then_get_round_trips(store: &dyn ApprovalStore) {
    let full = full_request();
    create(store, &full).await;
    let mut plain = request("ba9876543210", T0 + 1);
    plain.session = None;
    plain.approvers = Vec::new();
    create(store, &plain).await;
    assert_eq!(get(store, &full.id).await, pending(&full));
    assert_eq!(get(store, "ba9876543210").await, pending(&plain));
    assert_eq!(store.get("000000000000").await.expect("get"), None);
    assert_eq!(
        store.get("0A1B2C3D4E5F").await.expect("get"),
        None,
        "ids are exact"
    );
    // Every field survives each later state too.
    let until = T0 + 9 * HOUR;
    let after = decided(store, &full.id, &approve(T0 + 5, until, false)).await;
    assert_eq!(after.request, full);
    let used = claim_full(store, &full, T0 + 6).await;
    assert_eq!(used.request, full);
    assert_eq!(get(store, &full.id).await, used);
}

async fn claim_full(store: &dyn ApprovalStore, r: &ApprovalRequest, now_ms: u64) -> Approval {
    let key = ClaimKey {
        grant: &r.grant,
        tool: &r.tool,
        digest: &r.digest,
    };
    store
        .claim(key, None, now_ms)
        .await
        .expect("claim")
        .expect("the full request's approval is claimable")
}

pub async fn duplicate_id_is_refused(store: &dyn ApprovalStore) {
    let first = request("aaaaaaaaaaaa", T0);
    create(store, &first).await;
    let mut second = request("aaaaaaaaaaaa", T0 + 5);
    second.identity = "mallory".to_owned();
    second.expires_ms = T0 + 10 * HOUR;
    match store.create(&second).await {
        Err(StoreError::ApprovalExists { id }) => assert_eq!(id, "aaaaaaaaaaaa"),
        other => panic!("expected ApprovalExists, got {other:?}"),
    }
    assert_eq!(get(store, "aaaaaaaaaaaa").await, pending(&first));
    // A decided one is not reset to pending either.
    let done = decided(store, "aaaaaaaaaaaa", &deny(T0 + 10)).await;
    assert!(matches!(
        store.create(&second).await,
        Err(StoreError::ApprovalExists { .. })
    ));
    assert_eq!(get(store, "aaaaaaaaaaaa").await, done);
    assert_eq!(store.list(None, 10).await.expect("list").len(), 1);
}

pub async fn list_is_oldest_first_filters_and_limits(store: &dyn ApprovalStore) {
    assert!(store.list(None, 10).await.expect("list").is_empty());
    for (id, at) in [
        ("000000000003", T0 + 30),
        ("000000000001", T0 + 10),
        ("00000000000b", T0 + 20),
        ("00000000000a", T0 + 20),
        ("000000000002", T0 + 40),
    ] {
        create(store, &request(id, at)).await;
    }
    let all = [
        "000000000001",
        "00000000000a",
        "00000000000b",
        "000000000003",
        "000000000002",
    ];
    assert_eq!(list_ids(store, None, 100).await, all);
    assert_eq!(list_ids(store, None, 2).await, all[..2]);
    assert_eq!(list_ids(store, None, 0).await, Vec::<String>::new());
    assert_eq!(list_ids(store, None, usize::MAX).await, all);
    assert_eq!(
        list_ids(store, Some(ApprovalStatus::Pending), 100).await,
        all
    );

    decided(store, "00000000000a", &approve(T0 + 50, T0 + HOUR, true)).await;
    decided(store, "000000000003", &deny(T0 + 50)).await;
    // Due at T0 + 10 + HOUR: only 000000000001.
    let expired = store.expire(T0 + 10 + HOUR).await.expect("expire");
    assert_eq!(ids(&expired), ["000000000001"]);

    assert_eq!(
        list_ids(store, Some(ApprovalStatus::Pending), 100).await,
        ["00000000000b", "000000000002"]
    );
    assert_eq!(
        list_ids(store, Some(ApprovalStatus::Pending), 1).await,
        ["00000000000b"]
    );
    assert_eq!(
        list_ids(store, Some(ApprovalStatus::Approved), 100).await,
        ["00000000000a"]
    );
    assert_eq!(
        list_ids(store, Some(ApprovalStatus::Denied), 100).await,
        ["000000000003"]
    );
    assert_eq!(
        list_ids(store, Some(ApprovalStatus::Expired), 100).await,
        ["000000000001"]
    );
    assert_eq!(
        list_ids(store, None, 100).await,
        all,
        "the inbox is the history"
    );
    // Records come back whole, as get returns them.
    let listed = store.list(None, 100).await.expect("list");
    for a in &listed {
        assert_eq!(&get(store, &a.request.id).await, a);
    }
}

pub async fn decide_approve_stores_every_field(store: &dyn ApprovalStore) {
    let r = request("aaaaaaaaaaaa", T0);
    create(store, &r).await;
    let d = approve(T0 + MINUTE, T0 + 8 * HOUR, false);
    let want = Approval {
        status: ApprovalStatus::Approved,
        decided_by: Some("operator:ana".to_owned()),
        decided_ms: Some(T0 + MINUTE),
        comment: Some("ok ✓".to_owned()),
        valid_until_ms: Some(T0 + 8 * HOUR),
        single_use: false,
        ..pending(&r)
    };
    assert_eq!(
        store.decide("aaaaaaaaaaaa", &d).await.expect("decide"),
        Decided::Done(want.clone())
    );
    assert_eq!(get(store, "aaaaaaaaaaaa").await, want);

    // Single use, and a comment with NUL.
    let r = request("bbbbbbbbbbbb", T0);
    create(store, &r).await;
    let mut d = approve(T0 + 1, T0 + 2, true);
    d.comment = Some("fine\0 by me".to_owned());
    let got = decided(store, "bbbbbbbbbbbb", &d).await;
    assert_eq!(
        got,
        Approval {
            status: ApprovalStatus::Approved,
            decided_by: Some("operator:ana".to_owned()),
            decided_ms: Some(T0 + 1),
            comment: Some("fine\0 by me".to_owned()),
            valid_until_ms: Some(T0 + 2),
            single_use: true,
            ..pending(&r)
        }
    );
    assert_eq!(get(store, "bbbbbbbbbbbb").await, got);
}

pub async fn decide_deny_stores_every_field(store: &dyn ApprovalStore) {
    let r = request("aaaaaaaaaaaa", T0);
    create(store, &r).await;
    // The decision's valid_until_ms and single_use are ignored when denying.
    let want = Approval {
        status: ApprovalStatus::Denied,
        decided_by: Some("bo".to_owned()),
        decided_ms: Some(T0 + 7),
        comment: None,
        valid_until_ms: None,
        single_use: true,
        ..pending(&r)
    };
    assert_eq!(
        store
            .decide("aaaaaaaaaaaa", &deny(T0 + 7))
            .await
            .expect("decide"),
        Decided::Done(want.clone())
    );
    assert_eq!(get(store, "aaaaaaaaaaaa").await, want);

    let r = request("bbbbbbbbbbbb", T0);
    create(store, &r).await;
    let mut d = deny(T0 + 8);
    d.comment = Some("not on a Friday".to_owned());
    d.valid_until_ms = u64::MAX;
    let got = decided(store, "bbbbbbbbbbbb", &d).await;
    assert_eq!(got.comment.as_deref(), Some("not on a Friday"));
    assert_eq!((got.valid_until_ms, got.single_use), (None, true));
    assert_eq!(get(store, "bbbbbbbbbbbb").await, got);
}

pub async fn decide_unknown_is_not_found(store: &dyn ApprovalStore) {
    assert_eq!(
        store
            .decide("000000000000", &approve(T0, T0 + HOUR, true))
            .await
            .expect("decide"),
        Decided::NotFound
    );
    create(store, &request("aaaaaaaaaaaa", T0)).await;
    assert_eq!(
        store
            .decide("AAAAAAAAAAAA", &deny(T0 + 1))
            .await
            .expect("decide"),
        Decided::NotFound
    );
    assert_eq!(
        get(store, "aaaaaaaaaaaa").await.status,
        ApprovalStatus::Pending
    );
    assert_eq!(store.get("000000000000").await.expect("get"), None);
}

pub async fn decided_stays_decided(store: &dyn ApprovalStore) {
    let yes = approved(store, "aaaaaaaaaaaa", T0, T0 + HOUR, true).await;
    create(store, &request("bbbbbbbbbbbb", T0)).await;
    let no = decided(store, "bbbbbbbbbbbb", &deny(T0 + 1)).await;
    create(store, &request("cccccccccccc", T0)).await;
    let gone = store.expire(T0 + HOUR).await.expect("expire");
    assert_eq!(ids(&gone), ["cccccccccccc"]);
    let gone = gone.into_iter().next().expect("one");
    for (id, was) in [
        ("aaaaaaaaaaaa", &yes),
        ("bbbbbbbbbbbb", &no),
        ("cccccccccccc", &gone),
    ] {
        for d in [approve(T0 + 2, T0 + 9 * HOUR, false), deny(T0 + 2)] {
            assert_eq!(
                store.decide(id, &d).await.expect("decide"),
                Decided::AlreadyDecided(was.clone()),
                "{id}"
            );
            assert_eq!(&get(store, id).await, was, "{id} unchanged");
        }
    }
    // A used approval stays as used.
    let used = claim(store, None, T0 + 3).await.expect("claim");
    assert_eq!(
        store
            .decide("aaaaaaaaaaaa", &deny(T0 + 4))
            .await
            .expect("decide"),
        Decided::AlreadyDecided(used)
    );
}

pub async fn decide_at_or_after_the_deadline_changes_nothing(store: &dyn ApprovalStore) {
    let r = request("aaaaaaaaaaaa", T0);
    create(store, &r).await;
    let deadline = r.expires_ms;
    for at in [deadline, deadline + 1, deadline + HOUR] {
        for d in [approve(at, at + HOUR, false), deny(at)] {
            assert_eq!(
                store.decide("aaaaaaaaaaaa", &d).await.expect("decide"),
                Decided::PastDeadline(pending(&r)),
                "deciding at deadline + {}",
                at - deadline
            );
        }
    }
    assert_eq!(get(store, "aaaaaaaaaaaa").await, pending(&r));
    // One millisecond before the deadline is in time.
    let got = decided(
        store,
        "aaaaaaaaaaaa",
        &approve(deadline - 1, deadline + HOUR, true),
    )
    .await;
    assert_eq!(got.decided_ms, Some(deadline - 1));
}

pub async fn expire_returns_each_expiry_once(store: &dyn ApprovalStore) {
    assert!(store.expire(T0).await.expect("expire").is_empty());
    // Due at T0 + 10, T0 + 20 (two, tie broken by id), T0 + 30, T0 + 40.
    let mut due = Vec::new();
    for (id, expires) in [
        ("000000000004", T0 + 40),
        ("000000000002", T0 + 20),
        ("000000000001", T0 + 10),
        ("00000000000f", T0 + 30),
        ("000000000003", T0 + 20),
    ] {
        let mut r = request(id, T0);
        r.expires_ms = expires;
        create(store, &r).await;
        due.push(r);
    }
    // One answered in time: an expiry sweep leaves it alone.
    decided(store, "00000000000f", &approve(T0 + 5, T0 + HOUR, true)).await;
    assert!(store.expire(T0 + 9).await.expect("expire").is_empty());

    // The boundary: expires_ms == now_ms is expired.
    let first = store.expire(T0 + 20).await.expect("expire");
    assert_eq!(
        ids(&first),
        ["000000000001", "000000000002", "000000000003"],
        "oldest first, then by id"
    );
    for a in &first {
        let r = due
            .iter()
            .find(|r| r.id == a.request.id)
            .expect("known request");
        let want = Approval {
            status: ApprovalStatus::Expired,
            decided_ms: Some(T0 + 20),
            ..pending(r)
        };
        assert_eq!(a, &want);
        assert_eq!(get(store, &a.request.id).await, want);
    }
    assert!(
        store.expire(T0 + 20).await.expect("expire").is_empty(),
        "each expiry is returned once"
    );
    assert!(store.expire(T0 + 39).await.expect("expire").is_empty());
    let second = store.expire(T0 + HOUR).await.expect("expire");
    assert_eq!(ids(&second), ["000000000004"]);
    assert_eq!(second[0].decided_ms, Some(T0 + HOUR));
    assert!(
        store
            .expire(T0 + 2 * HOUR)
            .await
            .expect("expire")
            .is_empty()
    );
    // The approved one was never touched.
    assert_eq!(
        get(store, "00000000000f").await.status,
        ApprovalStatus::Approved
    );
    // The first sweep's time stays on the first ones.
    assert_eq!(get(store, "000000000001").await.decided_ms, Some(T0 + 20));
}

pub async fn claim_matches_grant_tool_and_digest_only(store: &dyn ApprovalStore) {
    approved(store, "aaaaaaaaaaaa", T0, T0 + HOUR, false).await;
    let other = "0".repeat(64);
    for (grant, tool, digest) in [
        ("grant-other", TOOL, DIGEST),
        (GRANT, "charge", DIGEST),
        (GRANT, TOOL, other.as_str()),
        ("", "", ""),
        ("GRANT-OPS", TOOL, DIGEST),
    ] {
        let key = ClaimKey {
            grant,
            tool,
            digest,
        };
        assert_eq!(
            store.claim(key, None, T0 + 2).await.expect("claim"),
            None,
            "{key:?}"
        );
    }
    assert_eq!(get(store, "aaaaaaaaaaaa").await.uses, 0, "no use counted");
    let got = claim(store, None, T0 + 2).await.expect("the matching call");
    assert_eq!(got.request.id, "aaaaaaaaaaaa");
}

pub async fn single_use_is_claimed_once(store: &dyn ApprovalStore) {
    let before = approved(store, "aaaaaaaaaaaa", T0, T0 + HOUR, true).await;
    let got = claim(store, None, T0 + 10).await.expect("first claim");
    assert_eq!(
        got,
        Approval {
            uses: 1,
            last_used_ms: Some(T0 + 10),
            ..before
        }
    );
    assert_eq!(get(store, "aaaaaaaaaaaa").await, got);
    assert_eq!(claim(store, None, T0 + 11).await, None);
    assert_eq!(claim(store, Some("aaaaaaaaaaaa"), T0 + 12).await, None);
    assert_eq!(get(store, "aaaaaaaaaaaa").await, got, "unchanged");
}

pub async fn multi_use_is_claimed_until_valid_until(store: &dyn ApprovalStore) {
    let until = T0 + HOUR;
    let before = approved(store, "aaaaaaaaaaaa", T0, until, false).await;
    for (n, at) in [(1, T0 + 2), (2, T0 + 3), (3, T0 + 3), (4, until - 1)] {
        let got = claim(store, None, at).await.expect("claim in time");
        assert_eq!(
            got,
            Approval {
                uses: n,
                last_used_ms: Some(at),
                ..before.clone()
            }
        );
    }
    // valid_until_ms is exclusive.
    assert_eq!(claim(store, None, until).await, None);
    assert_eq!(claim(store, None, until + HOUR).await, None);
    let after = get(store, "aaaaaaaaaaaa").await;
    assert_eq!((after.uses, after.last_used_ms), (4, Some(until - 1)));
}

pub async fn claim_with_an_id_takes_only_that_one(store: &dyn ApprovalStore) {
    approved(store, "aaaaaaaaaaaa", T0, T0 + HOUR, false).await;
    approved(store, "bbbbbbbbbbbb", T0 + 1, T0 + HOUR, true).await;
    let mut other = request("cccccccccccc", T0);
    other.tool = "charge".to_owned();
    create(store, &other).await;
    decided(store, "cccccccccccc", &approve(T0 + 1, T0 + HOUR, false)).await;

    // Without an id, the oldest; with one, that one although older ones fit.
    let got = claim(store, Some("bbbbbbbbbbbb"), T0 + 5).await.expect("b");
    assert_eq!((got.request.id.as_str(), got.uses), ("bbbbbbbbbbbb", 1));
    assert_eq!(claim(store, Some("bbbbbbbbbbbb"), T0 + 6).await, None);
    // An id that does not cover the call (another tool), or none at all.
    assert_eq!(claim(store, Some("cccccccccccc"), T0 + 6).await, None);
    assert_eq!(claim(store, Some("000000000000"), T0 + 6).await, None);
    assert_eq!(get(store, "cccccccccccc").await.uses, 0);
    assert_eq!(get(store, "aaaaaaaaaaaa").await.uses, 0);
    let got = claim(store, None, T0 + 7).await.expect("a");
    assert_eq!(got.request.id, "aaaaaaaaaaaa");
}

pub async fn only_approved_approvals_are_claimable(store: &dyn ApprovalStore) {
    create(store, &request("aaaaaaaaaaaa", T0)).await; // pending
    create(store, &request("bbbbbbbbbbbb", T0)).await;
    decided(store, "bbbbbbbbbbbb", &deny(T0 + 1)).await;
    let mut r = request("cccccccccccc", T0);
    r.expires_ms = T0 + 2;
    create(store, &r).await;
    assert_eq!(
        ids(&store.expire(T0 + 2).await.expect("expire")),
        ["cccccccccccc"]
    );
    // Approved, but only until T0 + 3.
    approved(store, "dddddddddddd", T0, T0 + 3, false).await;

    for at in [T0 + 3, T0 + 4, T0 + 2 * HOUR] {
        assert_eq!(claim(store, None, at).await, None, "at {at}");
        for id in [
            "aaaaaaaaaaaa",
            "bbbbbbbbbbbb",
            "cccccccccccc",
            "dddddddddddd",
        ] {
            assert_eq!(claim(store, Some(id), at).await, None, "{id} at {at}");
        }
    }
    for a in store.list(None, 10).await.expect("list") {
        assert_eq!((a.uses, a.last_used_ms), (0, None), "{}", a.request.id);
    }
    // Past its deadline a pending request is still not claimable.
    assert_eq!(
        claim(store, Some("aaaaaaaaaaaa"), T0 + 2 * HOUR).await,
        None
    );
}

pub async fn the_oldest_claimable_approval_is_claimed(store: &dyn ApprovalStore) {
    // Created at T0 + 20, T0 + 10 (two, tie broken by id), T0 + 30.
    approved(store, "000000000009", T0 + 20, T0 + HOUR, true).await;
    approved(store, "00000000000b", T0 + 10, T0 + HOUR, true).await;
    approved(store, "00000000000a", T0 + 10, T0 + HOUR, true).await;
    approved(store, "000000000001", T0 + 30, T0 + HOUR, true).await;
    // One older still, but no longer valid.
    approved(store, "000000000000", T0, T0 + 40, true).await;
    let mut order = Vec::new();
    while let Some(a) = claim(store, None, T0 + 100).await {
        assert_eq!((a.uses, a.last_used_ms), (1, Some(T0 + 100)));
        order.push(a.request.id);
    }
    assert_eq!(
        order,
        [
            "00000000000a",
            "00000000000b",
            "000000000009",
            "000000000001"
        ]
    );
}

/// Times and numbers a backend cannot store are refused before anything is
/// written (SQLite and PostgreSQL hold signed 64-bit integers); the memory
/// twin has no such limit, so this is not part of the suite.
pub async fn numbers_beyond_storage_are_refused(store: &dyn ApprovalStore) {
    for (field, set) in [
        (
            "created_ms",
            (|r: &mut ApprovalRequest| r.created_ms = u64::MAX) as fn(&mut _),
        ),
        ("expires_ms", |r| r.expires_ms = u64::MAX),
        ("valid_for_ms", |r| r.valid_for_ms = i64::MAX as u64 + 1),
    ] {
        let mut r = request("aaaaaaaaaaaa", T0);
        set(&mut r);
        match store.create(&r).await {
            Err(e @ StoreError::ValueOutOfRange { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains(field) && text.contains("aaaaaaaaaaaa"),
                    "{text}"
                );
            }
            other => panic!("{field}: expected ValueOutOfRange, got {other:?}"),
        }
    }
    assert_eq!(store.get("aaaaaaaaaaaa").await.expect("get"), None);
    assert!(store.list(None, 10).await.expect("list").is_empty());

    create(store, &request("aaaaaaaaaaaa", T0)).await;
    let time_error = |r: Result<_, StoreError>| {
        assert!(
            matches!(r, Err(StoreError::TimeOutOfRange { now_ms: u64::MAX })),
            "expected TimeOutOfRange"
        );
    };
    time_error(
        store
            .decide("aaaaaaaaaaaa", &approve(u64::MAX, T0 + HOUR, true))
            .await
            .map(drop),
    );
    time_error(store.expire(u64::MAX).await.map(drop));
    time_error(store.claim(key(), None, u64::MAX).await.map(drop));
    match store
        .decide("aaaaaaaaaaaa", &approve(T0 + 1, u64::MAX, false))
        .await
    {
        Err(e @ StoreError::ValueOutOfRange { .. }) => {
            assert!(e.to_string().contains("valid_until_ms"), "{e}");
        }
        other => panic!("expected ValueOutOfRange, got {other:?}"),
    }
    assert_eq!(
        get(store, "aaaaaaaaaaaa").await,
        pending(&request("aaaaaaaaaaaa", T0)),
        "nothing changed"
    );
    // Denying ignores valid_until_ms, so its range does not matter.
    let mut d = deny(T0 + 2);
    d.valid_until_ms = u64::MAX;
    decided(store, "aaaaaaaaaaaa", &d).await;
}

/// Instantiates every behaviour case as a test in a module named `$backend`.
/// `$make` is an expression (it may `.await`) returning `(store, guard)`;
/// the guard (a temporary directory, a database schema) lives until the test
/// ends.
#[macro_export]
macro_rules! approval_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            $crate::approval_suite!(@cases $make;
                create_then_get_round_trips,
                duplicate_id_is_refused,
                list_is_oldest_first_filters_and_limits,
                decide_approve_stores_every_field,
                decide_deny_stores_every_field,
                decide_unknown_is_not_found,
                decided_stays_decided,
                decide_at_or_after_the_deadline_changes_nothing,
                expire_returns_each_expiry_once,
                claim_matches_grant_tool_and_digest_only,
                single_use_is_claimed_once,
                multi_use_is_claimed_until_valid_until,
                claim_with_an_id_takes_only_that_one,
                only_approved_approvals_are_claimable,
                the_oldest_claimable_approval_is_claimed,
            );
        }
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (store, _guard) = $make;
                common::approvals::$case(&store).await;
            }
        )*
    };
}

// ---------------------------------------------------------------- races

/// Two handles on one store.
pub type Pair = (Arc<dyn ApprovalStore>, Arc<dyn ApprovalStore>);

/// How many times each race is run.
pub const ROUNDS: usize = 40;

/// Runs `f(a)` and `f(b)` at once, each on its own task.
async fn both<T, F, Fut>(a: &Arc<dyn ApprovalStore>, b: &Arc<dyn ApprovalStore>, f: F) -> (T, T)
where
    T: Send + 'static,
    F: Fn(Arc<dyn ApprovalStore>) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let (ta, tb) = (tokio::spawn(f(a.clone())), tokio::spawn(f(b.clone())));
    (ta.await.expect("task a"), tb.await.expect("task b"))
}

fn round_id(round: usize) -> String {
    format!("{round:012x}")
}

/// Two handles decide the same request at once, many times, one approving
/// and one denying: exactly one decision is stored each time, the winner's,
/// and the other is told it was already decided.
pub async fn racing_decisions_store_one((a, b): Pair) {
    for round in 0..ROUNDS {
        create(&*a, &request(&round_id(round), T0)).await;
    }
    for round in 0..ROUNDS {
        let id = round_id(round);
        let (ta, tb) = {
            let (a, b, ida, idb) = (a.clone(), b.clone(), id.clone(), id.clone());
            (
                tokio::spawn(
                    async move { a.decide(&ida, &approve(T0 + 1, T0 + HOUR, false)).await },
                ),
                tokio::spawn(async move { b.decide(&idb, &deny(T0 + 2)).await }),
            )
        };
        let ra = ta.await.expect("task").expect("decide a");
        let rb = tb.await.expect("task").expect("decide b");
        let stored = get(&*b, &id).await;
        match (&ra, &rb) {
            (Decided::Done(x), Decided::AlreadyDecided(y)) => {
                assert_eq!(stored.status, ApprovalStatus::Approved);
                assert_eq!((x, y), (&stored, &stored));
            }
            (Decided::AlreadyDecided(x), Decided::Done(y)) => {
                assert_eq!(stored.status, ApprovalStatus::Denied);
                assert_eq!((x, y), (&stored, &stored));
            }
            other => panic!("round {round}: expected one Done, got {other:?}"),
        }
    }
}

/// Two handles claim the same single-use approval at once, many times:
/// exactly one claim succeeds each time.
pub async fn racing_claims_use_a_single_use_approval_once((a, b): Pair) {
    // One call (digest) per round, so rounds cannot take each other's.
    let digest = |round: usize| format!("{round:064x}");
    for round in 0..ROUNDS {
        let id = round_id(round);
        let mut r = request(&id, T0 + round as u64);
        r.digest = digest(round);
        create(&*a, &r).await;
        decided(&*b, &id, &approve(T0 + 1_000, T0 + HOUR, true)).await;
    }
    for round in 0..ROUNDS {
        let (id, digest) = (round_id(round), digest(round));
        // Half the rounds claim by id, half take the oldest.
        let by_id = round % 2 == 0;
        let (ra, rb) = both(&a, &b, |store| {
            let (id, digest) = (id.clone(), digest.clone());
            async move {
                let key = ClaimKey {
                    grant: GRANT,
                    tool: TOOL,
                    digest: &digest,
                };
                let id = by_id.then_some(id.as_str());
                store.claim(key, id, T0 + 2_000).await.expect("claim")
            }
        })
        .await;
        let won: Vec<&Approval> = [&ra, &rb].into_iter().flatten().collect();
        assert_eq!(won.len(), 1, "round {round}: {ra:?} {rb:?}");
        assert_eq!((won[0].request.id.as_str(), won[0].uses), (id.as_str(), 1));
        assert_eq!(&get(&*a, &id).await, won[0]);
    }
}

/// Many calls claim one multi-use approval at once through both handles:
/// none is turned away, and every use is counted.
pub async fn racing_claims_of_a_multi_use_approval_all_count((a, b): Pair) {
    approved(&*a, "aaaaaaaaaaaa", T0, T0 + HOUR, false).await;
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let store = if worker % 2 == 0 {
            a.clone()
        } else {
            b.clone()
        };
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let got = store.claim(key(), None, T0 + 10 + i).await.expect("claim");
                assert!(got.is_some(), "worker {worker}, claim {i} turned away");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(get(&*b, "aaaaaaaaaaaa").await.uses, 80);
}

/// Both handles sweep at once, repeatedly, while deadlines pass: every
/// expiry is returned exactly once in total.
pub async fn racing_sweeps_return_each_expiry_once((a, b): Pair) {
    const REQUESTS: u64 = 60;
    for i in 0..REQUESTS {
        let mut r = request(&round_id(i as usize), T0);
        r.expires_ms = T0 + 1 + i % 20;
        create(&*a, &r).await;
    }
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let store = if worker % 2 == 0 {
            a.clone()
        } else {
            b.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for t in 0..=21 {
                for e in store.expire(T0 + t).await.expect("expire") {
                    assert_eq!(e.status, ApprovalStatus::Expired);
                    assert!(e.request.expires_ms <= T0 + t);
                    seen.push(e.request.id);
                }
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "an expiry was returned twice");
    assert_eq!(all.len() as u64, REQUESTS, "every request expired once");
    assert!(
        a.list(Some(ApprovalStatus::Pending), 100)
            .await
            .expect("list")
            .is_empty()
    );
}

/// Instantiates every race as a test in a module named `$backend`. `$make`
/// is an expression (it may `.await`) returning `(a, b, guard)`: two
/// `Arc<dyn ApprovalStore>` handles on one fresh store.
#[macro_export]
macro_rules! approval_race_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            $crate::approval_race_suite!(@cases $make;
                racing_decisions_store_one,
                racing_claims_use_a_single_use_approval_once,
                racing_claims_of_a_multi_use_approval_all_count,
                racing_sweeps_return_each_expiry_once,
            );
        }
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (a, b, _guard) = $make;
                common::approvals::$case((a, b)).await;
            }
        )*
    };
}
