"""The simulated cluster: pools and prices from a PriceTable, nodes from a node-pool file.

The PriceTable is read and checked by the API model, and its pools are matched to nodes by
`nodepools.pools_from`, as in the operator. A node-pool file is either a compact list of pools
with a node count and one node shape:

    kind: NodePools
    pools:
      - pool: nvidia-tesla-v100          # a pool name of the PriceTable
        nodes: 4
        allocatable: {cpu: "64", memory: 416Gi, nvidia.com/gpu: "8"}

or Node objects (`kubectl get nodes -o yaml`), matched to pools by the PriceTable's
nodeSelector.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pricewise.api import nodepools, podrequests
from pricewise.api.manifests import ManifestError, checked_node, parse_model, read_objects
from pricewise.api.models import Pool as PoolSpec
from pricewise.api.models import PriceTable
from pricewise.core.snapshot import Node, Pool, Resources


class ClusterFileError(ValueError):
    """A PriceTable or node-pool file that cannot be used, naming the file and field."""


def read_price_tables(path: str | Path) -> tuple[list[PriceTable], str]:
    """The PriceTables of a file, checked by the API model, and their one currency."""
    tables = [
        parse_model(PriceTable, doc, str(path))
        for doc in read_objects(path, ClusterFileError)
        if doc.get("kind") == "PriceTable"
    ]
    if not tables:
        raise ClusterFileError(f"{path}: no PriceTable with pools found")
    currencies = {t.spec.currency for t in tables}
    if len(currencies) > 1:
        raise ClusterFileError(f"{path}: PriceTables use several currencies: {currencies}")
    return tables, currencies.pop()


ENTRY_FIELDS = ("pool", "nodes", "allocatable")
"""The fields of a `NodePools` entry."""
MAX_NODES = 10_000
"""Nodes of one pool in a replay: a count of 1e9 (a typo) made nodes until memory ran out."""

REFUSED = frozenset({"PoolWithoutDevices", "PoolWithoutPrice"})
"""What the operator tells an admin of a pool and a replay refuses: nodes no worker fits, or
no price (every job there would cost nothing), the figures of such a replay mean nothing."""


def _node_objects(path: str | Path, specs: Sequence[PoolSpec]) -> Iterator[dict[str, Any]]:
    """Node objects: as the file gives them, or made from its `NodePools` entries with the
    labels their pool selects."""
    by_name = {spec.name: spec for spec in specs}
    # A pool given `nodes: 0` is a choice; a file with no pool at all (the PriceTable's file
    # given twice) would replay with no GPU, every job unplaced.
    given = False
    for doc in read_objects(path, ClusterFileError):
        if doc.get("kind") == "Node":
            given = True
            try:
                node = checked_node(doc, Path(path))
            except ManifestError as err:
                raise ClusterFileError(str(err)) from None
            yield node
        elif doc.get("kind") == "NodePools":
            pools = doc.get("pools") or []
            if not isinstance(pools, list) or not all(isinstance(i, dict) for i in pools):
                raise ClusterFileError(
                    f"{path}: pools must be a list of {{pool, nodes, allocatable}} entries"
                )
            for item in pools:
                given = True
                name = str(item.get("pool"))
                for key in sorted(set(item) - set(ENTRY_FIELDS)):
                    close = difflib.get_close_matches(str(key), ENTRY_FIELDS, n=1)
                    fix = f"did you mean {close[0]}?" if close else "remove it"
                    raise ClusterFileError(f"{path}: pool {name}: unknown field {key}; {fix}")
                if name not in by_name:
                    raise ClusterFileError(f"{path}: pool {name!r} is not in the PriceTable")
                count = item.get("nodes")
                if not isinstance(count, int) or not 0 <= count <= MAX_NODES:
                    raise ClusterFileError(
                        f"{path}: pool {name}: nodes must be a whole number from 0 to {MAX_NODES:,}"
                    )
                if not isinstance(item.get("allocatable") or {}, dict):
                    raise ClusterFileError(f"{path}: pool {name}: allocatable must be a map")
                allocatable = dict(item.get("allocatable") or {})
                _check(f"{path}: pool {name}", allocatable)
                for i in range(count):
                    yield {
                        "metadata": {
                            "name": f"{name}-{i}",
                            "labels": dict(by_name[name].node_selector),
                        },
                        "status": {"allocatable": allocatable},
                    }
    if not given:
        raise ClusterFileError(
            f"{path}: no NodePools or Node objects in the file; give `kind: NodePools` with "
            "`pools: [{pool, nodes, allocatable}]`, or the output of `kubectl get nodes -o yaml`"
        )


def _check(where: str, allocatable: Mapping[str, Any]) -> None:
    try:
        podrequests.resources_of(allocatable, room=True)
    except (ValueError, TypeError) as err:
        raise ClusterFileError(f"{where}: {err}") from None


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
    tables, currency = read_price_tables(price_table)
    specs = [spec for table in tables for spec in table.spec.pools]
    pools, problems = nodepools.pools_from(tables, list(_node_objects(node_pools, specs)))
    refused = [f"{price_table}: {p.message}" for p in problems if p.reason in REFUSED]
    if refused:
        raise ClusterFileError("; ".join(refused))
    names = [p.name for p in pools]
    by_name = {p.name: p for p in pools}
    for name, count in (node_counts or {}).items():
        if name not in by_name:
            raise ClusterFileError(f"--nodes: no pool {name!r} (pools: {', '.join(names)})")
        nodes = by_name[name].nodes
        if count and not nodes:
            raise ClusterFileError(f"--nodes: pool {name} has no node shape to copy")
        shape = nodes[0].allocatable if nodes else Resources()
        copies = tuple(Node(f"{name}-{i}", shape, shape) for i in range(count))
        by_name[name] = replace(by_name[name], nodes=copies)
    rank = {name: i for i, name in enumerate(order or names)}
    unknown = set(rank) - set(names)
    if unknown:
        raise ClusterFileError(f"--order: no pool(s) {', '.join(sorted(unknown))}")
    if order and len(rank) < len(order):
        twice = sorted({name for name in order if order.count(name) > 1})
        raise ClusterFileError(f"--order: {', '.join(twice)} given twice; name each pool once")
    # Pools left out of --order go after the listed ones, in the table's order.
    ordered = [
        replace(pool, order=rank.get(pool.name, len(rank) + names.index(pool.name)))
        for pool in by_name.values()
    ]
    return tuple(sorted(ordered, key=lambda p: p.order)), currency
