//! Warden's state, behind small traits with an in-memory twin.
//!
//! Today: counters for policy limits ([`CounterStore`]), API key records
//! ([`KeyStore`]), the tamper-evident audit log ([`AuditStore`], with
//! [`audit::verify()`] to check one), approvals, the calls held for a
//! human's answer and the answers that let them through
//! ([`ApprovalStore`]), and definition pins, the approved definition of
//! every tool relayed so a changed or new one waits for approval
//! ([`PinStore`], rug-pull protection), implemented in memory
//! ([`MemoryCounters`], [`MemoryKeys`], [`MemoryAudit`], [`MemoryApprovals`],
//! [`MemoryPins`]) and in SQLite ([`SqliteState`], the default: one file,
//! `<state_dir>/warden.db`, shared safely by several processes; the audit
//! writer opens it with [`SqliteState::open_audit`] so its commits survive a
//! power cut). PostgreSQL ([`PgState`]) holds the same state for gateway
//! replicas. The Redis backend joins in the same shape: a trait and its
//! semantics in a module of their own, an in-memory twin beside it, and
//! implementations under [`sqlite`] and [`postgres`] adding their tables
//! through a new migration (one version number for both).
//!
//! Architecture invariant: this crate never reads the clock. Every operation
//! that depends on time takes `now_ms` (milliseconds since the Unix epoch)
//! from the caller, so tests control time and replicas agree on it.
//!
//! Architecture invariant: errors are data. Every failure is a
//! [`StoreError`] naming the file or the input at fault and the fix; what a
//! failure means for a call (deny, fail open) is decided by the gateway.
#![forbid(unsafe_code)]

pub mod approvals;
pub mod audit;
pub mod counters;
mod error;
pub mod keys;
pub mod pins;
pub mod postgres;
pub mod sqlite;

use std::future::Future;

pub use approvals::{
    Approval, ApprovalRequest, ApprovalStatus, ApprovalStore, ClaimKey, Decided, Decision,
    MemoryApprovals,
};
pub use audit::{
    Anchor, AuditEntry, AuditQuery, AuditRecord, AuditStore, Checkpoint, MemoryAudit, Pruned,
    Retention, Tamper, TamperKind, Verifier, VerifyReport,
};
pub use counters::{CounterStore, LimitCheck, MemoryCounters, Reservation, ReserveOutcome};
pub use error::StoreError;
pub use keys::{KeyRecord, KeyStatus, KeyStore, MemoryKeys};
pub use pins::{MemoryPins, ObservedTool, Pin, PinChange, PinChangeKind, PinStatus, PinStore};
pub use postgres::PgState;
pub use sqlite::SqliteState;

/// The future returned by the store traits' methods: boxed and `Send`, so the
/// traits stay usable as `dyn` objects shared across tasks.
pub type StoreFuture<'a, T> =
    std::pin::Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// 32 bytes from the operating system's random number generator.
pub(crate) fn random_salt() -> Result<[u8; 32], StoreError> {
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).map_err(|e| StoreError::Random {
        message: e.to_string(),
    })?;
    Ok(salt)
}
