"""A lower bound on what any policy of `pricewise simulate` can pay, with capacity: a clairvoyant
(hindsight) LP relaxation over time buckets.

    python benchmarks/hindsight_bound.py \\
      benchmarks/data/gavel/traces/philly-derived-seed0-103959.trace \\
      --throughputs benchmarks/data/gavel/throughputs-isolated.json \\
      --price-table benchmarks/data/pricetable-gcp-gavel.yaml \\
      --node-pools benchmarks/data/nodepools-gavel.yaml \\
      --nodes k80=2 --nodes p100=2 --nodes v100=2 --arrival-scale 0.5 --misses 152 172 \\
      --compare pricewise=53774/152 --compare pricewise-now=54464/172 --finish-by-hours 1218

The simulator's cost floor (`simrun.cost_floor`) puts every job on its cheapest option that meets
its deadline and ignores capacity, so on a busy cluster nobody knows how much of a policy's gap
to it could be closed at all. This script knows every arrival in advance and solves, for each
allowed number of deadline misses M, the LP

    min   sum cost(j, o) * (sum_b x[j, o, b] + y[j, o])
    s.t.  sum_o (sum_b x[j, o, b] + y[j, o]) = 1                      each job runs once
          sum_{j, o on p, b} gpus(j, o) * c(j, o, b, k) <= GPUs of p  each pool p, bucket k
          sum_{j, o} y[j, o] <= M - (jobs no pool can hold)           misses
          x, y >= 0

x[j, o, b]: job j starts on option o (a pool; sim jobs have one width) in bucket b, i.e. in
[b D, (b + 1) D) with D = --bucket-hours, on time: buckets run from the one of its arrival to the
last from which the option can still finish by the deadline. y[j, o]: the job runs on o and
misses its deadline; it is charged no capacity. Jobs, options, run times, GPUs, costs and
deadlines are the simulator's own: `sim_jobs` and `costmodel.candidates`, as `cost_floor` uses.

With `--finish-by-hours E` (say, the last finish of the policies compared), every run ends by E:
on-time starts are cut to those that do, y[j, o] stands for a start in [max(arrival, last start
on time), E - run time] (any start from the arrival for a job without a deadline, which then
has its y too), and for each pool p and each t = 0, T, 2T, ... before E (T = --tail-step-hours)

          sum_{j, o on p} gpus(j, o) * (least seconds of [t, E) the run covers)
                                     * (x[j, o, b] summed over b, or y[j, o]) <= GPUs of p * (E - t)

so late runs and jobs without a deadline take capacity too. It covers every schedule that ends
by E, not one that takes longer to save money.

With `--max-wait H`, a late run, or one without a deadline, starts within H of its arrival (after
the last start on time): its y[j, o] is split by bucket like x and charged the same capacity, so
the bound covers every schedule that keeps that max wait, and with M misses, issue 11's targets
together.

With `--longest-wait H`, waits instead of cost: whether some schedule starts every job within W
of its arrival, deadlines aside (each job's x[j, o, b] over the buckets that meet [arrival,
arrival + W], the same capacity rows, no objective), bisected over W in steps of
`--wait-step-hours` up to H. A W the LP rules out is exceeded by some job's wait in every
schedule the simulator can produce, for the same reasons as below; a W it allows proves nothing.

Why it is a relaxation (every schedule the simulator can produce that runs every job, with
exact run times and no reclaims, maps to a feasible LP point of the same cost, so the LP optimum
is at most the cost of every such policy run with at most M misses; a run with `unplaced` jobs,
which cost nothing, or with `--runtime-noise` is not covered):

- c(j, o, b, k) is the least share of bucket k that the run [s, s + run time) covers over every
  true start s that x[j, o, b] stands for (s in bucket b, at or after the arrival, on time).
  A real run started at s uses gpus x overlap(s, k) GPU-seconds of bucket k, at least gpus x
  c x D; the runs on a pool hold at most its GPUs at any instant, so at most GPUs x D
  GPU-seconds in a bucket: the real schedule satisfies every capacity row.
- A job that misses (runs late) is a y, which takes no capacity in the buckets; one on time is
  an x. With an end E, a run of the schedule ends by E and starts within what its x or y stands
  for, so it spends at least the least share of each tail [t, E) there, where a pool holds at
  most GPUs x (E - t) GPU-seconds: the schedule satisfies every tail row.
- Cost does not depend on the start (on-demand list prices): an option's cost is what
  `simrun.run` charges a run of it (`list_cost`, no runtime noise, no reclaims).

What it leaves out, each only loosening the bound: packing into nodes (a worker must fit on one
node; the LP pools a pool's GPUs), CPU and memory (the sim's workers ask 4 CPUs and 24 GiB per
GPU, so GPUs bind first), the capacity late jobs and jobs without a deadline take (but in the
tail rows of `--finish-by-hours`), the cycle structure of the simulator, and integrality
(fractional starts and options). Spot pools are left out as the simulator's jobs cannot use
them (`allowSpot` is false); runtime noise and reclaims are not modelled.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ortools.linear_solver import pywraplp

from pricewise.core.costmodel import Stage, candidates
from pricewise.core.snapshot import Pool
from pricewise.core.units import MICROS
from pricewise.offline.simcluster import load_pools
from pricewise.offline.simmodel import EPOCH, EPSILON_S, SimJob, sim_jobs
from pricewise.offline.simrun import cost_floor
from pricewise.offline.simulate import node_counts
from pricewise.offline.traces import deadline_factors, load_throughputs, load_trace, window

HOUR = 3600.0


@dataclass(frozen=True)
class Option:
    """One way the simulator can run a job: pool, GPUs held, run time, cost (micro-units)."""

    pool: str
    gpus: int
    run_s: float
    cost: int


@dataclass(frozen=True)
class Comparison:
    """A policy's figures to set against the bound: `NAME=COST/MISSES` on the command line."""

    name: str
    cost: float
    misses: int | None


