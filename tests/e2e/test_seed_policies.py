"""The two seed policies, exactly as written, through the real gateway, with the official SDK.

"connections.refresh stays usable, but rate-capped; everything else on the server is denied"
(and the same for SendIt's execute_connector_operation), over stdio and Streamable HTTP, in both
protocol eras. The demo upstream's own log proves what reached it.
"""

from __future__ import annotations

import re

import pytest

import support as s

SEEDS = {
    "executor": {
        "policy": s.EXAMPLES / "executor-refresh.json",
        "tool": "connections.refresh",
        "args": {"connection_id": "conn-7"},
        "denied": [("connections.delete", {"connection_id": "conn-7"}), ("connections.list", {})],
    },
    "sendit": {
        "policy": s.EXAMPLES / "sendit-execute.json",
        "tool": "execute_connector_operation",
        "args": {"connector": "slack", "operation": "send_message", "params": {"channel": "#ops", "text": "hi"}},
        "denied": [("get_connector_capabilities", {"connector": "slack"}), ("connections.delete", {"connection_id": "c"})],
    },
}


def assert_rate_limited(result, tool: str) -> None:
    assert result.is_error is True
    text = s.first_text(result)
    assert text.startswith("Blocked by policy:"), text
    assert "10" in text, f"the denial should state the limit (10 a minute): {text}"
    assert re.search(r"retry|try again", text, re.I), f"the denial should say when to retry: {text}"
    decision = s.decision_of(result)
    assert decision is not None, f"no _meta['warden/decision'] in {result.meta!r}"
    assert decision["decision"] == "rate_limited"
    assert decision["rule"] == f"/tools/{tool}/limits/0"
    assert isinstance(decision.get("retry_after_ms"), int)
    assert 0 < decision["retry_after_ms"] <= 60_000
    assert decision.get("reason"), decision


def assert_default_denied(result) -> None:
    assert result.is_error is True
    text = s.first_text(result)
    assert text.startswith("Blocked by policy:"), text
    decision = s.decision_of(result)
    assert decision is not None, f"no _meta['warden/decision'] in {result.meta!r}"
    assert decision["decision"] == "deny"
    assert decision["rule"] == "/default"
    assert "retry_after_ms" not in decision


async def drive_seed(server, mode: str, seed: dict, log) -> None:
    tool = seed["tool"]
    async with s.sdk_client(server, mode) as client:
        if mode != "auto":
            assert client.protocol_version == (s.LEGACY if mode == "legacy" else s.MODERN)
        listed = [t.name for t in (await client.list_tools()).tools]
        assert listed == [tool], f"only the allowed tool is listed under default deny, got {listed}"

        for i in range(10):
            r = await client.call_tool(tool, seed["args"])
            assert r.is_error is not True, f"call {i + 1} of 10 should be allowed: {r}"
            assert s.decision_of(r) is None
        assert_rate_limited(await client.call_tool(tool, seed["args"]), tool)

        for name, args in seed["denied"]:
            assert_default_denied(await client.call_tool(name, args))

    assert len(s.demo_calls(log, tool)) == 10, s.read_jsonl(log)
    for name, _ in seed["denied"]:
        assert s.demo_calls(log, name) == [], f"denied {name} reached the upstream"
    assert len(s.demo_calls(log)) == 10


MODES = ["legacy", s.MODERN, "auto"]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", sorted(SEEDS))
async def test_seed_policy_over_stdio(e2e, seed, mode):
    log = e2e.log()
    params = e2e.stdio_params(SEEDS[seed]["policy"], s.demo_upstream_cmd(log))
    await drive_seed(params, mode, SEEDS[seed], log)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", sorted(SEEDS))
async def test_seed_policy_over_http(e2e, seed, mode):
    log = e2e.log()
    gw = e2e.http_gateway(SEEDS[seed]["policy"], s.demo_upstream_cmd(log))
    await drive_seed(gw.url, mode, SEEDS[seed], log)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", s.MODERN])
async def test_seed_policy_over_http_to_http_upstream(e2e, mode):
    """The same guarantees when the upstream itself is a Streamable HTTP server (--upstream URL)."""
    log = e2e.log()
    upstream = e2e.demo_http(log)
    gw = e2e.http_gateway(SEEDS["executor"]["policy"], upstream_url=upstream.url)
    await drive_seed(gw.url, mode, SEEDS["executor"], log)
