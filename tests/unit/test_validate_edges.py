"""The independent check of a plan at its edges: each rule a broken plan breaks is named, and a
valid plan at a rule's very edge is not refused. The operator checks a plan of several CP-SAT
workers with it and plans again with one where it finds a fault: a rule it misses lets a bad
plan (an over-committed node, a spent budget) through, and one it sees where there is none
costs a cycle a second solve."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from factory import NOW, gpu_nodes, job, option, pool, snapshot

from pricewise.core.costmodel import Candidate, Stage, candidate_for
from pricewise.core.explain import Decision
from pricewise.core.lookahead import Reservation
from pricewise.core.snapshot import (
    GPU,
    BudgetView,
    Job,
    JobOption,
    Node,
    Pool,
    PoolPrices,
    Quota,
    Release,
    Resources,
    Snapshot,
)
from pricewise.core.solver import Plan
from pricewise.core.units import to_micros
from pricewise.core.validate import violations

L4 = option("nvidia-l4", 1000.0)
"""One worker of 8 GPUs, 8 CPUs and 64 GiB: an hour of a job's work, 16.00 USD on `_l4`."""
WORKER = L4.worker
ONE_GPU = option("nvidia-l4", 1000.0, devices=1)


def _l4(nodes: int = 1, free_gpus: int | None = None, **kw: object) -> Pool:
    return replace(pool("l4", "nvidia-l4", 2.0, gpu_nodes("l4", nodes, free_gpus=free_gpus)), **kw)


def _cand(j: Job, p: Pool, opt: JobOption | None = None) -> Candidate:
    return candidate_for(j, opt or j.options[0], p, NOW, "USD")


def _placed(j: Job, cand: Candidate, *nodes: str) -> Decision:
    return Decision(j, cand, nodes or ("l4-0",) * cand.workers, "Admitted", "", ())


def _reserved(j: Job, cand: Candidate, hours: float) -> Decision:
    later = Reservation(cand, NOW + timedelta(hours=hours))
    return Decision(j, None, (), "Planned", "", (), later)


def _waits(j: Job) -> Decision:
    return Decision(j, None, (), "Waiting", "", ())


def _check(snap: Snapshot, *decisions: Decision) -> list[str]:
    return violations(snap, Plan(tuple(decisions), "optimal", 0, None, 0.0, 0))


def test_a_job_decided_twice_and_a_job_after_one_that_waits_are_both_caught() -> None:
    # A waiting job ended the check (`break`), so that no job after it was looked at; a job
    # decided twice was not named.
    j, k = job("j", L4), job("k", L4, max_duration_s=1800.0)
    p = _l4()
    snap = snapshot([p], [j, k])
    assert _check(snap, _waits(j), _placed(k, _cand(job("k", L4), p))) == [
        "team-a/k: runs longer than maxDuration"
    ]
    assert _check(snap, _placed(j, _cand(j, p)), _waits(j)) == ["a job is decided twice"]


def test_a_plan_that_breaks_rules_of_every_kind_is_told_each_one() -> None:
    # A later check's findings replaced the earlier ones' (`problems = ...`): a plan breaking a
    # job's spec and a quota read as breaking the quota only.
    p = _l4(nodes=2)
    j, k, r = job("j", L4, max_cost=1), job("k", L4), job("r", L4)
    quota = Quota("team-a", "q", {GPU: 0})
    budget = BudgetView("team-a", "b", limit=0, spent=0, committed=0, hard=True)
    snap = snapshot([p], [j, k, r], [quota], [budget])
    cand = _cand(k, p)
    problems = _check(
        snap,
        _placed(j, replace(cand, job=j)),
        _placed(k, cand),
        _reserved(r, replace(cand, job=r), 0.5),
        _waits(k),
    )
    expected = [
        "a job is decided twice",
        "team-a/j: over maxCost",
        "pool l4 overbooked at +1800s: Resources(cpu=168000, memory=1900544, gpu=-8, tpu=0)",
        "quota team-a/q exceeded on nvidia.com/gpu at +1800s",
        "node l4-0 over-committed: Resources(cpu=80000, memory=917504, gpu=-8, tpu=0)",
        "quota team-a/q exceeded on nvidia.com/gpu",
        "hard budget team-a/b exceeded",
    ]
    assert [s for s in problems if "later starts" not in s] == expected


