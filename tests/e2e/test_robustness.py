"""Hardening: malformed input gets a JSON-RPC error and the session goes on; sizes are bounded; an
upstream crash is an error for the client, not a hang; stopping the gateway leaves no upstream
process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import anyio
import httpx2 as httpx
import pytest
from mcp import MCPError

import support as s

POLICY = s.EXAMPLES / "executor-refresh.json"
REFRESH = {"name": "connections.refresh", "arguments": {"connection_id": "conn-1"}}
OVERSIZED = 5 << 20  # the gateway bounds a client message at 4 MiB


def started_gateway(e2e, upstream: list[str] | None = None, log=None):
    log = log or e2e.log()
    rs = e2e.raw_stdio(e2e.gateway_argv(POLICY, upstream or s.demo_upstream_cmd(log)), name="gateway")
    init = rs.request(1, "initialize", s.legacy_initialize_params())
    assert "result" in init, init
    rs.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    return rs, log


def assert_error(msg, code: int) -> None:
    assert isinstance(msg, dict), msg
    assert msg.get("jsonrpc") == "2.0", msg
    assert msg.get("id") is None, msg
    assert msg.get("error", {}).get("code") == code, msg
    assert msg["error"].get("message"), msg


def assert_session_alive(rs, id_: int) -> None:
    resp = rs.request(id_, "tools/call", REFRESH)
    assert resp.get("result", {}).get("isError") is False, resp


# ---- malformed input --------------------------------------------------------------------------


BAD_LINES = {
    "not-json": (b"{not json\n", -32700),
    "truncated": (b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":\n', -32700),
    "not-jsonrpc": (b'{"foo": 1}\n', -32600),
    "wrong-version": (b'{"jsonrpc":"1.0","id":3,"method":"tools/list"}\n', -32600),
    "scalar": (b'"hello"\n', -32600),
    "empty-batch": (b"[]\n", -32600),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_malformed_line_over_stdio_gets_an_error_and_the_session_continues(e2e, case):
    line, code = BAD_LINES[case]
    rs, log = started_gateway(e2e)
    try:
        rs.send_raw(line)
        assert_error(rs.recv(), code)
        assert_session_alive(rs, 100)
    finally:
        rs.stop()
    assert len(s.demo_calls(log)) == 1


def test_batch_over_stdio_gets_an_error_and_is_not_forwarded(e2e):
    rs, log = started_gateway(e2e)
    batch = [
        {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": REFRESH},
        {"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "connections.delete", "arguments": {}}},
    ]
    try:
        rs.send(batch)
        reply = rs.recv()
        errors = reply if isinstance(reply, list) else [reply]
        assert errors, reply
        for err in errors:
            assert "error" in err and "result" not in err, reply
            assert err["error"]["code"] == -32600, reply
        assert_session_alive(rs, 100)
    finally:
        rs.stop()
    calls = s.demo_calls(log)
    assert len(calls) == 1 and calls[0]["arguments"] == REFRESH["arguments"], calls


def test_oversized_line_over_stdio_gets_an_error_and_the_session_continues(e2e):
    rs, log = started_gateway(e2e)
    try:
        big = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
               "params": {"name": "connections.refresh", "arguments": {"connection_id": "x" * OVERSIZED}}}
        try:
            rs.send(big)
        except BrokenPipeError:
            pass  # the gateway may stop reading the rest of the line; its reply tells
        reply = rs.recv()
        assert reply.get("error", {}).get("code") in (-32600, -32700), reply
        assert reply.get("id") in (None, 9), reply
        assert rs.proc.poll() is None, "the gateway exited after an oversized line instead of going on"
        try:
            assert_session_alive(rs, 100)
        except (BrokenPipeError, AssertionError) as e:
            raise AssertionError(f"the session did not continue after an oversized line: {e!r}") from None
    finally:
        rs.stop()
    assert [c["arguments"]["connection_id"] for c in s.demo_calls(log)] == ["conn-1"]


@pytest.mark.anyio
async def test_malformed_json_over_http_is_a_400_parse_error(e2e):
    log = e2e.log()
    gw = e2e.http_gateway(POLICY, s.demo_upstream_cmd(log))
    async with s.http_client() as client:
        r = await client.post(gw.url, headers=s.LEGACY_ACCEPT, content=b"{not json")
        assert r.status_code == 400, (r.status_code, r.text)
        assert json.loads(r.text)["error"]["code"] == -32700
        # The gateway keeps serving.
        headers = await s.legacy_http_session(client, gw.url)
        r = await client.post(gw.url, headers=headers, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": REFRESH})
        assert s.response_for(s.parse_http_messages(r), 2)["result"]["isError"] is False


async def post_call(client, url: str, era: str, args: dict):
    if era == "legacy":
        headers = await s.legacy_http_session(client, url)
        body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "connections.refresh", "arguments": args}}
    else:
        headers = s.modern_headers("tools/call", "connections.refresh")
        body = s.modern_call_body(2, "connections.refresh", args)
    try:
        return await client.post(url, headers=headers, json=body)
    except httpx.TransportError as e:
        raise AssertionError(f"the gateway broke the connection instead of answering: {e!r}") from None


@pytest.mark.anyio
@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_oversized_body_over_http_is_413_and_not_forwarded(e2e, era):
    log = e2e.log()
    gw = e2e.http_gateway(POLICY, s.demo_upstream_cmd(log))
    async with s.http_client() as client:
        r = await post_call(client, gw.url, era, {"connection_id": "x" * OVERSIZED})
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert r.headers.get("content-type", "").startswith("application/json"), (r.headers, r.text[:300])
    err = json.loads(r.text)
    assert err.get("jsonrpc") == "2.0" and err["error"]["code"] in (-32600, -32700), err
    assert s.demo_calls(log) == []


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_large_message_under_the_limit_is_accepted(e2e, transport):
    """A client message may be up to 4 MiB, on either transport (docs/ARCHITECTURE.md)."""
    log = e2e.log()
    conn = "conn-" + "9" * (3 << 20)  # about 3 MiB
    if transport == "stdio":
        rs, _ = started_gateway(e2e, log=log)
        try:
            resp = rs.request(2, "tools/call", {"name": "connections.refresh", "arguments": {"connection_id": conn}})
        finally:
            rs.stop()
        assert resp.get("result", {}).get("isError") is False, str(resp)[:300]
    else:
        gw = e2e.http_gateway(POLICY, s.demo_upstream_cmd(log))
        async with s.http_client() as client:
            r = await post_call(client, gw.url, "modern", {"connection_id": conn})
        assert r.status_code == 200, (r.status_code, r.text[:300])
    assert [len(c["arguments"]["connection_id"]) for c in s.demo_calls(log)] == [len(conn)]


# ---- upstream failures --------------------------------------------------------------------------


def demo_pid(e2e, log) -> int:
    found = [
        pid for pid, cmd in s.tagged_processes(e2e.tag) if cmd.split()[1:2] == ["demo-upstream"] and str(log) in cmd
    ]
    assert len(found) == 1, s.tagged_processes(e2e.tag)
    return found[0]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", s.MODERN])
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_upstream_crash_during_a_call_is_an_error_not_a_hang(e2e, transport, mode):
    log = e2e.log()
    if transport == "stdio":
        server = e2e.stdio_params(POLICY, s.demo_upstream_cmd(log))
    else:
        server = e2e.http_gateway(POLICY, s.demo_upstream_cmd(log)).url
    outcome: dict = {}
    async with s.sdk_client(server, mode) as client:
        async def slow_call() -> None:
            try:
                outcome["result"] = await client.call_tool(
                    "connections.refresh", {"connection_id": "conn-1", "sleep_ms": 60_000}
                )
            except MCPError as e:
                outcome["error"] = e

        started = time.monotonic()
        with anyio.fail_after(15):
            async with anyio.create_task_group() as tg:
                tg.start_soon(slow_call)
                while not s.demo_calls(log):
                    await anyio.sleep(0.02)
                os.kill(demo_pid(e2e, log), signal.SIGKILL)
        elapsed = time.monotonic() - started
    assert elapsed < 15
    if "result" in outcome:
        assert outcome["result"].is_error is True, outcome
    else:
        assert isinstance(outcome.get("error"), MCPError), outcome


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["stdio", "http"])
@pytest.mark.parametrize("command", ["exits", "missing"])
async def test_upstream_that_cannot_start_is_an_error_not_a_hang(e2e, transport, command):
    upstream = [s.PYTHON, "-c", "import sys; sys.exit(3)"] if command == "exits" else [str(e2e.tmp / "no-such-server")]
    failed = False
    with anyio.fail_after(20):
        if transport == "stdio":
            server = e2e.stdio_params(POLICY, upstream)
        else:
            port = s.free_port()
            proc, err = e2e.spawn(e2e.gateway_argv(POLICY, upstream, listen=f"127.0.0.1:{port}"), "gateway")
            # Either the gateway refuses to start (non-zero exit) or it serves errors.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    assert proc.returncode != 0
                    return
                try:
                    s.wait_listening(port, proc, timeout=0.2)
                    break
                except AssertionError:
                    continue
            server = f"http://127.0.0.1:{port}/mcp"
        try:
            async with s.sdk_client(server, "legacy") as client:
                r = await client.call_tool("connections.refresh", {"connection_id": "conn-1"})
                failed = r.is_error is True
        except Exception:
            failed = True
    assert failed, "the client should see an error when the upstream cannot run"


# ---- shutdown ---------------------------------------------------------------------------------


def lingering_upstream(e2e):
    """The demo upstream behind a wrapper that does not exit on stdin EOF: only an active stop ends it."""
    log = e2e.log()
    wire = e2e.log("wire")
    return [s.PYTHON, str(s.TEE_LOGGER), "--linger", str(wire), *s.demo_upstream_cmd(log)], log


def test_client_closing_stdin_stops_the_gateway_and_its_upstream(e2e):
    upstream, log = lingering_upstream(e2e)
    rs, _ = started_gateway(e2e, upstream, log)
    assert_session_alive(rs, 2)
    assert len(s.tagged_processes(e2e.tag)) >= 3  # gateway, wrapper, demo upstream
    rs.close_stdin()
    rs.proc.wait(timeout=s.EXIT_TIMEOUT)
    assert s.wait_no_tagged_processes(e2e.tag) == []


def test_sigterm_stops_the_stdio_gateway_and_its_upstream(e2e):
    upstream, log = lingering_upstream(e2e)
    rs, _ = started_gateway(e2e, upstream, log)
    assert_session_alive(rs, 2)
    gateway_pid = rs.proc.pid
    rs.proc.send_signal(signal.SIGTERM)  # the client keeps stdin open, as a desktop client would
    try:
        rs.proc.wait(timeout=s.EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        others = [p for p in s.tagged_processes(e2e.tag) if p[0] != gateway_pid]
        raise AssertionError(
            f"the stdio gateway did not exit within {s.EXIT_TIMEOUT}s of SIGTERM while its stdin stayed open "
            f"(other processes still alive: {others})"
        ) from None
    assert s.wait_no_tagged_processes(e2e.tag) == []


@pytest.mark.anyio
async def test_sigterm_stops_the_http_gateway_and_its_upstream(e2e):
    upstream, log = lingering_upstream(e2e)
    gw = e2e.http_gateway(POLICY, upstream)
    async with s.sdk_client(gw.url, "legacy") as client:
        r = await client.call_tool("connections.refresh", {"connection_id": "conn-1"})
        assert r.is_error is not True
    assert len(s.tagged_processes(e2e.tag)) >= 3
    e2e.stop(gw.proc, signal.SIGTERM)
    assert s.wait_no_tagged_processes(e2e.tag) == []
