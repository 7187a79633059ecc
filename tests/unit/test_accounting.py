"""Accrual and budget periods, with exact figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pricewise.core.accounting import (
    Accrual,
    Span,
    accrue,
    budget_figures,
    period_bounds,
    spent_between,
)

T0 = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)


def test_price_change_applies_from_the_moment_it_is_seen() -> None:
    workers = [Span(T0, None), Span(T0, None)]
    # Two workers at 10/h each for an hour; then each costs 16/h, for one more hour.
    at_change = accrue(Accrual(), workers, 10.0, 0.0, T0 + timedelta(hours=1))
    later = accrue(at_change, workers, 16.0, 0.0, T0 + timedelta(hours=2))
    assert at_change.cost == 20.0
    assert later.cost == 20.0 + 32.0
    # 22:30-23:00 at the old price; 23:00-23:30 old, 23:30-00:00 new; 00:00-00:30 new.
    assert later.buckets == {"2026-11-30T22": 10.0, "2026-11-30T23": 26.0, "2026-12-01T00": 16.0}


def test_restart_neither_loses_nor_double_counts() -> None:
    workers = [Span(T0, T0 + timedelta(hours=2))]
    persisted = accrue(Accrual(), workers, 3.0, 0.0, T0 + timedelta(minutes=40))
    # The operator was down from minute 40 to minute 150; the worker ended at minute 120.
    after = accrue(persisted, workers, 3.0, 0.0, T0 + timedelta(minutes=150))
    again = accrue(after, workers, 3.0, 0.0, T0 + timedelta(minutes=160))
    assert after.cost == pytest.approx(6.0)
    assert again.cost == after.cost


def test_energy() -> None:
    accrual = accrue(
        Accrual(), [Span(T0, T0 + timedelta(hours=3))], 1.0, 700.0 * 8, T0 + timedelta(hours=5)
    )
    assert accrual.energy_kwh == pytest.approx(16.8)


def test_period_boundaries() -> None:
    assert period_bounds("day", "UTC", T0) == (
        datetime(2026, 11, 30, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert period_bounds("week", "UTC", T0)[0] == datetime(2026, 11, 30, tzinfo=UTC)  # a Monday
    assert period_bounds("month", "UTC", T0) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    # In New York it is still the afternoon of the 30th; the day starts at 05:00 UTC.
    assert period_bounds("day", "America/New_York", T0)[0] == datetime(2026, 11, 30, 5, tzinfo=UTC)
    assert period_bounds("total", "UTC", T0) == (None, None)


@pytest.mark.parametrize("period", ["day", "month"])
def test_a_period_that_starts_at_a_midnight_passed_twice_starts_at_the_first(period: str) -> None:
    # Havana, 2026-11-01: 01:00 CDT goes back to 00:00 CST. In the second pass of that hour
    # the period started at 05:00Z, an hour late, and its first hour's spend dropped out.
    first = datetime(2026, 11, 1, 4, tzinfo=UTC)
    starts = {period_bounds(period, "America/Havana", first + timedelta(minutes=m))[0]
              for m in (30, 90, 150)}  # fmt: skip
    assert starts == {first}
    # And a day ends where the next starts.
    day = period_bounds("day", "Atlantic/Azores", datetime(2026, 10, 24, 12, tzinfo=UTC))
    assert day[1] == period_bounds("day", "Atlantic/Azores", datetime(2026, 10, 25, 1, 30,
                                                                      tzinfo=UTC))[0]  # fmt: skip


def test_spend_rolls_over_at_the_period_boundary() -> None:
    workers = [Span(T0, None), Span(T0, None)]
    accrual = accrue(Accrual(), workers, 10.0, 0.0, T0 + timedelta(hours=2))
    november = period_bounds("month", "UTC", T0)
    december = period_bounds("month", "UTC", T0 + timedelta(hours=2))
    assert spent_between(accrual.buckets, *november) == 30.0
    assert spent_between(accrual.buckets, *december) == 10.0
    assert spent_between(accrual.buckets, None, None) == 40.0


def test_a_period_that_starts_on_the_half_hour_counts_half_of_that_hour() -> None:
    # Kolkata is UTC+5:30: its 1 December starts at 18:30 UTC on 30 November.
    buckets = {"2026-11-30T17": 10.0, "2026-11-30T18": 10.0, "2026-11-30T19": 10.0}
    day = period_bounds("day", "Asia/Kolkata", datetime(2026, 11, 30, 20, tzinfo=UTC))
    assert day[0] == datetime(2026, 11, 30, 18, 30, tzinfo=UTC)
    assert spent_between(buckets, *day) == 15.0
    before = period_bounds("day", "Asia/Kolkata", datetime(2026, 11, 30, 12, tzinfo=UTC))
    assert spent_between(buckets, *before) == 15.0


def before_day(day: tuple[datetime | None, datetime | None]) -> tuple[datetime, datetime]:
    """The period of a day before `day`."""
    assert day[0] is not None
    return day[0] - timedelta(days=1), day[0]


def test_an_hour_a_period_starts_in_off_the_hour_is_split_there() -> None:
    # Kolkata's 1 December starts at 18:30 UTC; a job ran from 18:40. Taken as evenly spent
    # over its hour, half of its cost fell in the day before, where it never ran.
    day = period_bounds("day", "Asia/Kolkata", datetime(2026, 11, 30, 20, tzinfo=UTC))
    started = datetime(2026, 11, 30, 18, 40, tzinfo=UTC)
    late = accrue(Accrual(), [Span(started, None)], 6.0, 0.0, started + timedelta(hours=1), day)
    assert late.buckets == {"2026-11-30T18:30": 2.0, "2026-11-30T19": 4.0}
    assert spent_between(late.buckets, *day) == 6.0
    # Over the bound, each side of it counts in its own day, whatever came before.
    t17 = datetime(2026, 11, 30, 17, 50, tzinfo=UTC)
    across = accrue(Accrual(), [Span(t17, None)], 6.0, 0.0, t17 + timedelta(hours=1), day)
    assert across.buckets == {"2026-11-30T17": 1.0, "2026-11-30T18": 3.0, "2026-11-30T18:30": 2.0}
    assert spent_between(across.buckets, *day) == 2.0
    before = period_bounds("day", "Asia/Kolkata", datetime(2026, 11, 30, 12, tzinfo=UTC))
    assert spent_between(across.buckets, *before) == 4.0
    # A job that ran only before the bound, accrued after it: none of it is the new day's.
    early = Span(datetime(2026, 11, 30, 18, tzinfo=UTC), datetime(2026, 11, 30, 18, 20, tzinfo=UTC))
    ended = accrue(Accrual(), [early], 6.0, 0.0, datetime(2026, 11, 30, 18, 40, tzinfo=UTC), day)
    assert spent_between(ended.buckets, *day) == 0.0
    assert spent_between(ended.buckets, *before_day(day)) == 2.0
    # A key that is none (hand-edited) is left out, not a stop to every Budget's figures.
    assert spent_between({**ended.buckets, "2026-11-30T18:30:15": 9.0}, *day) == 0.0
    # Accrued again later in the same hour, the split holds.
    again = accrue(across, [Span(t17, None)], 6.0, 0.0, t17 + timedelta(hours=1, minutes=5), day)
    assert again.buckets["2026-11-30T18:30"] == 2.5 and spent_between(again.buckets, *day) == 2.5


def test_budget_figures_and_forecast() -> None:
    figures = budget_figures(200.0, [50, 80, 100], 120.0, 40.0, 20.0, T0)
    assert (figures.remaining, figures.utilisation, figures.crossed) == (40.0, 0.8, (50, 80))
    assert figures.forecast_exhaustion == T0 + timedelta(hours=4)
    assert budget_figures(100.0, [], 100.0, 0.0, 0.0, T0).forecast_exhaustion == T0
    assert budget_figures(100.0, [], 10.0, 0.0, 0.0, T0).forecast_exhaustion is None
    # Run out after its period ends, it does not: the spend starts anew then.
    day_end = T0 + timedelta(hours=3)
    assert budget_figures(200.0, [], 120.0, 40.0, 20.0, T0, day_end).forecast_exhaustion is None


@pytest.mark.parametrize("period_end", [None, T0 + timedelta(days=30)])
def test_a_limit_that_runs_out_past_any_time_has_no_forecast(period_end: datetime | None) -> None:
    # 1e9 USD (the largest limit) at 5 USD an hour runs out in the year 24,800: the forecast
    # raised OverflowError, and every Budget's status write after it stopped.
    figures = budget_figures(1e9, [], 0.0, 0.0, 5.0, T0, period_end)
    assert figures.forecast_exhaustion is None and figures.remaining == 1e9


PARIS = ZoneInfo("Europe/Paris")


def test_a_week_starts_on_monday_midnight_in_the_budget_time_zone() -> None:
    thursday = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert period_bounds("week", "Europe/Paris", thursday) == (
        datetime(2026, 11, 22, 23, 0, tzinfo=UTC),  # Monday 23 Nov, 00:00 in Paris (UTC+1)
        datetime(2026, 11, 29, 23, 0, tzinfo=UTC),
    )


def test_a_month_across_a_daylight_saving_change() -> None:
    # Paris moves from UTC+1 to UTC+2 on 29 March 2026: the month is an hour shorter.
    assert period_bounds("month", "Europe/Paris", datetime(2026, 3, 15, tzinfo=UTC)) == (
        datetime(2026, 2, 28, 23, 0, tzinfo=UTC),
        datetime(2026, 3, 31, 22, 0, tzinfo=UTC),
    )
    start, end = period_bounds("day", "Europe/Paris", datetime(2026, 3, 29, 12, tzinfo=UTC))
    assert end - start == timedelta(hours=23)


def test_buckets_are_utc_hours_whatever_zone_the_times_come_in() -> None:
    # 23:59:30 to 00:00:30 in Paris is 22:59:30 to 23:00:30 UTC; 3,600 an hour is 1 a second.
    start = datetime(2026, 11, 30, 23, 59, 30, tzinfo=PARIS)
    accrual = accrue(Accrual(), [Span(start, start + timedelta(minutes=1))], 3600.0, 0.0,
                     start + timedelta(minutes=5))  # fmt: skip
    assert accrual.buckets == {"2026-11-30T22": 30.0, "2026-11-30T23": 30.0}
    assert accrual.until == start + timedelta(minutes=5)


def test_money_is_kept_to_the_micro_unit() -> None:
    one_second = accrue(
        Accrual(), [Span(T0, T0 + timedelta(seconds=1))], 1.0, 0.0, T0 + timedelta(1)
    )
    assert one_second.cost == 0.000278  # 1/3600, to six decimals
    assert one_second.buckets == {"2026-11-30T22": 0.000278}
    assert spent_between({"2026-11-30T22": 0.1234567, "2026-11-30T23": 0.0000001}, None, None) == (
        0.123457
    )
    figures = budget_figures(3.0, [], 1.23456789, 0.11111111, 0.0, T0)
    assert (figures.spent, figures.committed, figures.remaining, figures.utilisation) == (
        1.234568,
        0.111111,
        1.654321,
        0.44856,  # 1.345679 / 3 = 0.4485597
    )


def test_budget_figures_at_the_edges() -> None:
    assert budget_figures(0.0, [], 0.0, 0.0, 0.0, T0).utilisation == 0.0
    assert budget_figures(0.0, [], 0.0, 1.0, 0.0, T0).utilisation == 1.0
    assert budget_figures(0.5, [], 0.25, 0.0, 0.0, T0).utilisation == 0.5
    slow = budget_figures(10.0, [], 9.0, 0.0, 0.5, T0)
    assert slow.forecast_exhaustion == T0 + timedelta(hours=2)
    assert budget_figures(100.0, [50, 50.4], 50.0, 0.0, 0.0, T0).crossed == (50,)


def test_an_amount_past_what_a_timedelta_holds_is_still_counted() -> None:
    # 2.5e10 for an hour overflowed `amount * timedelta`, and stopped every Budget's status.
    hour = datetime(2026, 12, 5, 5, tzinfo=UTC)
    buckets = {"2026-12-05T05": 1e12}
    assert spent_between(buckets, hour + timedelta(minutes=30), None) == 5e11
