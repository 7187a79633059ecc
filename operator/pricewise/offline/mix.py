"""The resource-mix linear program pricewise's cost model grew from, `pricewise plan mix`.

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

Pure: reading the file and printing the answer are in `mixio`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Annotated, Any, Literal

from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pricewise.api.fields import CURRENCY_PATTERN

_DECIMALS = 6
_SNAP = 1e-9
# CP-SAT works in int64; staying well below 2**63 leaves room for its internal sums.
_CP_SAT_LIMIT = 2**60
_INFINITY = math.inf
# SCIP's default numerics/infinity: it reads any coefficient this large as infinite and fails,
# printing its own errors on stderr, so such data is refused before it gets there.
_SCIP_INFINITY = 1e20
# Names of pywraplp's result statuses, for the message when a solve fails.
_MP_STATUS = {
    getattr(pywraplp.Solver, name): name
    for name in ("FEASIBLE", "INFEASIBLE", "UNBOUNDED", "ABNORMAL", "MODEL_INVALID", "NOT_SOLVED")
}
# What to change when a figure is too large for the solver, by field.
_SCALE_HINTS = {
    "unitCost": "state every unitCost in a larger currency unit (e.g. thousands), or remove a "
    "resource too dear ever to be bought",
    "performance": "state every performance and requiredPerformance in a larger unit (e.g. "
    "thousands)",
    "requiredPerformance": "state every performance and requiredPerformance in a larger unit "
    "(e.g. thousands)",
    "resourceLimit": "lower resourceLimit, or count units in larger blocks (scaling every "
    "unitCost, performance and max with them)",
    "max": "lower it, or leave max out for no cap of its own",
}


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

    # The descriptions are what `plan mix` says of a field missing or of the wrong type.
    name: Annotated[
        str,
        Field(
            min_length=1,
            pattern=r"^\S(.*\S)?$",
            description="A unique name for the resource, without spaces at either end.",
        ),
    ]
    unit_cost: Annotated[
        float, Field(alias="unitCost", ge=0, description="The price of one unit, a number >= 0.")
    ]
    performance: Annotated[
        float, Field(ge=0, description="The performance one unit contributes, a number >= 0.")
    ]
    max_units: Annotated[
        float | None,
        Field(
            alias="max",
            ge=0,
            description="The most units of this resource the mix may use; without it, only "
            "resourceLimit bounds them.",
        ),
    ] = None


class MixProblem(BaseModel):
    """The resource-mix linear program as written in a mix file."""

    model_config = _MODEL_CONFIG

    # Optional, so that a mix file can sit in a directory `pricewise plan DIR` reads: that
    # loader wants a `kind` on every document and skips kinds it does not know.
    api_version: Annotated[Literal["pricewise.dev/v1alpha1"] | None, Field(alias="apiVersion")] = (
        None
    )
    kind: Literal["ResourceMix"] | None = None
    resources: Annotated[
        list[MixResource],
        Field(
            min_length=1,
            description="The resource kinds to choose from, each {name, unitCost, performance}.",
        ),
    ]
    required_performance: Annotated[
        float,
        Field(
            alias="requiredPerformance",
            ge=0,
            description="The performance the mix must reach, a number >= 0.",
        ),
    ]
    resource_limit: Annotated[
        float,
        Field(
            alias="resourceLimit",
            ge=0,
            description="The most units the mix may use, a number >= 0.",
        ),
    ]
    integer: Annotated[
        bool, Field(description="Whether each resource's units must be whole numbers.")
    ] = False
    currency: Annotated[
        str,
        Field(
            pattern=CURRENCY_PATTERN,
            description="The ISO 4217 code of every unitCost, e.g. USD (the default, as in a "
            "PriceTable).",
        ),
    ] = "USD"

    @field_validator("resources")
    @classmethod
    def _unique_names(cls, resources: list[MixResource]) -> list[MixResource]:
        first: dict[str, int] = {}
        for index, resource in enumerate(resources):
            if resource.name in first:
                raise ValueError(
                    f"name {resource.name!r} is given twice (resources[{first[resource.name]}] "
                    f"and resources[{index}]); give each resource a unique name"
                )
            first[resource.name] = index
        return resources


@dataclass(frozen=True)
class MixResult:
    """The cheapest mix, or why there is none and how far the limits would have to move."""

    feasible: bool
    currency: str
    allocation: dict[str, float] = field(default_factory=dict)
    """Units of each resource, in input order; empty when infeasible."""
    total_cost: float = 0.0
    """This and the next two: of `allocation`, or when infeasible of `best_allocation`."""
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
        """The JSON/YAML shape of `pricewise plan mix -o json`: an infeasible answer keeps its
        best mix within the limit, as the table does."""
        allocation = self.allocation if self.feasible else self.best_allocation
        mix = {
            "allocation": {name: _wire(units) for name, units in allocation.items()},
            "totalCost": _wire(self.total_cost),
            "performance": _wire(self.performance),
            "resourcesUsed": _wire(self.resources_used),
        }
        if self.feasible:
            return {"feasible": True, "currency": self.currency, **mix}
        return {
            "feasible": False,
            "currency": self.currency,
            "reason": self.reason,
            "maxPerformance": _wire(self.max_performance or 0.0),
            "minResourceLimit": (
                None if self.min_resource_limit is None else _wire(self.min_resource_limit)
            ),
            "bestMix": mix,
        }


def _wire(value: float | Fraction) -> int | float | None:
    # Infinity is not JSON (jq refuses the whole output): a figure past the largest float is
    # null, as a limit no number reaches already is, and the table's `inf` and the reason say so.
    number = as_number(value)
    return None if math.isinf(number) else number


# ---------------------------------------------------------------------------------- solving


def solve_mix(problem: MixProblem) -> MixResult:
    """Solve the resource-mix program: the cheapest feasible mix, or an explained infeasibility.

    Feasibility is decided exactly (rational arithmetic); the cost is minimised by GLOP, or by
    CP-SAT when `problem.integer` is set. Deterministic for the same input. Raises
    `MixInputError`, naming the largest figure, when the solver cannot handle the numbers.
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
        currency=problem.currency,
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
    return _solve_mp(problem, "GLOP")