def test_an_option_or_a_pool_not_offered_is_caught_each_alone() -> None:
    # Caught only where neither was offered: an option the job never listed, or a pool the
    # snapshot does not have, passed alone.
    j, p = job("j", L4), _l4()
    cand = _cand(j, p)
    other = replace(L4, throughput=2000.0)
    unlisted = replace(cand, option=other, throughput=2000.0, duration_s=1800.0, cost=8_000_000)
    assert "team-a/j: option or pool not offered" in _check(
        snapshot([p], [j]), _placed(j, unlisted)
    )
    elsewhere = snapshot([replace(p, name="other")], [j])
    assert "team-a/j: option or pool not offered" in _check(elsewhere, _placed(j, cand))


def test_each_rule_of_a_job_s_own_spec_is_named_when_broken() -> None:
    # Each sentence is what the operator logs when it plans again with one worker.
    p, spot = _l4(nodes=2), _l4(capacity_type="spot")
    j = job("j", L4)
    cand = _cand(j, p)
    h100 = replace(p, accelerator="nvidia-h100")
    assert _check(snapshot([h100], [j]), _placed(j, replace(cand, pool=h100))) == [
        "team-a/j: accelerator mismatch"
    ]
    assert _check(snapshot([spot], [j]), _placed(j, replace(cand, pool=spot))) == [
        "team-a/j: spot pool without allowSpot"
    ]
    two = _cand(job("j", L4, min_workers=2, max_workers=2), p)
    assert _check(snapshot([p], [j]), _placed(j, two, "l4-0", "l4-1")) == [
        "team-a/j: 2 workers outside the allowed range"
    ]
    assert _check(snapshot([p], [j]), _placed(j, cand, "l4-0", "l4-1")) == [
        "team-a/j: 2 nodes for 1 workers"
    ]
    late = replace(j, deadline=NOW + timedelta(minutes=59))
    assert _check(snapshot([p], [late]), _placed(late, cand)) == [
        "team-a/j: finishes after the deadline"
    ]


def test_a_worker_on_a_node_of_another_pool_is_caught_and_the_rest_still_counted() -> None:
    # After a node not in the pool the job's other nodes were no longer counted (`break`): the
    # second worker over-committed its node unseen.
    p = _l4(nodes=2, free_gpus=0)
    j = job("j", L4, min_workers=2, max_workers=2)
    assert _check(snapshot([p], [j]), _placed(j, _cand(j, _l4(nodes=2)), "gone", "l4-1")) == [
        "team-a/j: node gone is not in pool l4",
        "pool l4 overbooked at +0s: Resources(cpu=176000, memory=1966080, gpu=-16, tpu=0)",
        "node l4-1 over-committed: Resources(cpu=88000, memory=983040, gpu=-8, tpu=0)",
    ]


def test_two_jobs_on_one_node_that_holds_one_over_commit_it() -> None:
    # A worker added its requests back to the node's room, and no node was ever full.
    p = _l4()
    j, k = job("j", L4), job("k", L4)
    problems = _check(snapshot([p], [j, k]), _placed(j, _cand(j, p)), _placed(k, _cand(k, p)))
    assert "node l4-0 over-committed: Resources(cpu=80000, memory=917504, gpu=-8, tpu=0)" in (
        problems
    )


def test_a_recorded_cost_is_allowed_a_micro_unit_of_rounding_and_no_more() -> None:
    # One more micro-unit of tolerance passed a cost model off by two; none flagged rounding.
    j, p = job("j", L4), _l4()
    cand, snap = _cand(j, p), snapshot([p], [j])
    assert _check(snap, _placed(j, replace(cand, cost=cand.cost + 1))) == []
    assert _check(snap, _placed(j, replace(cand, cost=cand.cost + 2))) == [
        "team-a/j: cost 16000002 recorded, the formula gives 16000000"
    ]
    # A billionth of a large cost is float noise, not a fault: 62,500 hours at 16.00 USD.
    big = job("big", L4, work=3_600_000.0 * 62_500)
    large = _cand(big, p)
    assert _check(snapshot([p], [big]), _placed(big, replace(large, cost=large.cost + 500))) == []


