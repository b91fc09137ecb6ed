//! JWT bearer tokens: every check, key rotation from a file and from a URL.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use warden_auth::jwks::MIN_REFETCH_INTERVAL_MS;
use warden_auth::{
    AuthError, Authenticated, Authenticator, Credential, JwksSource, JwtSettings, JwtVerifier,
};
use warden_store::MemoryKeys;

fn settings(jwks: JwksSource) -> JwtSettings {
    let mut s = JwtSettings::new(jwks, ISSUER, AUDIENCE);
    s.algorithms = vec!["RS256".into(), "ES256".into(), "PS256".into()];
    s
}

fn write_jwks(path: &Path, doc: &str, bump_secs: u64) {
    std::fs::write(path, doc).expect("write jwks");
    // Make the change visible whatever the file system's mtime granularity.
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open jwks");
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + bump_secs))
        .expect("set mtime");
}

/// A verifier over a JWKS file holding `keys`; the guard keeps the file.
fn file_verifier(keys: &[&SigningKey]) -> (JwtVerifier, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("jwks.json");
    write_jwks(&path, &jwks(keys), 0);
    let verifier = JwtVerifier::new(settings(JwksSource::File(path))).expect("verifier");
    (verifier, dir)
}

async fn ok(v: &JwtVerifier, token: &str, now_ms: u64) -> Authenticated {
    match v.verify(token, now_ms).await {
        Ok(a) => a,
        Err(e) => panic!("expected success, got {e:?}"),
    }
}

/// Expects `InvalidToken` whose message contains `why`.
async fn refused(v: &JwtVerifier, token: &str, now_ms: u64, why: &str) {
    match v.verify(token, now_ms).await {
        Err(AuthError::InvalidToken(msg)) => assert!(msg.contains(why), "{msg:?} lacks {why:?}"),
        other => panic!("expected InvalidToken({why:?}), got {other:?}"),
    }
}

#[tokio::test]
async fn valid_rsa_and_ec_tokens() {
    let rsa = SigningKey::rsa(Some("r1"), Algorithm::RS256);
    let ec = SigningKey::ec(Some("e1"));
    let (v, _dir) = file_verifier(&[&rsa, &ec]);

    let got = ok(&v, &rsa.sign(&claims("ana")), T0_MS).await;
    assert_eq!(got.identity, "ana");
    assert_eq!(
        got.credential,
        Credential::Jwt {
            subject: Some("ana".into()),
            kid: Some("r1".into())
        }
    );
    assert_eq!(got.attributes["name"], "ana");
    assert_eq!(got.attributes["email"], "ana@example.com");
    assert_eq!(got.attributes["groups"], json!(["ops"]));
    assert_eq!(got.attributes["iss"], ISSUER);

    let got = ok(&v, &ec.sign(&claims("bob")), T0_MS).await;
    assert_eq!(got.identity, "bob");

    // The same RSA key for PS256 (its JWK names RS256 only, so the key is
    // bound to RS256: refused).
    let ps = SigningKey::rsa(Some("r1"), Algorithm::PS256);
    refused(&v, &ps.sign(&claims("ana")), T0_MS, "cannot verify PS256").await;
}

#[tokio::test]
async fn audience_may_be_a_list_and_name_is_always_the_identity() {
    let ec = SigningKey::ec(Some("e1"));
    let (v, _dir) = file_verifier(&[&ec]);
    let token = ec.sign(&claims_with(
        "ana",
        json!({"aud": ["other", AUDIENCE], "name": "admin"}),
    ));
    let got = ok(&v, &token, T0_MS).await;
    assert_eq!(
        got.attributes["name"], "ana",
        "a token cannot choose its name"
    );
}

