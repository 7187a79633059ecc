"""Leader election on a coordination.k8s.io Lease: of several replicas, one schedules.

kopf's peering pauses replicas rather than electing one, so the scheduler takes a Lease the way
Kubernetes controllers do: hold it while renewing, take it over when its holder stops renewing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pricewise.core.times import micro_timestamp, parse_time
from pricewise.kube import ConflictError, Kube

LEASE_SECONDS = 15
RETRY_S = 2.0
"""How often a replica tries the Lease, from the start of its last try (client-go's retry
period): a leader renews several times within the renew deadline, so that one slow renewal
does not lapse it (renewals 5 s apart after each ended lapsed a leader whose renewals took 3 s,
on every second one)."""
RENEW_DEADLINE_S = 10.0
"""How long a leader goes on scheduling after its last renewal that went through: below the
Lease's 15 s (as client-go's default), so that it has stopped before another replica may take
the Lease over. A renewal that hangs on a half-open connection counts as none: the leader kept
scheduling for the 5 minutes of the HTTP client's timeout, beside the replica that took over."""

log = logging.getLogger("pricewise.controller")


class LeaseElector:
    """Holds (or waits for) one Lease; `is_leader` says whether this replica may schedule."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        identity: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self._clock = clock
        self._renewed: float | None = None
        """When (by `clock`) the renewal last written was sent; None while not holding."""
        self._standing_by: str | None = None
        """The other holder last said to hold the Lease, so that it is said once."""
        self._acquired: datetime | None = None
        """The acquireTime of the Lease this replica last wrote: when its term began (a lapse
        of its own renewals, with no other holder between, does not begin another)."""

    @property
    def is_leader(self) -> bool:
        """Whether this replica may schedule: it holds the Lease, renewed within the renew
        deadline."""
        return self._renewed is not None and self._clock() - self._renewed < RENEW_DEADLINE_S

    @property
    def led_elsewhere(self) -> bool:
        """Whether another replica was last seen holding the Lease: a leader whose renewals
        lapsed without one may lead again, and bill what it saw meanwhile."""
        return self._standing_by is not None

    @property
    def term_started(self) -> datetime | None:
        """When this replica's term as leader began; None while it does not lead."""
        return self._acquired if self.is_leader else None

    def stand_down(self) -> None:
        """Stop counting as leader until a renewal goes through again."""
        self._renewed = None

    def _spec(self, now: datetime, transitions: int, acquired: str | None) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": LEASE_SECONDS,
            "acquireTime": acquired or micro_timestamp(now),
            "renewTime": micro_timestamp(now),
            "leaseTransitions": transitions,
        }

    async def try_acquire(self, now: datetime) -> bool:
        """Take or renew the Lease if it is ours or expired; returns whether we hold it."""
        sent = self._clock()
        lease = await self.kube.get_lease(self.namespace, self.name)
        if lease is None:
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(now, 0, None),
            }
            return await self._write(lease, create=True, sent=sent)
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        renewed = parse_time(spec.get("renewTime"))
        duration = timedelta(seconds=spec.get("leaseDurationSeconds") or LEASE_SECONDS)
        expired = renewed is None or renewed + duration < now
        if holder and holder != self.identity and not expired:
            # A replica started while another holds the Lease said nothing for its 15 s: the
            # log of an operator restarted after a crash showed no sign of what it waited for.
            if holder != self._standing_by:
                log.info(
                    "standing by: Lease %s/%s is held by %s (renewed %s; taken over if not "
                    "renewed within %ds)",
                    self.namespace,
                    self.name,
                    holder,
                    spec.get("renewTime"),
                    duration.total_seconds(),
                )
                self._standing_by = holder
            self.stand_down()
            return False
        self._standing_by = None
        transitions = int(spec.get("leaseTransitions") or 0) + (holder != self.identity)
        acquired = spec.get("acquireTime") if holder == self.identity else None
        lease["spec"] = self._spec(now, transitions, acquired)
        return await self._write(lease, create=False, sent=sent)

    async def _write(self, lease: dict[str, Any], create: bool, sent: float) -> bool:
        try:
            await self.kube.write_lease(lease, create)
        except ConflictError:  # another replica wrote it between our read and our write
            self.stand_down()
            return False
        self._renewed = sent  # the Lease runs from the renewTime written, not from the answer
        self._acquired = parse_time(lease["spec"].get("acquireTime"))
        return True

    async def release(self) -> None:
        """Give the Lease up at shutdown, so that another replica takes over at once rather
        than after the Lease expires."""
        if not self.is_leader:
            return
        lease = await self.kube.get_lease(self.namespace, self.name)
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        lease["spec"]["holderIdentity"] = ""
        try:
            await self.kube.write_lease(lease, create=False)
        except ConflictError:
            return
        self.stand_down()
