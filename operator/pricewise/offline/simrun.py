"""The simulator's event loop: arrivals and completions in simulated time.

At each event time (or at the end of a batching window) a scheduling cycle sees the waiting jobs
and the free room of every node, and the policy places some of them; a placed job runs for the
duration its option implies and frees its nodes when it ends. Jobs left waiting are offered
again at the next cycle. A job whose deadline can no longer be met by any option, even on an
empty cluster, stops being held to it and runs when a policy places it; it counts as a miss.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta

from pricewise.core.costmodel import Stage, candidates
from pricewise.core.snapshot import Job, Node, Pool, Resources, Snapshot
from pricewise.offline.simmodel import EPOCH, EPSILON_S, JobRecord, Policy, SimJob, SimResult


def fastest_here_s(job: Job, pools: Sequence[Pool]) -> float | None:
    """Seconds of the job's fastest option that some node of these pools can hold."""
    times = [
        job.work / option.throughput
        for option in job.options
        for pool in pools
        if pool.accelerator == option.accelerator
        and any(option.worker.fits_in(n.allocatable) for n in pool.nodes)
    ]
    return min(times) if times else None


def _room_for_any(
    waiting: Sequence[SimJob], pools: Sequence[Pool], free: Mapping[str, Resources]
) -> bool:
    """Whether some waiting job has an option that fits a node's free room now.

    When none does, no policy can place anything, and the cycle is skipped.
    """
    for sim in waiting:
        for option in sim.job.options:
            for pool in pools:
                if pool.accelerator == option.accelerator and any(
                    option.worker.fits_in(free[n.name]) for n in pool.nodes
                ):
                    return True
    return False


def run(
    jobs: Sequence[SimJob],
    pools: tuple[Pool, ...],
    policy: Policy,
    name: str,
    *,
    currency: str = "USD",
    window_s: float = 0.0,
    deadline_blind: bool = False,
    fixed_pool: str | None = None,
) -> SimResult:
    """Replay `jobs` on `pools` (every node empty at time 0) under `policy`.

    `window_s` batches events: a cycle runs at the next multiple of it after an event. With
    `deadline_blind`, jobs reach the policy without deadlines (misses are still counted).
    `fixed_pool` limits which pools a job must fit to count as placeable (fifo).
    """
    started = time.monotonic()
    result = SimResult(name, pools, [], currency)
    records = {s.name: JobRecord(s.name, s.label, s.gpus, s.arrival_s, s.deadline_s) for s in jobs}
    result.records = list(records.values())
    usable = tuple(p for p in pools if fixed_pool is None or p.name == fixed_pool)
    fastest = {s.name: fastest_here_s(s.job, usable) for s in jobs}
    arrivals = sorted(jobs, key=lambda s: (s.arrival_s, s.name))
    next_arrival = 0
    free = {n.name: n.free for p in pools for n in p.nodes}
    running: list[tuple[float, str, tuple[str, ...], Resources]] = []
    waiting: list[SimJob] = []
    while next_arrival < len(arrivals) or running:
        upcoming = min(
            arrivals[next_arrival].arrival_s if next_arrival < len(arrivals) else math.inf,
            running[0][0] if running else math.inf,
        )
        now = math.ceil(upcoming / window_s) * window_s if window_s > 0 else upcoming
        while running and running[0][0] <= now + EPSILON_S:
            _, _, nodes, worker = heapq.heappop(running)
            for node in nodes:
                free[node] = free[node] + worker
        while next_arrival < len(arrivals) and arrivals[next_arrival].arrival_s <= now:
            sim = arrivals[next_arrival]
            next_arrival += 1
            if fastest[sim.name] is not None:
                waiting.append(sim)
        if not waiting or not _room_for_any(waiting, pools, free):
            continue
        snapshot = Snapshot(
            now=EPOCH + timedelta(seconds=now),
            pools=tuple(
                replace(p, nodes=tuple(Node(n.name, n.allocatable, free[n.name]) for n in p.nodes))
                for p in pools
            ),
            jobs=tuple(
                _job_at(s, records[s.name], now, fastest[s.name], deadline_blind) for s in waiting
            ),
            currency=currency,
        )
        cycle = policy(snapshot)
        result.cycles += 1
        result.solver_seconds += cycle.seconds
        if cycle.status:
            result.statuses[cycle.status] += 1
        placed = set()
        for cand, nodes in cycle.placements:
            record = records[cand.job.key]
            record.start_s, record.finish_s = now, now + cand.duration_s
            record.pool, record.workers, record.cost = cand.pool.name, cand.workers, cand.cost
            for node in nodes:
                free[node] = free[node] - cand.worker
            heapq.heappush(running, (now + cand.duration_s, cand.job.key, nodes, cand.worker))
            placed.add(cand.job.key)
        waiting = [s for s in waiting if s.name not in placed]
    result.wall_seconds = time.monotonic() - started
    return result


def _job_at(sim: SimJob, record: JobRecord, now: float, fastest: float | None, blind: bool) -> Job:
    """The job as a cycle at `now` sees it: with its deadline while that can still be met."""
    if sim.deadline_s is None or blind or record.late:
        return sim.job
    if fastest is not None and sim.deadline_s - now < fastest:
        record.late = True  # no option can make it any more: run it when possible, as a miss
        return sim.job
    return replace(sim.job, deadline=EPOCH + timedelta(seconds=sim.deadline_s))


def cost_floor(jobs: Sequence[SimJob], pools: tuple[Pool, ...], currency: str = "USD") -> int:
    """Each job on its cheapest option that meets its deadline if it started on arrival, with
    capacity ignored: no policy that meets deadlines can spend less (micro-units)."""
    total = 0
    for sim in jobs:
        job = sim.job
        if sim.deadline_s is not None:
            job = replace(job, deadline=EPOCH + timedelta(seconds=sim.deadline_s))
        found = candidates(job, pools, EPOCH + timedelta(seconds=sim.arrival_s), currency)
        # Sorted feasible first, cheapest first; a job no pool can hold (or only spot) adds nothing.
        fitting = [c for c in found if c.stage >= Stage.TIME]
        if fitting:
            total += fitting[0].cost if fitting[0].feasible else min(c.cost for c in fitting)
    return total
