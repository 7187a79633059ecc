"""Gang placement at node level: every worker of a job on a node with room for it, or none.

First-fit decreasing with best fit handles the common case fast; when it fails on a small
problem an exhaustive search decides for sure, so that the solver never gives up a placement
that exists (the property tests compare against brute force).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pricewise.core.costmodel import Candidate
from pricewise.core.snapshot import Node, Resources

EXACT_SEARCH_STEPS = 20_000
"""Bound on the exhaustive search; past it a first-fit failure is taken as final."""
SEARCH_WORKERS = 500
"""The most workers the exhaustive search takes on (it goes a call deeper a worker, and Python
stops at a thousand): past it a first-fit failure is taken as final."""


@dataclass(frozen=True)
class Gang:
    """The workers of one job: `count` copies of `worker`, all placed or none."""

    key: str
    worker: Resources
    count: int


def gang_of(cand: Candidate) -> Gang:
    """The workers of a way of running a job, as a gang to place."""
    return Gang(cand.job.key, cand.worker, cand.workers)


def _best_fit_decreasing(
    nodes: Sequence[Node], gangs: Sequence[Gang]
) -> dict[str, list[str]] | None:
    free = [n.free for n in nodes]
    placed: dict[str, list[str]] = {}
    for gang in sorted(gangs, key=lambda g: (g.worker.size, g.count), reverse=True):
        chosen = _best_fit(free, gang)
        if chosen is None:
            return None
        placed[gang.key] = [nodes[i].name for i in chosen]
    return placed


def _best_fit(free: list[Resources], gang: Gang) -> list[int] | None:
    """Node indexes for the gang's workers, each on the tightest node that still fits (which
    keeps big holes for big workers), taken off `free`; None when one does not fit."""
    chosen: list[int] = []
    worker = gang.worker
    for _ in range(gang.count):
        # The tightest node after the worker is the tightest before it: no subtraction per node.
        fitting = [(f.size, i) for i, f in enumerate(free) if worker.fits_in(f)]
        if not fitting:
            return None
        best = min(fitting)[1]
        free[best] = free[best] - worker
        chosen.append(best)
    return chosen


def place_gang(nodes: Sequence[Node], gang: Gang) -> list[str] | None:
    """Node names for one gang's workers, as `pack` would place it alone, or None. Without
    `pack`'s search: identical workers fit wherever the nodes' whole copies add up."""
    chosen = _best_fit([n.free for n in nodes], gang)
    return None if chosen is None else [nodes[i].name for i in chosen]


def _exhaustive(nodes: Sequence[Node], gangs: Sequence[Gang]) -> dict[str, list[str]] | None:
    ordered = sorted(gangs, key=lambda g: g.worker.size, reverse=True)
    workers = [(0, g.worker, k) for k, g in enumerate(ordered) for _ in range(g.count)]
    room = [[n.free] for n in nodes]
    where = search(room, [(0, 1)] * len(ordered), workers, EXACT_SEARCH_STEPS)
    if where is None:
        return None
    placed: dict[str, list[str]] = {}
    for (_, _, k), n in zip(workers, where, strict=True):
        placed.setdefault(ordered[k].key, []).append(nodes[n].name)
    return placed


Worker = tuple[int, Resources, int]
"""A worker as `search` places it: the index of its first instant, its requests, the index of
its gang (whose span it runs for)."""


def search(
    room: list[list[Resources]],
    spans: Sequence[tuple[int, int]],
    workers: Sequence[Worker],
    limit: int,
) -> list[int] | None:
    """A node for each worker, each within its node's room (`room`: per node, per instant) at
    every instant of its gang's span, found by exhaustive search within `limit` steps; None
    where none is found, and for more workers than `limit` or `SEARCH_WORKERS` (not searched).
    Workers of one gang are placed on non-decreasing nodes, and nodes of the same room are
    tried once: both are interchangeable."""
    if len(workers) > min(limit, SEARCH_WORKERS):
        return None
    room = [list(r) for r in room]
    where: list[int] = []
    steps = 0
    # Each node's room over the instants as a small integer, the same for nodes of the same
    # room, kept as workers are placed and taken off: hashing every node's room (a tuple of
    # `Resources` per instant) at every step was most of a preemption's failed searches.
    rooms: dict[tuple[Resources, ...], int] = {}
    ids = [rooms.setdefault(tuple(r), len(rooms)) for r in room]

    def place(i: int) -> bool:
        nonlocal steps
        if i == len(workers):
            return True
        steps += 1
        if steps > limit:
            return False
        first, worker, k = workers[i]
        last = max(spans[k][1], first + 1)
        start = where[i - 1] if i and workers[i - 1][2] == k else 0
        tried: set[int] = set()
        for n in range(start, len(room)):
            seen = ids[n]
            if seen in tried:
                continue
            node = room[n]
            if not (
                worker.fits_in(node[first])
                if last - first == 1
                else fits_over(node, first, last, worker)
            ):
                continue
            tried.add(seen)
            take_over(node, first, last, worker, 1)
            ids[n] = rooms.setdefault(tuple(node), len(rooms))
            where.append(n)
            if place(i + 1):
                return True
            where.pop()
            take_over(node, first, last, worker, -1)
            ids[n] = seen
        return False

    return where if place(0) else None


def fits_over(room: list[Resources], first: int, last: int, worker: Resources) -> bool:
    """Whether the worker fits a node's room at each of the instants `first` to `last`."""
    for i in range(first, last):  # noqa: SIM110 (a loop, not `all` over a generator: hot)
        if not worker.fits_in(room[i]):
            return False
    return True


