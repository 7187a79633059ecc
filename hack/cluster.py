#!/usr/bin/env python3
"""A real local Kubernetes control plane for the tests and the demo, without Docker.

    python hack/cluster.py build            # build (or reuse) the binaries
    python hack/cluster.py up               # start etcd, kube-apiserver, controller-manager,
                                            # scheduler and kwok; create the node pools
    python hack/cluster.py nodes --pools F  # add the simulated nodes of a pool file
    python hack/cluster.py status | down

Binaries are built with `go build` from the pinned modules in hack/tools/ and cached under
~/.cache/pricewise/bin/<component>-<version>/, so a second start (or another clone) reuses them.
The cluster lives in $PRICEWISE_CLUSTER_DIR (default: <repo>/.cluster): certificates, etcd data,
logs, the pids of its processes and the admin kubeconfig.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

HACK = Path(__file__).resolve().parent
REPO = HACK.parent
CACHE = Path(os.environ.get("PRICEWISE_CACHE", Path.home() / ".cache" / "pricewise")) / "bin"
KUBERNETES, ETCD, KWOK, HELM = "v1.35.4", "v3.6.16", "v0.7.0", "v3.19.0"
COMPONENTS: dict[str, tuple[str, str, list[str]]] = {
    # name: (version, module dir under hack/tools, packages)
    "kubernetes": (
        KUBERNETES,
        "kubernetes",
        [
            f"k8s.io/kubernetes/cmd/{c}"
            for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
        ],
    ),
    "etcd": (ETCD, "etcd", ["go.etcd.io/etcd/server/v3"]),
    "kwok": (KWOK, "kwok", ["sigs.k8s.io/kwok/cmd/kwok"]),
    "helm": (HELM, "helm", ["helm.sh/helm/v3/cmd/helm"]),
}


def bin_dir(component: str) -> Path:
    """Where a component's binaries are cached."""
    version = COMPONENTS[component][0]
    return CACHE / f"{component}-{version}"


def binary(name: str) -> Path:
    """Path of one binary (kube-apiserver, etcd, kwok, kubectl, helm, ...)."""
    component = {"etcd": "etcd", "kwok": "kwok", "helm": "helm"}.get(name, "kubernetes")
    return bin_dir(component) / ("etcd" if name == "etcd" else name)


def _ldflags(component: str) -> str:
    if component == "kubernetes":
        minor = KUBERNETES.split(".")[1]
        stamp = {
            "gitVersion": KUBERNETES,
            "gitMajor": "1",
            "gitMinor": minor,
            "gitCommit": KUBERNETES,
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
        }
        pkgs = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        return " ".join(f"-X {p}.{k}={v}" for p in pkgs for k, v in stamp.items())
    if component == "helm":
        return f"-X helm.sh/helm/v3/internal/version.version={HELM}"
    return ""


def build(components: list[str] | None = None) -> None:
    """Build every missing binary from its pinned module (a few minutes the first time)."""
    for component in components or list(COMPONENTS):
        version, module, packages = COMPONENTS[component]
        out = bin_dir(component)
        names = [("etcd" if component == "etcd" else p.rsplit("/", 1)[-1]) for p in packages]
        if all((out / n).exists() for n in names):
            continue
        out.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        print(f"building {component} {version} (first time only) ...", flush=True)
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        target = ["-o", str(out / "etcd")] if component == "etcd" else ["-o", f"{out}/"]
        subprocess.run(
            [
                "go",
                "build",
                "-trimpath",
                "-ldflags",
                f"-s -w {_ldflags(component)}",
                *target,
                *packages,
            ],
            cwd=HACK / "tools" / module,
            env=env,
            check=True,
        )
        print(f"built {component} in {time.monotonic() - started:.0f}s", flush=True)


# --- the running cluster -------------------------------------------------------------------


def cluster_dir() -> Path:
    """The directory of the local cluster."""
    return Path(os.environ.get("PRICEWISE_CLUSTER_DIR", REPO / ".cluster"))


