"""`pricewise simulate`: replay a job trace through simulated time under a placement policy.

Discrete events: arrivals and completions. At each event time (or at the end of a batching
window) a scheduling cycle sees the waiting jobs and the free room of every node, and the
policy places some of them; a placed job runs for the duration its option implies and frees
its nodes when it ends. Jobs left waiting are offered again at the next cycle.

Policies, the first one pricewise's own and the others what its peers do:
- `pricewise`: the CP-SAT solver of the operator, on every cycle's snapshot;
- `first-fit`: each job in arrival order takes the first pool in the admin's order where a
  feasible option fits (how Kueue assigns flavors);
- `cheapest`: each job in arrival order takes its cheapest feasible option that fits (how a
  per-job cost optimiser picks);
- `fifo`: plain FIFO on one fixed pool, blind to deadlines, with head-of-line blocking.

A job whose deadline can no longer be met by any option, even on an empty cluster, stops
being held to it and runs when a policy places it; it counts as a deadline miss.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pricewise.core.costmodel import Candidate, Stage, candidates
from pricewise.core.greedy import Ledger, place_greedily
from pricewise.core.snapshot import Job, JobOption, Node, Pool, Resources, Snapshot
from pricewise.core.solver import SolverSettings, solve
from pricewise.core.units import MICROS
from pricewise.offline.simcluster import ClusterFileError, load_pools
from pricewise.offline.traces import (
    Throughputs,
    TraceError,
    TraceJob,
    deadline_factors,
    fastest_runtime_s,
    load_throughputs,
    load_trace,
    throughputs_of,
    window,
)

POLICIES = ("pricewise", "first-fit", "cheapest", "fifo")
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""Simulated time 0: only differences of times matter."""
CPU_PER_GPU = 4000
MEMORY_PER_GPU = 24 * 1024
"""Host share of one GPU a worker requests (4 CPUs, 24 GiB): small enough that GPUs bind."""
_EPSILON_S = 1e-6


@dataclass(frozen=True)
class SimJob:
    """A job of the simulation: the solver's view of it, and when it arrives and is due."""

    job: Job
    """Placement view, without a deadline: the simulator sets it at each cycle."""
    label: str
    arrival_s: float
    deadline_s: float | None
    gpus: int

    @property
    def name(self) -> str:
        """The job's key."""
        return self.job.key


@dataclass(frozen=True)
class CycleResult:
    """What a policy decided in one cycle."""

    placements: list[tuple[Candidate, tuple[str, ...]]]
    status: str = ""
    seconds: float = 0.0


Policy = Callable[[Snapshot], CycleResult]


@dataclass
class JobRecord:
    """What happened to one job."""

    name: str
    label: str
    gpus: int
    arrival_s: float
    deadline_s: float | None
    start_s: float | None = None
    finish_s: float | None = None
    pool: str | None = None
    workers: int = 0
    cost: int = 0
    """Micro-units of the currency."""
    late: bool = False
    """Its deadline became unreachable while it waited."""

    @property
    def missed(self) -> bool:
        """Finished after its deadline, or never ran although it had one."""
        if self.deadline_s is None:
            return False
        return self.finish_s is None or self.finish_s > self.deadline_s + _EPSILON_S


@dataclass
class SimResult:
    """The outcome of one policy on one trace."""

    policy: str
    pools: tuple[Pool, ...]
    records: list[JobRecord]
    currency: str = "USD"
    cycles: int = 0
    solver_seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    wall_seconds: float = 0.0


