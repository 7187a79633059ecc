"""`pricewise prices init`: propose PriceTable pools from the labels managed Kubernetes puts on
nodes, one pool per (node pool, capacity type), priced later by `pricewise prices import`.

Node pools come from GKE (`cloud.google.com/gke-nodepool`), EKS (`eks.amazonaws.com/nodegroup`)
or Karpenter (`karpenter.sh/nodepool`), else from the instance type. A node pool whose nodes
are of several instance types (a Karpenter NodePool allowing g6 and p5, say) becomes one pool
per instance type, selected by `node.kubernetes.io/instance-type`: one price per pool is only
right when its nodes are the same machine. Each pool records its devices per node, which a
catalog row of a machine with attached GPUs does not say. Accelerators keep pricewise's names
(so existing TrainingJobs still match); the clouds' names map to them through `ACCELERATORS`,
which `--map CLOUD=PRICEWISE` extends.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from pricewise.api.manifests import ManifestError, parse_model, read_nodes
from pricewise.api.models import PriceTable
from pricewise.api.podrequests import resources_of

NODEPOOL_LABELS = (
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "karpenter.sh/nodepool",
)
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
REGION = "topology.kubernetes.io/region"
GKE_ACCELERATOR = "cloud.google.com/gke-accelerator"
GKE_TPU = "cloud.google.com/gke-tpu-accelerator"
GKE_SPOT = "cloud.google.com/gke-spot"

ACCELERATORS: dict[str, str] = {
    # GKE's accelerator labels
    "nvidia-tesla-t4": "nvidia-t4",
    "nvidia-tesla-p100": "nvidia-p100",
    "nvidia-tesla-v100": "nvidia-v100",
    "nvidia-tesla-a100": "nvidia-a100",
    "nvidia-a100-80gb": "nvidia-a100-80gb",
    "nvidia-l4": "nvidia-l4",
    "nvidia-h100-80gb": "nvidia-h100",
    "nvidia-h100-mega-80gb": "nvidia-h100",
    "nvidia-h200-141gb": "nvidia-h200",
    "tpu-v4-podslice": "tpu-v4",
    "tpu-v5-lite-podslice": "tpu-v5e",
    "tpu-v5p-slice": "tpu-v5p",
    "tpu-v6e-slice": "tpu-v6e",
    # AWS instance families (EKS and Karpenter label no accelerator, the family says it)
    "p3": "nvidia-v100",
    "p4d": "nvidia-a100",
    "p4de": "nvidia-a100-80gb",
    "p5": "nvidia-h100",
    "p5e": "nvidia-h200",
    "p5en": "nvidia-h200",
    "g5": "nvidia-a10g",
    "g6": "nvidia-l4",
}
"""The cloud's name (a GKE label value, or an AWS instance family) -> pricewise's name."""


class DiscoveryError(ValueError):
    """Nodes from which no pool can be proposed, with why."""


@dataclass
class ProposedPool:
    """A pool as found on the nodes."""

    name: str
    accelerator: str
    capacity_type: str
    node_selector: dict[str, str]
    instance_type: str | None
    region: str | None
    cloud_accelerator: str | None
    """The cloud's name the accelerator was found under (None for `cpu`)."""
    nodes: list[str] = field(default_factory=list)
    devices_per_node: int = 0
    note: str | None = None
    """Why the pool is not its whole node pool, when it is not."""


def _capacity_type(labels: Mapping[str, str]) -> str:
    spot = (
        labels.get(GKE_SPOT) == "true"
        or labels.get("cloud.google.com/gke-provisioning") == "spot"
        or labels.get("eks.amazonaws.com/capacityType", "").upper() == "SPOT"
        or labels.get("karpenter.sh/capacity-type") == "spot"
    )
    return "spot" if spot else "on-demand"


def _capacity_selector(labels: Mapping[str, str]) -> dict[str, str]:
    """The label that tells spot from on-demand on this cloud, when one does. GKE labels its
    spot nodes alone (`cloud.google.com/gke-spot: "true"`): its on-demand pool's selector also
    matches them, so `propose` lists the spot pool first, and a node belongs to the first pool
    that selects it."""
    for key in ("eks.amazonaws.com/capacityType", "karpenter.sh/capacity-type"):
        if key in labels:
            return {key: labels[key]}
    if labels.get(GKE_SPOT) == "true":
        return {GKE_SPOT: "true"}
    return {}


