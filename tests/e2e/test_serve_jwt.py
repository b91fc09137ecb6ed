"""`warden serve` with JWT bearer tokens ([auth.jwt]): tokens signed by a key pair made here,
checked against a JWKS file or a JWKS URL served on 127.0.0.1; `sub` names the identity."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

import support as s

ISSUER = "https://issuer.test"
AUDIENCE = "warden-test"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": s.legacy_initialize_params()}
REFRESH = {"connection_id": "conn-42"}


class SigningKey:
    def __init__(self, kid: str):
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def token(self, sub: str = "ci-agent", kid: str | None = None, **claims) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 600, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.private, algorithm="RS256", headers={"kid": kid or self.kid})


def jwks(*keys: SigningKey) -> str:
    return json.dumps({"keys": [k.jwk() for k in keys]})


def serve_with_jwt(e2e, jwks_source: str, policies: dict | None = None, grants: list | None = None):
    log = e2e.log("executor")
    doc = {
        "servers": {"executor": s.demo_server(log)},
        "policies": policies or {"refresh": {"file": str(s.EXAMPLES / "executor-refresh.json")}},
        "identities": {"ci-agent": {"attributes": {"team": "platform"}}, "alice@example.com": {}},
        "grants": grants or [{"identity": "ci-agent", "server": "executor", "policy": "refresh"}],
        "auth": {"jwt": {"jwks": jwks_source, "issuer": ISSUER, "audience": AUDIENCE, "algorithms": ["RS256"]}},
    }
    config, port = e2e.serve_config(doc)
    return e2e.serve(config, port), log


async def status_of(url: str, token: str | None) -> tuple[int, dict[str, str]]:
    r = await s.post_once(url, {**s.LEGACY_ACCEPT, **s.bearer(token)}, INIT)
    params = s.www_authenticate_params(r.headers["www-authenticate"]) if r.status_code == 401 else {}
    return r.status_code, params


@pytest.fixture
def key1():
    return SigningKey("k1")


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", s.MODERN])
async def test_a_valid_token_maps_sub_to_an_identity_with_a_grant(e2e, key1, mode):
    (e2e.config_dir / "jwks.json").write_text(jwks(key1))
    gw, log = serve_with_jwt(e2e, "jwks.json")
    async with s.serve_client(gw.endpoint("executor"), key1.token(), mode) as client:
        assert await s.tool_names(client) == ["connections.refresh"]
        r = await client.call_tool("connections.refresh", REFRESH)
        assert r.is_error is not True, r
        denied = await client.call_tool("connections.delete", REFRESH)
        assert denied.is_error is True and s.decision_of(denied)["rule"] == "/default", denied
    assert [c["tool"] for c in s.demo_calls_shared(log)] == ["connections.refresh"]

    # aud may be a list that contains the audience.
    code, _ = await status_of(gw.endpoint("executor"), key1.token(aud=["other", AUDIENCE]))
    assert code == 200
    # A valid token for an identity without a grant on this server: authenticated, not authorized.
    code, _ = await status_of(gw.endpoint("executor"), key1.token(sub="alice@example.com"))
    assert code == 403


@pytest.mark.anyio
async def test_protected_resource_metadata_names_the_issuer(e2e, key1):
    (e2e.config_dir / "jwks.json").write_text(jwks(key1))
    gw, _ = serve_with_jwt(e2e, "jwks.json")
    r = await s.post_once(gw.endpoint("executor"), s.LEGACY_ACCEPT, INIT)
    assert r.status_code == 401, (r.status_code, r.text)
    meta_url = s.www_authenticate_params(r.headers["www-authenticate"])["resource_metadata"]
    async with s.http_client() as client:
        doc = (await client.get(meta_url)).json()
    assert doc["resource"] == gw.endpoint("executor"), doc
    assert doc.get("authorization_servers") == [ISSUER], doc


@pytest.mark.anyio
async def test_invalid_tokens_get_401(e2e, key1):
    (e2e.config_dir / "jwks.json").write_text(jwks(key1))
    gw, log = serve_with_jwt(e2e, "jwks.json")
    url = gw.endpoint("executor")
    now = int(time.time())
    stranger = SigningKey("k1")  # same kid, different key: a forged signature
    bad = {
        "expired": key1.token(exp=now - 300, iat=now - 900),
        "other audience": key1.token(aud="someone-else"),
        "wrong issuer": key1.token(iss="https://evil.test"),
        "not yet valid": key1.token(nbf=now + 600),
        "forged signature": stranger.token(),
        "unknown kid": key1.token(kid="nope"),
        "HS256 (not allowed)": jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "sub": "ci-agent", "exp": now + 600},
            "a-shared-secret-of-at-least-32-bytes!!", algorithm="HS256", headers={"kid": "k1"},
        ),
        "alg none": jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "ci-agent", "exp": now + 600}, None, algorithm="none"),
        "garbage": "not.a.jwt",
    }
    for what, token in bad.items():
        code, params = await status_of(url, token)
        assert code == 401, f"{what}: {code}"
        assert params.get("error") == "invalid_token", (what, params)
        assert params.get("resource_metadata"), (what, params)
    code, params = await status_of(url, bad["expired"])
    assert "expired" in params.get("error_description", "").lower(), params
    code, _ = await status_of(url, key1.token())
    assert code == 200
    assert s.demo_calls_shared(log) == []


@pytest.mark.anyio
async def test_jwt_claims_are_readable_in_conditions(e2e, key1):
    (e2e.config_dir / "jwks.json").write_text(jwks(key1))
    policy = {
        "version": "1",
        "default": "deny",
        "tools": {
            "connections.refresh": {"require": [{"path": "identity.plan", "op": "eq", "value": "gold", "reason": "gold plan only"}]},
            "connections.list": {"require": [{"path": "identity.team", "op": "eq", "value": "platform"}]},
        },
    }
    s.write_policy(e2e.config_dir, policy, "claims.json")
    gw, log = serve_with_jwt(
        e2e, "jwks.json", {"claims": {"file": "claims.json"}},
        [{"identity": "ci-agent", "server": "executor", "policy": "claims"}],
    )
    url = gw.endpoint("executor")
    async with s.serve_client(url, key1.token(plan="gold"), "legacy") as client:
        assert (await client.call_tool("connections.refresh", REFRESH)).is_error is not True
        # Configured attributes still apply to a JWT identity.
        assert (await client.call_tool("connections.list", {})).is_error is not True
    async with s.serve_client(url, key1.token(plan="free"), "legacy") as client:
        r = await client.call_tool("connections.refresh", REFRESH)
        assert r.is_error is True and "gold plan only" in s.first_text(r), r
    assert [c["tool"] for c in s.demo_calls_shared(log)] == ["connections.refresh", "connections.list"]


@pytest.mark.anyio
async def test_a_key_rotated_into_the_jwks_file_is_accepted_without_restart(e2e, key1):
    jwks_file = e2e.config_dir / "keys" / "jwks.json"
    jwks_file.parent.mkdir()
    jwks_file.write_text(jwks(key1))
    gw, _ = serve_with_jwt(e2e, "keys/jwks.json")
    url = gw.endpoint("executor")
    key2 = SigningKey("k2")
    assert (await status_of(url, key1.token()))[0] == 200
    code, params = await status_of(url, key2.token())
    assert code == 401 and "kid" in params.get("error_description", ""), (code, params)

    # The issuer rotates: k2 in, k1 out (saved the way editors and deploy tools do: a rename).
    s.write_atomically(jwks_file, jwks(key2))
    deadline = time.monotonic() + 5
    while True:
        code, _ = await status_of(url, key2.token())
        if code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert code == 200, "a token signed with the rotated-in key is still refused"
    assert (await status_of(url, key1.token()))[0] == 401, "a token signed with the removed key is still accepted"
    assert gw.proc.poll() is None


class JwksServer:
    """Serves a JWKS at http://127.0.0.1:PORT/jwks.json and counts fetches."""

    def __init__(self, body: str):
        self.body = body
        self.fetches: list[float] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.fetches.append(time.monotonic())
                data = server.body.encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server(key1):
    server = JwksServer(jwks(key1))
    yield server
    server.close()


