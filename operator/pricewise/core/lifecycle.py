"""A placed job's phase from its workers' real states: Admitted -> Running -> Succeeded/Failed.

Pure: the scheduler passes in the worker pods it has seen and acts on the transition returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from pricewise.core.snapshot import Resources


@dataclass
class PodRecord:
    """What the cache keeps of a pod."""

    node: str | None
    planned_node: str | None
    requests: Resources
    phase: str
    job: str | None
    index: int | None
    start: datetime | None
    end: datetime | None


GANG_TIMEOUT = timedelta(minutes=2)
"""How long admitted workers may take to all be bound before the job is released."""


@dataclass(frozen=True)
class Transition:
    """What the job's status should say now."""

    phase: str
    reason: str
    message: str
    started_at: datetime | None = None
    finished_at: datetime | None = None


def transition(
    phase: str,
    workers: int,
    pods: Mapping[int, PodRecord],
    admitted_at: datetime | None,
    now: datetime,
    gang_timeout: timedelta = GANG_TIMEOUT,
) -> Transition | None:
    """The next phase of an Admitted or Running job, or None when it stays as it is."""
    mine = [pods[i] for i in range(workers) if i in pods]
    failed = sorted(i for i in range(workers) if i in pods and pods[i].phase == "Failed")
    if failed:
        ends = [p.end for p in mine if p.end]
        return Transition(
            "Failed",
            "WorkerFailed",
            f"worker {failed[0]} failed"
            + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""),
            finished_at=max(ends) if ends else now,
        )
    if len(mine) == workers and all(p.phase == "Succeeded" for p in mine):
        ends = [p.end for p in mine if p.end]
        starts = [p.start for p in mine if p.start]
        return Transition(
            "Succeeded",
            "Completed",
            f"all {workers} worker(s) succeeded",
            started_at=max(starts) if starts else None,
            finished_at=max(ends) if ends else now,
        )
    if phase == "Running" and len(mine) < workers:
        lost = min(i for i in range(workers) if i not in pods)
        return Transition("Failed", "WorkerLost", f"worker {lost} disappeared", finished_at=now)
    if phase == "Admitted":
        if len(mine) == workers and all(p.phase in ("Running", "Succeeded") for p in mine):
            starts = [p.start for p in mine if p.start]
            return Transition(
                "Running",
                "Running",
                f"all {workers} worker(s) running",
                started_at=max(starts) if starts else now,
            )
        if admitted_at is not None and now - admitted_at > gang_timeout:
            bound = sum(1 for p in mine if p.node)
            return Transition(
                "Pending",
                "GangTimeout",
                f"only {bound} of {workers} worker(s) were bound within "
                f"{int(gang_timeout.total_seconds())}s; "
                "released to be placed again",
            )
    return None
