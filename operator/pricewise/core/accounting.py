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
from functools import lru_cache
from zoneinfo import ZoneInfo

from pricewise.core import bounds

BUCKET_FORMAT = "%Y-%m-%dT%H"
"""Costs are kept per UTC hour, so that any day, week or month can be summed later; an hour
that a budget's period starts or ends in, off the hour, is split there (see `accrue`)."""
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


def _hours(
    start: datetime, end: datetime, cuts: Sequence[datetime] = ()
) -> Iterable[tuple[str, float]]:
    """(bucket, hours of [start, end) inside it): UTC hours (`2026-11-30T18`), each split at
    the `cuts` within it (`2026-11-30T18:30` from 18:30 on)."""
    cursor = start.astimezone(UTC)
    end = end.astimezone(UTC)
    splits = sorted({c.astimezone(UTC) for c in cuts})
    while cursor < end:
        hour = cursor.replace(minute=0, second=0, microsecond=0)
        inside = [c for c in splits if hour < c < hour + HOUR]
        since = max((c for c in inside if c <= cursor), default=hour)
        stop = min([c for c in inside if c > cursor] + [hour + HOUR, end])
        yield bucket_at(since), (stop - cursor).total_seconds() / 3600
        cursor = stop


def bucket_at(since: datetime) -> str:
    """The bucket that starts at `since`: its hour, with its minute where it is off the hour."""
    key = since.strftime(BUCKET_FORMAT)
    return f"{key}:{since:%M}" if since.minute or since.second else key


@lru_cache(maxsize=65536)
def _bucket_start(key: str) -> datetime | None:
    """When a bucket starts; None for a key that is none (hand-edited): one such key must not
    stop every Budget's figures, nor placement. Cached: every job has the same few keys."""
    try:
        start = datetime.strptime(key, BUCKET_FORMAT + (":%M" if ":" in key else "")).replace(
            tzinfo=UTC
        )
    except ValueError:
        return None
    # Its end is an hour on: an hour of year 9999 had none, and stopped every Budget's write.
    return start if bounds.in_time_range(start) else None


def _bucket_spans(buckets: Iterable[str]) -> dict[str, tuple[datetime, datetime]]:
    """When each bucket starts and ends: an hour's buckets end where the next of that hour
    starts, the last at the end of the hour."""
    starts = {key: start for key in buckets if (start := _bucket_start(key)) is not None}
    ordered = sorted(starts.items(), key=lambda item: item[1])
    spans = {}
    for i, (key, begin) in enumerate(ordered):
        hour_end = begin.replace(minute=0) + HOUR
        after = ordered[i + 1][1] if i + 1 < len(ordered) else hour_end
        spans[key] = (begin, min(after, hour_end))
    return spans


def accrue(
    previous: Accrual,
    spans: Sequence[Span],
    rate_per_hour: float,
    watts_per_worker: float,
    now: datetime,
    cuts: Sequence[datetime] = (),
) -> Accrual:
    """Add what the workers cost between the last accrual and `now` at the current rate.

    `cuts` are the bounds of the budget periods the cost counts in: an hour one falls inside,
    off the hour (a day of Asia/Kolkata starts at 18:30 UTC), is split there, so that each
    period sums what was spent in it, where a share of the hour taken as evenly spent had
    missed a third of a half-hour-zone budget's day."""
    buckets = dict(previous.buckets)
    cost, energy = previous.cost, previous.energy_kwh
    for span in spans:
        if span.start is None:
            continue
        begin = max(span.start, previous.until) if previous.until else span.start
        finish = min(span.end or now, now)
        for bucket, hours in _hours(begin, finish, cuts):
            amount = rate_per_hour * hours
            buckets[bucket] = buckets.get(bucket, 0.0) + amount
            cost += amount
            energy += watts_per_worker * hours / 1000
    for cut in (c.astimezone(UTC) for c in cuts):
        # An hour's whole-hour bucket ends at its first cut only where a bucket starts there:
        # without one, a job that ran only before the cut was spread over the whole hour.
        if cut.minute and cut.strftime(BUCKET_FORMAT) in buckets:
            buckets.setdefault(bucket_at(cut), 0.0)
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
    # Re-anchor through the zone so that a DST change inside the period is honoured; at a
    # midnight the clocks pass twice (Atlantic/Azores, America/Havana), the first: read in the
    # second pass, `now`'s fold started the period an hour late, and its first hour's spend
    # dropped out of it for that hour.
    zone = ZoneInfo(time_zone)
    start = start.replace(tzinfo=zone, fold=0)
    end = end.replace(tzinfo=zone, fold=0)
    return start.astimezone(UTC), end.astimezone(UTC)


def spent_between(
    buckets: Mapping[str, float], start: datetime | None, end: datetime | None
) -> float:
    """The cost in the buckets inside [start, end). A bucket the period's bound cuts (one
    accrued before the period's bounds were cuts: `accrue`) counts by the share of it inside,
    as if its cost accrued evenly over it."""
    total = 0.0
    for bucket, (moment, until) in _bucket_spans(buckets).items():
        begin = moment if start is None else max(moment, start)
        finish = until if end is None else min(until, end)
        if finish > begin:
            # In seconds: a timedelta times an amount overflows past 2.4e10 for an hour.
            share = (finish - begin).total_seconds() / (until - moment).total_seconds()
            total += buckets[bucket] * share
    return round(total, 6)


def ending_after(buckets: Mapping[str, float], start: datetime | None) -> dict[str, float]:
    """The buckets that end after `start` (all of them where there is none): what a period that
    began then can still count. A Budget's retained costs of periods past were written back at
    every write, a key for each hour a deleted job ran, without end."""
    spans = _bucket_spans(buckets)
    return {
        k: v for k, v in buckets.items() if k in spans and (start is None or spans[k][1] > start)
    }


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
    period_end: datetime | None = None,
) -> BudgetFigures:
    """Remaining, utilisation, crossed thresholds and when the limit runs out at this burn:
    never, where that is past `period_end` (the spend starts anew then)."""
    used = spent + committed
    utilisation = used / limit if limit > 0 else (1.0 if used > 0 else 0.0)
    # Compared in seconds before it is a time: a limit of 1e9 at 5 USD an hour runs out past
    # the year 9999, which no datetime holds (every Budget's status write stopped at it).
    end = bounds.LATEST_TIME if period_end is None else min(period_end, bounds.LATEST_TIME)
    if spent >= limit:
        forecast: datetime | None = now
    elif burn_per_hour > 0 and (limit - spent) / burn_per_hour * 3600 < (end - now).total_seconds():
        forecast = now + timedelta(hours=(limit - spent) / burn_per_hour)
    else:
        forecast = None
    if forecast is not None and forecast >= end:
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
