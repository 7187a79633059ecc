"""Property tests: on small random clusters every plan is valid and as good as brute force.

The brute force shares nothing with the solver but the snapshot types: it enumerates every
option, pool and width itself, prices each from the README's formula (`validate.reference_cost`,
not `costmodel`), applies every constraint itself, and tries every combination.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from dataclasses import dataclass, replace
from datetime import timedelta
from fractions import Fraction
from random import Random
from typing import Any
from unittest import mock

from factory import NOW, snapshot
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st

from pricewise.core import cpsat, solver
from pricewise.core.classes import ChoiceKey
from pricewise.core.costmodel import candidates
from pricewise.core.lookahead import LookAhead
from pricewise.core.model import implied, steepest
from pricewise.core.settings import SolverSettings
from pricewise.core.snapshot import (
    GPU,
    BudgetView,
    Job,
    JobOption,
    Node,
    Pool,
    PoolPrices,
    Quota,
    Release,
    Resources,
    Snapshot,
)
from pricewise.core.solver import Plan, solve
from pricewise.core.units import to_micros
from pricewise.core.validate import reference_cost, violations

ACCELERATORS = ("nvidia-l4", "nvidia-h100")
EXAMPLES = int(os.environ.get("PRICEWISE_EXAMPLES", "150"))


@st.composite
def pools(draw: st.DrawFn) -> list[Pool]:
    """One or two pools per accelerator (at different prices, maybe spot), with CPU, GiB and
    node prices sometimes, and nodes whose CPU or memory may bind before their GPUs."""
    found = []
    for accel in ACCELERATORS[: draw(st.integers(1, 2))]:
        for k in range(draw(st.integers(1, 2))):
            nodes = []
            for n in range(draw(st.integers(1, 3))):
                size = Resources(
                    cpu=draw(st.sampled_from([16_000, 96_000])),
                    memory=draw(st.sampled_from([64, 1024])) * 1024,
                    gpu=8,
                )
                used = Resources(gpu=draw(st.sampled_from([0, 4, 6, 8])))
                nodes.append(Node(f"{accel}-{k}-{n}", size, size - used))
            prices = PoolPrices(
                per_device_hour=to_micros(draw(st.sampled_from([1.0, 2.5, 4.0]))),
                per_cpu_hour=to_micros(draw(st.sampled_from([0.0, 0.05]))),
                per_gib_hour=to_micros(draw(st.sampled_from([0.0, 0.01]))),
                per_node_hour=to_micros(draw(st.sampled_from([0.0, 0.0, 5.0]))),
            )
            spot = k == 1 and draw(st.booleans())
            found.append(
                Pool(f"{accel}-{k}", accel, "spot" if spot else "on-demand", prices,
                     tuple(nodes), order=len(found))
            )  # fmt: skip
    return found


@st.composite
def jobs(draw: st.DrawFn, accelerators: list[str]) -> list[Job]:
    """Jobs over every field the cost model reads."""
    found = []
    for j in range(draw(st.integers(1, 4))):
        options = tuple(
            JobOption(
                accel,
                devices := draw(st.sampled_from([1, 2, 4, 8])),
                Resources(
                    cpu=draw(st.sampled_from([4_000, 8_000, 24_000])),
                    memory=draw(st.sampled_from([16, 64])) * 1024,
                    gpu=devices,
                ),
                draw(st.sampled_from([500.0, 1000.0, 3000.0])),
            )
            for accel in draw(
                st.lists(st.sampled_from(accelerators), min_size=1, max_size=2, unique=True)
            )
        )
        # Widths of 3 and more: at 1 and 2 workers e^log2(r) and e^(r-1) agree.
        low = draw(st.sampled_from([1, 1, 2, 3]))
        deadline = draw(st.sampled_from([None, 1.0, 3.0]))
        found.append(
            Job(
                namespace=draw(st.sampled_from(["team-a", "team-b"])),
                name=f"j{j}",
                options=options,
                work=3_600_000.0,
                min_workers=low,
                max_workers=low + draw(st.integers(0, 2)),
                scaling_efficiency=draw(st.sampled_from([1.0, 0.9, 0.6])),
                deadline=None if deadline is None else NOW + timedelta(hours=deadline),
                max_duration_s=draw(st.sampled_from([None, 1800.0, 7200.0])),
                min_throughput=draw(st.sampled_from([None, None, 1500.0])),
                max_cost=draw(st.sampled_from([None, None, to_micros(10), to_micros(40)])),
                value=draw(st.sampled_from([None, None, to_micros(20)])),
                priority=draw(st.integers(0, 1)),
                allow_spot=draw(st.booleans()),
            )
        )
    # Copies of a job (a sweep) are solved as one class: counts, served oldest first.
    for k in range(draw(st.integers(0, 4 - len(found)))):
        original = draw(st.sampled_from(found))
        found.append(replace(original, name=f"{original.name}-copy{k}"))
        event("copies of one job")
    return found


@st.composite
def clusters(draw: st.DrawFn) -> Snapshot:
    found_pools = draw(pools())
    found_jobs = draw(jobs(sorted({p.accelerator for p in found_pools})))
    quotas = []
    if draw(st.booleans()):
        resource = draw(st.sampled_from([GPU, "cpu", "memory", "pods"]))
        amount = {GPU: [4, 8, 12], "cpu": [16_000, 48_000], "memory": [65_536, 200_000],
                  "pods": [1, 2, 3]}[resource]  # fmt: skip
        quotas.append(Quota("team-a", "q", {resource: draw(st.sampled_from(amount))}))
    budgets = []
    if draw(st.integers(0, 2)):
        limit, spent, committed = (
            to_micros(draw(st.sampled_from(v))) for v in ([8, 15, 40], [0, 3], [0, 3])
        )
        hard = draw(st.sampled_from([True, True, False]))
        budgets.append(BudgetView("team-b", "b", limit, spent, committed, hard=hard))
    return snapshot(found_pools, found_jobs, quotas, budgets)


@dataclass(frozen=True)
class Choice:
    """One way to run one job, as the brute force sees it."""

    job: Job
    option: JobOption
    pool: Pool
    workers: int
    cost: int

    @property
    def demand(self) -> Resources:
        return self.option.worker.times(self.workers)


def ways(job: Job, snap: Snapshot) -> list[Choice]:
    """Every option, pool and width the job's own constraints allow."""
    found = []
    for option in job.options:
        for pool in snap.pools:
            if pool.accelerator != option.accelerator or (pool.is_spot and not job.allow_spot):
                continue
            if not any(option.worker.fits_in(n.allocatable) for n in pool.nodes):
                continue
            for workers in range(job.min_workers, job.max_workers + 1):
                seconds, cost = reference_cost(job, option, pool, workers)
                speed = job.work / seconds
                if job.deadline and NOW + timedelta(seconds=seconds) > job.deadline:
                    continue
                if job.max_duration_s is not None and seconds > job.max_duration_s:
                    continue
                if job.min_throughput is not None and speed < job.min_throughput:
                    continue
                if any(c is not None and round(cost) > c for c in (job.max_cost, job.value)):
                    continue
                found.append(Choice(job, option, pool, workers, round(cost)))
    return found


