"""Preemption: which running jobs make room for a waiting job of higher priority, and which never
do (equal priority, young runs, a preemptor that opted out)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from datetime import timedelta

from factory import NOW, gpu_nodes, job, option, pool, snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

from pricewise.controller.quote import Quote, _namespaces_said, _stale_version
from pricewise.controller.records import JobRecord
from pricewise.core.explain import Decision
from pricewise.core.packing import Gang, pack
from pricewise.core.preemption import RunningJob, preemptions
from pricewise.core.settings import SolverSettings
from pricewise.core.snapshot import Node, Pool, Release, Resources, Snapshot
from pricewise.core.solver import solve
from pricewise.kube import ApiError

SETTINGS = SolverSettings(time_limit_s=5.0)
PER_SECOND = 1_000.0  # micro-units: 3.60 an hour


def running(
    key: str, node: str, gpus: int = 8, age_h: float = 1.0, priority: int = 0, **kw: object
) -> RunningJob:
    return RunningJob(
        key=key,
        priority=priority,
        pool="h100",
        worker=Resources(cpu=8000, memory=64 * 1024, gpu=gpus),
        nodes=(node,),
        since=NOW - timedelta(hours=age_h),
        per_second=PER_SECOND,
        **kw,  # type: ignore[arg-type]
    )


def full_pool(*free_gpus: int) -> list[Pool]:
    """One H100 pool whose nodes have these GPUs free."""
    nodes = gpu_nodes("h100", len(free_gpus))
    free = zip(nodes, free_gpus, strict=True)
    shrunk = tuple(replace(n, free=replace(n.free, gpu=f)) for n, f in free)
    return [pool("h100", "nvidia-h100", 3.0, shrunk)]


def decide(
    pools: list[Pool], urgent_workers: int = 1, **kw: object
) -> tuple[Snapshot, tuple[Decision, ...]]:
    urgent = job(
        "urgent",
        option("nvidia-h100", 1000.0),
        priority=10,
        min_workers=urgent_workers,
        max_workers=urgent_workers,
        **kw,
    )
    snap = snapshot(pools, [urgent])
    plan = solve(snap, SETTINGS)
    assert plan.decisions[0].reason == "WaitingForCapacity"
    return snap, plan.decisions


def test_the_victim_that_loses_least_is_requeued() -> None:
    snap, decisions = decide(full_pool(0, 0))
    old, young = running("a/old", "h100-0", age_h=2), running("a/young", "h100-1", age_h=1)
    (made,) = preemptions(snap, decisions, [old, young])
    assert made.victims == (young,)
    assert made.lost == round(3600 * PER_SECOND)
    assert made.candidate.job.key == "team-a/urgent"


def test_a_checkpoint_makes_an_older_run_the_cheaper_victim() -> None:
    snap, decisions = decide(full_pool(0, 0))
    # 2 h 10 min old, checkpointed every 30 min: 10 minutes lost, against an hour.
    saved = running("a/saved", "h100-0", age_h=2 + 1 / 6, checkpoint_s=1800.0)
    young = running("a/young", "h100-1", age_h=1)
    (made,) = preemptions(snap, decisions, [saved, young])
    assert made.victims == (saved,)
    assert made.lost == round(600 * PER_SECOND)


def test_a_gang_takes_as_many_nodes_as_it_needs() -> None:
    snap, decisions = decide(full_pool(0, 0, 0), urgent_workers=2)
    victims = [running(f"a/{i}", f"h100-{i}", age_h=1 + i) for i in range(3)]
    (made,) = preemptions(snap, decisions, victims)
    assert {v.key for v in made.victims} == {"a/0", "a/1"}


def test_a_victim_made_unnecessary_by_another_is_spared() -> None:
    # Node 0 has 2 GPUs free and a 4-GPU job (lost: 1 h); node 1 a whole-node job (2 h).
    # Cheapest first takes the 4-GPU job (6 free: not enough), then the whole-node job, which
    # alone frees a node: the first is spared.
    snap, decisions = decide(full_pool(2, 0))
    half = running("a/half", "h100-0", gpus=4, age_h=1)
    whole = running("a/whole", "h100-1", age_h=2)
    (made,) = preemptions(snap, decisions, [half, whole])
    assert made.victims == (whole,)


def test_no_run_is_requeued_for_room_a_higher_priority_job_is_planned_on() -> None:
    # One node, held by `x/low` for another hour; `top` (priority 20) is planned on it then.
    # `urgent` (10) cannot wait an hour. Requeueing `x/low` would hand the node to `top`,
    # served first next cycle, and `urgent` would wait still: the run would be lost for nothing.
    whole = Resources(cpu=8000, memory=64 * 1024, gpu=8)
    ends = Release(NOW + timedelta(hours=1), whole, (("h100-0", whole),), "x/low")
    (h100,) = full_pool(0)
    h100 = replace(h100, releases=(ends,))
    top = job("top", option("nvidia-h100", 1000.0), priority=20, deadline=NOW + timedelta(hours=6))
    urgent = job("urgent", option("nvidia-h100", 1000.0), priority=10,
                 deadline=NOW + timedelta(minutes=90))  # fmt: skip
    plan = solve(snapshot([h100], [top, urgent]), SETTINGS)
    reasons = {d.job.name: d.reason for d in plan.decisions}
    assert reasons == {"top": "Reserved", "urgent": "WaitingForCapacity"}
    low = running("x/low", "h100-0", age_h=3)
    assert preemptions(snapshot([h100], [top, urgent]), plan.decisions, [low]) == []
    # Without the later start above it, the same run is requeued for `urgent`.
    alone = solve(snapshot([h100], [urgent]), SETTINGS)
    (made,) = preemptions(snapshot([h100], [urgent]), alone.decisions, [low])
    assert made.victims == (low,)


def test_a_higher_later_start_too_wide_for_the_freed_room_keeps_its_start() -> None:
    # `top` (priority 20, 8 GPUs) is planned on h100-1 when `x/big` ends in an hour; `urgent`
    # (10, 4 GPUs) can take `x/low`'s half of h100-0. Moved to now, `top` fitted nowhere beside
    # it, and no preemption was made on the pool; next cycle, `x/low` requeued, `urgent` runs
    # and `top` keeps its start.
    def gpus(n: int) -> Resources:
        return Resources(cpu=8000, memory=64 * 1024, gpu=n)

    ends = (
        Release(NOW + timedelta(hours=10), gpus(4), (("h100-0", gpus(4)),), "x/low"),
        Release(NOW + timedelta(hours=10), gpus(4), (("h100-0", gpus(4)),), "x/mid"),
        Release(NOW + timedelta(hours=1), gpus(8), (("h100-1", gpus(8)),), "x/big"),
    )
    h100 = replace(full_pool(0, 0)[0], releases=ends)
    top = job("top", option("nvidia-h100", 1000.0), priority=20, deadline=NOW + timedelta(hours=6))
    urgent = job("urgent", option("nvidia-h100", 1000.0, 4), priority=10,
                 deadline=NOW + timedelta(minutes=90))  # fmt: skip
    plan = solve(snapshot([h100], [top, urgent]), SETTINGS)
    assert {d.job.name: d.reason for d in plan.decisions} == {
        "top": "Reserved", "urgent": "WaitingForCapacity"
    }  # fmt: skip
    low = running("x/low", "h100-0", gpus=4, age_h=3)
    others = [
        running("x/mid", "h100-0", gpus=4, priority=30),
        running("x/big", "h100-1", priority=30),
    ]
    (made,) = preemptions(snapshot([h100], [top, urgent]), plan.decisions, [low, *others])
    assert (made.candidate.job.name, made.victims) == ("urgent", (low,))


def test_equal_priority_young_runs_and_opted_out_preemptors_preempt_nothing() -> None:
    snap, decisions = decide(full_pool(0))
    assert preemptions(snap, decisions, [running("a/peer", "h100-0", priority=10)]) == []
    assert preemptions(snap, decisions, [running("a/new", "h100-0", age_h=0.1)]) == []
    snap, decisions = decide(full_pool(0), preempts=False)
    assert preemptions(snap, decisions, [running("a/low", "h100-0")]) == []


def test_each_victim_serves_one_preemptor() -> None:
    nodes = full_pool(0, 0)
    first = job("first", option("nvidia-h100", 1000.0), priority=10)
    second = job("second", option("nvidia-h100", 1000.0), priority=5)
    snap = snapshot(nodes, [first, second])
    decisions = solve(snap, SETTINGS).decisions
    low = running("a/low", "h100-0", priority=0)
    mid = running("a/mid", "h100-1", priority=6, age_h=3)
    made = preemptions(snap, decisions, [low, mid])
    # The priority-10 job goes first and takes the cheaper victim; the priority-5 job may only
    # preempt priority 0, which is taken: it waits.
    assert [(m.candidate.job.name, [v.key for v in m.victims]) for m in made] == [
        ("first", ["a/low"])
    ]


@settings(max_examples=60, deadline=None)
@given(
    layout=st.lists(
        st.tuples(st.integers(1, 8), st.integers(-2, 12), st.floats(0.0, 5.0)), max_size=6
    ),
    nodes=st.integers(1, 3),
    workers=st.integers(1, 2),
    devices=st.sampled_from([2, 4, 8]),
)
def test_victims_always_free_the_room_and_have_lower_priority(
    layout: list[tuple[int, int, float]], nodes: int, workers: int, devices: int
) -> None:
    # Running jobs fill the nodes in turn (first fit); the urgent job of priority 10 wants
    # `workers` x `devices` GPUs.
    free = [8] * nodes
    jobs = []
    for i, (gpus, priority, age) in enumerate(layout):
        node = next((n for n in range(nodes) if free[n] >= gpus), None)
        if node is None:
            continue
        free[node] -= gpus
        jobs.append(running(f"a/{i}", f"h100-{node}", gpus, age, priority))
    pools = full_pool(*free)
    urgent = job(
        "urgent",
        option("nvidia-h100", 1000.0, devices=devices),
        priority=10,
        min_workers=workers,
        max_workers=workers,
    )
    snap = snapshot(pools, [urgent])
    decisions = solve(snap, SETTINGS).decisions
    made = preemptions(snap, decisions, jobs)
    if decisions[0].reason != "WaitingForCapacity":
        assert made == []
        return
    for m in made:
        assert all(v.priority < 10 and (NOW - v.since).total_seconds() >= 600 for v in m.victims)
        extra = {f"h100-{n}": 0 for n in range(nodes)}
        for v in m.victims:
            extra[v.nodes[0]] += v.worker.gpu
        after = tuple(
            Node(n.name, n.allocatable, replace(n.free, gpu=n.free.gpu + extra[n.name]))
            for n in pools[0].nodes
        )
        assert pack(after, [Gang("u", m.candidate.worker, m.candidate.workers)]) is not None
        assert m.lost == sum(v.lost(NOW) for v in m.victims)
    empty = tuple(replace(n, free=n.allocatable) for n in pools[0].nodes)
    fits_empty = pack(empty, [Gang("u", decisions[0].options[0].candidate.worker, workers)])
    if fits_empty and all(j.priority < 10 and j.since <= NOW - timedelta(minutes=10) for j in jobs):
        # Every running job may go, and the job would fit on the emptied pool: it preempts.
        assert len(made) == 1


def test_checkpoints_carry_progress_across_runs() -> None:
    # A 10-hour run checkpointed every 30 min, stopped after 2 h 10 min: 2 h kept (a fifth of
    # the run), 10 min lost. A job 40 % done before this run has 40 % + 60 % x 1/5 = 52 %.
    run = running("a/ckpt", "h100-0", age_h=2 + 1 / 6, checkpoint_s=1800.0, run_s=36_000.0)
    assert run.saved_s(NOW) == 7200
    assert run.lost(NOW) == round(600 * PER_SECOND)
    assert run.progress(NOW, 0.0) == 0.2
    assert run.progress(NOW, 0.4) == 0.52
    plain = running("a/plain", "h100-0", age_h=2, run_s=36_000.0)
    assert (plain.saved_s(NOW), plain.progress(NOW, 0.4)) == (0, 0.4)
    # What its trainer reports saved counts as a checkpoint does, all of it past its estimate.
    told = running("a/told", "h100-0", age_h=2, run_s=36_000.0, reported_s=3600.0)
    assert (told.saved_s(NOW), told.lost(NOW)) == (3600, round(3600 * PER_SECOND))
    done = running("a/done", "h100-0", age_h=12, run_s=36_000.0, reported_s=math.inf)
    assert (done.lost(NOW), done.progress(NOW, 0.0)) == (0, 1.0)


def test_a_quote_says_whom_a_new_job_would_preempt_and_why_another_would_not() -> None:
    # `plan --cluster` said only that the job waited for room; applied, it preempted.
    snap, decisions = decide(full_pool(0))
    old = running("team-a/old", "h100-0")
    quoted = Quote(snap, {"team-a/urgent"}, snap, {}, [], [old])
    (told,) = quoted.told(decisions)
    assert (told.reason, told.message) == (
        "Preempting",
        "preempting team-a/old (priority 0) to start on h100 x1 (24.00 USD); their lost work: "
        "3.60 USD",
    )
    young = replace(old, since=NOW - timedelta(minutes=4))
    (waits,) = replace(quoted, running=[young]).told(decisions)
    assert waits.reason == "WaitingForCapacity"
    assert waits.message.endswith(
        "; it preempts only runs of 10m or more, which the jobs of lower priority on pool h100 "
        "reach from ~12:06 UTC"
    )


def test_a_gang_no_preemption_makes_room_for_is_not_promised_one() -> None:
    # Two 8-GPU workers on two full nodes: one runs a young job of lower priority, the other
    # one of higher priority. Told it would preempt once the young run reached 10m, it did not.
    snap, decisions = decide(full_pool(0, 0), urgent_workers=2)
    young = running("team-a/young", "h100-0", age_h=0.05)
    high = running("team-a/high", "h100-1", priority=20)
    (waits,) = Quote(snap, {"team-a/urgent"}, snap, {}, [], [young, high]).told(decisions)
    assert waits.message.endswith(
        "; requeueing the jobs of lower priority on pool h100 would not free enough room for it"
    )
    # With a young run of lower priority on both nodes, the guard is what holds it back.
    other = running("team-a/other", "h100-1", age_h=2)
    (waits,) = Quote(snap, {"team-a/urgent"}, snap, {}, [], [young, other]).told(decisions)
    assert "it preempts only runs of 10m or more" in waits.message


def test_a_quote_of_jobs_the_cluster_has_says_what_applying_them_would_do() -> None:
    # An ended job was told it was pending, "as it would be planned once applied".
    snap, _ = decide(full_pool(0))
    replaced = {"a/ran": "Running", "a/new": "Pending", "a/done": "Succeeded", "a/bad": "Failed"}
    assert Quote(snap, set(replaced), snap, replaced, [], []).warnings() == [
        "a/new: already in the cluster, pending; quoted with the files' spec, as it would be "
        "planned once applied",
        "a/bad, a/done: already ended in the cluster, where applying the file would not run it "
        "again; quoted as if it were deleted and submitted anew",
        "a/ran: already placed in the cluster, where applying the file would not change it (a "
        "placed job keeps its spec); quoted as if it were deleted and submitted anew, its "
        "workers' room free",
    ]


def test_a_quote_warns_of_a_namespace_the_cluster_lacks_or_that_it_cannot_check() -> None:
    class Namespaces:
        async def request(self, method: str, path: str) -> dict[str, object]:
            status = {"/api/v1/namespaces/gone": 404, "/api/v1/namespaces/hidden": 403}
            if path in status:
                raise ApiError(status[path], "refused", f"{method} {path}")
            return {}

    asked = _namespaces_said(Namespaces(), {"gone", "hidden", "team-a"})  # type: ignore[arg-type]
    said = asyncio.run(asked)
    # A user who may not read Namespaces still gets the quote, with why it is unchecked.
    assert said == (
        "namespace gone does not exist: `kubectl apply` of its jobs would fail (`kubectl create "
        "namespace gone` first)",
        "cannot check that namespace hidden exists (HTTP 403: refused)",
    )


def test_a_quote_warns_of_a_resource_version_that_would_fail_the_apply() -> None:
    # A file from `kubectl get -o yaml` keeps it: the quote was made, the apply then refused.
    record = JobRecord(
        {"metadata": {"name": "x", "namespace": "a", "resourceVersion": "15"}}, None, None
    )
    assert _stale_version("a/x", None, record) == []
    assert _stale_version("a/x", "15", record) == []
    assert _stale_version("a/x", "12", record) == [
        "a/x: metadata.resourceVersion 12 is not the cluster's (15): `kubectl apply` would fail "
        "with a Conflict; remove metadata.resourceVersion from the file"
    ]
    assert _stale_version("a/y", "12", None)[0].startswith(
        "a/y: metadata.resourceVersion is set on a job to create"
    )
