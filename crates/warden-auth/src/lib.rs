//! Who is calling: Warden's client authentication for the team gateway.
//!
//! A client sends `Authorization: Bearer <token>`. [`Authenticator`] decides
//! whose token it is:
//!
//! - **API keys** (`wdn_<id>_<secret>`, see [`apikey`]): made with
//!   [`new_key`] (`warden keys create`), stored hashed in a
//!   `warden_store::KeyStore`, revocable, optionally expiring.
//! - **JWTs** (anything else, when configured, see [`jwt`]): verified
//!   against the issuer's JWKS (a file or a URL), with `iss`, `aud`, `exp`
//!   and `nbf` checked and the algorithms listed.
//!
//! The result is an [`Authenticated`] identity with attributes for policy
//! conditions, or an [`AuthError`] that the gateway turns into 401 with
//! [`AuthError::www_authenticate`], or 503 when
//! [`AuthError::is_unavailable`] (fail closed: a credential that cannot be
//! checked never passes).
//!
//! Architecture invariant: this crate never reads the clock. Every check
//! that depends on time takes `now_ms` (milliseconds since the Unix epoch)
//! from the caller.
//!
//! Architecture invariant: a presented secret is never logged, stored or
//! echoed in an error; only its SHA-256 (API keys) is compared.
#![forbid(unsafe_code)]

pub mod apikey;
mod error;
pub mod jwks;
pub mod jwt;

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};
use warden_store::KeyStore;

pub use apikey::{KEY_PREFIX, NewKey, hash_key, key_id, new_key};
pub use error::AuthError;
pub use jwt::{JwksSource, JwtConfigError, JwtSettings, JwtVerifier};

/// A caller whose credential checked out.
#[derive(Clone, Debug, PartialEq)]
pub struct Authenticated {
    /// The identity's name: an API key's identity, or a JWT's identity claim
    /// (`sub` by default).
    pub identity: String,
    /// What policy conditions can read as `identity.<name>`: for a JWT every
    /// claim, plus `"name"` (always the identity, overriding a `name` claim);
    /// for an API key just `{"name": identity}`.
    pub attributes: Map<String, Value>,
    /// Which credential was used (for the audit log).
    pub credential: Credential,
}

/// The credential behind an [`Authenticated`] caller. Never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// An API key, by its public id.
    ApiKey {
        /// The key's id (12 hex characters).
        id: String,
    },
    /// A JWT.
    Jwt {
        /// The token's `sub` claim, when it has a string one.
        subject: Option<String>,
        /// The `kid` of the key that verified it, when the token named one.
        kid: Option<String>,
    },
}

/// Checks `Authorization` headers against API keys and, when configured,
/// JWTs.
pub struct Authenticator {
    keys: Arc<dyn KeyStore>,
    jwt: Option<JwtVerifier>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.keys)
            .field("jwt", &self.jwt)
            .finish()
    }
}

impl Authenticator {
    /// API keys from `keys`; JWTs with `jwt`, or refused with
    /// [`AuthError::JwtNotConfigured`] when `None`.
    pub fn new(keys: Arc<dyn KeyStore>, jwt: Option<JwtVerifier>) -> Self {
        Self { keys, jwt }
    }

    /// Authenticates a request at `now_ms`.
    ///
    /// `authorization` is the raw `Authorization` header value (`None` when
    /// absent). The scheme `Bearer` is matched case-insensitively. A token
    /// starting with `wdn_` is an API key; anything else is a JWT.
    ///
    /// # Errors
    ///
    /// See [`AuthError`]. A store or JWKS failure is
    /// [`AuthError::Unavailable`]: refuse the request with 503.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        now_ms: u64,
    ) -> Result<Authenticated, AuthError> {
        let token = bearer_token(authorization)?;
        if token.starts_with(KEY_PREFIX) {
            return self.check_key(token, now_ms).await;
        }
        match &self.jwt {
            Some(verifier) => verifier.verify(token, now_ms).await,
            None => Err(AuthError::JwtNotConfigured),
        }
    }

    async fn check_key(&self, key: &str, now_ms: u64) -> Result<Authenticated, AuthError> {
        let id = key_id(key).ok_or_else(|| {
            AuthError::InvalidToken(
                "malformed API key (expected wdn_<12 hex>_<43 base64url characters>)".to_owned(),
            )
        })?;
        let record = self
            .keys
            .get(id)
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?
            .ok_or(AuthError::UnknownKey)?;
        // The secret is checked before the key's state is told, so someone
        // who knows only an id (ids are shown in listings and logs) learns
        // nothing about it.
        if !apikey::hash_matches(key, &record.hash) {
            return Err(AuthError::UnknownKey);
        }
        match record.status(now_ms) {
            warden_store::KeyStatus::Revoked => Err(AuthError::Revoked),
            warden_store::KeyStatus::Expired => Err(AuthError::Expired),
            warden_store::KeyStatus::Active => {
                let mut attributes = Map::new();
                attributes.insert("name".to_owned(), Value::String(record.identity.clone()));
                Ok(Authenticated {
                    identity: record.identity,
                    attributes,
                    credential: Credential::ApiKey { id: record.id },
                })
            }
        }
    }
}

/// The token of a `Bearer` header value.
fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let value = authorization.ok_or(AuthError::Missing)?.trim();
    let (scheme, token) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    let token = token.trim();
    // A token is one word (RFC 6750 b64token): anything with inner spaces
    // is not a bearer credential.
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(AuthError::NotBearer);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_can_run_on_any_task() {
        fn assert_send<T: Send>(_: &T) {}
        let auth = Authenticator::new(Arc::new(warden_store::MemoryKeys::new()), None);
        assert_send(&auth.authenticate(None, 0));
        fn assert_shared<T: Send + Sync>() {}
        assert_shared::<Authenticator>();
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(None), Err(AuthError::Missing));
        assert_eq!(bearer_token(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Ok("abc"));
        assert_eq!(bearer_token(Some("BEARER\tabc")), Ok("abc"));
        for bad in [
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearerabc",
            "",
        ] {
            assert_eq!(
                bearer_token(Some(bad)),
                Err(AuthError::NotBearer),
                "{bad:?}"
            );
        }
    }
}
