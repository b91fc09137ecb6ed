"""`warden serve`: two identities, several servers, one grant each.

Each identity sees only what its grant's policy lists on each server, a server without a grant is
403, counters are kept per grant, and identity attributes from the config are readable in policy
conditions. Clients are the official Python SDK with an API key made by `warden keys create`.
"""

from __future__ import annotations

import json

import pytest

import support as s

SUPPORT_READ = {"version": "1", "default": "deny", "tools": {"connections.list": {}, "get_connector_capabilities": {}}}
PLATFORM_ONLY = {
    "version": "1",
    "default": "deny",
    "tools": {
        "connections.list": {
            "require": [
                {"path": "identity.team", "op": "eq", "value": "platform", "reason": "only the platform team lists connections"}
            ]
        },
        "get_connector_capabilities": {
            "deny_if": [{"path": "identity.name", "op": "eq", "value": "alice@example.com", "reason": "not for alice"}]
        },
    },
}
SEND_ARGS = {"connector": "slack", "operation": "send_message", "params": {"channel": "#ops", "text": "hi"}}
MODES = ["legacy", s.MODERN]


class Team:
    def __init__(self, e2e):
        self.logs = {name: e2e.log(name) for name in ("executor", "sendit", "ops")}
        s.write_policy(e2e.config_dir, SUPPORT_READ, "support-read.json")
        s.write_policy(e2e.config_dir, PLATFORM_ONLY, "platform-only.json")
        doc = {
            "servers": {name: s.demo_server(log) for name, log in self.logs.items()},
            "policies": {
                "executor-refresh": {"file": str(s.EXAMPLES / "executor-refresh.json")},
                "sendit-execute": {"file": str(s.EXAMPLES / "sendit-execute.json")},
                "support-read": {"file": "support-read.json"},
                "platform-only": {"file": "platform-only.json"},
            },
            "identities": {
                "ci-agent": {"attributes": {"team": "platform"}},
                "alice@example.com": {"attributes": {"team": "support"}},
                "bob": {"attributes": {"team": "support"}},
            },
            "grants": [
                {"identity": "ci-agent", "server": "executor", "policy": "executor-refresh"},
                {"identity": "ci-agent", "server": "sendit", "policy": "sendit-execute"},
                {"identity": "ci-agent", "server": "ops", "policy": "platform-only"},
                {"identity": "alice@example.com", "server": "executor", "policy": "executor-refresh"},
                {"identity": "alice@example.com", "server": "sendit", "policy": "support-read"},
                {"identity": "alice@example.com", "server": "ops", "policy": "platform-only"},
                {"identity": "bob", "server": "sendit", "policy": "sendit-execute"},
            ],
        }
        config, port = e2e.serve_config(doc)
        self.keys = {who: e2e.create_key(who)["key"] for who in ("ci-agent", "alice@example.com", "bob", "mallory")}
        self.gw = e2e.serve(config, port)

    def url(self, server: str) -> str:
        return self.gw.endpoint(server)


@pytest.fixture
def team(e2e):
    return Team(e2e)


def assert_allowed(result) -> None:
    assert result.is_error is not True, result
    assert s.decision_of(result) is None, result


def assert_denied(result, decision: str, rule: str, reason: str | None = None) -> dict:
    assert result.is_error is True, result
    assert s.first_text(result).startswith("Blocked by policy:"), result
    d = s.decision_of(result)
    assert d is not None and d["decision"] == decision and d["rule"] == rule, d
    if reason:
        assert reason in s.first_text(result), result
    return d


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_each_identity_sees_only_its_grants_tools(team, mode):
    expected = {
        ("ci-agent", "executor"): ["connections.refresh"],
        ("ci-agent", "sendit"): ["execute_connector_operation"],
        ("alice@example.com", "executor"): ["connections.refresh"],
        ("alice@example.com", "sendit"): ["connections.list", "get_connector_capabilities"],
        ("bob", "sendit"): ["execute_connector_operation"],
    }
    for (who, server), tools in expected.items():
        async with s.serve_client(team.url(server), team.keys[who], mode) as client:
            assert await s.tool_names(client) == tools, (who, server)

    # The same tool on the same server: allowed under one grant, denied under the other.
    async with s.serve_client(team.url("sendit"), team.keys["ci-agent"], mode) as ci:
        assert_allowed(await ci.call_tool("execute_connector_operation", SEND_ARGS))
        assert_denied(await ci.call_tool("connections.list", {}), "deny", "/default")
    async with s.serve_client(team.url("sendit"), team.keys["alice@example.com"], mode) as alice:
        assert_denied(await alice.call_tool("execute_connector_operation", SEND_ARGS), "deny", "/default")
        assert_allowed(await alice.call_tool("connections.list", {}))
    calls = s.demo_calls_shared(team.logs["sendit"])
    assert [c["tool"] for c in calls] == ["execute_connector_operation", "connections.list"], calls


