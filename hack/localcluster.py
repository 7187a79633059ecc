"""A real local Kubernetes control plane without Docker: the library behind hack/cluster.py.

The upstream components are built with `go build` from the pinned wrapper modules in
hack/tools/ and cached, keyed by version, under

    $PRICEWISE_CACHE/bin/<component>-<version>/      (default ~/.cache/pricewise)

so a second start, or another clone on the same machine, reuses them. A cluster lives in
$PRICEWISE_CLUSTER_DIR (default <repo>/.cluster): certificates and service-account keys, etcd
data, one log per process, state.json (ports and pids) and the admin kubeconfig. Every process
runs in its own process group, so `down` stops it with everything it started.

Only the standard library and PyYAML, so that it runs before the project is installed. The
tests load this file by path (tests/e2e/conftest.py); scripts import it from hack/.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import functools
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HACK = Path(__file__).resolve().parent
REPO = HACK.parent
TOOLS = HACK / "tools"
STAGES = HACK / "kwok"
DEFAULT_POOLS = HACK / "pools.yaml"

KUBERNETES = "v1.35.4"
KUBERNETES_RELEASED = "2026-04-15T18:01:22Z"  # the proxy's time of k8s.io/kubernetes v1.35.4
ETCD = "v3.6.16"
KWOK = "v0.7.0"
HELM = "v3.19.0"
HELM_KUBE_MINOR = "34"  # helm v3.19.0 is built against k8s.io/client-go v0.34

SERVICE_CIDR = "10.0.0.0/24"
POD_CIDR = "10.128.0.0/12"
NODE_IP = "10.127.0.1"


class ClusterError(RuntimeError):
    """The cluster could not be built, started or used; the message says why."""


def _stamp(packages: Sequence[str], values: dict[str, str]) -> str:
    return " ".join(f"-X {p}.{k}={v}" for p in packages for k, v in values.items())


@dataclass(frozen=True)
class Component:
    """One pinned Go module under hack/tools/ and the binaries built from it."""

    name: str
    version: str
    packages: tuple[str, ...]
    binaries: tuple[str, ...]
    ldflags: str = ""

    @property
    def module(self) -> Path:
        """The wrapper module (go.mod, go.sum) that pins this component."""
        return TOOLS / self.name


COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component(
            "kubernetes",
            KUBERNETES,
            tuple(
                f"k8s.io/kubernetes/cmd/{c}"
                for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
            ),
            ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"),
            _stamp(
                ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"),
                {
                    "gitVersion": KUBERNETES,
                    "gitMajor": KUBERNETES[1:].split(".", maxsplit=1)[0],
                    "gitMinor": KUBERNETES.split(".")[1],
                    "gitTreeState": "clean",
                    "buildDate": KUBERNETES_RELEASED,
                },
            ),
        ),
        Component("etcd", ETCD, ("go.etcd.io/etcd/server/v3",), ("etcd",)),
        Component("kwok", KWOK, ("sigs.k8s.io/kwok/cmd/kwok",), ("kwok",)),
        Component(
            "helm",
            HELM,
            ("helm.sh/helm/v3/cmd/helm",),
            ("helm",),
            " ".join(
                [
                    f"-X helm.sh/helm/v3/internal/version.version={HELM}",
                    "-X helm.sh/helm/v3/internal/version.gitTreeState=clean",
                    _stamp(
                        ("helm.sh/helm/v3/pkg/chartutil", "helm.sh/helm/v3/pkg/lint/rules"),
                        {"k8sVersionMajor": "1", "k8sVersionMinor": HELM_KUBE_MINOR},
                    ),
                ]
            ),
        ),
    )
}
BINARIES = {b: c for c in COMPONENTS.values() for b in c.binaries}

Log = Callable[[str], None]


def _print(message: str) -> None:
    print(message, flush=True)


# --- binaries ------------------------------------------------------------------------------


def cache_root() -> Path:
    """Root of the binary cache ($PRICEWISE_CACHE, default ~/.cache/pricewise)."""
    return Path(os.environ.get("PRICEWISE_CACHE", Path.home() / ".cache" / "pricewise"))


def bin_dir(component: str) -> Path:
    """Where a component's binaries are cached: <cache>/bin/<component>-<version>."""
    c = COMPONENTS[component]
    return cache_root() / "bin" / f"{c.name}-{c.version}"


