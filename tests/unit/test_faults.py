"""Faults at every step of admission: the operator dies, or a write loses a race (409), between
any two of its writes (status, Service, each pod, events, budgets). A fresh operator, or the next
cycle, must then finish the work: never two admissions, never a duplicate worker, no job lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import timedelta

import pytest
from fake_kube import Body, FakeKube, run_cycle
from test_isolation import NOW, NS, budget, job, node, pool, table

from pricewise.controller.accountant import Accountant
from pricewise.controller.cache import Cache
from pricewise.controller.scheduler import Scheduler
from pricewise.controller.workers import JOB_LABEL
from pricewise.core.settings import SolverSettings
from pricewise.kube import ApiError, ConflictError


class CrashedError(Exception):
    """The operator process is gone: nothing it sends reaches the API server any more."""


class FaultyKube(FakeKube):
    """A FakeKube whose `fail_at`-th write crashes the operator, or fails (409 on an update,
    500 on a create)."""

    def __init__(self, cache: Cache, fail_at: int = 0, mode: str = "crash") -> None:
        super().__init__(cache)
        self.fail_at, self.mode = fail_at, mode
        self.writes = 0
        self.kinds: list[str] = []
        """What each write was, in order."""
        self.dead = False
        self.admissions: Counter[str] = Counter()

    def _gate(self, kind: str) -> None:
        if self.dead:
            raise CrashedError("the operator is gone")
        self.writes += 1
        self.kinds.append(kind)
        if self.writes == self.fail_at:
            if self.mode == "crash":
                self.dead = True
                raise CrashedError("killed between two writes")
            if kind.startswith("create"):  # a 409 on create means "exists": fail otherwise
                raise ApiError(500, "injected: etcd request timed out")
            raise ConflictError(409, "injected: the object has been modified")

    async def patch_status(
        self,
        plural: str,
        namespace: str | None,
        name: str,
        status: Body,
        resource_version: str | None = None,
    ) -> Body:
        self._gate(f"status of {plural}")
        before = (self.objects.get((plural, namespace or "", name)) or {}).get("status") or {}
        result = await super().patch_status(plural, namespace, name, status, resource_version)
        if status.get("phase") == "Admitted" and before.get("phase") != "Admitted":
            self.admissions[name] += 1
        return result

    async def create(self, manifest: Body) -> bool:
        self._gate(f"create {manifest['kind']}")
        return await super().create(manifest)

    async def delete_workers(self, namespace: str, job: str, ended_too: bool = True) -> None:
        self._gate("delete workers")
        await super().delete_workers(namespace, job, ended_too)

    async def event(
        self, obj: Body, kind: str, reason: str, message: str, warning: bool = False
    ) -> None:
        self._gate("event")
        await super().event(obj, kind, reason, message, warning)


def _scheduler(cache: Cache, kube: FakeKube) -> Scheduler:
    return Scheduler(
        cache,
        kube,  # type: ignore[arg-type]
        Accountant(cache, kube),  # type: ignore[arg-type]
        SolverSettings(time_limit_s=2),
    )


def _cluster(kube: FakeKube) -> None:
    """Two 8-GPU nodes; a 2-worker job and two 1-worker jobs of 8 GPUs: two of them fit."""
    for i in range(2):
        kube.put("nodes", node(f"l4-{i}", "l4"))
    kube.put("pricetables", table("prices", pool("l4", "nvidia-l4", 1.0)))
    kube.put("budgets", budget("monthly", limit=1000.0))
    pair = [{"accelerator": "nvidia-l4", "devicesPerWorker": 4, "duration": "2h"}]
    whole = [{"accelerator": "nvidia-l4", "devicesPerWorker": 8, "duration": "1h"}]
    kube.put("trainingjobs", job("pair", options=pair, workers={"min": 2, "max": 2}, priority=1))
    kube.put("trainingjobs", job("solo", options=whole))
    kube.put("trainingjobs", job("late", options=whole))


def _clean_run() -> list[str]:
    """The writes of one cycle without faults."""
    cache = Cache()
    kube = FaultyKube(cache)
    _cluster(kube)
    run_cycle(_scheduler(cache, kube), NOW)
    return kube.kinds


WRITES = len(_clean_run())


def _check(kube: FaultyKube) -> None:
    """Every invariant of admission, read from the API server's objects alone."""
    statuses = {name: kube.status("trainingjobs", NS, name) for name in ("pair", "solo", "late")}
    assert max(kube.admissions.values(), default=0) <= 1, kube.admissions
    admitted = {n for n, st in statuses.items() if st.get("phase") == "Admitted"}
    assert len(admitted) == 2 and "pair" in admitted, statuses
    for name, st in statuses.items():
        assert st.get("reason"), f"{name} has no reason: {st}"
    pods = kube.pods(NS)
    by_job = Counter((p["metadata"]["labels"] or {})[JOB_LABEL] for p in pods)
    assert by_job == {name: statuses[name]["workers"] for name in admitted}
    gpus: Counter[str] = Counter()
    for pod in pods:
        planned = pod["metadata"]["annotations"]["pricewise.dev/node"]
        gpus[planned] += int(
            pod["spec"]["containers"][0]["resources"]["requests"]["nvidia.com/gpu"]
        )
        index = int(pod["metadata"]["labels"]["pricewise.dev/worker-index"])
        owner = pod["metadata"]["labels"][JOB_LABEL]
        assert statuses[owner]["nodes"][index] == planned
    assert max(gpus.values()) <= 8, gpus
    services = [name for (plural, _, name) in kube.objects if plural == "services"]
    assert services == ["pair"]


