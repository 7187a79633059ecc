"""A view of the live cluster as the scheduler has it, and a quote for new TrainingJobs in it.

`quote` lists the cluster as a scheduler's cache starts (`listing.list_into`) for `pricewise plan
--cluster`, and adds the new jobs as if they had just been submitted: the plan then says where,
when and for how much they would run beside everything already running, planned and pending.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from pricewise.api import holds
from pricewise.api.models import ACTIVE_PHASES, FINISHED_PHASES, TrainingJob
from pricewise.controller.accountant import Accountant
from pricewise.controller.cache import Cache
from pricewise.controller.config import ConfigError, OperatorConfig, from_environment
from pricewise.controller.listing import list_into
from pricewise.controller.records import JobRecord
from pricewise.core.explain import Decision
from pricewise.core.preemption import (
    PreemptionSettings,
    RunningJob,
    preemptions,
    preemptor_message,
    told,
)
from pricewise.core.snapshot import Snapshot
from pricewise.core.times import timestamp
from pricewise.kube import ApiError, Kube

log = logging.getLogger(__name__)

OPERATOR_LABELS = {
    "app.kubernetes.io/part-of": "pricewise",
    "app.kubernetes.io/component": "operator",
}
"""The labels of the operator's Deployment, as the chart and deploy/ set them (not the name
label, which the chart's nameOverride changes)."""
OPERATOR_SELECTOR = ",".join(f"{k}={v}" for k, v in OPERATOR_LABELS.items())
"""The same labels as a label selector."""
QUOTED_SETTINGS = (
    "PRICEWISE_WAIT_COST",
    "PRICEWISE_MAX_WAIT",
    "PRICEWISE_PREEMPTION_MIN_RUN_SECONDS",
)
"""The operator's settings that change a quote."""


class QuoteError(Exception):
    """A new job the quote cannot plan, with the field at fault."""


@dataclass(frozen=True)
class Quote:
    """The cluster's snapshot with the new jobs added as pending, and what to say of them."""

    snapshot: Snapshot
    keys: set[str]
    """The new jobs' keys."""
    before: Snapshot
    """The cluster's snapshot without the new jobs: jobs they replace as they are there."""
    replaced: dict[str, str]
    """Keys of new jobs that replace a job of the same name in the cluster, with that job's
    phase: each is quoted as if the cluster's were deleted and it submitted anew."""
    held: list[Decision]
    """New jobs the cluster would hold without planning them, and why (a namespace whose
    quota or hard budget pricewise cannot read)."""
    running: list[RunningJob]
    """The cluster's placed jobs, as preemption sees them."""
    config: OperatorConfig = field(default_factory=OperatorConfig)
    """The settings the cluster's operator runs with (`operator_config`)."""
    config_warning: str | None = None
    """Why `config` is not, or not all, the operator's own."""
    unappliable: tuple[str, ...] = ()
    """Why `kubectl apply` of the files would fail, or could not be checked not to: a
    namespace the cluster does not have, or that could not be read; a resourceVersion that is
    not the cluster's."""

    def warnings(self) -> list[str]:
        """What to say of the files' jobs that replace the cluster's own (applying the file
        re-plans a pending one, but leaves a placed one as it runs and an ended one ended), and
        why applying them would fail (`unappliable`)."""
        by_kind: dict[str, list[str]] = {}
        for key, phase in sorted(self.replaced.items()):
            kind = (
                "placed" if phase in ACTIVE_PHASES else "ended" if phase in FINISHED_PHASES else ""
            )
            by_kind.setdefault(kind, []).append(key)
        said = {
            "": "already in the cluster, pending; quoted with the files' spec, as it would be "
            "planned once applied",
            "placed": "already placed in the cluster, where applying the file would not change "
            "it (a placed job keeps its spec); quoted as if it were deleted and submitted anew, "
            "its workers' room free",
            "ended": "already ended in the cluster, where applying the file would not run it "
            "again; quoted as if it were deleted and submitted anew",
        }
        said_of = [f"{', '.join(keys)}: {said[kind]}" for kind, keys in sorted(by_kind.items())]
        return said_of + list(self.unappliable)

    def told(self, decisions: Sequence[Decision]) -> tuple[Decision, ...]:
        """A plan's decisions as the operator would tell them, with its preemption settings:
        a new job that would preempt says whom (a quote said it waited for room, and the job,
        once applied, preempted five minutes later), one that would not says why."""
        settings = PreemptionSettings(min_run_s=self.config.preemption_min_run_s)
        currency, now = self.snapshot.currency, self.snapshot.now
        preempting = {
            made.candidate.job.key: (
                tuple(v.key for v in made.victims),
                preemptor_message(made, currency),
            )
            for made in preemptions(self.snapshot, decisions, self.running, settings)
        }
        return told(decisions, preempting, self.running, settings.min_run_s, now)