def binary(name: str) -> Path:
    """Path of one binary: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
    etcd, kwok or helm."""
    return bin_dir(BINARIES[name].name) / name


def bin_dirs() -> list[Path]:
    """Every component's binary directory, for PATH."""
    return [bin_dir(c) for c in COMPONENTS]


def fingerprint(component: str) -> str:
    """What a build depends on besides the Go toolchain: go.mod, go.sum, packages, ldflags."""
    c = COMPONENTS[component]
    digest = hashlib.sha256()
    for part in (
        (c.module / "go.mod").read_bytes(),
        (c.module / "go.sum").read_bytes(),
        " ".join(c.packages).encode(),
        c.ldflags.encode(),
    ):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def built(component: str) -> bool:
    """Whether the cache holds a complete build of this component from the current pins."""
    out = bin_dir(component)
    try:
        stamp = json.loads((out / "build.json").read_text())
    except (OSError, ValueError):
        return False
    return stamp.get("fingerprint") == fingerprint(component) and all(
        (out / b).is_file() for b in COMPONENTS[component].binaries
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _go_build(component: str, log: Log) -> float:
    c = COMPONENTS[component]
    go = shutil.which("go")
    if go is None:
        raise ClusterError("`go` is not on PATH; the control plane is built from Go modules")
    out = bin_dir(component)
    for stale in out.parent.glob(f"{out.name}.tmp-*"):  # left by an interrupted build
        shutil.rmtree(stale, ignore_errors=True)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    tmp.mkdir(parents=True)
    hint = " (first time only; the Kubernetes build takes minutes)"
    log(f"building {c.name} {c.version} from {c.module.relative_to(REPO)}{hint}")
    started = time.monotonic()
    # A directory -o keeps each command's name; etcd's package path ends in /v3, so name it.
    target = str(tmp / "etcd") if c.name == "etcd" else f"{tmp}/"
    command = [go, "build", "-trimpath", "-buildvcs=false", "-mod=readonly"]
    command += ["-ldflags", f"-s -w {c.ldflags}".strip(), "-o", target, *c.packages]
    env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOWORK": "off"}
    result = subprocess.run(
        command, cwd=c.module, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ClusterError(
            f"go build of {c.name} {c.version} failed (exit {result.returncode}):\n"
            f"{result.stderr[-4000:]}"
        )
    seconds = time.monotonic() - started
    go_version = subprocess.run(
        [go, "env", "GOVERSION"], capture_output=True, text=True, check=False
    ).stdout
    stamp = {
        "component": c.name,
        "version": c.version,
        "fingerprint": fingerprint(component),
        "go": go_version.strip(),
        "seconds": round(seconds, 1),
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (tmp / "build.json").write_text(json.dumps(stamp, indent=1) + "\n")
    shutil.rmtree(out, ignore_errors=True)  # running processes keep their (unlinked) binaries
    tmp.rename(out)
    log(f"built {c.name} {c.version} in {seconds:.0f}s -> {out}")
    return seconds


def build(components: Sequence[str] | None = None, log: Log = _print) -> dict[str, Path]:
    """Build every component that the cache lacks; return the binary directories.

    Builds are serialised by a lock per component, so concurrent callers (a test session and
    `make tools`) build once and share the result.
    """
    dirs = {}
    for name in components or list(COMPONENTS):
        if not built(name):
            with _locked(cache_root() / "bin" / f".{name}.lock"):
                if not built(name):
                    _go_build(name, log)
        dirs[name] = bin_dir(name)
    return dirs


# --- the running cluster -------------------------------------------------------------------


def cluster_dir() -> Path:
    """The directory of the local cluster ($PRICEWISE_CLUSTER_DIR, default <repo>/.cluster)."""
    return Path(os.environ.get("PRICEWISE_CLUSTER_DIR", REPO / ".cluster")).resolve()


def kubeconfig() -> Path:
    """The admin kubeconfig of the local cluster."""
    return cluster_dir() / "kubeconfig"


def env() -> dict[str, str]:
    """The environment for tools run against the cluster: KUBECONFIG, and PATH with the
    cached binaries first."""
    path = os.pathsep.join([*map(str, bin_dirs()), os.environ.get("PATH", "")])
    return {**os.environ, "KUBECONFIG": str(kubeconfig()), "PATH": path}


def kubectl(
    *args: str,
    input: str | None = None,
    check: bool = True,
    timeout: float = 120,
    config: Path | str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the pinned kubectl with the admin kubeconfig (or `config`); `check` raises
    CalledProcessError."""
    return subprocess.run(
        [str(binary("kubectl")), f"--kubeconfig={config or kubeconfig()}", *args],
        input=input,
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


def _free_ports(names: Sequence[str]) -> dict[str, int]:
    sockets = []
    try:
        for _ in names:  # hold them all open, so that no two names get the same port
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return {name: s.getsockname()[1] for name, s in zip(names, sockets, strict=True)}
    finally:
        for sock in sockets:
            sock.close()


def _openssl(*args: str | Path) -> None:
    result = subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ClusterError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _certificates(pki: Path) -> None:
    """A CA, the API server's serving certificate, the admin client certificate (group
    system:masters) and the service-account key pair; kept across restarts."""
    if all((pki / f).exists() for f in ("ca.crt", "apiserver.crt", "admin.crt", "sa.pub")):
        return
    pki.mkdir(parents=True, exist_ok=True)
    days = "3650"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", days,
        "-subj", "/CN=pricewise-local-ca", "-keyout", pki / "ca.key", "-out", pki / "ca.crt",
    )  # fmt: skip
    sans = ",".join(
        [
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local",
            "IP:127.0.0.1",
            "IP:10.0.0.1",
        ]
    )
    (pki / "ext.cnf").write_text(
        "[server]\nsubjectAltName=" + sans + "\nextendedKeyUsage=serverAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "[client]\nextendedKeyUsage=clientAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    for name, subject, section in (
        ("apiserver", "/CN=kube-apiserver", "server"),
        ("admin", "/O=system:masters/CN=pricewise-admin", "client"),
    ):
        _openssl(
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
            "-keyout", pki / f"{name}.key", "-out", pki / f"{name}.csr",
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", pki / f"{name}.csr", "-CA", pki / "ca.crt",
            "-CAkey", pki / "ca.key", "-CAcreateserial", "-days", days,
            "-extfile", pki / "ext.cnf", "-extensions", section, "-out", pki / f"{name}.crt",
        )  # fmt: skip
    _openssl("genrsa", "-out", pki / "sa.key", "2048")
    _openssl("rsa", "-in", pki / "sa.key", "-pubout", "-out", pki / "sa.pub")


def _write_kubeconfig(path: Path, pki: Path, port: int) -> None:
    def data(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "pricewise-local",
                "cluster": {
                    "server": f"https://127.0.0.1:{port}",
                    "certificate-authority-data": data("ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": "pricewise-admin",
                "user": {
                    "client-certificate-data": data("admin.crt"),
                    "client-key-data": data("admin.key"),
                },
            }
        ],
        "contexts": [
            {
                "name": "pricewise-local",
                "context": {"cluster": "pricewise-local", "user": "pricewise-admin"},
            }
        ],
        "current-context": "pricewise-local",
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config))
    tmp.chmod(0o600)
    tmp.rename(path)


def _get(url: str, pki: Path | None = None) -> bool:
    """Whether GET url answers 200: with the admin certificate when pki is given, else over
    plain HTTP or HTTPS without verification (the components' own self-signed certificates)."""
    if pki is not None:
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, context=context, timeout=3) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _log_tail(name: str, lines: int = 25) -> str:
    path = cluster_dir() / "logs" / f"{name}.log"
    try:
        tail = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return f"\n--- last lines of {path}:\n" + "\n".join(tail)


def _state() -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads((cluster_dir() / "state.json").read_text())
    except (OSError, ValueError):
        return None
    return state


def _save(state: dict[str, Any]) -> None:
    path = cluster_dir() / "state.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1) + "\n")
    tmp.rename(path)


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


def _ours(pid: int, name: str) -> bool:
    """Whether pid still runs the component `name` (and not some process that reused the pid)."""
    command = _cmdline(pid)
    return bool(command) and Path(command[0]).name == name


# The processes this Python process started (kept so that they are reaped, not warned about).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _start(name: str, args: list[str], state: dict[str, Any], **extra_env: str) -> None:
    logs = cluster_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("wb") as log:
        process = subprocess.Popen(
            [str(binary(name)), *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: `down` stops it and its children
            env={**os.environ, **extra_env},
            cwd=cluster_dir(),
        )
    _CHILDREN[process.pid] = process
    state["pids"][name] = process.pid
    _save(state)


def _wait(
    what: str, probe: Callable[[], bool], timeout: float, state: dict[str, Any] | None = None
) -> None:
    """Poll probe until true; fail early, with its log, if a started process has died."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    while time.monotonic() < deadline:
        if probe():
            return
        for name, pid in (state or {}).get("pids", {}).items():
            if not _ours(pid, name):
                raise ClusterError(f"{name} exited while waiting for {what}{_log_tail(name)}")
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)
    raise ClusterError(f"{what} not ready after {timeout:.0f}s; logs in {cluster_dir() / 'logs'}")


def healthy() -> bool:
    """Whether the cluster of cluster_dir() runs: every process alive and /readyz ok."""
    state = _state()
    if not state or not state.get("ready"):
        return False
    if not all(_ours(pid, name) for name, pid in state["pids"].items()):
        return False
    return _get(f"https://127.0.0.1:{state['ports']['apiserver']}/readyz", cluster_dir() / "pki")


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


def rss() -> dict[str, int]:
    """Resident memory, in KiB, of each running process of the cluster."""
    memory = {}
    for name, pid in (_state() or {}).get("pids", {}).items():
        if not _ours(pid, name):
            continue
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    memory[name] = int(line.split()[1])
    return memory


def status() -> dict[str, Any]:
    """What runs: up or not, the kubeconfig, ports, pids and resident memory (MiB)."""
    state = _state() or {}
    memory = rss()
    return {
        "up": healthy(),
        "dir": str(cluster_dir()),
        "kubeconfig": str(kubeconfig()),
        "ports": state.get("ports", {}),
        "pids": state.get("pids", {}),
        "rss_mib": {name: round(kib / 1024) for name, kib in memory.items()},
        "rss_total_mib": round(sum(memory.values()) / 1024),
    }


def _strays(base: Path) -> list[int]:
    """Processes run from the cache's binaries that name this cluster's directory: left over
    if state.json was lost."""
    marker = f"={base}/"
    cache = f"{cache_root() / 'bin'}/"
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        command = _cmdline(int(proc.name))
        if command and command[0].startswith(cache) and any(marker in a for a in command[1:]):
            pids.append(int(proc.name))
    return pids


def _running(pid: int) -> bool:
    """Whether pid exists and has not exited (a zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _stop(pid: int, timeout: float = 10) -> None:
    """Stop the process group of pid: SIGTERM, then SIGKILL after `timeout` seconds."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(OSError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while _running(pid) and time.monotonic() < deadline:
            if pid in _CHILDREN:  # up() ran in this process: reap it
                _CHILDREN[pid].poll()
            time.sleep(0.05)
        if not _running(pid):
            if pid in _CHILDREN:
                _CHILDREN.pop(pid).poll()
            return


def down(log: Log = _print, keep_logs: bool = True) -> None:
    """Stop every process of the cluster (whole process groups, clients before the API server
    and etcd) and delete its etcd data and kubeconfig; certificates are kept for the next
    start, and logs unless keep_logs=False."""
    with _locked(cluster_dir() / "lock"):
        stopped = _down(keep_logs)
    log(f"cluster down ({stopped} processes stopped)" if stopped else "cluster down")


def _down(keep_logs: bool = True) -> int:
    base = cluster_dir()
    state = _state() or {}
    pids = [pid for name, pid in reversed(state.get("pids", {}).items()) if _ours(pid, name)]
    # started later, stopped first: clients, then the API server, then etcd
    pids += sorted((pid for pid in _strays(base) if pid not in pids), reverse=True)
    for pid in pids:
        _stop(pid)
    left = [pid for pid in pids if _running(pid)]
    if left:
        raise ClusterError(f"processes {left} of {base} did not stop")
    for stale in ("etcd", "kwok", "kubeconfig", "state.json"):
        path = base / stale
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    if not keep_logs:
        shutil.rmtree(base / "logs", ignore_errors=True)
    return len(pids)


# --- simulated nodes -----------------------------------------------------------------------

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
