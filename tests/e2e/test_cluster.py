"""The local control plane itself: real kube-scheduler binds a GPU pod to a simulated node, kwok
runs it and completes it after the run time its annotation gives."""

from __future__ import annotations

import json

import pytest
from conftest import Cluster, local
from operator_fixtures import wait_for

pytestmark = pytest.mark.cluster


def test_versions_are_stamped(cluster: Cluster) -> None:
    versions = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert versions["clientVersion"]["gitVersion"] == local.KUBERNETES
    assert versions["serverVersion"]["gitVersion"] == local.KUBERNETES


def test_gpu_pod_is_bound_runs_and_succeeds(cluster: Cluster, namespace: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "gpu", "annotations": {"pricewise.dev/run-for": "2s"}},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"pricewise.dev/pool": "nvidia-l4"},
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ],
            "containers": [
                {"name": "c", "image": "busybox", "resources": {"limits": {"nvidia.com/gpu": "1"}}}
            ],
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))

    def get() -> dict[str, object]:
        out: dict[str, object] = json.loads(
            cluster.kubectl("get", "pod", "gpu", "-n", namespace, "-o", "json").stdout
        )
        return out

    running = wait_for(
        lambda: (p := get())["status"].get("phase") == "Running" and p, 30, "Running"
    )  # type: ignore[union-attr]
    assert running["spec"]["nodeName"].startswith("nvidia-l4-")  # type: ignore[index]
    done = wait_for(
        lambda: (p := get())["status"].get("phase") == "Succeeded" and p, 30, "Succeeded"
    )  # type: ignore[union-attr]
    state = done["status"]["containerStatuses"][0]["state"]["terminated"]  # type: ignore[index]
    assert state["exitCode"] == 0 and state["startedAt"] <= state["finishedAt"]


def test_failure_on_request(cluster: Cluster, namespace: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "doomed",
            "annotations": {"pricewise.dev/run-for": "1s", "pricewise.dev/fail": "true"},
        },
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"pricewise.dev/pool": "cpu"},
            "containers": [{"name": "c", "image": "busybox"}],
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))
    phase = wait_for(
        lambda: (
            cluster.kubectl(
                "get", "pod", "doomed", "-n", namespace, "-o", "jsonpath={.status.phase}"
            ).stdout
            == "Failed"
        ),
        30,
        "the pod to fail",
    )
    assert phase
