"""Human approval of tool calls, end to end: a policy rule `action: "approve"` holds the call until
someone answers. The user at the client answers through elicitation (handshake era) or an
`input_required` result (2026-07-28); operators and named approvers answer with `warden approvals`
from another process on the same state. Also: async approvals and their retry, `valid_for`, sealed
`requestState`, separation of duties, a restart with requests pending, the audit trail and the
signed webhook.

Every wait is bounded; policies use timeouts of a few seconds to keep the file fast.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import http.server
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import MCPError

import support as s
from support import wait_for

TOOL = "connections.refresh"
ARGS = {"connection_id": "conn-42"}
OTHER_ARGS = {"connection_id": "conn-7"}
WEBHOOK_SECRET = "e2e-webhook-secret-5d2a"


def approval_policy(**approval: Any) -> dict:
    """connections.refresh needs approval (with this `approval` block); connections.list is allowed."""
    rule: dict[str, Any] = {"action": "approve"}
    if approval:
        rule["approval"] = approval
    return {"version": "1", "default": "deny", "tools": {TOOL: rule, "connections.list": {}}}


# ---------------------------------------------------------------------------------------------
# `warden approvals` from another process
# ---------------------------------------------------------------------------------------------


def cli_env(e2e, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = e2e.env()
    env.pop("WARDEN_APPROVER_KEY", None)
    env.update(extra or {})
    return env


def approvals_cli(
    e2e, *args: str, where: list[str] | None = None, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """`warden approvals ARGS` on this test's state dir (or `where`), bounded."""
    argv = [str(s.WARDEN), "approvals", *args, *(where or ["--state-dir", str(e2e.state_dir)])]
    done = subprocess.run(argv, capture_output=True, text=True, env=cli_env(e2e, env), timeout=s.START_TIMEOUT)
    if check:
        assert done.returncode == 0, (argv, done.returncode, done.stdout, done.stderr)
    return done


def list_approvals(e2e, where: list[str] | None = None) -> list[dict]:
    """Every approval, whatever its status (`list` alone shows the pending ones)."""
    out = approvals_cli(e2e, "list", "--status", "all", "--format", "json", where=where).stdout
    doc = json.loads(out)
    assert isinstance(doc, list), out
    return doc


def pending(e2e, where: list[str] | None = None) -> list[dict]:
    return [a for a in list_approvals(e2e, where) if a.get("status") == "pending"]


async def acli(e2e, *args: str, **kw) -> subprocess.CompletedProcess:
    """approvals_cli off the event loop (the SDK client keeps reading meanwhile)."""
    return await anyio.to_thread.run_sync(functools.partial(approvals_cli, e2e, *args, **kw))


async def wait_pending(e2e, count: int = 1, where: list[str] | None = None, timeout: float = 10.0) -> list[dict]:
    """Poll `warden approvals list` until `count` requests are pending."""
    deadline = time.monotonic() + timeout
    seen: list[dict] = []
    while time.monotonic() < deadline:
        seen = await anyio.to_thread.run_sync(functools.partial(pending, e2e, where))
        if len(seen) >= count:
            return seen
        await anyio.sleep(0.2)
    raise AssertionError(f"{count} pending approval(s) not listed within {timeout}s; last list: {seen!r}")


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


def assert_succeeded(result) -> None:
    assert result.is_error is not True, result
    assert "re-run queued" in s.first_text(result), result


def assert_refused(result, decision: str) -> dict:
    assert result.is_error is True, result
    assert s.first_text(result).startswith("Blocked by policy:"), result
    d = s.decision_of(result)
    assert d is not None and d["decision"] == decision, (decision, d, result)
    return d


def assert_approval_required(result) -> str:
    """An async approval's answer: isError, decision approval_required, the id in _meta and text."""
    d = assert_refused(result, "approval_required")
    approval_id = d.get("approval_id")
    assert isinstance(approval_id, str) and approval_id, d
    assert approval_id in s.first_text(result), result
    return approval_id


def refresh_calls(log: Path) -> list[dict]:
    return s.demo_calls(log, TOOL)


async def call_in_background(client, box: dict, tool: str = TOOL, args: dict | None = None, **kw) -> None:
    box["result"] = await client.call_tool(tool, args if args is not None else ARGS, **kw)


