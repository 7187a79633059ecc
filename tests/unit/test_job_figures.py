"""What a TrainingJob's figures say, and when they are written: a waiting job's costs after a
price change, the work a preemption loses, and the cost columns of `kubectl get tj`."""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime, timedelta
from typing import Any

import pytest
from fake_kube import run_cycle
from test_isolation import NOW, NS, World, _restarted, job, pool, table
from test_planning_status import EIGHT, H100, busy_world, start_workers

from pricewise.api import crdgen
from pricewise.api.models import TrainingJobStatus
from pricewise.controller import handlers
from pricewise.controller.cache import Cache
from pricewise.controller.metrics import Metrics
from pricewise.controller.status import cost_moved, figures, job_cost, pending_changed
from pricewise.controller.teller import REWRITE_EVERY_S
from pricewise.core.accounting import Accrual
from pricewise.core.units import from_micros
from pricewise.kube import ApiError


def costs(status: dict[str, object]) -> dict[str, float]:
    return {row["pool"]: row["cost"] for row in status["options"]}  # type: ignore[attr-defined]


def test_a_waiting_job_s_costs_follow_a_price_change_at_its_next_write() -> None:
    world = busy_world()  # l4 taken for an hour: c waits for it, h100 free now at 4 USD
    world.kube.put("trainingjobs", job("c", options=[EIGHT, H100]))
    world.cycle()
    assert costs(world.job("c")) == {"l4": 8.0, "h100": 32.0}
    written = world.kube.requests["waiting"]
    prices = table("prices", pool("l4", "nvidia-l4", 1.0), pool("h100", "nvidia-h100", 5.0))
    world.kube.put("pricetables", prices)
    run_cycle(world.scheduler, NOW + timedelta(seconds=REWRITE_EVERY_S))
    # Written within seconds, not five minutes later, and in one request.
    assert costs(world.job("c")) == {"l4": 8.0, "h100": 40.0}
    assert "saves 32.00 USD (80%) against h100 x1 now" in world.job("c")["message"]
    assert world.kube.requests["waiting"] == written + 1


def test_a_waiting_job_is_not_rewritten_for_a_cost_that_barely_moved() -> None:
    world = busy_world()
    world.kube.put("trainingjobs", job("c", options=[EIGHT, H100]))
    world.cycle()
    written = world.kube.requests["waiting"]
    # 32.00 to 32.16: half a percent, written at the next refresh with the message.
    prices = table("prices", pool("l4", "nvidia-l4", 1.0), pool("h100", "nvidia-h100", 4.02))
    world.kube.put("pricetables", prices)
    run_cycle(world.scheduler, NOW + timedelta(seconds=REWRITE_EVERY_S))
    run_cycle(world.scheduler, NOW + timedelta(seconds=2 * REWRITE_EVERY_S))
    assert world.kube.requests["waiting"] == written
    assert costs(world.job("c"))["h100"] == 32.0


@pytest.mark.parametrize(
    ("before", "after", "moved"),
    [
        (8.0, 8.01, False),  # a rounding flip at the half cent
        (0.1 + 0.2, 0.3, False),  # float representation
        (32.0, 32.3, False),  # under 1 %
        (32.0, 32.33, True),
        (0.5, 0.52, True),  # two cents on a small job: 4 %
        (None, 8.0, True),
        (8.0, None, True),
        (None, None, False),
    ],
)
def test_a_cost_moves_by_more_than_a_cent_and_a_percent(
    before: float | None, after: float | None, moved: bool
) -> None:
    assert cost_moved(before, after) is moved


def test_a_waiting_job_whose_option_costs_moved_is_due_a_write() -> None:
    row = {"pool": "h100", "accelerator": "nvidia-h100", "capacityType": "on-demand",
           "workers": 1, "devices": 8, "cost": 32.0, "duration": "1h",
           "verdict": "feasible"}  # fmt: skip
    previous = TrainingJobStatus.model_validate({"reason": "Reserved", "options": [row]})
    same = {"phase": "Pending", "reason": "Reserved", "options": [{**row, "cost": 32.01}]}
    dearer = {**same, "options": [{**row, "cost": 40.0}]}
    spot = {**same, "options": [{**row, "listCost": 20.0}]}
    assert not pending_changed(previous, same, NOW)
    assert pending_changed(previous, dearer, NOW)
    assert pending_changed(previous, spot, NOW)


