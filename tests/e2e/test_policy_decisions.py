"""Every kind of decision, as the agent sees it through the real gateway: the text starts
"Blocked by policy:", and `_meta["warden/decision"]` names the decision and the rule (a JSON Pointer
into the policy). Blocked calls never reach the upstream."""

from __future__ import annotations

import pytest

import support as s

FULL = s.EXAMPLES / "full.json"

GLOB_APPROVE = {
    "version": "1",
    "default": "deny",
    "tools": {
        "connections.*": {},
        # async: the call returns at once, naming its pending approval (test_approvals.py has the rest).
        "connections.delete": {"action": "approve", "reason": "a person confirms deletions",
                               "approval": {"mode": "async", "approvers": ["operator"]}},
        "execute_*": {"action": "deny", "reason": "shorter glob loses"},
        "execute_connector_*": {"reason": "longer glob wins"},
    },
}


def assert_blocked(result, decision: str, rule: str, reason_part: str | None = None) -> None:
    assert result.is_error is True, result
    text = s.first_text(result)
    assert text.startswith("Blocked by policy:"), text
    d = s.decision_of(result)
    assert d is not None, result
    assert d["decision"] == decision, d
    assert d["rule"] == rule, d
    if reason_part:
        assert reason_part in d["reason"] and reason_part in text, (d, text)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", s.MODERN])
async def test_full_example_policy(e2e, mode):
    log = e2e.log()
    async with s.sdk_client(e2e.stdio_params(FULL, s.demo_upstream_cmd(log)), mode) as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        assert listed == {"connections.list", "get_connector_capabilities", "connections.refresh",
                          "connections.delete", "execute_connector_operation"}, listed

        ok = await client.call_tool("connections.refresh", {"connection_id": "conn-42"})
        assert ok.is_error is not True, ok
        assert_blocked(await client.call_tool("connections.refresh", {"connection_id": "42; rm -rf"}),
                       "deny", "/tools/connections.refresh/require/0", "conn-<number>")
        assert_blocked(await client.call_tool("connections.delete", {"connection_id": "conn-42"}),
                       "deny", "/tools/connections.delete/action", "in the console")
        assert_blocked(
            await client.call_tool("execute_connector_operation",
                                   {"connector": "github", "operation": "purge", "params": {}}),
            "deny", "/tools/execute_connector_operation/deny_if/0", "never run by agents")
        schema = await client.call_tool("execute_connector_operation",
                                        {"connector": "x" * 65, "operation": "list_repos", "params": {}})
        assert schema.is_error is True and s.first_text(schema).startswith("Blocked by policy:")
        d = s.decision_of(schema)
        assert d["decision"] == "deny" and d["rule"].startswith("/tools/execute_connector_operation/arguments"), d
        ok2 = await client.call_tool("execute_connector_operation",
                                     {"connector": "github", "operation": "list_repos", "params": {}})
        assert s.decision_of(ok2) is None, ok2

    reached = [(c["tool"], c["arguments"]) for c in s.demo_calls(log)]
    assert reached == [
        ("connections.refresh", {"connection_id": "conn-42"}),
        ("execute_connector_operation", {"connector": "github", "operation": "list_repos", "params": {}}),
    ], reached


@pytest.mark.anyio
async def test_globs_and_approval(e2e):
    log = e2e.log()
    async with s.sdk_client(e2e.stdio_params(e2e.policy(GLOB_APPROVE), s.demo_upstream_cmd(log)), "legacy") as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        assert listed == {"connections.refresh", "connections.list", "connections.delete",
                          "execute_connector_operation"}, listed
        assert (await client.call_tool("connections.list", {})).is_error is not True
        approval = await client.call_tool("connections.delete", {"connection_id": "conn-7"})
        assert_blocked(approval, "approval_required", "/tools/connections.delete/action", "a person confirms")
        op = await client.call_tool("execute_connector_operation",
                                    {"connector": "slack", "operation": "list_channels", "params": {}})
        assert op.is_error is not True, f"the longer glob execute_connector_* should win: {op}"
        assert_blocked(await client.call_tool("get_connector_capabilities", {"connector": "slack"}),
                       "deny", "/default")
    assert [c["tool"] for c in s.demo_calls(log)] == ["connections.list", "execute_connector_operation"]
