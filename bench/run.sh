#!/usr/bin/env bash
# Builds Warden, the demo server and the harness in release mode, installs the peers the
# harness runs (server-everything, mcp-proxy), and runs warden-bench with the given arguments:
#
#   bench/run.sh                                  # the full run (about six minutes), report on stdout
#   bench/run.sh --write docs/benchmarks.md       # ... and into docs/benchmarks.md
#   bench/run.sh --smoke                          # every measurement, tiny: proves they work (CI)
#   bench/run.sh --only stdio,http --rounds 5     # part of it
#
# Everything runs on this machine, over loopback and pipes. See docs/benchmarks.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/setup-peers.sh >&2
bench/peer/setup.sh >&2
cargo build --release -p warden -p warden-testkit -p warden-bench >&2
TARGET="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
exec "$TARGET/release/warden-bench" --bin-dir "$TARGET/release" --root "$ROOT" "$@"
