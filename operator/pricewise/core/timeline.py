"""Gangs packed on a pool's nodes over time: what starts now and what is planned to start later.

The solver decides at pool level (sums, and copies per worker shape); `packing` then puts what
starts now on nodes. A later start also needs its workers to fit the nodes then: each node's room
now, plus what running jobs free on it by then, less what runs there at that instant. Where what
starts now goes decides that: a job started now on the node a later start of a higher priority
waits for holds it, though another node had the same room now. So the runs of one pool are
packed together: every worker on one node for its whole run, within that node's room at every
instant its run covers. Room only grows between the instants a run starts (releases free it,
ends give it back), so those instants are the only ones to check.

The packing is best fit decreasing (earliest start first, then largest worker, each on the node
tightest at its start), after a check of each instant's sums, and where that fails, `packing`'s
exhaustive search over the instants, bounded in steps (`SEARCH_STEPS`). Where a plan's runs
cannot all be packed, the solver fits its later starts in turn (`fit_in_order`), moving or
leaving out those that do not fit (`solver._pack_later`).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pricewise.core.lookahead import release_s
from pricewise.core.packing import Gang, Worker, fits_over, search, take_over
from pricewise.core.snapshot import Node, Release, Resources

SEARCH_STEPS = 2_000
"""Bound on the exhaustive search, in steps and so in workers (see `packing.search`); past it
a first-fit failure is taken as final. A failed search walks every node at every instant of
each step: 5,000 steps took a solve of 1,000 jobs over two pools of 400 nodes from 1.5 s to
5.4 s."""


@dataclass(frozen=True)
class Run:
    """A gang on the pool from `start_s` (seconds from now; 0: now) until `end_s`."""

    gang: Gang
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Frees:
    """Room a running job gives back on one node, `due_s` seconds from now."""

    node: str
    due_s: float
    room: Resources


def given_back(releases: Iterable[Release], now: datetime) -> tuple[list[Frees], float]:
    """What running jobs give back, node by node, when the planner counts it due
    (`lookahead.release_s`), and from when it is not known where (a release that does not say
    where is due then; infinite where every one says): later starts from then on are checked
    at pool level only."""
    frees, unknown = [], math.inf
    for release in releases:
        due = release_s(release, now)
        if not release.nodes:
            unknown = min(unknown, due)
        frees += [Frees(node, due, room) for node, room in release.nodes]
    return frees, unknown


def pack_over_time(
    nodes: Sequence[Node], frees: Sequence[Frees], runs: Sequence[Run]
) -> dict[str, list[str]] | None:
    """Node names for every worker of every run, each within its node's room at every instant
    of its run, or None when they cannot all fit. `nodes` have their free room now; `frees`
    add to it as running jobs end."""
    instants = sorted({0.0, *(r.start_s for r in runs)})
    room = _room(nodes, frees, instants)
    if not _within_sums(room, instants, runs):
        return None
    spans = [(bisect_left(instants, r.start_s), bisect_left(instants, r.end_s)) for r in runs]
    workers = sorted(
        ((spans[k][0], r.gang.worker, k) for k, r in enumerate(runs) for _ in range(r.gang.count)),
        key=lambda w: (w[0], tuple(-x for x in w[1].size), w[2]),
    )
    where = _best_fit_decreasing(room, spans, workers)
    if where is None:
        where = search(room, spans, workers, SEARCH_STEPS)
    if where is None:
        return None
    placed: dict[str, list[str]] = {r.gang.key: [] for r in runs}
    for (_, _, k), n in zip(workers, where, strict=True):
        placed[runs[k].gang.key].append(nodes[n].name)
    return placed


def _within_sums(room: list[list[Resources]], instants: list[float], runs: Sequence[Run]) -> bool:
    """Whether what runs at each instant fits the nodes' room then in sum: no packing where
    it does not (the search would walk every node to find none)."""
    # In plain integers: a `Resources` per node and instant made this check a fifth of a
    # preemption's packings.
    asks = [
        (run.start_s, max(run.end_s, run.start_s + 1e-9), run.gang.worker, run.gang.count)
        for run in runs
    ]
    for i, instant in enumerate(instants):
        cpu = memory = gpu = tpu = 0
        for start, end, worker, count in asks:
            if start <= instant < end:
                cpu += worker.cpu * count
                memory += worker.memory * count
                gpu += worker.gpu * count
                tpu += worker.tpu * count
        have_cpu = have_memory = have_gpu = have_tpu = 0
        for r in room:
            free = r[i]
            have_cpu += free.cpu
            have_memory += free.memory
            have_gpu += free.gpu
            have_tpu += free.tpu
        if cpu > have_cpu or memory > have_memory or gpu > have_gpu or tpu > have_tpu:
            return False
    return True


def _room(
    nodes: Sequence[Node], frees: Sequence[Frees], instants: list[float]
) -> list[list[Resources]]:
    """Each node's room at each instant: free now, plus what is given back on it by then."""
    index = {n.name: i for i, n in enumerate(nodes)}
    room = [[n.free] * len(instants) for n in nodes]
    for f in frees:
        at = index.get(f.node)
        if at is not None:
            for i in range(bisect_left(instants, f.due_s), len(instants)):
                room[at][i] = room[at][i] + f.room
    return room


def _best_fit_decreasing(
    room: list[list[Resources]], spans: list[tuple[int, int]], workers: list[Worker]
) -> list[int] | None:
    room = [list(r) for r in room]
    where = []
    for first, worker, k in workers:
        last = max(spans[k][1], first + 1)
        # The tightest node at the start that holds the worker throughout: nodes are tried
        # tightest first, so that the walk over the span stops at the first that fits (walking
        # every node over every instant took 2.7 s for 300 later starts on 400 nodes).
        # Only the nodes with room at the start are ranked (most are full): the same order.
        tightest = sorted(
            (room[n][first].size, n) for n in range(len(room)) if worker.fits_in(room[n][first])
        )
        best = next((n for _, n in tightest if fits_over(room[n], first, last, worker)), None)
        if best is None:
            return None
        take_over(room[best], first, last, worker, 1)
        where.append(best)
    return where


def fit_in_order(
    nodes: Sequence[Node], frees: Sequence[Frees], runs: Sequence[Sequence[Run]]
) -> tuple[dict[str, Run], list[Run]]:
    """Each run in turn, at the first of its starts (`runs`: each gang's runs, earliest
    first) where it fits the nodes for its whole span, by best fit, beside those fitted before
    it: the run fitted of each gang, and the first run of each that fits at none."""
    instants = sorted({0.0, *(r.start_s for each in runs for r in each)})
    room = _room(nodes, frees, instants)
    fitted: dict[str, Run] = {}
    left: list[Run] = []
    for each in runs:
        for run in each:
            first = bisect_left(instants, run.start_s)
            last = max(bisect_left(instants, run.end_s), first + 1)
            workers = [(first, run.gang.worker, 0)] * run.gang.count
            where = _best_fit_decreasing(room, [(first, last)], workers)
            if where is not None:
                for n in where:
                    take_over(room[n], first, last, run.gang.worker, 1)
                fitted[run.gang.key] = run
                break
        else:
            left.append(each[0])
    return fitted, left
