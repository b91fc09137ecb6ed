"""The official TypeScript reference server (@modelcontextprotocol/server-everything) as upstream.

It speaks only the legacy era and keeps no call log of its own, so it runs under tee_logger.py,
which records every line the gateway sends it.
"""

from __future__ import annotations

import anyio
import pytest
from mcp import StdioServerParameters

import support as s

POLICY = {
    "version": "1",
    "default": "deny",
    "tools": {
        "echo": {},
        "trigger-long-running-operation": {},
        "get-env": {"action": "deny", "reason": "environment variables may hold secrets"},
    },
}


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", s.MODERN, "auto"])
async def test_allowed_echo_works_and_denied_tools_never_reach_it(e2e, mode):
    log = e2e.log("everything")
    params = e2e.stdio_params(e2e.policy(POLICY), s.everything_cmd(log))
    async with s.sdk_client(params, mode) as client:
        if mode == s.MODERN:
            assert client.protocol_version == s.MODERN
        names = [t.name for t in (await client.list_tools()).tools]
        assert set(names) == {"echo", "trigger-long-running-operation", "get-env"}, names

        r = await client.call_tool("echo", {"message": "through warden"})
        assert r.is_error is not True, r
        assert s.first_text(r) == "Echo: through warden"

        denied = await client.call_tool("get-env", {})
        assert denied.is_error is True
        assert s.first_text(denied).startswith("Blocked by policy:")
        assert "secrets" in s.first_text(denied)
        assert s.decision_of(denied)["decision"] == "deny"

        default_denied = await client.call_tool("get-sum", {"a": 1, "b": 2})
        assert default_denied.is_error is True
        assert s.decision_of(default_denied)["rule"] == "/default"

    echo_calls = s.wire_tool_calls(log, "echo")
    assert [c["params"]["arguments"] for c in echo_calls] == [{"message": "through warden"}]
    assert s.wire_tool_calls(log, "get-env") == [], "a denied call reached server-everything"
    assert s.wire_tool_calls(log, "get-sum") == [], "a default-denied call reached server-everything"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", s.MODERN])
async def test_progress_notifications_pass_through(e2e, mode):
    log = e2e.log("everything")
    params = e2e.stdio_params(e2e.policy(POLICY), s.everything_cmd(log))
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with s.sdk_client(params, mode) as client:
        with anyio.fail_after(s.CALL_TIMEOUT):
            r = await client.call_tool(
                "trigger-long-running-operation", {"duration": 0.5, "steps": 4}, progress_callback=on_progress
            )
    assert r.is_error is not True, r
    assert "Long running operation completed" in s.first_text(r)
    assert [p for p, _, _ in seen] == [1, 2, 3, 4], seen
    assert all(total == 4 for _, total, _ in seen), seen
    calls = s.wire_tool_calls(log, "trigger-long-running-operation")
    assert len(calls) == 1
    # The client's progress token reached the server (possibly rewritten, but present).
    assert "progressToken" in (calls[0]["params"].get("_meta") or {}), calls[0]


@pytest.mark.anyio
async def test_modern_client_fails_direct_but_works_through_the_gateway(e2e):
    """server-everything is legacy-only; the gateway bridges a pinned 2026-07-28 client to it."""
    direct = StdioServerParameters(
        command="node", args=[str(s.EVERYTHING_JS), "stdio"], env={s.TAG_VAR: e2e.tag}
    )
    with anyio.fail_after(s.CALL_TIMEOUT):
        with pytest.raises(Exception):
            async with s.sdk_client(direct, s.MODERN) as client:
                await client.list_tools()
                await client.call_tool("echo", {"message": "direct"})

    log = e2e.log("everything")
    params = e2e.stdio_params(e2e.policy(POLICY), s.everything_cmd(log))
    async with s.sdk_client(params, s.MODERN) as client:
        assert client.protocol_version == s.MODERN
        tools = (await client.list_tools()).tools
        assert "echo" in [t.name for t in tools]
        r = await client.call_tool("echo", {"message": "bridged"})
        assert r.is_error is not True, r
        assert s.first_text(r) == "Echo: bridged"
    # The gateway spoke the handshake era to the upstream on the client's behalf.
    methods = [m.get("method") for m in s.read_jsonl(log)]
    assert "initialize" in methods and methods.index("initialize") < methods.index("tools/call"), methods
    assert len(s.wire_tool_calls(log, "echo")) == 1


@pytest.mark.anyio
async def test_modern_client_over_http_gateway_to_everything(e2e):
    log = e2e.log("everything")
    gw = e2e.http_gateway(e2e.policy(POLICY), s.everything_cmd(log))
    async with s.sdk_client(gw.url, s.MODERN) as client:
        r = await client.call_tool("echo", {"message": "over http"})
        assert r.is_error is not True, r
        assert s.first_text(r) == "Echo: over http"
        denied = await client.call_tool("get-env", {})
        assert s.first_text(denied).startswith("Blocked by policy:")
    assert len(s.wire_tool_calls(log, "echo")) == 1
    assert s.wire_tool_calls(log, "get-env") == []
