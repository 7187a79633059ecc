"""The operator as the end-to-end benchmarks run it: started against the local cluster and
waited for until it leads, then its process and metrics read for the figures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def start(log_path: Path, metrics_port: int) -> subprocess.Popen[bytes]:
    """`pricewise run` against $KUBECONFIG, logging to `log_path`; returns once it leads."""
    operator = subprocess.Popen(
        [sys.executable, "-m", "pricewise", "run", "--metrics-port", str(metrics_port)],
        env={**os.environ, "PRICEWISE_NAMESPACE": "default"},
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while "leading" not in log_path.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.2)
    return operator


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (VmHWM), MiB."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric_samples(port: int, name: str) -> dict[str, float]:
    """A metric's samples by their labels as written (`{purpose="waiting"}`, or "" for none),
    from the operator's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series == name or series.startswith(name + "{"):
            samples[series[len(name) :]] = float(value)
    return samples


def metric_total(port: int, name: str) -> float:
    """The sum of a metric's samples over all its labels, from the operator's /metrics."""
    return sum(metric_samples(port, name).values())


def stop(operator: subprocess.Popen[bytes]) -> None:
    """Stop the operator and wait for it."""
    operator.terminate()
    operator.wait(timeout=60)
