"""Request ids are never confused: concurrent clients that pick the same JSON-RPC id each get their
own answer, and answers arrive under the id the client sent."""

from __future__ import annotations

import anyio
import pytest

import support as s

POLICY = {
    "version": "1",
    "default": "deny",
    "tools": {"connections.refresh": {"limits": [{"counter": "r", "window": "minute", "max": 100}]}},
}


async def modern_call(client, url: str, id_, conn: str, sleep_ms: int) -> dict:
    body = s.modern_call_body(id_, "connections.refresh", {"connection_id": conn, "sleep_ms": sleep_ms})
    r = await client.post(url, headers=s.modern_headers("tools/call", "connections.refresh"), json=body)
    assert r.status_code == 200, (r.status_code, r.text)
    msgs = s.parse_http_messages(r)
    responses = [m for m in msgs if "method" not in m]
    assert len(responses) == 1, msgs
    assert responses[0]["id"] == id_, responses[0]
    return responses[0]["result"]


@pytest.mark.anyio
@pytest.mark.parametrize("upstream_kind", ["command", "url"])
async def test_concurrent_modern_http_clients_with_the_same_id(e2e, upstream_kind):
    log = e2e.log()
    if upstream_kind == "url":
        gw = e2e.http_gateway(e2e.policy(POLICY), upstream_url=e2e.demo_http(log).url)
    else:
        gw = e2e.http_gateway(e2e.policy(POLICY), s.demo_upstream_cmd(log))
    # The slower call starts first, so a gateway that keyed answers by the client's id alone would
    # hand the fast answer to the slow caller.
    plan = [("conn-slow", 700), ("conn-fast", 100), ("conn-mid", 400)]
    results: dict[str, dict] = {}

    async def one(conn: str, sleep_ms: int) -> None:
        async with s.http_client() as client:  # a separate connection per client
            results[conn] = await modern_call(client, gw.url, 1, conn, sleep_ms)

    with anyio.fail_after(s.CALL_TIMEOUT):
        async with anyio.create_task_group() as tg:
            for conn, sleep_ms in plan:
                tg.start_soon(one, conn, sleep_ms)
                await anyio.sleep(0.05)

    for conn, _ in plan:
        result = results[conn]
        assert result.get("isError") is not True, result
        assert result["structuredContent"]["connection_id"] == conn, (conn, result)
        assert conn in s.first_text(result), (conn, result)
    assert sorted(c["arguments"]["connection_id"] for c in s.demo_calls(log)) == sorted(c for c, _ in plan)


@pytest.mark.anyio
async def test_concurrent_legacy_http_sessions_with_the_same_id(e2e):
    log = e2e.log()
    gw = e2e.http_gateway(e2e.policy(POLICY), s.demo_upstream_cmd(log))
    results: dict[str, dict] = {}

    async def one(conn: str, sleep_ms: int) -> None:
        async with s.http_client() as client:
            headers = await s.legacy_http_session(client, gw.url)
            body = {"jsonrpc": "2.0", "id": "same", "method": "tools/call",
                    "params": {"name": "connections.refresh", "arguments": {"connection_id": conn, "sleep_ms": sleep_ms}}}
            r = await client.post(gw.url, headers=headers, json=body)
            assert r.status_code == 200, (r.status_code, r.text)
            results[conn] = s.response_for(s.parse_http_messages(r), "same")["result"]

    with anyio.fail_after(s.CALL_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(one, "conn-slow", 600)
            await anyio.sleep(0.05)
            tg.start_soon(one, "conn-fast", 50)
    for conn in ("conn-slow", "conn-fast"):
        assert results[conn]["structuredContent"]["connection_id"] == conn, results


def test_string_and_number_ids_come_back_verbatim_over_stdio(e2e):
    """Ids are echoed exactly (type included), even when the gateway renumbers them upstream."""
    log = e2e.log()
    rs = e2e.raw_stdio(e2e.gateway_argv(e2e.policy(POLICY), s.demo_upstream_cmd(log)), name="gateway")
    try:
        s.raw_stdio_tools_list(rs)
        # Interleave: send three requests before reading any answer, with ids of different types.
        ids = ["1", 1, "req-\u00e9"]
        for i, id_ in enumerate(ids):
            rs.send({"jsonrpc": "2.0", "id": id_, "method": "tools/call",
                     "params": {"name": "connections.refresh",
                                "arguments": {"connection_id": f"conn-{i}", "sleep_ms": 300 - 100 * i}}})
        got = {}
        for _ in ids:
            msg = rs.recv()
            got[json_key(msg["id"])] = msg["result"]["structuredContent"]["connection_id"]
    finally:
        rs.stop()
    assert got == {json_key(id_): f"conn-{i}" for i, id_ in enumerate(ids)}


def json_key(id_) -> str:
    return f"{type(id_).__name__}:{id_}"
