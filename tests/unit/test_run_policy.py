"""How a job's run is bounded by its owner, as batch/v1 Jobs and Kubeflow's run policy do it:
`spec.suspend` (a suspended job is not planned and holds no room, a placed one is stopped as a
preemption stops it, and a resumed one is planned again, its wait counted from its resume) and
`spec.activeDeadlineSeconds` (a run past it fails for good)."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_kube import run_cycle
from test_isolation import NOW, NS, World, job
from test_planning_status import EIGHT, busy_world, start_workers

from pricewise.api.models import TrainingJob, TrainingJobStatus
from pricewise.cli import main
from pricewise.controller import status
from pricewise.controller.metrics import Metrics
from pricewise.controller.quote import quote
from pricewise.core import lifecycle
from pricewise.core.lifecycle import PodRecord
from pricewise.core.snapshot import Resources
from pricewise.core.times import parse_time
from pricewise.kube import ConflictError


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def set_suspend(world: World, name: str, value: bool) -> None:
    body = copy.deepcopy(world.kube.objects[("trainingjobs", NS, name)])
    body["spec"]["suspend"] = value
    world.kube.put("trainingjobs", body)


def events(world: World, name: str) -> list[str]:
    return [reason for obj, reason, _ in world.kube.events if obj == name]


def test_a_job_submitted_suspended_is_not_planned_and_says_so_once() -> None:
    world = World()  # two free L4 nodes
    world.kube.put("trainingjobs", job("a", suspend=True))
    world.cycle()
    status = world.job("a")
    assert (status["phase"], status["reason"]) == ("Pending", "Suspended")
    assert "set spec.suspend to false" in status["message"]
    assert condition(status, "Suspended")["status"] == "True"
    assert condition(status, "Admitted")["status"] == "False"
    assert not status.get("plannedStart") and not status.get("options")
    assert world.kube.pods(NS) == []
    run_cycle(world.scheduler, NOW + timedelta(minutes=1))
    assert events(world, "a") == ["Suspended"]  # told once, not every cycle


def test_a_resumed_job_is_planned_in_the_cycle_that_sees_it_and_says_it_resumed() -> None:
    world = World()
    world.kube.put("trainingjobs", job("a", suspend=True))
    world.cycle()
    set_suspend(world, "a", False)
    run_cycle(world.scheduler, NOW + timedelta(hours=1))
    status = world.job("a")
    assert status["phase"] == "Admitted", status
    suspended = condition(status, "Suspended")
    assert (suspended["status"], suspended["reason"]) == ("False", "Resumed")
    assert parse_time(suspended["lastTransitionTime"]) == NOW + timedelta(hours=1)
    assert events(world, "a") == ["Suspended", "Resumed", "Admitted"]


def test_a_suspended_job_s_room_goes_to_the_jobs_that_wait() -> None:
    world = busy_world()  # a and b on both L4 nodes for an hour
    world.kube.put("trainingjobs", job("c", options=[EIGHT]))
    world.cycle()
    assert world.job("c")["reason"] == "Reserved"
    set_suspend(world, "c", True)
    set_suspend(world, "a", True)
    run_cycle(world.scheduler, NOW + timedelta(minutes=5))
    # The reservation went with the suspension: no planned start, nothing in the ETA columns.
    assert (world.job("c")["reason"], world.job("c").get("plannedStart")) == ("Suspended", None)
    world.kube.put("trainingjobs", job("d", options=[EIGHT]))
    run_cycle(world.scheduler, NOW + timedelta(minutes=6))
    assert world.job("d")["phase"] == "Admitted"


def test_a_running_job_suspended_is_stopped_with_its_progress_and_figures_kept() -> None:
    world = busy_world()  # a and b on both L4 nodes, 8 GPUs for an hour: 8.00 USD
    world.scheduler.metrics = Metrics(world.cache, world.scheduler.accountant)
    start_workers(world, "2026-11-29T12:00:00Z")
    body = copy.deepcopy(world.kube.objects[("trainingjobs", NS, "a")])
    body["metadata"]["annotations"] = {"pricewise.dev/progress": "0.25"}
    body["spec"]["suspend"] = True
    world.kube.put("trainingjobs", body)
    run_cycle(world.scheduler, NOW + timedelta(minutes=30))
    status = world.job("a")
    assert (status["phase"], status["reason"]) == ("Pending", "Suspended")
    # 15 of its 30 minutes saved: 15 minutes at 8.00 USD an hour lost, as a preemption says it.
    assert status["message"].startswith("Suspended (spec.suspend) at "), status["message"]
    assert status["message"].endswith("ran 30m, 2.00 USD of work lost"), status["message"]
    assert status["progress"] == 0.25 and status["accruedCost"] == 4.0
    assert status.get("restarts", 0) == 0 and status["restartHistory"] == [status["message"]]
    assert condition(status, "Suspended")["message"] == status["message"]
    assert not status.get("pool") and not status.get("options")
    assert (
        status["observedGeneration"]
        == world.kube.objects[("trainingjobs", NS, "a")]["metadata"]["generation"]
    )
    assert [p["metadata"]["name"] for p in world.kube.pods(NS)] == ["b-worker-0"]
    registry = world.scheduler.metrics.registry
    labels = {"namespace": NS, "pool": "l4", "reason": "Suspended", "currency": "USD"}
    assert registry.get_sample_value("pricewise_lost_work_cost_total", labels) == 2.0
    run_cycle(world.scheduler, NOW + timedelta(minutes=31))
    assert events(world, "a") == ["Admitted", "Suspended"]  # no SpecChangeIgnored, told once
    assert world.job("a")["accruedCost"] == 4.0  # billed no more


def test_a_resumed_job_waits_from_its_resume_not_its_submission() -> None:
    # Two days suspended counted as wait, it was past its max wait at once: planned before the
    # jobs that had waited, and paged on.
    world = busy_world()
    world.kube.put("trainingjobs", job("c", options=[EIGHT], suspend=True))
    world.cycle()
    resumed = NOW + timedelta(days=2)
    set_suspend(world, "c", False)
    run_cycle(world.scheduler, resumed)
    record = world.cache.jobs[(NS, "c")]
    assert record.waiting_since == resumed
    (planned,) = world.cache.snapshot(resumed).jobs
    assert planned.created == resumed
    assert record.job is not None
    later = resumed + timedelta(hours=1)
    assert record.waited_past_max_wait(record.job, "Reserved", later, 86_400) is None


def test_a_suspended_job_counts_as_pending_but_not_in_the_oldest_wait() -> None:
    # Scraped on the wall clock: the job was submitted days before it.
    world = World()
    world.scheduler.metrics = Metrics(world.cache, world.scheduler.accountant)
    world.kube.put("trainingjobs", job("a", suspend=True))
    world.cycle()
    registry = world.scheduler.metrics.registry
    pending = {"namespace": NS, "reason": "Suspended"}
    assert registry.get_sample_value("pricewise_pending_jobs", pending) == 1.0
    age = {"namespace": NS}
    assert registry.get_sample_value("pricewise_oldest_pending_job_age_seconds", age) is None


def test_a_run_that_ended_as_it_was_suspended_ends_and_is_not_run_again() -> None:
    world = busy_world()
    start_workers(world, "2026-11-29T12:00:00Z")
    (worker,) = [p for p in world.kube.pods(NS) if p["metadata"]["name"] == "a-worker-0"]
    world.kube.put("pods", {**worker, "status": {
        "phase": "Succeeded", "startTime": "2026-11-29T12:00:00Z",
        "containerStatuses": [{"name": "main", "state": {"terminated": {
            "exitCode": 0, "finishedAt": "2026-11-29T12:59:00Z"}}}],
    }})  # fmt: skip
    set_suspend(world, "a", True)
    run_cycle(world.scheduler, NOW + timedelta(hours=1))
    assert world.job("a")["phase"] == "Succeeded"
    assert "Suspended" not in events(world, "a")


def test_a_run_past_its_active_deadline_fails_without_a_restart_and_stops_billing() -> None:
    world = World()
    world.scheduler.metrics = Metrics(world.cache, world.scheduler.accountant)
    for name in ("a", "b"):  # both L4 nodes for an hour, admitted at 12:00
        world.kube.put("trainingjobs", job(name, options=[EIGHT], activeDeadlineSeconds=1800))
    world.cycle()
    # Told as it is placed, in its status and its Admitted event: it was admitted without a word.
    warned = (
        "; estimated to run 1h, past its activeDeadlineSeconds (30m): it fails DeadlineExceeded "
        "unless it ends sooner (set maxDuration too, to plan only options that end in time)"
    )
    assert world.job("a")["message"].endswith(warned)
    (admitted,) = [m for n, r, m in world.kube.events if (n, r) == ("a", "Admitted")]
    assert admitted.endswith(warned)
    start_workers(world, "2026-11-29T12:00:00Z")
    run_cycle(world.scheduler, NOW + timedelta(minutes=29))
    assert world.job("a")["phase"] == "Running"
    run_cycle(world.scheduler, NOW + timedelta(minutes=31))
    status = world.job("a")
    assert (status["phase"], status["reason"]) == ("Failed", "DeadlineExceeded"), status
    assert status["message"] == (
        "its run reached its activeDeadlineSeconds (30m) at Nov 29 12:30 UTC: its workers are "
        "stopped at Nov 29 12:31 UTC, without a restart"
    )
    assert status.get("restarts", 0) == 0
    assert condition(status, "Failed")["reason"] == "DeadlineExceeded"
    assert world.kube.pods(NS) == []  # both jobs' workers stopped
    labels = {"namespace": NS, "pool": "l4", "reason": "DeadlineExceeded", "currency": "USD"}
    registry = world.scheduler.metrics.registry
    # Their whole runs, 31 minutes each at 8.00 USD an hour: no checkpoint saved any.
    lost = registry.get_sample_value("pricewise_lost_work_cost_total", labels)
    assert lost == pytest.approx(2 * 8 * 31 / 60, abs=1e-4)


def _worker(phase: str, end: datetime | None = None) -> PodRecord:
    return PodRecord("n", "n", Resources(), phase, "j", 0, NOW, end)


@pytest.mark.parametrize(
    ("phase", "pod", "expected"),
    [
        # Its worker failed too: it fails for good, not restarted to bill again.
        ("Running", _worker("Failed"), ("Failed", "DeadlineExceeded")),
        # Its gang never got its nodes: it fails, rather than being released to wait again.
        ("Admitted", _worker("Pending"), ("Failed", "DeadlineExceeded")),
        # It ended in time but is seen late: what it did stands.
        ("Running", _worker("Succeeded", NOW), ("Succeeded", "Completed")),
    ],
)
def test_a_run_past_its_active_deadline_fails_whatever_else_it_did_unless_it_succeeded(
    phase: str, pod: PodRecord, expected: tuple[str, str]
) -> None:
    until = NOW + timedelta(minutes=30)
    step = lifecycle.transition(
        phase, 1, {0: pod}, NOW, until + timedelta(seconds=1), active_until=until
    )
    assert step is not None and (step.phase, step.reason) == expected
    assert not step.restart
    in_time = lifecycle.transition("Running", 1, {0: _worker("Running")}, NOW, until,
                                   active_until=until)  # fmt: skip
    assert in_time is None


def test_a_dry_run_and_a_quote_hold_a_suspended_job_as_the_operator_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Both planned it, and the quote of one showed no job at all ("0 of 0 job(s) placed").
    body = {"apiVersion": "pricewise.dev/v1alpha1", "kind": "TrainingJob",
            **job("paused", suspend=True)}  # fmt: skip
    (tmp_path / "paused.yaml").write_text(yaml.safe_dump(body))
    assert main(["plan", "examples/", str(tmp_path / "paused.yaml"), "-o", "json"]) == 0
    planned = json.loads(capsys.readouterr().out)["jobs"]
    (paused,) = [j for j in planned if j["name"] == "paused"]
    assert (paused["placed"], paused["reason"]) == (False, "Suspended")
    assert len(planned) > 1 and all(j["reason"] != "Suspended" for j in planned if j != paused)
    world = World()
    quoted = asyncio.run(quote(world.kube, [TrainingJob.model_validate(body)], NOW))  # type: ignore[arg-type]
    assert [(d.job.key, d.reason) for d in quoted.held] == [(f"{NS}/paused", "Suspended")]
    assert not quoted.snapshot.jobs


def test_a_dry_run_warns_of_a_run_estimated_past_its_active_deadline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {"apiVersion": "pricewise.dev/v1alpha1", "kind": "TrainingJob",
            **job("hurried", options=[{"accelerator": "cpu", "duration": "1h"}],
                  activeDeadlineSeconds=120)}  # fmt: skip
    (tmp_path / "hurried.yaml").write_text(yaml.safe_dump(body))
    assert main(["plan", "examples/", str(tmp_path / "hurried.yaml")]) == 0
    assert (
        f"warning: {NS}/hurried: its run is estimated at 1h, past its activeDeadlineSeconds (2m): "
        "it would fail DeadlineExceeded (set maxDuration too, to plan only options that end in "
        "time)\n"
    ) in capsys.readouterr().err


def test_a_suspended_job_edited_again_says_it_read_the_edit_without_another_event() -> None:
    # Its observedGeneration stayed at the suspend's: a client waiting for it to reach the
    # generation it applied (kstatus, Argo CD) waited for ever.
    world = World()
    world.kube.put("trainingjobs", job("a", suspend=True))
    world.cycle()
    body = copy.deepcopy(world.kube.objects[("trainingjobs", NS, "a")])
    body["spec"]["maxWait"] = "2h"
    world.kube.put("trainingjobs", body)
    run_cycle(world.scheduler, NOW + timedelta(minutes=1))
    assert world.job("a")["observedGeneration"] == 2
    assert condition(world.job("a"), "Suspended")["observedGeneration"] == 2
    run_cycle(world.scheduler, NOW + timedelta(minutes=2))
    assert events(world, "a") == ["Suspended"]


def test_a_resumed_job_s_max_wait_condition_no_longer_speaks_of_its_suspend() -> None:
    # It kept "suspended: waiting for no room" beside a job waiting again.
    waited = {
        "type": "MaxWaitExceeded",
        "status": "True",
        "reason": "PastMaxWait",
        "message": "waited 2h for room",
        "lastTransitionTime": "2026-11-29T10:00:00Z",
    }
    previous = TrainingJobStatus.model_validate({"reason": "Reserved", "conditions": [waited]})
    suspended = status.suspended_status(previous, NOW, 2)
    told = TrainingJobStatus.model_validate({k: v for k, v in suspended.items() if v is not None})
    assert condition(suspended, "MaxWaitExceeded")["reason"] == "Suspended"
    resumed = status.resumed_status(told, NOW + timedelta(days=1), 3)
    maxwait = condition(resumed, "MaxWaitExceeded")
    assert (maxwait["status"], maxwait["reason"]) == ("False", "Resumed")
    assert maxwait["message"] == resumed["message"]


def test_a_resume_lost_to_a_race_is_told_before_the_job_is_planned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Planned in the cycle whose Resumed write lost its race, the job ran with Suspended True
    # for good, its wait counted from its creation.
    world = World()
    world.kube.put("trainingjobs", job("a", suspend=True))
    world.cycle()
    write, raced = world.kube.patch_status, []

    async def racing(plural: str, namespace: str, name: str, body: Any, *rest: Any) -> Any:
        if body.get("reason") == "Resumed" and not raced:
            raced.append(name)
            raise ConflictError(409, "the object has been modified")
        return await write(plural, namespace, name, body, *rest)

    monkeypatch.setattr(world.kube, "patch_status", racing)
    set_suspend(world, "a", False)
    run_cycle(world.scheduler, NOW + timedelta(minutes=1))
    assert raced and world.job("a")["phase"] == "Pending"
    run_cycle(world.scheduler, NOW + timedelta(minutes=2))
    status = world.job("a")
    assert status["phase"] == "Admitted"
    assert condition(status, "Suspended")["status"] == "False"
    assert events(world, "a") == ["Suspended", "Resumed", "Admitted"]


def test_an_active_deadline_added_to_a_running_job_applies_to_its_run() -> None:
    # Read from the spec it was placed with, the edit applied only once a restarted operator
    # read the object anew: the same job failed or ran on by the operator's uptime.
    world = busy_world()  # a and b on both L4 nodes, admitted at 12:00
    start_workers(world, "2026-11-29T12:00:00Z")
    body = copy.deepcopy(world.kube.objects[("trainingjobs", NS, "a")])
    body["spec"]["activeDeadlineSeconds"] = 600
    world.kube.put("trainingjobs", body)
    run_cycle(world.scheduler, NOW + timedelta(minutes=11))
    assert (world.job("a")["phase"], world.job("a")["reason"]) == ("Failed", "DeadlineExceeded")
    assert world.job("b")["phase"] == "Running"


def test_a_suspended_job_of_a_held_namespace_is_told_suspended_and_resumed_the_hold() -> None:
    world = World()
    world.kube.put("budgets", {"metadata": {"name": "euros", "namespace": NS},
                               "spec": {"limit": 100.0, "currency": "EUR",
                                        "enforcement": "hard"}})  # fmt: skip
    world.kube.put("trainingjobs", job("a", suspend=True))
    world.cycle()
    assert world.job("a")["reason"] == "Suspended"
    # Not counted among the objects pricewise rejects: its owner holds it, not the Budget.
    assert world.cache.rejected()["TrainingJob", "BudgetInvalid"] == 0
    set_suspend(world, "a", False)
    run_cycle(world.scheduler, NOW + timedelta(minutes=1))
    status = world.job("a")
    assert status["reason"] == "BudgetInvalid", status  # in the cycle it was resumed
    assert condition(status, "Suspended")["reason"] == "Resumed"


def test_a_placed_job_suspended_no_longer_says_its_edits_are_ignored() -> None:
    world = busy_world()
    start_workers(world, "2026-11-29T12:00:00Z")
    run_cycle(world.scheduler, NOW + timedelta(minutes=4))  # Running
    body = copy.deepcopy(world.kube.objects[("trainingjobs", NS, "a")])
    body["spec"]["maxWait"] = "2h"
    world.kube.put("trainingjobs", body)
    run_cycle(world.scheduler, NOW + timedelta(minutes=5))
    assert condition(world.job("a"), "SpecChangeIgnored")["status"] == "True"
    set_suspend(world, "a", True)
    run_cycle(world.scheduler, NOW + timedelta(minutes=6))
    ignored = condition(world.job("a"), "SpecChangeIgnored")
    assert (ignored["status"], ignored["reason"]) == ("False", "Suspended")
    set_suspend(world, "a", False)
    run_cycle(world.scheduler, NOW + timedelta(minutes=7))
    admitted = condition(world.job("a"), "Admitted")
    assert admitted["reason"] in ("Resumed", "Admitted", "Reserved", "WaitingForCapacity")
    assert "set spec.suspend to false" not in admitted["message"]
