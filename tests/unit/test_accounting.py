"""Accrual and budget periods, with exact figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pricewise.accounting import Accrual, Span, accrue, budget_figures, period_bounds, spent_between

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


def test_spend_rolls_over_at_the_period_boundary() -> None:
    workers = [Span(T0, None), Span(T0, None)]
    accrual = accrue(Accrual(), workers, 10.0, 0.0, T0 + timedelta(hours=2))
    november = period_bounds("month", "UTC", T0)
    december = period_bounds("month", "UTC", T0 + timedelta(hours=2))
    assert spent_between(accrual.buckets, *november) == 30.0
    assert spent_between(accrual.buckets, *december) == 10.0
    assert spent_between(accrual.buckets, None, None) == 40.0


def test_budget_figures_and_forecast() -> None:
    figures = budget_figures(200.0, [50, 80, 100], 120.0, 40.0, 20.0, T0)
    assert (figures.remaining, figures.utilisation, figures.crossed) == (40.0, 0.8, (50, 80))
    assert figures.forecast_exhaustion == T0 + timedelta(hours=4)
    assert budget_figures(100.0, [], 100.0, 0.0, 0.0, T0).forecast_exhaustion == T0
    assert budget_figures(100.0, [], 10.0, 0.0, 0.0, T0).forecast_exhaustion is None
