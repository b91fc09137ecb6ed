//! API keys end to end: made with `new_key`, stored, presented as bearer
//! tokens, refused when revoked, expired, wrong or malformed.

mod common;

use std::sync::Arc;

use common::{T0_MS, bearer};
use serde_json::json;
use warden_auth::{AuthError, Authenticator, Credential, new_key};
use warden_store::{KeyRecord, KeyStore, MemoryKeys, SqliteState, StoreError, StoreFuture};

fn setup(store: Arc<dyn KeyStore>) -> (Authenticator, Arc<dyn KeyStore>) {
    (Authenticator::new(Arc::clone(&store), None), store)
}

fn stores() -> Vec<(Arc<dyn KeyStore>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("dir");
    let sqlite = SqliteState::open(dir.path()).expect("open");
    vec![
        (Arc::new(MemoryKeys::new()), None),
        (Arc::new(sqlite), Some(dir)),
    ]
}

#[tokio::test]
async fn created_keys_authenticate() {
    for (store, _dir) in stores() {
        let (auth, store) = setup(store);
        let made = new_key("ci-bot", None, Some("CI".into()), T0_MS);
        store.create(made.record.clone()).await.expect("create");
        let got = auth
            .authenticate(Some(&bearer(&made.secret)), T0_MS + 1)
            .await
            .expect("authenticated");
        assert_eq!(got.identity, "ci-bot");
        assert_eq!(
            serde_json::Value::Object(got.attributes),
            json!({"name": "ci-bot"})
        );
        assert_eq!(
            got.credential,
            Credential::ApiKey {
                id: made.record.id.clone()
            }
        );
    }
}

#[tokio::test]
async fn revoked_keys_are_refused() {
    for (store, _dir) in stores() {
        let (auth, store) = setup(store);
        let made = new_key("ana", None, None, T0_MS);
        store.create(made.record.clone()).await.expect("create");
        assert!(
            store
                .revoke(&made.record.id, T0_MS + 5)
                .await
                .expect("revoke")
        );
        assert_eq!(
            auth.authenticate(Some(&bearer(&made.secret)), T0_MS + 6)
                .await,
            Err(AuthError::Revoked)
        );
    }
}

#[tokio::test]
async fn expired_keys_are_refused_from_their_expiry_on() {
    for (store, _dir) in stores() {
        let (auth, store) = setup(store);
        let made = new_key("ana", Some(T0_MS + 1_000), None, T0_MS);
        store.create(made.record.clone()).await.expect("create");
        let header = bearer(&made.secret);
        assert!(auth.authenticate(Some(&header), T0_MS + 999).await.is_ok());
        assert_eq!(
            auth.authenticate(Some(&header), T0_MS + 1_000).await,
            Err(AuthError::Expired)
        );
    }
}

#[tokio::test]
async fn wrong_secret_unknown_id_and_malformed_keys() {
    for (store, _dir) in stores() {
        let (auth, store) = setup(store);
        let made = new_key("ana", None, None, T0_MS);
        store.create(made.record.clone()).await.expect("create");

        // Right id, another secret (same shape): indistinguishable from an
        // unknown key. Also for a revoked key, whose state must not leak.
        let other = new_key("ana", None, None, T0_MS);
        let forged = format!("wdn_{}_{}", made.record.id, &other.secret[17..]);
        assert_eq!(
            auth.authenticate(Some(&bearer(&forged)), T0_MS).await,
            Err(AuthError::UnknownKey)
        );
        assert_eq!(
            auth.authenticate(Some(&bearer(&other.secret)), T0_MS).await,
            Err(AuthError::UnknownKey),
            "never stored"
        );
        store.revoke(&made.record.id, T0_MS).await.expect("revoke");
        assert_eq!(
            auth.authenticate(Some(&bearer(&forged)), T0_MS).await,
            Err(AuthError::UnknownKey)
        );

        for bad in [
            "wdn_".to_owned(),
            "wdn_xyz".to_owned(),
            made.secret[..made.secret.len() - 1].to_owned(),
            format!("{}x", made.secret),
            format!("wdn_G{}", &made.secret[5..]),
        ] {
            match auth.authenticate(Some(&bearer(&bad)), T0_MS).await {
                Err(AuthError::InvalidToken(msg)) => {
                    assert!(msg.contains("malformed API key"), "{msg}");
                    assert!(
                        bad.len() < 8 || !msg.contains(&bad),
                        "the key is not echoed"
                    );
                }
                other => panic!("{bad:?}: expected InvalidToken, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn headers_without_a_bearer_token() {
    let (auth, _store) = setup(Arc::new(MemoryKeys::new()));
    assert_eq!(
        auth.authenticate(None, T0_MS).await,
        Err(AuthError::Missing)
    );
    for header in ["Basic YTpi", "Bearer", "Token wdn_x"] {
        assert_eq!(
            auth.authenticate(Some(header), T0_MS).await,
            Err(AuthError::NotBearer),
            "{header:?}"
        );
    }
}

/// A store that is down.
#[derive(Debug)]
struct Broken;

impl KeyStore for Broken {
    fn create(&self, _: KeyRecord) -> StoreFuture<'_, ()> {
        Box::pin(async { Err(StoreError::TimeOutOfRange { now_ms: 0 }) })
    }
    fn get<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<KeyRecord>> {
        Box::pin(async { Err(StoreError::TimeOutOfRange { now_ms: 0 }) })
    }
    fn list<'a>(&'a self, _: Option<&'a str>) -> StoreFuture<'a, Vec<KeyRecord>> {
        Box::pin(async { Err(StoreError::TimeOutOfRange { now_ms: 0 }) })
    }
    fn revoke<'a>(&'a self, _: &'a str, _: u64) -> StoreFuture<'a, bool> {
        Box::pin(async { Err(StoreError::TimeOutOfRange { now_ms: 0 }) })
    }
}

#[tokio::test]
async fn a_failing_store_fails_closed() {
    let auth = Authenticator::new(Arc::new(Broken), None);
    let made = new_key("ana", None, None, T0_MS);
    let err = auth
        .authenticate(Some(&bearer(&made.secret)), T0_MS)
        .await
        .expect_err("store down");
    assert!(err.is_unavailable(), "{err:?}");
}
