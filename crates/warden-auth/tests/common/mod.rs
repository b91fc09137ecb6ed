//! Test issuers: signing keys generated here, their JWKS, and tokens.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::sync::{Arc, LazyLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::rand_core::OsRng;
use serde_json::{Value, json};

/// A plausible epoch time, so tests do not depend on `now_ms` starting at 0.
pub const T0_MS: u64 = 1_760_000_000_000;
pub const T0: u64 = T0_MS / 1000;

pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "https://gateway.test/mcp";

/// One signing key of a test issuer.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: Option<String>,
    pub alg: Algorithm,
    pub encoding: Arc<EncodingKey>,
    /// The public JWK, with `kid` and `alg` set.
    pub jwk: Jwk,
}

/// RSA key generation is slow in debug builds: one 2048-bit key per test
/// binary, shared.
static RSA_DER: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let key = rsa::RsaPrivateKey::new(&mut OsRng, 2048).expect("generate RSA key");
    key.to_pkcs1_der()
        .expect("encode RSA key")
        .as_bytes()
        .to_vec()
});

impl SigningKey {
    fn new(kid: Option<&str>, alg: Algorithm, encoding: EncodingKey) -> Self {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).expect("public JWK");
        jwk.common.key_id = kid.map(str::to_owned);
        Self {
            kid: kid.map(str::to_owned),
            alg,
            encoding: Arc::new(encoding),
            jwk,
        }
    }

    /// The shared RSA key, under `kid`, for `alg` (RS* or PS*).
    pub fn rsa(kid: Option<&str>, alg: Algorithm) -> Self {
        Self::new(kid, alg, EncodingKey::from_rsa_der(&RSA_DER))
    }

    /// A fresh P-256 key for ES256.
    pub fn ec(kid: Option<&str>) -> Self {
        use p256::pkcs8::EncodePrivateKey;
        let secret = p256::SecretKey::random(&mut OsRng);
        let der = secret.to_pkcs8_der().expect("encode EC key");
        Self::new(
            kid,
            Algorithm::ES256,
            EncodingKey::from_ec_der(der.as_bytes()),
        )
    }

    /// The JWK without its `alg` member (many issuers omit it).
    pub fn jwk_without_alg(&self) -> Value {
        let mut v = serde_json::to_value(&self.jwk).expect("jwk json");
        if let Some(o) = v.as_object_mut() {
            o.remove("alg");
        }
        v
    }

    /// Signs `claims` with this key, its `alg` and `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = self.kid.clone();
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

/// A JWKS document of these keys.
pub fn jwks(keys: &[&SigningKey]) -> String {
    json!({ "keys": keys.iter().map(|k| &k.jwk).collect::<Vec<_>>() }).to_string()
}

/// Claims valid from an hour before `T0` to an hour after, for `sub`.
pub fn claims(sub: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "iat": T0 - 3600,
        "nbf": T0 - 3600,
        "exp": T0 + 3600,
        "email": format!("{sub}@example.com"),
        "groups": ["ops"],
    })
}

/// `claims(sub)` with `changes` merged in (`null` removes a claim).
pub fn claims_with(sub: &str, changes: Value) -> Value {
    let mut c = claims(sub);
    if let (Some(c), Some(changes)) = (c.as_object_mut(), changes.as_object()) {
        for (k, v) in changes {
            if v.is_null() {
                c.remove(k);
            } else {
                c.insert(k.clone(), v.clone());
            }
        }
    }
    c
}

/// A token with an arbitrary header and payload and the given signature
/// part (for `alg: none` and forgeries).
pub fn raw_token(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
