"""The placement model in CP-SAT: one variable per class choice (a Boolean for a job alone, a
count for a class of copies), the model's rows as linear constraints, and the phases' objectives
solved one at a time from the incumbent (see `phases.solve_in_phases`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence, Set
from typing import Protocol

from ortools.sat.python import cp_model

from pricewise.core.classes import ChoiceKey
from pricewise.core.model import Linear, PlacementModel
from pricewise.core.relaxation import Floor

SAFETY = 20.0
"""With a `WorkClock`, the limits in seconds are only nets against a stalled machine: CP-SAT's
is this many times its deterministic limit, and GLOP's (which has no deterministic limit) this
many times the cycle's."""


class Backend(Protocol):
    """What the phases need of a model: CP-SAT's (`CpSat`) or the relaxation's."""

    def optimise(
        self,
        objective: Linear,
        maximize: bool,
        seconds: float,
        gap: float,
        work: float | None = None,
        tolerance: float = 0.0,
        enough: float | None = None,
    ) -> tuple[float, float] | None:
        """The objective's value and proved bound, or None when nothing is found in time.
        The search stops within `gap` (relative) or `tolerance` (absolute) of the bound, or at
        a value as good as `enough` (one proved elsewhere to be good enough: within the gap of
        a relaxation's bound, or at its count of jobs); `work` bounds
        it by CP-SAT's deterministic time, besides `seconds`."""

    def require(self, objective: Linear, at_least: bool, value: float) -> None:
        """Bound the objective for the phases that follow."""

    def value(self, objective: Linear) -> float:
        """The objective at the last solution."""

    def taken(self) -> Counter[ChoiceKey]:
        """The jobs the last solution takes whole, per choice."""

    def floor(self) -> Floor | None:
        """The last optimum as a lower bound for plans that meet the required rows otherwise,
        where the backend proves one (the relaxation, by duality; not CP-SAT)."""


class WorkClock:
    """A clock that reads the deterministic time CP-SAT has spent (about seconds on a typical
    machine, but the same on any machine and under any load) and nothing else: limits read on
    it cut the same solves at the same point in every run, so plans are reproducible. The
    simulator's mode; the operator bounds its cycles in seconds, on `time.monotonic`."""

    def __init__(self) -> None:
        self.spent = 0.0

    def __call__(self) -> float:
        return self.spent


