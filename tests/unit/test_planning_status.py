"""Planning over time as the operator writes it: a waiting job's planned start, its reason with
the figures, the options row it waits for, and the promise kept across cycles and restarts."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from fake_kube import FakeKube, run_cycle
from test_isolation import NOW, NS, World, budget, job, node, pool, quota, table

from pricewise.api.models import TrainingJob
from pricewise.controller import scheduler as scheduler_module
from pricewise.controller.accountant import Accountant
from pricewise.controller.cache import Cache
from pricewise.controller.listing import RELIST_EVERY_S
from pricewise.controller.metrics import Metrics
from pricewise.controller.quote import _spent_now, quote
from pricewise.controller.scheduler import LoopSettings, Scheduler
from pricewise.controller.teller import REFRESH_EVERY_S, REWRITE_EVERY_S
from pricewise.core.explain import Decision
from pricewise.core.settings import SolverSettings
from pricewise.core.snapshot import Resources
from pricewise.core.times import parse_time
from pricewise.core.units import to_micros

EIGHT = {"accelerator": "nvidia-l4", "devicesPerWorker": 8, "duration": "1h"}
H100 = {"accelerator": "nvidia-h100", "devicesPerWorker": 8, "duration": "1h"}


def busy_world() -> World:
    """Both L4 nodes taken for an hour by two 8-GPU jobs; one H100 node at 4 USD free."""
    world = World()
    world.kube.put("nodes", {**node("h100-0", "h100")})
    world.kube.put(
        "pricetables",
        table("prices", pool("l4", "nvidia-l4", 1.0), pool("h100", "nvidia-h100", 4.0)),
    )
    for name in ("a", "b"):
        world.kube.put("trainingjobs", job(name, options=[EIGHT]))
    world.cycle()
    assert {world.job(n)["pool"] for n in ("a", "b")} == {"l4"}
    return world


def test_a_reserved_job_held_by_a_budget_made_invalid_drops_its_plan() -> None:
    # Held, it kept its planned start, its options' planned row and its estimated cost: its
    # columns and its planned-start metric said it would start on l4 at 13:00.
    world = busy_world()
    world.kube.put("trainingjobs", job("c", options=[EIGHT]))
    world.cycle()
    assert (world.job("c")["reason"], bool(world.job("c").get("plannedStart"))) == (
        "Reserved", True,
    )  # fmt: skip
    world.kube.put("budgets", budget("b", enforcement="hard", timeZone="Nowhere/Land"))
    run_cycle(world.scheduler, NOW + timedelta(minutes=1))
    held = world.job("c")
    assert held["reason"] == "BudgetInvalid"
    assert not held.get("plannedStart") and not held.get("options"), held
    assert not held.get("estimatedCost"), held


def planned_row(status: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in status["options"] if r["verdict"] == "planned")


def test_a_job_that_can_wait_is_planned_with_a_start_and_says_what_it_saves() -> None:
    world = busy_world()
    world.kube.put("trainingjobs", job("c", options=[EIGHT, H100]))
    world.cycle()
    status = world.job("c")
    assert (status["phase"], status["reason"]) == ("Pending", "Reserved")
    assert parse_time(status["plannedStart"]) == NOW + timedelta(hours=1)
    # 8 H100 for an hour at 4.00 = 32.00 now, against 8 L4 at 1.00 = 8.00 in an hour, its
    # hour's wait counted at 0.3 x 8.00.
    assert status["message"] == (
        "waiting for l4 (frees ~13:00 UTC): saves 24.00 USD (75%) against h100 x1 now, more than "
        "the 2.40 USD its wait counts for"
    )
    assert planned_row(status)["pool"] == "l4"
    assert parse_time(planned_row(status)["start"]) == NOW + timedelta(hours=1)
    registry = Metrics(world.cache, world.scheduler.accountant).registry
    labels = {"namespace": NS, "trainingjob": "c", "pool": "l4"}
    planned = registry.get_sample_value("pricewise_job_planned_start_timestamp_seconds", labels)
    assert planned == (NOW + timedelta(hours=1)).timestamp()


def test_the_plan_is_not_rewritten_while_it_holds_and_survives_a_restart() -> None:
    world = busy_world()
    for name in ("c", "d"):  # one for each L4 node when it frees
        world.kube.put("trainingjobs", job(name, options=[EIGHT]))
    world.cycle()
    before = world.kube.requests.total()
    world.cycle()
    assert world.kube.requests.total() == before  # nothing moved: no write
    # A fresh operator reads the promise back from the status, and keeps it against a
    # newcomer of the same priority that sorts first.
    world.kube.put("trainingjobs", job("aaa", options=[EIGHT]))
    fresh = World.__new__(World)
    fresh.cache, fresh.kube = world.cache, world.kube
    fresh.scheduler = Scheduler(
        world.cache,
        world.kube,
        world.scheduler.accountant,
        SolverSettings(time_limit_s=2),  # type: ignore[arg-type]
    )
    run_cycle(fresh.scheduler, NOW + timedelta(minutes=1))
    for name in ("c", "d"):
        assert parse_time(world.job(name)["plannedStart"]) == NOW + timedelta(hours=1)
    assert parse_time(world.job("aaa")["plannedStart"]) == NOW + timedelta(hours=2)


def test_a_job_whose_slack_is_gone_starts_now_on_the_dear_pool() -> None:
    world = busy_world()
    due = (NOW + timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    world.kube.put("trainingjobs", job("urgent", options=[EIGHT, H100], deadline=due))
    world.cycle()
    status = world.job("urgent")
    assert (status["phase"], status["pool"]) == ("Admitted", "h100")
    assert "plannedStart" not in status or status["plannedStart"] is None


def test_a_placed_job_costs_three_requests_and_a_waiting_one_a_single_status_write() -> None:
    world = busy_world()
    # a and b: each a status, an Admitted event and its one worker.
    assert world.kube.requests["placement"] == 6
    world.kube.put("trainingjobs", job("c", options=[EIGHT]))
    world.kube.put("trainingjobs", job("nowhere", options=[{**EIGHT, "accelerator": "tpu-v9"}]))
    world.cycle()
    assert world.job("c")["reason"] == "Reserved"
    assert world.job("nowhere")["reason"] == "NoMatchingPool"
    # Both statuses are written; only the job a person must fix is announced, as a Warning.
    assert world.kube.requests["waiting"] == 3
    assert [(n, r) for n, r, _ in world.kube.events if n in ("c", "nowhere")] == [
        ("nowhere", "NoMatchingPool")
    ]


def test_a_cycle_writes_every_placement_then_every_worker_then_the_events() -> None:
    world = World()
    for name in ("a", "b", "c"):
        world.kube.put("trainingjobs", job(name))
    kube, order = world.kube, []
    patch_status, create, event = kube.patch_status, kube.create, kube.event

    async def patched(plural: str, namespace: str | None, name: str, *args: Any) -> Any:
        if plural == "trainingjobs":
            order.append(("status", name))
        return await patch_status(plural, namespace, name, *args)

    async def created(manifest: dict[str, Any]) -> bool:
        order.append(("worker", manifest["metadata"]["name"].split("-")[0]))
        return await create(manifest)

    async def announced(obj: dict[str, Any], *args: Any) -> None:
        order.append(("event", obj["metadata"]["name"]))
        await event(obj, *args)

    kube.patch_status, kube.create, kube.event = patched, created, announced  # type: ignore[method-assign]
    world.cycle()
    kinds = [kind for kind, _ in order]
    assert kinds == ["status"] * 3 + ["worker"] * 3 + ["event"] * 3
    assert {name for _, name in order} == {"a", "b", "c"}


def test_waiting_statuses_are_written_beside_the_loop_unseen_jobs_first() -> None:
    world = busy_world()
    for name in ("c", "d"):
        world.kube.put("trainingjobs", job(name, options=[EIGHT]))
    world.cycle()
    world.kube.put("trainingjobs", job("e", options=[EIGHT]))
    teller = world.scheduler.teller
    told: list[str] = []
    apply = world.scheduler.admission.apply

    async def recorded(
        decision: Decision, now: datetime, currency: str, refresh: bool = False
    ) -> bool:
        told.append(decision.job.name)
        return await apply(decision, now, currency, refresh)

    world.scheduler.admission.apply = recorded  # type: ignore[method-assign]

    async def scenario() -> None:
        plan = await world.scheduler.cycle(NOW + timedelta(minutes=1))
        # The cycle is over before its waiting jobs' statuses are written.
        assert [d.job.name for d in plan.decisions if d.chosen is None] == ["c", "d", "e"]
        assert "reason" not in world.job("e") and teller.queued == 3
        await teller.drained()
        # e, which had no status, went first, though it came last in the plan.
        assert told == ["e", "c", "d"] and world.job("e")["reason"] == "Reserved"
        # A job that changes while its status waits to be written (here: placed by hand) is
        # not told it waits: a newer cycle decides it.
        await world.scheduler.cycle(NOW + timedelta(minutes=2))
        placed = await world.kube.patch_status("trainingjobs", NS, "c", {"phase": "Admitted"})
        world.cache.upsert_job(placed)  # as the watch would
        await teller.drained()
        assert world.job("c")["phase"] == "Admitted"
        # A newer cycle's decisions replace what is still queued.
        world.kube.put("trainingjobs", job("f", options=[EIGHT]))
        await world.scheduler.cycle(NOW + timedelta(minutes=3))
        teller.tell([], NOW, "USD", {})
        await teller.drained()
        assert "reason" not in world.job("f")

    asyncio.run(scenario())


def test_a_waiting_job_already_told_is_told_again_at_most_every_few_seconds() -> None:
    world = busy_world()
    world.kube.put("trainingjobs", job("c", options=[EIGHT]))
    world.cycle()
    assert parse_time(world.job("c")["plannedStart"]) == NOW + timedelta(hours=1)
    # Two jobs of a higher priority take both L4 nodes when they free: c now plans to start an
    # hour later. They hear why they wait at once; c's new plan waits out the rewrite interval.
    for name in ("p1", "p2"):
        world.kube.put("trainingjobs", job(name, options=[EIGHT], priority=100))
    soon = NOW + timedelta(seconds=REWRITE_EVERY_S - 1)
    run_cycle(world.scheduler, soon)
    assert world.job("p1")["reason"] == world.job("p2")["reason"] == "Reserved"
    assert parse_time(world.job("c")["plannedStart"]) == NOW + timedelta(hours=1)
    run_cycle(world.scheduler, NOW + timedelta(seconds=REWRITE_EVERY_S))
    assert parse_time(world.job("c")["plannedStart"]) == NOW + timedelta(hours=2)
    # A job whose spec changed is told at once: someone waits to see what the change did.
    world.kube.put("trainingjobs", job("c", options=[{**EIGHT, "accelerator": "tpu-v9"}]))
    run_cycle(world.scheduler, NOW + timedelta(seconds=REWRITE_EVERY_S + 1))
    assert world.job("c")["reason"] == "NoMatchingPool"


def used(quota: dict[str, Any], gpus: int) -> dict[str, Any]:
    """The quota with `gpus` GPUs in use, as the API server counts them in its status."""
    return {**quota, "status": {"used": {"requests.nvidia.com/gpu": str(gpus)}}}


def held_by_quota(limit: dict[str, Any]) -> World:
    """Job `big`, of one 4-GPU worker, told it waits for `limit`: a quota with 2 GPUs left."""
    world = World()
    world.kube.put("resourcequotas", limit)
    four = {"accelerator": "nvidia-l4", "devicesPerWorker": 4, "duration": "1h"}
    world.kube.put("trainingjobs", job("big", options=[four]))
    world.cycle()
    assert "2 nvidia.com/gpu left" in world.job("big")["message"]
    return world


def test_a_waiting_job_s_figures_are_brought_up_to_date_every_few_minutes() -> None:
    # Only the reason, options or plan used to rewrite a waiting status: a job told that its
    # quota had 2 GPUs left still said so after the quota was raised, for as long as it waited.
    world = held_by_quota(used(quota("gpus", **{"requests.nvidia.com/gpu": "6"}), 4))
    # Another namespace's pod went: 3 left.
    world.kube.put("resourcequotas", used(quota("gpus", **{"requests.nvidia.com/gpu": "6"}), 3))
    run_cycle(world.scheduler, NOW + timedelta(seconds=REWRITE_EVERY_S))
    assert "2 nvidia.com/gpu left" in world.job("big")["message"]  # same decision: not yet
    run_cycle(world.scheduler, NOW + timedelta(seconds=REFRESH_EVERY_S))
    assert world.job("big")["reason"] == "QuotaExceeded"
    assert "3 nvidia.com/gpu left" in world.job("big")["message"]


def test_a_limit_an_admin_edits_is_told_to_the_jobs_it_holds_at_once() -> None:
    # A quota's use moves on its own and waits for the refresh (above); an admin who raised
    # spec.hard, as the message asks, and looked saw the old figure for up to five minutes.
    world = held_by_quota(used(quota("gpus", **{"requests.nvidia.com/gpu": "6"}), 4))
    world.kube.put("resourcequotas", used(quota("gpus", **{"requests.nvidia.com/gpu": "7"}), 4))
    run_cycle(world.scheduler, NOW + timedelta(seconds=REWRITE_EVERY_S))
    assert world.job("big")["reason"] == "QuotaExceeded"
    assert "3 nvidia.com/gpu left" in world.job("big")["message"]
    # Told once: the next cycles have nothing new to write.
    before = world.kube.requests.total()
    run_cycle(world.scheduler, NOW + timedelta(seconds=2 * REWRITE_EVERY_S))
    assert world.kube.requests.total() == before


def test_a_quota_edit_is_told_once_the_api_server_copies_it_into_the_status() -> None:
    # The API server copies an edited spec.hard into status.hard a moment later, and the quota
    # is read from the status: a cycle between the two told the old figure as the edit's.

    def hard(spec: str, status: str) -> dict[str, Any]:
        body = quota("gpus", **{"requests.nvidia.com/gpu": spec})
        gpu = "requests.nvidia.com/gpu"
        return {**body, "status": {"hard": {gpu: status}, "used": {gpu: "4"}}}

    world = held_by_quota(hard("6", "6"))
    world.kube.put("resourcequotas", hard("7", "6"))
    run_cycle(world.scheduler, NOW + timedelta(seconds=REWRITE_EVERY_S))
    assert "2 nvidia.com/gpu left" in world.job("big")["message"]  # as the status still says
    world.kube.put("resourcequotas", hard("7", "7"))
    run_cycle(world.scheduler, NOW + timedelta(seconds=2 * REWRITE_EVERY_S))
    assert "3 nvidia.com/gpu left" in world.job("big")["message"]


def test_only_an_edit_of_a_limit_s_spec_counts_as_one() -> None:
    # Budgets' and quotas' statuses move every cycle (spent, used): those are no admin's edit.
    world = World()
    world.kube.put("budgets", budget("b", limit=10.0))
    edits = world.cache.limit_edits[NS]
    world.kube.put("budgets", {**budget("b", limit=10.0), "status": {"spent": 3.0}})
    world.kube.put("resourcequotas", used(quota("gpus", **{"requests.nvidia.com/gpu": "6"}), 4))
    world.kube.put("resourcequotas", used(quota("gpus", **{"requests.nvidia.com/gpu": "6"}), 5))
    assert world.cache.limit_edits[NS] == edits + 1  # the quota's creation
    world.kube.put("budgets", budget("b", limit=20.0))
    world.kube.delete("resourcequotas", NS, "gpus")
    assert world.cache.limit_edits[NS] == edits + 3


def test_what_a_running_job_frees_is_known_node_by_node() -> None:
    # The cache says on which nodes each running job frees room, for the solver's later starts.
    world = busy_world()
    releases = world.cache.releases()["l4"]
    where = sorted((name, frees.gpu) for r in releases for name, frees in r.nodes)
    assert where == [("l4-0", 8), ("l4-1", 8)]
    assert all(r.frees == sum((f for _, f in r.nodes), Resources()) for r in releases)


def start_workers(world: World, at: str) -> None:
    """The placed jobs' worker pods bound to their nodes and running since `at`."""
    for pod in world.kube.pods(NS):
        node_name = pod["metadata"]["annotations"]["pricewise.dev/node"]
        world.kube.put("pods", {
            **pod, "spec": {**pod["spec"], "nodeName": node_name},
            "status": {"phase": "Running", "startTime": at},
        })  # fmt: skip


