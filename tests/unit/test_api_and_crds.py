"""The API models, the CRDs generated from them, and their error messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pricewise.api import convert
from pricewise.api.crdgen import render_all
from pricewise.api.manifests import ManifestError, parse_model
from pricewise.api.models import Budget, PriceTable, TrainingJob
from pricewise.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_committed_crds_match_the_models() -> None:
    generated = render_all()
    committed = {p.name: p.read_text() for p in (ROOT / "crds").glob("*.yaml")}
    assert committed == generated, "crds/ drifted from the models: run `make crds`"


def test_crds_given_a_file_say_so_in_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `pricewise crds file.yaml` ended in FileExistsError's traceback.
    there = tmp_path / "crds.yaml"
    there.write_text("")
    assert main(["crds", str(there)]) == 2
    assert capsys.readouterr().err == (
        f"error: {there} is a file: give the directory to write the CRDs into, one file per "
        "kind (default crds)\n"
    )
    assert main(["crds", str(there / "crds")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {there / 'crds'}: cannot write the CRDs: Not a directory\n"
    assert main(["crds", str(tmp_path / "new" / "crds")]) == 0
    assert sorted(p.name for p in (tmp_path / "new" / "crds").iterdir()) == sorted(render_all())


def _walk(schema: dict[str, Any], path: str) -> list[str]:
    """Places where a structural schema lacks a type (the API server would refuse it)."""
    missing = [] if "type" in schema else [path]
    for name, sub in schema.get("properties", {}).items():
        missing += _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        missing += _walk(schema["items"], f"{path}[]")
    return missing


@pytest.mark.parametrize("name", sorted(render_all()))
def test_crd_schemas_are_structural_and_documented(name: str) -> None:
    crd = yaml.safe_load(render_all()[name])
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    assert _walk(schema, "") == []
    for field, sub in schema["properties"]["spec"]["properties"].items():
        assert sub.get("description"), f"spec.{field} has no description for kubectl explain"
    assert version["subresources"] == {"status": {}}
    assert crd["spec"]["names"]["shortNames"]
    # The API server would fill a default into every status it returns: a Budget whose figures
    # were never written would read SPENT 0, REMAINING 0.
    assert "default:" not in yaml.safe_dump(schema["properties"].get("status", {}))


def _job(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "options": [{"accelerator": "nvidia-l4", "duration": "2h"}],
        "template": {"spec": {"containers": [{"name": "trainer", "image": "trainer"}]}},
    }
    base.update(spec)
    return {"kind": "TrainingJob", "metadata": {"name": "j", "namespace": "ns"}, "spec": base}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"workers": {"min": 4, "max": 2}},
            "spec.workers: workers.min (4) must be less than or equal",
        ),
        (
            {"options": [{"accelerator": "nvidia-l4"}]},
            "spec.options[0]: give exactly one of throughput (with spec.work) or duration",
        ),
        (
            {"options": [{"accelerator": "nvidia-l4", "throughput": 10}]},
            "spec.work is required when an option gives a throughput: add spec.work, the job's "
            "total work in the units of its options' throughput, or give each option a duration",
        ),
        (
            {"maxDuration": "eight hours"},
            "spec.maxDuration: 'eight hours' is not valid: use a duration, e.g. 45m, 10h30m or 2d",
        ),
        ({"maxCost": -1}, "spec.maxCost: must be >= 0 (got -1)"),
        ({"scalingEfficiency": 0.2}, "spec.scalingEfficiency: must be >= 0.5 (got 0.2)"),
        ({"gpus": 8}, "spec.gpus: unknown field; remove it or use one of template, workers,"),
        ({"maxDuraton": "8h"}, "spec.maxDuraton: unknown field; did you mean maxDuration?"),
        (
            {"checkpoint": {"interval": "often"}},
            "spec.checkpoint.interval: 'often' is not valid: use a duration",
        ),
        (
            {"checkpoint": {}},
            "spec.checkpoint.interval: required; add it: Time between checkpoints, e.g. 30m",
        ),
        # A worker without a container ran a placeholder that exited at once: "Succeeded".
        ({"template": {}}, "spec.template: spec.containers: a worker needs at least one container"),
        ({"template": None}, "spec.template: must be a mapping of fields (got None)"),
        # A mapping of known fields names them; a list or string says what it is for.
        ({"workers": 5}, "spec.workers: must be a mapping with min, max (got 5)"),
        ({"options": []}, "spec.options: must have at least one entry: Acceptable ways to run"),
        (
            {"checkpoint": {"interval": 5}},
            "spec.checkpoint.interval: must be a string (got 5): Time between checkpoints",
        ),
        ({"template": {"spec": {"containers": []}}}, "spec.containers: a worker needs at least"),
    ],
)
def test_invalid_jobs_name_the_field(spec: dict[str, Any], expected: str) -> None:
    with pytest.raises(ManifestError) as err:
        parse_model(TrainingJob, _job(**spec), "job.yaml")
    assert "job.yaml: TrainingJob ns/j:" in str(err.value)
    assert expected in str(err.value)


def test_defaults() -> None:
    tj = parse_model(TrainingJob, _job(), "x")
    assert (tj.spec.workers.min, tj.spec.workers.max, tj.spec.priority, tj.spec.allow_spot) == (
        1,
        1,
        0,
        False,
    )
    assert tj.status.phase == "Pending"


def test_price_table_rejects_duplicate_pools_and_negative_prices() -> None:
    pool = {
        "name": "a",
        "accelerator": "cpu",
        "nodeSelector": {"x": "y"},
        "prices": {"perCpuHour": 1},
    }
    obj = {"kind": "PriceTable", "metadata": {"name": "p"}, "spec": {"pools": [pool, pool]}}
    with pytest.raises(ManifestError, match="pool name 'a' appears twice"):
        parse_model(PriceTable, obj, "x")
    for rate, says in (
        (-0.1, r"must be >= 0 \(got -0.1\)"),
        (101, "101 is too large: at most 100"),
        ("101", "'101' is too large: at most 100"),  # a string from YAML was a traceback
    ):
        obj["spec"] = {"pools": [{**pool, "interruptionRate": rate}]}
        with pytest.raises(
            ManifestError, match=rf'spec.pools\[name="a"\].interruptionRate: {says}'
        ):
            parse_model(PriceTable, obj, "x")
    bad = {**pool, "prices": {"perGiBHour": -2}}
    obj["spec"] = {"pools": [bad]}
    with pytest.raises(
        ManifestError, match=r'spec.pools\[name="a"\].prices.perGiBHour: must be >='
    ):
        parse_model(PriceTable, obj, "x")
    for toleration, says in (
        ({"key": 5, "operator": "Sometimes"}, r"tolerations\[0\].key: must be a string \(got 5\)"),
        ({"operator": "Equal", "value": "x"}, "a toleration without a key must have operator"),
        ({"key": "k", "operator": "Exists", "value": "v"}, "with operator: Exists takes no"),
    ):
        obj["spec"] = {"pools": [{**pool, "tolerations": [toleration]}]}
        with pytest.raises(ManifestError, match=rf'spec.pools\[name="a"\].{says}|{says}'):
            parse_model(PriceTable, obj, "x")
    good = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    obj["spec"] = {"pools": [{**pool, "tolerations": [good]}]}
    assert parse_model(PriceTable, obj, "x").spec.pools[0].tolerations[0].key == "nvidia.com/gpu"


def test_budget_thresholds() -> None:
    obj = {
        "kind": "Budget",
        "metadata": {"name": "b"},
        "spec": {"limit": 10, "thresholds": [0, 50]},
    }
    with pytest.raises(ManifestError, match=r"spec\.thresholds\[0\]: must be > 0 \(got 0\)"):
        parse_model(Budget, obj, "x")


def test_saved_progress_leaves_the_rest_of_the_work_to_plan() -> None:
    body = _job(work=1000.0, options=[{"accelerator": "nvidia-l4", "throughput": 10}])
    body["status"] = {"progress": 0.25}
    job = convert.job_from(parse_model(TrainingJob, body, "x"))
    assert job.work == 750.0
    assert job.options[0].throughput == 10  # speeds stay per unit of work
    body["metadata"]["annotations"] = {"pricewise.dev/progress": "0.4"}
    assert convert.reported_progress(body) == 0.4
    body["metadata"]["annotations"] = {"pricewise.dev/progress": "40%"}
    with pytest.raises(ValueError, match=r"pricewise.dev/progress='40%' is not a share"):
        convert.reported_progress(body)
    assert convert.reported_progress(_job()) is None


def test_restarts_left_are_the_policy_less_the_restarts_taken() -> None:
    body = _job()
    assert convert.job_from(parse_model(TrainingJob, body, "x")).restarts_left == 3
    body["spec"]["failurePolicy"] = {"maxRestarts": 5}
    body["status"] = {"restarts": 2}
    assert convert.job_from(parse_model(TrainingJob, body, "x")).restarts_left == 3
    body["status"] = {"restarts": 7}  # the policy was lowered after the restarts
    assert convert.job_from(parse_model(TrainingJob, body, "x")).restarts_left == 0


def test_when_late_run_lets_the_job_run_past_its_deadline() -> None:
    assert not convert.job_from(parse_model(TrainingJob, _job(), "x")).runs_late
    assert convert.job_from(parse_model(TrainingJob, _job(whenLate="Run"), "x")).runs_late
    with pytest.raises(ManifestError, match=r"spec.whenLate: must be 'Wait' or 'Run' \(got 'La"):
        parse_model(TrainingJob, _job(whenLate="Later"), "x")