#[tokio::test]
async fn expiry_and_not_before_with_leeway() {
    let ec = SigningKey::ec(Some("e1"));
    let (v, _dir) = file_verifier(&[&ec]);
    let leeway_ms = 30_000;

    let token = ec.sign(&claims_with("ana", json!({"exp": T0})));
    ok(&v, &token, T0_MS + leeway_ms - 1).await;
    assert_eq!(
        v.verify(&token, T0_MS + leeway_ms).await,
        Err(AuthError::Expired)
    );
    assert_eq!(
        v.verify(&token, T0_MS + 3_600_000).await,
        Err(AuthError::Expired)
    );

    let token = ec.sign(&claims_with("ana", json!({"nbf": T0 + 600})));
    refused(&v, &token, T0_MS, "not valid yet").await;
    ok(&v, &token, T0_MS + 600_000 - leeway_ms).await;
    refused(&v, &token, T0_MS + 600_000 - leeway_ms - 1, "not valid yet").await;

    let token = ec.sign(&claims_with("ana", json!({"exp": null})));
    refused(&v, &token, T0_MS, "missing claim exp").await;
    let token = ec.sign(&claims_with("ana", json!({"exp": "tomorrow"})));
    refused(&v, &token, T0_MS, "exp").await;
}

#[tokio::test]
async fn issuer_and_audience_are_required_and_checked() {
    let ec = SigningKey::ec(Some("e1"));
    let (v, _dir) = file_verifier(&[&ec]);
    let cases = [
        (json!({"iss": "https://evil.test"}), "wrong issuer"),
        (json!({"iss": null}), "missing claim iss"),
        (json!({"aud": "https://other.test"}), "another audience"),
        (json!({"aud": ["a", "b"]}), "another audience"),
        (json!({"aud": null}), "missing claim aud"),
    ];
    for (changes, why) in cases {
        refused(&v, &ec.sign(&claims_with("ana", changes)), T0_MS, why).await;
    }
}

#[tokio::test]
async fn algorithm_rules() {
    let rsa = SigningKey::rsa(Some("r1"), Algorithm::RS256);
    let ec = SigningKey::ec(Some("e1"));
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("jwks.json");
    write_jwks(&path, &jwks(&[&rsa, &ec]), 0);
    let mut only_rs = settings(JwksSource::File(path));
    only_rs.algorithms = vec!["RS256".into()];
    let v = JwtVerifier::new(only_rs).expect("verifier");

    // An algorithm the operator did not list.
    refused(&v, &ec.sign(&claims("ana")), T0_MS, "ES256 is not allowed").await;

    // alg: none, with and without a signature part.
    let header = json!({"alg": "none", "typ": "JWT", "kid": "r1"});
    for sig in ["", "AAAA"] {
        let token = raw_token(&header, &claims("ana"), sig);
        refused(&v, &token, T0_MS, "alg \"none\"").await;
    }
    let header = json!({"alg": "None", "kid": "r1"});
    refused(
        &v,
        &raw_token(&header, &claims("ana"), ""),
        T0_MS,
        "unsupported",
    )
    .await;

    // HS256, including the classic confusion: the RSA public key as the
    // HMAC secret.
    let public = serde_json::to_vec(&rsa.jwk).expect("jwk bytes");
    for secret in [b"secret".as_slice(), public.as_slice()] {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("r1".into());
        let token = jsonwebtoken::encode(&h, &claims("ana"), &EncodingKey::from_secret(secret))
            .expect("sign");
        refused(&v, &token, T0_MS, "HS256").await;
    }

    // A header that names RS256 over an EC key's kid.
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("e1".into());
    let token = jsonwebtoken::encode(&h, &claims("ana"), &rsa.encoding).expect("sign");
    refused(&v, &token, T0_MS, "cannot verify RS256").await;

    // Critical extensions are not understood.
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("r1".into());
    h.crit = Some(vec!["exp".into()]);
    let token = jsonwebtoken::encode(&h, &claims("ana"), &rsa.encoding).expect("sign");
    refused(&v, &token, T0_MS, "crit").await;
}

