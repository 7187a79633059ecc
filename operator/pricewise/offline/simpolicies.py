"""The placement policies the simulator compares: pricewise's solver and what its peers do.

- `pricewise`: the CP-SAT solver of the operator, on every cycle's snapshot, planning over
  time (a job may wait for cheaper capacity that frees later, and holds a reservation);
- `pricewise-free-waits`: the same, with the waits of jobs without a deadline counted for
  nothing (`LookAhead.wait_cost` 0: such a job waits for any saving), kept as the baseline of
  counting them;
- `pricewise-now`: the same solver deciding only what starts now (pricewise before it planned
  over time), kept as the baseline of that change;
- `first-fit`: each job in arrival order takes the first pool in the admin's order where a
  feasible option fits (how Kueue assigns flavors);
- `cheapest`: each job in arrival order takes its cheapest feasible option that fits (how a
  per-job cost optimiser picks);
- `backfill`: each job in arrival order takes the earliest start where a feasible option fits
  without delaying the jobs before it, and holds it (conservative backfilling, as HPC batch
  schedulers plan: `pricewise.offline.backfill`);
- `fifo`: plain FIFO on one fixed pool, blind to deadlines, with head-of-line blocking.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from pricewise.core.costmodel import Candidate, candidates
from pricewise.core.greedy import Ledger, place_greedily
from pricewise.core.settings import SolverSettings
from pricewise.core.snapshot import Snapshot
from pricewise.core.solver import solve
from pricewise.offline.simmodel import CycleResult, Policy

POLICIES = (
    "pricewise",
    "pricewise-free-waits",
    "pricewise-now",
    "first-fit",
    "kueue",
    "cheapest",
    "backfill",
    "fifo",
)
"""`kueue` is first-fit with jobs that reach it without deadlines, as the real Kueue knows none:
what `benchmarks/kueue_cost.py` measured Kueue v0.17.0 to do (`first-fit` skips the options
that would miss a deadline, which Kueue cannot)."""


def feasible_options(snapshot: Snapshot) -> Iterable[list[Candidate]]:
    """Each job's feasible candidates, jobs in the snapshot's (arrival) order."""
    for job in snapshot.jobs:
        found = candidates(job, snapshot.pools, snapshot.now, snapshot.currency)
        yield [c for c in found if c.feasible]


def pricewise_policy(settings: SolverSettings) -> Policy:
    """The operator's solver: most jobs planned, then least total cost; with
    `settings.look_ahead` disabled, `pricewise-now`. Its limits are deterministic time
    (`SolverSettings.deterministic`), so that a replay gives the same figures on any machine
    under any load; the operator's are seconds."""
    settings = replace(settings, deterministic=True)

    def place(snapshot: Snapshot) -> CycleResult:
        plan = solve(snapshot, settings)
        placements = [(d.chosen, d.nodes) for d in plan.placed if d.chosen is not None]
        later = {d.job.key: d.reservation.start for d in plan.reserved if d.reservation}
        return CycleResult(placements, plan.status, plan.seconds, later)

    return place


def first_fit_policy(snapshot: Snapshot) -> CycleResult:
    """Arrival order; each job on the first pool of the admin's order where it fits."""
    ledger = place_greedily(
        snapshot, feasible_options(snapshot), preference=lambda c: (c.pool.order,)
    )
    return CycleResult(list(ledger.placed.values()))


def cheapest_policy(snapshot: Snapshot) -> CycleResult:
    """Arrival order; each job on its cheapest feasible option that fits."""
    ledger = place_greedily(
        snapshot, feasible_options(snapshot), preference=lambda c: (c.cost, c.pool.order)
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