# ---------------------------------------------------------------------------------------------
# The user at the client: elicitation (handshake era) and input_required (2026-07-28)
# ---------------------------------------------------------------------------------------------


class Answerer:
    """An elicitation callback that records each question and answers `action` after `delay` s."""

    def __init__(self, action: str, delay: float = 0.0):
        self.action, self.delay = action, delay
        self.asked: list[str] = []

    async def __call__(self, _ctx, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append(params.message)
        if self.delay:
            await anyio.sleep(self.delay)
        if self.action == "accept":
            return types.ElicitResult(action="accept", content={})
        return types.ElicitResult(action=self.action)


def gateway_for(e2e, transport: str, policy: Path, log: Path, env: dict[str, str] | None = None):
    upstream = s.demo_upstream_cmd(log)
    if transport == "stdio":
        params = e2e.stdio_params(policy, upstream)
        params.env.update(env or {})
        return params
    assert not env, "an HTTP gateway with its own environment: use e2e.spawn"
    return e2e.http_gateway(policy, upstream).url


@pytest.mark.anyio
@pytest.mark.parametrize("outcome", ["accept", "decline", "timeout"])
@pytest.mark.parametrize("transport", ["stdio", "http"])
@pytest.mark.parametrize("mode", ["legacy", s.MODERN])
async def test_the_user_answers_through_the_client(e2e, mode, transport, outcome):
    """Handshake era: the gateway's own elicitation/create; 2026-07-28: an input_required result the
    SDK answers with the same callback. accept → forwarded; decline → rejected; no answer in time →
    expired. A refused call never reaches the upstream."""
    log = e2e.log()
    policy = e2e.policy(approval_policy(timeout=2))
    server = gateway_for(e2e, transport, policy, log)
    answer = Answerer("decline" if outcome == "decline" else "accept", delay=3.5 if outcome == "timeout" else 0)
    raised: MCPError | None = None
    with anyio.fail_after(30):
        async with s.sdk_client(server, mode, elicitation_callback=answer) as client:
            try:
                result = await client.call_tool(TOOL, ARGS)
            except MCPError as e:
                raised = e
            after = await client.call_tool("connections.list", {})
    assert after.is_error is not True, after
    assert len(answer.asked) == 1, answer.asked
    message = answer.asked[0]
    for part in ("upstream", TOOL, "conn-42", f"/tools/{TOOL}"):
        assert part in message, (part, message)
    if outcome == "accept":
        assert raised is None, raised
        assert_succeeded(result)
        calls = refresh_calls(log)
        assert len(calls) == 1 and calls[0]["arguments"] == ARGS, calls
        return
    assert refresh_calls(log) == [], refresh_calls(log)
    assert raised is None, f"a late answer must be an expired denial, not a protocol error: {raised!r}"
    assert_refused(result, "rejected" if outcome == "decline" else "expired")


# ---------------------------------------------------------------------------------------------
# Held calls answered from another process
# ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", s.MODERN])
async def test_a_held_call_waits_for_the_operator(e2e, mode):
    """A client that cannot be asked waits; `warden approvals approve` from another process lets
    the call through, once."""
    log = e2e.log()
    policy = e2e.policy(approval_policy(timeout=30))
    box: dict = {}
    with anyio.fail_after(40):
        async with s.sdk_client(e2e.stdio_params(policy, s.demo_upstream_cmd(log)), mode) as client:
            async with anyio.create_task_group() as tg:
                tg.start_soon(call_in_background, client, box)
                [p] = await wait_pending(e2e)
                assert p["tool"] == TOOL and p["arguments"] == ARGS, p
                assert p["identity"] and p["rule"].startswith(f"/tools/{TOOL}"), p
                assert "result" not in box, "the call answered before its approval"
                assert refresh_calls(log) == []
                await acli(e2e, "approve", p["id"])
    assert_succeeded(box["result"])
    assert len(refresh_calls(log)) == 1, refresh_calls(log)
    statuses = {a["id"]: a["status"] for a in list_approvals(e2e)}
    assert statuses[p["id"]] != "pending", statuses


@pytest.mark.anyio
async def test_a_held_call_denied_by_the_operator_carries_the_comment(e2e):
    log = e2e.log()
    policy = e2e.policy(approval_policy(timeout=30))
    comment = "no, not during the freeze"
    box: dict = {}
    with anyio.fail_after(40):
        async with s.sdk_client(e2e.stdio_params(policy, s.demo_upstream_cmd(log)), "legacy") as client:
            async with anyio.create_task_group() as tg:
                tg.start_soon(call_in_background, client, box)
                [p] = await wait_pending(e2e)
                await acli(e2e, "deny", p["id"], "--comment", comment)
    assert_refused(box["result"], "rejected")
    assert comment in s.first_text(box["result"]), box["result"]
    assert refresh_calls(log) == []


@pytest.mark.anyio
async def test_a_held_call_reports_progress_while_it_waits(e2e):
    log = e2e.log()
    policy = e2e.policy(approval_policy(timeout=30))
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    box: dict = {}
    with anyio.fail_after(45):
        async with s.sdk_client(e2e.stdio_params(policy, s.demo_upstream_cmd(log)), "legacy") as client:
            async with anyio.create_task_group() as tg:
                started = time.monotonic()
                tg.start_soon(functools.partial(call_in_background, client, box, progress_callback=on_progress))
                [p] = await wait_pending(e2e)
                # The gateway reports progress every 5 s: wait past one interval.
                while time.monotonic() - started < 5.8 or not seen:
                    assert time.monotonic() - started < 15, f"no progress within 15 s of a held call: {seen}"
                    await anyio.sleep(0.2)
                before = list(seen)
                await acli(e2e, "approve", p["id"])
    assert_succeeded(box["result"])
    assert before, "no progress notification while the call was held"
    values = [v for v, _ in seen]
    assert values == sorted(values) and len(set(values)) == len(values), seen
    assert len(refresh_calls(log)) == 1


# ---------------------------------------------------------------------------------------------
# Async approvals: the call returns at once; the agent retries once approved
# ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_approval_covers_one_identical_retry(e2e):
    log = e2e.log()
    policy = e2e.policy(approval_policy(mode="async", approvers=["operator"], timeout=60))
    with anyio.fail_after(40):
        async with s.sdk_client(e2e.stdio_params(policy, s.demo_upstream_cmd(log)), "legacy") as client:
            t0 = time.monotonic()
            first = await client.call_tool(TOOL, ARGS)
            assert time.monotonic() - t0 < 5, "an async approval must answer at once"
            approval_id = assert_approval_required(first)
            listed = {a["id"]: a for a in await anyio.to_thread.run_sync(list_approvals, e2e)}
            assert listed[approval_id]["status"] == "pending", listed
            # Before approval: asked again (same or new id: not specified).
            assert_approval_required(await client.call_tool(TOOL, ARGS))
            assert refresh_calls(log) == []

            await acli(e2e, "approve", approval_id)
            # A different call is not covered.
            assert_approval_required(await client.call_tool(TOOL, OTHER_ARGS))
            # The identical retry is, once.
            assert_succeeded(await client.call_tool(TOOL, ARGS))
            assert_approval_required(await client.call_tool(TOOL, ARGS))
    calls = refresh_calls(log)
    assert [c["arguments"] for c in calls] == [ARGS], calls


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["async", "hold"])
async def test_valid_for_lets_identical_calls_pass_for_a_while(e2e, mode):
    log = e2e.log()
    policy = e2e.policy(approval_policy(mode=mode, approvers=["operator"], timeout=30, valid_for=3))
    with anyio.fail_after(45):
        async with s.sdk_client(e2e.stdio_params(policy, s.demo_upstream_cmd(log)), "legacy") as client:
            if mode == "async":
                approval_id = assert_approval_required(await client.call_tool(TOOL, ARGS))
                await acli(e2e, "approve", approval_id)
                approved_at = time.monotonic()
                assert_succeeded(await client.call_tool(TOOL, ARGS))
            else:
                box: dict = {}
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call_in_background, client, box)
                    [p] = await wait_pending(e2e)
                    await acli(e2e, "approve", p["id"])
                    approved_at = time.monotonic()
                assert_succeeded(box["result"])
            # Within valid_for: identical calls pass without asking.
            assert_succeeded(await client.call_tool(TOOL, ARGS))
            assert time.monotonic() - approved_at < 2.5, "the test machine is too slow for a 3 s valid_for"
            assert await anyio.to_thread.run_sync(pending, e2e) == []
            # Different arguments: not covered.
            if mode == "async":
                assert_approval_required(await client.call_tool(TOOL, OTHER_ARGS))
            # Past valid_for: asked again.
            await anyio.sleep(max(0.0, approved_at + 3.6 - time.monotonic()))
            if mode == "async":
                assert_approval_required(await client.call_tool(TOOL, ARGS))
            else:
                box = {}
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call_in_background, client, box)
                    [p] = await wait_pending(e2e)
                    await acli(e2e, "deny", p["id"], "--comment", "enough")
                assert_refused(box["result"], "rejected")
    assert [c["arguments"] for c in refresh_calls(log)] == [ARGS, ARGS], refresh_calls(log)


