"""Old clients on the legacy HTTP+SSE transport (2024-11-05): `GET /sse` opens the stream,
messages are POSTed to the endpoint it names. The official Python SDK's SSE client drives
`warden run --listen` and `warden serve`; the policy applies exactly as on Streamable HTTP."""

from __future__ import annotations

import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client

import support as s

POLICY = s.EXAMPLES / "executor-refresh.json"


@pytest.mark.anyio
async def test_an_sse_client_is_held_to_the_seed_policy(e2e):
    log = e2e.log()
    gw = e2e.http_gateway(POLICY, s.demo_upstream_cmd(log))
    sse_url = gw.url.removesuffix("/mcp") + "/sse"
    async with sse_client(sse_url) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = [t.name for t in (await session.list_tools()).tools]
            assert tools == ["connections.refresh"]
            for _ in range(10):
                r = await session.call_tool("connections.refresh", {"connection_id": "conn-1"})
                assert r.is_error is not True, r
            r = await session.call_tool("connections.refresh", {"connection_id": "conn-1"})
            assert s.decision_of(r)["decision"] == "rate_limited", r
            r = await session.call_tool("connections.delete", {"connection_id": "conn-1"})
            assert s.decision_of(r)["rule"] == "/default", r
    assert len(s.demo_calls(log, "connections.refresh")) == 10
    assert s.demo_calls(log, "connections.delete") == []


@pytest.mark.anyio
async def test_an_sse_client_on_the_team_gateway_needs_its_key(e2e):
    log = e2e.log("executor")
    doc = {
        "servers": {"executor": s.demo_server(log)},
        "policies": {"refresh": {"file": str(POLICY)}},
        "identities": {"ci-agent": {}},
        "grants": [{"identity": "ci-agent", "server": "executor", "policy": "refresh"}],
    }
    config, port = e2e.serve_config(doc)
    key = e2e.create_key("ci-agent")["key"]
    gw = e2e.serve(config, port)
    sse_url = f"{gw.url}/mcp/executor/sse"
    async with sse_client(sse_url, headers=s.bearer(key)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            r = await session.call_tool("connections.refresh", {"connection_id": "conn-1"})
            assert r.is_error is not True, r
    async with s.http_client() as client:
        refused = await client.get(sse_url, headers={"accept": "text/event-stream"})
    assert refused.status_code == 401, refused.text
    assert len(s.demo_calls_shared(log, "connections.refresh")) == 1
