"""Traffic other than tools/call passes through: progress, cancellation, and server-to-client
requests (elicitation), in both eras."""

from __future__ import annotations

import mcp_types as types
import pytest

import support as s
from support import wait_for

POLICY = s.EXAMPLES / "executor-refresh.json"


def wrapped_demo(e2e, era: str = "both"):
    """The demo upstream behind tee_logger.py, so the exact lines the gateway sends it are logged."""
    log, wire = e2e.log(), e2e.log("wire")
    return [s.PYTHON, str(s.TEE_LOGGER), str(wire), *s.demo_upstream_cmd(log, era)], log, wire


def test_progress_and_cancellation_pass_through_over_stdio(e2e):
    upstream, log, wire = wrapped_demo(e2e)
    rs = e2e.raw_stdio(e2e.gateway_argv(POLICY, upstream), name="gateway")
    try:
        s.raw_stdio_tools_list(rs)

        # Progress: notifications carry the client's own token, and arrive before the result.
        rs.send({"jsonrpc": "2.0", "id": 10, "method": "tools/call",
                 "params": {"name": "connections.refresh", "arguments": {"connection_id": "conn-1", "sleep_ms": 400},
                            "_meta": {"progressToken": "tok-\u00e9-1"}}})
        resp = rs.recv_response(10)
        assert resp["result"]["isError"] is False, resp
        progress = [n for n in rs.notifications if n["method"] == "notifications/progress"]
        assert progress, rs.notifications
        assert {n["params"]["progressToken"] for n in progress} == {"tok-\u00e9-1"}, progress
        values = [n["params"]["progress"] for n in progress]
        assert values == sorted(values) and len(set(values)) == len(values), values

        # Cancellation: the upstream hears about it, under the id it knows the request by.
        rs.send({"jsonrpc": "2.0", "id": 11, "method": "tools/call",
                 "params": {"name": "connections.refresh", "arguments": {"connection_id": "conn-2", "sleep_ms": 30000},
                            "_meta": {"progressToken": 77}}})
        upstream_call = wait_for(
            lambda: [m for m in s.wire_tool_calls(wire) if m["params"]["arguments"]["connection_id"] == "conn-2"],
            what="the slow call to reach the upstream",
        )[0]
        rs.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 11, "reason": "user"}})
        wait_for(
            lambda: [m for m in s.read_jsonl(wire) if m.get("method") == "notifications/cancelled"
                     and m["params"]["requestId"] == upstream_call["id"]],
            timeout=5,
            what="notifications/cancelled to reach the upstream with the upstream's request id",
        )
        # The session goes on, promptly.
        ok = rs.request(12, "tools/call", {"name": "connections.refresh", "arguments": {"connection_id": "conn-3"}},
                        timeout=5)
        assert ok["result"]["isError"] is False, ok
    finally:
        rs.stop()


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", s.MODERN])
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_progress_reaches_the_sdk_client(e2e, transport, mode):
    log = e2e.log()
    if transport == "stdio":
        server = e2e.stdio_params(POLICY, s.demo_upstream_cmd(log))
    else:
        server = e2e.http_gateway(POLICY, s.demo_upstream_cmd(log)).url
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with s.sdk_client(server, mode) as client:
        r = await client.call_tool(
            "connections.refresh", {"connection_id": "conn-1", "sleep_ms": 300}, progress_callback=on_progress
        )
    assert r.is_error is not True, r
    assert seen and seen == sorted(seen), seen


async def confirm(_ctx, params: types.ElicitRequestParams) -> types.ElicitResult:
    confirm.asked.append(params.message)
    return types.ElicitResult(action="accept", content={"confirm": True})


@pytest.mark.anyio
@pytest.mark.parametrize(
    "mode,era",
    [("legacy", "both"), ("legacy", "legacy"), (s.MODERN, "both"), (s.MODERN, "legacy")],
    ids=["legacy-client-to-legacy-session", "legacy-client-to-legacy-only", "modern-client-to-dual-era",
         "modern-client-to-legacy-only"],
)
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_upstream_elicitation_reaches_the_client(e2e, transport, mode, era):
    """The upstream asks the user to confirm (elicitation/create); the client's answer gets back to it.
    A stateless 2026-07-28 client gets the question as an input_required result (MRTR)."""
    log = e2e.log()
    if transport == "stdio":
        server = e2e.stdio_params(POLICY, s.demo_upstream_cmd(log, era))
    else:
        server = e2e.http_gateway(POLICY, s.demo_upstream_cmd(log, era)).url
    confirm.asked = []
    async with s.sdk_client(server, mode, elicitation_callback=confirm) as client:
        r = await client.call_tool("connections.refresh", {"connection_id": "conn-1", "ask": "confirm"})
    assert r.is_error is not True, r
    assert confirm.asked == ["Confirm connections.refresh?"], confirm.asked
    texts = [b.text for b in r.content if getattr(b, "type", None) == "text"]
    assert any("action=accept" in t for t in texts), texts
