"""Admission: what a cycle decided, written to the API server, in an order that survives a
crash at any moment.

The TrainingJob status is written first, guarded by its resourceVersion, and only then are the
rendezvous Service and the workers created under deterministic names. A status write that loses
a race is dropped; workers that a crash left uncreated are created by a later cycle from the
recorded plan (the chosen option's index, pool and nodes in the status). So a job is never
admitted twice, and no worker is duplicated or lost across restarts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pricewise.api import podrequests, quotas
from pricewise.api.wire import job_status_patch
from pricewise.controller import status
from pricewise.controller.cache import Cache
from pricewise.controller.records import MISSING_OBJECT, REFUSED_RETRY, JobRecord, Key, key_of
from pricewise.controller.workers import device_tolerations, headless_service, worker_pod
from pricewise.core.explain import Decision
from pricewise.core.lookahead import max_wait_text
from pricewise.core.preemption import PREEMPTING
from pricewise.core.refusals import INFEASIBLE
from pricewise.core.units import format_duration
from pricewise.kube import ApiError, ConflictError, Kube, purpose, record_event

log = logging.getLogger(__name__)
RELEASED_FIELDS = (
    "pool",
    "accelerator",
    "option_index",
    "workers",
    "nodes",
    "estimated_finish",
    "estimated_cost",
    "estimated_duration",
    "accrued_before_run",
)
"""Status fields of a placement, cleared when a job gives its room back."""
REFUSALS = (400, 403, 422)
"""HTTP statuses with which the API server refuses an object as it is (not a lost race)."""


def modelled_quota_refusal(message: str) -> bool:
    """Whether the API server refused a pod for a ResourceQuota on resources the planner
    counts (`exceeded quota: q, requested: requests.nvidia.com/gpu=8, used: ...`): a pod
    created first took the room, and the job is planned again with the quota as it is then.
    A quota on anything else (limits.cpu, ephemeral storage) would refuse it again, every
    cycle: the job waits for a change to its spec, as for any other refusal."""
    _, found, rest = message.partition("exceeded quota:")
    requested = rest.partition("requested:")[2].partition(", used:")[0]
    names = [part.strip().partition("=")[0] for part in requested.split(",") if "=" in part]
    return bool(found and names) and all(name in quotas.QUOTA_KEYS for name in names)


class Admission:
    """Writes decisions, statuses and events, and creates the workers of placed jobs."""

    def __init__(self, cache: Cache, kube: Kube, max_wait_s: float) -> None:
        self.cache = cache
        self.kube = kube
        self.max_wait_s = max_wait_s
        """The max wait of jobs without `spec.maxWait` (the operator's scheduler.maxWait)."""
        self._devices_told: dict[Key, str] = {}
        """Jobs told their template asks devices it does not get, with the placement told."""

    async def apply(
        self, decision: Decision, now: datetime, currency: str, refresh: bool = False
    ) -> bool:
        """Write one decision's status: a waiting job's reason (its figures too with `refresh`:
        see `status.pending_changed`), or a placement (then its workers: `create_workers`).
        Whether the job's status was written (not when unchanged, gone, or a race was lost)."""
        with purpose("waiting" if decision.chosen is None else "placement"):
            return await self._apply(decision, now, currency, refresh)

    async def _apply(self, decision: Decision, now: datetime, currency: str, refresh: bool) -> bool:
        key = (decision.job.namespace, decision.job.name)
        record = self.cache.jobs.get(key)
        if record is None:
            return False
        previous = record.status
        generation = record.body["metadata"].get("generation")
        if decision.chosen is None:
            past = self._past_max_wait(record, decision, now)
            new = status.pending_status(decision, previous, now, generation, past)
            if status.pending_changed(previous, new, now, refresh):
                # A wait for capacity, a quota or a budget is said in the status's Admitted
                # condition alone, as a Pod's wait is in PodScheduled: an event per waiting
                # job would double the writes of a burst. A job that cannot run as specified
                # needs a person, and gets a Warning event too; a job that evicts others to
                # run says so, as its victims do.
                infeasible = decision.reason in INFEASIBLE
                announce = (infeasible or decision.reason == PREEMPTING) and (
                    previous.reason != decision.reason
                )
                written = await self.write_status(record, new, check=True)
                if written and announce:
                    await self.event(record, decision.reason, decision.message, infeasible)
                # Its owner is told once, as its condition turns True: the bound was not kept.
                if written and past is not None and not status.max_wait_exceeded(previous):
                    await self.event(record, status.MAX_WAIT_EXCEEDED, past, warning=True)
                return written
            return False
        new = status.admitted_status(
            decision, previous, now, currency, generation, record.active_deadline_s
        )
        # False when it changed under us: the next cycle sees its new state.
        return await self.write_status(record, new, check=True)

    def _past_max_wait(self, record: JobRecord, decision: Decision, now: datetime) -> str | None:
        """How a job waiting for room has waited past its max wait, as its condition and event
        say it; None when it has not (or waits for something else: a quota, a budget, a fix)."""
        waited = record.waited_past_max_wait(decision.job, decision.reason, now, self.max_wait_s)
        if waited is None:
            return None
        bound = max_wait_text(decision.job, self.max_wait_s, "from submission, requeue or resume")
        return (
            f"waited {format_duration(waited)} for room, past its max "
            f"wait ({bound}): no room freed for it in time; more nodes, another option or a "
            "higher priority would shorten the wait, a longer spec.maxWait would allow it"
        )

    async def create_workers(self, record: JobRecord) -> None:
        """Create the Service and every worker of an admitted job that does not exist yet."""
        body, st = record.body, record.status
        pool_spec = self.cache.pool_spec(st.pool)
        option = self.cache.planned_option(record)
        if pool_spec is None or option is None or record.model is None:
            return  # the pool was removed from the PriceTable; the gang timeout releases the job
        requests: dict[str, str] = {}
        device = podrequests.device_resource(option.accelerator)
        if device:
            requests[device] = str(option.devices_per_worker)
        template = record.model.spec.template
        worker = podrequests.worker_resources(option, template)
        requests.update(podrequests.first_container_requests(worker, template.get("spec") or {}))
        tolerations = device_tolerations(
            device, [t.model_dump(by_alias=True, exclude_none=True) for t in pool_spec.tolerations]
        )
        if (st.workers or 1) > 1:
            # The Service first, on its own: workers whose rendezvous Service failed would
            # never get it, since a later cycle only looks for missing workers.
            service = headless_service(body)
            try:
                if not await self.kube.create(service) and await self._earlier_ones(service):
                    return  # its workers wait for it to go: they would rendezvous at none
            except ApiError as err:
                if err.status in REFUSALS:
                    await self._release_refused(record, service, err)
                else:
                    log.error(
                        "Service %s not created (retried next cycle): %s",
                        service["metadata"]["name"],
                        err,
                    )
                return
        existing = self.cache.workers_of(body["metadata"]["namespace"], body["metadata"]["name"])
        asked = podrequests.template_devices(option, record.model.spec.template)
        key, placed_at = key_of(body), str(st.admitted_at)
        if asked is not None and self._devices_told.get(key) != placed_at:
            self._devices_told[key] = placed_at  # once a placement, however many tries
            await self.event(record, "TemplateDeviceRequest", asked, warning=True)
        # The template it was placed with: an edit since (a new image, a node selector) is
        # taken when the job is planned again, not by the workers still to create.
        placed = {**body, "spec": {**body["spec"], "template": record.model.spec.template}}
        manifests = [
            worker_pod(
                placed,
                i,
                node,
                dict(pool_spec.node_selector),
                requests,
                tolerations,
                pool_spec.name,
            )
            for i, node in enumerate(st.nodes)
            if i not in existing
        ]
        results = await asyncio.gather(
            *(self.kube.create(m) for m in manifests), return_exceptions=True
        )
        for manifest, result in zip(manifests, results, strict=True):
            if isinstance(result, ApiError) and result.status in REFUSALS:
                await self._release_refused(record, manifest, result)
                return
            if isinstance(result, Exception):
                log.error("API call failed: %s", result)

    async def _earlier_ones(self, service: dict[str, Any]) -> bool:
        """Whether the Service of a job's name that exists is an earlier job's of that name,
        deleted and still being collected: taken for the new job's, it went with the old job,
        and the new job's workers had no rendezvous."""
        meta = service["metadata"]
        try:
            owner = await self.kube.owner_uid("services", meta["namespace"], meta["name"])
        except ApiError as err:
            if err.status != 403:
                raise  # logged by the caller, and tried again next cycle
            # Not a refusal of the job: the operator may not read Services (a Role of before
            # this check). Taken as its own, as before the check.
            log.warning(
                "Service %s/%s exists and cannot be read (%s): taken as the job's",
                meta["namespace"],
                meta["name"],
                err,
            )
            return False
        mine = meta["ownerReferences"][0]["uid"]
        if owner in ("", mine):  # one made by hand, without an owner, is taken as it is
            return False
        if owner is None:  # collected since: made the next cycle, before any worker
            return True
        log.info(
            "Service %s/%s is still an earlier job's of its name: its workers wait for it to go",
            meta["namespace"],
            meta["name"],
        )
        return True

    async def _release_refused(
        self, record: JobRecord, manifest: dict[str, Any], error: ApiError
    ) -> None:
        """The API server refused a worker or the Service: remove what was created and give the
        planned room back; the job waits, with the API's words, until its spec changes. A
        ResourceQuota that another pod filled first is a wait, not a refusal: the job is
        planned again with the quota as it is now."""
        what = f"{manifest['kind']} {manifest['metadata']['name']}"
        if error.status == 403 and modelled_quota_refusal(str(error)):
            reason = "QuotaExceeded"
            message = f"the API server refused {what}: {error}; planned again next cycle"
            fields: dict[str, Any] = {}
        else:
            reason = "WorkerRejected"
            # A quota that asks every pod for limits is fixed in the quota or the template; the
            # template and the PriceTable were all the fixes it named.
            text = str(error).lower()
            missing = "quota" not in text and ("not found" in text or "was found" in text)
            if "exceeded quota" in text:
                # Used up by other pods, on a key planning does not see (limits.cpu): nothing
                # to fix, it waits; "fix the ResourceQuota" sent its owner to the wrong place.
                fix = "it waits for that quota's usage to fall:"
            elif "quota" in text:
                fix = "fix the ResourceQuota it names, or spec.template to meet it, and"
            elif missing:
                # A PriorityClass or ServiceAccount the template names, not made yet.
                fix = MISSING_OBJECT
            else:
                fix = "fix spec.template (or the pool's nodeSelector or tolerations in the "
                fix += "PriceTable), and"
            every = format_duration(REFUSED_RETRY.total_seconds())
            message = (
                f"the API server refused {what}: {error}; {fix} the job is planned again when "
                "its spec, a PriceTable or a ResourceQuota of its namespace is edited, or such a "
                "quota's usage falls" + (f", and every {every}" if missing else "")
            )
            # The spec the refused worker was made from: that of its placement (`create_workers`).
            placed_at = record.status.observed_generation
            fields = {"observed_generation": placed_at or record.body["metadata"].get("generation")}
        released = await self.release(record, reason, message, datetime.now(UTC), fields)
        if released:
            await self.event(record, reason, message, warning=True)

    async def release(
        self,
        record: JobRecord,
        reason: str,
        message: str,
        now: datetime,
        fields: Mapping[str, Any] | None = None,
        conditions: Sequence[status.Condition] | None = None,
    ) -> bool:
        """Give a placed job's room back: its status says Pending and why (`message`, also in
        its Admitted condition; `fields` may say more, their own message included; `conditions`
        are the job's, given when the caller sets one beside Admitted), then its workers are
        deleted. False on a lost race.

        The status first: workers deleted first, an operator stopped before the write (or a
        write refused) left the job Running without them, and the next cycle counted a worker
        lost (a restart spent, a preemption not told); a Pending job's workers that outlive
        the write are deleted by the next cycle (`Scheduler._progress`)."""
        meta = record.body["metadata"]
        condition = status.set_condition(
            status.conditions_of(record.status) if conditions is None else conditions,
            "Admitted",
            False,
            reason,
            message,
            now,
            meta.get("generation"),
        )
        patch = job_status_patch(
            # The placement's fields go, a re-estimate of its run among them.
            **{"message": message, **(fields or {}), **dict.fromkeys(RELEASED_FIELDS)},
            phase="Pending",
            reason=reason,
            conditions=condition,
        )
        if not await self.write_status(record, patch, check=True):
            return False
        await self.stop_workers(record, ended_too=True)
        return True

    async def stop_workers(self, record: JobRecord, ended_too: bool) -> None:
        """Delete a job whose status says it no longer runs its workers (`ended_too`: those
        that ended as well); a refusal is logged, and the next cycle tries again
        (`Scheduler._progress`): raised, it cut short the events and counts of the step that
        wrote the status, and the release of a preemption's other victims."""
        meta = record.body["metadata"]
        try:
            await self.kube.delete_workers(meta["namespace"], meta["name"], ended_too)
        except ApiError as err:
            log.warning("workers of %s/%s not deleted: %s", meta["namespace"], meta["name"], err)

    async def hold(
        self, record: JobRecord, reason: str, message: str, now: datetime, check: bool
    ) -> None:
        """A job that cannot be planned waits and says why, in its status and its Admitted
        condition (False, as for every wait): written once for each generation of its spec,
        announced once."""
        previous = record.status
        generation = record.body["metadata"].get("generation")
        told = (previous.reason, previous.message) == (reason, message)
        admitted = next((c for c in previous.conditions if c.type == "Admitted"), None)
        if (
            told
            and previous.observed_generation == generation
            and admitted is not None
            and (admitted.status, admitted.reason, admitted.message) == ("False", reason, message)
        ):
            return
        conditions = status.set_condition(
            status.conditions_of(previous), "Admitted", False, reason, message, now, generation
        )
        # As every other status write: a client waiting for status.observedGeneration to reach
        # the generation it applied (kstatus, Argo CD) would otherwise wait for ever.
        patch = status.unplanned_status(reason, message, conditions, generation)
        # The same words are not told again where only the condition or generation moved.
        if await self.write_status(record, patch, check=check) and not told:
            await self.event(record, reason, message, warning=True)

    async def write_status(self, record: JobRecord, patch: dict[str, Any], check: bool) -> bool:
        """Patch the status, with the cost columns it leaves (`status.figures`), and put the
        result in the cache at once (before the watch echoes it), so that the next cycle cannot
        act on the old state. False on a lost race."""
        meta = record.body["metadata"]
        patch = {
            **patch,
            **status.figures(record.body.get("status") or {}, patch, self.cache.currency()),
        }
        try:
            result = await self.kube.patch_status(
                "trainingjobs",
                meta["namespace"],
                meta["name"],
                patch,
                meta.get("resourceVersion") if check else None,
            )
        except ConflictError:
            return False
        self.cache.upsert_job(result)
        return True

    async def event(
        self, record: JobRecord, reason: str, message: str, warning: bool = False
    ) -> None:
        """Record an Event on the job; best effort (`record_event`)."""
        await record_event(self.kube, record.body, "TrainingJob", reason, message, warning)
