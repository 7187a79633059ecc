"""One bad object never stops scheduling: each is caught at itself, says why, and heals.

These run the scheduler's real cycle over an in-memory API server (`fake_kube`), with objects
the API server accepted before the bounds existed (the fake checks no schema).
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import pytest
from fake_kube import FakeKube, run_cycle

from pricewise.api.models import TrainingJob
from pricewise.api.naming import NODE_ANNOTATION
from pricewise.api.quotas import quota_counts
from pricewise.controller import admission, handlers
from pricewise.controller import scheduler as scheduler_module
from pricewise.controller.accountant import Accountant
from pricewise.controller.cache import Cache
from pricewise.controller.metrics import Metrics
from pricewise.controller.quote import operator_config, quote
from pricewise.controller.scheduler import Scheduler
from pricewise.core import solver
from pricewise.core.settings import SolverSettings
from pricewise.kube import ApiError, ConflictError

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
NS = "team-a"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def node(name: str, pool: str, gpus: int = 8, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"pricewise.dev/pool": pool}},
        "spec": spec,
        "status": {
            "allocatable": {"cpu": "96", "memory": "768Gi", "nvidia.com/gpu": str(gpus)},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pool(name: str, accelerator: str, price: float, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "accelerator": accelerator,
        "nodeSelector": {"pricewise.dev/pool": name},
        "prices": {"perDeviceHour": price},
        **extra,
    }


def table(name: str, *pools: dict[str, Any], created: str = "2026-01-01T00:00:00Z", **spec: Any):
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"pools": list(pools), **spec},
    }


def job(name: str, namespace: str = NS, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "options": [{"accelerator": "nvidia-l4", "devicesPerWorker": 1, "duration": "1h"}],
        "template": {"spec": {"containers": [{"name": "main", "image": "trainer"}]}},
    }
    body.update(spec)
    return {"metadata": {"name": name, "namespace": namespace}, "spec": body}


def budget(name: str, namespace: str = NS, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"limit": 100.0, **spec}}


class World:
    """A cluster of two 8-GPU L4 nodes priced at 1 USD per device-hour, and the scheduler."""

    def __init__(self) -> None:
        self.cache = Cache()
        self.kube = FakeKube(self.cache)
        for i in range(2):
            self.kube.put("nodes", node(f"l4-{i}", "l4"))
        self.kube.put("pricetables", table("prices", pool("l4", "nvidia-l4", 1.0)))
        self.scheduler = Scheduler(
            self.cache,
            self.kube,  # type: ignore[arg-type]
            Accountant(self.cache, self.kube),  # type: ignore[arg-type]
            SolverSettings(time_limit_s=2),
        )

    def cycle(self) -> None:
        run_cycle(self.scheduler, NOW)

    def job(self, name: str, namespace: str = NS) -> dict[str, Any]:
        return self.kube.status("trainingjobs", namespace, name)

    def ready(self, plural: str, name: str, namespace: str = "") -> dict[str, Any]:
        conditions = self.kube.status(plural, namespace, name).get("conditions") or []
        return next(c for c in conditions if c["type"] == "Ready")


POISON_JOBS = {
    "huge-work": (
        {"work": 1e308, "options": [{"accelerator": "nvidia-l4", "throughput": 1}]},
        "work",
    ),
    "huge-value": ({"value": 1e308}, "value"),
    "huge-max-cost": ({"maxCost": 1e308}, "maxCost"),
    "tiny-throughput": (
        {"work": 1, "options": [{"accelerator": "nvidia-l4", "throughput": 1e-300}]},
        "throughput",
    ),
    "zero-duration": ({"options": [{"accelerator": "nvidia-l4", "duration": "0s"}]}, "duration"),
    # With an option given by duration, a tiny work made its rate (work / duration) round to 0.
    "tiny-work": (
        {"work": 5e-324, "options": [{"accelerator": "nvidia-l4", "duration": "3650d"}]},
        "work",
    ),
    "zero-max-duration": ({"maxDuration": "0s"}, "maxDuration"),
    # The API server refuses it too; read as UTC, it was off by its writer's offset from UTC.
    "zoneless-deadline": (
        {"deadline": "2026-11-29T18:00:00"},
        "spec.deadline: 2026-11-29T18:00:00 has no time zone",
    ),
    # Past the last time a UTC clock holds (and before 1970): each message that gave it as a
    # clock time failed, and the job was set aside every cycle, its planning alone with it.
    "far-deadline": ({"deadline": "9999-12-31T23:59:59-10:00"}, "is out of range"),
    "ancient-deadline": ({"deadline": "0001-01-01T00:30:00+01:00", "whenLate": "Run"}, "deadline"),
    "endless-duration": (
        {"options": [{"accelerator": "nvidia-l4", "duration": "9" * 400 + "d"}]},
        "duration",
    ),
    "huge-template-cpu": (
        {
            "template": {
                "spec": {"containers": [{"name": "m", "resources": {"requests": {"cpu": "1e400"}}}]}
            }
        },
        "spec.template",
    ),
    "garbage-template-memory": (
        {
            "template": {
                "spec": {"containers": [{"name": "m", "resources": {"requests": {"memory": "x"}}}]}
            }
        },
        "spec.template",
    ),
    "restart-always": (
        {"template": {"spec": {"restartPolicy": "Always", "containers": [{"name": "m"}]}}},
        "spec.template: spec.restartPolicy: Always",
    ),
    # Merged into the pod but not planned with: Admitted, and never scheduled.
    "pinned-template": (
        {"template": {"spec": {"nodeSelector": {"topology.kubernetes.io/zone": "us-east1-b"}}}},
        "spec.template: spec.nodeSelector: pricewise chooses each worker's node",
    ),
}


@pytest.mark.parametrize("name", sorted(POISON_JOBS))
def test_a_poison_job_waits_with_its_reason_and_the_others_are_placed(name: str) -> None:
    world = World()
    spec, field = POISON_JOBS[name]
    world.kube.put("trainingjobs", job(name, **spec))
    world.kube.put("trainingjobs", job("canary", namespace="other"))
    world.cycle()
    assert world.job("canary", "other")["phase"] == "Admitted"
    bad = world.job(name)
    assert (bad["phase"], bad["reason"]) == ("Pending", "InvalidSpec")
    assert field in bad["message"]


RUNNING = {
    "phase": "Running",
    "pool": "l4",
    "accelerator": "nvidia-l4",
    "optionIndex": 0,
    "workers": 1,
    "nodes": ["l4-0"],
    "admittedAt": "2026-11-29T10:00:00Z",
    "startedAt": "2026-11-29T10:30:00Z",
    "estimatedFinish": "2026-11-29T13:00:00Z",
    "estimatedDuration": "3h",
}
POISON_STATUSES = {
    # Each stopped every cycle, or a step of it for every job, before it was read as unknown.
    "finish-in-year-9999": {"estimatedFinish": "9999-12-31T23:50:00Z"},
    "workers-2**31": {"workers": 2**31 - 1},
    "negative-workers": {"workers": -5},
    "duration-forever": {"estimatedDuration": "forever"},
    "bucket-of-year-9999": {"costBuckets": {"9999-12-31T23": 0.5}},
}


@pytest.mark.parametrize("name", sorted(POISON_STATUSES))
def test_a_hand_edited_status_stops_no_cycle_nor_any_budget(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    world = World()
    world.kube.put("budgets", budget("b", limit=100.0))
    world.kube.put("budgets", budget("b", namespace="other", limit=100.0))
    odd = job(
        "odd", options=[{"accelerator": "nvidia-l4", "devicesPerWorker": 1, "duration": "3h"}]
    )
    world.kube.put("trainingjobs", {**odd, "status": {**RUNNING, **POISON_STATUSES[name]}})
    world.kube.put("trainingjobs", job("canary", namespace="other"))
    world.cycle()
    assert world.job("canary", "other")["phase"] == "Admitted"
    for namespace in (NS, "other"):
        spent = world.kube.status("budgets", namespace, "b")
        assert spent["committed"] >= 0 and spent["remaining"] <= 100.0
    # No step of the cycle failed for every job (preemption, budgets, accruals...).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_hand_edited_budget_spend_stops_no_cycle(caplog: pytest.LogCaptureFixture) -> None:
    # 1e308 spent in the current period failed every cycle as it was counted in money.
    world = World()
    period = {"periodStart": "2026-11-01T00:00:00Z", "periodEnd": "2026-12-01T00:00:00Z"}
    world.kube.put("budgets", {**budget("b", limit=100.0), "status": {"spent": 1e308, **period}})
    world.kube.put("trainingjobs", job("canary"))
    world.cycle()
    assert world.job("canary")["phase"] == "Admitted"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_job_that_cannot_be_planned_says_why_in_its_admitted_condition_once() -> None:
    # An InvalidSpec (or BudgetInvalid) job had a reason and message but no Admitted
    # condition, which every other wait and every placement writes.
    world = World()
    world.kube.put("trainingjobs", job("bad", **POISON_JOBS["zero-duration"][0]))
    world.kube.put("budgets", budget("b", namespace="held", timeZone="Mars/Olympus"))
    world.kube.put("trainingjobs", job("waits", namespace="held"))
    world.cycle()
    for name, namespace, reason in (("bad", NS, "InvalidSpec"), ("waits", "held", "BudgetInvalid")):
        status = world.job(name, namespace)
        assert status["reason"] == reason
        assert status["conditions"] == [
            {
                "type": "Admitted",
                "status": "False",
                "reason": reason,
                "message": status["message"],
                "lastTransitionTime": "2026-11-29T12:00:00Z",
                "observedGeneration": 1,
            }
        ]
    told = [(n, r) for n, r, _ in world.kube.events]
    # The Budget is told too, before its jobs.
    assert told == [("b", "InvalidSpec"), ("bad", "InvalidSpec"), ("waits", "BudgetInvalid")]
    version = world.kube.objects["trainingjobs", NS, "bad"]["metadata"]["resourceVersion"]
    world.cycle()
    assert world.kube.objects["trainingjobs", NS, "bad"]["metadata"]["resourceVersion"] == version
    # Told by an operator that wrote no condition: the condition is written, not told again.
    stored = world.kube.objects["trainingjobs", NS, "bad"]
    del stored["status"]["conditions"]
    world.cache.upsert_job(copy.deepcopy(stored))
    world.cycle()
    assert world.job("bad")["conditions"][0]["reason"] == "InvalidSpec"
    assert [(n, r) for n, r, _ in world.kube.events] == told


def test_a_job_that_cannot_be_planned_says_which_generation_of_its_spec_was_read() -> None:
    world = World()
    invalid = POISON_JOBS["zero-duration"][0]
    world.kube.put("trainingjobs", job("bad", **invalid))
    world.cycle()
    assert world.job("bad")["observedGeneration"] == 1
    # Edited, and still invalid for the same reason: the new generation is seen, not told again.
    world.kube.put("trainingjobs", job("bad", priority=5, **invalid))
    world.cycle()
    assert world.kube.objects["trainingjobs", NS, "bad"]["metadata"]["generation"] == 2
    status = world.job("bad")
    assert status["observedGeneration"] == 2
    assert status["conditions"][0]["observedGeneration"] == 2
    assert [r for n, r, _ in world.kube.events if n == "bad"] == ["InvalidSpec"]


def test_empty_placement_fields_as_charts_render_them_pin_nothing() -> None:
    world = World()
    spec = {"nodeSelector": {}, "affinity": None, "containers": [{"name": "m", "image": "t"}]}
    world.kube.put("trainingjobs", job("charted", template={"spec": spec}))
    world.cycle()
    assert world.job("charted")["phase"] == "Admitted"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"limit": 1e308}, "limit"),
        ({"limit": 1e13}, "limit"),
        ({"timeZone": "Mars/Olympus"}, "timeZone"),
        # A folder of the zone database: IsADirectoryError, which pydantic does not catch.
        ({"timeZone": "America"}, "timeZone"),
        # Leap seconds counted (right/Europe/Paris read +02:00 all winter), or the machine's own.
        ({"timeZone": "right/Europe/Paris"}, "timeZone"),
        ({"timeZone": "localtime"}, "timeZone"),
    ],
)
@pytest.mark.parametrize("enforcement", ["hard", "soft"])
def test_a_poison_budget_is_left_out_and_says_why(
    spec: dict[str, Any], field: str, enforcement: str
) -> None:
    world = World()
    world.kube.put("budgets", budget("bad", enforcement=enforcement, **spec))
    world.kube.put("trainingjobs", job("canary"))
    world.kube.put("trainingjobs", job("elsewhere", namespace="other"))
    world.cycle()
    assert world.job("elsewhere", "other")["phase"] == "Admitted"
    ready = world.ready("budgets", "bad", NS)
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert field in ready["message"]
    assert world.cache.rejected()["Budget", "InvalidSpec"] == 1
    canary = world.job("canary")
    if enforcement == "soft":
        assert canary["phase"] == "Admitted"
        assert "does not alert" in ready["message"]
    else:
        # A hard limit nobody can check is not a limit lifted: the namespace's jobs wait.
        assert (canary["phase"], canary["reason"]) == ("Pending", "BudgetInvalid")
        for part in ("Budget bad", field, "corrected, deleted or made soft"):
            assert part in canary["message"]
        assert "Until it is corrected, the namespace's jobs wait" in ready["message"]
        assert world.cache.rejected()["TrainingJob", "BudgetInvalid"] == 1
    if enforcement == "hard":  # made soft, as the message offers, it holds nothing
        world.kube.put("budgets", budget("bad", enforcement="soft", **spec))
        world.cycle()
        assert world.job("canary")["phase"] == "Admitted"
    # Corrected, it is enforced again in the next cycle.
    world.kube.put("budgets", budget("bad", limit=0.5, enforcement=enforcement))
    world.kube.put("trainingjobs", job("after"))
    world.cycle()
    # 1.00 USD against 0.50 a month: more than the corrected limit can ever take.
    assert world.job("after")["reason"] == (
        "BudgetTooSmall" if enforcement == "hard" else "Admitted"
    )
    assert world.ready("budgets", "bad", NS)["status"] == "True"
    assert world.cache.rejected()["TrainingJob", "BudgetInvalid"] == 0


def _restarted(world: World, prime: bool = True) -> None:
    """The operator restarted: a new cache, filled from the API server (unless not `prime`d:
    then empty, for the watches to fill)."""
    fresh = Cache()
    world.cache = world.kube.cache = fresh
    world.scheduler = Scheduler(
        fresh,
        world.kube,  # type: ignore[arg-type]
        Accountant(fresh, world.kube),  # type: ignore[arg-type]
        SolverSettings(time_limit_s=2),
    )
    if prime:
        asyncio.run(world.scheduler.prime())


def test_a_restart_that_sees_a_newer_table_first_tells_no_job_it_is_not_accrued() -> None:
    # A newer EUR table of the same nodes, set aside as CurrencyMismatch: its watch event came
    # first at every start, the price-change settle read the cluster as priced in EUR, and
    # each running job got a NotAccrued Warning for a change that never happened.
    world = World()
    _running(world, "steady")
    newer = "2026-06-01T00:00:00Z"
    world.kube.put("pricetables", table("euros", pool("l4", "nvidia-l4", 2.0), created=newer,
                                        currency="EUR"))  # fmt: skip
    world.cycle()
    assert world.ready("pricetables", "euros")["reason"] == "CurrencyMismatch"
    # Not used, it has no pool in use: its l4 is the USD table's.
    listed = world.kube.status("pricetables", "", "euros")
    assert (listed.get("pools", []), listed.get("poolsInUse", 0)) == ([], 0)
    _restarted(world, prime=False)
    for (plural, _, _), body in list(world.kube.objects.items()):
        if plural != "pricetables":
            world.kube.put(plural, body)
    for name in ("euros", "prices"):  # the watch's order, as the handler takes it
        world.scheduler.prices_changing(NOW)
        world.cache.upsert_price_table(world.kube.objects["pricetables", "", name])
    asyncio.run(world.scheduler.prime())
    world.cycle()
    assert [r for _, r, _ in world.kube.events if r == "NotAccrued"] == []
    assert world.job("steady")["phase"] == "Running"


SPOT_TABLE = table("prices", pool("l4", "nvidia-l4", 1.0, capacityType="spot",
                                   interruptionRate=0.01))  # fmt: skip


def _watched(world: World, reclaims: int, node_hours: float) -> None:
    """The spot pool l4 watched for `node_hours` with `reclaims` reclaims, and a cycle's status
    written."""
    world.kube.put("pricetables", SPOT_TABLE)
    world.cache.reclaim_rates.held("l4", 1, node_hours * 3600)
    for _ in range(reclaims):
        world.cache.reclaim_rates.reclaimed("l4")
    world.cycle()


def test_a_spot_pool_s_observed_reclaims_outlive_a_restart() -> None:
    # Counted in memory only, they were lost at each restart: spot was priced at its declared
    # rate again until 10 more node-hours were seen.
    world = World()
    _watched(world, 2, 12.0004)
    (row,) = world.kube.status("pricetables", "", "prices")["pools"]
    assert (row["observedReclaims"], row["observedNodeHours"]) == (2, 12.0)
    assert row["observedInterruptionRate"] == round(2 / 12.0004, 4)
    _restarted(world)
    assert world.cache.reclaim_rates.priced("l4", 0.01) == pytest.approx(2 / 12)
    world.cycle()  # and writes them back as they were, not from none
    assert world.kube.status("pricetables", "", "prices")["pools"] == [row]


def test_a_standby_that_takes_over_goes_on_from_its_leader_s_reclaims(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    leader = World()
    _watched(leader, 3, 20.0)
    echo = copy.deepcopy(leader.kube.objects["pricetables", "", "prices"])
    standby = _handled(monkeypatch)
    standby.kube.put("pricetables", SPOT_TABLE)  # seen at its start, before any reclaim
    assert standby.cache.reclaim_rates.priced("l4", 0.01) == 0.01
    # The leader's status write reaches the standby as a change of status alone.
    asyncio.run(handlers.price_table(type="MODIFIED", body=echo))
    assert standby.cache.reclaim_rates.priced("l4", 0.01) == pytest.approx(3 / 20)


@pytest.mark.parametrize("edit", [{"observedReclaims": -1}, {"observedNodeHours": "lots"},
                                  {"observedNodeHours": 1e300}, {"name": None}])  # fmt: skip
def test_a_hand_edited_reclaim_count_is_left_out(edit: dict[str, Any]) -> None:
    world = World()
    _watched(world, 2, 12.0)
    stored = world.kube.objects["pricetables", "", "prices"]
    stored["status"]["pools"][0].update(edit)
    _restarted(world)
    world.cycle()
    assert world.cache.reclaim_rates.priced("l4", 0.01) == 0.01
    assert world.ready("pricetables", "prices")["status"] == "True"


def test_a_node_deleted_while_no_operator_ran_requeues_its_job_as_node_lost() -> None:
    # Its pods were collected with it: the job read "worker 0 disappeared" (WorkerLost), and
    # the node losses its pool's alert counts missed it.
    world = World()
    placed = _running(world, "orphan")
    for pod in world.kube.pods(NS):
        world.kube.delete("pods", NS, pod["metadata"]["name"])
    world.kube.delete("nodes", "", placed["nodes"][0])
    _restarted(world)
    world.cycle()
    again = world.job("orphan")
    assert again["restarts"] == 1 and again["nodes"] != placed["nodes"]  # placed again
    assert again["restartHistory"][0].startswith(f"worker 0's node {placed['nodes'][0]} is gone")


def test_an_object_the_cache_cannot_take_does_not_keep_the_others_out_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The next object the cache fails on the way a folder time zone once did (a raise no
    # validation catches) must not stop the start-up list, or no cycle ever runs.
    world = World()
    world.kube.put("trainingjobs", job("broken"))
    world.kube.put("trainingjobs", job("canary"))
    take = Cache.upsert_job

    def upsert_job(cache: Cache, body: dict[str, Any]) -> Any:
        if body["metadata"]["name"] == "broken":
            raise IsADirectoryError("no such zone")
        return take(cache, body)

    monkeypatch.setattr(Cache, "upsert_job", upsert_job)
    _restarted(world)
    assert (NS, "canary") in world.cache.jobs and (NS, "broken") not in world.cache.jobs
    world.cycle()
    assert world.job("canary")["phase"] == "Admitted"


def test_a_poison_price_table_is_left_out_and_correcting_or_deleting_it_heals() -> None:
    world = World()
    world.kube.put("nodes", node("h100-0", "h100"))
    world.kube.put("pricetables", table("bad", pool("h100", "nvidia-h100", 1e308)))
    world.kube.put("trainingjobs", job("canary"))
    h100 = {"options": [{"accelerator": "nvidia-h100", "duration": "1h"}]}
    world.kube.put("trainingjobs", job("on-h100", **h100))
    world.cycle()
    assert world.job("canary")["phase"] == "Admitted"
    assert world.job("on-h100")["reason"] == "NoMatchingPool"
    ready = world.ready("pricetables", "bad")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "perDeviceHour" in ready["message"]
    world.kube.put("pricetables", table("bad", pool("h100", "nvidia-h100", 4.0)))
    world.cycle()
    assert world.job("on-h100")["phase"] == "Admitted"
    assert world.ready("pricetables", "bad")["status"] == "True"


def _handled(monkeypatch: pytest.MonkeyPatch) -> World:
    """A world whose watch handlers feed its own cache and scheduler."""
    world = World()
    monkeypatch.setattr(handlers, "CACHE", world.cache)
    monkeypatch.setattr(handlers, "_state", {"scheduler": world.scheduler})
    return world


def test_deleting_a_still_bad_price_table_heals_in_the_next_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = _handled(monkeypatch)
    world.kube.put("nodes", node("h100-0", "h100"))
    bad = world.kube.put("pricetables", table("bad", pool("h100", "nvidia-h100", 1e308)))
    h100 = {"options": [{"accelerator": "nvidia-h100", "duration": "1h"}]}
    world.kube.put("trainingjobs", job("on-h100", **h100))
    world.cycle()
    assert world.job("on-h100")["reason"] == "NoMatchingPool"
    assert world.cache.rejected()["PriceTable", "InvalidSpec"] == 1
    # Deleted as it is, through the watch handler (which settles accruals at the old prices
    # first), then its nodes priced by another table.
    asyncio.run(handlers.price_table(type="DELETED", body=bad))
    del world.kube.objects["pricetables", "", "bad"]
    world.kube.put("pricetables", table("good", pool("h100", "nvidia-h100", 4.0)))
    world.cycle()
    assert (world.job("on-h100")["phase"], world.job("on-h100")["pool"]) == ("Admitted", "h100")
    assert world.cache.rejected()["PriceTable", "InvalidSpec"] == 0


def test_a_worker_larger_than_any_node_names_the_container_that_asks_it() -> None:
    world = World()
    sidecar = {"name": "cache", "image": "t", "resources": {"requests": {"memory": "2000000Gi"}}}
    spec = {"containers": [{"name": "main", "image": "t"}, sidecar]}
    world.kube.put("trainingjobs", job("huge", template={"spec": spec}))
    world.cycle()
    status = world.job("huge")
    assert (status["phase"], status["reason"]) == ("Pending", "InvalidSpec")
    assert (
        "spec.template.spec.containers[1].resources.requests[memory]: a worker requests more "
        "than 1,000,000Gi of memory, which no node has" in status["message"]
    )


def quota(name: str, namespace: str = NS, **hard: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"hard": hard}}


POISON_QUOTAS = {
    "huge": ("1e400", "'1e400' is too large a quantity"),
    "garbage": ("lots", "'lots' is not a quantity"),
}


@pytest.mark.parametrize("kind", sorted(POISON_QUOTAS))
@pytest.mark.parametrize("heal", ["correct", "delete"])
def test_a_bad_quota_holds_its_namespace_and_correcting_or_deleting_it_heals(
    kind: str, heal: str
) -> None:
    world = World()
    world.scheduler.metrics = Metrics(world.cache, world.scheduler.accountant)
    value, error = POISON_QUOTAS[kind]
    world.kube.put("resourcequotas", quota("gpus", **{"requests.cpu": value}))
    world.kube.put("trainingjobs", job("held"))
    world.kube.put("trainingjobs", job("canary", namespace="other"))
    world.cycle()
    assert world.job("canary", "other")["phase"] == "Admitted"
    status = world.job("held")
    assert (status["phase"], status["reason"]) == ("Pending", "QuotaInvalid")
    for part in ("ResourceQuota gpus", f"spec.hard.requests.cpu: {error}", "corrected", "deleted"):
        assert part in status["message"]
    assert world.kube.pods(NS) == []
    assert world.cache.rejected()["ResourceQuota", "InvalidSpec"] == 1
    assert world.cache.rejected()["TrainingJob", "QuotaInvalid"] == 1
    registry = world.scheduler.metrics.registry
    labels = {"kind": "ResourceQuota", "reason": "InvalidSpec"}
    assert registry.get_sample_value("pricewise_rejected_objects", labels) == 1
    world.cycle()  # said once, not every cycle
    assert [r for n, r, _ in world.kube.events if n == "held"] == ["QuotaInvalid"]
    if heal == "correct":
        world.kube.put("resourcequotas", quota("gpus", **{"requests.cpu": "64"}))
    else:
        world.kube.delete("resourcequotas", NS, "gpus")
    world.cycle()
    assert world.job("held")["phase"] == "Admitted"
    assert world.cache.rejected()["ResourceQuota", "InvalidSpec"] == 0
    assert world.cache.rejected()["TrainingJob", "QuotaInvalid"] == 0


def test_a_corrected_quota_is_enforced_again() -> None:
    world = World()
    world.kube.put("resourcequotas", quota("gpus", **{"requests.nvidia.com/gpu": "x"}))
    world.kube.put("trainingjobs", job("big", options=[
        {"accelerator": "nvidia-l4", "devicesPerWorker": 4, "duration": "1h"}]))  # fmt: skip
    world.cycle()
    assert world.job("big")["reason"] == "QuotaInvalid"
    world.kube.put("resourcequotas", quota("gpus", **{"requests.nvidia.com/gpu": "2"}))
    world.cycle()
    assert world.job("big")["reason"] == "QuotaTooSmall"  # 4 GPUs where 2 are allowed in all


@pytest.mark.parametrize("key", ["pods", "count/pods"])
def test_a_quota_on_pods_is_counted_under_either_of_its_names(key: str) -> None:
    # `count/pods` is the same quota as `pods`: its job was admitted, and its pods refused.
    world = World()
    world.kube.put("resourcequotas", quota("pods", **{key: "0"}))
    world.kube.put("trainingjobs", job("a"))
    world.cycle()
    assert world.job("a")["reason"] == "QuotaTooSmall"


def test_a_scoped_quota_counts_only_the_jobs_its_scopes_match() -> None:
    # A quota scoped to priority class `high` was applied to every job of its namespace: a job
    # whose workers the API server admits waited as QuotaTooSmall, "no wait helps".
    world = World()
    scoped = quota("high", **{"requests.nvidia.com/gpu": "2"})
    scoped["spec"]["scopeSelector"] = {
        "matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]
    }
    world.kube.put("resourcequotas", scoped)
    four = [{"accelerator": "nvidia-l4", "devicesPerWorker": 4, "duration": "1h"}]
    world.kube.put("trainingjobs", job("plain", options=four))
    high = job("urgent", options=four)
    high["spec"]["template"]["spec"]["priorityClassName"] = "high"
    world.kube.put("trainingjobs", high)
    world.cycle()
    assert world.job("plain")["phase"] == "Admitted"
    assert world.job("urgent")["reason"] == "QuotaTooSmall"  # 4 GPUs where 2 are allowed


@pytest.mark.parametrize(
    ("spec", "pod", "counted"),
    [
        ({"scopes": ["NotTerminating", "NotBestEffort"]}, {}, True),
        ({"scopes": ["Terminating"]}, {}, False),
        ({"scopes": ["Terminating"]}, {"activeDeadlineSeconds": 60}, True),
        ({"scopes": ["BestEffort"]}, {}, False),  # workers always request what they run on
        ({"scopes": ["PriorityClass"]}, {}, False),
        ({"scopes": ["PriorityClass"]}, {"priorityClassName": "low"}, True),
        ({"scopes": ["CrossNamespacePodAffinity"]}, {}, False),
        ({"scopes": ["SomeScopeToCome"]}, {}, True),  # unknown: a limit must not be missed
        (
            {"scopeSelector": {"matchExpressions": [
                {"scopeName": "PriorityClass", "operator": "NotIn", "values": ["low"]}]}},
            {"priorityClassName": "low"},
            False,
        ),
        (
            {"scopeSelector": {"matchExpressions": [
                {"scopeName": "PriorityClass", "operator": "DoesNotExist"}]}},
            {},
            True,
        ),
        (
            {"scopeSelector": {"matchExpressions": [
                {"scopeName": "Terminating", "operator": "Exists"}]}},
            {},
            False,
        ),
    ],
)  # fmt: skip
def test_a_quota_s_scopes_match_a_worker_as_the_api_server_matches_its_pod(
    spec: dict[str, Any], pod: dict[str, Any], counted: bool
) -> None:
    assert quota_counts({"spec": spec}, {"spec": pod}) is counted


def test_the_echo_of_its_own_status_write_wakes_no_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    world = _handled(monkeypatch)
    wake = world.scheduler._wake
    world.kube.put("trainingjobs", job("echoed"))
    world.cycle()  # writes its status, and takes the answer into the cache
    echo = copy.deepcopy(world.kube.objects[("trainingjobs", NS, "echoed")])
    assert echo["status"]["phase"] == "Admitted"
    asyncio.run(handlers.training_job(type="MODIFIED", body=echo))
    assert not wake.is_set()
    # A version the cache has not seen (here: someone edits the spec) wakes the loop.
    edited = copy.deepcopy(echo)
    edited["metadata"]["resourceVersion"] = str(int(echo["metadata"]["resourceVersion"]) + 1)
    edited["spec"]["priority"] = 5
    asyncio.run(handlers.training_job(type="MODIFIED", body=edited))
    assert wake.is_set()


def test_a_node_s_heartbeat_wakes_no_cycle_and_its_readiness_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = _handled(monkeypatch)
    wake = world.scheduler._wake

    def beat(at: str, ready: str = "True") -> dict[str, Any]:
        body = node("l4-0", "l4")
        body["status"]["conditions"] = [
            {"type": "Ready", "status": ready, "lastHeartbeatTime": at,
             "lastTransitionTime": "2026-11-29T11:00:00Z", "message": f"posted at {at}"},
            {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": at},
        ]  # fmt: skip
        return body

    asyncio.run(handlers.node(type="MODIFIED", body=beat("2026-11-29T12:00:00Z")))
    wake.clear()
    asyncio.run(handlers.node(type="MODIFIED", body=beat("2026-11-29T12:00:20Z")))
    assert not wake.is_set()
    asyncio.run(handlers.node(type="MODIFIED", body=beat("2026-11-29T12:00:40Z", "Unknown")))
    assert wake.is_set()


def test_the_echo_of_a_budget_s_status_write_wakes_no_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = _handled(monkeypatch)
    wake = world.scheduler._wake
    world.kube.put("budgets", budget("monthly"))
    world.cycle()  # writes the budget's figures, and takes the answer into the cache
    wake.clear()
    echo = copy.deepcopy(world.kube.objects[("budgets", NS, "monthly")])
    assert echo["status"]["conditions"]
    asyncio.run(handlers.budget(type="MODIFIED", body=echo))
    assert not wake.is_set()
    edited = copy.deepcopy(echo)
    edited["metadata"]["resourceVersion"] = str(int(echo["metadata"]["resourceVersion"]) + 1)
    edited["spec"]["limit"] = 5.0
    asyncio.run(handlers.budget(type="MODIFIED", body=edited))
    assert wake.is_set() and world.cache.budgets[(NS, "monthly")].spec.limit == 5.0


def test_the_price_table_handler_takes_a_change_after_a_bad_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = _handled(monkeypatch)
    bad = table("bad", pool("h100", "nvidia-h100", 1e308))
    bad["metadata"]["generation"] = 1
    asyncio.run(handlers.price_table(type="ADDED", body=bad))
    assert "bad" in world.cache.price_table_errors
    good = table("bad", pool("h100", "nvidia-h100", 4.0))
    good["metadata"]["generation"] = 2
    asyncio.run(handlers.price_table(type="MODIFIED", body=good))
    assert "bad" in world.cache.price_tables
    asyncio.run(
        handlers.price_table(type="DELETED", body=table("bad", pool("h100", "nvidia-h100", 4.0)))
    )
    assert "bad" not in world.cache.price_tables


def test_a_price_change_is_said_in_an_event_on_its_price_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A running job's COST moved from ~17.18 to ~47.93 USD with nothing to say why.
    world = _handled(monkeypatch)
    edited = copy.deepcopy(world.kube.objects[("pricetables", "", "prices")])
    edited["metadata"]["generation"] = 2
    edited["spec"]["pools"][0]["prices"] = {"perDeviceHour": 2.0, "perCpuHour": 0.01}
    # As written: six figures read 10.97906 as 10.9791.
    edited["spec"]["pools"].append(pool("h100", "nvidia-h100", 10.97906))
    asyncio.run(handlers.price_table(type="MODIFIED", body=edited))
    asyncio.run(world.scheduler.cycle(NOW))
    ((name, reason, message),) = [e for e in world.kube.events if e[1] == "PricesChanged"]
    assert (name, reason) == ("prices", "PricesChanged")
    assert message.startswith(
        "prices changed: l4 perDeviceHour 1 -> 2, perCpuHour 0 -> 0.01 USD; h100 added at "
        "perDeviceHour 10.97906 USD. Running jobs accrue at the new prices from the change on"
    )
    asyncio.run(world.scheduler.cycle(NOW))  # said once
    assert len([e for e in world.kube.events if e[1] == "PricesChanged"]) == 1
    # Its status says which spec it is for, as a Budget's and a TrainingJob's do.
    written = world.kube.objects[("pricetables", "", "prices")]["status"]
    assert written["observedGeneration"] == 2
    assert {c["observedGeneration"] for c in written["conditions"]} == {2}
    # A pool taken out: its jobs go on at their last prices, as the event says.
    fewer = copy.deepcopy(edited)
    fewer["metadata"]["generation"] = 3
    fewer["spec"]["pools"].pop()
    asyncio.run(handlers.price_table(type="MODIFIED", body=fewer))
    asyncio.run(world.scheduler.cycle(NOW))
    said = [e[2] for e in world.kube.events if e[1] == "PricesChanged"]
    assert said[-1] == (
        "prices changed: h100 taken out (jobs running on it go on accruing at its last prices)"
    )


def test_watch_handlers_run_on_the_event_loop() -> None:
    # kopf runs plain functions in a thread pool, where they would change the cache while a
    # cycle on the loop iterates it ("dictionary changed size during iteration").
    public = [
        value
        for name, value in vars(handlers).items()
        if inspect.isfunction(value) and value.__module__ == handlers.__name__
        and not name.startswith("_") and name != "configure"
    ]  # fmt: skip
    assert len(public) >= 8
    assert all(inspect.iscoroutinefunction(f) for f in public), [f.__name__ for f in public]


def test_only_a_price_table_s_spec_change_settles_accruals(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World()
    monkeypatch.setattr(handlers, "CACHE", world.cache)
    monkeypatch.setitem(handlers._state, "scheduler", world.scheduler)
    settled: list[datetime] = []
    monkeypatch.setattr(world.scheduler, "prices_changing", settled.append)
    prices = table("prices", pool("l4", "nvidia-l4", 2.0))
    for generation in (2, 2, 3):  # a change, the echo of a status write, another change
        prices["metadata"]["generation"] = generation
        asyncio.run(handlers.price_table(type="MODIFIED", body=prices))
    assert len(settled) == 2


def test_a_newer_table_cannot_take_over_priced_nodes() -> None:
    world = World()
    cheap = table("aa-cheap", pool("l4-cheap", "nvidia-l4", 0.01, nodeSelector={
        "pricewise.dev/pool": "l4"}), created="2026-06-01T00:00:00Z")  # fmt: skip
    world.kube.put("pricetables", cheap)
    world.kube.put("trainingjobs", job("canary"))
    world.cycle()
    assert world.job("canary")["pool"] == "l4"
    # The newer table is told, in one sentence for all the nodes; the older one works as it
    # did, and says so.
    ready = world.ready("pricetables", "aa-cheap")
    assert (ready["reason"], ready["message"]) == (
        "NodeInTwoPools",
        "node(s) l4-0, l4-1 match pools l4 (prices) and l4-cheap (aa-cheap); they are counted "
        "in l4 only",
    )
    assert world.ready("pricetables", "prices")["status"] == "True"


def test_a_pool_name_an_older_table_has_is_left_out_of_the_newer_table_s_status() -> None:
    world = World()
    other = table("zz-other", pool("l4", "nvidia-l4", 9.0, nodeSelector={"pool": "other"}))
    world.kube.put("pricetables", other)
    world.cycle()
    ready = world.ready("pricetables", "zz-other")
    assert (ready["status"], ready["reason"]) == ("False", "DuplicatePool")
    assert world.ready("pricetables", "prices")["status"] == "True"
    # Its status has no row for the other table's pool (it showed that pool's nodes).
    assert world.kube.status("pricetables", "", "zz-other")["pools"] == []


def test_workers_take_the_node_selector_of_the_pool_planning_used_not_its_refused_twin() -> None:
    # Listed by name at a start, a newer table's pool of the same name came first, and the
    # workers of a job planned on the older table's nodes were given the newer's nodeSelector.
    world = World()
    newer = table(
        "aa-newer",
        pool("l4", "nvidia-l4", 9.0, nodeSelector={"pool": "other"}),
        created="2026-06-01T00:00:00Z",
        carbonIntensity=500,
    )
    world.kube.put("pricetables", newer)
    world.cache.price_tables = dict(sorted(world.cache.price_tables.items()))
    world.kube.put("trainingjobs", job("placed"))
    world.cycle()
    assert world.job("placed")["pool"] == "l4"
    [worker] = world.kube.pods(NS)
    assert worker["spec"]["nodeSelector"] == {"pricewise.dev/pool": "l4"}
    assert world.cache.carbon_intensity("l4") is None


def test_a_pool_without_a_price_is_pointed_out_and_an_explicit_zero_is_not() -> None:
    world = World()
    world.kube.put("nodes", node("h100-0", "h100"))
    unpriced = {**pool("h100", "nvidia-h100", 0), "prices": {}}
    world.kube.put("pricetables", table("free", unpriced, created="2026-06-01T00:00:00Z"))
    world.cycle()
    ready = world.ready("pricetables", "free")
    assert (ready["status"], ready["reason"]) == ("False", "PoolWithoutPrice")
    assert "pool h100 has no price: jobs placed there cost nothing" in ready["message"]
    world.kube.put("pricetables", table("free", {**unpriced, "prices": {"perNodeHour": 0}}))
    world.cycle()
    assert world.ready("pricetables", "free")["status"] == "True"


def test_a_pool_whose_nodes_lack_the_device_its_accelerator_asks_for_says_how_to_name_it() -> None:
    world = World()
    tpu = node("v5e-0", "v5e")
    tpu["status"]["allocatable"] = {"cpu": "96", "memory": "768Gi", "google.com/tpu": "8"}
    world.kube.put("nodes", tpu)
    world.kube.put("pricetables", table("tpus", pool("v5e", "v5e", 1.2)))
    world.cycle()
    ready = world.ready("pricetables", "tpus")
    assert (ready["status"], ready["reason"]) == ("False", "PoolWithoutDevices")
    assert "v5e asks each worker for nvidia.com/gpu" in ready["message"]
    assert "tpu-... asks for google.com/tpu" in ready["message"]
    assert world.ready("pricetables", "prices")["status"] == "True"
    # Named as a TPU, the pool's nodes fit its workers.
    world.kube.put("pricetables", table("tpus", pool("v5e", "tpu-v5e", 1.2)))
    world.kube.put("trainingjobs", job("on-tpu", options=[
        {"accelerator": "tpu-v5e", "devicesPerWorker": 4, "duration": "1h"}]))  # fmt: skip
    world.cycle()
    assert world.ready("pricetables", "tpus")["status"] == "True"
    assert world.job("on-tpu")["pool"] == "v5e"


def test_one_currency_per_cluster() -> None:
    world = World()
    world.kube.put("nodes", node("h100-0", "h100"))
    euros = table("euros", pool("h100", "nvidia-h100", 2.0), currency="EUR",
                  created="2026-06-01T00:00:00Z")  # fmt: skip
    world.kube.put("pricetables", euros)
    world.kube.put("budgets", budget("eur", currency="EUR", limit=1.0))
    world.kube.put("budgets", budget("eur", "other", currency="EUR", enforcement="soft"))
    world.kube.put("trainingjobs", job("held"))
    world.kube.put("trainingjobs", job("canary", "other"))
    world.cycle()
    ready = world.ready("pricetables", "euros")
    assert (ready["status"], ready["reason"]) == ("False", "CurrencyMismatch")
    assert "set spec.currency: USD" in ready["message"]
    # A soft EUR budget cannot hold a USD job; a hard one cannot let it through unchecked.
    assert world.job("canary", "other")["phase"] == "Admitted"
    held = world.job("held")
    assert (held["phase"], held["reason"]) == ("Pending", "BudgetInvalid")
    assert "spec.currency: EUR is not the prices' currency; set USD" in held["message"]
    ready = world.ready("budgets", "eur", NS)
    assert (ready["status"], ready["reason"]) == ("False", "CurrencyMismatch")
    # Setting the currency alone would take the limit's figure as dollars.
    assert (
        "Write spec.limit in USD and set spec.currency: USD; until then the namespace's jobs wait"
        in ready["message"]
    )
    assert "spent" not in world.kube.status("budgets", NS, "eur")
    assert world.cache.rejected()["PriceTable", "CurrencyMismatch"] == 1
    world.kube.put("budgets", budget("eur", currency="USD", limit=100.0))
    world.cycle()
    assert world.job("held")["phase"] == "Admitted"


def test_a_table_that_prices_no_node_does_not_set_the_currency() -> None:
    # A test table in EUR left behind, older than the table in use once that one is replaced
    # (`kubectl replace --force` creates it anew): as the oldest, it turned the cluster's
    # currency to EUR, set the table in use aside and held every hard-Budget namespace.
    world = World()
    stray = table("eu-test", pool("eu-cpu", "cpu", 0.03), currency="EUR",
                  created="2025-06-01T00:00:00Z")  # fmt: skip
    world.kube.put("pricetables", stray)
    world.kube.put("pricetables", table("prices", pool("l4", "nvidia-l4", 1.0),
                                        created="2026-11-29T11:00:00Z"))  # fmt: skip
    world.kube.put("budgets", budget("usd", limit=100.0))
    world.kube.put("trainingjobs", job("a"))
    world.cycle()
    assert world.cache.currency() == "USD"
    assert world.ready("pricetables", "prices")["status"] == "True"
    ready = world.ready("pricetables", "eu-test")
    assert (ready["status"], ready["reason"]) == ("False", "CurrencyMismatch")
    assert "(set by PriceTable prices)" in ready["message"]
    assert world.job("a")["phase"] == "Admitted"
    # Its nodes gone (a pool scaled to zero), no table prices a node: the choice stays.
    for name in ("l4-0", "l4-1"):
        world.kube.delete("nodes", "", name)
    world.cycle()
    assert world.cache.currency() == "USD"
    # Once a node is in its pool, it is the oldest table that prices nodes: EUR it is.
    world.kube.put("nodes", node("eu-0", "eu-cpu", gpus=0))
    world.cycle()
    assert world.cache.currency() == "EUR"


@pytest.mark.parametrize(
    ("name", "workers"),
    [
        ("a" * 70, 1),
        ("9lives", 2),
        ("b" * 60, 2),
        ("c" * 253, 2),
        ("my.job", 1),
        ("my.job", 2),
        ("9.lives", 2),
        (".".join(["d" * 62] * 4), 2),  # 251 characters, every label full
    ],
)
def test_every_name_the_api_server_accepts_gives_valid_worker_names(name: str, workers: int):
    world = World()
    world.kube.put("trainingjobs", job(name, workers={"min": workers, "max": workers}))
    world.cycle()
    assert world.job(name)["phase"] == "Admitted"
    pods = world.kube.pods(NS)
    assert len(pods) == workers
    for pod in pods:
        assert DNS_LABEL.match(pod["metadata"]["name"])
        assert all(len(v) <= 63 for v in pod["metadata"]["labels"].values())
        if workers > 1:
            assert DNS_LABEL.match(pod["spec"]["hostname"])
            assert DNS_1035.match(pod["spec"]["subdomain"])
    services = [b for (p, _, _), b in world.kube.objects.items() if p == "services"]
    assert len(services) == (1 if workers > 1 else 0)
    for service in services:
        assert DNS_1035.match(service["metadata"]["name"])
    assert len(world.cache.workers_of(NS, name)) == workers
    asyncio.run(world.kube.delete_workers(NS, name))
    assert world.kube.pods(NS) == []


def test_a_dotted_name_and_its_dashed_twin_get_their_own_workers() -> None:
    world = World()
    for name in ("my.job", "my-job"):
        world.kube.put("trainingjobs", job(name, workers={"min": 2, "max": 2}))
    world.cycle()
    assert {world.job(n)["phase"] for n in ("my.job", "my-job")} == {"Admitted"}
    assert len({p["metadata"]["name"] for p in world.kube.pods(NS)}) == 4
    services = {n for (p, _, n) in world.kube.objects if p == "services"}
    assert len(services) == 2
    assert len(world.cache.workers_of(NS, "my.job")) == len(world.cache.workers_of(NS, "my-job"))
    asyncio.run(world.kube.delete_workers(NS, "my.job"))  # its twin's workers stay
    assert sorted(p["metadata"]["name"] for p in world.kube.pods(NS)) == [
        "my-job-worker-0",
        "my-job-worker-1",
    ]


def _running(world: World, name: str) -> dict[str, Any]:
    """Job `name` submitted, placed and running: its status."""
    world.kube.put("trainingjobs", job(name))
    world.cycle()
    _run_workers(world)
    world.cycle()
    return world.job(name)


def test_a_placed_job_runs_as_placed_when_its_spec_is_edited_even_into_an_invalid_one() -> None:
    world = World()
    placed = _running(world, "edited")
    assert placed["phase"] == "Running" and len(world.kube.pods(NS)) == 1
    lots = {
        "containers": [{"name": "main", "image": "t", "resources": {"requests": {"cpu": "lots"}}}]
    }
    world.kube.put("trainingjobs", job("edited", template={"spec": lots}))
    world.cycle()
    # Parsed, the new spec flipped the job to Pending (InvalidSpec) with its worker running.
    status = world.job("edited")
    assert (status["phase"], status["nodes"]) == ("Running", placed["nodes"])
    ignored = next(c for c in status["conditions"] if c["type"] == "SpecChangeIgnored")
    assert ignored["status"] == "True" and len(world.kube.pods(NS)) == 1
    record = world.cache.jobs[NS, "edited"]
    assert record.job is not None and world.cache.running_job(record) is not None
    # Requeued (its node gone), it is planned with the spec it has now, and says why it cannot.
    world.kube.delete("nodes", "", placed["nodes"][0])
    world.cycle()
    status = world.job("edited")
    assert (status["phase"], status["reason"]) == ("Pending", "InvalidSpec")
    # The field itself: "a container's requests: 'lots' ..." named neither.
    assert (
        "spec.template.spec.containers[0].resources.requests[cpu]: 'lots' is not a "
        in (status["message"])
    )
    # Corrected, it is placed again with the new spec: the edit is ignored no more (True beside
    # the new placement read as an edit still ignored).
    world.kube.put("trainingjobs", job("edited"))
    world.cycle()
    status = world.job("edited")
    ignored = next(c for c in status["conditions"] if c["type"] == "SpecChangeIgnored")
    assert (status["phase"], ignored["status"], ignored["reason"]) == (
        "Admitted",
        "False",
        "Replanned",
    )


@pytest.mark.parametrize("edit", ["invalid", "bigger"])
def test_a_placed_job_edited_keeps_running_as_placed_across_a_restart(edit: str) -> None:
    # After a restart the spec it was placed with is not known any more: an invalid one
    # flipped it to Pending with its worker running; a valid one sized its accrual by the
    # new spec, not by the worker that runs.
    world = World()
    placed = _running(world, "edited")
    worker = world.cache.planned_worker(world.cache.jobs[NS, "edited"])
    requests = {"cpu": "lots"} if edit == "invalid" else {"cpu": "40", "memory": "300Gi"}
    spec = {"containers": [{"name": "main", "image": "t", "resources": {"requests": requests}}]}
    world.kube.put("trainingjobs", job("edited", template={"spec": spec}))
    _restarted(world)
    world.cycle()
    assert world.job("edited")["phase"] == "Running"
    assert world.cache.planned_worker(world.cache.jobs[NS, "edited"]) == worker
    assert world.job("edited")["nodes"] == placed["nodes"]


def test_a_worker_still_to_create_is_made_from_the_template_the_job_was_placed_with() -> None:
    world = World()
    failing = [True]

    def once(manifest: dict[str, Any]) -> ApiError | None:
        if manifest["kind"] == "Pod" and failing[0]:
            failing[0] = False
            return ApiError(500, "etcd timeout")
        return None

    world.kube.refuse = once
    world.kube.put("trainingjobs", job("late-edit"))
    world.cycle()
    assert world.job("late-edit")["phase"] == "Admitted" and world.kube.pods(NS) == []
    pinned = {"nodeSelector": {"zone": "b"}, "containers": [{"name": "main", "image": "v2"}]}
    world.kube.put("trainingjobs", job("late-edit", template={"spec": pinned}))
    world.cycle()
    (pod,) = world.kube.pods(NS)
    assert pod["spec"]["containers"][0]["image"] == "trainer"
    assert "zone" not in pod["spec"]["nodeSelector"]


@pytest.mark.parametrize(
    ("accelerator", "resources", "said"),
    [
        ("nvidia-l4", {"limits": {"nvidia.com/gpu": "8"}}, "limits[nvidia.com/gpu]: 8 is replaced"),
        ("nvidia-l4", {"requests": {"nvidia.com/gpu": 1}}, None),
        ("cpu", {"requests": {"nvidia.com/gpu": 1}}, "[nvidia.com/gpu]: 1 is kept, but option cpu"),
    ],
)
def test_a_template_asking_devices_itself_gets_a_warning_once_a_placement(
    accelerator: str, resources: dict[str, Any], said: str | None
) -> None:
    # A pod spec copied from elsewhere asked 8 GPUs where the option gives 1: the worker ran
    # with 1, and nothing told its owner; asked of a cpu option, its pod could not start.
    world = World()
    world.kube.put("nodes", node("cpu-0", "cpu"))
    world.kube.put(
        "pricetables", table("cpus", pool("cpu", "cpu", 0.1), created="2026-02-01T00:00:00Z")
    )
    spec = {"containers": [{"name": "main", "image": "t", "resources": resources}]}
    only = [{"accelerator": accelerator, "devicesPerWorker": 1, "duration": "1h"}]
    world.kube.put("trainingjobs", job("copied", template={"spec": spec}, options=only))
    world.kube.refuse = lambda m: ApiError(500, "etcd timeout") if m["kind"] == "Pod" else None
    world.cycle()
    world.kube.refuse = lambda _: None
    world.cycle()  # its worker created on a second try: told once
    (pod,) = world.kube.pods(NS)
    if accelerator != "cpu":
        assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    warned = [m for _, r, m in world.kube.events if r == "TemplateDeviceRequest"]
    assert len(warned) == (0 if said is None else 1)
    assert said is None or (said in warned[0] and "spec.options[].devicesPerWorker" in warned[0])


def test_an_event_the_api_server_refuses_is_logged_naming_the_job(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # An admission policy denying Events in a namespace: the job was placed with no Admitted
    # event, and nothing but a debug line said so.
    world = World()

    async def denied(*_: Any, **__: Any) -> None:
        raise ApiError(403, "events is forbidden by policy deny-events")

    monkeypatch.setattr(world.kube, "event", denied)
    world.kube.put("trainingjobs", job("quiet"))
    with caplog.at_level("WARNING", logger="pricewise.kube"):
        world.cycle()
    assert world.job("quiet")["phase"] == "Admitted"
    assert (
        f"Admitted event on TrainingJob {NS}/quiet not recorded (RBAC" in caplog.text
        and "deny-events" in caplog.text
    )


def test_a_cycle_whose_writes_fail_counts_as_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each step and write is guarded, so a cluster refusing every status write (RBAC after an
    # upgrade) let every cycle count as ok, and PricewiseSolverFailing never fired.
    world = World()
    world.scheduler.metrics = Metrics(world.cache, world.scheduler.accountant)
    registry = world.scheduler.metrics.registry

    def count(result: str) -> float | None:
        return registry.get_sample_value("pricewise_scheduling_cycles_total", {"result": result})

    assert (count("ok"), count("error")) == (0, 0)  # at 0 from the start, for increase()
    world.kube.put("trainingjobs", job("a"))
    asyncio.run(world.scheduler.counted_cycle(NOW))
    assert (count("ok"), count("error")) == (1, 0)
    lost = {"pool": "l4", "cause": "NodeLost"}
    assert registry.get_sample_value("pricewise_job_restarts_total", lost) == 0  # seen, at 0

    async def refused(*_: Any, **__: Any) -> Any:
        raise ApiError(422, "admission webhook denied the request")

    monkeypatch.setattr(world.kube, "patch_status", refused)
    world.kube.put("trainingjobs", job("b"))
    asyncio.run(world.scheduler.counted_cycle(NOW))
    assert (count("ok"), count("error")) == (1, 1)
    # "b" was planned but its placement never written: decided again next cycle, counted then.
    admitted = {"outcome": "admitted"}
    assert registry.get_sample_value("pricewise_decisions_total", admitted) == 1


def test_waiting_statuses_that_fail_beside_the_loop_count_as_the_next_cycle_s_failure() -> None:
    # Written beside the loop, a waiting job's status refused by the API server was logged
    # and counted nowhere: a cluster refusing them all looked healthy to PricewiseSolverFailing.
    world = World()
    world.scheduler.metrics = Metrics(world.cache, world.scheduler.accountant)
    registry = world.scheduler.metrics.registry

    async def refused(*_: Any, **__: Any) -> bool:
        raise ApiError(422, "admission webhook denied the request")

    world.scheduler.admission.apply = refused  # type: ignore[method-assign]
    h100 = [{"accelerator": "nvidia-h100", "devicesPerWorker": 1, "duration": "1h"}]
    world.kube.put("trainingjobs", job("waits", options=h100))  # no pool offers it

    async def scenario() -> None:
        await world.scheduler.counted_cycle(NOW)
        await world.scheduler.teller.drained()
        await world.scheduler.counted_cycle(NOW + timedelta(seconds=30))
        await world.scheduler.teller.drained()

    asyncio.run(scenario())
    count = registry.get_sample_value("pricewise_scheduling_cycles_total", {"result": "error"})
    assert count == 1  # the second cycle, for the first one's write
    assert world.scheduler.teller.take_failed() == 1  # the second's, for the third


def test_a_refused_worker_releases_the_room_and_waits_for_a_new_spec() -> None:
    world = World()
    world.kube.refuse = lambda m: (
        ApiError(422, 'Pod "refused-worker-0" is invalid: spec.containers[0].image: Required')
        if m["metadata"]["name"].startswith("refused")
        else None
    )
    world.kube.put("trainingjobs", job("refused"))
    world.cycle()
    status = world.job("refused")
    assert (status["phase"], status["reason"]) == ("Pending", "WorkerRejected")
    assert "spec.containers[0].image: Required" in status["message"]
    assert "nodes" not in status and world.cache.node_usage() == {}
    world.cycle()
    assert world.job("refused")["reason"] == "WorkerRejected"  # not planned again as it is
    world.kube.refuse = lambda m: None
    world.kube.put("trainingjobs", job("refused", priority=1))  # a new generation
    world.cycle()
    assert world.job("refused")["phase"] == "Admitted"


class Clock(datetime):
    """The cycles' clock for what admission stamps with the wall clock (a refusal)."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> Clock:
        return cls.fromisoformat(NOW.isoformat())


