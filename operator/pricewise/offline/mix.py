"""The article's resource-mix model, `pricewise plan mix`.

Choose amounts x_i of resource kinds i (CPU, GPU, TPU; or data sources; or algorithms) to

    minimise   sum_i c_i * x_i            c_i: unitCost
    subject to sum_i w_i * x_i >= P       w_i: performance per unit, P: requiredPerformance
               sum_i x_i       <= R       R: resourceLimit
               0 <= x_i <= max_i          max_i: optional per-resource cap

with x_i whole numbers when `integer: true`. GLOP solves the continuous case and CP-SAT the
integer case (SCIP when the data cannot be scaled exactly to 64-bit integers).

When the model is infeasible the answer says by how much: the best performance reachable within
R, and the smallest R that would reach P. Every unit counts once against R whatever its kind,
so the best N units are simply the N with the highest performance; both figures therefore come
from an exact greedy in rational arithmetic, which is a proof of optimality rather than a
solver tolerance.

The module is pure apart from `load_mix` and `run_mix`, which read one file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pricewise.api.manifests import field_path
from pricewise.offline.columns import columns

__all__ = [
    "MixInputError",
    "MixProblem",
    "MixResource",
    "MixResult",
    "load_mix",
    "render",
    "run_mix",
    "solve_mix",
]

OUTPUTS = ("table", "json", "yaml")
"""The output formats `run_mix` renders."""

_DECIMALS = 6
_SNAP = 1e-9
# CP-SAT works in int64; staying well below 2**63 leaves room for its internal sums.
_CP_SAT_LIMIT = 2**60
_INFINITY = math.inf


class MixInputError(ValueError):
    """A mix file that cannot be read or does not describe a valid problem."""


_MODEL_CONFIG = ConfigDict(
    extra="forbid",
    strict=True,  # "200" or `yes` where a number is expected is a mistake, not a number
    allow_inf_nan=False,
    frozen=True,
)


class MixResource(BaseModel):
    """One resource kind: what a unit costs and how much performance it contributes."""

    model_config = _MODEL_CONFIG

    name: Annotated[str, Field(min_length=1, pattern=r"^\S(.*\S)?$")]
    unit_cost: Annotated[float, Field(alias="unitCost", ge=0)]
    performance: Annotated[float, Field(ge=0)]
    max_units: Annotated[float | None, Field(alias="max", ge=0)] = None
    """Upper bound on this resource's units; None: only the resource limit bounds it."""


class MixProblem(BaseModel):
    """The resource-mix linear program as written in a mix file."""

    model_config = _MODEL_CONFIG

    # Optional, so that a mix file can sit in a directory `pricewise plan DIR` reads: that
    # loader wants a `kind` on every document and skips kinds it does not know.
    api_version: Annotated[Literal["pricewise.dev/v1alpha1"] | None, Field(alias="apiVersion")] = (
        None
    )
    kind: Literal["ResourceMix"] | None = None
    resources: Annotated[list[MixResource], Field(min_length=1)]
    required_performance: Annotated[float, Field(alias="requiredPerformance", ge=0)]
    resource_limit: Annotated[float, Field(alias="resourceLimit", ge=0)]
    integer: bool = False

    @model_validator(mode="after")
    def _unique_names(self) -> MixProblem:
        first: dict[str, int] = {}
        for index, resource in enumerate(self.resources):
            if resource.name in first:
                raise ValueError(
                    f"resources[{index}].name: duplicate name {resource.name!r} (also "
                    f"resources[{first[resource.name]}]); give each resource a unique name"
                )
            first[resource.name] = index
        return self