# ---------------------------------------------------------------------------------------------
# requestState: sealed, bound to the call, single use
# ---------------------------------------------------------------------------------------------


def elicit_meta() -> dict:
    meta = s.modern_meta()
    meta["io.modelcontextprotocol/clientCapabilities"] = {"elicitation": {}}
    return meta


def raw_call_body(id_: int, arguments: dict, state: str | None = None, answer: dict | None = None) -> dict:
    body = s.modern_call_body(id_, TOOL, arguments)
    body["params"]["_meta"] = elicit_meta()
    if state is not None:
        body["params"]["requestState"] = state
    if answer is not None:
        body["params"]["inputResponses"] = answer
    return body


def tampered(state: str) -> str:
    i = len(state) // 2
    while state[i] == ".":
        i += 1
    return state[:i] + ("B" if state[i] == "A" else "A") + state[i + 1 :]


@pytest.mark.anyio
async def test_request_state_is_sealed_bound_and_single_use(e2e):
    log = e2e.log()
    gw = e2e.http_gateway(e2e.policy(approval_policy(timeout=60)), s.demo_upstream_cmd(log))
    headers = s.modern_headers("tools/call", TOOL)

    async def post(body: dict) -> dict:
        async with s.http_client() as client:
            r = await client.post(gw.url, headers=headers, json=body)
        return s.response_for(s.parse_http_messages(r), body["id"])

    def assert_invalid_params(resp: dict, what: str) -> None:
        assert "error" in resp and resp["error"]["code"] == -32602, (what, resp)

    with anyio.fail_after(40):
        first = await post(raw_call_body(1, ARGS))
        result = first.get("result") or {}
        assert result.get("resultType") == "input_required", first
        requests = result["inputRequests"]
        assert isinstance(requests, dict) and len(requests) == 1, result
        [key] = requests
        assert requests[key]["method"] == "elicitation/create", requests
        state = result["requestState"]
        assert isinstance(state, str) and state.startswith("wdn1."), state
        accept = {key: {"action": "accept", "content": {}}}

        assert_invalid_params(await post(raw_call_body(2, ARGS, tampered(state), accept)), "a tampered requestState")
        assert refresh_calls(log) == []

        ok = await post(raw_call_body(3, ARGS, state, accept))
        assert "result" in ok and ok["result"].get("isError") is not True, ok
        assert ok["result"].get("resultType") == "complete", ok
        assert len(refresh_calls(log)) == 1

        assert_invalid_params(await post(raw_call_body(4, ARGS, state, accept)), "a replayed requestState")
        assert len(refresh_calls(log)) == 1

        second = await post(raw_call_body(5, OTHER_ARGS))
        other_state = second["result"]["requestState"]
        moved = await post(raw_call_body(6, {"connection_id": "conn-13"}, other_state, accept))
        assert_invalid_params(moved, "a requestState for other arguments")
    calls = refresh_calls(log)
    assert [c["arguments"] for c in calls] == [ARGS], calls
    # The upstream never sees the gateway's state or the answer.
    assert all("requestState" not in json.dumps(c) and "inputResponses" not in json.dumps(c) for c in calls), calls