def test_a_worker_refused_as_invalid_is_not_tried_again_until_something_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Tried every 5 minutes as well, a template the API server always refuses was planned again
    # each time (and a job of high priority preempted another for it each time).
    monkeypatch.setattr(admission, "datetime", Clock)
    world = World()
    refusal = ApiError(422, 'Pod "a-worker-0" is invalid: spec.containers[0].image: Required')
    world.kube.refuse = lambda m: refusal if m["kind"] == "Pod" else None
    world.kube.put("trainingjobs", job("a"))
    world.cycle()
    assert "every 5m" not in world.job("a")["message"]
    run_cycle(world.scheduler, NOW + timedelta(minutes=16))
    assert sum(1 for e in world.kube.events if e[1] == "WorkerRejected") == 1


def test_a_worker_refused_for_an_object_not_made_yet_is_tried_again_after_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A PriorityClass the template names, created after the job: nothing the operator watches
    # changes, and the job was held for good (its message sent its owner to spec.template).
    monkeypatch.setattr(admission, "datetime", Clock)
    world = World()
    refusal = ApiError(403, 'pods "a-worker-0" is forbidden: no PriorityClass with name pc-two '
                       "was found")  # fmt: skip
    world.kube.refuse = lambda m: refusal if m["kind"] == "Pod" else None
    world.kube.put("trainingjobs", job("a"))
    world.cycle()
    assert world.job("a")["reason"] == "WorkerRejected"
    assert (
        "; create what it names (or fix spec.template not to need it): the job is planned again "
        in world.job("a")["message"]
    )
    assert world.job("a")["message"].endswith("or such a quota's usage falls, and every 5m")
    world.kube.refuse = lambda m: None  # the PriorityClass made
    run_cycle(world.scheduler, NOW + timedelta(minutes=4))
    assert world.job("a")["reason"] == "WorkerRejected"  # not yet
    run_cycle(world.scheduler, NOW + timedelta(minutes=5, seconds=1))
    assert world.job("a")["phase"] == "Admitted"


