"""What the cache keeps of each object kind that drives the lifecycle: pods (as `PodRecord`)
and TrainingJobs (as `JobRecord`, raw body plus its parsed and typed forms), keyed by
(namespace, name)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from pricewise.api import models as api
from pricewise.api import podrequests
from pricewise.api.holds import SUSPENDED
from pricewise.api.naming import INDEX_LABEL, JOB_LABEL, NODE_ANNOTATION, job_label
from pricewise.api.wire import read_job_status
from pricewise.core.lifecycle import PodRecord
from pricewise.core.lookahead import past_max_wait
from pricewise.core.preemption import PREEMPTING
from pricewise.core.snapshot import Job, Resources
from pricewise.core.times import parse_time

Key = tuple[str, str]


def key_of(body: Mapping[str, Any]) -> Key:
    """(namespace, name) of an object; cluster-scoped objects have an empty namespace."""
    meta = body.get("metadata") or {}
    return (meta.get("namespace") or "", meta["name"])


def pod_record(body: Mapping[str, Any]) -> PodRecord:
    """Reduce a Pod to what capacity, lifecycle and accounting need."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    labels = meta.get("labels") or {}
    phase = status.get("phase", "Pending")
    starts, ends, waiting = [], [], []
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        running = state.get("running") or {}
        terminated = state.get("terminated") or {}
        starts.append(parse_time(running.get("startedAt") or terminated.get("startedAt")))
        ends.append(parse_time(terminated.get("finishedAt")))
        waiting.append((state.get("waiting") or {}).get("reason"))
    # The pod holds its node from its first container's start until it ends: a container that
    # exits early (a download, a sidecar) does not end a running pod, nor its cost.
    start = min((t for t in starts if t is not None), default=None)
    ended = [t for t in ends if t is not None]
    end = max(ended) if phase in ("Succeeded", "Failed") and ended else None
    # A worker is a pod a TrainingJob controls: one given a job's labels by hand that ended
    # made its job Succeeded (its accrual stopped) while the real worker ran on.
    owner = next(
        (
            str(ref.get("uid") or "")
            for ref in meta.get("ownerReferences") or []
            if ref.get("kind") == "TrainingJob"
            and ref.get("controller") is True
            and str(ref.get("apiVersion", "")).startswith(f"{api.GROUP}/")
            and job_label(str(ref.get("name", ""))) == labels.get(JOB_LABEL)
        ),
        None,
    )
    owned = owner is not None
    index = labels.get(INDEX_LABEL) if owned else None
    failure, codes = _failure(status) if phase == "Failed" else (None, ())
    return PodRecord(
        node=spec.get("nodeName"),
        planned_node=(meta.get("annotations") or {}).get(NODE_ANNOTATION),
        requests=podrequests.pod_requests(spec),
        phase=phase,
        job=labels.get(JOB_LABEL) if owned else None,
        index=int(index) if index is not None else None,
        start=start or parse_time(status.get("startTime")) if phase != "Pending" else None,
        end=end,
        waiting=tuple(why for why in waiting if why),
        failure=failure,
        exit_codes=codes,
        owner=owner or None,
        created=parse_time(meta.get("creationTimestamp")),
    )


def gone_at(body: Mapping[str, Any], now: datetime) -> datetime:
    """When a deleted pod stopped, as far as its watch event tells: `now`, or its
    deletionTimestamp (the end of its grace period) where that came first."""
    deadline = parse_time((body.get("metadata") or {}).get("deletionTimestamp"))
    return min(deadline, now) if deadline else now


def _failure(status: Mapping[str, Any]) -> tuple[str | None, tuple[int, ...]]:
    """Why a failed pod failed: the pod's own reason (Evicted, OutOfcpu), else its first
    container that exited with an error, with its reason and code; and the non-zero exit codes
    of all its containers (none for a pod failed as a whole), which failure rules read."""
    if status.get("reason"):
        return str(status["reason"]), ()
    said: str | None = None
    codes: list[int] = []
    for cs in status.get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated") or {}
        code = terminated.get("exitCode")
        if code and said is None:
            said = f"{terminated.get('reason') or 'Error'}, exit code {code}"
        if code and isinstance(code, int) and not isinstance(code, bool):
            codes.append(code)
    return said, tuple(codes)


def older(meta: Mapping[str, Any], known: Mapping[str, Any]) -> bool:
    """Whether `meta` is an older version of the same object than `known`.

    resourceVersions are opaque by contract, but the API server's are etcd revisions in
    practice; when both are numbers of the same object, a smaller one is older.
    """
    new_rv, old_rv = str(meta.get("resourceVersion", "")), str(known.get("resourceVersion", ""))
    same = meta.get("uid") == known.get("uid")
    return same and new_rv.isdigit() and old_rv.isdigit() and int(new_rv) < int(old_rv)


def same_version(meta: Mapping[str, Any], known: Mapping[str, Any]) -> bool:
    """Whether `meta` is the very version `known` is (the echo of a write already taken)."""
    version = meta.get("resourceVersion")
    return bool(version) and version == known.get("resourceVersion")


def same_spec(meta: Mapping[str, Any], known: Mapping[str, Any]) -> bool:
    """Whether `meta` is a version of the same object with the same spec as `known`: the API
    server moves `metadata.generation` on every spec change, and never on a status write."""
    generation = meta.get("generation")
    return (
        generation is not None
        and meta.get("uid") == known.get("uid")
        and generation == known.get("generation")
    )


