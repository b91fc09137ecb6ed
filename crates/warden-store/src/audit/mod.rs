//! The audit log: one record per decision, chained by hashes.
//!
//! # What is stored
//!
//! An [`AuditEntry`] is what the gateway records: a `tools/call` decision
//! (event `call`) or a policy-relevant event (`policy_loaded`,
//! `policy_rejected`, `tools_changed`, `key_created`, `key_revoked`,
//! `retention`, …). The store assigns it a sequence number and chains it:
//! the stored [`AuditRecord`] carries the hash of the record before it and
//! its own hash, `hash = SHA-256(prev_hash ‖ canonical(entry))` (see
//! [`entry_hash`]). Argument values are never put here by the store; what
//! the gateway puts in [`AuditEntry::arguments`] is already reduced to what
//! the policy allows (keys only by default).
//!
//! # Semantics every backend keeps
//!
//! - [`AuditStore::append`] stores a batch in order, in one transaction,
//!   reading the current head *inside* that transaction, so several writers
//!   (two processes on one SQLite file, replicas on one PostgreSQL database)
//!   still build one linear chain. Sequence numbers start at 1 and are
//!   consecutive. When it returns `Ok`, the records are committed (as
//!   durable as the backend's commit; the SQLite audit connection commits
//!   with `synchronous = FULL`).
//! - [`AuditStore::query`] filters and pages; it never changes anything.
//! - [`AuditStore::prune`] applies a [`Retention`]: it deletes the oldest
//!   records, moves the [`Anchor`] (where verification starts) to the first
//!   record kept, drops checkpoints before it, and appends a `retention`
//!   event saying what went, all in one transaction.
//! - Checkpoints ([`Checkpoint`]) are stored as given; signing them is the
//!   gateway's business, checking them [`verify()`]'s.
//!
//! Architecture invariant: like the rest of this crate, nothing here reads
//! the clock: times come from the caller.

mod chain;
mod memory;
pub mod verify;

use std::fmt;

#[allow(unused_imports)] // used by the backends and verify as they land
pub(crate) use chain::parse_hex;
pub use chain::{GENESIS, HASH_LEN, Hash, checkpoint_message, entry_hash, hex};
pub use memory::MemoryAudit;
pub use verify::{Tamper, TamperKind, Verifier, VerifyReport, verify};

use crate::StoreFuture;

/// Event name of a `tools/call` decision.
pub const EVENT_CALL: &str = "call";

/// Event name of the record [`AuditStore::prune`] appends. Its `detail` is a
/// JSON object: `deleted` (records removed), `through_seq` (the last one
/// removed), `max_age_ms` and `max_records` (the [`Retention`] applied).
pub const EVENT_RETENTION: &str = "retention";

/// The `retention` event a prune at `now_ms` appends after deleting `deleted`
/// records, the last of them `through_seq`. One builder, so every backend
/// writes the same detail and [`verify()`] reads it back.
pub(crate) fn retention_entry(
    deleted: u64,
    through_seq: u64,
    retention: &Retention,
    now_ms: u64,
) -> AuditEntry {
    let detail = serde_json::json!({
        "deleted": deleted, "through_seq": through_seq,
        "max_age_ms": retention.max_age_ms, "max_records": retention.max_records,
    });
    AuditEntry::event(now_ms, EVENT_RETENTION, &detail)
}

/// What the gateway records. Every field but `time_ms` and `event` may be
/// absent: events other than `call` fill what applies and put the rest in
/// `detail`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// When it was decided, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// `call`, or the name of a policy-relevant event.
    pub event: String,
    /// The identity that made the call (or did the thing).
    pub identity: Option<String>,
    /// The grant the call was decided under.
    pub grant: Option<String>,
    /// The server (upstream) name.
    pub server: Option<String>,
    /// The gateway's session key for the client conversation.
    pub session: Option<String>,
    /// The client's JSON-RPC request id, as the JSON text it sent (`7`, `"a"`).
    pub request_id: Option<String>,
    /// The JSON-RPC method (`tools/call`).
    pub method: Option<String>,
    /// The tool called.
    pub tool: Option<String>,
    /// `allow`, `deny`, `hidden`, `unknown`, `rate_limited`,
    /// `approval_required`, … (see docs/audit.md).
    pub decision: Option<String>,
    /// JSON Pointer into the policy of the rule that decided.
    pub rule: Option<String>,
    /// The reason shown to the agent (denials).
    pub reason: Option<String>,
    /// The top-level argument names, sorted. Empty when there are none.
    pub argument_keys: Vec<String>,
    /// Argument values as the policy's audit mode allows (JSON text): `None`
    /// in the default mode (keys only).
    pub arguments: Option<String>,
    /// How the upstream's part ended: `ok`, `error`, `is_error`,
    /// `no_answer`, `cancelled`; `None` when nothing was forwarded.
    pub outcome: Option<String>,
    /// Size in bytes of the upstream's answer.
    pub result_bytes: Option<u64>,
    /// From the client's request to the answer sent back, in microseconds.
    pub latency_us: Option<u64>,
    /// Event details (JSON text), e.g. the policy file and its digest.
    pub detail: Option<String>,
}

