"""The solver on hand-made clusters: each constraint binds once, with the reason it gives."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from factory import NOW, gpu_nodes, job, option, pool, snapshot

from pricewise.core import cpsat, phases, quarantine, relaxation, solver
from pricewise.core.classes import ChoiceKey, JobClasses
from pricewise.core.costmodel import candidates, without_missed_deadline
from pricewise.core.lookahead import LookAhead, later_starts, plan_moved, release_slots
from pricewise.core.relaxation import SLACK, Relaxation
from pricewise.core.settings import MIN_SHARE, SolverSettings
from pricewise.core.snapshot import BudgetView, Job, Node, Quota, Release, Resources, Snapshot
from pricewise.core.solver import Plan, counted_waits, solve
from pricewise.core.units import to_micros
from pricewise.core.validate import violations

# Per device-hour: the slow pool is cheaper per unit of work (1000/s for 2.0/h vs 3000/s for 8.0/h).
SLOW = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 2), order=1)
FAST = pool("h100", "nvidia-h100", 8.0, gpu_nodes("h100", 2), order=0)
ONE_L4 = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 1), order=1)
ONE_H100 = pool("h100", "nvidia-h100", 8.0, gpu_nodes("h100", 1))
"""SLOW and FAST with one node each."""
BOTH = (option("nvidia-l4", 1000), option("nvidia-h100", 3000))


def decide(plan: Plan, key: str = "team-a/j") -> tuple[str | None, str, str]:
    """(pool chosen or None, reason, message) of one job."""
    for d in plan.decisions:
        if d.job.key == key:
            return (d.chosen.pool.name if d.chosen else None, d.reason, d.message)
    raise KeyError(key)


NOW_ONLY = SolverSettings(look_ahead=LookAhead(enabled=False))
"""The `pricewise-now` policy: only what starts now is decided."""


def checked(plan_input: object, settings: SolverSettings | None = None) -> Plan:
    snap = plan_input
    plan = solve(snap, settings)  # type: ignore[arg-type]
    assert violations(snap, plan) == []  # type: ignore[arg-type]
    return plan


def test_cheapest_pool_that_meets_the_deadline() -> None:
    plan = checked(snapshot([SLOW, FAST], [job("j", *BOTH, max_duration_s=2 * 3600)]))
    chosen, reason, message = decide(plan)
    assert (chosen, reason) == ("l4", "Admitted")
    # one hour on 8 L4 at 2.0/device-hour = 16.00; the same work on H100 costs 21.33
    assert plan.total_cost == to_micros(16.0)
    assert "cheapest of 2 option(s) that finish within 2h" in message


def test_two_options_of_one_job_on_one_pool_are_two_choices() -> None:
    # A choice is named by the option's number: options numbered alike would be one choice,
    # and the model would keep only one of them.
    narrow, wide = option("a100", 1000.0, devices=4), option("a100", 1000.0, devices=8)
    snap = snapshot([pool("a", "a100", 1.0, gpu_nodes("a", 2))], [job("two", narrow, wide)])
    options = solver._options(snap)
    model = solver.PlacementModel(snap, options, {}, [])
    widths = sorted(c.option.devices_per_worker for c in model.choices.values())
    assert widths == [4, 8]


def test_a_job_only_a_cordoned_pool_would_meet_waits_for_its_nodes() -> None:
    # Only the H100s finish within 15 minutes, at two workers, and both are cordoned: the job
    # waits for them; it is not told to raise maxDuration, as if no pool could meet it.
    cordoned = replace(FAST, nodes=(), unavailable=FAST.nodes)
    fast = job("j", *BOTH, max_duration_s=900, max_workers=2)
    chosen, reason, message = decide(checked(snapshot([SLOW, cordoned], [fast])))
    assert (chosen, reason) == (None, "NodesUnavailable")
    assert message.startswith("h100 x2 would do, done in 10m for 21.33 USD, but all 2 node(s)")
    assert message.endswith("of the pool are cordoned, NotReady or being reclaimed")
    # Were they back, it would run there.
    assert decide(checked(snapshot([SLOW, FAST], [fast])))[:2] == ("h100", "Admitted")


def test_a_gang_a_pool_holds_only_with_its_nodes_that_are_down_waits_for_them() -> None:
    # One of the two H100 nodes is being reclaimed: the 2-worker gang read GangTooLarge ("the
    # pool's 1 node(s) hold 1 such worker(s)"), as if it could never run, and no alert counted
    # its wait. It waits for the node, and runs once it is back.
    half_down = replace(FAST, nodes=FAST.nodes[:1], unavailable=FAST.nodes[1:])
    gang = job("j", option("nvidia-h100", 1000), min_workers=2, max_workers=2)
    chosen, reason, message = decide(checked(snapshot([half_down], [gang])))
    assert (chosen, reason) == (None, "NodesUnavailable")
    assert message.startswith("h100 x2 would do, done in 30m for 64.00 USD, but 1 of the pool's 2")
    assert "the pool's 1 node(s) hold 1 such worker(s)" in message
    assert decide(checked(snapshot([FAST], [gang])))[:2] == ("h100", "Admitted")
    # A gang the nodes could not hold even all back is too large, as before.
    wide = job("j", option("nvidia-h100", 1000), min_workers=3, max_workers=3)
    assert decide(checked(snapshot([half_down], [wide])))[1] == "GangTooLarge"


def test_a_job_started_now_leaves_the_node_a_higher_reservation_waits_for() -> None:
    # Both nodes have 4 GPUs free, a-0 a CPU less (best fit's pick); a-0 frees 4 more in an
    # hour. `high` needs a whole node, which only a-0 is then; `low` (3 hours, 4 GPUs) starts
    # now. Best fit alone put it on a-0, and `high` could not start then.
    alloc, four = Resources(96_000, 1024 * 1024, 8), Resources(4000, 32 * 1024, 4)
    nodes = (
        Node("a-0", alloc, alloc - four - Resources(cpu=1000)),
        Node("a-1", alloc, alloc - four),
    )
    ends = ((NOW + timedelta(hours=1), "a-0"), (NOW + timedelta(days=5), "a-1"))
    frees = tuple(Release(at, four, ((n, four),), f"x/{n}") for at, n in ends)
    a = replace(pool("a", "a100", 1.0, nodes), releases=frees)
    eight = replace(option("a100", 1000.0), worker=Resources(2000, 16 * 1024, 8))
    small = replace(option("a100", 1000.0, devices=4), worker=Resources(2000, 16 * 1024, 4))
    high = job("high", eight, priority=10, deadline=NOW + timedelta(hours=4))
    low = job("low", small, work=3 * 3_600_000.0)
    plan = checked(snapshot([a], [high, low]))
    by_name = {d.job.name: d for d in plan.decisions}
    assert by_name["high"].reservation is not None
    assert by_name["high"].reservation.start == NOW + timedelta(hours=1)
    assert by_name["low"].nodes == ("a-1",)


def test_later_starts_at_one_instant_fit_the_nodes_not_only_the_sums() -> None:
    # Both nodes free 6 GPUs in an hour: jobs of 4, 4 and 3 GPUs fit the 12 in sum, and each
    # shape's copies fit, but no node takes 4 + 3: one of them is promised the start after,
    # when the first of them ends.
    alloc = Resources(96_000, 1024 * 1024, 8)
    busy = (
        Node("a-0", alloc, Resources(84_000, 928 * 1024)),
        Node("a-1", alloc, Resources(84_000, 928 * 1024)),
    )
    six = Resources(6000, 48 * 1024, 6)
    frees = tuple(
        Release(NOW + timedelta(hours=1), six, ((n.name, six),), f"x/{n.name}") for n in busy
    )
    cheap = replace(pool("a", "a100", 1.0, busy), releases=frees)
    dear = pool("b", "a100", 10.0, ())

    def sized(name: str, devices: int) -> Job:
        each = replace(option("a100", 1000.0, devices), worker=Resources(1000, 8 * 1024, devices))
        return job(name, each, deadline=NOW + timedelta(hours=8))

    plan = checked(snapshot([cheap, dear], [sized("x", 4), sized("y", 4), sized("z", 3)]))
    starts = sorted(d.reservation.start - NOW for d in plan.decisions if d.reservation)
    assert starts == [timedelta(hours=1)] * 2 + [timedelta(hours=2)], starts


def test_an_option_as_cheap_as_the_chosen_one_is_not_said_to_be_cheaper() -> None:
    # 8 L4 for an hour at 2.0 and 8 H100 for a quarter of an hour at 8.0: 16.00 USD each.
    l4 = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 2), order=0)
    h100 = pool("h100", "nvidia-h100", 8.0, gpu_nodes("h100", 2), order=1)
    both = (option("nvidia-l4", 1000), option("nvidia-h100", 4000))
    plan = checked(snapshot([l4, h100], [job("j", *both)]))
    _, reason, message = decide(plan)
    assert reason == "Admitted" and "cheapest of 2 option(s)" in message, message
    assert "no room" not in message


def test_a_job_needing_more_workers_than_a_pool_holds_says_so_instead_of_waiting() -> None:
    # Each H100 node holds one 8-GPU worker; the job runs on three at least.
    plan = checked(snapshot([FAST], [job("j", BOTH[1], min_workers=3, max_workers=4)]))
    chosen, reason, message = decide(plan)
    assert (chosen, reason) == (None, "GangTooLarge")
    assert message == (
        "h100: the job needs at least 3 worker(s) of 8 nvidia.com/gpu, 8 CPU, 64Gi; the pool's 2 "
        "node(s) hold 2 such worker(s); lower spec.workers.min to 2, or ask for less per worker "
        "(spec.options), or for larger nodes"
    )


@pytest.mark.parametrize(
    ("rate", "gives", "lower_to"),
    [
        (1234.5678, "1,235", "1,234"),
        (0.0123456, "0.01235", "0.01234"),
        (98_765.9, "98,766", "98,765"),
    ],
)
def test_a_min_throughput_out_of_reach_is_told_a_figure_the_run_reaches(
    rate: float, gives: str, lower_to: str
) -> None:
    # Rounded down: the figure printed beside "gives" rounds up, and a minThroughput lowered to
    # it was out of reach again.
    plan = checked(snapshot([SLOW], [job("j", option("nvidia-l4", rate), min_throughput=1e6)]))
    assert decide(plan)[2].endswith(f"gives {gives}/s; lower spec.minThroughput to {lower_to}")


def test_a_gang_told_to_ask_for_fewer_workers_is_told_what_else_they_need() -> None:
    # Two workers run the work in 10m, past a maxDuration of 5m: lowering spec.workers.min
    # alone led to DeadlineUnreachable next.
    plan = checked(snapshot([FAST], [job("j", BOTH[1], min_workers=3, max_workers=4,
                                         max_duration_s=300.0)]))  # fmt: skip
    assert decide(plan)[1:] == (
        "GangTooLarge",
        "h100: the job needs at least 3 worker(s) of 8 nvidia.com/gpu, 8 CPU, 64Gi; the pool's 2 "
        "node(s) hold 2 such worker(s); lower spec.workers.min to 2 (2 workers need 10m, past "
        "spec.maxDuration 5m: raise it too), or ask for less per worker (spec.options), or for "
        "larger nodes",
    )


def test_a_gang_too_large_for_a_spot_pool_the_job_may_not_use_says_so() -> None:
    spot = pool("h100-spot", "nvidia-h100", 3.0, gpu_nodes("h100s", 2), spot=True)
    plan = checked(snapshot([FAST, spot], [job("j", BOTH[1], min_workers=3, max_workers=4)]))
    _, reason, message = decide(plan)
    assert reason == "GangTooLarge"
    assert "h100-spot: the job needs at least 3 worker(s)" in message
    assert message.count("(a spot pool: it would also need spec.allowSpot: true)") == 1


def test_tighter_deadline_moves_to_the_faster_pricier_pool() -> None:
    plan = checked(snapshot([SLOW, FAST], [job("j", *BOTH, max_duration_s=30 * 60)]))
    chosen, _, message = decide(plan)
    assert chosen == "h100"
    assert plan.total_cost == round(to_micros(8.0 * 8) / 3)
    assert "l4 x1 would save 25% but needs 1h, 30m over maxDuration 30m" in message


def test_unreachable_deadline_names_the_fastest_option() -> None:
    deadline = NOW + timedelta(minutes=9)
    plan = checked(snapshot([SLOW, FAST], [job("j", *BOTH, deadline=deadline, max_workers=2)]))
    chosen, reason, message = decide(plan)
    assert (chosen, reason) == (None, "DeadlineUnreachable")
    assert message == (
        "deadline in 9m cannot be met: fastest option h100 x2 needs 10m; move spec.deadline, or "
        "set spec.whenLate: Run to run it late"
    )


def test_wider_job_when_one_worker_is_too_slow() -> None:
    plan = checked(snapshot([SLOW], [job("j", BOTH[0], max_duration_s=1800, max_workers=4)]))
    assert plan.decisions[0].chosen is not None
    assert plan.decisions[0].chosen.workers == 2
    assert len(set(plan.decisions[0].nodes)) == 2  # one 8-GPU worker per node


def test_full_cheapest_pool_falls_back_to_the_next_feasible() -> None:
    full = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 2, free_gpus=4), order=1)
    plan = checked(snapshot([full, FAST], [job("j", *BOTH, max_duration_s=7200)]))
    chosen, _, message = decide(plan)
    assert chosen == "h100"
    assert "l4 x1 would cost 25% less but has no room now" in message


def test_a_job_its_max_wait_keeps_from_room_the_plan_takes_is_told_of_its_max_wait() -> None:
    # `first` (priority 10) takes the one L4 node for two hours; `j` would have to wait for
    # that, past its max wait of an hour. "has no room now" alone did not say what to change.
    first = job("first", BOTH[0], priority=10, work=7_200_000.0)
    late = job("j", *BOTH, created=NOW, max_wait_s=3600.0)
    plan = checked(snapshot([ONE_L4, FAST], [first, late]))
    assert decide(plan)[2].endswith(
        "l4 x1 would cost 25% less but has no room now, and room frees there ~14:00 UTC, past "
        "its max wait (spec.maxWait 1h from submission)"
    )


def test_a_job_waiting_for_room_a_job_placed_now_takes_is_told_when_it_frees() -> None:
    # Nothing ran on the pool before this plan: the room the plan's own start gives back was
    # not said.
    first = job("first", BOTH[0], priority=10, work=7_200_000.0)
    plan = checked(snapshot([ONE_L4], [first, job("j", BOTH[0])]), NOW_ONLY)
    assert decide(plan)[2].endswith("; the jobs running on l4 leave room for it ~14:00 UTC")


def test_a_cheaper_option_the_quota_refuses_is_said_to_be_refused_by_it() -> None:
    # l4 x1 (8 GPUs, 16 USD) has room; the namespace's quota has 4 GPUs left, which h100 x1 of
    # 4 GPUs (21.33 USD) fits. "has no room now" sent the user to the wrong place.
    quota = Quota("team-a", "gpus", {"nvidia.com/gpu": 4})
    h100 = option("nvidia-h100", 1500, devices=4)
    plan = checked(snapshot([SLOW, FAST], [job("j", BOTH[0], h100)], quotas=[quota]))
    chosen, _, message = decide(plan)
    assert chosen == "h100"
    assert "l4 x1 would cost" in message
    assert "but quota team-a/gpus: 4 nvidia.com/gpu left, l4 x1 needs 8" in message
    assert "no room" not in message
    row = next(r for r in plan.decisions[0].options if r.candidate.pool.name == "l4")
    assert row.note == "cheaper, but quota team-a/gpus: 4 nvidia.com/gpu left, l4 x1 needs 8"


def test_a_pool_with_free_devices_on_nodes_too_small_for_a_worker_is_not_called_full() -> None:
    # 8 L4s free, 4 on each node, for workers of 8: the row read "pool l4 is full".
    spread = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 2, free_gpus=4), order=1)
    plan = checked(snapshot([spread, FAST], [job("j", *BOTH)]))
    row = next(r for r in plan.decisions[0].options if r.candidate.pool.name == "l4")
    assert row.note == "cheaper, but no node of pool l4 has room for a worker now"
    fours = (option("nvidia-l4", 1000, devices=4), option("nvidia-h100", 3000, devices=4))
    plan = checked(snapshot([spread, FAST], [job("j", *fours, min_workers=3, max_workers=3)]))
    row = next(r for r in plan.decisions[0].options if r.candidate.pool.name == "l4")
    assert row.note == "cheaper, but pool l4 has room for 2 of its 3 workers now"


def test_a_job_started_now_beside_a_full_pool_is_not_told_another_job_holds_it() -> None:
    # The L4 is busy for 15m, then planned for w. j, started on the H100, was told its room in
    # the L4 pool was planned for w: there is none now, w or not.
    plan = checked(l4_running_for_15m(job("w", *BOTH, created=NOW, priority=10), job("j", *BOTH)))
    assert decide(plan, "team-a/w")[:2] == (None, "Reserved")
    assert decide(plan, "team-a/j") == (
        "h100",
        "Admitted",
        "h100 x1 at 21.33 USD, done in 20m: l4 x1 would cost 25% less but has no room now, "
        "and room frees there ~12:15 UTC, but the plan gives that room to other jobs",
    )


def test_a_quota_lowered_below_its_use_says_none_is_left_not_a_negative_figure() -> None:
    # It read "quota team-a/gpus: -2 nvidia.com/gpu left".
    quota = Quota("team-a", "gpus", {"nvidia.com/gpu": -2})
    plan = checked(snapshot([SLOW], [job("j", BOTH[0])], quotas=[quota]))
    assert decide(plan)[2].startswith(
        "quota team-a/gpus: 0 nvidia.com/gpu left (2 over it), l4 x1 needs 8"
    )


def test_waits_for_capacity_with_the_reason() -> None:
    full = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 2, free_gpus=4))
    plan = checked(snapshot([full], [job("j", BOTH[0])]))
    assert decide(plan)[:2] == (None, "WaitingForCapacity")
    assert "no room in pool l4: l4 x1 needs 1 worker(s) of 8 nvidia.com/gpu" in decide(plan)[2]
    # With a deadline, when it must start by is said before it passes (then the job is held).
    due = job("j", BOTH[0], deadline=NOW + timedelta(hours=3))
    assert decide(checked(snapshot([full], [due])))[2].endswith(
        "; to meet its deadline it must start by ~14:00 UTC"
    )
    # At the widest width it accepts: two workers run the hour of work in 30 min.
    wide = replace(due, max_workers=2)
    assert decide(checked(snapshot([full], [wide])))[2].endswith("must start by ~14:30 UTC")
    # Not wider than the pool's nodes hold: four workers would say 14:45, two fit.
    wider = replace(due, max_workers=4)
    assert decide(checked(snapshot([full], [wider])))[2].endswith("must start by ~14:30 UTC")
    # On spot, with the reclaims the deadline is checked with: two workers at 0.5 reclaims
    # per node-hour take 1h30m with the reclaims of 9 runs in 10, not 30m.
    spot = replace(pool("s", "nvidia-l4", 1.0, full.nodes, spot=True), interruption_rate=0.5)
    risky = replace(wide, allow_spot=True, deadline=NOW + timedelta(hours=4))
    assert decide(checked(snapshot([spot], [risky])))[2].endswith("must start by ~14:30 UTC")


def test_a_deadline_refused_on_spot_says_the_run_time_it_was_checked_with() -> None:
    spot = replace(pool("s", "nvidia-l4", 1.0, gpu_nodes("s", 2), spot=True), interruption_rate=0.5)
    plan = checked(snapshot([spot], [job("j", BOTH[0], allow_spot=True, max_duration_s=7200)]))
    assert decide(plan)[1:] == (
        "DeadlineUnreachable",
        "maxDuration 2h cannot be met: fastest option s x1 needs 3h with the reclaims of 9 "
        "runs in 10; raise spec.maxDuration to 3h, or spec.workers.max to 2 (s x2 needs 1h30m), "
        "or set spec.checkpoint.interval, so that a reclaim loses less of the run",
    )
    # Where even a run without reclaims is too late, checkpoints cannot help: not said.
    past = job("p", BOTH[0], allow_spot=True, deadline=NOW - timedelta(hours=2))
    short = job("s", BOTH[0], allow_spot=True, max_duration_s=1800)
    for late in (past, short):
        (decision,) = checked(snapshot([spot], [late])).decisions
        assert "checkpoint" not in decision.message, decision.message


def test_a_spot_run_too_long_with_its_reclaims_points_to_checkpoints() -> None:
    spot = replace(pool("s", "nvidia-l4", 1.0, gpu_nodes("s", 2), spot=True), interruption_rate=0.5)
    l4 = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 2))
    bare = job("j", BOTH[0], allow_spot=True, max_duration_s=7200)
    (decision,) = checked(snapshot([spot, l4], [bare])).decisions
    rows = {r.candidate.pool.name: r.note for r in decision.options}
    assert rows["s"] == (
        "needs 3h, 1h over maxDuration 2h (with the reclaims of 9 runs in 10; "
        "spec.checkpoint.interval would lose less to them)"
    )
    # And so they do: with a checkpoint every 10 minutes, the spot run fits and is chosen.
    (decision,) = checked(snapshot([spot, l4], [replace(bare, checkpoint_s=600.0)])).decisions
    assert decision.chosen is not None and decision.chosen.pool.name == "s"


def test_room_and_budget_held_for_a_later_start_are_named() -> None:
    # The explanation counted placements only: a job whose budget or room a later start holds
    # was told it "fits but was left for the next cycle".
    full = Resources(cpu=96_000, memory=1024 * 1024, gpu=8)
    nodes = gpu_nodes("c", 2)
    busy = (nodes[0], replace(nodes[1], free=replace(full, gpu=0)))
    frees = (Release(NOW + timedelta(minutes=30), full, (("c-1", full),)),)
    c = replace(pool("c", "nvidia-l4", 1.0, busy), releases=frees)
    e = pool("e", "nvidia-h100", 5.0, gpu_nodes("e", 4), order=1)
    both = (option("nvidia-l4", 1000), option("nvidia-h100", 1000))
    gang = job("a", *both, min_workers=2, max_workers=2, priority=1)
    due = NOW + timedelta(hours=2, minutes=30)
    long = job("b", both[0], work=2 * 3_600_000.0, deadline=due)
    plan = checked(snapshot([c, e], [gang, long]))
    assert decide(plan, "team-a/a")[1] == "Reserved"
    assert decide(plan, "team-a/b")[1:] == (
        "WaitingForCapacity",
        "c x1 fits now, but would not end before its room in pool c is planned for team-a/a "
        "from ~12:30 UTC; to meet its deadline it must start by ~12:30 UTC",
    )
    # A hard budget of 12 USD: 8 are held for a's later start (on c at 13:00: c-1 frees then),
    # 4 left for s on an H100 now (8 USD).
    later = (Release(NOW + timedelta(hours=1), full, (("c-1", full),)),)
    h100 = pool("h100", "nvidia-h100", 1.0, gpu_nodes("h100", 1), order=1)
    budget = BudgetView("team-a", "monthly", to_micros(12.0), 0, 0, True)
    jobs = [job("a", both[0], min_workers=2, max_workers=2, priority=1), job("s", both[1])]
    plan = checked(snapshot([replace(c, releases=later), h100], jobs, budgets=[budget]))
    assert decide(plan, "team-a/a")[1] == "Reserved"
    assert decide(plan, "team-a/s")[1:] == (
        "BudgetExceeded",
        "budget team-a/monthly: 4.00 USD left after 8.00 USD for other jobs placed now or "
        "reserved, h100 x1 costs 8.00 USD; it waits for that Budget's next period, or raise its "
        "spec.limit to 16.00 USD",
    )


def test_gang_is_all_or_nothing_at_node_level() -> None:
    # 16 GPUs free in all, but 4 per node: two 8-GPU workers fit nowhere.
    split = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 4, free_gpus=4))
    plan = checked(snapshot([split], [job("j", BOTH[0], min_workers=2, max_workers=2)]))
    assert decide(plan)[0] is None


def test_device_quota_holds_the_job_back() -> None:
    quota = Quota("team-a", "gpus", {"nvidia.com/gpu": 4})
    plan = checked(snapshot([SLOW], [job("j", BOTH[0])], quotas=[quota]))
    _, reason, message = decide(plan)
    assert reason == "QuotaExceeded"
    assert message == "quota team-a/gpus: 4 nvidia.com/gpu left, l4 x1 needs 8"


def test_a_job_whose_workers_a_pod_quota_refuses_is_told_it_may_ask_for_fewer() -> None:
    # Two workers at least where the quota allows one pod: spec.options could not fix it.
    quota = Quota("team-a", "pods", {"pods": 1}, hard={"pods": 1})
    two = job("j", option("nvidia-l4", 1000, devices=4), min_workers=2, max_workers=2)
    plan = checked(snapshot([SLOW], [two], quotas=[quota]))
    _, reason, message = decide(plan)
    assert reason == "QuotaTooSmall"
    assert message.endswith(
        "; raise that ResourceQuota's spec.hard, or ask for less (spec.options, or fewer "
        "workers: spec.workers.min)"
    ), message


@pytest.mark.parametrize("counted", [{"b", "c"}, {"a"}])
def test_copies_a_scoped_quota_counts_apart_are_not_one_class(counted: set[str]) -> None:
    # Three copies of one job, a quota with room for one that counts only some of them: solved
    # as one class, the first copy's count stood for all, and all three started.
    l4 = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 3))
    jobs = [job(name, option("nvidia-l4", 1000)) for name in ("a", "b", "c")]
    quota = Quota("team-a", "high", {"nvidia.com/gpu": 8}, hard={"nvidia.com/gpu": 16},
                  jobs=frozenset(counted))  # fmt: skip
    plan = checked(snapshot([l4], jobs, quotas=[quota]))
    started = {d.job.name for d in plan.decisions if d.chosen is not None}
    assert len(started & counted) == 1
    assert started - counted == {"a", "b", "c"} - counted


def test_a_job_larger_than_two_quotas_names_both() -> None:
    # Named one at a time, an admin raised the first as told and was then told of the next.
    gpus = Quota("team-a", "gpus", {"nvidia.com/gpu": 4}, hard={"nvidia.com/gpu": 4})
    pods = Quota("team-a", "pods", {"pods": 1}, hard={"pods": 1})
    two = job("j", option("nvidia-l4", 1000), min_workers=2, max_workers=2)
    plan = checked(snapshot([SLOW], [two], quotas=[gpus, pods]))
    _, reason, message = decide(plan)
    assert reason == "QuotaTooSmall"
    assert message == (
        "l4 x2 needs 16 nvidia.com/gpu, more than quota team-a/gpus allows in all (spec.hard: 4) "
        "and needs 2 pods, more than quota team-a/pods allows in all (spec.hard: 1); raise each "
        "of those ResourceQuotas' spec.hard, or ask for less (spec.options)"
    )


def test_fewer_workers_are_not_offered_where_one_worker_is_past_the_quota() -> None:
    quota = Quota("team-a", "gpus", {"nvidia.com/gpu": 4}, hard={"nvidia.com/gpu": 4})
    two = job("j", option("nvidia-l4", 1000), min_workers=2, max_workers=2)
    plan = checked(snapshot([SLOW], [two], quotas=[quota]))
    _, reason, message = decide(plan)
    assert reason == "QuotaTooSmall"
    assert message.endswith("or ask for less (spec.options)"), message


def test_a_job_larger_than_its_quota_allows_in_all_is_told_to_raise_it_not_to_wait() -> None:
    # 8 GPUs a worker where the quota allows 4 in all: no wait lets it run.
    quota = Quota("team-a", "gpus", {"nvidia.com/gpu": 4}, hard={"nvidia.com/gpu": 4})
    plan = checked(snapshot([SLOW], [job("j", BOTH[0])], quotas=[quota]))
    _, reason, message = decide(plan)
    assert reason == "QuotaTooSmall"
    assert message == (
        "l4 x1 needs 8 nvidia.com/gpu, more than quota team-a/gpus allows in all (spec.hard: 4); "
        "raise that ResourceQuota's spec.hard, or ask for less (spec.options)"
    )


def test_an_option_larger_than_the_quota_is_excluded_and_another_one_placed() -> None:
    small = option("nvidia-h100", 1000, devices=4)  # 32.00 USD against l4 x1 at 16.00
    quota = Quota("team-a", "gpus", {"nvidia.com/gpu": 16}, hard={"nvidia.com/gpu": 4})
    plan = checked(snapshot([SLOW, FAST], [job("j", BOTH[0], small)], quotas=[quota]))
    decision = next(d for d in plan.decisions if d.job.key == "team-a/j")
    assert decision.chosen is not None and decision.chosen.pool.name == "h100"
    row = next(r for r in decision.options if r.candidate.pool.name == "l4")
    assert (row.verdict, row.note) == (
        "excluded",
        "needs 8 nvidia.com/gpu, more than quota team-a/gpus allows in all (spec.hard: 4)",
    )
    # Another namespace's quota binds nobody here.
    other = replace(quota, namespace="team-b")
    plan = checked(snapshot([SLOW, FAST], [job("j", BOTH[0], small)], quotas=[other]))
    assert decide(plan)[0] == "l4"


def test_hard_budget_holds_back_and_soft_budget_lets_run() -> None:
    hard = BudgetView("team-a", "monthly", to_micros(100), to_micros(90), 0, hard=True)
    plan = checked(snapshot([SLOW], [job("j", BOTH[0])], budgets=[hard]))
    _, reason, message = decide(plan)
    assert reason == "BudgetExceeded"
    assert message == (
        "budget team-a/monthly: 10.00 USD left, l4 x1 costs 16.00 USD; it waits for that "
        "Budget's next period, or raise its spec.limit to 106.00 USD"
    )
    soft = BudgetView("team-a", "monthly", to_micros(100), to_micros(90), 0, hard=False)
    assert decide(checked(snapshot([SLOW], [job("j", BOTH[0])], budgets=[soft])))[0] == "l4"


def test_budget_of_another_namespace_does_not_apply() -> None:
    other = BudgetView("team-b", "monthly", 0, 0, 0, hard=True)
    assert decide(checked(snapshot([SLOW], [job("j", BOTH[0])], budgets=[other])))[0] == "l4"


def test_higher_priority_is_placed_first_under_contention() -> None:
    one_node = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 1))
    jobs = [job("low", BOTH[0], priority=0), job("high", BOTH[0], priority=10)]
    plan = checked(snapshot([one_node], jobs))
    assert decide(plan, "team-a/high")[0] == "l4"
    # The low job is planned for when the high one ends: an hour on the 8 L4s.
    assert decide(plan, "team-a/low")[1:] == (
        "Reserved",
        "no room now: l4 x1 planned at ~13:00 UTC, when the pool frees, for 16.00 USD",
    )
    now_only = checked(snapshot([one_node], jobs), NOW_ONLY)
    assert decide(now_only, "team-a/low")[1] == "WaitingForCapacity"


@pytest.mark.parametrize(
    ("low", "waits"),
    [
        # Must start now: its deadline leaves it no later start.
        (job("low", BOTH[0], deadline=NOW + timedelta(minutes=90)), "WaitingForCapacity"),
        # Overdue, past its max wait: it holds the earliest room, after the higher job.
        (job("low", BOTH[0], created=NOW - timedelta(hours=30)), "Reserved"),
    ],
)
def test_a_lower_priority_never_delays_a_higher_one(low: Job, waits: str) -> None:
    # With every level's count before any level's timing, the low job was started now and the
    # high one reserved for when it ends.
    one_node = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 1))
    plan = checked(snapshot([one_node], [low, job("high", BOTH[0], priority=10)]))
    assert decide(plan, "team-a/high")[:2] == ("l4", "Admitted")
    assert decide(plan, "team-a/low")[:2] == (None, waits)


def test_one_high_priority_job_outweighs_many_low_ones() -> None:
    one_node = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 1))
    small = option("nvidia-l4", 1000, devices=1)
    jobs = [job(f"low{i}", small) for i in range(8)] + [job("high", BOTH[0], priority=1)]
    plan = checked(snapshot([one_node], jobs))
    assert [d.job.name for d in plan.placed] == ["high"]


def test_more_jobs_placed_beats_a_cheaper_plan() -> None:
    # Two jobs, one L4 node: both can run only if one of them takes the dearer H100.
    both = snapshot([ONE_L4, ONE_H100], [job("a", *BOTH), job("b", *BOTH)])
    plan = checked(both, NOW_ONLY)
    assert sorted(d.chosen.pool.name for d in plan.placed if d.chosen) == ["h100", "l4"]


def l4_busy_for_15m(*more: Job) -> Snapshot:
    """One L4 node (2.00 a GPU-hour) that `a` takes for 15m, one H100 node (8.00), and `more`."""
    return snapshot([ONE_L4, ONE_H100], [job("a", BOTH[0], work=900_000.0), *more])


def test_a_job_without_a_deadline_waits_for_the_cheaper_pool() -> None:
    # As above, planning over time, with a shorter a (15m on the L4, 4.00): b waits 15m for
    # the L4 (16.00) rather than take the H100 now (8 GPUs x 8.0 x 1/3 h = 21.33).
    plan = checked(l4_busy_for_15m(job("b", *BOTH)))
    (placed,) = plan.placed
    (waiting,) = plan.reserved
    assert placed.chosen is not None and placed.chosen.pool.name == "l4"
    assert waiting.reservation is not None
    assert waiting.reservation.start == NOW + timedelta(minutes=15)
    assert waiting.reason == "Reserved"
    assert waiting.message == (
        "waiting for l4 (frees ~12:15 UTC): saves 5.33 USD (25%) against h100 x1 now, more than "
        "the 1.20 USD its wait counts for"
    )
    rows = [(r.candidate.pool.name, r.verdict) for r in waiting.options]
    assert rows == [("l4", "planned"), ("h100", "feasible")]
    assert plan.total_cost + plan.reserved_cost == to_micros(20.0)


def test_a_job_waiting_by_choice_is_told_what_it_saves_where_a_lower_priority_job_starts() -> None:
    # b (priority 10) waits for the L4; low takes the free H100 after it. Judged after every
    # placement, b read "no room now", as if it had had no choice.
    plan = checked(l4_running_for_15m(job("b", *BOTH, priority=10), job("low", BOTH[1])))
    assert decide(plan, "team-a/low")[:2] == ("h100", "Admitted")
    (waiting,) = plan.reserved
    assert waiting.message == (
        "waiting for l4 (frees ~12:15 UTC): saves 5.33 USD (25%) against h100 x1 now (left to "
        "lower-priority jobs), more than the 1.20 USD its wait counts for"
    )
    # Of the same priority, low's room was not b's to take: there b has none now.
    plan = checked(l4_running_for_15m(job("b", *BOTH), job("low", BOTH[1])))
    (waiting,) = plan.reserved
    assert waiting.message.startswith("no room now: l4 x1 planned at ~12:15 UTC"), waiting.message


def l4_half_free_and_held_for_w(h100_free: int, max_wait_s: float | None) -> Plan:
    """One L4 node with 4 GPUs free and 4 more at 12:30, reserved for `w` (priority 10, 8 L4s
    for an hour); one H100 node with `h100_free` GPUs free; `j` (4 GPUs, an hour on the L4s,
    `max_wait_s`) would not end on the L4s before w starts there."""
    half = Resources(cpu=48_000, memory=512 * 1024, gpu=4)
    (node,) = gpu_nodes("l4", 1)
    l4 = pool("l4", "nvidia-l4", 2.0, (replace(node, free=half),), order=1)
    l4 = replace(l4, releases=(Release(NOW + timedelta(minutes=30), half, (("l4-0", half),)),))
    h100 = pool("h100", "nvidia-h100", 8.0, gpu_nodes("h100", 1, free_gpus=h100_free))
    four = (option("nvidia-l4", 1000, devices=4), option("nvidia-h100", 3000, devices=4))
    w = job("w", *BOTH, created=NOW, priority=10)
    return checked(snapshot([l4, h100], [w, job("j", *four, created=NOW, max_wait_s=max_wait_s)]))


def test_a_job_kept_off_a_pool_by_a_reservation_past_its_max_wait_is_told_of_its_max_wait() -> None:
    # Quoted alone, j was told its max wait kept it off the L4s; beside w, only of w.
    held = "its room in pool l4 is planned for team-a/w from ~12:30 UTC"
    past = " to ~13:30 UTC, past its max wait (spec.maxWait 5m from submission)"
    assert decide(l4_half_free_and_held_for_w(8, 300.0), "team-a/j") == (
        "h100",
        "Admitted",
        f"h100 x1 at 10.67 USD, done in 20m: l4 x1 would cost 25% less but {held}{past}",
    )
    # The room is j's again only when w ends: a max wait that outlasts w's start, not its end.
    assert decide(l4_half_free_and_held_for_w(8, 2700.0), "team-a/j")[2].endswith(
        f"{held} to ~13:30 UTC, past its max wait (spec.maxWait 45m from submission)"
    )
    # Within its max wait, w is the reason: j weighed waiting past it and chose not to.
    assert decide(l4_half_free_and_held_for_w(8, None), "team-a/j")[2].endswith(held)
    # With no room anywhere now, it waits, and is not planned for after w: its max wait.
    _, reason, message = decide(l4_half_free_and_held_for_w(0, 300.0), "team-a/j")
    assert (reason, message.split(" (1 other")[0]) == (
        "WaitingForCapacity",
        f"l4 x1 fits now, but would not end before {held}{past}",
    )


def test_a_job_planned_behind_another_is_told_whose_start_comes_first() -> None:
    # The L4 frees at 12:15 for urgent (priority 10); patient, planned after it at 13:15, was
    # told nothing of why its start had moved an hour later.
    urgent = job("urgent", *BOTH, priority=10, created=NOW)
    plan = checked(l4_running_for_15m(job("patient", *BOTH, created=NOW), urgent, h100=100.0))
    message = decide(plan, "team-a/patient")[2]
    assert message.startswith("waiting for l4 (frees ~13:15 UTC)"), message
    assert message.endswith("; l4's room from ~12:15 UTC goes first to team-a/urgent")
    assert "planned first" not in decide(plan, "team-a/urgent")[2]


def test_a_job_with_a_deadline_not_planned_past_its_max_wait_is_told_so() -> None:
    # The L4 frees at 13:00, in time for the 18:00 deadline, but past spec.maxWait 30m: later
    # starts are planned within the max wait alone, and the message read as a planned room.
    due = NOW + timedelta(hours=6)
    waits = job("w", BOTH[0], created=NOW, deadline=due, max_wait_s=1800.0)
    _, reason, message = decide(
        checked(l4_running_for_15m(waits, frees_in=timedelta(hours=1))), "team-a/w"
    )
    assert reason == "WaitingForCapacity"
    assert (
        "; the jobs running on l4 leave room for it ~13:00 UTC, past its max wait (spec.maxWait "
        "30m from submission): not reserved for it, it starts when room appears" in message
    ), message


def test_a_cycle_late_to_its_look_ahead_decides_only_what_starts_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As above; a clock on which every reading takes 4 of the 10 s allowed: the candidates and
    # the greedy start already used more than the look-ahead's 30 % share, so b is not planned
    # for later: both start now, in a valid plan.
    snap = l4_busy_for_15m(job("b", *BOTH))
    readings = itertools.count(step=4.0)
    monkeypatch.setattr(solver.time, "monotonic", lambda: next(readings))
    plan = checked(snap)
    assert (plan.looked_ahead, plan.reserved) == (False, ())
    assert sorted(d.chosen.pool.name for d in plan.placed if d.chosen) == ["h100", "l4"]
    monkeypatch.setattr(solver.time, "monotonic", lambda: 0.0)  # no time passes
    assert checked(snap).looked_ahead and len(checked(snap).reserved) == 1


@pytest.mark.parametrize("whole_model_up_to", [3_000, 0], ids=["whole", "relaxed first"])
def test_a_deterministic_solve_decides_nothing_on_the_wall_clock(
    monkeypatch: pytest.MonkeyPatch, whole_model_up_to: int
) -> None:
    # As above, on the slow clock: with deterministic limits (the simulator's) the look-ahead
    # still runs, and the plan is the one a machine with time to spare makes, whether CP-SAT
    # solves the model whole or beside its relaxation.
    snap = l4_busy_for_15m(job("b", *BOTH))
    settings = SolverSettings(deterministic=True, whole_model_up_to=whole_model_up_to)
    readings = itertools.count(step=4.0)
    monkeypatch.setattr(solver.time, "monotonic", lambda: next(readings))
    slow = checked(snap, settings)
    monkeypatch.setattr(solver.time, "monotonic", lambda: 0.0)
    spare = checked(snap, settings)
    assert slow.looked_ahead and len(slow.reserved) == 1
    assert [(d.job.key, d.chosen, d.reservation) for d in slow.decisions] == [
        (d.job.key, d.chosen, d.reservation) for d in spare.decisions
    ]
    assert (slow.status, slow.best_bound) == (spare.status, spare.best_bound)


def test_moving_reservations_earlier_gets_at_most_its_own_small_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As above: b is reserved 15m ahead, so the earliest-start tie-break runs, and it may do
    # no more than `earliest_work` of CP-SAT's deterministic work (a bound the same under any
    # load, so the plan stays reproducible); the phases before it are bound by time alone.
    allowed: list[float | None] = []
    optimise = cpsat.CpSat.optimise

    def recorded(
        backend: cpsat.CpSat,
        objective: Any,
        maximize: bool,
        seconds: float,
        gap: float,
        work: float | None = None,
        tolerance: float = 0.0,
        enough: float | None = None,
    ) -> tuple[float, float] | None:
        allowed.append(work)
        return optimise(backend, objective, maximize, seconds, gap, work, tolerance, enough)

    monkeypatch.setattr(cpsat.CpSat, "optimise", recorded)
    settings = SolverSettings(look_ahead=LookAhead(earliest_work=0.05))
    assert len(checked(l4_busy_for_15m(job("b", *BOTH)), settings).reserved) == 1
    # Each solve round ends with the tie-break.
    assert 0.05 in allowed and set(allowed) == {None, 0.05}, allowed


def split_by_the_relaxation() -> list[Job]:
    """Jobs of 6, 4, 4 and 4 GPUs for two L4 nodes (16 GPUs), the H100 dearer: the relaxation
    puts two thirds of the first on the L4s and the rest on an H100."""

    def sized(name: str, devices: int, hours: float) -> Job:
        l4, h100 = option("nvidia-l4", 1000, devices), option("nvidia-h100", 3000, devices)
        return job(name, l4, h100, work=3_600_000.0 * hours)

    return [sized("a", 6, 1.0), sized("c", 4, 1.5), sized("d", 4, 2.0), sized("e", 4, 2.5)]


class StageClock:
    """A clock that only the solver's stages move: each "takes" its share of the time limit
    (a CP-SAT or GLOP phase at most the seconds it is given), and every start is recorded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, limit: float, **shares: float) -> None:
        self.now, self.starts = 0.0, []
        self.limit = limit
        monkeypatch.setattr(solver.time, "monotonic", lambda: self.now)
        for name in ("_options", "_greedy_start", "_later_starts", "PlacementModel", "explain"):
            monkeypatch.setattr(solver, name, self._taking(name, getattr(solver, name), shares))
        for backend in (cpsat.CpSat, relaxation.Relaxation):
            optimise = backend.optimise
            share = shares["phase"]

            def timed(
                self_: Any,
                objective: Any,
                maximize: bool,
                seconds: float,
                *rest: Any,
                optimise: Any = optimise,
                share: float = share,
            ) -> Any:
                self.starts.append(("phase", self.now))
                self.now += min(seconds, share * limit)
                return optimise(self_, objective, maximize, seconds, *rest)

            monkeypatch.setattr(backend, "optimise", timed)

    def _taking(self, name: str, stage: Any, shares: dict[str, float]) -> Any:
        def taking(*args: Any, **kwargs: Any) -> Any:
            self.starts.append((name, self.now))
            self.now += shares.get(name, 0.0) * self.limit
            return stage(*args, **kwargs)

        return taking


