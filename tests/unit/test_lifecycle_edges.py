"""A placed job's lifecycle at its edges: the times a finished job is given, workers that
finished or never said when they started, gangs half bound, and the work a restart loses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pricewise.core import lifecycle
from pricewise.core.lifecycle import PodRecord, Restarts
from pricewise.core.snapshot import Resources

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
AGO = NOW - timedelta(minutes=5)
"""An admission past the gang timeout."""


def _pod(
    phase: str,
    node: str | None = "n",
    start: datetime | None = None,
    end: datetime | None = None,
    **kw: object,
) -> PodRecord:
    return replace(PodRecord(node, node, Resources(), phase, "j", 0, start, end), **kw)


def test_a_succeeded_job_ran_from_its_last_workers_start_to_its_last_workers_end() -> None:
    # Its start and end were dropped (None, or the cycle's time): its run and bill read wrong.
    first, last = NOW - timedelta(hours=2), NOW - timedelta(hours=1, minutes=50)
    pods = {
        0: _pod("Succeeded", start=first, end=NOW - timedelta(minutes=30)),
        1: _pod("Succeeded", start=last, end=NOW - timedelta(minutes=20)),
    }
    done = lifecycle.transition("Running", 2, pods, AGO, NOW)
    assert done is not None
    assert (done.phase, done.reason, done.message) == (
        "Succeeded", "Completed", "all 2 worker(s) succeeded",
    )  # fmt: skip
    assert (done.started_at, done.finished_at) == (last, NOW - timedelta(minutes=20))


def test_a_failed_job_finished_when_its_last_worker_ended_and_says_how_many_failed() -> None:
    # It finished when the operator looked (not when its workers ended), its failed workers
    # were miscounted, or a job that never restarted read "before: " of no restart.
    pods = {
        0: _pod("Failed", end=NOW - timedelta(minutes=15), failure="Error, exit code 1"),
        1: _pod("Failed", end=NOW - timedelta(minutes=10)),
        2: _pod("Running"),
    }
    final = lifecycle.transition("Running", 3, pods, AGO, NOW, restarts=Restarts(allowed=0))
    assert final is not None
    assert (final.phase, final.reason, final.cause) == ("Failed", "WorkerFailed", "WorkerFailed")
    assert final.finished_at == NOW - timedelta(minutes=10)
    assert final.message == (
        "worker 0 failed (Error, exit code 1) (and 1 more) at Nov 29 12:00 UTC; "
        "no restart left (maxRestarts 0)"
    )
    pods[2] = _pod("Failed", end=NOW - timedelta(minutes=12))
    every = lifecycle.transition("Running", 3, pods, AGO, NOW, restarts=Restarts(allowed=0))
    assert every is not None and "(and 2 more) at" in every.message


def test_the_work_a_restart_loses_is_the_run_less_what_it_saved_and_never_below_nothing() -> None:
    # A run that never started lost a day, or a second went missing or appeared from nothing.
    failed = {0: _pod("Failed")}

    def lost(restarts: Restarts) -> str:
        step = lifecycle.transition("Running", 1, failed, AGO, NOW, restarts=restarts)
        assert step is not None and step.restart
        return step.message.rsplit("; ", 1)[1]

    assert lost(Restarts()) == "0s of work lost"
    ran = NOW - timedelta(seconds=30)
    assert lost(Restarts(started_at=ran)) == "30s of work lost"
    assert lost(Restarts(started_at=ran, saved_s=lambda: 45.0)) == "0s of work lost"


def test_a_worker_that_cannot_start_is_a_worker_failure_with_all_the_kubelet_said() -> None:
    # Its cause (and the Failed job's reason) read otherwise than WorkerFailed, or its
    # reasons ran together.
    pods = {
        0: _pod("Pending", node="n0", waiting=("ImagePullBackOff", "ErrImagePull")),
        1: _pod("Pending", node="n1"),
    }
    requeued = lifecycle.transition("Admitted", 2, pods, AGO, NOW)
    assert requeued is not None and (requeued.cause, requeued.restart) == ("WorkerFailed", True)
    assert requeued.message.startswith("worker 0 cannot start (ErrImagePull, ImagePullBackOff) at")
    final = lifecycle.transition("Admitted", 2, pods, AGO, NOW, restarts=Restarts(allowed=0))
    assert final is not None and (final.phase, final.reason) == ("Failed", "WorkerFailed")


def test_an_admitted_job_whose_quick_worker_already_succeeded_is_running() -> None:
    # A worker done before the others started kept the gang Admitted: never Running.
    pods = {0: _pod("Succeeded", start=NOW - timedelta(minutes=1)), 1: _pod("Running", start=NOW)}
    running = lifecycle.transition("Admitted", 2, pods, NOW - timedelta(minutes=1), NOW)
    assert running is not None
    assert (running.phase, running.message, running.started_at) == (
        "Running", "all 2 worker(s) running", NOW,
    )  # fmt: skip


def test_workers_running_without_a_start_time_start_the_job_now() -> None:
    # The job went Running with no start time (its run, and its bill, counted from nothing).
    pods = {0: _pod("Running"), 1: _pod("Running")}
    running = lifecycle.transition("Admitted", 2, pods, NOW - timedelta(minutes=1), NOW)
    assert running is not None and (running.phase, running.started_at) == ("Running", NOW)


def test_a_gang_with_one_of_two_workers_bound_is_released_after_the_gang_timeout() -> None:
    # Workers counted twice: a half-bound gang held its room for ever, its message miscounted.
    pods = {0: _pod("Pending", node="n0"), 1: _pod("Pending", node=None)}
    released = lifecycle.transition("Admitted", 2, pods, AGO, NOW)
    assert released is not None
    assert (released.phase, released.reason, released.restart) == ("Pending", "GangTimeout", False)
    assert released.message == (
        "only 1 of 2 worker(s) were bound within 120s; released to be placed again"
    )


def test_a_running_job_whose_worker_waits_on_its_image_again_keeps_running() -> None:
    # A running job was restarted (a restart used) as if it were an admitted gang that never
    # started, when a worker's container waited on its image past the gang timeout.
    pods = {0: _pod("Running", start=AGO), 1: _pod("Running", start=AGO)}
    pods[1] = replace(pods[1], waiting=("ImagePullBackOff",))
    assert lifecycle.transition("Running", 2, pods, NOW - timedelta(hours=1), NOW) is None


def test_an_admitted_job_without_an_admission_time_is_left_as_it_is() -> None:
    # Its wait was counted from nothing: the cycle failed on it.
    pods = {0: _pod("Pending", node=None), 1: _pod("Pending", node=None)}
    assert lifecycle.transition("Admitted", 2, pods, None, NOW) is None
