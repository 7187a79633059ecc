"""A planner of another kind beside pricewise: a fluid LP over the next hours, re-solved each cycle.

    python benchmarks/rolling_lp.py \\
      benchmarks/data/gavel/traces/philly-derived-seed0-103959.trace \\
      --throughputs benchmarks/data/gavel/throughputs-isolated.json \\
      --price-table benchmarks/data/pricetable-gcp-gavel.yaml \\
      --node-pools benchmarks/data/nodepools-gavel.yaml \\
      --nodes k80=2 --nodes p100=2 --nodes v100=2 --arrival-scale 0.5 [--foresight]

Each cycle of `pricewise simulate`'s replay, the policy solves one LP (GLOP) over hour buckets
of the horizon: every waiting job starts on one of its options in a bucket (fractions allowed)
or not within it, and each pool holds, bucket by bucket, at most its GPUs less what running jobs
hold until their estimated ends. It pays the options' cost, plus `MISS_USD` for a job with a
deadline that starts too late to meet it (or not within the horizon), plus `WAIT_USD` an hour
of wait for the others; with `--late-within H`, a job without a deadline (or past it) pays
`MISS_USD` too for a start past H from its submission, and `OVERDUE_USD` for each hour past
it (a flat charge alone leaves a job once past H as free to wait as before). It starts now the
jobs the LP starts now for at least half of them, on their largest share first, where the nodes
hold them. With `--foresight`, the LP also knows the jobs that arrive within the horizon, each
from its arrival (no policy can know them: it says what a day's foresight is worth).

It is the fluid relaxation that planners such as Gavel re-solve every round, run as a policy,
and the same LP as `hindsight_bound.py`'s, cut to the horizon: what it shows is whether a
planner built on it, blind or with foresight, reaches issue 11's cost target without letting
jobs wait without bound (benchmarks/README.md, "A fluid LP re-solved each cycle": it does not;
bounded, its waits stay longer than pricewise's). Prints the simulator's summary of the run as
JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace

from ortools.linear_solver import pywraplp

from hindsight_bound import HOUR, add_input_arguments, load_inputs
from pricewise.core.costmodel import Candidate, candidates
from pricewise.core.greedy import Ledger
from pricewise.core.snapshot import Job, Snapshot
from pricewise.core.units import MICROS
from pricewise.offline.simmodel import EPOCH, CycleResult, Policy, SimJob
from pricewise.offline.simpolicies import cheapest_policy
from pricewise.offline.simreport import summary
from pricewise.offline.simrun import run

MISS_USD = 2000.0
"""What a missed deadline (or a start past `--late-within`) counts for: more than any run here
costs, so the LP trades a miss for no saving."""
WAIT_USD = 0.02
"""What an hour of wait counts for where no deadline bounds it: a tie-break toward early."""
OVERDUE_USD = 100.0
"""What each hour of a start past `--late-within` adds: more than an hour's saving of any run
here, so the jobs longest past it start first."""


def rolling_lp_policy(
    horizon_s: float,
    late_within_s: float | None = None,
    arrivals: Sequence[SimJob] = (),
) -> Policy:
    """The policy of the module docstring; `arrivals` (sorted by arrival) is what it foresees:
    those that arrive within the horizon join each cycle's LP from their arrival."""
    buckets = max(1, round(horizon_s / HOUR))

    def place(snapshot: Snapshot) -> CycleResult:
        started = time.monotonic()
        now = (snapshot.now - EPOCH).total_seconds()
        edges = [now + k * HOUR for k in range(buckets + 1)]
        solver = pywraplp.Solver.CreateSolver("GLOP")
        rows = {}
        for pool in snapshot.pools:
            gpus = sum(n.allocatable.devices for n in pool.nodes)
            for k in range(buckets):
                held = sum(
                    r.frees.devices * _overlap(now, (r.at - EPOCH).total_seconds(), edges, k)
                    for r in pool.releases
                )
                rows[pool.name, k] = solver.Constraint(-solver.infinity(), max(0.0, gpus - held))
        objective = solver.Objective()
        objective.SetMinimization()
        starts_now: list[tuple[pywraplp.Variable, Candidate]] = []

        def add(job: Job, arrival: float, deadline: float | None, created: float) -> None:
            """One job's rows: its starts within the horizon, or none at a penalty."""
            options = [
                c
                for c in candidates(
                    replace(job, deadline=None, missed_deadline=None),
                    snapshot.pools,
                    snapshot.now,
                    snapshot.currency,
                )
                if c.feasible
            ]
            if not options:
                return
            once = solver.Constraint(1.0, 1.0)
            unbound = deadline is None
            due = None if not unbound or late_within_s is None else created + late_within_s

            def overdue(start: float) -> float:
                if due is None or start <= due:
                    return 0.0
                return MISS_USD + OVERDUE_USD * (start - due) / HOUR

            skip = solver.NumVar(0.0, 1.0, "")
            once.SetCoefficient(skip, 1.0)
            cheapest = min(c.cost for c in options) / MICROS
            objective.SetCoefficient(
                skip, cheapest + (WAIT_USD * buckets + overdue(edges[-1]) if unbound else MISS_USD)
            )
            for cand in options:
                for k in range(buckets):
                    start = max(edges[k], arrival)
                    if start >= edges[k + 1]:
                        continue
                    if deadline is not None and start + cand.run_s > deadline:
                        break
                    x = solver.NumVar(0.0, 1.0, "")
                    once.SetCoefficient(x, 1.0)
                    waited = (start - arrival) / HOUR
                    objective.SetCoefficient(
                        x,
                        cand.cost / MICROS
                        + (WAIT_USD * waited + overdue(start) if unbound else 0.0),
                    )
                    for kk in range(k, buckets):
                        share = _overlap(start, start + cand.run_s, edges, kk)
                        if share <= 0:
                            break
                        rows[cand.pool.name, kk].SetCoefficient(x, cand.demand.devices * share)
                    if k == 0 and arrival <= now:
                        starts_now.append((x, cand))

        for job in snapshot.jobs:
            deadline = None if job.deadline is None else (job.deadline - EPOCH).total_seconds()
            created = now if job.created is None else (job.created - EPOCH).total_seconds()
            add(job, now, deadline, created)
        for sim in arrivals:
            if now < sim.arrival_s <= edges[-1]:
                add(sim.job, sim.arrival_s, sim.deadline_s, sim.arrival_s)
        status = solver.Solve()
        placements = []
        if status == pywraplp.Solver.OPTIMAL:
            placements = _starts(snapshot, starts_now)
        if not placements and not any(p.releases for p in snapshot.pools):
            # Nothing runs, so no later cycle comes: start what fits, cheapest first.
            placements = cheapest_policy(snapshot).placements
        return CycleResult(placements, "optimal" if status == 0 else str(status),
                           time.monotonic() - started)  # fmt: skip

    return place