#[tokio::test]
async fn tampering_is_detected() {
    let rsa = SigningKey::rsa(Some("r1"), Algorithm::RS256);
    let (v, _dir) = file_verifier(&[&rsa]);
    let token = rsa.sign(&claims("ana"));
    ok(&v, &token, T0_MS).await;

    // Change a signature character in the middle: keep it valid base64url (the last character
    // carries padding bits a strict decoder checks, so changing it could make the token merely
    // malformed rather than wrongly signed).
    let mut chars: Vec<char> = token.chars().collect();
    let at = chars.len() - 10;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    let bad: String = chars.into_iter().collect();
    refused(&v, &bad, T0_MS, "signature").await;

    // Swap the payload for another identity's, keeping the signature.
    let parts: Vec<&str> = token.split('.').collect();
    let forged_claims = b64_json(&claims("root"));
    let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
    refused(&v, &forged, T0_MS, "signature").await;

    for junk in ["", "a.b", "a.b.c.d", "!!!.e30.x", "e30.e30.e30"] {
        assert!(
            matches!(v.verify(junk, T0_MS).await, Err(AuthError::InvalidToken(_))),
            "{junk:?}"
        );
    }
}

fn b64_json(v: &Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn identity_claim_is_configurable_and_required() {
    let ec = SigningKey::ec(Some("e1"));
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("jwks.json");
    write_jwks(&path, &jwks(&[&ec]), 0);
    let mut s = settings(JwksSource::File(path));
    s.identity_claim = "email".into();
    let v = JwtVerifier::new(s).expect("verifier");

    let got = ok(&v, &ec.sign(&claims("ana")), T0_MS).await;
    assert_eq!(got.identity, "ana@example.com");
    assert_eq!(got.attributes["name"], "ana@example.com");

    for changes in [
        json!({"email": null}),
        json!({"email": 7}),
        json!({"email": ""}),
    ] {
        let token = ec.sign(&claims_with("ana", changes));
        refused(&v, &token, T0_MS, "no string claim \"email\"").await;
    }
}

#[tokio::test]
async fn kid_is_optional_only_with_a_single_key() {
    let lone = SigningKey::ec(None);
    let (v, _dir) = file_verifier(&[&lone]);
    ok(&v, &lone.sign(&claims("ana")), T0_MS).await;

    let a = SigningKey::ec(Some("a"));
    let b = SigningKey::ec(Some("b"));
    let (v, _dir) = file_verifier(&[&a, &b]);
    let no_kid = SigningKey {
        kid: None,
        ..a.clone()
    };
    refused(&v, &no_kid.sign(&claims("ana")), T0_MS, "no kid").await;
}

#[tokio::test]
async fn file_rotation_is_picked_up() {
    let old = SigningKey::ec(Some("old"));
    let new = SigningKey::ec(Some("new"));
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("jwks.json");
    write_jwks(&path, &jwks(&[&old]), 0);
    let v = JwtVerifier::new(settings(JwksSource::File(path.clone()))).expect("verifier");

    refused(&v, &new.sign(&claims("ana")), T0_MS, "unknown key id").await;
    ok(&v, &old.sign(&claims("ana")), T0_MS).await;

    // Rotate in the new key: it works on the very next request.
    write_jwks(&path, &jwks(&[&old, &new]), 1);
    ok(&v, &new.sign(&claims("ana")), T0_MS + 1).await;

    // Retire the old key: tokens it signed stop working at once.
    write_jwks(&path, &jwks(&[&new]), 2);
    refused(&v, &old.sign(&claims("ana")), T0_MS + 2, "unknown key id").await;

    // A broken edit keeps the last good keys.
    write_jwks(&path, "{ not json", 3);
    ok(&v, &new.sign(&claims("ana")), T0_MS + 3).await;
    std::fs::remove_file(&path).expect("remove");
    ok(&v, &new.sign(&claims("ana")), T0_MS + 4).await;
}

#[tokio::test]
async fn jwks_keys_without_alg_are_bound_by_type() {
    let ec = SigningKey::ec(Some("e1"));
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("jwks.json");
    let doc = json!({"keys": [ec.jwk_without_alg()]}).to_string();
    write_jwks(&path, &doc, 0);
    let v = JwtVerifier::new(settings(JwksSource::File(path))).expect("verifier");
    ok(&v, &ec.sign(&claims("ana")), T0_MS).await;
}

/// A JWKS endpoint on 127.0.0.1 whose document can be swapped, counting
/// requests.
struct JwksServer {
    url: String,
    doc: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    async fn start(doc: String) -> Self {
        let doc = Arc::new(Mutex::new(doc));
        let hits = Arc::new(AtomicUsize::new(0));
        let (d, h) = (Arc::clone(&doc), Arc::clone(&hits));
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let (d, h) = (Arc::clone(&d), Arc::clone(&h));
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    let body = d.lock().expect("doc").clone();
                    ([("content-type", "application/json")], body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/jwks"),
            doc,
            hits,
            task,
        }
    }

    fn set(&self, doc: String) {
        *self.doc.lock().expect("doc") = doc;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn url_rotation_is_picked_up_and_refetches_are_rate_limited() {
    let old = SigningKey::ec(Some("old"));
    let new = SigningKey::ec(Some("new"));
    let server = JwksServer::start(jwks(&[&old])).await;
    let v = JwtVerifier::new(settings(JwksSource::Url(server.url.clone()))).expect("verifier");
    assert_eq!(server.hits(), 0, "nothing fetched before first use");

    ok(&v, &old.sign(&claims("ana")), T0_MS).await;
    ok(&v, &old.sign(&claims("ana")), T0_MS + 1).await;
    assert_eq!(server.hits(), 1, "cached");

    // The issuer rotates; a token with the new kid arrives within 30 s of
    // the last fetch: no refetch yet.
    server.set(jwks(&[&old, &new]));
    let new_token = new.sign(&claims("ana"));
    refused(&v, &new_token, T0_MS + 1_000, "unknown key id").await;
    // A flood of made-up kids does not reach the issuer either.
    for i in 0..50 {
        let fake = SigningKey {
            kid: Some(format!("fake-{i}")),
            ..old.clone()
        };
        refused(
            &v,
            &fake.sign(&claims("ana")),
            T0_MS + 2_000,
            "unknown key id",
        )
        .await;
    }
    assert_eq!(server.hits(), 1);

    // Once the interval has passed, the unknown kid refetches and succeeds.
    let later = T0_MS + MIN_REFETCH_INTERVAL_MS;
    ok(&v, &new_token, later).await;
    assert_eq!(server.hits(), 2);
    // And made-up kids right after cannot trigger another fetch.
    let fake = SigningKey {
        kid: Some("fake".into()),
        ..old.clone()
    };
    refused(&v, &fake.sign(&claims("ana")), later + 1, "unknown key id").await;
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn stale_url_keys_are_refreshed_and_survive_an_outage() {
    let key = SigningKey::ec(Some("k"));
    let server = JwksServer::start(jwks(&[&key])).await;
    let v = JwtVerifier::new(settings(JwksSource::Url(server.url.clone()))).expect("verifier");
    ok(&v, &key.sign(&claims("ana")), T0_MS).await;
    let max_age = warden_auth::jwks::MAX_AGE_MS;
    ok(&v, &key.sign(&claims("ana")), T0_MS + max_age).await;
    assert_eq!(server.hits(), 2, "refetched once stale");

    // The endpoint now serves garbage: the cached keys keep working.
    server.set("<html>oops</html>".into());
    ok(&v, &key.sign(&claims("ana")), T0_MS + 2 * max_age).await;
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn unreachable_jwks_fails_closed_as_unavailable() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let v = JwtVerifier::new(settings(JwksSource::Url(format!("http://{addr}/jwks"))))
        .expect("verifier");
    let key = SigningKey::ec(Some("k"));
    let err = v
        .verify(&key.sign(&claims("ana")), T0_MS)
        .await
        .expect_err("no keys");
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        !err.to_string().contains("127.0.0.1"),
        "no address in the client message"
    );
}

#[tokio::test]
async fn authenticator_routes_tokens() {
    let ec = SigningKey::ec(Some("e1"));
    let (v, _dir) = file_verifier(&[&ec]);
    let token = ec.sign(&claims("ana"));

    let with_jwt = Authenticator::new(Arc::new(MemoryKeys::new()), Some(v));
    let got = with_jwt
        .authenticate(Some(&bearer(&token)), T0_MS)
        .await
        .expect("jwt");
    assert_eq!(got.identity, "ana");

    let keys_only = Authenticator::new(Arc::new(MemoryKeys::new()), None);
    assert_eq!(
        keys_only.authenticate(Some(&bearer(&token)), T0_MS).await,
        Err(AuthError::JwtNotConfigured)
    );
}
