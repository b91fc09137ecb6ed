//! Warden's data path: transports, sessions, upstreams and the policy guard.
//!
//! ```text
//! client ─▶ downstream (stdio | Streamable HTTP) ─▶ Relay ─▶ Guard (policy + counters)
//!                                                     │
//!                                                     └──▶ upstream (child | HTTP) ─▶ server
//! ```
//! Architecture invariant: everything here is I/O around pure decisions. What is allowed is
//! decided in `warden-policy`; how bytes are read and edited in `warden-protocol`; counters
//! live behind `warden-store`'s trait. This crate only moves messages and calls those.
#![forbid(unsafe_code)]
// Refusals are returned as the HTTP response itself, built only on the refusal path; boxing
// them would cost an allocation for no gain.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod aggregate;
pub mod approvals;
pub mod audit;
pub mod audit_view;
pub mod clock;
pub mod definitions;
pub mod downstream;
pub mod guard;
pub mod lines;
pub mod relay;
pub mod team;
pub mod text;
pub mod upstream;
pub mod webhook;

pub use audit::{AuditLog, AuditSettings, Durability, OnFailure};
pub use clock::{Clock, SystemClock};
pub use guard::{Guard, Principal};
pub use relay::{Relay, RelayOptions};
pub use upstream::{Limits, UpstreamSpec};
