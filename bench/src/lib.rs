//! Warden's benchmark harness (`warden-bench`): the gateway against calling the
//! server directly and against a peer gateway, side by side in one run, on
//! loopback only, bounded in count and time. `bench/run.sh` builds and runs it;
//! docs/benchmarks.md holds its last full report.

#![forbid(unsafe_code)]

pub mod fixtures;
pub mod http;
pub mod peer;
pub mod procs;
pub mod report;
pub mod scenarios;
pub mod stats;
pub mod stdio;
pub mod wire;