@pytest.mark.parametrize("fail_at", range(1, WRITES + 1))
def test_the_operator_dies_between_two_writes(fail_at: int) -> None:
    cache = Cache()
    kube = FaultyKube(cache, fail_at, "crash")
    _cluster(kube)
    with contextlib.suppress(CrashedError):
        run_cycle(_scheduler(cache, kube), NOW)
    assert kube.dead
    # A new operator: an empty cache, filled by listing what the API server holds.
    fresh = Cache()
    survivor = FaultyKube(fresh)
    survivor.objects, survivor.admissions = kube.objects, kube.admissions
    survivor._version = kube._version  # the same API server: resourceVersions go on
    scheduler = _scheduler(fresh, survivor)
    asyncio.run(scheduler.prime())
    for seconds in (15, 30):
        run_cycle(scheduler, NOW + timedelta(seconds=seconds))
    _check(survivor)


@pytest.mark.parametrize("fail_at", range(1, WRITES + 1))
def test_a_write_fails_or_loses_a_race(fail_at: int) -> None:
    cache = Cache()
    kube = FaultyKube(cache, fail_at, "conflict")
    _cluster(kube)
    scheduler = _scheduler(cache, kube)
    for seconds in (0, 15, 30):
        run_cycle(scheduler, NOW + timedelta(seconds=seconds))
    _check(kube)


def test_every_kind_of_write_is_interrupted_somewhere() -> None:
    assert set(_clean_run()) == {
        "status of pricetables",
        "status of budgets",
        "status of trainingjobs",
        "create Service",
        "create Pod",
        "event",
    }


def _requeue_scene(kube: FaultyKube, scheduler: Scheduler) -> str:
    """A running 1-worker job whose node is then deleted; returns the node."""
    for i in range(2):
        kube.put("nodes", node(f"l4-{i}", "l4"))
    kube.put("pricetables", table("prices", pool("l4", "nvidia-l4", 1.0)))
    whole = [{"accelerator": "nvidia-l4", "devicesPerWorker": 8, "duration": "1h"}]
    kube.put("trainingjobs", job("survivor", options=whole))
    run_cycle(scheduler, NOW)
    for pod in kube.pods(NS):
        bound = {
            **pod,
            "spec": {
                **pod["spec"],
                "nodeName": pod["metadata"]["annotations"]["pricewise.dev/node"],
            },
            "status": {"phase": "Running", "startTime": "2026-11-29T11:00:00Z"},
        }
        kube.put("pods", bound)  # fmt: skip
    run_cycle(scheduler, NOW + timedelta(seconds=5))
    (lost,) = kube.status("trainingjobs", NS, "survivor")["nodes"]
    kube.delete("nodes", "", lost)
    return str(lost)


def _requeue_writes() -> int:
    cache = Cache()
    kube = FaultyKube(cache)
    _requeue_scene(kube, _scheduler(cache, kube))
    before = kube.writes
    run_cycle(_scheduler(cache, kube), NOW + timedelta(seconds=10))
    return kube.writes - before


@pytest.mark.parametrize("step", range(1, _requeue_writes() + 1))
def test_the_operator_dies_in_the_middle_of_a_requeue(step: int) -> None:
    cache = Cache()
    kube = FaultyKube(cache)
    scheduler = _scheduler(cache, kube)
    lost = _requeue_scene(kube, scheduler)
    kube.fail_at, kube.mode = kube.writes + step, "crash"
    with contextlib.suppress(CrashedError):
        run_cycle(scheduler, NOW + timedelta(seconds=10))
    fresh = Cache()
    survivor = FaultyKube(fresh)
    survivor.objects, survivor._version = kube.objects, kube._version
    restarted = _scheduler(fresh, survivor)
    asyncio.run(restarted.prime())
    for seconds in (20, 30):
        run_cycle(restarted, NOW + timedelta(seconds=seconds))
    status = survivor.status("trainingjobs", NS, "survivor")
    assert (status["phase"], status["restarts"]) == ("Admitted", 1), status
    assert status["nodes"] != [lost]
    pods = survivor.pods(NS)
    assert [p["metadata"]["annotations"]["pricewise.dev/node"] for p in pods] == status["nodes"]
