#!/usr/bin/env bash
# Installs the peer MCP gateway the side-by-side benchmark compares Warden with:
#   bench/peer/.venv/   Python 3.12 with mcp-proxy (bench/peer/requirements.txt, pinned),
#                       whose `mcp-proxy` command exposes a stdio MCP server over Streamable HTTP.
# Idempotent: a stamp (hash of the pin file) makes a second run a fast no-op.
# Needs only the package registries. Override the interpreter with PYTHON=/path/to/python3.12.
set -euo pipefail

PEER="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$PEER/.venv"
REQS="$PEER/requirements.txt"

die() { echo "bench-peer: $*" >&2; exit 1; }
say() { echo "bench-peer: $*"; }

. "$PEER/../../scripts/python312.sh"

stamp="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [ -f "$VENV/.warden-peer" ] && [ "$(cat "$VENV/.warden-peer")" = "$stamp" ] \
    && is_py312 "$VENV/bin/python" && [ -x "$VENV/bin/mcp-proxy" ]; then
    say "mcp-proxy up to date ($VENV)"
    exit 0
fi
make_venv "$VENV" "$REQS"
[ -x "$VENV/bin/mcp-proxy" ] || die "mcp-proxy was not installed into $VENV"
echo "$stamp" > "$VENV/.warden-peer"
say "$("$VENV/bin/mcp-proxy" --version 2>&1 | tail -n1) installed"
