"""The kopf edge: watch events feed the cache and wake the scheduler; a deleted job's accruals
and a changing price are settled first, through the scheduler. Nothing else happens here.

Only event handlers are used, so kopf puts no finalizers or annotations on anyone's objects.
Every handler is a coroutine: kopf runs plain functions in a thread pool, and the cache and
the scheduler's wake-up event belong to the event loop, where the cycle reads them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import kopf

from pricewise.api.models import GROUP, VERSION
from pricewise.api.naming import JOB_LABEL
from pricewise.api.nodepools import price_changes
from pricewise.controller import serving
from pricewise.controller.accountant import Accountant
from pricewise.controller.cache import Cache
from pricewise.controller.config import OperatorConfig, from_environment
from pricewise.controller.leader import RENEW_DEADLINE_S, RETRY_S, LeaseElector
from pricewise.controller.metrics import Metrics
from pricewise.controller.records import gone_at, key_of, same_version
from pricewise.controller.scheduler import LoopSettings, Scheduler
from pricewise.core.preemption import PreemptionSettings
from pricewise.kube import ApiError, Kube, load_configuration, purpose

log = logging.getLogger(__name__)
CACHE = Cache()
STOP_WITHIN_S = 20.0
"""How long a stopping operator lets its cycle end: within a pod's default grace period of 30 s,
with time left to give the Lease back."""
_state: dict[str, Any] = {}


def configure(metrics: socket.socket, config: OperatorConfig) -> None:
    """Settings from the command line and the environment, taken before kopf starts the
    handlers: the metrics port already bound (`serving.bind_metrics_port`), and the
    configuration."""
    _state["metrics_socket"] = metrics
    _state["config"] = config


class NoDiffBase(kopf.DiffBaseStorage):
    """No diff base: kopf builds one for every watch event (a deep copy of the body) for
    create/update handlers to diff against, and this operator has none. In a burst that copy
    was a tenth of the operator's CPU."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        """An empty essence: nothing is ever diffed."""
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        """No stored essence."""
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        """Nothing to store (and so no annotation on anyone's object)."""


def _scheduler() -> Scheduler | None:
    scheduler: Scheduler | None = _state.get("scheduler")
    return scheduler


