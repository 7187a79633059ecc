"""An independent check of a plan: every constraint recomputed from the snapshot, without the
solver's own bookkeeping. Tests run it on every plan, and the operator on a plan found by several
CP-SAT workers (`quarantine`); a violation is a solver bug.

Costs are recomputed here from the cost model as written in the README, not taken from the
candidates, so that a broken cost model shows as a violation rather than passing unseen.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

from pricewise.core.costmodel import Candidate
from pricewise.core.explain import Decision
from pricewise.core.packing import Gang
from pricewise.core.snapshot import GPU, TPU, Job, JobOption, Node, Pool, Resources, Snapshot
from pricewise.core.solver import Plan
from pricewise.core.timeline import Frees, Run, pack_over_time

_EPSILON_S = 1e-6


def reference_cost(job: Job, option: JobOption, pool: Pool, workers: int) -> tuple[float, float]:
    """(seconds, micro-units) of running `job` with `workers` workers of `option` on `pool`:
    the README's formula, written out again on purpose."""
    speed = workers * option.throughput * job.scaling_efficiency ** math.log2(workers)
    seconds = job.work / speed
    if pool.capacity_type == "spot" and pool.interruption_rate > 0:
        # Expected time with reclaims: each segment between checkpoints restarts on failure.
        per_s = pool.interruption_rate * workers / 3600
        segment = min(job.checkpoint_s or seconds, seconds)
        seconds = seconds / segment * (math.exp(min(per_s * segment, 700.0)) - 1) / per_s
    w, prices = option.worker, pool.prices
    hourly = (
        (w.gpu + w.tpu) * prices.per_device_hour
        + w.cpu / 1000 * prices.per_cpu_hour
        + w.memory / 1024 * prices.per_gib_hour
    )
    if prices.per_node_hour:
        node = max((n.allocatable for n in pool.nodes), key=lambda r: r.size, default=Resources())
        shares = [
            need / size
            for need, size in ((w.cpu, node.cpu), (w.memory, node.memory), (w.gpu, node.gpu),
                               (w.tpu, node.tpu))
            if size > 0
        ]  # fmt: skip
        hourly += min(1.0, max(shares, default=1.0)) * prices.per_node_hour
    return seconds, workers * hourly * seconds / 3600


def violations(snapshot: Snapshot, plan: Plan) -> list[str]:
    """Every constraint the plan breaks, as sentences; empty when the plan is valid."""
    problems: list[str] = []
    pools = {p.name: p for p in snapshot.pools}
    free = {n.name: n.free for p in snapshot.pools for n in p.nodes}
    pool_of_node = {n.name: p.name for p in snapshot.pools for n in p.nodes}
    spend: Counter[str] = Counter()
    placed_quota_use: list[tuple[Job, Counter[str]]] = []
    keys = [d.job.key for d in plan.decisions]
    if len(keys) != len(set(keys)):
        problems.append("a job is decided twice")
    for d in plan.decisions:
        c, job = d.chosen, d.job
        if c is None:
            continue
        problems += _placement_violations(snapshot, d, c, pools)
        if len(d.nodes) != c.workers:
            problems.append(f"{job.key}: {len(d.nodes)} nodes for {c.workers} workers")
        for node in d.nodes:
            if pool_of_node.get(node) != c.pool.name:
                problems.append(f"{job.key}: node {node} is not in pool {c.pool.name}")
                continue
            free[node] = free[node] - c.option.worker
        spend[job.namespace] += round(reference_cost(job, c.option, c.pool, c.workers)[1])
        placed_quota_use.append((job, _quota_use(c)))
    for d in plan.decisions:
        if d.reservation is not None:
            r = d.reservation.candidate
            spend[d.job.namespace] += round(reference_cost(d.job, r.option, r.pool, r.workers)[1])
    problems += _later_violations(snapshot, plan)
    problems += _later_quota_violations(snapshot, plan)
    problems += [
        f"node {node} over-committed: {room}"
        for node, room in free.items()
        if not Resources().fits_in(room)
    ]
    for quota in snapshot.quotas:
        use = sum((u for job, u in placed_quota_use if quota.counts(job)), Counter[str]())
        for resource, left in quota.remaining.items():
            if use[resource] > max(left, 0):
                problems.append(f"quota {quota.namespace}/{quota.name} exceeded on {resource}")
    problems += [
        f"hard budget {budget.namespace}/{budget.name} exceeded"
        for budget in snapshot.budgets
        if budget.hard and spend[budget.namespace] > max(budget.remaining, 0)
    ]
    return problems


