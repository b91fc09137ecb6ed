"""The official MCP conformance suite's server scenarios, against Warden's conformance fixture
directly and through `warden run` (HTTP and stdio upstreams).

Run with `.venv/bin/python -m pytest tests/conformance -q` after `cargo build` and
scripts/setup-peers.sh. One suite run per configuration, shared by the tests below (the three
run at once, about 10 s in all; every wait is bounded in conformance_runner.py).
"""

from __future__ import annotations

import pytest

import conformance_runner as runner


@pytest.fixture(scope="module")
def comparison() -> runner.Comparison:
    try:
        return runner.compare([])
    except runner.RunError as e:
        pytest.fail(f"cannot run the conformance suite: {e}", pytrace=False)


@pytest.fixture(scope="module")
def verdict(comparison) -> runner.Verdict:
    return runner.judge(comparison, runner.load_deviations(), strict=False)


def test_the_suite_ran_every_server_scenario(comparison):
    # 0.1.16 has 32 server scenarios, the pre-release more; a runner that ran none must not pass.
    assert len(comparison.scenarios) >= 60, comparison.scenarios
    for cfg, _ in runner.CONFIGS:
        missing = [s for s, o in comparison.results[cfg].items() if o.status == "missing"]
        assert not missing, f"{cfg}: no result for {missing}"


def test_the_fixture_passes_every_scenario_direct(comparison, verdict):
    failing = {s: comparison.results["direct"][s].reason() for s in verdict.direct_failures}
    assert not failing, f"the fixture fails scenarios on its own: {failing}"


def test_every_scenario_passing_direct_passes_through_warden(comparison, verdict):
    new = {f"{s} ({cfg})": comparison.results[cfg][s].reason() for s, cfg in verdict.new_deviations}
    assert not new, (
        "scenarios that pass direct fail through Warden (a gateway deviation: fix it, or diagnose it in "
        f"tests/conformance/expected-deviations.json): {new}"
    )


def test_documented_deviations_still_happen(verdict):
    stale = [f"{s} ({cfg})" for s, cfg in verdict.stale_deviations]
    assert not stale, f"these now pass through Warden: remove them from expected-deviations.json: {stale}"


def test_the_report_has_one_row_per_scenario(comparison, verdict):
    text = runner.report(comparison, verdict, runner.load_deviations(), "tests/conformance/run.sh")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == len(comparison.scenarios)
    assert all(version in text for version in comparison.versions.values())
