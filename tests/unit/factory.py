"""Small builders of solver inputs for the unit tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from pricewise.core.snapshot import (
    BudgetView,
    Job,
    JobOption,
    Node,
    Pool,
    PoolPrices,
    Quota,
    Resources,
    Snapshot,
)
from pricewise.core.units import to_micros

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def gpu_nodes(
    prefix: str, count: int, gpus: int = 8, free_gpus: int | None = None
) -> tuple[Node, ...]:
    """`count` nodes with `gpus` GPUs each, 96 CPUs and 1 TiB."""
    alloc = Resources(cpu=96_000, memory=1024 * 1024, gpu=gpus)
    free = Resources(cpu=96_000, memory=1024 * 1024, gpu=gpus if free_gpus is None else free_gpus)
    return tuple(Node(f"{prefix}-{i}", alloc, free) for i in range(count))


def pool(
    name: str,
    accelerator: str,
    per_device_hour: float,
    nodes: tuple[Node, ...],
    *,
    spot: bool = False,
    order: int = 0,
) -> Pool:
    """A pool priced per device-hour."""
    return Pool(
        name=name,
        accelerator=accelerator,
        capacity_type="spot" if spot else "on-demand",
        prices=PoolPrices(per_device_hour=to_micros(per_device_hour)),
        nodes=nodes,
        order=order,
    )


def option(accelerator: str, throughput: float, devices: int = 8) -> JobOption:
    """An option with `devices` GPUs per worker, 8 CPUs and 64 GiB."""
    return JobOption(
        accelerator=accelerator,
        devices_per_worker=devices,
        worker=Resources(cpu=8000, memory=64 * 1024, gpu=devices),
        throughput=throughput,
    )


def job(name: str, *options: JobOption, namespace: str = "team-a", **kw: object) -> Job:
    """A job of 3,600,000 work units (one hour at 1,000 units/s). Its options are numbered in
    order, as `spec.options` are: the solver tells two options on one pool apart by number."""
    fields: dict[str, object] = {"work": 3_600_000.0}
    fields.update(kw)
    numbered = tuple(replace(o, index=i) for i, o in enumerate(options))
    return Job(namespace=namespace, name=name, options=numbered, **fields)  # type: ignore[arg-type]


def snapshot(
    pools: list[Pool],
    jobs: list[Job],
    quotas: list[Quota] | None = None,
    budgets: list[BudgetView] | None = None,
) -> Snapshot:
    """A snapshot at NOW."""
    return Snapshot(
        now=NOW,
        pools=tuple(pools),
        jobs=tuple(jobs),
        quotas=tuple(quotas or ()),
        budgets=tuple(budgets or ()),
    )
