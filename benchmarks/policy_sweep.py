"""Policy comparison over cluster shapes, loads and admin orders: one row per setting.

    python benchmarks/policy_sweep.py                       # the grid in benchmarks/README.md
    python benchmarks/policy_sweep.py --clusters 2,2,2 --scales 0.5 --seeds 0 1 2

Replays a Gavel trace with `pricewise simulate`'s event loop under pricewise (planning over
time), pricewise-now (deciding only what starts now, its baseline), first-fit (in the
PriceTable's order, cheapest per GPU-hour first, and in the fastest-first order) and cheapest,
and prints a Markdown table: cost and deadline misses of each, the share of pricewise-now's
gap to the cost floor that pricewise closes, and pricewise's cost against each baseline.
Fixed seeds; figures, not assertions.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import machine
from pricewise.core.lookahead import LookAhead
from pricewise.core.settings import SolverSettings
from pricewise.offline import simmodel, simpolicies, simreport, simrun
from pricewise.offline.simcluster import load_pools
from pricewise.offline.traces import deadline_factors, load_throughputs, load_trace, window

HERE = Path(__file__).parent
DATA = HERE / "data"


def _row(
    trace_path: Path, counts: dict[str, int], scale: float, seed: int, args: argparse.Namespace
) -> dict[str, Any]:
    table = load_throughputs(DATA / "gavel" / "throughputs-isolated.json")
    trace = window(load_trace(trace_path), args.skip, args.jobs, scale)
    factors = deadline_factors(len(trace), 1.5, 3.0, seed)
    jobs, _ = simmodel.sim_jobs(trace, table, factors)
    out: dict[str, Any] = {}
    for label, order in (("table", None), ("fastest", ["v100", "p100", "k80"])):
        pools, currency = load_pools(
            DATA / "pricetable-gcp-gavel.yaml", DATA / "nodepools-gavel.yaml", counts, order
        )
        out["floor"] = simrun.cost_floor(jobs, pools, currency) / 1e6
        runs: list[tuple[str, simmodel.Policy]] = [("first-fit", simpolicies.first_fit_policy)]
        if label == "table":
            now_only = SolverSettings(args.time_limit, look_ahead=LookAhead(enabled=False))
            runs += [
                ("pricewise", simpolicies.pricewise_policy(SolverSettings(args.time_limit))),
                ("pricewise-now", simpolicies.pricewise_policy(now_only)),
                ("cheapest", simpolicies.cheapest_policy),
            ]
        for name, policy in runs:
            figures = simreport.summary(simrun.run(jobs, pools, policy, name, currency=currency))
            key = name if label == "table" or name != "first-fit" else "first-fit-fastest"
            out[key] = figures
    return out


def main() -> None:
    """Run the grid and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trace", type=Path, default=DATA / "gavel/traces/philly-derived-seed0-103959.trace"
    )
    parser.add_argument("--skip", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument(
        "--clusters",
        nargs="+",
        default=["4,4,4", "2,2,2", "1,1,4", "4,1,1"],
        help="nodes of 8 GPUs in k80,p100,v100",
    )
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--time-limit", type=float, default=2.0)
    args = parser.parse_args()
    print(f"# {args.trace.name}, deadline factors U(1.5, 3); {machine.conditions()}\n")
    print("| k80,p100,v100 nodes | arrivals | seed | busiest pool | floor | pricewise | "
          "pricewise-now | first-fit (table order) | first-fit (fastest first) | cheapest | "
          "gap closed | pricewise vs first-fit (table / fastest) | vs cheapest |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for cluster in args.clusters:
        k80, p100, v100 = (int(x) for x in cluster.split(","))
        counts = {"k80": k80, "p100": p100, "v100": v100}
        for scale in args.scales:
            for seed in args.seeds:
                started = time.monotonic()
                row = _row(args.trace, counts, scale, seed, args)
                ours = row["pricewise"]

                def cell(figures: dict[str, Any]) -> str:
                    return f"{figures['totalCost']:,.0f} / {figures['deadlineMisses']}"

                def versus(other: str, row: dict[str, Any] = row, ours: Any = ours) -> str:
                    return f"{ours['totalCost'] / row[other]['totalCost'] - 1:+.1%}"

                busiest = max(ours["utilisation"].values())
                before = row["pricewise-now"]["totalCost"]
                gap = before - row["floor"]
                closed = (before - ours["totalCost"]) / gap if gap > 0 else 0.0
                print(
                    f"| {cluster} | x{scale:g} | {seed} | {busiest:.0%} | {row['floor']:,.0f} | "
                    f"{cell(ours)} | {cell(row['pricewise-now'])} | {cell(row['first-fit'])} | "
                    f"{cell(row['first-fit-fastest'])} | {cell(row['cheapest'])} | {closed:.0%} | "
                    f"{versus('first-fit')} / {versus('first-fit-fastest')} | "
                    f"{versus('cheapest')} |",
                    flush=True,
                )
                print(f"{cluster} x{scale:g} seed {seed}: {time.monotonic() - started:.0f}s",
                      file=sys.stderr)  # fmt: skip
    print(
        "\nCells: total cost (USD) / deadline misses. Floor: every job on its cheapest option "
        "that meets its deadline, capacity ignored. Busiest pool: pricewise's utilisation. Gap "
        "closed: (pricewise-now - pricewise) / (pricewise-now - floor)."
    )


if __name__ == "__main__":
    main()