def one_running(*budgets: dict[str, Any], **spec: Any) -> World:
    """Job `a` (1 GPU for an hour at 1.00 USD, as `spec` changes it) running since 12:00,
    in a namespace with `budgets`."""
    world = World()
    for each in budgets:
        world.kube.put("budgets", each)
    world.kube.put("trainingjobs", job("a", **spec))
    world.cycle()
    start_workers(world, "2026-11-29T12:00:00Z")
    return world


def test_a_budget_s_remaining_is_what_its_spent_and_committed_figures_leave() -> None:
    # 3.004 spent by a deleted job and 10 s of a 1.00 USD an hour run: 3.01 spent and 1.00
    # committed, of 150.00; remaining was rounded on its own, 146.00.
    monthly = {**budget("monthly", limit=150.0), "status": {"retained": {"2026-11-29T11": 3.004}}}
    world = one_running(monthly)
    run_cycle(world.scheduler, NOW + timedelta(seconds=10))
    written = world.kube.status("budgets", NS, "monthly")
    assert (written["spent"], written["committed"]) == (3.01, 1.0)
    assert written["remaining"] == 145.99


def test_a_quote_counts_what_a_budget_spent_since_its_status_was_written() -> None:
    # The quote took a Budget's spend as last written (up to a minute old) beside what its
    # jobs still cost from now: a hard budget was quoted room it no longer had.
    world = one_running(budget("daily", period="day", enforcement="hard"))
    run_cycle(world.scheduler, NOW + timedelta(minutes=1))  # its start written
    assert world.kube.status("budgets", NS, "daily")["spent"] == 0.02  # as written at 12:01
    new = TrainingJob.model_validate(
        {"apiVersion": "pricewise.dev/v1alpha1", "kind": "TrainingJob", **job("quoted")}
    )
    quoted = asyncio.run(quote(world.kube, [new], NOW + timedelta(minutes=30)))  # type: ignore[arg-type]
    (daily,) = quoted.snapshot.budgets
    assert (daily.spent, daily.committed) == (to_micros(0.5), to_micros(0.5))