def _fits(snap: Snapshot, chosen: list[Choice]) -> bool:
    """Exact node-level check by trying every node for every worker."""
    workers = [(c.pool.name, c.option.worker) for c in chosen for _ in range(c.workers)]
    free = {n.name: n.free for p in snap.pools for n in p.nodes}
    pool_nodes = {p.name: [n.name for n in p.nodes] for p in snap.pools}

    def place(i: int) -> bool:
        if i == len(workers):
            return True
        pool_name, need = workers[i]
        for node in pool_nodes[pool_name]:
            if need.fits_in(free[node]):
                free[node] = free[node] - need
                if place(i + 1):
                    return True
                free[node] = free[node] + need
        return False

    return place(0)


def _allowed(snap: Snapshot, chosen: list[Choice]) -> bool:
    spend: Counter[str] = Counter()
    use: dict[str, Counter[str]] = {}
    for c in chosen:
        spend[c.job.namespace] += c.cost
        mine = use.setdefault(c.job.namespace, Counter())
        mine.update({GPU: c.demand.gpu, "cpu": c.demand.cpu, "memory": c.demand.memory,
                     "pods": c.workers})  # fmt: skip
    for quota in snap.quotas:
        mine = use.get(quota.namespace, Counter())
        if any(mine[r] > left for r, left in quota.remaining.items()):
            return False
    if any(b.hard and spend[b.namespace] > b.remaining for b in snap.budgets):
        return False
    return _fits(snap, chosen)


