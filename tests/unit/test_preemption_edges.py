"""Preemption at its edges: choices between options, preemptors and victims, quotas and budgets,
later starts of the preemptor's own priority, and the notes a waiting job is given."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

from factory import NOW, gpu_nodes, job, option, pool, snapshot

from pricewise.core.costmodel import candidate_for
from pricewise.core.preemption import (
    Preemption,
    PreemptionSettings,
    RunningJob,
    preemption_note,
    preemptions,
    preemptor_message,
)
from pricewise.core.settings import SolverSettings
from pricewise.core.snapshot import BudgetView, Node, Quota, Release, Resources
from pricewise.core.solver import solve

SETTINGS = SolverSettings(time_limit_s=5.0)
USD_PER_H = 1e6 / 3600  # per_second of a run that costs 1.00 USD an hour


def gpus(n: int) -> Resources:
    return Resources(cpu=8000, memory=64 * 1024, gpu=n)


def run(key: str, pool_name: str, node: str, n: int = 8, age_h: float = 1.0, priority: int = 0,
        usd_h: float = 3.6, **kw: object) -> RunningJob:  # fmt: skip
    return RunningJob(key, priority, pool_name, gpus(n), (node,), NOW - timedelta(hours=age_h),
                      usd_h * USD_PER_H, **kw)  # fmt: skip


def full(name: str, price: float, *free: int, accelerator: str = "nvidia-h100", **kw: object):
    nodes = tuple(replace(n, free=replace(n.free, gpu=f)) for n, f in
                  zip(gpu_nodes(name, len(free)), free, strict=True))  # fmt: skip
    return pool(name, accelerator, price, nodes, **kw)


def made_by(pools, jobs, running, **kw):
    snap = snapshot(pools, jobs, **kw)
    decisions = solve(snap, SETTINGS).decisions
    return decisions, [(m.candidate.job.name, m.candidate.pool.name, [v.key for v in m.victims])
                       for m in preemptions(snap, decisions, running)]  # fmt: skip


def test_an_option_without_victims_does_not_stop_the_next_one_from_preempting() -> None:
    # The cheaper pool's run was too young to requeue, and the search for room ended there.
    cheap, dear = full("cheap", 3.0, 0), full("dear", 4.0, 0)
    urgent = job("urgent", option("nvidia-h100", 1000.0), priority=10)
    young, old = run("a/young", "cheap", "cheap-0", age_h=0.05), run("a/old", "dear", "dear-0")
    assert made_by([cheap, dear], [urgent], [young, old])[1] == [("urgent", "dear", ["a/old"])]


def test_a_preemptor_that_finds_no_room_does_not_stop_the_next_one() -> None:
    # The first preemptor found nothing to requeue, and the second was never tried.
    a100 = full("a100", 3.0, 0, accelerator="nvidia-a100")
    h100 = full("h100", 3.0, 0)
    first = job("first", option("nvidia-a100", 1000.0), priority=10)
    second = job("second", option("nvidia-h100", 1000.0), priority=5)
    running = [run("a/top", "a100", "a100-0", priority=30), run("a/low", "h100", "h100-0")]
    assert made_by([a100, h100], [first, second], running)[1] == [("second", "h100", ["a/low"])]


def test_of_two_preemptors_of_one_priority_the_older_takes_the_victim() -> None:
    # Of two of one priority, the order fell to their names: the newer `a` took the victim.
    h100 = full("h100", 3.0, 0)
    a = job("a", option("nvidia-h100", 1000.0), priority=10, created=NOW - timedelta(minutes=5))
    b = job("b", option("nvidia-h100", 1000.0), priority=10, created=NOW - timedelta(hours=1))
    assert made_by([h100], [a, b], [run("x/low", "h100", "h100-0")])[1] == [
        ("b", "h100", ["x/low"])
    ]


def test_the_way_that_loses_least_work_plus_its_own_cost_wins() -> None:
    # The urgent job costs 24.00 USD on cheap, 32.00 on dear; each victim loses its hour.
    cheap, dear = full("cheap", 3.0, 0), full("dear", 4.0, 0)
    urgent = job("urgent", option("nvidia-h100", 1000.0), priority=10)
    saved = {"reported_s": math.inf}  # all of its work is saved: it loses nothing

    def where(cheap_loses: float, dear_loses: float) -> str:
        runs = [
            run("a/c", "cheap", "cheap-0", usd_h=cheap_loses, **(saved if not cheap_loses else {})),
            run("a/d", "dear", "dear-0", usd_h=dear_loses, **(saved if not dear_loses else {})),
        ]
        (found,) = made_by([cheap, dear], [urgent], runs)[1]
        return found[1]

    assert where(20.0, 0.0) == "dear"  # 32 + 0 < 24 + 20
    assert where(0.0, 5.0) == "cheap"  # 24 + 0 < 32 + 5
    assert where(8.0, 0.0) == "cheap"  # a tie keeps the cheaper option


def test_fewest_loss_victims_are_kept_when_either_of_two_would_do() -> None:
    # A gang of two 8-GPU workers: node 0 (12 GPUs) has 4 free beside a/1 (4, loses 1 h) and
    # a/2 (4, 2 h); node 1 holds a/3 (8, 3 h). Either of a/1 or a/2 with a/3 makes room: a/1
    # loses less, and a/2 is spared.
    twelve = Resources(cpu=96_000, memory=1024 * 1024, gpu=12)
    eight = Resources(cpu=96_000, memory=1024 * 1024, gpu=8)
    nodes = (Node("h-0", twelve, replace(twelve, gpu=4)), Node("h-1", eight, replace(eight, gpu=0)))
    h = pool("h", "nvidia-h100", 3.0, nodes)
    gang = job("gang", option("nvidia-h100", 1000.0), priority=10, min_workers=2, max_workers=2)
    runs = [run("a/1", "h", "h-0", 4, usd_h=1.0), run("a/2", "h", "h-0", 4, usd_h=2.0),
            run("a/3", "h", "h-1", 8, usd_h=3.0)]  # fmt: skip
    assert made_by([h], [gang], runs)[1] == [("gang", "h", ["a/1", "a/3"])]


def test_no_run_is_requeued_for_an_option_a_quota_or_budget_refuses() -> None:
    # Options: h100 (young run: no victim), tpu (no TPU quota left; an old run there), a100 (an
    # old run): only a100 may preempt. The tpu run was requeued for an option the quota
    # refuses, or the search stopped at that option.
    h100 = full("h100", 1.0, 0)
    tpu = full("tpu", 2.0, 0, accelerator="tpu-v5e")
    tpu = replace(
        tpu,
        nodes=tuple(
            replace(
                n,
                allocatable=replace(n.allocatable, gpu=0, tpu=8),
                free=replace(n.free, gpu=0, tpu=0),
            )
            for n in tpu.nodes
        ),
    )
    a100 = full("a100", 3.0, 0, accelerator="nvidia-a100")
    tpu_worker = Resources(cpu=8000, memory=64 * 1024, tpu=8)
    on_tpu = replace(option("tpu-v5e", 1000.0), worker=tpu_worker, index=1)
    urgent = job("urgent", option("nvidia-h100", 1000.0), on_tpu, option("nvidia-a100", 1000.0),
                 priority=10)  # fmt: skip
    urgent = replace(
        urgent, options=tuple(replace(o, index=i) for i, o in enumerate(urgent.options))
    )
    quota = Quota("team-a", "tpu", {"google.com/tpu": 0})
    limit = BudgetView("team-a", "monthly", 10**12, 0, 0, hard=True)
    tpu_run = replace(run("a/tpu", "tpu", "tpu-0"), worker=tpu_worker)
    runs = [run("a/young", "h100", "h100-0", age_h=0.05), tpu_run, run("a/a100", "a100", "a100-0")]
    decisions, found = made_by([h100, tpu, a100], [urgent], runs, quotas=[quota], budgets=[limit])
    assert decisions[0].reason == "WaitingForCapacity"
    assert found == [("urgent", "a100", ["a/a100"])]


def test_a_reservation_s_cost_is_held_against_the_budget_before_preempting() -> None:
    # `top` is planned on a100 when x/mid ends; `urgent`'s 24.00 USD on h100 fits a 40.00 USD
    # budget alone, not beside top's 24.00. Without top's cost held, x/low was requeued for a
    # run the budget refuses.
    whole = gpus(8)
    ends = Release(NOW + timedelta(hours=1), whole, (("a100-0", whole),), "x/mid")
    a100 = replace(full("a100", 3.0, 0, accelerator="nvidia-a100"), releases=(ends,))
    h100 = full("h100", 3.0, 0)
    top = job("top", option("nvidia-a100", 1000.0), priority=20, deadline=NOW + timedelta(hours=6))
    urgent = job("urgent", option("nvidia-h100", 1000.0), priority=10)
    runs = [run("x/low", "h100", "h100-0", age_h=3), run("x/mid", "a100", "a100-0", priority=30)]
    roomy = BudgetView("team-a", "monthly", 10**9, 0, 0, hard=True)
    decisions, found = made_by([a100, h100], [top, urgent], runs, budgets=[roomy])
    assert {d.job.name: d.reason for d in decisions} == {
        "top": "Reserved",
        "urgent": "WaitingForCapacity",
    }
    assert found == [("urgent", "h100", ["x/low"])]
    tight = replace(roomy, limit=40_000_000)
    assert made_by([a100, h100], [top, urgent], runs, budgets=[tight])[1] == []


def test_a_later_start_of_the_preemptor_s_own_priority_keeps_its_room() -> None:
    # `top` (10, 1 h) is planned when x/low ends in an hour; `urgent` (10, 3 h) cannot wait for
    # it: requeueing x/low for urgent would take top's room at its start. x/low was requeued
    # where a later start of the same priority was not counted, or x/low's end was counted as
    # room twice.
    whole = gpus(8)
    ends = Release(NOW + timedelta(hours=1), whole, (("h100-0", whole),), "x/low")
    h100 = replace(full("h100", 3.0, 0), releases=(ends,))
    top = job("top", option("nvidia-h100", 1000.0), priority=10, deadline=NOW + timedelta(hours=6))
    urgent = job("urgent", option("nvidia-h100", 1000.0), priority=10, work=3 * 3_600_000.0,
                 deadline=NOW + timedelta(hours=3.5))  # fmt: skip
    decisions, found = made_by([h100], [top, urgent], [run("x/low", "h100", "h100-0", age_h=3)])
    assert {d.job.name: d.reason for d in decisions} == {
        "top": "Reserved",
        "urgent": "WaitingForCapacity",
    }
    assert found == []


def test_a_later_start_of_the_preemptor_s_priority_after_its_run_lets_it_preempt() -> None:
    # `now` (20) runs on h100-1 for an hour; `top` (10, two nodes) is planned when x/low ends in
    # two hours; `urgent` (10, 30 min) cannot wait: x/low requeued, urgent ends long before top
    # starts, and top has h100-1 back by then. The preemption was refused where `top` was moved
    # to now, or the room `now` gives back when it ends was not counted.
    whole = gpus(8)
    ends = Release(NOW + timedelta(hours=2), whole, (("h100-0", whole),), "x/low")
    h100 = replace(full("h100", 3.0, 0, 8), releases=(ends,))
    first = job("now", option("nvidia-h100", 1000.0), priority=20)
    top = job("top", option("nvidia-h100", 1000.0), priority=10, min_workers=2, max_workers=2,
              deadline=NOW + timedelta(hours=6))  # fmt: skip
    urgent = job("urgent", option("nvidia-h100", 1000.0), priority=10, work=1_800_000.0,
                 deadline=NOW + timedelta(minutes=45))  # fmt: skip
    decisions, found = made_by(
        [h100], [first, top, urgent], [run("x/low", "h100", "h100-0", age_h=3)]
    )
    assert {d.job.name: d.reason for d in decisions} == {
        "now": "Admitted", "top": "Reserved", "urgent": "WaitingForCapacity"
    }  # fmt: skip
    assert found == [("urgent", "h100", ["x/low"])]


def test_the_preemptor_names_every_victim() -> None:
    gang = job("u", option("nvidia-h100", 1000.0), min_workers=2, max_workers=2)
    cand = candidate_for(gang, gang.options[0], full("h100", 3.0, 0, 0), NOW, "USD")
    a, b = run("a/x", "h100", "h100-0"), run("a/y", "h100", "h100-1", priority=3)
    assert preemptor_message(Preemption(cand, (a, b), 7_200_000), "USD") == (
        f"preempting a/x (priority 0), a/y (priority 3) to start on {cand.label()} (24.00 USD); "
        "their lost work: 7.20 USD"
    )


def test_progress_of_a_run_planned_for_no_time_or_a_second() -> None:
    # A run planned for no time divided by zero; one planned for a second, all of it saved,
    # read as no progress.
    done = run("a/x", "h100", "h100-0", reported_s=math.inf)
    assert replace(done, run_s=0.0).progress(NOW, 0.25) == 0.25
    assert replace(done, run_s=1.0).progress(NOW, 0.25) == 1.0


def test_the_note_of_a_job_on_two_pools_names_both_and_reads_pools_without_runs() -> None:
    # A pool with no run failed the note; both pools must be named ("pools empty, busy"); a job
    # of priority 1 was told nothing, as one of priority 0 is.
    empty, busy = full("empty", 2.0, 0), full("busy", 3.0, 0)
    urgent = job("urgent", option("nvidia-h100", 1000.0), priority=10)
    (decision,) = solve(snapshot([empty, busy], [urgent]), SETTINGS).decisions
    young = {"busy": [run("a/young", "busy", "busy-0", age_h=0.05)]}
    assert preemption_note(decision, young, 600.0, NOW) == (
        "; it preempts only runs of 10m or more, which the jobs of lower priority on pools "
        "empty, busy reach from ~12:07 UTC"
    )
    one = replace(urgent, priority=1)
    (decision,) = solve(snapshot([busy], [one]), SETTINGS).decisions
    assert preemption_note(decision, {}, 600.0, NOW) == (
        "; it cannot preempt: no job of lower priority than its 1 runs on pool busy"
    )


def test_a_run_of_equal_priority_is_not_counted_as_room_preemption_could_free() -> None:
    # A young run of lower priority (4 GPUs) beside one of equal priority (4 GPUs) was said to
    # be what stands in the way: the equal one was counted as room too.
    busy = full("busy", 3.0, 0)
    urgent = job("urgent", option("nvidia-h100", 1000.0), priority=10)
    (decision,) = solve(snapshot([busy], [urgent]), SETTINGS).decisions
    runs = {"busy": [run("a/young", "busy", "busy-0", 4, age_h=0.05),
                     run("a/peer", "busy", "busy-0", 4, priority=10)]}  # fmt: skip
    assert preemption_note(decision, runs, PreemptionSettings().min_run_s, NOW) == (
        "; requeueing the jobs of lower priority on pool busy would not free enough room for it"
    )


def test_a_same_priority_later_start_that_fits_after_the_preemptor_keeps_its_start() -> None:
    # `top` (10), planned when x/low ends in two hours, was moved to now beside `urgent` (10,
    # 30 min), and the preemption refused.
    whole = gpus(8)
    ends = Release(NOW + timedelta(hours=2), whole, (("h100-0", whole),), "x/low")
    h100 = replace(full("h100", 3.0, 0), releases=(ends,))
    top = job("top", option("nvidia-h100", 1000.0), priority=10, deadline=NOW + timedelta(hours=6))
    urgent = job("urgent", option("nvidia-h100", 1000.0), priority=10, work=1_800_000.0,
                 deadline=NOW + timedelta(minutes=45))  # fmt: skip
    decisions, found = made_by([h100], [top, urgent], [run("x/low", "h100", "h100-0", age_h=3)])
    assert {d.job.name: d.reason for d in decisions} == {
        "top": "Reserved",
        "urgent": "WaitingForCapacity",
    }
    assert found == [("urgent", "h100", ["x/low"])]
