"""Starting the whole control plane: etcd, kube-apiserver, controller-manager, scheduler and
kwok, in order, each waited for; or reusing a healthy one."""

from __future__ import annotations

import functools
import shutil
import time
from pathlib import Path
from typing import Any

from .build import (
    COMPONENTS,
    DEFAULT_POOLS,
    NODE_IP,
    POD_CIDR,
    SERVICE_CIDR,
    STAGES,
    ClusterError,
    Log,
    _locked,
    _print,
    build,
)
from .nodes import create_nodes
from .pki import _certificates, _write_kubeconfig
from .processes import (
    MIN_FREE_BYTES,
    _disk_free,
    _down,
    _free_ports,
    _get,
    _save,
    _start,
    _wait,
    cluster_dir,
    healthy,
    kubeconfig,
    kubectl,
)


def up(pools: Path | None = DEFAULT_POOLS, log: Log = _print) -> Path:
    """Start the control plane, or reuse a healthy one from the same directory; then create
    the simulated nodes of `pools` (None: none). Returns the kubeconfig path."""
    build(["kubernetes", "etcd", "kwok"], log=log)
    with _locked(cluster_dir() / "lock"):  # a second `up` waits, then finds it healthy
        if healthy():
            log(f"cluster already up: KUBECONFIG={kubeconfig()}")
        else:
            _down()
            started = time.monotonic()
            try:
                _start_all()
            except BaseException:
                _down()
                raise
            elapsed = time.monotonic() - started
            log(f"control plane up in {elapsed:.1f}s: KUBECONFIG={kubeconfig()}")
    if pools is not None:
        create_nodes(pools, log=log)
    return kubeconfig()


def _start_all() -> None:
    base = cluster_dir()
    base.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(base).free < MIN_FREE_BYTES:
        raise ClusterError(f"cannot start the control plane: {_disk_free()}")
    pki = base / "pki"
    _certificates(pki)
    ports = _free_ports(
        ["etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok"]
    )
    state: dict[str, Any] = {
        "ports": ports,
        "pids": {},
        "ready": False,
        "versions": {c.name: c.version for c in COMPONENTS.values()},
    }
    _save(state)
    etcd = f"http://127.0.0.1:{ports['etcd']}"
    peer = f"http://127.0.0.1:{ports['etcd-peer']}"
    _start(
        "etcd",
        [
            "--name=pricewise",
            f"--data-dir={base / 'etcd'}",
            f"--listen-client-urls={etcd}",
            f"--advertise-client-urls={etcd}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=pricewise={peer}",
            "--listen-metrics-urls=",
            "--unsafe-no-fsync=true",
            "--quota-backend-bytes=8589934592",
            "--log-level=warn",
        ],
        state,
    )
    _wait("etcd", lambda: _get(f"{etcd}/health"), 60, state)
    _start(
        "kube-apiserver",
        [
            f"--etcd-servers={etcd}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
            "--max-requests-inflight=1000",
            "--max-mutating-requests-inflight=500",
        ],
        state,
    )
    _wait(
        "kube-apiserver /readyz",
        lambda: _get(f"https://127.0.0.1:{ports['apiserver']}/readyz", pki),
        120,
        state,
    )
    _write_kubeconfig(kubeconfig(), pki, ports["apiserver"])
    config = str(kubeconfig())
    common = [
        f"--kubeconfig={config}",
        f"--authentication-kubeconfig={config}",
        f"--authorization-kubeconfig={config}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--cert-dir={base / 'pki' / 'serving'}",
        "--kube-api-qps=500",
        "--kube-api-burst=1000",
    ]
    _start(
        "kube-controller-manager",
        [
            *common,
            f"--secure-port={ports['controller-manager']}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            "--use-service-account-credentials=false",
            "--concurrent-gc-syncs=50",
        ],
        state,
    )
    _start("kube-scheduler", [*common, f"--secure-port={ports['scheduler']}"], state)
    (base / "kwok").mkdir(exist_ok=True)
    stages = sorted(STAGES.glob("*.yaml"))
    _start(
        "kwok",
        [
            f"--kubeconfig={config}",
            *(f"--config={s}" for s in stages),
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-lease-duration-seconds=40",
            f"--cidr={POD_CIDR}",
            f"--node-ip={NODE_IP}",
            f"--server-address=127.0.0.1:{ports['kwok']}",
        ],
        state,
        KWOK_WORKDIR=str(base / "kwok"),  # not ~/.kwok: its kwok.yaml would be loaded too
    )
    for name in ("controller-manager", "scheduler"):
        healthz = f"https://127.0.0.1:{ports[name]}/healthz"
        _wait(f"kube-{name}", functools.partial(_get, healthz), 60, state)
    _wait("kwok", lambda: _get(f"http://127.0.0.1:{ports['kwok']}/healthz"), 60, state)
    _wait(
        "the default ServiceAccount",
        lambda: kubectl("get", "serviceaccount", "default", check=False).returncode == 0,
        120,
        state,
    )
    state["ready"] = True
    _save(state)
