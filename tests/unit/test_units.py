"""Units people write: quantities, durations, money."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pricewise.api.podrequests import resources_of
from pricewise.api.quotas import quota_from
from pricewise.core.times import clock
from pricewise.core.units import (
    TimeLimit,
    cpu_millis,
    format_duration,
    format_micros,
    format_micros_apart,
    format_micros_up,
    format_money,
    format_rate,
    format_share,
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
    # In the run's own unit, as the options table prints it: the note read "needs 1d9h33m, 9h33m
    # over maxDuration 1d" beside a DURATION of 1d10h, and "needs 4d15h" beside 4d14h.
    day = TimeLimit.written(86400)
    run = day.overrun(120_772.95)
    assert (run.need, run.limit, run.over) == ("1d10h", "1d", "10h")
    assert day.run(120_772.95) == run.need
    assert (day.run(397_800), day.overrun(397_800).need) == ("4d15h", "4d15h")  # 4d14h30m
    hour = TimeLimit.written(3599)
    assert (hour.overrun(3600).need, hour.overrun(3600).over) == ("1h", "1s")
    assert day.run(85_632.0) == "23h47m"
    # A faster run of 1d31m, within 1d45m, is not printed as 1d1h.
    assert TimeLimit.written(89_100).run(88_260) == "1d31m"


def test_a_limit_the_user_wrote_reads_as_written_and_runs_beside_it_never_contradict_it() -> None:
    # maxDuration: 1d9h33m read "1d10h", beside a run of 1d9h33m printed "done in 1d10h".
    limit = TimeLimit.written(parse_duration("1d9h33m"))
    assert (limit.text, limit.run(120_772.95)) == ("1d9h33m", "1d9h33m")
    assert limit.run(120_790.0) == "1d9h34m"  # 10s over: never read as the limit itself
    assert (limit.overrun(300_000).need, limit.overrun(300_000).over) == ("3d11h20m", "2d1h47m")
    # A deadline's time left is the clock's figure, not the user's: to format_duration's unit.
    left = TimeLimit.left(5 * 3600 + 12 * 60 + 37)
    assert (left.text, left.run(5 * 3600 + 12 * 60 + 30)) == ("5h12m", "5h12m")
    assert left.run(5 * 3600 + 13 * 60) == "5h13m"


@settings(max_examples=300, deadline=None)
@given(
    run=st.floats(1.0, 3650 * 86400.0, allow_nan=False),
    limit=st.floats(1.0, 3650 * 86400.0, allow_nan=False),
    written=st.booleans(),
)
def test_a_run_beside_its_limit_reads_on_the_side_of_it_that_it_is(
    run: float, limit: float, written: bool
) -> None:
    bound = TimeLimit.written(limit) if written else TimeLimit.left(limit)
    printed_limit = parse_duration(bound.text)
    printed_run = parse_duration(bound.run(run))
    if run > limit:
        assert printed_run > printed_limit
        assert run - 0.0005 <= printed_run  # a limit raised to the run printed lets it run
    else:
        assert printed_run <= printed_limit
    if written:
        assert printed_limit == math.floor(round(limit, 3))  # to the second, as written


@settings(max_examples=300, deadline=None)
@given(
    need=st.floats(1.0, 3650 * 86400.0, allow_nan=False),
    over=st.floats(0.001, 3650 * 86400.0, allow_nan=False),
)
@example(need=157_680_000.0, over=0.03125)  # a limit a hair short of 1825d is not 1825d
def test_an_overrun_s_figures_add_up_and_the_run_it_names_suffices(
    need: float, over: float
) -> None:
    limit = need - over
    if limit <= 0:
        return
    run = TimeLimit.left(limit).overrun(need)
    printed_need, printed_limit, printed_over = map(parse_duration, (run.need, run.limit, run.over))
    assert printed_need - printed_limit == printed_over > 0
    # A limit raised to the run printed lets it run; each figure is off by less than a unit
    # (but for what is below the millisecond, the finest a duration is written in).
    assert need - 0.0005 <= printed_need < need + run.unit
    assert limit - run.unit < printed_limit <= limit + 0.0005


def test_money_to_raise_a_limit_to_is_rounded_up_to_the_cent() -> None:
    # A job of 6.3612 USD printed as costing 6.36: a value of 6.36 would not let it run.
    assert (format_micros(6_361_200, "USD"), format_micros_up(6_361_200, "USD")) == (
        "6.36 USD",
        "6.37 USD",
    )
    assert format_micros_up(6_360_000, "USD") == "6.36 USD"
    assert format_micros_up(1, "EUR") == "0.01 EUR"


def test_two_amounts_a_cent_cannot_tell_apart_are_printed_with_the_decimals_that_do() -> None:
    assert format_micros_apart(742_200, 740_000, "USD") == ("0.742 USD", "0.740 USD")
    assert format_micros_apart(16_000_000, 15_999_999, "USD") == (
        "16.000000 USD",
        "15.999999 USD",
    )
    # Under a cent `format_money` shows four decimals: more than that, never fewer (it read
    # 0.000 beside 0.001).
    assert format_micros_apart(510, 490, "USD") == ("0.00051 USD", "0.00049 USD")
    assert format_micros_apart(2_000_000, 1_000_000, "USD") == ("2.00 USD", "1.00 USD")
    assert format_micros_apart(5, 5, "USD") == (format_micros(5, "USD"),) * 2


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
    # A few seconds' accrual: "0.0000 USD" beside 0.0014 and 0.48 in the ACCRUED column.
    assert format_money(0.00004, "USD") == "<0.0001 USD"
    assert format_money(0.0, "USD") == "0.00 USD"
    # Beyond 2**53 there are no cents to print (plan mix takes any float as a unitCost).
    assert format_money(1e300, "USD") == "1e+300 USD"
    assert format_money(-math.inf, "USD") == "-inf USD"


def test_a_time_of_another_day_carries_its_date() -> None:
    # At 21:02 a room freeing after midnight read "frees ~01:00 UTC", a time of today.
    now = datetime(2026, 12, 4, 21, 2, tzinfo=UTC)
    assert clock(datetime(2026, 12, 4, 23, 59, tzinfo=UTC), now) == "23:59 UTC"
    assert clock(datetime(2026, 12, 5, 1, 0, tzinfo=UTC), now) == "Dec 05 01:00 UTC"
    paris = timezone(timedelta(hours=1))
    assert clock(datetime(2026, 12, 5, 0, 30, tzinfo=paris), now) == "23:30 UTC"


@pytest.mark.parametrize(
    ("fraction", "text"),
    [
        (0.42, "42%"),
        (0.004, "0.4%"),
        (0.0003, "<0.1%"),
        (0.0, "0%"),
        (1.0, "100%"),
        # Near the whole, alike: "costs 100% less" read as free of 0.04 USD against 87.83.
        (0.9995, ">99.9%"),
        (0.995, "99.5%"),
        (0.99, "99%"),
    ],
)
def test_a_share_is_never_said_as_none_or_all_when_it_is_neither(
    fraction: float, text: str
) -> None:
    assert format_share(fraction) == text


def test_a_throughput_is_printed_in_full_from_ten_thousand_on() -> None:
    # `1.34e+13/s of the 1.932e+14/s required` was no figure a person reads.
    assert format_rate(1.34e13) == "13,400,000,000,000"
    assert (format_rate(12.5), format_rate(9999.4), format_rate(0.000123)) == (
        "12.5",
        "9,999",
        "0.000123",
    )
