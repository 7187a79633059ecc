"""The operator's in-memory view of the cluster, fed by watch events, read as snapshots.

Handlers feed it (`upsert_*`, `forget_*`, and what a PriceTable's status echo restores); the
scheduler reads `snapshot()` and the job records. Nothing here talks to the API server.

One class over 800 lines: the watch side and the read side share the same dictionaries, and a
read is right only against the rules that filled them (which pods count, which nodes are
closing, which table owns a node); split, each half would reach into the other's state. What
stands apart already lives elsewhere: `records` (pod and job views), `api.convert` (objects to
core data).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from pricewise.api import convert, holds, nodepools, podrequests, quotas
from pricewise.api import models as api
from pricewise.api.manifests import field_errors
from pricewise.api.models import ACTIVE_PHASES
from pricewise.api.naming import job_label
from pricewise.controller.records import (
    JobRecord,
    Key,
    awaits_edit,
    key_of,
    older,
    pod_record,
    refused_for_missing,
    same_spec,
    same_version,
)
from pricewise.controller.status import told_suspended
from pricewise.core.accounting import Accrual, Span
from pricewise.core.costmodel import run_seconds, without_missed_deadline, worker_hourly_price
from pricewise.core.greedy import quota_use
from pricewise.core.lifecycle import PodRecord
from pricewise.core.preemption import RunningJob
from pricewise.core.reclaims import ReclaimRates
from pricewise.core.snapshot import (
    BudgetView,
    Job,
    Pool,
    Quota,
    Release,
    Resources,
    Snapshot,
    node_shares,
    on_nodes,
)
from pricewise.core.times import FAR_FUTURE, parse_time
from pricewise.core.units import from_micros, parse_duration, parse_quantity, to_micros

log = logging.getLogger(__name__)

RECLAIM_TAINTS = (
    "cloud.google.com/impending-node-termination",
    "DeletionCandidateOfClusterAutoscaler",
    "ToBeDeletedByClusterAutoscaler",
    "karpenter.sh/disrupted",
    "aws-node-termination-handler/spot-itn",
    "node.kubernetes.io/unreachable",
)
"""Taints that clouds and autoscalers put on a node about to go away (spot reclaim, scale-down,
an unreachable node). A node so tainted takes no new workers, and its workers are requeued at
once. `PRICEWISE_RECLAIM_TAINTS` (comma-separated) replaces the list."""


_BURIED_FOR_S = 3600.0
"""How long the uid of a deleted object is remembered."""


def _owned_by(owner: str | None, uid: str | None) -> bool:
    """Whether a worker of a job's name (its controller's uid, `owner`) is the job's of that
    uid: where either is unknown, it is taken as the job's."""
    return uid is None or owner in (None, uid)