def test_a_refused_worker_is_tried_again_when_a_price_table_changes() -> None:
    # The refusal may come from the pool's side (a toleration an admission webhook forbids):
    # the admin's fix is to the PriceTable, and the job must not wait for a spec change.
    world = World()
    refusal = ApiError(403, 'pods "a-worker-0" is forbidden: toleration dedicated=ml not allowed')
    world.kube.refuse = lambda m: refusal if m["kind"] == "Pod" else None
    world.kube.put("trainingjobs", job("a"))
    world.cycle()
    assert world.job("a")["reason"] == "WorkerRejected"
    assert "a PriceTable or a ResourceQuota of its namespace is edited" in world.job("a")["message"]
    tolerates = [{"key": "dedicated", "operator": "Exists"}]
    world.kube.put(
        "pricetables", table("prices", pool("l4", "nvidia-l4", 1.0, tolerations=tolerates))
    )
    world.cycle()  # tried again, refused again: held again, and said once more
    assert world.job("a")["reason"] == "WorkerRejected"
    assert world.cache.rejected()["TrainingJob", "WorkerRejected"] == 1
    world.cycle()
    assert sum(1 for e in world.kube.events if e[1] == "WorkerRejected") == 2
    world.kube.refuse = lambda m: None
    world.cycle()
    assert world.job("a")["reason"] == "WorkerRejected"  # nothing changed: still held
    world.kube.put("pricetables", table("prices", pool("l4", "nvidia-l4", 1.0)))
    world.cycle()
    assert world.job("a")["phase"] == "Admitted"