def _placement_violations(
    snapshot: Snapshot, d: Decision, c: Candidate, pools: Mapping[str, Pool]
) -> list[str]:
    """What one placement breaks of its job's own spec: an option or pool not offered, spot
    not allowed, a width out of range, a cost or duration not the formula's, a deadline,
    maxDuration, minThroughput, maxCost or value not met."""
    job = d.job
    problems = []
    if c.option not in job.options or c.pool.name not in pools:
        problems.append(f"{job.key}: option or pool not offered")
    if c.pool.accelerator != c.option.accelerator:
        problems.append(f"{job.key}: accelerator mismatch")
    if c.pool.is_spot and not job.allow_spot:
        problems.append(f"{job.key}: spot pool without allowSpot")
    if not job.min_workers <= c.workers <= job.max_workers:
        problems.append(f"{job.key}: {c.workers} workers outside the allowed range")
    speed = c.workers * c.option.throughput * job.scaling_efficiency ** math.log2(c.workers)
    duration, cost = reference_cost(job, c.option, c.pool, c.workers)
    if abs(c.cost - cost) > 1 + 1e-9 * cost:
        problems.append(f"{job.key}: cost {c.cost} recorded, the formula gives {cost:.0f}")
    if abs(c.duration_s - duration) > _EPSILON_S * max(1.0, duration):
        problems.append(f"{job.key}: duration {c.duration_s}s recorded, formula {duration}s")
    if job.deadline and snapshot.now.timestamp() + duration > job.deadline.timestamp() + _EPSILON_S:
        problems.append(f"{job.key}: finishes after the deadline")
    if job.max_duration_s is not None and duration > job.max_duration_s + _EPSILON_S:
        problems.append(f"{job.key}: runs longer than maxDuration")
    if job.min_throughput is not None and speed < job.min_throughput:
        problems.append(f"{job.key}: below minThroughput")
    if job.max_cost is not None and round(cost) > job.max_cost:
        problems.append(f"{job.key}: over maxCost")
    if job.value is not None and round(cost) > job.value:
        problems.append(f"{job.key}: costs more than its value")
    return problems


def _later_violations(snapshot: Snapshot, plan: Plan) -> list[str]:
    """What the plan's later starts break: a job both placed and reserved, a reservation that
    ends after its deadline, a pool whose planned use exceeds its room at some instant, or a
    pool whose runs now and later cannot be packed on its nodes over time (`_nodes_over`).

    Use only grows when a job starts and room only grows when a running job ends, so checking
    every planned start is checking every instant. A release counts from when `_due` says, as
    the solver takes it.
    """
    problems: list[str] = []
    now = snapshot.now.timestamp()
    runs: dict[str, list[tuple[float, float, Candidate]]] = {}
    starts: dict[str, set[float]] = {}
    for d in plan.decisions:
        if d.chosen is not None:
            seconds, _ = reference_cost(d.job, d.chosen.option, d.chosen.pool, d.chosen.workers)
            runs.setdefault(d.chosen.pool.name, []).append((now, now + seconds, d.chosen))
        if d.reservation is None:
            continue
        r, start = d.reservation.candidate, d.reservation.start.timestamp()
        seconds, _ = reference_cost(d.job, r.option, r.pool, r.workers)
        if d.chosen is not None:
            problems.append(f"{d.job.key}: placed now and reserved for later")
        if start <= now:
            problems.append(f"{d.job.key}: reserved for a start that is not later")
        if d.job.deadline and start + seconds > d.job.deadline.timestamp() + _EPSILON_S:
            problems.append(f"{d.job.key}: its reservation ends after the deadline")
        if r.pool.accelerator != r.option.accelerator or not r.feasible:
            problems.append(f"{d.job.key}: reserved on an option it cannot use")
        runs.setdefault(r.pool.name, []).append((start, start + seconds, r))
        starts.setdefault(r.pool.name, set()).add(start)
    for pool in snapshot.pools:
        mine = runs.get(pool.name, [])
        if starts.get(pool.name):
            problems += _nodes_over(pool, plan, mine, now)
        for instant, _, _ in mine:
            room = Resources()
            for node in pool.nodes:
                room = room + node.free
            for release in pool.releases:
                if _due(release.at.timestamp(), now) <= instant + _EPSILON_S:
                    room = room + release.frees
            for begin, end, cand in mine:
                if begin <= instant < end:
                    room = room - cand.demand
            if not Resources().fits_in(room):
                problems.append(f"pool {pool.name} overbooked at +{instant - now:.0f}s: {room}")
    return problems


