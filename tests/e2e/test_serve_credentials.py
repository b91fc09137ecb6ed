"""`warden serve` credentials: API keys made with `warden keys`, refused with 401 and an RFC 9728
pointer when missing, wrong, revoked or expired, and never forwarded upstream."""

from __future__ import annotations

import http.client
import http.server
import json
import threading
import time

import pytest

import support as s

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": s.legacy_initialize_params()}
REFRESH = {"connection_id": "conn-42"}


def serve_executor(e2e, **server_extra) -> tuple:
    log = e2e.log("executor")
    doc = {
        "servers": {"executor": server_extra.pop("server", None) or s.demo_server(log)},
        "policies": {"refresh": {"file": str(s.EXAMPLES / "executor-refresh.json")}},
        "identities": {"ci-agent": {}},
        "grants": [{"identity": "ci-agent", "server": "executor", "policy": "refresh"}],
    }
    config, port = e2e.serve_config(doc)
    gw = e2e.serve(config, port, env=server_extra.pop("env", None))
    return gw, log


async def post_init(url, headers=None):
    """An initialize on its own connection (see test_a_refused_request_leaves_the_connection_usable)."""
    return await s.post_once(url, {**s.LEGACY_ACCEPT, **(headers or {})}, INIT)


def assert_401(r, error: str | None, description: str | None = None) -> dict[str, str]:
    assert r.status_code == 401, (r.status_code, r.text)
    challenge = r.headers.get("www-authenticate")
    assert challenge, f"401 without WWW-Authenticate: {dict(r.headers)}"
    params = s.www_authenticate_params(challenge)
    assert params.get("resource_metadata"), challenge
    if error is None:
        assert "error" not in params, challenge
    else:
        assert params.get("error") == error, challenge
    if description:
        assert description in params.get("error_description", "").lower(), challenge
    assert "error" in json.loads(r.text), r.text
    return params


@pytest.mark.anyio
async def test_missing_credentials_get_401_pointing_at_protected_resource_metadata(e2e):
    gw, log = serve_executor(e2e)
    url = gw.endpoint("executor")
    async with s.http_client() as client:
        r = await post_init(url)
        params = assert_401(r, error=None)
        assert params.get("realm"), r.headers["www-authenticate"]
        meta_url = params["resource_metadata"]
        assert meta_url == f"{gw.url}/.well-known/oauth-protected-resource/mcp/executor", meta_url

        m = await client.get(meta_url)
        assert m.status_code == 200, (m.status_code, m.text)
        assert m.headers["content-type"].startswith("application/json"), m.headers
        doc = m.json()
        # RFC 9728 section 2/3: `resource` is the protected resource's identifier, the URL the client used.
        assert doc["resource"] == url, doc
        assert "header" in doc.get("bearer_methods_supported", ["header"]), doc

        root = await client.get(f"{gw.url}/.well-known/oauth-protected-resource")
        assert root.status_code == 200, (root.status_code, root.text)
        assert root.json()["resource"].startswith(gw.url), root.text

        # Every kind of request is refused without a credential, not only initialize.
        r = await s.post_once(url, s.modern_headers("tools/call", "connections.refresh"),
                              s.modern_call_body(2, "connections.refresh", REFRESH))
        assert_401(r, error=None)
        r = await client.get(url, headers={"accept": "text/event-stream", "mcp-session-id": "x"})
        assert r.status_code == 401, (r.status_code, r.text)
    assert s.demo_calls_shared(log) == []


@pytest.mark.anyio
async def test_wrong_credentials_get_401(e2e):
    gw, log = serve_executor(e2e)
    real = e2e.create_key("ci-agent")
    url = gw.endpoint("executor")
    key = real["key"]
    prefix, kid, secret = key.split("_", 2)
    other_secret = ("A" if secret[0] != "A" else "B") + secret[1:]
    wrong = {
        "unknown key": (f"wdn_{'0' * 12}_{secret}", "invalid_token"),
        "right id, wrong secret": (f"wdn_{kid}_{other_secret}", "invalid_token"),
        "malformed key": ("wdn_nothex", "invalid_token"),
        "not a key, no JWT configured": ("hello", "invalid_token"),
    }
    for what, (token, error) in wrong.items():
        r = await post_init(url, s.bearer(token))
        assert_401(r, error)
        assert token not in r.text and token not in r.headers["www-authenticate"], f"{what}: the token is echoed"
    r = await post_init(url, {"authorization": f"Basic {key}"})
    assert_401(r, "invalid_request")

    ok = await post_init(url, s.bearer(key))
    assert ok.status_code == 200, (ok.status_code, ok.text)
    assert s.demo_calls_shared(log) == []