impl AuditEntry {
    /// A record of an event (not a call) at `time_ms`, with its details as JSON text; the
    /// caller fills `identity`, `server`, … where they apply.
    pub fn event(time_ms: u64, event: &str, detail: &serde_json::Value) -> Self {
        AuditEntry {
            time_ms,
            event: event.to_owned(),
            detail: Some(detail.to_string()),
            ..AuditEntry::default()
        }
    }
}

/// A stored entry with its place in the chain.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    /// Position in the log, from 1, consecutive.
    pub seq: u64,
    /// The hash of the record before (the anchor's for the first one).
    #[serde(with = "chain::hex_serde")]
    pub prev_hash: Hash,
    /// `entry_hash(prev_hash, entry)` when written.
    #[serde(with = "chain::hex_serde")]
    pub hash: Hash,
    /// What was recorded.
    #[serde(flatten)]
    pub entry: AuditEntry,
}

impl fmt::Debug for AuditRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditRecord")
            .field("seq", &self.seq)
            .field("hash", &hex(&self.hash))
            .field("entry", &self.entry)
            .finish_non_exhaustive()
    }
}

/// Where the chain starts: record `first_seq` links to `prev_hash`. Before
/// any pruning this is `{first_seq: 1, prev_hash: GENESIS}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// The first record kept.
    pub first_seq: u64,
    /// The hash that record links to.
    pub prev_hash: Hash,
}

impl Default for Anchor {
    fn default() -> Self {
        Anchor {
            first_seq: 1,
            prev_hash: GENESIS,
        }
    }
}

/// A signed statement "record `seq` has hash `hash`", made by the gateway
/// every so many records with the operator's Ed25519 key, so that a
/// verifier holding only the public key can tell a rewritten chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The record signed.
    pub seq: u64,
    /// Its hash.
    pub hash: Hash,
    /// When the checkpoint was made (ms since the Unix epoch).
    pub time_ms: u64,
    /// The Ed25519 public key that signed it.
    pub public_key: [u8; 32],
    /// Ed25519 signature of [`checkpoint_message`]`(seq, hash, time_ms)`.
    pub signature: [u8; 64],
}

/// Filters for [`AuditStore::query`]. Every filter set must match; times are
/// inclusive (`since_ms <= time_ms <= until_ms`), sequence bounds exclusive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Records at or after this time.
    pub since_ms: Option<u64>,
    /// Records at or before this time.
    pub until_ms: Option<u64>,
    /// Exact identity.
    pub identity: Option<String>,
    /// Exact server.
    pub server: Option<String>,
    /// Exact tool.
    pub tool: Option<String>,
    /// Exact decision.
    pub decision: Option<String>,
    /// Exact event.
    pub event: Option<String>,
    /// Records with `seq > after_seq` (paging forward, following).
    pub after_seq: Option<u64>,
    /// Records with `seq < before_seq` (paging backward).
    pub before_seq: Option<u64>,
    /// At most this many; `0` means no limit.
    pub limit: usize,
    /// Highest `seq` first (for "the last N"); lowest first otherwise.
    pub newest_first: bool,
}

/// How much history to keep. `None` fields do not limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Delete records older than this (ms) relative to `now_ms`.
    pub max_age_ms: Option<u64>,
    /// Keep at most this many records (the newest).
    pub max_records: Option<u64>,
}

/// What [`AuditStore::prune`] removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pruned {
    /// How many records were deleted.
    pub records: u64,
    /// The new anchor.
    pub anchor: Anchor,
    /// The sequence number of the `retention` event appended.
    pub event_seq: u64,
}

/// The audit log's storage. Implemented by [`MemoryAudit`] (tests), the
/// SQLite state (default) and the PostgreSQL state; all pass one suite.
///
/// Boxed futures, like the other store traits, so it is usable as
/// `Arc<dyn AuditStore>`.
pub trait AuditStore: Send + Sync + fmt::Debug {
    /// Appends `entries` in order as one transaction, chained to the head
    /// read inside it; returns the sequence numbers given, in order. An
    /// empty slice changes nothing and returns an empty vector.
    fn append<'a>(&'a self, entries: &'a [AuditEntry]) -> StoreFuture<'a, Vec<u64>>;

    /// Records matching `query`, ordered by `seq` as it asks.
    fn query<'a>(&'a self, query: &'a AuditQuery) -> StoreFuture<'a, Vec<AuditRecord>>;

    /// The last record's `(seq, hash)`, `None` while the log is empty.
    fn head(&self) -> StoreFuture<'_, Option<(u64, Hash)>>;

    /// Where verification starts.
    fn anchor(&self) -> StoreFuture<'_, Anchor>;

    /// Stores a checkpoint (replacing one for the same `seq`).
    fn add_checkpoint<'a>(&'a self, checkpoint: &'a Checkpoint) -> StoreFuture<'a, ()>;

    /// Every checkpoint, by `seq`.
    fn checkpoints(&self) -> StoreFuture<'_, Vec<Checkpoint>>;

    /// Applies `retention` at `now_ms` (see the module docs). `None` when
    /// nothing had to go (and nothing was appended).
    fn prune<'a>(
        &'a self,
        retention: &'a Retention,
        now_ms: u64,
    ) -> StoreFuture<'a, Option<Pruned>>;

    /// This installation's secret salt for hashed argument values: 32 random
    /// bytes made on first use and kept in the store, so hashes of the same
    /// value match across restarts and replicas but cannot be looked up in a
    /// precomputed table.
    fn salt(&self) -> StoreFuture<'_, [u8; 32]>;
}
