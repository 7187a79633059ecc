"""The cost model's edges: each constraint at its exact bound, the notes it writes, and the
cost terms in the corners that the README's examples do not reach."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from factory import NOW, job

from pricewise.core.bounds import MAX_RUN_S
from pricewise.core.costmodel import MAX_COST_MICROS, Stage, candidate_for, candidates
from pricewise.core.snapshot import JobOption, Node, Pool, PoolPrices, Resources
from pricewise.core.units import to_micros

NODE = Resources(cpu=64_000, memory=512 * 1024, gpu=8)
OPTION = JobOption("gpu", 2, Resources(cpu=4000, memory=16 * 1024, gpu=2), 100.0)
# One worker: 360,000 units at 100/s is 1 h; 2 GPUs at 3.00 make it 6.00.
WORK = 360_000.0
COST = to_micros(6.0)


def _pool(prices: PoolPrices | None = None, nodes: tuple[Node, ...] | None = None, **kw: object):
    return Pool(
        "p",
        "gpu",
        str(kw.get("capacity_type", "on-demand")),
        prices or PoolPrices(per_device_hour=to_micros(3.0)),
        (Node("n", NODE, NODE),) if nodes is None else nodes,
        unavailable=(Node("out", NODE, Resources()),) * int(kw.get("unavailable", 0)),  # type: ignore[call-overload]
    )


def _one(pool: Pool | None = None, currency: str = "EUR", **fields: object):
    fields.setdefault("work", WORK)
    return candidate_for(job("j", OPTION, **fields), OPTION, pool or _pool(), NOW, currency)


@pytest.mark.parametrize(
    "fields",
    [
        {"max_cost": COST},
        {"value": COST},
        {"min_throughput": 100.0},
        {"max_duration_s": 3600.0},
        {"deadline": NOW + timedelta(hours=1)},
    ],
)
def test_a_constraint_met_exactly_is_met(fields: dict[str, object]) -> None:
    cand = _one(**fields)
    assert (cand.stage, cand.cost, cand.workers) == (Stage.FEASIBLE, COST, 1)


def test_just_past_each_bound_is_excluded_with_the_figures_in_the_currency() -> None:
    over_cost = _one(max_cost=COST - 1)
    assert over_cost.stage is Stage.MAX_COST
    # One micro-unit over: printed with the decimals that tell the two apart.
    assert over_cost.note == "costs 6.000000 EUR, over maxCost 5.999999 EUR"
    over_value = _one(value=to_micros(5.0))
    assert over_value.note == "costs 6.00 EUR, more than the job's value 5.00 EUR"
    slow = _one(min_throughput=100.5)
    assert (slow.stage, slow.note) == (Stage.THROUGHPUT, "reaches 100/s of the 100.5/s required")
    late = _one(max_duration_s=3599.0)
    assert (late.stage, late.note) == (Stage.TIME, "needs 1h, 1s over maxDuration 59m59s")


def test_a_gang_wider_than_the_pool_holds_is_not_a_wait_for_capacity() -> None:
    # One node holds four 2-GPU workers; within 12 minutes the hour of work needs five.
    wide = _one(max_workers=8, scaling_efficiency=1.0, max_duration_s=12 * 60.0)
    assert (wide.stage, wide.workers) == (Stage.TIME, 4)
    assert wide.note == (
        "needs 15m, 3m over maxDuration 12m, at x4, as many as the pool's 1 node(s) hold"
    )
    five = _one(min_workers=5, max_workers=8)
    assert five.stage is Stage.GANG
    assert five.note == (
        "the job needs at least 5 worker(s) of 2 nvidia.com/gpu, 4 CPU, 16Gi; the pool's 1 "
        "node(s) hold 4 such worker(s)"
    )


def test_spot_advice_is_given_at_the_width_the_job_needs_and_only_where_it_helps() -> None:
    spot = _pool(capacity_type="spot")
    needs_two = _one(spot, max_workers=4, scaling_efficiency=1.0, max_duration_s=1800.0)
    assert (needs_two.stage, needs_two.workers) == (Stage.SPOT, 2)
    assert needs_two.note == "spot pool; set spec.allowSpot: true"
    too_slow = _one(spot, max_workers=8, scaling_efficiency=1.0, max_duration_s=600.0)
    assert too_slow.stage is Stage.SPOT
    assert too_slow.note == (
        "spot pool, and even allowed it needs 15m, 5m over maxDuration 10m, at x4, as many as "
        "the pool's 1 node(s) hold"
    )


def test_a_deadline_already_passed_is_said_so_not_as_an_overrun() -> None:
    late = _one(deadline=NOW - timedelta(days=3))
    assert (late.stage, late.note) == (Stage.TIME, "the deadline passed 3d ago")


def test_spot_and_nodes_notes() -> None:
    spot = _one(_pool(capacity_type="spot"))
    assert (spot.stage, spot.note) == (Stage.SPOT, "spot pool; set spec.allowSpot: true")
    assert _one(_pool(capacity_type="spot"), allow_spot=True).stage is Stage.FEASIBLE
    empty = _one(_pool(nodes=()))
    assert (empty.stage, empty.note) == (Stage.NO_NODES, "the pool has no nodes")
    cordoned = _one(_pool(nodes=(), unavailable=3))
    assert cordoned.note == "all 3 node(s) of the pool are cordoned, NotReady or being reclaimed"
    small = Resources(cpu=2000, memory=8 * 1024, gpu=1)
    tiny = _one(_pool(nodes=(Node("t", small, small),)))
    assert (tiny.stage, tiny.workers) == (Stage.NO_FIT, 1)
    assert tiny.note.endswith("the largest node of the pool has 1 nvidia.com/gpu, 2 CPU, 8Gi")


def test_spot_that_would_use_up_the_restarts_is_excluded() -> None:
    # 10 h on one node reclaimed 0.2 times an hour, checkpointed every 30 min: 2.103 reclaims
    # expected, 4 at 90 % (worked in test_spotrisk). 3 restarts left are too few, 4 are enough.
    spot = replace(_pool(capacity_type="spot"), interruption_rate=0.2)
    fields = {"work": 10 * WORK, "allow_spot": True, "checkpoint_s": 1800.0}
    short = _one(spot, restarts_left=3, **fields)
    assert (short.stage, short.note) == (
        Stage.SPOT,
        "expects up to 4 reclaim(s) (9 runs in 10), more than the 3 restart(s) left "
        "(spec.failurePolicy.maxRestarts)",
    )
    assert _one(spot, restarts_left=4, **fields).stage is Stage.FEASIBLE
    assert _one(spot, **fields).stage is Stage.FEASIBLE  # no bound given
    assert _one(_pool(), restarts_left=0, **fields).stage is Stage.FEASIBLE  # on-demand: no risk


def test_out_of_range_at_its_bounds() -> None:
    # Exactly the longest run planned for is planned; a second more is not.
    longest = _one(work=100.0 * MAX_RUN_S, max_workers=1)
    assert longest.stage is Stage.FEASIBLE
    assert longest.finish(NOW) == NOW + timedelta(seconds=MAX_RUN_S)
    beyond = _one(work=100.0 * (MAX_RUN_S + 1))
    assert beyond.stage is Stage.OUT_OF_RANGE and beyond.finish(NOW) is None
    assert "more than the 3650d pricewise plans for" in beyond.note
    # Two workers run it in time: the narrowest width within the bound, not the narrowest.
    two = _pool(nodes=(Node("a", NODE, NODE), Node("b", NODE, NODE)))
    wider = _one(two, work=100.0 * (MAX_RUN_S + 1), max_workers=2)
    assert (wider.stage, wider.workers) == (Stage.FEASIBLE, 2)
    # A cost of exactly the most pricewise places is placed; one micro-unit more is not.
    price = PoolPrices(per_device_hour=MAX_COST_MICROS // 2)
    dearest = _one(_pool(price))
    assert (dearest.stage, dearest.cost) == (Stage.FEASIBLE, MAX_COST_MICROS)
    dearer = _one(_pool(PoolPrices(per_device_hour=MAX_COST_MICROS // 2 + 1)))
    assert dearer.stage is Stage.OUT_OF_RANGE
    double = _one(_pool(PoolPrices(per_device_hour=MAX_COST_MICROS)))
    assert double.note == (
        "costs 2,000,000,000.00 EUR, more than the 1,000,000,000.00 EUR pricewise places"
    )


def test_an_endless_run_is_out_of_range_not_an_error() -> None:
    # Figures beyond the API's bounds (a snapshot built by hand) make the cost infinite.
    endless = JobOption("gpu", 2, OPTION.worker, 1e-310)
    cand = candidate_for(job("j", endless, work=1e308), endless, _pool(), NOW, "USD")
    assert cand.stage is Stage.OUT_OF_RANGE
    assert cand.cost > MAX_COST_MICROS


def test_node_share_on_a_node_with_one_device() -> None:
    # The worker holds the node's only GPU: its share is the whole node, whatever its CPUs.
    one_gpu = Resources(cpu=64_000, memory=512 * 1024, gpu=1)
    option = JobOption("gpu", 1, Resources(cpu=4000, memory=16 * 1024, gpu=1), 100.0)
    pool = _pool(PoolPrices(per_node_hour=to_micros(8.0)), (Node("n", one_gpu, one_gpu),))
    cand = candidate_for(job("j", option, work=WORK), option, pool, NOW, "USD")
    assert cand.cost == to_micros(8.0)


def test_node_share_in_a_mixed_pool_is_of_the_node_with_most_devices() -> None:
    # Nodes rank by devices first: the one with more CPU but fewer GPUs is not the largest.
    eight = Resources(cpu=96_000, memory=1024 * 1024, gpu=8)
    four = Resources(cpu=128_000, memory=512 * 1024, gpu=4)
    nodes = (Node("gpus", eight, eight), Node("cpus", four, four))
    option = JobOption("gpu", 1, Resources(cpu=8000, memory=64 * 1024, gpu=2), 100.0)
    pool = _pool(PoolPrices(per_node_hour=to_micros(40.0)), nodes)
    cand = candidate_for(job("j", option, work=WORK), option, pool, NOW, "USD")
    assert cand.cost == to_micros(10.0)  # a quarter of the 8-GPU node, not half the 4-GPU one


def test_node_share_of_an_excluded_row_is_at_most_the_whole_node() -> None:
    # A worker twice the node's size is excluded; its row still prices one node, not two.
    small = Resources(cpu=2000, memory=8 * 1024, gpu=1)
    pool = _pool(PoolPrices(per_node_hour=to_micros(8.0)), (Node("t", small, small),))
    assert _one(pool).cost == to_micros(8.0)
    # A pool without nodes has no shape to take a share of: a row prices a whole node.
    assert _one(_pool(PoolPrices(per_node_hour=to_micros(8.0)), ())).cost == to_micros(8.0)


def test_candidates_list_the_feasible_first_then_by_cost() -> None:
    cheap_spot = Pool("a", "gpu", "spot", PoolPrices(per_device_hour=to_micros(1.0)),
                      (Node("a", NODE, NODE),))  # fmt: skip
    dear = Pool("b", "gpu", "on-demand", PoolPrices(per_device_hour=to_micros(9.0)),
                (Node("b", NODE, NODE),), order=1)  # fmt: skip
    mid = Pool("c", "gpu", "on-demand", PoolPrices(per_device_hour=to_micros(3.0)),
               (Node("c", NODE, NODE),), order=2)  # fmt: skip
    found = candidates(job("j", OPTION, work=WORK), (cheap_spot, dear, mid), NOW, "USD")
    assert [(c.pool.name, c.feasible) for c in found] == [
        ("c", True),
        ("b", True),
        ("a", False),
    ]
    assert found[2].note == "spot pool; set spec.allowSpot: true"
    capped = candidates(job("j", OPTION, work=WORK, max_cost=to_micros(1)), (mid,), NOW, "CHF")
    assert capped[0].note == "costs 6.00 CHF, over maxCost 1.00 CHF"
