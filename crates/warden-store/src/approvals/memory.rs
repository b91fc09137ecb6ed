//! The in-memory twin of the approval store.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{
    Approval, ApprovalRequest, ApprovalStatus, ApprovalStore, ClaimKey, Decided, Decision,
};
use crate::{StoreError, StoreFuture};

/// Approvals kept in process memory.
///
/// For tests and throwaway gateways: lost on drop, not shared between instances.
/// Default: empty.
#[derive(Default)]
pub struct MemoryApprovals {
    /// By id.
    records: Mutex<BTreeMap<String, Approval>>,
}

impl fmt::Debug for MemoryApprovals {
    /// Does not take the lock, and prints no records.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryApprovals").finish_non_exhaustive()
    }
}

impl MemoryApprovals {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Approval>> {
        // Every operation checks, then changes one record in one step under the lock, so a
        // panic elsewhere cannot leave a record half-updated.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn oldest_first(out: &mut [Approval]) {
    out.sort_by(|a, b| {
        (a.request.created_ms, &a.request.id).cmp(&(b.request.created_ms, &b.request.id))
    });
}

impl ApprovalStore for MemoryApprovals {
    fn create<'a>(&'a self, request: &'a ApprovalRequest) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut records = self.lock();
            if records.contains_key(&request.id) {
                return Err(StoreError::ApprovalExists {
                    id: request.id.clone(),
                });
            }
            records.insert(request.id.clone(), Approval::pending(request.clone()));
            Ok(())
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Approval>> {
        Box::pin(async move { Ok(self.lock().get(id).cloned()) })
    }

    fn list(&self, status: Option<ApprovalStatus>, limit: usize) -> StoreFuture<'_, Vec<Approval>> {
        Box::pin(async move {
            let mut out: Vec<Approval> = self
                .lock()
                .values()
                .filter(|a| status.is_none_or(|s| a.status == s))
                .cloned()
                .collect();
            oldest_first(&mut out);
            out.truncate(limit);
            Ok(out)
        })
    }

    fn decide<'a>(&'a self, id: &'a str, decision: &'a Decision) -> StoreFuture<'a, Decided> {
        Box::pin(async move {
            let mut records = self.lock();
            let Some(a) = records.get_mut(id) else {
                return Ok(Decided::NotFound);
            };
            if a.status != ApprovalStatus::Pending {
                return Ok(Decided::AlreadyDecided(a.clone()));
            }
            if decision.now_ms >= a.request.expires_ms {
                return Ok(Decided::PastDeadline(a.clone()));
            }
            a.decided_by = Some(decision.by.clone());
            a.decided_ms = Some(decision.now_ms);
            a.comment = decision.comment.clone();
            if decision.approve {
                a.status = ApprovalStatus::Approved;
                a.valid_until_ms = Some(decision.valid_until_ms);
                a.single_use = decision.single_use;
            } else {
                a.status = ApprovalStatus::Denied;
            }
            Ok(Decided::Done(a.clone()))
        })
    }

    fn expire(&self, now_ms: u64) -> StoreFuture<'_, Vec<Approval>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for a in self.lock().values_mut() {
                if a.status == ApprovalStatus::Pending && a.request.expires_ms <= now_ms {
                    a.status = ApprovalStatus::Expired;
                    a.decided_ms = Some(now_ms);
                    out.push(a.clone());
                }
            }
            oldest_first(&mut out);
            Ok(out)
        })
    }

    fn claim<'a>(
        &'a self,
        key: ClaimKey<'a>,
        id: Option<&'a str>,
        now_ms: u64,
    ) -> StoreFuture<'a, Option<Approval>> {
        Box::pin(async move {
            let mut records = self.lock();
            let found = records
                .values()
                .filter(|a| {
                    id.is_none_or(|id| a.request.id == id)
                        && a.request.grant == key.grant
                        && a.request.tool == key.tool
                        && a.request.digest == key.digest
                        && a.claimable_at(now_ms)
                })
                .min_by(|a, b| {
                    (a.request.created_ms, &a.request.id)
                        .cmp(&(b.request.created_ms, &b.request.id))
                })
                .map(|a| a.request.id.clone());
            let Some(found) = found else {
                return Ok(None);
            };
            let Some(a) = records.get_mut(&found) else {
                return Ok(None);
            };
            // As the databases do: the count stops at u32::MAX.
            a.uses = a.uses.saturating_add(1);
            a.last_used_ms = Some(now_ms);
            Ok(Some(a.clone()))
        })
    }
}