@pytest.mark.parametrize(
    ("shares", "looks_ahead", "solved"),
    [
        # Costing takes a tenth: the look-ahead runs, then a round's model and phases, started
        # while the cycle still had time for them and for explaining the result.
        ({"_options": 0.1, "PlacementModel": 0.2, "phase": 0.15, "explain": 0.2}, True, True),
        # A slow model: its phases get what is left after building it, not what was left
        # before (the old code started a phase at 8.8 s of 10 and ended at 12.9 s).
        ({"_options": 0.05, "PlacementModel": 0.5, "phase": 0.1, "explain": 0.1}, True, True),
        # Costing takes 40 %: no look-ahead, and explaining may take as long again, so no round
        # has time left: the greedy plan.
        ({"_options": 0.4, "_greedy_start": 0.05, "phase": 0.1, "explain": 0.5}, False, False),
        # Costing takes 30 %, just within the look-ahead's share, and explaining 55 %: twice the
        # costing is kept for it, so no round starts (15 % kept would leave a round 5.5 s, and
        # the explaining would end past the limit).
        ({"_options": 0.3, "phase": 0.1, "explain": 0.55}, True, False),
    ],
    ids=["fast costing", "slow models", "slow costing", "slow explaining"],
)
def test_the_time_limit_bounds_every_stage_of_the_solve(
    monkeypatch: pytest.MonkeyPatch, shares: dict[str, float], looks_ahead: bool, solved: bool
) -> None:
    snap = l4_busy_for_15m(job("b", *BOTH), job("c", *BOTH))
    settings = SolverSettings(time_limit_s=10.0, whole_model_up_to=0)  # relaxed first: GLOP too
    clock = StageClock(monkeypatch, 10.0, **shares)
    plan = checked(snap, settings)
    assert plan.looked_ahead is looks_ahead
    assert (plan.status != "greedy") is solved
    # Nothing starts past the share kept for explaining but the greedy plan (the least a cycle
    # returns) and the explaining, and the whole solve ends within the limit.
    keep = max(solver.TAIL, 2 * shares["_options"]) * 10.0
    always = {"_greedy_start", "explain"}
    late = [(name, at) for name, at in clock.starts if at > 10.0 - keep and name not in always]
    assert late == []
    assert clock.now <= 10.0
    # Two nodes: a solved round plans the third job for later; the greedy plan leaves it waiting.
    assert len(plan.placed) + len(plan.reserved) == (3 if solved else 2)


