"""An in-memory stand-in for `pricewise.kube.Kube`, for unit tests of the scheduler's cycle.

It keeps objects as the API server would (resourceVersions, JSON merge patches of status,
409 on a stale resourceVersion or an existing name) and feeds every change to the cache, as
the watches would. `refuse` lets a test make the server refuse some objects.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pricewise.controller.cache import Cache
from pricewise.controller.records import key_of
from pricewise.controller.scheduler import Scheduler
from pricewise.controller.workers import JOB_LABEL, job_label
from pricewise.core.solver import Plan
from pricewise.kube import ApiError, ConflictError, current_purpose

Body = dict[str, Any]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class FakeKube:
    """Objects by (plural, namespace, name); the cache sees every write."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.objects: dict[tuple[str, str, str], Body] = {}
        self.events: list[tuple[str, str, str]] = []
        """(object name, reason, message) of every event recorded."""
        self.refuse: Callable[[Body], ApiError | None] = lambda _: None
        self.deleting: Callable[[tuple[str, str]], None] = lambda _: None
        """Told of each TrainingJob deleted before the cache forgets it, as the operator's
        watch tells the scheduler (`Scheduler.job_deleted`)."""
        self.requests: Counter[str] = Counter()
        self.connections = 32
        self._created: Counter[str] = Counter()
        self._version = 100

    def _bump(self, body: Body) -> None:
        self._version += 1
        body.setdefault("metadata", {})["resourceVersion"] = str(self._version)

    def _feed(self, plural: str, body: Body | None, key: tuple[str, str]) -> None:
        upsert = {
            "trainingjobs": self.cache.upsert_job,
            "budgets": self.cache.upsert_budget,
            "pricetables": self.cache.upsert_price_table,
            "pods": self.cache.upsert_pod,
            "nodes": self.cache.upsert_node,
            "resourcequotas": self.cache.upsert_quota,
        }
        if body is None:
            if plural == "pods":
                self.cache.forget_pod(key)
            return
        if plural in upsert:
            upsert[plural](copy.deepcopy(body))

    def put(self, plural: str, body: Body) -> Body:
        """Store an object as `kubectl apply` would (no schema check), and let the cache see it."""
        body = copy.deepcopy(body)
        meta = body.setdefault("metadata", {})
        known = self.objects.get((plural, meta.get("namespace", ""), meta["name"]))
        meta.setdefault("uid", known["metadata"]["uid"] if known else self._new_uid(meta["name"]))
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", "2026-11-29T11:00:00Z")
        if known is not None:
            body.setdefault("status", known.get("status") or {})
            if known.get("spec") != body.get("spec"):
                meta["generation"] = known["metadata"].get("generation", 1) + 1
        self._bump(body)
        self.objects[(plural, meta.get("namespace", ""), meta["name"])] = body
        self._feed(plural, body, key_of(body))
        return body

    def _new_uid(self, name: str) -> str:
        """A uid of its own for each object created, one of the same name deleted before
        included (the API server never gives a uid twice)."""
        self._created[name] += 1
        count = self._created[name]
        # `#` is in no name: `uid-train-2` was both a second `train` and a first `train-2`.
        return f"uid-{name}" if count == 1 else f"uid-{name}#{count}"

    def delete(self, plural: str, namespace: str, name: str) -> None:
        """Delete an object, as the watch would report it."""
        body = self.objects.pop((plural, namespace, name))
        if plural == "trainingjobs":
            self.deleting((namespace, name))
        forget = {
            "trainingjobs": lambda: self.cache.forget_job((namespace, name)),
            "budgets": lambda: self.cache.forget_budget((namespace, name)),
            "pricetables": lambda: self.cache.forget_price_table(name),
            "pods": lambda: self.cache.forget_pod((namespace, name)),
            "nodes": lambda: self.cache.forget_node(name),
            "resourcequotas": lambda: self.cache.forget_quota((namespace, name)),
        }
        forget[plural]()
        del body

    def status(self, plural: str, namespace: str, name: str) -> Body:
        """An object's status as stored."""
        return dict(self.objects[(plural, namespace, name)].get("status") or {})

    def pods(self, namespace: str | None = None) -> list[Body]:
        """Pods stored, optionally of one namespace."""
        return [
            b
            for (plural, ns, _), b in self.objects.items()
            if plural == "pods" and (namespace is None or ns == namespace)
        ]

    # --- the interface of pricewise.kube.Kube ---------------------------------------------

    async def close(self) -> None:
        """Nothing to close."""

    async def request(self, method: str, path: str, body: Any = None) -> Body:
        """Only the lists `Scheduler.prime` makes."""
        self.requests[current_purpose()] += 1
        plural = path.split("?", maxsplit=1)[0].rstrip("/").rsplit("/", 1)[-1]
        return {"items": [copy.deepcopy(b) for (p, _, _), b in self.objects.items() if p == plural]}

    async def patch_status(
        self,
        plural: str,
        namespace: str | None,
        name: str,
        status: Body,
        resource_version: str | None = None,
    ) -> Body:
        """Merge-patch the status, guarded by the resourceVersion when given."""
        self.requests[current_purpose()] += 1
        body = self.objects.get((plural, namespace or "", name))
        if body is None:
            raise ApiError(404, f"{plural} {name} not found")
        if resource_version and body["metadata"]["resourceVersion"] != resource_version:
            raise ConflictError(409, "the object has been modified")
        body["status"] = merge_patch(body.get("status") or {}, status)
        self._bump(body)
        return copy.deepcopy(body)

    async def create(self, manifest: Body) -> bool:
        """Create a Pod or Service; False when it exists."""
        self.requests[current_purpose()] += 1
        refusal = self.refuse(manifest)
        if refusal is not None:
            raise refusal
        plural = "pods" if manifest["kind"] == "Pod" else "services"
        meta = manifest["metadata"]
        key = (plural, meta["namespace"], meta["name"])
        if key in self.objects:
            return False
        body = copy.deepcopy(manifest)
        body["metadata"].setdefault("uid", self._new_uid(meta["name"]))
        body["status"] = {"phase": "Pending"}
        self._bump(body)
        self.objects[key] = body
        self._feed(plural, body, (meta["namespace"], meta["name"]))
        return True

    async def delete_job(self, namespace: str, name: str, uid: str, resource_version: str) -> bool:
        """Delete a TrainingJob where its uid and resourceVersion are still these."""
        self.requests[current_purpose()] += 1
        body = self.objects.get(("trainingjobs", namespace, name))
        if body is None or (body["metadata"]["uid"], body["metadata"]["resourceVersion"]) != (
            uid,
            resource_version,
        ):
            return False
        self.delete("trainingjobs", namespace, name)
        return True

    async def owner_uid(self, plural: str, namespace: str, name: str) -> str | None:
        """The uid of the controller of a pod or Service: empty where none, None where gone."""
        self.requests[current_purpose()] += 1
        body = self.objects.get((plural, namespace, name))
        if body is None:
            return None
        refs = body.get("metadata", {}).get("ownerReferences") or []
        return next((str(r.get("uid")) for r in refs if r.get("controller")), "")

    async def delete_workers(self, namespace: str, job: str, ended_too: bool = True) -> None:
        """Delete the job's worker pods by their label (without `ended_too`, those that have
        not ended)."""
        self.requests[current_purpose()] += 1
        label = job_label(job)
        for body in self.pods(namespace):
            ended = (body.get("status") or {}).get("phase") in ("Succeeded", "Failed")
            if (body["metadata"].get("labels") or {}).get(JOB_LABEL) == label and (
                ended_too or not ended
            ):
                self.delete("pods", namespace, body["metadata"]["name"])

    async def event(
        self, obj: Body, kind: str, reason: str, message: str, warning: bool = False
    ) -> None:
        """Remember the event."""
        self.requests[current_purpose()] += 1
        self.events.append((obj["metadata"]["name"], reason, message))


def run_cycle(scheduler: Scheduler, now: datetime) -> Plan:
    """One cycle, and the waiting jobs' statuses it leaves to be written beside the loop."""

    async def cycle() -> Plan:
        plan = await scheduler.cycle(now)
        await scheduler.teller.drained()
        return plan

    return asyncio.run(cycle())