def test_a_worker_a_quota_refused_is_tried_again_when_a_quota_of_its_namespace_changes() -> None:
    # A quota that asks every pod for limits refuses workers whose template has none: the fix
    # named only the template and the PriceTable, and deleting the quota left the job held.
    world = World()
    refusal = ApiError(
        403, 'pods "a-worker-0" is forbidden: failed quota: lim: must specify limits.cpu'
    )
    world.kube.refuse = lambda m: refusal if m["kind"] == "Pod" else None
    world.kube.put("resourcequotas", quota("lim", **{"limits.cpu": "8"}))
    world.kube.put("resourcequotas", quota("lim", namespace="team-b", **{"limits.cpu": "8"}))
    world.kube.put("trainingjobs", job("a"))
    world.cycle()
    assert world.job("a")["reason"] == "WorkerRejected"
    assert (
        "; fix the ResourceQuota it names, or spec.template to meet it, and"
        in (world.job("a")["message"])
    )
    world.kube.refuse = lambda m: None
    world.kube.delete("resourcequotas", "team-b", "lim")  # another namespace's: still held
    world.cycle()
    assert world.job("a")["reason"] == "WorkerRejected"
    world.kube.delete("resourcequotas", NS, "lim")
    world.cycle()
    assert world.job("a")["phase"] == "Admitted"


