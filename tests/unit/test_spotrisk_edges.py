"""Spot risk at its edges: the Poisson quantile just below where the normal approximation takes
over, and runs of no time or of a second on a pool reclaimed often."""

from __future__ import annotations

import pytest

from pricewise.core.spotrisk import SpotRisk, poisson_quantile, spot_risk


@pytest.mark.parametrize(("mean", "k"), [(50.0, 59), (99.0, 112), (100.0, 113)])
def test_the_exact_quantile_is_not_cut_short_by_its_safety_limit(mean: float, k: int) -> None:
    # A limit of mean + 10 / sqrt(mean) + 10 stopped the sum at 110 reclaims for a mean of 99:
    # a deadline held to fewer reclaims than 9 runs in 10 see.
    assert poisson_quantile(mean) == k


def test_a_run_of_no_time_on_a_reclaimed_pool_has_no_risk() -> None:
    # It divided by its segment of 0 s (ZeroDivisionError) and failed the cycle.
    assert spot_risk(0.0, 2, 0.2, None) == SpotRisk(0.0, 0.0, 0.0, 0.0)


def test_a_run_of_a_second_still_carries_its_reclaims() -> None:
    # Short runs were taken as safe: at 360 reclaims a node-hour (one every 10 s), a run of a
    # second takes (e^0.1 - 1) / 0.1 s on average.
    risk = spot_risk(1.0, 1, 360.0, None)
    assert risk.expected_s == pytest.approx(1.0517, abs=1e-4)
    assert risk.restarts == pytest.approx(0.10517, abs=1e-5)
