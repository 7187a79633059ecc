"""The API models, the CRDs generated from them, and their error messages."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from pricewise.api import convert, podrequests
from pricewise.api.crdgen import render_all
from pricewise.api.fields import DURATION_FORM, check_duration
from pricewise.api.manifests import ManifestError, parse_model
from pricewise.api.models import (
    Budget,
    BudgetStatus,
    JobOption,
    PriceTable,
    TrainingJob,
    TrainingJobStatus,
)
from pricewise.api.nodepools import pools_from
from pricewise.cli import main
from pricewise.controller.workers import worker_pod
from pricewise.core.units import DURATION_PATTERN

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
    """Places where a structural schema lacks a type (the API server would refuse it); an
    int-or-string has none, by the rule."""
    typed = "type" in schema or schema.get("x-kubernetes-int-or-string")
    missing = [] if typed else [path]
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
        # A worker of no request was feasible and waited for room for ever; one of no CPU on
        # a cpu option paid for its memory alone.
        (
            {"options": [{"accelerator": "cpu", "cpu": "0", "memory": "0Gi", "duration": "1h"}]},
            "spec.options[0]: a cpu option's worker requests no CPU; remove cpu",
        ),
        (
            {"options": [{"accelerator": "cpu", "cpu": "0m", "duration": "1h"}]},
            "spec.options[0]: a cpu option's worker requests no CPU; remove cpu",
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
        # A number where a duration goes: its unit is what is missing, not its quotes.
        (
            {"checkpoint": {"interval": 5}},
            "spec.checkpoint.interval: 5 has no unit: write a duration, e.g. 5h, 5m or 5s",
        ),
        ({"maxDuration": 12}, "spec.maxDuration: 12 has no unit: write a duration, e.g. 12h,"),
        ({"template": {"spec": {"containers": []}}}, "spec.containers: a worker needs at least"),
        # Scalars of another type, as the API server refuses them: read as true, 1 put a dry
        # run's job on a spot pool.
        ({"allowSpot": 1}, "spec.allowSpot: must be true or false (got 1)"),
        ({"allowSpot": "yes"}, "spec.allowSpot: must be true or false (got 'yes')"),
        ({"work": "2000000"}, "spec.work: must be a number (got '2000000')"),
        ({"priority": "5"}, "spec.priority: must be a whole number (got '5')"),
        ({"priority": 2.5}, "spec.priority: must be a whole number (got 2.5)"),
        # Only a positive number is a duration short of its unit.
        ({"maxDuration": True}, "spec.maxDuration: must be a string (got True)"),
        ({"maxDuration": 0}, "spec.maxDuration: must be a string (got 0)"),
    ],
)
def test_invalid_jobs_name_the_field(spec: dict[str, Any], expected: str) -> None:
    with pytest.raises(ManifestError) as err:
        parse_model(TrainingJob, _job(**spec), "job.yaml")
    assert "job.yaml: TrainingJob ns/j:" in str(err.value)
    assert expected in str(err.value)


def test_a_misspelt_spec_is_pointed_at_where_the_spec_is_missing() -> None:
    # The object's top level ignores fields it does not know, so `specs:` read only as
    # "spec: required".
    body = _job()
    body["specs"] = body.pop("spec")
    with pytest.raises(ManifestError) as err:
        parse_model(TrainingJob, body, "job.yaml")
    assert "spec: required; add it (specs is given: a misspelling of it?)" in str(err.value)


def test_a_whole_float_is_an_integer_as_the_api_server_takes_it() -> None:
    job = parse_model(TrainingJob, _job(priority=1.0, workers={"min": 1, "max": 2.0}), "x")
    assert (job.spec.priority, job.spec.workers.max) == (1, 2)
    assert isinstance(job.spec.priority, int)


def test_the_misspelling_hint_names_no_field_of_the_object() -> None:
    # `generateName` left `name` missing; `namespace`, a field, is no misspelling of it.
    body = _job()
    body["metadata"] = {"generateName": "llm-", "namespace": "team-a"}
    with pytest.raises(ManifestError) as err:
        parse_model(TrainingJob, body, "job.yaml")
    assert "metadata.name: required; add it" in str(err.value)
    assert "is given" not in str(err.value)


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
        (float("inf"), "a number past 1.8e308 is too large: at most 100"),  # 1e400 in YAML
        ("101", r"must be a number \(got '101'\)"),  # a string from YAML was a traceback
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


def _fields(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every field of a CRD schema, by its path (`.spec.options[].duration`)."""
    found = [(path, schema)]
    for name, sub in schema.get("properties", {}).items():
        found += _fields(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        found += _fields(schema["items"], f"{path}[]")
    return found


def _crd_fields(name: str) -> dict[str, dict[str, Any]]:
    crd = yaml.safe_load(render_all()[name])
    return dict(_fields(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]))