class CpSat:
    """The placement model for CP-SAT, less the jobs fixed beforehand: those are taken, and
    their use taken off every row; a class whose jobs are all fixed has no choice left. Only
    the `allowed` choices may be taken (None: all). With a `WorkClock`, time limits are
    deterministic time, and each solve's is added to it."""

    def __init__(
        self,
        model: PlacementModel,
        fixed: Counter[ChoiceKey],
        hint: list[ChoiceKey],
        workers: int = 1,
        seed: int = 0,
        clock: WorkClock | None = None,
        allowed: Set[ChoiceKey] | None = None,
    ) -> None:
        self.workers, self.seed, self.clock = workers, seed, clock
        self.fixed = fixed
        self.left = left = model.unfixed(fixed)
        self.rows = list(model.rows)
        """The model's rows and the upper bounds that phases required: what a plan must keep."""
        self.rows_of = row_index(self.rows)
        """Per choice, the rows it is in."""
        self.floors: list[tuple[Linear, int]] = []
        """The lower bounds that phases required."""
        self.choice = {
            k: left[k[0]]
            for k in model.candidates
            if left[k[0]] and (allowed is None or k in allowed)
        }
        """The choices CP-SAT may take, each with its class's jobs left."""
        self._groups = model.groups
        self.priority = {
            name: model.candidates[keys[0]].job.priority for name, keys in model.groups.items()
        }
        """Each class's priority."""
        self._base = len(self.rows)
        """How many of `rows` are the model's own."""
        self._required: list[tuple[Linear, bool, int]] = []
        """The bounds phases required, in order: the CP-SAT model is built with them."""
        self._cp: tuple[cp_model.CpModel, dict[ChoiceKey, cp_model.IntVar]] | None = None
        self.incumbent = feasible_part(
            self.rows, self.rows_of, fixed, left, [k for k in hint if k in self.choice]
        )
        # Built backwards, so that a choice's first place is written last.
        self.rank = dict(zip(reversed(hint), range(len(hint) - 1, -1, -1), strict=True))
        """Each choice's first place in the hint: the order a job's other choices are tried."""

    def _built(self) -> tuple[cp_model.CpModel, dict[ChoiceKey, cp_model.IntVar]]:
        """The CP-SAT model, built at its first solve: beside a relaxation whose rounding
        reaches every bound, no phase solves, and building it was 0.035 s of a 1.1 s cycle
        (1,000 jobs over 20 pools)."""
        if self._cp is not None:
            return self._cp
        cp = cp_model.CpModel()
        # A job alone is a Boolean: CP-SAT's clause learning works on those, not on integers
        # (pricewise-now on 1,000 distinct jobs: 1.1 s against 4.9 s).
        var = {
            k: cp.new_bool_var("") if n == 1 else cp.new_int_var(0, n, "")
            for k, n in self.choice.items()
        }
        for name, keys in self._groups.items():
            mine = [var[k] for k in keys if k in var]
            if self.left[name] == 1:
                cp.add_at_most_one(mine)
            elif self.left[name]:
                cp.add(sum(mine) <= self.left[name])
        # What the fixed jobs use of each row, read from the fixed choices (a few of a row's).
        used = row_use(self.rows, self.rows_of, self.fixed)
        base = self._base
        for (terms, bound), fixed_use in zip(self.rows[:base], used[:base], strict=True):
            keys = [k for k in terms if k in var]
            if keys:
                expr = cp_model.LinearExpr.weighted_sum(
                    [var[k] for k in keys], [terms[k] for k in keys]
                )
                cp.add(expr <= bound - fixed_use)
        self._cp = cp, var
        for objective, at_least, value in self._required:
            self._bound(objective, at_least, value)
        return self._cp

    def _bound(self, objective: Linear, at_least: bool, value: int) -> None:
        cp, _ = self._built()
        expr, constant = self._expr(objective)
        cp.add(expr >= value - constant if at_least else expr <= value - constant)

    def _expr(self, objective: Linear) -> tuple[cp_model.LinearExprT, int]:
        _, var = self._built()
        keys = [k for k in objective if k in var]
        expr = cp_model.LinearExpr.weighted_sum(
            [var[k] for k in keys], [objective[k] for k in keys]
        )
        fixed = self.fixed
        if len(fixed) < len(objective):  # the same sum, over the shorter of the two
            return expr, sum(objective[k] * n for k, n in fixed.items() if k in objective)
        return expr, sum(coef * fixed[k] for k, coef in objective.items() if k in fixed)

    def optimise(
        self,
        objective: Linear,
        maximize: bool,
        seconds: float,
        gap: float,
        work: float | None = None,
        tolerance: float = 0.0,
        enough: float | None = None,
    ) -> tuple[float, float] | None:
        """One CP-SAT solve from the incumbent."""
        cp, var = self._built()
        cp.clear_hints()  # type: ignore[no-untyped-call]
        # The hint's lists extended at once: `add_hint` a variable at a time took 0.2 s a
        # phase on 30,000 choices.
        hint = cp.proto.solution_hint
        hint.vars.extend(v.index for v in var.values())
        hint.values.extend(self.incumbent[key] for key in var)
        expr, constant = self._expr(objective)
        if maximize:
            cp.maximize(expr)
        else:
            cp.minimize(expr)
        solver = cp_solver(self.workers, self.seed, seconds)
        solver.parameters.relative_gap_limit = gap
        if self.clock is not None:
            budget = max(seconds, 0.05)
            # Only a safety net in seconds: the deterministic limit ends the solve first.
            solver.parameters.max_time_in_seconds = SAFETY * budget
            work = budget if work is None else min(budget, work)
        if work is not None:
            solver.parameters.max_deterministic_time = work
        # The gap is relative to the whole objective, fixed part included.
        solver.parameters.absolute_gap_limit = max(tolerance, gap * abs(constant))
        # CP-SAT's own bound on a large model lags far behind its plans: on 1,000 jobs over 20
        # pools the cost phase's first plan was within 0.52 % of the relaxation's bound after
        # 0.27 s, and CP-SAT went on for 1.1 s to prove its own gap.
        stop = None if enough is None else _StopAt(enough - constant, maximize)
        status = solver.solve(cp, stop)
        if self.clock is not None:
            self.clock.spent += solver.response_proto.deterministic_time
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        found = Counter({k: n for k, v in var.items() if (n := solver.value(v))})
        self.incumbent = self._merged(found, objective)
        value = solver.objective_value + constant
        bound = solver.best_objective_bound + constant
        return value, bound

    def require(self, objective: Linear, at_least: bool, value: float) -> None:
        """Bound the objective for the phases that follow."""
        self._required.append((objective, at_least, round(value)))
        if self._cp is not None:
            self._bound(objective, at_least, round(value))
        if at_least:
            self.floors.append((objective, round(value)))
        else:
            for key in objective:
                self.rows_of[key].append(len(self.rows))
            self.rows.append((objective, round(value)))

    def _merged(self, found: Counter[ChoiceKey], objective: Linear) -> Counter[ChoiceKey]:
        """A solve's plan, moved back to the previous plan where the objective reads nothing.

        CP-SAT sets what the objective does not read as it likes: its presolve fixes it to 0,
        or moves it anywhere a required count allows. Kept as found, a lower level's admission
        phase would start from nothing (1,000 jobs over 20 pools: 2 of the 365 jobs that the
        relaxation's plan had), and a higher level's cost phase would scramble the lower
        levels' priced choices (there, 1,435 USD dearer). So each job outside the objective
        takes its previous choice back wherever every row still holds, one job at a time; if
        that breaks a required count or promise, the solve's plan stands as found."""
        rows, rows_of = self.rows, self.rows_of
        used = row_use(rows, rows_of, found + self.fixed)
        plan = Counter(found)
        back = self.incumbent - found
        away = found - self.incumbent
        spare: dict[str, list[ChoiceKey]] = defaultdict(list)
        for key in away.elements():
            if key not in objective:
                spare[key[0]].append(key)
        waiting = [k for k in back.elements() if k not in objective]
        # A job moves back once another has made room for it: pass again while any moved.
        while waiting:
            left = []
            for key in waiting:
                out = spare[key[0]].pop() if spare[key[0]] else None
                if out is None and self._full(plan, key[0]):
                    continue
                change = Counter({i: rows[i][0][key] for i in rows_of[key]})
                if out is not None:
                    change.subtract({i: rows[i][0][out] for i in rows_of[out]})
                if all(used[i] + d <= rows[i][1] for i, d in change.items()):
                    for i, d in change.items():
                        used[i] += d
                    plan[key] += 1
                    if out is not None:
                        plan[out] -= 1
                else:
                    if out is not None:
                        spare[key[0]].append(out)
                    left.append(key)
            if len(left) == len(waiting):
                break
            waiting = left
        # A job whose previous choice no longer fits takes another its class has room for, in
        # the hint's order, where the objective reads nothing either: 1,000 jobs over 100 pools
        # lost 122 of the relaxation's jobs to a higher level's cheaper choices, and the next
        # phase, cut short, never placed them again.
        for key in waiting:
            if self._full(plan, key[0]):
                continue
            for alt in self._ranked(self._groups[key[0]]):
                if alt not in objective and take(rows, rows_of, used, alt):
                    plan[alt] += 1
                    break
        plan = +plan
        return plan if self._keeps_floors(plan) else found

    def short(self) -> list[str]:
        """The classes with jobs that neither the incumbent nor the fixed choices place."""
        plan = self.incumbent
        return [name for name in self._groups if self.left[name] and not self._full(plan, name)]

    def completed(self, order: Sequence[str]) -> Counter[ChoiceKey]:
        """The incumbent with the jobs it leaves out of the classes in `order` placed, in that
        order: each on the first of its choices (in the hint's order) that has room, else on
        the first that has room once placed jobs of its pool move to other choices of their
        own, else once jobs of a lower priority that cannot move leave the plan (those are then
        placed again where they can be, last: priority is strict, so a phase would take their
        room too), else once one placed job moves to where another moved out of its way.
        Every job of `order`'s priority or above that was placed stays placed, so the counts
        phases required still hold; any other lower bound they required (overdue jobs started
        now) is checked, and where it breaks the incumbent is returned as it is.

        An LP rounding misses a few jobs the relaxation placed (1,000 jobs over 20 pools: 3 of
        998), and CP-SAT took a second or more to find room for them (10,000 jobs over 20 pools:
        3.2 s for 4 jobs); these moves find it in 0.01-0.05 s (0.25 s over 100 pools)."""
        rows, rows_of = self.rows, self.rows_of
        plan = Counter(self.incumbent)
        used = row_use(rows, rows_of, plan + self.fixed)
        # Only a job on the same pool can make room on its capacity rows.
        on_pool: defaultdict[str, set[ChoiceKey]] = defaultdict(set)
        for key in plan:
            on_pool[key[2]].add(key)
        # A job may find room once another has moved: pass again while any was placed.
        left, placed = list(order), True
        while left and placed:
            waiting: list[str] = []
            evicted: list[str] = []
            placed = False
            for name in left:
                mine = self._ranked(self._groups[name])
                while not self._full(plan, name):
                    free = next((k for k in mine if take(rows, rows_of, used, k)), None)
                    if free is not None:
                        plan[free] += 1
                        on_pool[free[2]].add(free)
                    elif not any(
                        self._swap_in(plan, used, on_pool, k, evict, evicted)
                        for evict in (False, True)
                        for k in mine
                    ) and not any(self._chain_in(plan, used, on_pool, k) for k in mine):
                        waiting.append(name)
                        break
                    placed = True
            # Evicted classes once each, in the order they were evicted among equal
            # priorities: a set's order is its strings' hashes', another in every process.
            left = waiting + sorted(dict.fromkeys(evicted), key=lambda name: -self.priority[name])
        return +plan if self._keeps_floors(plan) else Counter(self.incumbent)

    def _keeps_floors(self, plan: Counter[ChoiceKey]) -> bool:
        """Whether `plan`, with the fixed choices, meets every lower bound phases required."""
        taken = plan + self.fixed
        return all(sum(c * taken[k] for k, c in terms.items()) >= n for terms, n in self.floors)

    def _swap_in(
        self,
        plan: Counter[ChoiceKey],
        used: list[int],
        on_pool: defaultdict[str, set[ChoiceKey]],
        key: ChoiceKey,
        evict: bool,
        evicted: list[str],
    ) -> bool:
        """Take one job of `key` into `plan` (and `used`, `on_pool`) if it fits once placed
        jobs of its pool move to other choices of their own, one after another while it does
        not, and with `evict` once those of a lower priority that cannot move leave the plan
        (their classes added to `evicted`); whether it did (if not, nothing moved). One mover
        was not always enough: on 1,000 jobs over 20 pools a job of priority 10 and 8 GPUs
        needed the room of several smaller ones, and CP-SAT then spent about a second finding
        it."""
        rows, rows_of = self.rows, self.rows_of
        mine = rows_of.get(key, ())
        _add(rows, rows_of, used, key, 1)
        moves: list[tuple[ChoiceKey, ChoiceKey | None]] = []
        for mover in sorted(k for k in on_pool[key[2]] if k[0] != key[0]):
            over = [i for i in mine if used[i] > rows[i][1]]
            if not over:
                break
            if not plan[mover]:
                continue  # its jobs have moved already (`_chain_in` moves one before this)
            if not any(rows[i][0].get(mover, 0) for i in over):
                continue  # moving it makes no room where room is short
            _add(rows, rows_of, used, mover, -1)
            others = (k for k in self._ranked(self._groups[mover[0]]) if k != mover)
            to = next((k for k in others if take(rows, rows_of, used, k)), None)
            if to is not None or (evict and self.priority[mover[0]] < self.priority[key[0]]):
                moves.append((mover, to))
            else:
                _add(rows, rows_of, used, mover, 1)
        if any(used[i] > rows[i][1] for i in mine):
            for mover, to in moves:
                if to is not None:
                    _add(rows, rows_of, used, to, -1)
                _add(rows, rows_of, used, mover, 1)
            _add(rows, rows_of, used, key, -1)
            return False
        for mover, to in moves:
            plan[mover] -= 1
            if not plan[mover]:
                on_pool[mover[2]].discard(mover)
            if to is None:
                evicted.append(mover[0])
            else:
                plan[to] += 1
                on_pool[to[2]].add(to)
        plan[key] += 1
        on_pool[key[2]].add(key)
        return True

    def _chain_in(
        self,
        plan: Counter[ChoiceKey],
        used: list[int],
        on_pool: defaultdict[str, set[ChoiceKey]],
        key: ChoiceKey,
    ) -> bool:
        """Take one job of `key` into `plan` (and `used`, `on_pool`) in the room of one placed
        job of its pool that moves to another of its choices once a third job moves out of
        that one's way (`_swap_in`); whether it did (if not, nothing moved)."""
        rows, rows_of = self.rows, self.rows_of
        over = {i: used[i] + rows[i][0][key] - rows[i][1] for i in rows_of.get(key, ())}
        over = {i: excess for i, excess in over.items() if excess > 0}
        for mover in sorted(k for k in on_pool[key[2]] if k[0] != key[0]):
            if any(rows[i][0].get(mover, 0) < excess for i, excess in over.items()):
                continue  # moving it would not make room enough
            # Room enough now: the mover's use covers what the job lacks on each of its rows.
            _add(rows, rows_of, used, mover, -1)
            _add(rows, rows_of, used, key, 1)
            plan[mover] -= 1
            others = [k for k in self._ranked(self._groups[mover[0]]) if k != mover]
            if any(self._swap_in(plan, used, on_pool, k, False, []) for k in others):
                if not plan[mover]:
                    on_pool[mover[2]].discard(mover)
                plan[key] += 1
                on_pool[key[2]].add(key)
                return True
            plan[mover] += 1
            _add(rows, rows_of, used, key, -1)
            _add(rows, rows_of, used, mover, 1)
        return False

    def _ranked(self, keys: list[ChoiceKey]) -> list[ChoiceKey]:
        """The choices among `keys` that CP-SAT has, in the hint's order (the rest after)."""
        last = len(self.rank)
        return sorted(
            (k for k in keys if k in self.choice), key=lambda k: (self.rank.get(k, last), k)
        )

    def _full(self, plan: Counter[ChoiceKey], name: str) -> bool:
        """Whether the plan takes every job the class `name` has left."""
        return sum(plan[k] for k in self._groups[name]) >= self.left[name]

    def value(self, objective: Linear) -> float:
        """The objective at the incumbent."""
        taken = self.taken()
        return sum(c * taken[k] for k, c in objective.items() if k in taken)

    def taken(self) -> Counter[ChoiceKey]:
        """The incumbent's choices and the fixed ones."""
        return self.incumbent + self.fixed

    def floor(self) -> Floor | None:
        """None: CP-SAT's bounds hold for its own required rows only."""
        return None


