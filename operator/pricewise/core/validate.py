"""An independent check of a plan: every constraint recomputed from the snapshot, without the
solver's own bookkeeping. Tests run it on every plan; a violation is a solver bug.

Costs are recomputed here from the cost model as written in the README, not taken from the
candidates, so that a broken cost model shows as a violation rather than passing unseen.
"""

from __future__ import annotations

import math
from collections import Counter

from pricewise.core.snapshot import GPU, TPU, Job, JobOption, Pool, Resources, Snapshot
from pricewise.core.solver import Plan

_EPSILON_S = 1e-6


def reference_cost(job: Job, option: JobOption, pool: Pool, workers: int) -> tuple[float, float]:
    """(seconds, micro-units) of running `job` with `workers` workers of `option` on `pool`:
    the README's formula, written out again on purpose."""
    speed = workers * option.throughput * job.scaling_efficiency ** math.log2(workers)
    seconds = job.work / speed
    w, prices = option.worker, pool.prices
    hourly = (
        (w.gpu + w.tpu) * prices.per_device_hour
        + w.cpu / 1000 * prices.per_cpu_hour
        + w.memory / 1024 * prices.per_gib_hour
    )
    if prices.per_node_hour:
        node = max((n.allocatable for n in pool.nodes), default=Resources())
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
    quota_use: dict[str, Counter[str]] = {}
    keys = [d.job.key for d in plan.decisions]
    if len(keys) != len(set(keys)):
        problems.append("a job is decided twice")
    for d in plan.decisions:
        c, job = d.chosen, d.job
        if c is None:
            continue
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
        if (
            job.deadline
            and snapshot.now.timestamp() + duration > job.deadline.timestamp() + _EPSILON_S
        ):
            problems.append(f"{job.key}: finishes after the deadline")
        if job.max_duration_s is not None and duration > job.max_duration_s + _EPSILON_S:
            problems.append(f"{job.key}: runs longer than maxDuration")
        if job.min_throughput is not None and speed < job.min_throughput:
            problems.append(f"{job.key}: below minThroughput")
        if job.max_cost is not None and round(cost) > job.max_cost:
            problems.append(f"{job.key}: over maxCost")
        if job.value is not None and round(cost) > job.value:
            problems.append(f"{job.key}: costs more than its value")
        if len(d.nodes) != c.workers:
            problems.append(f"{job.key}: {len(d.nodes)} nodes for {c.workers} workers")
        for node in d.nodes:
            if pool_of_node.get(node) != c.pool.name:
                problems.append(f"{job.key}: node {node} is not in pool {c.pool.name}")
                continue
            free[node] = free[node] - c.option.worker
        spend[job.namespace] += round(cost)
        use = quota_use.setdefault(job.namespace, Counter())
        demand = c.option.worker.times(c.workers)
        use.update({GPU: demand.gpu, TPU: demand.tpu, "cpu": demand.cpu,
                    "memory": demand.memory, "pods": c.workers})  # fmt: skip
    for node, room in free.items():
        if not Resources().fits_in(room):
            problems.append(f"node {node} over-committed: {room}")
    for quota in snapshot.quotas:
        use = quota_use.get(quota.namespace, Counter())
        for resource, left in quota.remaining.items():
            if use[resource] > max(left, 0):
                problems.append(f"quota {quota.namespace}/{quota.name} exceeded on {resource}")
    for budget in snapshot.budgets:
        if budget.hard and spend[budget.namespace] > max(budget.remaining, 0):
            problems.append(f"hard budget {budget.namespace}/{budget.name} exceeded")
    return problems