_QUOTED_META = ("name", "namespace", "labels", "annotations")
"""What a quoted job's metadata keeps of the file's."""


async def quote(kube: Kube, jobs: Sequence[TrainingJob], now: datetime) -> Quote:
    """A quote of `jobs` as if submitted now beside everything the cluster holds."""
    cache = Cache()
    await list_into(cache, kube)
    spent = _spent_now(cache, kube, now)
    before = cache.snapshot(now, spent)
    keys: set[str] = set()
    replaced: dict[str, str] = {}
    stale: list[str] = []
    for job in jobs:
        body = job.model_dump(by_alias=True, mode="json", exclude_none=True)
        # What `kubectl get -o yaml` adds (uid, resourceVersion, generation) is the cluster
        # copy's: an older resourceVersion kept that copy, the same generation its spec.
        meta = {k: v for k, v in body["metadata"].items() if k in _QUOTED_META}
        meta["creationTimestamp"] = timestamp(now)
        name = (meta["namespace"], meta.get("name") or "")
        key = "/".join(name)
        existing = cache.jobs.get(name)
        stale += _stale_version(key, body["metadata"].get("resourceVersion"), existing)
        if existing is not None:
            replaced[key] = existing.phase
            # Gone with the job it replaces, as deleting a TrainingJob deletes its workers: they
            # held their nodes with no end, the job's estimate gone with its status.
            cache.forget_job(name)
            cache.forget_workers(*name)
        record = cache.upsert_job({"metadata": meta, "spec": body.get("spec") or {}})
        if record is None or record.job is None:  # None: a file's job carries no uid to bury
            raise QuoteError(f"TrainingJob {key}: invalid spec: {record and record.error}")
        keys.add(key)
    snapshot = cache.snapshot(now, spent)
    blocked = cache.namespace_holds()
    held = [
        holds.held_decision(
            record.job, holds.SUSPENDED_HOLD if record.suspended else blocked[namespace]
        )
        for (namespace, name), record in cache.jobs.items()
        if f"{namespace}/{name}" in keys
        and (record.suspended or namespace in blocked)
        and record.job is not None
    ]
    config, warning = await operator_config(kube)
    said = await _namespaces_said(kube, {key.split("/", 1)[0] for key in keys})
    running = cache.running()
    unappliable = (*said, *stale)
    return Quote(snapshot, keys, before, replaced, held, running, config, warning, unappliable)


def _spent_now(cache: Cache, kube: Kube, now: datetime) -> dict[tuple[str, str], float]:
    """Each Budget's spend up to `now`, summed from its jobs as the operator's cycle sums it:
    its status's is up to a write old (a minute), and beside what its jobs still cost from now
    a hard Budget was quoted room it no longer had. Jobs deleted since the Budget's last write
    are kept as the cycle keeps them after a restart (`keep_unseen`): counted from the jobs
    alone, their cost was left out."""
    accountant = Accountant(cache, kube)
    pools, _ = cache.pools()
    # Settled first, as the cycle does: `keep_unseen` counts the jobs as accrued up to now.
    accountant.settle(now, {p.name: p for p in pools})
    accountant.keep_unseen(now)
    for namespace, name in cache.budgets:
        accountant.budget_status(namespace, name, now)
    return accountant.spent_now(now)


