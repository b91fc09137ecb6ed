"""Counters live in the state dir: they survive a restart and are shared by gateways on one dir."""

from __future__ import annotations

import anyio
import pytest
from mcp import StdioServerParameters

import support as s

POLICY = s.EXAMPLES / "executor-refresh.json"
TOOL = "connections.refresh"
ARGS = {"connection_id": "conn-42"}


async def call_n(server, mode: str, n: int) -> list:
    async with s.sdk_client(server, mode) as client:
        return [await client.call_tool(TOOL, ARGS) for _ in range(n)]


def allowed(results) -> int:
    return sum(1 for r in results if r.is_error is not True)


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_restarted_gateway_keeps_the_grant_counter(e2e, transport):
    log = e2e.log()
    state = e2e.tmp / "shared-state"

    async def run_gateway(n: int, name: str) -> list:
        if transport == "stdio":
            return await call_n(e2e.stdio_params(POLICY, s.demo_upstream_cmd(log), state_dir=state), "legacy", n)
        gw = e2e.http_gateway(POLICY, s.demo_upstream_cmd(log), state_dir=state, name=name)
        try:
            return await call_n(gw.url, "legacy", n)
        finally:
            e2e.stop(gw.proc)

    first = await run_gateway(6, "first")
    assert allowed(first) == 6
    second = await run_gateway(5, "second")
    assert [r.is_error is not True for r in second] == [True, True, True, True, False], second
    assert s.decision_of(second[-1])["decision"] == "rate_limited"
    assert len(s.demo_calls(log, TOOL)) == 10


@pytest.mark.anyio
async def test_two_gateways_on_one_state_dir_share_the_counter(e2e):
    """Two live gateways, 8 concurrent calls each: exactly 10 get through, in total."""
    log_a, log_b = e2e.log("a"), e2e.log("b")
    state = e2e.tmp / "shared-state"
    gw_a = e2e.http_gateway(POLICY, s.demo_upstream_cmd(log_a), state_dir=state, name="gateway-a")
    gw_b = e2e.http_gateway(POLICY, s.demo_upstream_cmd(log_b), state_dir=state, name="gateway-b")
    results: list = []

    async def burst(url: str, mode: str) -> None:
        async with s.sdk_client(url, mode) as client:
            async with anyio.create_task_group() as tg:
                for _ in range(8):

                    async def one() -> None:
                        results.append(await client.call_tool(TOOL, ARGS))

                    tg.start_soon(one)

    with anyio.fail_after(s.CALL_TIMEOUT * 2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(burst, gw_a.url, "legacy")
            tg.start_soon(burst, gw_b.url, s.MODERN)

    assert len(results) == 16
    assert allowed(results) == 10, [s.first_text(r) for r in results]
    for r in results:
        if r.is_error:
            assert s.decision_of(r)["decision"] == "rate_limited", r
    assert len(s.demo_calls(log_a, TOOL)) + len(s.demo_calls(log_b, TOOL)) == 10
    # Both gateways took part (neither was starved by the test's own scheduling).
    assert s.demo_calls(log_a, TOOL) and s.demo_calls(log_b, TOOL)


@pytest.mark.anyio
async def test_state_dir_from_environment(e2e, monkeypatch):
    """WARDEN_STATE_DIR is honoured when --state-dir is not given."""
    log = e2e.log()
    state = e2e.tmp / "env-state"
    argv = [str(s.WARDEN), "run", "--policy", str(POLICY), "--", *s.demo_upstream_cmd(log)]
    params = StdioServerParameters(
        command=argv[0], args=argv[1:], env={s.TAG_VAR: e2e.tag, "WARDEN_STATE_DIR": str(state)}
    )
    assert allowed(await call_n(params, "legacy", 7)) == 7
    assert state.is_dir() and any(state.iterdir()), "the gateway wrote nothing to WARDEN_STATE_DIR"
    second = await call_n(params, "legacy", 4)
    assert [r.is_error is not True for r in second] == [True, True, True, False]


@pytest.mark.anyio
async def test_retry_after_is_truthful(e2e):
    """After waiting the retry_after_ms a denial names, the call fits again."""
    policy = e2e.policy({
        "version": "1", "default": "deny",
        "tools": {TOOL: {"limits": [{"counter": "fast", "window": "second", "max": 2}]}},
    })
    log = e2e.log()
    async with s.sdk_client(e2e.stdio_params(policy, s.demo_upstream_cmd(log)), "legacy") as client:
        first = [await client.call_tool(TOOL, ARGS) for _ in range(3)]
        assert [r.is_error is not True for r in first] == [True, True, False]
        decision = s.decision_of(first[-1])
        assert decision["decision"] == "rate_limited" and decision["rule"] == f"/tools/{TOOL}/limits/0"
        assert 0 < decision["retry_after_ms"] <= 1000, decision
        await anyio.sleep(decision["retry_after_ms"] / 1000 + 0.05)
        again = await client.call_tool(TOOL, ARGS)
        assert again.is_error is not True, f"still denied after waiting retry_after_ms: {again}"
    assert len(s.demo_calls(log, TOOL)) == 3


@pytest.mark.anyio
async def test_session_scope_counts_per_session_and_grant_scope_across_sessions(e2e):
    policy = e2e.policy({
        "version": "1", "default": "deny",
        "tools": {
            TOOL: {"limits": [{"counter": "per-session", "window": "hour", "max": 2, "scope": "session"}]},
            "connections.list": {"limits": [{"counter": "per-grant", "window": "hour", "max": 3, "scope": "grant"}]},
        },
    })
    gw = e2e.http_gateway(policy, s.demo_upstream_cmd(e2e.log()))
    outcomes = []
    for _ in range(2):
        async with s.sdk_client(gw.url, "legacy") as client:
            refresh = [await client.call_tool(TOOL, ARGS) for _ in range(3)]
            listing = [await client.call_tool("connections.list", {}) for _ in range(2)]
            outcomes.append(([r.is_error is not True for r in refresh], [r.is_error is not True for r in listing]))
    assert outcomes[0] == ([True, True, False], [True, True])
    assert outcomes[1] == ([True, True, False], [True, False]), "session counters restart, grant counters carry on"
