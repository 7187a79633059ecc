"""Parsing and printing of the units users write: Kubernetes quantities, Go durations, money."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}  # fmt: skip
_QUANTITY = re.compile(
    r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
)
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|h|m|s|d)")
DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
"""Seconds of each unit a duration is written in (the CRDs' CEL rules sum them alike)."""

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|d|h|m|s))+$"
"""The form of a duration such as `8h30m`, for the CRD schema (Go's form, plus days)."""


def parse_quantity(value: str | int | float) -> Decimal:
    """Parse a Kubernetes quantity (`500m`, `128Gi`, `4`) into a Decimal of base units."""
    # A number YAML read as such is taken as written; true, null or .inf is none (the error
    # was Python's, `[<class 'decimal.ConversionSyntax'>]`).
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a quantity (examples: 4, 500m, 128Gi)")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} is not a quantity (examples: 4, 500m, 128Gi)")
    if isinstance(value, int | float):
        value = str(value)
    match = _QUANTITY.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a quantity (examples: 4, 500m, 128Gi)")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        base = Decimal(number)
    except InvalidOperation as err:
        raise ValueError(f"{value!r} is not a quantity (examples: 4, 500m, 128Gi)") from err
    # Kubernetes itself refuses quantities beyond 2^63; refusing them here keeps a `1e999999999`
    # from becoming a billion-digit integer.
    if base.is_finite() and base and base.adjusted() > 20:
        raise ValueError(f"{value!r} is too large a quantity")
    return base * (_BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix])


def format_rate(value: float) -> str:
    """A throughput for a person: four significant figures, and in full (thousands separated)
    from 10,000 on, where `1.34e+13/s` was no figure to read."""
    # Compared as printed: 9,999.6 rounds to four figures as 1e+04.
    return f"{value:,.0f}" if abs(float(f"{value:.4g}")) >= 1e4 else f"{value:,.4g}"


def floor_to_figures(value: float, figures: int) -> float:
    """`value` to `figures` significant figures, rounded down (0 or less gives 0): a figure a
    message offers as a limit must be one the run reaches, or the status keeps, and not more."""
    if value <= 0:
        return 0.0
    scale = 10.0 ** (figures - 1 - math.floor(math.log10(value)))
    return math.floor(value * scale) / scale


def cpu_millis(value: str | int | float) -> int:
    """CPU quantity in millicores, rounded up as the kubelet does."""
    return math.ceil(parse_quantity(value) * 1000)


def memory_mib(value: str | int | float, room: bool = False) -> int:
    """Memory quantity in MiB (MiB keeps CP-SAT coefficients small): rounded up for what is
    asked, down for the `room` there is (a node's allocatable, a quota's limit), so that what
    fits in MiB fits in bytes too."""
    mib = parse_quantity(value) / 2**20
    return math.floor(mib) if room else math.ceil(mib)


def format_cpu(millis: int) -> str:
    """Millicores as a quantity a spec takes: `96`, `0.5`, `1000000`, never `1e+06`."""
    sign, millis = ("-", -millis) if millis < 0 else ("", millis)  # a quota used past its limit
    cores, rest = divmod(millis, 1000)
    return sign + (f"{cores}.{rest:03d}".rstrip("0") if rest else str(cores))


def format_memory(mib: int) -> str:
    """MiB as a quantity a spec takes: `680Gi` for whole GiB, else `512Mi`; `1000000Gi`, never
    `1e+06Gi` (nor `0.976562Gi`, six digits of 1000Mi)."""
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