# ---------------------------------------------------------------------------------------------
# Who may approve (warden serve, named approvers)
# ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_only_a_listed_approver_other_than_the_caller_may_approve(e2e):
    log = e2e.log("demo")
    s.write_policy(e2e.config_dir, approval_policy(mode="async", approvers=["alice"], timeout=60), "policy.json")
    doc = {
        "servers": {"demo": s.demo_server(log)},
        "policies": {"main": {"file": "policy.json"}},
        "identities": {"agent": {}, "alice": {}, "bob": {}},
        "grants": [
            {"identity": "agent", "server": "demo", "policy": "main"},
            {"identity": "alice", "server": "demo", "policy": "main"},
        ],
    }
    config, port = e2e.serve_config(doc)
    keys = {who: e2e.create_key(who)["key"] for who in ("agent", "alice", "bob")}
    gw = e2e.serve(config, port)
    where = ["--config", str(config)]
    with anyio.fail_after(40):
        async with s.serve_client(gw.endpoint("demo"), keys["agent"]) as client:
            approval_id = assert_approval_required(await client.call_tool(TOOL, ARGS))
            [p] = await wait_pending(e2e, where=where)
            assert p["id"] == approval_id and p["identity"] == "agent", p

            own = await acli(e2e, "approve", approval_id, "--key", keys["agent"], where=where, check=False)
            assert own.returncode != 0, ("the caller approved its own call", own.stdout, own.stderr)
            assert "separation of duties" in (own.stdout + own.stderr), own.stderr

            operator = await acli(e2e, "approve", approval_id, where=where, check=False)
            assert operator.returncode != 0, ("operator access approved; approvers are only alice", operator.stdout)
            assert "operator" in (operator.stdout + operator.stderr), operator.stderr

            stranger = await acli(
                e2e, "approve", approval_id, where=where, env={"WARDEN_APPROVER_KEY": keys["bob"]}, check=False
            )
            assert stranger.returncode != 0, ("bob is not an approver", stranger.stdout, stranger.stderr)
            assert [a["id"] for a in await wait_pending(e2e, where=where)] == [approval_id]
            assert s.demo_calls_shared(log, TOOL) == []

            await acli(e2e, "approve", approval_id, "--key", keys["alice"], where=where)
            assert_succeeded(await client.call_tool(TOOL, ARGS))
    assert len(s.demo_calls_shared(log, TOOL)) == 1


