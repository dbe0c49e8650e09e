"""Shared fixtures (the bundled clinical content) and the summary line of the optional conformance suite."""

from __future__ import annotations

import pytest
from hypothesis import settings

from sigmd import content
from sigmd.core.knowledge import Knowledge

settings.register_profile("sigmd", derandomize=True, deadline=None)
settings.load_profile("sigmd")
"""Property and fuzz tests draw the same examples on every run, so a result in CI is reproducible on any machine
and no timing deadline trips on a shared one; random exploration at scale is scripts/fuzz_readers.py's job."""


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return content.load()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say whether the optional third-party conformance suite ran, and against which folder."""
    from tests.conformance.conftest import FIXTURES

    ran = sum(
        1
        for key in ("passed", "failed", "error")
        for report in terminalreporter.stats.get(key, [])
        if getattr(report, "nodeid", "").startswith("tests/conformance/") and report.when == "call"
    )
    if FIXTURES is None:
        terminalreporter.write_line(
            "conformance suite: not run (no third-party fixtures found; set SIGMD_CONFORMANCE_FIXTURES to run it)"
        )
    else:
        terminalreporter.write_line(f"conformance suite: ran {ran} tests against {FIXTURES}")