def test_a_solve_has_what_its_snapshot_left_of_the_limit() -> None:
    settings = SolverSettings(time_limit_s=10.0)
    assert settings.after(3.0).time_limit_s == 7.0
    assert settings.after(30.0).time_limit_s == MIN_SHARE * 10.0
    assert settings.after(3.0).look_ahead == settings.look_ahead
    # A deterministic limit is CP-SAT's work, which a snapshot's seconds do not use up.
    steady = SolverSettings(time_limit_s=10.0, deterministic=True)
    assert steady.after(3.0) == steady


def l4_running_for_15m(
    *jobs: Job, frees_in: timedelta = timedelta(minutes=15), h100: float = 8.0
) -> Snapshot:
    """One L4 node (2.00 a GPU-hour) a running job frees in 15m (`frees_in`), one free H100
    node (8.00, or `h100`)."""
    full = Resources(cpu=96_000, memory=1024 * 1024, gpu=8)
    (node,) = gpu_nodes("l4", 1)
    l4 = pool("l4", "nvidia-l4", 2.0, (replace(node, free=replace(full, gpu=0)),), order=1)
    l4 = replace(l4, releases=(Release(NOW + frees_in, full, (("l4-0", full),)),))
    return snapshot([l4, pool("h100", "nvidia-h100", h100, gpu_nodes("h100", 1))], list(jobs))


def test_a_cycle_with_no_time_to_plan_ahead_does_not_blame_other_jobs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Alone, started now because the cycle planned no later start, it was told the plan gave
    # the L4's room to other jobs.
    monkeypatch.setattr(solver, "LOOK_AHEAD_BUDGET", -1.0)
    plan = checked(l4_running_for_15m(job("j", *BOTH)))
    assert not plan.looked_ahead
    assert decide(plan, "team-a/j")[2] == (
        "h100 x1 at 21.33 USD, done in 20m: l4 x1 would cost 25% less but has no room now"
    )


@pytest.mark.parametrize("wait_cost", [1.0, 1.5, 4 / 3])
def test_a_job_waits_only_where_the_wait_counts_for_less_than_it_saves(wait_cost: float) -> None:
    # Waiting 15m for the L4 saves b 5.33 of the H100's 21.33 USD now. Its wait counts 16.00
    # USD an hour (its price on the L4) x wait_cost x 1/4 h: 4.00 USD, or 6.00.
    plan = checked(
        l4_running_for_15m(job("b", *BOTH)),
        SolverSettings(look_ahead=LookAhead(wait_cost=wait_cost)),
    )
    (decision,) = plan.decisions
    if wait_cost == 1.0:
        assert (decision.reason, decision.message) == (
            "Reserved",
            "waiting for l4 (frees ~12:15 UTC): saves 5.33 USD (25%) against h100 x1 now, more "
            "than the 4.00 USD its wait counts for",
        )
        # The bound is on the objective, which counts the wait: less it, it bounds the cost.
        assert plan.best_bound == to_micros(16.0)
        return
    counts = "5.33 USD, as much as" if wait_cost == 4 / 3 else "6.00 USD, more than"
    assert (decision.reason, decision.message) == (
        "Admitted",
        "h100 x1 at 21.33 USD, done in 20m: l4 x1 would cost 25% less but has no room now, and "
        f"waiting for it until ~12:15 UTC counts {counts} it saves",
    )