def test_a_recorded_duration_is_allowed_a_millionth_and_no_more() -> None:
    # A millionth of the run (at least a microsecond) is float noise; more is a wrong run time.
    j, p = job("j", L4), _l4()
    cand, snap = _cand(j, p), snapshot([p], [j])
    assert _check(snap, _placed(j, replace(cand, duration_s=3600.001))) == []
    assert _check(snap, _placed(j, replace(cand, duration_s=3600.01))) == [
        "team-a/j: duration 3600.01s recorded, formula 3600.0s"
    ]
    short = job("s", L4, work=1000.0)  # a one-second run
    quick = _cand(short, p)
    assert _check(snapshot([p], [short]), _placed(short, replace(quick, duration_s=1.0000015))) == [
        "team-a/s: duration 1.0000015s recorded, formula 1.0s"
    ]


def test_limits_of_a_job_s_spec_met_exactly_are_met() -> None:
    # At minThroughput, maxCost or value exactly, the plan is valid; a unit past, it is not.
    j, p = job("j", L4), _l4()
    cand = _cand(j, p)
    exact = replace(j, min_throughput=1000.0, max_cost=cand.cost, value=cand.cost)
    assert _check(snapshot([p], [exact]), _placed(exact, cand)) == []
    past = replace(j, min_throughput=1000.5, max_cost=cand.cost - 1, value=cand.cost - 1)
    assert _check(snapshot([p], [past]), _placed(past, cand)) == [
        "team-a/j: below minThroughput",
        "team-a/j: over maxCost",
        "team-a/j: costs more than its value",
    ]


def test_min_throughput_counts_the_scaling_efficiency_against_the_job() -> None:
    # Two workers at 90 % scaling make 1,800 units/s, not 2,000 (nor 2,222, divided by it).
    p = _l4(nodes=2)
    wide = job("j", L4, min_workers=2, max_workers=2, scaling_efficiency=0.9)
    cand = _cand(wide, p)
    slow = replace(wide, min_throughput=1900.0)
    assert _check(snapshot([p], [slow]), _placed(slow, cand, "l4-0", "l4-1")) == [
        "team-a/j: below minThroughput"
    ]


def test_costs_are_recomputed_for_spot_gangs_tpus_and_node_prices() -> None:
    # A valid plan of each kind reads valid: the formula written out again counts reclaims by
    # the gang's nodes, TPU chips as devices, and a node price by the pool's largest node (by
    # devices first) and the worker's largest share of it, a single GPU included.
    spot = replace(_l4(nodes=2, capacity_type="spot"), interruption_rate=0.2)
    gang = job("g", L4, min_workers=2, max_workers=2, allow_spot=True, checkpoint_s=600.0)
    tpu_worker = Resources(cpu=8000, memory=64 * 1024, tpu=4)
    tpu_option = JobOption("tpu-v5e", 4, tpu_worker, 1000.0)
    tpu_nodes = (Node("tpu-0", tpu_worker, tpu_worker),)
    tpus = Pool("tpu", "tpu-v5e", "on-demand", PoolPrices(per_device_hour=1_000_000), tpu_nodes)
    t = job("t", tpu_option)
    wide = Resources(cpu=128_000, memory=512 * 1024, gpu=4)
    deep = Resources(cpu=96_000, memory=1024 * 1024, gpu=8)
    by_node = PoolPrices(per_node_hour=to_micros(10.0))
    mixed = Pool("mix", "nvidia-l4", "on-demand", by_node,
                 (Node("wide", wide, wide), Node("deep", deep, deep)))  # fmt: skip
    m = job("m", ONE_GPU)
    single = Resources(cpu=16_000, memory=64 * 1024, gpu=1)
    small = Pool("one", "nvidia-l4", "on-demand", by_node, (Node("one-0", single, single),))
    s = job("s", replace(ONE_GPU, worker=Resources(cpu=4000, memory=16 * 1024, gpu=1)))
    for p, j, nodes in (
        (spot, gang, ("l4-0", "l4-1")),
        (tpus, t, ("tpu-0",)),
        (mixed, m, ("deep",)),
        (small, s, ("one-0",)),
    ):
        cand = _cand(j, p)
        assert cand.feasible and cand.cost > 0
        assert _check(snapshot([p], [j]), _placed(j, cand, *nodes)) == [], p.name


