"""What a quote's jobs would do to the cluster's pending jobs: the plans that move.

A quote said where, when and for how much the new jobs would run, and nothing of the jobs they
would push aside: applied, one took the slot another job had been promised, and that job
started at once on a pool at 13.52 USD instead of 4.80. The plan with the new jobs is set
beside the plan of the cluster as it is (a job the files replace as the cluster has it), and
every pending job whose course differs (where, how wide, now or when) is listed with both.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pricewise.core.explain import Decision
from pricewise.core.lookahead import plan_moved
from pricewise.core.times import clock, optional_timestamp
from pricewise.core.units import format_money, from_micros
from pricewise.offline.columns import columns


@dataclass(frozen=True)
class Course:
    """Where and when a plan runs a job: a pool and width now (`start` None) or later, or
    neither, with why it waits."""

    pool: str | None
    workers: int | None
    start: datetime | None
    cost: int | None
    reason: str

    @classmethod
    def of(cls, decision: Decision) -> Course:
        """The course a decision sets."""
        later = decision.reservation
        run = decision.chosen or (later.candidate if later else None)
        if run is None:
            return cls(None, None, None, None, decision.reason)
        start = later.start if later and not decision.chosen else None
        return cls(run.pool.name, run.workers, start, run.cost, decision.reason)

    def moved(self, other: Course, now: datetime) -> bool:
        """Whether `other` runs the job elsewhere, at another width, or at another time (a
        planned start that moves as `plan_moved` says: a few minutes is no new promise)."""
        if (self.pool, self.workers) != (other.pool, other.workers):
            return True
        if self.pool is None:
            return self.reason != other.reason
        if self.start is None or other.start is None:
            return self.start != other.start
        return plan_moved(self.start, other.start, now)

    def text(self, now: datetime, currency: str) -> str:
        """`h100 x1 now, 13.52 USD`, `a100 x1 at ~21:30 UTC, 4.80 USD`, or `waits
        (QuotaExceeded)`."""
        if self.pool is None or self.cost is None:
            return f"waits ({self.reason})"
        when = "now" if self.start is None else f"at ~{clock(self.start, now)}"
        return (
            f"{self.pool} x{self.workers} {when}, {format_money(from_micros(self.cost), currency)}"
        )

    def as_dict(self, currency: str) -> dict[str, Any]:
        """The course as plain data (JSON and YAML)."""
        return {
            "pool": self.pool,
            "workers": self.workers,
            "plannedStart": optional_timestamp(self.start),
            "cost": None if self.cost is None else from_micros(self.cost),
            "currency": currency,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Move:
    """A pending job of the cluster whose course the quoted jobs change."""

    key: str
    without: Course
    with_them: Course


def moves(
    without: tuple[Decision, ...], with_them: tuple[Decision, ...], now: datetime,
    quoted: Collection[str],
) -> list[Move]:  # fmt: skip
    """The jobs not `quoted` whose course differs between the plan without the quoted jobs and
    the plan with them, by key."""
    before = {d.job.key: Course.of(d) for d in without}
    out = []
    for decision in with_them:
        key = decision.job.key
        if key in quoted or key not in before:
            continue
        after = Course.of(decision)
        if before[key].moved(after, now):
            out.append(Move(key, before[key], after))
    return sorted(out, key=lambda m: m.key)


def moves_table(found: list[Move], now: datetime, currency: str) -> str:
    """The moves as lines under a quote's table, or nothing where there are none."""
    if not found:
        return ""
    rows = [["JOB", "WITHOUT THE FILES", "WITH THE FILES"]]
    rows += [[m.key, m.without.text(now, currency), m.with_them.text(now, currency)] for m in found]
    head = f"Applying the files changes the plans of {len(found)} of the cluster's pending job(s):"
    return f"\n{head}\n{columns(rows)}"


def moves_list(found: list[Move], currency: str) -> list[dict[str, Any]]:
    """The moves as plain data (JSON and YAML)."""
    return [
        {
            "namespace": m.key.split("/", 1)[0],
            "name": m.key.split("/", 1)[1],
            "without": m.without.as_dict(currency),
            "with": m.with_them.as_dict(currency),
        }
        for m in found
    ]
