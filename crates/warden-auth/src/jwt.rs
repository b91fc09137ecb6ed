//! JWT bearer tokens, verified against the issuer's JWKS.
//!
//! # What is checked, in order
//!
//! 1. The header: `alg` must be in the allowed list; `none` and the HS*
//!    (shared-secret) algorithms are refused outright, whatever the list
//!    says; a `crit` header is refused (no extension is understood).
//! 2. The key: the JWKS key with the token's `kid` (or the only key when
//!    the token has none) whose type fits `alg` and whose own `alg`, when
//!    stated, is the same. An unknown `kid` refreshes the JWKS (see
//!    [`crate::jwks`]).
//! 3. The signature, then `iss` (must equal the configured issuer) and
//!    `aud` (must contain the configured audience); `exp`, `iss` and `aud`
//!    are required.
//! 4. Time, against the caller's `now_ms` with `leeway_secs` either way:
//!    expired when `now >= exp + leeway` ([`AuthError::Expired`]); not yet
//!    valid when `now + leeway < nbf`.
//! 5. The identity: the string claim named by `identity_claim`.
//!
//! The signature is checked by `jsonwebtoken`; its own time checks are off
//! because they read the system clock, and time is injected here.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily, Validation};
use serde_json::{Map, Value};

use crate::jwks::{FETCH_TIMEOUT, Jwks};
use crate::{AuthError, Authenticated, Credential};

/// The identity claim used when none is configured: `"sub"`.
pub const DEFAULT_IDENTITY_CLAIM: &str = "sub";

/// Clock skew allowed on `exp` and `nbf` when none is configured: 30 seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;

/// The algorithms allowed when none are configured: RS256 and ES256.
pub const DEFAULT_ALGORITHMS: &[&str] = &["RS256", "ES256"];

/// Largest JWT accepted, in bytes (16 KiB): bounds the work done on
/// untrusted input before any signature is checked.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Where the issuer's public keys are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    /// A JWKS file, read at start and again whenever its modification time
    /// or size changes.
    File(PathBuf),
    /// A JWKS URL (`https://`; `http://` only for loopback addresses),
    /// fetched on first use, cached, refetched when stale or on an unknown
    /// `kid` (at most every 30 seconds).
    Url(String),
}

/// How JWTs are verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtSettings {
    /// The issuer's public keys.
    pub jwks: JwksSource,
    /// The required `iss` claim, exactly.
    pub issuer: String,
    /// The audience this gateway is: the token's `aud` must be or contain it.
    pub audience: String,
    /// Allowed `alg` values (e.g. `"RS256"`, `"ES256"`, `"PS256"`,
    /// `"EdDSA"`). Default: [`DEFAULT_ALGORITHMS`]. `none` and HS* are
    /// refused.
    pub algorithms: Vec<String>,
    /// The claim naming the identity (a string). Default: `"sub"`.
    pub identity_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds. Default: 30.
    pub leeway_secs: u64,
}

impl JwtSettings {
    /// Settings with the defaults: [`DEFAULT_ALGORITHMS`], identity claim
    /// `sub`, 30 seconds of leeway.
    pub fn new(jwks: JwksSource, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            jwks,
            issuer: issuer.into(),
            audience: audience.into(),
            algorithms: DEFAULT_ALGORITHMS.iter().map(|a| (*a).to_owned()).collect(),
            identity_claim: DEFAULT_IDENTITY_CLAIM.to_owned(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
        }
    }
}

/// Why [`JwtSettings`] cannot be used. Each message names the setting and
/// the fix; these are operator errors, found at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtConfigError {
    /// A setting is missing, unknown or unsafe.
    #[error("JWT settings: {0}")]
    Invalid(String),
    /// The JWKS file cannot be read or holds no usable key.
    #[error("{0}")]
    Jwks(String),
}

