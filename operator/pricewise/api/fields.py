"""The field helpers the API models are declared with: name and label forms, CEL rules,
bounds said in words, durations and quantities, each checked alike offline and by the API
server's schema."""

from __future__ import annotations

import re
from typing import Any

from pydantic import (
    Field,
)
from pydantic.config import JsonDict

from pricewise.core import bounds
from pricewise.core.units import (
    DURATION_PATTERN,
    DURATION_UNITS,
    format_duration,
    memory_mib,
    parse_duration,
    parse_quantity,
)

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""A DNS-1123 subdomain: what the API server accepts as the name of a custom resource."""
ACCELERATOR_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
"""A label value (at most 63 characters), as the API server takes it on a node."""
LABEL_KEY = re.compile(
    r"(([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)/)?"
    r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
)
"""A label key: an optional DNS subdomain prefix and `/`, then a name (at most 63)."""


def bad_label(key: str, value: str) -> str | None:
    """Why a node could not carry this label, if it could not (else None)."""
    name = key.rpartition("/")[2]
    if not LABEL_KEY.fullmatch(key) or len(name) > 63 or len(key) - len(name) > 254:
        return (
            f"{key!r} is not a label key: a name of letters, digits, '-', '_' or '.' (at most "
            "63), with an optional DNS subdomain and '/' before it, as in pricewise.dev/pool"
        )
    if len(value) > 63 or not re.fullmatch(LABEL_VALUE_PATTERN, value):
        return (
            f"{value!r} is not a label value: letters, digits, '-', '_' and '.' (at most 63), "
            "starting and ending with a letter or digit"
        )
    return None


QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"


def cel(rule: str, message: str, field_path: str | None = None) -> JsonDict:
    """One CEL validation rule for the CRD, with the message users see when it fails."""
    entry: JsonDict = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


def bounds_phrase(
    low: str | None, high: str | None, low_open: bool = False, high_open: bool = False
) -> str:
    """How a field's description says its range, e.g. `from 1s to 3650d`: `kubectl explain`
    is where users read what the API server (and pricewise) refuse."""
    above = f"{'more than' if low_open else 'at least'} {low}" if low is not None else ""
    below = f"{'less than' if high_open else 'at most'} {high}" if high is not None else ""
    if above and below and not (low_open or high_open):
        return f"from {low} to {high}"
    return ", ".join(p for p in (above, below) if p)


def with_bounds(description: str, phrase: str, each: bool = False) -> str:
    """A description followed by the sentence of its range (of each item, for a list)."""
    sentence = f"Each {phrase}" if each else phrase[:1].upper() + phrase[1:]
    return f"{description} {sentence}."


_DURATION_RANGE = bounds_phrase(
    format_duration(bounds.MIN_DURATION_S), format_duration(bounds.MAX_RUN_S)
)
# The API server's half of `check_duration`: a rule that refused only `0s` let `kubectl
# apply` take `maxDuration: 99999d`, which the operator then refused. CEL's duration() is Go's,
# without days, so the rule adds the parts up as `parse_duration` does (`findAll` and `sum` are
# Kubernetes' CEL libraries; `[sum].all(s, ...)` names the sum: the API server has no
# `cel.bind`). A value not of the pattern is left to the pattern's own error; in one of it,
# each part is digits and a unit.
_DURATION_SECONDS = (
    "self.findAll('[0-9.]+[a-z]+').map(p, double(p.find('[0-9.]+')) * "
    f"{{{', '.join(f'{u!r}: {s!r}' for u, s in DURATION_UNITS.items())}}}[p.find('[a-z]+')])"
    ".sum()"
)
_DURATION_IN_RANGE = cel(
    f"!self.matches(r'{DURATION_PATTERN}') || [{_DURATION_SECONDS}].all(s, "
    f"s >= {bounds.MIN_DURATION_S!r} && s <= {bounds.MAX_RUN_S!r})",
    f"must be {_DURATION_RANGE}",
)


DURATION_FORM = "use a duration, e.g. 45m, 10h30m or 2d"
"""What a duration's pattern accepts, in words."""


def _duration_schema(schema: JsonDict) -> None:
    # A rule in place of the pattern: the API server's error for a pattern quotes the regex
    # (`maxDuration: 2 hours` read "should match '^([0-9]+(\.[0-9]+)?(ms|d|h|m|s))+$'").
    optional = schema.get("anyOf")  # an optional one's is in its anyOf
    for part in [schema, *(optional if isinstance(optional, list) else [])]:
        if isinstance(part, dict):
            part.pop("pattern", None)
    schema["x-kubernetes-validations"] = [
        cel(f"self.matches(r'{DURATION_PATTERN}')", DURATION_FORM),
        _DURATION_IN_RANGE,
    ]


def duration_field(default: Any, description: str) -> Any:
    """A spec's duration: its form, and its range, said in its description and checked by
    the API server (the model's validator checks it with `check_duration`)."""
    return Field(
        default,
        pattern=DURATION_PATTERN,
        max_length=32,
        description=with_bounds(description, _DURATION_RANGE),
        json_schema_extra=_duration_schema,
    )


def check_duration(value: str | None) -> str | None:
    """A duration that divides or bounds a run: between 1s and about ten years."""
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds < bounds.MIN_DURATION_S:
        raise ValueError(f"{value} is too short: at least 1s")
    if seconds > bounds.MAX_RUN_S:
        raise ValueError(f"{value} is too long: at most {format_duration(bounds.MAX_RUN_S)}")
    return value


def check_quantity(value: str | None, most: float, unit: str) -> str | None:
    """A CPU or memory request no larger than any node could be."""
    if value is None:
        return None
    amount = memory_mib(value) / 1024 if unit == "GiB" else float(parse_quantity(value))
    if amount > most:
        raise ValueError(f"{value} is too large: at most {most:,.0f} {unit}")
    return value


def quantity_text(value: object) -> object:
    """A whole number given for a quantity (`cpu: 8`, as in a pod's resources) as its text;
    anything else as it is, for the field's own checks."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def quantity_field(description: str, most: str) -> Any:
    """A worker's CPU or memory request, at most `most`: a string or a whole number, as
    Kubernetes takes a quantity (`x-kubernetes-int-or-string`); said in its description, and
    checked by the API server (Kubernetes' CEL quantities) as by the model's `check_quantity`."""
    largest = int(parse_quantity(most))
    return Field(
        None,
        pattern=QUANTITY_PATTERN,
        max_length=24,
        description=with_bounds(description, bounds_phrase(None, most)),
        json_schema_extra={
            "x-kubernetes-int-or-string": True,
            "x-kubernetes-validations": [
                cel(
                    "type(self) == string ? (!isQuantity(self) || "
                    f"quantity(self).compareTo(quantity('{most}')) <= 0) : "
                    f"self >= 0 && self <= {largest}",
                    f"must be from 0 to {most}",
                )
            ],
        },
    )
