//! Tool risk intelligence, pure: what a tool does and how dangerous it is, judged from its
//! definition alone (name, description, input schema, annotations), the policy Warden
//! recommends for it, and what in a definition looks like an attack (poisoning, shadowing).
//!
//! Architecture invariant: no I/O, no clock, no model, no network. The same definition always
//! gets the same assessment, so a scan can be reproduced and reviewed.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod classify;
mod definition;
mod lexicon;
pub mod lint;
pub mod recommend;
mod words;

pub use catalog::markdown;
pub use classify::{Assessment, Category, Risk, classify};
pub use lint::{Finding, FindingKind, lint_servers, lint_tool};
pub use recommend::recommend;
