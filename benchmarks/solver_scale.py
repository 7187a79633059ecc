"""Solver scale benchmark: placement time and cost gap for many pending jobs over many pools.

    python benchmarks/solver_scale.py --jobs 1000 10000 --pools 20 100 --nodes 300 --repeat 3

The synthetic cluster: pool i has the accelerator kind i mod 5 of nvidia-l4 (nodes of 4 GPUs),
nvidia-a100-80gb and nvidia-h100 (8 GPUs), tpu-v5e (8 TPU chips) and cpu (no devices), so every
fifth pool is a CPU pool, which no job has an option on. Pools 5-9, 15-19, ... are spot (price
x0.35), the others on-demand; prices are list prices x U(0.85, 1.15). --nodes N is split
evenly: N // pools nodes a pool (at least 1), each with 96 CPUs and 768 GiB besides its
devices. Jobs (--seed, default 7): 2-4 options among the four accelerators, 1-8 devices a
worker (no more than a node has), up to 1, 2 or 4 workers, priority 0 or 10, no limit or an
8 h or 24 h limit; 30 % accept spot. With --shapes N the jobs are copies of N such jobs (a
sweep's, or a benchmark's workloads), submitted a second apart, and rows solving every job on
its own (`SolverSettings(job_classes=False)`) follow the job classes' rows.

Prints the cluster of each pool count, then two rows per (jobs, pools) size, pricewise
(planning over time) and pricewise-now (deciding only what starts now): median and worst
seconds over the repeats, jobs placed now and planned for later, status, total cost of what is
placed now, CP-SAT's best bound (for everything planned) and the gap between them, after a
line with the machine's load (timings on a busy machine are not comparable). When nothing is
proved (no bound, or only the trivial bound 0) the bound is `-` and the gap `n/a`. Not a
test: figures, not assertions.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import machine
from pricewise.core.costmodel import candidates
from pricewise.core.lookahead import LookAhead
from pricewise.core.settings import SolverSettings
from pricewise.core.snapshot import Job, JobOption, Node, Pool, PoolPrices, Resources, Snapshot
from pricewise.core.solver import solve
from pricewise.core.units import from_micros, to_micros

ACCELERATORS = {  # kind: (devices per node, list price per device-hour, relative speed)
    "nvidia-l4": (4, 0.71, 1.0),
    "nvidia-a100-80gb": (8, 5.07, 3.2),
    "nvidia-h100": (8, 11.06, 7.0),
    "tpu-v5e": (8, 1.20, 2.0),
    "cpu": (0, 0.0, 0.1),
}


def cluster(pools: int, nodes: int, rng: random.Random) -> tuple[Pool, ...]:
    """`pools` pools over the accelerator kinds (regions x capacity types), `nodes` in all."""
    kinds = list(ACCELERATORS)
    out = []
    for i in range(pools):
        kind = kinds[i % len(kinds)]
        per_node, price, _ = ACCELERATORS[kind]
        spot = i // len(kinds) % 2 == 1
        device = Resources(gpu=per_node) if not kind.startswith("tpu") else Resources(tpu=per_node)
        alloc = Resources(cpu=96_000, memory=768 * 1024) + (device if per_node else Resources())
        count = max(1, nodes // pools)
        members = tuple(Node(f"p{i}-n{n}", alloc, alloc) for n in range(count))
        factor = rng.uniform(0.85, 1.15) * (0.35 if spot else 1.0)
        prices = (
            PoolPrices(per_device_hour=to_micros(price * factor))
            if per_node
            else PoolPrices(per_cpu_hour=to_micros(0.0316 * factor))
        )
        out.append(
            Pool(
                f"pool-{i}-{kind}", kind, "spot" if spot else "on-demand", prices, members, order=i
            )
        )
    return tuple(out)


def describe(pools: tuple[Pool, ...]) -> str:
    """What `cluster` built: its pools and nodes, and per accelerator kind the devices a node."""
    parts = []
    for kind, (per_node, _, _) in ACCELERATORS.items():
        members = [p for p in pools if p.accelerator == kind]
        if members:
            spot = sum(p.capacity_type == "spot" for p in members)
            device = "TPU chips" if kind.startswith("tpu") else "GPUs"
            what = f"{per_node} {device} a node" if per_node else "no devices, no job's option"
            parts.append(f"{kind} {len(members)} ({spot} spot), {what}")
    sizes = "/".join(str(n) for n in sorted({len(p.nodes) for p in pools}))
    total = sum(len(p.nodes) for p in pools)
    return f"# {len(pools)} pools of {sizes} nodes ({total}): " + "; ".join(parts)


def bound_and_gap(total_cost: int, bound: int | None) -> tuple[str, str]:
    """The bound (in the currency) and gap columns of a plan whose cost and bound are in
    micro-units.

    Nothing is proved when the plan has no bound (the greedy plan, or a solve cut short before
    its cost phase) or only CP-SAT's trivial bound 0 under a positive cost (a solve stopped
    before its bound rose): `-` and `n/a` then, whichever of these the timing produced.
    """
    if bound is None or bound <= 0 < total_cost:
        return "-", "n/a"
    gap = (total_cost - bound) / total_cost if total_cost else 0.0
    return f"{from_micros(bound):.2f}", f"{gap:.2%}"


def jobs(count: int, rng: random.Random, now: datetime, shapes: int = 0) -> tuple[Job, ...]:
    """Jobs with 2-4 options each, 1-4 workers, mixed deadlines and priorities; with `shapes`,
    copies of that many such jobs (round robin), submitted a second apart, as a sweep or a
    benchmark's workloads are."""
    if shapes:
        kinds = jobs(shapes, rng, now)
        return tuple(
            replace(kinds[j % shapes], name=f"job-{j}", created=now - timedelta(seconds=count - j))
            for j in range(count)
        )
    out = []
    for j in range(count):
        kinds = rng.sample([k for k in ACCELERATORS if k != "cpu"], rng.randint(2, 4))
        base = rng.uniform(50, 500)
        options = []
        for kind in kinds:
            per_node = ACCELERATORS[kind][0]
            devices = rng.choice([d for d in (1, 2, 4, 8) if d <= per_node])
            worker = Resources(cpu=4000 * devices, memory=32 * 1024 * devices)
            worker = worker + (
                Resources(tpu=devices) if kind.startswith("tpu") else Resources(gpu=devices)
            )
            speed = base * ACCELERATORS[kind][2] * devices
            options.append(JobOption(kind, devices, worker, speed, index=len(options)))
        hours = rng.uniform(1, 24)
        out.append(
            Job(
                namespace=f"team-{j % 10}",
                name=f"job-{j}",
                options=tuple(options),
                work=base * 3600 * hours,
                max_workers=rng.choice([1, 2, 4]),
                scaling_efficiency=0.9,
                max_duration_s=rng.choice([None, 24 * 3600.0, 8 * 3600.0]),
                priority=rng.choice([0, 0, 0, 10]),
                allow_spot=rng.random() < 0.3,
            )
        )
    return tuple(out)