def test_a_waiting_job_told_something_new_is_due_a_write_and_drifting_figures_are_not() -> None:
    # Reserved for the same start, at first for want of room, then by choice once room had
    # appeared elsewhere: the second kept the first's words for five minutes.
    said = "no room now: a100 x1 planned at ~10:15 UTC, when the pool frees, for 8.00 USD"
    previous = TrainingJobStatus.model_validate({"reason": "Reserved", "message": said})
    choice = "waiting for a100 (frees ~10:15 UTC): saves 3.20 USD against l4 x1 now"
    assert pending_changed(previous, {"reason": "Reserved", "message": choice}, NOW)
    drift = said.replace("10:15", "10:16").replace("8.00", "8.01")
    assert not pending_changed(previous, {"reason": "Reserved", "message": drift}, NOW)
    slack = TrainingJobStatus.model_validate({"message": "deadline met with 1d0h2m slack"})
    assert not pending_changed(slack, {"message": "deadline met with 23h59m slack"}, NOW)


def test_a_waiting_job_whose_planned_start_has_passed_is_due_a_write() -> None:
    told = TrainingJobStatus.model_validate(
        {"phase": "Pending", "reason": "Reserved", "plannedStart": "2026-11-29T11:59:00Z"}
    )
    later = {"phase": "Pending", "reason": "Reserved", "plannedStart": "2026-11-29T12:01:00Z"}
    assert pending_changed(told, later, NOW)
    # A minute ahead, the same move is within the promise kept.
    assert not pending_changed(told, later, NOW - timedelta(minutes=2))


URGENT = {"priority": 100, "preemptionPolicy": "PreemptLowerPriority", "options": [EIGHT],
          "deadline": "2026-11-29T13:35:00Z"}  # fmt: skip
"""Needs a whole L4 node within 35 minutes: only a preemption gives it one."""


def test_a_cut_run_keeps_what_its_trainer_reported_saved() -> None:
    # The progress annotation planned the next run for the rest of the work, yet the run was
    # told it lost all it had run: "ran 30m, 4.00 USD of work lost" beside "25% saved".
    world = busy_world()  # a and b on both L4 nodes, 8 GPUs for an hour: 8.00 USD estimated
    world.scheduler.metrics = Metrics(world.cache, world.scheduler.accountant)
    start_workers(world, "2026-11-29T12:00:00Z")
    for name in ("a", "b"):
        body = copy.deepcopy(world.kube.objects[("trainingjobs", NS, name)])
        body["metadata"]["annotations"] = {"pricewise.dev/progress": "0.25"}
        world.kube.put("trainingjobs", body)
    run_cycle(world.scheduler, NOW + timedelta(minutes=29, seconds=30))
    world.kube.put("trainingjobs", job("urgent", **URGENT))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    (status,) = [world.job(n) for n in ("a", "b") if world.job(n)["reason"] == "Preempted"]
    # 15 of its 30 minutes saved: 15 minutes at 8.00 USD an hour lost.
    assert status["message"].endswith("ran 30m, 2.00 USD of work lost"), status["message"]
    assert status["progress"] == 0.25
    registry = world.scheduler.metrics.registry
    labels = {"namespace": NS, "pool": "l4", "reason": "Preempted", "currency": "USD"}
    assert registry.get_sample_value("pricewise_lost_work_cost_total", labels) == 2.0


