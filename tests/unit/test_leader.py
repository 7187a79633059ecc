"""Leader election: what a replica that waits for the Lease says, when a leader stops leading,
and the liveness probe over the scheduling loop and the election."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from factory import NOW
from fake_kube import run_cycle
from test_isolation import NS, World, job

from pricewise.controller import handlers, leader, scheduler
from pricewise.controller.leader import LeaseElector
from pricewise.controller.scheduler import LoopSettings
from pricewise.core.accounting import Span
from pricewise.core.times import micro_timestamp


class Leases:
    """The one Lease of a namespace, as the API server keeps it."""

    def __init__(self, holder: str) -> None:
        self.lease: dict[str, Any] = {
            "metadata": {"name": "pricewise", "namespace": "ops"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                     "renewTime": micro_timestamp(NOW)},
        }  # fmt: skip

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.lease

    async def write_lease(self, lease: dict[str, Any], create: bool) -> None:
        self.lease = lease


def test_a_replica_says_once_whose_lease_it_waits_for_then_takes_it_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kube = Leases("pricewise-old")
    elector = LeaseElector(kube, "ops", "pricewise", "pricewise-new")  # type: ignore[arg-type]
    caplog.set_level(logging.INFO, "pricewise.controller")
    for seconds in (1, 6, 11):
        assert not asyncio.run(elector.try_acquire(NOW + timedelta(seconds=seconds)))
    (said,) = [r.getMessage() for r in caplog.records]
    assert said.startswith("standing by: Lease ops/pricewise is held by pricewise-old (renewed ")
    assert said.endswith("taken over if not renewed within 15s)")
    assert asyncio.run(elector.try_acquire(NOW + timedelta(seconds=16)))
    assert kube.lease["spec"]["holderIdentity"] == "pricewise-new"


def test_a_leader_s_term_begins_when_it_takes_the_lease_not_at_each_renewal() -> None:
    # An admitted gang's wait for its nodes counts from the term's start at the earliest: a
    # term kept from before another replica led released such gangs at once.
    kube = Leases("")
    clock = [100.0]
    a = LeaseElector(kube, "ops", "pricewise", "a", clock=lambda: clock[0])  # type: ignore[arg-type]
    assert a.term_started is None
    assert asyncio.run(a.try_acquire(NOW))
    assert a.term_started == NOW
    clock[0] += 5
    assert asyncio.run(a.try_acquire(NOW + timedelta(seconds=5)))
    assert a.term_started == NOW  # a renewal
    clock[0] += 20  # its renewals lapsed; b takes the Lease, then a takes it back from b
    assert not a.is_leader and a.term_started is None
    b = LeaseElector(kube, "ops", "pricewise", "b")  # type: ignore[arg-type]
    assert asyncio.run(b.try_acquire(NOW + timedelta(seconds=30)))
    assert asyncio.run(a.try_acquire(NOW + timedelta(seconds=60)))
    assert a.term_started == NOW + timedelta(seconds=60)


class Hanging(Leases):
    """An API server whose answers stop coming (a half-open connection)."""

    hang = False

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self.hang:
            await asyncio.sleep(3600)
        return self.lease


def test_a_leader_whose_renewals_stop_going_through_stops_leading_before_the_lease_ends() -> None:
    kube = Hanging("")
    clock = [100.0]
    elector = LeaseElector(kube, "ops", "pricewise", "a", clock=lambda: clock[0])  # type: ignore[arg-type]
    assert asyncio.run(elector.try_acquire(NOW)) and elector.is_leader
    clock[0] += 9.9
    assert elector.is_leader
    # The renewal hangs: another replica may take the Lease 15 s after the last renewTime, so
    # this one must have stopped by then, whatever the HTTP client's own timeout.
    kube.hang = True

    async def renew() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(elector.try_acquire(NOW + timedelta(seconds=10)), 0.01)

    asyncio.run(renew())
    clock[0] += 0.2
    assert not elector.is_leader
    other = LeaseElector(kube, "ops", "pricewise", "b")  # type: ignore[arg-type]
    kube.hang = False
    assert asyncio.run(other.try_acquire(NOW + timedelta(seconds=16))) and other.is_leader
    assert not elector.is_leader


def test_liveness_fails_once_the_scheduling_loop_has_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    async def probe() -> None:
        async def crash() -> None:
            raise ValueError("an error the loop did not catch")

        loop = asyncio.create_task(asyncio.sleep(3600), name="pricewise-scheduler")
        election = asyncio.create_task(asyncio.sleep(3600), name="pricewise-leader")
        monkeypatch.setitem(handlers._state, "tasks", [loop, election])
        assert await handlers.scheduling() == {"leader": False}
        loop.cancel()
        crashed = asyncio.create_task(crash(), name="pricewise-scheduler")
        monkeypatch.setitem(handlers._state, "tasks", [crashed, election])
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match=r"^pricewise-scheduler ended: restart the"):
            await handlers.scheduling()
        assert isinstance(crashed.exception(), ValueError)
        election.cancel()

    asyncio.run(probe())


def test_a_leader_whose_renewals_are_slow_keeps_leading(monkeypatch: pytest.MonkeyPatch) -> None:
    # Scaled down tenfold: renewals of 0.3 s (a GET and a PUT of 0.15 s), a renew deadline of
    # 1 s, tries every 0.2 s from the start of the last. Tries 0.5 s after each one ended
    # lapsed the leader on every second renewal: it stopped scheduling, and its metrics went.
    monkeypatch.setattr(leader, "RENEW_DEADLINE_S", 1.0)
    monkeypatch.setattr(handlers, "RENEW_DEADLINE_S", 1.0)
    monkeypatch.setattr(handlers, "RETRY_S", 0.2)

    class Slow(Leases):
        async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
            await asyncio.sleep(0.15)
            return self.lease

        async def write_lease(self, lease: dict[str, Any], create: bool) -> None:
            await asyncio.sleep(0.15)
            self.lease = lease

    class Loop:
        def poke(self) -> None:
            pass

    async def watch() -> list[bool]:
        elector = LeaseElector(Slow("me"), "ops", "pricewise", "me")  # type: ignore[arg-type]
        task = asyncio.create_task(handlers._elect(elector, Loop()))  # type: ignore[arg-type]
        await asyncio.sleep(0.5)  # the first renewal
        seen = []
        for _ in range(40):
            await asyncio.sleep(0.05)
            seen.append(elector.is_leader)
        task.cancel()
        return seen

    assert all(asyncio.run(watch()))


def test_only_a_leader_seen_elsewhere_drops_what_departed_for_billing() -> None:
    # Pods that ended unbilled are the leader's to bill: a lapse of this replica's own
    # renewals (an API server slow to answer) dropped them, though no other replica led.
    world = World()
    world.scheduler.settings = LoopSettings(debounce_s=0.0, period_s=0.01)
    world.scheduler.is_leader = lambda: False
    gone = Span(NOW - timedelta(hours=1), NOW)

    async def spin() -> dict[tuple[str, str], list[Span]]:
        world.cache.departed[(NS, "j")] = [gone]
        await asyncio.sleep(0.1)
        return dict(world.cache.departed)

    async def both() -> None:
        task = asyncio.create_task(world.scheduler.run())
        assert await spin() == {(NS, "j"): [gone]}
        world.scheduler.led_elsewhere = lambda: True
        assert await spin() == {}
        task.cancel()

    asyncio.run(both())


def test_a_cycle_whose_lease_lapses_during_the_solve_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Leading was checked once, before the cycle: a solve of 10 s begun 9.9 s after the last
    # renewal placed workers and wrote statuses after another replica could take the Lease.
    world = World()
    world.kube.put("trainingjobs", job("a"))
    leading = [True]
    world.scheduler.is_leader = lambda: leading[0]
    solve = scheduler.solve_isolated

    def lapsing(*args: Any) -> Any:
        leading[0] = False
        return solve(*args)

    monkeypatch.setattr(scheduler, "solve_isolated", lapsing)
    plan = run_cycle(world.scheduler, NOW)
    assert [d.job.name for d in plan.placed] == ["a"]  # decided, but not written
    assert world.kube.pods(NS) == []
    assert world.job("a").get("phase") in (None, "Pending")


def test_a_renewal_the_api_server_does_not_answer_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Every failed renewal logged a 52-line traceback, every 2 s: most of an outage's log.
    monkeypatch.setattr(handlers, "RETRY_S", 0.05)

    class Down(Leases):
        async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
            raise aiohttp.ClientConnectionError("Cannot connect to host 10.0.0.1:443")

    class Loop:
        def poke(self) -> None:
            pass

    async def watch() -> None:
        elector = LeaseElector(Down("me"), "ops", "pricewise", "me")  # type: ignore[arg-type]
        task = asyncio.create_task(handlers._elect(elector, Loop()))  # type: ignore[arg-type]
        await asyncio.sleep(0.12)
        task.cancel()

    caplog.set_level(logging.INFO, "pricewise.controller")
    asyncio.run(watch())
    failed = [r for r in caplog.records if r.getMessage().startswith("lease renewal failed")]
    assert failed and all(r.exc_info is None for r in failed)
    assert failed[0].getMessage() == ("lease renewal failed: Cannot connect to host 10.0.0.1:443")