def _due(at: float, now: float) -> float:
    """When room a running job gives back at its estimated end `at` counts as free: not
    before a minute from now, and for a job past its estimate, as long again as it overran."""
    return now + max(60.0, abs(at - now))


def _quota_use(cand: Candidate) -> Counter[str]:
    """What a candidate's workers count against a ResourceQuota, by resource name."""
    demand = cand.option.worker.times(cand.workers)
    return Counter({GPU: demand.gpu, TPU: demand.tpu, "cpu": demand.cpu,
                    "memory": demand.memory, "pods": cand.workers})  # fmt: skip


def _later_quota_violations(snapshot: Snapshot, plan: Plan) -> list[str]:
    """At each reserved start, whether what the namespace runs then (placed now and not yet
    done, or reserved and begun) exceeds a ResourceQuota's room then: what it has left now and
    what the namespace's placed jobs give back by then (from when `_due` says)."""
    problems: list[str] = []
    now = snapshot.now.timestamp()
    runs: list[tuple[Job, float, float, Counter[str]]] = []
    starts: list[tuple[Job, float]] = []
    for d in plan.decisions:
        planned = [(d.chosen, now)] if d.chosen is not None else []
        if d.reservation is not None:
            start = d.reservation.start.timestamp()
            planned.append((d.reservation.candidate, start))
            starts.append((d.job, start))
        for cand, begin in planned:
            seconds, _ = reference_cost(d.job, cand.option, cand.pool, cand.workers)
            runs.append((d.job, begin, begin + seconds, _quota_use(cand)))
    for quota in snapshot.quotas:
        for instant in sorted({s for job, s in starts if quota.counts(job)}):
            use = Counter[str]()
            for job, begin, end, amounts in runs:
                if quota.counts(job) and begin <= instant < end:
                    use.update(amounts)
            for resource, left in quota.remaining.items():
                freed = sum(
                    frees.get(resource, 0)
                    for at, frees in quota.frees
                    if _due(at.timestamp(), now) <= instant + _EPSILON_S
                )
                if use[resource] > max(left + freed, 0):
                    problems.append(
                        f"quota {quota.namespace}/{quota.name} exceeded on {resource} at "
                        f"+{instant - now:.0f}s"
                    )
    return problems


def _nodes_over(
    pool: Pool, plan: Plan, runs: list[tuple[float, float, Candidate]], now: float
) -> list[str]:
    """Whether the pool's later starts fit its nodes then, node by node: each node's room now
    less what starts there now (on the nodes the plan gives), plus what running jobs free on
    it and what those starts give back when they end. Not checked from when a release that
    does not say where is due (the pool's sums are then all that is known)."""
    unknown = min(
        (_due(r.at.timestamp(), now) for r in pool.releases if not r.nodes), default=math.inf
    )
    free = {node.name: node.free for node in pool.nodes}
    frees = [
        Frees(name, _due(r.at.timestamp(), now) - now, room)
        for r in pool.releases
        for name, room in r.nodes
    ]
    for d in plan.decisions:
        if d.chosen is not None and d.chosen.pool.name == pool.name:
            end = next(e for b, e, c in runs if c is d.chosen) - now
            for name in d.nodes:
                if name in free:
                    free[name] = free[name] - d.chosen.worker
                    frees.append(Frees(name, end, d.chosen.worker))
    later = [
        Run(Gang(f"{i}", cand.worker, cand.workers), begin - now, end - now)
        for i, (begin, end, cand) in enumerate(runs)
        if now < begin < unknown - _EPSILON_S
    ]
    nodes = [Node(n.name, n.allocatable, free[n.name]) for n in pool.nodes]
    if later and pack_over_time(nodes, frees, later) is None:
        return [f"pool {pool.name}: its later starts do not fit its nodes then"]
    return []
