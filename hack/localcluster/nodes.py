"""Simulated nodes (kwok) from a pool file, created through the API server, and the CRDs."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from .build import ClusterError, Log, _print
from .processes import _state, _wait, cluster_dir, kubectl

DEVICE_RESOURCES = ("nvidia.com/gpu", "google.com/tpu")


def node_manifests(pools: Path | dict[str, Any]) -> list[dict[str, Any]]:
    """The Node objects of a pool file (see hack/pools.yaml for its format)."""
    spec = pools if isinstance(pools, dict) else yaml.safe_load(Path(pools).read_text())
    nodes = []
    for pool in spec["pools"]:
        name = pool["name"]
        allocatable = {"pods": "110", "ephemeral-storage": "95Gi", **pool["allocatable"]}
        capacity = {**allocatable, **pool.get("capacity", {})}
        devices = [r for r in DEVICE_RESOURCES if r in capacity]
        taints = pool.get(
            "taints", [{"key": r, "value": "present", "effect": "NoSchedule"} for r in devices]
        )
        zone = pool.get("zone", "us-central1-a")
        for i in range(pool["count"]):
            node = f"{name}-{i}"
            labels = {
                "kubernetes.io/hostname": node,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": pool["instanceType"],
                "topology.kubernetes.io/region": zone.rsplit("-", 1)[0],
                "topology.kubernetes.io/zone": zone,
                "cloud.google.com/gke-nodepool": name,
                "pricewise.dev/pool": name,
                "pricewise.dev/capacity-type": "spot" if pool.get("spot") else "on-demand",
                "type": "kwok",
                **{k: str(v) for k, v in pool.get("labels", {}).items()},
            }
            nodes.append(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": node,
                        "labels": labels,
                        "annotations": {
                            "kwok.x-k8s.io/node": "fake",
                            "node.alpha.kubernetes.io/ttl": "0",
                        },
                    },
                    "spec": {"taints": taints} if taints else {},
                    "status": {
                        "capacity": {k: str(v) for k, v in capacity.items()},
                        "allocatable": {k: str(v) for k, v in allocatable.items()},
                    },
                }
            )
    return nodes


class _Api:
    """Direct HTTPS requests to the local API server with the admin certificate, one kept-alive
    connection per thread: no kubectl process per call, so a thousand nodes take seconds."""

    def __init__(self) -> None:
        state = _state()
        if not state:
            raise ClusterError(f"no cluster runs from {cluster_dir()}")
        self.port = int(state["ports"]["apiserver"])
        pki = cluster_dir() / "pki"
        self.context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        self.connections = threading.local()
        self.opened: list[http.client.HTTPSConnection] = []

    def close(self) -> None:
        """Close every connection that a thread opened."""
        for conn in self.opened:
            conn.close()

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """Send one request (body as JSON); return the status and the response body."""
        data = None if body is None else json.dumps(body).encode()
        for attempt in (1, 2):  # once more on a fresh connection if the kept one was closed
            conn = getattr(self.connections, "conn", None)
            if conn is None:
                conn = http.client.HTTPSConnection(
                    "127.0.0.1", self.port, context=self.context, timeout=60
                )
                self.connections.conn = conn
                self.opened.append(conn)  # list.append is atomic: no lock needed
            try:
                conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self.connections.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def nodes(self) -> list[dict[str, Any]]:
        """Every Node object of the cluster."""
        status, body = self.request("GET", "/api/v1/nodes")
        if status != 200:
            raise ClusterError(f"listing nodes: HTTP {status} {body[:500]!r}")
        items: list[dict[str, Any]] = json.loads(body)["items"]
        return items


def _ready(node: dict[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _post_nodes(nodes: list[dict[str, Any]], api: _Api) -> None:
    """Create the nodes that do not exist yet; existing ones are kept as they are."""
    existing = {n["metadata"]["name"] for n in api.nodes()}
    nodes = [n for n in nodes if n["metadata"]["name"] not in existing]

    def post(node: dict[str, Any]) -> None:
        status, body = api.request("POST", "/api/v1/nodes?fieldManager=pricewise-pools", node)
        if status not in (201, 409):
            name = node["metadata"]["name"]
            raise ClusterError(f"creating node {name}: HTTP {status} {body[:500]!r}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(post, nodes))


def _apply_nodes(nodes: list[dict[str, Any]], config: Path | str) -> None:
    """Create the nodes in another cluster with kubectl (server-side apply, in parallel)."""

    def apply(chunk: list[dict[str, Any]]) -> None:
        items = json.dumps({"apiVersion": "v1", "kind": "List", "items": chunk})
        result = kubectl(
            "apply", "--server-side", "--field-manager=pricewise-pools", "-f", "-",
            input=items, check=False, config=config,
        )  # fmt: skip
        if result.returncode != 0:
            raise ClusterError(f"creating nodes failed: {result.stderr.strip()}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(apply, [nodes[i : i + 100] for i in range(0, len(nodes), 100)]))


def _ready_names(api: _Api | None, config: Path | str | None) -> set[str]:
    """The nodes whose Ready condition is True."""
    if api is not None:
        return {n["metadata"]["name"] for n in api.nodes() if _ready(n)}
    ready = (
        "{range .items[*]}{.metadata.name}{' '}"
        "{.status.conditions[?(@.type=='Ready')].status}{'\\n'}{end}"
    )
    out = kubectl("get", "nodes", "-o", f"jsonpath={ready}", check=False, config=config).stdout
    return {line.split()[0] for line in out.splitlines() if line.endswith(" True")}


def create_nodes(
    pools: Path | dict[str, Any],
    log: Log = _print,
    timeout: float | None = None,
    config: Path | str | None = None,
) -> list[str]:
    """Create the simulated nodes of a pool file, or of its parsed content (idempotent:
    existing nodes are kept), and wait until kwok reports every one Ready. Returns the node
    names. `config`: another cluster's kubeconfig (where kwok runs too)."""
    nodes = node_manifests(pools)
    wanted = {n["metadata"]["name"] for n in nodes}
    started = time.monotonic()
    api = _Api() if config is None else None
    try:
        if api is not None:
            _post_nodes(nodes, api)
        elif nodes:
            _apply_nodes(nodes, config or "")
        _wait(
            f"{len(nodes)} nodes Ready",
            lambda: wanted <= _ready_names(api, config),
            timeout or 60 + len(nodes) / 5,
        )
    finally:
        if api is not None:
            api.close()
    log(f"{len(nodes)} simulated nodes Ready in {time.monotonic() - started:.1f}s")
    return sorted(wanted)


def install_crds(directory: Path, timeout: float = 60) -> None:
    """Apply the CRDs of a directory and wait until each is Established. Polled rather than
    `kubectl wait`, which fails instead of waiting on a CRD that has no conditions yet."""
    kubectl("apply", "--server-side", "-f", str(directory))
    names = [
        line.split("/", 1)[1]
        for line in kubectl("get", "-f", str(directory), "-o", "name").stdout.split()
    ]
    established = "jsonpath={.status.conditions[?(@.type=='Established')].status}"
    for name in names:
        _wait(
            f"CRD {name} to be established",
            lambda n=name: (
                kubectl("get", "crd", n, "-o", established, check=False).stdout == "True"
            ),
            timeout,
        )
