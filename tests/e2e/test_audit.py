"""The audit log, end to end: every call recorded once with its decision and rule, no argument
value in the store, tampering found by `warden audit verify` (edits made directly in the SQLite
file and in the PostgreSQL table), and nothing acknowledged lost when the gateway is killed.

The same suite runs on both backends: `warden serve` with `state` a directory (SQLite) or a
PostgreSQL URL (a fresh schema per test, on the server named by $WARDEN_TEST_POSTGRES_URL).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

import support as s

SECRET = "planted-Secret-Value-4f1c9e"
POLICY = {
    "version": "1",
    "default": "deny",
    "hide": ["connections.delete"],
    "tools": {
        "connections.list": {},
        "connections.refresh": {"limits": [{"counter": "refresh", "window": "minute", "max": 2}]},
        "execute_connector_operation": {
            "deny_if": [{"path": "args.connector", "op": "eq", "value": "slack", "reason": "no Slack from agents"}]
        },
    },
}
# (tool, arguments, decision, rule, outcome): one session, in order.
SESSION: list[tuple[str, dict, str, str | None, str | None]] = [
    ("connections.list", {"token": SECRET}, "allow", "/tools/connections.list", "ok"),
    ("connections.refresh", {"connection_id": SECRET}, "allow", "/tools/connections.refresh", "ok"),
    ("connections.refresh", {"connection_id": SECRET, "fail": "tool"}, "allow", "/tools/connections.refresh", "is_error"),
    ("connections.refresh", {"connection_id": SECRET}, "allow", "/tools/connections.refresh", "ok"),
    ("connections.refresh", {"connection_id": SECRET}, "rate_limited", "/tools/connections.refresh/limits/0", None),
    (
        "execute_connector_operation",
        {"connector": "slack", "operation": "send", "params": {"text": SECRET}},
        "deny",
        "/tools/execute_connector_operation/deny_if/0",
        None,
    ),
    ("get_connector_capabilities", {"connector": SECRET}, "deny", "/default", None),
    ("connections.delete", {"connection_id": SECRET}, "hidden", "/hide", None),
    ("no.such.tool", {"x": SECRET}, "unknown", None, None),
]


def postgres_url() -> str:
    return os.environ.get("WARDEN_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


# ---------------------------------------------------------------------------------------------
# Backends: where the state is, and direct SQL on the audit table (the tamperer's view)
# ---------------------------------------------------------------------------------------------


class Backend:
    name: str
    state: str

    def sql(self, statement: str, params: tuple = ()) -> list[dict]:
        raise NotImplementedError

    def rows(self) -> list[dict]:
        return self.sql("SELECT * FROM audit_records ORDER BY seq")

    def close(self) -> None:
        pass


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, e2e):
        self.dir = e2e.state_dir
        self.state = str(self.dir)

    def sql(self, statement: str, params: tuple = ()) -> list[dict]:
        con = sqlite3.connect(self.dir / "warden.db", timeout=10)
        con.row_factory = sqlite3.Row
        try:
            cur = con.execute(statement.replace("%s", "?"), params)
            out = [dict(r) for r in cur.fetchall()] if cur.description else []
            con.commit()
            return out
        finally:
            con.close()

    def files_bytes(self) -> bytes:
        return b"".join(p.read_bytes() for p in self.dir.iterdir() if p.name.startswith("warden.db"))


class PostgresBackend(Backend):
    name = "postgres"

    def __init__(self, e2e):
        self.schema = "e2e_" + uuid.uuid4().hex[:12]
        self.base = postgres_url()
        with psycopg.connect(self.base, autocommit=True) as con:
            con.execute(f"CREATE SCHEMA {self.schema}")
        sep = "&" if "?" in self.base else "?"
        self.state = f"{self.base}{sep}options=-csearch_path%3D{self.schema}"

    def sql(self, statement: str, params: tuple = ()) -> list[dict]:
        with psycopg.connect(self.base, autocommit=True, row_factory=psycopg.rows.dict_row) as con:
            con.execute(f"SET search_path TO {self.schema}")
            cur = con.execute(statement, params)
            return list(cur.fetchall()) if cur.description else []

    def files_bytes(self) -> bytes:
        # Everything the schema holds, as text: what a dump of it would show.
        tables = self.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        out = []
        for t in tables:
            for row in self.sql(f'SELECT * FROM "{t["table_name"]}"'):
                out.append(repr(row))
        return "\n".join(out).encode()

    def close(self) -> None:
        with psycopg.connect(self.base, autocommit=True) as con:
            con.execute(f"DROP SCHEMA {self.schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, e2e):
    b = SqliteBackend(e2e) if request.param == "sqlite" else PostgresBackend(e2e)
    yield b
    b.close()


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def warden_audit(e2e, where: list[str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    argv = [str(s.WARDEN), "audit", *args, *where]
    done = subprocess.run(argv, capture_output=True, text=True, env=e2e.env(), timeout=s.START_TIMEOUT)
    if check:
        assert done.returncode == 0, (argv, done.returncode, done.stdout, done.stderr)
    return done


def query(e2e, where: list[str], *filters: str) -> list[dict]:
    out = warden_audit(e2e, where, "query", "--format", "jsonl", "--limit", "1000000", *filters).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def verify(e2e, where: list[str], *extra: str) -> tuple[int, dict]:
    done = warden_audit(e2e, where, "verify", "--format", "json", *extra, check=False)
    assert done.returncode in (0, 1), (done.returncode, done.stdout, done.stderr)
    return done.returncode, json.loads(done.stdout)


def problem_kinds(report: dict) -> list[tuple[str, int]]:
    return [(p["kind"], p["seq"]) for p in report["problems"]]


async def play_session(client) -> list[Any]:
    return [await client.call_tool(tool, args) for tool, args, *_ in SESSION]


def check_session_records(records: list[dict], identity: str, server: str) -> None:
    calls = [r for r in records if r["event"] == "call"]
    assert len(calls) == len(SESSION), json.dumps(calls, indent=1)
    for rec, (tool, args, decision, rule, outcome) in zip(calls, SESSION):
        assert (rec["tool"], rec["decision"], rec["rule"], rec["outcome"]) == (tool, decision, rule, outcome), rec
        assert rec["identity"] == identity and rec["server"] == server, rec
        assert rec["method"] == "tools/call"
        assert rec["argument_keys"] == sorted(args), rec
        assert rec.get("arguments") is None, rec
        assert rec["latency_us"] is not None
        if outcome is not None:
            assert rec["result_bytes"] > 0, rec
    # Each request once: the client's ids are distinct within the session.
    ids = [(r["session"], r["request_id"]) for r in calls]
    assert len(set(ids)) == len(ids), ids
    assert [r["seq"] for r in records] == list(range(records[0]["seq"], records[0]["seq"] + len(records)))


def serve_team(e2e, backend: Backend, extra: dict | None = None) -> tuple[Any, str, Path]:
    """`warden serve` on the backend with one server ("demo") and one identity ("agent-7")."""
    s.write_policy(e2e.config_dir, POLICY, "policy.json")
    doc = {
        "state": backend.state,
        "servers": {"demo": s.demo_server(e2e.log())},
        "policies": {"main": {"file": "policy.json"}},
        "identities": {"agent-7": {}},
        "grants": [{"identity": "agent-7", "server": "demo", "policy": "main"}],
    }
    doc.update(extra or {})
    config, port = e2e.serve_config(doc)
    record = json.loads(
        subprocess.run(
            [str(s.WARDEN), "keys", "create", "agent-7", "--format", "json", "--config", str(config)],
            capture_output=True,
            text=True,
            env=e2e.env(),
            timeout=s.START_TIMEOUT,
            check=True,
        ).stdout
    )
    gw = e2e.serve(config, port)
    return gw, record["key"], config


# ---------------------------------------------------------------------------------------------
# One session, every call once, no values
# ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_run_records_each_call_once_with_decision_and_rule(e2e, transport):
    policy = e2e.policy(POLICY)
    upstream = s.demo_upstream_cmd(e2e.log())
    if transport == "stdio":
        server: Any = e2e.stdio_params(policy, upstream)
    else:
        gw = e2e.http_gateway(policy, upstream)
        server = gw.url
    async with s.sdk_client(server, "legacy") as client:
        results = await play_session(client)
    if transport == "http":
        e2e.stop(gw.proc)
    assert [r.is_error is True for r in results] == [False, False, True, False, True, True, True, True, True]
    where = ["--state-dir", str(e2e.state_dir)]
    records = query(e2e, where)
    assert records[0]["event"] == "policy_loaded", records[0]
    assert records[0]["detail"]["sha256"] == hashlib.sha256(policy.read_bytes()).hexdigest()
    check_session_records(records[1:], "local", "upstream")
    files = b"".join(p.read_bytes() for p in e2e.state_dir.iterdir() if p.name.startswith("warden.db"))
    assert SECRET.encode() not in files
    code, report = verify(e2e, where)
    assert code == 0 and report["problems"] == [], report
    assert report["records"] == len(records)


@pytest.mark.anyio
async def test_serve_records_each_call_once_on_each_backend(e2e, backend):
    gw, key, config = serve_team(e2e, backend)
    async with s.serve_client(gw.endpoint("demo"), key) as client:
        await play_session(client)
    e2e.stop(gw.proc)
    where = ["--config", str(config)]
    records = query(e2e, where)
    events = [r["event"] for r in records]
    assert events[:2] == ["key_created", "policy_loaded"], events
    assert records[0]["identity"] == "agent-7"
    check_session_records(records[2:], "agent-7", "demo")
    assert {r["grant"] for r in records[2:]} == {"agent-7@demo"}
    assert SECRET.encode() not in backend.files_bytes()
    # Filters.
    assert [r["tool"] for r in query(e2e, where, "--decision", "rate_limited")] == ["connections.refresh"]
    assert len(query(e2e, where, "--tool", "connections.refresh")) == 4
    assert query(e2e, where, "--identity", "nobody") == []
    code, report = verify(e2e, where)
    assert code == 0, report


# ---------------------------------------------------------------------------------------------
# Tampering, made directly in the store
# ---------------------------------------------------------------------------------------------

CHAIN_DOMAIN = b"warden-audit-v1\0"
TEXT_FIELDS = ["identity", "grant", "server", "session", "request_id", "method", "tool", "decision", "rule", "reason"]


def _text(h, value: str) -> None:
    b = value.encode()
    h.update(len(b).to_bytes(8, "big"))
    h.update(b)


def _opt_text(h, value: str | None) -> None:
    if value is None:
        h.update(b"\0")
    else:
        h.update(b"\1")
        _text(h, value)


def _opt_int(h, value: int | None) -> None:
    if value is None:
        h.update(b"\0")
    else:
        h.update(b"\1")
        h.update(int(value).to_bytes(8, "big"))


def chain_hash(prev: bytes, row: dict) -> bytes:
    """The chain hash of docs/audit.md, written from the spec, independently of the Rust code,
    over a row as stored (`argument_keys`, `arguments` and `detail` are JSON text)."""
    h = hashlib.sha256()
    h.update(CHAIN_DOMAIN)
    h.update(prev)
    h.update(int(row["time_ms"]).to_bytes(8, "big"))
    _text(h, row["event"])
    for f in TEXT_FIELDS:
        _opt_text(h, row[f] if f in row else row[f + "_name"])
    keys = row["argument_keys"]
    keys = json.loads(keys) if isinstance(keys, str) else keys
    h.update(len(keys).to_bytes(8, "big"))
    for k in keys:
        _text(h, k)
    _opt_text(h, row["arguments"])
    _opt_text(h, row["outcome"])
    _opt_int(h, row["result_bytes"])
    _opt_int(h, row["latency_us"])
    _opt_text(h, row["detail"])
    return h.digest()


def rewrite_chain_from(backend: Backend, seq: int) -> None:
    """What an attacker with write access does: recompute every hash from `seq` on."""
    rows = backend.rows()
    prev = None
    for row in rows:
        if row["seq"] < seq:
            prev = bytes(row["hash"])
            continue
        new = chain_hash(prev, {**row})
        backend.sql("UPDATE audit_records SET prev_hash = %s, hash = %s WHERE seq = %s", (prev, new, row["seq"]))
        prev = new


@pytest.mark.anyio
async def test_the_stored_chain_follows_the_documented_construction(e2e):
    """An auditor can check the chain with their own tools: docs/audit.md's construction,
    applied to the stored rows, gives the stored hashes."""
    gw = e2e.http_gateway(e2e.policy(POLICY), s.demo_upstream_cmd(e2e.log()))
    async with s.sdk_client(gw.url, "legacy") as client:
        await play_session(client)
    e2e.stop(gw.proc)
    rows = SqliteBackend(e2e).rows()
    prev = bytes(32)
    for row in rows:
        assert bytes(row["prev_hash"]) == prev, row["seq"]
        assert chain_hash(prev, row) == bytes(row["hash"]), row["seq"]
        prev = bytes(row["hash"])
    assert len(rows) == len(SESSION) + 1


@pytest.mark.anyio
async def test_a_rewritten_chain_is_caught_by_the_signed_checkpoints(e2e, backend):
    key_file = e2e.config_dir / "audit-key.pem"
    public = public_key_of(e2e, key_file)
    gw, key, config = serve_team(
        e2e, backend, {"audit": {"signing_key": "audit-key.pem", "checkpoint_every": 3}}
    )
    async with s.serve_client(gw.endpoint("demo"), key) as client:
        await play_session(client)
    e2e.stop(gw.proc)
    where = ["--config", str(config)]
    code, report = verify(e2e, where, "--public-key", public)
    assert code == 0 and report["checkpoints_verified"] >= 3, report
    # Turn a denial into an allow and recompute the chain from there, checkpoints included:
    # the chain alone now looks whole; only the signatures can tell.
    target = next(r for r in backend.rows() if r["decision"] == "deny")
    backend.sql("UPDATE audit_records SET decision = 'allow' WHERE seq = %s", (target["seq"],))
    rewrite_chain_from(backend, target["seq"])
    for row in backend.rows():
        backend.sql("UPDATE audit_checkpoints SET hash = %s WHERE seq = %s", (row["hash"], row["seq"]))
    code, report = verify(e2e, where)
    assert code == 0, ("without the key the rewrite is undetectable", report)
    code, report = verify(e2e, where, "--public-key", public)
    assert code == 1 and {k for k, _ in problem_kinds(report)} == {"checkpoint"}, report


@pytest.mark.anyio
async def test_verify_names_each_kind_of_tampering(e2e, backend):
    gw, key, config = serve_team(e2e, backend)
    async with s.serve_client(gw.endpoint("demo"), key) as client:
        await play_session(client)
    e2e.stop(gw.proc)
    where = ["--config", str(config)]
    assert verify(e2e, where)[0] == 0
    rows = backend.rows()
    assert len(rows) >= 10

    # Edited: a denial turned into an allow.
    target = next(r for r in rows if r["decision"] == "deny")
    backend.sql("UPDATE audit_records SET decision = 'allow' WHERE seq = %s", (target["seq"],))
    code, report = verify(e2e, where)
    assert code == 1 and problem_kinds(report) == [("edited", target["seq"])], report
    backend.sql("UPDATE audit_records SET decision = 'deny' WHERE seq = %s", (target["seq"],))
    assert verify(e2e, where)[0] == 0

    # Deleted: a record removed.
    gone = rows[5]
    backend.sql("DELETE FROM audit_records WHERE seq = %s", (gone["seq"],))
    code, report = verify(e2e, where)
    assert code == 1 and problem_kinds(report) == [("deleted", gone["seq"])], report
    reinsert(backend, gone)
    assert verify(e2e, where)[0] == 0

    # Reordered: two records' contents swapped.
    a, b = rows[3], rows[4]
    swap(backend, a, b)
    code, report = verify(e2e, where)
    assert code == 1 and {k for k, _ in problem_kinds(report)} == {"reordered"}, report
    assert {seq for _, seq in problem_kinds(report)} <= {a["seq"], b["seq"]}, report
    put(backend, a)
    put(backend, b)
    assert verify(e2e, where)[0] == 0

    # Inserted: a forged record between two real ones, later records renumbered.
    mid = rows[6]["seq"]
    backend.sql("UPDATE audit_records SET seq = seq + 1000 WHERE seq >= %s", (mid,))
    backend.sql("UPDATE audit_records SET seq = seq - 999 WHERE seq >= %s", (mid + 1000,))
    forged = dict(rows[6])
    forged["tool"] = "connections.list"
    forged["decision"] = "allow"
    forged["seq"] = mid
    reinsert(backend, forged)
    code, report = verify(e2e, where)
    assert code == 1 and problem_kinds(report) == [("inserted", mid)], report


def reinsert(backend: Backend, row: dict) -> None:
    cols = list(row)
    quoted = ", ".join(f'"{c}"' for c in cols)
    marks = ", ".join(["%s"] * len(cols))
    backend.sql(f"INSERT INTO audit_records ({quoted}) VALUES ({marks})", tuple(row[c] for c in cols))


def put(backend: Backend, row: dict) -> None:
    """Writes row's content back at its seq."""
    cols = [c for c in row if c != "seq"]
    sets = ", ".join(f'"{c}" = %s' for c in cols)
    backend.sql(f"UPDATE audit_records SET {sets} WHERE seq = %s", tuple(row[c] for c in cols) + (row["seq"],))