def _solve_integer(problem: MixProblem) -> list[float]:
    units = _solve_cp_sat(problem)
    if units is not None:
        return units
    # Data with many significant digits (e.g. 1/3 written out) does not scale into int64;
    # SCIP with a zero gap is then the exact-enough fallback.
    if _largest_figure(problem)[1] >= _SCIP_INFINITY:
        raise _out_of_range(
            problem,
            f"SCIP, which solves this integer mix, reads {as_text(_SCIP_INFINITY)} "
            "and above as infinite",
        )
    return _solve_mp(problem, "SCIP")


def _solve_mp(problem: MixProblem, name: str) -> list[float]:
    solver = pywraplp.Solver.CreateSolver(name)
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
        # Feasibility was established exactly beforehand, so the solver failed on the numbers.
        raise _out_of_range(problem, f"{name} stopped with status {_MP_STATUS.get(status, status)}")
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
        raise _out_of_range(problem, f"CP-SAT stopped with status {solver.status_name(status)}")
    return [float(solver.value(x)) for x in xs]


def _largest_figure(problem: MixProblem) -> tuple[str, float]:
    """The field path and value of the problem's largest figure (the first of equals)."""
    figures = [
        ("requiredPerformance", problem.required_performance),
        ("resourceLimit", problem.resource_limit),
    ]
    for i, r in enumerate(problem.resources):
        figures += [(f"resources[{i}].unitCost", r.unit_cost)]
        figures += [(f"resources[{i}].performance", r.performance)]
        if r.max_units is not None:
            figures += [(f"resources[{i}].max", r.max_units)]
    return max(figures, key=lambda figure: figure[1])


def _out_of_range(problem: MixProblem, why: str) -> MixInputError:
    """The error for a feasible problem the solver failed on: its numbers are out of range.

    Only a too-large figure has been seen to do this (tiny ones are solved), so the message
    names the largest one and how to rescale it.
    """
    path, value = _largest_figure(problem)
    hint = _SCALE_HINTS[path.rpartition(".")[2]]
    return MixInputError(
        f"{path}: {as_text(value)} is too large for the solver to find the cheapest mix ({why}); "
        f"{hint}"
    )


# ----------------------------------------------------------------------------- infeasibility


