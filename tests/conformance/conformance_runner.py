"""Runs the official MCP conformance suite's server scenarios against Warden's conformance
fixture directly and through `warden run` (HTTP upstream and stdio upstream), and compares.

Two pinned versions of the suite run: the latest release (handshake-era scenarios) and the
pre-release that tests the 2026-07-28 revision (stateless requests, input_required, caching,
headers), minus the scenarios listed in NEXT_SKIPPED.

    tests/conformance/run.sh [--out docs/conformance.md] [--strict] [--scenario NAME]...

Needs `cargo build` (target/debug/warden, target/debug/warden-conformance-server) and
scripts/setup-peers.sh (tests/conformance/node_modules: the pinned suite and Node.js 22).
Standard library only. Loopback only; every wait is bounded.

Exit status: 0 when every scenario that passes direct passes through Warden on both transports,
except the deviations documented in expected-deviations.json; 1 otherwise (a new deviation, a
documented one that no longer happens, or a scenario failing direct); 2 when it could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NODE_MODULES = HERE / "node_modules"

@dataclass(frozen=True)
class Suite:
    key: str  # prefix of scenario ids: "<key>:<scenario>"
    pkg: Path
    title: str

    @property
    def js(self) -> Path:
        return self.pkg / "dist" / "index.js"


SUITES = [
    Suite("release", NODE_MODULES / "@modelcontextprotocol" / "conformance", "latest release"),
    Suite("next", NODE_MODULES / "conformance-next", "pre-release with the 2026-07-28 scenarios"),
]
# Scenarios of the pre-release that the fixture does not implement: run by `--suite all` but left
# out of the comparison (they fail direct, so they say nothing about the gateway).
NEXT_SKIPPED = {
    "tasks-": "the tasks extension, which the fixture does not implement",
    "http-custom-header-server-validation": "pending scenario; `x-mcp-header` parameters need "
    "`Mcp-Param-*` validation, which the demo transport the fixture reuses does not do",
}
NODE = NODE_MODULES / ".bin" / "node"
DEVIATIONS = HERE / "expected-deviations.json"
WARDEN = Path(os.environ.get("WARDEN_BIN") or ROOT / "target" / "debug" / "warden")
FIXTURE = Path(
    os.environ.get("WARDEN_CONFORMANCE_SERVER") or ROOT / "target" / "debug" / "warden-conformance-server"
)
TAG_VAR = "WARDEN_CONFORMANCE_TAG"

START_TIMEOUT = 15.0  # a process must listen within this
SUITE_TIMEOUT = 150.0  # one whole suite run (the scenarios run one after another)
EXIT_TIMEOUT = 8.0  # a signalled process must exit within this

# The configurations compared, in table order: (key, column title).
CONFIGS = [
    ("direct", "direct"),
    ("warden-http", "through Warden, HTTP upstream"),
    ("warden-stdio", "through Warden, stdio upstream"),
]
ALLOW_ALL = {"version": "1", "default": "allow"}


class RunError(Exception):
    """The comparison could not run (missing build or peers, a process that would not start)."""


@dataclass
class Outcome:
    """One scenario in one configuration."""

    status: str  # "pass", "fail" or "missing"
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def reason(self, limit: int = 220) -> str:
        text = "; ".join(self.failures) or "no result"
        return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Comparison:
    versions: dict[str, str]  # suite key -> package version
    node: str
    scenarios: list[str]
    results: dict[str, dict[str, Outcome]]  # config -> scenario -> outcome
    logs: dict[str, Path]


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RunError(f"{what} exited with {proc.returncode} before listening:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RunError(f"{what} did not listen on 127.0.0.1:{port} within {START_TIMEOUT}s:\n{tail(log)}")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Procs:
    """Every process this run starts, tagged through the environment, stopped at the end."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.tag = str(tmp)
        self.procs: list[subprocess.Popen] = []
        self.groups: set[int] = set()

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env[TAG_VAR] = self.tag
        env.pop("WARDEN_STATE_DIR", None)
        env.setdefault("RUST_BACKTRACE", "1")
        return env

    def start(self, argv: list[str], name: str, group: bool = False) -> tuple[subprocess.Popen, Path]:
        """Starts argv with its output in NAME.log; `group` puts it in a process group of its own
        (signalled as a whole: a shell running the suite, and its node child)."""
        log = self.tmp / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.tmp,
                start_new_session=group,
            )
        if group:
            self.groups.add(proc.pid)
        self.procs.append(proc)
        return proc, log

    def signal(self, proc: subprocess.Popen, sig: int) -> None:
        try:
            if proc.pid in self.groups:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except ProcessLookupError:
            pass

    def stop_all(self) -> list[str]:
        """SIGTERM everything still running (newest first), then check nothing tagged survives."""
        problems = []
        for proc in reversed(self.procs):
            if proc.poll() is None:
                self.signal(proc, signal.SIGTERM)
                try:
                    proc.wait(timeout=EXIT_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.signal(proc, signal.SIGKILL)
                    proc.wait(timeout=EXIT_TIMEOUT)
                    problems.append(f"{proc.args[:3]} ignored SIGTERM for {EXIT_TIMEOUT}s")
        deadline = time.monotonic() + EXIT_TIMEOUT
        survivors = tagged_processes(self.tag)
        while survivors and time.monotonic() < deadline:
            time.sleep(0.1)
            survivors = tagged_processes(self.tag)
        for pid, cmd in survivors:
            problems.append(f"process {pid} survived: {cmd}")
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return problems


def tagged_processes(tag: str) -> list[tuple[int, str]]:
    """Live processes (not zombies, not this one) whose environment carries tag."""
    needle = f"{TAG_VAR}={tag}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            if stat[stat.rindex(b")") + 2 :].split()[0] == b"Z":
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            found.append((int(entry), cmd))
        except (OSError, ValueError):
            continue
    return found


