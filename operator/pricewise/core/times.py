"""Times as the Kubernetes API writes them: RFC 3339 in UTC with a Z, read and written in one
place."""

from __future__ import annotations

from datetime import UTC, datetime

FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
"""Later than any time: where a missing time sorts last."""


def as_utc(moment: datetime) -> datetime:
    """A time without a zone taken as UTC, as Kubernetes writes times."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time from the API, or None."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, as Kubernetes writes times (naive times are taken as UTC)."""
    return as_utc(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_timestamp(moment: datetime) -> str:
    """RFC 3339 with microseconds, as the API's MicroTime fields (a Lease's) want."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def optional_timestamp(moment: datetime | None) -> str | None:
    """`timestamp`, or None for no time."""
    return timestamp(moment) if moment is not None else None


def dated(moment: datetime) -> str:
    """`Dec 01 14:20 UTC`: a time kept in a record read days later (a restart's history said
    `at 08:24`, of which day it did not say)."""
    return moment.astimezone(UTC).strftime("%b %d %H:%M UTC")


def clock(moment: datetime, now: datetime) -> str:
    """`14:20 UTC` for a time on `now`'s day, `Dec 05 01:00 UTC` on another: an absolute time
    a person reads, that does not count down (a time of tomorrow read as one of today)."""
    utc = moment.astimezone(UTC)
    if utc.date() == now.astimezone(UTC).date():
        return utc.strftime("%H:%M UTC")
    return dated(utc)
