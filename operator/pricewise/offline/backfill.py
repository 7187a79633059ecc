"""Conservative backfilling: the reservation planner of HPC batch schedulers (Slurm's backfill
scheduler, Maui), as a simulator policy: planning over time that knows no prices.

Each cycle, jobs in arrival order each take the earliest start at which one of their feasible
options fits, node by node, for its whole estimated run, beside the running jobs (their room
frees at their estimated ends) and the reservations of the jobs before it; between equal starts,
the admin's pool order decides. A job whose earliest start is now starts; the others hold that
start, re-planned the next cycle. So a later job starts first (backfills) only where it delays
no earlier one, and no job waits behind a stream of later ones. Capacity only: the simulator's
replays set no quotas or budgets.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Iterable
from datetime import timedelta

from pricewise.core.costmodel import Candidate
from pricewise.core.lookahead import release_s
from pricewise.core.snapshot import Node, Pool, Resources, Snapshot
from pricewise.offline.simmodel import CycleResult
from pricewise.offline.simpolicies import feasible_options


class _Profile:
    """One node's free room over time: what is free now, and its changes, in seconds from now."""

    def __init__(self, node: Node) -> None:
        self.now = node.free
        self.changes: list[tuple[float, int, Resources]] = []
        """(instant, order of insertion, change): the order keeps equal instants apart."""
        self._steps: tuple[list[float], list[Resources]] | None = None

    def change(self, at_s: float, by: Resources) -> None:
        """The room grows by `by` from `at_s` on (shrinks, for a negative `by`)."""
        insort(self.changes, (at_s, len(self.changes), by))
        self._steps = None

    def steps(self) -> tuple[list[float], list[Resources]]:
        """The room as a step function: from each instant on (the first is now), what is free;
        changes at one instant are taken together."""
        if self._steps is None:
            instants, rooms = [0.0], [self.now]
            for at_s, _, by in self.changes:
                if at_s > instants[-1]:
                    instants.append(at_s)
                    rooms.append(rooms[-1])
                rooms[-1] = rooms[-1] + by
            self._steps = instants, rooms
        return self._steps

    def copies(self, worker: Resources, start_s: float, end_s: float) -> int:
        """How many workers of this shape fit here at every instant of [start_s, end_s)."""
        instants, rooms = self.steps()
        at = bisect_right(instants, start_s) - 1
        least = worker.copies_in(rooms[at])
        for index in range(at + 1, len(instants)):
            if instants[index] >= end_s or not least:
                break
            least = min(least, worker.copies_in(rooms[index]))
        return least


def backfill_policy(snapshot: Snapshot) -> CycleResult:
    """Arrival order; each job at the earliest start where a feasible option fits without
    delaying the jobs before it: started now where that is now, else planned then."""
    profiles = {p.name: _profiles(p, snapshot) for p in snapshot.pools}
    placements: list[tuple[Candidate, tuple[str, ...]]] = []
    reservations = {}
    for job, feasible in zip(snapshot.jobs, feasible_options(snapshot), strict=True):
        found = _earliest(sorted(feasible, key=lambda c: c.pool.order), profiles)
        if found is None:
            continue  # fits no pool even empty: the simulator reports it unplaced
        start_s, cand, nodes = found
        for name in dict.fromkeys(nodes):
            held = cand.worker.times(nodes.count(name))
            profile = profiles[cand.pool.name][name]
            profile.change(start_s, Resources() - held)
            profile.change(start_s + cand.duration_s, held)
        if start_s:
            reservations[job.key] = snapshot.now + timedelta(seconds=start_s)
        else:
            placements.append((cand, nodes))
    return CycleResult(placements, reservations=reservations)


def _profiles(pool: Pool, snapshot: Snapshot) -> dict[str, _Profile]:
    """The pool's nodes' room over time, as its running jobs' estimated ends free it."""
    out = {n.name: _Profile(n) for n in pool.nodes}
    for release in pool.releases:
        at_s = release_s(release, snapshot.now)
        for name, frees in release.nodes:
            if name in out:
                out[name].change(at_s, frees)
    return out


def _earliest(
    found: Iterable[Candidate], profiles: dict[str, dict[str, _Profile]]
) -> tuple[float, Candidate, tuple[str, ...]] | None:
    """The earliest (start, candidate, a node per worker) among the candidates: a start is now
    or an instant the candidate's pool changes at."""
    best: tuple[float, Candidate, tuple[str, ...]] | None = None
    for cand in found:
        nodes = profiles[cand.pool.name]
        instants = sorted({at for p in nodes.values() for at in p.steps()[0]})
        for start_s in instants:
            if best is not None and start_s >= best[0]:
                break
            end_s = start_s + cand.duration_s
            chosen: list[str] = []
            for name, profile in nodes.items():
                room = profile.copies(cand.worker, start_s, end_s)
                chosen += [name] * min(room, cand.workers - len(chosen))
            if len(chosen) == cand.workers:
                best = (start_s, cand, tuple(chosen))
                break
    return best