def brute_force(snap: Snapshot) -> tuple[int, ...]:
    """The best plan's rank: per priority level, highest first, the jobs placed and then the
    least cost (negated), before the next level's: priority is strict."""
    per_job = [[None, *ways(j, snap)] for j in snap.jobs]
    levels = sorted({j.priority for j in snap.jobs}, reverse=True)
    best: tuple[int, ...] | None = None
    for combo in itertools.product(*per_job):
        chosen = [c for c in combo if c is not None]
        rank = _rank(chosen, levels)
        if best is not None and rank <= best:
            continue  # cannot beat the best: skip the expensive checks
        if _allowed(snap, chosen):
            best = rank
    assert best is not None
    return best


def _rank(chosen: list[Choice], levels: list[int]) -> tuple[int, ...]:
    """Per level, highest first: jobs placed, then cost negated."""
    out: list[int] = []
    for level in levels:
        mine = [c for c in chosen if c.job.priority == level]
        out += [len(mine), -sum(c.cost for c in mine)]
    return tuple(out)


def _steer(snap: Snapshot, plan_reasons: list[str], widths: list[int]) -> None:
    """Report and steer toward the rare branches."""
    for reason in plan_reasons:
        event(f"reason: {reason}")
    multi = sum(1 for w in widths if w > 1)
    if multi:
        event("a multi-worker placement")
    target(float(multi), label="multi-worker placements")
    target(float(len(set(plan_reasons))), label="distinct reasons")
    held = sum(1 for r in plan_reasons if r in ("BudgetExceeded", "QuotaExceeded"))
    target(float(held), label="held back by a budget or quota")
    if any(p.is_spot for p in snap.pools):
        event("a spot pool")
    if any(b.spent or b.committed for b in snap.budgets):
        event("a budget with spent or committed")


NOW_ONLY = SolverSettings(look_ahead=LookAhead(enabled=False))


