"""The gateway driven by the official TypeScript SDK client (`@modelcontextprotocol/sdk`, pinned in
package.json): `warden run` over stdio (the TS client spawns the gateway) and over HTTP, and
`warden serve` with an API key. The client is tests/e2e/ts/client.mjs: a JSON plan in, one JSON
line per step out."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import support as s

CLIENT_JS = s.E2E_DIR / "ts" / "client.mjs"
SDK_PACKAGE = s.E2E_DIR / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json"
POLICY = s.EXAMPLES / "executor-refresh.json"
REFRESH = {"connection_id": "conn-42"}
TIMEOUT_MS = int(s.CALL_TIMEOUT * 1000)
DEADLINE_MS = 60_000


@pytest.fixture(scope="module", autouse=True)
def ts_sdk():
    node = shutil.which("node")
    assert node, "node not found on PATH (needed for the TypeScript SDK client)"
    assert SDK_PACKAGE.is_file(), f"@modelcontextprotocol/sdk not installed at {SDK_PACKAGE}: run scripts/setup-peers.sh"
    pinned = json.loads((s.E2E_DIR / "package.json").read_text())["dependencies"]["@modelcontextprotocol/sdk"]
    installed = json.loads(SDK_PACKAGE.read_text())["version"]
    assert installed == pinned, f"installed SDK {installed} != pinned {pinned}: run scripts/setup-peers.sh"
    return node


def run_ts(e2e, plan: dict, name: str = "ts-client") -> tuple[dict, list[dict]]:
    """Run the TS client on plan; return its connect line and one line per step. Bounded: the
    script has its own deadline, and the process is killed (failing the test) 10 s after it."""
    plan = {"timeoutMs": TIMEOUT_MS, "deadlineMs": DEADLINE_MS, **plan}
    err_path = e2e.tmp / f"{name}.stderr"
    with open(err_path, "wb") as errf:
        proc = subprocess.Popen(
            [shutil.which("node"), str(CLIENT_JS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errf, env=e2e.env(), cwd=e2e.tmp,
        )
    e2e.procs.append(proc)
    try:
        out, _ = proc.communicate(json.dumps(plan).encode(), timeout=plan["deadlineMs"] / 1000 + 10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=s.EXIT_TIMEOUT)
        raise AssertionError(f"TS client did not finish\nstderr:\n{err_path.read_text(errors='replace')}") from None
    stderr = err_path.read_text(errors="replace")
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert lines, f"TS client printed nothing (exit {proc.returncode})\nstderr:\n{stderr}"
    connect, steps = lines[0], lines[1:]
    assert connect.get("op") == "connect", (lines, stderr)
    if connect["ok"]:
        assert proc.returncode == 0, (proc.returncode, lines, stderr)
        assert [st.get("step") for st in steps] == list(range(len(plan.get("steps", [])))), (lines, stderr)
    else:
        assert proc.returncode == 2, (proc.returncode, lines, stderr)
    return connect, steps


def call(name: str, arguments: dict, **extra) -> dict:
    return {"op": "callTool", "name": name, "arguments": arguments, **extra}


def ok(step: dict) -> dict:
    assert step["ok"], step
    return step


# -- targets ------------------------------------------------------------------------------------


def target(e2e, kind: str, log: Path) -> dict:
    """The transport part of a plan, for a gateway in front of the demo upstream logging to log."""
    upstream = s.demo_upstream_cmd(log)
    if kind == "run-stdio":
        # The TS client spawns the gateway itself, which spawns the demo upstream.
        argv = e2e.gateway_argv(POLICY, upstream)
        return {"transport": "stdio", "command": argv[0], "args": argv[1:], "env": {s.TAG_VAR: e2e.tag}}
    if kind == "run-http":
        return {"transport": "http", "url": e2e.http_gateway(POLICY, upstream).url}
    if kind == "serve":
        gw, key = serve_executor(e2e, log)
        return {"transport": "http", "url": gw.endpoint("executor"), "headers": {"Authorization": f"Bearer {key}"}}
    raise ValueError(kind)


def serve_executor(e2e, log: Path):
    doc = {
        "servers": {"executor": s.demo_server(log)},
        "policies": {"executor-refresh": {"file": str(POLICY)}},
        "identities": {"ci-agent": {"attributes": {"team": "platform"}}},
        "grants": [{"identity": "ci-agent", "server": "executor", "policy": "executor-refresh"}],
    }
    config, port = e2e.serve_config(doc)
    gw = e2e.serve(config, port)
    key = e2e.create_key("ci-agent")["key"]
    return gw, key


def logged_calls(kind: str, log: Path, tool: str | None = None) -> list[dict]:
    return (s.demo_calls_shared if kind == "serve" else s.demo_calls)(log, tool)


TARGETS = ["run-stdio", "run-http", "serve"]


# -- tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TARGETS)
def test_policy_enforced_for_the_ts_client(e2e, kind):
    """tools/list shows only connections.refresh; 10 refreshes pass, the 11th is rate limited;
    connections.delete is denied; the upstream sees exactly the 10 allowed calls."""
    log = e2e.log()
    steps = [{"op": "listTools"}] + [call("connections.refresh", REFRESH) for _ in range(11)]
    steps.append(call("connections.delete", {"connection_id": "conn-42"}))
    connect, results = run_ts(e2e, {**target(e2e, kind, log), "steps": steps}, name=f"ts-{kind}")

    assert connect["ok"], connect
    assert connect["serverVersion"]["name"] == "warden-demo", connect

    assert ok(results[0])["tools"] == ["connections.refresh"], results[0]

    for i, r in enumerate(results[1:11], start=1):
        ok(r)
        assert r["isError"] is False, r
        # The SDK validated structuredContent against the tool's outputSchema (from tools/list).
        assert r["structuredContent"] == {"connection_id": "conn-42", "run": i, "status": "queued"}, r
        assert (r["_meta"] or {}).get("warden/decision") is None, r

    limited = ok(results[11])
    assert limited["isError"] is True, limited
    assert limited["text"].startswith("Blocked by policy:"), limited
    decision = limited["_meta"]["warden/decision"]
    assert decision["decision"] == "rate_limited", decision
    assert decision["retry_after_ms"] > 0, decision

    denied = ok(results[12])
    assert denied["isError"] is True, denied
    assert denied["text"].startswith("Blocked by policy:"), denied
    assert denied["_meta"]["warden/decision"]["decision"] == "deny", denied

    calls = logged_calls(kind, log)
    assert [c["tool"] for c in calls] == ["connections.refresh"] * 10, calls


@pytest.mark.parametrize(
    "token",
    [None, "wdn_not-a-key", "wdn_0123456789ab_" + "A" * 43],
    ids=["no-key", "malformed-key", "unknown-key"],
)
def test_serve_refuses_the_ts_client_without_a_valid_key(e2e, token):
    log = e2e.log()
    gw, _key = serve_executor(e2e, log)
    plan = {
        "transport": "http",
        "url": gw.endpoint("executor"),
        "headers": {"Authorization": f"Bearer {token}"} if token else {},
        "steps": [{"op": "listTools"}],
    }
    connect, results = run_ts(e2e, plan)
    assert not connect["ok"], connect
    assert results == [], results
    err = connect["error"]
    # The SDK's StreamableHTTPError carries the HTTP status as its code.
    assert err.get("code") == 401, err
    assert s.demo_calls_shared(log) == [], "a refused client reached the upstream"


@pytest.mark.parametrize("kind", TARGETS)
def test_progress_reaches_the_ts_client(e2e, kind):
    """A slow call with a progress token: the upstream's notifications/progress come back through the
    gateway to the SDK's onprogress callback, in order, before the result."""
    log = e2e.log()
    steps = [call("connections.refresh", {**REFRESH, "sleep_ms": 500}, progress=True)]
    connect, results = run_ts(e2e, {**target(e2e, kind, log), "steps": steps}, name=f"ts-{kind}")
    assert connect["ok"], connect
    r = ok(results[0])
    assert r["isError"] is False, r
    assert r["structuredContent"]["run"] == 1, r
    # The demo sends progress every 100 ms up to 500, the last one just before the result. The TS
    # SDK handles notifications a microtask later than responses, so when the last notification
    # and the result arrive in one read the SDK drops that notification ("unknown token", with a
    # gateway or without): only the earlier ones are certain.
    seen = [p["progress"] for p in r["progress"]]
    assert len(seen) >= 2, r
    assert seen == sorted(seen) and len(set(seen)) == len(seen), seen
    assert all(p.get("total") == 500 and 0 < p["progress"] <= 500 for p in r["progress"]), r["progress"]
    assert len(logged_calls(kind, log, "connections.refresh")) == 1