def test_every_resource_a_quota_counts_is_counted() -> None:
    # A quota of pods, CPU or memory used up let another worker in: only GPUs were counted.
    j, p = job("j", L4), _l4()
    used_up = Quota("team-a", "q", {GPU: 0, "cpu": 0, "memory": 0, "pods": 0})
    elsewhere = Quota("team-b", "q", {GPU: 0})
    assert _check(snapshot([p], [j], [used_up, elsewhere]), _placed(j, _cand(j, p))) == [
        f"quota team-a/q exceeded on {r}" for r in (GPU, "cpu", "memory", "pods")
    ]
    exact = Quota("team-a", "q", {GPU: 8, "cpu": 8000, "memory": 64 * 1024, "pods": 1})
    assert _check(snapshot([p], [j], [exact]), _placed(j, _cand(j, p))) == []


def test_a_hard_budget_counts_every_placement_and_later_start_of_its_namespace() -> None:
    # The spend was the last job's alone (`=`), or subtracted: two jobs of 16.00 USD fit a
    # budget of 20.00 USD left; a budget used up still took a job of one micro-unit.
    p = _l4(nodes=2)
    j, k = job("j", L4), job("k", L4)
    left = BudgetView("team-a", "b", limit=to_micros(20.0), spent=0, committed=0, hard=True)
    soft = replace(left, name="soft", hard=False)
    snap = snapshot([p], [j, k], budgets=[left, soft])
    both = _placed(j, _cand(j, p)), _placed(k, _cand(k, p), "l4-1")
    assert _check(snap, *both) == ["hard budget team-a/b exceeded"]
    later = _placed(j, _cand(j, p)), _reserved(k, _cand(k, p), 2)
    assert _check(snap, *later) == ["hard budget team-a/b exceeded"]
    assert _check(snap, _placed(j, _cand(j, p))) == []
    cheap = replace(_l4(), prices=PoolPrices(per_device_hour=1))
    tiny = job("tiny", ONE_GPU)
    cand = _cand(tiny, cheap)
    assert cand.cost == 1
    spent = BudgetView("team-a", "b", limit=10, spent=10, committed=0, hard=True)
    assert _check(snapshot([cheap], [tiny], budgets=[spent]), _placed(tiny, cand)) == [
        "hard budget team-a/b exceeded"
    ]


def test_a_reservation_is_checked_against_its_own_job() -> None:
    # Placed and reserved at once, reserved for now, ending past the deadline, or on an option
    # it cannot use: each is named; one ending at the deadline exactly is valid.
    j, p = job("j", L4), _l4(nodes=2)
    cand = _cand(j, p)
    snap = snapshot([p], [j])
    both = Decision(
        j, cand, ("l4-0",), "Admitted", "", (), Reservation(cand, NOW + timedelta(hours=1))
    )
    assert _check(snap, both) == ["team-a/j: placed now and reserved for later"]
    assert _check(snap, _reserved(j, cand, 0)) == [
        "team-a/j: reserved for a start that is not later"
    ]
    due = replace(j, deadline=NOW + timedelta(hours=2))
    assert _check(snapshot([p], [due]), _reserved(due, cand, 1)) == []
    assert _check(snapshot([p], [due]), _reserved(due, cand, 1.5)) == [
        "team-a/j: its reservation ends after the deadline"
    ]
    h100 = replace(p, accelerator="nvidia-h100")
    assert _check(snapshot([h100], [j]), _reserved(j, replace(cand, pool=h100), 1)) == [
        "team-a/j: reserved on an option it cannot use"
    ]
    refused = cand.restaged(Stage.TIME, "runs too long")
    assert _check(snap, _reserved(j, refused, 1)) == [
        "team-a/j: reserved on an option it cannot use"
    ]