def _cel_duration_seconds(rule: str, value: str) -> float:
    """What a duration rule adds up for `value`: its regexes and units map applied as the API
    server applies them (findAll, then each part's number times its unit)."""
    parts = re.search(r"findAll\('([^']+)'\)", rule)
    number, unit = re.findall(r"p\.find\('([^']+)'\)", rule)
    units = re.search(r"(\{'ms'[^}]*\})", rule)
    assert parts and units, rule
    table = ast.literal_eval(units.group(1))
    found = [m.group() for m in re.finditer(parts.group(1), value)]
    return sum(float(re.search(number, p).group()) * table[re.search(unit, p).group()]
               for p in found)  # fmt: skip


DURATIONS = [
    ".spec.maxDuration",
    ".spec.maxWait",
    ".spec.options[].duration",
    ".spec.checkpoint.interval",
]


@pytest.mark.parametrize("path", DURATIONS)
@pytest.mark.parametrize(
    "value", ["99999d", "500ms", "0.999s", "0s", "1s", "1000ms", "5m30s", "3650d", "3649d24h",
              "87600h", "87600h1ms", "3649d23h59m60.5s", "1.5h"],
)  # fmt: skip
def test_the_api_server_refuses_the_durations_the_operator_refuses(path: str, value: str) -> None:
    # `maxDuration: 99999d` passed `kubectl apply` (the rule only wanted a non-zero digit),
    # and was refused later by the operator; 500ms passed too, below the 1s documented.
    field = _crd_fields("pricewise.dev_trainingjobs.yaml")[path]
    [rule] = [r for r in field["x-kubernetes-validations"] if "findAll" in r["rule"]]
    low, high = map(float, re.findall(r"s [<>]= ([0-9.]+)", rule["rule"]))
    try:
        check_duration(value)
        operator_accepts = True
    except ValueError:
        operator_accepts = False
    assert (low <= _cel_duration_seconds(rule["rule"], value) <= high) == operator_accepts
    assert rule["message"] == "must be from 1s to 3650d"
    assert field["description"].endswith(" From 1s to 3650d.")
    # Something not a duration is the form's rule to refuse, with its own message in words
    # (a pattern's error quoted the regex).
    assert "pattern" not in field
    form = field["x-kubernetes-validations"][0]
    assert form == {"rule": f"self.matches(r'{DURATION_PATTERN}')", "message": DURATION_FORM}
    assert rule["rule"].startswith(f"!self.matches(r'{DURATION_PATTERN}') || ")


def test_a_worker_s_cpu_and_memory_are_bounded_by_the_api_server_too() -> None:
    fields = _crd_fields("pricewise.dev_trainingjobs.yaml")
    for name, most, largest in (("cpu", "100000", 100000), ("memory", "1000000Gi", 2**30 * 10**6)):
        field = fields[f".spec.options[].{name}"]
        assert field["description"].endswith(f" At most {most}.")
        assert field["x-kubernetes-validations"] == [{
            "rule": "type(self) == string ? (!isQuantity(self) || "
            f"quantity(self).compareTo(quantity('{most}')) <= 0) : "
            f"self >= 0 && self <= {largest}",
            "message": f"must be from 0 to {most}",
        }]  # fmt: skip
        # A whole number, as a pod's resources take it (`cpu: 8`), was refused as not a string.
        assert field["x-kubernetes-int-or-string"] is True and "type" not in field
        assert field["anyOf"] == [{"type": "integer"}, {"type": "string"}]


def test_a_worker_s_cpu_given_as_a_whole_number_reads_as_its_text() -> None:
    base = {"accelerator": "cpu", "duration": "1h"}
    assert JobOption.model_validate({**base, "cpu": 8, "memory": 1024}).cpu == "8"
    assert JobOption.model_validate({**base, "memory": 1024}).memory == "1024"
    for wrong in (True, 0.5):
        with pytest.raises(ValidationError, match="cpu"):
            JobOption.model_validate({**base, "cpu": wrong})
    with pytest.raises(ValidationError, match="too large"):
        JobOption.model_validate({**base, "cpu": 200000})


_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:e-?[0-9]+)?")


@pytest.mark.parametrize("name", sorted(render_all()))
def test_every_numeric_bound_is_in_its_description(name: str) -> None:
    # `priority: 5000` was refused while kubectl explain said only "Higher priority jobs are
    # placed first", and minThroughput's maximum was said nowhere.
    for path, field in _crd_fields(name).items():
        said = {float(n) for n in _NUMBER.findall(field.get("description", ""))}
        for where, schema in ((path, field), (f"{path}[]", field.get("items") or {})):
            for bound in ("minimum", "maximum"):
                if bound in schema and "description" in field:
                    assert schema[bound] in said, (
                        f"{where}: {bound} not in {field['description']!r}"
                    )


