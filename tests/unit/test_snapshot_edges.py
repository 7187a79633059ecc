"""The solver's plain data at its edges: TPU chips summed like any resource, a worker of one
device, a worker that asks for nothing, and room a running job gives back on nodes that left."""

from __future__ import annotations

from datetime import timedelta

from factory import NOW, gpu_nodes

from pricewise.core.snapshot import Release, Resources, on_nodes

CHIPS = Resources(cpu=8000, memory=64 * 1024, tpu=4)
"""A TPU worker: 4 chips, 8 CPUs, 64 GiB."""


def test_tpu_chips_add_up_and_are_taken_away_like_every_resource() -> None:
    # A TPU pool's room summed its chips wrong: two nodes of 4 read as none left.
    two = CHIPS + CHIPS
    assert two == Resources(cpu=16_000, memory=128 * 1024, tpu=8)
    assert CHIPS.times(2) - CHIPS == CHIPS
    assert CHIPS.describe() == "4 google.com/tpu, 8 CPU, 64Gi"


def test_a_worker_of_one_device_fits_no_node_without_a_free_device() -> None:
    # A request of 1 was taken for none: a 1-GPU worker counted on a node whose GPUs are taken.
    one_gpu = Resources(cpu=4000, memory=16 * 1024, gpu=1)
    busy = Resources(cpu=96_000, memory=1024 * 1024, gpu=0)
    assert one_gpu.copies_in(busy) == 0
    assert one_gpu.copies_in(Resources(cpu=96_000, memory=1024 * 1024, gpu=3)) == 3


def test_a_worker_that_asks_for_nothing_is_counted_as_no_copy() -> None:
    # Not one copy of it (nor a crash): the cost model leaves such a worker's width unbounded.
    assert Resources().copies_in(Resources(cpu=96_000, gpu=8)) == 0


def test_room_a_running_job_gives_back_counts_only_on_nodes_still_up() -> None:
    # A release over a node that left freed its share there anyway, or was dropped whole.
    a, b = gpu_nodes("n", 2)
    half = Resources(cpu=8000, memory=64 * 1024, gpu=8)
    both = Release(NOW + timedelta(hours=1), half.times(2), (("n-0", half), ("n-1", half)), "t/r")
    somewhere = Release(NOW + timedelta(hours=2), half)  # says not where: kept whole
    gone = Release(NOW + timedelta(hours=3), half, (("n-9", half),))
    assert on_nodes([both, somewhere, gone], [a, b]) == (both, somewhere)
    (kept,) = on_nodes([both], [b])
    assert kept == Release(both.at, half, (("n-1", half),), "t/r")