@dataclass
class Bound:
    """The LP built once; `solve` re-solves it for each number of misses allowed."""

    solver: pywraplp.Solver
    misses_row: pywraplp.Constraint
    forced: int
    """Jobs no pool can hold: the simulator never runs them, so each is a miss at no cost."""
    rows: int
    columns: int
    late: list[pywraplp.Variable]
    """The y variables of jobs with a deadline."""
    max_wait: bool = False
    """Whether late runs keep a max wait: a policy that did not may pay less than the bound."""

    def solve(self, misses: int) -> tuple[float | None, float]:
        """Least cost in the currency with at most `misses` misses (None: infeasible), and the
        seconds the solve took."""
        self.misses_row.SetUb(misses - self.forced)
        started = time.monotonic()
        status = self.solver.Solve()
        seconds = time.monotonic() - started
        if status == pywraplp.Solver.INFEASIBLE or misses < self.forced:
            return None, seconds
        if status != pywraplp.Solver.OPTIMAL:
            raise RuntimeError(f"LP ended with status {status}, not optimal")
        return float(self.solver.Objective().Value()), seconds

    def fewest_misses(self) -> float:
        """Least misses of the LP, fractional, whatever the cost: no schedule has fewer."""
        objective = self.solver.Objective()
        costs = [(v, objective.GetCoefficient(v)) for v in self.solver.variables()]
        objective.Clear()
        objective.SetMinimization()
        for var in self.late:
            objective.SetCoefficient(var, 1.0)
        self.misses_row.SetUb(self.solver.infinity())
        status = self.solver.Solve()
        if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.INFEASIBLE):
            raise RuntimeError(f"the LP of fewest misses ended with status {status}")
        # Infeasible whatever the misses: no schedule ends every job by `--finish-by-hours`.
        infeasible = status == pywraplp.Solver.INFEASIBLE
        fewest = math.inf if infeasible else float(objective.Value()) + self.forced
        objective.Clear()  # back to the cost objective, for `solve`
        objective.SetMinimization()
        for var, cost in costs:
            objective.SetCoefficient(var, cost)
        return fewest


def job_options(sim: SimJob, pools: tuple[Pool, ...], currency: str) -> list[Option]:
    """The job's options as the simulator prices them: each pool that can hold a worker."""
    found = candidates(sim.job, pools, EPOCH, currency)
    # Same filter as `cost_floor`: options that fit a node (sim jobs carry no deadline here,
    # so time does not exclude any); each runs `run_s` and is charged `list_cost`.
    return [
        Option(c.pool.name, c.demand.devices, c.run_s, c.list_cost)
        for c in found
        if c.stage >= Stage.TIME
    ]