def test_bounds_read_as_sentences() -> None:
    spec = _crd_fields("pricewise.dev_trainingjobs.yaml")
    assert spec[".spec.priority"]["description"] == (
        "Higher priority jobs are placed first under contention. From -1000 to 1000."
    )
    assert spec[".spec.minThroughput"]["description"].endswith(
        "acceptable. More than 0, at most 1.024e15."
    )
    assert spec[".spec.work"]["description"].endswith("must do. From 1e-6 to 1e15.")
    budget = _crd_fields("pricewise.dev_budgets.yaml")
    assert budget[".spec.thresholds"]["description"] == (
        "Percentages of the limit at which to alert, none twice. Each more than 0, at most 1000."
    )


def test_a_budget_stored_with_a_threshold_twice_is_read_with_it_once() -> None:
    # The schema refuses repeats now; a Budget stored before is not set aside for one.
    budget = Budget.model_validate(
        {
            "metadata": {"name": "b", "namespace": "ns"},
            "spec": {"limit": 1, "thresholds": [80, 50, 50]},
        }
    )
    assert budget.spec.thresholds == [80.0, 50.0]


@pytest.mark.parametrize(
    ("selector", "error"),
    [
        ({"not a valid/label key!!": "x"}, "'not a valid/label key!!' is not a label key"),
        ({"a/b/c": "x"}, "'a/b/c' is not a label key"),
        ({"k": "x y"}, "'x y' is not a label value"),
        ({"pricewise.dev/pool": "-a"}, "'-a' is not a label value"),
    ],
)
def test_a_pool_whose_selector_no_node_could_match_is_set_aside_naming_the_label(
    selector: dict[str, str], error: str
) -> None:
    # It was taken, and the pool read "matches no node", as if the nodes were missing. The
    # table's other pools go on: one stored before the schema checked values may hold it.
    pools = [{"name": "p", "accelerator": "cpu", "nodeSelector": selector,
              "prices": {"perCpuHour": 1}},
             {"name": "q", "accelerator": "cpu", "nodeSelector": {"pool": "q"},
              "prices": {"perCpuHour": 1}}]  # fmt: skip
    table = PriceTable.model_validate({"metadata": {"name": "t"}, "spec": {"pools": pools}})
    found, problems = pools_from([table], [])
    assert [p.name for p in found] == ["q"]
    (problem,) = [p for p in problems if p.reason == "InvalidSelector"]
    assert problem.message.startswith(f"pool p: spec.nodeSelector: {error}")
    assert problem.message.endswith("; it is not used")
    pools[0]["nodeSelector"] = {"cloud.google.com/gke-nodepool": "pool-1", "k": ""}
    table = PriceTable.model_validate({"metadata": {"name": "t"}, "spec": {"pools": pools}})
    assert [p.name for p in pools_from([table], [])[0]] == ["p", "q"]


def test_a_status_amount_no_operator_writes_is_left_out_when_read() -> None:
    # Stored before the CRD bounded them (hand edits): the rest of the status reads as it was,
    # and what the operator sums from it stays a finite cost.
    status = TrainingJobStatus.model_validate({
        "phase": "Running",
        "accruedCost": 1e308,
        "accruedBeforeRun": -1e303,
        "costBuckets": {"2026-12-05T05:30": 1e308, "2026-12-05T05": -1, "2026-12-05T06": 2.5},
    })  # fmt: skip
    assert (status.phase, status.accrued_cost, status.accrued_before_run) == ("Running", 0.0, None)
    assert status.cost_buckets == {"2026-12-05T06": 2.5}
    # A negative amount retained lifted a hard limit of 100 USD to 1,000,100 left.
    budget = BudgetStatus.model_validate({"retained": {"2026-12-05T05": -1e6, "2026-12-05T06": 3}})
    assert budget.retained == {"2026-12-05T06": 3.0}


def test_a_worker_counts_its_init_containers_and_sidecars_as_the_scheduler_does() -> None:
    def worker(**pod: Any) -> Any:
        tj = parse_model(TrainingJob, _job(template={"spec": pod}), "x")
        return convert.job_from(tj).options[0].worker

    main = {"name": "trainer", "image": "t", "resources": {"requests": {"cpu": "4"}}}
    init = {"name": "fetch", "image": "f", "resources": {"requests": {"cpu": "6"}}}
    side = {
        **init,
        "name": "log",
        "restartPolicy": "Always",
        "resources": {"requests": {"cpu": "1"}},
    }
    assert worker(containers=[main]).cpu == 4000
    # An init container runs alone first: the most the pod asks at once.
    assert worker(containers=[main], initContainers=[init]).cpu == 6000
    # A sidecar runs beside the containers, and beside the init containers after it.
    assert worker(containers=[main], initContainers=[side]).cpu == 5000
    assert worker(containers=[main], initContainers=[side, init]).cpu == 7000


