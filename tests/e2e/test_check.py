"""`warden check` validates policies (JSON Pointer + line:column per problem); `warden run` refuses
to start on an invalid policy (fail closed)."""

from __future__ import annotations

import re
import subprocess

import pytest

import support as s


def run(argv: list[str], env=None, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("name", ["executor-refresh.json", "sendit-execute.json", "full.json"])
def test_check_accepts_the_examples(name):
    r = run([str(s.WARDEN), "check", str(s.EXAMPLES / name)])
    assert r.returncode == 0, r.stdout + r.stderr


def test_check_accepts_several_files_at_once():
    r = run([str(s.WARDEN), "check", *(str(p) for p in sorted(s.EXAMPLES.glob("*.json")))])
    assert r.returncode == 0, r.stdout + r.stderr


# Each broken policy is laid out one field per line, so the reported line is known.
# name: (document, JSON Pointer, line of the offending field)
BROKEN = {
    "unknown-top-level-field": (
        '{\n  "version": "1",\n  "default": "deny",\n  "colour": "blue"\n}\n',
        "/colour",
        4,
    ),
    "unknown-tool-field": (
        '{\n  "version": "1",\n  "default": "deny",\n  "tools": {\n    "connections.refresh": {\n'
        '      "action": "allow",\n      "colour": "blue"\n    }\n  }\n}\n',
        "/tools/connections.refresh/colour",
        7,
    ),
    "unknown-limit-field": (
        '{\n  "version": "1",\n  "default": "deny",\n  "tools": {\n    "t": {\n      "limits": [\n'
        '        {\n          "counter": "c",\n          "window": "minute",\n          "max": 10,\n'
        '          "per": "grant"\n        }\n      ]\n    }\n  }\n}\n',
        "/tools/t/limits/0/per",
        11,
    ),
    "bad-window-word": (
        '{\n  "version": "1",\n  "default": "deny",\n  "tools": {\n    "t": {\n      "limits": [\n'
        '        {\n          "counter": "c",\n          "window": "fortnight",\n          "max": 10\n'
        "        }\n      ]\n    }\n  }\n}\n",
        "/tools/t/limits/0/window",
        9,
    ),
    "bad-window-number": (
        '{\n  "version": "1",\n  "default": "deny",\n  "tools": {\n    "t": {\n      "limits": [\n'
        '        {\n          "counter": "c",\n          "window": -5,\n          "max": 10\n'
        "        }\n      ]\n    }\n  }\n}\n",
        "/tools/t/limits/0/window",
        9,
    ),
    "bad-scope": (
        '{\n  "version": "1",\n  "default": "deny",\n  "all_tools": {\n    "limits": [\n'
        '      {\n        "counter": "c",\n        "window": 60,\n        "max": 10,\n        "scope": "planet"\n'
        "      }\n    ]\n  }\n}\n",
        "/all_tools/limits/0/scope",
        10,
    ),
    "bad-default": ('{\n  "version": "1",\n  "default": "maybe"\n}\n', "/default", 3),
    "bad-version": ('{\n  "version": "7",\n  "default": "deny"\n}\n', "/version", 2),
    "bad-operator": (
        '{\n  "version": "1",\n  "default": "deny",\n  "tools": {\n    "t": {\n      "require": [\n'
        '        {\n          "path": "args.a",\n          "op": "roughly",\n          "value": 1\n'
        "        }\n      ]\n    }\n  }\n}\n",
        "/tools/t/require/0/op",
        9,
    ),
    "bad-action": (
        '{\n  "version": "1",\n  "default": "deny",\n  "tools": {\n    "t": {\n      "action": "perhaps"\n'
        "    }\n  }\n}\n",
        "/tools/t/action",
        6,
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_check_names_the_broken_field_with_pointer_and_position(e2e, case):
    doc, pointer, line = BROKEN[case]
    path = e2e.policy(doc, "broken.json")
    r = run([str(s.WARDEN), "check", str(path)])
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert pointer in out, f"expected the JSON Pointer {pointer} in:\n{out}"
    # line:column next to the pointer, on the same output line
    lines = [ln for ln in out.splitlines() if pointer in ln]
    assert any(re.search(rf"(^|\D){line}:\d+", ln) for ln in lines), f"expected line {line}:<col> with {pointer} in:\n{out}"


def test_check_reports_every_problem_and_every_bad_file(e2e):
    bad = e2e.policy(BROKEN["unknown-tool-field"][0], "bad-a.json")
    worse = e2e.policy(BROKEN["bad-window-word"][0].replace('"counter": "c"', '"counter": "c", "colour": 1'), "bad-b.json")
    good = s.EXAMPLES / "executor-refresh.json"
    r = run([str(s.WARDEN), "check", str(good), str(bad), str(worse)])
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "bad-a.json" in out and "bad-b.json" in out, out
    assert "/tools/t/limits/0/window" in out and "/tools/t/limits/0/colour" in out, out


def test_check_rejects_invalid_json_with_a_position(e2e):
    path = e2e.policy('{\n  "version": "1",\n  "default": "deny",,\n}\n', "syntax.json")
    r = run([str(s.WARDEN), "check", str(path)])
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert re.search(r"syntax\.json:3:\d+", out), out


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_run_refuses_to_start_on_a_broken_policy(e2e, transport):
    doc, _, _ = BROKEN["bad-window-word"]
    path = e2e.policy(doc, "broken.json")
    marker = e2e.tmp / "upstream-started"
    upstream = [s.PYTHON, "-c", f"open({str(marker)!r}, 'w').close()"]
    listen = f"127.0.0.1:{s.free_port()}" if transport == "http" else None
    argv = e2e.gateway_argv(path, upstream, listen=listen)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=20, env=e2e.env(), input="")
    assert r.returncode != 0, r.stdout + r.stderr
    assert "broken.json" in r.stderr, r.stderr
    assert r.stdout == "", f"nothing should be spoken on stdout: {r.stdout!r}"
    assert not marker.exists(), "the upstream was started although the policy is invalid"


def test_run_refuses_to_start_on_a_missing_policy(e2e):
    missing = e2e.tmp / "nope.json"
    r = subprocess.run(
        e2e.gateway_argv(missing, s.demo_upstream_cmd(e2e.log())),
        capture_output=True, text=True, timeout=20, env=e2e.env(), input="",
    )
    assert r.returncode != 0
    assert "nope.json" in r.stderr, r.stderr
