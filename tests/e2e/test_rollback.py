"""A call reserves quota before it is forwarded; if the upstream fails, the reservation is rolled
back, so failed calls do not consume quota."""

from __future__ import annotations

import pytest
from mcp import MCPError

import support as s

POLICY = s.EXAMPLES / "executor-refresh.json"
TOOL = "connections.refresh"


async def failing_then_succeeding(server, mode: str, log) -> None:
    async with s.sdk_client(server, mode) as client:
        for i in range(5):
            with pytest.raises(MCPError):
                await client.call_tool(TOOL, {"connection_id": f"err-{i}", "fail": "error"})
        for i in range(5):
            r = await client.call_tool(TOOL, {"connection_id": f"tool-{i}", "fail": "tool"})
            assert r.is_error is True
            assert s.decision_of(r) is None, "an upstream tool error is not a policy decision"
        for i in range(10):
            r = await client.call_tool(TOOL, {"connection_id": f"ok-{i}"})
            assert r.is_error is not True, f"successful call {i + 1} should be allowed after 10 failed ones: {r}"
        r = await client.call_tool(TOOL, {"connection_id": "ok-10"})
        assert s.decision_of(r)["decision"] == "rate_limited"
    calls = s.demo_calls(log, TOOL)
    assert len(calls) == 20, "every failing call and the 10 good ones reached the upstream"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", s.MODERN])
async def test_failed_calls_do_not_consume_quota_over_stdio(e2e, mode):
    log = e2e.log()
    await failing_then_succeeding(e2e.stdio_params(POLICY, s.demo_upstream_cmd(log)), mode, log)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", s.MODERN])
async def test_failed_calls_do_not_consume_quota_over_http(e2e, mode):
    log = e2e.log()
    upstream = e2e.demo_http(log)
    gw = e2e.http_gateway(POLICY, upstream_url=upstream.url)
    await failing_then_succeeding(gw.url, mode, log)