def test_a_job_with_a_deadline_waits_for_any_saving_that_keeps_it() -> None:
    # Its deadline says how long it may wait: its wait counts for nothing, however dear.
    due = NOW + timedelta(hours=3)
    plan = checked(
        l4_running_for_15m(job("b", *BOTH, deadline=due)),
        SolverSettings(look_ahead=LookAhead(wait_cost=10.0)),
    )
    (decision,) = plan.decisions
    assert (decision.reason, decision.message) == (
        "Reserved",
        "waiting for l4 (frees ~12:15 UTC): saves 5.33 USD (25%) against h100 x1 now; "
        "deadline still met with 1h45m slack",
    )
    # Nor does a late job's: counting it moved the others' promises.
    late = job("b", *BOTH, missed_deadline=NOW - timedelta(hours=1))
    plan = checked(l4_running_for_15m(late), SolverSettings(look_ahead=LookAhead(wait_cost=10.0)))
    assert decide(plan, "team-a/b")[:2] == (None, "Reserved")


def test_a_wait_counted_for_more_than_it_saves_is_not_waited_for() -> None:
    # With the H100 at 16.00 a GPU-hour, b costs 42.67 USD there now and 16.00 on the L4 at
    # 12:15: waiting saves 26.67, and counts 16.00 x 10 x 1/4 h = 40.00. A wait used to count
    # at most the waiting run's own cost (16.00), so b waited.
    plan = checked(
        l4_running_for_15m(job("b", *BOTH), h100=16.0),
        SolverSettings(look_ahead=LookAhead(wait_cost=10.0)),
    )
    (decision,) = plan.decisions
    assert (decision.reason, decision.message) == (
        "Admitted",
        "h100 x1 at 42.67 USD, done in 20m: l4 x1 would cost 63% less but has no room now, and "
        "waiting for it until ~12:15 UTC counts 40.00 USD, more than it saves",
    )


def test_the_bound_is_the_objective_s_less_what_the_waits_counted() -> None:
    # b waits 15m for the L4 (16.00 USD) rather than pay 42.67 on the H100 now: at wait cost
    # 5 its wait counts 16.00 x 5 x 1/4 h = 20.00, more than its own cost and less than it
    # saves; the bound took off 16.00, the old cap, where the objective had added 20.00.
    snap = l4_running_for_15m(job("b", *BOTH), h100=16.0)
    plan = checked(snap, SolverSettings(look_ahead=LookAhead(wait_cost=5.0)))
    (waiting,) = plan.reserved
    assert waiting.reservation is not None
    feasible = {
        "team-a/b": [c for c in candidates(waiting.job, snap.pools, NOW, "USD") if c.feasible]
    }
    assert counted_waits([waiting.reservation], feasible, NOW, 5.0) == to_micros(20.0)
    assert plan.best_bound == to_micros(16.0)


def test_jobs_whose_waits_count_differently_are_not_one_class() -> None:
    # c's deadline lets it wait for nothing, b's wait counts 40.00 USD to save 5.33: c waits
    # for the L4, b starts now on the H100. The two were one class of copies, priced as the
    # first (c), so b waited for the L4 after c at no count.
    due = NOW + timedelta(hours=5)
    plan = checked(
        l4_running_for_15m(job("b", *BOTH), job("c", *BOTH, deadline=due)),
        SolverSettings(look_ahead=LookAhead(wait_cost=10.0)),
    )
    assert decide(plan, "team-a/b")[:2] == ("h100", "Admitted")
    assert decide(plan, "team-a/c")[:2] == (None, "Reserved")


@pytest.mark.parametrize(
    ("kw", "frees_in", "why"),
    [
        (
            {"max_wait_s": 600.0},
            timedelta(minutes=15),
            "room frees there ~12:15 UTC, past its max wait (spec.maxWait 10m from submission)",
        ),
        (
            {"created": NOW - timedelta(hours=18)},
            timedelta(hours=7),
            "room frees there ~19:00 UTC, past its max wait (1d from submission, the default "
            "of spec.maxWait)",
        ),
        (
            {"created": NOW - timedelta(hours=23, minutes=50)},
            timedelta(minutes=15),
            "room frees there ~12:15 UTC, but it is overdue (near its max wait, 1d from "
            "submission, the default of spec.maxWait): it starts where room is",
        ),
        (
            {"max_wait_s": 3 * 86_400.0},
            timedelta(hours=30),
            "room frees there ~Nov 30 18:00 UTC, past pricewise's planning horizon (1d)",
        ),
        (
            {"deadline": NOW + timedelta(minutes=80)},
            timedelta(minutes=15),
            "room frees there ~12:15 UTC, too close to its deadline to wait for (a planned "
            "start keeps 20% of the run in hand)",
        ),
        (
            # Started at 12:15, the hour on the L4 ends at 13:15, past the deadline itself: it
            # was told the margin kept it off.
            {"deadline": NOW + timedelta(minutes=70)},
            timedelta(minutes=15),
            "room frees there ~12:15 UTC, too late for its deadline",
        ),
    ],
    ids=["max-wait", "default-max-wait", "overdue", "horizon", "deadline-margin", "deadline"],
)
def test_a_job_started_now_on_a_dear_pool_says_why_it_did_not_wait(
    kw: dict[str, Any], frees_in: timedelta, why: str
) -> None:
    # Waiting for the L4 would save 5.33 USD and count for less (or nothing): the message said
    # only that the L4 had no room now, and a person asks why the job did not wait.
    plan = checked(l4_running_for_15m(job("b", *BOTH, **{"created": NOW, **kw}), frees_in=frees_in))
    (decision,) = plan.decisions
    assert decision.reason == "Admitted"
    assert decision.message == (
        "h100 x1 at 21.33 USD, done in 20m: l4 x1 would cost 25% less but has no room now, "
        f"and {why}"
    )


def test_between_two_jobs_the_one_whose_wait_counts_less_waits() -> None:
    # a (15m) and b (1h) both want the one L4 now, at the same price each way round. a waiting
    # 1h for b counts 0.3 x 1h x 16 USD an hour (at most a's own 4.00), b waiting 15m for a
    # 0.3 x 1/4h x 16 = 1.20: b waits. (A premium on the cost of the job that waits, tried
    # first, held back the cheaper job, a, for an hour.)
    plan = checked(l4_busy_for_15m(job("b", *BOTH)))
    assert decide(plan, "team-a/a")[:2] == ("l4", "Admitted")
    assert decide(plan, "team-a/b")[:2] == (None, "Reserved")


def test_a_deadline_that_leaves_no_room_to_wait_starts_now_on_the_dear_pool() -> None:
    # a holds the L4 for 15m. b due in 1h: waiting 15m leaves 45m for a 1h run, so it starts
    # now on the H100.
    first = job("a", BOTH[0], work=900_000.0)
    due = NOW + timedelta(hours=1)
    plan = checked(snapshot([ONE_L4, ONE_H100], [first, job("b", *BOTH, deadline=due)]))
    assert decide(plan, "team-a/b")[:2] == ("h100", "Admitted")
    # Due in 2h it waits, and says how much slack it keeps: 2h - (15m + 1h). A later start
    # must leave a fifth of the run (12m) besides: it does.
    relaxed = [first, job("b", *BOTH, deadline=NOW + timedelta(hours=2))]
    waits = decide(checked(snapshot([ONE_L4, ONE_H100], relaxed)), "team-a/b")
    assert waits[1:] == (
        "Reserved",
        "waiting for l4 (frees ~12:15 UTC): saves 5.33 USD (25%) against h100 x1 now; "
        "deadline still met with 45m slack",
    )


@pytest.mark.parametrize(("estimated_end", "start"), [(-15, 15), (-0.5, 1), (10, 10)])
def test_a_job_past_its_estimate_is_expected_to_run_as_long_again(
    estimated_end: float, start: float
) -> None:
    # Counted as due in a minute, a running job that had overrun its estimate by 15 minutes had
    # the job waiting for its node promised a start a minute away, cycle after cycle.
    full = Resources(cpu=96_000, memory=1024 * 1024, gpu=8)
    (node,) = gpu_nodes("l4", 1)
    at = NOW + timedelta(minutes=estimated_end)
    l4 = pool("l4", "nvidia-l4", 1.0, (replace(node, free=replace(full, gpu=0)),))
    l4 = replace(l4, releases=(Release(at, full, (("l4-0", full),), "team-b/big"),))
    plan = checked(snapshot([l4], [job("w", option("nvidia-l4", 1000))]))
    (decision,) = plan.decisions
    assert decision.reservation is not None
    assert decision.reservation.start == NOW + timedelta(minutes=start)
    # Its start slid every few minutes as the running job ran on: the message says why.
    late = (
        f"; it waits for team-b/big, running on l4 past its estimated end (~{at:%H:%M} UTC): the "
        "start moves later while it runs on"
    )
    assert decision.message.endswith(late) is (estimated_end < 0), decision.message


def test_a_start_that_waits_for_several_jobs_past_their_estimates_names_them_all() -> None:
    half = Resources(cpu=48_000, memory=512 * 1024, gpu=4)
    (node,) = gpu_nodes("l4", 1)
    l4 = pool("l4", "nvidia-l4", 1.0, (replace(node, free=Resources()),))
    ends = (NOW - timedelta(minutes=15), NOW - timedelta(minutes=14, seconds=30))
    names = ("team-b/x", "team-b/y")
    shares = (("l4-0", half),)
    l4 = replace(
        l4,
        releases=tuple(
            Release(at, half, shares, name) for at, name in zip(ends, names, strict=True)
        ),
    )
    plan = checked(snapshot([l4], [job("w", option("nvidia-l4", 1000))]))
    assert plan.decisions[0].message.endswith(
        "; it waits for team-b/x, team-b/y, running on l4 past their estimated ends (from "
        "~11:45 UTC): the start moves later while they run on"
    ), plan.decisions[0].message


def test_only_a_start_that_waits_for_a_job_past_its_estimate_is_told_of_it() -> None:
    # Two L4 nodes: big (past its estimate) frees l4-0 in 15m, small (within its estimate)
    # l4-1 at 13:00. Behind big, w is told of it; planned behind small, v is not.
    full = Resources(cpu=96_000, memory=1024 * 1024, gpu=8)
    nodes = tuple(replace(n, free=replace(full, gpu=0)) for n in gpu_nodes("l4", 2))
    late = Release(NOW - timedelta(minutes=15), full, (("l4-0", full),), "team-b/big")
    on_time = Release(NOW + timedelta(hours=1), full, (("l4-1", full),), "team-b/small")
    l4 = replace(pool("l4", "nvidia-l4", 1.0, nodes), releases=(late, on_time))
    eight = option("nvidia-l4", 1000)
    plan = checked(snapshot([l4], [job("w", eight, priority=1), job("v", eight)]))
    starts = {d.job.name: d.reservation.start for d in plan.decisions if d.reservation}
    assert starts == {"w": NOW + timedelta(minutes=15), "v": NOW + timedelta(hours=1)}
    told = {d.job.name: "team-b/big" in d.message for d in plan.decisions}
    assert told == {"w": True, "v": False}, [d.message for d in plan.decisions]


def test_backfill_only_in_front_of_a_reservation_it_ends_before() -> None:
    # One node with 8 L4s; a running job frees 4 of them in an hour. `wide` (8 GPUs) is
    # reserved for then; `short` (4 GPUs, 30m) runs now in front of it; `long` (4 GPUs, 2h)
    # would still hold its room then, so it waits behind the reservation.
    held = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 1, free_gpus=4))
    held = replace(
        held, releases=(Release(NOW + timedelta(hours=1), Resources(48_000, 512 * 1024, 4)),)
    )
    wide = job("wide", option("nvidia-l4", 1000), priority=1)
    short = job("short", option("nvidia-l4", 1000, devices=4), work=900_000.0)
    long = job("long", option("nvidia-l4", 1000, devices=4), work=7_200_000.0)
    plan = checked(snapshot([held], [wide, short, long]))
    assert decide(plan, "team-a/short")[:2] == ("l4", "Admitted")
    assert decide(plan, "team-a/wide")[1] == "Reserved"
    reserved = {d.job.name: d.reservation.start for d in plan.reserved if d.reservation}
    assert reserved["wide"] == NOW + timedelta(hours=1)
    assert reserved["long"] >= NOW + timedelta(hours=2)


def test_a_later_start_is_planned_where_a_node_has_room_not_just_the_pool() -> None:
    # Two L4 nodes, full: on each, one job frees 4 GPUs in an hour and another the other 4 in
    # five. In an hour the pool has 8 GPUs free, 4 on each node: no room for `wide`'s one worker
    # of 8. It is planned for five hours, when both nodes are empty.
    half = Resources(48_000, 512 * 1024, 4)
    busy = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 2, free_gpus=0))
    releases = tuple(
        Release(NOW + timedelta(hours=hours), half, ((node.name, half),))
        for node in busy.nodes
        for hours in (1, 5)
    )
    wide = job("wide", option("nvidia-l4", 1000))
    plan = checked(snapshot([replace(busy, releases=releases)], [wide]))
    assert [d.reservation.start for d in plan.reserved if d.reservation] == [
        NOW + timedelta(hours=5)
    ]
    # Releases that do not say where leave later starts to the pool's sums.
    unknown = tuple(replace(r, nodes=()) for r in releases)
    plan = checked(snapshot([replace(busy, releases=unknown)], [wide]))
    assert [d.reservation.start for d in plan.reserved if d.reservation] == [
        NOW + timedelta(hours=1)
    ]

    # A model solved beside a relaxation (`lean`) leaves out the rows the pool's sums already
    # imply for whole plans (in five hours both nodes are empty), not the one that binds.
    def shape_rows(lean_above: int | None, where: tuple[Release, ...] = releases) -> list[int]:
        snap = snapshot([replace(busy, releases=where)], [wide])
        options = {j.key: candidates(j, snap.pools, snap.now, snap.currency) for j in snap.jobs}
        later = {k: [(c, s) for c in v for s in (3600, 5 * 3600)] for k, v in options.items()}
        model = solver.PlacementModel(snap, options, later, [], False, lean_above)
        # A shape's row counts workers (one here); a resource row counts GPUs, CPUs, memory.
        return sorted(
            bound
            for terms, bound in model.rows
            if set(terms.values()) == {1} and all(k[3] for k in terms)
        )

    assert shape_rows(None) == [0, 2]  # an hour on: no node has 8; in five: both have
    assert shape_rows(0) == [0]
    # Room a release frees on a node that has left the pool (cordoned, say) is in the pool's
    # sums but on no node: the row that says so binds, lean or not.
    gone = (Release(NOW + timedelta(hours=1), half.times(2), (("gone", half.times(2)),)),)
    assert shape_rows(None, gone) == shape_rows(0, gone) == [0, 0]


def test_a_pool_row_another_implies_is_left_out_not_one_that_binds() -> None:
    # Two nodes of 8 GPUs, 96 CPUs and 1 TiB each. Jobs of 8 GPUs, 8 CPUs and 64 GiB use less
    # CPU and memory per GPU than the pool has: the GPU row implies the other two, left out of
    # a lean model (solved beside a relaxation). Jobs of 4 GPUs and 96 CPUs use more CPU per
    # GPU than it has: their CPU row binds (one such job a node, where the GPUs would take
    # two) and is kept. A model solved whole keeps every row.
    l4 = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 2))
    room = {16: "gpu", 2 * 96_000: "cpu", 2 * 1024 * 1024: "memory"}

    def rows_and_plan(worker: Resources, lean_above: int | None = 0) -> tuple[list[str], Plan]:
        wide = replace(option("nvidia-l4", 1000), devices_per_worker=worker.gpu, worker=worker)
        snap = snapshot([l4], [job(f"j{i}", wide) for i in range(3)])
        options = {j.key: candidates(j, snap.pools, snap.now, snap.currency) for j in snap.jobs}
        model = solver.PlacementModel(snap, options, {}, [], False, lean_above)
        whole_up_to = 3_000 if lean_above is None else lean_above
        plan = checked(snap, replace(NOW_ONLY, whole_model_up_to=whole_up_to))
        # The nodes' rows (copies of a worker per node, 2 here) are not the pool's.
        return sorted(room[b] for _, b in model.rows if b in room), plan

    lean = Resources(cpu=8_000, memory=64 * 1024, gpu=8)
    kinds, plan = rows_and_plan(lean)
    assert kinds == ["gpu"] and len(plan.placed) == 2
    assert rows_and_plan(lean, None)[0] == ["cpu", "gpu", "memory"]
    kinds, plan = rows_and_plan(Resources(cpu=96_000, memory=64 * 1024, gpu=4))
    assert kinds == ["cpu", "gpu"] and len(plan.placed) == 2


