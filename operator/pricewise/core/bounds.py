"""The largest (and smallest) figures pricewise accepts, chosen together so that none overflows.

Pure constants (and the check of a time against two of them), shared by the API (so they
show in the CRD schema and `kubectl explain`) and the core (which checks the figures they
multiply into). The figures multiply:

    duration = work / (workers * throughput * efficiency ** log2(workers))
    cost     = workers * (devices * perDeviceHour + cpus * perCpuHour + ...) * duration

With every input at its bound, duration reaches MAX_WORK / MIN_THROUGHPUT = 1e21 s and a cost
about 1e37 micro-units: large, but finite in a float and exact in a Python int. Such a way of
running is not placed: a candidate that runs longer than MAX_RUN_S or costs more than MAX_MONEY
is excluded with a note, so that what reaches the solver is bounded by MAX_MONEY per job. The
solver then scales money into CP-SAT's 64-bit range (see `model.money_unit`), so that any number
of such jobs stays in range.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

MAX_WORK: Final = 1e15
"""Work units of one job: 1e15 samples or tokens is far beyond any training run today."""
MIN_WORK: Final = 1e-6
"""Work units of one job. Options given by duration run at work / duration units a second:
any smaller work (the API once took any positive float, 5e-324 included) made that rate round
to 0 over a long duration, and the cost model divide by it."""
MIN_THROUGHPUT: Final = 1e-6
"""Work units per second of one worker: one unit every 11.6 days at least."""
MAX_THROUGHPUT: Final = 1e12
"""Work units per second of one worker."""
MAX_MONEY: Final = 1e9
"""Value, maxCost, budget limits, and the estimated cost of one way of running a job."""
MAX_ACCRUED: Final = 1e12
"""The most an amount the operator writes in a status (what a job accrued, an hour's cost,
what a Budget retains) can read: a thousand times the dearest run placed. Past it a figure is
not a cost but an edit, which the CRD refuses and a read leaves out."""
MAX_PRICE_PER_HOUR: Final = 1e5
"""Price of one device, CPU, GiB or node for one hour."""
MAX_NODE_HOURS: Final = 1e9
"""Node-hours of a spot pool watched, and reclaims seen on it, as a PriceTable's status keeps
them: a thousand nodes held for a hundred thousand years."""
MAX_RUN_S: Final = 10 * 365 * 86400.0
"""Longest run pricewise plans for (about 10 years); also the longest duration accepted."""
EARLIEST_TIME: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME: Final = datetime(9000, 1, 1, tzinfo=UTC)
"""Times a status may hold, read back: the operator writes none outside them, and a time and
the longest run added or taken away stay within what a datetime holds (a hand-edited
estimatedFinish of 9999-12-31 made every cycle fail as it added a run to it)."""


MIN_DURATION_S: Final = 1.0
"""Shortest duration accepted where a duration divides (an option's run time, maxDuration)."""
MAX_WORKERS: Final = 1024
"""Workers of one job (`spec.workers`)."""
MAX_CPU_CORES: Final = 100_000
"""CPU cores one worker may request."""
MAX_MEMORY_GIB: Final = 1_000_000
"""GiB of memory one worker may request."""
MAX_POWER_WATTS: Final = 100_000.0
"""Power drawn by one device."""
MAX_CARBON_INTENSITY: Final = 10_000.0
"""Grams of CO2 per kWh (the dirtiest grids are about 1,000)."""
MAX_THRESHOLD_PERCENT: Final = 1000.0
"""Budget alert thresholds, in percent of the limit."""


def in_time_range(moment: datetime) -> bool:
    """Whether a time is one pricewise takes (from `EARLIEST_TIME`, before `LATEST_TIME`)."""
    return EARLIEST_TIME <= moment < LATEST_TIME


def time_out_of_range(moment: datetime) -> str | None:
    """Why a time given by a person is none pricewise takes (`is out of range: give a time
    from 1970 to 9000`), or None: sums with it overflow the years a datetime holds."""
    if in_time_range(moment):
        return None
    return f"is out of range: give a time from {EARLIEST_TIME.year} to {LATEST_TIME.year}"
