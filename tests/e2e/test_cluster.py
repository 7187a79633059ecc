"""The local control plane itself: the pinned versions, the simulated node pools, and the pod
lifecycle that kwok plays on them (bound by the real kube-scheduler, Running, then Succeeded
or Failed after the run time its annotations give)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from datetime import datetime
from typing import Any

import pytest

from pathload import load_script

local = load_script("pricewise_localcluster", "hack/localcluster")

pytestmark = pytest.mark.cluster


def _pod(name: str, pool: str, annotations: dict[str, str], gpus: int = 0) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "trainer", "image": "example.com/trainer:1"}
    tolerations = []
    if gpus:
        container["resources"] = {
            "requests": {"nvidia.com/gpu": str(gpus)},
            "limits": {"nvidia.com/gpu": str(gpus)},
        }
        tolerations = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"pricewise.dev/pool": pool},
            "tolerations": tolerations,
            "containers": [container],
        },
    }


def _get(cluster: Any, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    args = ["get", kind, name, "-o", "json"] + (["-n", namespace] if namespace else [])
    out: dict[str, Any] = json.loads(cluster.kubectl(*args).stdout)
    return out


def _wait_phase(
    cluster: Any, namespace: str, name: str, phases: set[str], timeout: float = 30
) -> dict[str, Any]:
    """The pod as soon as its phase is one of `phases`; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pod = _get(cluster, "pod", name, namespace)
    while pod["status"].get("phase") not in phases:
        if time.monotonic() > deadline:
            pytest.fail(f"pod {name} not {phases} after {timeout}s: {pod['status']}")
        time.sleep(0.2)
        pod = _get(cluster, "pod", name, namespace)
    return pod


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_versions_are_the_pinned_release(cluster: Any) -> None:
    versions = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    major, minor = local.KUBERNETES[1:].split(".")[:2]
    for side in ("clientVersion", "serverVersion"):
        assert versions[side]["gitVersion"] == local.KUBERNETES, side
        assert (versions[side]["major"], versions[side]["minor"]) == (major, minor), side
    helm = subprocess.run(
        ["helm", "version", "--short"], capture_output=True, text=True, env=cluster.env, check=True
    )
    assert helm.stdout.startswith(local.HELM)  # the pinned helm comes first on the PATH


def test_default_pools_are_simulated_nodes(cluster: Any) -> None:
    wanted = {n["metadata"]["name"]: n for n in local.node_manifests(local.DEFAULT_POOLS)}
    nodes = {
        n["metadata"]["name"]: n
        for n in json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    }
    assert set(wanted) <= set(nodes)
    for name, want in wanted.items():
        node = nodes[name]
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
        assert want["metadata"]["labels"].items() <= node["metadata"]["labels"].items()
        assert node["spec"].get("taints", []) == want["spec"].get("taints", [])
        assert want["status"]["allocatable"].items() <= node["status"]["allocatable"].items()
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", name
    assert nodes["nvidia-h100-spot-0"]["metadata"]["labels"]["pricewise.dev/capacity-type"] == (
        "spot"
    )
    assert nodes["tpu-v5e-0"]["status"]["allocatable"]["google.com/tpu"] == "8"


def test_gpu_pod_is_bound_runs_and_succeeds(cluster: Any, namespace: str) -> None:
    pod = _pod("train", "nvidia-l4", {"pricewise.dev/run-seconds": "3"}, gpus=1)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))

    running = _wait_phase(cluster, namespace, "train", {"Running", "Succeeded"})
    assert running["status"]["phase"] == "Running", "completed before its run time"
    node = _get(cluster, "node", running["spec"]["nodeName"])
    assert node["metadata"]["labels"]["pricewise.dev/pool"] == "nvidia-l4"
    assert node["metadata"]["labels"]["cloud.google.com/gke-accelerator"] == "nvidia-l4"
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    scheduled = [c for c in running["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert scheduled[0]["status"] == "True"  # bound by kube-scheduler, not by hand
    assert running["status"]["podIP"]

    done = _wait_phase(cluster, namespace, "train", {"Succeeded", "Failed"})
    assert done["status"]["phase"] == "Succeeded"
    terminated = done["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"
    ran = _seconds(terminated["finishedAt"]) - _seconds(done["status"]["startTime"])
    assert 3 <= ran <= 10, ran  # kwok ends it at startTime + 3 s


def test_pod_fails_on_request(cluster: Any, namespace: str) -> None:
    pod = _pod("doomed", "cpu", {"pricewise.dev/run-seconds": "1", "pricewise.dev/fail": "true"})
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))
    done = _wait_phase(cluster, namespace, "doomed", {"Succeeded", "Failed"})
    assert done["status"]["phase"] == "Failed"
    terminated = done["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 1


def test_pod_without_run_time_runs_until_deleted(cluster: Any, namespace: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(_pod("svc", "cpu", {})))
    _wait_phase(cluster, namespace, "svc", {"Running"})
    time.sleep(3)
    assert _get(cluster, "pod", "svc", namespace)["status"]["phase"] == "Running"
    cluster.kubectl("delete", "pod", "svc", "-n", namespace, "--timeout=30s")
    assert cluster.kubectl("get", "pod", "svc", "-n", namespace, check=False).returncode != 0


def test_gpu_pod_without_toleration_is_not_placed(cluster: Any, namespace: str) -> None:
    pod = _pod("untolerated", "nvidia-l4", {}, gpus=1)
    pod["spec"]["tolerations"] = []
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))
    deadline = time.monotonic() + 30
    while True:
        status = _get(cluster, "pod", "untolerated", namespace)["status"]
        scheduled = [c for c in status.get("conditions", []) if c["type"] == "PodScheduled"]
        if scheduled and scheduled[0]["status"] == "False":
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert scheduled[0]["reason"] == "Unschedulable"
    assert "untolerated taint" in scheduled[0]["message"]


def test_nodes_from_a_pool_file_are_idempotent(cluster: Any) -> None:
    name = f"t-{uuid.uuid4().hex[:6]}"
    pools = {
        "pools": [
            {
                "name": name,
                "count": 30,
                "instanceType": "ct5lp-hightpu-4t",
                "allocatable": {"cpu": "112", "memory": "192Gi", "google.com/tpu": "4"},
            }
        ]
    }
    try:
        first = cluster.create_nodes(pools)
        assert cluster.create_nodes(pools) == first and len(first) == 30
        listed = cluster.kubectl("get", "nodes", "-l", f"pricewise.dev/pool={name}", "-o", "name")
        assert len(listed.stdout.split()) == 30
    finally:
        cluster.kubectl("delete", "nodes", "-l", f"pricewise.dev/pool={name}", "--wait=false")


def test_a_component_that_dies_at_once_is_named_with_its_exit_and_the_disk(
    cluster: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRICEWISE_CLUSTER_DIR", str(tmp_path))
    state: dict[str, Any] = {"pids": {}}
    local.processes._start("etcd", ["--no-such-flag"], state)
    with pytest.raises(local.ClusterError) as failure:
        local.processes._wait("etcd", lambda: False, 30, state)
    message = str(failure.value)
    assert "etcd exited (exit code " in message, message
    assert f"GiB free in {tmp_path}" in message, message
    assert "no-such-flag" in message, message  # the tail of its log