def test_a_quote_keeps_the_spend_of_a_job_deleted_since_the_budget_was_written() -> None:
    world = one_running(budget("daily", period="day", enforcement="hard"))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    assert world.kube.status("budgets", NS, "daily")["spent"] == 0.5
    world.kube.delete("trainingjobs", NS, "a")
    for pod in world.kube.pods(NS):
        world.kube.delete("pods", NS, pod["metadata"]["name"])
    new = TrainingJob.model_validate(
        {"apiVersion": "pricewise.dev/v1alpha1", "kind": "TrainingJob", **job("quoted")}
    )
    quoted = asyncio.run(quote(world.kube, [new], NOW + timedelta(minutes=31)))  # type: ignore[arg-type]
    (daily,) = quoted.snapshot.budgets
    assert daily.spent == to_micros(0.5)


def test_a_job_past_its_estimated_end_says_so_once_and_runs_on() -> None:
    world = one_running()  # an hour from 12:00 (its workers started as it was admitted)
    run_cycle(world.scheduler, NOW + timedelta(minutes=59))
    assert (world.job("a")["phase"], world.job("a")["reason"]) == ("Running", "Running")
    run_cycle(world.scheduler, NOW + timedelta(minutes=61))
    status = world.job("a")
    # Its ETA column is in the past from here on: the reason and the message say why.
    assert (status["phase"], status["reason"]) == ("Running", "PastEstimate")
    assert status["message"] == (
        "running past its estimated end, Nov 29 13:00 UTC counted from its workers' start: jobs "
        "waiting for its room are planned as if it runs on as long again as it has overrun"
    )
    assert parse_time(status["estimatedFinish"]) == NOW + timedelta(hours=1)
    # Said once: a cycle within the accrual interval writes nothing more.
    before = world.kube.objects["trainingjobs", NS, "a"]["metadata"]["resourceVersion"]
    run_cycle(world.scheduler, NOW + timedelta(minutes=61, seconds=10))
    assert world.kube.objects["trainingjobs", NS, "a"]["metadata"]["resourceVersion"] == before


def test_a_job_that_starts_costs_one_status_write_with_its_accrual_in_it() -> None:
    world = busy_world()
    start_workers(world, "2026-11-29T12:00:00Z")
    written: list[str] = []
    patch = world.kube.patch_status

    async def counted(plural: str, namespace: str | None, name: str, *args: Any) -> Any:
        if plural == "trainingjobs":
            written.append(name)
        return await patch(plural, namespace, name, *args)

    world.kube.patch_status = counted  # type: ignore[method-assign]
    run_cycle(world.scheduler, NOW + timedelta(minutes=5))
    # Written beside the solve, each start is one status write, which also persists its
    # accrual: no separate accrual write for a job that has just started.
    assert sorted(written) == ["a", "b"]
    for name in ("a", "b"):
        status = world.job(name)
        assert status["phase"] == "Running" and status["accruedCost"] > 0


def test_a_job_that_started_this_cycle_frees_its_room_as_late_as_it_started() -> None:
    world = busy_world()
    start_workers(world, "2026-11-29T12:02:00Z")  # two minutes after their admission
    world.kube.put("trainingjobs", job("c", options=[EIGHT, H100]))
    run_cycle(world.scheduler, NOW + timedelta(minutes=5))
    # Their hour runs from 12:02, though their Running status is written beside this solve.
    assert parse_time(world.job("c")["plannedStart"]) == NOW + timedelta(hours=1, minutes=2)


def test_a_job_whose_worker_fails_as_its_start_is_written_restarts_with_its_run_counted() -> None:
    world = busy_world()
    start_workers(world, "2026-11-29T12:01:00Z")
    scheduler = world.scheduler
    accruals = scheduler._write_accruals

    async def fail_a_then_accrue(now: datetime, *args: Any) -> None:
        # The cycle has seen a start; a's worker dies before its Running status is written.
        for pod in world.kube.pods(NS):
            if pod["metadata"]["labels"].get("pricewise.dev/job") == "a":
                world.kube.put("pods", {**pod, "status": {**pod["status"], "phase": "Failed"}})
        await accruals(now, *args)

    scheduler._write_accruals = fail_a_then_accrue  # type: ignore[method-assign]
    run_cycle(scheduler, NOW + timedelta(minutes=30))
    scheduler._write_accruals = accruals  # type: ignore[method-assign]
    assert world.job("a")["startedAt"] == "2026-11-29T12:01:00Z"
    run_cycle(scheduler, NOW + timedelta(minutes=31))
    history = world.job("a")["restartHistory"]
    assert len(history) == 1 and "30m of work lost" in history[0], history
    assert "(0.00 USD accrued" not in history[0]


@pytest.mark.parametrize(
    ("duration", "interval", "ran_s", "said"),
    [
        # It said "35m of work lost" of a run that checkpoints every 10 minutes.
        ("1h", "10m", 35 * 60, ("restart 1 of 3; 5m10s of work lost", "50% of the work saved")),
        # Two minutes kept of a ten-hour run read "0% of the work saved".
        ("10h", "2m", 3 * 60, ("0.3% of the work saved",)),
    ],
)
def test_a_restart_counts_as_lost_only_the_run_since_its_last_checkpoint(
    duration: str, interval: str, ran_s: int, said: tuple[str, ...]
) -> None:
    option = {"accelerator": "nvidia-l4", "devicesPerWorker": 1, "duration": duration}
    world = one_running(checkpoint={"interval": interval}, options=[option])
    run_cycle(world.scheduler, NOW + timedelta(seconds=ran_s))
    for pod in world.kube.pods(NS):
        world.kube.put("pods", {**pod, "status": {**pod["status"], "phase": "Failed"}})
    run_cycle(world.scheduler, NOW + timedelta(seconds=ran_s + 10))
    (restart,) = world.job("a")["restartHistory"]
    assert all(part in restart for part in said), restart


def test_a_budget_s_spent_and_committed_add_up_between_accrual_writes() -> None:
    world = one_running(budget("monthly"))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))  # its accrual written: 0.50
    # A second job placed 30 s later moves what is left of the budget, which the next cycle
    # writes at once, with the first job's spend as it runs: its accrual is not due yet.
    world.kube.put("trainingjobs", job("b"))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30, seconds=30))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30, seconds=40))
    assert world.job("a")["accruedCost"] == 0.5
    figures = world.kube.status("budgets", NS, "monthly")
    assert figures["spent"] == 0.51 and figures["committed"] + figures["spent"] == 2.0, figures