def accelerator_of(node: Mapping[str, Any], names: Mapping[str, str]) -> tuple[str, str | None]:
    """pricewise's accelerator name for a node, and the cloud's name it was found under: from
    GKE's labels, the AWS instance family, or `cpu` for a node without devices. Raises
    DiscoveryError for a device it cannot name."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    for key in (GKE_ACCELERATOR, GKE_TPU):
        if key in labels:
            cloud = labels[key]
            if cloud not in names:
                raise DiscoveryError(f"{key}={cloud}: unknown accelerator; add --map {cloud}=NAME")
            return names[cloud], cloud
    family = labels.get(INSTANCE_TYPE, "").split(".")[0]
    # The family before the devices: a GPU node whose device plugin has not started yet shows
    # none, and would otherwise be proposed as a CPU pool.
    if family in names:
        return names[family], family
    if not _devices(node):
        return "cpu", None
    name = (node.get("metadata") or {}).get("name")
    raise DiscoveryError(
        f"node {name} has devices but no accelerator label, and instance family {family!r} is "
        f"not in the table; add --map {family or 'FAMILY'}=NAME"
    )


def _devices(node: Mapping[str, Any]) -> int:
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    try:
        return resources_of(allocatable).devices
    except ValueError as err:
        name = (node.get("metadata") or {}).get("name")
        raise DiscoveryError(f"node {name}: status.allocatable: {err}") from None


def _pool_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:63].rstrip("-") or "pool"


UNPOOLED = f"no node pool label ({', '.join(NODEPOOL_LABELS)}) and no {INSTANCE_TYPE}"
"""Why a node is in no proposed pool."""


def unpooled(nodes: Iterable[Mapping[str, Any]]) -> list[str]:
    """The nodes `propose` leaves out: with no label to group them by (`UNPOOLED`)."""
    return [
        str((node.get("metadata") or {}).get("name"))
        for node in nodes
        if _group_label((node.get("metadata") or {}).get("labels") or {}) is None
    ]


def _group_label(labels: Mapping[str, str]) -> str | None:
    return next((k for k in (*NODEPOOL_LABELS, INSTANCE_TYPE) if k in labels), None)


def propose(nodes: Iterable[Mapping[str, Any]], names: Mapping[str, str]) -> list[ProposedPool]:
    """One pool per (node pool, capacity type), split by instance type where a node pool mixes
    them, in the order first seen; nodes with no label to group them by are left out (see
    `unpooled`): one node added by hand must not keep the cluster's pools from being
    proposed."""
    nodes = list(nodes)
    groups: dict[tuple[str, str, str], dict[str | None, ProposedPool]] = {}
    for node in nodes:
        meta = node.get("metadata") or {}
        labels: Mapping[str, str] = meta.get("labels") or {}
        key_label = _group_label(labels)
        if key_label is None:
            continue
        group, capacity = labels[key_label], _capacity_type(labels)
        machines = groups.setdefault((key_label, group, capacity), {})
        machine = labels.get(INSTANCE_TYPE)
        accelerator, cloud = accelerator_of(node, names)
        pool = machines.get(machine)
        if pool is None:
            pool = machines[machine] = ProposedPool(
                name=group + ("-spot" if capacity == "spot" and not group.endswith("spot") else ""),
                accelerator=accelerator,
                cloud_accelerator=cloud,
                capacity_type=capacity,
                node_selector={key_label: group, **_capacity_selector(labels)},
                instance_type=machine,
                region=labels.get(REGION),
            )
        elif pool.accelerator != accelerator:
            raise DiscoveryError(
                f"nodes {pool.nodes[0]} and {meta.get('name')} of node pool {group} "
                f"({machine}) carry different accelerators ({pool.accelerator}, {accelerator}); "
                "put them in node pools of their own, or pass the nodes of one at a time"
            )
        pool.nodes.append(str(meta.get("name")))
        # The most any node shows: a failed device leaves a node's allocatable short of what
        # the machine, and its price, carry.
        pool.devices_per_node = max(pool.devices_per_node, _devices(node))
    if not groups and nodes:
        raise DiscoveryError(f"no node can be put in a pool: {UNPOOLED} on any")
    if not groups:
        raise DiscoveryError("no nodes given: pass `kubectl get nodes -o yaml` output")
    pools: list[ProposedPool] = []
    # A node pool's spot pool before its on-demand one where the spot selector is the narrower
    # (GKE's): listed after, it would find its nodes taken.
    first_seen = list(dict.fromkeys(key[:2] for key in groups))
    spot_first = sorted(
        groups.items(),
        key=lambda g: (first_seen.index(g[0][:2]), -len(next(iter(g[1].values())).node_selector)),
    )
    for (key_label, group, _), machines in spot_first:
        if len(machines) > 1 and key_label != INSTANCE_TYPE:
            pools.extend(_split(group, machines))
        else:
            pools.extend(machines.values())
    taken: set[str] = set()
    for pool in pools:
        name = base = _pool_name(pool.name)
        while name in taken:  # two label values that differ only in what a name may not hold
            name = f"{base[:58]}-{len(taken) + 1}"
        pool.name = name
        taken.add(name)
    return pools


def _split(group: str, machines: Mapping[str | None, ProposedPool]) -> list[ProposedPool]:
    """The pools of a node pool whose nodes are of several instance types, one per type."""
    kinds = ", ".join(f"{m} ({p.accelerator})" for m, p in machines.items())
    for machine, pool in machines.items():
        if machine is None:
            raise DiscoveryError(
                f"node {pool.nodes[0]} of node pool {group} has no {INSTANCE_TYPE}, and the "
                f"pool's other nodes are of several instance types ({kinds}): label it"
            )
        pool.name = f"{pool.name}-{machine}"
        pool.node_selector[INSTANCE_TYPE] = machine
        pool.note = f"node pool {group} mixes instance types {kinds}: one pool per type"
    return list(machines.values())


def price_table(pools: Iterable[ProposedPool], name: str, currency: str) -> dict[str, Any]:
    """A PriceTable of the pools, unpriced (`pricewise prices import` fills the prices)."""
    entries = []
    for pool in pools:
        entry: dict[str, Any] = {
            "name": pool.name,
            "accelerator": pool.accelerator,
            "capacityType": pool.capacity_type,
            "nodeSelector": pool.node_selector,
            "prices": {},
        }
        if pool.instance_type:
            entry["instanceType"] = pool.instance_type
        if pool.region:
            entry["region"] = pool.region
        if pool.devices_per_node:
            entry["devicesPerNode"] = pool.devices_per_node
        entries.append(entry)
    return {
        "apiVersion": "pricewise.dev/v1alpha1",
        "kind": "PriceTable",
        "metadata": {"name": name},
        "spec": {"currency": currency, "pools": entries},
    }


def init_table(
    files: Sequence[str], name: str, currency: str, maps: Sequence[str]
) -> tuple[str, list[str]]:
    """`pricewise prices init`: the PriceTable proposed for the nodes in `files` as YAML, with
    a header of the names it used (`maps`: CLOUD=NAME pairs over `ACCELERATORS`), and the
    warnings to say beside it. Raises ManifestError or DiscoveryError naming what to fix."""
    names = dict(ACCELERATORS)
    for pair in maps:
        cloud, _, ours = pair.partition("=")
        if not cloud or not ours:
            raise ManifestError(f"--map {pair!r}: expected CLOUD=NAME, e.g. nvidia-l4=l4")
        names[cloud] = ours
    nodes = read_nodes(files)
    pools = propose(nodes, names)
    used = sorted({(x.cloud_accelerator, x.accelerator) for x in pools if x.cloud_accelerator})
    header = "".join(f"#   {c} -> {p}\n" for c, p in used)
    header += "".join(sorted({f"# {x.note}\n" for x in pools if x.note}))
    warnings = []
    if left := unpooled(nodes):
        skipped = (
            f"{len(left)} node(s) in no pool ({', '.join(left[:3])}"
            f"{', ...' if len(left) > 3 else ''}): {UNPOOLED}; label them and "
            "run again, or add their pool by hand"
        )
        warnings.append(skipped)
        header += f"# {skipped}\n"
    proposed = price_table(pools, name, currency)
    try:
        parse_model(PriceTable, proposed, "the proposed table")
    except ManifestError as err:  # the user typed flags, not these fields
        raise ManifestError(
            f"{err}\n  (--name sets metadata.name, --currency spec.currency, and --map "
            "the pools' accelerator names)"
        ) from None
    text = (
        f"# Pools found on {len(nodes)} node(s); accelerator names used:\n{header}"
        "# Prices are empty: fill them with `pricewise prices import CATALOG TABLE`.\n"
    )
    return text + yaml.safe_dump(proposed, sort_keys=False), warnings