@dataclass
class JobRecord:
    """A TrainingJob as last seen: its raw body, and its parsed form or why it is invalid."""

    body: dict[str, Any]
    model: api.TrainingJob | None
    error: str | None
    job: Job | None = None
    """The solver's view, converted once when the job is seen (None when invalid)."""
    placed_spec: bool = False
    """Whether `model` and `job` are of the spec the job was placed with, not of the spec it
    has now: a placed job runs as placed, and its new spec counts once it is pending again."""
    spec_worker: Resources | None = field(default=None, repr=False, compare=False)
    """One worker's requests of the option its status records, as its spec's template asks
    them (`Cache.planned_worker`), once read: a record is never changed in place (a new
    version is a new record), and each cycle asked them of every placed job five times over
    (pools twice, accruals, Budgets, preemption), parsing its template's quantities each time."""

    @cached_property
    def status(self) -> api.TrainingJobStatus:
        """The status as last written, typed."""
        return read_job_status(self.body.get("status"))

    @property
    def phase(self) -> str:
        """The phase recorded in the status (Pending when none)."""
        return self.status.phase

    @property
    def edited_since_placed(self) -> bool:
        """Whether the spec's generation moved on from the one its placement was made from."""
        placed_at = self.status.observed_generation
        return placed_at is not None and placed_at != self.body["metadata"].get("generation")

    @property
    def suspended(self) -> bool:
        """Whether the spec as it is now says `suspend`: read from the object, not the parsed
        spec, which for a placed job is the one it was placed with (its other edits wait)."""
        return (self.body.get("spec") or {}).get("suspend") is True

    @property
    def active_deadline_s(self) -> int | None:
        """The spec's activeDeadlineSeconds as it is now, as `suspended` reads it: an edit
        applies to the run under way, as a batch/v1 Job's does (read from the spec it was
        placed with, it applied only once a restarted operator read the object anew)."""
        return self._live_seconds("activeDeadlineSeconds", least=1)

    @property
    def expires_at(self) -> datetime | None:
        """When a finished job is due for deletion by its spec's ttlSecondsAfterFinished as it
        is now (an edit after it finished applies, as a batch/v1 Job's does); None where it is
        not finished or sets none."""
        ttl = self._live_seconds("ttlSecondsAfterFinished", least=0)
        if ttl is None or self.phase not in api.FINISHED_PHASES:
            return None
        # Where the end's time was not written (a status of an older version, or by hand), the
        # condition that says it ended has it.
        ended = "Complete" if self.phase == "Succeeded" else "Failed"
        finished = self.status.finished_at or self._turned(ended, "True")
        return None if finished is None else finished + timedelta(seconds=ttl)

    def _live_seconds(self, name: str, least: int) -> int | None:
        value = (self.body.get("spec") or {}).get(name)
        # The API server's schema keeps it a whole number in range; a hand-made body may not.
        valid = isinstance(value, int) and not isinstance(value, bool) and value >= least
        return value if valid else None

    def _turned(self, kind: str, value: str) -> datetime | None:
        """When the condition of type `kind` last turned to `value`, where it is that now."""
        found = next((c for c in self.status.conditions if c.type == kind), None)
        return found.last_transition_time if found and found.status == value else None

    @property
    def resumed_at(self) -> datetime | None:
        """When the job was last resumed (its Suspended condition turned False), if ever."""
        return self._turned(SUSPENDED, "False")

    @property
    def waiting_since(self) -> datetime | None:
        """When a pending job began to wait: its creation, its last requeue (when its Admitted
        condition last turned False), or its resume. A requeued job older than an hour paged at
        once, and one older than its max wait counted as past it."""
        created = parse_time(self.body["metadata"].get("creationTimestamp"))
        moments = [t for t in (created, self._turned("Admitted", "False"), self.resumed_at) if t]
        return max(moments) if moments else None

    def waited_past_max_wait(
        self, job: Job, reason: str | None, now: datetime, default_s: float
    ) -> float | None:
        """Seconds the job, pending for `reason`, has waited for room since `waiting_since`,
        where that is past its max wait (`lookahead.past_max_wait`); else None. What the gauge
        of jobs past their max wait counts and their MaxWaitExceeded condition says."""
        since = self.waiting_since
        if (
            since is None
            or reason not in ROOM_WAITS
            or not past_max_wait(job, since, now, default_s)
        ):
            return None
        return (now - since).total_seconds()


ROOM_WAITS = frozenset(
    {"WaitingForCapacity", "Reserved", "Queued", "Deferred", "NodesUnavailable", PREEMPTING}
)
"""Reasons of pending jobs that wait for room on the cluster: the waits `spec.maxWait` bounds
(one planned to start past it holds the earliest room there is). A quota or budget that holds
a job is the admin's limit, with alerts of its own."""

HELD_REASONS = ("WorkerRejected",)
"""Reasons that keep a job out of planning until its spec changes: re-planning the same spec
would only meet the same refusal, but for what changes beside it (`REFUSED_RETRY`)."""

REFUSED_RETRY = timedelta(minutes=5)
"""How long a job whose workers were refused for an object missing then (a PriorityClass or a
ServiceAccount the template names, which the operator does not watch for) waits before it is
planned again all the same. Only those: a template the API server will always refuse was
planned again, and a job of high priority preempted another each time."""

MISSING_OBJECT = "create what it names (or fix spec.template not to need it):"
"""The fix a refusal for a missing object names, by which its job is known
(`refused_for_missing`)."""


def refused_for_missing(record: JobRecord) -> bool:
    """Whether the job's workers were refused for an object missing then (`REFUSED_RETRY`)."""
    return MISSING_OBJECT in record.status.message


def awaits_edit(record: JobRecord) -> bool:
    """Whether the job waits for a spec change before it is planned again."""
    generation = record.body["metadata"].get("generation")
    status = record.status
    return status.reason in HELD_REASONS and status.observed_generation == generation