def _freed(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether a ResourceQuota's usage fell for some key (a quantity it cannot read counts as
    no change)."""
    for name, was in before.items():
        try:
            if parse_quantity(after.get(name, 0)) < parse_quantity(was):
                return True
        except (ValueError, TypeError, ArithmeticError):
            continue
    return False


@dataclass
class Cache:
    """Everything the scheduler needs, keyed by (namespace, name)."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    pods: dict[Key, PodRecord] = field(default_factory=dict)
    jobs: dict[Key, JobRecord] = field(default_factory=dict)
    price_tables: dict[str, api.PriceTable] = field(default_factory=dict)
    price_table_errors: dict[str, str] = field(default_factory=dict)
    _table_meta: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    """Each PriceTable's metadata as last taken: whether an event changed its spec."""
    budgets: dict[Key, api.Budget] = field(default_factory=dict)
    budget_errors: dict[Key, str] = field(default_factory=dict)
    """Budgets the model refuses, with why: left out of the snapshot, reported on the object."""
    hard_errors: set[Key] = field(default_factory=set)
    """Refused Budgets that are not marked soft: their namespaces' jobs wait."""
    budget_conditions: dict[Key, list[dict[str, Any]]] = field(default_factory=dict)
    """The conditions last seen on each refused Budget, so that its report is written once."""
    _budget_meta: dict[Key, Mapping[str, Any]] = field(default_factory=dict)
    """Each Budget's metadata as last taken: a watch event older than the status the operator
    last wrote must not bring back its figures (`retained` without a job deleted since)."""
    quotas: dict[Key, dict[str, Any]] = field(default_factory=dict)
    quota_errors: dict[Key, str] = field(default_factory=dict)
    """ResourceQuotas pricewise cannot read, with why: their namespaces' pending jobs wait (see
    `namespace_holds`)."""
    reclaim_taints: frozenset[str] = frozenset(RECLAIM_TAINTS)
    """Taints that say a node is going away (see `RECLAIM_TAINTS`)."""
    reclaim_rates: ReclaimRates = field(default_factory=ReclaimRates)
    """Reclaims seen per spot pool: spot is priced with these when worse than declared."""
    _workers: dict[tuple[str, str], dict[Key, PodRecord]] = field(default_factory=dict)
    """Worker pods by (namespace, job label): a cycle looks up every placed job's workers
    several times, and a scan of all pods each time made that quadratic (0.23 s a pass at
    2,000 running jobs, ~6 s at 10,000)."""
    retried: set[Key] = field(default_factory=set)
    """Jobs whose workers the API server refused, planned again because a PriceTable or a
    ResourceQuota of their namespace changed since (a pool's node selector or tolerations, or
    a quota that asks every pod for limits, may have been why), or a while passed
    (`retry_refused`); a job leaves the set when its status moves on, and is held again if it
    is refused again."""
    quarantined: dict[Key, str] = field(default_factory=dict)
    """Jobs whose planning raised in the last cycle, with the error (see `quarantine`)."""
    starts: dict[Key, datetime] = field(default_factory=dict)
    """Jobs the cycle saw start, with when, whose Running status it writes beside the solve:
    until then their room frees that much later than their admission says (`releases`)."""
    departed: dict[tuple[str, str], list[tuple[str | None, Span]]] = field(default_factory=dict)
    """Runs of worker pods deleted since the last accrual, with the uid of the job that owned
    each, by (namespace, job label): the
    next accrual no longer sees the pods, and their runs since the last cycle went unbilled
    (up to a cycle's period of every worker lost to a reclaim or a drain)."""
    limit_edits: dict[str, int] = field(default_factory=dict)
    """Per namespace, how many times a Budget's or ResourceQuota's spec there was created,
    changed or deleted: a waiting job told a limit's figures is told again once it moves."""
    _limit_specs: dict[tuple[str, Key], Any] = field(default_factory=dict)
    """The spec of each Budget and ResourceQuota as last taken (their statuses move all the
    time, and are no edit)."""
    _buried: dict[str, float] = field(default_factory=dict)
    """Uids of the jobs, Budgets and pods deleted, with when (monotonic seconds): the answer to
    a write sent before a deletion, or a list taken before it, must not bring the object back
    (a deleted job came back Admitted from its own status write, and held its node for ever;
    a deleted Budget went on holding jobs back)."""
    _pod_meta: dict[Key, tuple[str, str]] = field(default_factory=dict)
    """Each pod's uid and resourceVersion as last taken: a list taken before a watch event
    must not undo it (a worker that ended during the start-up list was kept Running, and its
    job billed for ever)."""
    _priced_by: str | None = None
    """The PriceTable that sets the currency (see `pricing_table`)."""
    _pricing_stale: bool = True
    """Whether a table or a node's labels changed since `_priced_by` was chosen."""

    # --- feeding --------------------------------------------------------------------------

    def upsert_node(self, body: Mapping[str, Any]) -> None:
        """Remember a node's labels, schedulability and allocatable."""
        name, labels = body["metadata"]["name"], body["metadata"].get("labels") or {}
        if name not in self.nodes or self.nodes[name]["metadata"]["labels"] != labels:
            self._pricing_stale = True
        self.nodes[name] = {
            "metadata": {"name": name, "labels": dict(labels)},
            "spec": {
                "unschedulable": (body.get("spec") or {}).get("unschedulable", False),
                "taints": sorted(
                    str(t.get("key")) for t in (body.get("spec") or {}).get("taints") or []
                ),
                "providerID": (body.get("spec") or {}).get("providerID", ""),
            },
            "status": {
                "allocatable": dict((body.get("status") or {}).get("allocatable") or {}),
                # Readiness and since when only: the kubelet's heartbeat rewrites the rest of
                # every condition every few seconds, and each rewrite woke a cycle.
                "conditions": [
                    {k: c.get(k) for k in ("type", "status", "lastTransitionTime")}
                    for c in (body.get("status") or {}).get("conditions") or []
                    if c.get("type") == "Ready"
                ],
            },
        }

    def forget_node(self, name: str) -> None:
        """A node is gone."""
        self.nodes.pop(name, None)
        self._pricing_stale = True

    def upsert_pod(self, body: Mapping[str, Any]) -> None:
        """Remember a pod's node, requests and phase."""
        key, meta = key_of(body), body.get("metadata") or {}
        known = self._pod_meta.get(key)
        if self._is_buried(meta) or (
            known is not None and older(meta, {"uid": known[0], "resourceVersion": known[1]})
        ):
            return
        self._unindex_pod(key)
        self._pod_meta[key] = (str(meta.get("uid") or ""), str(meta.get("resourceVersion") or ""))
        pod = self.pods[key] = pod_record(body)
        if pod.job is not None and pod.index is not None:
            self._workers.setdefault((key[0], pod.job), {})[key] = pod

    def pod_uid(self, key: Key) -> str | None:
        """The uid of the pod of this key as last taken, None where none is held."""
        known = self._pod_meta.get(key)
        return None if known is None else known[0]

    def forget_pod(self, key: Key, gone_at: datetime | None = None) -> None:
        """A pod is gone; a worker deleted at `gone_at` (`records.gone_at`) is billed up to
        then by the next accrual (see `departed`)."""
        pod = self._unindex_pod(key)
        self._bury(self._pod_meta.pop(key, ("", ""))[0])
        if pod is None or pod.job is None or gone_at is None or pod.start is None:
            return
        span = Span(pod.start, min(pod.end or gone_at, gone_at))
        self.departed.setdefault((key[0], pod.job), []).append((pod.owner, span))

    def _unindex_pod(self, key: Key) -> PodRecord | None:
        """Take a pod out of the cache and its job's workers; the pod, if it was there."""
        pod = self.pods.pop(key, None)
        if pod is not None and pod.job is not None:
            workers = self._workers.get((key[0], pod.job), {})
            workers.pop(key, None)
            if not workers:
                self._workers.pop((key[0], pod.job), None)
        return pod

    def _bury(self, uid: object) -> None:
        """Remember that the object of this uid was deleted (see `_buried`)."""
        if not uid:
            return
        now = time.monotonic()
        self._buried[str(uid)] = now
        # Oldest first (a dict keeps its order): an hour is longer than any write or list in
        # flight. Rebuilt whole past a cap, it cost more with each of 30,000 deletions an hour.
        while self._buried:
            oldest = next(iter(self._buried))
            if now - self._buried[oldest] < _BURIED_FOR_S:
                break
            del self._buried[oldest]

    def _is_buried(self, meta: Mapping[str, Any]) -> bool:
        """Whether the object is one deleted since (see `_buried`)."""
        uid = meta.get("uid")
        return bool(uid) and str(uid) in self._buried

    def forget_workers(self, namespace: str, job: str) -> None:
        """A job's worker pods are gone, as when the job is deleted."""
        for key in [*self._workers.get((namespace, job_label(job)), {})]:
            self.forget_pod(key)

    def upsert_job(self, body: Mapping[str, Any]) -> JobRecord | None:
        """Remember a TrainingJob, parsing its spec (an invalid one is kept with its error);
        the record kept, None for a job deleted since (see `_buried`)."""
        raw = {k: body[k] for k in ("metadata", "spec", "status") if k in body}
        raw["metadata"] = dict(raw["metadata"])
        known = self.jobs.get(key_of(body))
        if self._is_buried(raw["metadata"]):
            return None
        if known is not None and older(raw["metadata"], known.body["metadata"]):
            return known  # a watch event older than what our own write already returned
        saved = _saved(raw)
        if (
            known is not None
            and known.job is not None
            and known.phase in ACTIVE_PHASES
            and (raw.get("status") or {}).get("phase") in ACTIVE_PHASES
            and (known.placed_spec or not same_spec(raw["metadata"], known.body["metadata"]))
        ):
            # A placed job's spec changed (`_note_spec_change` says it is not re-planned): it
            # runs, is costed and counted as placed. Parsed, an invalid new spec flipped it to
            # Pending with its workers still running; a valid one moved its worker's size
            # under its accrual.
            return self._keep(JobRecord(raw, known.model, known.error, known.job, True))
        if (
            known is not None
            and not known.placed_spec
            and same_spec(raw["metadata"], known.body["metadata"])
            and saved == _saved(known.body)
        ):
            # A status write that keeps what is planned: the spec, and so its parsed forms, are
            # as they were. Parsing again would cost every write of a burst a validation, twice
            # with its echo.
            return self._keep(JobRecord(raw, known.model, known.error, known.job))
        model: api.TrainingJob | None = None
        job: Job | None = None
        error: str | None = None
        read = {
            "metadata": {
                "name": raw["metadata"]["name"],
                "namespace": raw["metadata"]["namespace"],
            },
            "spec": raw.get("spec") or {},
            # The rest of the status is the operator's own record: only what is
            # planned with is read (work saved by checkpoints, restarts used).
            "status": saved,
        }
        try:
            model = api.TrainingJob.model_validate(read)
            job = convert.job_from(model, parse_time(raw["metadata"].get("creationTimestamp")))
        except ValidationError as err:
            # With the model and the object, as `plan` says it: `maxDuraton`, did you mean...
            model, error = None, "; ".join(field_errors(err, api.TrainingJob, read))
        except (ValueError, ArithmeticError) as err:
            model, error = None, str(err)
        return self._keep(JobRecord(raw, model, error, job))

    def _keep(self, record: JobRecord) -> JobRecord:
        key = key_of(record.body)
        self.jobs[key] = record
        if not awaits_edit(record):
            self.retried.discard(key)
        return record

    def kept_waiting(self, key: Key, record: JobRecord) -> bool:
        """Whether the job waits for a change before it is planned again (`records.awaits_edit`),
        and nothing that may have been why changed since (see `retried`)."""
        return awaits_edit(record) and key not in self.retried

    def departed_runs(self, key: Key) -> list[Span]:
        """Taken: the runs of the job's workers deleted since the last accrual, those of an
        earlier job of its name left out (they were its, billed at its deletion)."""
        uid = self._uid_of(key)
        gone = self.departed.pop((key[0], job_label(key[1])), [])
        return [span for owner, span in gone if _owned_by(owner, uid)]

    def forget_job(self, key: Key) -> None:
        """A TrainingJob is gone."""
        record = self.jobs.pop(key, None)
        if record is not None:
            self._bury(record.body["metadata"].get("uid"))

    def price_table_changed(self, body: Mapping[str, Any]) -> bool:
        """Whether a PriceTable is new to the cache, or its spec changed since it was taken
        (not the echo of a status write)."""
        meta = body["metadata"]
        return not same_spec(meta, self._table_meta.get(meta["name"], {}))

    def price_table_generation(self, name: str) -> int | None:
        """The generation of a PriceTable's spec as the cache took it."""
        generation = self._table_meta.get(name, {}).get("generation")
        return None if generation is None else int(generation)

    def upsert_price_table(self, body: Mapping[str, Any]) -> None:
        """Remember a PriceTable; an invalid one is set aside with its error."""
        meta = body["metadata"]
        name = meta["name"]
        self._table_meta[name] = dict(meta)
        self._pricing_stale = True
        self.restore_exposure(body)
        read = {
            "metadata": {"name": name, "creationTimestamp": meta.get("creationTimestamp")},
            "spec": body.get("spec") or {},
        }
        try:
            self.price_tables[name] = api.PriceTable.model_validate(read)
            self.price_table_errors.pop(name, None)
        except ValidationError as err:
            self.price_tables.pop(name, None)
            self.price_table_errors[name] = "; ".join(field_errors(err, api.PriceTable, read))
        self.retry_refused()

    def restore_exposure(self, body: Mapping[str, Any]) -> None:
        """Take the spot pools' reclaims and node-hours a PriceTable's status keeps: without
        them a restart priced spot at the declared rate again until 10 node-hours were seen. A
        row the operator could not have written (a hand edit) is left out."""
        rows = (body.get("status") or {}).get("pools")
        for row in rows if isinstance(rows, list) else []:
            try:
                kept = api.PoolStatus.model_validate(row)
            except ValidationError:
                continue
            if kept.observed_reclaims is not None and kept.observed_node_hours is not None:
                self.reclaim_rates.restore(
                    kept.name, kept.observed_reclaims, kept.observed_node_hours
                )

    def forget_price_table(self, name: str) -> None:
        """A PriceTable is gone."""
        self._pricing_stale = True
        self.price_tables.pop(name, None)
        self.price_table_errors.pop(name, None)
        self._table_meta.pop(name, None)
        self.retry_refused()

    def retry_refused(self, namespace: str | None = None, before: datetime | None = None) -> None:
        """Plan again the jobs whose workers were refused (of `namespace`, where given); with
        `before`, only those refused before it for an object missing then: the scheduler
        retries each after a while, for a PriorityClass or a ServiceAccount the template names
        may exist since, and no watch of the operator's sees it made."""
        self.retried |= {
            key
            for key, record in self.jobs.items()
            if awaits_edit(record)
            and namespace in (None, key[0])
            and (
                before is None
                or (refused_for_missing(record) and (record.waiting_since or before) < before)
            )
        }

    def budget_echo(self, meta: Mapping[str, Any]) -> bool:
        """Whether a Budget's watch event is the echo of a status write the cache took."""
        known = self._budget_meta.get((meta["namespace"], meta["name"]))
        return known is not None and same_version(meta, known)

    def budget_meta(self, key: Key) -> Mapping[str, Any]:
        """A Budget's uid, resourceVersion and generation as the cache took them (empty for a
        Budget it does not know): for events about it and its status's observedGeneration."""
        return self._budget_meta.get(key, {})

    def _limit_edited(self, kind: str, key: Key, spec: Any) -> None:
        """Count an edit of a limit's spec in its namespace (see `limit_edits`); `spec` None
        where the object is gone."""
        if self._limit_specs.get((kind, key)) != spec:
            self.limit_edits[key[0]] = self.limit_edits.get(key[0], 0) + 1
            if kind == "ResourceQuota":  # it may be why the API server refused a worker
                self.retry_refused(key[0])
        if spec is None:
            self._limit_specs.pop((kind, key), None)
        else:
            self._limit_specs[kind, key] = spec

    def upsert_budget(self, body: Mapping[str, Any]) -> None:
        """Remember a Budget with its status (where accounting keeps what was spent); an
        invalid one is set aside with its error."""
        meta, key = body["metadata"], key_of(body)
        known = self._budget_meta.get(key)
        if self._is_buried(meta) or (known is not None and older(meta, known)):
            return
        self._limit_edited("Budget", key, body.get("spec") or {})
        self._budget_meta[key] = {k: meta.get(k) for k in ("uid", "resourceVersion", "generation")}
        status = body.get("status") or {}
        read = {
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "spec": body.get("spec") or {},
            "status": status,
        }
        try:
            self.budgets[key] = api.Budget.model_validate(read)
            self.budget_errors.pop(key, None)
            self.hard_errors.discard(key)
        except ValidationError as err:
            self.budgets.pop(key, None)
            self.budget_errors[key] = "; ".join(field_errors(err, api.Budget, read))
            if holds.enforcement_of(body) == "soft":
                self.hard_errors.discard(key)
            else:
                self.hard_errors.add(key)
            self.budget_conditions[key] = list(status.get("conditions") or [])

    def forget_budget(self, key: Key) -> None:
        """A Budget is gone."""
        self._limit_edited("Budget", key, None)
        self._bury((self._budget_meta.pop(key, None) or {}).get("uid"))
        self.budgets.pop(key, None)
        self.budget_errors.pop(key, None)
        self.hard_errors.discard(key)
        self.budget_conditions.pop(key, None)

    def upsert_quota(self, body: Mapping[str, Any]) -> None:
        """Remember a ResourceQuota's hard and used amounts, or why they cannot be read."""
        key = key_of(body)
        quota = {
            "metadata": {
                "name": body["metadata"]["name"],
                "namespace": body["metadata"]["namespace"],
            },
            "spec": dict(body.get("spec") or {}),
            "status": dict(body.get("status") or {}),
        }
        before = (self.quotas.get(key) or {}).get("status", {}).get("used") or {}
        self.quotas[key] = quota
        if _freed(before, quota["status"].get("used") or {}):
            # A worker refused for a key pricewise does not plan with (limits.cpu) may fit now:
            # it waited as WorkerRejected until someone edited the quota.
            self.retry_refused(key[0])
        # What `quota_from` reads: the API server copies an edited spec.hard into status.hard
        # a moment later, and a cycle between the two still tells the old figure.
        hard = (quota["status"].get("hard"), quota["spec"])
        self._limit_edited("ResourceQuota", key, hard)
        try:
            quotas.quota_from(quota)
        except (ValueError, ArithmeticError) as err:
            # Logged when it changes, not every cycle: the held jobs carry it from then on.
            if self.quota_errors.get(key) != str(err):
                log.warning("ResourceQuota %s/%s cannot be read: %s", *key, err)
            self.quota_errors[key] = str(err)
        else:
            self.quota_errors.pop(key, None)

    def forget_quota(self, key: Key) -> None:
        """A ResourceQuota is gone."""
        self._limit_edited("ResourceQuota", key, None)
        self.quotas.pop(key, None)
        self.quota_errors.pop(key, None)

    # --- reading --------------------------------------------------------------------------

    def workers_of(self, namespace: str, job: str) -> dict[int, PodRecord]:
        """The job's worker pods by index: those of the job of that name the cache has, not
        those of an earlier job of its name still terminating (a job gone, all of them)."""
        pods = self._workers.get((namespace, job_label(job)), {}).values()
        uid = self._uid_of((namespace, job))
        return {
            pod.index: pod for pod in pods if pod.index is not None and _owned_by(pod.owner, uid)
        }

    def _uid_of(self, key: Key) -> str | None:
        """The uid of the job the cache has under this key, if any."""
        record = self.jobs.get(key)
        uid = record.body["metadata"].get("uid") if record is not None else None
        return str(uid) if uid else None

    def lost_nodes(
        self,
        names: Iterable[str | None],
        now: datetime,
        grace: timedelta,
    ) -> dict[str, str]:
        """Of these nodes, those that went away (deleted, tainted as being reclaimed, or NotReady
        for longer than `grace`), with what happened to each."""
        lost: dict[str, str] = {}
        for name in {n for n in names if n}:
            node = self.nodes.get(name)
            if node is None:
                lost[name] = f"node {name} is gone"
                continue
            tainted = self._reclaim_taints_of(node)
            if tainted:
                lost[name] = f"node {name} is being reclaimed (taint {tainted[0]})"
                continue
            for cond in node["status"]["conditions"]:
                since = parse_time(cond.get("lastTransitionTime"))
                not_ready = cond.get("type") == "Ready" and cond.get("status") != "True"
                if not_ready and since and now - since > grace:
                    lost[name] = f"node {name} NotReady since {since:%H:%M}"
        return lost

    def node_usage(self) -> dict[str, Resources]:
        """Requests on each node: bound live pods, plus admitted workers not yet created, which
        hold their planned node so that the next cycle cannot give it away. A worker that has
        ended holds nothing, even before its job's status says so (a status write that failed,
        or one the snapshot was taken before)."""
        used: dict[str, Resources] = {}

        def add(node: str, amount: Resources) -> None:
            used[node] = used.get(node, Resources()) + amount

        present: set[tuple[str, str, int]] = set()
        for (ns, _), pod in self.pods.items():
            if pod.job is not None and pod.index is not None:
                present.add((ns, pod.job, pod.index))
            if pod.phase in podrequests.TERMINAL_POD_PHASES:
                continue
            target = pod.node or pod.planned_node
            if target:
                add(target, pod.requests)
        for (ns, name), record in self.jobs.items():
            if record.phase not in ACTIVE_PHASES or record.model is None:
                continue
            for index, node in enumerate(record.status.nodes):
                if (ns, job_label(name), index) not in present:
                    add(node, self.planned_worker(record))
        return used

    @staticmethod
    def planned_option(record: JobRecord) -> api.JobOption | None:
        """The option a placed job was placed with, as its status records it (None where it
        does not: its worker is then read from its pods, `planned_worker`)."""
        if record.model is None:
            return None
        options, index = record.model.spec.options, record.status.option_index
        return options[index] if index is not None and 0 <= index < len(options) else None

    def planned_worker(self, record: JobRecord) -> Resources:
        """Requests of one worker of a placed job: of its spec, or, where the spec changed since
        its placement or cannot be read (after a restart, the spec it was placed with is not
        known any more), of its worker pods, which hold what was placed."""
        option = self.planned_option(record)
        if record.edited_since_placed or option is None or record.model is None:
            meta = record.body["metadata"]
            pods = self.workers_of(meta["namespace"], meta["name"])
            if pods:
                return pods[min(pods)].requests
        if option is None or record.model is None:
            return Resources()
        if record.spec_worker is None:  # a ValueError is raised again at each call, as before
            record.spec_worker = podrequests.worker_resources(option, record.model.spec.template)
        return record.spec_worker

    def running(
        self,
        accruals: Mapping[Key, Accrual] | None = None,
        pools: Container[str] | None = None,
    ) -> list[RunningJob]:
        """Placed jobs (Admitted or Running) as preemption sees them, with `accruals` as the
        accountant holds them now where given (see `running_job`); only those of `pools`
        where given (each run read is a cost figure and a worker's requests)."""
        found = (
            self.running_job(r, (accruals or {}).get(key))
            for key, r in self.jobs.items()
            if r.phase in ACTIVE_PHASES and (pools is None or r.status.pool in pools)
        )
        return [r for r in found if r is not None]

    def running_job(self, record: JobRecord, accrual: Accrual | None = None) -> RunningJob | None:
        """A placed job's run: where, since when, what it costs a second and has cost so far
        (None when the status does not say where it runs), from its `accrual` when given (the
        accountant's, up to this cycle), else from the accrual its status persisted.

        What a second of the run costs is what its workers accrued over it, not its estimate:
        that was at the prices it was placed at, for workers running from its admission, and
        on spot raised for the reclaims it might meet, so a cut run was told it lost more than
        it had cost. The estimate stands in until the run has accrued; either way the loss is
        capped at what the run has cost."""
        st, meta = record.status, record.body["metadata"]
        if record.job is None or st.pool is None or st.admitted_at is None:
            return None
        seconds = _run_s(record)
        # Its checkpoints count from when its workers ran, not from its admission.
        since = st.started_at or self.starts.get(key_of(record.body)) or st.admitted_at
        cost, until = (
            (accrual.cost, accrual.until) if accrual else (st.accrued_cost, st.accrued_until)
        )
        run_cost = to_micros(max(cost - (st.accrued_before_run or 0.0), 0.0))
        accrued_s = (until - since).total_seconds() if until else 0.0
        if run_cost and accrued_s > 0:
            per_second = run_cost / accrued_s
        else:
            per_second = to_micros(st.estimated_cost or 0.0) / seconds if seconds else 0.0
        try:
            reported = convert.reported_progress(record.body) or 0.0
        except ValueError:  # said where the progress is read (`Scheduler._saved`)
            reported = 0.0
        # The run was planned for the work left at its start (`status.progress`, as
        # `convert.job_from` reads it); all the work saved is all of the run, however long.
        done = min(st.progress, convert.MOST_SAVED)
        reported_s = math.inf if reported >= 1 else max(reported - done, 0.0) / (1 - done) * seconds
        return RunningJob(
            key=f"{meta['namespace']}/{meta['name']}",
            priority=record.job.priority,
            pool=st.pool,
            worker=self.planned_worker(record),
            nodes=tuple(st.nodes),
            since=since,
            per_second=per_second,
            run_s=seconds,
            checkpoint_s=record.job.checkpoint_s,
            accrued=run_cost,
            reported_s=reported_s,
        )

    def committed(self, namespace: str, now: datetime, pools: Mapping[str, Pool]) -> float:
        """What the namespace's admitted, unfinished jobs will still cost: each one's run time
        left (all of it until its workers run) at its pool's price now. At constant prices that
        is its estimate less what its run accrued; a price changed under a running job changes
        it, as it changes the job's accrual (a hard budget counted the old price, and let jobs
        through that the new one could not pay for)."""
        total = 0.0
        for key, record in self.jobs.items():
            st = record.status
            if key[0] != namespace or record.phase not in ACTIVE_PHASES:
                continue
            if st.admitted_at is None or st.estimated_finish is None:  # a status set by hand
                run = st.accrued_cost - (st.accrued_before_run or 0.0)
                total += max(0.0, (st.estimated_cost or 0.0) - run)
                continue
            run_s = (st.estimated_finish - st.admitted_at).total_seconds()
            started = st.started_at or self.starts.get(key)
            left_s = max(0.0, run_s - (now - started).total_seconds() if started else run_s)
            pool = pools.get(st.pool or "")
            if pool is None or not st.workers:  # taken out of its PriceTable: its last price
                total += (st.estimated_cost or 0.0) * (left_s / run_s if run_s > 0 else 0.0)
                continue
            hourly = worker_hourly_price(pool, self.planned_worker(record)) * st.workers
            total += from_micros(round(hourly)) * left_s / 3600
        return total

    def budget_views(
        self,
        currency: str,
        now: datetime,
        pools: Mapping[str, Pool],
        spent: Mapping[Key, float] | None = None,
    ) -> list[BudgetView]:
        """Budgets in the prices' currency with what they have spent (`spent`, else their
        status's) and committed (a Budget in another currency is not enforced, and says so in
        its status)."""
        return [
            convert.budget_from(
                b,
                spent=None if spent is None else spent.get(key),
                committed=self.committed(key[0], now, pools),
                now=now,
            )
            for key, b in sorted(self.budgets.items())
            if b.spec.currency == currency
        ]

    def carbon_intensity(self, pool: str | None) -> float | None:
        """Grams of CO2 per kWh of the PriceTable that prices `pool`."""
        found = self._pool_of(pool)
        return found[0].spec.carbon_intensity if found else None

    def pool_spec(self, pool: str | None) -> api.Pool | None:
        """The spec of the pool so named that planning uses: a later table's pool of the same
        name is refused (DuplicatePool), so its nodeSelector must not place the workers."""
        found = self._pool_of(pool)
        return found[1] if found else None

    def _pool_of(self, pool: str | None) -> tuple[api.PriceTable, api.Pool] | None:
        """The oldest PriceTable planning uses with a pool of this name, and that pool."""
        for table in self.planning_tables():
            for spec in table.spec.pools:
                if spec.name == pool:
                    return table, spec
        return None

    def planning_tables(self) -> list[api.PriceTable]:
        """The PriceTables planning uses, oldest first: those in the cluster's currency (the
        others are left out, with a CurrencyMismatch problem)."""
        pricing = self.pricing_table()
        currency = pricing.spec.currency if pricing else "USD"
        return [t for t in self.tables_by_age() if t.spec.currency == currency]

    def tables_by_age(self) -> list[api.PriceTable]:
        """Valid PriceTables, oldest first (then by name): the oldest owns any node that a
        later table's pools select too."""
        return sorted(
            self.price_tables.values(),
            key=lambda t: (t.metadata.creation_timestamp or FAR_FUTURE, t.metadata.name),
        )

    def pricing_table(self) -> api.PriceTable | None:
        """The PriceTable that sets the cluster's currency: the oldest whose pools select a
        node; where none does (a GPU pool scaled to zero), the one that set it last while it
        exists, else the oldest. A table that prices no node (a test left behind, a pool to
        come) must not turn the cluster's prices and hard Budgets to another currency when the
        one that prices its nodes is replaced, and so becomes the newer."""
        if self._pricing_stale or self._priced_by not in self.price_tables:
            self._pricing_stale = False
            tables = self.tables_by_age()
            labels = [n["metadata"]["labels"] for n in self.nodes.values()]
            pricing = (
                t
                for t in tables
                if any(
                    nodepools.selects(pool.node_selector, node)
                    for pool in t.spec.pools
                    for node in labels
                )
            )
            kept = self.price_tables.get(self._priced_by or "")
            first = next(pricing, kept or (tables[0] if tables else None))
            self._priced_by = None if first is None else first.metadata.name
        return None if self._priced_by is None else self.price_tables[self._priced_by]

    def currency(self) -> str:
        """The cluster's currency: that of `pricing_table`."""
        table = self.pricing_table()
        return table.spec.currency if table else "USD"

    def namespace_holds(self) -> dict[str, tuple[str, str]]:
        """Namespaces whose pending jobs wait because a ResourceQuota or a hard Budget there
        cannot be checked, with the reason and message those jobs show (`holds.namespace_holds`).
        """
        return holds.namespace_holds(
            self.quota_errors,
            {key: e for key, e in self.budget_errors.items() if key in self.hard_errors},
            self.budgets.values(),
            self.currency(),
        )

    def pending(self) -> list[JobRecord]:
        """Valid jobs waiting for a placement, oldest first; suspended jobs and jobs of a
        namespace whose limits cannot be checked are left out (see `namespace_holds`)."""
        blocked = self.namespace_holds()
        waiting = [
            r
            for key, r in self.jobs.items()
            if r.phase == "Pending"
            and r.job is not None
            and not r.suspended
            and not told_suspended(r.status)  # planned once its resume is written
            and not self.kept_waiting(key, r)
            and key[0] not in blocked
        ]
        return sorted(
            waiting, key=lambda r: (r.body["metadata"].get("creationTimestamp", ""), key_of(r.body))
        )

    def pools(self) -> tuple[tuple[Pool, ...], list[nodepools.PoolProblem]]:
        """Pools with their nodes' free room, and problems worth a condition: besides those of
        `nodepools.pools_from`, a table in another currency than the cluster's is left out."""
        tables, pricing = self.tables_by_age(), self.pricing_table()
        currency = pricing.spec.currency if pricing else "USD"
        problems = [
            nodepools.PoolProblem(
                (t.metadata.name,),
                "CurrencyMismatch",
                f"prices in {t.spec.currency}, but the cluster's prices are in {currency} "
                f"(set by PriceTable {pricing.metadata.name}): this table is not used; set "
                f"spec.currency: {currency}",
            )
            for t in tables
            if pricing is not None and t.spec.currency != currency
        ]
        nodes = [self._closing(n) for n in self.nodes.values()]
        pools, more = nodepools.pools_from(self.planning_tables(), nodes, self.node_usage())
        releases = self.releases()
        pools = tuple(
            replace(
                p,
                releases=on_nodes(releases.get(p.name, ()), p.nodes),
                interruption_rate=self.reclaim_rates.priced(p.name, p.interruption_rate)
                if p.is_spot
                else p.interruption_rate,
            )
            for p in pools
        )
        return pools, problems + more

    def releases(self) -> dict[str, list[Release]]:
        """What each pool's placed jobs free, and when they are estimated to (`_ends`)."""
        out: dict[str, list[Release]] = defaultdict(list)
        for key, record, at, worker in self._ends():
            st = record.status
            on = node_shares(worker, st.nodes)
            out[st.pool or ""].append(Release(at, worker.times(st.workers or 0), on, "/".join(key)))
        return out

    def _ends(self) -> Iterator[tuple[Key, JobRecord, datetime, Resources]]:
        """Each placed job, when it is estimated to end, and its worker as placed
        (`planned_worker`: a spec edited since frees what its pods hold): a running job at its
        start plus its estimated run time, an admitted one at its estimated finish."""
        for key, record in list(self.jobs.items()):
            st = record.status
            if record.phase not in ACTIVE_PHASES or st.pool is None or not st.workers:
                continue
            at = self.estimated_end(key, record)
            worker = self.planned_worker(record)
            if at is None or worker == Resources():
                continue
            yield key, record, at, worker

    def estimated_end(self, key: Key, record: JobRecord) -> datetime | None:
        """When a placed job is estimated to end: its estimated finish, moved by how much
        later than its admission its run started."""
        st = record.status
        if st.estimated_finish is None:
            return None
        started = st.started_at or self.starts.get(key)
        if started and st.admitted_at:
            return st.estimated_finish + (started - st.admitted_at)
        return st.estimated_finish

    def rejected(self) -> Counter[tuple[str, str]]:
        """Objects left out of planning, counted by (kind, reason)."""
        counts: Counter[tuple[str, str]] = Counter()
        currency = self.currency()
        blocked = self.namespace_holds()
        for key, record in self.jobs.items():
            if record.job is None:
                counts["TrainingJob", "InvalidSpec"] += 1
            elif key in self.quarantined:
                counts["TrainingJob", "PlanningFailed"] += 1
            elif record.phase == "Pending" and self.kept_waiting(key, record):
                counts["TrainingJob", record.status.reason] += 1
            elif record.phase == "Pending" and key[0] in blocked and not record.suspended:
                counts["TrainingJob", blocked[key[0]][0]] += 1
        counts["PriceTable", "InvalidSpec"] += len(self.price_table_errors)
        counts["PriceTable", "CurrencyMismatch"] += sum(
            1 for t in self.price_tables.values() if t.spec.currency != currency
        )
        counts["Budget", "InvalidSpec"] += len(self.budget_errors)
        counts["ResourceQuota", "InvalidSpec"] += len(self.quota_errors)
        counts["Budget", "CurrencyMismatch"] += sum(
            1 for b in self.budgets.values() if b.spec.currency != currency
        )
        return counts

    def _reclaim_taints_of(self, node: Mapping[str, Any]) -> list[str]:
        """The taints that say this node is going away, sorted."""
        return sorted(self.reclaim_taints.intersection(node["spec"]["taints"]))

    def _closing(self, node: dict[str, Any]) -> dict[str, Any]:
        """A node tainted as going away, seen as cordoned: it takes no new workers."""
        if not self._reclaim_taints_of(node):
            return node
        return {**node, "spec": {**node["spec"], "unschedulable": True}}

    def quota_views(self) -> list[Quota]:
        """Every ResourceQuota pricewise can read; one it cannot is left out, and its
        namespace's jobs with it (see `namespace_holds`)."""
        if not self.quotas:  # none to view: not a walk over every placed job's end
            return []
        frees: dict[str, list[tuple[str, datetime, dict[str, int]]]] = defaultdict(list)
        for key, record, at, worker in self._ends():
            workers = record.status.workers or 0
            frees[key[0]].append((key[1], at, quota_use(worker.times(workers), workers)))
        jobs = [
            (namespace, name, (record.body.get("spec") or {}).get("template") or {})
            for (namespace, name), record in self.jobs.items()
        ]
        views = []
        for key, quota in sorted(self.quotas.items()):
            if key in self.quota_errors:
                continue
            view = quotas.quota_from(quota, jobs)
            mine = tuple((at, use) for name, at, use in frees[key[0]] if view.counts_name(name))
            views.append(replace(view, frees=mine))
        return views

    def snapshot(self, now: datetime, spent: Mapping[Key, float] | None = None) -> Snapshot:
        """The solver's input; Budgets with `spent` (see `budget_views`)."""
        pools, _ = self.pools()
        currency = self.currency()
        # The start promised last cycle is kept in the status: a restart keeps the promise.
        jobs = tuple(
            without_missed_deadline(
                replace(r.job, promised_start=r.status.planned_start, created=_waits_from(r)),
                pools,
                now,
                currency,
            )
            for r in self.pending()
            if r.job is not None
        )
        return Snapshot(
            now=now,
            pools=pools,
            jobs=jobs,
            quotas=tuple(self.quota_views()),
            budgets=tuple(self.budget_views(currency, now, {p.name: p for p in pools}, spent)),
            currency=currency,
        )


