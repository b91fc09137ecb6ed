"""`warden serve` hot reload: policy and config files saved the way editors save them (a new file
renamed over the old one), and SIGHUP. New rules apply to new calls within a couple of seconds,
under load no call is lost or counted twice, and a broken file keeps the rules in force."""

from __future__ import annotations

import os
import re
import signal
import time

import anyio
import pytest

import support as s

REFRESH = {"connection_id": "conn-42"}
LIMIT = {"counter": "refresh", "window": "hour", "max": 100000}
ANSI = re.compile(r"\x1b\[[0-9;]*m")
APPLY_WITHIN = 3.0  # seconds: "within a couple of seconds" (debounce + reload)


def policy(**tools) -> dict:
    return {"version": "1", "default": "deny", "tools": tools}


def log_text(gw) -> str:
    return ANSI.sub("", gw.stderr())


def config_doc(log, grants=None, policies=None) -> dict:
    return {
        "servers": {"executor": s.demo_server(log)},
        "policies": policies or {"main": {"file": "policy.json"}},
        "identities": {"ci-agent": {}, "alice": {}},
        "grants": grants or [{"identity": "ci-agent", "server": "executor", "policy": "main"}],
    }


def start(e2e, first_policy: dict, **kw):
    log = e2e.log("executor")
    policy_file = s.write_policy(e2e.config_dir, first_policy, "policy.json")
    config, port = e2e.serve_config(config_doc(log, **kw))
    gw = e2e.serve(config, port)
    return gw, log, policy_file, config


def outcome(result) -> str:
    d = s.decision_of(result)
    if result.is_error is not True and d is None:
        return "allowed"
    if d is None:
        return f"tool error: {s.first_text(result)}"
    return f"{d['decision']} {d['rule']} {d.get('reason', '')}".strip()


