"""Placed jobs' events and workers, created beside the scheduling loop rather than inside a cycle.

A cycle writes each placement's status and is done with it: the status records the pool, the
nodes and the option, and the cache counts the planned workers on their nodes until their pods
exist (`Cache.node_usage`), so the next cycle cannot give that room away. The Admitted event and
the workers follow here while the next cycle plans. In a 500-job burst a cycle spent 2.7 s
writing 194 placements at about three requests each, and the jobs that came during it waited for
the next cycle until all were written; the statuses alone are a third of those requests.

Crash safety is admission's (status first, workers under deterministic names): a placement whose
workers were still queued here when the operator stopped gets them from a later cycle, which
creates missing workers of Admitted jobs (and leaves alone those still queued here).
"""

from __future__ import annotations

import asyncio
import logging

from pricewise.controller.admission import Admission
from pricewise.controller.records import Key

log = logging.getLogger(__name__)


class Launcher:
    """Announces placements and creates their workers, `writers` at a time: fewer than the API
    client's connections, so that the next cycle's own writes are not queued behind them."""

    def __init__(self, admission: Admission, writers: int) -> None:
        self.admission = admission
        self.writers = max(1, writers)
        self._queue: dict[Key, str] = {}
        self._busy: set[Key] = set()
        self._task: asyncio.Task[None] | None = None

    def launch(self, key: Key, message: str) -> None:
        """Queue a placement whose status was written: its event says `message`."""
        self._queue[key] = message
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="pricewise-workers")

    def busy(self, key: Key) -> bool:
        """Whether the job's workers are queued or being created here."""
        return key in self._queue or key in self._busy

    @property
    def queued(self) -> int:
        """Placements not yet begun."""
        return len(self._queue)

    async def drained(self) -> None:
        """Wait until every queued placement's workers are created."""
        while self._task is not None and not self._task.done():
            await self._task

    def stop(self) -> None:
        """Drop what is queued and stop (the next leader creates missing workers)."""
        self._queue.clear()
        # What was being created may still land; a later cycle's create of the same worker
        # then finds it there (deterministic names), so nothing here is busy any more.
        self._busy.clear()
        if self._task is not None:
            self._task.cancel()

    async def _drain(self) -> None:
        async def writer() -> None:
            while self._queue:
                key = next(iter(self._queue))
                message = self._queue.pop(key)
                self._busy.add(key)
                try:
                    await self.admission.start(key, message)
                except Exception as err:  # one job's workers must not stop the others'
                    log.error("workers of %s/%s not created: %s", *key, err)
                finally:
                    self._busy.discard(key)

        await asyncio.gather(*(writer() for _ in range(self.writers)))