def kubeconfig() -> Path:
    """The admin kubeconfig of the local cluster."""
    return cluster_dir() / "kubeconfig"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _certificates(pki: Path) -> None:
    pki.mkdir(parents=True, exist_ok=True)
    if (pki / "admin.crt").exists():
        return
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "3650",
        "-subj",
        "/CN=pricewise-local-ca",
        "-keyout",
        str(pki / "ca.key"),
        "-out",
        str(pki / "ca.crt"),
    )
    (pki / "san.cnf").write_text(
        "[req]\ndistinguished_name=dn\n[dn]\n[ext]\nsubjectAltName=DNS:localhost,DNS:kubernetes,"
        "DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.0.0.1\n"
        "extendedKeyUsage=serverAuth\n"
    )
    for name, subject, ext in (
        (
            "apiserver",
            "/CN=kube-apiserver",
            ["-extfile", str(pki / "san.cnf"), "-extensions", "ext"],
        ),
        ("admin", "/O=system:masters/CN=pricewise-admin", []),
    ):
        _openssl(
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            str(pki / f"{name}.key"),
            "-out",
            str(pki / f"{name}.csr"),
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            str(pki / f"{name}.csr"),
            "-CA",
            str(pki / "ca.crt"),
            "-CAkey",
            str(pki / "ca.key"),
            "-CAcreateserial",
            "-days",
            "3650",
            "-out",
            str(pki / f"{name}.crt"),
            *ext,
        )
    _openssl("genrsa", "-out", str(pki / "sa.key"), "2048")
    _openssl("rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


def _write_kubeconfig(path: Path, pki: Path, port: int) -> None:
    def b64(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "pricewise-local",
                "cluster": {
                    "server": f"https://127.0.0.1:{port}",
                    "certificate-authority-data": b64("ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": "admin",
                "user": {
                    "client-certificate-data": b64("admin.crt"),
                    "client-key-data": b64("admin.key"),
                },
            }
        ],
        "contexts": [
            {"name": "pricewise-local", "context": {"cluster": "pricewise-local", "user": "admin"}}
        ],
        "current-context": "pricewise-local",
    }
    path.write_text(yaml.safe_dump(config))


def _start(
    name: str, args: list[str], state: dict[str, Any], env: dict[str, str] | None = None
) -> None:
    logs = cluster_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        args,
        stdout=(logs / f"{name}.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so that `down` stops all of it
        env={**os.environ, **(env or {})},
    )
    state["pids"][name] = process.pid
    (cluster_dir() / "state.json").write_text(json.dumps(state))


def _https_ok(url: str, pki: Path) -> bool:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    try:
        with urllib.request.urlopen(url, context=context, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _wait(what: str, probe: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not come up within {timeout:.0f}s; see {cluster_dir() / 'logs'}")


def kubectl(
    *args: str, input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the cluster's kubectl with its admin kubeconfig."""
    return subprocess.run(
        [str(binary("kubectl")), f"--kubeconfig={kubeconfig()}", *args],
        input=input,
        capture_output=True,
        text=True,
        check=check,
    )


def _state() -> dict[str, Any] | None:
    path = cluster_dir() / "state.json"
    return json.loads(path.read_text()) if path.exists() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def healthy() -> bool:
    """Whether a cluster from this directory runs and answers."""
    state = _state()
    if not state or not all(_alive(pid) for pid in state["pids"].values()):
        return False
    return _https_ok(
        f"https://127.0.0.1:{state['ports']['apiserver']}/readyz", cluster_dir() / "pki"
    )


def up(pools: Path | None = HACK / "pools.yaml") -> None:
    """Start the control plane (or reuse a healthy one) and create the node pools."""
    if healthy():
        print(f"cluster already up: KUBECONFIG={kubeconfig()}")
        return
    down(quiet=True)
    build(["kubernetes", "etcd", "kwok"])
    started = time.monotonic()
    base = cluster_dir()
    pki = base / "pki"
    _certificates(pki)
    ports = {
        name: _free_port()
        for name in ("etcd", "etcd_peer", "apiserver", "kcm", "scheduler", "kwok")
    }
    state: dict[str, Any] = {"ports": ports, "pids": {}}
    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer = f"http://127.0.0.1:{ports['etcd_peer']}"
    _start(
        "etcd",
        [
            str(binary("etcd")),
            "--name=pricewise",
            f"--data-dir={base / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=pricewise={peer}",
            "--unsafe-no-fsync=true",
            "--quota-backend-bytes=8589934592",
        ],
        state,
    )
    _wait("etcd", lambda: _http_ok(f"{etcd_url}/health"))
    _start(
        "kube-apiserver",
        [
            str(binary("kube-apiserver")),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
            "--max-requests-inflight=1000",
            "--max-mutating-requests-inflight=500",
        ],
        state,
    )
    _wait(
        "kube-apiserver",
        lambda: _https_ok(f"https://127.0.0.1:{ports['apiserver']}/readyz", pki),
        90,
    )
    _write_kubeconfig(kubeconfig(), pki, ports["apiserver"])
    common = [
        f"--kubeconfig={kubeconfig()}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--authentication-kubeconfig={kubeconfig()}",
        f"--authorization-kubeconfig={kubeconfig()}",
    ]
    _start(
        "kube-controller-manager",
        [
            str(binary("kube-controller-manager")),
            *common,
            f"--secure-port={ports['kcm']}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            "--concurrent-gc-syncs=50",
            "--kube-api-qps=500",
            "--kube-api-burst=1000",
        ],
        state,
    )
    _start(
        "kube-scheduler",
        [
            str(binary("kube-scheduler")),
            *common,
            f"--secure-port={ports['scheduler']}",
            "--kube-api-qps=500",
            "--kube-api-burst=1000",
        ],
        state,
    )
    kwok_dir = base / "kwok"
    kwok_dir.mkdir(exist_ok=True)
    _start(
        "kwok",
        [
            str(binary("kwok")),
            f"--kubeconfig={kubeconfig()}",
            f"--config={HACK / 'kwok' / 'pod-stages.yaml'}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-lease-duration-seconds=40",
            "--cidr=10.128.0.0/12",
            "--node-ip=10.127.0.1",
            f"--server-address=127.0.0.1:{ports['kwok']}",
        ],
        state,
        env={"KWOK_WORKDIR": str(kwok_dir)},
    )
    _wait(
        "the default ServiceAccount",
        lambda: kubectl("get", "sa", "default", check=False).returncode == 0,
        90,
    )
    print(f"control plane up in {time.monotonic() - started:.1f}s: KUBECONFIG={kubeconfig()}")
    if pools is not None:
        create_nodes(pools)


def node_manifests(pools: Path) -> list[dict[str, Any]]:
    """Node objects for every pool of a pool file."""
    nodes = []
    for pool in yaml.safe_load(pools.read_text())["pools"]:
        capacity = {"pods": "110", "ephemeral-storage": "500Gi", **pool["allocatable"]}
        device = next((k for k in capacity if "/" in k), None)
        for i in range(pool["count"]):
            name = f"{pool['name']}-{i}"
            nodes.append(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": name,
                        "annotations": {"kwok.x-k8s.io/node": "fake"},
                        "labels": {
                            "kubernetes.io/hostname": name,
                            "kubernetes.io/os": "linux",
                            "node.kubernetes.io/instance-type": pool["instanceType"],
                            "pricewise.dev/pool": pool["name"],
                            "pricewise.dev/capacity-type": "spot"
                            if pool.get("spot")
                            else "on-demand",
                            "type": "kwok",
                            **pool.get("labels", {}),
                        },
                    },
                    "spec": {
                        "taints": [{"key": device, "value": "present", "effect": "NoSchedule"}]
                    }
                    if device
                    else {},
                    "status": {"capacity": capacity, "allocatable": capacity},
                }
            )
    return nodes


def create_nodes(pools: Path) -> None:
    """Create (idempotently) the simulated nodes of a pool file and wait until they are Ready."""
    nodes = node_manifests(pools)
    for start in range(0, len(nodes), 200):
        chunk = {"apiVersion": "v1", "kind": "List", "items": nodes[start : start + 200]}
        kubectl("apply", "--server-side", "-f", "-", input=json.dumps(chunk))
    wanted = {n["metadata"]["name"] for n in nodes}
    ready_path = (
        "{range .items[*]}{.metadata.name} "
        "{.status.conditions[?(@.type=='Ready')].status}{'\\n'}{end}"
    )

    def all_ready() -> bool:
        out = kubectl("get", "nodes", "-o", f"jsonpath={ready_path}", check=False).stdout
        ready = {line.split()[0] for line in out.splitlines() if line.endswith(" True")}
        return wanted <= ready

    # kwok initializes nodes a few per second; allow for large pools.
    _wait(f"{len(nodes)} nodes to be Ready", all_ready, 60 + len(nodes))
    print(f"{len(nodes)} simulated nodes ready")


def down(quiet: bool = False) -> None:
    """Stop every process of the cluster and remove its data (certificates are kept)."""
    state = _state()
    if state:
        for pid in state["pids"].values():
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(p) for p in state["pids"].values()):
            time.sleep(0.2)
        for pid in state["pids"].values():
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        (cluster_dir() / "state.json").unlink()
    for stale in ("etcd", "kwok", "kubeconfig"):
        path = cluster_dir() / stale
        if path.is_dir():
            subprocess.run(["rm", "-rf", str(path)], check=True)
        elif path.exists():
            path.unlink()
    if not quiet:
        print("cluster down")


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build")
    up_cmd = sub.add_parser("up")
    up_cmd.add_argument("--pools", type=Path, default=HACK / "pools.yaml")
    up_cmd.add_argument("--no-pools", action="store_true")
    nodes_cmd = sub.add_parser("nodes")
    nodes_cmd.add_argument("--pools", type=Path, required=True)
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("kubeconfig")
    args = parser.parse_args()
    if args.command == "build":
        build()
        for component in COMPONENTS:
            print(bin_dir(component))
    elif args.command == "up":
        up(None if args.no_pools else args.pools)
    elif args.command == "nodes":
        create_nodes(args.pools)
    elif args.command == "down":
        down()
    elif args.command == "status":
        print("up" if healthy() else "down")
        return 0 if healthy() else 1
    elif args.command == "kubeconfig":
        print(kubeconfig())
    return 0


if __name__ == "__main__":
    sys.exit(main())
