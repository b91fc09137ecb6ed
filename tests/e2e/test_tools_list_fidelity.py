"""tools/list through the gateway equals the direct listing minus filtered tools, field for field.

Compared on the raw wire JSON (an SDK's models could drop fields): unknown fields such as
`x-future`, `icons`, `_meta` and `outputSchema` must survive. Hidden and default-denied tools are
not listed; explicitly denied tools stay listed (PolicyLayer's semantics). A hidden tool is
answered exactly like a tool that does not exist.
"""

from __future__ import annotations

import json

import pytest

import support as s

# name -> (policy, tools that must stay listed)
DEMO_POLICIES = {
    "default-deny": (
        {
            "version": "1",
            "default": "deny",
            "hide": ["connections.list"],
            "tools": {
                "connections.refresh": {},
                "connections.list": {},
                "connections.delete": {"action": "deny", "reason": "people delete connections, in the console"},
                "get_connector_capabilities": {},
            },
        },
        {"connections.refresh", "connections.delete", "get_connector_capabilities"},
    ),
    "default-allow-hide-glob": (
        {
            "version": "1",
            "default": "allow",
            "hide": ["execute_*"],
            "tools": {"connections.delete": {"action": "deny"}},
        },
        {"connections.refresh", "connections.list", "connections.delete", "get_connector_capabilities"},
    ),
}

UNKNOWN_FIELDS = {"x-future", "icons", "_meta", "outputSchema"}


def expected_listing(direct: dict, keep: set[str]) -> dict:
    return {**direct, "tools": [t for t in direct["tools"] if t["name"] in keep]}


def assert_same_listing(gateway: dict, direct: dict, keep: set[str]) -> None:
    names = [t["name"] for t in gateway["tools"]]
    assert names == [t["name"] for t in direct["tools"] if t["name"] in keep], names
    want = expected_listing(direct, keep)
    for got_tool, want_tool in zip(gateway["tools"], want["tools"]):
        assert got_tool == want_tool, (
            f"tool {want_tool['name']} differs:\n gateway {json.dumps(got_tool, sort_keys=True)}"
            f"\n direct  {json.dumps(want_tool, sort_keys=True)}"
        )
    assert gateway == want


def demo_direct_listing(e2e) -> dict:
    rs = e2e.raw_stdio(s.demo_upstream_cmd(e2e.log("direct")), name="direct")
    try:
        listing = s.raw_stdio_tools_list(rs)
    finally:
        rs.stop()
    present = set().union(*(t.keys() for t in listing["tools"]))
    assert UNKNOWN_FIELDS <= present, f"the demo upstream should carry unknown fields, has {present}"
    return listing


@pytest.mark.parametrize("case", sorted(DEMO_POLICIES))
def test_stdio_listing_matches_direct_demo(e2e, case):
    policy, keep = DEMO_POLICIES[case]
    direct = demo_direct_listing(e2e)
    rs = e2e.raw_stdio(e2e.gateway_argv(e2e.policy(policy), s.demo_upstream_cmd(e2e.log())), name="gateway")
    try:
        assert_same_listing(s.raw_stdio_tools_list(rs), direct, keep)
    finally:
        rs.stop()


HIDING_CASES = {
    # name: (policy, upstream kind, hidden tool)
    "demo-default-deny": (DEMO_POLICIES["default-deny"][0], "demo", "connections.list"),
    "demo-default-allow": (
        {"version": "1", "default": "allow", "hide": ["connections.list"]},
        "demo",
        "connections.list",
    ),
    "everything-default-allow": (
        {"version": "1", "default": "allow", "hide": ["get-env"]},
        "everything",
        "get-env",
    ),
}


@pytest.mark.parametrize("case", sorted(HIDING_CASES))
def test_hidden_tool_is_answered_like_an_unknown_tool(e2e, case):
    """Hiding must not leak names: a hidden tool's answer is the answer about a tool nobody has."""
    policy, kind, hidden_name = HIDING_CASES[case]
    log = e2e.log()
    upstream = s.demo_upstream_cmd(log) if kind == "demo" else s.everything_cmd(log)
    rs = e2e.raw_stdio(e2e.gateway_argv(e2e.policy(policy), upstream), name="gateway")
    try:
        s.raw_stdio_tools_list(rs)
        hidden = rs.request(10, "tools/call", {"name": hidden_name, "arguments": {}})
        missing = rs.request(11, "tools/call", {"name": "no.such.tool", "arguments": {}})
    finally:
        rs.stop()
    assert hidden["result"]["isError"] is True
    assert "warden/decision" not in (hidden["result"].get("_meta") or {})
    assert json.dumps(hidden, sort_keys=True).replace(hidden_name, "NAME").replace('"id": 10', '"id": N') == json.dumps(
        missing, sort_keys=True
    ).replace("no.such.tool", "NAME").replace('"id": 11', '"id": N'), "a hidden tool is distinguishable from a missing one"
    if kind == "demo":
        assert s.demo_calls(log, hidden_name) == []
    else:
        assert s.wire_tool_calls(log, hidden_name) == []


