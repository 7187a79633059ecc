"""Later starts fitted on a pool's nodes at their edges: the node a run takes for its whole
span, the tightest node first, and a pool too large for the exhaustive search."""

from __future__ import annotations

from pricewise.core.packing import SEARCH_WORKERS, Gang
from pricewise.core.snapshot import Node, Resources
from pricewise.core.timeline import Run, fit_in_order, pack_over_time

HOUR = 3600.0


def _gpus(count: int) -> Resources:
    return Resources(cpu=1000, memory=1024, gpu=count)


def _node(name: str, free: int) -> Node:
    """A node of 8 GPUs with `free` of them free, and CPU and memory to spare."""
    return Node(name, Resources(640_000, 640 * 1024, 8), Resources(640_000, 640 * 1024, free))


def test_a_run_that_fits_at_its_start_but_not_throughout_waits_for_its_next_start() -> None:
    # A run was fitted where its node had room at its start only: the node was overbooked
    # from the later start it overlaps on.
    later = Run(Gang("later", _gpus(4), 1), HOUR, 2 * HOUR)
    now, after = (Run(Gang("now", _gpus(4), 1), s, s + 3 * HOUR) for s in (0.0, 2 * HOUR))
    fitted, left = fit_in_order([_node("a", 4)], [], [[later], [now, after]])
    assert fitted == {"later": later, "now": after} and left == []
    alone, none_left = fit_in_order([_node("a", 4)], [], [[later], [now]])
    assert alone == {"later": later} and none_left == [now]


def test_what_starts_now_takes_the_tightest_node_leaving_the_roomy_one_for_later() -> None:
    # The first node with room took the run started now: the later start that needed that
    # node's whole room was left out, though the plan fitted.
    now = Run(Gang("now", _gpus(2), 1), 0.0, 3 * HOUR)
    later = Run(Gang("later", _gpus(4), 1), HOUR, 2 * HOUR)
    fitted, left = fit_in_order([_node("roomy", 4), _node("tight", 2)], [], [[now], [later]])
    assert fitted == {"now": now, "later": later} and left == []


def test_a_pool_too_large_to_search_is_packed_largest_worker_first() -> None:
    # Workers were packed smallest first (or only by the exhaustive search, which takes no
    # more than SEARCH_WORKERS): a pool with room for every worker was said to have none.
    runs = [
        Run(Gang("two", _gpus(2), 2), 0.0, HOUR),
        Run(Gang("three", _gpus(3), 2), 0.0, HOUR),
        Run(Gang("crowd", Resources(cpu=1, memory=1), SEARCH_WORKERS), 0.0, HOUR),
    ]
    placed = pack_over_time([_node("a", 5), _node("b", 5)], [], runs)
    assert placed is not None
    assert sorted(placed["three"]) == ["a", "b"] and sorted(placed["two"]) == ["a", "b"]
