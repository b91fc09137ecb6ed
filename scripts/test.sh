#!/usr/bin/env bash
# The whole test suite: the Rust tests of every crate, then the end-to-end tests that start the
# real `warden` binary and drive it with the official MCP SDKs and servers.
#
# The first run installs the pinned test peers (Python packages in .venv/, npm packages in
# tests/e2e/node_modules/) with scripts/setup-peers.sh; later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-peers.sh
cargo build --workspace --all-targets
cargo test --workspace
# The benchmark harness, tiny and on the debug build: proves every measurement still runs and
# every answer is right (its figures mean nothing here; docs/benchmarks.md has the real run).
bench/peer/setup.sh
target/debug/warden-bench --smoke --bin-dir target/debug --root "$PWD" > /dev/null
WARDEN_BIN="$PWD/target/debug/warden" .venv/bin/python -m pytest tests/e2e -q "$@"
# The official MCP conformance suite, against the fixture directly and through Warden.
.venv/bin/python -m pytest tests/conformance -q
