"""Pools from PriceTables and nodes: which nodes each pool's selector takes, what is free on
them, what keeps a pool from being used, and what an edit of a PriceTable changed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pricewise.api import fields
from pricewise.api import models as api
from pricewise.api.podrequests import (
    TERMINAL_POD_PHASES,
    device_resource,
    pod_requests,
    resources_of,
)
from pricewise.core.snapshot import (
    GPU,
    TPU,
    Node,
    Pool,
    PoolPrices,
    Resources,
)
from pricewise.core.units import to_micros


def _selector(labels: Mapping[str, str]) -> str:
    """Labels as `kubectl get -l` takes them, keys sorted as Kubernetes prints a selector:
    `pricewise.dev/pool=l4,zone=a`."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Whether a pool's node selector picks a node of these labels."""
    return all(labels.get(k) == v for k, v in selector.items())


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    labels: Mapping[str, str] = (obj.get("metadata") or {}).get("labels") or {}
    return labels


def _schedulable(node: Mapping[str, Any]) -> bool:
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return True


def node_usage(pods: Iterable[Mapping[str, Any]]) -> dict[str, Resources]:
    """Requests of the live pods bound to each node."""
    used: dict[str, Resources] = {}
    for pod in pods:
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name or (pod.get("status") or {}).get("phase") in TERMINAL_POD_PHASES:
            continue
        used[node_name] = used.get(node_name, Resources()) + pod_requests(pod["spec"])
    return used


@dataclass(frozen=True)
class PoolProblem:
    """Something about a pool an admin should fix, for the conditions of the PriceTables named."""

    tables: tuple[str, ...]
    reason: str
    message: str
    pool: str = ""
    """The pool left out of its table: its name an older table uses, or its selector one no
    node can match."""


def _pool(spec: api.Pool, members: list[Node], order: int, unavailable: list[Node]) -> Pool:
    return Pool(
        name=spec.name,
        accelerator=spec.accelerator,
        capacity_type=spec.capacity_type,
        prices=PoolPrices(
            per_device_hour=to_micros(spec.prices.per_device_hour),
            per_cpu_hour=to_micros(spec.prices.per_cpu_hour),
            per_gib_hour=to_micros(spec.prices.per_gib_hour),
            per_node_hour=to_micros(spec.prices.per_node_hour),
        ),
        nodes=tuple(sorted(members, key=lambda n: n.name)),
        order=order,
        power_per_device_watts=spec.power_per_device_watts,
        unavailable=tuple(unavailable),
        interruption_rate=spec.interruption_rate if spec.capacity_type == "spot" else 0.0,
    )