def least_cover_s(lo: float, hi: float, run_s: float, start: float, end: float) -> float:
    """Least seconds of [start, end) that a run of `run_s` covers, over starts in [lo, hi].

    The overlap is max(0, g(s)) with g concave in s, so its minimum over an interval is at
    one of the interval's ends.
    """

    def overlap(s: float) -> float:
        return max(0.0, min(s + run_s, end) - max(s, start))

    return min(overlap(lo), overlap(hi))


def build_lp(
    jobs: Sequence[SimJob],
    pools: tuple[Pool, ...],
    currency: str,
    bucket_s: float,
    finish_by_s: float | None = None,
    tail_step_s: float = 86400.0,
    max_wait_s: float | None = None,
) -> Bound:
    """The hindsight LP of the module docstring (the misses row left open until `solve`); with
    `finish_by_s`, every run ends by then and the tail rows (one per pool every `tail_step_s`)
    charge late runs and jobs without a deadline their capacity too; with `max_wait_s`, a late
    run or one without a deadline starts within that of its arrival, in buckets charged their
    capacity as on-time runs are."""
    solver = pywraplp.Solver.CreateSolver("GLOP")
    infinity = solver.infinity()
    capacity = _Capacity(solver, pools, bucket_s)
    gpus = capacity.gpus
    tails: list[tuple[float, dict[str, pywraplp.Constraint]]] = []
    if finish_by_s is not None:
        for t in _steps(finish_by_s, tail_step_s):
            hours = (finish_by_s - t) / HOUR
            tails.append((t, {p: solver.Constraint(-infinity, n * hours) for p, n in gpus.items()}))

    def charge_tails(var: pywraplp.Variable, opt: Option, lo: float, hi: float) -> None:
        """The least GPU-seconds that a run of `opt` started in [lo, hi] spends in each tail."""
        assert finish_by_s is not None
        for t, rows in tails:
            share = least_cover_s(lo, hi, opt.run_s, t, finish_by_s)
            if share > 0:
                rows[opt.pool].SetCoefficient(var, opt.gpus * share / HOUR)

    misses_row = solver.Constraint(-infinity, infinity)
    objective = solver.Objective()
    objective.SetMinimization()
    lates: list[pywraplp.Variable] = []

    def starts(once: pywraplp.Constraint, opt: Option, lo: float, hi: float, *, late: bool,
               held: bool) -> None:  # fmt: skip
        """Runs of `opt` started in [lo, hi]: one variable a bucket where they hold their pool
        in the buckets (`held`), else one; a late one counts as a miss."""
        for start_lo, start_hi in _buckets(lo, hi, bucket_s) if held else [(lo, hi)]:
            var = solver.NumVar(0.0, infinity, "")
            once.SetCoefficient(var, 1.0)
            objective.SetCoefficient(var, opt.cost / MICROS)
            if held:
                capacity.charge(var, opt, start_lo, start_hi)
            if tails:
                charge_tails(var, opt, start_lo, start_hi)
            if late:
                misses_row.SetCoefficient(var, 1.0)
                lates.append(var)

    forced = 0
    for sim in jobs:
        options = job_options(sim, pools, currency)
        if not options:
            forced += 1 if sim.deadline_s is not None else 0
            continue
        once = solver.Constraint(1.0, 1.0)
        for opt in options:
            # On time: a start s with arrival <= s and s + run <= deadline (the simulator's
            # tolerance included), and by the end when there is one. Late (or without a
            # deadline): a start after the last on time, by the end, within the max wait.
            last_start = (
                -math.inf if sim.deadline_s is None else sim.deadline_s + EPSILON_S - opt.run_s
            )
            lo, hi = max(sim.arrival_s, last_start), math.inf
            if max_wait_s is not None:
                hi = sim.arrival_s + max_wait_s
            if finish_by_s is not None:
                hi = min(hi, finish_by_s - opt.run_s)
                last_start = min(last_start, finish_by_s - opt.run_s)
            if lo <= hi:
                # Within a max wait a late run has buckets to hold; without one it is charged
                # no capacity (only the tails' share, when there is an end).
                starts(once, opt, lo, hi, late=sim.deadline_s is not None,
                       held=max_wait_s is not None)  # fmt: skip
            if sim.deadline_s is not None and last_start >= sim.arrival_s:
                starts(once, opt, sim.arrival_s, last_start, late=False, held=True)
    return Bound(
        solver, misses_row, forced, solver.NumConstraints(), solver.NumVariables(), lates,
        max_wait_s is not None,
    )  # fmt: skip


