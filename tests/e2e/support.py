"""Helpers shared by Warden's end-to-end tests: paths, processes, raw wire access, upstream logs.

Every process a test starts carries the test's tag (its temp directory) in its environment or its
command line, so teardown can prove that nothing it started outlives it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterable

import httpx2 as httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

E2E_DIR = Path(__file__).resolve().parent
ROOT = E2E_DIR.parents[1]
EXAMPLES = ROOT / "examples"
WARDEN = Path(os.environ.get("WARDEN_BIN") or ROOT / "target" / "debug" / "warden").resolve()
PYTHON = sys.executable
TEE_LOGGER = E2E_DIR / "tee_logger.py"
EVERYTHING_JS = E2E_DIR / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
TAG_VAR = "WARDEN_E2E_TAG"

# Every wait in the suite is bounded by one of these.
START_TIMEOUT = 15.0
CALL_TIMEOUT = 20.0
EXIT_TIMEOUT = 8.0


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen | None, timeout: float = START_TIMEOUT, what: str = "") -> None:
    """Wait until 127.0.0.1:port accepts connections; fail early if proc exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what or proc.args} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what or 'process'} did not listen on 127.0.0.1:{port} within {timeout}s")


def _proc_state(pid: str) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rindex(b")") + 2 :].split()[0].decode()
    except (OSError, ValueError, IndexError):
        return None


def tagged_processes(tag: str) -> list[tuple[int, str]]:
    """Live (non-zombie) processes whose environment or command line carries tag."""
    found = []
    needle = tag.encode()
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    environ = f.read()
            except OSError:
                environ = b""
        except OSError:
            continue
        if needle in cmdline or needle in environ:
            state = _proc_state(entry)
            if state is None or state in ("Z", "X"):
                continue
            found.append((int(entry), cmdline.replace(b"\0", b" ").decode(errors="replace").strip()))
    return found


def wait_no_tagged_processes(tag: str, timeout: float = EXIT_TIMEOUT) -> list[tuple[int, str]]:
    """Poll until no tagged process is alive; return the survivors (empty on success)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = tagged_processes(tag)
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def kill_tagged(tag: str) -> None:
    for pid, _ in tagged_processes(tag):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def sdk_client(server, mode: str, **kw) -> Client:
    """The official SDK client with bounded reads and no response cache (every call hits the wire)."""
    return Client(server, mode=mode, read_timeout_seconds=CALL_TIMEOUT, cache=None, **kw)


def wait_for(predicate, timeout: float = CALL_TIMEOUT, interval: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# ---------------------------------------------------------------------------------------------
# Upstream commands and logs
# ---------------------------------------------------------------------------------------------


def demo_upstream_cmd(log: Path, era: str = "both") -> list[str]:
    return [str(WARDEN), "demo-upstream", "--log", str(log), "--era", era]


def everything_cmd(log: Path, linger: bool = False) -> list[str]:
    """server-everything over stdio, wrapped so that every line it receives lands in log."""
    wrapper = [PYTHON, str(TEE_LOGGER)] + (["--linger"] if linger else [])
    return wrapper + [str(log), "node", str(EVERYTHING_JS), "stdio"]


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"_unparsed": line})
    return out


def demo_calls(log: Path, tool: str | None = None) -> list[dict]:
    """The demo upstream's own record of tools/call requests it received."""
    calls = read_jsonl(log)
    return [c for c in calls if tool is None or c.get("tool") == tool]


def wire_tool_calls(log: Path, tool: str | None = None) -> list[dict]:
    """tools/call requests seen on the wire by the tee logger."""
    msgs = [m for m in read_jsonl(log) if m.get("method") == "tools/call"]
    return [m for m in msgs if tool is None or (m.get("params") or {}).get("name") == tool]


def write_policy(directory: Path, policy: dict | str, name: str = "policy.json") -> Path:
    path = directory / name
    path.write_text(policy if isinstance(policy, str) else json.dumps(policy, indent=2))
    return path


# ---------------------------------------------------------------------------------------------
# Raw newline-delimited JSON-RPC over a child's stdio
# ---------------------------------------------------------------------------------------------


