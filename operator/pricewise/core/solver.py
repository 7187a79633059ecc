"""The placement solver: which pending jobs run now, where, and how wide, at least cost.

Objective, lexicographic: first admit as many jobs of the highest priority as possible, then
of the next, and so on (one CP-SAT objective per contended priority level), then minimise the
total price. CP-SAT decides at pool level (capacity sums, per-shape slot counts, quotas, hard
budgets); every pool's choice is then packed node by node, and a choice that cannot be packed is
cut off and the model solved again, so that every placement returned fits real nodes.

Every coefficient stays inside CP-SAT's 64-bit range for any input the API accepts: money is
counted in a unit large enough that the sum of every candidate's cost fits in 2^60 (one
micro-unit on any real cluster, so costs are exact there), and priorities are never multiplied
into one weighted sum.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from pricewise.core.costmodel import Candidate, candidates
from pricewise.core.explain import Decision, explain
from pricewise.core.greedy import QUOTA_RESOURCES, place_greedily, quota_demand
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


@dataclass(frozen=True)
class Plan:
    """The outcome of one scheduling cycle."""

    decisions: tuple[Decision, ...]
    status: str
    """`optimal`, `feasible` (time limit hit), `greedy` (CP-SAT found nothing better) or `empty`."""
    total_cost: int
    best_bound: int | None
    """Lowest total cost CP-SAT proved possible for the admitted work (micro-units); None when
    nothing was proved (the greedy plan, or a solve cut short before its cost phase)."""
    seconds: float
    rounds: int

    @property
    def placed(self) -> tuple[Decision, ...]:
        """The decisions that place a job."""
        return tuple(d for d in self.decisions if d.chosen is not None)


ChoiceKey = tuple[str, int, str]
"""(job `namespace/name`, index of the option in the job's spec, pool): one choice of one job,
as CP-SAT's variables and the hints between rounds name it."""


def choice_key(candidate: Candidate) -> ChoiceKey:
    """The stable name of a candidate (the cost model keeps one per option and pool)."""
    return (candidate.job.key, candidate.option.index, candidate.pool.name)


def admission_key(chosen: Iterable[Candidate], levels: Sequence[int]) -> tuple[int, ...]:
    """Jobs admitted per priority level, highest level first: compared lexicographically."""
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
    """The CP-SAT model of one round: one boolean per (job, candidate)."""

    def __init__(
        self,
        snapshot: Snapshot,
        options: dict[str, list[Candidate]],
        cuts: list[list[Candidate]],
    ) -> None:
        self.model = cp_model.CpModel()
        self.unit = _unit(sum(c.cost for opts in options.values() for c in opts), MODEL_RANGE)
        """Money unit of the model's cost terms, in micro-units (1 on any real cluster)."""
        self.choice: dict[ChoiceKey, cp_model.IntVar] = {}
        self.candidates: dict[ChoiceKey, Candidate] = {}
        by_job: dict[str, list[cp_model.IntVar]] = {}
        for key, job_options in options.items():
            for cand in job_options:
                var = self.model.new_bool_var(f"{key}@{cand.pool.name}")
                self.choice[choice_key(cand)] = var
                self.candidates[choice_key(cand)] = cand
                by_job.setdefault(key, []).append(var)
        for variables in by_job.values():
            self.model.add_at_most_one(variables)
        self._capacity(snapshot)
        self._quotas(snapshot)
        self._budgets(snapshot)
        for cut in cuts:
            self.model.add(sum(self.choice[choice_key(c)] for c in cut) <= len(cut) - 1)

    def _capacity(self, snapshot: Snapshot) -> None:
        by_pool: dict[str, list[Candidate]] = defaultdict(list)
        for cand in self.candidates.values():
            by_pool[cand.pool.name].append(cand)
        for pool in snapshot.pools:
            chosen = by_pool.get(pool.name, [])
            if not chosen:
                continue
            free = Resources()
            for node in pool.nodes:
                free = free + node.free
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

    def _quotas(self, snapshot: Snapshot) -> None:
        for quota in snapshot.quotas:
            mine = [c for c in self.candidates.values() if c.job.namespace == quota.namespace]
            for resource in QUOTA_RESOURCES:
                if resource not in quota.remaining or not mine:
                    continue
                terms = [(self.choice[choice_key(c)], quota_demand(c)[resource]) for c in mine]
                self.model.add(
                    sum(v * coef for v, coef in terms if coef)
                    <= _in_range(quota.remaining[resource])
                )

    def _budgets(self, snapshot: Snapshot) -> None:
        for budget in snapshot.budgets:
            mine = [c for c in self.candidates.values() if c.job.namespace == budget.namespace]
            if budget.hard and mine:
                # Costs rounded up and what is left rounded down: a budget is never overrun.
                self.model.add(
                    sum(self.choice[choice_key(c)] * -(-c.cost // self.unit) for c in mine)
                    <= _in_range(budget.remaining // self.unit)
                )

    def level(self, priority: int) -> list[ChoiceKey]:
        """The choice keys of the jobs of one priority level."""
        return [k for k in self.choice if self.candidates[k].job.priority == priority]

    def admitted(self, keys: list[ChoiceKey]) -> cp_model.LinearExprT:
        """How many of these choices are taken (each job has at most one)."""
        return sum(self.choice[k] for k in keys)

    def cost(self) -> cp_model.LinearExprT:
        """Total estimated cost of the admitted jobs, in the model's money unit."""
        return sum(v * -(-self.candidates[k].cost // self.unit) for k, v in self.choice.items())

    def admitted_then_cost(self, keys: list[ChoiceKey]) -> cp_model.LinearExprT:
        """Jobs admitted from `keys`, with their cost subtracted as a tie-break: one more job
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
        """Start the search from a known placement (the greedy one, or the previous round's)."""
        self.model.clear_hints()  # type: ignore[no-untyped-call]
        for key, var in self.choice.items():
            self.model.add_hint(var, key in chosen)

    def chosen(self, solver: cp_model.CpSolver) -> list[Candidate]:
        """The candidates the solution picks."""
        return [self.candidates[k] for k, v in self.choice.items() if solver.boolean_value(v)]


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
    """Decide every pending job of the snapshot: a placement, or why it waits."""
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

    placement: dict[str, tuple[Candidate, tuple[str, ...]]] = dict(greedy.placed)
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
            outcome = _solve_round(snapshot, feasible, cuts, levels, hint, settings, remaining_s)
            if outcome is None:
                break
            chosen, round_status, round_bound = outcome
            nodes, failed = _pack_pools(chosen)
            if failed:
                cuts.extend(failed)
                unpacked = {group[0].pool.name for group in failed}
                hint = {choice_key(c) for c in chosen if c.pool.name not in unpacked}
                continue
            if _better(chosen, placement, levels):
                placement = {c.job.key: (c, nodes[c.job.key]) for c in chosen}
                status = round_status
                bound = round_bound
            break
    decisions = explain(snapshot, all_options, placement)
    total = sum(c.cost for c, _ in placement.values())
    return Plan(
        decisions=decisions,
        status=status if feasible else "empty",
        total_cost=total,
        best_bound=0 if not feasible else (None if bound is None else min(bound, total)),
        seconds=time.monotonic() - started,
        rounds=rounds,
    )


def _better(
    chosen: list[Candidate],
    current: dict[str, tuple[Candidate, tuple[str, ...]]],
    levels: Sequence[int],
) -> bool:
    new = admission_key(chosen, levels)
    old = admission_key((c for c, _ in current.values()), levels)
    if new != old:
        return new > old
    return sum(c.cost for c in chosen) <= sum(c.cost for c, _ in current.values())


def _solve_round(
    snapshot: Snapshot,
    feasible: dict[str, list[Candidate]],
    cuts: list[list[Candidate]],
    levels: Sequence[int],
    hint: set[ChoiceKey],
    settings: SolverSettings,
    seconds: float,
) -> tuple[list[Candidate], str, int | None] | None:
    """Solve admission level by level, then cost; None when CP-SAT finds no solution in time."""
    deadline = time.monotonic() + seconds
    model = _Model(snapshot, feasible, cuts)
    model.hint(hint)
    incumbent = [model.candidates[k] for k in hint if k in model.candidates]
    sizes: dict[int, int] = defaultdict(int)
    for key in feasible:
        sizes[feasible[key][0].job.priority] += 1
    fallback: list[Candidate] = []
    for done, level in enumerate(levels):
        keys = model.level(level)
        best = sum(1 for c in incumbent if c.job.priority == level)
        if best < sizes[level]:
            # Contention at this level: the most jobs of it that fit beside the levels above.
            model.model.maximize(model.admitted_then_cost(keys))
            share = (deadline - time.monotonic()) / (len(levels) - done + 1)
            solver = _cp_solver(settings, share)
            result = solver.solve(model.model)
            if result not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                return (fallback, "feasible", None) if fallback else None
            fallback = incumbent = model.chosen(solver)
            best = sum(1 for c in incumbent if c.job.priority == level)
            model.hint({choice_key(c) for c in incumbent})
            model.model.clear_objective()  # type: ignore[no-untyped-call]
        model.model.add(model.admitted(keys) >= best)
    model.model.minimize(model.cost())
    solver = _cp_solver(settings, deadline - time.monotonic())
    solver.parameters.relative_gap_limit = settings.relative_gap
    result = solver.solve(model.model)
    if result not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        # Out of time before any cheaper plan: the admission phase's plan is still valid.
        return (fallback, "feasible", None) if fallback else None
    status = "optimal" if result == cp_model.OPTIMAL else "feasible"
    return model.chosen(solver), status, round(solver.best_objective_bound) * model.unit
