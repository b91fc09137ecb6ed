"""Decide on the body, never on headers: a 2026-07-28 Mcp-Name/Mcp-Method that does not match the
body is rejected with HTTP 400 and JSON-RPC -32020, and never forwarded."""

from __future__ import annotations

import base64
import json

import pytest

import support as s

POLICY = s.EXAMPLES / "executor-refresh.json"

def b64_header(value: str) -> str:
    return "=?base64?" + base64.b64encode(value.encode()).decode() + "?="


CASES = {
    # name: (body tool, header overrides)
    "spoofed-name-on-denied-call": ("connections.delete", {"mcp-name": "connections.refresh"}),
    "spoofed-name-on-allowed-call": ("connections.refresh", {"mcp-name": "connections.list"}),
    "method-mismatch": ("connections.delete", {"mcp-method": "tools/list", "mcp-name": "connections.delete"}),
    "method-mismatch-no-name": ("connections.delete", {"mcp-method": "tools/list"}),
    "spoofed-name-base64": ("connections.delete", {"mcp-name": b64_header("connections.refresh")}),
    "missing-name": ("connections.delete", {"mcp-name": None}),
    "missing-method": ("connections.delete", {"mcp-method": None, "mcp-name": "connections.delete"}),
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("upstream_kind", ["command", "url"])
async def test_header_mismatch_is_rejected_and_never_forwarded(e2e, case, upstream_kind):
    tool, overrides = CASES[case]
    log = e2e.log()
    if upstream_kind == "url":
        gw = e2e.http_gateway(POLICY, upstream_url=e2e.demo_http(log).url)
    else:
        gw = e2e.http_gateway(POLICY, s.demo_upstream_cmd(log))
    headers = s.modern_headers("tools/call", tool)
    for k, v in overrides.items():
        if v is None:
            headers.pop(k, None)
        else:
            headers[k] = v
    body = s.modern_call_body(7, tool, {"connection_id": "conn-1"})
    async with s.http_client() as client:
        r = await client.post(gw.url, headers=headers, json=body)
        assert r.status_code == 400, (r.status_code, r.text)
        msg = json.loads(r.text)
        assert msg.get("error", {}).get("code") == -32020, msg
        assert msg.get("id") in (7, None), msg

        # Control: the same request with honest headers goes through (or is denied on its body).
        honest = await client.post(gw.url, headers=s.modern_headers("tools/call", tool), json=body)
        assert honest.status_code == 200, (honest.status_code, honest.text)
        result = s.response_for(s.parse_http_messages(honest), 7)["result"]
        if tool == "connections.delete":
            assert s.first_text(result).startswith("Blocked by policy:")
        else:
            assert result.get("isError") is not True, result

    expected = 1 if tool == "connections.refresh" else 0
    assert len(s.demo_calls(log)) == expected, s.read_jsonl(log)
    assert s.demo_calls(log, "connections.delete") == []


@pytest.mark.anyio
async def test_base64_encoded_honest_name_is_decoded_not_rejected(e2e):
    """Header values may be sent base64-encoded (=?base64?...?=); the gateway decodes before comparing."""
    log = e2e.log()
    gw = e2e.http_gateway(POLICY, s.demo_upstream_cmd(log))
    headers = s.modern_headers("tools/call", b64_header("connections.refresh"))
    async with s.http_client() as client:
        r = await client.post(gw.url, headers=headers, json=s.modern_call_body(1, "connections.refresh", {"connection_id": "c"}))
    assert r.status_code == 200, (r.status_code, r.text)
    assert s.response_for(s.parse_http_messages(r), 1)["result"].get("isError") is not True
    assert len(s.demo_calls(log, "connections.refresh")) == 1


ORIGIN_CASES = {
    # name: (extra headers, expected status)
    "foreign-origin": ({"origin": "http://evil.example"}, 403),
    "foreign-origin-with-local-looking-port": ({"origin": "http://evil.example:8080"}, 403),
    "rebound-host": ({"host": "evil.example"}, 403),
    "null-origin": ({"origin": "null"}, 403),
    "localhost-origin": ({"origin": "http://localhost:3000"}, 200),
    "loopback-origin": ({"origin": "http://127.0.0.1"}, 200),
    "no-origin": ({}, 200),
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", sorted(ORIGIN_CASES))
async def test_browsers_on_other_sites_cannot_reach_the_gateway(e2e, case):
    """Against DNS rebinding: a page on another site (or a hostname rebound to this machine)
    gets 403 and nothing reaches the upstream."""
    extra, expected = ORIGIN_CASES[case]
    log = e2e.log()
    gw = e2e.http_gateway(POLICY, s.demo_upstream_cmd(log))
    headers = s.modern_headers("tools/call", "connections.refresh") | extra
    body = s.modern_call_body(3, "connections.refresh", {"connection_id": "conn-1"})
    async with s.http_client() as client:
        r = await client.post(gw.url, headers=headers, json=body)
    assert r.status_code == expected, (r.status_code, r.text)
    if expected == 403:
        assert json.loads(r.text)["error"]["message"].startswith("Forbidden"), r.text
        assert s.demo_calls(log) == []
    else:
        assert s.demo_calls(log, "connections.refresh"), "the honest request reached the upstream"


@pytest.mark.anyio
async def test_oversized_headers_are_refused_with_431(e2e):
    log = e2e.log()
    gw = e2e.http_gateway(POLICY, s.demo_upstream_cmd(log))
    headers = s.modern_headers("tools/call", "connections.refresh") | {"x-padding": "a" * 20_000}
    body = s.modern_call_body(4, "connections.refresh", {"connection_id": "conn-1"})
    async with s.http_client() as client:
        r = await client.post(gw.url, headers=headers, json=body)
    assert r.status_code == 431, (r.status_code, r.text)
    assert "over the limit" in json.loads(r.text)["error"]["message"], r.text
    assert s.demo_calls(log) == []