# ---------------------------------------------------------------------------------------------
# The suite
# ---------------------------------------------------------------------------------------------


def check_prerequisites() -> None:
    missing = []
    for path, hint in [
        (NODE, "scripts/setup-peers.sh"),
        *((suite.js, "scripts/setup-peers.sh") for suite in SUITES),
        (WARDEN, "cargo build (or set WARDEN_BIN)"),
        (FIXTURE, "cargo build (or set WARDEN_CONFORMANCE_SERVER)"),
    ]:
        if not path.is_file():
            missing.append(f"{path} is missing: run {hint}")
    if missing:
        raise RunError("\n".join(missing))


def suite_version(suite: Suite) -> str:
    return json.loads((suite.pkg / "package.json").read_text())["version"]


def node_version() -> str:
    return subprocess.run([str(NODE), "--version"], capture_output=True, text=True, timeout=30).stdout.strip()


def skipped(suite: Suite, scenario: str) -> str | None:
    """Why a scenario is left out of the comparison, or None."""
    if suite.key != "next":
        return None
    for prefix, why in NEXT_SKIPPED.items():
        if scenario == prefix or (prefix.endswith("-") and scenario.startswith(prefix)):
            return why
    return None


def list_scenarios(suite: Suite) -> list[str]:
    """Scenario ids ("<suite>:<name>") the suite lists, skipped ones left out."""
    out = subprocess.run(
        [str(NODE), str(suite.js), "list", "--server"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    names = re.findall(r"^\s*-\s+([a-z0-9][a-z0-9-]*)", out, flags=re.M)
    return [f"{suite.key}:{n}" for n in names if not skipped(suite, n)]


RESULT_DIR = re.compile(r"^server-(.+)-(\d{4}-\d{2}-\d{2}T[0-9-]+Z)$")


def start_suites(procs: Procs, url: str, config: str, only: list[str]) -> tuple[subprocess.Popen, Path, Path]:
    """Runs each suite in turn against url (one shell, so one process to wait for and bound)."""
    out_dir = procs.tmp / f"results-{config}"
    steps = []
    for suite in SUITES:
        mine = [s.split(":", 1)[1] for s in only if s.startswith(f"{suite.key}:")]
        if only and not mine:
            continue
        (out_dir / suite.key).mkdir(parents=True)
        argv = [str(NODE), str(suite.js), "server", "--url", url, "-o", str(out_dir / suite.key)]
        argv += ["--scenario", mine[0]] if len(mine) == 1 else ["--suite", "all"]
        steps.append(" ".join(shlex.quote(a) for a in argv))
    script = "; ".join(steps) or "true"
    proc, log = procs.start(["/bin/sh", "-c", script], f"suite-{config}", group=True)
    return proc, log, out_dir


def read_results(out_dir: Path, scenarios: list[str], timed_out: bool) -> dict[str, Outcome]:
    results: dict[str, Outcome] = {}
    for d in sorted(out_dir.glob("*/*")):
        m = RESULT_DIR.match(d.name)
        checks_file = d / "checks.json"
        if not m or not checks_file.is_file():
            continue
        try:
            checks = json.loads(checks_file.read_text())
        except (OSError, ValueError):
            continue  # cut short while being written: counted as missing below
        failures = [
            f"{c.get('id')}: {c.get('errorMessage') or c.get('description')}"
            for c in checks
            if c.get("status") == "FAILURE"
        ]
        warnings = [
            f"{c.get('id')}: {c.get('errorMessage') or c.get('description')}"
            for c in checks
            if c.get("status") == "WARNING"
        ]
        results[f"{d.parent.name}:{m.group(1)}"] = Outcome("fail" if failures else "pass", failures, warnings)
    for name in scenarios:
        if name not in results:
            why = "suite timed out before this scenario finished" if timed_out else "the suite wrote no result"
            results[name] = Outcome("missing", [why])
    return results


def compare(only: list[str]) -> Comparison:
    check_prerequisites()
    scenarios = [s for suite in SUITES for s in list_scenarios(suite)]
    if not scenarios:
        raise RunError("the suites list no server scenarios")
    if only:
        unknown = [s for s in only if s not in scenarios]
        if unknown:
            raise RunError(f"unknown scenarios (give them as SUITE:NAME): {', '.join(unknown)}")
        scenarios = [s for s in scenarios if s in only]
    versions, node = {suite.key: suite_version(suite) for suite in SUITES}, node_version()

    tmp = Path(tempfile.mkdtemp(prefix="warden-conformance-"))
    procs = Procs(tmp)
    keep = os.environ.get("WARDEN_CONFORMANCE_KEEP") == "1"
    try:
        policy = tmp / "allow-all.json"
        policy.write_text(json.dumps(ALLOW_ALL))

        def fixture_http(name: str) -> str:
            port = free_port()
            proc, log = procs.start([str(FIXTURE), "--http", f"127.0.0.1:{port}"], name)
            wait_listening(port, proc, f"warden-conformance-server ({name})", log)
            return f"http://127.0.0.1:{port}/mcp"

        def gateway(name: str, upstream: list[str]) -> str:
            port = free_port()
            state = tmp / f"state-{name}"
            state.mkdir()
            argv = [str(WARDEN), "run", "--policy", str(policy), "--state-dir", str(state)]
            argv += ["--listen", f"127.0.0.1:{port}", *upstream]
            proc, log = procs.start(argv, name)
            wait_listening(port, proc, f"warden run ({name})", log)
            return f"http://127.0.0.1:{port}/mcp"

        # Each configuration gets its own fixture, so no state is shared between them.
        urls = {
            "direct": fixture_http("fixture-direct"),
            "warden-http": gateway("warden-http", ["--upstream", fixture_http("fixture-upstream")]),
            "warden-stdio": gateway("warden-stdio", ["--", str(FIXTURE)]),
        }
        # The three runs are independent: run them at once.
        runs = {cfg: start_suites(procs, url, cfg, only) for cfg, url in urls.items()}
        deadline = time.monotonic() + SUITE_TIMEOUT
        results: dict[str, dict[str, Outcome]] = {}
        logs: dict[str, Path] = {}
        for cfg, (proc, log, out_dir) in runs.items():
            timed_out = False
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
                procs.signal(proc, signal.SIGKILL)
                proc.wait(timeout=EXIT_TIMEOUT)
            results[cfg] = read_results(out_dir, scenarios, timed_out)
            logs[cfg] = log
        if keep:
            print(f"conformance: logs and results kept in {tmp}", file=sys.stderr)
        return Comparison(versions, node, scenarios, results, logs)
    finally:
        problems = procs.stop_all()
        for p in problems:
            print(f"conformance: {p}", file=sys.stderr)
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
        if problems:
            raise RunError("processes did not stop cleanly:\n" + "\n".join(problems))


# ---------------------------------------------------------------------------------------------
# Verdict and report
# ---------------------------------------------------------------------------------------------


def load_deviations() -> dict[str, dict]:
    """scenario -> {"configs": [...], "kind": "gateway bug" | "deliberate", "reason": str}."""
    if not DEVIATIONS.is_file():
        return {}
    data = json.loads(DEVIATIONS.read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


@dataclass
class Verdict:
    direct_failures: list[str]
    new_deviations: list[tuple[str, str]]  # (scenario, config)
    known_deviations: list[tuple[str, str]]
    stale_deviations: list[tuple[str, str]]

    @property
    def ok(self) -> bool:
        return not (self.direct_failures or self.new_deviations or self.stale_deviations)


def judge(c: Comparison, deviations: dict[str, dict], strict: bool) -> Verdict:
    v = Verdict([], [], [], [])
    for s in c.scenarios:
        direct = c.results["direct"][s]
        if not direct.passed:
            v.direct_failures.append(s)
            continue
        documented = set(deviations.get(s, {}).get("configs", [])) if not strict else set()
        for cfg, _ in CONFIGS[1:]:
            passed = c.results[cfg][s].passed
            if not passed and cfg in documented:
                v.known_deviations.append((s, cfg))
            elif not passed:
                v.new_deviations.append((s, cfg))
            elif cfg in documented:
                v.stale_deviations.append((s, cfg))
    return v


def md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def cell(o: Outcome) -> str:
    if o.passed:
        return f"pass ({len(o.warnings)} warning{'s' if len(o.warnings) != 1 else ''})" if o.warnings else "pass"
    return f"**FAIL**: {md_escape(o.reason())}"


def report(c: Comparison, v: Verdict, deviations: dict[str, dict], command: str) -> str:
    release, nxt = c.versions["release"], c.versions["next"]
    lines = [
        "# Conformance: the official MCP server scenarios, direct and through Warden",
        "",
        "<!-- Generated by tests/conformance/run.sh; do not edit by hand. -->",
        "",
        "The server scenarios of [`@modelcontextprotocol/conformance`](https://github.com/modelcontextprotocol/conformance)"
        f" run against Warden's conformance fixture (`warden-conformance-server`, `warden_testkit::conformance`),"
        " which implements the tools, resources, prompts and behaviours they call. Two pinned versions run,"
        f" each with `--suite all`, on Node.js {c.node}:",
        "",
        f"- **{release}**, the latest release: the handshake-era scenarios (2025-06-18, 2025-11-25);",
        f"- **{nxt}**, the pre-release that tests the 2026-07-28 revision as well (stateless requests,"
        " `server/discover`, `input_required`, caching, routing headers) and runs each scenario at the"
        " newest revision it applies to.",
        "",
        "Each scenario runs in three configurations:",
        "",
        "- **direct**: the suite connects to the fixture's Streamable HTTP endpoint;",
        "- **Warden, HTTP upstream**: to `warden run --policy allow-all.json --listen 127.0.0.1:P"
        " --upstream http://127.0.0.1:F/mcp`;",
        "- **Warden, stdio upstream**: to `warden run --policy allow-all.json --listen 127.0.0.1:P --"
        " warden-conformance-server` (the fixture on stdio).",
        "",
        'The policy is `{"version":"1","default":"allow"}`, so every difference from the direct column is a'
        " protocol deviation of the gateway, not a policy decision. A scenario passes when none of its checks"
        " is a `FAILURE` (warnings are the suite's SHOULDs).",
        "",
        "Regenerate (after `cargo build` and `scripts/setup-peers.sh`; about 10 seconds):",
        "",
        "```sh",
        command,
        "```",
        "",
    ]
    for suite in SUITES:
        ids = [s for s in c.scenarios if s.startswith(f"{suite.key}:")]
        if not ids:
            continue
        lines += [
            f"## Results: {c.versions[suite.key]} ({suite.title})",
            "",
            "| scenario | " + " | ".join(title for _, title in CONFIGS) + " |",
            "|---|" + "---|" * len(CONFIGS),
        ]
        for s in ids:
            name = s.split(":", 1)[1]
            lines.append(f"| `{name}` | " + " | ".join(cell(c.results[cfg][s]) for cfg, _ in CONFIGS) + " |")
        counts = [sum(c.results[cfg][s].passed for s in ids) for cfg, _ in CONFIGS]
        lines.append("| **passed** | " + " | ".join(f"**{n}/{len(ids)}**" for n in counts) + " |")
        lines.append("")
    lines += [
        f"Not compared ({nxt}): " + "; ".join(f"`{k}{'*' if k.endswith('-') else ''}`: {why}" for k, why in NEXT_SKIPPED.items()) + ".",
        "",
        "## Open deviations",
        "",
    ]
    failing = [s for s in c.scenarios if any(x == s for x, _ in v.known_deviations + v.new_deviations)]
    if not failing:
        lines += ["None: every scenario that passes direct passes through Warden on both transports.", ""]
    for s in failing:
        cfgs = [cfg for (x, cfg) in v.known_deviations + v.new_deviations if x == s]
        suite, name = s.split(":", 1)
        dev = deviations.get(s)
        lines += [f"### `{name}` ({c.versions[suite]}; {', '.join(cfgs)})", ""]
        direct_ids = {f.split(":", 1)[0] for f in c.results["direct"][s].failures}
        by_checks: dict[tuple[str, ...], list[str]] = {}
        for cfg in cfgs:
            extra = tuple(f for f in c.results[cfg][s].failures if f.split(":", 1)[0] not in direct_ids)
            by_checks.setdefault(extra, []).append(cfg)
        for extra, same in by_checks.items():
            lines.append(f"- Checks failing through Warden only ({', '.join(same)}):")
            lines += [f"  - {md_escape(f)}" for f in extra]
        if dev:
            lines.append(f"- **{dev.get('kind', 'deviation').capitalize()}.** {dev['reason']}")
        else:
            lines.append("- Not yet diagnosed (not in tests/conformance/expected-deviations.json).")
        lines.append("")
    if v.direct_failures:
        lines += ["## Failing direct (fixture gaps)", ""]
        lines += [f"- `{s}`: {md_escape(c.results['direct'][s].reason(600))}" for s in v.direct_failures]
        lines.append("")
    warned = [(s, cfg, w) for s in c.scenarios for cfg, _ in CONFIGS for w in c.results[cfg][s].warnings]
    if warned:
        lines += ["## Warnings", ""]
        by_text: dict[str, list[str]] = {}
        for s, cfg, w in warned:
            suite, name = s.split(":", 1)
            by_text.setdefault(f"`{name}` ({c.versions[suite]}): {md_escape(w)}", []).append(cfg)
        lines += [f"- {text} ({', '.join(cfgs)})" for text, cfgs in by_text.items()]
        lines.append("")
    lines += [
        "## Notes",
        "",
        "- `server-sse-polling` (SEP-1699) asks for SSE event ids, a priming event, `retry` and a server that"
        " closes the stream mid-call and replays on `GET` with `Last-Event-ID`. Neither the fixture (the demo"
        " transport sends no event ids) nor Warden (see docs/ARCHITECTURE.md) offers resumption, so the"
        " scenario reports warnings (direct) or finds a JSON answer (through Warden), not failures.",
        "- The fixture advertises no `listChanged`/`subscribe` in `server/discover`, so the 2026-07-28"
        " `subscriptions/listen` checks of `server-stateless` are skipped by the suite as not applicable.",
        "- Deviations the project has examined are listed with their diagnosis in"
        " `tests/conformance/expected-deviations.json`; the runner (and `tests/conformance/test_conformance.py`)"
        " fails on any other difference, and on a listed one that no longer happens (`--strict` ignores the list).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "docs" / "conformance.md"), help="report to write ('-' for stdout, '' for none)")
    ap.add_argument("--strict", action="store_true", help="ignore expected-deviations.json")
    ap.add_argument("--scenario", action="append", default=[], help="run only this scenario (repeatable)")
    ap.add_argument("--json", help="also write the raw outcomes to this file")
    args = ap.parse_args(argv)
    try:
        c = compare(args.scenario)
    except (RunError, subprocess.SubprocessError, OSError) as e:
        print(f"conformance: cannot run: {e}", file=sys.stderr)
        return 2
    deviations = load_deviations()
    v = judge(c, deviations, args.strict)
    command = "tests/conformance/run.sh" + (" --strict" if args.strict else "")
    text = report(c, v, deviations, command)
    if args.out == "-":
        print(text)
    elif args.out:
        Path(args.out).write_text(text)
        print(f"conformance: wrote {args.out}")
    if args.json:
        raw = {cfg: {s: o.__dict__ for s, o in r.items()} for cfg, r in c.results.items()}
        Path(args.json).write_text(json.dumps({"versions": c.versions, "results": raw}, indent=2))
    for cfg, _ in CONFIGS:
        n = sum(c.results[cfg][s].passed for s in c.scenarios)
        print(f"conformance: {cfg}: {n}/{len(c.scenarios)} scenarios pass")
    for s in v.direct_failures:
        print(f"conformance: FAILS DIRECT (fixture problem): {s}: {c.results['direct'][s].reason()}")
    for s, cfg in v.new_deviations:
        print(f"conformance: NEW DEVIATION: {s} passes direct, fails {cfg}: {c.results[cfg][s].reason()}")
    for s, cfg in v.known_deviations:
        print(f"conformance: documented deviation: {s} ({cfg})")
    for s, cfg in v.stale_deviations:
        print(f"conformance: STALE: {s} now passes {cfg}: remove it from {DEVIATIONS.name}")
    return 0 if v.ok else 1


if __name__ == "__main__":
    sys.exit(main())
