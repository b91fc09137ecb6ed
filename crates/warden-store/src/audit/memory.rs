//! The in-memory audit log, for tests and for the gateway's own unit tests.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use super::{
    Anchor, AuditEntry, AuditQuery, AuditRecord, AuditStore, Checkpoint, GENESIS, Hash, Pruned,
    Retention, entry_hash, retention_entry,
};
use crate::StoreFuture;

/// An audit log held in memory; lost when dropped.
#[derive(Debug, Default)]
pub struct MemoryAudit {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    records: Vec<AuditRecord>,
    anchor: Anchor,
    checkpoints: BTreeMap<u64, Checkpoint>,
    salt: Option<[u8; 32]>,
}

impl State {
    fn head(&self) -> (u64, Hash) {
        match self.records.last() {
            Some(r) => (r.seq, r.hash),
            None => (self.anchor.first_seq - 1, self.anchor.prev_hash),
        }
    }

    fn push(&mut self, entry: AuditEntry) -> u64 {
        let (seq, prev) = self.head();
        let hash = entry_hash(&prev, &entry);
        self.records.push(AuditRecord {
            seq: seq + 1,
            prev_hash: prev,
            hash,
            entry,
        });
        seq + 1
    }
}

impl MemoryAudit {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether `r` passes the filters of `q` (not the paging).
pub(crate) fn matches(q: &AuditQuery, r: &AuditRecord) -> bool {
    let e = &r.entry;
    let eq = |want: &Option<String>, have: &Option<String>| {
        want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
    };
    q.since_ms.is_none_or(|t| e.time_ms >= t)
        && q.until_ms.is_none_or(|t| e.time_ms <= t)
        && q.after_seq.is_none_or(|s| r.seq > s)
        && q.before_seq.is_none_or(|s| r.seq < s)
        && eq(&q.identity, &e.identity)
        && eq(&q.server, &e.server)
        && eq(&q.tool, &e.tool)
        && eq(&q.decision, &e.decision)
        && q.event.as_ref().is_none_or(|w| &e.event == w)
}

impl AuditStore for MemoryAudit {
    fn append<'a>(&'a self, entries: &'a [AuditEntry]) -> StoreFuture<'a, Vec<u64>> {
        Box::pin(async move {
            let mut st = self.state();
            Ok(entries.iter().map(|e| st.push(e.clone())).collect())
        })
    }

    fn query<'a>(&'a self, query: &'a AuditQuery) -> StoreFuture<'a, Vec<AuditRecord>> {
        Box::pin(async move {
            let st = self.state();
            let limit = if query.limit == 0 {
                usize::MAX
            } else {
                query.limit
            };
            let hits = st.records.iter().filter(|r| matches(query, r)).cloned();
            Ok(if query.newest_first {
                let mut v: Vec<_> = hits.collect();
                v.reverse();
                v.truncate(limit);
                v
            } else {
                hits.take(limit).collect()
            })
        })
    }

    fn head(&self) -> StoreFuture<'_, Option<(u64, Hash)>> {
        Box::pin(async move { Ok(self.state().records.last().map(|r| (r.seq, r.hash))) })
    }

    fn anchor(&self) -> StoreFuture<'_, Anchor> {
        Box::pin(async move { Ok(self.state().anchor) })
    }

    fn add_checkpoint<'a>(&'a self, checkpoint: &'a Checkpoint) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.state()
                .checkpoints
                .insert(checkpoint.seq, checkpoint.clone());
            Ok(())
        })
    }

    fn checkpoints(&self) -> StoreFuture<'_, Vec<Checkpoint>> {
        Box::pin(async move { Ok(self.state().checkpoints.values().cloned().collect()) })
    }

    fn prune<'a>(
        &'a self,
        retention: &'a Retention,
        now_ms: u64,
    ) -> StoreFuture<'a, Option<Pruned>> {
        Box::pin(async move {
            let mut st = self.state();
            let total = st.records.len() as u64;
            let by_age = retention.max_age_ms.map_or(0, |age| {
                let cutoff = now_ms.saturating_sub(age);
                st.records
                    .iter()
                    .take_while(|r| r.entry.time_ms < cutoff)
                    .count() as u64
            });
            let by_count = retention
                .max_records
                .map_or(0, |max| total.saturating_sub(max));
            let drop = by_age.max(by_count);
            if drop == 0 {
                return Ok(None);
            }
            let gone: Vec<AuditRecord> = st.records.drain(..drop as usize).collect();
            let last_gone = gone.last().map_or(0, |r| r.seq);
            st.anchor = match st.records.first() {
                Some(r) => Anchor {
                    first_seq: r.seq,
                    prev_hash: r.prev_hash,
                },
                None => Anchor {
                    first_seq: last_gone + 1,
                    prev_hash: gone.last().map_or(GENESIS, |r| r.hash),
                },
            };
            let first = st.anchor.first_seq;
            st.checkpoints.retain(|seq, _| *seq >= first);
            let event_seq = st.push(retention_entry(drop, last_gone, retention, now_ms));
            Ok(Some(Pruned {
                records: drop,
                anchor: st.anchor,
                event_seq,
            }))
        })
    }

    fn salt(&self) -> StoreFuture<'_, [u8; 32]> {
        Box::pin(async move {
            let mut st = self.state();
            if let Some(s) = st.salt {
                return Ok(s);
            }
            let salt = crate::random_salt()?;
            st.salt = Some(salt);
            Ok(salt)
        })
    }
}