def test_a_worker_refused_for_a_quota_s_usage_is_tried_again_when_the_usage_falls() -> None:
    # `limits.cpu: 3` is used by another job's worker: refused, the job waited as
    # WorkerRejected after that worker ended and the quota read 0/3, until someone edited it.
    world = World()
    refusal = ApiError(403, 'pods "a-worker-0" is forbidden: exceeded quota: lim, requested: '
                       "limits.cpu=1, used: limits.cpu=3, limited: limits.cpu=3")  # fmt: skip
    world.kube.refuse = lambda m: refusal if m["kind"] == "Pod" else None
    used = {**quota("lim", **{"limits.cpu": "3"}), "status": {"used": {"limits.cpu": "3"}}}
    world.kube.put("resourcequotas", used)
    world.kube.put("trainingjobs", job("a"))
    world.cycle()
    assert world.job("a")["reason"] == "WorkerRejected"
    # Nothing to fix but to wait: it was told to fix the ResourceQuota.
    assert (
        "; it waits for that quota's usage to fall: the job is planned again"
        in (world.job("a")["message"])
    )
    world.kube.refuse = lambda m: None
    world.kube.put("resourcequotas", {**used, "status": {"used": {"limits.cpu": "3"}}})
    world.cycle()
    assert world.job("a")["reason"] == "WorkerRejected"  # its usage the same: still held
    world.kube.put("resourcequotas", {**used, "status": {"used": {"limits.cpu": "0"}}})
    world.cycle()
    assert world.job("a")["phase"] == "Admitted"