def test_a_promise_is_kept_against_an_equal_newcomer_not_a_higher_one() -> None:
    # One L4 node frees in an hour. `old` was promised that start; `new` (same priority,
    # cheaper to run... the same here) must not take it; a higher priority may.
    busy = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 1, free_gpus=0))
    busy = replace(
        busy, releases=(Release(NOW + timedelta(hours=1), Resources(96_000, 1024 * 1024, 8)),)
    )
    old = job("old", BOTH[0], promised_start=NOW + timedelta(hours=1))
    for name, priority, keeper in (("aaa", 0, "old"), ("vip", 5, "vip")):
        plan = checked(snapshot([busy], [old, job(name, BOTH[0], priority=priority)]))
        first = min(plan.reserved, key=lambda d: d.reservation.start if d.reservation else NOW)
        assert first.job.name == keeper, name


def test_a_job_without_deadline_near_its_max_wait_starts_before_younger_smaller_ones() -> None:
    # One L4 node of 8 GPUs. `old` needs all 8 and has waited 30 h, past the 24 h max wait;
    # two young jobs need 4 each. Counting admissions alone places the two young ones; `old`
    # goes first, as long as no deadline held it (a late job does not: it is a miss already).
    l4 = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 1))
    old = job("old", option("nvidia-l4", 1000), created=NOW - timedelta(hours=30))
    young = [
        job(f"young{i}", option("nvidia-l4", 1000, devices=4), created=NOW - timedelta(hours=1))
        for i in range(2)
    ]
    plan = checked(snapshot([l4], [old, *young]), NOW_ONLY)
    assert [d.job.name for d in plan.placed] == ["old"]
    late = replace(old, missed_deadline=NOW - timedelta(hours=2))
    plan = checked(snapshot([l4], [late, *young]), NOW_ONLY)
    assert sorted(d.job.name for d in plan.placed) == ["young0", "young1"]
    within = replace(old, created=NOW - timedelta(hours=18))
    plan = checked(snapshot([l4], [within, *young]), NOW_ONLY)
    assert sorted(d.job.name for d in plan.placed) == ["young0", "young1"]
    # In the last fifth of its max wait it goes first already: room takes time to free.
    near = replace(old, created=NOW - timedelta(hours=20))
    plan = checked(snapshot([l4], [near, *young]), NOW_ONLY)
    assert [d.job.name for d in plan.placed] == ["old"]


def test_spot_pool_only_when_allowed() -> None:
    spot = pool("h100-spot", "nvidia-h100", 1.0, gpu_nodes("spot", 1), spot=True)
    assert decide(checked(snapshot([spot, FAST], [job("j", BOTH[1])])))[0] == "h100"
    allowed = checked(snapshot([spot, FAST], [job("j", BOTH[1], allow_spot=True)]))
    assert decide(allowed)[0] == "h100-spot"


def test_max_cost_and_value() -> None:
    over = checked(snapshot([SLOW], [job("j", BOTH[0], max_cost=to_micros(10))]))
    assert decide(over)[1:] == (
        "OverMaxCost",
        "maxCost 10.00 USD: cheapest option that meets the constraints, l4 x1, costs 16.00 USD; "
        "raise spec.maxCost to 16.00 USD, or make the job cost less (spec.work, or spec.options "
        "on a cheaper pool)",
    )
    not_worth = checked(snapshot([SLOW], [job("j", BOTH[0], value=to_micros(12))]))
    assert decide(not_worth)[1] == "NotWorthRunning"
    assert "net benefit -4.00 USD" in decide(not_worth)[2]


def test_min_throughput_picks_width_or_explains() -> None:
    plan = checked(snapshot([SLOW], [job("j", BOTH[0], min_throughput=1500, max_workers=2)]))
    assert plan.decisions[0].chosen is not None and plan.decisions[0].chosen.workers == 2
    plan = checked(snapshot([SLOW], [job("j", BOTH[0], min_throughput=5000, max_workers=2)]))
    assert decide(plan)[1:] == (
        "ThroughputUnreachable",
        "minThroughput 5,000/s cannot be reached: fastest option l4 x2 gives 2,000/s; lower "
        "spec.minThroughput to 2,000",
    )


def test_no_pool_for_the_accelerator() -> None:
    plan = checked(snapshot([SLOW], [job("j", option("tpu-v5e", 10))]))
    assert decide(plan)[1:] == ("NoMatchingPool", "no pool offers tpu-v5e (pools offer: nvidia-l4)")
    # Several offered ones it starts: all named. One a digit follows is another model.
    pools = [pool(name, name, 1.0, SLOW.nodes) for name in ("tpu-v5e", "tpu-v5p", "nvidia-a100")]
    for asked, said in (("tpu-v5", " (did you mean tpu-v5e or tpu-v5p?)"), ("nvidia-a10", "")):
        plan = checked(snapshot(pools, [job("j", option(asked, 10))]))
        assert decide(plan)[2].startswith(f"no pool offers {asked}{said} (pools offer:")
    # A name one key off the offered one: the likely typo is named.
    plan = checked(snapshot([SLOW], [job("j", option("nvidia-l5", 10))]))
    assert decide(plan)[1:] == (
        "NoMatchingPool",
        "no pool offers nvidia-l5 (did you mean nvidia-l4?) (pools offer: nvidia-l4)",
    )
    # Another model that exists, though its name is near an offered one's, is no typo: it
    # read "nvidia-a10g (did you mean nvidia-h100?)" by the "nvidia-" they share.
    offered = [pool(n, n, 1.0, SLOW.nodes) for n in ("nvidia-h100", "nvidia-l4")]
    # Nor is another model behind a misspelt vendor; the same model behind one is.
    for other in ("nvidia-a10g", "nvidia-t4", "nvidai-l5", "nvdia-t4"):
        plan = checked(snapshot(offered, [job("j", option(other, 10))]))
        assert decide(plan)[2].startswith(f"no pool offers {other} (pools offer:")
    plan = checked(snapshot(offered, [job("j", option("nvida-h100", 10))]))
    assert decide(plan)[2].startswith("no pool offers nvida-h100 (did you mean nvidia-h100?)")
    # No pool at all (no PriceTable): the admin's to fix, and said so.
    assert decide(checked(snapshot([], [job("j", option("cpu", 10))])))[2] == (
        "no pool offers cpu: no PriceTable defines a pool yet (kubectl get pricetables); a "
        "cluster admin applies one"
    )


def test_options_table_keeps_what_the_choice_beat() -> None:
    plan = checked(snapshot([SLOW, FAST], [job("j", *BOTH)]))
    rows = [(r.candidate.pool.name, r.verdict, r.note) for r in plan.decisions[0].options]
    assert rows == [("l4", "chosen", ""), ("h100", "feasible", "costs 33% more (21.33 USD)")]


def test_deterministic() -> None:
    snap = snapshot([SLOW, FAST], [job(f"j{i}", *BOTH, priority=i % 3) for i in range(6)])
    first, second = solve(snap), solve(snap)
    assert [(d.job.key, d.chosen and d.chosen.pool.name, d.nodes) for d in first.decisions] == [
        (d.job.key, d.chosen and d.chosen.pool.name, d.nodes) for d in second.decisions
    ]


def test_many_priority_levels_of_dear_jobs_stay_in_range() -> None:
    # 39 distinct priorities at 16,000 USD each overflowed one weighted objective (2^39 x cents).
    dear = pool("h100", "nvidia-h100", 2000.0, gpu_nodes("h100", 4))
    jobs = [job(f"p{i}", option("nvidia-h100", 1000), priority=i) for i in range(39)]
    plan = checked(snapshot([dear], jobs))
    assert sorted(d.job.priority for d in plan.placed) == [35, 36, 37, 38]
    assert {d.chosen.cost for d in plan.placed if d.chosen} == {to_micros(16_000)}


def test_the_largest_figures_the_api_accepts_stay_in_range() -> None:
    # Every job costs about MAX_MONEY; sums of such costs overflow 64 bits unless scaled.
    dearest = pool("h100", "nvidia-h100", 1e5, gpu_nodes("h100", 60))
    budget = BudgetView("team-a", "all", to_micros(1e9), 0, 0, hard=True)
    hours = 1e9 / (1e5 * 8) * 0.99  # just under MAX_MONEY per job
    jobs = [
        job(f"j{i}", option("nvidia-h100", 1.0), work=hours * 3600, priority=i % 7 - 3)
        for i in range(120)
    ]
    plan = checked(snapshot([dearest], jobs, budgets=[budget]))
    assert len(plan.placed) == 1  # the budget takes one such job
    assert plan.placed[0].job.priority == 3
    assert plan.total_cost <= budget.limit


def test_a_way_of_running_beyond_the_bounds_is_excluded_with_the_figures() -> None:
    dearest = pool("h100", "nvidia-h100", 1e5, gpu_nodes("h100", 1))
    plan = checked(snapshot([dearest], [job("j", option("nvidia-h100", 1e-6), work=1e15)]))
    assert decide(plan)[1] == "OutOfRange"
    assert "more than the 3650d pricewise plans for" in decide(plan)[2]


def test_the_plan_says_how_it_was_found() -> None:
    plan = checked(snapshot([SLOW, FAST], [job("j", *BOTH)]))
    # Its cheapest option has room now: proved so without a model.
    assert (plan.status, plan.rounds, plan.best_bound) == ("optimal", 0, plan.total_cost)
    one_node = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 1))
    contended = checked(snapshot([one_node], [job("a", BOTH[0]), job("b", BOTH[0])]))
    assert (contended.status, len(contended.placed)) == ("optimal", 1)
    assert contended.total_cost == contended.reserved_cost == to_micros(16.0)
    assert contended.best_bound == to_micros(32.0)  # the reserved job is part of the plan
    nothing = solve(snapshot([SLOW], [job("j", option("nvidia-h100", 1000))]))
    assert (nothing.status, nothing.best_bound, nothing.total_cost) == ("empty", 0, 0)


def test_jobs_that_all_fit_their_cheapest_options_now_are_placed_without_a_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    roomy = snapshot([SLOW, FAST], [job(f"j{i}", *BOTH) for i in range(2)])
    fast = checked(roomy)
    assert (fast.status, fast.rounds, len(fast.placed)) == ("optimal", 0, 2)
    monkeypatch.setattr(solver, "_cheapest_for_all", lambda *_: False)
    solved = checked(roomy)
    assert solved.rounds >= 1
    assert (fast.total_cost, fast.best_bound) == (solved.total_cost, solved.best_bound)
    # One job more than the cheap pool holds: the model decides who waits or pays more.
    monkeypatch.undo()
    full = checked(snapshot([SLOW, FAST], [job(f"j{i}", *BOTH) for i in range(3)]))
    assert full.rounds >= 1
    # Everything fits now, but not everything on its cheapest option: the greedy start puts
    # the small job (first) on the one cheap node and the big one on the dear pool; the model
    # has the big one wait an hour for the cheap node instead (8 + 1 USD against 16 + 1).
    cheap = pool("l4", "nvidia-l4", 1.0, gpu_nodes("l4", 1))
    dear = pool("h100", "nvidia-h100", 2.0, gpu_nodes("h100", 1))
    small = job("small", option("nvidia-l4", 1000, 1), option("nvidia-h100", 1000, 1))
    big = job("big", option("nvidia-l4", 1000), option("nvidia-h100", 1000))
    mixed = checked(snapshot([cheap, dear], [small, big]))
    assert mixed.rounds >= 1 and mixed.total_cost + mixed.reserved_cost == to_micros(9.0)


