"""The LP relaxation of the placement model (GLOP): a proved bound, and the choices to fix.

Large models are slow for CP-SAT as a whole (1,000 jobs over 20 pools: 7,600 choices, seconds
to prove the admission alone), yet their relaxation is nearly whole: a basic optimal solution
has at most as many fractional variables as it has binding rows (pools x resources x start
instants, quotas, budgets), so on that snapshot the relaxation, solved phase by phase like the
real model in a quarter of a second, takes 879 jobs' choices whole and leaves 14 fractional.
The whole ones are fixed and CP-SAT decides the rest; rows only have non-negative coefficients,
so the fixed part never makes the rest infeasible. The relaxation minimises the total cost in
one phase (see `phases.solve_in_phases`), so its cost is a bound on the total cost of any plan that
admits as many jobs per level: the bound the solver reports when it fixes, moved by duality
(`Floor`) to the rows the plan meets otherwise (fewer jobs admitted, say). Its count of a level
likewise bounds CP-SAT's, while the levels above admit as many and no overdue job is started
first (`phases.solve_in_phases`).

One GLOP solver serves every phase, each starting from the last one's basis: on 1,000 jobs
over 20 pools the phases took 0.72 s in all against 0.94 s solved from scratch, and building the
model as one proto 0.13 s against 0.44 s a term at a time.

Fixing gives up the proof of optimality (a whole value of the relaxation need not be the
integer optimum); small models, where CP-SAT proves it alone, are never fixed.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import repeat
from operator import mul

from ortools.linear_solver import linear_solver_pb2, pywraplp

from pricewise.core.classes import ChoiceKey
from pricewise.core.model import Linear, PlacementModel
from pricewise.core.snapshot import Resources

WHOLE = 1e-4
"""How far from 1 a relaxed choice may be and still count as taken; well above what `SLACK`
lets a phase give back (a count of thousands of jobs, 10^-7 of it)."""
FREE_ROOM = 2
"""How many times the split jobs' demand is left free on their pools. Three times let
pricewise-now find all 886 jobs of 1,000 over 20 pools where twice found 885; with every choice
ranked after CP-SAT's starting plan (`ranked`), twice plans the look-ahead's 998 jobs of that
snapshot within 0.44 % of the bound in 4.4-4.9 s, where three times took 6.7-7.0 s to reach
0.73 %, and 938 of 1,000 over 100 pools where three times planned 914."""
SHORTLIST = 4
"""How many choices of each job CP-SAT is given besides the ones the relaxation uses, where
the whole ones leave it more than it solves whole: those that would add least to the
relaxation's optimum (least reduced cost). On 1,000 jobs over 100 pools, with every choice
(25,690 once the whole ones are fixed) CP-SAT's lower level found no plan in its time: 938 jobs
planned, 73 % over the duality bound. With four (3,217 choices), 980-983 jobs within 8-12 %;
with eight, 951 jobs and no bound. On 300 jobs over 5 pools (2,415 choices left) four cost
4.8 % more than every choice."""
SLACK = 1e-7
"""Relative slack of a phase's bound on the next: GLOP's own tolerances are about as large."""
WARM = "use_preprocessing: false"
"""GLOP's parameters: presolve off, so that each phase starts from the last one's basis."""
PRICING = f"{WARM} use_dual_simplex: true perturb_costs_in_dual_simplex: true"
"""The same for the first phase that minimises (the cost, after the counts), by the dual simplex
with its costs perturbed: the counts' optimum is far from the cheapest (2,800 primal pivots on
1,000 jobs over 20 pools), and GLOP's relaxation took 0.41 s in all instead of 0.62 s there,
the same plan within 0.01 %; over 100 pools 0.92-1.18 s against 1.00-1.07 s. The phases after
it start near their optimum, where the primal simplex is quicker."""


@dataclass(frozen=True)
class Floor:
    """A relaxed optimum and how it moves with the bounds of the rows the phases required
    (their duals): by LP duality, no plan costs less than `at` its own values of those rows.
    A plan that admits fewer jobs than the relaxation (CP-SAT cut short) is then still
    bounded, without solving the relaxation again (1.3 s on 1,000 jobs over 100 pools, past
    what was left of the cycle)."""

    value: float
    marginals: tuple[tuple[Linear, float, float], ...]
    """Per required row: its terms, its bound, and the optimum's change per unit of it."""
    reduced: Mapping[ChoiceKey, float]
    """Per choice, its reduced cost: what taking one more of it would add to the optimum."""

    def at(self, taken: Mapping[ChoiceKey, float]) -> float:
        """A lower bound on the objective of the plan `taken` (counts per choice)."""
        moved = 0.0
        for terms, bound, marginal in self.marginals:
            if marginal:
                moved += marginal * (sum(c * taken.get(k, 0) for k, c in terms.items()) - bound)
        return self.value + moved


