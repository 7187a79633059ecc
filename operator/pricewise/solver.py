"""The placement solver: which pending jobs run now, where, and how wide, at least cost.

Objective, lexicographic: first place as much priority-weighted work as possible (every job of
a higher priority outweighs all jobs below it), then minimise the total price. CP-SAT decides
at pool level (capacity sums, per-shape slot counts, quotas, hard budgets); every pool's choice
is then packed node by node, and a choice that cannot be packed is cut off and the model solved
again, so that every placement returned fits real nodes.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from ortools.sat.python import cp_model

from pricewise.costmodel import Candidate, candidates
from pricewise.explain import Decision, explain
from pricewise.greedy import QUOTA_RESOURCES, place_greedily, quota_demand
from pricewise.packing import Gang, pack
from pricewise.snapshot import Job, Node, Resources, Snapshot

WEIGHT_LIMIT = 2**40
"""Largest total admission weight kept strict; beyond it priorities weigh linearly."""


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


def priority_weights(jobs: list[Job]) -> dict[str, int]:
    """Weights such that one job of a priority outweighs all jobs of lower priorities."""
    counts: dict[int, int] = defaultdict(int)
    for job in jobs:
        counts[job.priority] += 1
    level_weight: dict[int, int] = {}
    below = 0
    for priority in sorted(counts):
        level_weight[priority] = below + 1
        below += counts[priority] * level_weight[priority]
    if below > WEIGHT_LIMIT:
        ranks = {p: i + 1 for i, p in enumerate(sorted(counts))}
        return {job.key: ranks[job.priority] for job in jobs}
    return {job.key: level_weight[job.priority] for job in jobs}


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
        self.choice: dict[int, cp_model.IntVar] = {}
        self.candidates: dict[int, Candidate] = {}
        by_job: dict[str, list[cp_model.IntVar]] = {}
        for key, job_options in options.items():
            for cand in job_options:
                var = self.model.new_bool_var(f"{key}@{cand.pool.name}")
                self.choice[id(cand)] = var
                self.candidates[id(cand)] = cand
                by_job.setdefault(key, []).append(var)
        for variables in by_job.values():
            self.model.add_at_most_one(variables)
        self._capacity(snapshot)
        self._quotas(snapshot)
        self._budgets(snapshot)
        for cut in cuts:
            self.model.add(sum(self.choice[id(c)] for c in cut) <= len(cut) - 1)

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
                terms = [(self.choice[id(c)], _fields(c.demand)[index]) for c in chosen]
                if any(coef for _, coef in terms):
                    self.model.add(sum(v * coef for v, coef in terms if coef) <= limit)
            by_shape: dict[Resources, list[Candidate]] = defaultdict(list)
            for cand in chosen:
                by_shape[cand.worker].append(cand)
            for shape, group in by_shape.items():
                slots = _slots(pool.nodes, shape)
                self.model.add(sum(self.choice[id(c)] * c.workers for c in group) <= slots)

    def _quotas(self, snapshot: Snapshot) -> None:
        for quota in snapshot.quotas:
            mine = [c for c in self.candidates.values() if c.job.namespace == quota.namespace]
            for resource in QUOTA_RESOURCES:
                if resource not in quota.remaining or not mine:
                    continue
                terms = [(self.choice[id(c)], quota_demand(c)[resource]) for c in mine]
                self.model.add(
                    sum(v * coef for v, coef in terms if coef) <= max(quota.remaining[resource], 0)
                )

    def _budgets(self, snapshot: Snapshot) -> None:
        for budget in snapshot.budgets:
            mine = [c for c in self.candidates.values() if c.job.namespace == budget.namespace]
            if budget.hard and mine:
                self.model.add(
                    sum(self.choice[id(c)] * c.cost for c in mine) <= max(budget.remaining, 0)
                )

    def admission(self, weights: dict[str, int]) -> cp_model.LinearExprT:
        """Priority-weighted count of admitted jobs."""
        return sum(v * weights[self.candidates[k].job.key] for k, v in self.choice.items())

    def cost(self) -> cp_model.LinearExprT:
        """Total estimated cost of the admitted jobs."""
        return sum(v * self.candidates[k].cost for k, v in self.choice.items())

    def admission_then_cost(self, weights: dict[str, int], scale: int) -> cp_model.LinearExprT:
        """Admission, with the cost in cents subtracted as a tie-break: `scale` exceeds any
        total cost in cents, so one unit of admission outweighs every cost difference."""
        keys = list(self.choice)
        coefficients = [
            weights[self.candidates[k].job.key] * scale - self.candidates[k].cost // 10_000
            for k in keys
        ]
        return cp_model.LinearExpr.weighted_sum([self.choice[k] for k in keys], coefficients)

    def hint(self, chosen: set[int]) -> None:
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
    weights = priority_weights(list(snapshot.jobs))

    placement: dict[str, tuple[Candidate, tuple[str, ...]]] = dict(greedy.placed)
    status, rounds = "greedy", 0
    bound: int | None = None
    cuts: list[list[Candidate]] = []
    if feasible:
        hint = {id(c) for c, _ in greedy.placed.values()}
        while rounds < settings.max_rounds:
            rounds += 1
            # A margin of the limit is kept for packing and explaining the result.
            remaining_s = 0.85 * settings.time_limit_s - (time.monotonic() - started)
            if remaining_s <= 0:
                break
            outcome = _solve_round(snapshot, feasible, cuts, weights, hint, settings, remaining_s)
            if outcome is None:
                break
            chosen, round_status, round_bound = outcome
            nodes, failed = _pack_pools(chosen)
            if failed:
                cuts.extend(failed)
                hint = {
                    id(c) for c in chosen if c.pool.name not in {g[0].pool.name for g in failed}
                }
                continue
            if _better(chosen, placement, weights):
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
    weights: dict[str, int],
) -> bool:
    new_weight = sum(weights[c.job.key] for c in chosen)
    old_weight = sum(weights[key] for key in current)
    if new_weight != old_weight:
        return new_weight > old_weight
    return sum(c.cost for c in chosen) <= sum(c.cost for c, _ in current.values())


def _solve_round(
    snapshot: Snapshot,
    feasible: dict[str, list[Candidate]],
    cuts: list[list[Candidate]],
    weights: dict[str, int],
    hint: set[int],
    settings: SolverSettings,
    seconds: float,
) -> tuple[list[Candidate], str, int | None] | None:
    """Solve admission then cost; None when CP-SAT finds no solution in time."""
    deadline = time.monotonic() + seconds
    model = _Model(snapshot, feasible, cuts)
    model.hint(hint)
    upper = sum(weights[key] for key in feasible)
    hinted_weight = sum(weights[model.candidates[k].job.key] for k in hint if k in model.candidates)
    fallback: list[Candidate] = []
    if hinted_weight < upper:
        # Contention: first find the most priority-weighted work that can be admitted. Cost in
        # cents breaks ties here (one admission unit outweighs any total cost), so that the
        # plan handed to the cost phase is already nearly the cheapest.
        scale = sum(max(c.cost for c in opts) for opts in feasible.values()) // 10_000 + 1
        model.model.maximize(model.admission_then_cost(weights, scale))
        solver = _cp_solver(settings, (deadline - time.monotonic()) / 2)
        result = solver.solve(model.model)
        if result not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        fallback = model.chosen(solver)
        best = sum(weights[c.job.key] for c in fallback)
        model.hint({id(c) for c in fallback})
        model.model.clear_objective()  # type: ignore[no-untyped-call]
    else:
        best = upper
    model.model.add(model.admission(weights) >= best)
    model.model.minimize(model.cost())
    solver = _cp_solver(settings, deadline - time.monotonic())
    solver.parameters.relative_gap_limit = settings.relative_gap
    result = solver.solve(model.model)
    if result not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        # Out of time before any cheaper plan: the admission phase's plan is still valid.
        return (fallback, "feasible", None) if fallback else None
    status = "optimal" if result == cp_model.OPTIMAL else "feasible"
    return model.chosen(solver), status, round(solver.best_objective_bound)
