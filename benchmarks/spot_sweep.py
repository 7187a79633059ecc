"""Spot with and without its risk priced in: cost and deadline misses under seeded reclaims.

    python benchmarks/spot_sweep.py                        # the table in benchmarks/README.md
    python benchmarks/spot_sweep.py --rates 0.05 --scale 0.5

Replays a Gavel trace on the Gavel cluster with spot twins of the P100 and V100 pools
(`data/pricetable-gcp-gavel-spot.yaml`, `data/nodepools-gavel-spot.yaml`: as many nodes as the
on-demand pools, at the checked GPU-only spot prices) under pricewise three ways, same jobs,
same reclaims:

- on-demand only: no job allows spot;
- spot, blind: jobs allow spot, spot priced at list (the pools declare no interruption rate);
- spot, risk-priced: jobs allow spot, the spot pools declare the true rate, so spot options
  are priced and planned with the work reclaims lose (`pricewise.core.spotrisk`), and a job
  whose likely reclaims would use up its restarts stays off spot.

Each spot run is reclaimed at the given rate per node-hour (seeded Poisson), jobs checkpoint
every 30 minutes or never; a job reclaimed more than 3 times fails (the operator's default
`maxRestarts`), and counts as a miss. Prints a Markdown table: cost (USD, lost work included) /
deadline misses, then restarts, failed jobs and the cost of lost work. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import machine
from pricewise.core.settings import SolverSettings
from pricewise.offline import simmodel, simpolicies, simreport, simrun
from pricewise.offline.simcluster import load_pools
from pricewise.offline.traces import deadline_factors, load_throughputs, load_trace, window

HERE = Path(__file__).parent
DATA = HERE / "data"
SPOT = ("p100-spot", "v100-spot")


def _run(
    jobs: list[simmodel.SimJob], rate: float, mode: str, args: argparse.Namespace
) -> dict[str, Any]:
    pools, currency = load_pools(
        DATA / "pricetable-gcp-gavel-spot.yaml",
        DATA / "nodepools-gavel-spot.yaml",
        {name: args.nodes for name in ("k80", "p100", "v100", *SPOT)},
    )
    if mode == "risk":
        pools = tuple(replace(p, interruption_rate=rate) if p.is_spot else p for p in pools)
    if mode != "on-demand":
        jobs = [replace(s, job=replace(s.job, allow_spot=True)) for s in jobs]
    policy = simpolicies.pricewise_policy(SolverSettings(args.time_limit))
    result = simrun.run(
        jobs,
        pools,
        policy,
        mode,
        currency=currency,
        reclaims=dict.fromkeys(SPOT, rate),
        seed=args.seed,
    )
    return simreport.summary(result)


def main() -> None:
    """Run every (rate, checkpointing) pair and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trace", type=Path, default=DATA / "gavel/traces/philly-derived-seed0-103959.trace"
    )
    parser.add_argument("--nodes", type=int, default=2, help="nodes of 8 GPUs in every pool")
    parser.add_argument("--scale", type=float, default=1.0, help="arrival scale")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.01, 0.05, 0.2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=2.0)
    args = parser.parse_args()
    table = load_throughputs(DATA / "gavel" / "throughputs-isolated.json")
    trace = window(load_trace(args.trace), 0, None, args.scale)
    plain, _ = simmodel.sim_jobs(trace, table, deadline_factors(len(trace), 1.5, 3.0, args.seed))
    print(
        f"# {args.trace.name}, {args.nodes} nodes of 8 GPUs a pool (k80, p100, v100 and spot "
        f"twins of p100, v100), arrivals x{args.scale:g}, seed {args.seed}; "
        f"{machine.conditions()}\n"
    )
    print(
        "| reclaims / node-hour | checkpoints | on-demand only | spot, blind | spot, risk-priced "
        "| restarts (blind / risk) | failed (blind / risk) | lost work, USD (blind / risk) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    on_demand: dict[str, Any] | None = None
    for rate in args.rates:
        for every in (1800.0, None):
            started = time.monotonic()
            jobs = [replace(s, job=replace(s.job, checkpoint_s=every)) for s in plain]
            # Nothing runs on spot: the same figures at every rate and checkpointing.
            on_demand = on_demand or _run(jobs, rate, "on-demand", args)
            blind = _run(jobs, rate, "blind", args)
            risk = _run(jobs, rate, "risk", args)
            cells = [
                f"{r['totalCost']:,.0f} / {r['deadlineMisses']}" for r in (on_demand, blind, risk)
            ]
            print(
                f"| {rate:g} | {'30m' if every else 'none'} | {' | '.join(cells)} "
                f"| {blind['restarts']} / {risk['restarts']} "
                f"| {blind['failed']} / {risk['failed']} "
                f"| {blind['lostWorkCost']:,.0f} / {risk['lostWorkCost']:,.0f} |"
            )
            print(f"{rate:g} {every}: {time.monotonic() - started:.0f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
