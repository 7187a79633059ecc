"""Argument types the commands share, so that `plan` and `simulate` take the same values and
refuse the others with the same words."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any


def within(
    kind: Callable[[str], float], low: float, below: float | None, says: str
) -> Callable[[str], Any]:
    """An argparse type: a number from `low`, below `below` if given."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        if not (value >= low and (below is None or value < below)):
            raise argparse.ArgumentTypeError(f"{text!r} is not {says}")
        return value

    return parse


time_limit = within(float, 1e-3, math.inf, "a number of seconds from 0.001")
"""`--time-limit`: with no time (0 or less) the plan was the greedy fallback's, and with nan
or inf CP-SAT's first plan, unproved, without a word of either."""


def wait_cost(text: str) -> float:
    """`--wait-cost`: what a planned wait of a job without a deadline counts for
    (`LookAhead.wait_cost`), within the operator's bounds, so that a plan's setting is one the
    operator takes."""
    from pricewise.core.lookahead import MOST_WAIT_COST  # one source; imported when used

    says = f"a share from 0 to {MOST_WAIT_COST:g}, such as 0.3"
    value: float = within(float, 0.0, math.nextafter(MOST_WAIT_COST, math.inf), says)(text)
    return value


def _hours(text: str) -> float:
    """A bare number of hours, as the simulator's figures name them, or a duration (`48h`,
    `2d`) as the chart's `scheduler.maxWait` takes it."""
    from pricewise.core.units import parse_duration  # imported when used, as above

    try:
        return float(text)
    except ValueError:
        return parse_duration(text) / 3600


max_wait = within(
    _hours,
    0.0,
    math.nextafter(3650 * 24, math.inf),
    "a number of hours or a duration such as 48h or 2d, up to 3650d (as the operator takes it)",
)
"""`--max-wait`: hours (`48`) or the chart's form (`48h`, `2d`), so that a value copied from
`scheduler.maxWait` replays the same bound."""