@pytest.mark.anyio
async def test_jwks_url_is_fetched_cached_and_refetched_for_a_rotated_in_key(e2e, key1, jwks_server):
    """Fetched on first use and cached; unknown kids do not hammer the issuer (refetches at least
    30 s apart, documented in warden-auth); a key rotated in at the issuer is picked up on its first
    unknown-kid token once a refetch is allowed, without restarting the gateway."""
    gw, log = serve_with_jwt(e2e, jwks_server.url)
    url = gw.endpoint("executor")
    async with s.serve_client(url, key1.token(), "legacy") as client:
        assert (await client.call_tool("connections.refresh", REFRESH)).is_error is not True
    assert len(jwks_server.fetches) == 1, jwks_server.fetches
    for _ in range(5):
        assert (await status_of(url, key1.token()))[0] == 200
    assert len(jwks_server.fetches) == 1, "the JWKS is not cached"

    # A flood of made-up kids: refused, and at most one refetch.
    for _ in range(10):
        assert (await status_of(url, key1.token(kid=uuid.uuid4().hex)))[0] == 401
    assert len(jwks_server.fetches) <= 2, f"{len(jwks_server.fetches)} JWKS fetches for 10 unknown kids"

    key2 = SigningKey("k2")
    jwks_server.body = jwks(key1, key2)
    time.sleep(max(0.0, jwks_server.fetches[-1] + 31 - time.monotonic()))
    code, params = await status_of(url, key2.token())
    assert code == 200, (code, params)
    assert (await status_of(url, key1.token()))[0] == 200


@pytest.mark.anyio
async def test_an_unreachable_jwks_url_fails_closed(e2e, key1):
    gw, log = serve_with_jwt(e2e, f"http://127.0.0.1:{s.free_port()}/jwks.json")
    r = await s.post_once(gw.endpoint("executor"), {**s.LEGACY_ACCEPT, **s.bearer(key1.token())}, INIT)
    assert r.status_code == 503, (r.status_code, r.text)
    # API keys still work while the issuer is down.
    key = e2e.create_key("ci-agent")["key"]
    r = await s.post_once(gw.endpoint("executor"), {**s.LEGACY_ACCEPT, **s.bearer(key)}, INIT)
    assert r.status_code == 200, (r.status_code, r.text)
