"""`pricewise prices init|import|diff` on the example GKE nodes, EKS and Karpenter labels, and
catalogs written here in SkyPilot's vms.csv format."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pricewise.api.models import PriceTable
from pricewise.offline import catalog, discover

ROOT = Path(__file__).resolve().parents[2]
NODES = ROOT / "examples/prices/nodes-gke.yaml"
CATALOG = ROOT / "examples/prices/catalog-gcp.csv"
HEADER = "InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,"
HEADER += "AvailabilityZone,Price,SpotPrice\n"


def pricewise(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pricewise", *args],
        capture_output=True, text=True, cwd=ROOT, input=stdin, check=False,
    )  # fmt: skip


def node(name: str, labels: dict[str, str], gpus: int = 0) -> dict[str, Any]:
    allocatable = {"cpu": "8", "memory": "32Gi", **({"nvidia.com/gpu": str(gpus)} if gpus else {})}
    return {"kind": "Node", "metadata": {"name": name, "labels": labels},
            "status": {"allocatable": allocatable}}  # fmt: skip


def test_init_then_import_then_diff_on_the_example_gke_nodes(tmp_path: Path) -> None:
    init = pricewise("prices", "init", str(NODES), "--name", "gke")
    assert init.returncode == 0, init.stderr
    assert "#   nvidia-tesla-t4 -> nvidia-t4" in init.stdout
    table = yaml.safe_load(init.stdout)
    PriceTable.model_validate(table)  # a valid object, ready for `kubectl apply`
    pools = {p["name"]: p for p in table["spec"]["pools"]}
    assert list(pools) == ["l4-pool", "l4-spot", "t4-pool", "cpu-pool"]
    assert pools["l4-spot"]["capacityType"] == "spot"
    assert pools["t4-pool"]["accelerator"] == "nvidia-t4"
    assert pools["cpu-pool"]["accelerator"] == "cpu"
    assert pools["l4-pool"]["nodeSelector"] == {"cloud.google.com/gke-nodepool": "l4-pool"}
    (tmp_path / "init.yaml").write_text(init.stdout)

    imported = pricewise("prices", "import", str(CATALOG), str(tmp_path / "init.yaml"),
                         "--nodes", str(NODES))  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    priced = {p["name"]: p["prices"] for p in yaml.safe_load(imported.stdout)["spec"]["pools"]}
    # The machine row plus the GPU row (checked rows of shared/data/prices/accelerators.csv).
    assert priced["l4-pool"]["perNodeHour"] == pytest.approx(0.14679 + 0.56004)
    assert priced["l4-spot"]["perNodeHour"] == pytest.approx(0.05874 + 0.2231)
    assert priced["t4-pool"]["perDeviceHour"] == 0.35  # the GPU alone: its N1 host is not listed
    assert "cpu-pool: not priced: the catalog has no row for e2-standard-8 in us-central1" in (
        imported.stderr
    )
    (tmp_path / "priced.yaml").write_text(imported.stdout)

    diff = pricewise("prices", "diff", str(tmp_path / "init.yaml"), "-",
                     stdin=(tmp_path / "priced.yaml").read_text())  # fmt: skip
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.splitlines()[0].split() == ["POOL", "UNIT", "OLD", "NEW", "CHANGE"]
    assert any(line.split() == ["l4-pool", "node", "0", "0.70683", "new"]
               for line in diff.stdout.splitlines())  # fmt: skip


def test_eks_and_karpenter_pools_by_capacity_type() -> None:
    nodes = [
        node("a", {"eks.amazonaws.com/nodegroup": "gpu", "eks.amazonaws.com/capacityType":
                   "ON_DEMAND", "node.kubernetes.io/instance-type": "p5.48xlarge"}, gpus=8),
        node("b", {"eks.amazonaws.com/nodegroup": "gpu", "eks.amazonaws.com/capacityType": "SPOT",
                   "node.kubernetes.io/instance-type": "p5.48xlarge"}, gpus=8),
        node("c", {"karpenter.sh/nodepool": "general", "karpenter.sh/capacity-type": "spot",
                   "node.kubernetes.io/instance-type": "m7i.4xlarge"}),
    ]  # fmt: skip
    pools = discover.propose(nodes, discover.ACCELERATORS)
    assert [(p.name, p.accelerator, p.capacity_type) for p in pools] == [
        ("gpu", "nvidia-h100", "on-demand"),
        ("gpu-spot", "nvidia-h100", "spot"),
        ("general-spot", "cpu", "spot"),
    ]
    assert pools[1].node_selector == {
        "eks.amazonaws.com/nodegroup": "gpu",
        "eks.amazonaws.com/capacityType": "SPOT",
    }


def test_an_unknown_accelerator_names_the_flag_that_maps_it() -> None:
    gb200 = node("x", {"cloud.google.com/gke-nodepool": "new",
                       "cloud.google.com/gke-accelerator": "nvidia-gb200"}, gpus=4)  # fmt: skip
    with pytest.raises(discover.DiscoveryError, match="--map nvidia-gb200=NAME"):
        discover.propose([gb200], discover.ACCELERATORS)
    pools = discover.propose([gb200], {**discover.ACCELERATORS, "nvidia-gb200": "nvidia-gb200"})
    assert pools[0].accelerator == "nvidia-gb200"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("InstanceType,Region,Price\n", "missing column(s) AcceleratorName, AcceleratorCount"),
        (HEADER + "g2-standard-4,4,16,L4,1,,us-central1,us-central1-a,cheap,0.1\n",
         "row 2, column Price: 'cheap' is not a number"),
        (HEADER + "g2-standard-4,4,16,L4,1,,us-central1,a,0.1,0.1\n"
         "g2-standard-4,4,16,L4,1,,us-central1,a,0.2,0.1\n", "row 3 repeats row 2"),
    ],
)  # fmt: skip
def test_a_bad_catalog_names_the_row_and_column(tmp_path: Path, content: str, message: str):
    path = tmp_path / "vms.csv"
    path.write_text(content)
    with pytest.raises(catalog.CatalogError, match=message.replace("(", r"\(").replace(")", r"\)")):
        catalog.read_catalog(path)
    init = pricewise("prices", "init", str(NODES))
    (tmp_path / "t.yaml").write_text(init.stdout)
    result = pricewise("prices", "import", str(path), str(tmp_path / "t.yaml"))
    assert (result.returncode, result.stdout) == (2, "")  # nothing half-written
    assert "error:" in result.stderr and message.split("(", maxsplit=1)[0] in result.stderr


def test_an_unknown_region_and_a_missing_spot_price_say_so(tmp_path: Path) -> None:
    path = tmp_path / "vms.csv"
    path.write_text(HEADER + "g2-standard-4,4,16,L4,1,,europe-west4,europe-west4-a,0.2,\n")
    rows = catalog.read_catalog(path)
    pool = {"name": "p", "instanceType": "g2-standard-4", "region": "us-central1",
            "accelerator": "nvidia-l4"}  # fmt: skip
    assert catalog.price_pool(pool, rows) == (
        None, "the catalog has no row in region us-central1"
    )  # fmt: skip
    spot = {**pool, "region": "europe-west4", "capacityType": "spot"}
    assert catalog.price_pool(spot, rows) == (
        None,
        "g2-standard-4 in europe-west4 has no spot price",
    )
