"""`warden scan`, end to end: it connects to a real server (the official server-everything, the
bundled demo server, a poisoned fixture), lists every tool, classifies each, and writes a
recommended policy that `warden check` accepts; that policy is then enforced by `warden run`
in front of the same server, driven by the official Python SDK client."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import anyio
import pytest

import support as s

FIXTURE = Path(__file__).parent / "fixtures" / "definitions_server.py"


def scan(e2e, *args: str, upstream: list[str]) -> subprocess.CompletedProcess:
    argv = [str(s.WARDEN), "scan", *args, "--", *upstream]
    done = subprocess.run(argv, capture_output=True, text=True, env=e2e.env(), timeout=60)
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return done


def check(path: Path) -> None:
    done = subprocess.run([str(s.WARDEN), "check", str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, (done.stdout, done.stderr)


def listed_names(upstream: list[str]) -> list[str]:
    """The tools the server lists, asked directly with the SDK."""
    async def ask() -> list[str]:
        from mcp import StdioServerParameters

        params = StdioServerParameters(command=upstream[0], args=upstream[1:])
        async with s.sdk_client(params, "legacy") as client:
            return [t.name for t in (await client.list_tools()).tools]

    return anyio.run(ask)


def test_scan_of_server_everything_classifies_every_tool_and_writes_a_valid_policy(e2e):
    upstream = ["node", str(s.EVERYTHING_JS)]
    out = e2e.tmp / "everything-policy.json"
    done = scan(e2e, "--format", "jsonl", "--policy-out", str(out), upstream=upstream)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    names = listed_names(upstream)
    assert [r["name"] for r in rows] == names, (rows, names)
    for r in rows:
        assert r["category"] in {"read", "write", "destructive", "execute", "send", "financial", "admin"}, r
        assert r["risk"] in {"low", "medium", "high", "critical"}, r
        assert r["evidence"] and r["rationale"], r
    assert "connecting to" in done.stderr and f"lists {len(names)} tool(s)" in done.stderr, done.stderr
    check(out)
    policy = json.loads(out.read_text())
    assert policy["default"] == "deny"
    assert set(policy["tools"]) == set(names)

    # Enforced in front of the same server: an allowed read passes; a call outside the derived
    # argument schema of a rate-limited tool is refused before it reaches the server.
    async def enforce() -> None:
        async with s.sdk_client(e2e.stdio_params(out, upstream), "legacy") as client:
            echo = await client.call_tool("echo", {"message": "hi"})
            assert echo.is_error is not True, echo
            constrained = [n for n, r in policy["tools"].items() if "arguments" in r]
            for name in constrained:
                bad = await client.call_tool(name, {"not_a_parameter": 1})
                assert bad.is_error is True, bad
                assert s.decision_of(bad)["rule"] == f"/tools/{name}/arguments", bad

    assert policy["tools"]["echo"].get("action", "allow") == "allow", policy["tools"]["echo"]
    anyio.run(enforce)


@pytest.mark.anyio
async def test_the_recommended_policy_for_the_demo_server_is_enforced(e2e):
    log = e2e.log()
    upstream = s.demo_upstream_cmd(log)
    out = e2e.tmp / "demo-policy.json"
    done = scan(e2e, "--policy-out", str(out), upstream=upstream)
    check(out)
    policy = json.loads(out.read_text())
    rules = policy["tools"]
    # The table names every tool with its recommendation.
    for name in rules:
        assert name in done.stdout, (name, done.stdout)
    reads = [n for n, r in rules.items() if r.get("action", "allow") == "allow" and "limits" not in r]
    held = [n for n, r in rules.items() if r.get("action") == "approve"]
    schema = [n for n, r in rules.items() if "arguments" in r]
    assert "connections.list" in reads and held and schema, rules

    async with s.sdk_client(e2e.stdio_params(out, upstream), "legacy") as client:
        ok = await client.call_tool("connections.list", {})
        assert ok.is_error is not True, ok
        # Arguments outside the tool's own schema are refused by the derived constraint.
        bad = await client.call_tool(schema[0], {"unexpected": True})
        assert bad.is_error is True and s.decision_of(bad)["rule"] == f"/tools/{schema[0]}/arguments", bad
        # A tool behind approval is held until an operator approves it from another process.
        tool = held[0]

        async def approve_when_pending() -> None:
            for _ in range(200):
                listing = subprocess.run(
                    [str(s.WARDEN), "approvals", "list", "--format", "json", "--state-dir", str(e2e.state_dir)],
                    capture_output=True, text=True, env=e2e.env(), timeout=30,
                )
                pending = json.loads(listing.stdout or "[]")
                if pending:
                    subprocess.run(
                        [str(s.WARDEN), "approvals", "approve", pending[0]["id"], "--state-dir", str(e2e.state_dir)],
                        check=True, capture_output=True, env=e2e.env(), timeout=30,
                    )
                    return
                await anyio.sleep(0.1)
            raise AssertionError("no pending approval appeared")

        async with anyio.create_task_group() as tg:
            tg.start_soon(approve_when_pending)
            held_result = await client.call_tool(tool, {"connection_id": "conn-7"})
        assert held_result.is_error is not True, held_result
    reached = [c["tool"] for c in s.demo_calls(log)]
    assert reached.count("connections.list") == 1 and reached.count(tool) == 1, reached
    assert schema[0] not in reached, reached


def test_markdown_catalogue_has_a_section_per_tool(e2e):
    upstream = s.demo_upstream_cmd(e2e.log())
    done = scan(e2e, "--format", "markdown", upstream=upstream)
    for name in ["connections.list", "connections.refresh", "connections.delete"]:
        assert f"## `{name}`" in done.stdout or f"## {name}" in done.stdout, done.stdout[:2000]
    assert "Recommended rule" in done.stdout or "recommended" in done.stdout.lower(), done.stdout[:2000]


@pytest.mark.parametrize("mode", ["poison", "poison-zw"])
def test_a_poisoned_tool_is_hidden_in_the_recommended_policy(e2e, mode):
    out = e2e.tmp / f"{mode}-policy.json"
    upstream = [s.PYTHON, str(FIXTURE), mode, str(e2e.log())]
    done = scan(e2e, "--format", "jsonl", "--policy-out", str(out), upstream=upstream)
    rows = {r["name"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert rows["add"]["hidden"] is True and rows["add"]["findings"], rows["add"]
    assert rows["multiply"]["hidden"] is False, rows["multiply"]
    check(out)
    policy = json.loads(out.read_text())
    assert "add" in policy.get("hide", []), policy