# ---------------------------------------------------------------------------------------------
# Pending requests survive a restart
# ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_pending_approvals_survive_a_restart(e2e):
    log = e2e.log()
    policy = e2e.policy(
        {
            "version": "1",
            "default": "deny",
            "tools": {
                TOOL: {"action": "approve", "approval": {"mode": "async", "approvers": ["operator"], "timeout": 60}},
                "connections.list": {"action": "approve", "approval": {"approvers": ["operator"], "timeout": 60}},
            },
        }
    )
    upstream = s.demo_upstream_cmd(log)
    gw = e2e.http_gateway(policy, upstream, name="gateway-1")
    with anyio.fail_after(40):
        async with s.sdk_client(gw.url, "legacy") as client:
            async_id = assert_approval_required(await client.call_tool(TOOL, ARGS))
            # A held call, then its client goes away: the request stays in the inbox.
            with anyio.move_on_after(10):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call_in_background, client, {}, "connections.list", {})
                    listed = await wait_pending(e2e, count=2)
                    tg.cancel_scope.cancel()
            held_id = next(a["id"] for a in listed if a["tool"] == "connections.list")
    e2e.stop(gw.proc)

    gw2 = e2e.http_gateway(policy, upstream, name="gateway-2")
    after = {a["id"]: a for a in pending(e2e)}
    assert set(after) == {async_id, held_id}, after
    approvals_cli(e2e, "approve", async_id)
    with anyio.fail_after(30):
        async with s.sdk_client(gw2.url, "legacy") as client:
            assert_succeeded(await client.call_tool(TOOL, ARGS))
    assert len(refresh_calls(log)) == 1
    assert [a["id"] for a in pending(e2e)] == [held_id]


# ---------------------------------------------------------------------------------------------
# The audit trail
# ---------------------------------------------------------------------------------------------


def audit_records(e2e) -> list[dict]:
    argv = [str(s.WARDEN), "audit", "query", "--format", "jsonl", "--limit", "1000000",
            "--state-dir", str(e2e.state_dir)]
    done = subprocess.run(argv, capture_output=True, text=True, env=e2e.env(), timeout=s.START_TIMEOUT)
    assert done.returncode == 0, (argv, done.returncode, done.stdout, done.stderr)
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def detail_of(record: dict) -> dict:
    d = record.get("detail")
    if isinstance(d, str):
        try:
            d = json.loads(d)
        except ValueError:
            return {}
    return d if isinstance(d, dict) else {}


