"""An admin's two commands on a GKE-labelled cluster: `prices init` from the live nodes,
`prices import` from a catalog, `kubectl apply`, and a TrainingJob goes to the cheapest pool."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
import yaml
from operator_fixtures import ROOT, Operator, apply, training_job, wait_for, wait_phase

pytestmark = pytest.mark.cluster


def _gke_node(name: str, pool: str, accelerator: str, machine: str) -> dict[str, Any]:
    alloc = {"cpu": "8", "memory": "30Gi", "pods": "110", "nvidia.com/gpu": "1"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "cloud.google.com/gke-nodepool": pool,
                "cloud.google.com/gke-accelerator": accelerator,
                "node.kubernetes.io/instance-type": machine,
                "topology.kubernetes.io/region": "us-central1",
                "kubernetes.io/hostname": name,
            },
            "annotations": {"kwok.x-k8s.io/node": "fake"},
        },
        "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
        "status": {"capacity": alloc, "allocatable": alloc},
    }


def _pricewise(*args: str, stdin: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pricewise", *args],
        input=stdin, capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_init_import_apply_then_a_job_goes_to_the_cheapest_imported_pool(
    cluster: Any, namespace: str, operator: Operator, tmp_path: Any
) -> None:
    tag = uuid.uuid4().hex[:6]
    l4, t4 = f"l4-{tag}", f"t4-{tag}"
    nodes = [
        _gke_node(f"gke-{l4}-0", l4, "nvidia-l4", "g2-standard-4"),
        _gke_node(f"gke-{t4}-0", t4, "nvidia-tesla-t4", "n1-standard-8"),
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(nodes))
    table_name = f"gke-{tag}"
    try:
        listed = cluster.kubectl(
            "get", "nodes", "-l", f"cloud.google.com/gke-nodepool in ({l4},{t4})", "-o", "yaml"
        ).stdout
        proposed = _pricewise("prices", "init", "-", "--name", table_name, stdin=listed)
        (tmp_path / "pools.yaml").write_text(proposed)
        priced = _pricewise(
            "prices", "import", str(ROOT / "examples/prices/catalog-gcp.csv"),
            str(tmp_path / "pools.yaml"), "--nodes", "-", stdin=listed,
        )  # fmt: skip
        pools = {p["name"]: p["prices"] for p in yaml.safe_load(priced)["spec"]["pools"]}
        assert pools == {l4: {"perNodeHour": 0.70683}, t4: {"perDeviceHour": 0.35}}
        cluster.kubectl("apply", "-f", "-", input=priced)
        # One GPU for 1 h on the L4 node costs its whole node, 0.71; the T4 needs 3 h: 1.05.
        options = [
            {"accelerator": "nvidia-l4", "devicesPerWorker": 1, "duration": "1h"},
            {"accelerator": "nvidia-t4", "devicesPerWorker": 1, "duration": "3h"},
        ]
        apply(cluster, namespace, training_job("quoted", options))
        placed = wait_phase(cluster, namespace, "quoted", "Admitted", "Running", timeout=90)
        assert (placed["pool"], placed["estimatedCost"]) == (l4, 0.71)
        rows = {row["pool"]: row["cost"] for row in placed["options"]}
        assert rows == {l4: 0.71, t4: 1.05}

        def ready() -> dict[str, Any] | None:
            out = cluster.kubectl("get", "pricetable", table_name, "-o", "json").stdout
            conditions = (json.loads(out).get("status") or {}).get("conditions") or []
            return next((c for c in conditions if c["type"] == "Ready"), None)

        assert wait_for(ready, 30, "the imported table's condition")["status"] == "True"
    finally:
        cluster.kubectl("delete", "pricetable", table_name, "--ignore-not-found", check=False)
        cluster.kubectl("delete", "node", *(n["metadata"]["name"] for n in nodes),
                        "--ignore-not-found", "--wait=false", check=False)  # fmt: skip