@dataclass(frozen=True)
class MixResult:
    """The cheapest mix, or why there is none and how far the limits would have to move."""

    feasible: bool
    allocation: dict[str, float] = field(default_factory=dict)
    """Units of each resource, in input order; empty when infeasible."""
    total_cost: float = 0.0
    performance: float = 0.0
    resources_used: float = 0.0
    reason: str | None = None
    max_performance: float | None = None
    """Infeasible only: the best performance reachable within the resource limit."""
    min_resource_limit: float | None = None
    """Infeasible only: the smallest resource limit that reaches the required performance;
    None when no limit does (no resource performs, or the per-resource maxima are too low)."""
    best_allocation: dict[str, float] = field(default_factory=dict)
    """Infeasible only: a mix that reaches `max_performance` within the limit."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON/YAML shape of `pricewise plan mix -o json`."""
        if self.feasible:
            return {
                "feasible": True,
                "allocation": {name: _number(units) for name, units in self.allocation.items()},
                "totalCost": _number(self.total_cost),
                "performance": _number(self.performance),
                "resourcesUsed": _number(self.resources_used),
            }
        return {
            "feasible": False,
            "reason": self.reason,
            "maxPerformance": _number(self.max_performance or 0.0),
            "minResourceLimit": (
                None if self.min_resource_limit is None else _number(self.min_resource_limit)
            ),
        }


# ---------------------------------------------------------------------------------- solving


def solve_mix(problem: MixProblem) -> MixResult:
    """Solve the resource-mix program: the cheapest feasible mix, or an explained infeasibility.

    Feasibility is decided exactly (rational arithmetic); the cost is minimised by GLOP, or by
    CP-SAT when `problem.integer` is set. Deterministic for the same input.
    """
    required = _exact(problem.required_performance)
    limit = _unit_limit(problem)
    reach = _best_reach(problem, limit)
    if _total_performance(reach) < required:
        return _infeasible(problem, reach)
    units = _solve_integer(problem) if problem.integer else _solve_continuous(problem)
    allocation = {r.name: units[i] for i, r in enumerate(problem.resources)}
    return MixResult(
        feasible=True,
        allocation=allocation,
        total_cost=sum(r.unit_cost * units[i] for i, r in enumerate(problem.resources)),
        performance=sum(r.performance * units[i] for i, r in enumerate(problem.resources)),
        resources_used=sum(units),
    )


def _exact(value: float) -> Fraction:
    # repr is the shortest decimal that round-trips, i.e. what the user wrote (0.1, not 0.1000…02)
    return Fraction(repr(value))


def _unit_limit(problem: MixProblem) -> Fraction:
    limit = _exact(problem.resource_limit)
    return Fraction(math.floor(limit)) if problem.integer else limit


def _cap(problem: MixProblem, resource: MixResource) -> Fraction | None:
    if resource.max_units is None:
        return None
    cap = _exact(resource.max_units)
    return Fraction(math.floor(cap)) if problem.integer else cap


def _by_performance(problem: MixProblem) -> list[MixResource]:
    # Zero-performance units never help reach P, so they are left out of both greedy figures.
    # Ties go to the cheaper resource so the reported mix is one a person would pick.
    useful = [r for r in problem.resources if r.performance > 0]
    return sorted(useful, key=lambda r: (-_exact(r.performance), _exact(r.unit_cost)))


def _best_reach(problem: MixProblem, limit: Fraction) -> list[tuple[MixResource, Fraction]]:
    """Most performance from at most `limit` units: fill the best performers first."""
    taken: list[tuple[MixResource, Fraction]] = []
    left = limit
    for resource in _by_performance(problem):
        if left <= 0:
            break
        cap = _cap(problem, resource)
        units = left if cap is None else min(cap, left)
        if units > 0:
            taken.append((resource, units))
            left -= units
    return taken


def _min_units(problem: MixProblem) -> tuple[Fraction | None, list[tuple[MixResource, Fraction]]]:
    """Fewest units that reach P (None if the maxima make P unreachable), and the mix doing it.

    Fewest units means best performers first, as in `_best_reach`; in the integer case the last
    kind is rounded up, which is still optimal because every unit taken before it performs at
    least as well as any unit that could replace it.
    """
    need = _exact(problem.required_performance)
    used = Fraction(0)
    taken: list[tuple[MixResource, Fraction]] = []
    if need <= 0:
        return used, taken
    for resource in _by_performance(problem):
        per_unit = _exact(resource.performance)
        cap = _cap(problem, resource)
        if cap is None or cap * per_unit >= need:
            units = need / per_unit
            if problem.integer:
                units = Fraction(math.ceil(units))
            taken.append((resource, units))
            return used + units, taken
        if cap > 0:
            taken.append((resource, cap))
            used += cap
            need -= cap * per_unit
    return None, taken


