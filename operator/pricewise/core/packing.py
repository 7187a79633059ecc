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


@dataclass(frozen=True)
class Gang:
    """The workers of one job: `count` copies of `worker`, all placed or none."""

    key: str
    worker: Resources
    count: int


def _first_fit(nodes: Sequence[Node], gangs: Sequence[Gang]) -> dict[str, list[str]] | None:
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
    workers = [
        (g.key, g.worker)
        for g in sorted(gangs, key=lambda g: g.worker.size, reverse=True)
        for _ in range(g.count)
    ]
    free = [n.free for n in nodes]
    where: list[int] = []
    steps = 0

    def place(i: int) -> bool:
        nonlocal steps
        if i == len(workers):
            return True
        steps += 1
        if steps > EXACT_SEARCH_STEPS:
            return False
        key, worker = workers[i]
        # Workers of one job are interchangeable: place them on non-decreasing node indexes.
        start = where[i - 1] if i and workers[i - 1][0] == key else 0
        tried: set[Resources] = set()
        for n in range(start, len(free)):
            if free[n] in tried or not worker.fits_in(free[n]):
                continue
            tried.add(free[n])  # nodes with the same free room are interchangeable too
            free[n] = free[n] - worker
            where.append(n)
            if place(i + 1):
                return True
            where.pop()
            free[n] = free[n] + worker
        return False

    if not place(0):
        return None
    placed: dict[str, list[str]] = {}
    for (key, _), n in zip(workers, where, strict=True):
        placed.setdefault(key, []).append(nodes[n].name)
    return placed


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
    return _first_fit(nodes, gangs) or _exhaustive(nodes, gangs)


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
    return pack(group[0].pool.nodes, [Gang(c.job.key, c.worker, c.workers) for c in group])


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