class _StopAt(cp_model.CpSolverSolutionCallback):
    """Stops the search at the first solution whose objective is as good as `target`."""

    def __init__(self, target: float, maximize: bool) -> None:
        super().__init__()
        self.target, self.maximize = target, maximize

    def on_solution_callback(self) -> None:
        """Called by CP-SAT at each improving solution."""
        value = self.objective_value
        if value >= self.target if self.maximize else value <= self.target:
            self.stop_search()


def cp_solver(workers: int, seed: int, seconds: float) -> cp_model.CpSolver:
    """A CP-SAT solver with these search workers and seed, stopped after `seconds`."""
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(seconds, 0.05)
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    # The LP relaxation of pool capacities is tight; level 2 lets CP-SAT use it to prove bounds.
    solver.parameters.linearization_level = 2
    # Its own SIGINT handler only ended the search: Ctrl-C on `pricewise plan` printed the plan
    # of a cut-short solve, as if nothing had happened, and exited 0.
    solver.parameters.catch_sigint_signal = False
    return solver


def row_index(rows: Sequence[tuple[Linear, int]]) -> defaultdict[ChoiceKey, list[int]]:
    """Per choice, the indexes of the rows it is in."""
    rows_of: defaultdict[ChoiceKey, list[int]] = defaultdict(list)
    for index, (terms, _) in enumerate(rows):
        for key in terms:
            rows_of[key].append(index)
    return rows_of