def test_explicitly_denied_tool_is_listed_and_blocked_with_its_reason(e2e):
    policy, _ = DEMO_POLICIES["default-deny"]
    log = e2e.log()
    rs = e2e.raw_stdio(e2e.gateway_argv(e2e.policy(policy), s.demo_upstream_cmd(log)), name="gateway")
    try:
        listing = s.raw_stdio_tools_list(rs)
        assert "connections.delete" in [t["name"] for t in listing["tools"]]
        denied = rs.request(12, "tools/call", {"name": "connections.delete", "arguments": {"connection_id": "c"}})
    finally:
        rs.stop()
    result = denied["result"]
    assert result["isError"] is True
    assert s.first_text(result).startswith("Blocked by policy:")
    assert "people delete connections" in s.first_text(result)
    decision = s.decision_of(result)
    assert decision["decision"] == "deny"
    assert decision["rule"] in ("/tools/connections.delete", "/tools/connections.delete/action"), decision
    assert "people delete connections" in decision["reason"]
    assert s.demo_calls(log) == []


@pytest.mark.anyio
@pytest.mark.parametrize("upstream_kind", ["command", "url"])
@pytest.mark.parametrize("case", sorted(DEMO_POLICIES))
async def test_http_listing_matches_direct_demo(e2e, case, upstream_kind):
    policy, keep = DEMO_POLICIES[case]
    upstream = e2e.demo_http(e2e.log("direct"))
    direct = await s.raw_http_tools_list(upstream.url)
    assert UNKNOWN_FIELDS <= set().union(*(t.keys() for t in direct["tools"]))
    if upstream_kind == "url":
        gw = e2e.http_gateway(e2e.policy(policy), upstream_url=upstream.url)
    else:
        gw = e2e.http_gateway(e2e.policy(policy), s.demo_upstream_cmd(e2e.log()))
    assert_same_listing(await s.raw_http_tools_list(gw.url), direct, keep)


@pytest.mark.anyio
async def test_http_modern_listing_matches_direct_demo(e2e):
    """2026-07-28 tools/list (stateless, per-request _meta): the same field-for-field guarantee."""
    policy, keep = DEMO_POLICIES["default-deny"]
    upstream = e2e.demo_http(e2e.log("direct"))
    gw = e2e.http_gateway(e2e.policy(policy), upstream_url=upstream.url)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": s.modern_meta()}}
    results = []
    async with s.http_client() as client:
        for url in (upstream.url, gw.url):
            r = await client.post(url, headers=s.modern_headers("tools/list"), json=body)
            assert r.status_code == 200, (url, r.status_code, r.text)
            results.append(s.response_for(s.parse_http_messages(r), 1)["result"])
    direct, through = results
    assert direct.get("resultType") == "complete"
    assert_same_listing(through, direct, keep)


EVERYTHING_POLICY = {
    "version": "1",
    "default": "allow",
    "hide": ["get-env", "toggle-*"],
    "tools": {"gzip-file-as-resource": {"action": "deny", "reason": "no file access"}},
}


def test_stdio_listing_matches_direct_server_everything(e2e):
    direct_log = e2e.log("everything-direct")
    rs = e2e.raw_stdio(s.everything_cmd(direct_log), name="direct")
    try:
        direct = s.raw_stdio_tools_list(rs)
    finally:
        rs.stop()
    names = [t["name"] for t in direct["tools"]]
    assert {"echo", "get-env", "toggle-simulated-logging", "gzip-file-as-resource"} <= set(names), names
    keep = {n for n in names if n != "get-env" and not n.startswith("toggle-")}

    log = e2e.log("everything")
    rs = e2e.raw_stdio(e2e.gateway_argv(e2e.policy(EVERYTHING_POLICY), s.everything_cmd(log)), name="gateway")
    try:
        assert_same_listing(s.raw_stdio_tools_list(rs), direct, keep)
    finally:
        rs.stop()
