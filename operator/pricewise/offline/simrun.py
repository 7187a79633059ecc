"""The simulator's event loop: arrivals and completions in simulated time.

At each event time (or at the end of a batching window) a scheduling cycle sees the waiting jobs,
the free room of every node and when the running jobs are estimated to free theirs, and the
policy places some of them (and may promise others a later start); a placed job runs for the
duration its option implies (times a per-job noise factor, when runtimes are perturbed) and
frees its nodes when it ends. Jobs left waiting are offered again at the next cycle, with the
start last promised to them. A job whose deadline can no longer be met by any option, even on an
empty cluster, stops being held to it and runs when a policy places it; it counts as a miss.

Spot pools can be reclaimed: each run on one is cut at a seeded exponential time of rate
(reclaims per node-hour x its nodes). A cut run is paid for up to the cut, keeps the progress
of its last checkpoint (none when the job does not checkpoint), and waits again for the work
left; what it paid since that checkpoint is its lost work.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from pricewise.api.models import FailurePolicy
from pricewise.core.costmodel import Candidate, Stage, candidates
from pricewise.core.lookahead import plan_moved
from pricewise.core.snapshot import Job, Node, Pool, Release, Resources, Snapshot, node_shares
from pricewise.offline.simmodel import EPOCH, EPSILON_S, Policy, SimJob, SimOutcome, SimResult

MAX_RESTARTS = FailurePolicy().max_restarts
"""Restarts a job gets before it fails: the operator's default."""


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
    runtime_factors: Mapping[str, float] | None = None,
    reclaims: Mapping[str, float] | None = None,
    seed: int = 0,
    max_restarts: int = MAX_RESTARTS,
) -> SimResult:
    """Replay `jobs` on `pools` (every node empty at time 0) under `policy`.

    `window_s` batches events: a cycle runs at the next multiple of it after an event. With
    `deadline_blind`, jobs reach the policy without deadlines (misses are still counted).
    `fixed_pool` limits which pools a job must fit to count as placeable (fifo).
    `runtime_factors` (job key to factor) makes a job run, and cost, that many times its
    estimate: the policies plan with the estimate. `reclaims` (pool name to reclaims per
    node-hour) cuts runs on those pools, drawn from `seed`: the same draws for every policy
    that makes the same placements. A job cut more than `max_restarts` times fails, as the
    operator fails it (`spec.failurePolicy.maxRestarts`).
    """
    started = time.monotonic()
    jobs = [replace(s, job=replace(s.job, restarts_left=max_restarts)) for s in jobs]
    usable = tuple(p for p in pools if fixed_pool is None or p.name == fixed_pool)
    replay = _Replay(
        pools,
        usable,
        jobs,
        factors=runtime_factors or {},
        rates=reclaims or {},
        seed=seed,
        max_restarts=max_restarts,
    )
    result = SimResult(name, pools, list(replay.records.values()), currency)
    arrivals = sorted(jobs, key=lambda s: (s.arrival_s, s.name))
    next_arrival = 0
    while next_arrival < len(arrivals) or replay.running:
        upcoming = min(
            arrivals[next_arrival].arrival_s if next_arrival < len(arrivals) else math.inf,
            replay.running[0][0] if replay.running else math.inf,
        )
        # Never before what comes next: ceil(251699 / 0.7) * 0.7 is 251698.99999999997, and the
        # arrival at 251699 was never reached (the replay looped for ever).
        now = max(upcoming, math.ceil(upcoming / window_s) * window_s) if window_s > 0 else upcoming
        replay.end_runs(now)
        arrived = False
        while next_arrival < len(arrivals) and arrivals[next_arrival].arrival_s <= now:
            arrived = replay.arrive(arrivals[next_arrival]) or arrived
            next_arrival += 1
        # A new job is always looked at, so that it hears its promise when it is submitted.
        if not replay.waiting or not (arrived or replay.room_for_any()):
            continue
        cycle = policy(replay.snapshot(now, currency, deadline_blind))
        result.cycles += 1
        result.solver_seconds += cycle.seconds
        if cycle.status:
            result.statuses[cycle.status] += 1
        placed = replay.start(cycle.placements, now)
        replay.tell(cycle.reservations, placed, now)
    result.wall_seconds = time.monotonic() - started
    return result