def _overlap(start: float, end: float, edges: Sequence[float], k: int) -> float:
    """Share of bucket k that [start, end) covers."""
    return max(0.0, min(end, edges[k + 1]) - max(start, edges[k])) / (edges[k + 1] - edges[k])


def _starts(
    snapshot: Snapshot, starts_now: list[tuple[pywraplp.Variable, Candidate]]
) -> list[tuple[Candidate, tuple[str, ...]]]:
    """The jobs the LP starts now for at least half of them, largest share first."""
    share: dict[str, float] = {}
    for x, cand in starts_now:
        share[cand.job.key] = share.get(cand.job.key, 0.0) + x.solution_value()
    ledger = Ledger.of(snapshot)
    placed: list[tuple[Candidate, tuple[str, ...]]] = []
    done: set[str] = set()
    for x, cand in sorted(starts_now, key=lambda v: -v[0].solution_value()):
        key = cand.job.key
        if share[key] < 0.5 or x.solution_value() <= 1e-6 or key in done:
            continue
        nodes = ledger.fit(cand)
        if nodes is not None:
            ledger.take(cand, nodes)
            placed.append((cand, nodes))
            done.add(key)
    return placed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_input_arguments(parser)
    parser.add_argument("--no-deadlines", action="store_true")
    parser.add_argument("--horizon-hours", type=float, default=24.0)
    parser.add_argument("--foresight", action="store_true", help="know the horizon's arrivals")
    parser.add_argument(
        "--late-within",
        type=float,
        metavar="HOURS",
        help="a start past HOURS from submission of a job without a deadline (or past it) "
        "counts as a miss",
    )
    return parser


def main() -> int:
    """Replay the trace under the policy and print its summary."""
    args = _parser().parse_args()
    jobs, _, pools, currency = load_inputs(args, deadlines=not args.no_deadlines)
    late_within = None if args.late_within is None else args.late_within * HOUR
    foreseen = sorted(jobs, key=lambda s: s.arrival_s) if args.foresight else []
    policy = rolling_lp_policy(args.horizon_hours * HOUR, late_within, foreseen)
    result = run(jobs, pools, policy, "rolling-lp", currency=currency)
    print(json.dumps(summary(result), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
