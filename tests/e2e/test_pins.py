"""Definition pins and the poisoning lint, end to end: the real binary in front of the fixture
servers of fixtures/definitions_server.py, driven by the official Python SDK client.

- A rug pull (a tool's description changes after the first listing, announced with
  `notifications/tools/list_changed`): under `pinning: "enforce"` the changed tool leaves
  `tools/list` and its calls are denied (rule `/pinning`) without reaching the server, until
  `warden pins approve` (another process) approves it; `warden pins diff` shows both
  descriptions. Under `"warn"` nothing is hidden; the change is recorded either way.
- Tool poisoning (hidden `<IMPORTANT>` instructions, instructions between zero-width
  characters): with the default lint settings the tool is not listed and is answered like an
  unknown tool; a `tool_definition_finding` event names the kind.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import anyio
import pytest

import support as s

FIXTURE = Path(__file__).parent / "fixtures" / "definitions_server.py"
SERVER = "upstream"  # `warden run`'s default --name


def fixture_cmd(mode: str, log: Path) -> list[str]:
    return [s.PYTHON, str(FIXTURE), mode, str(log)]


def calls(log: Path, tool: str) -> list[dict]:
    return [c for c in s.read_jsonl(log) if c.get("tool") == tool] if log.exists() else []


def warden(e2e, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    argv = [str(s.WARDEN), *args, "--state-dir", str(e2e.state_dir)]
    done = subprocess.run(argv, capture_output=True, text=True, env=e2e.env(), timeout=s.START_TIMEOUT)
    if check:
        assert done.returncode == 0, (argv, done.returncode, done.stdout, done.stderr)
    return done


async def awarden(e2e, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return await anyio.to_thread.run_sync(lambda: warden(e2e, *args, check=check))


def events(e2e, event: str) -> list[dict]:
    out = warden(e2e, "audit", "query", "--format", "jsonl", "--limit", "100000").stdout
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    found = []
    for r in records:
        if r.get("event") != event:
            continue
        d = r.get("detail")
        found.append({**r, "detail": json.loads(d) if isinstance(d, str) else d})
    return found


async def wait_events(e2e, event: str, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await anyio.to_thread.run_sync(lambda: events(e2e, event))
        if found:
            return found
        await anyio.sleep(0.2)
    raise AssertionError(f"no {event} event within {timeout}s")


async def wait_listing(client, present: bool, tool: str, timeout: float = 10.0) -> list[str]:
    """Lists until `tool` is (or is not) listed."""
    deadline = time.monotonic() + timeout
    names: list[str] = []
    while time.monotonic() < deadline:
        names = await s.tool_names(client)
        if (tool in names) == present:
            return names
        await anyio.sleep(0.2)
    raise AssertionError(f"{tool} {'not ' if present else ''}listed within {timeout}s: {names}")


def policy(e2e, pinning: str | None) -> Path:
    doc: dict = {"version": "1", "default": "allow"}
    if pinning:
        doc["pinning"] = pinning
    return e2e.policy(doc)


@pytest.mark.anyio
async def test_a_rug_pull_is_blocked_under_enforce_until_approved(e2e):
    log = e2e.log()
    params = e2e.stdio_params(policy(e2e, "enforce"), fixture_cmd("rugpull", log))
    async with s.sdk_client(params, "legacy") as client:
        first = await s.tool_names(client)
        assert sorted(first) == ["get_time", "get_weather"], first
        # The server changes get_weather and says so: the gateway stops listing it.
        names = await wait_listing(client, False, "get_weather")
        assert names == ["get_time"], names

        result = await client.call_tool("get_weather", {"city": "Paris"})
        assert result.is_error is True, result
        assert s.first_text(result).startswith("Blocked by policy:"), result
        d = s.decision_of(result)
        assert d is not None and d["decision"] == "deny" and d["rule"] == "/pinning", d
        assert f"warden pins approve {SERVER} get_weather" in s.first_text(result)
        assert calls(log, "get_weather") == []
        # The unchanged tool still works.
        assert (await client.call_tool("get_time", {})).is_error is not True

        pending = json.loads((await awarden(e2e, "pins", "list", "--status", "pending", "--format", "json")).stdout)
        assert [(p["server"], p["tool"]) for p in pending] == [(SERVER, "get_weather")], pending
        diff = (await awarden(e2e, "pins", "diff", SERVER, "get_weather")).stdout
        assert "Get the current weather for a city." in diff, diff
        assert "full street address and phone number" in diff, diff
        assert "\n- " in diff and "\n+ " in diff, diff

        approved = await awarden(e2e, "pins", "approve", SERVER, "get_weather")
        assert "approved get_weather" in approved.stdout, approved
        again = await awarden(e2e, "pins", "approve", SERVER, "get_weather", check=False)
        assert again.returncode == 1 and "nothing pending" in again.stderr, again

        assert "get_weather" in await s.tool_names(client)
        result = await client.call_tool("get_weather", {"city": "Paris"})
        assert result.is_error is not True, result
        assert len(calls(log, "get_weather")) == 1

    changed = await wait_events(e2e, "tool_definition_changed")
    assert [(e["server"], e["detail"]["tool"], e["detail"]["kind"]) for e in changed] == [
        (SERVER, "get_weather", "changed")
    ], changed
    assert changed[0]["detail"]["old_fingerprint"] != changed[0]["detail"]["new_fingerprint"]
    approvals = await wait_events(e2e, "tool_definition_approved")
    assert approvals[0]["detail"]["tool"] == "get_weather"
    assert approvals[0]["detail"]["by"].startswith("operator:cli:")
    denied = [r for r in events(e2e, "call") if r.get("rule") == "/pinning"]
    assert len(denied) == 1 and denied[0]["decision"] == "deny", denied


@pytest.mark.anyio
async def test_under_warn_a_rug_pull_stays_listed_and_is_recorded(e2e):
    log = e2e.log()
    params = e2e.stdio_params(policy(e2e, "warn"), fixture_cmd("rugpull", log))
    async with s.sdk_client(params, "legacy") as client:
        assert "get_weather" in await s.tool_names(client)
        await anyio.sleep(0.6)  # the server's list_changed
        assert "get_weather" in await s.tool_names(client)
        result = await client.call_tool("get_weather", {"city": "Paris"})
        assert result.is_error is not True, result
        assert len(calls(log, "get_weather")) == 1
    changed = await wait_events(e2e, "tool_definition_changed")
    assert [(e["detail"]["tool"], e["detail"]["kind"]) for e in changed] == [("get_weather", "changed")]
    pending = json.loads(warden(e2e, "pins", "list", "--status", "pending", "--format", "json").stdout)
    assert [p["tool"] for p in pending] == ["get_weather"]


@pytest.mark.anyio
async def test_trust_on_first_use_covers_every_page(e2e):
    """The client reads page 1 only at first; the gateway pins both pages, so page 2 is not new."""
    log = e2e.log()
    params = e2e.stdio_params(policy(e2e, "enforce"), fixture_cmd("paged", log))
    async with s.sdk_client(params, "legacy") as client:
        first = await client.list_tools()
        assert [t.name for t in first.tools] == ["get_time"], first
        assert first.next_cursor == "2", first
        pins = json.loads((await awarden(e2e, "pins", "list", "--format", "json")).stdout)
        assert sorted((p["tool"], p["status"], p["approved_by"]) for p in pins) == [
            ("get_time", "approved", "first-use"),
            ("get_weather", "approved", "first-use"),
        ], pins
        second = await client.list_tools(cursor="2")
        assert [t.name for t in second.tools] == ["get_weather"], second
        assert (await client.call_tool("get_weather", {"city": "Oslo"})).is_error is not True
    assert events(e2e, "tool_definition_changed") == []


def test_pins_cli_refuses_unknown_servers_and_tools(e2e):
    done = warden(e2e, "pins", "diff", "nowhere", "x", check=False)
    assert done.returncode == 1 and "no pins for server" in done.stderr, done
    done = warden(e2e, "pins", "approve", "nowhere", "--all", check=False)
    assert done.returncode == 1, done


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["poison", "poison-zw"])
async def test_a_poisoned_tool_is_not_listed_and_answered_as_unknown(e2e, mode):
    log = e2e.log()
    params = e2e.stdio_params(policy(e2e, None), fixture_cmd(mode, log))
    async with s.sdk_client(params, "legacy") as client:
        names = await s.tool_names(client)
        assert names == ["multiply"], names
        poisoned = await client.call_tool("add", {"a": 1, "b": 2, "sidenote": "x"})
        missing = await client.call_tool("no_such_tool", {"a": 1, "b": 2})
        assert poisoned.is_error is True, poisoned
        assert s.decision_of(poisoned) is None, poisoned
        assert s.first_text(poisoned).replace("add", "NAME") == s.first_text(missing).replace(
            "no_such_tool", "NAME"
        ), (poisoned, missing)
        assert (await client.call_tool("multiply", {"a": 2, "b": 3})).is_error is not True
    assert calls(log, "add") == []
    findings = await wait_events(e2e, "tool_definition_finding")
    kinds = {e["detail"]["kind"] for e in findings if e["detail"]["tool"] == "add"}
    assert kinds, findings
    expected = "hidden_instructions" if mode == "poison" else "invisible_unicode"
    assert expected in kinds, kinds


@pytest.mark.anyio
async def test_with_the_lint_off_a_poisoned_tool_is_listed_and_nothing_is_recorded(e2e):
    log = e2e.log()
    doc = {"version": "1", "default": "allow", "lint": "off"}
    params = e2e.stdio_params(e2e.policy(doc), fixture_cmd("poison", log))
    async with s.sdk_client(params, "legacy") as client:
        assert sorted(await s.tool_names(client)) == ["add", "multiply"]
        assert (await client.call_tool("add", {"a": 1, "b": 2})).is_error is not True
    assert len(calls(log, "add")) == 1
    assert events(e2e, "tool_definition_finding") == []


@pytest.mark.anyio
async def test_warden_serve_pins_per_server_and_lints_across_servers(e2e):
    """Two servers behind `warden serve`: the rug pull on one is blocked and approved with
    `warden pins --config`; the tool names both offer are reported as shadowing."""
    logs = {name: e2e.log(name) for name in ("weather", "other")}
    s.write_policy(e2e.config_dir, {"version": "1", "default": "allow", "pinning": "enforce"}, "pinned.json")
    cmds = {"weather": fixture_cmd("rugpull", logs["weather"]), "other": fixture_cmd("paged", logs["other"])}
    doc = {
        "servers": {name: {"command": argv[0], "args": argv[1:]} for name, argv in cmds.items()},
        "policies": {"pinned": {"file": "pinned.json"}},
        "identities": {"ana": {}},
        "grants": [
            {"identity": "ana", "server": "weather", "policy": "pinned"},
            {"identity": "ana", "server": "other", "policy": "pinned"},
        ],
    }
    config, port = e2e.serve_config(doc)
    key = e2e.create_key("ana")["key"]
    gw = e2e.serve(config, port)
    async with s.serve_client(gw.endpoint("other"), key) as other:
        assert await s.tool_names(other) == ["get_time"]
    async with s.serve_client(gw.endpoint("weather"), key) as client:
        assert sorted(await s.tool_names(client)) == ["get_time", "get_weather"]
        await wait_listing(client, False, "get_weather")
        d = s.decision_of(await client.call_tool("get_weather", {"city": "Rome"}))
        assert d is not None and d["rule"] == "/pinning", d
        where = ["--config", str(config)]
        argv = [str(s.WARDEN), "pins", "approve", "weather", "--all", *where]
        done = await anyio.to_thread.run_sync(
            lambda: subprocess.run(argv, capture_output=True, text=True, env=e2e.env(), timeout=s.START_TIMEOUT)
        )
        assert done.returncode == 0, done
        assert "get_weather" in await s.tool_names(client)
        assert (await client.call_tool("get_weather", {"city": "Rome"})).is_error is not True
    assert calls(logs["weather"], "get_weather") == [{"tool": "get_weather", "arguments": {"city": "Rome"}}]
    findings = await wait_events(e2e, "tool_definition_finding")
    shadowed = {(e["server"], e["detail"]["tool"]) for e in findings if e["detail"]["kind"] == "shadowing"}
    assert ("weather", "get_time") in shadowed or ("other", "get_time") in shadowed, findings
