#!/usr/bin/env bash
# Regenerates docs/conformance.md: the official MCP conformance suite's server scenarios against
# Warden's conformance fixture, direct and through `warden run` (HTTP and stdio upstreams).
# Needs `cargo build` and scripts/setup-peers.sh first. Options: see conformance_runner.py --help.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
exec "$PY" tests/conformance/conformance_runner.py "$@"