def test_an_earliest_start_tie_break_that_runs_out_leaves_the_plan_and_prices_the_levels_below(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = cpsat.CpSat.optimise

    def no_tie_break(self: cpsat.CpSat, objective: Any, maximize: bool, *args: Any, **kw: Any):
        if kw.get("work", args[2] if len(args) > 2 else None) is not None:
            return None  # the tie-break's work runs out before it finds a plan
        return real(self, objective, maximize, *args, **kw)

    monkeypatch.setattr(cpsat.CpSat, "optimise", no_tie_break)
    # Two high-priority jobs take the cheap pool, a third waits an hour for it (a tie-break
    # to run), and so should the low-priority one rather than pay for the dear pool now.
    jobs = [job(f"high{i}", *BOTH, priority=1) for i in range(3)] + [job("low", *BOTH)]
    plan = checked(snapshot([SLOW, FAST], jobs))
    low = next(d for d in plan.decisions if d.job.name == "low")
    assert low.reservation is not None and low.reservation.candidate.pool.name == "l4"
    assert plan.status == "optimal"


def test_later_starts_are_the_earliest_few_cheapest_first() -> None:
    # Each candidate's earliest slot first, the cheaper pool first among those, then the
    # second slots: the model stays small however many slots the pools have.
    j = job("j", *BOTH)
    options = [c for c in candidates(j, (SLOW, FAST), NOW, "USD") if c.feasible]
    slots = {"l4": [600, 1200, 1800, 2400], "h100": [300, 900]}
    starts = later_starts(options, slots, NOW, LookAhead(starts_per_job=3), "USD")
    assert [(c.pool.name, s) for c, s in starts] == [("l4", 600), ("h100", 300), ("l4", 1200)]


def test_later_starts_end_at_the_max_wait_and_at_the_deadline_s_latest_start() -> None:
    # A slot at the job's max wait may still be planned, one past it not. The L4 run takes
    # 1 h, 1.2 h with the margin: with its deadline 1.2 h after the 20 min slot, that slot
    # keeps its run; the 30 min one needs a wider run (two workers), which the deadline
    # leaves room for. A pool without slots has no later start.
    j = job("j", BOTH[0], max_wait_s=1200.0)
    options = [c for c in candidates(j, (SLOW, FAST), NOW, "USD") if c.feasible]
    assert [c.duration_s for c in options] == [3600.0]
    slots = {"l4": [600, 1200, 1800]}
    starts = later_starts(options, slots, NOW, LookAhead(), "USD")
    assert [s for _, s in starts] == [600, 1200]
    due = replace(j, max_wait_s=None, deadline=NOW + timedelta(seconds=1200 + 4320), max_workers=2)
    options = [c for c in candidates(due, (SLOW, FAST), NOW, "USD") if c.feasible]
    starts = later_starts(options, slots, NOW, LookAhead(), "USD")
    assert [(c.workers, s) for c, s in starts] == [(1, 600), (1, 1200), (2, 1800)]
    assert later_starts(options, {}, NOW, LookAhead(), "USD") == []


def test_a_late_job_that_runs_late_is_placed_without_its_deadline_and_says_so() -> None:
    # Due in 10 min, the job needs 20 min on the H100 (1 h on the L4): no option makes it.
    due = NOW + timedelta(minutes=10)
    waits = job("j", *BOTH, deadline=due)
    assert decide(checked(snapshot([SLOW, FAST], [waits])))[:2] == (None, "DeadlineUnreachable")
    late = replace(waits, runs_late=True)
    planned = without_missed_deadline(late, (SLOW, FAST), NOW, "USD")
    assert (planned.deadline, planned.missed_deadline) == (None, due)
    chosen, reason, message = decide(checked(snapshot([SLOW, FAST], [planned])))
    assert (chosen, reason) == ("l4", "Admitted")  # the cheapest, as without a deadline
    assert message.endswith("; its deadline 12:10 UTC can no longer be met: it runs late "
                            "(whenLate: Run)")  # fmt: skip
    # While some option can still make it, or when it waits, nothing changes.
    for kept in (replace(late, deadline=NOW + timedelta(hours=1)), waits):
        assert without_missed_deadline(kept, (SLOW, FAST), NOW, "USD") == kept


def test_when_maxduration_binds_it_is_named_and_whenlate_does_not_lift_it() -> None:
    # The deadline is 9 h away; maxDuration 30 min is what the only option (1 h) misses. The
    # message named the deadline, and with whenLate: Run said the deadline was missed and the
    # job ran late, while it waited.
    both = job("j", BOTH[0], deadline=NOW + timedelta(hours=9), max_duration_s=1800)
    chosen, reason, message = decide(checked(snapshot([SLOW], [both])))
    assert (chosen, reason) == (None, "DeadlineUnreachable")
    assert message.startswith("maxDuration 30m cannot be met: fastest option l4 x1 needs 1h")
    late = replace(both, runs_late=True)
    assert without_missed_deadline(late, (SLOW,), NOW, "USD") == late
    _, _, message = decide(checked(snapshot([SLOW], [late])))
    assert "can no longer be met" not in message
    assert message.endswith(
        "(whenLate: Run lets a job run past its deadline, not past maxDuration 30m, which no "
        "option meets); raise spec.maxDuration to 1h, or spec.workers.max to 2 (l4 x2 needs 30m)"
    )
    # A spot pool it may not use (excluded before its time is counted) changes none of it.
    spot = pool("l4-spot", "nvidia-l4", 1.0, gpu_nodes("l4s", 2), spot=True)
    assert without_missed_deadline(late, (SLOW, spot), NOW, "USD") == late
    # Its deadline passed as well: the advice to set whenLate: Run is not given to a job that has.
    gone = replace(late, deadline=NOW - timedelta(hours=1))
    message = decide(checked(snapshot([SLOW], [gone])))[2]
    assert message.startswith("deadline passed 1h ago (whenLate: Run lets a job run past")
    assert "set spec.whenLate" not in message


def test_a_cycle_plans_the_first_jobs_by_priority_deadline_and_age_the_rest_queue() -> None:
    soon = NOW + timedelta(hours=3)
    jobs = [
        job("old", *BOTH, created=NOW - timedelta(hours=2)),
        job("new", *BOTH, created=NOW - timedelta(hours=1)),
        job("due", *BOTH, deadline=soon, created=NOW),
        job("high", *BOTH, priority=10, created=NOW),
    ]
    plan = checked(snapshot([SLOW, FAST], jobs), SolverSettings(max_jobs=3))
    by_name = {d.job.name: d for d in plan.decisions}
    assert len(plan.decisions) == 4 and by_name["new"].reason == "Queued"
    assert by_name["new"].message == (
        "more than 3 jobs a pool could run are pending: this one is planned once it is among "
        "the first 3 by priority, deadline and age"
    )
    planned = {d.job.name for d in plan.decisions if d.chosen or d.reservation}
    assert planned == {"old", "due", "high"}
    everyone = checked(snapshot([SLOW, FAST], jobs), SolverSettings(max_jobs=4))
    assert "Queued" not in {d.reason for d in everyone.decisions}
    # Jobs that name an accelerator no pool offers, at the top priority, take no one's turn.
    nowhere = [job(f"x{i}", option("nonexistent", 1000), priority=1000) for i in range(5)]
    flooded = checked(snapshot([SLOW, FAST], jobs + nowhere), SolverSettings(max_jobs=4))
    reasons = {d.job.name: d.reason for d in flooded.decisions}
    assert {reasons[f"x{i}"] for i in range(5)} == {"NoMatchingPool"}
    assert "Queued" not in {reasons[j.name] for j in jobs}


def _copies(count: int, **kw: object) -> list[Job]:
    """`count` copies of one job (a sweep), submitted a minute apart, `copy-0` first."""
    return [
        job(f"copy-{i}", *BOTH, created=NOW - timedelta(minutes=count - i), **kw)
        for i in range(count)
    ]


def test_copies_of_a_job_are_solved_as_one_class_and_served_oldest_first() -> None:
    snap = snapshot([SLOW, FAST], _copies(6))
    plan = checked(snap, NOW_ONLY)
    # Room for two 8-GPU workers a pool: the two cheap L4 slots and the two H100 ones.
    placed = sorted(d.job.name for d in plan.placed)
    assert placed == ["copy-0", "copy-1", "copy-2", "copy-3"]
    assert plan.total_cost == 2 * to_micros(16.0) + 2 * round(to_micros(8.0 * 8) / 3)
    one_by_one = checked(snap, replace(NOW_ONLY, job_classes=False))
    assert (len(one_by_one.placed), one_by_one.total_cost) == (4, plan.total_cost)
    assert {d.reason for d in plan.decisions if d.chosen is None} == {"WaitingForCapacity"}


def test_only_jobs_the_model_cannot_tell_apart_share_a_class() -> None:
    jobs = [
        *_copies(3),
        job("other-team", *BOTH, namespace="team-b"),
        job("promised", *BOTH, promised_start=NOW + timedelta(hours=1)),
        job("urgent", *BOTH, priority=5),
    ]
    snap = snapshot([SLOW, FAST], jobs)
    options = {j.key: [(c, 0) for c in candidates(j, snap.pools, NOW, "USD")] for j in jobs}
    classes = JobClasses.of_choices(options)
    assert classes.members["team-a/copy-0"] == ("team-a/copy-0", "team-a/copy-1", "team-a/copy-2")
    assert len(classes.members) == 4
    alone = JobClasses.of_choices(options, together=False)
    assert len(alone.members) == len(jobs)
    # Counts become jobs' choices in serving order: the oldest copy takes the earliest start.
    l4 = ("team-a/copy-0", 0, "l4", 0)
    later = ("team-a/copy-0", 0, "l4", 3600)
    assert classes.assign({later: 1, l4: 1}) == [
        ("team-a/copy-0", 0, "l4", 0),
        ("team-a/copy-1", 0, "l4", 3600),
    ]


def test_copies_overdue_for_different_times_are_not_one_class() -> None:
    # One class weighed every copy by its oldest member's overdue hours: x2 (24.5 h) counted
    # as x1 (30 h), CP-SAT's plan ranked below the greedy one, and `w` lost its cheap later
    # start on p for an H100 now. The oldest two, x1 and y, start now on p, x2 holds p-2 from
    # when it frees, and w follows it there: 28 USD in all.
    full = Resources(cpu=96_000, memory=1024 * 1024, gpu=8)
    nodes = gpu_nodes("p", 3)
    busy = (*nodes[:2], replace(nodes[2], free=replace(full, gpu=0)))
    frees = (Release(NOW + timedelta(hours=1), full, (("p-2", full),)),)
    p = replace(pool("p", "nvidia-l4", 1.0, busy), releases=frees)
    q = pool("q", "nvidia-h100", 3.0, gpu_nodes("q", 1), order=1)
    wide = option("nvidia-l4", 1000)
    other = replace(wide, worker=replace(wide.worker, cpu=16_000))
    jobs = [
        job("x1", wide, created=NOW - timedelta(hours=30)),
        job("x2", wide, created=NOW - timedelta(hours=24.5)),
        job("y", other, created=NOW - timedelta(hours=26)),
        job("w", option("nvidia-l4", 1000, 4), option("nvidia-h100", 1000, 4), created=NOW,
            deadline=NOW + timedelta(hours=4)),
    ]  # fmt: skip
    snap = snapshot([p, q], jobs)
    plan, one_by_one = checked(snap), checked(snap, SolverSettings(job_classes=False))
    assert decide(plan, "team-a/w")[:2] == (None, "Reserved")
    assert decide(plan, "team-a/y")[:2] == ("p", "Admitted")
    assert decide(plan, "team-a/x2")[:2] == (None, "Reserved")
    assert plan.total_cost + plan.reserved_cost == to_micros(28.0)
    assert [(d.job.key, d.reason) for d in plan.decisions] == [
        (d.job.key, d.reason) for d in one_by_one.decisions
    ]


def test_between_plans_that_admit_alike_the_higher_level_is_priced_first() -> None:
    # A round's plan replaces the current one only if it ranks better: per level from the
    # highest, more jobs, then less cost. Here the high level is cheaper in `first` (16 on l4
    # against 21.33 on h100) and the low level dearer: `first` still ranks better.
    urgent = job("urgent", *BOTH, priority=1)
    low = job("low", *BOTH)
    snap = snapshot([SLOW, FAST], [urgent, low])
    on = {
        (c.job.name, c.pool.name): c
        for j in snap.jobs
        for c in candidates(j, snap.pools, NOW, "USD")
    }
    first = [(on["urgent", "l4"], ()), (on["low", "h100"], ())]
    second = [(on["urgent", "h100"], ()), (on["low", "l4"], ())]

    def better(plan: list[Any], current: list[Any], by_level: bool) -> bool:
        return solver._better(
            [(c, 0) for c, _ in plan], current, [1, 0], by_level, NOW, LookAhead()
        )

    assert better(first, second, by_level=True)
    assert not better(second, first, by_level=True)
    # A round priced over all levels at once (beside a relaxation) ranks by the total.
    assert better(second, first, by_level=False)


def urgent_and_slow_on_h100() -> Snapshot:
    """One L4 node and one H100 node; an urgent job that runs well on both, and another that
    is slow on the H100."""
    slow_on_h100 = (BOTH[0], option("nvidia-h100", 600))
    return snapshot(
        [ONE_L4, ONE_H100], [job("urgent", *BOTH, priority=1), job("low", *slow_on_h100)]
    )


def test_a_model_solved_beside_its_relaxation_is_priced_over_all_levels() -> None:
    # One L4 node and one H100 node, a job each; the greedy start puts the urgent job on the
    # cheap L4 (16.00) and the other on the H100, where it is slow (106.67). Priced level by
    # level (small models, solved whole) that stands; priced in all (large models, relaxed
    # first: forced here with a threshold of 0 choices), the urgent job takes the H100 (21.33)
    # and the other the L4 (16.00), and that plan must not lose to the greedy one.
    snap = urgent_and_slow_on_h100()
    whole = checked(snap, NOW_ONLY)
    assert [decide(whole, f"team-a/{n}")[0] for n in ("urgent", "low")] == ["l4", "h100"]
    relaxed = checked(snap, replace(NOW_ONLY, whole_model_up_to=0))
    assert [decide(relaxed, f"team-a/{n}")[0] for n in ("urgent", "low")] == ["h100", "l4"]
    assert relaxed.status == "optimal"


def test_beside_a_relaxation_a_job_rounded_up_to_whole_does_not_overrun_a_hard_budget() -> None:
    # Three copies of a job of 8 GPUs for 20 minutes at 1 USD a GPU-hour (2.666667 USD each)
    # and a hard budget of 8 USD: two fit it. The relaxation takes 2.99999962 of them, which
    # counts as three whole (within `relaxation.WHOLE`); fixed as such, the plan overran the
    # budget by a micro-unit (found by hypothesis).
    l4 = pool("l4", "nvidia-l4", 1.0, gpu_nodes("l4", 3))
    budget = BudgetView("team-b", "b", to_micros(8.0), 0, 0, True)
    copies = [job(f"j{i}", option("nvidia-l4", 3000), namespace="team-b") for i in range(3)]
    plan = checked(snapshot([l4], copies, budgets=[budget]), replace(NOW_ONLY, whole_model_up_to=0))
    assert len(plan.placed) == 2 and plan.total_cost == 2 * 2_666_667


def job_by_job(snap: Snapshot) -> solver.PlacementModel:
    """The placement model of the snapshot's jobs now, each job its own class."""
    options = {j.key: candidates(j, snap.pools, snap.now, snap.currency) for j in snap.jobs}
    return solver.PlacementModel(snap, options, {}, [], classes=False)


def by_job_and_pool(model: solver.PlacementModel) -> dict[tuple[str, str], ChoiceKey]:
    """The model's choices by the job's name (without its namespace) and the pool."""
    return {(k[0].split("/")[1], k[2]): k for k in model.candidates}


def test_beside_a_relaxation_a_plan_within_the_gap_of_its_bound_is_not_priced_further() -> None:
    # The greedy plan puts the urgent job on the L4 and the other on the H100 (122.67 USD in
    # all); the cheapest puts them the other way round (37.33). Beside a relaxation whose
    # bound the greedy plan is within 1 % of, the cost phase stops there and reports that
    # bound; beside one at the optimum, it prices on to the optimum.
    snap = urgent_and_slow_on_h100()
    model = job_by_job(snap)
    key = by_job_and_pool(model)
    greedy = [key["urgent", "l4"], key["low", "h100"]]
    cost = model.cost(list(model.candidates))

    def priced(bound: float) -> tuple[float, list[Any]]:
        backend = cpsat.CpSat(model, Counter(), greedy)
        floor = relaxation.Floor(bound, (), {})
        outcome = phases.solve_in_phases(
            backend, model, [1, 0], SolverSettings(), 1e9, False, False, clock=lambda: 0.0,
            floor=floor,
        )  # fmt: skip
        assert outcome is not None and outcome.within_gap
        return outcome.bound, sorted(backend.taken())

    dear = sum(cost[k] for k in greedy)
    bound, taken = priced(0.992 * dear)
    assert taken == sorted(greedy) and bound == pytest.approx(0.992 * dear * model.unit)
    best = sorted([key["urgent", "h100"], key["low", "l4"]])
    cheapest = sum(cost[k] for k in best)
    assert cheapest < 0.5 * dear
    assert priced(cheapest)[1] == best


def test_beside_a_relaxation_a_level_that_admits_its_relaxed_count_is_not_counted_further() -> None:
    # The relaxation's count of a level bounds CP-SAT's while the levels above admit as many:
    # a plan that reaches it needs no admission phase. The hint leaves the low job out: with a
    # relaxation that admitted none of that level it stays out, with one that admitted it (or
    # without a relaxation) CP-SAT counts it in.
    snap = urgent_and_slow_on_h100()
    model = job_by_job(snap)
    key = by_job_and_pool(model)

    def counts(ceilings: tuple[int, ...]) -> list[int]:
        backend = cpsat.CpSat(model, Counter(), [key["urgent", "l4"]])
        outcome = phases.solve_in_phases(
            backend, model, [1, 0], SolverSettings(), 1e9, True, False, clock=lambda: 0.0,
            ceilings=ceilings,
        )  # fmt: skip
        assert outcome is not None
        return outcome.counts

    assert counts((1, 0)) == [1, 0]
    assert counts((1, 1)) == [1, 1]
    assert counts(()) == [1, 1]


def test_without_early_starts_a_plan_keeps_its_starts() -> None:
    # One job, planned an hour from now where it could start now at the same price: the
    # earliest-start phase starts it now; without it (CP-SAT given a shortlist), the plan
    # keeps its start. Its wait counts for nothing, or the cost phase would start it now.
    snap = snapshot([SLOW], [job("j", BOTH[0])])
    options = {j.key: candidates(j, snap.pools, snap.now, snap.currency) for j in snap.jobs}
    later = {k: [(c, 3600) for c in v] for k, v in options.items()}
    model = solver.PlacementModel(snap, options, later, [], classes=False, wait_cost=0.0)
    hour = max(model.candidates, key=lambda k: k[3])

    def start(early_starts: bool) -> int:
        backend = cpsat.CpSat(model, Counter(), [hour])
        outcome = phases.solve_in_phases(
            backend, model, [0], SolverSettings(), 1e9, False, clock=lambda: 0.0,
            early_starts=early_starts,
        )  # fmt: skip
        assert outcome is not None
        (taken,) = backend.taken()
        return taken[3]

    assert start(True) == 0
    assert start(False) == 3600


@pytest.mark.parametrize(
    ("jobs", "shares", "whole_model_up_to", "rounds"),
    [
        # Relaxed first, every job fixed: the first plan comes early, and a second round runs.
        ([job(f"j{i}", *BOTH) for i in range(6)], {"phase": 0.01}, 0, 2),
        # The same, the first plan found after 40 % of the limit (its model took 45 % to
        # build): no time for it.
        ([job(f"j{i}", *BOTH) for i in range(6)], {"phase": 0.01, "PlacementModel": 0.45}, 0, 1),
        # A split job leaves CP-SAT more choices than it solves whole (none, here): a
        # shortlist, and a model too large for a second round.
        (split_by_the_relaxation(), {"phase": 0.01}, 0, 1),
        # The same jobs solved whole take the second round.
        (split_by_the_relaxation(), {"phase": 0.01}, 3_000, 2),
    ],
    ids=["early", "late", "shortlisted", "whole"],
)
def test_a_plan_found_early_is_solved_again_with_its_own_ends_as_later_starts(
    monkeypatch: pytest.MonkeyPatch,
    jobs: list[Job],
    shares: dict[str, float],
    whole_model_up_to: int,
    rounds: int,
) -> None:
    # The ends of what a first plan starts are where the waiting jobs may start: found within
    # `REFINE_WITHIN` of the limit, the model is solved again with them (on 1,000 jobs over 20
    # pools, shortlisted, that took 3.7 s more).
    StageClock(monkeypatch, 10.0, **shares)
    solved = []
    solve_round = solver.solve_round
    monkeypatch.setattr(solver, "solve_round", lambda *a: solved.append(a) or solve_round(*a))
    checked(snapshot([SLOW, FAST], jobs), SolverSettings(whole_model_up_to=whole_model_up_to))
    assert len(solved) == rounds


def test_the_relaxation_bounds_plans_that_admit_fewer_jobs_by_duality() -> None:
    # The relaxation's phases bound its count and cost. A plan admitting fewer jobs (CP-SAT
    # cut short) is bounded by the cost optimum moved by its count rows' duals: never above
    # what the relaxation with that plan's counts costs, and exact at the relaxation's own.
    small = option("nvidia-l4", 1000, devices=2)
    dear = option("nvidia-h100", 3000, devices=4)
    jobs = [job(f"j{i}", small, dear, priority=i % 2) for i in range(9)]
    snap = snapshot([SLOW, FAST], jobs)
    model = job_by_job(snap)
    levels = [1, 0]
    relaxation = Relaxation(model)
    outcome = phases.solve_in_phases(
        relaxation, model, levels, SolverSettings(), 1e9, False, False, clock=lambda: 0.0
    )
    assert outcome is not None and outcome.floor is not None
    cost = model.cost(list(model.candidates))
    assert outcome.floor.at(relaxation.values) == pytest.approx(outcome.floor.value)
    # The same requirements weighted 3 and 5: GLOP sees each row divided by its weight, and
    # the bound must not depend on it.
    weighted = Relaxation(model)
    for level, count, weight in zip(levels, outcome.counts, (3, 5), strict=True):
        weighted.require({k: weight for k in model.level(level)}, True, weight * count)
    floor = weighted.floor() if weighted.optimise(cost, False, 10.0) is not None else None
    assert floor is not None
    bounds = []
    for fewer in (1, 2, 4):
        fresh = Relaxation(model)
        counts = [max(0, n - fewer) for n in outcome.counts]
        for level, count in zip(levels, counts, strict=True):
            fresh.require(model.admitted(model.level(level)), True, count)
        found = fresh.optimise(cost, False, 10.0)
        assert found is not None
        bounds.append(outcome.floor.at(fresh.values))
        assert bounds[-1] <= found[0] * (1 + SLACK)
        assert floor.at(fresh.values) == pytest.approx(bounds[-1], rel=1e-6)
    # Each job fewer lowers the bound: the count rows bind.
    assert bounds == sorted(bounds, reverse=True) and bounds[0] < outcome.floor.value


def test_a_job_moved_off_its_choice_by_a_higher_level_takes_another_of_its_own() -> None:
    # Three one-node L4 pools: the cheap one held by `low`, the dear "z" one by `high`, and the
    # dear "a" one free. The higher level's phase (count, then cost) moves `high` to the cheap
    # pool; `low` cannot take its choice back, so it takes another, the first of them in the
    # hint ("z" before "a"), instead of being dropped (a later phase cut short would never
    # place it again).
    cheap = pool("cheap", "nvidia-l4", 2.0, gpu_nodes("cheap", 1), order=0)
    dear_a = pool("a", "nvidia-l4", 4.0, gpu_nodes("a", 1), order=1)
    dear_z = pool("z", "nvidia-l4", 4.0, gpu_nodes("z", 1), order=2)
    jobs = [job("high", BOTH[0], priority=1), job("low", BOTH[0])]
    snap = snapshot([cheap, dear_a, dear_z], jobs)
    model = job_by_job(snap)
    key = by_job_and_pool(model)
    hint = [key["high", "z"], key["low", "cheap"], key["low", "z"], key["low", "a"]]
    backend = cpsat.CpSat(model, Counter(), hint)
    objective, _, _ = model.admitted_then_cost(model.level(1))
    assert backend.optimise(objective, True, 10.0, 0.0) is not None
    assert sorted(backend.taken()) == [key["high", "cheap"], key["low", "z"]]


def test_a_job_the_relaxation_splits_finds_room_among_its_ranked_choices() -> None:
    # Two L4 nodes (16 GPUs) for jobs of 6, 4, 4 and 4 GPUs, the H100 dearer: the relaxation
    # puts two thirds of `a` on the L4s and the rest on an H100. Its whole choices leave `a` no
    # room on the L4s: three jobs planned. With every choice ranked after them, `a` takes the
    # H100, and all four are planned, as in the relaxation.
    snap = snapshot([SLOW, FAST], split_by_the_relaxation())
    model = job_by_job(snap)
    relaxation = Relaxation(model)
    outcome = phases.solve_in_phases(
        relaxation, model, [0], SolverSettings(), 1e9, False, False, clock=lambda: 0.0
    )
    assert outcome is not None and outcome.counts == [4]
    assert 0 < relaxation.values[("team-a/a", 0, "l4", 0)] < 1
    whole = sorted(relaxation.whole().elements())
    assert sum(cpsat.CpSat(model, Counter(), whole).taken().values()) == 3
    ranked = relaxation.ranked()
    taken = [relaxation.values.get(k, 0.0) for k in ranked]
    assert set(ranked) == set(model.candidates) and taken == sorted(taken, reverse=True)
    rounded = cpsat.CpSat(model, Counter(), whole + ranked)
    assert ("team-a/a", 1, "h100", 0) in rounded.taken()  # its second option
    assert sum(rounded.taken().values()) == 4


def test_cpsat_beside_a_relaxation_decides_among_the_choices_it_shortlists() -> None:
    # One job, three L4 pools at 2, 3 and 5 USD an hour: the relaxation takes the cheapest,
    # and the next choice that would add least to its cost is the 3-USD pool. Given only the
    # shortlist, CP-SAT has no variable for the 5-USD pool.
    pools = [
        pool(name, "nvidia-l4", price, gpu_nodes(name, 1), order=i)
        for i, (name, price) in enumerate([("cheap", 2.0), ("mid", 3.0), ("dear", 5.0)])
    ]
    snap = snapshot(pools, [job("a", BOTH[0])])
    model = job_by_job(snap)
    relaxed = Relaxation(model)
    outcome = phases.solve_in_phases(
        relaxed, model, [0], SolverSettings(), 1e9, False, False, clock=lambda: 0.0
    )
    assert outcome is not None
    assert outcome.floor is not None
    shortlist = relaxed.shortlist(outcome.floor, 1)
    assert {k[2] for k in shortlist} == {"cheap", "mid"}
    backend = cpsat.CpSat(model, Counter(), [], allowed=shortlist)
    assert {k[2] for k in backend.choice} == {"cheap", "mid"}
    assert {k[2] for k in relaxed.shortlist(outcome.floor, 2)} == {"cheap", "mid", "dear"}
    # Without a floor (its cost phase cut short), the cheapest.
    assert {k[2] for k in Relaxation(model).shortlist(None, 2)} == {"cheap", "mid"}


def test_a_job_the_rounding_leaves_out_is_placed_by_moving_one_other() -> None:
    # One L4 node and one H100 node of 8 GPUs. The rounding put `small` (4 GPUs) on the L4,
    # where `big` (8 GPUs, the L4 only) then has no room; moving `small` to the H100 makes it.
    small = job("small", option("nvidia-l4", 1000, 4), option("nvidia-h100", 3000, 4))
    big = job("big", option("nvidia-l4", 1000))
    snap = snapshot([ONE_L4, ONE_H100], [small, big])
    model = job_by_job(snap)
    key = by_job_and_pool(model)
    backend = cpsat.CpSat(model, Counter(), [key["small", "l4"]])
    assert backend.short() == ["team-a/big"]
    plan = backend.completed(backend.short())
    assert plan == Counter([key["small", "h100"], key["big", "l4"]])
    # The solver starts from it; it completes only jobs the relaxation placed.
    lp = Relaxation(model)
    assert phases.solve_in_phases(
        lp, model, [0], SolverSettings(), 1e9, False, False, clock=lambda: 0.0
    )
    phases.complete(backend, lp, model.level(0))
    assert backend.incumbent == plan
    backend = cpsat.CpSat(model, Counter(), [key["small", "l4"]])
    lp.values = {k: v for k, v in lp.values.items() if k[0] != "team-a/big"}
    phases.complete(backend, lp, model.level(0))
    assert backend.incumbent == Counter({key["small", "l4"]: 1})
    # A job that nothing placed makes room for stays out; the plan in hand is unchanged.
    crowded = snapshot([ONE_L4], [job("a", option("nvidia-l4", 1000)), big])
    options = {j.key: candidates(j, crowded.pools, NOW, "USD") for j in crowded.jobs}
    model = solver.PlacementModel(crowded, options, {}, [], classes=False)
    first = sorted(model.candidates)[0]
    backend = cpsat.CpSat(model, Counter(), [first])
    assert backend.completed(backend.short()) == Counter({first: 1})


def test_a_job_the_rounding_leaves_out_is_placed_by_moving_several_others() -> None:
    # Two jobs of 4 GPUs fill the L4 node; `big` (8 GPUs, the L4 only) fits once both move to
    # the H100 node: neither move alone makes room.
    small = [
        job(f"small-{i}", option("nvidia-l4", 1000, 4), option("nvidia-h100", 3000, 4))
        for i in (1, 2)
    ]
    big = job("big", option("nvidia-l4", 1000))
    snap = snapshot([ONE_L4, ONE_H100], [*small, big])
    model = job_by_job(snap)
    key = by_job_and_pool(model)
    backend = cpsat.CpSat(model, Counter(), [key["small-1", "l4"], key["small-2", "l4"]])
    assert backend.short() == ["team-a/big"]
    plan = backend.completed(backend.short())
    assert plan == Counter([key["small-1", "h100"], key["small-2", "h100"], key["big", "l4"]])


def test_a_job_the_rounding_leaves_out_is_placed_by_a_chain_of_two_moves() -> None:
    # `x` fills the L4 node and could go to the H100 node, which `y` fills; `y` could go to the
    # empty A100 node. `big` (the L4 only) is placed once `y` moves, then `x`.
    nodes = {"l4": "nvidia-l4", "h100": "nvidia-h100", "a100": "nvidia-a100-80gb"}
    pools = [pool(name, kind, 2.0, gpu_nodes(name, 1)) for name, kind in nodes.items()]
    x = job("x", option("nvidia-l4", 1000), option("nvidia-h100", 3000))
    y = job("y", option("nvidia-h100", 3000), option("nvidia-a100-80gb", 2000))
    big = job("big", option("nvidia-l4", 1000))
    snap = snapshot(pools, [x, y, big])
    model = job_by_job(snap)
    key = by_job_and_pool(model)
    backend = cpsat.CpSat(model, Counter(), [key["x", "l4"], key["y", "h100"]])
    assert backend.short() == ["team-a/big"]
    plan = backend.completed(backend.short())
    assert plan == Counter([key["big", "l4"], key["x", "h100"], key["y", "a100"]])


def test_a_chain_of_moves_that_finds_no_room_is_undone_before_the_next_is_tried() -> None:
    # `x1` and `x2` fill the two L4 nodes. `x1` could go to the H100 node, which `y1` holds
    # for good; `x2` to the A100 node, which `y2` leaves for the empty T4 node. `big` (the L4
    # only) takes `x2`'s room once the chain through `x1` has been undone; `extra` (the L4
    # only, after it) then finds the L4 full, as the undone chain gave `x1`'s room back.
    nodes = {"l4": ("nvidia-l4", 2), "h100": ("nvidia-h100", 1)}
    nodes |= {"a100": ("nvidia-a100-80gb", 1), "t4": ("nvidia-t4", 1)}
    pools = [pool(name, kind, 2.0, gpu_nodes(name, n)) for name, (kind, n) in nodes.items()]
    x1 = job("x1", option("nvidia-l4", 1000), option("nvidia-h100", 3000))
    x2 = job("x2", option("nvidia-l4", 1000), option("nvidia-a100-80gb", 2000))
    y1 = job("y1", option("nvidia-h100", 3000))
    y2 = job("y2", option("nvidia-a100-80gb", 2000), option("nvidia-t4", 500))
    big, extra = (job(name, option("nvidia-l4", 1000)) for name in ("big", "extra"))
    model = job_by_job(snapshot(pools, [x1, x2, y1, y2, big, extra]))
    key = by_job_and_pool(model)
    held = [key["x1", "l4"], key["x2", "l4"], key["y1", "h100"], key["y2", "a100"]]
    backend = cpsat.CpSat(model, Counter(), held)
    assert backend.short() == ["team-a/big", "team-a/extra"]
    assert backend.completed(backend.short()) == Counter(
        [key["big", "l4"], key["x1", "l4"], key["x2", "a100"], key["y1", "h100"], key["y2", "t4"]]
    )


def test_moves_that_do_not_make_room_enough_are_undone_and_their_room_given_back() -> None:
    # `m1` and `m2` (4 GPUs each) fill the L4 node; `big` (8, the L4 only) would need both to
    # move, and `m2` cannot. `m1`'s trial move to the H100 node is undone, so `mid` (8 GPUs,
    # the H100 only) still finds that node empty, and `last` (4 GPUs, the H100 only) full.
    m1 = job("m1", option("nvidia-l4", 1000, 4), option("nvidia-h100", 3000, 4))
    m2 = job("m2", option("nvidia-l4", 1000, 4))
    big = job("big", option("nvidia-l4", 1000))
    mid = job("mid", option("nvidia-h100", 3000))
    last = job("last", option("nvidia-h100", 3000, 4))
    model = job_by_job(snapshot([ONE_L4, ONE_H100], [m1, m2, big, mid, last]))
    key = by_job_and_pool(model)
    backend = cpsat.CpSat(model, Counter(), [key["m1", "l4"], key["m2", "l4"]])
    assert backend.completed(["team-a/big", "team-a/mid", "team-a/last"]) == Counter(
        [key["m1", "l4"], key["m2", "l4"], key["mid", "h100"]]
    )


def test_a_lower_priority_leaves_the_plan_only_where_no_move_makes_room() -> None:
    # `low` (priority 0, the L4 only) and `peer` (4 GPUs each) fill the L4 node; `high`
    # (priority 10, 4 GPUs) fits once `peer` moves to the H100 node, so `low` stays placed.
    low = job("low", option("nvidia-l4", 1000, 4))
    peer = job("peer", option("nvidia-l4", 1000, 4), option("nvidia-h100", 3000, 4))
    high = job("high", option("nvidia-l4", 1000, 4), priority=10)
    model = job_by_job(snapshot([ONE_L4, ONE_H100], [low, peer, high]))
    key = by_job_and_pool(model)
    backend = cpsat.CpSat(model, Counter(), [key["low", "l4"], key["peer", "l4"]])
    assert backend.completed(["team-a/high"]) == Counter(
        [key["low", "l4"], key["peer", "h100"], key["high", "l4"]]
    )


def test_a_completion_keeps_the_lower_bounds_phases_required_or_is_not_made() -> None:
    # As in the one-move case, with `pinned` fixed on the A100 node, which `small` could also
    # take. A bound on `small` placed anywhere and `pinned` (met exactly: 2) lets `small` move
    # to the H100 node, not the taken A100; one on `small` staying on the L4 (as an overdue job
    # must start now) keeps the plan in hand.
    pools = [
        pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 1)),
        pool("h100", "nvidia-h100", 8.0, gpu_nodes("h100", 1)),
        pool("a100", "nvidia-a100-80gb", 4.0, gpu_nodes("a100", 1)),
    ]
    small = job(
        "small",
        option("nvidia-l4", 1000, 4),
        option("nvidia-h100", 3000, 4),
        option("nvidia-a100-80gb", 2000, 4),
    )
    big = job("big", option("nvidia-l4", 1000))
    pinned = job("pinned", option("nvidia-a100-80gb", 2000))
    model = job_by_job(snapshot(pools, [small, big, pinned]))
    key = by_job_and_pool(model)
    fixed = Counter([key["pinned", "a100"]])
    backend = cpsat.CpSat(model, fixed, [key["small", "l4"]])
    anywhere = {key["small", pool_name]: 1 for pool_name in ("l4", "h100", "a100")}
    backend.require({**anywhere, key["pinned", "a100"]: 1}, True, 2)
    assert backend.completed(["team-a/big"]) == Counter([key["small", "h100"], key["big", "l4"]])
    backend.require({key["small", "l4"]: 1}, True, 1)
    assert backend.completed(["team-a/big"]) == Counter([key["small", "l4"]])