@pytest.mark.anyio
@pytest.mark.parametrize("who", ["bob", "mallory"])
async def test_a_server_without_a_grant_is_403(team, who):
    """bob has a grant for sendit only; mallory has a valid key but no identity or grant at all."""
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": s.legacy_initialize_params()}
    auth = s.bearer(team.keys[who])
    for body, headers in [
        (init, s.LEGACY_ACCEPT),
        (s.modern_call_body(2, "connections.refresh", {"connection_id": "conn-42"}),
         s.modern_headers("tools/call", "connections.refresh")),
    ]:
        r = await s.post_once(team.url("executor"), {**headers, **auth}, body)
        assert r.status_code == 403, (r.status_code, r.text)
        assert "grant" in json.loads(r.text)["error"]["message"], r.text
    r = await s.post_once(team.url("sendit"), {**s.LEGACY_ACCEPT, **auth}, init)
    assert r.status_code == (200 if who == "bob" else 403), (r.status_code, r.text)
    assert s.demo_calls_shared(team.logs["executor"]) == []


@pytest.mark.anyio
async def test_an_unknown_server_is_404(team):
    r = await s.post_once(
        team.gw.endpoint("nope"),
        {**s.LEGACY_ACCEPT, **s.bearer(team.keys["ci-agent"])},
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": s.legacy_initialize_params()},
    )
    assert r.status_code == 404, (r.status_code, r.text)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_counters_are_separate_per_grant(team, mode):
    """ci-agent and alice hold grants on executor under the same seed policy (same counter name):
    ci-agent using up its 10 a minute leaves alice's 10 untouched, and ci-agent's sendit grant too."""
    args = {"connection_id": "conn-42"}
    async with s.serve_client(team.url("executor"), team.keys["ci-agent"], mode) as ci:
        for i in range(10):
            assert_allowed(await ci.call_tool("connections.refresh", args))
        d = assert_denied(await ci.call_tool("connections.refresh", args), "rate_limited", "/tools/connections.refresh/limits/0")
        assert 0 < d["retry_after_ms"] <= 60_000, d

    async with s.serve_client(team.url("executor"), team.keys["alice@example.com"], mode) as alice:
        for i in range(10):
            r = await alice.call_tool("connections.refresh", args)
            assert r.is_error is not True, f"alice's call {i + 1} of 10 should be allowed (her own grant): {r}"
        assert_denied(await alice.call_tool("connections.refresh", args), "rate_limited", "/tools/connections.refresh/limits/0")

    # A new session of the same grant shares the grant's counter.
    async with s.serve_client(team.url("executor"), team.keys["ci-agent"], mode) as ci:
        assert_denied(await ci.call_tool("connections.refresh", args), "rate_limited", "/tools/connections.refresh/limits/0")

    # ci-agent's other grant (sendit, counter execute_connector_operation_rate) is untouched.
    async with s.serve_client(team.url("sendit"), team.keys["ci-agent"], mode) as ci:
        for _ in range(10):
            assert_allowed(await ci.call_tool("execute_connector_operation", SEND_ARGS))
        assert_denied(
            await ci.call_tool("execute_connector_operation", SEND_ARGS),
            "rate_limited",
            "/tools/execute_connector_operation/limits/0",
        )

    assert len(s.demo_calls_shared(team.logs["executor"], "connections.refresh")) == 20
    assert len(s.demo_calls_shared(team.logs["sendit"], "execute_connector_operation")) == 10


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_identity_attributes_are_readable_in_conditions(team, mode):
    async with s.serve_client(team.url("ops"), team.keys["ci-agent"], mode) as ci:
        assert_allowed(await ci.call_tool("connections.list", {}))
        assert_allowed(await ci.call_tool("get_connector_capabilities", {"connector": "slack"}))
    async with s.serve_client(team.url("ops"), team.keys["alice@example.com"], mode) as alice:
        assert_denied(
            await alice.call_tool("connections.list", {}),
            "deny",
            "/tools/connections.list/require/0",
            "only the platform team lists connections",
        )
        assert_denied(
            await alice.call_tool("get_connector_capabilities", {"connector": "slack"}),
            "deny",
            "/tools/get_connector_capabilities/deny_if/0",
            "not for alice",
        )
    assert [c["tool"] for c in s.demo_calls_shared(team.logs["ops"])] == ["connections.list", "get_connector_capabilities"]


@pytest.mark.anyio
async def test_grant_counters_survive_a_restart(e2e):
    log = e2e.log("executor")
    doc = {
        "servers": {"executor": s.demo_server(log)},
        "policies": {"refresh": {"file": str(s.EXAMPLES / "executor-refresh.json")}},
        "identities": {"ci-agent": {}},
        "grants": [{"identity": "ci-agent", "server": "executor", "policy": "refresh"}],
    }
    config, port = e2e.serve_config(doc)
    key = e2e.create_key("ci-agent")["key"]
    gw = e2e.serve(config, port, name="serve1")
    async with s.serve_client(gw.endpoint("executor"), key, "legacy") as client:
        for _ in range(10):
            assert_allowed(await client.call_tool("connections.refresh", {"connection_id": "conn-42"}))
    assert e2e.stop(gw.proc) == 0
    gw = e2e.serve(config, port, name="serve2")
    async with s.serve_client(gw.endpoint("executor"), key, "legacy") as client:
        assert_denied(await client.call_tool("connections.refresh", {"connection_id": "conn-42"}),
                      "rate_limited", "/tools/connections.refresh/limits/0")
    assert len(s.demo_calls_shared(log, "connections.refresh")) == 10
