#!/usr/bin/env bash
# Installs the pinned MCP peers the end-to-end tests drive Warden with:
#   .venv/                 Python 3.12 with the official `mcp` SDK, pytest and friends
#                          (tests/e2e/requirements.txt, every package pinned)
#   tests/e2e/node_modules @modelcontextprotocol/server-everything
#                          (tests/e2e/package.json + package-lock.json)
#   tests/conformance/node_modules
#                          @modelcontextprotocol/conformance and the Node.js 22 it runs on
#                          (npm package `node`; tests/conformance/package.json + package-lock.json)
# Idempotent: a stamp (hash of the pin files) makes a second run a fast no-op.
# Needs only the package registries. Override the interpreter with PYTHON=/path/to/python3.12.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E="$ROOT/tests/e2e"
VENV="$ROOT/.venv"
REQS="$E2E/requirements.txt"

die() { echo "setup-peers: $*" >&2; exit 1; }
say() { echo "setup-peers: $*"; }

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

. "$ROOT/scripts/python312.sh"

# ---- Python -----------------------------------------------------------------
py_stamp="$(hash_of "$REQS")"
if [ -f "$VENV/.warden-peers" ] && [ "$(cat "$VENV/.warden-peers")" = "$py_stamp" ] && is_py312 "$VENV/bin/python"; then
    say "python peers up to date ($VENV)"
else
    make_venv "$VENV" "$REQS"
    echo "$py_stamp" > "$VENV/.warden-peers"
    say "python peers installed"
fi

# ---- Node ---------------------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node not found (Node.js >= 20 is needed for server-everything)"
command -v npm >/dev/null 2>&1 || die "npm not found"
node -e 'process.exit(parseInt(process.versions.node) >= 20 ? 0 : 1)' \
    || die "Node.js >= 20 is needed, found $(node --version)"
node_stamp="$(hash_of "$E2E/package.json" "$E2E/package-lock.json")"
if [ -f "$E2E/node_modules/.warden-peers" ] && [ "$(cat "$E2E/node_modules/.warden-peers")" = "$node_stamp" ] \
    && [ -f "$E2E/node_modules/@modelcontextprotocol/server-everything/dist/index.js" ]; then
    say "node peers up to date ($E2E/node_modules)"
else
    say "installing node peers into $E2E/node_modules"
    (cd "$E2E" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$node_stamp" > "$E2E/node_modules/.warden-peers"
    say "node peers installed"
fi

# ---- Conformance suite (its own Node.js 22, from the npm package `node`) -----------------------
CONF="$ROOT/tests/conformance"
conf_stamp="$(hash_of "$CONF/package.json" "$CONF/package-lock.json")"
if [ -f "$CONF/node_modules/.warden-peers" ] && [ "$(cat "$CONF/node_modules/.warden-peers")" = "$conf_stamp" ] \
    && [ -x "$CONF/node_modules/.bin/node" ] \
    && [ -f "$CONF/node_modules/@modelcontextprotocol/conformance/dist/index.js" ] \
    && [ -f "$CONF/node_modules/conformance-next/dist/index.js" ]; then
    say "conformance suite up to date ($CONF/node_modules)"
else
    say "installing the conformance suite into $CONF/node_modules"
    (cd "$CONF" && npm ci --no-audit --no-fund --loglevel=error)
    "$CONF/node_modules/.bin/node" -e 'process.exit(parseInt(process.versions.node) >= 22 ? 0 : 1)' \
        || die "the conformance suite's Node.js is not 22 or newer: $("$CONF/node_modules/.bin/node" --version)"
    echo "$conf_stamp" > "$CONF/node_modules/.warden-peers"
    say "conformance suite installed"
fi
