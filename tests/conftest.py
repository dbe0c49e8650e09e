"""Shared fixtures (the bundled clinical content) and the summary line of the optional conformance suite."""

from __future__ import annotations

import pytest

from sigmd import content
from sigmd.core.knowledge import Knowledge


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