@pytest.mark.anyio
async def test_a_key_revoked_while_the_gateway_runs_is_refused_on_the_next_request(e2e):
    gw, log = serve_executor(e2e)
    record = e2e.create_key("ci-agent")
    url = gw.endpoint("executor")
    async with s.http_client(headers=s.bearer(record["key"])) as client:
        headers = await s.legacy_http_session(client, url)
        call = {"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                "params": {"name": "connections.refresh", "arguments": REFRESH}}
        r = await client.post(url, headers=headers, json=call)
        assert r.status_code == 200, (r.status_code, r.text)
        assert "result" in s.response_for(s.parse_http_messages(r), 5)

        out = e2e.keys("revoke", record["id"])
        assert record["id"] in out.stdout, out.stdout

    # The open session's next request, and a fresh session, are refused.
    auth = s.bearer(record["key"])
    r = await s.post_once(url, {**headers, **auth}, {**call, "id": 6})
    assert_401(r, "invalid_token", "revoked")
    r = await post_init(url, auth)
    assert_401(r, "invalid_token", "revoked")
    r = await s.post_once(url, {**s.modern_headers("tools/call", "connections.refresh"), **auth},
                          s.modern_call_body(7, "connections.refresh", REFRESH))
    assert_401(r, "invalid_token", "revoked")

    listed = json.loads(e2e.keys("list", "--format", "json").stdout)
    assert [k["status"] for k in listed if k["id"] == record["id"]] == ["revoked"], listed
    assert len(s.demo_calls_shared(log)) == 1


@pytest.mark.anyio
async def test_an_expired_key_is_refused(e2e):
    gw, log = serve_executor(e2e)
    url = gw.endpoint("executor")
    # `--expires 1s`, used 1.5 s later.
    short = e2e.create_key("ci-agent", expires="1s")
    time.sleep(1.5)
    r = await post_init(url, s.bearer(short["key"]))
    assert_401(r, "invalid_token", "expired")

    # A key that works now and expires later is refused once its time is up, mid-session.
    record = e2e.create_key("ci-agent", expires="4s")
    created = time.monotonic()
    async with s.http_client(headers=s.bearer(record["key"])) as client:
        headers = await s.legacy_http_session(client, url)
        r = await client.post(url, headers=headers, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        assert r.status_code == 200, (r.status_code, r.text)
    time.sleep(max(0.0, 4.5 - (time.monotonic() - created)))
    r = await s.post_once(url, {**headers, **s.bearer(record["key"])}, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"})
    assert_401(r, "invalid_token", "expired")
    listed = json.loads(e2e.keys("list", "--format", "json").stdout)
    assert {k["id"]: k["status"] for k in listed} == {short["id"]: "expired", record["id"]: "expired"}, listed


@pytest.mark.parametrize("credential", ["missing", "wrong", "no grant", "unknown server"])
def test_a_refused_request_leaves_the_connection_usable(e2e, credential):
    """A client that is refused (401/403/404) retries with a credential, usually on the same keep-alive
    connection (an OAuth flow does exactly this). The gateway reads the request's body before it
    refuses, so the connection stays usable (or it must say `Connection: close`). Closing
    silently makes the client's next request fail with "server disconnected without sending a
    response". Like real clients, the test sends head and body together."""
    gw, _ = serve_executor(e2e)
    good = e2e.create_key("ci-agent")["key"]
    auth = {
        "missing": b"",
        "wrong": b"Authorization: Bearer wdn_000000000000_" + b"A" * 43 + b"\r\n",
        "no grant": b"Authorization: Bearer " + e2e.create_key("mallory")["key"].encode() + b"\r\n",
        "unknown server": b"Authorization: Bearer " + good.encode() + b"\r\n",
    }[credential]
    body = json.dumps(INIT).encode()

    def head(extra: bytes, server: bytes = b"executor") -> bytes:
        return (
            b"POST /mcp/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            b"Accept: application/json, text/event-stream\r\nContent-Length: %d\r\n%s\r\n" % (server, gw.port, len(body), extra)
        )

    then = head(b"Authorization: Bearer " + good.encode() + b"\r\n") + body
    first_head = head(auth, b"nope" if credential == "unknown server" else b"executor")
    first, second = s.raw_http_exchange(gw.port, first_head + body, b"", then)
    status = first.split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 40"), first[:300]
    head_lines = first.split(b"\r\n\r\n", 1)[0].lower().split(b"\r\n")
    if b"connection: close" in head_lines:
        return  # the server said it would close: a client opens a new connection, fine
    assert second.startswith(b"HTTP/1.1 200"), (
        f"after answering {status.decode()} without `Connection: close`, the gateway did not answer the "
        f"next request on the same connection: got {second[:200]!r}"
    )


# ---------------------------------------------------------------------------------------------
# The client's Authorization header never reaches the upstream
# ---------------------------------------------------------------------------------------------

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "host", "content-length"}


class RecordingProxy:
    """A loopback HTTP proxy in front of an HTTP MCP server that records every request's headers.
    Streams (SSE) are relayed chunk by chunk."""

    def __init__(self, target_port: int):
        self.requests: list[tuple[str, list[tuple[str, str]]]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("transfer-encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("content-length") or 0))

            def _forward(self):
                with proxy._lock:
                    proxy.requests.append((self.command, list(self.headers.items())))
                body = self._body()
                conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=s.CALL_TIMEOUT)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    conn.request(self.command, self.path, body=body if body else None, headers=headers)
                    resp = conn.getresponse()
                    stream = resp.getheader("content-type", "").startswith("text/event-stream")
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in HOP_BY_HOP:
                            self.send_header(k, v)
                    if stream:
                        self.send_header("transfer-encoding", "chunked")
                        self.end_headers()
                        while True:
                            chunk = resp.read1(65536)
                            if not chunk:
                                break
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                            self.wfile.flush()
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        data = resp.read()
                        self.send_header("content-length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                    self.wfile.flush()
                except (OSError, http.client.HTTPException):
                    self.close_connection = True
                finally:
                    conn.close()

            do_GET = do_POST = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recording_upstream(e2e):
    log = e2e.log("executor")
    demo = e2e.demo_http(log)
    proxy = RecordingProxy(demo.port)
    yield proxy, log
    proxy.close()


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", s.MODERN])
async def test_the_clients_authorization_header_never_reaches_the_upstream(e2e, recording_upstream, mode):
    proxy, log = recording_upstream
    server = {
        "url": f"http://127.0.0.1:{proxy.port}/mcp",
        # Upstream credentials come from the gateway's config (here from its environment).
        "headers": {"Authorization": "Bearer ${UPSTREAM_TOKEN}", "X-Upstream-Tenant": "acme"},
    }
    gw, _ = serve_executor(e2e, server=server, env={"UPSTREAM_TOKEN": "upstream-secret-123"})
    key = e2e.create_key("ci-agent")["key"]
    async with s.serve_client(gw.endpoint("executor"), key, mode) as client:
        assert await s.tool_names(client) == ["connections.refresh"]
        r = await client.call_tool("connections.refresh", REFRESH)
        assert r.is_error is not True, r
    assert len(s.demo_calls_shared(log, "connections.refresh")) == 1, "the call did not go through the recording proxy"

    assert proxy.requests, "the gateway sent nothing through the proxy"
    for method, headers in proxy.requests:
        auth = [v for k, v in headers if k.lower() == "authorization"]
        assert auth == ["Bearer upstream-secret-123"], (method, headers)
        assert [v for k, v in headers if k.lower() == "x-upstream-tenant"] == ["acme"], (method, headers)
        for k, v in headers:
            assert key not in v and key.split("_", 2)[2] not in v, f"the client's key reached the upstream in {k}: {v}"
