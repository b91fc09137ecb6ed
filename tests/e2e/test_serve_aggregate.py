"""`warden serve`'s aggregated endpoint `/mcp`: the tools of every server a caller has a grant for,
named `<server>__<tool>`, each listed and decided under that server's grant.

Clients are the official Python SDK with API keys made by `warden keys create`; upstreams are the
demo server, whose own call logs show what reached each one.
"""

from __future__ import annotations

import pytest

import support as s

MODES = ["legacy", s.MODERN]
LIST_ONLY = {"version": "1", "default": "deny", "tools": {"connections.list": {}}}
SEND_ARGS = {"connector": "slack", "operation": "send_message", "params": {"channel": "#ops", "text": "hi"}}


class Team:
    def __init__(self, e2e):
        self.logs = {name: e2e.log(name) for name in ("executor", "sendit", "ops")}
        s.write_policy(e2e.config_dir, LIST_ONLY, "list-only.json")
        doc = {
            "servers": {name: s.demo_server(log) for name, log in self.logs.items()},
            "policies": {
                "executor-refresh": {"file": str(s.EXAMPLES / "executor-refresh.json")},
                "sendit-execute": {"file": str(s.EXAMPLES / "sendit-execute.json")},
                "list-only": {"file": "list-only.json"},
            },
            "identities": {"ci-agent": {}, "alice": {}},
            "grants": [
                {"identity": "ci-agent", "server": "executor", "policy": "executor-refresh"},
                {"identity": "ci-agent", "server": "sendit", "policy": "sendit-execute"},
                {"identity": "alice", "server": "executor", "policy": "list-only"},
                {"identity": "alice", "server": "ops", "policy": "list-only"},
            ],
        }
        config, port = e2e.serve_config(doc)
        self.keys = {who: e2e.create_key(who)["key"] for who in ("ci-agent", "alice")}
        self.gw = e2e.serve(config, port)
        self.aggregate = f"{self.gw.url}/mcp"

    def url(self, server: str) -> str:
        return self.gw.endpoint(server)


@pytest.fixture
def team(e2e):
    return Team(e2e)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_the_listing_is_the_union_of_the_grants_listings(team, mode):
    for who, servers in {"ci-agent": ["executor", "sendit"], "alice": ["executor", "ops"]}.items():
        expected = []
        for server in servers:
            async with s.serve_client(team.url(server), team.keys[who], mode) as client:
                for tool in (await client.list_tools()).tools:
                    expected.append(f"{server}__{tool.name}")
        async with s.serve_client(team.aggregate, team.keys[who], mode) as client:
            listing = await client.list_tools()
            assert sorted(t.name for t in listing.tools) == sorted(expected), who


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_calls_go_to_their_server_under_its_grant(team, mode):
    async with s.serve_client(team.aggregate, team.keys["ci-agent"], mode) as agg:
        r = await agg.call_tool("executor__connections.refresh", {"connection_id": "conn-1"})
        assert r.is_error is not True, r
        r = await agg.call_tool("sendit__execute_connector_operation", SEND_ARGS)
        assert r.is_error is not True, r
        # The grant's own policy decides: default deny on executor, with its rule.
        r = await agg.call_tool("executor__connections.delete", {"connection_id": "conn-1"})
        assert s.decision_of(r)["rule"] == "/default", r
        # No grant, or no such server: a tool that does not exist.
        for name in ("ops__connections.list", "nowhere__x", "no-separator"):
            r = await agg.call_tool(name, {})
            assert r.is_error is True and s.first_text(r) == f"Unknown tool: {name}", r
    # Each server received its own call, under its own name, and nothing else.
    assert [c["tool"] for c in s.demo_calls_shared(team.logs["executor"])] == ["connections.refresh"]
    assert [c["tool"] for c in s.demo_calls_shared(team.logs["sendit"])] == ["execute_connector_operation"]
    assert s.demo_calls_shared(team.logs["ops"]) == []


@pytest.mark.anyio
async def test_the_aggregated_endpoint_and_the_server_endpoint_share_the_grants_counter(team):
    async with s.serve_client(team.aggregate, team.keys["ci-agent"], "legacy") as agg:
        for _ in range(5):
            r = await agg.call_tool("executor__connections.refresh", {"connection_id": "conn-1"})
            assert r.is_error is not True, r
    async with s.serve_client(team.url("executor"), team.keys["ci-agent"], s.MODERN) as direct:
        for _ in range(5):
            r = await direct.call_tool("connections.refresh", {"connection_id": "conn-1"})
            assert r.is_error is not True, r
        r = await direct.call_tool("connections.refresh", {"connection_id": "conn-1"})
        assert s.decision_of(r)["decision"] == "rate_limited", r
    async with s.serve_client(team.aggregate, team.keys["ci-agent"], s.MODERN) as agg:
        r = await agg.call_tool("executor__connections.refresh", {"connection_id": "conn-1"})
        assert s.decision_of(r)["decision"] == "rate_limited", r
    assert len(s.demo_calls_shared(team.logs["executor"], "connections.refresh")) == 10


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_a_tool_name_offered_by_two_servers_is_reported(team, mode):
    async with s.serve_client(team.aggregate, team.keys["alice"], mode) as agg:
        listing = await agg.list_tools()
    assert sorted(t.name for t in listing.tools) == ["executor__connections.list", "ops__connections.list"]
    assert listing.meta["warden/collisions"] == {"connections.list": ["executor", "ops"]}, listing.meta


@pytest.mark.anyio
async def test_the_aggregated_endpoint_needs_a_credential(team):
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": s.legacy_initialize_params()}
    r = await s.post_once(team.aggregate, {"accept": "application/json, text/event-stream"}, init)
    assert r.status_code == 401, r.text
    assert "resource_metadata" in r.headers["www-authenticate"]
