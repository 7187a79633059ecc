"""`pricewise simulate`: replay a job trace through simulated time under placement policies,
side by side (see `simrun` for the event loop and `simpolicies` for the policies)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pricewise.core.lookahead import LookAhead
from pricewise.core.settings import SolverSettings
from pricewise.core.snapshot import Pool
from pricewise.core.units import MICROS
from pricewise.offline.arguments import max_wait, time_limit, wait_cost, within
from pricewise.offline.backfill import backfill_policy
from pricewise.offline.simcluster import MAX_NODES, ClusterFileError, load_pools
from pricewise.offline.simmodel import Policy, SimJob, sim_jobs
from pricewise.offline.simpolicies import (
    POLICIES,
    cheapest_policy,
    fifo_policy,
    first_fit_policy,
    pricewise_policy,
)
from pricewise.offline.simreport import job_rows, render_table, summary
from pricewise.offline.simrun import cost_floor, run, runtime_factors
from pricewise.offline.traces import (
    TraceError,
    deadline_factors,
    load_throughputs,
    load_trace,
    window,
)


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
        help="policy to run; repeat for several (default: all of them)",
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
    parser.add_argument(
        "--skip", type=within(int, 0, None, "a whole number from 0"), default=0,
        help="trace jobs to skip (by arrival)",
    )  # fmt: skip
    parser.add_argument(
        "--jobs", type=within(int, 1, None, "a whole number from 1"),
        help="trace jobs to take after --skip (default all)",
    )  # fmt: skip
    parser.add_argument(
        "--arrival-scale",
        # Bounded, as the others below, so that the replay's times stay within a datetime's.
        type=within(float, 1e-9, 1e4, "a factor above 0 and below 10,000, such as 0.5"),
        default=1.0,
        help="multiply gaps between arrivals (below 1 makes the trace denser; default 1)",
    )
    parser.add_argument(
        "--deadline-factor",
        # Below 1, a deadline comes before the job's fastest run could end.
        type=within(float, 1.0, 1e3, "a factor from 1 and below 1,000, such as 1.5"),
        nargs=2,
        default=[1.5, 3.0],
        metavar=("LOW", "HIGH"),
        help="deadline = arrival + U(LOW, HIGH) x fastest runtime (default 1.5 3)",
    )
    parser.add_argument("--no-deadlines", action="store_true", help="jobs have no deadline")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the deadline factors and runtime noise"
    )
    parser.add_argument(
        "--runtime-noise",
        type=within(float, 0.0, 1.0, "a share from 0 to below 1, such as 0.3"),
        default=0.0,
        metavar="F",
        help="each job runs U(1-F, 1+F) times its estimate, seeded; the policies plan with "
        "the estimate (default 0: estimates are exact)",
    )
    parser.add_argument(
        "--max-wait",
        type=max_wait,
        default=LookAhead().max_wait_s / 3600,
        metavar="HOURS",
        help="longest pricewise holds a job back for cheaper capacity, from its arrival: hours "
        "or a duration as the chart's scheduler.maxWait takes it, e.g. 48h or 2d "
        "(default %(default)g)",
    )
    parser.add_argument(
        "--wait-cost",
        type=wait_cost,
        default=LookAhead.wait_cost,
        metavar="F",
        help="what pricewise counts the wait of a job without a deadline for, as a share of "
        "the job's price over the wait (default %(default)g; pricewise-free-waits: 0)",
    )
    parser.add_argument(
        "--time-limit",
        type=time_limit,
        default=2.0,
        help="solver time per cycle, in CP-SAT's deterministic seconds (about seconds, but the "
        "same figures on any machine under any load; default 2)",
    )
    parser.add_argument(
        "--window",
        type=within(float, 0.0, 1e7, "a number of seconds from 0 and below 10,000,000"),
        default=0.0,
        help="batch events into cycles every this many seconds (default 0: every event)",
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=["table", "json"],
        default="table",
        help="a table for people (the default), or JSON: per policy, with the setup and the "
        "cost floor",
    )
    parser.add_argument(
        "--per-job",
        action="store_true",
        help="with -o json: add each policy's jobs (arrival, start, finish, wait, pool, "
        "workers, cost, deadline met) as its `records`",
    )
    parser.add_argument("--plots", metavar="DIR", help="write PNG figures into this folder")
    return parser


def node_counts(values: Sequence[str]) -> dict[str, int]:
    """`--nodes POOL=N` values as a count per pool; a malformed one is a `ClusterFileError`."""
    counts = {}
    for value in values:
        pool, sep, count = value.partition("=")
        if not sep or not count.isdigit() or int(count) > MAX_NODES:
            raise ClusterFileError(
                f"--nodes {value!r}: expected POOL=N with N from 0 to {MAX_NODES:,}, e.g. v100=4"
            )
        counts[pool] = int(count)
    return counts


def _plots_folder(parser: argparse.ArgumentParser, folder: Path) -> None:
    """Create the folder of `--plots` before the replay, so that one it cannot be written to
    is said at once rather than after minutes of simulation."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        parser.error(f"--plots {folder}: a file is there; give a folder")
    except OSError as err:
        parser.error(f"--plots {folder}: cannot create the folder: {err.strerror}")
    if not os.access(folder, os.W_OK):
        parser.error(f"--plots {folder}: cannot write there; give a folder you may write to")


@dataclass(frozen=True)
class _Inputs:
    """What a replay reads from its files and flags."""

    pools: tuple[Pool, ...]
    currency: str
    jobs: list[SimJob]
    skipped: int
    """Trace jobs left out: no measured throughput."""
    fifo_pool: str