def parse_duration(value: str) -> float:
    """Parse a duration such as `8h30m`, `90m` or `2d` into seconds."""
    text = value.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration (examples: 45m, 8h30m, 2d)")
    return sum(float(n) * DURATION_UNITS[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    """Print seconds the way people read them: `30s`, `1m30s`, `45m`, `11h20m`, `2d3h`, `40d`.

    Two units at most, the last rounded to the nearest (half up): 1d23h59m is `2d`, not
    `1d23h`, and a limit of 59m59s is not `1h` beside a run of 1h. From 8 days on, whole days,
    as kubectl prints an age (the hours of `2526d8h` are noise). Only units `parse_duration`
    reads, so that a limit a message names can be written back into a spec.
    """
    if not math.isfinite(seconds):
        return "forever"
    total = max(0, round(seconds))
    if total < 3600:
        minutes, secs = divmod(total, 60)
        if not minutes:
            return f"{secs}s"
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    minutes = (total + 30) // 60
    if minutes < 24 * 60:
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    hours = (total + 1800) // 3600
    if hours < 8 * 24:
        days, hours = divmod(hours, 24)
        return f"{days}d{hours}h" if hours else f"{days}d"
    return f"{(total + 43200) // 86400}d"


@dataclass(frozen=True)
class Overrun:
    """A run against a time limit it does not fit, printed so that the figures add up (see
    `TimeLimit.overrun`)."""

    need: str
    """The run, rounded up: a limit raised to it suffices."""
    limit: str
    over: str
    """`need` less `limit`, as printed."""
    unit: int = 1
    """Seconds of the last unit printed."""


@dataclass(frozen=True)
class TimeLimit:
    """A time limit (maxDuration, or the time left to a deadline) and the unit the runs
    compared with it are printed to, so that no figure contradicts another: a run that fits
    never reads longer than the limit, one that does not never reads as short as it, and the
    options table, the note and the message print a run alike. A maxDuration of `1d9h33m`
    read `1d10h`, beside a run of `1d10h` it admitted; a run read `4d14h` in the table and
    `needs 4d15h` in its note."""

    seconds: float
    unit: int
    """Seconds of the finest unit the limit is printed to; runs are printed to it at most."""

    @classmethod
    def written(cls, seconds: float) -> TimeLimit:
        """A limit the user wrote (`spec.maxDuration`): printed as written, to the second,
        whatever unit that takes, so that a message names no figure they never wrote."""
        whole = max(math.floor(_noiseless(seconds)), 1)
        unit = next(u for u in (86400, 3600, 60, 1) if whole % u == 0)
        return cls(seconds, unit)

    @classmethod
    def left(cls, seconds: float) -> TimeLimit:
        """The time left to a deadline: a figure of the clock, not the user's, printed to the
        unit `format_duration` would print it to."""
        return cls(seconds, _precision(max(seconds, 0.0)))

    @property
    def text(self) -> str:
        """The limit as printed: rounded down to its unit."""
        return _exact(self._shown)

    @cached_property
    def _shown(self) -> int:
        return math.floor(_noiseless(self.seconds) / self.unit) * self.unit

    def run(self, seconds: float) -> str:
        """A run beside this limit: to the unit `format_duration` prints it to, or the
        limit's where that is finer; rounded up when over the limit (a limit raised to it
        suffices), else to the nearest but never past the limit as printed."""
        if not math.isfinite(seconds):
            return format_duration(seconds)
        return _exact(self._run(seconds))

    def _run(self, seconds: float) -> int:
        unit = min(self.unit, _precision(seconds))
        # One a hair over its limit, which the cost model refuses, still reads past it.
        steps = _noiseless(seconds) / unit
        if seconds > self.seconds:
            return max(math.ceil(steps) * unit, self._shown + unit)
        return min(math.floor(steps + 0.5) * unit, self._shown)

    def overrun(self, need_s: float) -> Overrun:
        """A run of `need_s` seconds, longer than the limit, against it. Its unit is the run's
        and the limit's, not that of what it runs over: `needs 1d10h, 10h over maxDuration 1d`,
        as the options table prints the run, not `needs 1d9h33m` beside a `1d10h` there."""
        if not math.isfinite(need_s):
            forever = format_duration(need_s)
            return Overrun(forever, self.text, forever)
        need = self._run(need_s)
        unit = min(self.unit, _precision(need_s))
        return Overrun(_exact(need), self.text, _exact(max(need - self._shown, 0)), unit)


def _noiseless(seconds: float) -> float:
    """Seconds (at least 0) to the millisecond, the finest a duration is written in: a run of
    1h computed as 3600.0000001 s does not need 1h0m1s, nor does a maxDuration of `1.1h`
    (3960.0000000000005 s) read `1h6m0s`. Absolute, not relative to the unit printed: a limit
    0.03 s short of 1825 days is not 1825 days."""
    return round(max(seconds, 0.0), 3)


def _precision(seconds: float) -> int:
    """The unit (in seconds) `format_duration` rounds these seconds to."""
    for below, unit in ((3600, 1), (86400, 60), (8 * 86400, 3600)):
        if seconds < below:
            return unit
    return 86400


@lru_cache(maxsize=4096)  # an options table prints the same few runs, a row each
def _exact(seconds: int) -> str:
    """Whole seconds in every unit from days down, those at 0 left out: `1d9h33m`, `2h5s`."""
    parts = []
    for unit, name in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        count, seconds = divmod(seconds, unit)
        if count:
            parts.append(f"{count}{name}")
    return "".join(parts) or "0s"


MICROS = 1_000_000
"""Money is carried as integer micro-units of the currency so that the solver is exact."""


def to_micros(amount: float) -> int:
    """Currency amount to integer micro-units."""
    return round(amount * MICROS)


def from_micros(micros: int) -> float:
    """Integer micro-units back to a currency amount, rounded to the micro-unit."""
    return round(micros / MICROS, 6)


def format_micros(micros: int, currency: str) -> str:
    """Micro-units of money as people read them (see `format_money`)."""
    return format_money(micros / MICROS, currency)


def format_micros_up(micros: int, currency: str) -> str:
    """Micro-units of money rounded up to the cent: a figure to set a limit (a Budget's, a
    job's maxCost or value) to, which suffices where `format_micros` may print less."""
    cent = MICROS // 100
    return format_micros(-(-micros // cent) * cent, currency)


def format_micros_apart(micros: int, other: int, currency: str) -> tuple[str, str]:
    """Two amounts as `format_micros` prints them, or with the decimals (up to six) that tell
    them apart where two would not: "maxCost 0.74 USD: ... costs 0.74 USD" named a cost of
    0.7422 USD as the limit it was over."""
    texts = format_micros(micros, currency), format_micros(other, currency)
    if micros == other or texts[0] != texts[1]:
        return texts
    # More decimals than `format_money` gave, which gives four under a cent.
    shown_with = 4 if 0 < abs(micros) < MICROS // 100 else 2
    for decimals in range(shown_with + 1, 7):
        shown = f"{micros / MICROS:,.{decimals}f}", f"{other / MICROS:,.{decimals}f}"
        if shown[0] != shown[1]:
            return f"{shown[0]} {currency}", f"{shown[1]} {currency}"
    return texts


def format_money(amount: float, currency: str) -> str:
    """`412.50 USD`: two decimals, or more where a small amount would print as zero."""
    if not abs(amount) < 2**53:
        # Beyond 2**53 a float has no cents: `1e+300 USD`, or `inf USD` for an overflow,
        # rather than 301 digits of noise.
        return f"{amount} {currency}"
    if 0 < amount < 0.00005:
        # Still zero at four decimals: "0.0000 USD" beside figures that were not.
        return f"<0.0001 {currency}"
    if 0 < abs(amount) < 0.01:
        return f"{amount:.4f} {currency}"
    return f"{amount:,.2f} {currency}"


def format_share(fraction: float) -> str:
    """`42%`, `0.4%` below one percent, `<0.1%` below a twentieth of one: "costs 0% more" hid
    a 0.40 USD difference that a job waited five hours for, and "0% of the work saved" two
    minutes a checkpoint kept. Alike near the whole: "costs 100% less" read as free of an
    option of 0.04 USD against 87.83."""
    if 0 < fraction < 0.0005:
        return "<0.1%"
    if 0.9995 <= fraction < 1:
        return ">99.9%"
    near_an_end = 0 < fraction < 0.01 or 0.99 < fraction < 1
    return f"{fraction:.1%}" if near_an_end else f"{fraction:.0%}"