def test_a_job_the_rounding_leaves_out_takes_the_room_of_a_lower_priority_only() -> None:
    # `low` fills the only node and has nowhere else to go: `high` (priority 10) takes its
    # room, and `low` stays out; a job of the same priority as `low` does not.
    low = job("low", option("nvidia-l4", 1000))
    high = job("high", option("nvidia-l4", 1000), priority=10)
    peer = job("peer", option("nvidia-l4", 1000))
    snap = snapshot([ONE_L4], [low, high, peer])
    model = job_by_job(snap)
    key = {k[0].split("/")[1]: k for k in model.candidates}
    backend = cpsat.CpSat(model, Counter(), [key["low"]])
    assert backend.completed(["team-a/peer"]) == Counter({key["low"]: 1})
    assert backend.completed(["team-a/high"]) == Counter({key["high"]: 1})


def test_a_relaxed_solve_gives_cpsat_the_shortlist_where_many_choices_are_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given = []
    init = cpsat.CpSat.__init__

    def recorded(self_: Any, *args: Any) -> None:
        given.append(args[-1])
        init(self_, *args)

    monkeypatch.setattr(cpsat.CpSat, "__init__", recorded)
    early = []
    in_phases = phases.solve_in_phases

    def spied(*args: Any, **kwargs: Any) -> Any:
        if isinstance(args[0], cpsat.CpSat):
            early.append(kwargs.get("early_starts", True))
        return in_phases(*args, **kwargs)

    monkeypatch.setattr(phases, "solve_in_phases", spied)
    # Nine choices; the relaxation fixes the A100 job's, and the split L4/H100 jobs' eight are
    # left to CP-SAT.
    a100 = pool("a100", "nvidia-a100-80gb", 4.0, gpu_nodes("a100", 1))
    alone = job("z", option("nvidia-a100-80gb", 1000, devices=1))
    snap = snapshot([SLOW, FAST, a100], [*split_by_the_relaxation(), alone])
    # More left than CP-SAT solves whole: the shortlist, and no earliest-start phase.
    checked(snap, replace(NOW_ONLY, whole_model_up_to=7))
    assert len(given) == 1 and isinstance(given[0], set) and given[0]
    assert early == [False]
    # No more than that: every choice.
    checked(snap, replace(NOW_ONLY, whole_model_up_to=8))
    assert len(given) == 2 and given[1] is None
    assert early == [False, True]
    # No floor to rank by (the relaxation's cost phase cut short): a shortlist still.
    monkeypatch.setattr(relaxation.Relaxation, "floor", lambda self_: None)
    checked(snap, replace(NOW_ONLY, whole_model_up_to=7))
    assert len(given) == 3 and isinstance(given[2], set) and given[2]