def _pods_refused(message: str) -> World:
    """Job `a` submitted to a world whose API server refuses every pod with a 403."""
    world = World()
    refusal = ApiError(403, message)
    world.kube.refuse = lambda m: refusal if m["kind"] == "Pod" else None
    world.kube.put("trainingjobs", job("a"))
    return world


def test_a_worker_a_filled_quota_refused_is_planned_again_without_a_new_spec() -> None:
    world = _pods_refused(
        'pods "a-worker-0" is forbidden: exceeded quota: gpus, requested: '
        "requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=8, limited: "
        "requests.nvidia.com/gpu=8"
    )
    world.cycle()
    status = world.job("a")
    assert (status["phase"], status["reason"]) == ("Pending", "QuotaExceeded")
    assert "exceeded quota" in status["message"] and world.cache.node_usage() == {}
    world.kube.refuse = lambda m: None  # the pod that filled the quota is gone
    world.cycle()
    assert world.job("a")["phase"] == "Admitted"


def test_a_worker_a_quota_pricewise_does_not_count_refused_waits_for_a_new_spec() -> None:
    # limits.cpu is not planned with: placed again as it is, the job would be refused again,
    # every cycle.
    world = _pods_refused(
        'pods "a-worker-0" is forbidden: exceeded quota: lim, requested: limits.cpu=4, used: '
        "limits.cpu=1, limited: limits.cpu=1"
    )
    for _ in range(3):
        world.cycle()
    assert world.job("a")["reason"] == "WorkerRejected"
    assert sum(1 for e in world.kube.events if e[1] == "WorkerRejected") == 1


def test_a_worker_larger_than_every_node_says_so_even_beside_a_spot_pool() -> None:
    world = World()
    world.kube.put("nodes", node("l4-spot-0", "l4-spot"))
    world.kube.put("pricetables", table("spot", pool("l4-spot", "nvidia-l4", 0.3,
                                                     capacityType="spot")))  # fmt: skip
    big = {"options": [{"accelerator": "nvidia-l4", "devicesPerWorker": 16, "duration": "1h"}]}
    world.kube.put("trainingjobs", job("big", **big))
    world.cycle()
    status = world.job("big")
    assert status["reason"] == "WorkerTooLarge"
    assert (
        "16 nvidia.com/gpu" in status["message"]
        and "largest: 8 nvidia.com/gpu" in status["message"]
    )


def test_cordoned_nodes_are_named_as_the_reason() -> None:
    world = World()
    for i in range(2):
        world.kube.put("nodes", node(f"l4-{i}", "l4", unschedulable=True))
    world.kube.put("trainingjobs", job("blocked"))
    world.cycle()
    status = world.job("blocked")
    assert status["reason"] == "NodesUnavailable"
    assert (
        "all 2 node(s) of the pool are cordoned, NotReady or being reclaimed" in status["message"]
    )


def test_a_job_whose_planning_raises_is_set_aside(monkeypatch: pytest.MonkeyPatch) -> None:
    real = solver.candidates

    # Copies of a job are costed once, by their shape (no name): the cursed one is told
    # apart by its options.
    def broken(job: Any, *args: Any) -> Any:
        if job.options[0].devices_per_worker == 2:
            raise OverflowError("cannot convert float infinity to integer")
        return real(job, *args)

    monkeypatch.setattr(solver, "candidates", broken)
    world = World()
    cursed = [{"accelerator": "nvidia-l4", "devicesPerWorker": 2, "duration": "1h"}]
    world.kube.put("trainingjobs", job("cursed", options=cursed))
    world.kube.put("trainingjobs", job("canary"))
    world.cycle()
    assert world.job("canary")["phase"] == "Admitted"
    status = world.job("cursed")
    assert (status["phase"], status["reason"]) == ("Pending", "PlanningFailed")
    assert "OverflowError" in status["message"]
    assert status["conditions"][0]["reason"] == "PlanningFailed"
    assert world.cache.rejected()["TrainingJob", "PlanningFailed"] == 1


def test_a_corrected_job_is_planned_in_the_next_cycle() -> None:
    world = World()
    world.kube.put("trainingjobs", job("fixme", **POISON_JOBS["zero-duration"][0]))
    world.cycle()
    assert world.job("fixme")["reason"] == "InvalidSpec"
    assert world.cache.rejected()["TrainingJob", "InvalidSpec"] == 1
    world.kube.put("trainingjobs", job("fixme"))
    world.cycle()
    assert world.job("fixme")["phase"] == "Admitted"
    assert world.cache.rejected()["TrainingJob", "InvalidSpec"] == 0