/// Verifies JWT bearer tokens; see the [module documentation](self).
pub struct JwtVerifier {
    jwks: Jwks,
    issuer: String,
    audience: String,
    algorithms: Vec<Algorithm>,
    identity_claim: String,
    leeway_ms: u64,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .field("identity_claim", &self.identity_claim)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Checks `settings` and, for a JWKS file, reads it (so a bad file stops
    /// the start). A JWKS URL is fetched on first use.
    ///
    /// # Errors
    ///
    /// [`JwtConfigError::Invalid`] for an empty issuer, audience or identity
    /// claim, an empty or unknown algorithm list, `none` or HS*, or a JWKS
    /// URL that is not `https` (or `http` to a loopback address);
    /// [`JwtConfigError::Jwks`] for an unreadable or keyless JWKS file.
    pub fn new(settings: JwtSettings) -> Result<Self, JwtConfigError> {
        let invalid = |m: String| Err(JwtConfigError::Invalid(m));
        for (name, value) in [
            ("issuer", &settings.issuer),
            ("audience", &settings.audience),
            ("identity_claim", &settings.identity_claim),
        ] {
            if value.trim().is_empty() {
                return invalid(format!("`{name}` is empty; set it"));
            }
        }
        if settings.algorithms.is_empty() {
            return invalid("`algorithms` is empty; list e.g. \"RS256\"".to_owned());
        }
        let mut algorithms = Vec::with_capacity(settings.algorithms.len());
        for name in &settings.algorithms {
            if name.eq_ignore_ascii_case("none") {
                return invalid(
                    "algorithm \"none\" (unsigned tokens) is never accepted".to_owned(),
                );
            }
            let Ok(alg) = Algorithm::from_str(name) else {
                return invalid(format!(
                    "unknown algorithm {name:?}; use RS256/384/512, PS256/384/512, ES256/384 or EdDSA"
                ));
            };
            if alg.family() == AlgorithmFamily::Hmac {
                return invalid(format!(
                    "algorithm {name} uses a shared secret, which cannot be published in a JWKS \
                     and would let any holder mint tokens; use an asymmetric algorithm (e.g. RS256)"
                ));
            }
            algorithms.push(alg);
        }
        let jwks = match settings.jwks {
            JwksSource::File(path) => Jwks::from_file(path).map_err(JwtConfigError::Jwks)?,
            JwksSource::Url(url) => {
                let url = jwks_url(&url).map_err(JwtConfigError::Invalid)?;
                // Redirects may not leave https (a hop over plain http would
                // let anyone on the path swap the keys).
                let redirects = reqwest::redirect::Policy::custom(|attempt| {
                    if attempt.previous().len() >= MAX_REDIRECTS {
                        attempt.error("too many redirects")
                    } else if secure_url(attempt.url()) {
                        attempt.follow()
                    } else {
                        attempt.error("redirect to a URL that is not https")
                    }
                });
                let client = reqwest::Client::builder()
                    .timeout(FETCH_TIMEOUT)
                    .redirect(redirects)
                    .user_agent(concat!("warden/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| JwtConfigError::Invalid(format!("cannot set up HTTP: {e}")))?;
                Jwks::from_url(url, client)
            }
        };
        Ok(Self {
            jwks,
            issuer: settings.issuer,
            audience: settings.audience,
            algorithms,
            identity_claim: settings.identity_claim,
            leeway_ms: settings.leeway_secs.saturating_mul(1000),
        })
    }

    /// Verifies `token` at `now_ms` and names its identity.
    ///
    /// # Errors
    ///
    /// [`AuthError::Expired`] past `exp`; [`AuthError::InvalidToken`] for
    /// every other failed check (the message says which);
    /// [`AuthError::Unavailable`] when no JWKS could be loaded.
    pub async fn verify(&self, token: &str, now_ms: u64) -> Result<Authenticated, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid("token too large"));
        }
        let header = Header::read(token)?;
        if header.alg == "none" {
            return Err(invalid("unsigned tokens (alg \"none\") are not accepted"));
        }
        let alg = Algorithm::from_str(&header.alg)
            .map_err(|_| invalid(&format!("unsupported algorithm {:?}", header.alg)))?;
        if alg.family() == AlgorithmFamily::Hmac {
            return Err(invalid(&format!(
                "{alg:?} (shared-secret) tokens are not accepted"
            )));
        }
        if !self.algorithms.contains(&alg) {
            return Err(invalid(&format!("algorithm {alg:?} is not allowed here")));
        }
        if header.crit {
            return Err(invalid(
                "critical header extensions (crit) are not supported",
            ));
        }

        let mut validation = Validation::new(alg);
        validation.required_spec_claims = ["exp", "iss", "aud"]
            .into_iter()
            .map(str::to_owned)
            .collect::<HashSet<_>>();
        // Time is checked below against the injected `now_ms`: jsonwebtoken
        // would read the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);

        let claims = self
            .jwks
            .with_key(header.kid.as_deref(), alg, now_ms, |key| {
                jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
                    .map(|data| data.claims)
                    .map_err(|e| decode_error(e.kind()))
            })
            .await?;

        self.check_time(&claims, now_ms)?;
        let identity = match claims.get(&self.identity_claim) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => {
                return Err(invalid(&format!(
                    "the token has no string claim {:?} naming the identity",
                    self.identity_claim
                )));
            }
        };
        let subject = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
        let mut attributes = claims;
        // `name` is always the identity, so a policy reading `identity.name`
        // sees the same thing for a key and a token, and a token cannot set
        // it through a `name` claim of its own.
        attributes.insert("name".to_owned(), Value::String(identity.clone()));
        Ok(Authenticated {
            identity,
            attributes,
            credential: Credential::Jwt {
                subject,
                kid: header.kid,
            },
        })
    }

    fn check_time(&self, claims: &Map<String, Value>, now_ms: u64) -> Result<(), AuthError> {
        // Compared in f64 milliseconds: NumericDate may be fractional, and
        // f64 is exact for every millisecond count up to the year 287396.
        let now = now_ms as f64;
        let leeway = self.leeway_ms as f64;
        let exp = numeric_date(claims, "exp")?.ok_or_else(|| invalid("missing claim exp"))?;
        if now >= exp + leeway {
            return Err(AuthError::Expired);
        }
        if let Some(nbf) = numeric_date(claims, "nbf")?
            && now + leeway < nbf
        {
            return Err(invalid("the token is not valid yet (nbf)"));
        }
        Ok(())
    }
}

