"""Finished jobs deleted once their `spec.ttlSecondsAfterFinished` passes, as batch/v1's
TTL-after-finished controller deletes Jobs, where the admin lets the operator delete them; kept
and told so where not."""

from __future__ import annotations

import copy
from datetime import timedelta

from fake_kube import run_cycle
from test_isolation import NOW, NS, World, budget, job
from test_planning_status import EIGHT, start_workers

from pricewise.controller.expiry import NOT_ENFORCED
from pricewise.kube import ApiError


def finished_world(allowed: bool, **spec: object) -> World:
    """Jobs `a` (with `spec`) and `b` (without), each on an 8-GPU node at 8.00 USD an hour
    from 12:00 and succeeded at 12:30, seen ended by the cycle of 12:31; a Budget in their
    namespace."""
    world = World()
    world.scheduler.expiry.allowed = allowed
    world.kube.deleting = lambda key: world.scheduler.job_deleted(key, NOW + timedelta(hours=1))
    world.kube.put("budgets", budget("team"))
    world.kube.put("trainingjobs", job("a", options=[EIGHT], **spec))
    world.kube.put("trainingjobs", job("b", options=[EIGHT]))
    world.cycle()
    start_workers(world, "2026-11-29T12:00:00Z")
    for pod in world.kube.pods(NS):
        world.kube.put("pods", {**pod, "status": {
            "phase": "Succeeded", "startTime": "2026-11-29T12:00:00Z",
            "containerStatuses": [{"name": "main", "state": {"terminated": {
                "exitCode": 0, "finishedAt": "2026-11-29T12:30:00Z"}}}],
        }})  # fmt: skip
    run_cycle(world.scheduler, NOW + timedelta(minutes=31))
    assert {world.job(n)["phase"] for n in ("a", "b") if exists(world, n)} == {"Succeeded"}
    return world


def exists(world: World, name: str) -> bool:
    return ("trainingjobs", NS, name) in world.kube.objects


def test_a_finished_job_is_deleted_once_its_ttl_has_passed_and_not_before() -> None:
    world = finished_world(allowed=True, ttlSecondsAfterFinished=600)
    finished = world.job("a")["finishedAt"]
    run_cycle(world.scheduler, NOW + timedelta(minutes=35))
    assert exists(world, "a")
    run_cycle(world.scheduler, NOW + timedelta(minutes=50))
    assert not exists(world, "a"), finished
    assert exists(world, "b")  # without a TTL, kept for good
    assert NOT_ENFORCED not in [reason for _, reason, _ in world.kube.events]
    # What it spent stays with its Budget: both runs, half an hour each.
    run_cycle(world.scheduler, NOW + timedelta(minutes=55))
    assert world.kube.status("budgets", NS, "team")["spent"] == 8.0


def test_a_ttl_of_zero_deletes_the_job_in_the_cycle_that_sees_it_finished() -> None:
    world = finished_world(allowed=True, ttlSecondsAfterFinished=0)
    assert not exists(world, "a") and exists(world, "b")


def test_a_ttl_set_after_the_job_finished_applies() -> None:
    world = finished_world(allowed=True)
    body = copy.deepcopy(world.kube.objects[("trainingjobs", NS, "b")])
    body["spec"]["ttlSecondsAfterFinished"] = 60
    world.kube.put("trainingjobs", body)
    run_cycle(world.scheduler, NOW + timedelta(hours=1))
    assert not exists(world, "b") and exists(world, "a")


def test_where_the_operator_may_not_delete_the_job_is_kept_and_told_once() -> None:
    world = finished_world(allowed=False, ttlSecondsAfterFinished=60)
    for minutes in (40, 45):
        run_cycle(world.scheduler, NOW + timedelta(minutes=minutes))
    assert exists(world, "a")
    told = [message for name, reason, message in world.kube.events if reason == NOT_ENFORCED]
    assert told == [
        "spec.ttlSecondsAfterFinished has passed, but this operator does not delete "
        "TrainingJobs: the job is kept (delete it with kubectl; the admin lets the operator "
        "delete finished jobs with the chart's ttlAfterFinished.enabled)"
    ]


def test_a_job_that_has_not_finished_is_never_deleted_by_its_ttl() -> None:
    world = World()
    world.scheduler.expiry.allowed = True
    world.kube.put("trainingjobs", job("a", options=[EIGHT], ttlSecondsAfterFinished=0))
    world.cycle()
    start_workers(world, "2026-11-29T12:00:00Z")
    run_cycle(world.scheduler, NOW + timedelta(hours=3))
    assert exists(world, "a") and world.job("a")["phase"] == "Running"


def test_where_the_delete_is_forbidden_the_jobs_are_told_and_the_cycle_goes_on() -> None:
    # PRICEWISE_DELETE_FINISHED without the verb: every cycle failed on the first job, the
    # others were never tried, and none was told.
    world = finished_world(allowed=True)
    for name in ("a", "b"):
        body = copy.deepcopy(world.kube.objects[("trainingjobs", NS, name)])
        body["spec"]["ttlSecondsAfterFinished"] = 60
        world.kube.put("trainingjobs", body)

    async def forbidden(*_: object) -> bool:
        raise ApiError(403, 'trainingjobs.pricewise.dev "a" is forbidden')

    world.kube.delete_job = forbidden  # type: ignore[method-assign]
    run_cycle(world.scheduler, NOW + timedelta(hours=1))
    assert exists(world, "a") and exists(world, "b")
    told = sorted(name for name, reason, _ in world.kube.events if reason == NOT_ENFORCED)
    assert told == ["a", "b"]
    assert not world.scheduler.expiry.allowed


def test_a_finished_job_without_its_end_time_ends_when_its_condition_says() -> None:
    world = finished_world(allowed=True)
    body = copy.deepcopy(world.kube.objects[("trainingjobs", NS, "b")])
    body["spec"]["ttlSecondsAfterFinished"] = 600
    body["status"].pop("finishedAt")  # a status written by hand, or by an older version
    world.kube.put("trainingjobs", body)
    assert world.cache.jobs[(NS, "b")].expires_at is not None
    run_cycle(world.scheduler, NOW + timedelta(hours=1))
    assert not exists(world, "b")


def test_a_job_being_deleted_already_is_not_deleted_again() -> None:
    world = finished_world(allowed=True)
    body = copy.deepcopy(world.kube.objects[("trainingjobs", NS, "b")])
    body["spec"]["ttlSecondsAfterFinished"] = 0
    body["metadata"]["deletionTimestamp"] = "2026-11-29T12:40:00Z"  # someone's finalizer holds it
    world.kube.put("trainingjobs", body)
    run_cycle(world.scheduler, NOW + timedelta(hours=1))
    assert world.kube.requests["expiry"] == 0
