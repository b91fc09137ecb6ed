//! The JWKS: the issuer's public keys, from a file or a URL, kept fresh.
//!
//! # Freshness
//!
//! - **File**: checked on every verification (one `stat`); when its
//!   modification time or length changed it is read again. Removing a key
//!   from the file therefore takes effect on the next request.
//! - **URL**: fetched on first use and cached. A cached set older than
//!   [`MAX_AGE_MS`] is refetched on the next use. A token whose `kid` is not
//!   in the set triggers a refetch, so a rotated-in key works at once — but
//!   fetches are at least [`MIN_REFETCH_INTERVAL_MS`] apart, so a flood of
//!   tokens with made-up `kid`s cannot hammer the issuer.
//!
//! A reload that fails (unreadable file, invalid JSON, endpoint down) keeps
//! the previous keys and logs why, like a bad policy reload. With no keys
//! at all, verification fails closed with [`AuthError::Unavailable`].
//!
//! Time comes from the caller (`now_ms`); nothing here reads the clock.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::AuthError;

/// How long a fetched JWKS is used before it is refetched on the next
/// verification. Default: 5 minutes.
pub const MAX_AGE_MS: u64 = 5 * 60 * 1000;

/// Fetch attempts (after the first) are at least this far apart: unknown
/// `kid`s and failed fetches cannot make the gateway hammer the issuer.
/// Default: 30 seconds.
pub const MIN_REFETCH_INTERVAL_MS: u64 = 30 * 1000;

/// Largest JWKS document accepted (file or response body): 1 MiB.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// How long one JWKS fetch may take. Default: 10 seconds.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// One usable verification key.
struct Key {
    kid: Option<String>,
    /// The JWK's `alg`, when it names one: the key is then used for that
    /// algorithm only.
    alg: Option<Algorithm>,
    kind: KeyKind,
    decoding: DecodingKey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl Key {
    /// Whether this key may verify a token signed with `alg`: the key type
    /// (and curve) must fit the algorithm, and a JWK that names its `alg`
    /// must name this one. This stops a token from choosing how a key is
    /// used (RFC 8725 section 3.1).
    fn fits(&self, alg: Algorithm) -> bool {
        let kind_fits = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => self.kind == KeyKind::Rsa,
            Algorithm::ES256 => self.kind == KeyKind::EcP256,
            Algorithm::ES384 => self.kind == KeyKind::EcP384,
            Algorithm::EdDSA => self.kind == KeyKind::Ed25519,
            // HMAC keys are never loaded; anything else is unknown.
            _ => false,
        };
        kind_fits && self.alg.is_none_or(|a| a == alg)
    }
}

/// A parsed JWKS: the keys that can verify signatures.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<Key>,
}

