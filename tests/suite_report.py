"""The reliability and security suite's summary, printed at the end of every test run.

Tests of the suite carry one of the markers below. Each such test counts as one case tried unless
it reports more through the `suite` fixture (`suite.tried(n)` for, say, the requests a fuzzer
generated); a `fault` test that passes counts as a fault survived (`suite.survived(n)` when one
test injects several faults). Failures are counted per test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

KINDS = {
    "fuzz": "fuzzing (schemathesis, from the OpenAPI document)",
    "badinput": "bad-input catalogue",
    "security": "security (tokens, privilege escalation, headers, limits, logs)",
    "fault": "fault injection",
}


@dataclass
class _Tally:
    tests: int = 0
    tried: int = 0
    survived: int = 0
    failed: list[str] = field(default_factory=list)


class SuiteCounter:
    """What one test of the suite reports beyond pass/fail."""

    def __init__(self) -> None:
        self.cases = 0
        self.faults = 0

    def tried(self, n: int = 1) -> None:
        """Count n cases tried by this test (generated requests, catalogue rows…)."""
        self.cases += n

    def survived(self, n: int = 1) -> None:
        """Count n injected faults this test survived (counted only if the test passes)."""
        self.faults += n


_KEY = pytest.StashKey[dict]()
_COUNTER = pytest.StashKey[SuiteCounter]()


def _kind(item) -> str | None:
    for kind in KINDS:
        if item.get_closest_marker(kind) is not None:
            return kind
    return None


@pytest.fixture
def suite(request) -> SuiteCounter:
    """Report cases tried / faults survived to the suite summary."""
    counter = SuiteCounter()
    request.node.stash[_COUNTER] = counter
    return counter


def pytest_configure(config) -> None:
    for kind, text in KINDS.items():
        config.addinivalue_line("markers", f"{kind}: reliability and security suite — {text}")
    config.stash[_KEY] = {kind: _Tally() for kind in KINDS}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    kind = _kind(item)
    if kind is None:
        return
    tally = item.config.stash[_KEY][kind]
    if report.when == "call" or (report.when == "setup" and report.failed):
        counter = item.stash.get(_COUNTER, None)
        tally.tests += 1
        tally.tried += max(counter.cases if counter else 0, 1)
        if report.failed:
            tally.failed.append(item.nodeid)
        elif report.passed and kind == "fault":
            tally.survived += max(counter.faults if counter else 0, 1)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    tallies = config.stash.get(_KEY, None)
    if not tallies or not any(t.tests for t in tallies.values()):
        return
    tr = terminalreporter
    tr.section("reliability and security suite")
    total_failed = 0
    for kind, text in KINDS.items():
        t = tallies[kind]
        if not t.tests:
            continue
        line = f"{text}: {t.tests} tests, {t.tried:,} cases tried"
        if kind == "fault":
            line += f", {t.survived} faults survived"
        line += f", {len(t.failed)} failures"
        tr.write_line(line)
        total_failed += len(t.failed)
        for nodeid in t.failed:
            tr.write_line(f"    FAILED {nodeid}")
    tried = sum(t.tried for t in tallies.values())
    survived = tallies["fault"].survived
    tr.write_line(
        f"total: {tried:,} cases tried, {survived} faults survived, {total_failed} failures"
    )
