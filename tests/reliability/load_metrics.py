"""Throughput and peak-memory measurement for the load tests.

Peak memory is the process's resident-set high-water mark (``VmHWM`` in
``/proc/self/status``).  Where the kernel allows it, the mark is reset to the
current RSS before the measured block (``/proc/self/clear_refs``, value 5), so
the growth is this block's own; otherwise the growth over the previous peak is
a lower bound and is reported as such.  ``tracemalloc`` is not used: it slows
the local 200-execution run about sevenfold.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["Measurement", "measure"]

_STATUS = "/proc/self/status"


def _status_kib(key: str) -> int | None:
    try:
        with open(_STATUS, encoding="ascii") as status:
            found = re.search(rf"^{key}:\s+(\d+) kB", status.read(), re.MULTILINE)
    except OSError:
        return None
    return int(found.group(1)) if found else None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


@dataclass
class Measurement:
    """What one measured block did; filled in when the block ends."""

    name: str
    executions: int = 0
    steps: int = 0
    seconds: float = 0.0
    rss_before_kib: int | None = None
    peak_kib: int | None = None
    #: False when the high-water mark could not be reset (growth is a lower bound).
    peak_reset: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def executions_per_second(self) -> float:
        return self.executions / self.seconds if self.seconds else 0.0

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0

    @property
    def peak_growth_mib(self) -> float | None:
        if self.peak_kib is None or self.rss_before_kib is None:
            return None
        return max(0, self.peak_kib - self.rss_before_kib) / 1024

    def summary(self) -> str:
        growth = self.peak_growth_mib
        if growth is None:
            memory = "peak memory n/a"
        else:
            bound = "" if self.peak_reset else " (lower bound)"
            memory = f"peak RSS {self.peak_kib / 1024:.1f} MiB, +{growth:.1f} MiB{bound}"  # type: ignore[operator]
        extra = "".join(f", {k} {v}" for k, v in self.extra.items())
        return (
            f"{self.name}: {self.executions} executions, {self.steps} steps in "
            f"{self.seconds:.2f} s = {self.executions_per_second:.1f} executions/s, "
            f"{self.steps_per_second:.0f} steps/s; {memory}{extra}"
        )


@contextmanager
def measure(name: str) -> Iterator[Measurement]:
    """Time the block and record the peak RSS it reached."""
    result = Measurement(name)
    result.peak_reset = _reset_peak()
    result.rss_before_kib = _status_kib("VmRSS")
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - start
        result.peak_kib = _status_kib("VmHWM")