def sim_jobs(
    trace: Sequence[TraceJob],
    table: Throughputs,
    factors: Sequence[float] | None,
) -> tuple[list[SimJob], list[TraceJob]]:
    """Simulation jobs of the trace, and the trace jobs left out (no measured throughput).

    One worker holding all the job's GPUs: Gavel's throughput for a scale factor is that of
    the whole job. A job's deadline is its arrival plus its factor times its fastest runtime.
    """
    out: list[SimJob] = []
    skipped: list[TraceJob] = []
    for i, tj in enumerate(trace):
        speeds = throughputs_of(tj, table)
        fastest = fastest_runtime_s(tj, table)
        if not speeds or fastest is None:
            skipped.append(tj)
            continue
        worker = Resources(
            cpu=CPU_PER_GPU * tj.scale_factor,
            memory=MEMORY_PER_GPU * tj.scale_factor,
            gpu=tj.scale_factor,
        )
        options = tuple(
            JobOption(accelerator, tj.scale_factor, worker, speed, index)
            for index, (accelerator, speed) in enumerate(sorted(speeds.items()))
        )
        job = Job(namespace="trace", name=f"job-{tj.index:05d}", options=options, work=tj.steps)
        deadline = None if factors is None else tj.arrival_s + factors[i] * fastest
        label = f"{tj.job_type} x{tj.scale_factor}"
        out.append(SimJob(job, label, tj.arrival_s, deadline, tj.scale_factor))
    return out, skipped


# --- policies ----------------------------------------------------------------------------


def _feasible(snapshot: Snapshot) -> Iterable[list[Candidate]]:
    """Each job's feasible candidates, jobs in the snapshot's (arrival) order."""
    for job in snapshot.jobs:
        found = candidates(job, snapshot.pools, snapshot.now, snapshot.currency)
        yield [c for c in found if c.feasible]


def pricewise_policy(settings: SolverSettings) -> Policy:
    """The operator's solver: most jobs admitted, then least total cost."""

    def place(snapshot: Snapshot) -> CycleResult:
        plan = solve(snapshot, settings)
        placements = [(d.chosen, d.nodes) for d in plan.placed if d.chosen is not None]
        return CycleResult(placements, plan.status, plan.seconds)

    return place


def first_fit_policy(snapshot: Snapshot) -> CycleResult:
    """Arrival order; each job on the first pool of the admin's order where it fits."""
    ledger = place_greedily(snapshot, _feasible(snapshot), preference=lambda c: (c.pool.order,))
    return CycleResult(list(ledger.placed.values()))


def cheapest_policy(snapshot: Snapshot) -> CycleResult:
    """Arrival order; each job on its cheapest feasible option that fits."""
    ledger = place_greedily(
        snapshot, _feasible(snapshot), preference=lambda c: (c.cost, c.pool.order)
    )
    return CycleResult(list(ledger.placed.values()))


def fifo_policy(pool_name: str) -> Policy:
    """Arrival order on one pool; the first job that does not fit blocks all behind it.

    Deadline-blind: the simulator hands it jobs without deadlines.
    """

    def place(snapshot: Snapshot) -> CycleResult:
        pools = tuple(p for p in snapshot.pools if p.name == pool_name)
        ledger = Ledger.of(snapshot)
        for job in snapshot.jobs:
            found = [
                c for c in candidates(job, pools, snapshot.now, snapshot.currency) if c.feasible
            ]
            if not found:
                continue  # cannot run on this pool at all; the simulator reports it unplaced
            nodes = ledger.admits(found[0])
            if nodes is None:
                break
            ledger.take(found[0], nodes)
        return CycleResult(list(ledger.placed.values()))

    return place


# --- the event loop ------------------------------------------------------------------------


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
        while running and running[0][0] <= now + _EPSILON_S:
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


# --- figures -------------------------------------------------------------------------------


def _percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def utilisation(result: SimResult) -> dict[str, float]:
    """Share of each pool's GPU time in use, from the first arrival to the last completion."""
    ran = [r for r in result.records if r.start_s is not None and r.finish_s is not None]
    if not ran:
        return {p.name: 0.0 for p in result.pools}
    begin = min(r.arrival_s for r in result.records)
    end = max(r.finish_s for r in ran if r.finish_s is not None)
    busy: dict[str, float] = defaultdict(float)
    for r in ran:
        assert r.pool is not None and r.finish_s is not None and r.start_s is not None
        busy[r.pool] += r.gpus * (r.finish_s - r.start_s)
    out = {}
    for pool in result.pools:
        capacity = sum(n.allocatable.devices for n in pool.nodes) * (end - begin)
        out[pool.name] = busy[pool.name] / capacity if capacity > 0 else 0.0
    return out