def _stale_version(key: str, version: str | None, existing: JobRecord | None) -> list[str]:
    """Why the resourceVersion a file kept (`kubectl get -o yaml` writes it) would make
    `kubectl apply` of it fail: the quote was made, and the apply then failed with a Conflict."""
    if version is None:
        return []
    fix = "remove metadata.resourceVersion from the file"
    if existing is None:
        return [f"{key}: metadata.resourceVersion is set on a job to create: `kubectl apply` "
                f"would fail; {fix}"]  # fmt: skip
    theirs = existing.body["metadata"].get("resourceVersion")
    if version == theirs:
        return []
    return [f"{key}: metadata.resourceVersion {version} is not the cluster's ({theirs}): "
            f"`kubectl apply` would fail with a Conflict; {fix}"]  # fmt: skip


async def _namespaces_said(kube: Kube, namespaces: set[str]) -> tuple[str, ...]:
    """Warnings of the `namespaces` the cluster does not have (a quote into one read as any
    other), or that could not be checked: many users may read their own namespace's objects
    and not the Namespace itself, and their quote is still worth making."""
    said = []
    for namespace in sorted(namespaces):
        try:
            await kube.request("GET", f"/api/v1/namespaces/{namespace}")
        except ApiError as err:
            if err.status == 404:
                said.append(
                    f"namespace {namespace} does not exist: `kubectl apply` of its jobs would "
                    f"fail (`kubectl create namespace {namespace}` first)"
                )
            else:
                said.append(f"cannot check that namespace {namespace} exists ({err})")
    return tuple(said)


async def operator_config(kube: Kube) -> tuple[OperatorConfig, str | None]:
    """The settings the cluster's operator runs with, from its Deployment's environment (the
    values the chart or deploy/ wrote there; one taken from another object is not read), and
    a warning where those that change a quote could not be read: the defaults stand in.
    A quote planned with other settings than the operator's can differ from what the operator
    then does (a higher wait cost starts a job now that the default would hold back)."""
    defaults = "quoted with the default settings"
    path = "/apis/apps/v1/deployments?" + urlencode({"labelSelector": OPERATOR_SELECTOR})
    try:
        listed = await kube.request("GET", path)
    except ApiError as err:
        return OperatorConfig(), f"the operator's settings are not readable ({err}); {defaults}"
    found = sorted(
        listed.get("items") or [],
        key=lambda d: ((d.get("metadata") or {}).get("namespace", ""), d["metadata"]["name"]),
    )
    if not found:
        return OperatorConfig(), f"no operator Deployment labelled {OPERATOR_SELECTOR}; {defaults}"
    meta = found[0]["metadata"]
    name = f"Deployment {meta.get('namespace', '')}/{meta['name']}"
    pod = ((found[0].get("spec") or {}).get("template") or {}).get("spec") or {}
    given = [e for c in pod.get("containers") or [] for e in c.get("env") or []]
    env = {e["name"]: str(e["value"]) for e in given if "value" in e}
    notes = []
    if len(found) > 1:
        notes.append(f"{len(found)} operator Deployments: quoted with the settings of {name}")
    # The chart sets PRICEWISE_NAMESPACE from the pod's own: no quote reads it.
    unread = sorted(e["name"] for e in given if "value" not in e and e["name"] in QUOTED_SETTINGS)
    if unread:
        notes.append(f"{name}: {', '.join(unread)} not read (taken from another object)")
    try:
        config = from_environment(env)
    except ConfigError as err:
        return OperatorConfig(), f"{name}: {err}; {defaults}"
    return config, "; ".join(notes) or None
