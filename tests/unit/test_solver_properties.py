"""Property tests: on small random clusters every plan is valid and as good as brute force."""

from __future__ import annotations

import itertools
from collections import Counter

from factory import gpu_nodes, job, option, pool, snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricewise.costmodel import Candidate, candidates
from pricewise.snapshot import BudgetView, Node, Quota, Snapshot
from pricewise.solver import solve
from pricewise.units import to_micros
from pricewise.validate import violations

ACCELERATORS = ("nvidia-l4", "nvidia-h100")


@st.composite
def clusters(draw: st.DrawFn) -> Snapshot:
    pools = []
    for i, accel in enumerate(ACCELERATORS[: draw(st.integers(1, 2))]):
        frees = draw(st.lists(st.sampled_from([0, 2, 4, 8]), min_size=1, max_size=3))
        nodes = tuple(
            Node(
                f"{accel}-{n}",
                gpu_nodes("x", 1)[0].allocatable,
                gpu_nodes("x", 1, free_gpus=f)[0].free,
            )
            for n, f in enumerate(frees)
        )
        pools.append(pool(accel, accel, draw(st.sampled_from([1.0, 2.5, 4.0])), nodes, order=i))
    jobs = []
    for j in range(draw(st.integers(1, 4))):
        accels = draw(st.lists(st.sampled_from(ACCELERATORS), min_size=1, max_size=2, unique=True))
        opts = [
            option(
                a,
                draw(st.sampled_from([500.0, 1000.0, 3000.0])),
                draw(st.sampled_from([1, 2, 4, 8])),
            )
            for a in accels
        ]
        jobs.append(
            job(
                f"j{j}",
                *opts,
                namespace=draw(st.sampled_from(["team-a", "team-b"])),
                max_workers=draw(st.integers(1, 2)),
                priority=draw(st.integers(0, 1)),
                max_duration_s=draw(st.sampled_from([None, 1800.0, 7200.0])),
            )
        )
    quotas = []
    if draw(st.booleans()):
        quotas.append(Quota("team-a", "q", {"nvidia.com/gpu": draw(st.sampled_from([4, 8, 12]))}))
    budgets = []
    if draw(st.booleans()):
        budgets.append(
            BudgetView(
                "team-b", "b", to_micros(draw(st.sampled_from([10, 30, 60]))), 0, 0, hard=True
            )
        )
    return snapshot(pools, jobs, quotas, budgets)


def _fits(snap: Snapshot, chosen: list[Candidate]) -> bool:
    """Exact node-level check by trying every node for every worker."""
    workers = [(c.pool.name, c.worker) for c in chosen for _ in range(c.workers)]
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


def _allowed(snap: Snapshot, chosen: list[Candidate]) -> bool:
    spend: Counter[str] = Counter()
    gpus: Counter[str] = Counter()
    for c in chosen:
        spend[c.job.namespace] += c.cost
        gpus[c.job.namespace] += c.demand.gpu
    if any(gpus[q.namespace] > q.remaining["nvidia.com/gpu"] for q in snap.quotas):
        return False
    if any(b.hard and spend[b.namespace] > b.remaining for b in snap.budgets):
        return False
    return _fits(snap, chosen)


def brute_force(snap: Snapshot) -> tuple[tuple[int, ...], int]:
    """Best (jobs placed per priority level, highest first) and then least cost."""
    per_job = [
        [None, *[c for c in candidates(j, snap.pools, snap.now, snap.currency) if c.feasible]]
        for j in snap.jobs
    ]
    levels = sorted({j.priority for j in snap.jobs}, reverse=True)
    best: tuple[tuple[int, ...], int] | None = None
    for combo in itertools.product(*per_job):
        chosen = [c for c in combo if c is not None]
        if not _allowed(snap, chosen):
            continue
        counts = tuple(sum(1 for c in chosen if c.job.priority == lv) for lv in levels)
        key = (counts, -sum(c.cost for c in chosen))
        if best is None or key > (best[0], -best[1]):
            best = (counts, sum(c.cost for c in chosen))
    assert best is not None
    return best


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_plans_are_valid_and_optimal(snap: Snapshot) -> None:
    plan = solve(snap)
    assert violations(snap, plan) == []
    levels = sorted({j.priority for j in snap.jobs}, reverse=True)
    placed = [d.chosen for d in plan.decisions if d.chosen is not None]
    counts = tuple(sum(1 for c in placed if c.job.priority == lv) for lv in levels)
    assert (counts, plan.total_cost) == brute_force(snap)


@settings(max_examples=50, deadline=None)
@given(clusters())
def test_every_job_waiting_has_a_reason(snap: Snapshot) -> None:
    for d in solve(snap).decisions:
        assert d.reason and d.message
        assert (d.chosen is None) == (d.reason != "Admitted")