@st.composite
def busy_clusters(draw: st.DrawFn) -> Snapshot:
    """A cluster whose running jobs free room at drawn times, some jobs promised a start."""
    snap = draw(clusters())
    busy = []
    for p in snap.pools:
        shape = p.node_shape
        releases = []
        for _ in range(draw(st.integers(0, 3))):
            minutes, share = draw(st.integers(0, 600)), draw(st.sampled_from([1, 2, 4]))
            frees = Resources(shape.cpu // share, shape.memory // share, shape.gpu // share,
                              shape.tpu // share)  # fmt: skip
            # On a node, on one that has left the pool (cordoned, say), or (an operator that
            # does not know where) on none said.
            nodes = [*(n.name for n in p.nodes), "gone"]
            where = draw(st.sampled_from([(), *(((n, frees),) for n in nodes)]))
            releases.append(Release(NOW + timedelta(minutes=minutes), frees, where))
        busy.append(replace(p, releases=tuple(releases)))
    promised = st.one_of(st.none(), st.integers(1, 600).map(lambda m: NOW + timedelta(minutes=m)))
    jobs = [replace(j, promised_start=draw(promised)) for j in snap.jobs]
    return replace(snap, pools=tuple(busy), jobs=tuple(jobs))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(busy_clusters())
def test_plans_over_time_never_overbook_and_keep_deadlines(snap: Snapshot) -> None:
    # The validator checks every pool at every planned start, every reservation against its
    # deadline and the room its nodes have then, and that no job is both placed and reserved.
    left_out: list[Job] = []
    pack_later = solver._pack_later

    def recorded(snapshot: Snapshot, choices: Any, keys: Any, *rest: Any) -> Any:
        packed, moved = pack_later(snapshot, choices, keys, *rest)
        left_out.extend(choices[k].job for k, to in moved.items() if to is None)
        return packed, moved

    with mock.patch.object(solver, "_pack_later", recorded):
        plan = solve(snap)
    assert violations(snap, plan) == []
    look = LookAhead()
    for d in plan.reserved:
        assert d.reservation is not None and d.chosen is None
        cand, start = d.reservation.candidate, d.reservation.start
        if d.job.deadline is not None:
            margin = timedelta(seconds=cand.duration_s * (1 + look.margin))
            assert start + margin <= d.job.deadline + timedelta(seconds=1)
    # Planning over time never plans fewer jobs of a level than deciding only now places, but
    # for a later start that fits its pool's sums and none of its nodes: it is left out, and
    # its job planned again by the next cycle (`solver._pack_later`). Solved again at once
    # instead, it cost the contended replay (benchmarks/README.md) 383-434 USD and 10-15
    # deadlines.
    levels = sorted({j.priority for j in snap.jobs}, reverse=True)
    now_only = solve(snap, NOW_ONLY)
    planned = [d for d in plan.decisions if d.chosen or d.reservation]
    counts = tuple(sum(1 for d in planned if d.job.priority == lv) for lv in levels)
    dropped = tuple(sum(1 for j in left_out if j.priority == lv) for lv in levels)
    placed_now = [sum(1 for d in now_only.placed if d.job.priority == lv) for lv in levels]
    assert tuple(c + d for c, d in zip(counts, dropped, strict=True)) >= tuple(placed_now)
    event(f"reserved: {min(len(plan.reserved), 3)}")
    # The same input gives the same plan.
    again = solve(snap)
    assert [(d.reason, d.message) for d in again.decisions] == [
        (d.reason, d.message) for d in plan.decisions
    ]


def _counts(plan: Plan, levels: list[int]) -> tuple[int, ...]:
    planned = [d for d in plan.decisions if d.chosen or d.reservation]
    return tuple(sum(1 for d in planned if d.job.priority == lv) for lv in levels)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(busy_clusters())
def test_relaxed_plans_are_valid_and_their_bound_holds(snap: Snapshot) -> None:
    # Large models are solved relaxed first and the whole choices fixed; forced onto that
    # path, a small model's plan is still valid, admits no more than the exact optimum, and
    # its bound never exceeds the cost of the exact plan when both admit as many jobs.
    relaxed = solve(snap, SolverSettings(whole_model_up_to=0))
    assert violations(snap, relaxed) == []
    # "optimal" beside a relaxation: within its gap of the bound it reports.
    if relaxed.status == "optimal" and relaxed.best_bound is not None:
        planned = relaxed.total_cost + relaxed.reserved_cost
        assert planned - relaxed.best_bound <= SolverSettings().relaxed_gap * max(1, planned)
    # Counts and bounds compare between models with the same choices: with the look-ahead,
    # the later starts a solve offers depend on its own first plan (the ends of what it
    # starts), so the two solves may not offer the same ones. Hypothesis found a relaxed bound
    # of 3.56 USD beside an exact plan, now and later, of 2.33; and a relaxed plan of two jobs
    # where the exact solve's second round, whose plan replaces its first, no longer offered
    # the later start the second job took.
    # The exact solve prices each level before counting the next (strict priority), the relaxed
    # one counts every level first: they rank plans alike on the highest level's count, and on
    # everything where all jobs share one level.
    levels = sorted({j.priority for j in snap.jobs}, reverse=True)
    relaxed = solve(snap, replace(NOW_ONLY, whole_model_up_to=0))
    exact = solve(snap, NOW_ONLY)
    assert _counts(relaxed, levels)[:1] <= _counts(exact, levels)[:1]
    if len(levels) > 1:
        return
    assert _counts(relaxed, levels) <= _counts(exact, levels)
    if relaxed.best_bound is not None and _counts(relaxed, levels) == _counts(exact, levels):
        assert relaxed.best_bound <= exact.total_cost
        event("bound compared")


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_plans_are_valid_and_optimal(snap: Snapshot) -> None:
    # Brute force knows only "now": compare with the solver deciding only now (pricewise-now).
    plan = solve(snap, NOW_ONLY)
    assert violations(snap, plan) == []
    levels = sorted({j.priority for j in snap.jobs}, reverse=True)
    placed = [d.chosen for d in plan.decisions if d.chosen is not None]
    best = brute_force(snap)
    # The solver stops once within its relative gap (0.5 %) of each level's optimum; rounding
    # of each job's cost to the micro-unit may differ by one. Once a level's cost differs
    # from the optimum within that gap, the levels below had other room: stop comparing.
    for index, level in enumerate(levels):
        mine = [c for c in placed if c.job.priority == level]
        best_count, best_cost = best[2 * index], -best[2 * index + 1]
        assert len(mine) == best_count
        cost = sum(c.cost for c in mine)
        assert best_cost - len(mine) <= cost <= best_cost * 1.005 + len(mine)
        if abs(cost - best_cost) > len(mine):
            break
    _steer(snap, [d.reason for d in plan.decisions], [c.workers for c in placed])


@settings(max_examples=50, deadline=None)
@given(clusters())
def test_every_job_waiting_has_a_reason(snap: Snapshot) -> None:
    for d in solve(snap).decisions:
        assert d.reason and d.message
        assert (d.chosen is None) == (d.reason != "Admitted")


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_a_plan_placed_without_a_model_is_what_the_model_finds(snap: Snapshot) -> None:
    # Where every job fits its cheapest option now, no model is solved: the model, solved
    # anyway, plans as many jobs per level, none for later, for no less.
    plan = solve(snap)
    if plan.rounds or plan.status != "optimal":
        return
    event("placed without a model")
    with mock.patch.object(solver, "_cheapest_for_all", return_value=False):
        solved = solve(snap)
    levels = sorted({j.priority for j in snap.jobs}, reverse=True)
    placed = [d.chosen for d in plan.decisions if d.chosen is not None]
    found = [d.chosen for d in solved.decisions if d.chosen is not None]
    for level in levels:
        assert sum(c.job.priority == level for c in placed) == sum(
            c.job.priority == level for c in found
        )
    assert not solved.reserved and plan.total_cost <= solved.total_cost


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(*[st.integers(0, 6)] * 4), min_size=1, max_size=5),
    st.tuples(*[st.integers(0, 12)] * 4),
    st.integers(0, 3),
    st.integers(0, 3),
)
def test_a_row_left_out_as_implied_holds_wherever_the_row_kept_does(
    demands: list[tuple[int, int, int, int]], rooms: tuple[int, ...], r: int, s: int
) -> None:
    # Every plan that keeps row s (choices x >= 0 with sum(d[s] x) <= rooms[s]) is a mix of
    # the vertices "one choice alone, as much as row s allows" (or unbounded where a choice
    # uses none of s): row r, left out, must hold at each.
    if r == s:
        return
    if not implied(r, [s], rooms, steepest(demands)):
        return
    event("implied")
    for d in demands:
        if d[r]:
            assert d[s], "a choice without s is unbounded by row s"
            assert Fraction(rooms[s], d[s]) * d[r] <= rooms[r]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.randoms(use_true_random=False))