def _infeasible(problem: MixProblem, reach: list[tuple[MixResource, Fraction]]) -> MixResult:
    required = as_text(problem.required_performance)
    # Figures are advice to act on, so they round the safe way: a limit raised to the printed
    # minimum is enough, and a requirement lowered to the printed maximum is reachable.
    best = _round(_total_performance(reach), math.floor)
    exact_min_limit, min_mix = _min_units(problem)
    min_limit = None if exact_min_limit is None else _round(exact_min_limit, math.ceil)
    best_allocation = {r.name: 0.0 for r in problem.resources}
    for resource, units in reach:
        best_allocation[resource.name] = _float(units)
    if not _by_performance(problem):
        reason = (
            f"required performance {required} cannot be reached: no resource has a positive "
            "performance; add a resource with performance > 0 or set requiredPerformance to 0"
        )
    else:
        within = f"within the resource limit {as_text(problem.resource_limit)}"
        if problem.integer and _unit_limit(problem) != _exact(problem.resource_limit):
            within += f" ({as_text(_unit_limit(problem))} whole units)"
        reason = (
            f"required performance {required} cannot be reached {within}: the best reachable "
            f"is {as_text(best)} ({_describe(reach)})"
        )
        capped = [r.name for r, _ in min_mix]
        which = " or ".join([", ".join(capped[:-1]), capped[-1]] if capped[1:] else capped)
        fix = f"raise the max of {which}, or lower requiredPerformance to {as_text(best)}"
        if min_limit is None and sum(units for _, units in reach) < _unit_limit(problem):
            # The limit is not what binds: the maxima are, whatever the limit.
            reason = (
                f"required performance {required} cannot be reached: the per-resource maxima "
                f"cap it at {as_text(best)} ({_describe(reach)}) whatever the resource limit; "
                f"{fix}"
            )
        elif min_limit is None:
            # Both bind: raised maxima alone still leave the limit short, unless it holds what
            # the best performer would need alone.
            top = _by_performance(problem)[0]
            units = _exact(problem.required_performance) / _exact(top.performance)
            units = Fraction(math.ceil(units)) if problem.integer else units
            fix = (
                f"raise the max of {which}, and resourceLimit to at least "
                f"{as_text(_round(units, math.ceil))} (what {top.name} alone would need), or "
                f"lower requiredPerformance to {as_text(best)}"
            )
            reason += (
                f"; even without a resource limit the per-resource maxima cap it at "
                f"{as_text(_total_performance(min_mix))} ({_describe(min_mix)}); {fix}"
            )
        elif math.isinf(_float(min_limit)):
            reason += (
                "; no resourceLimit a number can hold reaches it: lower requiredPerformance "
                f"to {as_text(best)}"
            )
        else:
            reason += (
                f"; raise resourceLimit to at least {as_text(min_limit)} or lower "
                f"requiredPerformance to {as_text(best)}"
            )
    return MixResult(
        feasible=False,
        currency=problem.currency,
        total_cost=sum(r.unit_cost * _float(units) for r, units in reach),
        performance=_float(_total_performance(reach)),
        resources_used=_float(sum(units for _, units in reach)),
        reason=reason,
        max_performance=_float(best),
        min_resource_limit=None if min_limit is None else _float(min_limit),
        best_allocation=best_allocation,
    )


def _describe(mix: Sequence[tuple[MixResource, Fraction]]) -> str:
    if not mix:
        return "no units"
    return " + ".join(
        f"{as_text(units)} x {r.name} at {as_text(r.performance)} each" for r, units in mix
    )


# ---------------------------------------------------------------------------------- numbers


def _round(value: Fraction, direction: Callable[[Fraction], int]) -> Fraction:
    scale = 10**_DECIMALS
    return Fraction(direction(value * scale), scale)


def _float(value: float | Fraction) -> float:
    """An exact figure as a float, `inf` where it is past the largest float: 1e300 units of
    performance 1e-300 need 1e600 units, which `float` refuses to round to infinity."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def as_number(value: float | Fraction) -> int | float:
    """Output form of a figure: an int when whole, else rounded to six decimals. Beyond 2**53
    a float has no fractional part to round, and its digits as an int would be noise (1e300
    printed 301 of them), so it stays a float (1e+300)."""
    rounded = round(_float(value), _DECIMALS)
    if math.isinf(rounded):
        return rounded  # a product of huge figures: `inf` says so, where floor() would raise
    if rounded == math.floor(rounded) and abs(rounded) < 2**53:
        return int(rounded)
    return rounded


def as_text(value: float | Fraction) -> str:
    return str(as_number(value))