def _total_performance(mix: Iterable[tuple[MixResource, Fraction]]) -> Fraction:
    return sum((_exact(r.performance) * units for r, units in mix), Fraction(0))


def _solve_continuous(problem: MixProblem) -> list[float]:
    solver = pywraplp.Solver.CreateSolver("GLOP")
    return _solve_mp(problem, solver)


def _solve_integer(problem: MixProblem) -> list[float]:
    units = _solve_cp_sat(problem)
    if units is not None:
        return units
    # Data with many significant digits (e.g. 1/3 written out) does not scale into int64;
    # SCIP with a zero gap is then the exact-enough fallback.
    solver = pywraplp.Solver.CreateSolver("SCIP")
    return _solve_mp(problem, solver)


def _solve_mp(problem: MixProblem, solver: Any) -> list[float]:
    if solver is None:
        raise RuntimeError("OR-Tools was built without the GLOP/SCIP backend")
    upper: list[float] = []
    for resource in problem.resources:
        cap = _cap(problem, resource)
        upper.append(_INFINITY if cap is None else float(cap))
    make = solver.IntVar if problem.integer else solver.NumVar
    xs = [make(0.0, ub, f"x{i}") for i, ub in enumerate(upper)]
    solver.Add(
        solver.Sum([r.performance * x for r, x in zip(problem.resources, xs, strict=True)])
        >= problem.required_performance
    )
    solver.Add(solver.Sum(xs) <= float(_unit_limit(problem)))
    solver.Minimize(
        solver.Sum([r.unit_cost * x for r, x in zip(problem.resources, xs, strict=True)])
    )
    params = pywraplp.MPSolverParameters()
    if problem.integer:
        # SCIP stops at a 1e-4 relative gap by default; the answer must be the optimum.
        params.SetDoubleParam(params.RELATIVE_MIP_GAP, 0.0)
    status = solver.Solve(params)
    if status != pywraplp.Solver.OPTIMAL:
        # Feasibility was established exactly beforehand, so this is a solver failure.
        raise RuntimeError(f"the mix solver stopped with status {status} on a feasible problem")
    values = [max(float(x.solution_value()), 0.0) for x in xs]
    # Snap the simplex's last-bit noise (1000.0000000000002) to the whole number it stands
    # for; a genuinely fractional value (250/3) keeps full precision for the cost sum.
    return [
        float(round(v)) if problem.integer or abs(v - round(v)) <= _SNAP * max(1.0, v) else v
        for v in values
    ]


def _scale(values: Sequence[Fraction]) -> int:
    return math.lcm(*(v.denominator for v in values))


def _solve_cp_sat(problem: MixProblem) -> list[float] | None:
    """Exact integer optimum with costs and performances scaled to integers; None if too big."""
    costs = [_exact(r.unit_cost) for r in problem.resources]
    perfs = [_exact(r.performance) for r in problem.resources]
    required = _exact(problem.required_performance)
    limit = int(_unit_limit(problem))
    cost_scale = _scale(costs)
    perf_scale = _scale([*perfs, required])
    int_costs = [int(c * cost_scale) for c in costs]
    int_perfs = [int(w * perf_scale) for w in perfs]
    int_required = int(required * perf_scale)
    uppers = []
    for resource in problem.resources:
        cap = _cap(problem, resource)
        uppers.append(limit if cap is None else min(limit, int(cap)))
    too_big = (
        sum(c * u for c, u in zip(int_costs, uppers, strict=True)) >= _CP_SAT_LIMIT
        or sum(w * u for w, u in zip(int_perfs, uppers, strict=True)) >= _CP_SAT_LIMIT
        or int_required >= _CP_SAT_LIMIT
    )
    if too_big:
        return None
    model = cp_model.CpModel()
    xs = [model.new_int_var(0, u, f"x{i}") for i, u in enumerate(uppers)]
    model.add(sum(w * x for w, x in zip(int_perfs, xs, strict=True)) >= int_required)
    model.add(sum(xs) <= limit)
    model.minimize(sum(c * x for c, x in zip(int_costs, xs, strict=True)))
    solver = cp_model.CpSolver()
    # One worker and a fixed seed: the same file gives the same mix among equal-cost optima.
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    status = solver.solve(model)
    if status != cp_model.OPTIMAL:
        raise RuntimeError(
            f"CP-SAT stopped with status {solver.status_name(status)} on a feasible mix problem"
        )
    return [float(solver.value(x)) for x in xs]


