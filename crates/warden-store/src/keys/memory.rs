//! The in-memory twin of the key store.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{KeyRecord, KeyStore};
use crate::{StoreError, StoreFuture};

/// API key records kept in process memory.
///
/// For tests and throwaway gateways: records are lost on drop and not shared
/// between instances. Default: empty.
#[derive(Default)]
pub struct MemoryKeys {
    /// By id.
    records: Mutex<BTreeMap<String, KeyRecord>>,
}

impl fmt::Debug for MemoryKeys {
    /// Does not take the lock, and prints no records.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryKeys").finish_non_exhaustive()
    }
}

impl MemoryKeys {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, KeyRecord>> {
        // Every operation changes at most one record in one step, so a panic
        // elsewhere cannot leave the map half-updated.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl KeyStore for MemoryKeys {
    fn create(&self, record: KeyRecord) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut records = self.lock();
            if records.contains_key(&record.id) {
                return Err(StoreError::KeyExists { id: record.id });
            }
            records.insert(record.id.clone(), record);
            Ok(())
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<KeyRecord>> {
        Box::pin(async move { Ok(self.lock().get(id).cloned()) })
    }

    fn list<'a>(&'a self, identity: Option<&'a str>) -> StoreFuture<'a, Vec<KeyRecord>> {
        Box::pin(async move {
            let mut out: Vec<KeyRecord> = self
                .lock()
                .values()
                .filter(|r| identity.is_none_or(|i| r.identity == i))
                .cloned()
                .collect();
            out.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
            Ok(out)
        })
    }

    fn revoke<'a>(&'a self, id: &'a str, now_ms: u64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            match self.lock().get_mut(id) {
                Some(record) if record.revoked_ms.is_none() => {
                    record.revoked_ms = Some(now_ms);
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }
}
