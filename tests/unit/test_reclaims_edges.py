"""Observed reclaim rates at their edges: holds of no node or no time, and a hold of a second."""

from __future__ import annotations

from pricewise.core.reclaims import PoolExposure, ReclaimRates


def test_a_hold_of_no_node_or_no_time_adds_no_exposure_nor_a_pool() -> None:
    # A hold of no node (or a count gone negative) still listed the pool with its node-hours,
    # or took them off: its status showed a pool pricewise never held, or a lower exposure.
    rates = ReclaimRates()
    for nodes, seconds in ((0, 3600.0), (-2, 3600.0), (2, 0.0), (2, -60.0)):
        rates.held("spot", nodes, seconds)
    assert rates.pools == {}


def test_a_hold_of_a_second_counts() -> None:
    # Holds shorter than a whole second were dropped: 3,600 nodes for a second is a node-hour.
    rates = ReclaimRates()
    rates.held("spot", 3600, 1.0)
    assert rates.pools == {"spot": PoolExposure(reclaims=0, node_hours=1.0)}
