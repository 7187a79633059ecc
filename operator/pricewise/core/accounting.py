"""What jobs really cost: accrual from the workers' real run times, and budget periods.

Pure: the operator passes pod start and end times, the current price, and what was accrued
before; it persists the result in the TrainingJob status. Accrual always restarts from the
persisted `accruedUntil` and the pods' real times, so a restarted operator neither loses nor
double-counts money, and a price change applies from the moment it is seen.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

BUCKET_FORMAT = "%Y-%m-%dT%H"
"""Costs are kept per UTC hour, so that any day, week or month can be summed later."""
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Span:
    """When one worker ran: from its start to its end (None while it still runs)."""

    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class Accrual:
    """A job's accrued cost and energy up to `until`, with the cost per UTC hour."""

    cost: float = 0.0
    until: datetime | None = None
    buckets: Mapping[str, float] = field(default_factory=dict)
    energy_kwh: float = 0.0


def _hours(start: datetime, end: datetime) -> Iterable[tuple[str, float]]:
    """(UTC hour bucket, hours of [start, end) inside it)."""
    cursor = start.astimezone(UTC)
    end = end.astimezone(UTC)
    while cursor < end:
        boundary = cursor.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        stop = min(boundary, end)
        yield cursor.strftime(BUCKET_FORMAT), (stop - cursor).total_seconds() / 3600
        cursor = stop


def accrue(
    previous: Accrual,
    spans: Sequence[Span],
    rate_per_hour: float,
    watts_per_worker: float,
    now: datetime,
) -> Accrual:
    """Add what the workers cost between the last accrual and `now` at the current rate."""
    buckets = dict(previous.buckets)
    cost, energy = previous.cost, previous.energy_kwh
    for span in spans:
        if span.start is None:
            continue
        begin = max(span.start, previous.until) if previous.until else span.start
        finish = min(span.end or now, now)
        for bucket, hours in _hours(begin, finish):
            amount = rate_per_hour * hours
            buckets[bucket] = buckets.get(bucket, 0.0) + amount
            cost += amount
            energy += watts_per_worker * hours / 1000
    return Accrual(round(cost, 6), now, {k: round(v, 6) for k, v in buckets.items()}, energy)


def period_bounds(
    period: str, time_zone: str, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """Start and end of the budget period that contains `now` (None, None for `total`)."""
    if period == "total":
        return None, None
    local = now.astimezone(ZoneInfo(time_zone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        start, end = midnight, midnight + timedelta(days=1)
    elif period == "week":
        start = midnight - timedelta(days=local.weekday())
        end = start + timedelta(days=7)
    else:
        start = midnight.replace(day=1)
        days = calendar.monthrange(start.year, start.month)[1]
        end = start + timedelta(days=days)
    # Re-anchor through the zone so that a DST change inside the period is honoured.
    zone = ZoneInfo(time_zone)
    start = start.replace(tzinfo=None).replace(tzinfo=zone)
    end = end.replace(tzinfo=None).replace(tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def spent_between(
    buckets: Mapping[str, float], start: datetime | None, end: datetime | None
) -> float:
    """The cost in the hour buckets inside [start, end): a bucket the period's bound cuts (a
    zone half an hour off UTC, as Asia/Kolkata) counts by the share of its hour inside, as if
    its cost accrued evenly over the hour."""
    total = 0.0
    for bucket, amount in buckets.items():
        moment = datetime.strptime(bucket, BUCKET_FORMAT).replace(tzinfo=UTC)
        begin = moment if start is None else max(moment, start)
        finish = moment + HOUR if end is None else min(moment + HOUR, end)
        if finish > begin:
            total += amount * (finish - begin) / HOUR
    return round(total, 6)


@dataclass(frozen=True)
class BudgetFigures:
    """A budget's state in its current period."""

    spent: float
    committed: float
    remaining: float
    utilisation: float
    forecast_exhaustion: datetime | None
    crossed: tuple[float, ...]
    """Thresholds (percent) that spent + committed has reached."""


def budget_figures(
    limit: float,
    thresholds: Sequence[float],
    spent: float,
    committed: float,
    burn_per_hour: float,
    now: datetime,
) -> BudgetFigures:
    """Remaining, utilisation, crossed thresholds and when the limit runs out at this burn."""
    used = spent + committed
    utilisation = used / limit if limit > 0 else (1.0 if used > 0 else 0.0)
    if spent >= limit:
        forecast: datetime | None = now
    elif burn_per_hour > 0:
        forecast = now + timedelta(hours=(limit - spent) / burn_per_hour)
    else:
        forecast = None
    crossed = tuple(t for t in sorted(thresholds) if utilisation * 100 >= t)
    return BudgetFigures(
        spent=round(spent, 6),
        committed=round(committed, 6),
        remaining=round(limit - used, 6),
        utilisation=round(utilisation, 6),
        forecast_exhaustion=forecast,
        crossed=crossed,
    )
