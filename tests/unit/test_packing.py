"""Node-level gang packing: a placement whenever one exists, and only valid ones."""

from __future__ import annotations

import itertools
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from pricewise.core.greedy import Ledger
from pricewise.core.packing import Gang, pack, place_gang, remaining
from pricewise.core.snapshot import Node, Resources


def _node(name: str, gpu: int, cpu: int) -> Node:
    room = Resources(cpu=cpu * 1000, memory=64 * 1024, gpu=gpu)
    return Node(name, room, room)


def _valid(nodes: list[Node], gangs: list[Gang], placed: dict[str, list[str]]) -> bool:
    free = {n.name: n.free for n in nodes}
    for gang in gangs:
        if len(placed.get(gang.key, [])) != gang.count:
            return False
        for name in placed[gang.key]:
            free[name] = free[name] - gang.worker
    return all(Resources().fits_in(room) for room in free.values())


def _exists(nodes: list[Node], gangs: list[Gang]) -> bool:
    workers = [g.worker for g in gangs for _ in range(g.count)]
    for choice in itertools.product(range(len(nodes)), repeat=len(workers)):
        free = [n.free for n in nodes]
        for worker, n in zip(workers, choice, strict=True):
            free[n] = free[n] - worker
        if all(Resources().fits_in(room) for room in free):
            return True
    return False


def test_best_fit_misleads_and_the_exact_search_finds_the_placement() -> None:
    # Best fit puts the 8-GPU worker on `a` (no GPU left over), where the CPU the other worker
    # needs is; only the other way round fits both.
    nodes = [_node("a", 8, 64), _node("b", 10, 16)]
    gangs = [Gang("z", Resources(cpu=8000, memory=1024, gpu=8), 1),
             Gang("y", Resources(cpu=40_000, memory=1024, gpu=6), 1)]  # fmt: skip
    assert pack(nodes, gangs) == {"z": ["b"], "y": ["a"]}


def test_a_gang_is_placed_whole_or_not_at_all() -> None:
    nodes = [_node("a", 8, 96), _node("b", 4, 96)]
    four = Resources(cpu=1000, memory=1024, gpu=4)
    assert pack(nodes, [Gang("j", four, 3)]) == {"j": ["b", "a", "a"]}
    assert pack(nodes, [Gang("j", four, 4)]) is None


def test_remaining_takes_each_placed_worker_off_its_node() -> None:
    nodes = [_node("a", 8, 96), _node("b", 8, 96)]
    two = Resources(cpu=4000, memory=2048, gpu=2)
    gangs = [Gang("j", two, 3)]
    left = remaining(nodes, {"j": ["a", "a", "b"]}, gangs)
    assert [n.free for n in left] == [
        Resources(cpu=88_000, memory=64 * 1024 - 4096, gpu=4),
        Resources(cpu=92_000, memory=64 * 1024 - 2048, gpu=6),
    ]
    assert left[0].allocatable == nodes[0].allocatable


@st.composite
def problems(draw: st.DrawFn) -> tuple[list[Node], list[Gang]]:
    nodes = [
        _node(f"n{i}", draw(st.sampled_from([2, 4, 8])), draw(st.sampled_from([8, 16, 64])))
        for i in range(draw(st.integers(1, 3)))
    ]
    gangs = [
        Gang(
            f"g{j}",
            Resources(
                cpu=draw(st.sampled_from([2, 8, 24, 40])) * 1000,
                memory=1024,
                gpu=draw(st.sampled_from([1, 2, 4, 6, 8])),
            ),
            draw(st.integers(1, 2)),
        )
        for j in range(draw(st.integers(1, 3)))
    ]
    return nodes, gangs


@settings(max_examples=int(os.environ.get("PRICEWISE_EXAMPLES", "300")), deadline=None)
@given(problems())
def test_pack_finds_a_valid_placement_exactly_when_one_exists(
    problem: tuple[list[Node], list[Gang]],
) -> None:
    nodes, gangs = problem
    placed = pack(nodes, gangs)
    assert (placed is not None) == _exists(nodes, gangs)
    if placed is not None:
        assert _valid(nodes, gangs, placed)


@settings(max_examples=int(os.environ.get("PRICEWISE_EXAMPLES", "300")), deadline=None)
@given(problems())
def test_one_gang_alone_is_placed_as_pack_places_it(problem: tuple[list[Node], list[Gang]]) -> None:
    # The greedy ledger places one gang at a time without pack's search: identical workers
    # fit exactly when the nodes' whole copies add up, on the same nodes pack would choose.
    nodes, gangs = problem
    gang = gangs[0]
    placed = place_gang(nodes, gang)
    copies = sum(gang.worker.copies_in(n.free) for n in nodes)
    assert (placed is not None) == (copies >= gang.count)
    expected = pack(nodes, [gang])
    assert placed == (None if expected is None else expected[gang.key])


@settings(max_examples=int(os.environ.get("PRICEWISE_EXAMPLES", "300")), deadline=None)
@given(problems(), st.lists(st.integers(min_value=0, max_value=5), max_size=6))
def test_the_ledgers_room_follows_every_placement(
    problem: tuple[list[Node], list[Gang]], order: list[int]
) -> None:
    # Room per pool and worker shape is cached and updated by the nodes a placement changes;
    # it must always equal a count over every node.
    nodes, gangs = problem
    ledger = Ledger(nodes={"p": tuple(nodes)}, quotas={}, budgets={})
    shapes = {g.worker for g in gangs}
    for index in order:
        gang = gangs[index % len(gangs)]
        for shape in shapes:
            ledger.room("p", shape)  # cached before the placement
        placed = place_gang(ledger.nodes["p"], gang)
        if placed is None:
            continue
        ledger.set_free("p", remaining(ledger.nodes["p"], {gang.key: placed}, [gang]))
        for shape in shapes:
            assert ledger.room("p", shape) == sum(
                shape.copies_in(n.free) for n in ledger.nodes["p"]
            )
