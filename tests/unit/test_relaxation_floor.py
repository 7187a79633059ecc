"""The relaxation's floor: the duality bound of a plan that takes fewer jobs."""

from __future__ import annotations

import pytest

from pricewise.core.relaxation import Floor


def test_the_floor_moves_by_each_row_s_marginal_for_what_a_plan_takes() -> None:
    # 10 + 0.5 x (1 x 1 + 2 x 0 - 3) = 9: `b`, not taken, counts nothing. It read 10, with `b`
    # counted as taken once, or with the move counted from 1 instead of 0.
    floor = Floor(10.0, (({"a": 1, "b": 2}, 3.0, 0.5), ({"c": 1}, 1.0, 0.0)), {})
    assert floor.at({"a": 1}) == pytest.approx(9.0)
    assert floor.at({"a": 1, "b": 1}) == pytest.approx(10.0)