/// A NumericDate claim in milliseconds: `None` when absent.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(secs) if secs.is_finite() => Ok(Some(secs * 1000.0)),
            _ => Err(invalid(&format!("claim {name} is not a number of seconds"))),
        },
    }
}

/// The header fields read before any key is chosen.
struct Header {
    alg: String,
    kid: Option<String>,
    crit: bool,
}

impl Header {
    /// Reads the (unverified) header: only to choose the key and refuse
    /// algorithms early; jsonwebtoken parses it again when verifying.
    fn read(token: &str) -> Result<Self, AuthError> {
        let mut parts = token.split('.');
        let (Some(head), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("not a JWT (expected three dot-separated parts)"));
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(head)
            .map_err(|_| invalid("malformed JWT header"))?;
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(invalid("malformed JWT header"));
        };
        let Some(Value::String(alg)) = fields.get("alg") else {
            return Err(invalid("the JWT header has no alg"));
        };
        let kid = match fields.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(invalid("the JWT header's kid is not a string")),
        };
        Ok(Self {
            alg: alg.clone(),
            kid,
            crit: fields.contains_key("crit"),
        })
    }
}

fn decode_error(kind: &ErrorKind) -> AuthError {
    invalid(match kind {
        ErrorKind::InvalidSignature => "the signature does not verify",
        ErrorKind::InvalidIssuer => "wrong issuer (iss)",
        ErrorKind::InvalidAudience => "the token is for another audience (aud)",
        ErrorKind::MissingRequiredClaim(c) => {
            return invalid(&format!("missing claim {c}"));
        }
        ErrorKind::InvalidClaimFormat(c) => {
            return invalid(&format!("malformed claim {c}"));
        }
        ErrorKind::InvalidAlgorithm => "the algorithm does not match the key",
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidEddsaKey => {
            "the issuer's key is unusable"
        }
        _ => "malformed JWT",
    })
}

fn invalid(why: &str) -> AuthError {
    AuthError::InvalidToken(why.to_owned())
}

/// Redirects followed when fetching a JWKS: 5.
const MAX_REDIRECTS: usize = 5;

/// Parses a JWKS URL: `https`, or `http` only to a loopback address (a
/// JWKS fetched in the clear could be swapped by anyone on the path).
fn jwks_url(text: &str) -> Result<reqwest::Url, String> {
    let url =
        reqwest::Url::parse(text).map_err(|e| format!("JWKS URL {text:?} is not a URL: {e}"))?;
    if secure_url(&url) {
        Ok(url)
    } else {
        Err(format!(
            "JWKS URL {text:?} must use https (http is accepted only for localhost)"
        ))
    }
}

/// `https`, or `http` to a loopback address.
fn secure_url(url: &reqwest::Url) -> bool {
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => true,
        "http" => loopback,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_refuse_unsafe_algorithms() {
        let dir = tempfile::tempdir().expect("dir");
        let settings = |algs: &[&str]| {
            let mut s = JwtSettings::new(
                JwksSource::Url("https://issuer.example/jwks".into()),
                "iss",
                "aud",
            );
            s.algorithms = algs.iter().map(|a| (*a).to_owned()).collect();
            s
        };
        for algs in [
            &[][..],
            &["none"],
            &["HS256"],
            &["RS256", "HS512"],
            &["XX1"],
        ] {
            assert!(
                matches!(
                    JwtVerifier::new(settings(algs)),
                    Err(JwtConfigError::Invalid(_))
                ),
                "{algs:?}"
            );
        }
        assert!(JwtVerifier::new(settings(&["RS256", "ES256", "EdDSA"])).is_ok());
        let missing = JwtSettings::new(JwksSource::File(dir.path().join("nope.json")), "i", "a");
        assert!(matches!(
            JwtVerifier::new(missing),
            Err(JwtConfigError::Jwks(_))
        ));
        let blank = JwtSettings::new(JwksSource::Url("https://x/".into()), " ", "a");
        assert!(JwtVerifier::new(blank).is_err());
    }

    #[test]
    fn jwks_urls_must_be_https_unless_loopback() {
        for ok in [
            "https://issuer.example/.well-known/jwks.json",
            "http://127.0.0.1:8080/jwks",
            "http://localhost/jwks",
            "http://[::1]:9/jwks",
        ] {
            assert!(jwks_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://issuer.example/jwks",
            "ftp://127.0.0.1/x",
            "jwks.json",
        ] {
            assert!(jwks_url(bad).is_err(), "{bad}");
        }
    }
}