@pytest.mark.anyio
async def test_the_audit_log_records_each_step(e2e):
    """accept, decline and no answer in time, in one session: each call's record and the approval
    events around it."""
    log = e2e.log()
    policy = e2e.policy(approval_policy(timeout=2))
    answers = {"conn-accept": ("accept", 0.0), "conn-decline": ("decline", 0.0), "conn-slow": ("accept", 3.5)}

    async def answer(_ctx, params: types.ElicitRequestParams) -> types.ElicitResult:
        [(action, delay)] = [v for k, v in answers.items() if k in params.message]
        if delay:
            await anyio.sleep(delay)
        return types.ElicitResult(action=action, content={} if action == "accept" else None)

    with anyio.fail_after(40):
        async with s.sdk_client(
            e2e.stdio_params(policy, s.demo_upstream_cmd(log)), "legacy", elicitation_callback=answer
        ) as client:
            results = [await client.call_tool(TOOL, {"connection_id": conn}) for conn in answers]
    assert_succeeded(results[0])
    assert_refused(results[1], "rejected")
    assert_refused(results[2], "expired")

    records = audit_records(e2e)
    calls = [r for r in records if r["event"] == "call" and r.get("tool") == TOOL]
    assert [c["decision"] for c in calls] == ["approved", "rejected", "expired"], json.dumps(calls, indent=1)
    events = [r for r in records if r["event"].startswith("approval_")]
    by_approval: dict[str, list[dict]] = {}
    for r in events:
        by_approval.setdefault(detail_of(r).get("approval"), []).append(r)
    assert len(by_approval) == 3 and None not in by_approval, json.dumps(events, indent=1)
    kinds = [sorted(r["event"] for r in rs) for rs in by_approval.values()]
    assert sorted(kinds) == sorted(
        [
            ["approval_granted", "approval_requested", "approval_used"],
            ["approval_denied", "approval_requested"],
            ["approval_expired", "approval_requested"],
        ]
    ), json.dumps(events, indent=1)
    granted = next(r for r in events if r["event"] == "approval_granted")
    assert granted["identity"] == "user", granted
    # Each call record names its approval.
    for c in calls:
        assert detail_of(c).get("approval") in by_approval, c


# ---------------------------------------------------------------------------------------------
# The webhook
# ---------------------------------------------------------------------------------------------


class Receiver:
    """A loopback HTTP receiver in a thread: keeps every POST's headers and body."""

    def __init__(self):
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/warden"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def verify_signature(header: str, body: bytes, secret: str) -> bool:
    parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", "")) and abs(time.time() - int(parts["t"])) < 300


@pytest.mark.anyio
async def test_a_request_is_announced_to_the_webhook_signed(e2e, receiver):
    log = e2e.log()
    policy = e2e.policy(
        approval_policy(mode="async", approvers=["operator"], timeout=60, webhook={"url": receiver.url, "format": "json"})
    )
    server = gateway_for(e2e, "stdio", policy, log, env={"WARDEN_WEBHOOK_SECRET": WEBHOOK_SECRET})
    with anyio.fail_after(30):
        async with s.sdk_client(server, "legacy") as client:
            approval_id = assert_approval_required(await client.call_tool(TOOL, ARGS))
            await anyio.to_thread.run_sync(
                functools.partial(wait_for, lambda: receiver.deliveries, timeout=10, what="a webhook delivery")
            )
    [p] = pending(e2e)
    assert p["id"] == approval_id, p
    requested = [(h, b) for h, b in receiver.deliveries if h.get("warden-event") == "approval.requested"]
    assert len(requested) == 1, receiver.deliveries
    headers, body = requested[0]
    assert verify_signature(headers["warden-signature"], body, WEBHOOK_SECRET), headers
    assert not verify_signature(headers["warden-signature"], body + b" ", WEBHOOK_SECRET)
    doc = json.loads(body)
    assert doc["type"] == "approval.requested", doc
    assert {"time", "delivery", "summary", "approval"} <= set(doc), doc
    assert doc["approval"]["id"] == approval_id, doc
    assert doc["approval"]["tool"] == TOOL and doc["approval"]["arguments"] == ARGS, doc