def test_the_worker_is_the_chosen_option_even_when_two_share_an_accelerator() -> None:
    world = World()
    options = [
        {"accelerator": "nvidia-l4", "devicesPerWorker": 8, "duration": "2h"},  # 16.00
        {"accelerator": "nvidia-l4", "devicesPerWorker": 1, "duration": "9h"},  # 9.00
    ]
    world.kube.put("trainingjobs", job("two-ways", options=options))
    world.cycle()
    status = world.job("two-ways")
    assert (status["optionIndex"], status["estimatedCost"]) == (1, 9.0)
    (pod,) = world.kube.pods(NS)
    assert pod["spec"]["containers"][0]["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert world.cache.node_usage()[status["nodes"][0]].gpu == 1


def _run_workers(world: World) -> None:
    """What the kubelet would do: bind every worker to its planned node and start it."""
    for pod in world.kube.pods(NS):
        running = {
            **pod,
            "spec": {
                **pod["spec"],
                "nodeName": pod["metadata"]["annotations"][NODE_ANNOTATION],
            },
            "status": {"phase": "Running", "startTime": "2026-11-29T11:00:00Z"},
        }
        world.kube.put("pods", running)


def test_a_job_whose_node_goes_away_is_requeued_and_placed_again() -> None:
    world = World()
    world.kube.put("trainingjobs", job("survivor"))
    world.cycle()
    _run_workers(world)
    world.cycle()
    first = world.job("survivor")
    assert first["phase"] == "Running"
    world.kube.delete("nodes", "", first["nodes"][0])
    world.cycle()
    # Requeued and, the other node being free, placed again in the same cycle.
    again = world.job("survivor")
    assert (again["phase"], again["restarts"]) == ("Admitted", 1)
    assert again["nodes"] != first["nodes"]
    (why,) = again["restartHistory"]
    assert why.startswith(
        f"worker 0's node {first['nodes'][0]} is gone at Nov 29 12:00 UTC; restart 1 of 3"
    )
    assert "accrued so far" in why
    assert ("survivor", "Requeued") in {(name, reason) for name, reason, _ in world.kube.events}
    (pod,) = world.kube.pods(NS)  # the old run's worker removed, the new one created
    assert pod["metadata"]["annotations"][NODE_ANNOTATION] == again["nodes"][0]


def test_the_room_of_a_job_that_ended_is_placed_in_the_cycle_that_says_it_ended() -> None:
    # The cycle that writes a job Succeeded also places another job in its room.
    world = World()
    whole_node = [{"accelerator": "nvidia-l4", "devicesPerWorker": 8, "duration": "1h"}]
    for name in ("first", "second", "third"):
        world.kube.put("trainingjobs", job(name, options=whole_node))
    world.cycle()
    _run_workers(world)
    world.cycle()
    assert [world.job(n)["phase"] for n in ("first", "second", "third")] == [
        "Running",
        "Running",
        "Pending",
    ]
    node = world.job("first")["nodes"][0]
    (pod,) = [p for p in world.kube.pods(NS) if p["spec"].get("nodeName") == node]
    world.kube.put("pods", {**pod, "status": {**pod["status"], "phase": "Succeeded"}})
    world.cycle()
    first = world.job("first")
    assert first["phase"] == "Succeeded"
    # Its ETA column (estimatedFinish) now says when it ended; all its work is done.
    assert first["estimatedFinish"] == first["finishedAt"] and first["progress"] == 1.0
    complete = next(c for c in first["conditions"] if c["type"] == "Complete")
    assert (complete["status"], complete["reason"]) == ("True", "Completed")
    third = world.job("third")
    assert (third["phase"], third["nodes"]) == ("Admitted", [node])


def test_past_max_restarts_the_job_fails_with_its_history(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()
    world.scheduler.metrics = Metrics(world.cache, world.scheduler.accountant)
    world.kube.put("trainingjobs", job("fragile", failurePolicy={"maxRestarts": 0}))
    world.cycle()
    _run_workers(world)
    world.cycle()
    world.kube.delete("nodes", "", world.job("fragile")["nodes"][0])
    # Its first Failed write loses a race: the cycle after decides again, and counts it then.
    write, lost_once = world.kube.patch_status, []

    async def racing(plural: str, namespace: str, name: str, body: Any, *rest: Any) -> Any:
        if plural == "trainingjobs" and body.get("phase") == "Failed" and not lost_once:
            lost_once.append(True)
            raise ConflictError(409, "the object has been modified")
        return await write(plural, namespace, name, body, *rest)

    monkeypatch.setattr(world.kube, "patch_status", racing)
    world.cycle()
    world.cycle()
    failed = world.job("fragile")
    assert (failed["phase"], failed["reason"]) == ("Failed", "NodeLost")
    assert "no restart left (maxRestarts 0)" in failed["message"]
    condition = next(c for c in failed["conditions"] if c["type"] == "Failed")
    assert (condition["status"], condition["reason"]) == ("True", "NodeLost")
    # Its run is lost for good: what failures cost counts it, as it counts a requeued run's.
    labels = {"namespace": NS, "pool": "l4", "reason": "NodeLost", "currency": "USD"}
    lost = world.scheduler.metrics.registry.get_sample_value(
        "pricewise_lost_work_cost_total", labels
    )
    assert lost == failed["accruedCost"] > 0


@pytest.mark.parametrize("refused", [False, True])
def test_a_job_that_fails_for_good_stops_its_workers_still_running(
    refused: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its worker on the node that stayed ran on, holding the node, with nothing billed; a
    # deletion refused after the Failed status is written is tried again by the next cycle.
    world = World()
    eight = {"accelerator": "nvidia-l4", "devicesPerWorker": 8, "duration": "1h"}
    world.kube.put(
        "trainingjobs",
        job(
            "gang", options=[eight], workers={"min": 2, "max": 2}, failurePolicy={"maxRestarts": 0}
        ),
    )
    world.cycle()
    _run_workers(world)
    world.cycle()
    lost, kept = world.job("gang")["nodes"]
    world.kube.delete("nodes", "", lost)
    delete, tried = world.kube.delete_workers, []

    async def refusing(namespace: str, name: str, ended_too: bool = True) -> None:
        tried.append(name)
        if refused and len(tried) == 1:
            raise ApiError(503, "the API server is restarting")
        await delete(namespace, name, ended_too)

    monkeypatch.setattr(world.kube, "delete_workers", refusing)
    world.cycle()
    assert world.job("gang")["phase"] == "Failed"
    world.cycle()
    running = [
        p["spec"].get("nodeName")
        for p in world.kube.pods(NS)
        if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
    ]
    assert running == [], kept


def test_restarts_are_counted_by_cause() -> None:
    world = World()
    world.scheduler.metrics = Metrics(world.cache, world.scheduler.accountant)
    world.kube.put("trainingjobs", job("counted"))
    world.cycle()
    _run_workers(world)
    world.cycle()
    world.kube.delete("nodes", "", world.job("counted")["nodes"][0])
    world.cycle()
    registry = world.scheduler.metrics.registry
    labels = {"pool": "l4", "cause": "NodeLost"}
    assert registry.get_sample_value("pricewise_job_restarts_total", labels) == 1


def test_a_node_tainted_for_reclaim_gives_its_workers_back_and_takes_no_new_ones() -> None:
    world = World()
    world.kube.put("trainingjobs", job("spotty"))
    world.cycle()
    _run_workers(world)
    world.cycle()
    (first,) = world.job("spotty")["nodes"]
    reclaim = {"key": "cloud.google.com/impending-node-termination", "effect": "NoSchedule"}
    world.kube.put("nodes", node(first, "l4", taints=[reclaim]))
    world.cycle()
    again = world.job("spotty")
    assert again["restarts"] == 1 and again["nodes"] != [first]
    assert f"node {first} is being reclaimed (taint {reclaim['key']})" in again["restartHistory"][0]


def test_a_quote_shows_a_new_job_its_namespace_would_hold() -> None:
    # `plan --cluster` left out a new job of a namespace whose hard budget pricewise cannot
    # count: "0 of 0 job(s) placed", where the operator would hold it as BudgetInvalid.
    world = World()
    world.kube.put("budgets", budget("euros", currency="EUR", enforcement="hard"))
    new = TrainingJob.model_validate(
        {"apiVersion": "pricewise.dev/v1alpha1", "kind": "TrainingJob", **job("quoted")}
    )
    quoted = asyncio.run(quote(world.kube, [new], NOW))  # type: ignore[arg-type]
    assert quoted.keys == {f"{NS}/quoted"}
    (held,) = quoted.held
    assert (held.job.key, held.reason) == (f"{NS}/quoted", "BudgetInvalid")


def operator_deployment(name: str, env: list[dict[str, Any]]) -> dict[str, Any]:
    container = {"name": "operator", "env": env}
    return {
        "metadata": {"name": name, "namespace": "pricewise"},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


def test_a_quote_plans_with_the_operator_s_settings_where_it_can_read_them() -> None:
    # A quote planned with the default wait cost and preemption guard, whatever the operator
    # ran with; now it reads them from the operator's Deployment, and says where it cannot.
    world = World()
    config, warning = asyncio.run(operator_config(world.kube))  # type: ignore[arg-type]
    assert (config.wait_cost, config.preemption_min_run_s) == (0.3, 600.0)
    assert warning == (
        "no operator Deployment labelled app.kubernetes.io/part-of=pricewise,"
        "app.kubernetes.io/component=operator; quoted with the default settings"
    )
    # As the chart writes them: the namespace from the pod's own, which no quote reads.
    namespace = {"fieldRef": {"fieldPath": "metadata.namespace"}}
    env = [
        {"name": "PRICEWISE_NAMESPACE", "valueFrom": namespace},
        {"name": "PRICEWISE_WAIT_COST", "value": "1.5"},
        {"name": "PRICEWISE_PREEMPTION_MIN_RUN_SECONDS", "value": "60"},
        {"name": "PRICEWISE_MAX_WAIT", "value": "3d"},
    ]
    world.kube.put("deployments", operator_deployment("pricewise", env))
    new = TrainingJob.model_validate(
        {"apiVersion": "pricewise.dev/v1alpha1", "kind": "TrainingJob", **job("quoted")}
    )
    quoted = asyncio.run(quote(world.kube, [new], NOW))  # type: ignore[arg-type]
    assert (quoted.config.wait_cost, quoted.config.preemption_min_run_s) == (1.5, 60.0)
    assert quoted.config.max_wait_s == 3 * 86_400.0
    assert quoted.config_warning is None
    # A setting a quote reads, taken from a ConfigMap: the default, and why.
    mapped = {"name": "PRICEWISE_WAIT_COST", "valueFrom": {"configMapKeyRef": {"name": "x"}}}
    world.kube.put("deployments", operator_deployment("pricewise", [mapped, *env[2:]]))
    config, warning = asyncio.run(operator_config(world.kube))  # type: ignore[arg-type]
    assert (config.wait_cost, config.preemption_min_run_s) == (0.3, 60.0)
    assert warning == (
        "Deployment pricewise/pricewise: PRICEWISE_WAIT_COST not read (taken from another object)"
    )
    # A value the operator would refuse: the defaults, and why.
    lots = [{"name": "PRICEWISE_WAIT_COST", "value": "lots"}]
    world.kube.put("deployments", operator_deployment("pricewise", lots))
    config, warning = asyncio.run(operator_config(world.kube))  # type: ignore[arg-type]
    assert config.wait_cost == 0.3
    assert warning is not None and warning.startswith(
        "Deployment pricewise/pricewise: PRICEWISE_WAIT_COST='lots': must be a share from 0 to 10"
    )
    assert warning.endswith("; quoted with the default settings")


def test_a_quote_says_when_it_may_not_read_the_operator_s_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()

    async def forbidden(method: str, path: str, body: Any = None) -> Any:
        raise ApiError(403, 'deployments.apps is forbidden: User "dev" cannot list', path)

    monkeypatch.setattr(world.kube, "request", forbidden)
    config, warning = asyncio.run(operator_config(world.kube))  # type: ignore[arg-type]
    assert config.wait_cost == 0.3
    assert warning == (
        "the operator's settings are not readable (HTTP 403: deployments.apps is forbidden: "
        'User "dev" cannot list); quoted with the default settings'
    )


def test_a_cpu_pool_s_status_says_its_free_cpu_and_no_devices() -> None:
    # `kubectl describe pt` read `Free Devices: 0` for a CPU pool with 128 cores free: "full".
    world = World()
    cpu_node = node("c-0", "cpu", gpus=0)
    cpu_node["status"]["allocatable"] = {"cpu": "128", "memory": "512Gi"}
    world.kube.put("nodes", cpu_node)
    cpu_pool = {**pool("cpu", "cpu", 0), "prices": {"perCpuHour": 0.05}}
    world.kube.put("pricetables", table("prices", pool("l4", "nvidia-l4", 1.0), cpu_pool))
    world.cycle()
    rows = {p["name"]: p for p in world.kube.status("pricetables", "", "prices")["pools"]}
    assert rows["cpu"] == {"name": "cpu", "nodes": 1, "freeCpu": 128}
    assert (rows["l4"]["freeDevices"], rows["l4"]["freeCpu"]) == (16, 192)


# --- watch events handled while a request is on its way ---------------------------------------


def _meanwhile(world: World, monkeypatch: pytest.MonkeyPatch, plural: str, name: str,
               event: Callable[[], None]) -> None:  # fmt: skip
    """`event` (a watch event, handled) comes after the API server applied the status write of
    `plural` `name`, before its answer reaches the operator."""
    patch = world.kube.patch_status

    async def answered_late(
        kind: str, namespace: str | None, named: str, status: Any, version: str | None = None
    ) -> Any:
        answer = await patch(kind, namespace, named, status, version)
        if (kind, named) == (plural, name):
            event()
        return answer

    monkeypatch.setattr(world.kube, "patch_status", answered_late)


def test_a_job_deleted_while_its_status_write_is_answered_stays_deleted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The write's answer brought it back: Admitted for ever, its workers created again and
    # again, its room and its Budget's commitment held.
    world = World()
    world.kube.put("trainingjobs", job("doomed"))
    _meanwhile(world, monkeypatch, "trainingjobs", "doomed",
               lambda: world.kube.delete("trainingjobs", NS, "doomed"))  # fmt: skip
    world.cycle()
    assert (NS, "doomed") not in world.cache.jobs
    world.cycle()
    assert world.kube.pods(NS) == []


def test_a_job_created_again_while_the_old_one_s_write_is_answered_is_the_new_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The old job's answer stood in for the new one (the versions of two uids do not compare):
    # the new job was never planned, both nodes free.
    world = World()
    world.kube.put("trainingjobs", job("again"))

    def recreated() -> None:
        world.kube.delete("trainingjobs", NS, "again")
        world.kube.put("trainingjobs", job("again", priority=1))

    _meanwhile(world, monkeypatch, "trainingjobs", "again", recreated)
    world.cycle()
    new = world.kube.objects["trainingjobs", NS, "again"]["metadata"]["uid"]
    assert world.cache.jobs[NS, "again"].body["metadata"]["uid"] == new
    monkeypatch.undo()
    world.cycle()
    assert world.job("again")["phase"] == "Admitted"


def test_a_budget_deleted_while_a_budget_s_write_is_answered_stays_deleted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Brought back by its own write's answer, it held jobs back for good; deleted during an
    # earlier Budget's write, it stopped the cycle's later Budget writes with a KeyError.
    world = World()
    for name in ("a", "b", "c"):
        world.kube.put("budgets", budget(name, enforcement="hard", limit=0.5))
    world.kube.put("trainingjobs", job("blocked"))

    def deleted() -> None:
        world.kube.delete("budgets", NS, "a")
        world.kube.delete("budgets", NS, "b")

    _meanwhile(world, monkeypatch, "budgets", "a", deleted)
    world.cycle()
    assert {k for k in world.cache.budgets if k[0] == NS} == {(NS, "c")}
    assert world.kube.status("budgets", NS, "c")["observedGeneration"] == 1
    assert "figures not summed" not in caplog.text and "KeyError" not in caplog.text


def test_a_job_deleted_while_its_budget_s_write_is_on_its_way_stays_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its cost went into the Budget's retained costs during the write, which then dropped them
    # all as written: the spend fell to 0 and stayed there.
    world = World()
    world.kube.put("budgets", budget("monthly"))
    _running(world, "spender")
    later = NOW + timedelta(minutes=10)
    _meanwhile(world, monkeypatch, "budgets", "monthly", lambda: world.scheduler.job_deleted(
        (NS, "spender"), later) or world.kube.delete("trainingjobs", NS, "spender"))  # fmt: skip
    run_cycle(world.scheduler, later)
    monkeypatch.undo()
    run_cycle(world.scheduler, later + timedelta(minutes=5))
    # Its worker ran from 11:00 (`_run_workers`) to its deletion at 12:10, at 1 USD an hour.
    assert world.kube.status("budgets", NS, "monthly")["spent"] == pytest.approx(70 / 60, abs=0.01)


def test_a_list_taken_before_a_watch_event_does_not_undo_it() -> None:
    # A worker that ended while the start-up list was on its way was kept Running (the list's
    # older version taken last), its job billed for ever; a job deleted then came back.
    cache = Cache()
    pod = {"metadata": {"name": "w", "namespace": NS, "uid": "u1", "resourceVersion": "7"},
           "status": {"phase": "Running"}}  # fmt: skip
    ended = copy.deepcopy(pod)
    ended["metadata"]["resourceVersion"], ended["status"]["phase"] = "9", "Succeeded"
    cache.upsert_pod(ended)
    cache.upsert_pod(pod)
    assert cache.pods[NS, "w"].phase == "Succeeded"
    cache.forget_pod((NS, "w"))
    cache.upsert_pod(ended)
    assert (NS, "w") not in cache.pods
    gone = {"metadata": {"name": "j", "namespace": NS, "uid": "u2"}, "spec": job("j")["spec"]}
    cache.upsert_job(gone)
    cache.forget_job((NS, "j"))
    assert cache.upsert_job(gone) is None and (NS, "j") not in cache.jobs


def test_a_job_created_again_under_its_name_takes_none_of_the_old_one_s_workers() -> None:
    # The old job's pods, still being collected, were taken for the new job's: billed to it
    # (and to the old job at its deletion), and its rendezvous Service, the old one's, went
    # with the old job.
    world = World()
    gang = {"workers": {"min": 2, "max": 2}}
    world.kube.put("trainingjobs", job("rec", **gang))
    world.cycle()
    _run_workers(world)
    later = NOW + timedelta(minutes=30)
    run_cycle(world.scheduler, later)
    world.scheduler.job_deleted((NS, "rec"), later)
    world.kube.delete("trainingjobs", NS, "rec")  # its pods and Service not collected yet
    world.kube.put("trainingjobs", job("rec", **gang))
    run_cycle(world.scheduler, later + timedelta(minutes=1))
    again = world.cache.jobs[NS, "rec"]
    assert again.phase == "Admitted" and world.cache.workers_of(NS, "rec") == {}
    run_cycle(world.scheduler, later + timedelta(minutes=2))
    assert world.job("rec")["accruedCost"] == 0
    # Collected, the old ones make way: the new job's own Service and workers are made.
    for plural in ("pods", "services"):
        for key in [k for k in world.kube.objects if k[0] == plural]:
            world.kube.delete(plural, NS, key[2]) if plural == "pods" else world.kube.objects.pop(
                key
            )
    run_cycle(world.scheduler, later + timedelta(minutes=3))
    uid = world.kube.objects["trainingjobs", NS, "rec"]["metadata"]["uid"]
    owners = {
        b["metadata"]["ownerReferences"][0]["uid"]
        for (plural, _, _), b in world.kube.objects.items()
        if plural in ("pods", "services")
    }
    assert owners == {uid} and len(world.kube.pods(NS)) == 2


@pytest.mark.parametrize("change", ["edited", "deleted", "node-gone"])
def test_what_changes_during_the_solve_is_decided_again_not_written(
    monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    # Placed by the old spec's decision with the new spec's workers (8 GPUs where 1 was free),
    # preempting for a job since deleted, or placed on a node since deleted (a restart spent
    # on a run that never started).
    world = World()
    world.kube.put("trainingjobs", job("moving"))
    solve = scheduler_module.solve_isolated

    def meanwhile(*args: Any) -> Any:
        answer = solve(*args)
        placed = world.cache.jobs[NS, "moving"]
        if change == "edited":
            world.kube.put("trainingjobs", job("moving", priority=3))
        elif change == "deleted":
            world.kube.delete("trainingjobs", NS, "moving")
        else:
            world.kube.delete("nodes", "", "l4-0")
            world.kube.delete("nodes", "", "l4-1")
        assert placed.phase == "Pending"
        return answer

    monkeypatch.setattr(scheduler_module, "solve_isolated", meanwhile)
    world.cycle()
    assert world.kube.pods(NS) == []
    if change != "deleted":
        assert world.job("moving").get("phase") in (None, "Pending")


def test_its_own_status_echo_does_not_add_to_a_spot_pool_s_node_hours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Written rounded to nearest and taken back as the larger, each echo rounded the count up:
    # about twice the node-hours held from 100 on, and half the reclaim rate seen.
    world = _handled(monkeypatch)
    world.kube.put("pricetables", SPOT_TABLE)
    rates = world.cache.reclaim_rates
    rates.held("l4", 1, 100 * 3600)
    for _ in range(200):
        rates.held("l4", 4, 30)
        world.cycle()
        echo = copy.deepcopy(world.kube.objects["pricetables", "", "prices"])
        asyncio.run(handlers.price_table(type="MODIFIED", body=echo))
    assert rates.pools["l4"].node_hours == pytest.approx(100 + 200 * 4 * 30 / 3600)


def test_a_job_created_again_during_the_solve_is_not_placed_by_the_old_one_s_decision(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Generation 1 again: the old decision (1 L4 GPU) was written on a job asking for H100s.
    world = World()
    world.kube.put("trainingjobs", job("again"))
    solve = scheduler_module.solve_isolated

    def recreated(*args: Any) -> Any:
        answer = solve(*args)
        world.kube.delete("trainingjobs", NS, "again")
        h100 = [{"accelerator": "nvidia-h100", "devicesPerWorker": 1, "duration": "1h"}]
        world.kube.put("trainingjobs", job("again", options=h100))
        return answer

    monkeypatch.setattr(scheduler_module, "solve_isolated", recreated)
    world.cycle()
    assert world.job("again").get("phase") in (None, "Pending") and world.kube.pods(NS) == []


def _gang_made_again() -> World:
    """A 2-worker job placed, deleted (its workers gone, its Service still being collected)
    and made again under its name, not yet placed."""
    world = World()
    gang = {"workers": {"min": 2, "max": 2}}
    world.kube.put("trainingjobs", job("rec", **gang))
    world.cycle()
    world.kube.delete("trainingjobs", NS, "rec")
    for pod in world.kube.pods(NS):
        world.kube.delete("pods", NS, pod["metadata"]["name"])
    world.kube.put("trainingjobs", job("rec", **gang))
    return world


def test_an_earlier_job_s_service_collected_meanwhile_is_made_before_the_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Gone between the create's conflict and the read of its owner: the workers were made with
    # no rendezvous Service, and no later cycle made one.
    world = _gang_made_again()
    owner_uid = world.kube.owner_uid

    async def collected(plural: str, namespace: str, name: str) -> str | None:
        world.kube.objects.pop((plural, namespace, name), None)
        return await owner_uid(plural, namespace, name)

    monkeypatch.setattr(world.kube, "owner_uid", collected)
    world.cycle()
    monkeypatch.undo()
    assert world.kube.pods(NS) == []  # no worker without its Service
    world.cycle()
    assert ("services", NS, "rec") in world.kube.objects and len(world.kube.pods(NS)) == 2


def test_a_gang_placed_again_beside_its_service_it_may_not_read_starts_its_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The chart granted create on Services, not get: a requeued gang (its Service kept) read
    # the existing one, was answered 403, and waited as WorkerRejected ("fix spec.template")
    # until someone edited it.
    world = World()
    world.kube.put("nodes", node("l4-2", "l4"))
    world.kube.put("trainingjobs", job("gang", workers={"min": 2, "max": 2}))
    world.cycle()
    _run_workers(world)
    world.cycle()
    first = world.job("gang")
    assert first["phase"] == "Running" and ("services", NS, "gang") in world.kube.objects

    async def forbidden(plural: str, namespace: str, name: str) -> str | None:
        raise ApiError(403, f'services "{name}" is forbidden: cannot get resource "services"')

    monkeypatch.setattr(world.kube, "owner_uid", forbidden)
    world.kube.delete("nodes", "", first["nodes"][0])
    world.cycle()
    world.cycle()
    again = world.job("gang")
    assert again.get("reason") != "WorkerRejected", again.get("message")
    assert again["phase"] == "Admitted" and len(world.kube.pods(NS)) == 2


def test_a_gang_admitted_by_a_leader_stopped_before_its_workers_gets_them_from_the_next() -> None:
    # Its workers never made, it was released as GangTimeout at the next leader's first cycle
    # after an outage of over two minutes ("only 0 of 2 worker(s) were bound within 120s").
    world = World()
    world.kube.put("trainingjobs", job("gang", workers={"min": 2, "max": 2}))
    world.cycle()
    assert world.job("gang")["phase"] == "Admitted"
    for pod in world.kube.pods(NS):
        world.kube.delete("pods", NS, pod["metadata"]["name"])
    later = NOW + timedelta(minutes=5)
    world.scheduler.term_started = lambda: later - timedelta(seconds=1)
    run_cycle(world.scheduler, later)
    # Its placement stands (released, it was placed again at once, admitted anew).
    assert world.job("gang")["admittedAt"] == "2026-11-29T12:00:00Z"
    assert world.job("gang")["phase"] == "Admitted" and len(world.kube.pods(NS)) == 2


def test_a_stopping_operator_ends_its_cycle_and_starts_no_other() -> None:
    # Cancelled between its batches, a stopping leader left admitted jobs without workers and
    # events; a cycle started after the stop placed jobs in its own pod's room.
    world = World()
    world.scheduler.is_leader = lambda: True
    world.scheduler.settings = replace(world.scheduler.settings, debounce_s=0, busy_debounce_s=0)
    cycles: list[str] = []
    release = asyncio.Event()

    async def cycle(now: datetime, primed: bool = True) -> bool:
        cycles.append("started")
        await release.wait()
        cycles.append("ended")
        return True

    world.scheduler.counted_cycle = cycle  # type: ignore[method-assign]

    async def scenario() -> None:
        loop = asyncio.create_task(world.scheduler.run())
        world.scheduler.poke()
        while not cycles:
            await asyncio.sleep(0.01)
        world.scheduler.stop_after_cycle()
        world.scheduler.poke()
        await asyncio.sleep(0.05)
        assert not loop.done()  # the cycle under way is not cut short
        release.set()
        await asyncio.wait_for(loop, 5)

    asyncio.run(scenario())
    assert cycles == ["started", "ended"]


def test_workers_take_no_pool_from_a_table_in_another_currency() -> None:
    # An older EUR table with a pool of the same name is left out of planning (the cluster's
    # prices are in USD): its nodeSelector, which no planned node has, was given the workers.
    world = World()
    older = table(
        "eur-old",
        pool("l4", "nvidia-l4", 0.5, nodeSelector={"pool": "nowhere"}),
        created="2025-01-01T00:00:00Z",
        currency="EUR",
    )
    world.kube.put("pricetables", older)
    world.kube.put("trainingjobs", job("placed"))
    world.cycle()
    assert world.job("placed")["pool"] == "l4"
    [worker] = world.kube.pods(NS)
    assert worker["spec"]["nodeSelector"] == {"pricewise.dev/pool": "l4"}


def test_a_service_that_cannot_be_read_for_a_while_holds_the_gang_s_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only a 403 (a Role without get on Services) lets the Service be taken as the job's: a
    # 503 let the workers of a job made again under its name be created beside the earlier
    # job's Service, which went with it.
    world = _gang_made_again()

    async def unavailable(plural: str, namespace: str, name: str) -> str | None:
        raise ApiError(503, "etcdserver: leader changed")

    monkeypatch.setattr(world.kube, "owner_uid", unavailable)
    world.cycle()
    assert world.kube.pods(NS) == []
