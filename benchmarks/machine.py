"""What a benchmark ran on: the machine's load and speed at its start, for its header line.

This machine's speed moves between sessions by up to twice while its load average stays near
1 (1,000 jobs over 20 pools, one tree, took 1.0 s one day and 2.2 s another), so each run
prints a speed gauge beside its figures: figures of different days compare through it. It does
not explain the spread within a day: there solve times moved by up to 50 % from run to run
while the gauge stayed within 10 % and no CPU time was stolen, so runs are still compared side
by side, alternating, in one session.
"""

from __future__ import annotations

import os
import time

GAUGE_STEPS = 3_000_000


def gauge() -> float:
    """Seconds for a fixed pure-Python loop (3 million additions), best of three: the
    interpreter's speed on this machine now, as the operator's Python sees it."""

    def once() -> float:
        started = time.perf_counter()
        total = 0
        for step in range(GAUGE_STEPS):
            total += step
        return time.perf_counter() - started

    return min(once() for _ in range(3))


def conditions() -> str:
    """The load average, CPUs and speed gauge, as one header phrase."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"load average (1, 5, 15 min) at start: {load}; {os.cpu_count()} CPUs; speed gauge "
        f"{gauge():.2f} s (`python benchmarks/machine.py`; lower is faster)"
    )


if __name__ == "__main__":
    print(conditions())