/// The result of looking a token's key up in a [`KeySet`].
pub(crate) enum Lookup<'a> {
    Found(&'a DecodingKey),
    /// No key with this `kid`: maybe rotated in since the set was loaded.
    UnknownKid,
    Refused(AuthError),
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`).
    ///
    /// Keys that cannot verify signatures are skipped: symmetric (`oct`)
    /// keys (a shared secret must never sit in a public key set, and would
    /// allow HS* forgeries), keys marked `"use": "enc"`, and types or curves
    /// this build does not verify. A document with no usable key is an
    /// error. Returns the set and how many keys were skipped.
    pub(crate) fn parse(bytes: &[u8]) -> Result<(Self, usize), String> {
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("no \"keys\" array (expected a JWK Set, RFC 7517 section 5)")?;
        let mut keys = Vec::with_capacity(entries.len());
        let mut skipped = 0;
        for entry in entries {
            match Self::key(entry) {
                Some(key) => keys.push(key),
                None => skipped += 1,
            }
        }
        if keys.is_empty() {
            return Err(format!(
                "no usable signing key among {} (RSA, EC P-256/P-384 and Ed25519 public keys are used)",
                entries.len()
            ));
        }
        Ok((Self { keys }, skipped))
    }

    fn key(entry: &Value) -> Option<Key> {
        let jwk: Jwk = serde_json::from_value(entry.clone()).ok()?;
        if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
            return None;
        }
        let kind = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => KeyKind::Rsa,
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 => KeyKind::EcP256,
                EllipticCurve::P384 => KeyKind::EcP384,
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                KeyKind::Ed25519
            }
            _ => return None,
        };
        let alg = match &jwk.common.key_algorithm {
            // A JWK naming an algorithm this build does not verify (or an
            // encryption one) is not usable for signatures at all.
            Some(a) => Some(Algorithm::from_str(&a.to_string()).ok()?),
            None => None,
        };
        let decoding = DecodingKey::from_jwk(&jwk).ok()?;
        let key = Key {
            kid: jwk.common.key_id.clone(),
            alg,
            kind,
            decoding,
        };
        // A key whose own `alg` contradicts its type is unusable.
        match key.alg {
            Some(a) if !key.fits(a) => None,
            _ => Some(key),
        }
    }

    /// The key for a token with `kid` and `alg`.
    ///
    /// With a `kid`, the key with that id (it must fit `alg`). Without one,
    /// the set's only key, so single-key issuers that omit `kid` work;
    /// with several keys the token must say which.
    pub(crate) fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup<'_> {
        match kid {
            Some(kid) => {
                let mut named = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .peekable();
                if named.peek().is_none() {
                    return Lookup::UnknownKid;
                }
                match named.find(|k| k.fits(alg)) {
                    Some(k) => Lookup::Found(&k.decoding),
                    None => Lookup::Refused(AuthError::InvalidToken(format!(
                        "key {kid:?} cannot verify {alg:?} signatures"
                    ))),
                }
            }
            None => match self.keys.as_slice() {
                [only] if only.fits(alg) => Lookup::Found(&only.decoding),
                [_] => Lookup::Refused(AuthError::InvalidToken(format!(
                    "the issuer's key cannot verify {alg:?} signatures"
                ))),
                _ => Lookup::Refused(AuthError::InvalidToken(
                    "the token has no kid and the issuer has several keys".to_owned(),
                )),
            },
        }
    }
}

/// Where the key set comes from, with what is needed to reload it.
enum Origin {
    File(PathBuf),
    Url {
        url: reqwest::Url,
        client: reqwest::Client,
    },
}

/// Bookkeeping for reloads, behind an async lock so one reload runs at a
/// time (concurrent verifications wait for it and use its result).
#[derive(Default)]
struct Reload {
    /// File: `(modified, length)` of the version loaded (or last failed).
    fingerprint: Option<(Option<SystemTime>, u64)>,
    /// URL: `now_ms` of the last successful fetch.
    fetched_ms: Option<u64>,
    /// URL: `now_ms` of the last fetch attempt.
    attempted_ms: Option<u64>,
    /// Why the last reload failed (logged once per distinct cause).
    last_error: Option<String>,
}

/// The issuer's keys, reloaded as described in the [module docs](self).
pub(crate) struct Jwks {
    origin: Origin,
    keys: RwLock<Option<Arc<KeySet>>>,
    reload: tokio::sync::Mutex<Reload>,
}

impl Jwks {
    /// Reads the file now (blocking), so a bad file stops the start.
    pub(crate) fn from_file(path: PathBuf) -> Result<Self, String> {
        let fingerprint = std::fs::metadata(&path)
            .map(|m| fingerprint(&m))
            .map_err(|e| format!("cannot read JWKS file {}: {e}", path.display()))?;
        if fingerprint.1 > MAX_JWKS_BYTES as u64 {
            return Err(format!(
                "JWKS file {}: larger than {MAX_JWKS_BYTES} bytes",
                path.display()
            ));
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| format!("cannot read JWKS file {}: {e}", path.display()))?;
        let set =
            parse_limited(&bytes).map_err(|e| format!("JWKS file {}: {e}", path.display()))?;
        Ok(Self {
            origin: Origin::File(path),
            keys: RwLock::new(Some(Arc::new(set))),
            reload: tokio::sync::Mutex::new(Reload {
                fingerprint: Some(fingerprint),
                ..Reload::default()
            }),
        })
    }

    /// Nothing is fetched until the first verification.
    pub(crate) fn from_url(url: reqwest::Url, client: reqwest::Client) -> Self {
        Self {
            origin: Origin::Url { url, client },
            keys: RwLock::new(None),
            reload: tokio::sync::Mutex::new(Reload::default()),
        }
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn install(&self, set: KeySet) {
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(set));
    }

    /// Verifies with the key for (`kid`, `alg`): `check` runs with the key
    /// while the set it belongs to is held.
    pub(crate) async fn with_key<T>(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        now_ms: u64,
        check: impl Fn(&DecodingKey) -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        self.refresh_if_due(now_ms).await?;
        let set = self.current().ok_or_else(no_keys)?;
        match set.lookup(kid, alg) {
            Lookup::Found(key) => return check(key),
            Lookup::Refused(e) => return Err(e),
            Lookup::UnknownKid => {}
        }
        // Maybe the issuer rotated a new key in since the set was loaded.
        if !self.refetch_for_unknown_kid(&set, now_ms).await? {
            return Err(unknown_kid());
        }
        let set = self.current().ok_or_else(no_keys)?;
        match set.lookup(kid, alg) {
            Lookup::Found(key) => check(key),
            Lookup::Refused(e) => Err(e),
            Lookup::UnknownKid => Err(unknown_kid()),
        }
    }

    /// The routine check before each verification: the file's fingerprint,
    /// or the cached URL set's age.
    async fn refresh_if_due(&self, now_ms: u64) -> Result<(), AuthError> {
        match &self.origin {
            Origin::File(path) => {
                // When another task is checking the file right now, its
                // result is microseconds away; use the current set meanwhile
                // rather than queueing every verification behind one stat.
                if let Ok(mut reload) = self.reload.try_lock() {
                    self.reload_file(path, &mut reload).await;
                }
                Ok(())
            }
            Origin::Url { .. } => {
                if self.current().is_none() {
                    // Nothing to verify with: wait for the fetch.
                    let mut reload = self.reload.lock().await;
                    if self.current().is_none() {
                        if !may_fetch(&reload, now_ms) {
                            return Err(AuthError::Unavailable(
                                reload
                                    .last_error
                                    .clone()
                                    .unwrap_or_else(|| "no JWKS yet".into()),
                            ));
                        }
                        if let Err(e) = self.fetch(&mut reload, now_ms).await {
                            return Err(AuthError::Unavailable(e));
                        }
                    }
                    return Ok(());
                }
                // Stale keys: refresh, unless another task already is (then
                // the stale set serves meanwhile).
                let Ok(mut reload) = self.reload.try_lock() else {
                    return Ok(());
                };
                let stale = reload
                    .fetched_ms
                    .is_none_or(|at| now_ms.saturating_sub(at) >= MAX_AGE_MS);
                if stale && may_fetch(&reload, now_ms) {
                    // A failure keeps the previous keys (logged in fetch).
                    let _ = self.fetch(&mut reload, now_ms).await;
                }
                Ok(())
            }
        }
    }

    /// On an unknown `kid` in `seen`: refetch when allowed. `Ok(true)` when
    /// the set may have changed and the lookup should be retried.
    async fn refetch_for_unknown_kid(
        &self,
        seen: &Arc<KeySet>,
        now_ms: u64,
    ) -> Result<bool, AuthError> {
        match &self.origin {
            // The file was checked just before: it holds no such key.
            Origin::File(_) => Ok(false),
            Origin::Url { .. } => {
                let mut reload = self.reload.lock().await;
                if self.current().is_some_and(|now| !Arc::ptr_eq(&now, seen)) {
                    // Another task installed a new set while this one waited:
                    // retry with it rather than fetching again.
                    return Ok(true);
                }
                if !may_fetch(&reload, now_ms) {
                    return Ok(false);
                }
                match self.fetch(&mut reload, now_ms).await {
                    Ok(()) => Ok(true),
                    // The token may well be valid, signed with a key we could
                    // not fetch: that is the gateway's failure, not the client's.
                    Err(e) => Err(AuthError::Unavailable(e)),
                }
            }
        }
    }

    async fn reload_file(&self, path: &Path, reload: &mut Reload) {
        let print = match tokio::fs::metadata(path).await {
            Ok(m) => fingerprint(&m),
            Err(e) => {
                note_failure(
                    reload,
                    format!("cannot read JWKS file {}: {e}", path.display()),
                );
                return;
            }
        };
        if reload.fingerprint == Some(print) {
            return;
        }
        reload.fingerprint = Some(print);
        if print.1 > MAX_JWKS_BYTES as u64 {
            let e = format!(
                "JWKS file {}: larger than {MAX_JWKS_BYTES} bytes",
                path.display()
            );
            note_failure(reload, e);
            return;
        }
        let loaded = match tokio::fs::read(path).await {
            Ok(bytes) => {
                parse_limited(&bytes).map_err(|e| format!("JWKS file {}: {e}", path.display()))
            }
            Err(e) => Err(format!("cannot read JWKS file {}: {e}", path.display())),
        };
        match loaded {
            Ok(set) => {
                self.install(set);
                reload.last_error = None;
                tracing::info!(path = %path.display(), "JWKS file reloaded");
            }
            Err(e) => note_failure(reload, e),
        }
    }

    /// Fetches the URL and installs the set; on failure keeps the previous
    /// one and returns why.
    async fn fetch(&self, reload: &mut Reload, now_ms: u64) -> Result<(), String> {
        let Origin::Url { url, client } = &self.origin else {
            return Ok(());
        };
        reload.attempted_ms = Some(now_ms);
        match fetch_set(client, url).await {
            Ok(set) => {
                self.install(set);
                reload.fetched_ms = Some(now_ms);
                reload.last_error = None;
                Ok(())
            }
            Err(e) => {
                note_failure(reload, e.clone());
                Err(e)
            }
        }
    }
}

fn may_fetch(reload: &Reload, now_ms: u64) -> bool {
    reload
        .attempted_ms
        .is_none_or(|at| now_ms.saturating_sub(at) >= MIN_REFETCH_INTERVAL_MS)
}

fn note_failure(reload: &mut Reload, error: String) {
    if reload.last_error.as_ref() != Some(&error) {
        tracing::warn!("{error}; keeping the previous JWKS keys");
    }
    reload.last_error = Some(error);
}

fn fingerprint(meta: &std::fs::Metadata) -> (Option<SystemTime>, u64) {
    (meta.modified().ok(), meta.len())
}

fn parse_limited(bytes: &[u8]) -> Result<KeySet, String> {
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
    }
    let (set, skipped) = KeySet::parse(bytes)?;
    if skipped > 0 {
        tracing::debug!(skipped, "JWKS keys skipped (not usable for signatures)");
    }
    Ok(set)
}

async fn fetch_set(client: &reqwest::Client, url: &reqwest::Url) -> Result<KeySet, String> {
    let fail = |what: String| format!("JWKS {url}: {what}");
    let mut response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !response.status().is_success() {
        return Err(fail(format!("HTTP {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| fail(e.to_string()))? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(fail(format!("larger than {MAX_JWKS_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    parse_limited(&body).map_err(fail)
}

fn no_keys() -> AuthError {
    AuthError::Unavailable("no JWKS keys loaded".to_owned())
}

fn unknown_kid() -> AuthError {
    AuthError::InvalidToken("unknown key id (kid)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_keys_are_skipped_and_an_empty_set_refused() {
        let doc = br#"{"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB", "use": "enc", "kid": "enc"},
            {"kty": "XYZ", "kid": "alien"},
            "not an object"
        ]}"#;
        let err = KeySet::parse(doc).err().expect("no usable key");
        assert!(err.contains("no usable signing key among 4"), "{err}");
        assert!(KeySet::parse(b"{}").is_err());
        assert!(KeySet::parse(b"[").is_err());
    }

    #[test]
    fn a_key_is_bound_to_its_type_and_alg() {
        let doc = br#"{"keys": [
            {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "r", "alg": "RS256"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "r"}
        ]}"#;
        let (set, skipped) = KeySet::parse(doc).expect("one usable");
        assert_eq!(skipped, 1);
        assert!(matches!(
            set.lookup(Some("r"), Algorithm::RS256),
            Lookup::Found(_)
        ));
        for alg in [Algorithm::PS256, Algorithm::ES256, Algorithm::HS256] {
            assert!(
                matches!(set.lookup(Some("r"), alg), Lookup::Refused(_)),
                "{alg:?}"
            );
        }
        assert!(matches!(
            set.lookup(Some("x"), Algorithm::RS256),
            Lookup::UnknownKid
        ));
        assert!(matches!(
            set.lookup(None, Algorithm::RS256),
            Lookup::Found(_)
        ));
    }
}
