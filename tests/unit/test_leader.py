"""Leader election: what a replica that waits for the Lease says."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from factory import NOW

from pricewise.controller.leader import LeaseElector
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