class Relaxation:
    """The placement model with every choice in [0, its class's size], optimised phase by
    phase. Its time limits are at least `least_s`: GLOP's plan does not depend on the machine
    unless a limit cuts it, and a deterministic solve (`cpsat.WorkClock`) must not be cut by a
    busy machine (nor skipped by one: see `optimise`)."""

    def __init__(self, model: PlacementModel, least_s: float = 0.0) -> None:
        self.model = model
        self.least_s = least_s
        self.keys = list(model.candidates)
        self.index = {k: i for i, k in enumerate(self.keys)}
        # Built as one model proto: a term at a time through the solver's API took three times
        # as long (0.3 s on 1,000 jobs over 20 pools).
        proto = linear_solver_pb2.MPModelProto()
        size = model.size
        for key in self.keys:
            proto.variable.add(lower_bound=0.0, upper_bound=size[key[0]])
        for name, keys in model.groups.items():
            self._row(proto, dict.fromkeys(keys, 1), -math.inf, size[name])
        for terms, bound in model.rows:
            self._row(proto, terms, -math.inf, bound)
        self.lp = pywraplp.Solver.CreateSolver("GLOP")
        if error := self.lp.LoadModelFromProto(proto):
            raise ValueError(f"the relaxation's model is invalid: {error}")
        self.lp.SetSolverSpecificParametersAsString(WARM)
        self.variables = self.lp.variables()
        self.values: dict[ChoiceKey, float] = {}
        self.required: list[tuple[int, Linear, float]] = []
        """The rows `require` added (the phases' bounds): index, terms and scale."""
        self._pending: list[tuple[Linear, bool, float]] = []
        """The bounds `require` asked for, not yet rows."""
        self._last: tuple[linear_solver_pb2.MPSolutionResponse, float, int] | None = None
        """The last optimum, its scale and how many required rows it had: its `floor` is read
        only where a phase asks for it (the cost phase), not after every phase."""
        self.took = 0.0
        """Seconds the last phase took to solve."""
        self._priced = False
        """Whether a phase has minimised yet (see `PRICING`)."""

    def _row(
        self, proto: linear_solver_pb2.MPModelProto, terms: Linear, lower: float, upper: float
    ) -> None:
        row = proto.constraint.add(lower_bound=lower, upper_bound=upper)
        row.var_index.extend(list(map(self.index.__getitem__, terms)))
        # As floats: the proto converts a list of ints to its doubles twice as slowly.
        row.coefficient.extend(list(map(float, terms.values())))

    @staticmethod
    def _scale(objective: Linear) -> float:
        """Costs in micro-units reach 10^9 and more: GLOP stays stable when an objective, and
        the row that later bounds it, are divided by their largest coefficient."""
        return float(max((abs(c) for c in objective.values()), default=1) or 1)

    def optimise(
        self,
        objective: Linear,
        maximize: bool,
        seconds: float,
        gap: float = 0.0,
        work: float | None = None,
        tolerance: float = 0.0,
        enough: float | None = None,
    ) -> tuple[float, float] | None:
        """The relaxed optimum of `objective`, twice (it is its own bound), or None when GLOP
        does not prove one in time. `gap`, `work`, `tolerance` and `enough` are unused: the
        relaxation is solved exactly.

        Each phase starts from the last one's basis (GLOP keeps it between solves of one
        solver; presolve would lose it): what a phase adds is a row its start already meets
        and a new objective."""
        if not self.least_s and seconds < self.took:
            # A phase may take as long as the last one even from its basis (a cost phase after
            # the count phases: 2,800 pivots on 1,000 jobs over 20 pools): with less time it
            # may not finish (there, solved from scratch, an earliest-start phase given 0.3 s
            # after a cost phase of 0.7 s ran out of time).
            return None
        self._add_required()
        scale = self._scale(objective)
        goal = self.lp.Objective()
        goal.Clear()
        for key, coef in objective.items():
            goal.SetCoefficient(self.variables[self.index[key]], coef / scale)
        goal.SetOptimizationDirection(maximize)
        self.lp.SetTimeLimit(math.ceil(1000 * max(seconds, 0.05, self.least_s)))
        pricing = not maximize and not self._priced
        if pricing:
            self.lp.SetSolverSpecificParametersAsString(PRICING)
        started = time.monotonic()
        solved = self.lp.Solve()
        if pricing:
            self._priced = True
            self.lp.SetSolverSpecificParametersAsString(WARM)
        if solved != pywraplp.Solver.OPTIMAL:
            return None
        self.took = time.monotonic() - started
        # One read of all values, duals and reduced costs: one call a variable was a tenth of
        # a second on 20,000.
        found = linear_solver_pb2.MPSolutionResponse()
        self.lp.FillSolutionResponseProto(found)
        self.values = dict(zip(self.keys, found.variable_value, strict=True))
        value = found.objective_value * scale
        self._last = (found, scale, len(self.required))
        return value, value

    def require(self, objective: Linear, at_least: bool, value: float) -> None:
        """Keep the next phases within `value` of this objective (with GLOP's slack). The row
        is added when the next phase solves: after the last phase none does (its row of
        12,000 terms was a hundredth of a second on 1,000 jobs over 20 pools)."""
        self._pending.append((objective, at_least, value))

    def _add_required(self) -> None:
        """The rows `require` asked for since the last phase."""
        inf = self.lp.infinity()
        for objective, at_least, value in self._pending:
            scale = self._scale(objective)
            room = SLACK * max(1.0, abs(value))
            if at_least:
                row = self.lp.RowConstraint((value - room) / scale, inf, "")
            else:
                row = self.lp.RowConstraint(-inf, (value + room) / scale, "")
            for key, coef in objective.items():
                row.SetCoefficient(self.variables[self.index[key]], coef / scale)
            self.required.append((row.index(), objective, scale))
        self._pending.clear()

    def floor(self) -> Floor | None:
        """The last optimum, as a bound for plans that meet the required rows otherwise (see
        `Floor`); None before any."""
        if self._last is None:
            return None
        found, scale, rows = self._last
        constraints = self.lp.constraints()
        marginals = []
        for index, terms, row_scale in self.required[:rows]:
            row = constraints[index]
            bound = row.lb() if math.isfinite(row.lb()) else row.ub()
            # A dual is the optimum's change per unit of its row's bound, both scaled.
            dual = found.dual_value[index] * scale / row_scale
            marginals.append((terms, bound * row_scale, dual))
        reduced = dict(zip(self.keys, found.reduced_cost, strict=True))
        return Floor(found.objective_value * scale, tuple(marginals), reduced)

    def value(self, objective: Linear) -> float:
        """The objective at the last optimum."""
        # The same products summed in the same order, without a generator frame per term.
        found = map(self.values.get, objective, repeat(0.0))
        total: float = sum(map(mul, objective.values(), found))
        return total

    def taken(self) -> Counter[ChoiceKey]:
        """The jobs the last optimum takes whole, per choice."""
        return self.whole()

    def whole(self) -> Counter[ChoiceKey]:
        """The jobs the last optimum takes whole, per choice."""
        # Only values that round to a job or more (most are 0): floor(v + WHOLE) > 0 then.
        return Counter({k: math.floor(v + WHOLE) for k, v in self.values.items() if v + WHOLE >= 1})

    def ranked(self) -> list[ChoiceKey]:
        """Every choice, the most taken by the last optimum first, then the cheapest: where a
        job that a plan's first choices leave out may still go. On 1,000 jobs over 100 pools,
        the whole choices and the greedy plan kept 938 of the relaxation's 989 jobs, CP-SAT's
        phases ran out of time, and 809 were planned; with these after them, 914."""
        cost = self.model.candidates
        # Sorted as tuples built in one pass (no key function called per choice): each key is
        # unique, so the order is the same.
        values = self.values
        taken = [-values.get(k, 0.0) for k in cost]
        prices = [c.cost for c in cost.values()]
        return [k for _, _, k in sorted(zip(taken, prices, cost, strict=True))]

    def shortlist(self, floor: Floor | None, per_class: int = SHORTLIST) -> set[ChoiceKey]:
        """Per class, the choices the last optimum uses and the `per_class` others that would
        add least to the `floor`'s (the cost phase's: reduced cost, then cost): where a whole
        plan near it is found. The bound still holds for every choice. Without a floor (the
        cost phase cut short), the cheapest others: on 1,000 jobs over 100 pools, with every
        choice (22,580) CP-SAT planned 922 jobs, with these 980."""
        cost = self.model.candidates
        reduced = {} if floor is None else floor.reduced
        out: set[ChoiceKey] = set()
        for keys in self.model.groups.values():
            used = [k for k in keys if self.values.get(k, 0.0) > WHOLE]
            rest = sorted(
                (k for k in keys if self.values.get(k, 0.0) <= WHOLE),
                key=lambda k: (abs(reduced.get(k, 0.0)), cost[k].cost, k),
            )
            out.update(used, rest[:per_class])
        return out

    def to_fix(self) -> Counter[ChoiceKey]:
        """The whole jobs to fix, per choice. A fractional job is split over pools its whole
        neighbours have filled; fixing them all can leave it no room (a higher-priority job
        too), so on each pool it is split over, the neighbours of the lowest priority and then
        the highest cost are left to CP-SAT until they hold `FREE_ROOM` times the room the
        split jobs need there."""
        candidates = self.model.candidates
        need: dict[str, Resources] = defaultdict(Resources)
        for key, v in self.values.items():
            if v - math.floor(v + WHOLE) > WHOLE:
                need[key[2]] = need[key[2]] + candidates[key].demand
        fixed = self.whole()
        self._within_rows(fixed)
        for pool, room in need.items():
            mine = [k for k in fixed if k[2] == pool]
            mine.sort(key=lambda k: (candidates[k].job.priority, -candidates[k].cost, k))
            freed = Resources()
            for key in mine:
                while fixed[key] and not room.times(FREE_ROOM).fits_in(freed):
                    fixed[key] -= 1
                    freed = freed + candidates[key].demand
        return +fixed

    def _within_rows(self, fixed: Counter[ChoiceKey]) -> None:
        """Take out of `fixed` the jobs a row has no room for. Counting a value up to `WHOLE`
        below a job as that job can overrun a row the optimum meets with less to spare: a hard
        budget of three jobs' cost, each job a micro-unit dearer than a third (found by
        hypothesis: a plan over its budget). The rounded-up jobs go first, then those of the
        lowest priority; rows only have non-negative coefficients, so taking jobs out never
        breaks another."""
        up = {k for k, n in fixed.items() if n > self.values[k]}
        if not up:
            return
        candidates = self.model.candidates
        for terms, bound in self.model.rows:
            if up.isdisjoint(terms):
                continue
            mine = [k for k in terms if k in fixed]
            use = sum(terms[k] * fixed[k] for k in mine)
            if use <= bound:
                continue
            mine.sort(key=lambda k: (k not in up, candidates[k].job.priority, k))
            for key in mine:
                while use > bound and fixed[key]:
                    fixed[key] -= 1
                    use -= terms[key]