POLICIES = (("pricewise", LookAhead()), ("pricewise-now", LookAhead(False)))


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--pools", type=int, nargs="+", default=[20])
    parser.add_argument(
        "--nodes", type=int, default=300, help="nodes in all, split evenly over the pools"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="CP-SAT search workers (the operator's PRICEWISE_SOLVER_WORKERS; default 1)",
    )
    parser.add_argument(
        "--shapes",
        type=int,
        default=0,
        help="jobs are copies of this many shapes (0: every job its own); adds rows that solve "
        "every job on its own beside the job classes",
    )
    args = parser.parse_args()
    now = datetime(2026, 11, 29, tzinfo=UTC)
    print(f"# {machine.conditions()}; "
          f"time limit {args.time_limit:g}s, seed {args.seed}, "
          f"{args.workers} solver worker(s)")  # fmt: skip
    for pool_count in args.pools:
        print(describe(cluster(pool_count, args.nodes, random.Random(args.seed))))
    print(f"{'policy':>24} {'jobs':>6} {'pools':>5} {'nodes':>5} {'median_s':>9} {'worst_s':>8} "
          f"{'cands_s':>7} {'placed':>6} {'later':>5} {'status':>8} {'cost':>12} {'bound':>12} "
          f"{'gap':>7}")  # fmt: skip
    for count, pool_count in [(j, p) for j in args.jobs for p in args.pools]:
        rng = random.Random(args.seed)
        pools = cluster(pool_count, args.nodes, rng)
        snap = Snapshot(now=now, pools=pools, jobs=jobs(count, rng, now, args.shapes))
        # What the solver spends before CP-SAT starts: every job's candidates (costmodel).
        started = time.monotonic()
        for job in snap.jobs:
            candidates(job, snap.pools, snap.now, snap.currency)
        prep = time.monotonic() - started
        runs = [(p, look, True) for p, look in POLICIES]
        if args.shapes:
            runs += [(f"{p}, one by one", look, False) for p, look in POLICIES]
        for policy, look, classes in runs:
            settings = SolverSettings(
                time_limit_s=args.time_limit,
                look_ahead=look,
                job_classes=classes,
                num_workers=args.workers,
            )
            times, plan = [], None
            for _ in range(args.repeat):
                plan = solve(snap, settings)
                times.append(plan.seconds)
            assert plan is not None
            planned = plan.total_cost + plan.reserved_cost
            bound, gap = bound_and_gap(planned, plan.best_bound)
            print(
                f"{policy:>24} {count:>6} {len(pools):>5} {sum(len(p.nodes) for p in pools):>5} "
                f"{statistics.median(times):>9.3f} {max(times):>8.3f} {prep:>7.2f} "
                f"{len(plan.placed):>6} {len(plan.reserved):>5} {plan.status:>8} "
                f"{from_micros(plan.total_cost):>12.2f} {bound:>12} {gap:>7}",
                flush=True,
            )


if __name__ == "__main__":
    main()