def _poke() -> None:
    scheduler = _scheduler()
    if scheduler is not None:
        scheduler.poke()


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Configure kopf, then start the scheduling loop and the leader election."""
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.persistence.diffbase_storage = NoDiffBase()
    config: OperatorConfig = _state.get("config") or from_environment()
    log.info("settings: %s", config.describe())
    kube = Kube(load_configuration())
    if config.reclaim_taints is not None:
        CACHE.reclaim_taints = config.reclaim_taints
    # The Lease on a client of its own: the scheduler's writes stop once it lapses.
    elector = LeaseElector(
        Kube(load_configuration()),
        config.namespace,
        "pricewise-scheduler",
        f"{socket.gethostname()}-{os.getpid()}",
    )
    kube.may_write = lambda: elector.is_leader
    accountant = Accountant(CACHE, kube, timedelta(seconds=config.accrual_s))
    solver = config.solver()
    metrics = Metrics(
        CACHE,
        accountant,
        is_leader=lambda: elector.is_leader,
        requests=lambda: kube.requests,
        backlog=lambda: scheduler.teller.queued,
        max_wait_s=solver.look_ahead.max_wait_s,  # counted past the bound the solver plans with
    )
    scheduler = Scheduler(
        CACHE,
        kube,
        accountant,
        solver,
        LoopSettings(period_s=config.period_s),
        is_leader=lambda: elector.is_leader,
        led_elsewhere=lambda: elector.led_elsewhere,
        term_started=lambda: elector.term_started,
        metrics=metrics,
        preemption=PreemptionSettings(min_run_s=config.preemption_min_run_s),
        delete_finished=config.delete_finished,
    )
    _state["scheduler"] = scheduler
    _state["elector"] = elector
    bound = _state.get("metrics_socket") or serving.bind_metrics_port(8080)
    _state["metrics_runner"] = await serving.serve_metrics(metrics, bound)
    _state["tasks"] = [
        asyncio.create_task(scheduler.run(), name="pricewise-scheduler"),
        asyncio.create_task(_elect(elector, scheduler), name="pricewise-leader"),
    ]


async def _elect(elector: LeaseElector, scheduler: Scheduler) -> None:
    while True:
        tried = time.monotonic()
        was_leader = elector.is_leader
        try:
            with purpose("leader"):
                await asyncio.wait_for(elector.try_acquire(datetime.now(UTC)), RENEW_DEADLINE_S)
        except TimeoutError:
            elector.stand_down()
            log.warning("lease renewal took over %gs: not scheduling until one goes through",
                        RENEW_DEADLINE_S)  # fmt: skip
        except (ApiError, aiohttp.ClientError, OSError) as err:
            # The API server's answer, or why none came, in a line: a traceback every 2 s made
            # most of an outage's log.
            elector.stand_down()
            log.warning("lease renewal failed: %s", str(err) or type(err).__name__)
        except Exception:
            elector.stand_down()
            log.exception("lease renewal failed")
        if elector.is_leader and not was_leader:
            log.info("leading: this replica schedules")
            scheduler.poke()
        await asyncio.sleep(max(0.0, RETRY_S - (time.monotonic() - tried)))


@kopf.on.probe(id="scheduling", errors=kopf.ErrorsMode.PERMANENT)
async def scheduling(**_: Any) -> dict[str, bool]:
    """Liveness: fails once the scheduling loop or the election has ended (an error that
    escaped them), so that the kubelet restarts the operator. kopf's own /healthz answered for
    its tasks only: a replica with a dead loop stayed up, scheduling nothing, and so alerting on
    nothing."""
    ended = [t.get_name() for t in _state.get("tasks", []) if t.done()]
    if ended:
        raise RuntimeError(f"{', '.join(ended)} ended: restart the operator")
    elector: LeaseElector | None = _state.get("elector")
    return {"leader": elector is not None and elector.is_leader}


@kopf.on.cleanup()
async def stop(**_: Any) -> None:
    """Stop the loop once its cycle has made its writes (at most `STOP_WITHIN_S`), then the
    election, giving the Lease back."""
    tasks: list[asyncio.Task[None]] = _state.pop("tasks", [])
    scheduler: Scheduler | None = _state.get("scheduler")
    if scheduler is not None and tasks:
        scheduler.stop_after_cycle()
        # The election renews the Lease meanwhile: a write after it lapsed is refused.
        done, _pending = await asyncio.wait(tasks[:1], timeout=STOP_WITHIN_S)
        if not done:
            log.warning("the scheduling cycle did not end within %gs of the stop: cut short",
                        STOP_WITHIN_S)  # fmt: skip
    for task in tasks:
        task.cancel()
    elector: LeaseElector | None = _state.pop("elector", None)
    if elector is not None:
        try:
            await elector.release()
        except ApiError as err:  # the Lease then expires by itself
            log.warning("could not give the Lease back (%s): the next leader waits for it to "
                        "expire", err)  # fmt: skip
        except Exception:
            log.warning("could not give the Lease back", exc_info=True)
        await elector.kube.close()
    scheduler = _state.pop("scheduler", None)
    if scheduler is not None:
        scheduler.teller.stop()
        await scheduler.kube.close()
    runner = _state.pop("metrics_runner", None)
    if runner is not None:
        await runner.cleanup()


@kopf.on.event(GROUP, VERSION, "trainingjobs")
async def training_job(type: str, body: kopf.Body, **_: Any) -> None:
    """TrainingJobs: submissions, spec changes, deletions. The echo of the operator's own status
    write changes nothing (the cache took the write's answer): it wakes no cycle, or every
    write of a cycle would wake the next one to re-plan what it just decided."""
    if type == "DELETED":
        scheduler = _scheduler()
        if scheduler is not None:
            scheduler.job_deleted(key_of(body), datetime.now(UTC))
        CACHE.forget_job(key_of(body))
    else:
        known = CACHE.jobs.get(key_of(body))
        if known is not None and same_version(body["metadata"], known.body["metadata"]):
            return
        CACHE.upsert_job(body)
    _poke()


@kopf.on.event(GROUP, VERSION, "pricetables")
async def price_table(type: str, body: kopf.Body, **_: Any) -> None:
    """PriceTables: pools and their prices. What ran so far is settled at the old prices
    first, so that a price change applies from now on, not retroactively. The echo of the
    operator's own status write changes no price: settling then wrote every running job's
    accrual at each echo (the statuses' free room moves at nearly every placement)."""
    if type != "DELETED" and not CACHE.price_table_changed(body):
        CACHE.restore_exposure(body)  # a standby goes on from what its leader saw
        return
    scheduler = _scheduler()
    if scheduler is not None:
        scheduler.prices_changing(datetime.now(UTC))
    name = body["metadata"]["name"]
    old = CACHE.price_tables.get(name)
    if type == "DELETED":
        CACHE.forget_price_table(name)
    else:
        CACHE.upsert_price_table(body)
    new = CACHE.price_tables.get(name)
    if scheduler is not None and old is not None and new is not None:
        scheduler.prices_changed(body, price_changes(old, new))
    _poke()


@kopf.on.event(GROUP, VERSION, "budgets")
async def budget(type: str, body: kopf.Body, **_: Any) -> None:
    """Budgets: limits and what was spent. The echo of the operator's own status write wakes
    no cycle: each write of a budget's figures would wake the next cycle, which writes them."""
    if type != "DELETED" and CACHE.budget_echo(body["metadata"]):
        return
    if type == "DELETED":
        CACHE.forget_budget(key_of(body))
    else:
        CACHE.upsert_budget(body)
    _poke()


@kopf.on.event("", "v1", "resourcequotas")
async def resource_quota(type: str, body: kopf.Body, **_: Any) -> None:
    """ResourceQuotas: device caps per namespace."""
    if type == "DELETED":
        CACHE.forget_quota(key_of(body))
    else:
        CACHE.upsert_quota(body)
    _poke()


@kopf.on.event("", "v1", "nodes")
async def node(type: str, body: kopf.Body, **_: Any) -> None:
    """Nodes: pool membership and allocatable. Heartbeats change nothing that matters."""
    name = body["metadata"]["name"]
    before = CACHE.nodes.get(name)
    if type == "DELETED":
        CACHE.forget_node(name)
    else:
        CACHE.upsert_node(body)
    if CACHE.nodes.get(name) != before:
        _poke()


@kopf.on.event("", "v1", "pods")
async def pod(type: str, body: kopf.Body, **_: Any) -> None:
    """Pods: they take capacity; our workers also drive their job's phase."""
    key = key_of(body)
    before = CACHE.pods.get(key)
    if type == "DELETED":
        CACHE.forget_pod(key, gone_at(body, datetime.now(UTC)))
    else:
        CACHE.upsert_pod(body)
    after = CACHE.pods.get(key)
    labels = body.get("metadata", {}).get("labels") or {}
    moved = (
        before is None or after is None or (before.node, before.phase) != (after.node, after.phase)
    )
    if moved and (JOB_LABEL in labels or type == "DELETED" or (after and after.node)):
        _poke()
