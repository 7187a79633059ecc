"""Units at their edges: quantities YAML reads as numbers or as no quantity at all, the largest
quantity taken, negative CPU of a quota used past its limit, durations at each rounding edge,
the units a deadline's time left is printed to, and money and shares at their thresholds."""

from __future__ import annotations

import math

import pytest

from pricewise.core.units import (
    Overrun,
    TimeLimit,
    cpu_millis,
    floor_to_figures,
    format_cpu,
    format_duration,
    format_micros_apart,
    format_money,
    format_rate,
    format_share,
    memory_mib,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "True"), (None, "None"), ([4], "[4]"), (math.inf, "inf"), (math.nan, "nan"),
     ("1.2.3", "'1.2.3'"), ("4 cores", "'4 cores'")],
)  # fmt: skip
def test_what_is_no_quantity_is_refused_with_the_value_and_examples(
    value: object, text: str
) -> None:
    # The error read `None`, or was Python's (AttributeError, decimal.InvalidOperation).
    with pytest.raises(ValueError, match=r"^") as refused:
        parse_quantity(value)  # type: ignore[arg-type]
    assert str(refused.value) == f"{text} is not a quantity (examples: 4, 500m, 128Gi)"


def test_a_number_yaml_read_as_a_float_is_a_quantity() -> None:
    # `cpu: 1.5` in a spec arrives as a float: it was refused as not finite.
    assert (cpu_millis(1.5), cpu_millis(0.0005), memory_mib(0.5)) == (1500, 1, 1)


def test_quantities_up_to_1e20_are_taken_and_larger_ones_refused() -> None:
    assert parse_quantity("1e20") == 10**20
    assert parse_quantity("99e19") == 99 * 10**19
    with pytest.raises(ValueError, match=r"^'1e21' is too large a quantity$"):
        parse_quantity("1e21")


def test_cpu_of_a_quota_used_past_its_limit_reads_negative_and_none_reads_0() -> None:
    # "-0" for none, or the sign dropped.
    assert [format_cpu(m) for m in (0, -2000, -500, -1250)] == ["0", "-2", "-0.5", "-1.25"]


def test_a_rate_of_ten_thousand_reads_in_full() -> None:
    assert (format_rate(10_000.0), format_rate(-10_000.0)) == ("10,000", "-10,000")
    # Rounded to four figures, 9,999.6 read "1e+04/s of the 20,000/s required".
    assert (format_rate(9_999.6), format_rate(9_999.4)) == ("10,000", "9,999")


def test_a_figure_floored_is_never_more_and_none_or_less_is_0() -> None:
    assert [floor_to_figures(v, 2) for v in (1234.5, 0.0, -5.0)] == [1200.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(math.inf, "forever"), (3629, "1h"), (3630, "1h1m"), (86400 + 1799, "1d"),
     (86400 + 1800, "1d1h"), (8 * 86400 + 3 * 3600, "8d"), (10 * 86400 + 43199, "10d"),
     (10 * 86400 + 43200, "11d")],
)  # fmt: skip
def test_a_duration_rounds_half_up_at_each_unit(seconds: float, text: str) -> None:
    # 1h0m29s is 1h and 1h0m30s is 1h1m; alike for hours within days and for days.
    assert format_duration(seconds) == text


def test_a_deadline_s_time_left_is_printed_to_the_unit_format_duration_uses() -> None:
    # Seconds below an hour, minutes below a day, hours below 8 days, days from then on.
    units = [TimeLimit.left(s).unit for s in (3599, 3600, 86399, 86400, 8 * 86400 - 1, 8 * 86400)]
    assert units == [1, 60, 60, 3600, 3600, 86400]
    assert TimeLimit.left(30 * 86400).unit == 86400
    # A run of 1h0m30s past an hour left: 1h1m (to the minute), not 1h30s.
    assert TimeLimit.left(3600).run(3630) == "1h1m"


def test_a_run_over_its_limit_reads_past_it_in_the_run_s_own_unit() -> None:
    # A hair over 1h read "1h", as if it fitted; 1d1h over a limit of 2h read to the minute.
    assert TimeLimit.written(3600).run(3600.0004) == "1h1m"
    assert TimeLimit.written(7200).overrun(90_000.5) == Overrun("1d2h", "2h", "1d", 3600)
    # A limit a fraction of a millisecond short of an hour is an hour.
    assert TimeLimit.written(3599.9996).text == "1h"


def test_a_run_that_never_ends_reads_forever_beside_its_limit() -> None:
    limit = TimeLimit.written(3600)
    assert limit.run(math.inf) == "forever"
    assert limit.overrun(math.inf) == Overrun("forever", "1h", "forever")


def test_two_amounts_told_apart_keep_the_fewest_decimals_that_do() -> None:
    # A cent and 1.06 cents both read 0.01 USD: told apart at three decimals, not five.
    assert format_micros_apart(10_000, 10_600, "USD") == ("0.010 USD", "0.011 USD")
    assert format_micros_apart(1500, 1490, "USD") == ("0.00150 USD", "0.00149 USD")


def test_money_beyond_what_a_float_holds_to_the_cent_reads_as_the_float() -> None:
    assert format_money(2.0**53, "USD") == "9007199254740992.0 USD"
    assert format_money(2.0**53 - 1, "USD") == "9,007,199,254,740,991.00 USD"


def test_half_of_a_ten_thousandth_reads_as_one_not_as_less() -> None:
    # 0.00005 USD rounds to 0.0001 at four decimals: "<0.0001 USD" would name less than it is.
    assert format_money(0.00005, "USD") == "0.0001 USD"


def test_a_share_at_a_twentieth_of_a_percent_or_at_one_percent_reads_its_figure() -> None:
    # At exactly the thresholds: "0.1%", not "<0.1%"; "1%", not "1.0%".
    assert (format_share(0.0005), format_share(0.01)) == ("0.1%", "1%")
