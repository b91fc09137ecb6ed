//! API keys: the records behind `wdn_…` bearer credentials.
//!
//! # What is stored
//!
//! A [`KeyRecord`] holds a key's public id, the identity it authenticates,
//! the SHA-256 of the whole key string, and its lifetime (`created_ms`,
//! optional `expires_ms`, `revoked_ms` once revoked), plus an optional label
//! for people. The key itself is never stored: it is shown once when created
//! and afterwards only its hash can be compared. Making keys, hashing them
//! and checking a presented key is `warden-auth`'s job; this module only
//! keeps the records.
//!
//! # Semantics
//!
//! - [`KeyStore::create`] inserts a record; an id already present is
//!   [`StoreError::KeyExists`] and nothing changes.
//! - [`KeyStore::get`] returns the record with that id, revoked or expired
//!   ones included (the caller decides what they mean).
//! - [`KeyStore::list`] returns every record, or those of one identity,
//!   oldest first (by `created_ms`, then id).
//! - [`KeyStore::revoke`] stamps `revoked_ms` on an active or expired key and
//!   answers `true`; an unknown or already revoked id answers `false` and
//!   changes nothing, so the first revocation time is kept.
//!
//! Records are never deleted: a revoked key stays listed, so the audit log's
//! key ids can always be traced to an identity.

mod memory;

use std::fmt;

pub use memory::MemoryKeys;

#[cfg(doc)]
use crate::StoreError;
use crate::StoreFuture;

/// Length in bytes of [`KeyRecord::hash`] (a SHA-256 digest).
pub const KEY_HASH_LEN: usize = 32;

/// One API key, as stored. Never contains the key itself.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key's public id (12 lowercase hex characters for keys made by
    /// `warden-auth`): shown in listings, used to revoke, and the part of the
    /// key string that finds this record.
    pub id: String,
    /// The identity the key authenticates.
    pub identity: String,
    /// SHA-256 of the whole key string (`wdn_<id>_<secret>`).
    pub hash: [u8; KEY_HASH_LEN],
    /// When the key was made, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// When the key stops working (milliseconds since the Unix epoch);
    /// `None` (the default) for a key that does not expire.
    pub expires_ms: Option<u64>,
    /// When the key was revoked; `None` while it is not.
    pub revoked_ms: Option<u64>,
    /// A note for people ("CI runner", "Ana's laptop"); `None` by default.
    pub label: Option<String>,
}

impl fmt::Debug for KeyRecord {
    /// Leaves the hash out: it is no secret, but has no place in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("id", &self.id)
            .field("identity", &self.identity)
            .field("created_ms", &self.created_ms)
            .field("expires_ms", &self.expires_ms)
            .field("revoked_ms", &self.revoked_ms)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// Whether a key works at a given time. See [`KeyRecord::status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    /// Neither revoked nor expired.
    Active,
    /// Past its `expires_ms`, not revoked.
    Expired,
    /// Revoked (whether or not it has also expired).
    Revoked,
}

impl KeyStatus {
    /// `"active"`, `"expired"` or `"revoked"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl KeyRecord {
    /// The key's status at `now_ms`: revoked wins over expired; a key is
    /// expired from `expires_ms` on (at `now_ms == expires_ms` it no longer
    /// works).
    pub fn status(&self, now_ms: u64) -> KeyStatus {
        if self.revoked_ms.is_some() {
            KeyStatus::Revoked
        } else if self.expires_ms.is_some_and(|e| now_ms >= e) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }
}

/// API key records: create, look up, list, revoke.
///
/// Implemented by [`MemoryKeys`] (tests) and
/// [`SqliteState`](crate::SqliteState) (the default, shared across processes
/// on one state directory). Both pass the same test suite; the semantics are
/// in the [module documentation](self).
///
/// Boxed futures, like [`CounterStore`](crate::CounterStore), so the trait is
/// usable as `Arc<dyn KeyStore>`.
pub trait KeyStore: Send + Sync + fmt::Debug {
    /// Stores a new record.
    ///
    /// Errors: [`StoreError::KeyExists`] when the id is taken (nothing is
    /// changed), backend errors otherwise.
    fn create(&self, record: KeyRecord) -> StoreFuture<'_, ()>;

    /// The record with `id`, in whatever state it is; `None` if unknown.
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<KeyRecord>>;

    /// Every record (`identity: None`) or those of one identity, oldest first
    /// (by `created_ms`, then id). Revoked and expired keys are included.
    fn list<'a>(&'a self, identity: Option<&'a str>) -> StoreFuture<'a, Vec<KeyRecord>>;

    /// Revokes `id` at `now_ms`. `true` when this call revoked it; `false`
    /// when the id is unknown or the key was already revoked (the first
    /// revocation time is kept).
    fn revoke<'a>(&'a self, id: &'a str, now_ms: u64) -> StoreFuture<'a, bool>;
}