def test_a_hard_budget_checks_what_was_spent_up_to_the_cycle_not_up_to_its_last_write() -> None:
    # Its status's spent was up to a minute old, beside a committed counted from now: that
    # minute's spend was counted nowhere, and a job past the limit by it was let through.
    world = one_running(budget("monthly", limit=1.99, enforcement="hard"))  # a: 1.00 USD
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))  # spent 0.50, written
    world.kube.put("trainingjobs", job("b"))  # 1.00 USD more: 2.00 in all, over 1.99
    run_cycle(world.scheduler, NOW + timedelta(minutes=30, seconds=50))
    assert world.kube.status("budgets", NS, "monthly")["spent"] == 0.5  # not due for a write
    assert (world.job("b")["phase"], world.job("b")["reason"]) == ("Pending", "BudgetExceeded")


def test_a_budget_whose_day_starts_on_the_half_hour_counts_what_was_spent_in_it() -> None:
    # Adelaide's 30 November starts at 13:30 UTC: of 13:00-13:40's spend, 10 minutes are the
    # new day's; taken as evenly spent over the hour, 20 minutes' worth were, or the half
    # of what a job that started after the bound spent.
    three_hours = [{"accelerator": "nvidia-l4", "devicesPerWorker": 1, "duration": "3h"}]
    adelaide = budget("daily", period="day", timeZone="Australia/Adelaide")
    world = one_running(adelaide, options=three_hours)  # 1.00 USD an hour from 12:00
    run_cycle(world.scheduler, NOW + timedelta(hours=1, minutes=20))
    run_cycle(world.scheduler, NOW + timedelta(hours=1, minutes=40))
    figures = world.kube.status("budgets", NS, "daily")
    assert figures["periodStart"] == "2026-11-29T13:30:00Z"
    assert figures["spent"] == 0.17, figures


def test_a_budget_s_spend_moving_into_spent_is_written_once_an_accrual_interval() -> None:
    world = one_running(budget("monthly"))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    assert world.kube.status("budgets", NS, "monthly")["spent"] == 0.5
    before = world.kube.requests.total()
    # Spent and committed move a cent apart, what is left does not: no write, no echo.
    run_cycle(world.scheduler, NOW + timedelta(minutes=30, seconds=40))
    assert world.kube.requests.total() == before
    assert world.kube.status("budgets", NS, "monthly")["spent"] == 0.5
    run_cycle(world.scheduler, NOW + timedelta(minutes=31))
    figures = world.kube.status("budgets", NS, "monthly")
    assert figures["spent"] == 0.52 and figures["committed"] == 0.48, figures


def test_starts_are_written_even_when_the_snapshot_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    world = busy_world()
    start_workers(world, "2026-11-29T12:00:00Z")

    def broken(now: datetime, spent: Any = None) -> Any:
        raise ValueError("a snapshot that cannot be built")

    monkeypatch.setattr(world.cache, "snapshot", broken)
    with pytest.raises(ValueError):
        run_cycle(world.scheduler, NOW + timedelta(minutes=5))
    assert (world.job("a")["phase"], world.job("b")["phase"]) == ("Running", "Running")