# ----------------------------------------------------------------------------- infeasibility


def _infeasible(problem: MixProblem, reach: list[tuple[MixResource, Fraction]]) -> MixResult:
    required = _text(problem.required_performance)
    # Figures are advice to act on, so they round the safe way: a limit raised to the printed
    # minimum is enough, and a requirement lowered to the printed maximum is reachable.
    best = _round(_total_performance(reach), math.floor)
    exact_min_limit, min_mix = _min_units(problem)
    min_limit = None if exact_min_limit is None else _round(exact_min_limit, math.ceil)
    best_allocation = {r.name: 0.0 for r in problem.resources}
    for resource, units in reach:
        best_allocation[resource.name] = float(units)
    if not _by_performance(problem):
        reason = (
            f"required performance {required} cannot be reached: no resource has a positive "
            "performance; add a resource with performance > 0 or set requiredPerformance to 0"
        )
    else:
        within = f"within the resource limit {_text(problem.resource_limit)}"
        if problem.integer and _unit_limit(problem) != _exact(problem.resource_limit):
            within += f" ({_text(_unit_limit(problem))} whole units)"
        reason = (
            f"required performance {required} cannot be reached {within}: the best reachable "
            f"is {_text(best)} ({_describe(reach)})"
        )
        if min_limit is None:
            capped = [r.name for r, _ in min_mix]
            reason += (
                f"; even without a resource limit the per-resource maxima cap it at "
                f"{_text(_total_performance(min_mix))} ({_describe(min_mix)}); raise the max "
                f"of {', '.join(capped)} or lower requiredPerformance to {_text(best)}"
            )
        else:
            reason += (
                f"; raise resourceLimit to at least {_text(min_limit)} or lower "
                f"requiredPerformance to {_text(best)}"
            )
    return MixResult(
        feasible=False,
        reason=reason,
        max_performance=float(best),
        min_resource_limit=None if min_limit is None else float(min_limit),
        best_allocation=best_allocation,
    )


def _describe(mix: Sequence[tuple[MixResource, Fraction]]) -> str:
    if not mix:
        return "no units"
    return " + ".join(
        f"{_text(units)} x {r.name} at {_text(r.performance)} each" for r, units in mix
    )


# ---------------------------------------------------------------------------------- numbers


def _round(value: Fraction, direction: Callable[[Fraction], int]) -> Fraction:
    scale = 10**_DECIMALS
    return Fraction(direction(value * scale), scale)


def _number(value: float | Fraction) -> int | float:
    """Output form of a figure: an int when whole, else rounded to six decimals."""
    rounded = round(float(value), _DECIMALS)
    if rounded == math.floor(rounded):
        return int(rounded)
    return rounded


def _text(value: float | Fraction) -> str:
    return str(_number(value))


# ---------------------------------------------------------------------------------- input


_FIELD_HINTS = {
    "resources": "a list of {name, unitCost, performance} entries",
    "requiredPerformance": "the performance the mix must reach, a number >= 0",
    "resourceLimit": "the most units the mix may use, a number >= 0",
    "name": "a unique, non-empty name",
    "unitCost": "the price of one unit, a number >= 0",
    "performance": "the performance one unit contributes, a number >= 0",
}


