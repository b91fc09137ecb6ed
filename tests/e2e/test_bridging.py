"""A client of either era works with an upstream of either era: the gateway bridges."""

from __future__ import annotations

import anyio
import pytest
from mcp import StdioServerParameters

import support as s

POLICY = s.EXAMPLES / "executor-refresh.json"


async def refresh_twice(server, mode: str, log) -> None:
    async with s.sdk_client(server, mode) as client:
        if mode == "legacy":
            assert client.protocol_version == s.LEGACY
        elif mode == s.MODERN:
            assert client.protocol_version == s.MODERN
        assert [t.name for t in (await client.list_tools()).tools] == ["connections.refresh"]
        for i in (1, 2):
            r = await client.call_tool("connections.refresh", {"connection_id": f"conn-{i}"})
            assert r.is_error is not True, r
            assert r.structured_content == {"connection_id": f"conn-{i}", "run": i, "status": "queued"}
        denied = await client.call_tool("connections.delete", {"connection_id": "conn-1"})
        assert s.decision_of(denied)["rule"] == "/default"
    calls = s.demo_calls(log)
    assert [c["arguments"]["connection_id"] for c in calls] == ["conn-1", "conn-2"], calls


@pytest.mark.anyio
@pytest.mark.parametrize("client_mode", ["legacy", "auto"])
async def test_legacy_client_to_modern_only_upstream_over_stdio(e2e, client_mode):
    log = e2e.log()
    if client_mode == "legacy":
        # Control: without the gateway, a legacy client cannot talk to this upstream at all.
        direct = StdioServerParameters(
            command=str(s.WARDEN), args=s.demo_upstream_cmd(e2e.log("direct"), era="modern")[1:],
            env={s.TAG_VAR: e2e.tag},
        )
        with anyio.fail_after(s.CALL_TIMEOUT), pytest.raises(Exception):
            async with s.sdk_client(direct, "legacy") as client:
                await client.list_tools()
    params = e2e.stdio_params(POLICY, s.demo_upstream_cmd(log, era="modern"))
    await refresh_twice(params, client_mode, log)
    assert {c["protocol"] for c in s.demo_calls(log)} == {s.MODERN}


@pytest.mark.anyio
@pytest.mark.parametrize("client_mode", ["legacy", s.MODERN])
async def test_client_to_modern_only_http_upstream(e2e, client_mode):
    log = e2e.log()
    upstream = e2e.demo_http(log, era="modern")
    gw = e2e.http_gateway(POLICY, upstream_url=upstream.url)
    await refresh_twice(gw.url, client_mode, log)
    assert {c["protocol"] for c in s.demo_calls(log)} == {s.MODERN}


@pytest.mark.anyio
async def test_legacy_client_over_stdio_gateway_to_modern_only_http_upstream(e2e):
    log = e2e.log()
    upstream = e2e.demo_http(log, era="modern")
    params = e2e.stdio_params(POLICY, upstream_url=upstream.url)
    await refresh_twice(params, "legacy", log)


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_modern_client_to_legacy_only_upstream(e2e, transport):
    log = e2e.log()
    if transport == "stdio":
        server = e2e.stdio_params(POLICY, s.demo_upstream_cmd(log, era="legacy"))
    else:
        upstream = e2e.demo_http(log, era="legacy")
        server = e2e.http_gateway(POLICY, upstream_url=upstream.url).url
    await refresh_twice(server, s.MODERN, log)
    assert {c["protocol"] for c in s.demo_calls(log)} <= {"2025-11-25", "2025-06-18", "2025-03-26"}