class _Replay:
    """The replayed cluster between cycles: each node's free room, the runs under way (with
    the ends the policy is told, and the reclaims that will cut them), the jobs waiting, and
    what happened to each job so far."""

    def __init__(
        self,
        pools: tuple[Pool, ...],
        usable: tuple[Pool, ...],
        jobs: Sequence[SimJob],
        *,
        factors: Mapping[str, float],
        rates: Mapping[str, float],
        seed: int,
        max_restarts: int,
    ) -> None:
        self.pools, self.usable = pools, usable
        self.factors, self.rates, self.seed = factors, rates, seed
        self.max_restarts = max_restarts
        self.records = {
            s.name: SimOutcome(s.name, s.label, s.gpus, s.arrival_s, s.deadline_s) for s in jobs
        }
        self.fastest = {s.name: fastest_here_s(s.job, usable) for s in jobs}
        self.jobs = {s.name: s for s in jobs}
        self.free = {n.name: n.free for p in pools for n in p.nodes}
        self.running: list[tuple[float, str, tuple[str, ...], Resources]] = []
        """A heap of (end, job, nodes, worker)."""
        self.estimated: dict[str, tuple[str, float, Resources, tuple[tuple[str, Resources], ...]]]
        self.estimated = {}
        """Running job to (pool, estimated end, room it holds, on which nodes): what the
        policy is told."""
        self.cut: dict[str, tuple[float, float, float, Candidate]] = {}
        """Running job cut by a reclaim: (start, cut time, run time, candidate)."""
        self.waiting: list[SimJob] = []

    def end_runs(self, now: float) -> None:
        """Free the room of the runs ended by `now`; a run a reclaim cut waits again for the
        work it has left, or fails past its restarts."""
        while self.running and self.running[0][0] <= now + EPSILON_S:
            _, key, nodes, worker = heapq.heappop(self.running)
            self.estimated.pop(key, None)
            for node in nodes:
                self.free[node] = self.free[node] + worker
            if key in self.cut:
                record = self.records[key]
                requeued = _reclaimed(record, self.jobs[key], self.cut.pop(key))
                if record.restarts > self.max_restarts:
                    record.failed = True
                    continue
                self.fastest[key] = fastest_here_s(requeued.job, self.usable)
                self.jobs[key] = requeued
                self.waiting.append(requeued)

    def arrive(self, sim: SimJob) -> bool:
        """Whether the job arriving waits for a policy (no node of the cluster holds some)."""
        if self.fastest[sim.name] is None:
            return False
        self.waiting.append(sim)
        return True

    def room_for_any(self) -> bool:
        """Whether some waiting job fits a node's free room now (else no cycle is run)."""
        return _room_for_any(self.waiting, self.pools, self.free)

    def snapshot(self, now: float, currency: str, blind: bool) -> Snapshot:
        """What a cycle at `now` sees: free room, the running jobs' estimated ends, waiting jobs."""
        releases: dict[str, list[Release]] = {p.name: [] for p in self.pools}
        for pool_name, end_s, holds, on in self.estimated.values():
            releases[pool_name].append(Release(EPOCH + timedelta(seconds=end_s), holds, on))
        return Snapshot(
            now=EPOCH + timedelta(seconds=now),
            pools=tuple(
                replace(
                    p,
                    nodes=tuple(Node(n.name, n.allocatable, self.free[n.name]) for n in p.nodes),
                    releases=tuple(releases[p.name]),
                )
                for p in self.pools
            ),
            jobs=tuple(
                _job_at(s, self.records[s.name], now, self.fastest[s.name], blind)
                for s in self.waiting
            ),
            currency=currency,
        )

    def start(
        self, placements: Sequence[tuple[Candidate, tuple[str, ...]]], now: float
    ) -> set[str]:
        """Start the placed jobs at `now` (each run drawn a reclaim where its pool has them);
        the keys of those started."""
        placed = set()
        for cand, nodes in placements:
            key = cand.job.key
            record = self.records[key]
            run_s = cand.run_s * self.factors.get(key, 1.0)
            end = now + run_s
            rate = self.rates.get(cand.pool.name, 0.0) * len(set(nodes)) / 3600
            if rate > 0:
                rng = random.Random(f"reclaim-{self.seed}-{key}-{record.restarts}")
                cut_after = rng.expovariate(rate)
                if cut_after < run_s:
                    self.cut[key] = (now, now + cut_after, run_s, cand)
                    end = now + cut_after
            if record.start_s is None:
                record.start_s = now
            record.finish_s = None if key in self.cut else end
            record.pool, record.workers = cand.pool.name, cand.workers
            if key not in self.cut:
                record.cost += round(cand.list_cost * run_s / cand.run_s)
            for node in nodes:
                self.free[node] = self.free[node] - cand.worker
            heapq.heappush(self.running, (end, key, nodes, cand.worker))
            on = node_shares(cand.worker, nodes)
            self.estimated[key] = (cand.pool.name, now + cand.duration_s, cand.demand, on)
            placed.add(key)
        return placed

    def tell(self, reservations: Mapping[str, datetime], placed: set[str], now: float) -> None:
        """Record each waiting job's promise as the operator would write it (only a plan that
        moved), its first one, and take the started jobs off the waiting list."""
        for sim in self.waiting:
            record = self.records[sim.name]
            start = reservations.get(sim.name)
            told = None if record.promise_s is None else EPOCH + timedelta(seconds=record.promise_s)
            # As the operator rewrites a status for a plan that moved (it also rewrites one whose
            # reason or options changed, with whatever start the plan has then: not modelled).
            if plan_moved(told, start, EPOCH + timedelta(seconds=now)):
                record.promise_s = None if start is None else (start - EPOCH).total_seconds()
            if not record.seen and sim.name not in placed:
                record.first_promise_s = record.promise_s
            record.seen = True
        self.waiting = [s for s in self.waiting if s.name not in placed]