def main(argv: list[str]) -> int:
    """Entry point of `pricewise simulate ARGS...`; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv[1:] if argv[:1] == ["--"] else argv)
    if args.per_job and args.output != "json":
        parser.error("--per-job needs -o json")
    low, high = args.deadline_factor
    if low > high:
        parser.error(f"--deadline-factor {low:g} {high:g}: give the lower factor first")
    if args.plots:
        _plots_folder(parser, Path(args.plots))
    try:
        inputs = _inputs(args)
    except (TraceError, ClusterFileError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    noise = runtime_factors(inputs.jobs, args.runtime_noise, args.seed)
    policies = _policies(args, inputs.fifo_pool)
    results = []
    for name, policy in policies.items():
        fifo = name == "fifo"
        result = run(
            inputs.jobs,
            inputs.pools,
            policy,
            name,
            currency=inputs.currency,
            window_s=args.window,
            deadline_blind=fifo or name == "kueue",
            fixed_pool=inputs.fifo_pool if fifo else None,
            runtime_factors=noise,
        )
        print(f"{name}: {result.cycles} cycles in {result.wall_seconds:.1f}s", file=sys.stderr)
        results.append(result)
    rows = [summary(r) for r in results]
    setup = _setup(args, inputs, "fifo" in policies)
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
            f"{setup['trace']}: {len(inputs.jobs)} jobs ({inputs.skipped} left out: no measured "
            f"throughput), arrivals x{args.arrival_scale:g}; GPUs: {gpus}"
            + (f"; fifo on {inputs.fifo_pool}" if setup["fifoPool"] else "")
        )
        print(render_table(rows, inputs.pools))
        print(
            f"cost floor (each job on its cheapest option that meets its deadline, capacity "
            f"ignored): {setup['costFloor']:,.2f} {inputs.currency}"
        )
    return 0


def _inputs(args: argparse.Namespace) -> _Inputs:
    """The cluster, prices and jobs of a replay, or the error (TraceError, ClusterFileError,
    ValueError) that names what to fix."""
    pools, currency = load_pools(
        args.price_table,
        args.node_pools,
        node_counts(args.nodes),
        args.order.split(",") if args.order else None,
    )
    table = load_throughputs(args.throughputs)
    trace = window(load_trace(args.trace), args.skip, args.jobs, args.arrival_scale)
    if not trace:
        raise TraceError(f"{args.trace}: no job left after --skip {args.skip}")
    factors = (
        None
        if args.no_deadlines
        else deadline_factors(
            len(trace), args.deadline_factor[0], args.deadline_factor[1], args.seed
        )
    )
    if not any(p.nodes for p in pools):
        # A replay would place nothing and report a cost floor of 0.
        where = (
            "--nodes leaves" if args.nodes else f"{args.node_pools}: the file puts"
        ) + f" no node in any pool of {args.price_table} ({', '.join(p.name for p in pools)})"
        raise ClusterFileError(
            f"{where}; give nodes labelled as the pools' nodeSelectors ask, or NodePools "
            "entries with nodes, and --nodes POOL=N above 0"
        )
    fifo_pool = args.pool or pools[0].name
    if fifo_pool not in {p.name for p in pools}:
        raise ClusterFileError(f"--pool {fifo_pool}: no such pool")
    jobs, skipped = sim_jobs(trace, table, factors)
    if not jobs:
        # A replay of none printed a table of zeros, and exited 0.
        raise TraceError(
            f"{args.throughputs}: no throughput for any of the trace's {len(trace)} job(s) on a "
            "GPU it names (k80, p100, v100): give Gavel's throughputs file"
        )
    return _Inputs(pools, currency, jobs, len(skipped), fifo_pool)


def _policies(args: argparse.Namespace, fifo_pool: str) -> dict[str, Policy]:
    """The policies `--policy` names (all of them by default), in that order."""
    look = LookAhead(max_wait_s=args.max_wait * 3600, wait_cost=args.wait_cost)
    settings = SolverSettings(time_limit_s=args.time_limit, look_ahead=look)
    now_only = SolverSettings(time_limit_s=args.time_limit, look_ahead=LookAhead(enabled=False))
    free_waits = replace(settings, look_ahead=replace(look, wait_cost=0.0))
    made: dict[str, Callable[[], Policy]] = {
        "pricewise": lambda: pricewise_policy(settings),
        "pricewise-free-waits": lambda: pricewise_policy(free_waits),
        "pricewise-now": lambda: pricewise_policy(now_only),
        "first-fit": lambda: first_fit_policy,
        "kueue": lambda: first_fit_policy,
        "cheapest": lambda: cheapest_policy,
        "backfill": lambda: backfill_policy,
        "fifo": lambda: fifo_policy(fifo_pool),
    }
    return {name: made[name]() for name in args.policy or POLICIES}


def _setup(args: argparse.Namespace, inputs: _Inputs, with_fifo: bool) -> dict[str, Any]:
    """The replay's inputs as its JSON's `setup` says them, with the cost floor."""
    pools = inputs.pools
    return {
        "trace": Path(args.trace).name,
        "jobs": len(inputs.jobs),
        "skippedNoThroughput": inputs.skipped,
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
        "waitCost": args.wait_cost,
        "costFloor": round(cost_floor(inputs.jobs, pools, inputs.currency) / MICROS, 2),
        "fifoPool": inputs.fifo_pool if with_fifo else None,
        "timeLimit": args.time_limit,
        "window": args.window,
        "runtimeNoise": args.runtime_noise,
        "maxWaitHours": args.max_wait,
    }