def test_a_job_whose_lifecycle_fails_leaves_the_others_going(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = busy_world()
    start_workers(world, "2026-11-29T12:00:00Z")
    real = world.scheduler._transition

    def flaky(record: Any, now: datetime) -> Any:
        if record.body["metadata"]["name"] == "a":
            raise TypeError("can't compare offset-naive and offset-aware datetimes")
        return real(record, now)

    monkeypatch.setattr(world.scheduler, "_transition", flaky)
    run_cycle(world.scheduler, NOW + timedelta(minutes=5))
    assert (world.job("a")["phase"], world.job("b")["phase"]) == ("Admitted", "Running")


def test_work_saved_on_a_spot_pool_priced_with_reclaims_counts_at_its_worth() -> None:
    # Its run is planned longer than an hour for the reclaims the pool is priced with; its two
    # checkpoints saved half of the hour's work, which was read as a share of the longer run.
    world = World()
    spot = pool("l4", "nvidia-l4", 1.0, capacityType="spot", interruptionRate=0.5)
    world.kube.put("pricetables", table("prices", spot))
    saving = {"checkpoint": {"interval": "15m"}, "failurePolicy": {"maxRestarts": 3}}
    world.kube.put("trainingjobs", job("a", allowSpot=True, **saving))
    world.cycle()
    start_workers(world, "2026-11-29T12:00:00Z")
    assert world.job("a")["estimatedDuration"] != "1h"  # the reclaims priced in
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    for pod in world.kube.pods(NS):
        world.kube.put("pods", {**pod, "status": {**pod["status"], "phase": "Failed"}})
    run_cycle(world.scheduler, NOW + timedelta(minutes=31))
    assert world.job("a")["progress"] == 0.5


def test_a_restart_says_what_the_work_it_lost_cost() -> None:
    # It said the time lost, not the money, where a preemption's victim is told both.
    saving = {"checkpoint": {"interval": "20m"}, "failurePolicy": {"maxRestarts": 1}}
    world = one_running(**saving)
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    for pod in world.kube.pods(NS):
        world.kube.put("pods", {**pod, "status": {**pod["status"], "phase": "Failed"}})
    run_cycle(world.scheduler, NOW + timedelta(minutes=31))
    (said,) = world.job("a")["restartHistory"]
    assert said.endswith(
        "11m of work lost (0.52 USD accrued so far, 0.18 USD of it lost; 33% of the work saved)"
    )
    # Its event says as much (it stopped at the time lost).
    assert [m for _, reason, m in world.kube.events if reason == "Requeued"] == [said]


def test_a_restart_seconds_into_its_run_shows_its_figures_alike() -> None:
    # "(0.00 USD accrued so far, 0.0028 USD of it lost)": the accrual cut to the cent.
    world = one_running()
    for pod in world.kube.pods(NS):
        world.kube.put("pods", {**pod, "status": {**pod["status"], "phase": "Failed"}})
    run_cycle(world.scheduler, NOW + timedelta(seconds=10))
    (said,) = world.job("a")["restartHistory"]
    # Its Running status not written yet, the run said "0s of work lost" beside its cost.
    assert said.endswith("; 10s of work lost (0.0028 USD accrued so far, 0.0028 USD of it lost)")


def test_a_restarted_job_is_planned_for_the_rest_and_its_budget_counts_the_new_run() -> None:
    # Checkpointed every 15 minutes, with one restart to spare.
    saving = {"checkpoint": {"interval": "15m"}, "failurePolicy": {"maxRestarts": 1}}
    world = one_running(budget("monthly"), **saving)
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    for pod in world.kube.pods(NS):
        world.kube.put("pods", {**pod, "status": {**pod["status"], "phase": "Failed"}})
    run_cycle(world.scheduler, NOW + timedelta(minutes=31))
    run_cycle(world.scheduler, NOW + timedelta(minutes=32))
    again = world.job("a")
    assert (again["phase"], again["restarts"], again["progress"]) == ("Admitted", 1, 0.5)
    # Half the work is saved: the new run is the other half, and its cost is all still to come.
    assert (again["estimatedDuration"], again["estimatedCost"]) == ("30m", 0.5), again
    # Its message says what the COST column counts: the run, and its earlier runs' cost.
    assert again["message"].endswith("; 1.02 USD in all, with the 0.52 USD its earlier runs cost")
    assert again["cost"] == "~1.02 USD"
    figures = world.kube.status("budgets", NS, "monthly")
    assert (figures["spent"], figures["committed"]) == (0.52, 0.5), figures
    # The restart it used is planned with: no restart is left to spend on spot reclaims.
    record = world.cache.jobs[(NS, "a")]
    assert record.job is not None and record.job.restarts_left == 0


def test_a_run_is_as_long_as_placed_after_its_spec_is_edited_and_the_operator_restarts() -> None:
    # Read from the edited spec, a 1h run edited to 10h took ten times as long: the work its
    # checkpoints saved, read as a share of it, a tenth of its worth.
    world = one_running()
    run_cycle(world.scheduler, NOW + timedelta(minutes=1))
    longer = [{"accelerator": "nvidia-l4", "devicesPerWorker": 1, "duration": "10h"}]
    world.kube.put("trainingjobs", {**job("a", options=longer), "status": world.job("a")})
    (run,) = restarted(world).cache.running()
    assert run.run_s == 3600


def test_a_deleted_job_s_cost_stays_in_every_budget_of_its_namespace() -> None:
    world = one_running(budget("daily", period="day"), budget("monthly", period="month"))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    world.scheduler.job_deleted((NS, "a"), NOW + timedelta(minutes=30))  # as the watch reports it
    world.kube.delete("trainingjobs", NS, "a")
    for pod in world.kube.pods(NS):
        world.kube.delete("pods", NS, pod["metadata"]["name"])
    for minutes in (31, 32):
        run_cycle(world.scheduler, NOW + timedelta(minutes=minutes))
    spent = {b: world.kube.status("budgets", NS, b)["spent"] for b in ("daily", "monthly")}
    assert spent == {"daily": 0.5, "monthly": 0.5}


def test_a_job_whose_workers_went_before_it_is_billed_up_to_their_end() -> None:
    # A foreground deletion takes the pods first: up to their end, not the last cycle.
    world = one_running(budget("daily", period="day"))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    for pod in world.kube.pods(NS):
        key = (NS, pod["metadata"]["name"])
        world.kube.objects.pop(("pods", *key))
        world.cache.forget_pod(key, NOW + timedelta(minutes=36))
    world.scheduler.job_deleted((NS, "a"), NOW + timedelta(minutes=40))
    world.kube.delete("trainingjobs", NS, "a")
    run_cycle(world.scheduler, NOW + timedelta(minutes=41))
    assert world.kube.status("budgets", NS, "daily")["spent"] == 0.6


def test_a_deleted_job_is_billed_up_to_its_deletion_not_its_last_cycle() -> None:
    # Deleted ten minutes after the last cycle settled it: those ten minutes were lost.
    world = one_running(budget("daily", period="day"))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    world.scheduler.job_deleted((NS, "a"), NOW + timedelta(minutes=40))
    world.kube.delete("trainingjobs", NS, "a")
    for pod in world.kube.pods(NS):
        world.kube.delete("pods", NS, pod["metadata"]["name"])
    run_cycle(world.scheduler, NOW + timedelta(minutes=41))
    assert world.kube.status("budgets", NS, "daily")["spent"] == round(40 / 60, 2)


def restarted(world: World) -> World:
    """A new operator on the same API server: an empty cache, filled by listing it."""
    fresh = World.__new__(World)
    fresh.cache = Cache()
    fresh.kube = FakeKube(fresh.cache)
    fresh.kube.objects, fresh.kube._version = world.kube.objects, world.kube._version
    fresh.scheduler = Scheduler(
        fresh.cache,
        fresh.kube,  # type: ignore[arg-type]
        Accountant(fresh.cache, fresh.kube),  # type: ignore[arg-type]
        SolverSettings(time_limit_s=2),
    )
    asyncio.run(fresh.scheduler.prime())
    return fresh


def test_a_placed_job_frees_what_it_was_placed_with_after_its_spec_is_edited() -> None:
    # A running job's spec edited to 1 GPU a worker holds its 8 until it ends: a restarted
    # operator counted it as freeing 1 (for later starts and quotas), room that never frees.
    world = busy_world()
    start_workers(world, "2026-11-29T12:00:00Z")
    world.kube.put("trainingjobs", job("a", options=[{**EIGHT, "devicesPerWorker": 1}]))
    frees = {r.job: r.frees.gpu for r in restarted(world).cache.releases()["l4"]}
    assert frees == {f"{NS}/a": 8, f"{NS}/b": 8}


def test_a_deleted_job_s_cost_is_kept_though_the_others_accrued_more_while_no_operator_ran() -> (
    None
):
    # a and b, 1 USD an hour each, run from 12:00. a is deleted while no operator runs, and
    # b accrues 0.50 USD more by the time one starts again: the budget's spend, compared with
    # the jobs' as accrued then, had not fallen, and a's 0.50 USD was lost from it.
    world = World()
    world.kube.put("budgets", budget("monthly", period="month"))
    for name in ("a", "b"):
        world.kube.put("trainingjobs", job(name, options=[{
            "accelerator": "nvidia-l4", "devicesPerWorker": 1, "duration": "10h"}]))  # fmt: skip
    world.cycle()
    start_workers(world, "2026-11-29T12:00:00Z")
    for minutes in (29, 30):  # accruals written at 12:29, the budget's spend at 12:30
        run_cycle(world.scheduler, NOW + timedelta(minutes=minutes))
    assert world.kube.status("budgets", NS, "monthly")["spent"] == 1.0
    world.kube.objects.pop(("trainingjobs", NS, "a"))
    for pod in world.kube.pods(NS):
        if pod["metadata"]["name"].startswith("a-"):
            world.kube.objects.pop(("pods", NS, pod["metadata"]["name"]))
    fresh = restarted(world)
    for minutes in (60, 61):
        run_cycle(fresh.scheduler, NOW + timedelta(minutes=minutes))
    # a's 0.50 (to 12:30, as the budget had counted it) and b's 1.02 to 13:01.
    assert fresh.kube.status("budgets", NS, "monthly")["spent"] == 1.52


def budget_written_between_accruals() -> World:
    """a (8 USD an hour) and b (1 USD) run from 12:00; their accruals are written at 12:29 and
    the budget's spend (4.42) at 12:29:30, with half a minute of each beyond them: a new job's
    commitment had the budget written between the accruals'."""
    world = World()
    world.kube.put("budgets", budget("monthly", period="month"))
    big = {"accelerator": "nvidia-l4", "devicesPerWorker": 8, "duration": "10h"}
    world.kube.put("trainingjobs", job("a", options=[big]))
    world.kube.put("trainingjobs", job("b", options=[{**big, "devicesPerWorker": 1}]))
    world.cycle()
    start_workers(world, "2026-11-29T12:00:00Z")
    run_cycle(world.scheduler, NOW + timedelta(minutes=29))
    world.kube.put("trainingjobs", job("c", options=[{**big, "devicesPerWorker": 1}]))
    for seconds in (10, 30):
        run_cycle(world.scheduler, NOW + timedelta(minutes=29, seconds=seconds))
    status = world.kube.status("budgets", NS, "monthly")
    assert status["spent"] == 4.42 and status["unwrittenAccrual"] > 0
    return world


def test_a_budget_s_spend_does_not_fall_for_a_job_deleted_while_no_operator_ran() -> None:
    # a is deleted, and an operator is back at 12:29:45: a's last half minute, counted in the
    # budget's 4.42, was lost (4.36 written), where b's quarter minute since could not make up
    # for it.
    world = budget_written_between_accruals()
    world.kube.objects.pop(("trainingjobs", NS, "a"))
    for pod in world.kube.pods(NS):
        if pod["metadata"]["name"].startswith("a-"):
            world.kube.objects.pop(("pods", NS, pod["metadata"]["name"]))
    fresh = restarted(world)
    run_cycle(fresh.scheduler, NOW + timedelta(minutes=29, seconds=45))
    assert fresh.kube.status("budgets", NS, "monthly")["spent"] == 4.42


def test_a_quote_counts_a_budget_s_unwritten_accrual_once() -> None:
    # `plan --cluster` kept the jobs' accrual past their statuses as a deleted job's cost,
    # and accrued it again: 4.50 USD quoted for a Budget at 4.42 (a hard one then had less
    # room than it has).
    fresh = restarted(budget_written_between_accruals())
    quoted = _spent_now(fresh.cache, fresh.kube, NOW + timedelta(minutes=29, seconds=30))
    assert round(quoted[NS, "monthly"], 2) == 4.42


def test_a_job_deleted_while_no_operator_ran_keeps_its_cost_in_its_budgets() -> None:
    world = one_running(budget("daily", period="day"), budget("monthly", period="month"))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))  # 0.50 USD accrued and written
    # The operator is down while the job and its workers are deleted: no watch sees it.
    world.kube.objects.pop(("trainingjobs", NS, "a"))
    for pod in world.kube.pods(NS):
        world.kube.objects.pop(("pods", NS, pod["metadata"]["name"]))
    fresh = restarted(world)
    for minutes in (40, 41):
        run_cycle(fresh.scheduler, NOW + timedelta(minutes=minutes))
    spent = {b: fresh.kube.status("budgets", NS, b)["spent"] for b in ("daily", "monthly")}
    assert spent == {"daily": 0.5, "monthly": 0.5}
    # Kept in the status: another restart counts it once, not twice.
    again = restarted(fresh)
    run_cycle(again.scheduler, NOW + timedelta(minutes=42))
    assert again.kube.status("budgets", NS, "monthly")["spent"] == 0.5
    # The next day, the daily budget starts from nothing.
    later = restarted(again)
    run_cycle(later.scheduler, NOW + timedelta(days=1))
    assert later.kube.status("budgets", NS, "daily")["spent"] == 0.0
    assert later.kube.status("budgets", NS, "monthly")["spent"] == 0.5


