"""The placement solver: which pending jobs run now or later, where, and how wide, at least cost.

Objective, lexicographic: first plan as many jobs of the highest priority as possible (now, or
at a later start where their pool frees: see `lookahead`), keep as many of that level's earlier
promises as possible, then the same for the next level, and so on (one CP-SAT objective per
contended priority level); then minimise the total price; then start as early as that price
allows. CP-SAT decides at pool level (capacity sums, per-shape slot counts, quotas, hard
budgets; capacity over time for later starts); every pool's choice for now is then packed node
by node, and a choice that cannot be packed is cut off and the model solved again, so that
every placement returned fits real nodes. Later starts are plans, checked at pool level only:
they are packed when their time comes, by that cycle's solve.

Every coefficient stays inside CP-SAT's 64-bit range for any input the API accepts: money is
counted in a unit large enough that the sum of every candidate's cost fits in 2^60 (one
micro-unit on any real cluster, so costs are exact there), and priorities are never multiplied
into one weighted sum.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ortools.sat.python import cp_model

from pricewise.core.costmodel import Candidate, candidates
from pricewise.core.explain import Decision, explain
from pricewise.core.greedy import QUOTA_RESOURCES, place_greedily, quota_demand
from pricewise.core.lookahead import (
    LookAhead,
    Reservation,
    duration_units,
    later_starts,
    release_s,
    release_slots,
)
from pricewise.core.packing import Gang, pack
from pricewise.core.snapshot import Node, Resources, Snapshot

MODEL_RANGE = 2**60
"""Largest sum of coefficients of one constraint or objective; CP-SAT refuses a model whose
terms could overflow 2^63."""
TIE_RANGE = 2**40
"""Largest sum of the cost tie-break of one priority level (each job counts for more)."""
CENT = 10_000
"""Micro-units in a cent: the tie-break needs no finer money."""


@dataclass(frozen=True)
class SolverSettings:
    """Limits of one solve. One search worker and a fixed seed keep results reproducible."""

    time_limit_s: float = 10.0
    num_workers: int = 1
    random_seed: int = 0
    max_rounds: int = 5
    relative_gap: float = 0.005
    """Stop once the cost is proved within this fraction of the optimum."""
    look_ahead: LookAhead = field(default_factory=LookAhead)


@dataclass(frozen=True)
class Plan:
    """The outcome of one scheduling cycle."""

    decisions: tuple[Decision, ...]
    status: str
    """`optimal`, `feasible` (time limit hit), `greedy` (CP-SAT found nothing better) or `empty`."""
    total_cost: int
    """Estimated cost of the jobs placed now (micro-units)."""
    best_bound: int | None
    """Lowest cost CP-SAT proved possible for the planned work, now and later (micro-units);
    None when nothing was proved (the greedy plan, or a solve cut short before its cost
    phase)."""
    seconds: float
    rounds: int
    reserved_cost: int = 0
    """Estimated cost of the jobs planned for later (micro-units)."""

    @property
    def placed(self) -> tuple[Decision, ...]:
        """The decisions that place a job."""
        return tuple(d for d in self.decisions if d.chosen is not None)

    @property
    def reserved(self) -> tuple[Decision, ...]:
        """The decisions that plan a job for later."""
        return tuple(d for d in self.decisions if d.reservation is not None)


ChoiceKey = tuple[str, int, str, int]
"""(job `namespace/name`, index of the option in the job's spec, pool, start in seconds from
now, 0 for now): one choice of one job, as CP-SAT's variables and the hints between rounds name
it."""


def choice_key(candidate: Candidate, start_s: int = 0) -> ChoiceKey:
    """The stable name of a candidate started `start_s` from now (the cost model keeps one
    candidate per option and pool)."""
    return (candidate.job.key, candidate.option.index, candidate.pool.name, start_s)


def admission_key(chosen: Iterable[Candidate], levels: Sequence[int]) -> tuple[int, ...]:
    """Jobs planned per priority level, highest level first: compared lexicographically."""
    counts: dict[int, int] = defaultdict(int)
    for cand in chosen:
        counts[cand.job.priority] += 1
    return tuple(counts[level] for level in levels)


def _unit(total: int, most: int, least: int = 1) -> int:
    """The money unit (in micro-units) that brings `total` within `most`."""
    return max(least, -(-total // most))


def _in_range(amount: int) -> int:
    return max(0, min(amount, MODEL_RANGE))


def _slots(nodes: tuple[Node, ...], worker: Resources) -> int:
    return sum(worker.copies_in(n.free) for n in nodes)


class _Model:
    """The CP-SAT model of one round: one boolean per (job, candidate, start)."""

    def __init__(
        self,
        snapshot: Snapshot,
        options: dict[str, list[Candidate]],
        later: dict[str, list[tuple[Candidate, int]]],
        cuts: list[list[Candidate]],
    ) -> None:
        self.model = cp_model.CpModel()
        self.unit = _unit(sum(c.cost for opts in options.values() for c in opts), MODEL_RANGE)
        """Money unit of the model's cost terms, in micro-units (1 on any real cluster)."""
        self.choice: dict[ChoiceKey, cp_model.IntVar] = {}
        self.candidates: dict[ChoiceKey, Candidate] = {}
        by_job: dict[str, list[cp_model.IntVar]] = {}
        for key, job_options in options.items():
            starts = [(c, 0) for c in job_options] + later.get(key, [])
            for cand, start in starts:
                var = self.model.new_bool_var(f"{key}@{cand.pool.name}+{start}")
                self.choice[choice_key(cand, start)] = var
                self.candidates[choice_key(cand, start)] = cand
                by_job.setdefault(key, []).append(var)
        for variables in by_job.values():
            self.model.add_at_most_one(variables)
        self.now = [k for k in self.choice if k[3] == 0]
        self._capacity(snapshot)
        self._over_time(snapshot)
        self._quotas(snapshot)
        self._budgets(snapshot)
        for cut in cuts:
            self.model.add(sum(self.choice[choice_key(c)] for c in cut) <= len(cut) - 1)

    def _capacity(self, snapshot: Snapshot) -> None:
        """What starts now fits the free room now: sums, and workers per shape."""
        by_pool: dict[str, list[Candidate]] = defaultdict(list)
        for key in self.now:
            by_pool[key[2]].append(self.candidates[key])
        for pool in snapshot.pools:
            chosen = by_pool.get(pool.name, [])
            if not chosen:
                continue
            free = _free(pool.nodes)
            for index, limit in enumerate(_fields(free)):
                terms = [(self.choice[choice_key(c)], _fields(c.demand)[index]) for c in chosen]
                if any(coef for _, coef in terms):
                    self.model.add(sum(v * coef for v, coef in terms if coef) <= _in_range(limit))
            by_shape: dict[Resources, list[Candidate]] = defaultdict(list)
            for cand in chosen:
                by_shape[cand.worker].append(cand)
            for shape, group in by_shape.items():
                slots = _in_range(_slots(pool.nodes, shape))
                self.model.add(sum(self.choice[choice_key(c)] * c.workers for c in group) <= slots)

    def _over_time(self, snapshot: Snapshot) -> None:
        """At every instant, what runs on a pool fits what it has free then: one cumulative
        constraint per resource, the running jobs' room held until their releases."""
        by_pool: dict[str, list[ChoiceKey]] = defaultdict(list)
        for key in self.choice:
            by_pool[key[2]].append(key)
        for pool in snapshot.pools:
            keys = by_pool.get(pool.name, [])
            if not any(k[3] for k in keys):
                continue
            intervals = [
                self.model.new_optional_fixed_size_interval_var(
                    k[3], duration_units(self.candidates[k]), self.choice[k], f"run {k}"
                )
                for k in keys
            ]
            demands = [_fields(self.candidates[k].demand) for k in keys]
            total = _free(pool.nodes)
            for release in pool.releases:
                until = release_s(release, snapshot.now)
                intervals.append(self.model.new_fixed_size_interval_var(0, until, "held"))
                demands.append(_fields(release.frees))
                total = total + release.frees
            for index, limit in enumerate(_fields(total)):
                if any(d[index] for d in demands[: len(keys)]):
                    column = [_in_range(d[index]) for d in demands]
                    self.model.add_cumulative(intervals, column, _in_range(limit))

    def _quotas(self, snapshot: Snapshot) -> None:
        """ResourceQuotas count what runs now; a later start is checked when it comes."""
        for quota in snapshot.quotas:
            mine = [k for k in self.now if self.candidates[k].job.namespace == quota.namespace]
            for resource in QUOTA_RESOURCES:
                if resource not in quota.remaining or not mine:
                    continue
                terms = [(self.choice[k], quota_demand(self.candidates[k])[resource]) for k in mine]
                self.model.add(
                    sum(v * coef for v, coef in terms if coef)
                    <= _in_range(quota.remaining[resource])
                )

    def _budgets(self, snapshot: Snapshot) -> None:
        """Hard budgets count every planned job, now or later: the money will be spent."""
        for budget in snapshot.budgets:
            mine = [k for k, c in self.candidates.items() if c.job.namespace == budget.namespace]
            if budget.hard and mine:
                # Costs rounded up and what is left rounded down: a budget is never overrun.
                self.model.add(
                    sum(self.choice[k] * -(-self.candidates[k].cost // self.unit) for k in mine)
                    <= _in_range(budget.remaining // self.unit)
                )

    def level(self, priority: int) -> list[ChoiceKey]:
        """The choice keys of the jobs of one priority level."""
        return [k for k in self.choice if self.candidates[k].job.priority == priority]

    def kept(self, keys: list[ChoiceKey], now: datetime, within_s: float) -> list[ChoiceKey]:
        """The choices among `keys` that keep their job's promised start."""
        out = []
        for k in keys:
            promised = self.candidates[k].job.promised_start
            if promised is not None and k[3] <= (promised - now).total_seconds() + within_s:
                out.append(k)
        return out

    def admitted(self, keys: list[ChoiceKey]) -> cp_model.LinearExprT:
        """How many of these choices are taken (each job has at most one)."""
        return sum(self.choice[k] for k in keys)

    def cost(self, keys: list[ChoiceKey]) -> cp_model.LinearExprT:
        """Estimated cost of these choices when taken, in the model's money unit."""
        return sum(self.choice[k] * -(-self.candidates[k].cost // self.unit) for k in keys)

    def lateness(self, keys: list[ChoiceKey]) -> cp_model.LinearExprT:
        """Minutes from now to the planned starts of these choices: start early."""
        return sum(self.choice[k] * (k[3] // 60) for k in keys if k[3])

    def admitted_then_cost(self, keys: list[ChoiceKey]) -> cp_model.LinearExprT:
        """Jobs planned from `keys`, with their cost subtracted as a tie-break: one more job
        outweighs every cost difference, so the plan handed on is already nearly cheapest."""
        worst: dict[str, int] = defaultdict(int)
        for k in keys:
            cand = self.candidates[k]
            worst[cand.job.key] = max(worst[cand.job.key], cand.cost)
        tie = _unit(sum(worst.values()), TIE_RANGE, CENT)
        scale = sum(cost // tie for cost in worst.values()) + 1
        coefficients = [scale - self.candidates[k].cost // tie for k in keys]
        return cp_model.LinearExpr.weighted_sum([self.choice[k] for k in keys], coefficients)

    def hint(self, chosen: set[ChoiceKey]) -> None:
        """Start the search from a known plan (the greedy one, or the previous round's)."""
        self.model.clear_hints()  # type: ignore[no-untyped-call]
        for key, var in self.choice.items():
            self.model.add_hint(var, key in chosen)

    def chosen(self, solver: cp_model.CpSolver) -> list[ChoiceKey]:
        """The choices the solution takes."""
        return [k for k, v in self.choice.items() if solver.boolean_value(v)]


def _free(nodes: tuple[Node, ...]) -> Resources:
    free = Resources()
    for node in nodes:
        free = free + node.free
    return free


def _fields(r: Resources) -> tuple[int, int, int, int]:
    return (r.cpu, r.memory, r.gpu, r.tpu)


def _cp_solver(settings: SolverSettings, seconds: float) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(seconds, 0.05)
    solver.parameters.num_workers = settings.num_workers
    solver.parameters.random_seed = settings.random_seed
    # The LP relaxation of pool capacities is tight; level 2 lets CP-SAT use it to prove bounds.
    solver.parameters.linearization_level = 2
    return solver


def _pack_pools(
    chosen: list[Candidate],
) -> tuple[dict[str, tuple[str, ...]], list[list[Candidate]]]:
    """Nodes for every chosen candidate, and the per-pool choices that do not pack (as cuts)."""
    by_pool: dict[str, list[Candidate]] = defaultdict(list)
    for cand in chosen:
        by_pool[cand.pool.name].append(cand)
    nodes: dict[str, tuple[str, ...]] = {}
    failed: list[list[Candidate]] = []
    for group in by_pool.values():
        gangs = [Gang(c.job.key, c.worker, c.workers) for c in group]
        placed = pack(group[0].pool.nodes, gangs)
        if placed is None:
            failed.append(group)
        else:
            nodes.update({key: tuple(names) for key, names in placed.items()})
    return nodes, failed


def solve(snapshot: Snapshot, settings: SolverSettings | None = None) -> Plan:
    """Decide every pending job of the snapshot: a placement, a later start, or why it waits."""
    settings = settings or SolverSettings()
    started = time.monotonic()
    all_options = {
        job.key: candidates(job, snapshot.pools, snapshot.now, snapshot.currency)
        for job in snapshot.jobs
    }
    feasible = {k: [c for c in opts if c.feasible] for k, opts in all_options.items()}
    feasible = {k: v for k, v in feasible.items() if v}
    # Smallest jobs first within a priority: the greedy start then admits about as many jobs
    # as the optimum does, which leaves CP-SAT mostly a bound to prove.
    jobs = sorted(
        (j for j in snapshot.jobs if j.key in feasible),
        key=lambda j: (-j.priority, min(c.demand.devices for c in feasible[j.key]), j.key),
    )
    greedy = place_greedily(snapshot, (feasible[j.key] for j in jobs))
    levels = sorted({j.priority for j in jobs}, reverse=True)
    greedy_keys = [choice_key(c) for c, _ in greedy.placed.values()]
    later = _later_starts(snapshot, feasible, settings, greedy_keys, {})
    refined = not later

    placement: dict[str, tuple[Candidate, tuple[str, ...]]] = dict(greedy.placed)
    reserved: dict[str, Reservation] = {}
    status, rounds = "greedy", 0
    bound: int | None = None
    cuts: list[list[Candidate]] = []
    if feasible:
        hint = {choice_key(c) for c, _ in greedy.placed.values()}
        while rounds < settings.max_rounds:
            rounds += 1
            # A margin of the limit is kept for packing and explaining the result.
            remaining_s = 0.85 * settings.time_limit_s - (time.monotonic() - started)
            if remaining_s <= 0:
                break
            problem = _Model(snapshot, feasible, later, cuts)
            outcome = _solve_round(problem, snapshot, levels, hint, settings, remaining_s)
            if outcome is None:
                break
            keys, round_status, round_bound = outcome
            chosen = [problem.candidates[k] for k in keys if k[3] == 0]
            nodes, failed = _pack_pools(chosen)
            if failed:
                cuts.extend(failed)
                unpacked = {group[0].pool.name for group in failed}
                hint = {k for k in keys if k[3] or k[2] not in unpacked}
                continue
            planned = [problem.candidates[k] for k in keys]
            if not refined and time.monotonic() - started < 0.4 * settings.time_limit_s:
                # Once: the ends of what this plan starts become starts for what waits.
                refined = True
                more = _later_starts(snapshot, feasible, settings, keys, problem.candidates)
                if more != later:
                    later, hint = more, set(keys)
                    rounds -= 1
                    continue
            if _better(planned, [*placement.values()], levels):
                placement = {c.job.key: (c, nodes[c.job.key]) for c in chosen}
                reserved = {
                    k[0]: Reservation(problem.candidates[k], snapshot.now + timedelta(seconds=k[3]))
                    for k in keys
                    if k[3]
                }
                status = round_status
                bound = round_bound
            break
    decisions = explain(snapshot, all_options, placement, reserved)
    total = sum(c.cost for c, _ in placement.values())
    later_total = sum(r.candidate.cost for r in reserved.values())
    return Plan(
        decisions=decisions,
        status=status if feasible else "empty",
        total_cost=total,
        best_bound=0
        if not feasible
        else (None if bound is None else min(bound, total + later_total)),
        seconds=time.monotonic() - started,
        rounds=rounds,
        reserved_cost=later_total,
    )


def _later_starts(
    snapshot: Snapshot,
    feasible: dict[str, list[Candidate]],
    settings: SolverSettings,
    planned: list[ChoiceKey],
    known: dict[ChoiceKey, Candidate],
) -> dict[str, list[tuple[Candidate, int]]]:
    """Each job's later starts, given the choices of a plan (whose ends are slots too)."""
    look = settings.look_ahead
    if not look.enabled:
        return {}
    by_key = {choice_key(c): c for cands in feasible.values() for c in cands}
    ends: dict[str, list[int]] = defaultdict(list)
    for key in planned:
        cand = known.get(key) or by_key[(*key[:3], 0)]
        ends[key[2]].append(key[3] + duration_units(cand))
    slots = {p.name: release_slots(p, snapshot.now, look, ends[p.name]) for p in snapshot.pools}
    return {k: later_starts(v, slots, snapshot.now, look) for k, v in feasible.items()}


def _better(
    planned: list[Candidate],
    current: list[tuple[Candidate, tuple[str, ...]]],
    levels: Sequence[int],
) -> bool:
    new = admission_key(planned, levels)
    old = admission_key((c for c, _ in current), levels)
    if new != old:
        return new > old
    return sum(c.cost for c in planned) <= sum(c.cost for c, _ in current)


def _solve_round(
    model: _Model,
    snapshot: Snapshot,
    levels: Sequence[int],
    hint: set[ChoiceKey],
    settings: SolverSettings,
    seconds: float,
) -> tuple[list[ChoiceKey], str, int | None] | None:
    """Solve in phases, each bounding the next. First, per level from the highest, the most
    jobs planned. Then, per level from the highest, the least cost, the most promises kept
    and the earliest starts: a higher priority is placed as cheaply and as early as it can be
    before a lower one's price, promises or timing count, so it may take a lower priority's
    reservation; within a level, promises are kept where price allows. None when CP-SAT
    finds nothing in time."""
    deadline = time.monotonic() + seconds
    incumbent = [k for k in hint if k in model.choice]
    sizes: dict[int, int] = defaultdict(int)
    for priority in {k[0]: c.job.priority for k, c in model.candidates.items()}.values():
        sizes[priority] += 1
    phases, status, bound = 0, "optimal", 0

    def run(objective: cp_model.LinearExprT, maximize: bool, gap: float = 0.0) -> int | None:
        """One phase from the incumbent: its objective value, or None when out of time."""
        nonlocal incumbent, phases, status, bound
        model.hint(set(incumbent))
        model.model.clear_objective()  # type: ignore[no-untyped-call]
        if maximize:
            model.model.maximize(objective)
        else:
            model.model.minimize(objective)
        solver = _cp_solver(settings, (deadline - time.monotonic()) / 2)
        solver.parameters.relative_gap_limit = gap
        result = solver.solve(model.model)
        if result not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        phases += 1
        incumbent = model.chosen(solver)
        if gap:
            bound += round(solver.best_objective_bound) * model.unit
            status = status if result == cp_model.OPTIMAL else "feasible"
        return round(solver.objective_value)

    for level in levels:
        keys = model.level(level)
        # Contention at this level: the most jobs of it that fit beside the levels above.
        contended = len(set(incumbent) & set(keys)) < sizes[level]
        if contended and run(model.admitted_then_cost(keys), maximize=True) is None:
            return (incumbent, "feasible", None) if phases else None
        model.model.add(model.admitted(keys) >= len(set(incumbent) & set(keys)))
    for level in levels:
        keys = model.level(level)
        cost = run(model.cost(keys), maximize=False, gap=settings.relative_gap)
        if cost is None:
            # Out of time before any cheaper plan: the plan so far is still valid.
            return incumbent, "feasible", None
        model.model.add(model.cost(keys) <= cost)
        kept = model.kept(keys, snapshot.now, settings.look_ahead.keep_within_s)
        broken = len(set(incumbent) & set(kept)) < len({k[0] for k in kept})
        if broken and run(model.admitted(kept), maximize=True) is None:
            return incumbent, "feasible", None
        if kept:
            model.model.add(model.admitted(kept) >= len(set(incumbent) & set(kept)))
        later = [k for k in keys if k[3]]
        if set(incumbent) & set(later):
            # As early as that allows: a reservation that could start sooner should.
            start = run(model.lateness(later), maximize=False)
            if start is None:
                return incumbent, "feasible", None
            model.model.add(model.lateness(later) <= start)
    return incumbent, status, bound
