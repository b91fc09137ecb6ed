"""Fixtures for Warden's end-to-end tests.

Build-free: the binary comes from $WARDEN_BIN (default target/debug/warden). Peers come from
scripts/setup-peers.sh (.venv with the official `mcp` SDK, tests/e2e/node_modules with
server-everything). Each test gets a fresh temp directory, a fresh state dir, and a tag that every
process it starts carries; teardown stops what the test started and fails if any of it survives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mcp import StdioServerParameters

import support as s


@pytest.fixture
def anyio_backend():
    return "asyncio"


def pytest_sessionstart(session):
    if not s.WARDEN.is_file() or not os.access(s.WARDEN, os.X_OK):
        raise pytest.UsageError(f"warden binary not found at {s.WARDEN}: run `cargo build` or set WARDEN_BIN")
    if not s.EVERYTHING_JS.is_file():
        raise pytest.UsageError(f"server-everything not installed at {s.EVERYTHING_JS}: run scripts/setup-peers.sh")


@dataclass
class HttpServer:
    url: str
    port: int
    proc: subprocess.Popen
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""


@dataclass
class ServeGateway(HttpServer):
    """A running `warden serve`; `url` is the base URL (no path)."""

    def endpoint(self, server: str) -> str:
        return f"{self.url}/mcp/{server}"


@dataclass
class E2E:
    """Per-test workspace: temp dir, state dir, tagged environment and every process started."""

    tmp: Path
    tag: str
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        d = self.tmp / "state"
        d.mkdir(exist_ok=True)
        return d

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env[s.TAG_VAR] = self.tag
        env.pop("WARDEN_STATE_DIR", None)
        env.setdefault("RUST_BACKTRACE", "1")
        return env

    # -- policies and logs -------------------------------------------------------------------

    def policy(self, policy: dict | str, name: str = "policy.json") -> Path:
        return s.write_policy(self.tmp, policy, name)

    def log(self, name: str = "upstream") -> Path:
        return self.tmp / f"{name}.log"

    # -- gateway over stdio -------------------------------------------------------------------

    def gateway_argv(
        self,
        policy: Path,
        upstream: list[str] | None = None,
        upstream_url: str | None = None,
        state_dir: Path | None = None,
        listen: str | None = None,
    ) -> list[str]:
        argv = [str(s.WARDEN), "run", "--policy", str(policy), "--state-dir", str(state_dir or self.state_dir)]
        if listen:
            argv += ["--listen", listen]
        if upstream_url:
            argv += ["--upstream", upstream_url]
        else:
            assert upstream, "an upstream command or URL is needed"
            argv += ["--", *upstream]
        return argv

    def stdio_params(self, policy: Path, upstream: list[str] | None = None, **kw) -> StdioServerParameters:
        argv = self.gateway_argv(policy, upstream, **kw)
        return StdioServerParameters(command=argv[0], args=argv[1:], env={s.TAG_VAR: self.tag, "RUST_BACKTRACE": "1"})

    def raw_stdio(self, argv: list[str], name: str = "raw") -> s.RawStdio:
        rs = s.RawStdio(argv, env=self.env(), stderr_path=self.tmp / f"{name}.stderr")
        self.procs.append(rs.proc)
        return rs

    # -- processes over HTTP ------------------------------------------------------------------

    def spawn(self, argv: list[str], name: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
        err = self.tmp / f"{name}.stderr"
        full_env = self.env()
        full_env.update(env or {})
        with open(self.tmp / f"{name}.stdout", "wb") as out, open(err, "wb") as errf:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=errf, env=full_env)
        self.procs.append(proc)
        return proc, err

    def http_gateway(
        self,
        policy: Path,
        upstream: list[str] | None = None,
        upstream_url: str | None = None,
        state_dir: Path | None = None,
        name: str = "gateway",
    ) -> HttpServer:
        port = s.free_port()
        argv = self.gateway_argv(policy, upstream, upstream_url, state_dir, listen=f"127.0.0.1:{port}")
        proc, err = self.spawn(argv, name)
        try:
            s.wait_listening(port, proc, what=f"warden run --listen ({name})")
        except AssertionError as e:
            raise AssertionError(f"{e}\nstderr:\n{err.read_text(errors='replace')}") from None
        return HttpServer(f"http://127.0.0.1:{port}/mcp", port, proc, err)

    def demo_http(self, log: Path, era: str = "both", name: str = "demo") -> HttpServer:
        port = s.free_port()
        argv = [str(s.WARDEN), "demo-upstream", "--http", f"127.0.0.1:{port}", "--log", str(log), "--era", era]
        proc, err = self.spawn(argv, name)
        s.wait_listening(port, proc, what="warden demo-upstream --http")
        return HttpServer(f"http://127.0.0.1:{port}/mcp", port, proc, err)

    # -- the team gateway (warden serve) ------------------------------------------------------

    @property
    def config_dir(self) -> Path:
        """Where serve configs (and the policy files they name by relative path) are written: a
        directory of their own, as in a deployment (logs and state live elsewhere)."""
        d = self.tmp / "config"
        d.mkdir(exist_ok=True)
        return d

    def serve_config(self, doc: dict, name: str = "warden.toml", port: int | None = None) -> tuple[Path, int]:
        """Write a `warden serve` config (TOML, or JSON when name ends in .json) into config_dir.
        `listen.address` (a free loopback port) and `state` (this test's state dir) are filled in
        unless given."""
        doc = dict(doc)
        listen = dict(doc.get("listen") or {})
        if "address" not in listen:
            listen["address"] = f"127.0.0.1:{port or s.free_port()}"
        doc["listen"] = listen
        doc.setdefault("state", str(self.state_dir))
        path = self.config_dir / name
        path.write_text(json.dumps(doc, indent=2) if name.endswith(".json") else s.to_toml(doc))
        return path, int(listen["address"].rsplit(":", 1)[1])

    def serve(self, config: Path, port: int, name: str = "serve", env: dict[str, str] | None = None) -> "ServeGateway":
        """`warden serve --config config`, waited for until it listens on port."""
        proc, err = self.spawn([str(s.WARDEN), "serve", "--config", str(config)], name, env=env)
        try:
            s.wait_listening(port, proc, what=f"warden serve ({name})")
        except AssertionError as e:
            raise AssertionError(f"{e}\nstderr:\n{err.read_text(errors='replace')}") from None
        return ServeGateway(f"http://127.0.0.1:{port}", port, proc, err)

    def keys(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`warden keys ARGS --state-dir <this test's state dir>`, bounded."""
        argv = [str(s.WARDEN), "keys", *args, "--state-dir", str(self.state_dir)]
        done = subprocess.run(argv, capture_output=True, text=True, env=self.env(), timeout=s.START_TIMEOUT)
        if check:
            assert done.returncode == 0, (argv, done.returncode, done.stdout, done.stderr)
        return done

    def create_key(self, identity: str, expires: str | None = None) -> dict:
        """A new API key for identity: the JSON record, with the secret under "key"."""
        args = ["create", identity, "--format", "json"] + (["--expires", expires] if expires else [])
        record = json.loads(self.keys(*args).stdout)
        assert record["key"].startswith("wdn_"), record
        return record

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = s.EXIT_TIMEOUT) -> int:
        """Signal proc and wait for it; a process that ignores the signal fails the test."""
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
                raise AssertionError(f"{proc.args[:3]} did not exit within {timeout}s of signal {sig}")
        return proc.returncode

    # -- teardown -----------------------------------------------------------------------------

    def finish(self) -> list[str]:
        problems = []
        for proc in self.procs:
            if proc.poll() is None and proc.stdin and not proc.stdin.closed:
                # A stdio gateway's normal end: its client closes stdin.
                try:
                    proc.stdin.close()
                    proc.wait(timeout=s.EXIT_TIMEOUT)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            if proc.poll() is None:
                try:
                    self.stop(proc)
                except AssertionError as e:
                    problems.append(str(e))
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    try:
                        stream.close()
                    except OSError:
                        pass
        survivors = s.wait_no_tagged_processes(self.tag)
        if survivors:
            s.kill_tagged(self.tag)
            problems.append("processes survived the test: " + "; ".join(f"{pid}: {cmd}" for pid, cmd in survivors))
        return problems


@pytest.fixture
def e2e(tmp_path: Path):
    ctx = E2E(tmp=tmp_path, tag=str(tmp_path))
    yield ctx
    problems = ctx.finish()
    if problems:
        pytest.fail("teardown: " + "\n".join(problems), pytrace=False)
