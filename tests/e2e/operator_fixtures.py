"""Helpers for tests that run the real operator against the local control plane.

The operator runs as a separate process (`pricewise run`), the way users run it, so that tests
can kill and restart it. Each test gets its own simulated nodes, PriceTable pools and
accelerator names, so that tests never place each other's jobs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(probe: Callable[[], T | None], timeout: float = 60.0, what: str = "condition") -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


@dataclass
class Operator:
    """A `pricewise run` process against the test cluster."""

    env: dict[str, str]
    log_path: Path
    metrics_port: int
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self, lead: bool = True) -> None:
        """Start the operator and wait until it leads (or, with `lead=False`, until its
        watches run: another replica holds the Lease)."""
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n=== start {self.starts} ===\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pricewise", "run", "--metrics-port", str(self.metrics_port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        marker = f"=== start {self.starts} ==="
        sign = "leading" if lead else "metrics on"
        try:
            wait_for(
                lambda: sign in self.log().rsplit(marker, 1)[-1],
                60,
                "the operator to take the lease" if lead else "the operator to start",
            )
        except BaseException:
            self.kill()  # never leave behind an operator that holds the lease
            raise

    def kill(self) -> None:
        """Kill it at once, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        """Stop it gracefully."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def log(self) -> str:
        """Everything the operator printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Pools:
    """Simulated nodes and PriceTable pools private to one test."""

    cluster: Any
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    nodes: list[str] = field(default_factory=list)
    pools: list[dict[str, Any]] = field(default_factory=list)

    def accelerator(self, name: str) -> str:
        """The accelerator name of pool `name` in this test (unique to the test)."""
        return f"{name}-{self.tag}"

    def option(self, name: str, devices: int, **spec: Any) -> dict[str, Any]:
        """A TrainingJob option for pool `name`: `devices` GPUs a worker, and `spec` (a
        `duration` or a `throughput`)."""
        return {"accelerator": self.accelerator(name), "devicesPerWorker": devices, **spec}

    def add(self, name: str, nodes: int, gpus: int, price: float, spot: bool = False) -> None:
        """A pool of `nodes` simulated nodes with `gpus` GPUs each, at `price` per GPU-hour."""
        pool = f"{name}-{self.tag}"
        manifests = []
        for i in range(nodes):
            node = f"{pool}-{i}"
            alloc = {"cpu": "96", "memory": "768Gi", "pods": "110", "nvidia.com/gpu": str(gpus)}
            manifests.append(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": node,
                        "labels": {"pricewise.dev/pool": pool, "kubernetes.io/hostname": node},
                        "annotations": {"kwok.x-k8s.io/node": "fake"},
                    },
                    "spec": {
                        "taints": [
                            {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
                        ]
                    },
                    "status": {"capacity": alloc, "allocatable": alloc},
                }
            )
            self.nodes.append(node)
        self.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests))
        self.pools.append(
            {
                "name": pool,
                "accelerator": self.accelerator(name),
                "nodeSelector": {"pricewise.dev/pool": pool},
                "capacityType": "spot" if spot else "on-demand",
                "prices": {"perDeviceHour": price},
            }
        )
        for node in self.nodes[-nodes:]:
            wait_for(
                lambda n=node: (
                    "True"
                    in self.cluster.kubectl(
                        "get",
                        "node",
                        n,
                        "-o",
                        "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                        check=False,
                    ).stdout
                ),
                60,
                f"node {node} to be Ready",
            )

    def publish(self) -> None:
        """Create (or update) this test's PriceTable."""
        table = {
            "apiVersion": "pricewise.dev/v1alpha1",
            "kind": "PriceTable",
            "metadata": {"name": f"test-{self.tag}"},
            "spec": {"currency": "USD", "pools": self.pools},
        }
        self.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(table))

    def remove(self) -> None:
        """Delete this test's PriceTable and nodes."""
        self.cluster.kubectl(
            "delete", "pricetable", f"test-{self.tag}", "--ignore-not-found", check=False
        )
        if self.nodes:
            self.cluster.kubectl(
                "delete", "node", *self.nodes, "--ignore-not-found", "--wait=false", check=False
            )


def training_job(
    name: str,
    options: list[dict[str, Any]],
    run_seconds: int | None = 600,
    **spec: Any,
) -> dict[str, Any]:
    """A TrainingJob whose workers run `run_seconds` on the simulated nodes; with None they
    run until deleted or ended by `end_workers`, so that a test decides when room frees."""
    annotations = {} if run_seconds is None else {"pricewise.dev/run-for": f"{run_seconds}s"}
    return {
        "apiVersion": "pricewise.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": {
            "options": options,
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {"containers": [{"name": "trainer", "image": "example.com/trainer:1"}]},
            },
            **spec,
        },
    }


def end_workers(cluster: Any, namespace: str, name: str) -> None:
    """End the running workers of TrainingJob `name` now, as if their work were done: a run
    time already past makes the simulated pods succeed (hack/kwok/pod-complete.yaml)."""
    cluster.kubectl(
        "annotate", "pods", "-n", namespace, "-l", f"pricewise.dev/job={name}",
        "--overwrite", "pricewise.dev/run-seconds=0",
    )  # fmt: skip


def apply(cluster: Any, namespace: str, *objects: dict[str, Any]) -> None:
    """kubectl apply objects into a namespace."""
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(list(objects)))


def get(cluster: Any, namespace: str, kind: str, name: str) -> dict[str, Any]:
    """One object as kubectl returns it."""
    out = cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout
    obj: dict[str, Any] = json.loads(out)
    return obj


def status_of(cluster: Any, namespace: str, name: str) -> dict[str, Any]:
    """A TrainingJob's status (empty before the operator wrote one)."""
    st: dict[str, Any] = get(cluster, namespace, "tj", name).get("status") or {}
    return st


def events_of(cluster: Any, namespace: str, reason: str) -> list[dict[str, Any]]:
    """The namespace's Events of `reason`."""
    found = json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)
    return [e for e in found["items"] if e["reason"] == reason]


def wait_phase(
    cluster: Any, namespace: str, name: str, *phases: str, timeout: float = 60
) -> dict[str, Any]:
    """Wait until the TrainingJob reaches one of `phases`; its status."""
    return wait_for(
        lambda: (st := status_of(cluster, namespace, name)) and st.get("phase") in phases and st,
        timeout,
        f"tj {namespace}/{name} to be {' or '.join(phases)}",
    )


def wait_reason(
    cluster: Any, namespace: str, name: str, reason: str, timeout: float = 60
) -> dict[str, Any]:
    """Wait until a Pending TrainingJob gives `reason`; its status."""
    return wait_for(
        lambda: (st := status_of(cluster, namespace, name)) and st.get("reason") == reason and st,
        timeout,
        f"tj {namespace}/{name} to wait with reason {reason}",
    )