def test_a_completed_plan_keeps_every_row_and_never_plans_fewer_of_a_higher_level(
    snap: Snapshot, rng: Random
) -> None:
    # The completion beside a relaxation moves placed jobs and takes a lower priority's room
    # (`CpSat.completed`): from any plan in hand, what it returns fits every row, and per
    # level from the highest it plans at least as many jobs, or more of a higher level.
    # Two levels, drawn freely: where the room goes to whom is what is tested.
    snap = replace(snap, jobs=tuple(replace(j, priority=rng.choice([0, 10])) for j in snap.jobs))
    options = {j.key: candidates(j, snap.pools, snap.now, snap.currency) for j in snap.jobs}
    feasible = {k: [c for c in opts if c.feasible] for k, opts in options.items()}
    model = solver.PlacementModel(snap, {k: v for k, v in feasible.items() if v}, {}, [])
    hint = list(model.candidates)
    rng.shuffle(hint)
    # The whole hint fills the pools in a random order; a part of it leaves room.
    backend = cpsat.CpSat(
        model, Counter(), hint[: rng.choice([len(hint), rng.randint(0, len(hint))])]
    )
    before = backend.incumbent
    order = sorted(backend.short(), key=lambda name: -backend.priority[name])
    plan = backend.completed(order)
    used = cpsat.row_use(backend.rows, backend.rows_of, plan)
    assert all(u <= bound for u, (_, bound) in zip(used, backend.rows, strict=True))
    for name, keys in model.groups.items():
        assert sum(plan[k] for k in keys) <= model.size[name]
    levels = sorted({j.priority for j in snap.jobs}, reverse=True)

    def counts(taken: Counter[ChoiceKey]) -> list[int]:
        return [sum(taken[k] for k in model.level(level)) for level in levels]

    assert counts(plan) >= counts(before)
    if counts(plan) > counts(before):
        event("the completion placed more")
