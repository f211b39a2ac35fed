"""Shared setup for the reliability tests: the end-of-session fault report.

Counters are registered through :mod:`tests.reliability.report`; this hook
only prints them, so it stays generic for every test module in this folder.
"""

from __future__ import annotations

import pytest

from tests.reliability import report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the injected/survived fault counters, if any test recorded one."""
    lines = report.table()
    if not lines:
        return
    terminalreporter.section("reliability: injected faults")
    for line in lines:
        terminalreporter.write_line(line)