def row_use(
    rows: Sequence[tuple[Linear, int]],
    rows_of: Mapping[ChoiceKey, list[int]],
    taken: Mapping[ChoiceKey, int],
) -> list[int]:
    """What the `taken` choices use of each row (read from the choices: a row of a pool's
    capacity has every choice of the pool, most of them not taken)."""
    used = [0] * len(rows)
    for key, count in taken.items():
        for i in rows_of.get(key, ()):
            used[i] += rows[i][0][key] * count
    return used


def feasible_part(
    rows: Sequence[tuple[Linear, int]],
    rows_of: Mapping[ChoiceKey, list[int]],
    fixed: Counter[ChoiceKey],
    unfixed: Mapping[str, int],
    hint: list[ChoiceKey],
) -> Counter[ChoiceKey]:
    """The hint's choices in order, each one job of its class, as long as the class has jobs
    left (`unfixed`) and every row still holds beside the fixed ones: the phases start from a
    plan that is really feasible (a greedy hint may not be once choices are fixed or cuts
    added)."""
    used = row_use(rows, rows_of, fixed)
    left = dict(unfixed)
    taken: Counter[ChoiceKey] = Counter()
    for key in hint:
        if left[key[0]] and take(rows, rows_of, used, key):
            taken[key] += 1
            left[key[0]] -= 1
    return taken


def _add(
    rows: Sequence[tuple[Linear, int]],
    rows_of: Mapping[ChoiceKey, list[int]],
    used: list[int],
    key: ChoiceKey,
    count: int,
) -> None:
    for i in rows_of.get(key, ()):
        used[i] += rows[i][0][key] * count


def take(
    rows: Sequence[tuple[Linear, int]],
    rows_of: Mapping[ChoiceKey, list[int]],
    used: list[int],
    key: ChoiceKey,
) -> bool:
    """Add one job of the choice to `used` if every row still holds then; whether it did."""
    if any(used[i] + rows[i][0][key] > rows[i][1] for i in rows_of.get(key, ())):
        return False
    _add(rows, rows_of, used, key, 1)
    return True
