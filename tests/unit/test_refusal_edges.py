"""Refusal messages at their edges: limits met exactly, limits of zero, several pools or options
refused at once, and the typos "did you mean" names."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from factory import NOW, gpu_nodes, job, option, pool, snapshot

from pricewise.core.refusals import _edits
from pricewise.core.snapshot import JobOption, Node, Quota, Resources
from pricewise.core.solver import solve
from pricewise.core.units import to_micros

L4 = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 2))
L4_SPOT = pool("l4-spot", "nvidia-l4", 0.5, gpu_nodes("l4-spot", 2), spot=True)


def decide(pools, *jobs, **kw):
    (decision,) = solve(snapshot(pools, list(jobs), **kw)).decisions
    return decision.reason, decision.message


def test_a_deadline_that_binds_is_not_fixed_by_a_larger_max_duration() -> None:
    # A job whose maxDuration (2d) is met was told to raise it to 1h: the deadline binds. A run
    # exactly as long as its maxDuration (1h) read as over it.
    for max_s in (2 * 86400.0, 3600.0):
        slow = job("j", option("nvidia-l4", 1000), max_duration_s=max_s,
                   deadline=NOW + timedelta(minutes=30))  # fmt: skip
        assert decide([L4], slow) == (
            "DeadlineUnreachable",
            "deadline in 30m cannot be met: fastest option l4 x1 needs 1h; move spec.deadline, "
            "or set spec.whenLate: Run to run it late, or raise spec.workers.max to 2 (l4 x2 "
            "needs 30m)",
        )


def test_a_run_that_ends_on_its_deadline_is_only_over_max_duration() -> None:
    # A run that ends exactly at its deadline was told to move spec.deadline too.
    late = job("j", option("nvidia-l4", 1000), max_duration_s=1800.0,
               deadline=NOW + timedelta(hours=1))  # fmt: skip
    assert decide([L4], late)[1] == (
        "maxDuration 30m cannot be met: fastest option l4 x1 needs 1h; raise spec.maxDuration "
        "to 1h, or spec.workers.max to 2 (l4 x2 needs 30m)"
    )


def test_a_deadline_now_has_passed_and_one_a_second_away_has_not() -> None:
    # A deadline of now read "deadline in 0s cannot be met"; one a second away, as passed.
    assert decide([L4], job("j", option("nvidia-l4", 1000), deadline=NOW))[1] == (
        "deadline passed 0s ago; move spec.deadline, or set spec.whenLate: Run to run it late"
    )
    soon = job("j", option("nvidia-l4", 1000), deadline=NOW + timedelta(seconds=1))
    assert decide([L4], soon)[1].startswith("deadline in 1s cannot be met: fastest option")


def test_a_run_of_exactly_the_longest_max_duration_is_told_to_raise_it() -> None:
    # A run of exactly 3650d, the longest maxDuration the API takes, was told "no
    # spec.maxDuration up to 3650d allows it".
    one = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 1, gpus=1))
    long = job("j", option("nvidia-l4", 1, devices=1), work=3650 * 86400.0, max_duration_s=86400.0)
    assert decide([one], long)[1] == (
        "maxDuration 1d cannot be met: fastest option l4 x1 needs 3650d; raise spec.maxDuration "
        "to 3650d"
    )


def test_a_run_over_both_limits_that_more_workers_fix_says_raise_once_per_fix() -> None:
    # Over maxDuration and the deadline both, the advice read "..., or spec.workers.max to 3",
    # without its verb.
    h100 = pool("h100", "nvidia-h100", 4.0, gpu_nodes("h100", 3))
    moe = job("moe", option("nvidia-h100", 230), work=5e7, max_workers=2, scaling_efficiency=0.9,
              max_duration_s=86400.0, deadline=NOW + timedelta(hours=30))  # fmt: skip
    assert decide([h100], moe)[1].endswith(
        "; raise spec.maxDuration to 1d10h, and move spec.deadline or set spec.whenLate: Run to "
        "run it late, or raise spec.workers.max to 3 (h100 x3 needs 23h47m)"
    )


def test_a_max_cost_or_value_of_zero_reads_as_zero() -> None:
    # A maxCost of 0 read "maxCost 0.000001 USD"; a value of 0, "net benefit -15.999999 USD".
    assert decide([L4], job("j", option("nvidia-l4", 1000), max_cost=0))[1].startswith(
        "maxCost 0.00 USD: cheapest option that meets the constraints, l4 x1, costs 16.00 USD; "
    )
    assert decide([L4], job("j", option("nvidia-l4", 1000), value=0))[1].startswith(
        "not worth running: cheapest option l4 x1 costs 16.00 USD, more than the job's value "
        "0.00 USD (net benefit -16.00 USD); raise spec.value to 16.00 USD, or"
    )


def test_cost_fixes_name_only_the_fields_that_fall_short_and_options_within_them() -> None:
    # A maxCost equal to the cost was told to be raised; an option costing exactly the value
    # went unnamed; one within both limits must say "within spec.maxCost and spec.value".
    at_max = job("j", option("nvidia-l4", 1000), max_cost=to_micros(16), value=to_micros(5))
    assert "; raise spec.value to 16.00 USD, or" in decide([L4, L4_SPOT], at_max)[1]
    at_value = job("j", option("nvidia-l4", 1000), value=to_micros(4))
    assert decide([L4, L4_SPOT], at_value)[1].endswith(
        "; l4-spot x1 would save 75% (it costs 4.00 USD, within spec.value) but spot pool; set "
        "spec.allowSpot: true"
    )
    both = job("j", option("nvidia-l4", 1000), max_cost=to_micros(5), value=to_micros(5))
    assert decide([L4, L4_SPOT], both)[1].endswith(
        "(it costs 4.00 USD, within spec.maxCost and spec.value) but spot pool; set "
        "spec.allowSpot: true"
    )


def test_an_excluded_option_as_dear_as_the_chosen_one_saves_nothing() -> None:
    # It read "l4-spot x1 would save 0% but spot pool".
    same = pool("l4-spot", "nvidia-l4", 2.0, gpu_nodes("l4-spot", 1), spot=True)
    assert decide([L4, same], job("j", option("nvidia-l4", 1000))) == (
        "Admitted",
        "l4 x1 at 16.00 USD, done in 1h: cheapest of 1 option(s)",
    )


def test_a_quota_too_small_offers_fewer_workers_only_to_a_job_that_may_have_fewer() -> None:
    # A job of workers.min 1, widened to x2 for its deadline, was told to lower
    # spec.workers.min.
    hard = Quota("team-a", "gpus", {"nvidia.com/gpu": 12}, hard={"nvidia.com/gpu": 12})
    widened = job("j", option("nvidia-l4", 1000), max_workers=2,
                  deadline=NOW + timedelta(minutes=40))  # fmt: skip
    assert decide([L4], widened, quotas=[hard])[1].endswith("or ask for less (spec.options)")
    gang = job("j", option("nvidia-l4", 1000), min_workers=2, max_workers=2)
    assert decide([L4], gang, quotas=[hard])[1].endswith(
        "(spec.options, or fewer workers: spec.workers.min)"
    )


def test_pools_without_nodes_are_each_named() -> None:
    # No other test reaches this refusal: a pool with no node at all, here two of them.
    bare = [pool(name, "nvidia-l4", 2.0, ()) for name in ("l4", "l4b")]
    assert decide(bare, job("j", option("nvidia-l4", 1000))) == (
        "NodesUnavailable",
        "pool l4: the pool has no nodes; pool l4b: the pool has no nodes",
    )


def test_options_waiting_for_nodes_that_are_down_are_listed_cheapest_then_by_pool() -> None:
    # Pool b comes first in the pools' order, a first by name: at one cost, a is listed first.
    def down(name: str, order: int):
        (node,) = gpu_nodes(name, 1)
        return replace(pool(name, "nvidia-l4", 2.0, (), order=order), unavailable=(node,))

    reason, message = decide([down("b", 0), down("a", 1)], job("j", option("nvidia-l4", 1000)))
    assert reason == "NodesUnavailable"
    assert message == (
        "a x1 would do, done in 1h for 16.00 USD, but all 1 node(s) of the pool are cordoned, "
        "NotReady or being reclaimed; b x1 would do, done in 1h for 16.00 USD, but all 1 "
        "node(s) of the pool are cordoned, NotReady or being reclaimed"
    )


def test_a_gang_too_large_for_two_pools_names_each_and_which_is_spot() -> None:
    # Each pool is named with why the gang does not fit, "; " between them; the spot pool's
    # note says it would also need spec.allowSpot.
    spot = pool("h100-spot", "nvidia-h100", 3.0, gpu_nodes("h100-spot", 1), spot=True)
    od = pool("h100", "nvidia-h100", 8.0, gpu_nodes("h100", 1))
    need = ("the job needs at least 3 worker(s) of 8 nvidia.com/gpu, 8 CPU, 64Gi; the pool's 1 "
            "node(s) hold 1 such worker(s)")  # fmt: skip
    assert decide(
        [od, spot], job("j", option("nvidia-h100", 1000), min_workers=3, max_workers=3)
    ) == (
        "GangTooLarge",
        f"h100-spot: {need} (a spot pool: it would also need spec.allowSpot: true); h100: "
        f"{need}; lower spec.workers.min to 1, or ask for less per worker (spec.options), or "
        "for larger nodes",
    )


def test_a_worker_too_large_names_every_pool_and_the_largest_node_by_devices() -> None:
    # Every pool a worker is too large for is named. The largest node is the one with the most
    # devices, not the first in Resources' field order (CPU first); workers of two sizes are
    # listed smallest first, not in Resources' field order.
    a = pool("a", "nvidia-l4", 2.0, gpu_nodes("a", 1))
    b = pool("b", "nvidia-l4", 2.0, gpu_nodes("b", 1, gpus=4))
    assert (
        "no node is that large in a, b (largest: 8 nvidia.com/gpu, 96 CPU, 1024Gi)"
        in decide([a, b], job("j", option("nvidia-l4", 1000, devices=16)))[1]
    )
    wide = Resources(cpu=128_000, memory=1024 * 1024, gpu=4)
    tall = Resources(cpu=64_000, memory=1024 * 1024, gpu=8)
    x = pool("x", "nvidia-l4", 2.0, (Node("x-0", wide, wide),))
    y = pool("y", "nvidia-l4", 2.0, (Node("y-0", tall, tall),))
    assert (
        "(largest: 8 nvidia.com/gpu, 64 CPU, 1024Gi)"
        in decide([x, y], job("j", option("nvidia-l4", 1000, devices=16)))[1]
    )
    cpu_heavy = JobOption("nvidia-l4", 16, Resources(cpu=64_000, memory=64 * 1024, gpu=16), 1000)
    gpu_heavy = JobOption("nvidia-h100", 32, Resources(cpu=8_000, memory=64 * 1024, gpu=32), 1000)
    h = pool("h", "nvidia-h100", 4.0, gpu_nodes("h", 1))
    message = decide([a, h], job("j", cpu_heavy, gpu_heavy))[1]
    assert message.startswith("a worker needs 16 nvidia.com/gpu, 64 CPU, 64Gi; no node is that ")
    assert "; a worker needs 32 nvidia.com/gpu, 8 CPU, 64Gi; no node is that large in h " in message


def test_spot_refusal_counts_the_on_demand_options_it_does_not_name() -> None:
    # Two on-demand options are named; past two, the others are counted.
    spot = pool("h100-spot", "nvidia-h100", 3.0, gpu_nodes("h100-spot", 2), spot=True)
    ods = [pool(f"od{i}", "nvidia-h100", 8.0, gpu_nodes(f"od{i}", 1)) for i in range(4)]
    gang = job("j", option("nvidia-h100", 1000), min_workers=2, max_workers=2)
    need = ("the job needs at least 2 worker(s) of 8 nvidia.com/gpu, 8 CPU, 64Gi; the pool's 1 "
            "node(s) hold 1 such worker(s)")  # fmt: skip
    head = f"h100-spot x2: spot pool; set spec.allowSpot: true; od0 x2: {need}; od1 x2: {need}"
    assert decide([*ods, spot], gang) == (
        "SpotNotAllowed",
        f"{head} (2 other on-demand option(s) excluded too)",
    )
    assert decide([*ods[:3], spot], gang)[1] == f"{head} (1 other on-demand option(s) excluded too)"
    assert decide([*ods[:2], spot], gang)[1] == head


def test_of_two_spot_pools_that_would_run_it_the_cheaper_is_named() -> None:
    # Of two spot pools that would run it, the choice between them failed (a TypeError).
    slow = pool("l4", "nvidia-l4", 1.0, gpu_nodes("l4", 1))
    fast = pool("h100-spot", "nvidia-h100", 1.5, gpu_nodes("h100-spot", 1), spot=True)
    dear = pool("h100-spot2", "nvidia-h100", 2.0, gpu_nodes("h100-spot2", 1), spot=True)
    late = job("j", option("nvidia-l4", 500), option("nvidia-h100", 2000), max_duration_s=3600.0)
    assert decide([slow, dear, fast], late)[1].endswith(
        "; or set spec.allowSpot: true (h100-spot x1, a spot pool, would run in 30m for 6.00 USD)"
    )


def test_no_matching_pool_lists_every_accelerator_asked_and_offered() -> None:
    # Both lists are joined by ", "; with no pool at all the reason is NoMatchingPool too.
    h100 = pool("h100", "nvidia-h100", 4.0, gpu_nodes("h100", 1))
    two = job("j", option("tpu-v5e", 1000), option("nvidia-a100", 1000))
    assert decide([L4, h100], two) == (
        "NoMatchingPool",
        "no pool offers nvidia-a100, tpu-v5e (pools offer: nvidia-h100, nvidia-l4)",
    )
    assert decide([], job("j", option("cpu", 1000)))[0] == "NoMatchingPool"
    # A pool of no nodes was listed as one to ask for instead, as any other.
    ghost = pool("ghost", "nvidia-b200", 9.0, ())
    assert decide([L4, h100, ghost], two)[1] == (
        "no pool offers nvidia-a100, tpu-v5e (pools offer: nvidia-b200 (no nodes), nvidia-h100, "
        "nvidia-l4)"
    )


def test_typos_are_matched_as_whole_names_and_by_model_past_a_second_hyphen() -> None:
    # A second "-" must not move the vendor (nvidia-a100-81gb); names without one (cpu) are
    # alike as a whole; a model two or more keys off (x9, h100xy) is another model, no typo.
    a80 = pool("a80", "nvidia-a100-80gb", 4.0, gpu_nodes("a80", 1))
    assert decide([L4, a80], job("j", option("nvidia-a100-81gb", 1000)))[1] == (
        "no pool offers nvidia-a100-81gb (did you mean nvidia-a100-80gb?) (pools offer: "
        "nvidia-a100-80gb, nvidia-l4)"
    )
    cpu = pool("cpu", "cpu", 1.0, gpu_nodes("cpu", 1))
    said = {asked: decide([cpu], job("j", option(asked, 1000)))[1] for asked in ("cpus", "gpu")}
    assert said == {
        "cpus": "no pool offers cpus (did you mean cpu?) (pools offer: cpu)",
        "gpu": "no pool offers gpu (pools offer: cpu)",
    }
    gaudi = pool("g", "gaudi", 1.0, gpu_nodes("g", 1))  # 0.8 alike exactly
    assert "(did you mean gaudi?)" in decide([gaudi], job("j", option("gaudy", 1000)))[1]
    h100 = pool("h100", "nvidia-h100", 4.0, gpu_nodes("h100", 1))
    for far in ("nvidia-x9", "nvidia-h100xy"):
        assert decide([h100], job("j", option(far, 1000)))[1] == (
            f"no pool offers {far} (pools offer: nvidia-h100)"
        )


def test_edits_is_the_levenshtein_distance() -> None:
    # The distance "did you mean" ranks typos by.
    pairs = {("kitten", "sitting"): 3, ("abc", ""): 3, ("", "abc"): 3, ("abc", "ab"): 1,
             ("ab", "abc"): 1, ("abc", "abc"): 0, ("a100xy", "a100"): 2, ("l4", "l5"): 1,
             ("flaw", "lawn"): 2}  # fmt: skip
    assert {pair: _edits(*pair) for pair in pairs} == pairs


def test_fewer_workers_that_just_meet_max_duration_need_no_raise() -> None:
    # 2 workers that run exactly maxDuration (30m) were told to raise it.
    two = pool("h100", "nvidia-h100", 4.0, gpu_nodes("h100", 2))
    gang = job(
        "j", option("nvidia-h100", 1000), min_workers=3, max_workers=3, max_duration_s=1800.0
    )
    reason, message = decide([two], gang)
    assert reason == "GangTooLarge"
    assert "; lower spec.workers.min to 2, or ask for less per worker" in message


def test_an_option_no_pool_offers_beside_one_that_is_is_named_in_the_message() -> None:
    # Only test_plan_cli, through `pricewise plan` in a subprocess, checked this before.
    a80 = pool("a80", "nvidia-a100-80gb", 4.0, gpu_nodes("a80", 1))
    two = job("j", option("nvidia-l4", 1000), option("nvidia-a100", 1000), option("tpu-v5", 1000))
    assert decide([L4, a80], two)[1].endswith(
        "; options[1] asks for nvidia-a100 (did you mean nvidia-a100-80gb?); options[2] asks for "
        "tpu-v5, which no pool offers (pools offer: nvidia-a100-80gb, nvidia-l4)"
    )
    assert "which no pool offers" not in decide([L4, a80], job("j", option("nvidia-l4", 1000)))[1]