class RawStdio:
    """Drive an MCP server (or the gateway) with raw JSON lines, without an SDK in between."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, stderr_path: Path | None = None):
        self._stderr = open(stderr_path, "wb") if stderr_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env, bufsize=0
        )
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.notifications: list[dict] = []
        self.requests_from_server: list[dict] = []

    def _read(self) -> None:
        assert self.proc.stdout
        for line in iter(self.proc.stdout.readline, b""):
            self._lines.put(line)
        self._lines.put(None)

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, msg: Any) -> None:
        self.send_raw(json.dumps(msg).encode() + b"\n")

    def recv(self, timeout: float = CALL_TIMEOUT) -> dict | list:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message from {self.proc.args[0]} within {timeout}s") from None
        if line is None:
            self._lines.put(None)
            raise AssertionError(f"stdout of {self.proc.args[0]} closed (exit code {self.proc.poll()})")
        return json.loads(line)

    def recv_response(self, id_: Any, timeout: float = CALL_TIMEOUT) -> dict:
        """The response with this id; notifications and server requests on the way are kept."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(max(0.01, deadline - time.monotonic()))
            if isinstance(msg, dict) and "method" not in msg and msg.get("id") == id_:
                return msg
            if isinstance(msg, dict) and "method" in msg:
                (self.requests_from_server if "id" in msg else self.notifications).append(msg)
                continue
            raise AssertionError(f"unexpected message while waiting for id {id_!r}: {msg!r}")

    def request(self, id_: Any, method: str, params: dict | None = None, timeout: float = CALL_TIMEOUT) -> dict:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return self.recv_response(id_, timeout)

    def close_stdin(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def stop(self) -> None:
        self.close_stdin()
        try:
            self.proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=EXIT_TIMEOUT)
        if self._stderr is not subprocess.DEVNULL:
            self._stderr.close()


def legacy_initialize_params() -> dict:
    return {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "warden-e2e", "version": "0"}}


def modern_meta() -> dict:
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "warden-e2e", "version": "0"},
    }


def raw_stdio_tools_list(rs: RawStdio) -> dict:
    """Legacy handshake then tools/list; returns the raw tools/list result."""
    init = rs.request(1, "initialize", legacy_initialize_params())
    assert "result" in init, init
    rs.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    resp = rs.request(2, "tools/list", {})
    assert "result" in resp, resp
    return resp["result"]


# ---------------------------------------------------------------------------------------------
# Raw Streamable HTTP
# ---------------------------------------------------------------------------------------------


def http_client(timeout: float = CALL_TIMEOUT, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout, trust_env=False, headers=headers)


def parse_http_messages(resp: httpx.Response) -> list[dict]:
    """JSON-RPC messages of one POST response, whether it came as JSON or as an SSE stream."""
    ctype = resp.headers.get("content-type", "")
    body = resp.text
    if ctype.startswith("application/json"):
        data = json.loads(body)
        return data if isinstance(data, list) else [data]
    if ctype.startswith("text/event-stream"):
        out = []
        for event in body.replace("\r\n", "\n").split("\n\n"):
            data_lines = [ln[5:].lstrip(" ") if ln.startswith("data:") else None for ln in event.split("\n")]
            payload = "\n".join(d for d in data_lines if d is not None)
            if payload.strip():
                out.append(json.loads(payload))
        return out
    if not body.strip():
        return []
    raise AssertionError(f"unexpected content-type {ctype!r}: {body[:300]!r}")


def response_for(messages: Iterable[dict], id_: Any) -> dict:
    for m in messages:
        if "method" not in m and m.get("id") == id_:
            return m
    raise AssertionError(f"no response with id {id_!r} among {list(messages)!r}")


LEGACY_ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


async def legacy_http_session(client: httpx.AsyncClient, url: str) -> dict[str, str]:
    """Legacy handshake over Streamable HTTP; returns the headers to send on later requests."""
    r = await client.post(
        url,
        headers=LEGACY_ACCEPT,
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": legacy_initialize_params()},
    )
    assert r.status_code == 200, (r.status_code, r.text)
    init = response_for(parse_http_messages(r), 1)
    assert "result" in init, init
    headers = dict(LEGACY_ACCEPT)
    headers["mcp-protocol-version"] = init["result"]["protocolVersion"]
    sid = r.headers.get("mcp-session-id")
    if sid:
        headers["mcp-session-id"] = sid
    r = await client.post(url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert r.status_code in (200, 202), (r.status_code, r.text)
    return headers


async def raw_http_tools_list(url: str) -> dict:
    async with http_client() as client:
        headers = await legacy_http_session(client, url)
        r = await client.post(url, headers=headers, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        assert r.status_code == 200, (r.status_code, r.text)
        resp = response_for(parse_http_messages(r), 2)
        assert "result" in resp, resp
        if "mcp-session-id" in headers:
            await client.delete(url, headers=headers)
        return resp["result"]


def modern_headers(method: str, name: str | None = None) -> dict[str, str]:
    h = dict(LEGACY_ACCEPT)
    h["mcp-protocol-version"] = MODERN
    h["mcp-method"] = method
    if name is not None:
        h["mcp-name"] = name
    return h


def modern_call_body(id_: Any, tool: str, arguments: dict) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": id_,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": modern_meta()},
    }


# ---------------------------------------------------------------------------------------------
# Assertions on results
# ---------------------------------------------------------------------------------------------


