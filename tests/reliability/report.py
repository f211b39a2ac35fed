"""Session-wide counters for the reliability tests, printed at the end of the run.

Any test or helper under ``tests/reliability`` may record what it did::

    from tests.reliability import report

    report.count("checkpoint: throttled (429)")                  # injected and survived
    report.count("checkpoint: throttled (429)", survived=False)  # injected, not survived
    report.count("kill -9 during step", 3)

``tests/reliability/conftest.py`` prints every counter in a table from
``pytest_terminal_summary``. Counters are process-wide and thread-safe; a
kind shows how many faults were injected and how many of them the system
survived (recovered from with a correct final result).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["Counter", "count", "reset", "snapshot", "table"]


@dataclass
class Counter:
    """How many faults of one kind were injected and how many were survived."""

    injected: int = 0
    survived: int = 0


_LOCK = threading.Lock()
_COUNTERS: dict[str, Counter] = {}


def count(kind: str, n: int = 1, *, survived: bool = True) -> None:
    """Record ``n`` injected faults of ``kind``; ``survived`` says whether they were survived."""
    if n < 0:
        raise ValueError(f"report.count({kind!r}): n must be >= 0, got {n}")
    with _LOCK:
        counter = _COUNTERS.setdefault(kind, Counter())
        counter.injected += n
        if survived:
            counter.survived += n


def snapshot() -> dict[str, Counter]:
    """A copy of all counters, by kind."""
    with _LOCK:
        return {kind: Counter(c.injected, c.survived) for kind, c in _COUNTERS.items()}


def reset() -> None:
    """Forget all counters (for tests of this module)."""
    with _LOCK:
        _COUNTERS.clear()


def table() -> list[str]:
    """The counters as aligned text lines (empty when nothing was counted)."""
    counters = snapshot()
    if not counters:
        return []
    width = max(len("fault kind"), *(len(kind) for kind in counters))
    lines = [f"{'fault kind':<{width}}  {'injected':>8}  {'survived':>8}"]
    lines.append("-" * len(lines[0]))
    for kind in sorted(counters):
        c = counters[kind]
        lines.append(f"{kind:<{width}}  {c.injected:>8}  {c.survived:>8}")
    total_injected = sum(c.injected for c in counters.values())
    total_survived = sum(c.survived for c in counters.values())
    lines.append("-" * len(lines[0]))
    lines.append(f"{'total':<{width}}  {total_injected:>8}  {total_survived:>8}")
    return lines
