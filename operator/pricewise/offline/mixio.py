"""`pricewise plan mix FILE`: reading the resource-mix problem (with errors that name the field
and the fix), printing the answer, and the command itself; the model and its solution are in
`mix`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import ValidationError

from pricewise.api.files import read_text
from pricewise.api.manifests import YamlLoader, field_errors
from pricewise.core.units import format_money
from pricewise.offline.columns import columns
from pricewise.offline.mix import (
    MixInputError,
    MixProblem,
    MixResult,
    as_text,
    solve_mix,
)

OUTPUTS = ("table", "json", "yaml")
"""The output formats `run_mix` renders."""

# ---------------------------------------------------------------------------------- input


def parse_mix(data: object, source: str = "<input>") -> MixProblem:
    """Validate already-parsed YAML/JSON data as a mix problem, raising `MixInputError`."""
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise MixInputError(
            f"{source}: expected a mapping with resources, requiredPerformance and "
            f"resourceLimit (got {found})"
        )
    try:
        return MixProblem.model_validate(data)
    except ValidationError as err:
        lines = [f"{source}: {line}" for line in field_errors(err, MixProblem, data)]
        raise MixInputError("\n".join(lines)) from None


def load_mix(path: str | Path) -> MixProblem:
    """Read and validate a mix file; errors name the file, the field path and the fix."""
    source = str(path)
    text = read_text(path, MixInputError)
    try:
        data = yaml.load(text, YamlLoader)
    except yaml.YAMLError as err:
        raise MixInputError(f"{source}: not valid YAML: {err}") from None
    return parse_mix(data, source)


# ---------------------------------------------------------------------------------- output


def render(problem: MixProblem, result: MixResult, output: str = "table") -> str:
    """The result as `json`, `yaml`, or a human-readable `table`."""
    if output == "json":
        return json.dumps(result.to_dict(), indent=2)
    if output == "yaml":
        return yaml.safe_dump(result.to_dict(), sort_keys=False).rstrip("\n")
    if output != "table":
        raise ValueError(f"unknown output format {output!r}; use one of {', '.join(OUTPUTS)}")
    kind = "integer" if problem.integer else "continuous"
    if result.feasible:
        cost = format_money(result.total_cost, result.currency)
        head = (
            f"feasible ({kind}): total cost {cost} for performance "
            f"{as_text(result.performance)} (required {as_text(problem.required_performance)}), "
            f"using {as_text(result.resources_used)} of {as_text(problem.resource_limit)} units"
        )
        return head + "\n\n" + _table(problem, result.allocation)
    minimum = (
        "none reaches it"
        if result.min_resource_limit is None
        else as_text(result.min_resource_limit)
    )
    lines = [
        f"INFEASIBLE ({kind}): {result.reason}",
        "",
        f"max performance within the limit: {as_text(result.max_performance or 0.0)}",
        f"min resource limit for the required performance: {minimum}",
        "",
        f"best mix within resourceLimit {as_text(problem.resource_limit)}:",
        _table(problem, result.best_allocation),
    ]
    return "\n".join(lines)


def _table(problem: MixProblem, allocation: Mapping[str, float]) -> str:
    header = ("RESOURCE", "UNITS", "UNIT COST", "COST", "PERF/UNIT", "PERFORMANCE")
    rows: list[tuple[str, ...]] = []
    currency = problem.currency
    for r in problem.resources:
        units = allocation.get(r.name, 0.0)
        rows.append(
            (
                r.name,
                as_text(units),
                format_money(r.unit_cost, currency),
                format_money(units * r.unit_cost, currency),
                as_text(r.performance),
                as_text(units * r.performance),
            )
        )
    units = sum(allocation.values())
    cost = sum(allocation.get(r.name, 0.0) * r.unit_cost for r in problem.resources)
    perf = sum(allocation.get(r.name, 0.0) * r.performance for r in problem.resources)
    rows.append(("total", as_text(units), "", format_money(cost, currency), "", as_text(perf)))
    return columns([header, *rows], right=range(1, len(header)))


def run_mix(path: str, output: str) -> tuple[str, int]:
    """Load, solve and render one mix file: (text, exit code).

    Exit 0 when a feasible mix exists, 1 when the problem is infeasible (the text says why and
    by how much), 2 when the input is invalid or its figures too large for the solver (the text
    is the error message).
    """
    if output not in OUTPUTS:
        return f"unknown output format {output!r}; use one of {', '.join(OUTPUTS)}", 2
    try:
        problem = load_mix(path)
    except MixInputError as err:
        return str(err), 2
    try:
        result = solve_mix(problem)
    except MixInputError as err:
        return f"{path}: {err}", 2
    return render(problem, result, output), 0 if result.feasible else 1