def test_a_preempted_run_never_loses_more_than_it_accrued() -> None:
    world = busy_world()  # a and b on both L4 nodes, 8 GPUs for an hour: 8.00 USD estimated
    world.scheduler.metrics = Metrics(world.cache, world.scheduler.accountant)
    start_workers(world, "2026-11-29T12:00:00Z")
    # Half price from their start: their runs accrue 4.00 USD an hour, not the 8.00 estimated.
    world.scheduler.prices_changing(NOW)
    world.kube.put(
        "pricetables",
        table("prices", pool("l4", "nvidia-l4", 0.5), pool("h100", "nvidia-h100", 4.0)),
    )
    run_cycle(world.scheduler, NOW + timedelta(minutes=29, seconds=30))
    world.kube.put("trainingjobs", job("urgent", **URGENT))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    (status,) = [world.job(n) for n in ("a", "b") if world.job(n)["reason"] == "Preempted"]
    # No checkpoints: its whole run is lost, which cost what it accrued, 2.00 (not 4.00).
    assert status["accruedCost"] == 2.0
    assert status["message"].endswith("ran 30m, 2.00 USD of work lost"), status["message"]
    preempted = next(c for c in status["conditions"] if c["type"] == "Preempted")
    assert preempted["message"] == status["message"]
    assert world.job("urgent")["message"].endswith("their lost work: 2.00 USD")
    registry = world.scheduler.metrics.registry
    labels = {"namespace": NS, "pool": "l4", "reason": "Preempted", "currency": "USD"}
    assert registry.get_sample_value("pricewise_lost_work_cost_total", labels) == 2.0


