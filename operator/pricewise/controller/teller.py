"""Waiting jobs' statuses, written beside the scheduling loop rather than inside a cycle.

In a burst one cycle decides thousands of waiting jobs, each a status write (about 120 a second
on a 2-core machine shared with the API server). Written inside the cycle they held up the next
cycle's placements for tens of seconds; bounded per cycle they took a dozen full cycles to get
out. Here they are queued, newest decision per job, and written by a few writers while the next
cycle plans. A new cycle replaces what is still queued: a job it places leaves the queue, a job
still waiting gets the newer decision. A decision is written only while its job is as it was
when the decision was queued (same resourceVersion in the cache): a job placed meanwhile by a
newer cycle must not be told it waits. A write racing such a placement on the wire is settled
by the resourceVersion guard of `Admission.write_status`: the loser is dropped, never applied.

A job that has been told why it waits is told again at most once every `REWRITE_EVERY_S` of
the cycles' clock, with the newest decision then; a job without a status, or whose spec changed
since its status was written, is told at once. On a busy cluster a plan is re-made every second
or two, and a waiting job's reason went back and forth between waiting for capacity and a
reservation as the queue moved: on the Kueue-shaped run (600 jobs) 638 of the 1,202 waiting
statuses were such rewrites, most of them for jobs placed seconds later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from pricewise.controller.admission import Admission
from pricewise.controller.cache import Cache
from pricewise.controller.records import JobRecord, Key
from pricewise.core.explain import Decision

log = logging.getLogger(__name__)

REWRITE_EVERY_S = 10.0
"""Least time between two statuses of a waiting job that was already told why it waits."""
REFRESH_EVERY_S = 300.0
"""Least time between two statuses of a waiting job whose decision is the same but for the
figures of its message (see `status.pending_changed`): at most five minutes stale, and told at
once when a Budget or ResourceQuota of its namespace is edited (`Cache.limit_edits`)."""


class Teller:
    """Writes the latest cycle's waiting jobs' statuses in the background."""

    def __init__(self, cache: Cache, admission: Admission, writers: int) -> None:
        self.cache = cache
        self.admission = admission
        self.writers = writers
        self._queue: dict[Key, tuple[Decision, datetime, str, str | None, int]] = {}
        self._task: asyncio.Task[None] | None = None
        self._written: dict[Key, datetime] = {}
        """When each job's status was last written, as the writing cycle's clock read."""
        self._edits: dict[Key, int] = {}
        """Each job's namespace's `Cache.limit_edits` when its status was last made."""
        self.failed = 0
        """Writes that failed since the loop last took the count (`take_failed`)."""

    def take_failed(self) -> int:
        """The writes that failed since the last call: the cycle that follows counts them
        as its own failure, as it counts its own writes' (they ran beside it)."""
        failed, self.failed = self.failed, 0
        return failed

    def tell(
        self,
        waiting: Sequence[Decision],
        now: datetime,
        currency: str,
        edits: Mapping[str, int],
    ) -> None:
        """Queue the statuses of a cycle's waiting jobs in place of the last cycle's, the jobs
        that have none yet first (someone just applied them and sees nothing), less those told
        within `REWRITE_EVERY_S` (a later cycle tells them its newer decision); `edits`, the
        cache's `limit_edits` as the cycle read them when it took its snapshot."""
        keys = {(d.job.namespace, d.job.name) for d in waiting}
        self._written = {k: at for k, at in self._written.items() if k in keys}
        self._edits = {k: n for k, n in self._edits.items() if k in keys}
        ordered = sorted((d for d in waiting if not self._recent(d, now)), key=self._told)
        # The limits' edits as this cycle decided with them: one that comes before the write
        # is told by the next cycle's decision, not marked told by this one's.
        self._queue = {
            (d.job.namespace, d.job.name): (
                d,
                now,
                currency,
                self._version(d),
                edits.get(d.job.namespace, 0),
            )
            for d in ordered
        }
        if self._queue and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._drain(), name="pricewise-waiting-statuses")

    @property
    def queued(self) -> int:
        """Statuses not yet begun."""
        return len(self._queue)

    async def drained(self) -> None:
        """Wait until every queued status is written."""
        while self._task is not None and not self._task.done():
            await self._task

    def stop(self) -> None:
        """Drop what is queued and stop writing (the next leader re-plans it)."""
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()

    def _record(self, decision: Decision) -> JobRecord | None:
        return self.cache.jobs.get((decision.job.namespace, decision.job.name))

    def _told(self, decision: Decision) -> bool:
        record = self._record(decision)
        return record is not None and bool(record.status.reason)

    def _recent(self, decision: Decision, now: datetime) -> bool:
        """Whether the job was told why it waits, as its spec is, within `REWRITE_EVERY_S`."""
        record = self._record(decision)
        at = self._written.get((decision.job.namespace, decision.job.name))
        if record is None or at is None or not record.status.reason:
            return False
        if record.status.observed_generation != record.body["metadata"].get("generation"):
            return False
        # A clock stepped back does not hold a status for as long as the step.
        return 0 <= (now - at).total_seconds() < REWRITE_EVERY_S

    def _version(self, decision: Decision) -> str | None:
        record = self._record(decision)
        return None if record is None else record.body["metadata"].get("resourceVersion")

    async def _drain(self) -> None:
        async def writer() -> None:
            while self._queue:
                key = next(iter(self._queue))
                decision, now, currency, version, edits = self._queue.pop(key)
                if self._version(decision) != version:
                    continue  # the job changed since: a newer cycle decides it
                told = self._written.get(key)
                # An admin who raised a limit and looks must see the new figure, not the old
                # one for up to the refresh's five minutes.
                refresh = (
                    told is None
                    or (now - told).total_seconds() >= REFRESH_EVERY_S
                    or self._edits.get(key) != edits
                )
                try:
                    if await self.admission.apply(decision, now, currency, refresh):
                        self._written[key] = now
                    self._edits[key] = edits
                except Exception as err:  # one job's write must not stop the others'
                    log.error("status of %s/%s not written: %s", *key, err)
                    self.failed += 1

        await asyncio.gather(*(writer() for _ in range(self.writers)))