def test_a_budget_s_stale_watch_event_does_not_bring_back_old_figures() -> None:
    world = one_running(budget("monthly", period="month"))
    run_cycle(world.scheduler, NOW + timedelta(minutes=10))
    stale = copy.deepcopy(world.kube.objects[("budgets", NS, "monthly")])
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    world.cache.upsert_budget(stale)  # the echo of the earlier write, arriving late
    assert world.cache.budgets[(NS, "monthly")].status.spent == 0.5


def test_a_preempted_job_s_accrual_is_written_with_its_release() -> None:
    world = busy_world()  # a and b run on both L4 nodes, 8 GPUs each at 1 USD a device-hour
    start_workers(world, "2026-11-29T12:00:00Z")
    run_cycle(world.scheduler, NOW + timedelta(minutes=29, seconds=30))  # accruals written
    urgent = {"priority": 100, "preemptionPolicy": "PreemptLowerPriority", "options": [EIGHT],
              "deadline": "2026-11-29T13:35:00Z"}  # fmt: skip
    world.kube.put("trainingjobs", job("urgent", **urgent))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))  # no accrual due: 30 s since
    victims = [world.job(n) for n in ("a", "b") if world.job(n)["reason"] == "Preempted"]
    assert len(victims) == 1
    # Written up to the release, so a restart before the next accrual write keeps it all.
    assert victims[0]["accruedUntil"] == "2026-11-29T12:30:00Z"
    assert victims[0]["accruedCost"] == 4.0


def test_a_run_that_ends_during_the_solve_is_not_preempted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its worker succeeded while the solve ran: it was requeued as preempted anyway, its
    # finished pod (and its logs) deleted, and planned to run again, paid twice.
    world = busy_world()
    start_workers(world, "2026-11-29T12:00:00Z")
    run_cycle(world.scheduler, NOW + timedelta(minutes=29, seconds=30))
    urgent = {"priority": 100, "preemptionPolicy": "PreemptLowerPriority", "options": [EIGHT],
              "deadline": "2026-11-29T13:35:00Z"}  # fmt: skip
    world.kube.put("trainingjobs", job("urgent", **urgent))
    solve = scheduler_module.solve_isolated

    def both_end(*args: Any) -> Any:
        answer = solve(*args)
        for pod in world.kube.pods(NS):
            ended = copy.deepcopy(pod)
            ended["status"] = {**pod["status"], "phase": "Succeeded"}
            world.kube.put("pods", ended)
        return answer

    monkeypatch.setattr(scheduler_module, "solve_isolated", both_end)
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    assert [world.job(n).get("reason") for n in ("a", "b")] == ["Running", "Running"]
    assert len(world.kube.pods(NS)) == 2  # nothing deleted
    assert not [e for e in world.kube.events if e[1] == "Preempted"]


def test_a_preempted_job_keeps_saying_so_in_a_condition_until_it_is_admitted_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "pricewise.controller")
    world = busy_world()
    start_workers(world, "2026-11-29T12:00:00Z")
    urgent = {"priority": 100, "preemptionPolicy": "PreemptLowerPriority", "options": [EIGHT],
              "deadline": "2026-11-29T13:35:00Z"}  # fmt: skip
    world.kube.put("trainingjobs", job("urgent", **urgent))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    (victim,) = [n for n in ("a", "b") if world.job(n)["reason"] == "Preempted"]
    told = world.job(victim)["message"]
    assert told.startswith(f"Preempted by {NS}/urgent (priority 100) at Nov 29 12:30 UTC")
    # The log says it too: a preemption was a cycle's "1 placed" and nothing more.
    assert f"job {NS}/{victim} requeued on pool l4: {told}" in caplog.messages
    released = next(c for c in world.job(victim)["conditions"] if c["type"] == "Admitted")
    assert (released["status"], released["observedGeneration"]) == ("False", 1)
    run_cycle(world.scheduler, NOW + timedelta(minutes=31))  # the urgent job placed
    status = world.job(victim)
    assert (status["phase"], status["reason"]) == ("Pending", "Reserved")
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Admitted"]["reason"] == status["reason"]
    assert conditions["Preempted"] == {
        "type": "Preempted",
        "status": "True",
        "reason": "Preempted",
        "message": told,
        "lastTransitionTime": "2026-11-29T12:30:00Z",
        "observedGeneration": 1,
    }
    # The urgent job gone, the victim is placed again: the condition turns False, kept.
    world.kube.delete("trainingjobs", NS, "urgent")
    for pod in world.kube.pods(NS):
        if pod["metadata"]["name"].startswith("urgent-"):
            world.kube.delete("pods", NS, pod["metadata"]["name"])
    run_cycle(world.scheduler, NOW + timedelta(minutes=40))
    status = world.job(victim)
    assert status["phase"] == "Admitted", status
    preempted = next(c for c in status["conditions"] if c["type"] == "Preempted")
    assert (preempted["status"], preempted["reason"]) == ("False", "Readmitted")
    assert preempted["message"] == f"Previously: {told}"
    assert preempted["lastTransitionTime"] == "2026-11-29T12:40:00Z"


def test_a_job_on_a_pool_taken_out_of_its_price_table_goes_on_costing_its_last_price() -> None:
    world = one_running()
    run_cycle(world.scheduler, NOW + timedelta(minutes=10))
    world.kube.put("nodes", node("h100-0", "h100"))
    world.kube.put("pricetables", table("prices", pool("h100", "nvidia-h100", 4.0)))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    assert world.job("a")["accruedCost"] == 0.5


def test_an_accrual_settled_at_the_old_prices_is_written_at_once() -> None:
    world = one_running()
    run_cycle(world.scheduler, NOW + timedelta(minutes=10))  # written: 10 minutes
    world.scheduler.prices_changing(NOW + timedelta(minutes=10, seconds=30))
    world.kube.put("pricetables", table("prices", pool("l4", "nvidia-l4", 7.0)))
    run_cycle(world.scheduler, NOW + timedelta(minutes=10, seconds=31))
    # 10.5 minutes at 1 USD, then a second at 7: persisted before a restart could lose it.
    status = world.job("a")
    assert status["accruedUntil"] == "2026-11-29T12:10:31Z"
    assert status["accruedCost"] == round(10.5 / 60 + 7 / 3600, 6)


def test_a_job_the_quota_holds_is_planned_for_when_a_job_on_another_pool_gives_it_back() -> None:
    # Quota given back by the namespace's job on the H100 pool was no start for a job of the
    # L4 pool, which has room: it waited with no plan, or was planned at an L4 job's end.
    world = World()
    world.kube.put("nodes", node("h100-0", "h100"))
    prices = table("prices", pool("l4", "nvidia-l4", 1.0), pool("h100", "nvidia-h100", 4.0))
    world.kube.put("pricetables", prices)
    world.kube.put("trainingjobs", job("a", options=[H100]))  # ends at 13:00
    world.cycle()
    start_workers(world, "2026-11-29T12:00:00Z")
    quota = {"metadata": {"name": "gpus", "namespace": NS},
             "spec": {"hard": {"requests.nvidia.com/gpu": "8"}},
             "status": {"hard": {"requests.nvidia.com/gpu": "8"},
                        "used": {"requests.nvidia.com/gpu": "8"}}}  # fmt: skip
    world.kube.put("resourcequotas", quota)
    world.kube.put("trainingjobs", job("b"))  # 1 L4 GPU for an hour
    run_cycle(world.scheduler, NOW + timedelta(minutes=1))
    assert world.job("b")["plannedStart"] == "2026-11-29T13:00:00Z", world.job("b")["message"]
    assert "when the namespace's running jobs give it back" in world.job("b")["message"]


def test_a_quota_that_holds_nothing_takes_no_start_from_its_pool_s_release() -> None:
    # Thirteen H100 jobs of the namespace end before 14:10, beside a quota far from binding:
    # their ends, offered to every job of the namespace, took the place of the L4 pool's own
    # release at 17:00 among its earliest starts, and the L4 job had no plan.
    world = World()
    for i in range(13):
        world.kube.put("nodes", node(f"h100-{i}", "h100"))
    prices = table("prices", pool("l4", "nvidia-l4", 1.0), pool("h100", "nvidia-h100", 4.0))
    world.kube.put("pricetables", prices)
    long_l4 = {"accelerator": "nvidia-l4", "devicesPerWorker": 8, "duration": "5h"}
    for name in ("l4a", "l4b"):
        world.kube.put("trainingjobs", job(name, options=[long_l4]))
    for i in range(13):
        minutes = {**H100, "duration": f"{10 * (i + 1)}m"}
        world.kube.put("trainingjobs", job(f"h{i}", options=[minutes]))
    world.cycle()
    start_workers(world, "2026-11-29T12:00:00Z")
    world.kube.put("resourcequotas", quota("gpus", **{"requests.nvidia.com/gpu": "1000"}))
    world.kube.put("trainingjobs", job("b"))  # 1 L4 GPU for an hour; L4 full until 17:00
    run_cycle(world.scheduler, NOW + timedelta(minutes=1))
    assert world.job("b")["plannedStart"] == "2026-11-29T17:00:00Z", world.job("b")["message"]