def _fields(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _show(value: object) -> str:
    text = json.dumps(value, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe_error(error: Mapping[str, Any]) -> str:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    kind: str = error["type"]
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    got = f" (got {_show(error['input'])})"
    last = str(loc[-1]) if loc else ""
    if kind == "value_error":
        # Our own validators already put the field path and the fix into the message.
        return str(ctx.get("error", error["msg"]))
    if kind == "missing":
        message = "field required"
        if last in _FIELD_HINTS:
            message += f"; add {last}: {_FIELD_HINTS[last]}"
    elif kind == "extra_forbidden":
        allowed = _fields(MixResource if len(loc) > 1 else MixProblem)
        message = f"unknown field; remove it or use one of {', '.join(allowed)}"
    elif kind in {"greater_than_equal", "greater_than"}:
        sign = ">=" if kind == "greater_than_equal" else ">"
        bound = ctx.get("ge", ctx.get("gt"))
        message = f"must be {sign} {_text(float(bound))}{got}"
    elif kind in {"float_type", "float_parsing", "int_type"}:
        message = f"must be a number{got}"
    elif kind == "finite_number":
        message = f"must be a finite number{got}"
    elif kind == "bool_type":
        message = f"must be true or false{got}"
    elif kind in {"string_type", "string_too_short", "string_pattern_mismatch"}:
        message = f"must be a non-empty name without surrounding spaces{got}"
    elif kind == "list_type":
        message = f"must be a list of {{name, unitCost, performance}} entries{got}"
    elif kind == "literal_error":
        message = f"must be {ctx.get('expected')}{got}"
    elif kind == "too_short":
        message = "must list at least one resource"
    elif kind in {"model_type", "dict_type", "model_attributes_type"}:
        message = f"must be a mapping with {', '.join(_fields(MixResource))}{got}"
    else:
        message = f"{error['msg']}{got}"
    return f"{field_path(loc)}: {message}" if loc else message


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
        lines = [f"{source}: {_describe_error(e)}" for e in err.errors()]
        raise MixInputError("\n".join(lines)) from None


def load_mix(path: str | Path) -> MixProblem:
    """Read and validate a mix file; errors name the file, the field path and the fix."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise MixInputError(f"{source}: cannot read the file: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
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
        head = (
            f"feasible ({kind}): total cost {_text(result.total_cost)} for performance "
            f"{_text(result.performance)} (required {_text(problem.required_performance)}), "
            f"using {_text(result.resources_used)} of {_text(problem.resource_limit)} units"
        )
        return head + "\n\n" + _table(problem, result.allocation)
    minimum = (
        "none reaches it" if result.min_resource_limit is None else _text(result.min_resource_limit)
    )
    lines = [
        f"INFEASIBLE ({kind}): {result.reason}",
        "",
        f"max performance within the limit: {_text(result.max_performance or 0.0)}",
        f"min resource limit for the required performance: {minimum}",
        "",
        f"best mix within resourceLimit {_text(problem.resource_limit)}:",
        _table(problem, result.best_allocation),
    ]
    return "\n".join(lines)


def _table(problem: MixProblem, allocation: Mapping[str, float]) -> str:
    header = ("RESOURCE", "UNITS", "UNIT COST", "COST", "PERF/UNIT", "PERFORMANCE")
    rows: list[tuple[str, ...]] = []
    for r in problem.resources:
        units = allocation.get(r.name, 0.0)
        rows.append(
            (
                r.name,
                _text(units),
                _text(r.unit_cost),
                _text(units * r.unit_cost),
                _text(r.performance),
                _text(units * r.performance),
            )
        )
    units = sum(allocation.values())
    cost = sum(allocation.get(r.name, 0.0) * r.unit_cost for r in problem.resources)
    perf = sum(allocation.get(r.name, 0.0) * r.performance for r in problem.resources)
    rows.append(("total", _text(units), "", _text(cost), "", _text(perf)))
    return columns([header, *rows], right=range(1, len(header)))


def run_mix(path: str, output: str) -> tuple[str, int]:
    """Load, solve and render one mix file: (text, exit code).

    Exit 0 when a feasible mix exists, 1 when the problem is infeasible (the text says why and
    by how much), 2 when the input is invalid (the text is the error message).
    """
    if output not in OUTPUTS:
        return f"unknown output format {output!r}; use one of {', '.join(OUTPUTS)}", 2
    try:
        problem = load_mix(path)
    except MixInputError as err:
        return str(err), 2
    result = solve_mix(problem)
    return render(problem, result, output), 0 if result.feasible else 1
