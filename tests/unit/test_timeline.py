"""Gangs packed on nodes over time: a packing whenever one exists, and only valid ones."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from pricewise.core.packing import SEARCH_WORKERS, Gang, search
from pricewise.core.snapshot import Node, Resources
from pricewise.core.timeline import Frees, Run, fit_in_order, pack_over_time


def _gpus(count: int) -> Resources:
    return Resources(cpu=1000, memory=1024, gpu=count)


def _node(name: str, free: int) -> Node:
    """A node of 8 GPUs with `free` of them free, and CPU and memory to spare."""
    return Node(name, Resources(64_000, 64 * 1024, 8), Resources(64_000, 64 * 1024, free))


def _room_at(t: float, node: Node, frees: list[Frees], runs: list[Run], on: dict[int, str]) -> int:
    """GPUs left on `node` at instant `t`, with worker `i` on node `on[i]`."""
    room = node.free.gpu + sum(f.room.gpu for f in frees if f.node == node.name and f.due_s <= t)
    workers = [r for r in runs for _ in range(r.gang.count)]
    used = sum(
        w.gang.worker.gpu
        for i, w in enumerate(workers)
        if on[i] == node.name and w.start_s <= t < max(w.end_s, w.start_s + 1e-9)
    )
    return room - used


def _valid(nodes: list[Node], frees: list[Frees], runs: list[Run], placed: dict) -> bool:
    on = dict(enumerate(n for r in runs for n in placed[r.gang.key]))
    instants = {0.0, *(r.start_s for r in runs)}
    return all(_room_at(t, n, frees, runs, on) >= 0 for t in instants for n in nodes)


def _exists(nodes: list[Node], frees: list[Frees], runs: list[Run]) -> bool:
    count = sum(r.gang.count for r in runs)
    for choice in itertools.product([n.name for n in nodes], repeat=count):
        placed: dict[str, list[str]] = {}
        i = 0
        for r in runs:
            placed[r.gang.key] = list(choice[i : i + r.gang.count])
            i += r.gang.count
        if _valid(nodes, frees, runs, placed):
            return True
    return False


def test_what_starts_now_leaves_the_node_a_later_start_waits_for() -> None:
    # Both nodes have 4 GPUs free; `a` frees 4 more in an hour. A 3-hour job of 4 GPUs now and
    # one of 8 in an hour fit only with the first on `b`.
    nodes = [_node("a", 4), _node("b", 4)]
    frees = [Frees("a", 3600, _gpus(4))]
    runs = [Run(Gang("now", _gpus(4), 1), 0, 3 * 3600), Run(Gang("later", _gpus(8), 1), 3600, 7200)]
    assert pack_over_time(nodes, frees, runs) == {"now": ["b"], "later": ["a"]}
    # A run that ends before the later start leaves its room to it, wherever it goes.
    runs[0] = Run(Gang("now", _gpus(4), 1), 0, 1800)
    assert pack_over_time(nodes, frees, runs) is not None


def test_later_starts_that_fit_the_sums_but_not_the_nodes_do_not_pack() -> None:
    # Two nodes each free 6 GPUs in an hour: 4 + 4 + 3 is within 12, but no node takes 4 + 3.
    nodes = [_node("a", 0), _node("b", 0)]
    frees = [Frees("a", 3600, _gpus(6)), Frees("b", 3600, _gpus(6))]
    runs = [Run(Gang(k, _gpus(n), 1), 3600, 7200) for k, n in (("x", 4), ("y", 4), ("z", 3))]
    assert pack_over_time(nodes, frees, runs) is None
    assert pack_over_time(nodes, frees, runs[:2]) is not None
    # Room on a node no longer in the pool (cordoned) is no room.
    assert pack_over_time(nodes[:1], frees, runs[:2]) is None


def test_runs_fitted_in_turn_take_the_first_of_their_starts_that_fits() -> None:
    # In an hour each node frees 6 GPUs: x (4) and y (4) take them; z (3) fits neither node
    # then, and in two hours, once x has ended, it does.
    nodes = [_node("a", 0), _node("b", 0)]
    frees = [Frees("a", 3600, _gpus(6)), Frees("b", 3600, _gpus(6))]

    def runs(key: str, gpus: int, *starts: int) -> list[Run]:
        return [
            Run(Gang(key, _gpus(gpus), 1), s, s + (3600 if key == "x" else 7200)) for s in starts
        ]

    fitted, left = fit_in_order(
        nodes, frees, [runs("x", 4, 3600), runs("y", 4, 3600), runs("z", 3, 3600)]
    )
    assert (sorted(fitted), [r.gang.key for r in left]) == (["x", "y"], ["z"])
    order = [runs("x", 4, 3600), runs("y", 4, 3600), runs("z", 3, 3600, 7200)]
    fitted, left = fit_in_order(nodes, frees, order)
    assert (fitted["z"].start_s, left) == (7200, [])


@st.composite
def problems(draw: st.DrawFn) -> tuple[list[Node], list[Frees], list[Run]]:
    nodes = [
        _node(f"n{i}", draw(st.sampled_from([0, 2, 4, 8]))) for i in range(draw(st.integers(1, 3)))
    ]
    frees = [
        Frees(draw(st.sampled_from([n.name for n in nodes])), draw(st.sampled_from([600, 3600])),
              _gpus(draw(st.sampled_from([2, 4]))))
        for _ in range(draw(st.integers(0, 2)))
    ]  # fmt: skip
    runs = []
    for j in range(draw(st.integers(1, 4))):
        start = draw(st.sampled_from([0, 0, 600, 3600]))
        length = draw(st.sampled_from([300, 1200, 7200]))
        gang = Gang(f"g{j}", _gpus(draw(st.sampled_from([1, 2, 4]))), draw(st.integers(1, 2)))
        runs.append(Run(gang, start, start + length))
    return nodes, frees, runs


@settings(max_examples=300, deadline=None)
@given(problems())
def test_packs_exactly_when_a_packing_exists(problem: tuple[list[Node], list[Frees], list[Run]]):
    nodes, frees, runs = problem
    placed = pack_over_time(nodes, frees, runs)
    assert (placed is not None) == _exists(nodes, frees, runs)
    if placed is not None:
        assert _valid(nodes, frees, runs, placed)


def test_the_search_takes_on_no_more_workers_than_it_can_recurse_for() -> None:
    # It goes a call deeper a worker: a pool of a thousand raised RecursionError out of every
    # cycle. Past its bound a first-fit failure is final.
    big = Resources(10**7, 10**7, 2000)
    workers = [(0, _gpus(1), 0)] * 1200
    assert search([[big]], [(0, 1)], workers, 10**6) is None
    assert search([[big]], [(0, 1)], workers[:SEARCH_WORKERS], 10**6) == [0] * SEARCH_WORKERS