class _Capacity:
    """The rows that keep each pool within its GPUs in each bucket, made as runs reach them."""

    def __init__(self, solver: pywraplp.Solver, pools: tuple[Pool, ...], bucket_s: float) -> None:
        self.solver = solver
        self.bucket_s = bucket_s
        self.gpus = {p.name: sum(n.allocatable.devices for n in p.nodes) for p in pools}
        self.rows: dict[tuple[str, int], pywraplp.Constraint] = {}

    def charge(self, var: pywraplp.Variable, opt: Option, lo: float, hi: float) -> None:
        """Charge `var`, a run of `opt` started in [lo, hi] (one bucket's), the least share of
        each bucket that such a run covers."""
        size = self.bucket_s
        for k in range(int(lo // size), int((hi + opt.run_s) // size) + 1):
            share = least_cover_s(lo, hi, opt.run_s, k * size, (k + 1) * size)
            if share <= 0:
                continue
            row = self.rows.get((opt.pool, k))
            if row is None:
                row = self.solver.Constraint(-self.solver.infinity(), self.gpus[opt.pool])
                self.rows[opt.pool, k] = row
            row.SetCoefficient(var, opt.gpus * share / size)


def _buckets(first_s: float, last_s: float, bucket_s: float) -> list[tuple[float, float]]:
    """[first_s, last_s] cut at the bucket bounds: the start ranges of one bucket each."""
    return [
        (max(b * bucket_s, first_s), min((b + 1) * bucket_s, last_s))
        for b in range(int(first_s // bucket_s), int(last_s // bucket_s) + 1)
    ]


def waits_within(
    jobs: Sequence[SimJob], pools: tuple[Pool, ...], currency: str, bucket_s: float, wait_s: float
) -> bool:
    """Whether the LP has a schedule that starts every job within `wait_s` of its arrival,
    deadlines aside: each job on one of its options in a bucket that overlaps [arrival,
    arrival + wait], the pools within their GPUs as in `build_lp`. False proves that every
    schedule the simulator can produce has a job that waits longer (the same relaxation as the
    cost bound: least covers, GPUs pooled, fractional starts); True proves nothing."""
    solver = pywraplp.Solver.CreateSolver("GLOP")
    capacity = _Capacity(solver, pools, bucket_s)
    for sim in jobs:
        options = job_options(sim, pools, currency)
        if not options:
            continue  # the simulator never starts it: no wait of a started job
        once = solver.Constraint(1.0, 1.0)
        for opt in options:
            for lo, hi in _buckets(sim.arrival_s, sim.arrival_s + wait_s, bucket_s):
                x = solver.NumVar(0.0, solver.infinity(), "")
                once.SetCoefficient(x, 1.0)
                capacity.charge(x, opt, lo, hi)
    status = solver.Solve()
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.INFEASIBLE):
        raise RuntimeError(f"the LP of waits ended with status {status}")
    return status == pywraplp.Solver.OPTIMAL


def late_waits_within(
    jobs: Sequence[SimJob], pools: tuple[Pool, ...], currency: str, bucket_s: float, wait_s: float
) -> bool:
    """Whether the LP has a schedule, with any number of misses, that starts every late run (and
    every run without a deadline) within `wait_s` of its arrival, on-time runs waiting as their
    deadlines allow: `build_lp` with that max wait has a finite fewest misses. False proves that
    in every schedule the simulator can produce some job past its deadline waited longer."""
    lp = build_lp(jobs, pools, currency, bucket_s, max_wait_s=wait_s)
    return lp.fewest_misses() < math.inf


def least_longest_wait(
    jobs: Sequence[SimJob],
    pools: tuple[Pool, ...],
    currency: str,
    bucket_s: float,
    most_s: float,
    step_s: float,
    kept: Callable[..., bool] = waits_within,
) -> float | None:
    """The longest wait, a multiple of `step_s` up to `most_s`, that `kept` (`waits_within`, or
    `late_waits_within`) rules out: in every schedule some job waits longer than that.
    Bisected, as a longer wait only allows more; `most_s` itself when it is ruled out (look
    further), None when not even a wait of 0 is."""
    if not kept(jobs, pools, currency, bucket_s, most_s):
        return most_s
    ruled_out, allowed = -1, math.ceil(most_s / step_s)
    while allowed - ruled_out > 1:
        mid = (ruled_out + allowed) // 2
        if kept(jobs, pools, currency, bucket_s, mid * step_s):
            allowed = mid
        else:
            ruled_out = mid
    return None if ruled_out < 0 else ruled_out * step_s


def _steps(end_s: float, step_s: float) -> list[float]:
    """Instants 0, step, 2 step, ... before `end_s`."""
    return [k * step_s for k in range(math.ceil(end_s / step_s))]


def report(
    bound: Bound,
    misses: Sequence[int],
    floor: float,
    compare: Sequence[Comparison],
    currency: str,
) -> None:
    """Solve for each number of misses and print the bounds, then the comparisons."""
    print(
        f"LP: {bound.columns:,} variables, {bound.rows:,} constraints; "
        f"{bound.forced} job(s) no pool can hold (misses in every schedule)"
    )
    print(f"cost floor, capacity ignored (simulator): {floor:,.2f} {currency}")
    print(f"fewest misses of any schedule (LP, fractional): {bound.fewest_misses():,.2f}")
    print(f"| misses M | LP bound ({currency}) | bound - floor | solve s |")
    print("|---:|---:|---:|---:|")
    bounds: dict[int, float | None] = {}
    for m in sorted(set(misses)):
        value, seconds = bound.solve(m)
        bounds[m] = value
        if value is None:
            print(f"| {m} | infeasible | | {seconds:.1f} |")
        else:
            print(f"| {m} | {value:,.2f} | {value - floor:+,.2f} | {seconds:.1f} |")
    for c in compare:
        for m in [c.misses] if c.misses is not None else sorted(set(misses)):
            value = bounds[m]
            if value is None:
                said = (
                    "it did not keep the max wait"
                    if bound.max_wait
                    else "its figures contradict the LP"
                )
                print(f"{c.name}: bound infeasible at M={m}: {said}")
                continue
            closable = (c.cost - value) / (c.cost - floor) if c.cost != floor else math.nan
            above = value > c.cost + 0.01
            flag = "  ** bound above cost: NOT VALID **" if above and not bound.max_wait else ""
            print(
                f"{c.name}: {c.cost:,.2f} {currency}, bound at M={m} {value:,.2f}: "
                f"{closable:.0%} of its gap to the floor is closable{flag}"
            )


def _comparison(text: str) -> Comparison:
    name, _, figures = text.rpartition("=")
    cost, _, missed = figures.partition("/")
    return Comparison(name or text, float(cost.replace(",", "")), int(missed) if missed else None)


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's inputs as the scripts on this LP take them: trace window, cluster, seed."""
    parser.add_argument("trace", help="Gavel job trace (.trace)")
    parser.add_argument("--throughputs", required=True, help="Gavel throughputs JSON")
    parser.add_argument("--price-table", required=True, help="YAML with a PriceTable")
    parser.add_argument("--node-pools", required=True, help="YAML: NodePools or Node objects")
    parser.add_argument("--nodes", action="append", default=[], metavar="POOL=N")
    parser.add_argument("--skip", type=int, default=0, help="trace jobs to skip (by arrival)")
    parser.add_argument("--jobs", type=int, help="trace jobs to take after --skip (default all)")
    parser.add_argument("--arrival-scale", type=float, default=1.0)
    parser.add_argument(
        "--deadline-factor", type=float, nargs=2, default=[1.5, 3.0], metavar=("LOW", "HIGH")
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the deadline factors")


def load_inputs(
    args: argparse.Namespace, deadlines: bool = True
) -> tuple[list[SimJob], int, tuple[Pool, ...], str]:
    """The jobs (and how many had no throughputs), pools and currency the arguments name."""
    pools, currency = load_pools(args.price_table, args.node_pools, node_counts(args.nodes))
    trace = window(load_trace(args.trace), args.skip, args.jobs, args.arrival_scale)
    low, high = args.deadline_factor
    factors = deadline_factors(len(trace), low, high, args.seed) if deadlines else None
    jobs, skipped = sim_jobs(trace, load_throughputs(args.throughputs), factors)
    return jobs, len(skipped), pools, currency


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_input_arguments(parser)
    parser.add_argument(
        "--misses",
        type=int,
        nargs="+",
        action="extend",
        default=[],
        help="deadline misses allowed; repeatable (0 and every job are always solved)",
    )
    parser.add_argument("--bucket-hours", type=float, default=1.0)
    parser.add_argument(
        "--finish-by-hours",
        type=float,
        help="every run ends by then (hours since the first arrival, e.g. a policy's last "
        "finish): late runs and jobs without a deadline then take capacity too",
    )
    parser.add_argument(
        "--tail-step-hours",
        type=float,
        default=24.0,
        help="with --finish-by-hours, a capacity row per pool for each interval from a "
        "multiple of this to the end (default 24)",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        metavar="HOURS",
        help="the cost bound of schedules that keep a max wait: a late run (or one without a "
        "deadline) starts within HOURS of its arrival and holds its pool as on-time runs do",
    )
    parser.add_argument(
        "--longest-wait",
        type=float,
        metavar="HOURS",
        help="instead of the cost bound: the longest wait (up to HOURS) that every schedule "
        "exceeds for some job, deadlines aside, bisected to --wait-step-hours",
    )
    parser.add_argument("--wait-step-hours", type=float, default=1.0)
    parser.add_argument(
        "--late-waits",
        action="store_true",
        help="with --longest-wait: the waits of late runs alone, with any number of misses, "
        "on-time runs waiting as their deadlines allow",
    )
    parser.add_argument(
        "--compare",
        type=_comparison,
        action="append",
        default=[],
        metavar="NAME=COST[/MISSES]",
        help="a policy's cost (and misses: the bound is then taken at M=MISSES, else at every "
        "M); repeatable",
    )
    return parser


def main() -> int:
    """Load the simulator's inputs, build the LP and print the bounds."""
    args = _parser().parse_args()
    jobs, skipped, pools, currency = load_inputs(args)
    end = args.finish_by_hours
    ending = "" if end is None else f", every run ends by {end:g} h"
    if args.max_wait is not None:
        ending += f", late runs start within {args.max_wait:g} h of their arrival"
    shape = ", ".join(f"{p.name} {sum(n.allocatable.devices for n in p.nodes)}" for p in pools)
    print(
        f"{len(jobs)} jobs ({skipped} without throughputs left out), arrivals "
        f"x{args.arrival_scale:g}, seed {args.seed}; GPUs: {shape}; "
        f"buckets of {args.bucket_hours:g} h{ending}"
    )
    started = time.monotonic()
    if args.longest_wait is not None:
        kept, of = (
            (late_waits_within, "late runs, any misses")
            if args.late_waits
            else (waits_within, "deadlines aside")
        )
        wait = least_longest_wait(
            jobs, pools, currency, args.bucket_hours * HOUR,
            args.longest_wait * HOUR, args.wait_step_hours * HOUR, kept,
        )  # fmt: skip
        said = "none" if wait is None else f"more than {wait / HOUR:g} h"
        print(f"longest wait of any schedule (LP, {of}): {said}; "
              f"{time.monotonic() - started:.1f}s")  # fmt: skip
        return 0
    finish_by_s = None if args.finish_by_hours is None else args.finish_by_hours * HOUR
    max_wait_s = None if args.max_wait is None else args.max_wait * HOUR
    bound = build_lp(
        jobs, pools, currency, args.bucket_hours * HOUR, finish_by_s,
        args.tail_step_hours * HOUR, max_wait_s,
    )  # fmt: skip
    print(f"built in {time.monotonic() - started:.1f}s")
    misses = [0, len(jobs), *args.misses, *(c.misses for c in args.compare if c.misses is not None)]
    report(bound, misses, cost_floor(jobs, pools, currency) / MICROS, args.compare, currency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