def pools_from(
    tables: Iterable[api.PriceTable],
    nodes: Iterable[Mapping[str, Any]],
    used: Mapping[str, Resources] | None = None,
) -> tuple[tuple[Pool, ...], list[PoolProblem]]:
    """Pools with their schedulable nodes' free room, and problems worth an admin's attention.

    `tables` come oldest first: a node two pools select belongs to the first pool that selects
    it, so a table added later can never take over nodes that are already priced; a pool name
    already used by an earlier table is left out. Both are reported to the table that came
    later, whose pools they change: the older one works as it did, and stays Ready.
    """
    used = used or {}
    node_list = list(nodes)
    pools: list[Pool] = []
    problems: list[PoolProblem] = []
    owner: dict[str, tuple[str, str]] = {}
    """node name -> (table, pool) it is counted in."""
    selector: dict[tuple[str, str], dict[str, str]] = {}
    pool_table: dict[str, str] = {}
    for table in tables:
        here = table.metadata.name
        for spec in table.spec.pools:
            if spec.name in pool_table:
                first = pool_table[spec.name]
                message = (
                    f"pool {spec.name} is defined by PriceTable {first} and {here}; "
                    f"only {first}'s is used"
                )
                problems.append(PoolProblem((here,), "DuplicatePool", message, spec.name))
                continue
            pool_table[spec.name] = here
            bad = next(
                (why for k, v in spec.node_selector.items() if (why := fields.bad_label(k, v))),
                None,
            )
            if bad is not None:
                # No node can match it; said as such, not as nodes missing.
                message = f"pool {spec.name}: spec.nodeSelector: {bad}; it is not used"
                problems.append(PoolProblem((here,), "InvalidSelector", message, spec.name))
                continue
            selector[(here, spec.name)] = spec.node_selector
            members: list[Node] = []
            unavailable: list[Node] = []
            taken: dict[tuple[str, str], list[str]] = {}
            """(table, pool) that counts nodes this pool selects too: those nodes."""
            for node in node_list:
                labels = _labels(node)
                if not selects(spec.node_selector, labels):
                    continue
                name = node["metadata"]["name"]
                if name in owner:
                    taken.setdefault(owner[name], []).append(name)
                    continue
                owner[name] = (here, spec.name)
                allocatable = resources_of(
                    (node.get("status") or {}).get("allocatable") or {}, room=True
                )
                if not _schedulable(node):
                    unavailable.append(Node(name, allocatable, Resources()))
                    continue
                members.append(Node(name, allocatable, allocatable - used.get(name, Resources())))
            for (first_table, first_pool), names in taken.items():
                narrower = selector[(first_table, first_pool)].items()
                if first_table == here and narrower > spec.node_selector.items():
                    # A pool listed first in the same table whose selector adds labels to this
                    # one's (a spot pool before the on-demand pool of its machine type, as
                    # `prices init` writes them): meant, as a selector cannot say a label is
                    # absent.
                    continue
                # No count: it would rewrite the table's status at every scale-up.
                listed = ", ".join(names[:3]) + (", ..." if names[3:] else "")
                problems.append(
                    PoolProblem(
                        (here,),
                        "NodeInTwoPools",
                        f"node(s) {listed} match pools {first_pool} ({first_table}) and "
                        f"{spec.name} ({here}); they are counted in {first_pool} only",
                    )
                )
            if not members and not unavailable and not taken:
                problems.append(
                    PoolProblem(
                        (here,),
                        "PoolWithoutNodes",
                        f"pool {spec.name} matches no node (selector "
                        f"{_selector(spec.node_selector)})",
                    )
                )
            elif without := _without_devices(spec, members):
                problems.append(PoolProblem((here,), "PoolWithoutDevices", without))
            if not spec.prices.model_fields_set:
                # Unset prices are zero: the pool is free, and every job that can run there
                # goes there first, which an admin rarely means (a typo, a pool to price later).
                problems.append(
                    PoolProblem(
                        (here,),
                        "PoolWithoutPrice",
                        f"pool {spec.name} has no price: jobs placed there cost nothing; set "
                        "its prices (perDeviceHour, perCpuHour, perGiBHour or perNodeHour, 0 "
                        "for a free pool; `pricewise prices import` fills them from a catalog)",
                    )
                )
            elif (
                device_resource(spec.accelerator) is None
                and spec.prices.per_device_hour > 0
                and not (
                    spec.prices.per_cpu_hour
                    or spec.prices.per_gib_hour
                    or spec.prices.per_node_hour
                )
            ):
                # A cpu pool's workers ask for no device: a price per device is never charged.
                problems.append(
                    PoolProblem(
                        (here,),
                        "PoolWithoutPrice",
                        f"pool {spec.name} is priced perDeviceHour only, but a cpu pool's "
                        "workers ask for no GPU or TPU: jobs placed there cost nothing; price "
                        "its CPU cores with perCpuHour (and memory with perGiBHour)",
                    )
                )
            pools.append(_pool(spec, members, len(pools), unavailable))
    return tuple(pools), problems


def _without_devices(spec: api.Pool, members: list[Node]) -> str:
    """Why no worker can ever fit the pool's nodes, when the device its accelerator name asks
    for is on none of them (a TPU pool named `v5e` asks for GPUs); empty when some node has it.
    """
    device = device_resource(spec.accelerator)
    if device is None or not members:
        return ""
    if any(n.allocatable.tpu if device == TPU else n.allocatable.gpu for n in members):
        return ""
    # No node count in the message: it would rewrite the table's status at every scale-up.
    return (
        f"pool {spec.name}: accelerator {spec.accelerator} asks each worker for {device}, which "
        f"none of its nodes has, so no job can run there: either its nodes' device plugin has "
        f"not registered yet, or the name is wrong (an accelerator named tpu-... asks for "
        f"{TPU}, cpu for CPU cores, any other name for {GPU})"
    )


def price_changes(old: api.PriceTable, new: api.PriceTable) -> str:
    """What a PriceTable edit changed in its pools' prices, for an event on it; empty where
    nothing did. One phrase a pool, in the new table's order: `nvidia-l4 perDeviceHour 0.7 -> 2
    USD`, a pool added (at its prices) or taken out (its running jobs go on at their last
    prices); where a pool's prices moved, what that does to running and waiting jobs."""
    before = {p.name: p.prices.model_dump(by_alias=True) for p in old.spec.pools}
    currency, said, repriced = new.spec.currency, [], False
    for pool in new.spec.pools:
        now = pool.prices.model_dump(by_alias=True)
        was = before.get(pool.name)
        if was is None:
            prices = [f"{unit} {price:.15g}" for unit, price in now.items() if price]
            said.append(f"{pool.name} added at {', '.join(prices) or 'no price'} {currency}")
            continue
        # As written: six figures (`:g`) read 10.97906 as 10.9791.
        moved = [
            f"{unit} {was[unit]:.15g} -> {now[unit]:.15g}" for unit in now if was[unit] != now[unit]
        ]
        if moved:
            said.append(f"{pool.name} {', '.join(moved)} {currency}")
            repriced = True
    after = {p.name for p in new.spec.pools}
    said += [
        f"{name} taken out (jobs running on it go on accruing at its last prices)"
        for name in before
        if name not in after
    ]
    if not said:
        return ""
    message = f"prices changed: {'; '.join(said)}"
    if repriced:
        message += (
            ". Running jobs accrue at the new prices from the change on, and their estimates "
            "and budgets' committed follow; waiting jobs are planned at them"
        )
    return message