def first_text(result: Any) -> str:
    """First text block of an SDK CallToolResult or a raw result dict."""
    content = result.get("content") if isinstance(result, dict) else result.content
    for block in content or []:
        kind = block.get("type") if isinstance(block, dict) else getattr(block, "type", None)
        if kind == "text":
            return block["text"] if isinstance(block, dict) else block.text
    raise AssertionError(f"no text block in {result!r}")


def decision_of(result: Any) -> dict | None:
    meta = result.get("_meta") if isinstance(result, dict) else result.meta
    return (meta or {}).get("warden/decision")


# ---------------------------------------------------------------------------------------------
# The team gateway (`warden serve`): config files, credentials, clients
# ---------------------------------------------------------------------------------------------


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def to_toml(doc: dict) -> str:
    """A small TOML writer for serve configs: nested dicts become [tables], top-level lists of dicts
    become [[arrays of tables]] (grants), anything deeper is written inline."""
    lines: list[str] = []

    def is_aot(path: list[str], v: Any) -> bool:
        return not path and isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)

    def table(path: list[str], d: dict) -> None:
        if path:
            lines.append("")
            lines.append("[" + ".".join(_toml_key(k) for k in path) + "]")
        for k, v in d.items():
            if not isinstance(v, dict) and not is_aot(path, v):
                lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for k, v in d.items():
            if isinstance(v, dict):
                table(path + [k], v)
        for k, v in d.items():
            if is_aot(path, v):
                for item in v:
                    lines.append("")
                    lines.append(f"[[{_toml_key(k)}]]")
                    lines.extend(f"{_toml_key(ik)} = {_toml_value(iv)}" for ik, iv in item.items())

    table([], doc)
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Save the way editors do: write a new file next to it, then rename it over the old one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def bearer(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token is not None else {}


@contextlib.asynccontextmanager
async def serve_client(url: str, token: str | None, mode: str = "legacy", **kw):
    """The official SDK client on a `warden serve` endpoint, sending `Authorization: Bearer token`."""
    async with create_mcp_http_client(headers=bearer(token) or None) as http:
        async with sdk_client(streamable_http_client(url, http_client=http), mode, **kw) as client:
            yield client


def www_authenticate_params(value: str) -> dict[str, str]:
    """The auth-params of a `WWW-Authenticate: Bearer k="v", ...` value."""
    assert value.lower().startswith("bearer "), value
    return {k.lower(): v for k, v in re.findall(r'([A-Za-z_]+)="([^"]*)"', value)}


async def tool_names(client) -> list[str]:
    return [t.name for t in (await client.list_tools()).tools]


def demo_server(log: Path, era: str = "both", **extra: Any) -> dict:
    """A `[servers.<name>]` entry running the demo upstream on stdio, logging its calls to log."""
    argv = demo_upstream_cmd(log, era)
    return {"command": argv[0], "args": argv[1:], **extra}


async def post_once(url: str, headers: dict[str, str], body: Any) -> httpx.Response:
    """One POST on its own connection. For requests the gateway is expected to refuse: whether a
    refused request's connection stays usable is tested on its own (test_serve_credentials)."""
    async with http_client() as client:
        return await client.post(url, headers=headers, json=body)


def raw_http_exchange(
    port: int, head: bytes, body: bytes, then: bytes, pause: float = 0.2, timeout: float = CALL_TIMEOUT
) -> tuple[bytes, bytes]:
    """On one connection: send the request head, read the whole response (it may come before the
    body is sent), wait `pause` (a slow client), send the body and then the next request `then`;
    return both raw responses (the second is b"" when the server closed the connection)."""

    def read_response(sock: socket.socket, buf: bytes) -> tuple[bytes, bytes]:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return buf, b""
            buf += chunk
        head_end = buf.index(b"\r\n\r\n") + 4
        length = 0
        for line in buf[:head_end].split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while len(buf) < head_end + length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf[: head_end + length], buf[head_end + length :]

    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        first, rest = read_response(sock, b"")
        time.sleep(pause)
        try:
            sock.sendall(body + then)
            second, _ = read_response(sock, rest)
        except OSError:
            second = b""
    return first, second


def json_dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2) + "\n"


def tomllib_load(path: Path) -> dict:
    import tomllib

    return tomllib.loads(path.read_text())


def demo_calls_shared(log: Path, tool: str | None = None) -> list[dict]:
    """demo_calls for a log that several demo processes append to at once (`warden serve` starts
    one per session). Each process writes a line as two writes (the object, then the newline), so
    lines from two processes can interleave as `{...}{...}\\n\\n`; every object is counted once."""
    if not log.exists():
        return []
    decoder = json.JSONDecoder()
    text, pos, calls = log.read_text(), 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        obj, pos = decoder.raw_decode(text, pos)
        calls.append(obj)
    return [c for c in calls if tool is None or c.get("tool") == tool]
