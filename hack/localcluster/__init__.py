"""A real local Kubernetes control plane without Docker: the library behind hack/cluster.py.

The upstream components are built with `go build` from the pinned wrapper modules in
hack/tools/ and cached, keyed by version, under

    $PRICEWISE_CACHE/bin/<component>-<version>/      (default ~/.cache/pricewise)

so a second start, or another clone on the same machine, reuses them. A cluster lives in
$PRICEWISE_CLUSTER_DIR (default <repo>/.cluster): certificates and service-account keys, etcd
data, one log per process, state.json (ports and pids) and the admin kubeconfig. Every process
runs in its own process group, so `down` stops it with everything it started.

Only the standard library and PyYAML, so that it runs before the project is installed. The
tests load this package by path (tests/e2e/conftest.py); scripts import it from hack/. One
module per job: `build` (binaries), `pki` (certificates), `processes` (files, start, wait,
stop), `nodes` (simulated nodes and CRDs), `control` (`up`: the whole control plane).
"""

from __future__ import annotations

from .build import (
    BINARIES,
    COMPONENTS,
    DEFAULT_POOLS,
    ETCD,
    HACK,
    HELM,
    HELM_KUBE_MINOR,
    KUBERNETES,
    KUBERNETES_RELEASED,
    KWOK,
    NODE_IP,
    POD_CIDR,
    REPO,
    SERVICE_CIDR,
    STAGES,
    TOOLS,
    ClusterError,
    Component,
    Log,
    bin_dir,
    bin_dirs,
    binary,
    build,
    built,
    cache_root,
    fingerprint,
)
from .control import up
from .nodes import DEVICE_RESOURCES, create_nodes, install_crds, node_manifests
from .processes import cluster_dir, down, env, healthy, kubeconfig, kubectl, rss, status

__all__ = [
    "BINARIES",
    "COMPONENTS",
    "DEFAULT_POOLS",
    "DEVICE_RESOURCES",
    "ETCD",
    "HACK",
    "HELM",
    "HELM_KUBE_MINOR",
    "KUBERNETES",
    "KUBERNETES_RELEASED",
    "KWOK",
    "NODE_IP",
    "POD_CIDR",
    "REPO",
    "SERVICE_CIDR",
    "STAGES",
    "TOOLS",
    "ClusterError",
    "Component",
    "Log",
    "bin_dir",
    "bin_dirs",
    "binary",
    "build",
    "built",
    "cache_root",
    "cluster_dir",
    "create_nodes",
    "down",
    "env",
    "fingerprint",
    "healthy",
    "install_crds",
    "kubeconfig",
    "kubectl",
    "node_manifests",
    "rss",
    "status",
    "up",
]