def _reclaimed(
    record: SimOutcome, sim: SimJob, run: tuple[float, float, float, Candidate]
) -> SimJob:
    """Account for a run cut by a reclaim, and the job with the work it has left."""
    start, at, run_s, cand = run
    ran = at - start
    job = sim.job
    saved = 0.0 if job.checkpoint_s is None else ran // job.checkpoint_s * job.checkpoint_s
    per_s = cand.list_cost / run_s
    record.cost += round(per_s * ran)
    record.lost_cost += round(per_s * (ran - saved))
    record.restarts += 1
    left = job.work * (1 - saved / run_s)
    restarts_left = None if job.restarts_left is None else max(job.restarts_left - 1, 0)
    return replace(
        sim, job=replace(job, work=max(left, job.work * 1e-9), restarts_left=restarts_left)
    )


def _job_at(sim: SimJob, record: SimOutcome, now: float, fastest: float | None, blind: bool) -> Job:
    """The job as a cycle at `now` sees it: submitted at its arrival, with the start last
    promised to it, and with its deadline while that can still be met."""
    promised = None if record.promise_s is None else EPOCH + timedelta(seconds=record.promise_s)
    job = replace(
        sim.job, created=EPOCH + timedelta(seconds=sim.arrival_s), promised_start=promised
    )
    if sim.deadline_s is None or blind:
        return job
    deadline = EPOCH + timedelta(seconds=sim.deadline_s)
    if record.late_s is None and fastest is not None and sim.deadline_s - now < fastest:
        record.late_s = now  # no option can make it any more: run it when possible, as a miss
    if record.late_s is not None:
        return replace(job, missed_deadline=deadline)  # as the operator marks a late job
    return replace(job, deadline=deadline)


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


def runtime_factors(jobs: Sequence[SimJob], noise: float, seed: int) -> dict[str, float]:
    """Each job's actual run time over its estimate, U(1-noise, 1+noise), seeded: the same for
    every policy of a run. Empty when `noise` is 0."""
    if noise <= 0:
        return {}
    rng = random.Random(f"runtime-{seed}")
    return {s.name: rng.uniform(1 - noise, 1 + noise) for s in sorted(jobs, key=lambda s: s.name)}
