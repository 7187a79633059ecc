"""`pricewise prices init|import|diff` on the example GKE nodes, EKS and Karpenter labels, and
catalogs written here in SkyPilot's vms.csv format."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pricewise.api.manifests import ManifestError
from pricewise.api.models import PriceTable
from pricewise.core.refusals import MODELS
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

    assert pools["t4-pool"]["devicesPerNode"] == 1  # what the N1 machine's catalog row lacks
    assert "devicesPerNode" not in pools["cpu-pool"]

    # The README's two commands: no --nodes, the table carries the device counts.
    imported = pricewise("prices", "import", str(CATALOG), str(tmp_path / "init.yaml"))
    assert imported.returncode == 0, imported.stderr
    priced = {p["name"]: p["prices"] for p in yaml.safe_load(imported.stdout)["spec"]["pools"]}
    # The machine row plus the GPU row (checked rows of shared/data/prices/accelerators.csv).
    assert priced["l4-pool"]["perNodeHour"] == pytest.approx(0.14679 + 0.56004)
    assert priced["l4-spot"]["perNodeHour"] == pytest.approx(0.05874 + 0.2231)
    assert priced["t4-pool"]["perDeviceHour"] == 0.35  # the GPU alone: its N1 host is not listed
    assert "cpu-pool" not in priced  # unpriced, it would be free: left out, and said
    assert "cpu-pool: left out: the catalog has no row for e2-standard-8 in us-central1" in (
        imported.stderr
    )
    with_nodes = pricewise("prices", "import", str(CATALOG), str(tmp_path / "init.yaml"),
                           "--nodes", str(NODES))  # fmt: skip
    assert with_nodes.stdout == imported.stdout
    (tmp_path / "priced.yaml").write_text(imported.stdout)

    diff = pricewise("prices", "diff", str(tmp_path / "init.yaml"), "-",
                     stdin=(tmp_path / "priced.yaml").read_text())  # fmt: skip
    assert diff.returncode == 1, diff.stderr  # they differ, as diff(1) says it
    assert diff.stdout.splitlines()[0].split() == ["POOL", "FIELD", "OLD", "NEW", "CHANGE"]
    assert any(line.split() == ["l4-pool", "perNodeHour", "-", "0.70683", "priced"]
               for line in diff.stdout.splitlines())  # fmt: skip
    same = pricewise("prices", "diff", str(tmp_path / "priced.yaml"), str(tmp_path / "priced.yaml"))
    assert same.returncode == 0, same.stderr
    assert ["cpu-pool", "-", "removed"] in [line.split() for line in diff.stdout.splitlines()]


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


def test_a_gke_spot_pool_selects_its_spot_nodes_and_comes_before_its_on_demand_twin() -> None:
    # GKE labels spot nodes alone: the on-demand pool's selector matches them too, and a node
    # belongs to the first pool that selects it.
    kind = {"node.kubernetes.io/instance-type": "a3-highgpu-8g",
            "cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}  # fmt: skip
    nodes = [node("a", kind, gpus=8), node("b", {**kind, "cloud.google.com/gke-spot": "true"},
                                              gpus=8)]  # fmt: skip
    pools = discover.propose(nodes, discover.ACCELERATORS)
    machine = {"node.kubernetes.io/instance-type": "a3-highgpu-8g"}
    assert [(p.name, p.node_selector) for p in pools] == [
        ("a3-highgpu-8g-spot", {**machine, "cloud.google.com/gke-spot": "true"}),
        ("a3-highgpu-8g", machine),
    ]


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
         "vms.csv: row 2, column Price: 'cheap' is not a number"),
        (HEADER + "g2-standard-4,4,16,L4,1,,us-central1,a,nan,0.1\n",
         "vms.csv: row 2, column Price: 'nan' is not a finite number"),
        (HEADER + "g2-standard-4,4,16,L4,1.5,,us-central1,a,0.1,0.1\n",
         "vms.csv: row 2, column AcceleratorCount: 1.5 is not a whole number"),

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


def catalog_of(tmp_path: Path, *rows: str) -> list[catalog.Row]:
    path = tmp_path / "vms.csv"
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return catalog.read_catalog(path)


T4_POOL = {"name": "t4", "accelerator": "nvidia-t4", "instanceType": "n1-standard-8",
           "region": "us-central1",
           "nodeSelector": {"cloud.google.com/gke-nodepool": "t4"}}  # fmt: skip
N1 = "n1-standard-8,8,30,,,,us-central1,us-central1-a,0.379998,0.08"
T4 = ",,,T4,1,,us-central1,us-central1-a,0.35,0.14"


def test_a_gpu_pool_is_never_priced_as_its_machine_alone(tmp_path: Path) -> None:
    rows = catalog_of(tmp_path, N1, T4)
    # The N1 row does not count the T4: without devicesPerNode or the nodes, not priced.
    prices, why = catalog.price_pool(T4_POOL, rows)
    assert prices is None
    assert "how many T4 a n1-standard-8 node carries is unknown" in why
    assert "devicesPerNode" in why and "--nodes" in why
    # With the count (from `prices init`, or from the nodes) the host and its GPU are added.
    assert catalog.price_pool({**T4_POOL, "devicesPerNode": 1}, rows)[0] == {
        "perNodeHour": pytest.approx(0.379998 + 0.35)
    }
    t4_node = node("t", {"cloud.google.com/gke-nodepool": "t4"}, gpus=1)
    assert catalog.price_pool(T4_POOL, rows, [t4_node])[0] == {
        "perNodeHour": pytest.approx(0.379998 + 0.35)
    }
    # Two T4s and only a one-T4 row: not the host alone either.
    prices, why = catalog.price_pool({**T4_POOL, "devicesPerNode": 2}, rows)
    assert prices is None
    assert why == (
        "the catalog has no row for T4 x2 in us-central1; n1-standard-8 alone would leave its "
        "GPUs unpriced"
    )


def test_a_gpu_machine_row_in_a_catalog_without_gpu_rows_is_said_to_be_the_whole_machine(
    tmp_path: Path,
) -> None:
    # A GCP catalog cut to its machine rows priced an L4 node at its host alone, without a word.
    g2 = "g2-standard-4,4,16,L4,1,,us-central1,us-central1-a,0.14679,0.05874"
    pool = {**T4_POOL, "accelerator": "nvidia-l4", "instanceType": "g2-standard-4"}
    prices, how = catalog.price_pool(pool, catalog_of(tmp_path, g2))
    assert prices == {"perNodeHour": 0.14679}
    assert (
        how
        == "g2-standard-4 on-demand 0.14679/h, GPUs included (the catalog has no GPU row to add)"
    )
    # A CPU pool's machine is the whole of it: nothing to say.
    cpu = {**pool, "accelerator": "cpu"}
    assert (
        catalog.price_pool(cpu, catalog_of(tmp_path, g2))[1] == "g2-standard-4 on-demand 0.14679/h"
    )


def test_pools_that_cannot_be_priced_are_left_out_or_keep_their_prices(tmp_path: Path) -> None:
    rows = catalog_of(tmp_path, N1, T4)
    table = PriceTable.model_validate({
        "metadata": {"name": "t"},
        "spec": {"pools": [
            {**T4_POOL, "prices": {}},
            {**T4_POOL, "name": "kept", "instanceType": "e2-standard-8",
             "prices": {"perNodeHour": 0.3}},
            {**T4_POOL, "name": "gone", "instanceType": "e2-standard-8", "prices": {}},
            {**T4_POOL, "name": "one", "devicesPerNode": 1, "prices": {}},
        ]},
    })  # fmt: skip
    priced, notes = catalog.import_prices(table, rows)
    assert [p["name"] for p in priced["spec"]["pools"]] == ["kept", "one"]
    assert priced["spec"]["pools"][0]["prices"]["perNodeHour"] == 0.3
    assert notes[1].startswith("kept: not priced: ") and notes[1].endswith(
        "; keeps the prices it had"
    )
    assert notes[2].startswith("gone: left out: ") and notes[2].endswith(
        "(without prices it would be free)"
    )
    only_unpriced = table.model_copy(
        update={"spec": table.spec.model_copy(update={"pools": [table.spec.pools[2]]})}
    )
    says = "no pool could be priced from the catalog:\n  gone: left out"
    with pytest.raises(catalog.CatalogError, match=says):
        catalog.import_prices(only_unpriced, rows)
    # Nor where every pool keeps the prices it had: the table would print back unchanged.
    only_kept = table.model_copy(
        update={"spec": table.spec.model_copy(update={"pools": [table.spec.pools[1]]})}
    )
    with pytest.raises(catalog.CatalogError, match="from the catalog:\n  kept: not priced"):
        catalog.import_prices(only_kept, rows)


def test_import_writes_the_fields_the_table_sets_and_no_defaults(tmp_path: Path) -> None:
    # Every pool came out with `interruptionRate: 0.0` and `tolerations: []`, which the table
    # did not say, and a diff with it showed them; what the table sets is kept.
    spot = {**T4_POOL, "name": "spot", "capacityType": "spot", "interruptionRate": 0.05,
            "devicesPerNode": 1, "tolerations": [{"key": "spot", "operator": "Exists"}],
            "prices": {}}  # fmt: skip
    table = PriceTable.model_validate({
        "metadata": {"name": "t"},
        "spec": {"carbonIntensity": 400, "pools": [{**T4_POOL, "devicesPerNode": 1,
                                                    "prices": {}}, spot]},
    })  # fmt: skip
    priced, _ = catalog.import_prices(table, catalog_of(tmp_path, N1, T4))
    assert priced == {
        "apiVersion": "pricewise.dev/v1alpha1",
        "kind": "PriceTable",
        "metadata": {"name": "t"},
        "spec": {
            "currency": "USD",  # the prices' unit, though the table left it to the default
            "carbonIntensity": 400.0,
            "pools": [
                {**T4_POOL, "devicesPerNode": 1, "prices": {"perNodeHour": 0.729998}},
                {**spot, "prices": {"perNodeHour": 0.22}},
            ],
        },
    }
    assert PriceTable.model_validate(priced).spec.pools[1].interruption_rate == 0.05


def test_an_unknown_region_prints_nothing_and_names_each_pool(tmp_path: Path) -> None:
    path = tmp_path / "vms.csv"
    path.write_text(HEADER + "g2-standard-4,4,16,L4,1,,europe-west4,europe-west4-a,0.2,0.1\n")
    init = pricewise("prices", "init", str(NODES))
    (tmp_path / "t.yaml").write_text(init.stdout)
    result = pricewise("prices", "import", str(path), str(tmp_path / "t.yaml"))
    assert (result.returncode, result.stdout) == (2, "")
    assert "error: no pool could be priced from the catalog:" in result.stderr
    assert "l4-pool: left out: the catalog has no row in region us-central1" in result.stderr
    assert "Traceback" not in result.stderr


def test_import_says_each_part_of_a_price_to_the_digit_it_writes(tmp_path: Path) -> None:
    # `%g` cut them to six figures: "10/h + H100 x8 77.8325/h" beside 87.83247 written.
    (tmp_path / "vms.csv").write_text(
        HEADER
        + "a3-highgpu-8g,208,1872,H100,8,,us-central1,us-central1-a,10,\n"
        + ",,,H100,8,,us-central1,us-central1-a,77.83247,\n"
    )
    pools = [{"name": "h100", "accelerator": "nvidia-h100", "instanceType": "a3-highgpu-8g",
              "region": "us-central1", "nodeSelector": {"a": "b"}, "prices": {}}]  # fmt: skip
    (tmp_path / "pools.yaml").write_text(yaml.safe_dump(
        {"apiVersion": "pricewise.dev/v1alpha1", "kind": "PriceTable", "metadata": {"name": "t"},
         "spec": {"pools": pools}}))  # fmt: skip
    imported = pricewise(
        "prices", "import", str(tmp_path / "vms.csv"), str(tmp_path / "pools.yaml")
    )
    assert imported.returncode == 0, imported.stderr
    assert "a3-highgpu-8g on-demand 10/h + H100 x8 77.83247/h" in imported.stderr
    (pool,) = yaml.safe_load(imported.stdout)["spec"]["pools"]
    assert pool["prices"]["perNodeHour"] == 87.83247


def test_a_price_past_the_api_bounds_names_the_pool_and_field(tmp_path: Path) -> None:
    path = tmp_path / "vms.csv"
    path.write_text(HEADER + "p5.48xlarge,192,2048,H100,8,,us-east-1,us-east-1a,100001,\n")
    table = PriceTable.model_validate({"metadata": {"name": "t"}, "spec": {"pools": [
        {"name": "p5", "accelerator": "nvidia-h100", "instanceType": "p5.48xlarge",
         "region": "us-east-1", "nodeSelector": {"a": "b"}, "prices": {}}]}})  # fmt: skip
    with pytest.raises(ManifestError, match=r'spec\.pools\[name="p5"\]\.prices\.perNodeHour'):
        catalog.import_prices(table, catalog.read_catalog(path))


def test_diff_shows_a_pool_left_without_prices() -> None:
    def table(prices: dict[str, float]) -> PriceTable:
        return PriceTable.model_validate({"metadata": {"name": "t"}, "spec": {"pools": [
            {"name": "p", "accelerator": "cpu", "nodeSelector": {"a": "b"},
             "prices": prices}]}})  # fmt: skip

    lines = [line.split() for line in catalog.diff(table({}), table({})).splitlines()]
    assert lines[1] == ["p", "-", "0", "unpriced:", "free", "if", "applied"]
    lines = [line.split() for line in catalog.diff(table({"perNodeHour": 1}), table({}))
             .splitlines()]  # fmt: skip
    assert lines[1:] == [["p", "perNodeHour", "1", "0", "-100.0%"],
                         ["p", "-", "0", "unpriced:", "free", "if", "applied"]]  # fmt: skip


def test_diff_shows_a_table_renamed() -> None:
    # "no change", exit 0: applied, the renamed table is a second PriceTable beside the first.
    def table(name: str) -> PriceTable:
        return PriceTable.model_validate({"metadata": {"name": name}, "spec": {"pools": [
            {"name": "p", "accelerator": "cpu", "nodeSelector": {"a": "b"},
             "prices": {"perNodeHour": 1}}]}})  # fmt: skip

    assert not catalog.same_tables(table("a"), table("b"))
    lines = [line.split() for line in catalog.diff(table("a"), table("b")).splitlines()]
    assert lines[1:] == [["-", "metadata.name", "a", "b", "another", "table"]]


def test_diff_compares_a_node_s_price_where_a_pool_is_priced_in_other_units() -> None:
    # Priced per device (as the example writes a one-GPU VM) and then per node (as `prices
    # import` writes it), the same price read "perDeviceHour 0.70683 0 -100.0%".
    def table(prices: dict[str, float]) -> PriceTable:
        return PriceTable.model_validate({"metadata": {"name": "t"}, "spec": {"pools": [
            {"name": "l4", "accelerator": "nvidia-l4", "nodeSelector": {"a": "b"},
             "devicesPerNode": 2, "prices": prices}]}})  # fmt: skip

    per_device, per_node = table({"perDeviceHour": 0.7}), table({"perNodeHour": 1.5})
    lines = [line.split() for line in catalog.diff(per_device, per_node).splitlines()]
    assert lines[1:] == [
        ["l4", "perDeviceHour", "0.7", "0", "moved"],
        ["l4", "perNodeHour", "-", "1.5", "moved"],
        ["l4", "a", "node's", "price", "1.4", "1.5", "+7.1%"],
    ]


def test_diff_shows_what_else_changed_at_the_same_prices(tmp_path: Path) -> None:
    # Every row read +0.0% and the exit was 0 for a pool turned on-demand on other nodes: a
    # review of the diff, or a CI step gating on it, passed the change as none.
    table = yaml.safe_load((ROOT / "examples/pricetable.yaml").read_text())
    spot = next(p for p in table["spec"]["pools"] if p.get("capacityType") == "spot")
    spot.update(capacityType="on-demand", nodeSelector={"pool": "other"}, region="us-east1")
    table["spec"]["carbonIntensity"] = 400
    (tmp_path / "new.yaml").write_text(yaml.safe_dump(table))
    result = pricewise("prices", "diff", "examples/pricetable.yaml", str(tmp_path / "new.yaml"))
    assert result.returncode == 1, result.stderr
    changed = [line.split(maxsplit=1)[1] for line in result.stdout.splitlines()
               if line.startswith(spot["name"]) and line.endswith("changed")]  # fmt: skip
    assert [" ".join(line.split()) for line in changed] == [
        "capacityType spot on-demand changed",
        'nodeSelector {"pricewise.dev/pool": "nvidia-h100-spot"} {"pool": "other"} changed',
        "region - us-east1 changed",
    ]
    # The table's own field: every pool's emissions.
    assert result.stdout.splitlines()[1].split() == ["-", "carbonIntensity", "430.0", "400.0",
                                                     "changed"]  # fmt: skip
    # Prices that did not change are not listed: a review reads what did.
    assert all(line.endswith("changed") for line in result.stdout.splitlines()[1:])


def test_diff_shows_a_small_price_change_in_full(tmp_path: Path) -> None:
    # 10.97906 to 10.97914 read `10.9791  10.9791  +0.0%`, beside unchanged rows read the same.
    text = (ROOT / "examples/pricetable.yaml").read_text()
    assert "perDeviceHour: 10.97906" in text
    (tmp_path / "new.yaml").write_text(
        text.replace("perDeviceHour: 10.97906", "perDeviceHour: 10.97914")
    )
    result = pricewise("prices", "diff", "examples/pricetable.yaml", str(tmp_path / "new.yaml"))
    assert result.returncode == 1, result.stderr
    (row,) = [line.split() for line in result.stdout.splitlines()[1:]]
    assert row[1:] == ["perDeviceHour", "10.97906", "10.97914", "+0.00073%"]
    same = pricewise("prices", "diff", "examples/pricetable.yaml", "examples/pricetable.yaml")
    assert (same.returncode, same.stdout) == (
        0,
        "no change: the tables price every pool the same\n",
    )


def test_a_bad_node_file_or_map_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "latin1.csv").write_bytes(b"InstanceType,caf\xe9\n")
    init = pricewise("prices", "init", str(NODES))
    (tmp_path / "t.yaml").write_text(init.stdout)
    bad = pricewise("prices", "import", str(tmp_path / "latin1.csv"), str(tmp_path / "t.yaml"))
    assert (bad.returncode, bad.stdout) == (2, "")
    assert "latin1.csv: not UTF-8 text" in bad.stderr
    upper = pricewise("prices", "init", str(NODES), "--map", "nvidia-l4=L4")
    assert (upper.returncode, upper.stdout) == (2, "")
    assert "spec.pools[name=\"l4-pool\"].accelerator: 'L4' is not valid" in upper.stderr
    assert "--map the pools' accelerator names" in upper.stderr
    assert "Traceback" not in upper.stderr
    currency = pricewise("prices", "init", str(NODES), "--currency", "usd")
    assert currency.returncode == 2 and "--currency spec.currency" in currency.stderr


def test_a_malformed_node_names_its_field_in_init_and_import(tmp_path: Path) -> None:
    listed = node("n1", {})
    listed["metadata"]["labels"] = ["cloud.google.com/gke-nodepool"]
    (tmp_path / "listed.yaml").write_text(yaml.safe_dump(listed))
    init = pricewise("prices", "init", str(tmp_path / "listed.yaml"))
    assert (init.returncode, init.stdout) == (2, "")
    assert "Node n1: metadata.labels must be a map, not list" in init.stderr
    assert "Traceback" not in init.stderr
    table = pricewise("prices", "init", str(NODES)).stdout
    (tmp_path / "t.yaml").write_text(table)
    lots = yaml.safe_load(NODES.read_text())["items"][0]
    lots["status"]["allocatable"]["cpu"] = "lots"
    (tmp_path / "lots.yaml").write_text(yaml.safe_dump(lots))
    imported = pricewise(
        "prices", "import", str(CATALOG), str(tmp_path / "t.yaml"),
        "--nodes", str(tmp_path / "lots.yaml"),
    )  # fmt: skip
    assert (imported.returncode, imported.stdout) == (2, "")
    assert "status.allocatable.cpu: 'lots' is not a quantity" in imported.stderr
    assert "Traceback" not in imported.stderr


TPU_NODE = node("tpu-0", {"cloud.google.com/gke-nodepool": "v5e",
                          "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
                          "cloud.google.com/gke-tpu-topology": "2x2",
                          "node.kubernetes.io/instance-type": "ct5lp-hightpu-4t",
                          "topology.kubernetes.io/region": "us-central1"})  # fmt: skip
TPU_NODE["status"]["allocatable"]["google.com/tpu"] = "4"


def test_a_tpu_pool_is_priced_per_chip_from_its_slice_row(tmp_path: Path) -> None:
    # SkyPilot's GCP catalog lists a TPU as a whole slice with no machine: the name ends in
    # the slice's size (chips for v5e, TensorCores for v5p), the count is 1, the price is the
    # slice's (1.2 a chip on-demand, 0.21298 spot: shared/data/prices/accelerators.csv).
    rows = catalog_of(
        tmp_path,
        ",,,tpu-v5litepod-4,1,,us-central1,us-central1-a,4.8,0.85192",
        ",,,tpu-v5litepod-8,1,,us-central1,us-central1-a,9.6,1.70384",
        ",,,tpu-v5p-8,1,,us-central1,us-central1-a,16.8,6.72",
    )
    pools = discover.propose([TPU_NODE], discover.ACCELERATORS)
    assert [(p.accelerator, p.devices_per_node) for p in pools] == [("tpu-v5e", 4)]
    pool = discover.price_table(pools, "t", "USD")["spec"]["pools"][0]
    assert catalog.price_pool(pool, rows) == (
        {"perDeviceHour": 1.2},
        "tpu-v5litepod-4 on-demand 4.8/h whole slice of 4 chips, 1.2 a chip",
    )
    assert catalog.price_pool({**pool, "capacityType": "spot"}, rows)[0] == {
        "perDeviceHour": 0.21298
    }
    v5p = {**pool, "accelerator": "tpu-v5p"}  # tpu-v5p-8: 8 TensorCores, 4 chips
    assert catalog.price_pool(v5p, rows)[0] == {"perDeviceHour": 4.2}
    v6e = {**pool, "accelerator": "tpu-v6e"}
    assert catalog.price_pool(v6e, rows) == (
        None, "the catalog has no on-demand tpu-v6e-N slice row in us-central1"
    )  # fmt: skip


def test_a_karpenter_nodepool_mixing_instance_types_becomes_one_pool_per_type() -> None:
    labels = {"karpenter.sh/nodepool": "gpu", "karpenter.sh/capacity-type": "spot"}
    nodes = [
        node("a", {**labels, "node.kubernetes.io/instance-type": "g6.xlarge"}, gpus=1),
        node("b", {**labels, "node.kubernetes.io/instance-type": "p5.48xlarge"}, gpus=8),
        node("c", {**labels, "node.kubernetes.io/instance-type": "g6.xlarge"}, gpus=1),
    ]
    pools = discover.propose(nodes, discover.ACCELERATORS)
    assert [(p.name, p.accelerator, p.devices_per_node, p.nodes) for p in pools] == [
        ("gpu-spot-g6-xlarge", "nvidia-l4", 1, ["a", "c"]),
        ("gpu-spot-p5-48xlarge", "nvidia-h100", 8, ["b"]),
    ]
    assert pools[1].node_selector == {
        "karpenter.sh/nodepool": "gpu",
        "karpenter.sh/capacity-type": "spot",
        "node.kubernetes.io/instance-type": "p5.48xlarge",
    }
    listed = yaml.safe_dump({"kind": "List", "items": nodes})
    result = pricewise("prices", "init", "-", stdin=listed)
    assert result.returncode == 0, result.stderr
    assert (
        "# node pool gpu mixes instance types g6.xlarge (nvidia-l4), p5.48xlarge (nvidia-h100): "
        "one pool per type"
    ) in result.stdout


def test_a_node_with_no_pool_label_is_left_out_with_a_warning() -> None:
    # One node added by hand stopped the proposal of every pool of the cluster.
    nodes = [
        node("a", {"karpenter.sh/nodepool": "gpu", "node.kubernetes.io/instance-type":
                   "g6.xlarge"}, gpus=1),
        node("by-hand", {"pricewise.dev/pool": "a10"}, gpus=2),
    ]  # fmt: skip
    assert [p.nodes for p in discover.propose(nodes, discover.ACCELERATORS)] == [["a"]]
    result = pricewise(
        "prices", "init", "-", stdin=yaml.safe_dump({"kind": "List", "items": nodes})
    )
    assert result.returncode == 0, result.stderr
    skipped = (
        "1 node(s) in no pool (by-hand): no node pool label (cloud.google.com/gke-nodepool, "
        "eks.amazonaws.com/nodegroup, karpenter.sh/nodepool) and no "
        "node.kubernetes.io/instance-type; label them and run again, or add their pool by hand"
    )
    assert f"warning: {skipped}" in result.stderr
    assert f"# {skipped}" in result.stdout
    # With no node to pool, it is an error still.
    alone = pricewise("prices", "init", "-", stdin=yaml.safe_dump(nodes[1]))
    assert alone.returncode == 2
    assert "no node can be put in a pool" in alone.stderr


def test_a_table_in_another_currency_is_neither_imported_into_nor_compared(
    tmp_path: Path,
) -> None:
    init = pricewise("prices", "init", str(NODES), "--currency", "EUR")
    assert init.returncode == 0, init.stderr
    (tmp_path / "eur.yaml").write_text(init.stdout)
    imported = pricewise("prices", "import", str(CATALOG), str(tmp_path / "eur.yaml"))
    assert imported.returncode == 2 and "Traceback" not in imported.stderr
    assert "the table is in EUR, the catalog's prices in USD" in imported.stderr
    usd = pricewise("prices", "init", str(NODES))
    (tmp_path / "usd.yaml").write_text(usd.stdout)
    compared = pricewise("prices", "diff", str(tmp_path / "usd.yaml"), str(tmp_path / "eur.yaml"))
    assert compared.returncode == 2
    assert "the tables are in USD and EUR" in compared.stderr


def test_each_action_has_its_own_help_and_arguments() -> None:
    # One parser for all three printed the same help for each, and took init's --name on diff.
    diff = pricewise("prices", "diff", "--help")
    assert diff.stdout.startswith("usage: pricewise prices diff [-h] OLD NEW")
    assert "every other field that changed" in diff.stdout and "--map" not in diff.stdout
    init = pricewise("prices", "init", "--help")
    assert "--map CLOUD=NAME" in init.stdout and "--nodes" not in init.stdout
    wrong = pricewise("prices", "diff", "examples/pricetable.yaml", "--nodes", "x")
    assert wrong.returncode == 2 and "unrecognized arguments: --nodes" in wrong.stderr


def test_diff_of_stdin_against_itself_is_refused() -> None:
    # Standard input is read once: the second "table" was empty, "expected one PriceTable".
    result = pricewise("prices", "diff", "-", "-")
    assert (result.returncode, result.stderr) == (
        2,
        "error: OLD and NEW are both -: give one of them as a file\n",
    )


def test_every_accelerator_prices_init_names_is_one_refusals_know_to_exist() -> None:
    # A name `prices init` writes is a model, never guessed to be a typo of another.
    assert set(discover.ACCELERATORS.values()) <= MODELS