def cost_over_time(result: SimResult, points: int = 200) -> tuple[list[float], list[float]]:
    """(hours since the first arrival, cost accrued by then): each job accrues evenly while
    it runs, as the accounting does."""
    ran = [r for r in result.records if r.start_s is not None and r.finish_s is not None]
    if not ran:
        return [0.0], [0.0]
    end = max(r.finish_s for r in ran if r.finish_s is not None)
    times = [end * i / (points - 1) for i in range(points)]
    accrued = []
    for t in times:
        total = 0.0
        for r in ran:
            assert r.start_s is not None and r.finish_s is not None
            span = r.finish_s - r.start_s
            done = 1.0 if span <= 0 else min(1.0, max(0.0, (t - r.start_s) / span))
            total += r.cost * done
        accrued.append(total / MICROS)
    return [t / 3600 for t in times], accrued


def summary(result: SimResult) -> dict[str, Any]:
    """A policy's figures as plain data (the JSON output)."""
    ran = [r for r in result.records if r.finish_s is not None and r.start_s is not None]
    jct = [r.finish_s - r.arrival_s for r in ran if r.finish_s is not None]
    wait = [r.start_s - r.arrival_s for r in ran if r.start_s is not None]
    return {
        "policy": result.policy,
        "jobs": len(result.records),
        "completed": len(ran),
        "unplaced": len(result.records) - len(ran),
        "totalCost": round(sum(r.cost for r in result.records) / MICROS, 2),
        "currency": result.currency,
        "deadlineMisses": sum(r.missed for r in result.records),
        "meanJctHours": round(sum(jct) / len(jct) / 3600, 3) if jct else 0.0,
        "p95JctHours": round(_percentile(jct, 0.95) / 3600, 3),
        "meanWaitHours": round(sum(wait) / len(wait) / 3600, 3) if wait else 0.0,
        "utilisation": {k: round(v, 4) for k, v in utilisation(result).items()},
        "gpuHoursByPool": _gpu_hours(result),
        "cycles": result.cycles,
        "solverSeconds": round(result.solver_seconds, 2),
        "solverStatuses": dict(sorted(result.statuses.items())),
        "wallSeconds": round(result.wall_seconds, 2),
    }


def job_rows(result: SimResult) -> list[dict[str, Any]]:
    """Each job's outcome under the policy as plain data (`-o json --per-job`), in arrival
    order. Times are hours of simulated time (the trace window starts at 0); a job that never
    ran has no start, finish, wait or pool and costs 0; `deadlineMet` is null for a job
    without a deadline, and `late` says its deadline became unreachable while it waited."""

    def hours(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds / 3600, 4)

    rows = []
    for r in sorted(result.records, key=lambda r: (r.arrival_s, r.name)):
        wait = None if r.start_s is None else r.start_s - r.arrival_s
        rows.append(
            {
                "job": r.name,
                "label": r.label,
                "gpus": r.gpus,
                "arrivalHours": hours(r.arrival_s),
                "deadlineHours": hours(r.deadline_s),
                "startHours": hours(r.start_s),
                "finishHours": hours(r.finish_s),
                "waitHours": hours(wait),
                "pool": r.pool,
                "workers": r.workers,
                "cost": round(r.cost / MICROS, 6),
                "deadlineMet": None if r.deadline_s is None else not r.missed,
                "late": r.late,
            }
        )
    return rows


def _gpu_hours(result: SimResult) -> dict[str, float]:
    hours: dict[str, float] = defaultdict(float)
    for r in result.records:
        if r.pool is not None and r.finish_s is not None and r.start_s is not None:
            hours[r.pool] += r.gpus * (r.finish_s - r.start_s) / 3600
    return {p.name: round(hours[p.name], 1) for p in result.pools}


