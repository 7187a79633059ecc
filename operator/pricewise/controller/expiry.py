"""Finished TrainingJobs deleted once their `spec.ttlSecondsAfterFinished` has passed, as the
batch/v1 TTL-after-finished controller deletes Jobs.

Deleting is the admin's choice (the chart's `ttlAfterFinished.enabled`, which grants the verb
and sets PRICEWISE_DELETE_FINISHED): otherwise the operator deletes no one's objects, and a job
that asks is told once, in a Warning event, that it is kept and who may change that. A deleted
job's cost outlives it: the watch's delete hands it to the accountant, which keeps it with its
namespace's Budgets (`Accountant.forget`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from pricewise.controller.admission import Admission
from pricewise.controller.cache import Cache
from pricewise.controller.records import JobRecord
from pricewise.kube import ApiError, Kube

log = logging.getLogger(__name__)

NOT_ENFORCED = "TTLNotEnforced"
"""The reason of the Warning event on a finished job whose TTL this operator may not act on."""


class Expiry:
    """Deletes finished jobs past their TTL each cycle, or tells them once why it does not."""

    def __init__(self, cache: Cache, kube: Kube, admission: Admission, allowed: bool) -> None:
        self.cache = cache
        self.kube = kube
        self.admission = admission
        self.allowed = allowed
        self._told: set[str] = set()
        """Uids of jobs told their TTL is not acted on: once each while the operator runs."""

    def due(self, now: datetime) -> list[JobRecord]:
        """The finished jobs whose TTL has passed at `now`, oldest first."""
        due = [(at, r) for r in self.cache.jobs.values() if (at := r.expires_at) and at <= now]
        return [r for _, r in sorted(due, key=lambda d: d[0])]

    async def sweep(self, now: datetime) -> int:
        """Delete the jobs due (or tell them why not); returns how many were deleted."""
        deleted = 0
        for record in self.due(now):
            meta = record.body["metadata"]
            if meta.get("deletionTimestamp"):
                continue  # being deleted already (a finalizer of someone else's holds it)
            if self.allowed and await self._delete(meta):
                deleted += 1
            elif not self.allowed and meta["uid"] not in self._told:
                self._told.add(meta["uid"])
                await self.admission.event(record, NOT_ENFORCED, KEPT, warning=True)
        return deleted

    async def _delete(self, meta: dict[str, str]) -> bool:
        ns, name = meta["namespace"], meta["name"]
        try:
            done = await self.kube.delete_job(ns, name, meta["uid"], meta["resourceVersion"])
        except ApiError as err:
            if err.status != 403:
                raise
            # PRICEWISE_DELETE_FINISHED without the verb (a hand-made install): said once, and
            # the jobs told as where deleting is off, rather than a failed cycle every period.
            log.error(
                "finished jobs past their TTL cannot be deleted (%s): grant delete on "
                "trainingjobs, as the chart's ttlAfterFinished.enabled does",
                err,
            )
            self.allowed = False
            return False
        if done:
            log.info("deleted %s/%s: finished, and its ttlSecondsAfterFinished passed", ns, name)
        return done


KEPT = (
    "spec.ttlSecondsAfterFinished has passed, but this operator does not delete TrainingJobs: "
    "the job is kept (delete it with kubectl; the admin lets the operator delete finished jobs "
    "with the chart's ttlAfterFinished.enabled)"
)
"""What a job past its TTL is told where the operator may not delete it."""