def test_a_victim_whose_status_write_fails_keeps_its_workers_and_its_restarts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its workers were deleted before its status was written: a write that failed (or an
    # operator stopped between the two) left it Running without them, and the next cycle
    # counted a worker lost and spent a restart.
    world = busy_world()
    start_workers(world, "2026-11-29T12:00:00Z")
    run_cycle(world.scheduler, NOW + timedelta(minutes=29))
    write, refused = world.kube.patch_status, []

    async def refusing(plural: str, namespace: str, name: str, body: Any, *rest: Any) -> Any:
        if body.get("reason") == "Preempted" and not refused:
            refused.append(name)
            raise ApiError(500, "etcd timed out")
        return await write(plural, namespace, name, body, *rest)

    monkeypatch.setattr(world.kube, "patch_status", refusing)
    world.kube.put("trainingjobs", job("urgent", **URGENT))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    run_cycle(world.scheduler, NOW + timedelta(minutes=31))
    (victim,) = refused
    status = world.job(victim)
    assert status.get("restarts", 0) == 0 and "WorkerLost" not in str(status), status
    assert any(c["type"] == "Preempted" for c in status["conditions"])


def test_a_victim_whose_workers_outlive_its_release_is_still_told_preempted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Workers deleted first, an operator stopped before the victim's status was written left
    # it Running without them: the next cycle counted a worker lost, and spent a restart.
    world = busy_world()
    start_workers(world, "2026-11-29T12:00:00Z")
    run_cycle(world.scheduler, NOW + timedelta(minutes=29))
    delete, refused = world.kube.delete_workers, []

    async def stopped(namespace: str, name: str, ended_too: bool = True) -> None:
        if not refused:  # as if the operator stopped right after the status write
            refused.append(name)
            raise ApiError(503, "the operator stopped")
        await delete(namespace, name, ended_too)

    monkeypatch.setattr(world.kube, "delete_workers", stopped)
    world.kube.put("trainingjobs", job("urgent", **URGENT))
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    (victim,) = refused

    def workers() -> list[str]:
        return [n for p in world.kube.pods(NS) if (n := p["metadata"]["name"]).startswith(victim)]

    assert workers()  # they outlived the write
    run_cycle(world.scheduler, NOW + timedelta(minutes=31))
    status = world.job(victim)
    assert (status["reason"], status.get("restarts", 0)) in {("Preempted", 0), ("Reserved", 0)}
    assert "Preempted by" in " ".join(c["message"] for c in status["conditions"])
    assert workers() == []


def _placed(**status: Any) -> Cache:
    """A cache holding job `a`, placed at 12:00 on l4 (8.00 USD estimated for 1h) with
    `status` beside."""
    cache = Cache()
    body = job("a", options=[EIGHT])
    body["metadata"]["creationTimestamp"] = "2026-11-29T11:00:00Z"
    body["status"] = {
        "phase": "Running", "pool": "l4", "optionIndex": 0, "workers": 1, "nodes": ["l4-0"],
        "estimatedCost": 8.0, "estimatedDuration": "1h", "admittedAt": "2026-11-29T12:00:00Z",
        "startedAt": "2026-11-29T12:00:00Z", **status,
    }  # fmt: skip
    cache.upsert_job(body)
    return cache


def _lost(cache: Cache, accrual: Accrual | None = None) -> float:
    run = cache.running_job(cache.jobs[(NS, "a")], accrual)
    assert run is not None
    return from_micros(run.lost(NOW + timedelta(minutes=30)))


def test_what_a_cut_run_loses_is_what_it_accrued_since_it_was_admitted() -> None:
    # Its earlier runs cost 10.00; this one 1.50 in 30 minutes (a cheaper price than placed at).
    half_hour = {"accruedCost": 11.5, "accruedUntil": "2026-11-29T12:30:00Z"}
    assert _lost(_placed(accruedBeforeRun=10.0, **half_hour)) == 1.5
    # The accountant's figure, up to this cycle, where it is newer than the status's.
    fresh = Accrual(11.6, NOW + timedelta(minutes=30))
    stale = {"accruedCost": 11.0, "accruedUntil": "2026-11-29T12:20:00Z"}
    assert _lost(_placed(accruedBeforeRun=10.0, **stale), fresh) == 1.6
    # Placed by a version that did not write accruedBeforeRun: at most all it has accrued.
    assert _lost(_placed(accruedCost=3.0, accruedUntil="2026-11-29T12:01:00Z")) == 3.0
    # Not accrued yet (its workers never ran): nothing was spent, nothing is lost.
    assert _lost(_placed(accruedBeforeRun=0.0)) == 0.0


def test_a_readmitted_job_counts_its_run_from_what_it_had_accrued() -> None:
    world = World()
    world.kube.put("trainingjobs", job("a"))
    world.cycle()
    assert world.job("a")["accruedBeforeRun"] == 0.0
    start_workers(world, "2026-11-29T12:00:00Z")
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    world.kube.delete("nodes", "", world.job("a")["nodes"][0])
    run_cycle(world.scheduler, NOW + timedelta(minutes=31))
    again = world.job("a")  # requeued and placed again on the other node in the same cycle
    assert (again["phase"], again["restarts"]) == ("Admitted", 1)
    assert again["accruedBeforeRun"] == again["accruedCost"] == round(31 / 60, 6)


def kubectl_get(world: World, name: str) -> dict[str, Any]:
    """The row `kubectl get tj -o wide` prints for job `name`, by column: each of the CRD's
    printer columns read from the object as stored (blank where its path finds nothing)."""
    (kind,) = [k for k in crdgen._KINDS if k["plural"] == "trainingjobs"]
    body: Any = world.kube.objects[("trainingjobs", NS, name)]
    row = {}
    for column in crdgen.crd(kind)["spec"]["versions"][0]["additionalPrinterColumns"]:
        value = body
        for part in column["jsonPath"].strip(".").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        row[column["name"].upper()] = "" if value is None else value
    return row


def _ended(world: World, name: str, at: str) -> None:
    """Job `name`'s workers, running since 12:00, exited 0 at `at`."""
    for pod in world.kube.pods(NS):
        if pod["metadata"]["labels"].get("pricewise.dev/job") == name:
            done = {"terminated": {"startedAt": "2026-11-29T12:00:00Z", "finishedAt": at}}
            status = {**pod["status"], "phase": "Succeeded",
                      "containerStatuses": [{"name": "main", "state": done}]}  # fmt: skip
            world.kube.put("pods", {**pod, "status": status})


def test_kubectl_get_tj_shows_what_each_job_costs_in_its_currency() -> None:
    world = busy_world()  # a and b placed on L4 for an hour: 8.00 USD each
    world.kube.put("trainingjobs", job("c", options=[EIGHT]))  # waits for l4 at 13:00
    world.cycle()
    assert kubectl_get(world, "a")["COST"] == "~8.00 USD"
    assert kubectl_get(world, "c")["REASON"] == "Reserved"
    assert kubectl_get(world, "c")["COST"] == "~8.00 USD"  # its plan's, not blank
    assert kubectl_get(world, "c")["ACCRUED"] == ""  # it never ran: nothing to show
    start_workers(world, "2026-11-29T12:00:00Z")
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    running = kubectl_get(world, "a")
    assert (running["PHASE"], running["COST"], running["ACCRUED"]) == (
        "Running", "~8.00 USD", "4.00 USD"
    )  # fmt: skip
    # Done in 45 minutes: what it cost, not what it was estimated to.
    _ended(world, "a", "2026-11-29T12:45:00Z")
    run_cycle(world.scheduler, NOW + timedelta(minutes=46))
    done = kubectl_get(world, "a")
    assert (done["PHASE"], done["COST"], done["ACCRUED"]) == ("Succeeded", "6.00 USD", "6.00 USD")


def test_a_requeued_job_shows_what_it_spent_and_no_estimate_of_the_run_it_lost() -> None:
    world = busy_world()  # a and b fill both L4 nodes until 13:00
    start_workers(world, "2026-11-29T12:00:00Z")
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    world.kube.delete("nodes", "", world.job("a")["nodes"][0])
    run_cycle(world.scheduler, NOW + timedelta(minutes=31))
    status = world.job("a")
    assert (status["phase"], status["restarts"]) == ("Pending", 1)
    assert "estimatedCost" not in status and "estimatedDuration" not in status
    assert status["accruedCost"] == round(8 * 31 / 60, 6)
    # Its spend so far (4.13), and, once it is planned, that plus its new run (8.00).
    assert kubectl_get(world, "a")["ACCRUED"] == "4.13 USD"
    run_cycle(world.scheduler, NOW + timedelta(minutes=32))
    assert world.job("a")["reason"] == "Reserved"
    assert kubectl_get(world, "a")["COST"] == "~12.13 USD"


@pytest.mark.parametrize("ended", [None, "2026-11-29T12:30:20Z"])
def test_a_worker_deleted_between_cycles_is_billed_up_to_its_deletion(
    monkeypatch: pytest.MonkeyPatch, ended: str | None
) -> None:
    # Forgotten as its deletion came, a worker's run since the last cycle went unbilled: up to
    # a cycle's period of every worker lost (a spot reclaim, a node drained). Deleted at
    # 12:30:25, or first ended by the kubelet at 12:30:20 and then removed.
    world = busy_world()  # a and b fill both L4 nodes until 13:00, 8 GPUs at 1.00 USD each
    monkeypatch.setattr(handlers, "CACHE", world.cache)
    monkeypatch.setattr(handlers, "_state", {})
    start_workers(world, "2026-11-29T12:00:00Z")
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    (pod,) = [p for p in world.kube.pods(NS) if p["metadata"]["ownerReferences"][0]["name"] == "a"]
    if ended is not None:
        terminated = {"terminated": {"startedAt": "2026-11-29T12:00:00Z", "finishedAt": ended}}
        status = {**pod["status"], "phase": "Failed", "containerStatuses": [{"state": terminated}]}
        pod = world.kube.put("pods", {**pod, "status": status})
    name = pod["metadata"]["name"]
    del world.kube.objects["pods", NS, name]
    gone = {**pod, "metadata": {**pod["metadata"], "deletionTimestamp": "2026-11-29T12:30:25Z"}}
    asyncio.run(handlers.pod(type="DELETED", body=gone))  # as the watch reports it
    run_cycle(world.scheduler, NOW + timedelta(minutes=31))
    status = world.job("a")
    assert status["restarts"] == 1  # and placed again on its node, free again
    ran = 30 * 60 + (20 if ended else 25)
    assert status["accruedCost"] == round(8 * ran / 3600, 6)


def test_a_placed_job_is_expected_to_cost_its_earlier_runs_and_at_least_what_it_spent() -> None:
    placed = {"phase": "Running", "currency": "EUR", "estimatedCost": 8.0}
    read = TrainingJobStatus.model_validate
    assert job_cost(read({**placed, "accruedBeforeRun": 4.13}), "USD") == "~12.13 EUR"
    overrun = {**placed, "accruedBeforeRun": 0.0, "accruedCost": 9.5}
    assert job_cost(read(overrun), "USD") == "~9.50 EUR"
    assert job_cost(read({"phase": "Failed", "accruedCost": 1234.5}), "USD") == "1,234.50 USD"
    assert job_cost(read({"reason": "WaitingForCapacity"}), "USD") is None
    assert job_cost(read({"reason": "WaitingForCapacity", "accruedCost": 2.0}), "USD") == (
        "2.00 USD"
    )


def test_the_cost_columns_cost_no_write_of_their_own() -> None:
    before = {"phase": "Running", "currency": "USD", "estimatedCost": 8.0, "accruedCost": 1.0,
              "accruedBeforeRun": 0.0, "cost": "~8.00 USD", "accrued": "1.00 USD"}  # fmt: skip
    assert figures(before, {"message": "still running"}, "USD") == {}
    assert figures(before, {"accruedCost": 1.5}, "USD") == {"accrued": "1.50 USD"}
    # A plan that goes takes its expected cost with it.
    reserved = {"cost": "~8.00 USD", "options": []}
    assert figures(reserved, {"reason": "WaitingForCapacity"}, "USD") == {"cost": None}


def repriced_at_half_time(world: World, price: float) -> datetime:
    """The placed jobs' workers running from 12:00, and L4 at `price` a GPU-hour from 12:30,
    the moment returned (the cycles before and at it run)."""
    start_workers(world, "2026-11-29T12:00:00Z")
    halfway = NOW + timedelta(minutes=30)
    run_cycle(world.scheduler, halfway - timedelta(minutes=1))
    world.scheduler.prices_changing(halfway)
    world.kube.put("pricetables", table("prices", pool("l4", "nvidia-l4", price)))
    run_cycle(world.scheduler, halfway)
    return halfway


def test_a_run_placed_on_a_free_pool_is_estimated_at_the_price_it_then_gets() -> None:
    # Scaled by its new price over the old, a run placed at 0 stayed estimated at 0 once its
    # pool was priced, while its Budget counted what it had left at the new price.
    world = World()
    world.kube.put("pricetables", table("prices", pool("l4", "nvidia-l4", 0.0)))
    world.kube.put("trainingjobs", job("a", options=[EIGHT]))
    world.cycle()
    assert world.job("a")["estimatedCost"] == 0.0
    halfway = repriced_at_half_time(world, 1.0)
    run_cycle(world.scheduler, halfway + timedelta(minutes=5))
    # Nothing accrued in its free half hour; the other half hour, 8 L4 at 1.00: 4.00 (0.67 of
    # it accrued in the five minutes since).
    assert (world.job("a")["accruedCost"], world.job("a")["estimatedCost"]) == (0.666667, 4.0)


def test_a_job_whose_pool_is_taken_out_of_the_prices_is_told_in_an_event_once() -> None:
    # Said in the operator's log alone: an admin using kubectl could not see that its jobs ran
    # on a pool with no price.
    world = busy_world()
    start_workers(world, "2026-11-29T12:00:00Z")
    world.kube.put("pricetables", table("prices", pool("h100", "nvidia-h100", 4.0)))
    for minutes in (5, 6):
        run_cycle(world.scheduler, NOW + timedelta(minutes=minutes))
    told = [(name, m) for name, reason, m in world.kube.events if reason == "PoolUnpriced"]
    assert sorted(told) == [
        (name, "runs on pool l4, which no PriceTable has now: accrued at its last price")
        for name in ("a", "b")
    ]
    # Priced again, then taken out again: told again.
    world.kube.put("pricetables", table("prices", pool("l4", "nvidia-l4", 1.0)))
    run_cycle(world.scheduler, NOW + timedelta(minutes=7))
    world.kube.put("pricetables", table("prices", pool("h100", "nvidia-h100", 4.0)))
    run_cycle(world.scheduler, NOW + timedelta(minutes=8))
    assert sum(reason == "PoolUnpriced" for _, reason, _ in world.kube.events) == 4


def test_a_price_rise_that_takes_a_run_past_its_max_cost_is_said_once() -> None:
    # Its COST column went past spec.maxCost, which reads "never spend more than this", with
    # no word on the job.
    world = World()
    world.kube.put("trainingjobs", job("a", maxCost=10.0, options=[EIGHT]))
    world.kube.put("trainingjobs", job("b", options=[EIGHT]))
    world.cycle()
    halfway = repriced_at_half_time(world, 2.0)
    run_cycle(world.scheduler, halfway + timedelta(minutes=5))
    # 4.00 accrued, the other half hour at twice the price: 12.00, past 10.00; b has no limit.
    assert world.job("a")["estimatedCost"] == 12.0
    # A second rise is not news: it was said.
    world.scheduler.prices_changing(halfway + timedelta(minutes=10))
    world.kube.put("pricetables", table("prices", pool("l4", "nvidia-l4", 3.0)))
    run_cycle(world.scheduler, halfway + timedelta(minutes=10))
    assert world.job("a")["estimatedCost"] > 12.0
    said = [(name, m) for name, reason, m in world.kube.events if reason == "PastMaxCost"]
    assert said == [("a", (
        "estimated 12.00 USD since a price change, past spec.maxCost 10.00 USD: maxCost is "
        "checked where a job is placed, and a placed run goes on; delete the job to stop it"
    ))]  # fmt: skip


def test_a_run_longer_than_its_estimate_that_passes_its_max_cost_is_said_once() -> None:
    # 8.00 USD estimated against a maxCost of 9.00; it ran on, cost 10.00, and nothing said so.
    world = World()
    world.kube.put("trainingjobs", job("a", maxCost=9.0, options=[EIGHT]))
    world.cycle()
    start_workers(world, "2026-11-29T12:00:00Z")
    run_cycle(world.scheduler, NOW + timedelta(minutes=60))
    assert [r for n, r, _ in world.kube.events if r == "PastMaxCost"] == []
    run_cycle(world.scheduler, NOW + timedelta(minutes=70))  # 9.33 USD
    run_cycle(world.scheduler, NOW + timedelta(minutes=75))
    said = [(name, m) for name, reason, m in world.kube.events if reason == "PastMaxCost"]
    assert said == [("a", (
        "its run has cost 9.33 USD, past spec.maxCost 9.00 USD: it runs longer than its "
        "estimate, and maxCost is checked where a job is placed, so the run goes on; delete "
        "the job to stop it"
    ))]  # fmt: skip
    # Told as it crossed: an operator that starts again does not tell the same run again.
    _restarted(world)
    run_cycle(world.scheduler, NOW + timedelta(minutes=80))
    assert len([r for _, r, _ in world.kube.events if r == "PastMaxCost"]) == 1


def test_a_run_goes_on_at_its_last_price_once_the_prices_are_in_another_currency() -> None:
    # Its accrual stopped at the switch to EUR, and the rest of its run was never billed (the
    # Budget's message tells its admin to make the switch). It goes on in USD, said once.
    world = World()
    world.scheduler.metrics = Metrics(world.cache, world.scheduler.accountant)
    world.kube.put("trainingjobs", job("a", options=[EIGHT]))
    world.cycle()
    halfway = repriced_at_half_time(world, 1.0)
    world.scheduler.prices_changing(halfway)
    world.kube.put("pricetables", table("prices", pool("l4", "nvidia-l4", 2.0), currency="EUR"))
    registry = world.scheduler.metrics.registry
    list(registry.collect())  # a scrape: the counter's series are read at 0 first
    run_cycle(world.scheduler, halfway + timedelta(minutes=30))
    status = world.job("a")
    assert (status["accruedCost"], status["currency"]) == (8.0, "USD")  # 8 GPUs, an hour, 1.00
    said = [m for name, reason, m in world.kube.events if reason == "NotAccrued"]
    assert said == [
        "placed at USD prices; the PriceTable's are in EUR now: accrued at its last USD price"
    ]
    # Counted in the currency it accrued in, not the cycle's.
    list(registry.collect())
    run_cycle(world.scheduler, halfway + timedelta(minutes=31))
    counted = {"namespace": NS, "pool": "l4"}
    assert registry.get_sample_value("pricewise_cost_accrued_total", {**counted, "currency": "USD"})
    assert (
        registry.get_sample_value("pricewise_cost_accrued_total", {**counted, "currency": "EUR"})
        is None
    )


def test_a_job_deleted_and_created_again_is_told_of_its_own_run() -> None:
    # The operator kept what it had told a deleted job: created again under its name, a price
    # rise that took its run past its maxCost went unsaid.
    world = World()
    world.kube.put("trainingjobs", job("a", maxCost=10.0, options=[EIGHT]))
    world.cycle()
    halfway = repriced_at_half_time(world, 2.0)  # 12.00 USD: told
    world.scheduler.job_deleted((NS, "a"), NOW + timedelta(minutes=30))  # as the watch reports it
    world.kube.delete("trainingjobs", NS, "a")
    for pod in world.kube.pods(NS):  # collected with it
        world.kube.delete("pods", NS, pod["metadata"]["name"])
    world.scheduler.prices_changing(halfway)
    world.kube.put("pricetables", table("prices", pool("l4", "nvidia-l4", 1.0)))
    world.kube.put("trainingjobs", job("a", maxCost=10.0, options=[EIGHT]))
    run_cycle(world.scheduler, halfway)
    assert world.job("a")["estimatedCost"] == 8.0
    start_workers(world, "2026-11-29T12:30:00Z")
    later = halfway + timedelta(minutes=15)
    run_cycle(world.scheduler, later - timedelta(minutes=1))
    world.scheduler.prices_changing(later)
    world.kube.put("pricetables", table("prices", pool("l4", "nvidia-l4", 2.0)))
    run_cycle(world.scheduler, later)  # 2.00 accrued, 12.00 for the 45 minutes left
    assert world.job("a")["estimatedCost"] == 14.0
    said = [name for name, reason, _ in world.kube.events if reason == "PastMaxCost"]
    assert said == ["a", "a"]


def test_a_placed_job_s_expected_cost_follows_a_price_change_as_its_budget_does() -> None:
    world = busy_world()  # a and b on L4 for an hour at 8 x 1.00 USD: 8.00 each
    halfway = repriced_at_half_time(world, 0.5)
    # 4.00 accrued in its first half hour, then the other half at half the price: 2.00.
    status = world.job("a")
    assert (status["accruedCost"], status["estimatedCost"]) == (4.0, 6.0)
    assert kubectl_get(world, "a")["COST"] == "~6.00 USD"
    registry = Metrics(world.cache, world.scheduler.accountant).registry
    labels = {"namespace": NS, "trainingjob": "a", "pool": "l4", "currency": "USD"}
    assert registry.get_sample_value("pricewise_job_estimated_cost", labels) == 6.0
    before = world.kube.requests.total()
    run_cycle(world.scheduler, halfway + timedelta(seconds=10))
    assert world.kube.requests.total() == before  # written once
    # Its run given back (its node lost): the re-estimate goes with the placement.
    world.kube.delete("nodes", "", status["nodes"][0])
    run_cycle(world.scheduler, halfway + timedelta(minutes=1))
    assert "estimatedCost" not in world.job("a") and world.job("a")["phase"] == "Pending"
