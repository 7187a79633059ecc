"""Units people write: quantities, durations, money."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricewise.api.convert import quota_from, resources_of
from pricewise.core.units import (
    Overrun,
    cpu_millis,
    format_duration,
    format_money,
    memory_mib,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("8h30m", 30600), ("90m", 5400), ("2d", 172800), ("1.5h", 5400), ("45s", 45)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "8 hours", "h", "5x"])
def test_bad_duration(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(40800, "11h20m"), (3600, "1h"), (90, "1m30s"), (1800, "30m"), (93600, "1d2h"),
     # To the nearest of the last unit shown, where the units below it were cut off.
     (59.6, "1m"), (3599.6, "1h"), (5430, "1h31m"), (86399, "1d"), (171_900, "2d"),
     (3599, "59m59s"),  # not 1h, beside a run of 1h
     # Whole days from 8 days on: a deadline 7 years past read `2526d8h`.
     (8 * 86400 - 1000, "8d"), (2526 * 86400 + 8 * 3600, "2526d"), (3650 * 86400, "3650d")],
)  # fmt: skip
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_run_over_its_limit_reads_in_figures_that_add_up() -> None:
    # Printed apart: "needs 1d10h, 9h33m over maxDuration 1d".
    run = Overrun.of(120_772.95, 86400)
    assert (run.need, run.limit, run.over) == ("1d9h33m", "1d", "9h33m")
    assert (Overrun.of(3600, 3599).need, Overrun.of(3600, 3599).over) == ("1h", "1s")
    assert run.within(85_632.0) == "23h47m"
    # A faster run of 1d31m, within 1d45m, is not printed as 1d1h.
    assert Overrun.of(93_600, 89_100).within(88_260) == "1d31m"


@settings(max_examples=300, deadline=None)
@given(
    need=st.floats(1.0, 3650 * 86400.0, allow_nan=False),
    over=st.floats(0.001, 3650 * 86400.0, allow_nan=False),
)
def test_an_overrun_s_figures_add_up_and_the_run_it_names_suffices(
    need: float, over: float
) -> None:
    limit = need - over
    if limit <= 0:
        return
    run = Overrun.of(need, limit)
    printed_need, printed_limit, printed_over = map(parse_duration, (run.need, run.limit, run.over))
    assert printed_need - printed_limit == printed_over > 0
    # A limit raised to the run printed lets it run; each figure is off by less than a unit.
    assert need - 1e-6 <= printed_need < need + run.unit
    assert limit - run.unit < printed_limit <= limit + 1e-6


def test_quantities() -> None:
    assert cpu_millis("500m") == 500
    assert cpu_millis("32") == 32000
    assert memory_mib("128Gi") == 131072
    assert memory_mib("1G") == 954  # decimal gigabyte, rounded up to MiB
    with pytest.raises(ValueError, match="is not a quantity"):
        cpu_millis("lots")


def test_room_rounds_down_so_that_what_fits_in_mib_fits_in_bytes() -> None:
    # 954Mi (1,000,341,504 bytes) asked of a node with 1000M allocatable: the kubelet refuses
    # it, so the node's room must not read as 954 MiB, nor a quota's limit.
    asked, room = resources_of({"memory": "954Mi"}), resources_of({"memory": "1000M"}, room=True)
    assert (asked.memory, room.memory) == (954, 953) and not asked.fits_in(room)
    quota = {
        "metadata": {"namespace": "a", "name": "q"},
        "spec": {"hard": {"requests.memory": "1G"}},
        "status": {"used": {"requests.memory": "1Mi"}},
    }
    assert quota_from(quota).remaining["memory"] == 953 - 1


def test_a_quota_says_what_it_allows_in_all_beside_what_is_left() -> None:
    # Two keys for one resource: the tighter binds.
    quota = {
        "metadata": {"namespace": "a", "name": "q"},
        "spec": {"hard": {"requests.cpu": "8", "cpu": "6"}},
        "status": {"used": {"requests.cpu": "2", "cpu": "2"}},
    }
    read = quota_from(quota)
    assert (read.hard["cpu"], read.remaining["cpu"]) == (6000, 4000)


def test_money() -> None:
    assert format_money(412.5, "USD") == "412.50 USD"
    assert format_money(1234.5, "EUR") == "1,234.50 EUR"
    assert format_money(0.0012, "USD") == "0.0012 USD"
    # Beyond 2**53 there are no cents to print (plan mix takes any float as a unitCost).
    assert format_money(1e300, "USD") == "1e+300 USD"
    assert format_money(-math.inf, "USD") == "-inf USD"
