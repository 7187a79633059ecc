"""The simulated cluster: pools and prices from a PriceTable, nodes from a node-pool file.

The simulator belongs to the pure core, so it reads these YAML files itself instead of going
through the API models: only the fields placement needs are read, and a missing or malformed
one is named with its file.

A node-pool file is either a compact list of pools with a node count and one node shape:

    kind: NodePools
    pools:
      - pool: nvidia-tesla-v100          # a pool name of the PriceTable
        nodes: 4
        allocatable: {cpu: "64", memory: 416Gi, nvidia.com/gpu: "8"}

or Node objects (`kubectl get nodes -o yaml`), matched to pools by the PriceTable's
nodeSelector like the operator does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pricewise.api.convert import resources_of
from pricewise.api.manifests import read_objects
from pricewise.core.snapshot import Node, Pool, PoolPrices, Resources
from pricewise.core.units import to_micros


class ClusterFileError(ValueError):
    """A PriceTable or node-pool file that cannot be used, naming the file and field."""


def _resources(where: str, values: Mapping[str, Any]) -> Resources:
    try:
        return resources_of(values)
    except (ValueError, TypeError) as err:
        raise ClusterFileError(f"{where}: {err}") from None


def _price(where: str, prices: Mapping[str, Any], key: str) -> int:
    value = prices.get(key, 0)
    if not isinstance(value, int | float) or value < 0:
        raise ClusterFileError(f"{where}: prices.{key} must be a number >= 0 (got {value!r})")
    return to_micros(float(value))


def read_price_table(path: str | Path) -> tuple[list[dict[str, Any]], str]:
    """The pool entries of the PriceTable(s) in a file, in order, and their currency."""
    pools: list[dict[str, Any]] = []
    currencies = set()
    for doc in read_objects(path, ClusterFileError):
        if doc.get("kind") != "PriceTable":
            continue
        spec = doc.get("spec") or {}
        currencies.add(spec.get("currency", "USD"))
        entries = spec.get("pools")
        if not isinstance(entries, list) or not entries:
            raise ClusterFileError(f"{path}: PriceTable spec.pools must be a non-empty list")
        pools.extend(entries)
    if not pools:
        raise ClusterFileError(f"{path}: no PriceTable with pools found")
    if len(currencies) > 1:
        raise ClusterFileError(f"{path}: PriceTables use several currencies: {currencies}")
    return pools, currencies.pop()


def _nodes_by_pool(path: str | Path, entries: Sequence[Mapping[str, Any]]) -> dict[str, list[Node]]:
    found: dict[str, list[Node]] = {str(e.get("name")): [] for e in entries}
    for doc in read_objects(path, ClusterFileError):
        if doc.get("kind") == "NodePools":
            for item in doc.get("pools") or []:
                name = str(item.get("pool"))
                if name not in found:
                    raise ClusterFileError(f"{path}: pool {name!r} is not in the PriceTable")
                count = item.get("nodes")
                if not isinstance(count, int) or count < 0:
                    raise ClusterFileError(f"{path}: pool {name}: nodes must be an integer >= 0")
                shape = _resources(f"{path}: pool {name}", item.get("allocatable") or {})
                found[name].extend(Node(f"{name}-{i}", shape, shape) for i in range(count))
        elif doc.get("kind") == "Node":
            labels = (doc.get("metadata") or {}).get("labels") or {}
            for entry in entries:
                selector = entry.get("nodeSelector") or {}
                if selector and all(labels.get(k) == v for k, v in selector.items()):
                    name = doc["metadata"]["name"]
                    shape = _resources(
                        f"{path}: node {name}", (doc.get("status") or {}).get("allocatable") or {}
                    )
                    found[str(entry.get("name"))].append(Node(name, shape, shape))
                    break  # a node belongs to the first pool that selects it, as in the operator
    return found


def load_pools(
    price_table: str | Path,
    node_pools: str | Path,
    node_counts: Mapping[str, int] | None = None,
    order: Sequence[str] | None = None,
) -> tuple[tuple[Pool, ...], str]:
    """The cluster's pools, every node empty, and the currency of their prices.

    `node_counts` overrides the number of nodes of a pool (same shape as its first node);
    `order` overrides the PriceTable's order of preference (what first-fit tries first).
    """
    entries, currency = read_price_table(price_table)
    nodes = _nodes_by_pool(node_pools, entries)
    names = [str(e.get("name")) for e in entries]
    for name, count in (node_counts or {}).items():
        if name not in nodes:
            raise ClusterFileError(f"--nodes: no pool {name!r} (pools: {', '.join(names)})")
        if count and not nodes[name]:
            raise ClusterFileError(f"--nodes: pool {name} has no node shape to copy")
        shape = nodes[name][0].allocatable if nodes[name] else Resources()
        nodes[name] = [Node(f"{name}-{i}", shape, shape) for i in range(count)]
    rank = {name: i for i, name in enumerate(order or names)}
    unknown = set(rank) - set(names)
    if unknown:
        raise ClusterFileError(f"--order: no pool(s) {', '.join(sorted(unknown))}")
    pools = []
    for entry in entries:
        name = str(entry.get("name"))
        where = f"{price_table}: pool {name}"
        if not entry.get("accelerator"):
            raise ClusterFileError(f"{where}: accelerator is required")
        prices = entry.get("prices") or {}
        pools.append(
            Pool(
                name=name,
                accelerator=str(entry["accelerator"]),
                capacity_type=str(entry.get("capacityType", "on-demand")),
                prices=PoolPrices(
                    per_device_hour=_price(where, prices, "perDeviceHour"),
                    per_cpu_hour=_price(where, prices, "perCpuHour"),
                    per_gib_hour=_price(where, prices, "perGiBHour"),
                    per_node_hour=_price(where, prices, "perNodeHour"),
                ),
                nodes=tuple(nodes[name]),
                # Pools left out of --order go after the listed ones, in the table's order.
                order=rank.get(name, len(rank) + names.index(name)),
            )
        )
    return tuple(sorted(pools, key=lambda p: p.order)), currency
