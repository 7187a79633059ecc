"""The placement model in CP-SAT: one variable per class choice (a Boolean for a job alone, a
count for a class of copies), the model's rows as linear constraints, and the phases' objectives
solved one at a time from the incumbent (see `solver._phases`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Protocol

from ortools.sat.python import cp_model

from pricewise.core.classes import ChoiceKey
from pricewise.core.model import Linear, PlacementModel


class Backend(Protocol):
    """What the phases need of a model: CP-SAT's (`CpSat`) or the relaxation's."""

    def optimise(
        self,
        objective: Linear,
        maximize: bool,
        seconds: float,
        gap: float,
        work: float | None = None,
    ) -> tuple[float, float] | None:
        """The objective's value and proved bound, or None when nothing is found in time.
        `work` bounds the search by CP-SAT's deterministic time, besides `seconds`."""

    def require(self, objective: Linear, at_least: bool, value: float) -> None:
        """Bound the objective for the phases that follow."""

    def value(self, objective: Linear) -> float:
        """The objective at the last solution."""

    def taken(self) -> Counter[ChoiceKey]:
        """The jobs the last solution takes whole, per choice."""


class CpSat:
    """The placement model for CP-SAT, less the jobs fixed beforehand: those are taken, and
    their use taken off every row; a class whose jobs are all fixed has no choice left."""

    def __init__(
        self,
        model: PlacementModel,
        fixed: Counter[ChoiceKey],
        hint: list[ChoiceKey],
        workers: int = 1,
        seed: int = 0,
    ) -> None:
        self.cp = cp_model.CpModel()
        self.workers, self.seed = workers, seed
        self.fixed = fixed
        self.left = left = model.unfixed(fixed)
        self.rows = list(model.rows)
        """The model's rows and the upper bounds that phases required: what a plan must keep."""
        # A job alone is a Boolean: CP-SAT's clause learning works on those, not on integers
        # (pricewise-now on 1,000 distinct jobs: 1.1 s against 4.9 s).
        self.choice = {
            k: self.cp.new_bool_var("")
            if left[k[0]] == 1
            else self.cp.new_int_var(0, left[k[0]], "")
            for k in model.candidates
            if left[k[0]]
        }
        for name, keys in model.groups.items():
            if left[name] == 1:
                self.cp.add_at_most_one(self.choice[k] for k in keys)
            elif left[name]:
                self.cp.add(sum(self.choice[k] for k in keys) <= left[name])
        for terms, bound in model.rows:
            used = sum(coef * fixed[k] for k, coef in terms.items() if k in fixed)
            expr, _ = self._expr(terms)
            if any(k in self.choice for k in terms):
                self.cp.add(expr <= bound - used)
        self.incumbent = feasible_part(
            self.rows, fixed, left, [k for k in hint if k in self.choice]
        )

    def _expr(self, objective: Linear) -> tuple[cp_model.LinearExprT, int]:
        keys = [k for k in objective if k in self.choice]
        expr = cp_model.LinearExpr.weighted_sum(
            [self.choice[k] for k in keys], [objective[k] for k in keys]
        )
        return expr, sum(coef * self.fixed[k] for k, coef in objective.items() if k in self.fixed)

    def optimise(
        self,
        objective: Linear,
        maximize: bool,
        seconds: float,
        gap: float,
        work: float | None = None,
    ) -> tuple[float, float] | None:
        """One CP-SAT solve from the incumbent."""
        self.cp.clear_hints()  # type: ignore[no-untyped-call]
        for key, var in self.choice.items():
            self.cp.add_hint(var, self.incumbent[key])
        expr, constant = self._expr(objective)
        if maximize:
            self.cp.maximize(expr)
        else:
            self.cp.minimize(expr)
        solver = cp_solver(self.workers, self.seed, seconds)
        solver.parameters.relative_gap_limit = gap
        if work is not None:
            solver.parameters.max_deterministic_time = work
        # The gap is relative to the whole objective, fixed part included.
        solver.parameters.absolute_gap_limit = gap * abs(constant)
        if solver.solve(self.cp) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        found = Counter({k: n for k, v in self.choice.items() if (n := solver.value(v))})
        # CP-SAT sets what the objective does not read as it likes (its presolve fixes it to 0):
        # the previous plan's choices outside the objective that still fit are kept, so that a
        # lower level's phase starts from the relaxation's or the greedy plan, not from nothing
        # (1,000 jobs over 20 pools: its hint then held 350 of the 365 jobs instead of 2).
        kept = [k for k in self.incumbent.elements() if k not in objective]
        self.incumbent = feasible_part(self.rows, self.fixed, self.left, [*found.elements(), *kept])
        value = solver.objective_value + constant
        bound = solver.best_objective_bound + constant
        return value, bound

    def require(self, objective: Linear, at_least: bool, value: float) -> None:
        """Bound the objective for the phases that follow."""
        expr, constant = self._expr(objective)
        if at_least:
            self.cp.add(expr >= round(value) - constant)
        else:
            self.cp.add(expr <= round(value) - constant)
            self.rows.append((objective, round(value)))

    def value(self, objective: Linear) -> float:
        """The objective at the incumbent."""
        taken = self.taken()
        return sum(c * taken[k] for k, c in objective.items() if k in taken)

    def taken(self) -> Counter[ChoiceKey]:
        """The incumbent's choices and the fixed ones."""
        return self.incumbent + self.fixed


def cp_solver(workers: int, seed: int, seconds: float) -> cp_model.CpSolver:
    """A CP-SAT solver with these search workers and seed, stopped after `seconds`."""
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(seconds, 0.05)
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    # The LP relaxation of pool capacities is tight; level 2 lets CP-SAT use it to prove bounds.
    solver.parameters.linearization_level = 2
    return solver


def feasible_part(
    rows: Sequence[tuple[Linear, int]],
    fixed: Counter[ChoiceKey],
    unfixed: Mapping[str, int],
    hint: list[ChoiceKey],
) -> Counter[ChoiceKey]:
    """The hint's choices in order, each one job of its class, as long as the class has jobs
    left (`unfixed`) and every row still holds beside the fixed ones: the phases start from a
    plan that is really feasible (a greedy hint may not be once choices are fixed or cuts
    added)."""
    rows_of: dict[ChoiceKey, list[int]] = defaultdict(list)
    for index, (terms, _) in enumerate(rows):
        for key in terms:
            rows_of[key].append(index)
    used = [sum(c * fixed[k] for k, c in terms.items() if k in fixed) for terms, _ in rows]
    left = dict(unfixed)
    taken: Counter[ChoiceKey] = Counter()
    for key in hint:
        mine = rows_of[key]
        if left[key[0]] and all(used[i] + rows[i][0][key] <= rows[i][1] for i in mine):
            for i in mine:
                used[i] += rows[i][0][key]
            taken[key] += 1
            left[key[0]] -= 1
    return taken