def _waits_from(record: JobRecord) -> datetime | None:
    """When planning counts a pending job's wait from: its creation, or its resume after a
    suspend where that came later (the days it was suspended counted, it was overdue at once,
    and placed before the jobs that had waited)."""
    created = record.job.created if record.job else None
    resumed = record.resumed_at
    return max(created, resumed) if created and resumed else created or resumed


def _saved(body: Mapping[str, Any]) -> dict[str, Any]:
    """The status fields a job is planned with: the share of its work that checkpoints saved,
    and the restarts it used."""
    status = body.get("status") or {}
    return {k: status[k] for k in ("progress", "restarts") if status.get(k) is not None}


def _run_s(record: JobRecord) -> float:
    """How long a placed run takes without reclaims, for the work it was placed for: what its
    checkpoints and reported progress are shares of. Its estimatedDuration counts the reclaims
    a spot pool is priced with (`spotrisk`): work saved there, read against it, was credited
    at a share of its worth, and the rest planned and billed again. It stands in where the
    spec was edited since the placement and is not the one placed (after a restart)."""
    st, job = record.status, record.job
    option = None
    if job is not None and (record.placed_spec or not record.edited_since_placed):
        option = next((o for o in job.options if o.index == st.option_index), None)
    if job is not None and option is not None and st.workers and option.throughput > 0:
        return run_seconds(job, option, st.workers)
    return parse_duration(st.estimated_duration) if st.estimated_duration else 0.0