async def wait_outcome(client, tool: str, args: dict, want: str, timeout: float = APPLY_WITHIN) -> float:
    """Call tool until its outcome is "allowed" (want == "allowed") or contains want; return how
    long that took."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < timeout:
        last = outcome(await client.call_tool(tool, args))
        if last == want or (want != "allowed" and want in last):
            return time.monotonic() - start
        await anyio.sleep(0.05)
    raise AssertionError(f"{tool}: still {last!r} {timeout}s after the change, expected {want!r}")


@pytest.mark.anyio
async def test_policy_change_under_load_applies_to_new_calls_without_losing_or_double_counting(e2e):
    v1 = policy(**{"connections.list": {}, "connections.refresh": {"limits": [LIMIT]}})
    gw, log, policy_file, _ = start(e2e, v1)
    key = e2e.create_key("ci-agent")["key"]
    url = gw.endpoint("executor")

    records: list[tuple[int, float, float, str]] = []  # worker, sent, answered, outcome
    started = 0
    changed_at: list[float] = []
    denied_seen: set[int] = set()
    modes = ["legacy", "legacy", s.MODERN, s.MODERN]

    async def worker(i: int, mode: str, stop: anyio.Event) -> None:
        nonlocal started
        async with s.serve_client(url, key, mode) as client:
            while not stop.is_set():
                started += 1
                sent = time.monotonic()
                try:
                    o = outcome(await client.call_tool("connections.refresh", REFRESH))
                except Exception as e:  # an unanswered call is a failure, recorded
                    o = f"exception: {e!r}"
                records.append((i, sent, time.monotonic(), o))
                if "frozen by v2" in o:
                    denied_seen.add(i)

    stop = anyio.Event()
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for i, mode in enumerate(modes):
                tg.start_soon(worker, i, mode, stop)
            await anyio.sleep(1.0)
            v2 = policy(**{"connections.list": {}, "connections.refresh": {"action": "deny", "reason": "frozen by v2", "limits": [LIMIT]}})
            s.write_atomically(policy_file, s.json_dumps(v2))
            changed_at.append(time.monotonic())
            deadline = time.monotonic() + APPLY_WITHIN + 2
            while len(denied_seen) < len(modes) and time.monotonic() < deadline:
                await anyio.sleep(0.05)
            await anyio.sleep(0.3)
            stop.set()

    t_change = changed_at[0]
    assert len(records) == started, f"{started - len(records)} calls got no answer"
    bad = [r for r in records if r[3] != "allowed" and "frozen by v2" not in r[3]]
    assert not bad, f"calls answered neither allowed nor by the new rule: {bad[:5]}"
    for i in range(len(modes)):
        seq = [r for r in records if r[0] == i]
        kinds = ["allowed" if r[3] == "allowed" else "denied" for r in seq]
        assert "denied" in kinds, f"worker {i} ({modes[i]}) never saw the new rule"
        first_denied = kinds.index("denied")
        assert "allowed" not in kinds[first_denied:], f"worker {i}: allowed again after the new rule applied: {kinds}"
        assert first_denied > 0, f"worker {i}: denied before the change"
        assert seq[first_denied][2] - t_change < APPLY_WITHIN, f"worker {i}: new rule applied after {seq[first_denied][2] - t_change:.2f}s"
        assert all(r[3] == "allowed" for r in seq if r[2] < t_change), f"worker {i}: denied before the file changed"
    allowed = sum(1 for r in records if r[3] == "allowed")
    assert allowed > 20, f"too little load to mean anything: {allowed} allowed calls"
    upstream = len(s.demo_calls_shared(log, "connections.refresh"))
    assert upstream == allowed, f"{allowed} allowed answers but the upstream saw {upstream} calls"

    # The counter holds exactly the allowed calls: with room for 3 more, exactly 3 more pass.
    v3 = policy(**{
        "connections.list": {"action": "deny", "reason": "v3 marker"},
        "connections.refresh": {"limits": [{**LIMIT, "max": allowed + 3}]},
    })
    s.write_atomically(policy_file, s.json_dumps(v3))
    async with s.serve_client(url, key, "legacy") as client:
        await wait_outcome(client, "connections.list", {}, "v3 marker")
        for n in range(3):
            assert outcome(await client.call_tool("connections.refresh", REFRESH)) == "allowed", (
                f"call {n + 1} of the 3 left was refused: the counter holds more than the {allowed} allowed calls"
            )
        last = outcome(await client.call_tool("connections.refresh", REFRESH))
        assert last.startswith("rate_limited /tools/connections.refresh/limits/0"), (
            f"a 4th call was not rate-limited ({last}): the counter holds fewer than the {allowed} allowed calls"
        )
    assert len(s.demo_calls_shared(log, "connections.refresh")) == allowed + 3


@pytest.mark.anyio
async def test_an_in_flight_call_finishes_under_the_rules_it_started_with(e2e):
    gw, log, policy_file, _ = start(e2e, policy(**{"connections.refresh": {}}))
    key = e2e.create_key("ci-agent")["key"]
    url = gw.endpoint("executor")
    slow_result = []

    async def slow_call():
        async with s.serve_client(url, key, "legacy") as client:
            slow_result.append(outcome(await client.call_tool("connections.refresh", {**REFRESH, "sleep_ms": 2500})))

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(slow_call)
            while not s.demo_calls_shared(log):  # bounded by fail_after
                await anyio.sleep(0.02)
            s.write_atomically(policy_file, s.json_dumps(policy(**{"connections.refresh": {"action": "deny", "reason": "v2"}})))
            async with s.serve_client(url, key, "legacy") as client:
                await wait_outcome(client, "connections.refresh", REFRESH, "v2")
    assert slow_result == ["allowed"], slow_result
    assert sum(1 for c in s.demo_calls_shared(log) if "sleep_ms" in c["arguments"]) == 1


BROKEN_POLICIES = {
    "unknown field": ('{"version": "1", "default": "deny",\n "tools": {"connections.list": {"actoin": "deny"}}}\n',
                      "/tools/connections.list/actoin"),
    "invalid JSON": ('{"version": "1", "default": "deny", "tools": {\n', None),
    "empty file": ("", None),
}


@pytest.mark.anyio
@pytest.mark.parametrize("broken", sorted(BROKEN_POLICIES))
async def test_a_broken_policy_file_keeps_the_old_rules_and_is_logged(e2e, broken):
    v1 = policy(**{"connections.list": {}})
    gw, log, policy_file, _ = start(e2e, v1)
    key = e2e.create_key("ci-agent")["key"]
    text, pointer = BROKEN_POLICIES[broken]
    async with s.serve_client(gw.endpoint("executor"), key, "legacy") as client:
        assert outcome(await client.call_tool("connections.list", {})) == "allowed"

        s.write_atomically(policy_file, text)
        s.wait_for(lambda: "reload rejected" in log_text(gw), timeout=APPLY_WITHIN + 2, what="a logged rejection")
        logged = log_text(gw)
        assert "policy.json" in logged, logged
        if pointer:
            assert pointer in logged, logged

        # The old rules stay in force, for calls and for tools/list.
        assert outcome(await client.call_tool("connections.list", {})) == "allowed"
        assert outcome(await client.call_tool("connections.refresh", REFRESH)).startswith("deny /default")
        assert await s.tool_names(client) == ["connections.list"]
        assert gw.proc.poll() is None

        # Fixing the file is picked up: the watcher survives a rejected reload.
        s.write_atomically(policy_file, s.json_dumps(policy(**{"connections.refresh": {}})))
        await wait_outcome(client, "connections.refresh", REFRESH, "allowed")
        o = outcome(await client.call_tool("connections.list", {}))
        assert o.startswith("deny /default"), o
    assert [c["tool"] for c in s.demo_calls_shared(log)] == ["connections.list", "connections.list", "connections.refresh"]


@pytest.mark.anyio
async def test_a_broken_config_file_keeps_the_running_configuration(e2e):
    gw, log, _, config = start(e2e, policy(**{"connections.list": {}}))
    key = e2e.create_key("ci-agent")["key"]
    good = config.read_text()
    async with s.serve_client(gw.endpoint("executor"), key, "legacy") as client:
        s.write_atomically(config, good.replace('policy = "main"', 'policy = "mian"'))
        s.wait_for(lambda: "reload rejected" in log_text(gw), timeout=APPLY_WITHIN + 2, what="a logged rejection")
        logged = log_text(gw)
        assert "warden.toml" in logged and "grants[0].policy" in logged, logged
        assert outcome(await client.call_tool("connections.list", {})) == "allowed"
        assert outcome(await client.call_tool("connections.refresh", REFRESH)).startswith("deny /default")
    assert gw.proc.poll() is None


@pytest.mark.anyio
async def test_sighup_reloads(e2e):
    """The policy file is a symlink into a directory the gateway does not watch (a deploy tool's
    releases directory): editing the target is only seen on SIGHUP."""
    releases = e2e.tmp / "releases"
    releases.mkdir()
    target = s.write_policy(releases, policy(**{"connections.list": {}}), "v1.json")
    log = e2e.log("executor")
    os.symlink(target, e2e.config_dir / "policy.json")
    config, port = e2e.serve_config(config_doc(log))
    gw = e2e.serve(config, port)
    key = e2e.create_key("ci-agent")["key"]
    async with s.serve_client(gw.endpoint("executor"), key, "legacy") as client:
        assert outcome(await client.call_tool("connections.list", {})) == "allowed"
        s.write_atomically(target, s.json_dumps(policy(**{"connections.list": {"action": "deny", "reason": "after SIGHUP"}})))
        await anyio.sleep(1.0)
        assert outcome(await client.call_tool("connections.list", {})) == "allowed", (
            "premise: the edit is outside the watched directories, so only SIGHUP should apply it"
        )
        gw.proc.send_signal(signal.SIGHUP)
        await wait_outcome(client, "connections.list", {}, "after SIGHUP")
    assert gw.proc.poll() is None


@pytest.mark.anyio
async def test_removing_a_grant_refuses_the_next_request(e2e):
    grants = [
        {"identity": "ci-agent", "server": "executor", "policy": "main"},
        {"identity": "alice", "server": "executor", "policy": "main"},
    ]
    gw, log, _, config = start(e2e, policy(**{"connections.list": {}}), grants=grants)
    keys = {who: e2e.create_key(who)["key"] for who in ("ci-agent", "alice")}
    url = gw.endpoint("executor")
    call = {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "connections.list", "arguments": {}}}

    async with s.http_client(headers=s.bearer(keys["alice"])) as http:
        alice_session = await s.legacy_http_session(http, url)
        r = await http.post(url, headers=alice_session, json=call)
        assert r.status_code == 200 and "result" in s.response_for(s.parse_http_messages(r), 9), r.text

    async with s.serve_client(url, keys["ci-agent"], "legacy") as ci:
        assert outcome(await ci.call_tool("connections.list", {})) == "allowed"

        s.write_atomically(config, s.to_toml({**s.tomllib_load(config), "grants": grants[:1]}))
        start_t = time.monotonic()
        while True:
            r = await s.post_once(url, {**alice_session, **s.bearer(keys["alice"])}, call)
            if r.status_code == 403 or time.monotonic() - start_t > APPLY_WITHIN:
                break
            await anyio.sleep(0.05)
        assert r.status_code == 403, f"alice's open session still served {time.monotonic() - start_t:.1f}s after her grant was removed: {r.status_code} {r.text}"
        r = await s.post_once(url, {**s.LEGACY_ACCEPT, **s.bearer(keys["alice"])},
                              {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": s.legacy_initialize_params()})
        assert r.status_code == 403, (r.status_code, r.text)

        # The other grant, and its open session, carry on.
        assert outcome(await ci.call_tool("connections.list", {})) == "allowed"
        assert await s.tool_names(ci) == ["connections.list"]


@pytest.mark.anyio
async def test_the_gateways_own_log_in_the_config_directory_does_not_cause_reloads(e2e):
    """Operators often keep `warden serve ... 2>>warden.log` next to warden.toml. Writing that log
    (or any unrelated file in the directory) is not a config change: no reload, so no reload loop
    (each reload logs a line, which is another write)."""
    log = e2e.log("executor")
    s.write_policy(e2e.config_dir, policy(**{"connections.list": {}}), "policy.json")
    config, port = e2e.serve_config(config_doc(log))
    gw = e2e.serve(config, port, name="config/serve")  # stderr: config/serve.stderr
    assert gw.stderr_path.parent == e2e.config_dir
    key = e2e.create_key("ci-agent")["key"]
    async with s.serve_client(gw.endpoint("executor"), key, "legacy") as client:
        assert outcome(await client.call_tool("connections.list", {})) == "allowed"
    (e2e.config_dir / "NOTES.txt").write_text("unrelated\n")
    time.sleep(2.0)
    reloads = log_text(gw).count("configuration reloaded")
    assert reloads == 0, f"{reloads} reloads in 2 s without any change to warden.toml or policy.json:\n{log_text(gw)[-1500:]}"