@pytest.mark.parametrize(
    ("pod", "field"),
    [
        ({"containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b", "resources":
          {"limits": {"nvidia.com/gpu": "3"}}}]}, "containers[1].resources.limits[nvidia.com/gpu]"),
        ({"containers": [{"name": "a", "image": "a"}], "initContainers": [{"name": "i",
          "image": "i", "resources": {"requests": {"google.com/tpu": "4"}}}]},
         "initContainers[0].resources.requests[google.com/tpu]"),
    ],
)  # fmt: skip
def test_devices_asked_outside_the_first_container_are_refused_naming_them(
    pod: dict[str, Any], field: str
) -> None:
    # A sidecar's 3 GPUs beside the option's 1 ran on 4 billed as 1, and its job's next
    # copies never started where the plan put them.
    tj = parse_model(TrainingJob, _job(template={"spec": pod}), "x")
    with pytest.raises(ValueError, match=re.escape(f"spec.template.spec.{field}: only the first")):
        convert.job_from(tj)


def test_a_spot_pool_listed_before_the_on_demand_pool_it_narrows_is_no_overlap() -> None:
    # `prices init` writes a spot pool first, its selector the on-demand pool's plus the spot
    # label: a selector cannot say a label is absent, so the overlap is meant.
    base = {"cloud.google.com/gke-nodepool": "a3"}
    spot = {**base, "cloud.google.com/gke-spot": "true"}
    node = {"metadata": {"name": "n", "labels": spot},
            "status": {"allocatable": {"cpu": "8", "memory": "64Gi"}}}  # fmt: skip

    def problems(*selectors: dict[str, str]) -> list[str]:
        pools = [{"name": f"p{i}", "accelerator": "cpu", "nodeSelector": s,
                  "prices": {"perCpuHour": 1}} for i, s in enumerate(selectors)]  # fmt: skip
        table = PriceTable.model_validate({"metadata": {"name": "t"}, "spec": {"pools": pools}})
        return [p.reason for p in pools_from([table], [node])[1]]

    assert problems(spot, base) == []
    # The other way round the broader pool takes the spot nodes: said, as before.
    assert problems(base, spot) == ["NodeInTwoPools"]


@pytest.mark.parametrize(
    ("pod", "option", "cpu"),
    [
        ({"initContainers": [{"name": "log", "image": "l", "restartPolicy": "Always",
          "resources": {"requests": {"cpu": "2"}}}]}, {}, 6000),
        ({"initContainers": [{"name": "fetch", "image": "f",
          "resources": {"requests": {"cpu": "20"}}}]}, {}, 20000),
        ({"containers": [{"name": "helper", "image": "h",
          "resources": {"requests": {"cpu": "3"}}}]}, {}, 7000),
        ({"initContainers": [{"name": "log", "image": "l", "restartPolicy": "Always",
          "resources": {"requests": {"cpu": "2"}}}]}, {"cpu": "5"}, 5000),
        # An option below what the pod asks beside its first container is planned at that:
        # kube-scheduler reserves it whatever the option says (planned at 1, the pod asked 4).
        ({"initContainers": [{"name": "fetch", "image": "f",
          "resources": {"requests": {"cpu": "4"}}}]}, {"cpu": "1"}, 4000),
        ({"initContainers": [{"name": "log", "image": "l", "restartPolicy": "Always",
          "resources": {"requests": {"cpu": "2"}}}]}, {"cpu": "1"}, 2000),
    ],
)  # fmt: skip
def test_a_worker_pod_asks_what_its_worker_was_planned_at(
    pod: dict[str, Any], option: dict[str, Any], cpu: int
) -> None:
    # The worker's CPU was written onto the first container, and a sidecar's or a second
    # container's came on top: planned at 6, the pod asked 8.
    main = {"name": "trainer", "image": "t", "resources": {"requests": {"cpu": "4"}}}
    spec = {"containers": [main, *pod.get("containers", [])], **{
        k: v for k, v in pod.items() if k != "containers"}}  # fmt: skip
    body = _job(template={"spec": spec})
    body["spec"]["options"][0].update(option)
    tj = parse_model(TrainingJob, body, "x")
    worker = podrequests.worker_resources(tj.spec.options[0], tj.spec.template)
    requests = podrequests.first_container_requests(worker, spec)
    placed = worker_pod({**body, "metadata": {**body["metadata"], "uid": "u"},
                         "status": {"workers": 1}}, 0, "n0", {}, requests, [], "p")  # fmt: skip
    assert podrequests.pod_requests(placed["spec"]).cpu == worker.cpu == cpu