def test_a_job_the_quota_holds_is_planned_for_when_its_namespace_s_job_ends() -> None:
    world = World()
    half_hour = {**EIGHT, "duration": "30m"}
    world.kube.put("trainingjobs", job("a", options=[EIGHT]))  # ends at 13:00
    world.kube.put("trainingjobs", job("c", namespace="other", options=[half_hour]))  # 12:30
    world.cycle()
    start_workers(world, "2026-11-29T12:00:00Z")
    for pod in world.kube.pods("other"):
        node_name = pod["metadata"]["annotations"]["pricewise.dev/node"]
        running = {"phase": "Running", "startTime": "2026-11-29T12:00:00Z"}
        world.kube.put("pods", {**pod, "spec": {**pod["spec"], "nodeName": node_name},
                                "status": running})  # fmt: skip
    quota = {"metadata": {"name": "gpus", "namespace": NS},
             "spec": {"hard": {"requests.nvidia.com/gpu": "8"}},
             "status": {"hard": {"requests.nvidia.com/gpu": "8"},
                        "used": {"requests.nvidia.com/gpu": "8"}}}  # fmt: skip
    world.kube.put("resourcequotas", quota)
    world.kube.put("trainingjobs", job("b", options=[EIGHT]))
    run_cycle(world.scheduler, NOW + timedelta(minutes=1))
    # The pool frees at 12:30, but team-a's quota only when `a` ends.
    assert world.job("b")["plannedStart"] == "2026-11-29T13:00:00Z", world.job("b")
    assert world.job("b")["message"] == (
        "quota team-a/gpus: 0 nvidia.com/gpu left, l4 x1 needs 8: planned at ~13:00 UTC, when "
        "the namespace's running jobs give it back, for 8.00 USD"
    )
    # Its options row says the same: the pool has room at 12:30 already.
    assert planned_row(world.job("b"))["note"] == (
        "starts ~13:00 UTC, when its namespace's running jobs give quota back"
    )


def test_a_budget_counts_what_a_running_job_has_left_at_the_prices_now() -> None:
    world = one_running(budget("monthly"))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    world.scheduler.prices_changing(NOW + timedelta(minutes=30))
    world.kube.put("pricetables", table("prices", pool("l4", "nvidia-l4", 5.0)))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    figures = world.kube.status("budgets", NS, "monthly")
    # Half an hour left at 5.00 USD an hour, where the estimate made at 1.00 said 0.50.
    assert (figures["spent"], figures["committed"]) == (0.5, 2.5), figures
    # The solver sees it so too: what is left of the budget is 97.00 USD.
    budgets = world.cache.snapshot(NOW + timedelta(minutes=30)).budgets
    assert [b.remaining for b in budgets] == [97_000_000]


def test_a_budget_whose_commitments_reach_its_limit_says_the_limit_is_reached() -> None:
    world = World()
    world.kube.put("budgets", budget("monthly", limit=1.0))
    world.kube.put("trainingjobs", job("a"))  # 1 GPU for an hour at 1.00 USD
    world.cycle()
    world.cycle()  # budgets are written before the cycle's placements
    conditions = world.kube.status("budgets", NS, "monthly")["conditions"]
    exceeded = next(c for c in conditions if c["type"] == "Exceeded")
    assert (exceeded["status"], exceeded["reason"]) == ("True", "LimitReached")


def test_a_cycle_that_events_came_during_is_followed_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()
    scheduler = world.scheduler
    slept: list[float] = []
    cycles: list[datetime] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def cycle(now: datetime) -> None:
        cycles.append(now)
        if len(cycles) == 1:
            scheduler.poke()  # an event while the cycle runs
        else:
            raise asyncio.CancelledError

    monkeypatch.setattr("pricewise.controller.scheduler.asyncio.sleep", sleep)
    monkeypatch.setattr(scheduler, "cycle", cycle)
    scheduler.settings = LoopSettings(period_s=0.0)  # the first cycle comes by the clock
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(scheduler.run())
    # The first event gathers a burst; the second waited for the cycle, and needs no more.
    assert slept == [scheduler.settings.debounce_s, scheduler.settings.busy_debounce_s]


def test_a_job_placed_at_prices_in_one_currency_is_not_accrued_in_another() -> None:
    world = one_running()
    run_cycle(world.scheduler, NOW + timedelta(minutes=10))
    euros = table("prices", pool("l4", "nvidia-l4", 3.0), currency="EUR")
    world.kube.put("pricetables", euros)
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    # Not 10 minutes of USD plus 20 of EUR added up: USD throughout, at its last USD price.
    assert (world.job("a")["accruedCost"], world.job("a")["currency"]) == (0.5, "USD")
    world.kube.put("pricetables", table("prices", pool("l4", "nvidia-l4", 1.0)))
    run_cycle(world.scheduler, NOW + timedelta(minutes=40))
    assert world.job("a")["accruedCost"] == round(40 / 60, 6)  # resumed, at USD prices


def test_a_deleted_job_s_cost_waits_for_a_budget_set_aside_as_invalid_meanwhile() -> None:
    world = one_running(budget("daily", period="day"))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    good = world.kube.objects[("budgets", NS, "daily")]
    typo = {**good, "spec": {**good["spec"], "timeZone": "Mars/Base"}}
    world.kube.put("budgets", typo)
    world.scheduler.job_deleted((NS, "a"), NOW + timedelta(minutes=30))
    world.kube.delete("trainingjobs", NS, "a")
    for pod in world.kube.pods(NS):
        world.kube.delete("pods", NS, pod["metadata"]["name"])
    run_cycle(world.scheduler, NOW + timedelta(minutes=31))
    world.kube.put("budgets", {**good, "spec": dict(good["spec"])})  # corrected
    run_cycle(world.scheduler, NOW + timedelta(minutes=32))
    assert world.kube.status("budgets", NS, "daily")["spent"] == 0.5


def test_a_node_s_price_is_shared_as_before_while_every_node_of_the_pool_is_cordoned() -> None:
    per_node = {**pool("l4", "nvidia-l4", 0.0), "prices": {"perNodeHour": 8.0}}
    world = World()
    world.kube.put("pricetables", table("prices", per_node))
    world.kube.put("budgets", budget("monthly"))
    world.kube.put("trainingjobs", job("a"))  # an eighth of an 8-GPU node for an hour: 1.00
    world.cycle()
    start_workers(world, "2026-11-29T12:00:00Z")
    for i in range(2):  # drained: the job runs on
        world.kube.put("nodes", node(f"l4-{i}", "l4", unschedulable=True))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    # Not the whole node's 8.00 an hour: a worker's share is measured against the nodes out.
    assert world.job("a")["accruedCost"] == 0.5
    figures = world.kube.status("budgets", NS, "monthly")
    assert (figures["spent"], figures["committed"]) == (0.5, 0.5), figures


def test_room_a_job_gives_back_on_a_cordoned_node_is_planned_for_no_one() -> None:
    # Both L4 nodes busy for an hour; one is then cordoned. In an hour, 8 GPUs will take
    # workers, not 16: a job of 8 and two of 4 cannot all start then (the sums counted the
    # cordoned node's room, and each shape alone fitted the other node).
    world = busy_world()
    start_workers(world, "2026-11-29T12:00:00Z")
    cordoned = world.job("a")["nodes"][0]
    world.kube.put("nodes", node(cordoned, "l4", unschedulable=True))
    four = {**EIGHT, "devicesPerWorker": 4}
    world.kube.put("trainingjobs", job("c", options=[EIGHT]))
    for name in ("d", "e"):
        world.kube.put("trainingjobs", job(name, options=[four]))
    run_cycle(world.scheduler, NOW + timedelta(seconds=10))
    starts = {n: world.job(n).get("plannedStart") for n in ("c", "d", "e")}
    in_an_hour = [
        n for n, at in starts.items() if at and parse_time(at) == NOW + timedelta(hours=1)
    ]
    assert in_an_hour in (["c"], ["d", "e"]), starts