def render_table(rows: Sequence[Mapping[str, Any]], pools: Sequence[Pool]) -> str:
    """One line per policy, like `kubectl get`."""
    baseline = next((r["totalCost"] for r in rows if r["policy"] == "first-fit"), None)
    head = ["POLICY", "COST", "VS_FIRST_FIT", "MISSES", "MEAN_JCT", "P95_JCT", "MEAN_WAIT",
            "UNPLACED", *(f"UTIL_{p.name}" for p in pools), "CYCLES", "SOLVER_S"]  # fmt: skip
    lines = [head]
    for r in rows:
        versus = f"{r['totalCost'] / baseline - 1:+.1%}" if baseline else "-"
        lines.append(
            [
                r["policy"],
                f"{r['totalCost']:,.2f} {r['currency']}",
                versus,
                str(r["deadlineMisses"]),
                f"{r['meanJctHours']:.2f}h",
                f"{r['p95JctHours']:.2f}h",
                f"{r['meanWaitHours']:.2f}h",
                str(r["unplaced"]),
                *(f"{r['utilisation'][p.name]:.0%}" for p in pools),
                str(r["cycles"]),
                f"{r['solverSeconds']:.1f}",
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


# --- command line --------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pricewise simulate",
        description="Replay a Gavel job trace through simulated time under placement policies "
        "and compare their cost, deadline misses, completion times and utilisation.",
    )
    need = parser.add_argument_group("inputs")
    # The trace comes first and positional: `pricewise simulate` hands its arguments over with
    # argparse.REMAINDER, which refuses an option as the first of them.
    parser.add_argument("trace", metavar="TRACE", help="Gavel job trace (.trace)")
    need.add_argument("--throughputs", required=True, help="Gavel throughputs JSON")
    need.add_argument("--price-table", required=True, help="YAML with a PriceTable")
    need.add_argument("--node-pools", required=True, help="YAML: NodePools or Node objects")
    parser.add_argument(
        "--policy",
        action="append",
        choices=POLICIES,
        help="policy to run; repeat for several (default: all four)",
    )
    parser.add_argument("--pool", help="the fixed pool of fifo (default: first in the order)")
    parser.add_argument(
        "--order", help="pools in the admin's order, comma-separated (default: the PriceTable's)"
    )
    parser.add_argument(
        "--nodes",
        action="append",
        default=[],
        metavar="POOL=N",
        help="number of nodes of a pool, overriding the node-pool file; repeatable",
    )
    parser.add_argument("--skip", type=int, default=0, help="trace jobs to skip (by arrival)")
    parser.add_argument("--jobs", type=int, help="trace jobs to take after --skip (default all)")
    parser.add_argument(
        "--arrival-scale",
        type=float,
        default=1.0,
        help="multiply gaps between arrivals (below 1 makes the trace denser; default 1)",
    )
    parser.add_argument(
        "--deadline-factor",
        type=float,
        nargs=2,
        default=[1.5, 3.0],
        metavar=("LOW", "HIGH"),
        help="deadline = arrival + U(LOW, HIGH) x fastest runtime (default 1.5 3)",
    )
    parser.add_argument("--no-deadlines", action="store_true", help="jobs have no deadline")
    parser.add_argument("--seed", type=int, default=0, help="seed of the deadline factors")
    parser.add_argument(
        "--time-limit", type=float, default=2.0, help="solver seconds per cycle (default 2)"
    )
    parser.add_argument(
        "--window",
        type=float,
        default=0.0,
        help="batch events into cycles every this many seconds (default 0: every event)",
    )
    parser.add_argument("-o", "--output", choices=["table", "json"], default="table")
    parser.add_argument(
        "--per-job",
        action="store_true",
        help="with -o json: add each policy's jobs (arrival, start, finish, wait, pool, "
        "workers, cost, deadline met) as its `records`",
    )
    parser.add_argument("--plots", metavar="DIR", help="write PNG figures into this folder")
    return parser


def _node_counts(values: Sequence[str]) -> dict[str, int]:
    counts = {}
    for value in values:
        pool, sep, count = value.partition("=")
        if not sep or not count.isdigit():
            raise ClusterFileError(f"--nodes {value!r}: expected POOL=N, e.g. v100=4")
        counts[pool] = int(count)
    return counts


def main(argv: list[str]) -> int:
    """Entry point of `pricewise simulate ARGS...`; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv[1:] if argv[:1] == ["--"] else argv)
    if args.per_job and args.output != "json":
        parser.error("--per-job needs -o json")
    try:
        pools, currency = load_pools(
            args.price_table,
            args.node_pools,
            _node_counts(args.nodes),
            args.order.split(",") if args.order else None,
        )
        table = load_throughputs(args.throughputs)
        trace = window(load_trace(args.trace), args.skip, args.jobs, args.arrival_scale)
        factors = (
            None
            if args.no_deadlines
            else deadline_factors(
                len(trace), args.deadline_factor[0], args.deadline_factor[1], args.seed
            )
        )
    except (TraceError, ClusterFileError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    fifo_pool = args.pool or pools[0].name
    if fifo_pool not in {p.name for p in pools}:
        print(f"error: --pool {fifo_pool}: no such pool", file=sys.stderr)
        return 2
    jobs, skipped = sim_jobs(trace, table, factors)
    settings = SolverSettings(time_limit_s=args.time_limit)
    results = []
    for name in args.policy or POLICIES:
        policy: Policy = {
            "pricewise": pricewise_policy(settings),
            "first-fit": first_fit_policy,
            "cheapest": cheapest_policy,
            "fifo": fifo_policy(fifo_pool),
        }[name]
        fifo = name == "fifo"
        result = run(
            jobs,
            pools,
            policy,
            name,
            currency=currency,
            window_s=args.window,
            deadline_blind=fifo,
            fixed_pool=fifo_pool if fifo else None,
        )
        print(f"{name}: {result.cycles} cycles in {result.wall_seconds:.1f}s", file=sys.stderr)
        results.append(result)
    rows = [summary(r) for r in results]
    setup = {
        "trace": Path(args.trace).name,
        "jobs": len(jobs),
        "skippedNoThroughput": len(skipped),
        "skip": args.skip,
        "arrivalScale": args.arrival_scale,
        "deadlineFactor": None if args.no_deadlines else list(args.deadline_factor),
        "seed": args.seed,
        "pools": [
            {
                "name": p.name,
                "accelerator": p.accelerator,
                "nodes": len(p.nodes),
                "gpus": sum(n.allocatable.gpu for n in p.nodes),
                "perDeviceHour": p.prices.per_device_hour / MICROS,
            }
            for p in pools
        ],
        "costFloor": round(cost_floor(jobs, pools, currency) / MICROS, 2),
        "fifoPool": fifo_pool,
        "timeLimit": args.time_limit,
        "window": args.window,
    }
    if args.plots:
        # matplotlib is a development dependency: loaded only when figures are asked for.
        from pricewise.offline.simplots import write_plots  # noqa: PLC0415

        write_plots(results, rows, Path(args.plots), setup["costFloor"])
    if args.output == "json":
        if args.per_job:
            rows = [{**row, "records": job_rows(r)} for row, r in zip(rows, results, strict=True)]
        print(json.dumps({"setup": setup, "policies": rows}, indent=2))
    else:
        gpus = ", ".join(f"{p['name']} {p['gpus']}" for p in setup["pools"])
        print(
            f"{setup['trace']}: {len(jobs)} jobs ({len(skipped)} left out: no measured "
            f"throughput), arrivals x{args.arrival_scale:g}; GPUs: {gpus}; fifo on {fifo_pool}"
        )
        print(render_table(rows, pools))
        print(
            f"cost floor (each job on its cheapest option that meets its deadline, capacity "
            f"ignored): {setup['costFloor']:,.2f} {currency}"
        )
    return 0