def test_a_reservation_on_a_full_pool_is_overbooked_until_a_running_job_s_room_is_due() -> None:
    # Room a running job gives back counts from its estimated end (at least a minute from now,
    # and for a job past its estimate, as long again as it overran), not before.
    j = job("j", L4)
    full = _l4(free_gpus=0)
    cand = _cand(j, _l4())
    overbooked = "pool l4 overbooked at +{}s: Resources(cpu=88000, memory=983040, gpu=-8, tpu=0)"
    nodes_full = "pool l4: its later starts do not fit its nodes then"
    assert _check(snapshot([full], [j]), _reserved(j, cand, 1)) == [
        nodes_full,
        overbooked.format(3600),
    ]
    ends = replace(full, releases=(Release(NOW + timedelta(hours=1), WORKER, (("l4-0", WORKER),)),))
    assert _check(snapshot([ends], [j]), _reserved(j, cand, 1)) == []
    assert _check(snapshot([ends], [j]), _reserved(j, cand, 0.5))[-1] == overbooked.format(1800)
    overran = replace(ends, releases=(replace(ends.releases[0], at=NOW - timedelta(minutes=10)),))
    assert _check(snapshot([overran], [j]), _reserved(j, cand, 1 / 12))[-1] == overbooked.format(
        300
    )
    assert _check(snapshot([overran], [j]), _reserved(j, cand, 1 / 6)) == []


def test_a_job_placed_now_holds_its_room_until_it_ends() -> None:
    # A placement now counted as ending before it began: a later start in its room passed.
    j, k = job("j", L4), job("k", L4)
    p = _l4()
    snap = snapshot([p], [j, k])
    assert _check(snap, _placed(j, _cand(j, p)), _reserved(k, _cand(k, p), 0.5))[-1] == (
        "pool l4 overbooked at +1800s: Resources(cpu=80000, memory=917504, gpu=-8, tpu=0)"
    )
    assert _check(snap, _placed(j, _cand(j, p)), _reserved(k, _cand(k, p), 1)) == []


def test_a_later_start_the_pool_s_sums_hold_but_no_node_does_is_caught() -> None:
    # 8 GPUs free at +30m, 4 on each node: the worker of 8 fits none. Where the job placed now
    # was not taken off its node (or added to it), the later start passed; at +1h it ends.
    half = Resources(cpu=96_000, memory=1024 * 1024, gpu=4)
    alloc = Resources(cpu=96_000, memory=1024 * 1024, gpu=8)
    p = replace(_l4(), nodes=(Node("l4-0", alloc, alloc), Node("l4-1", alloc, half)))
    four = option("nvidia-l4", 1000.0, devices=4)
    small, big = job("small", four), job("big", L4, deadline=NOW + timedelta(hours=1))
    snap = snapshot([p], [small, big])
    now = _placed(small, _cand(small, p))
    assert _check(snap, now, _reserved(big, _cand(replace(big, deadline=None), p), 0.5)) == [
        "team-a/big: its reservation ends after the deadline",
        "pool l4: its later starts do not fit its nodes then",
    ]
    fine = replace(big, deadline=None)
    assert _check(snap, now, _reserved(fine, _cand(fine, p), 1)) == []


def test_a_later_start_counts_the_namespace_s_placed_jobs_against_its_quota() -> None:
    # The jobs placed now were left out of the quota at a later start, and a start's own
    # workers from the instant it begins; what the namespace gives back counts from when it is
    # due, and only for the resource it frees.
    p = _l4(nodes=2)
    j, k = job("j", L4), job("k", L4)
    quota = Quota("team-a", "q", {GPU: 8})
    snap = snapshot([p], [j, k], [quota])
    now, later = _placed(j, _cand(j, p)), _reserved(k, _cand(k, p), 0.5)
    exceeded = "quota team-a/q exceeded on nvidia.com/gpu at +1800s"
    assert _check(snap, now, later) == [exceeded]
    assert _check(snap, now, _reserved(k, _cand(k, p), 1)) == []
    freed = replace(quota, frees=((NOW + timedelta(minutes=30), {GPU: 8}),))
    assert _check(snapshot([p], [j, k], [freed]), now, later) == []
    one = job("one", ONE_GPU)
    cpu_only = replace(quota, frees=((NOW + timedelta(minutes=10), {"cpu": 8000}),))
    assert _check(snapshot([p], [j, one], [cpu_only]), now, _reserved(one, _cand(one, p), 0.5)) == [
        exceeded
    ]
    used_up = Quota("team-a", "q", {GPU: 0})
    assert _check(snapshot([p], [one], [used_up]), _reserved(one, _cand(one, p), 0.5)) == [exceeded]