def test_an_idle_cycle_is_logged_at_debug_level_and_a_change_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = busy_world()
    world.kube.put("trainingjobs", job("c", options=[EIGHT]))
    caplog.set_level(logging.DEBUG, logger="pricewise.controller.scheduler")
    for seconds in (10, 20, 30):
        run_cycle(world.scheduler, NOW + timedelta(seconds=seconds))
    levels = [r.levelno for r in caplog.records if r.getMessage().startswith("cycle ")]
    assert levels == [logging.INFO, logging.DEBUG, logging.DEBUG]
    world.kube.put("trainingjobs", job("d", options=[EIGHT]))
    run_cycle(world.scheduler, NOW + timedelta(seconds=40))
    assert caplog.records[-1].levelno == logging.INFO


def test_a_budget_s_status_says_which_spec_it_is_for_and_whether_it_is_exceeded() -> None:
    world = one_running(budget("monthly", limit=0.5, enforcement="soft"))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    written = world.kube.status("budgets", NS, "monthly")
    exceeded = next(c for c in written["conditions"] if c["type"] == "Exceeded")
    assert (written["observedGeneration"], exceeded["status"]) == (1, "True")
    assert all(c["observedGeneration"] == 1 for c in written["conditions"])
    edited = copy.deepcopy(world.kube.objects[("budgets", NS, "monthly")])
    edited["spec"]["limit"] = 100.0
    world.kube.put("budgets", edited)
    run_cycle(world.scheduler, NOW + timedelta(minutes=30, seconds=10))
    written = world.kube.status("budgets", NS, "monthly")
    exceeded = next(c for c in written["conditions"] if c["type"] == "Exceeded")
    assert (written["observedGeneration"], exceeded["status"]) == (2, "False")


def test_a_job_that_outranks_young_runs_says_when_it_may_preempt_and_when_its_pool_frees() -> None:
    world = busy_world()  # a and b run on both L4 nodes until 13:00, at priority 0
    start_workers(world, "2026-11-29T12:00:00Z")
    urgent = {"priority": 100, "options": [EIGHT], "deadline": "2026-11-29T13:35:00Z"}
    world.kube.put("trainingjobs", job("urgent", **urgent))
    run_cycle(world.scheduler, NOW + timedelta(minutes=5))
    status = world.job("urgent")
    assert status["reason"] == "WaitingForCapacity"
    # It said only that the pool had no room.
    assert status["message"] == (
        "no room in pool l4: l4 x1 needs 1 worker(s) of 8 nvidia.com/gpu, 1 CPU, 2Gi; the jobs "
        "running on l4 leave room for it ~13:00 UTC, too late for its deadline; to meet its "
        "deadline it must start by ~12:35 UTC; it preempts only runs of 10m or more, which the "
        "jobs of lower priority on pool l4 reach from ~12:10 UTC"
    )
    run_cycle(world.scheduler, NOW + timedelta(minutes=10))
    assert world.job("urgent")["reason"] == "Preempting"


def test_a_budget_tells_its_namespace_by_event_when_it_crosses_a_threshold_or_its_limit() -> None:
    world = one_running(budget("monthly", limit=1.5, thresholds=[50, 80], enforcement="soft"))
    run_cycle(world.scheduler, NOW)
    run_cycle(world.scheduler, NOW + timedelta(minutes=1))
    said = [(reason, message) for name, reason, message in world.kube.events if name == "monthly"]
    # 1.00 of 1.50 spent and committed: 67 %, past the 50 % mark only; said once.
    assert said == [("ThresholdCrossed", "spent 0.00 + committed 1.00 of 1.50 USD (67%): "
                     "crossed 50% of its limit")]  # fmt: skip
    world.kube.put("trainingjobs", job("b"))
    run_cycle(world.scheduler, NOW + timedelta(minutes=2))
    run_cycle(world.scheduler, NOW + timedelta(minutes=3))
    said = [(reason, message) for name, reason, message in world.kube.events if name == "monthly"]
    assert len(said) == 2 and said[1][0] == "LimitReached", said
    assert said[1][1].endswith("USD (133%): jobs go on running past it"), said
    # The limit raised past it: said too (LimitReached stayed the last word in `describe`).
    raised = copy.deepcopy(world.kube.objects[("budgets", NS, "monthly")])
    raised["spec"]["limit"] = 10.0
    world.kube.put("budgets", raised)
    run_cycle(world.scheduler, NOW + timedelta(minutes=4))
    said = [(reason, message) for name, reason, message in world.kube.events if name == "monthly"]
    assert said[2:] == [("WithinLimit", "spent 0.07 + committed 1.93 of 10.00 USD (20%): within "
                         "its limit again")]  # fmt: skip


def test_a_budget_that_cannot_be_counted_says_so_by_event() -> None:
    world = World()
    world.kube.put("budgets", budget("monthly", timeZone="Mars/Olympus"))
    world.cycle()
    world.cycle()
    said = [(reason, message) for name, reason, message in world.kube.events if name == "monthly"]
    assert [reason for reason, _ in said] == ["InvalidSpec"]
    assert "timeZone" in said[0][1]


def test_a_job_waiting_for_room_past_its_max_wait_says_so_once_with_a_warning() -> None:
    world = busy_world()  # both L4 nodes taken for an hour
    start_workers(world, "2026-11-29T12:00:00Z")
    body = job("c", options=[EIGHT], maxWait="10m")
    body["metadata"]["creationTimestamp"] = "2026-11-29T12:00:00Z"
    world.kube.put("trainingjobs", body)
    world.cycle()

    def exceeded() -> list[dict[str, Any]]:
        conditions = world.job("c").get("conditions") or []
        return [c for c in conditions if c["type"] == "MaxWaitExceeded"]

    assert world.job("c")["phase"] == "Pending" and not exceeded()
    # Told from the first cycle that room comes too late for the bound, before it is passed.
    assert world.job("c")["message"].endswith(
        "; the jobs running on l4 leave room for it ~13:00 UTC, past its max wait (spec.maxWait "
        "10m from submission)"
    )
    for minutes in (11, 12):
        run_cycle(world.scheduler, NOW + timedelta(minutes=minutes))
    (condition,) = exceeded()
    assert (condition["status"], condition["reason"]) == ("True", "PastMaxWait")
    assert condition["message"].startswith(
        "waited 11m for room, past its max wait (spec.maxWait 10m from submission, requeue or "
        "resume)"
    )
    # One Warning for the owner as the bound is passed, not one a cycle.
    told = [e for e in world.kube.events if e[1] == "MaxWaitExceeded"]
    assert told == [("c", "MaxWaitExceeded", condition["message"])]
    # Placed, it waits no more: the condition turns False and keeps what it said.
    for pod in world.kube.pods(NS):
        if pod["metadata"]["labels"].get("pricewise.dev/job") == "a":
            world.kube.put("pods", {**pod, "status": {**pod["status"], "phase": "Succeeded"}})
    run_cycle(world.scheduler, NOW + timedelta(minutes=13))
    assert world.job("c")["phase"] == "Admitted"
    (after,) = exceeded()
    assert (after["status"], after["reason"]) == ("False", "Admitted")
    assert after["message"] == f"Previously: {condition['message']}"


def test_a_job_deleted_while_the_watches_were_broken_is_forgotten_at_the_next_list() -> None:
    # A watch that lists again after a break (410 Gone, an API server restart) sends no event
    # for what was deleted meanwhile: the job stayed in the cache, its worker holding its node
    # (the job waiting for it told the pool frees at its end), its cost accruing, and every
    # cycle failing to write its status (seen live).
    world = busy_world()
    start_workers(world, "2026-11-29T12:00:00Z")
    world.kube.put("trainingjobs", job("c", options=[EIGHT]))
    run_cycle(world.scheduler, NOW + timedelta(minutes=5))
    assert world.job("c")["phase"] == "Pending"
    world.kube.objects.pop(("trainingjobs", NS, "a"))
    for pod in world.kube.pods(NS):
        if pod["metadata"]["name"].startswith("a-"):
            world.kube.objects.pop(("pods", NS, pod["metadata"]["name"]))
    # A cycle lists again once RELIST_EVERY_S have passed since the last list.
    world.scheduler._listed_at = time.monotonic() - RELIST_EVERY_S
    asyncio.run(world.scheduler.counted_cycle(NOW + timedelta(minutes=6)))
    assert (NS, "a") not in world.cache.jobs
    assert not world.cache.workers_of(NS, "a")
    assert world.job("c")["phase"] == "Admitted"