def test_glop_is_not_started_with_less_time_than_its_last_phase_took() -> None:
    # A phase may take as long as the last one: with less time it may not finish. A
    # deterministic solve's limits are only nets, so it always starts.
    snap = snapshot([SLOW, FAST], [job(f"j{i}", *BOTH) for i in range(3)])
    model = job_by_job(snap)
    cost = model.cost(list(model.candidates))
    for least_s, started in ((0.0, False), (5.0, True)):
        relaxed = Relaxation(model, least_s)
        assert relaxed.optimise(cost, False, 10.0) is not None
        relaxed.took = 2.0
        assert (relaxed.optimise(cost, False, 1.0) is not None) is started
        assert relaxed.optimise(cost, False, 3.0) is not None


def test_copies_that_do_not_pack_together_still_place_the_mix_that_does() -> None:
    # Found by hypothesis. Three L4 nodes, 8 GPUs each: 16 CPUs and 64 GiB, 96 CPUs and 64 GiB,
    # 16 CPUs and 1 TiB. Two copies of `a` (2 workers of 8 CPUs, 16 GiB) and two of `b` (3 of
    # 4 CPUs, 64 GiB). Pool-wide all four fit; on the nodes, b's six 64 GiB workers take every
    # node, so no three jobs with both b's pack, but a, a and b do. The cut of a mix that did
    # not pack bounded the two classes' total, and only the two b's were placed.
    def shaped(name: str, cpu: int, memory: int, workers: int) -> Job:
        one_gpu = replace(option("nvidia-l4", 500, devices=1), worker=Resources(cpu, memory, 1))
        return replace(job(name, one_gpu), min_workers=workers, max_workers=workers)

    sizes = [(16_000, 64 * 1024), (96_000, 64 * 1024), (16_000, 1024 * 1024)]
    nodes = tuple(
        Node(f"l4-{i}", Resources(cpu, memory, 8), Resources(cpu, memory, 8))
        for i, (cpu, memory) in enumerate(sizes)
    )
    l4 = replace(pool("l4", "nvidia-l4", 1.0, gpu_nodes("l4", 1)), nodes=nodes)
    jobs = [shaped(n, 8_000, 16 * 1024, 2) for n in ("a", "a2")]
    jobs += [shaped(n, 4_000, 64 * 1024, 3) for n in ("b", "b2")]
    for classes in (True, False):
        plan = checked(snapshot([l4], jobs), replace(NOW_ONLY, job_classes=classes))
        assert len(plan.placed) == 3, classes


def test_a_phase_keeps_the_previous_plan_outside_its_objective() -> None:
    # Counting the high level's jobs reads nothing of the low level's; CP-SAT's presolve sets
    # such choices as it likes (to 0), and the low level's phase would then start from nothing.
    # The plan handed on keeps them where they still fit.
    small = option("nvidia-l4", 1000, devices=1)
    jobs = [job(f"low{i}", small) for i in range(4)] + [job("high", small, priority=10)]
    snap = snapshot([pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 1))], jobs)
    model = job_by_job(snap)
    hint = sorted(model.candidates)
    backend = cpsat.CpSat(model, Counter(), hint)
    assert sum(backend.taken().values()) == 5
    assert backend.optimise(model.admitted(model.level(10)), True, 5.0, 0.0) == (1, 1)
    # All five still fit the node's 8 GPUs: the low level's four are kept.
    assert sum(backend.taken().values()) == 5
    # A required upper bound is a row the kept choices must hold as well.
    backend.require(model.admitted(model.level(0)), False, 2)
    backend.optimise(model.admitted(model.level(10)), True, 5.0, 0.0)
    assert sorted(k[0] for k in backend.taken()) == ["team-a/high", "team-a/low0", "team-a/low1"]


def test_a_job_a_phase_moved_without_reading_it_goes_back_to_its_previous_choice() -> None:
    # `j` was on the L4 node, which it fills; a phase whose objective reads only `m` moved it
    # to the H100 node. It goes back where that leaves room, stays where `m` took its room, and
    # where the phase dropped it, takes its next choice.
    j, m = (job(n, option("nvidia-l4", 1000), option("nvidia-h100", 3000)) for n in "jm")
    model = job_by_job(snapshot([ONE_L4, ONE_H100], [j, m]))
    key = by_job_and_pool(model)
    backend = cpsat.CpSat(model, Counter(), [key["j", "l4"]])
    reads_m = model.admitted([key["m", "l4"], key["m", "h100"]])
    moved = Counter([key["j", "h100"]])
    assert backend._merged(moved, reads_m) == Counter([key["j", "l4"]])
    took = Counter([key["j", "h100"], key["m", "l4"]])
    assert backend._merged(took, reads_m) == took
    dropped = Counter([key["m", "l4"]])
    assert backend._merged(dropped, reads_m) == took


def test_a_work_clock_adds_up_the_deterministic_time_of_every_solve() -> None:
    # The simulator's limits read this clock: each CP-SAT solve adds what it spent, so a later
    # phase sees the time the earlier ones took.
    small = option("nvidia-l4", 1000, devices=1)
    jobs = [job(f"low{i}", small) for i in range(4)] + [job("high", small, priority=10)]
    model = job_by_job(snapshot([pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 1))], jobs))
    clock = cpsat.WorkClock()
    backend = cpsat.CpSat(model, Counter(), sorted(model.candidates), clock=clock)
    backend.optimise(model.admitted(model.level(10)), True, 5.0, 0.0)
    first = clock()
    assert first > 0
    backend.optimise(model.cost([*model.candidates]), False, 5.0, 0.0)
    assert clock() > first


def test_a_plan_of_several_workers_is_validated_and_planned_again_with_one_if_it_breaks_a_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workers: list[int] = []
    solve_real = quarantine.solve

    def recorded(snap: Snapshot, settings: SolverSettings) -> Plan:
        workers.append(settings.num_workers)
        return solve_real(snap, settings)

    checks = iter([["pool l4 overbooked"], []])
    monkeypatch.setattr(quarantine, "solve", recorded)
    monkeypatch.setattr(quarantine, "violations", lambda snap, plan: next(checks))
    snap = snapshot([SLOW, FAST], [job("j", *BOTH)])
    plan, failed = quarantine.solve_isolated(snap, SolverSettings(num_workers=2))
    assert failed == {} and len(plan.placed) == 1
    assert workers == [2, 1]
    # One worker's plans are not checked again: they are reproducible, and tested.
    workers.clear()
    quarantine.solve_isolated(snap, SolverSettings(num_workers=1))
    assert workers == [1]


def test_a_later_start_waits_for_room_in_the_quota_not_just_the_pool() -> None:
    # One L4 node with 4 GPUs free now and 4 more in an hour (team-b's job ends). team-a's
    # quota is used up by its own job of 2 GPUs, which ends in three hours: `q` starts then,
    # not when the pool frees, nor now.
    node = gpu_nodes("l4", 1, free_gpus=4)
    two = Resources(24_000, 256 * 1024, 2)
    four = Resources(48_000, 512 * 1024, 4)
    busy = replace(
        pool("l4", "nvidia-l4", 2.0, node),
        releases=(
            Release(NOW + timedelta(hours=1), four, (("l4-0", four),)),
            Release(NOW + timedelta(hours=3), two, (("l4-0", two),)),
        ),
    )
    gpus = Quota("team-a", "gpus", {"nvidia.com/gpu": 0},
                 frees=((NOW + timedelta(hours=3), {"nvidia.com/gpu": 2}),))  # fmt: skip
    q = job("q", option("nvidia-l4", 1000, devices=2))
    plan = checked(snapshot([busy], [q], [gpus]))
    assert [d.reservation.start for d in plan.reserved if d.reservation] == [
        NOW + timedelta(hours=3)
    ]
    # With nothing of the namespace's to end, the quota never has room: it waits, and says so.
    plan = checked(snapshot([busy], [q], [replace(gpus, frees=())]))
    assert decide(plan, "team-a/q")[1] == "QuotaExceeded"


def test_a_later_start_may_take_a_wider_run_than_now_to_meet_the_deadline() -> None:
    # Both H100 nodes are busy for 3h. The job runs 6h on one node, 3h on two, and is due
    # in 8h. One worker from 15:00 misses that (6h and its margin past 20:00); two meet it.
    # Planned only at its narrowest width from now (one), it was never planned, and waited
    # without a start (an urgent one preempted instead).
    full = Resources(cpu=96_000, memory=1024 * 1024, gpu=8)
    nodes = gpu_nodes("h100", 2, free_gpus=0)
    frees = Release(
        NOW + timedelta(hours=3), replace(full, gpu=16), tuple((n.name, full) for n in nodes)
    )
    busy = replace(pool("h100", "nvidia-h100", 8.0, nodes), releases=(frees,))
    flexible = job("j", option("nvidia-h100", 1000), work=6 * 3_600_000.0, min_workers=1,
                   max_workers=2, deadline=NOW + timedelta(hours=8))  # fmt: skip
    plan = checked(snapshot([busy], [flexible]))
    (decision,) = plan.decisions
    assert decision.reason == "Reserved"
    assert decision.reservation is not None
    assert decision.reservation.start == NOW + timedelta(hours=3)
    assert decision.reservation.candidate.workers == 2
    (row,) = decision.options
    assert (row.verdict, row.candidate.workers) == ("planned", 2)
    assert (
        row.note == "starts ~15:00 UTC, when pool h100 frees, at x2 to meet the deadline from then"
    )


@pytest.mark.parametrize(("due_min", "pool_chosen"), [(80, "h100"), (90, None)])
def test_a_later_start_keeps_a_fifth_of_the_run_before_the_deadline(
    due_min: int, pool_chosen: str | None
) -> None:
    # The L4 frees in 15m; b runs 1h there. Due in 80m, waiting would end it at 75m, but a
    # later start keeps 12m in hand (87m): b starts now on the H100. Due in 90m, it waits.
    first = job("a", BOTH[0], work=900_000.0)
    b = job("b", *BOTH, deadline=NOW + timedelta(minutes=due_min))
    chosen, reason, _ = decide(checked(snapshot([ONE_L4, ONE_H100], [first, b])), "team-a/b")
    assert (chosen, reason) == (pool_chosen, "Admitted" if pool_chosen else "Reserved")


@pytest.mark.parametrize(("max_wait_min", "reason"), [(10, "Admitted"), (None, "Reserved")])
def test_a_job_s_own_max_wait_bounds_how_long_it_is_held_for_a_cheaper_pool(
    max_wait_min: int | None, reason: str
) -> None:
    # The L4 frees in 15m. With spec.maxWait 10m, b is not held for it: it starts on the H100.
    first = job("a", BOTH[0], work=900_000.0)
    wait = None if max_wait_min is None else max_wait_min * 60.0
    b = job("b", *BOTH, created=NOW, max_wait_s=wait)
    assert decide(checked(snapshot([ONE_L4, ONE_H100], [first, b])), "team-a/b")[1] == reason


def test_a_planned_start_is_a_new_promise_when_it_appears_goes_or_moves_past_five_minutes() -> None:
    later = NOW + timedelta(hours=2)
    assert not plan_moved(None, None, NOW)
    assert plan_moved(None, later, NOW) and plan_moved(later, None, NOW)
    for moved_s, new in [(0, False), (300, False), (301, True)]:
        assert plan_moved(later, later + timedelta(seconds=moved_s), NOW) is new
        assert plan_moved(later + timedelta(seconds=moved_s), later, NOW) is new


def test_a_planned_start_already_past_is_rewritten_by_any_move() -> None:
    # A job still waiting at 10:01 was shown "planned 10:00" until the plan moved 5 minutes.
    told = NOW - timedelta(minutes=1)
    assert plan_moved(told, NOW + timedelta(minutes=1), NOW)
    assert plan_moved(NOW, NOW + timedelta(seconds=60), NOW)
    assert not plan_moved(told, told, NOW)
    # Still ahead, it is held to: a move within five minutes is no new promise.
    assert not plan_moved(NOW + timedelta(seconds=1), NOW + timedelta(seconds=60), NOW)


def test_a_pool_s_many_releases_are_thinned_to_evenly_spread_slots() -> None:
    # 30 running jobs ending every 10 minutes: 12 slots, the first and the last kept.
    free = Resources(cpu=8000, memory=64 * 1024, gpu=8)
    ends = tuple(Release(NOW + timedelta(minutes=10 * i), free) for i in range(1, 31))
    busy = replace(SLOW, releases=ends)
    slots = release_slots(busy, NOW, LookAhead(max_slots=12), planned_ends=[])
    assert len(slots) == 12
    assert (slots[0], slots[-1]) == (600, 18_000)
    assert slots == sorted(set(slots))
    gaps = {b - a for a, b in itertools.pairwise(slots)}
    assert gaps <= {1200, 1800}  # spread evenly: every second or third end
    # Past the horizon, none; within it, every end while they are few.
    assert release_slots(busy, NOW, LookAhead(horizon_s=3000)) == [600, 1200, 1800, 2400, 3000]


def test_an_overdue_job_holds_its_earliest_room_and_only_shorter_jobs_go_first() -> None:
    # One L4 node: 4 GPUs free, 4 more when a running job ends at 13:00. "wide" needs all 8
    # and has waited 30 h (past its 24 h max wait); "long" (2 h) and "short" (30m) need 4.
    # Before, an overdue job could only start now: "long" took the 4 free GPUs and "wide"
    # waited for it too, with no reservation. Now "wide" holds 13:00, "short" ends before it.
    half = Resources(cpu=48_000, memory=512 * 1024, gpu=4)
    (node,) = gpu_nodes("l4", 1, free_gpus=4)
    l4 = replace(
        pool("l4", "nvidia-l4", 2.0, (node,)),
        releases=(Release(NOW + timedelta(hours=1), half, (("l4-0", half),)),),
    )
    jobs = [
        job("wide", option("nvidia-l4", 1000), created=NOW - timedelta(hours=30)),
        job("long", option("nvidia-l4", 500, devices=4), created=NOW),
        job("short", option("nvidia-l4", 2000, devices=4), created=NOW),
    ]
    plan = checked(snapshot([l4], jobs))
    wide, long = decide(plan, "team-a/wide"), decide(plan, "team-a/long")
    assert wide[1:] == (
        "Reserved",
        "no room now: l4 x1 planned at ~13:00 UTC, when the pool frees, for 16.00 USD; "
        "overdue, so the room is held for it: others start there only if they end first",
    )
    assert decide(plan, "team-a/short")[:2] == ("l4", "Admitted")
    assert long[1] == "Reserved" and "planned at ~14:00 UTC" in long[2]


def test_a_plan_that_holds_overdue_jobs_their_rooms_beats_one_that_starts_one_of_them_now() -> None:
    # The greedy plan starts b (overdue 25 h) now; a round's plan holds a (30 h) the room at
    # 13:00 and b the room at 14:00. Ranked by the overdue hours started now alone, the greedy
    # plan won and every reservation was dropped (76 of 1,470 cycles of the replay without
    # deadlines at x0.5 ended on it).
    wide = option("nvidia-l4", 1000)
    a, b = (job(n, wide, created=NOW - timedelta(hours=h)) for n, h in (("a", 30), ("b", 25)))
    l4 = pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", 1))
    ca, cb = (candidates(j, (l4,), NOW, "USD")[0] for j in (a, b))
    held = [(ca, 3600), (cb, 7200)]
    assert solver._better(held, [(cb, ())], [0], True, NOW, LookAhead())
    assert not solver._better([], [(cb, ())], [0], True, NOW, LookAhead())
