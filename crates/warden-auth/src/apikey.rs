//! API keys: `wdn_<id>_<secret>`, made here, stored hashed, checked here.
//!
//! `<id>` is 12 lowercase hex characters (6 random bytes): public, shown in
//! listings, used to revoke and to find the record. `<secret>` is 32 random
//! bytes in base64url without padding (43 characters). The whole string is
//! the credential; the store keeps only its SHA-256.
//!
//! Why a plain SHA-256 and not a slow password hash (Argon2, bcrypt): slow
//! hashes exist to make guessing *low-entropy* passwords expensive after a
//! database leak. A key carries 256 random bits, so a leaked hash cannot be
//! reversed by guessing however fast the hash is, and a fast hash keeps
//! every request's check cheap (a slow KDF per request would be a denial of
//! service lever).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use warden_store::KeyRecord;
use warden_store::keys::KEY_HASH_LEN;

/// Every API key starts with this; a bearer token that does is an API key,
/// anything else is treated as a JWT.
pub const KEY_PREFIX: &str = "wdn_";

/// Random bytes in a key id (12 hex characters).
const ID_BYTES: usize = 6;
/// Length of the id part.
pub const KEY_ID_LEN: usize = ID_BYTES * 2;
/// Random bytes in the secret part.
const SECRET_BYTES: usize = 32;
/// Length of the secret part: 32 bytes in unpadded base64url.
const SECRET_LEN: usize = 43;
/// Length of a whole key: prefix, id, `_`, secret.
const KEY_LEN: usize = KEY_PREFIX.len() + KEY_ID_LEN + 1 + SECRET_LEN;

/// A freshly made key: the secret to show once, and the record to store.
pub struct NewKey {
    /// The whole key string, `wdn_<id>_<secret>`. Show it to the operator
    /// once; it is not stored anywhere and cannot be recovered.
    pub secret: String,
    /// What to store: id, identity, the key's SHA-256, times, label.
    pub record: KeyRecord,
}

impl fmt::Debug for NewKey {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("secret", &"[redacted]")
            .field("record", &self.record)
            .finish()
    }
}

/// Makes a new key for `identity`, created at `now_ms`, expiring at
/// `expires_ms` (`None`: never), with an optional `label`.
///
/// The record is not stored: pass [`NewKey::record`] to
/// [`KeyStore::create`](warden_store::KeyStore::create) (which refuses an id
/// that is already taken; make another key then).
///
/// # Panics
///
/// When the operating system's random number generator fails. There is no
/// safe fallback: a key from weak randomness would be guessable.
pub fn new_key(
    identity: &str,
    expires_ms: Option<u64>,
    label: Option<String>,
    now_ms: u64,
) -> NewKey {
    let mut id_bytes = [0u8; ID_BYTES];
    let mut secret_bytes = [0u8; SECRET_BYTES];
    #[allow(clippy::expect_used)] // documented above: no safe way on without randomness
    {
        getrandom::fill(&mut id_bytes).expect("the OS random number generator failed");
        getrandom::fill(&mut secret_bytes).expect("the OS random number generator failed");
    }
    let id: String = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
    let secret = format!("{KEY_PREFIX}{id}_{}", URL_SAFE_NO_PAD.encode(secret_bytes));
    NewKey {
        record: KeyRecord {
            id,
            identity: identity.to_owned(),
            hash: hash_key(&secret),
            created_ms: now_ms,
            expires_ms,
            revoked_ms: None,
            label,
        },
        secret,
    }
}

/// SHA-256 of the whole key string: what the store keeps.
pub fn hash_key(key: &str) -> [u8; KEY_HASH_LEN] {
    Sha256::digest(key.as_bytes()).into()
}

/// The id part of `key` when the whole string has the shape of a key
/// (`wdn_` + 12 lowercase hex + `_` + 43 base64url characters); `None`
/// otherwise.
pub fn key_id(key: &str) -> Option<&str> {
    if key.len() != KEY_LEN || !key.starts_with(KEY_PREFIX) {
        return None;
    }
    let rest = &key[KEY_PREFIX.len()..];
    let (id, rest) = rest.split_at_checked(KEY_ID_LEN)?;
    let secret = rest.strip_prefix('_')?;
    let id_ok = id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let secret_ok = secret.len() == SECRET_LEN
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some(id)
}

/// Whether `key` hashes to `hash`, compared in constant time so the time
/// taken does not tell an attacker how many leading bytes were right.
pub(crate) fn hash_matches(key: &str, hash: &[u8; KEY_HASH_LEN]) -> bool {
    hash_key(key).ct_eq(hash).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_have_the_documented_shape() {
        let made = new_key("ci-bot", Some(99), Some("CI".to_owned()), 42);
        assert_eq!(made.secret.len(), KEY_LEN);
        assert_eq!(key_id(&made.secret), Some(made.record.id.as_str()));
        assert_eq!(made.record.identity, "ci-bot");
        assert_eq!(made.record.created_ms, 42);
        assert_eq!(made.record.expires_ms, Some(99));
        assert_eq!(made.record.revoked_ms, None);
        assert_eq!(made.record.label.as_deref(), Some("CI"));
        assert!(hash_matches(&made.secret, &made.record.hash));
        assert!(!format!("{made:?}").contains(&made.secret));
    }

    #[test]
    fn keys_are_unique() {
        let a = new_key("x", None, None, 0);
        let b = new_key("x", None, None, 0);
        assert_ne!(a.secret, b.secret);
        assert_ne!(a.record.id, b.record.id);
    }

    #[test]
    fn malformed_keys_have_no_id() {
        let good = new_key("x", None, None, 0).secret;
        assert!(key_id(&good).is_some());
        let upper = format!("wdn_{}{}", good[4..16].to_uppercase(), &good[16..]);
        for bad in [
            "",
            "wdn_",
            &good[..good.len() - 1],
            &format!("{good}A"),
            &good.replacen("wdn_", "wdx_", 1),
            &upper,
            &format!("{}.{}", &good[..16], &good[17..]),
            &format!("{}+{}", &good[..20], &good[21..]),
            &format!("{}é", &good[..good.len() - 2]),
        ] {
            assert_eq!(key_id(bad), None, "{bad:?}");
        }
    }
}
