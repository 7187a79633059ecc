"""The running cluster's processes: where its files live, starting one process in its own
process group, waiting for it, and stopping everything it started."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .build import REPO, ClusterError, Log, _locked, _print, bin_dirs, binary, cache_root


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


def _exit_status(pid: int) -> str:
    """How a process this Python process started ended: its exit code or the signal."""
    child = _CHILDREN.get(pid)
    code = child.poll() if child is not None else None
    if code is None:
        return "status unknown"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


MIN_FREE_BYTES = 1 << 30  # etcd preallocates its WAL and the components log a lot


def _disk_free() -> str:
    """Free space where the cluster keeps its data, said as a cause when it is short."""
    free = shutil.disk_usage(cluster_dir()).free
    short = " (too little: free some, e.g. `go clean -cache`)" if free < MIN_FREE_BYTES else ""
    return f"{free / (1 << 30):.1f} GiB free in {cluster_dir()}{short}"


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


def _alive(pid: int, name: str) -> bool:
    """Whether the component `name` still runs as pid. A process this Python process started
    is asked directly: for a moment after Popen returns, the kernel is still setting up the
    new program and /proc/<pid>/cmdline reads empty, which must not read as an exit."""
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    return _ours(pid, name)


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
            if not _alive(pid, name):
                raise ClusterError(
                    f"{name} exited ({_exit_status(pid)}) while waiting for {what}; "
                    f"{_disk_free()}{_log_tail(name)}"
                )
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
    pids = [pid for name, pid in reversed(state.get("pids", {}).items()) if _alive(pid, name)]
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