def swap(backend: Backend, a: dict, b: dict) -> None:
    """Gives row a's seq the content of b and the other way round."""
    for src, dst in ((b, a), (a, b)):
        cols = [c for c in src if c != "seq"]
        sets = ", ".join(f'"{c}" = %s' for c in cols)
        backend.sql(f"UPDATE audit_records SET {sets} WHERE seq = %s", tuple(src[c] for c in cols) + (dst["seq"],))


# ---------------------------------------------------------------------------------------------
# kill -9 in the middle of a burst
# ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_kill_9_mid_burst_loses_no_answered_call(e2e):
    gw = e2e.http_gateway(e2e.policy(POLICY), s.demo_upstream_cmd(e2e.log()))
    answered: list[int] = []
    next_id = iter(range(1, 100_000))
    stop = asyncio.Event()

    async def worker() -> None:
        async with s.http_client(timeout=5.0) as client:
            while not stop.is_set():
                i = next(next_id)
                body = s.modern_call_body(i, "connections.list", {})
                try:
                    resp = await client.post(gw.url, headers=s.modern_headers("tools/call", "connections.list"), json=body)
                except Exception:
                    return
                if resp.status_code == 200:
                    msg = s.response_for(s.parse_http_messages(resp), i)
                    if "result" in msg:
                        answered.append(i)

    async def killer() -> None:
        while len(answered) < 150:
            await asyncio.sleep(0.005)
        gw.proc.send_signal(signal.SIGKILL)
        stop.set()

    with anyio.fail_after(s.CALL_TIMEOUT * 3):
        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(worker)
            tg.start_soon(killer)
    gw.proc.wait(timeout=s.EXIT_TIMEOUT)
    where = ["--state-dir", str(e2e.state_dir)]
    recorded = {int(r["request_id"]) for r in query(e2e, where, "--event", "call")}
    missing = sorted(set(answered) - recorded)
    assert not missing, f"{len(missing)} answered calls are not in the log: {missing[:10]}"
    code, report = verify(e2e, where)
    assert code == 0, report


# ---------------------------------------------------------------------------------------------
# Signed checkpoints
# ---------------------------------------------------------------------------------------------


def public_key_of(e2e, key_file: Path) -> str:
    """`warden audit keygen`: writes the private key, prints the public one."""
    done = subprocess.run(
        [str(s.WARDEN), "audit", "keygen", "--out", str(key_file)],
        capture_output=True,
        text=True,
        env=e2e.env(),
        timeout=s.START_TIMEOUT,
        check=True,
    )
    return next(w for w in done.stdout.split() if len(w) == 44 and w.endswith("="))
