"""Building the control plane's binaries from the pinned Go modules in hack/tools/, cached by
version under $PRICEWISE_CACHE/bin/<component>-<version>/ (default ~/.cache/pricewise)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

HACK = Path(__file__).resolve().parents[1]


REPO = HACK.parent


TOOLS = HACK / "tools"


STAGES = HACK / "kwok"


DEFAULT_POOLS = HACK / "pools.yaml"


KUBERNETES = "v1.35.4"


KUBERNETES_RELEASED = "2026-04-15T18:01:22Z"  # the proxy's time of k8s.io/kubernetes v1.35.4


ETCD = "v3.6.16"


KWOK = "v0.7.0"


HELM = "v3.19.0"


KUEUE = "v0.17.0"


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
    peer: bool = False
    """A system compared with (Kueue): built only when asked for, never for the tests."""

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
        Component(
            "kueue",
            KUEUE,
            tuple(
                f"sigs.k8s.io/kueue/{p}"
                for p in (
                    "cmd/kueue",
                    "test/performance/scheduler/runner",
                    "test/performance/scheduler/minimalkueue",
                )
            ),
            ("kueue", "runner", "minimalkueue"),
            peer=True,
        ),
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
    """Every component's binary directory, for PATH (peers' excepted)."""
    return [bin_dir(c) for c, spec in COMPONENTS.items() if not spec.peer]


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
    """Build the components named (default: all but the peers) that the cache lacks;
    return the binary directories.

    Builds are serialised by a lock per component, so concurrent callers (a test session and
    `make tools`) build once and share the result.
    """
    dirs = {}
    for name in components or [c for c, spec in COMPONENTS.items() if not spec.peer]:
        if not built(name):
            with _locked(cache_root() / "bin" / f".{name}.lock"):
                if not built(name):
                    _go_build(name, log)
        dirs[name] = bin_dir(name)
    return dirs