def take_over(room: list[Resources], first: int, last: int, worker: Resources, sign: int) -> None:
    """A worker placed on a node (`sign` 1) or taken off it (-1) for those instants."""
    for i in range(first, last):
        room[i] = room[i] - worker if sign > 0 else room[i] + worker


def pack(nodes: Sequence[Node], gangs: Sequence[Gang]) -> dict[str, list[str]] | None:
    """Node names for every worker of every gang, or None when they cannot all fit."""
    total = Resources()
    for gang in gangs:
        total = total + gang.worker.times(gang.count)
    capacity = Resources()
    for node in nodes:
        capacity = capacity + node.free
    if not total.fits_in(capacity):
        return None
    return _best_fit_decreasing(nodes, gangs) or _exhaustive(nodes, gangs)


def remaining(
    nodes: Sequence[Node], placed: dict[str, list[str]], gangs: Sequence[Gang]
) -> tuple[Node, ...]:
    """The nodes with the placed workers' requests taken off their free room."""
    used: dict[str, Resources] = {}
    for gang in gangs:
        for node_name in placed.get(gang.key, []):
            used[node_name] = used.get(node_name, Resources()) + gang.worker
    return tuple(
        Node(n.name, n.allocatable, n.free - used[n.name]) if n.name in used else n for n in nodes
    )


def pack_pools(
    chosen: list[Candidate],
) -> tuple[dict[str, tuple[str, ...]], list[list[Candidate]]]:
    """Nodes for every chosen candidate, and the per-pool choices that do not pack (as cuts)."""
    by_pool: dict[str, list[Candidate]] = defaultdict(list)
    for cand in chosen:
        by_pool[cand.pool.name].append(cand)
    nodes: dict[str, tuple[str, ...]] = {}
    failed: list[list[Candidate]] = []
    for group in by_pool.values():
        placed = _pack(group)
        if placed is None:
            failed.append(_core(group) if len(group) <= MINIMAL_CUTS_UP_TO else group)
        else:
            nodes.update({key: tuple(names) for key, names in placed.items()})
    return nodes, failed


MINIMAL_CUTS_UP_TO = 64
"""Largest group of one pool's choices whose failed packing is reduced to a minimal cut (it
takes one packing per choice)."""


def _pack(group: list[Candidate]) -> dict[str, list[str]] | None:
    return pack(group[0].pool.nodes, [gang_of(c) for c in group])


def _core(group: list[Candidate]) -> list[Candidate]:
    """A part of a group that does not pack and from which no choice can be dropped: as a cut
    it rules out every plan that holds it, not only this one, so the rounds converge where
    shapes that the capacity rows cannot tell apart (memory-bound workers, say) collide."""
    core = list(group)
    for cand in group:
        rest = [c for c in core if c is not cand]
        if rest and _pack(rest) is None:
            core = rest
    return core
