//! The API key test suite every `KeyStore` backend must pass.
//!
//! Each case takes a fresh, empty store. `key_suite!` instantiates every
//! case as a named test for one backend.

use warden_store::{KeyRecord, KeyStatus, KeyStore, StoreError};

/// A plausible epoch time, so tests do not depend on `now_ms` starting at 0.
pub const T0: u64 = 1_760_000_000_000;

pub fn record(id: &str, identity: &str, created_ms: u64) -> KeyRecord {
    let mut hash = [0u8; 32];
    for (i, b) in id.bytes().enumerate() {
        hash[i % 32] ^= b;
    }
    KeyRecord {
        id: id.to_owned(),
        identity: identity.to_owned(),
        hash,
        created_ms,
        expires_ms: None,
        revoked_ms: None,
        label: None,
    }
}

pub async fn create_then_get_round_trips(store: &dyn KeyStore) {
    let mut full = record("0123456789ab", "ci-bot", T0);
    full.expires_ms = Some(T0 + 1_000);
    full.label = Some("CI runner ✓".to_owned());
    store.create(full.clone()).await.expect("create");
    let plain = record("ba9876543210", "ana", T0 + 1);
    store.create(plain.clone()).await.expect("create");
    assert_eq!(store.get("0123456789ab").await.expect("get"), Some(full));
    assert_eq!(store.get("ba9876543210").await.expect("get"), Some(plain));
}

pub async fn unknown_id_is_none(store: &dyn KeyStore) {
    assert_eq!(store.get("000000000000").await.expect("get"), None);
    store
        .create(record("aaaaaaaaaaaa", "ana", T0))
        .await
        .expect("create");
    assert_eq!(
        store.get("AAAAAAAAAAAA").await.expect("get"),
        None,
        "ids are exact"
    );
    assert_eq!(store.get("").await.expect("get"), None);
}

pub async fn duplicate_id_is_refused(store: &dyn KeyStore) {
    let first = record("aaaaaaaaaaaa", "ana", T0);
    store.create(first.clone()).await.expect("create");
    let second = record("aaaaaaaaaaaa", "mallory", T0 + 5);
    match store.create(second).await {
        Err(StoreError::KeyExists { id }) => assert_eq!(id, "aaaaaaaaaaaa"),
        other => panic!("expected KeyExists, got {other:?}"),
    }
    assert_eq!(
        store.get("aaaaaaaaaaaa").await.expect("get"),
        Some(first),
        "the first record is untouched"
    );
}

pub async fn list_is_oldest_first_and_filters(store: &dyn KeyStore) {
    for (id, who, at) in [
        ("000000000003", "ana", T0 + 30),
        ("000000000001", "bob", T0 + 10),
        ("000000000002", "ana", T0 + 10),
        ("000000000004", "bob", T0 + 40),
    ] {
        store.create(record(id, who, at)).await.expect("create");
    }
    let ids =
        |records: Vec<KeyRecord>| -> Vec<String> { records.into_iter().map(|r| r.id).collect() };
    assert_eq!(
        ids(store.list(None).await.expect("list")),
        [
            "000000000001",
            "000000000002",
            "000000000003",
            "000000000004"
        ]
    );
    assert_eq!(
        ids(store.list(Some("ana")).await.expect("list")),
        ["000000000002", "000000000003"]
    );
    assert!(store.list(Some("nobody")).await.expect("list").is_empty());
}

pub async fn revoke_once(store: &dyn KeyStore) {
    store
        .create(record("aaaaaaaaaaaa", "ana", T0))
        .await
        .expect("create");
    assert!(
        store
            .revoke("aaaaaaaaaaaa", T0 + 100)
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke("aaaaaaaaaaaa", T0 + 200)
            .await
            .expect("revoke"),
        "already revoked"
    );
    let got = store
        .get("aaaaaaaaaaaa")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(
        got.revoked_ms,
        Some(T0 + 100),
        "the first revocation time stays"
    );
    assert_eq!(got.status(T0 + 300), KeyStatus::Revoked);
    assert!(
        !store.revoke("bbbbbbbbbbbb", T0).await.expect("revoke"),
        "unknown"
    );
    assert_eq!(
        store.list(None).await.expect("list").len(),
        1,
        "revoked keys stay listed"
    );
}

pub async fn expired_keys_can_be_revoked(store: &dyn KeyStore) {
    let mut r = record("aaaaaaaaaaaa", "ana", T0);
    r.expires_ms = Some(T0 + 10);
    store.create(r).await.expect("create");
    let got = store
        .get("aaaaaaaaaaaa")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.status(T0 + 9), KeyStatus::Active);
    assert_eq!(got.status(T0 + 10), KeyStatus::Expired);
    assert!(store.revoke("aaaaaaaaaaaa", T0 + 20).await.expect("revoke"));
}

/// Instantiates every case as a test in a module named `$backend`.
/// `$make` is an expression (it may `.await`) returning `(store, guard)`;
/// the guard (a temporary directory, a database schema) lives until the test
/// ends.
#[macro_export]
macro_rules! key_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            $crate::key_suite!(@cases $make;
                create_then_get_round_trips,
                unknown_id_is_none,
                duplicate_id_is_refused,
                list_is_oldest_first_and_filters,
                revoke_once,
                expired_keys_can_be_revoked,
            );
        }
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (store, _guard) = $make;
                common::keys::$case(&store).await;
            }
        )*
    };
}
