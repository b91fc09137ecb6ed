"""Raw relay: what policy does not touch is forwarded byte for byte (only the JSON-RPC id may be
renumbered on the way up and restored on the way down); unknown methods, fields and notifications
survive in both directions."""

from __future__ import annotations

import json
import re

import pytest

import support as s
from support import wait_for

POLICY = s.EXAMPLES / "executor-refresh.json"
ID = re.compile(rb'"id":("[^"]*"|-?\d+)')

# Deliberately odd but valid JSON: unknown fields, key order, number spellings, non-ASCII.
CALL = (
    b'{"jsonrpc":"2.0","id":"c-1","method":"tools/call","params":{"name":"connections.refresh",'
    b'"x-extra":{"b":1,"a":[1.50,"\xc3\xa9",1e3]},"arguments":{"connection_id":"conn-1","zeta":null,"alpha":-0.0},'
    b'"_meta":{"custom/key":"v","progressToken":"p-1"}}}'
)
CUSTOM = b'{"jsonrpc":"2.0","id":"c-2","method":"warden-e2e/custom","params":{"q":[1,2,{"r":true}]}}'
NOTIFY = b'{"jsonrpc":"2.0","method":"notifications/roots/list_changed","params":{"_meta":{"x":1}}}'


def without_id(line: bytes) -> bytes:
    return ID.sub(b'"id":ID', line.strip(), count=1)


def wire_lines(path) -> list[bytes]:
    return [ln for ln in path.read_bytes().splitlines() if ln.strip()] if path.exists() else []


def test_requests_and_results_are_relayed_byte_for_byte_over_stdio(e2e):
    log, wire = e2e.log(), e2e.log("wire")
    upstream = [s.PYTHON, str(s.TEE_LOGGER), str(wire), *s.demo_upstream_cmd(log)]
    rs = e2e.raw_stdio(e2e.gateway_argv(POLICY, upstream), name="gateway")
    replies: list[bytes] = []
    try:
        init = rs.request(1, "initialize", s.legacy_initialize_params())
        assert "result" in init
        rs.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

        for line, id_ in ((CALL, "c-1"), (CUSTOM, "c-2")):
            rs.send_raw(line + b"\n")
            msg = rs.recv_response(id_)
            replies.append(json.dumps(msg).encode())
            assert msg["id"] == id_
        rs.send_raw(NOTIFY + b"\n")
        wait_for(lambda: any(b"roots/list_changed" in ln for ln in wire_lines(wire)), timeout=5,
                 what="the client's notification to reach the upstream")
    finally:
        rs.stop()

    sent_up = wire_lines(wire)
    for original in (CALL, CUSTOM, NOTIFY):
        matches = [ln for ln in sent_up if without_id(ln) == without_id(original)]
        assert matches, f"not relayed byte for byte:\n sent {original!r}\n upstream got {sent_up!r}"

    # Results: what the upstream answered is what the client got (up to the id).
    answered = wire_lines(wire.with_name(wire.name + ".out"))
    call_up_id = json.loads([ln for ln in sent_up if b"tools/call" in ln][0])["id"]
    upstream_result = [json.loads(ln) for ln in answered if json.loads(ln).get("id") == call_up_id][0]
    client_result = json.loads(replies[0])
    assert client_result["result"] == upstream_result["result"]
    custom_up_id = json.loads([ln for ln in sent_up if b"warden-e2e/custom" in ln][0])["id"]
    upstream_error = [json.loads(ln) for ln in answered if json.loads(ln).get("id") == custom_up_id][0]
    assert json.loads(replies[1])["error"] == upstream_error["error"]


@pytest.mark.anyio
async def test_unknown_fields_reach_the_upstream_over_http(e2e):
    """A 2026-07-28 request through the HTTP gateway: params reach the upstream intact."""
    log, wire = e2e.log(), e2e.log("wire")
    upstream = [s.PYTHON, str(s.TEE_LOGGER), str(wire), *s.demo_upstream_cmd(log)]
    gw = e2e.http_gateway(POLICY, upstream)
    body = s.modern_call_body(5, "connections.refresh", {"connection_id": "conn-1", "zeta": None, "nested": {"k": [1, "é"]}})
    body["params"]["x-extra"] = {"keep": True}
    async with s.http_client() as client:
        r = await client.post(gw.url, headers=s.modern_headers("tools/call", "connections.refresh"), json=body)
    assert r.status_code == 200, r.text
    result = s.response_for(s.parse_http_messages(r), 5)["result"]
    assert result.get("isError") is not True, result
    calls = s.wire_tool_calls(wire, "connections.refresh")
    assert len(calls) == 1
    got = calls[0]["params"]
    assert got["arguments"] == body["params"]["arguments"]
    assert got["x-extra"] == {"keep": True}
