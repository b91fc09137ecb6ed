"""`warden serve --config`: an invalid config stops the start (non-zero exit, the message names the
file and the field), and a desktop client's `mcpServers` JSON can be pasted in."""

from __future__ import annotations

import socket
import subprocess

import pytest

import support as s

REFRESH = {"connection_id": "conn-42"}


def base_doc(log) -> dict:
    return {
        "servers": {"executor": s.demo_server(log)},
        "policies": {"refresh": {"file": "refresh.json"}},
        "identities": {"ci-agent": {}},
        "grants": [{"identity": "ci-agent", "server": "executor", "policy": "refresh"}],
    }


def broken_unknown_field(doc):
    doc["servers"]["executor"]["lifecycel"] = "shared"
    return "warden.toml", "servers.executor.lifecycel"


def broken_unknown_server(doc):
    doc["grants"][0]["server"] = "exector"
    return "warden.toml", "grants[0].server"


def broken_policy_file(doc):
    return "refresh.json", "/tools/connections.refresh/limits/0/window"


def broken_unset_variable(doc):
    doc["servers"]["executor"]["env"] = {"TOKEN": "${WARDEN_E2E_SURELY_UNSET}"}
    return "warden.toml", "WARDEN_E2E_SURELY_UNSET"


def broken_listen_host_name(doc):
    doc["listen"] = {"address": "localhost:8080"}
    return "warden.toml", "listen.address"


def broken_grant_without_identity(doc):
    doc["grants"][0]["identity"] = "ci-agnet"
    return "warden.toml", "grants[0].identity"


BROKEN = {f.__name__.removeprefix("broken_"): f for f in [
    broken_unknown_field, broken_unknown_server, broken_policy_file, broken_unset_variable,
    broken_listen_host_name, broken_grant_without_identity,
]}


def run_serve_expecting_refusal(e2e, config, port: int | None) -> str:
    argv = [str(s.WARDEN), "serve", "--config", str(config)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=e2e.env(), timeout=s.START_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"warden serve kept running on an invalid config ({config})") from None
    assert done.returncode != 0, (done.stdout, done.stderr)
    if port is None:
        return done.stderr
    with socket.socket() as probe:
        probe.settimeout(0.5)
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "something listens on the configured port"
    return done.stderr


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_an_invalid_config_stops_the_start_naming_file_and_field(e2e, case):
    log = e2e.log("executor")
    doc = base_doc(log)
    limits = [{"counter": "r", "window": "fortnight" if case == "policy_file" else "minute", "max": 10}]
    s.write_policy(e2e.config_dir, {"version": "1", "default": "deny",
                                    "tools": {"connections.refresh": {"limits": limits}}}, "refresh.json")
    file, field = BROKEN[case](doc)
    config, port = e2e.serve_config(doc, port=None)
    if case == "listen_host_name":
        port = None  # nothing to probe: the address is the invalid value itself
    stderr = run_serve_expecting_refusal(e2e, config, port)
    assert file in stderr, stderr
    assert field in stderr, stderr
    # file:line:col, so an editor can jump to it.
    assert any(f"{file}:" in line and line.split(f"{file}:", 1)[1][:1].isdigit() for line in stderr.splitlines()), stderr
    assert s.demo_calls_shared(log) == []


def test_a_toml_syntax_error_stops_the_start(e2e):
    config = e2e.config_dir / "warden.toml"
    config.write_text('[listen]\naddress = "127.0.0.1:%d"\n[servers.executor\ncommand = "x"\n' % s.free_port())
    port = int(config.read_text().split(":")[1].split('"')[0])
    stderr = run_serve_expecting_refusal(e2e, config, port)
    assert "warden.toml:3" in stderr, stderr


def test_a_missing_config_file_stops_the_start(e2e):
    stderr = run_serve_expecting_refusal(e2e, e2e.config_dir / "nope.toml", s.free_port())
    assert "nope.toml" in stderr, stderr


def claude_desktop_doc(log) -> dict:
    """A Claude Desktop `claude_desktop_config.json`, pasted as is, with Warden's sections added."""
    argv = s.demo_upstream_cmd(log)
    return {
        "mcpServers": {
            "executor": {
                "command": argv[0],
                "args": argv[1:],
                "env": {"DEMO_SETTING": "1"},
                # The client's own approval prompt: ignored (the grant's policy decides), with a warning.
                "autoApprove": ["connections.delete"],
            },
            "legacy-tool": {"command": "/nonexistent/legacy-mcp", "args": ["--stdio"], "disabled": True},
        },
        "policies": {"refresh": {"file": str(s.EXAMPLES / "executor-refresh.json")}},
        "identities": {"ci-agent": {}},
        "grants": [{"identity": "ci-agent", "server": "executor", "policy": "refresh"}],
    }


@pytest.mark.anyio
@pytest.mark.parametrize("fmt", ["json", "toml"])
async def test_the_mcp_servers_shape_of_desktop_clients_is_accepted(e2e, fmt):
    log = e2e.log("executor")
    config, port = e2e.serve_config(claude_desktop_doc(log), name=f"claude_desktop_config.{fmt}")
    gw = e2e.serve(config, port)
    key = e2e.create_key("ci-agent")["key"]
    async with s.serve_client(gw.endpoint("executor"), key, "legacy") as client:
        assert await s.tool_names(client) == ["connections.refresh"]
        assert (await client.call_tool("connections.refresh", REFRESH)).is_error is not True
        # autoApprove never widens access.
        denied = await client.call_tool("connections.delete", REFRESH)
        assert denied.is_error is True and s.decision_of(denied)["rule"] == "/default", denied
    assert [c["tool"] for c in s.demo_calls_shared(log)] == ["connections.refresh"]
    logged = gw.stderr()
    assert "autoApprove" in logged, logged
    # A disabled entry is not served.
    r = await s.post_once(gw.endpoint("legacy-tool"), {**s.LEGACY_ACCEPT, **s.bearer(key)},
                          {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": s.legacy_initialize_params()})
    assert r.status_code == 404, (r.status_code, r.text)


def test_a_desktop_clients_server_name_must_be_renamed(e2e):
    log = e2e.log("executor")
    doc = claude_desktop_doc(log)
    doc["mcpServers"]["GitHub"] = doc["mcpServers"].pop("executor")
    doc["grants"][0]["server"] = "GitHub"
    config, port = e2e.serve_config(doc, name="claude_desktop_config.json")
    stderr = run_serve_expecting_refusal(e2e, config, port)
    assert "claude_desktop_config.json" in stderr and "GitHub" in stderr and '"github"' in stderr, stderr
