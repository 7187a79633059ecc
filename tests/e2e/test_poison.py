"""Poison objects on the real API server: refused at the door when the schema can tell, and
otherwise set aside with a reason while every good job is placed."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from operator_fixtures import (
    Operator,
    Pools,
    apply,
    get,
    training_job,
    wait_for,
    wait_phase,
    wait_reason,
)

from pricewise.core.times import parse_time

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize(
    ("kind", "spec", "message"),
    [
        ("tj", {"work": 1e308}, "spec.work"),
        ("tj", {"value": 1e308}, "spec.value"),
        ("tj", {"maxCost": 1e308}, "spec.maxCost"),
        ("tj", {"maxDuration": "0s"}, "must be from 1s to 3650d"),
        ("tj", {"options": [{"accelerator": "cpu", "duration": "0s"}]}, "must be from 1s to 3650d"),
        # Only a non-zero digit was checked: the operator refused this one after `apply`.
        ("tj", {"maxDuration": "99999d"}, "must be from 1s to 3650d"),
        # The form said in words: a pattern's error quoted the regex.
        ("tj", {"maxDuration": "2 hours"}, "use a duration, e.g. 45m, 10h30m or 2d"),
        ("tj", {"checkpoint": {"interval": "often"}}, "use a duration, e.g. 45m, 10h30m or 2d"),
        (
            "tj",
            {"options": [{"accelerator": "cpu", "throughput": 1e-300}], "work": 1},
            "throughput",
        ),
        # A whole number is checked against a minimum cut to a whole number by the schema
        # alone (0 passed 0.5): a CEL rule catches it.
        ("tj", {"scalingEfficiency": 0}, "spec.scalingEfficiency: Invalid value: 0: must be at"),
        ("tj", {"work": 0, "options": [{"accelerator": "cpu", "throughput": 1}]}, "spec.work"),
        (
            "tj",
            {"work": 1, "options": [{"accelerator": "cpu", "throughput": 0}]},
            "throughput: Invalid value: 0: must be at least 1e-06",
        ),
        # A whole number is a quantity too, within the same bound as its text.
        (
            "tj",
            {"options": [{"accelerator": "cpu", "duration": "1h", "cpu": 200000}]},
            "must be from 0 to 100000",
        ),
        (
            "tj",
            {"options": [{"accelerator": "cpu", "duration": "1h", "cpu": -1}]},
            "must be from 0 to 100000",
        ),
        # A rule's exit code twice: said by the API server as by `pricewise plan`.
        (
            "tj",
            {
                "failurePolicy": {
                    "rules": [
                        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1, 1]}}
                    ]
                }
            },
            "spec.failurePolicy.rules[0].onExitCodes.values[1]: Duplicate value: 1",
        ),
        ("budget", {"limit": 1e13}, "spec.limit"),
        ("budget", {"limit": 1, "timeZone": "../../etc/passwd"}, "spec.timeZone"),
        # Alerted twice, and two metric series of the same labels.
        ("budget", {"limit": 1, "thresholds": [80, 50, 50]}, "spec.thresholds[2]: Duplicate"),
        # Refused at apply, not by the API server at each worker's creation.
        ("pricetable", {"key": "k", "operator": "Sometimes"}, "tolerations[0].operator"),
    ],
)
def test_out_of_range_figures_are_refused_with_the_field(
    cluster: Any, namespace: str, crds: None, kind: str, spec: dict[str, Any], message: str
) -> None:
    if kind == "tj":
        obj = training_job("bad", [{"accelerator": "cpu", "duration": "1h"}])
        obj["spec"].update(spec)
    elif kind == "pricetable":
        pool = {"name": "p", "accelerator": "cpu", "nodeSelector": {"x": "y"},
                "prices": {"perCpuHour": 1}, "tolerations": [spec]}  # fmt: skip
        obj = {
            "apiVersion": "pricewise.dev/v1alpha1",
            "kind": "PriceTable",
            "metadata": {"name": f"bad-{namespace}"},
            "spec": {"pools": [pool]},
        }
    else:
        obj = {
            "apiVersion": "pricewise.dev/v1alpha1",
            "kind": "Budget",
            "metadata": {"name": "bad"},
            "spec": spec,
        }
    result = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=json.dumps(obj), check=False
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_a_worker_s_cpu_and_memory_may_be_whole_numbers_as_in_a_pod(
    cluster: Any, namespace: str, crds: None
) -> None:
    # `cpu: 8` was refused as "must be of type string", where a pod's resources take it.
    obj = training_job("whole", [{"accelerator": "cpu", "duration": "1h", "cpu": 8,
                                  "memory": 1073741824}])  # fmt: skip
    result = cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(obj),
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("kind", "status", "message"),
    [
        ("tj", {"accruedBeforeRun": -1e303}, "status.accruedBeforeRun"),
        ("tj", {"costBuckets": {"2026-12-05T05:30": 1e308}}, "status.costBuckets"),
        ("budget", {"retained": {"2026-12-05T05": -1000000}}, "status.retained"),
    ],
)
def test_a_status_amount_no_operator_writes_is_refused(
    cluster: Any, namespace: str, crds: None, kind: str, status: dict[str, Any], message: str
) -> None:
    # One such edit stopped preemption, or every Budget's status, for the whole cluster.
    if kind == "tj":
        obj = training_job("edited", [{"accelerator": "cpu", "duration": "1h"}])
    else:
        obj = {"apiVersion": "pricewise.dev/v1alpha1", "kind": "Budget",
               "metadata": {"name": "edited"}, "spec": {"limit": 100}}  # fmt: skip
    apply(cluster, namespace, obj)
    result = cluster.kubectl(
        "patch", kind, "edited", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}), check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(
    ("deadline", "refused"),
    [
        ("2026-02-30T18:00:00Z", True),
        ("2026-04-31T18:00:00+01:00", True),
        ("2100-02-29T18:00:00Z", True),  # a century, not a leap year
        ("2028-02-29T18:00:00Z", False),
        ("2000-02-29T18:00:00Z", False),
        ("2026-12-31T23:59:59.5Z", False),
    ],
)
def test_a_deadline_is_a_day_its_month_has(
    cluster: Any, namespace: str, crds: None, deadline: str, refused: bool
) -> None:
    # What `pricewise plan` refuses (a day its month has not) is what the API server does.
    obj = training_job("dated", [{"accelerator": "cpu", "duration": "1h"}], deadline=deadline)
    result = cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(obj),
        check=False,
    )  # fmt: skip
    assert (result.returncode != 0) == refused, result.stderr
    assert ("spec.deadline in body must be of type date-time" in result.stderr) == refused


def _ready(cluster: Any, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    where = ["-n", namespace] if namespace else []
    out = cluster.kubectl("get", kind, name, *where, "-o", "json").stdout
    conditions = (json.loads(out).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), {})


def test_poison_objects_beside_good_jobs(
    cluster: Any, namespace: str, operator: Operator, pools: Pools
) -> None:
    pools.add("gpu", nodes=3, gpus=8, price=1.0)
    pools.publish()
    option = pools.option("gpu", 2, duration="1h")
    two = {"workers": {"min": 2, "max": 2}}
    refused = training_job("refused", [option])
    refused["spec"]["template"]["spec"]["containers"][0]["name"] = "Not_A_Name"
    # A typo in the template was dropped by the API server: the worker ran without a command.
    typo = training_job("typo", [option])
    typo["spec"]["template"]["spec"]["containers"][0]["comand"] = ["python", "train.py"]
    huge_template = training_job("huge-template", [option])
    huge_template["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "1e400"}
    }
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "pricewise.dev/v1alpha1",
            "kind": "Budget",
            "metadata": {"name": "martian"},
            # Soft: a hard one holds its namespace's jobs (BudgetInvalid), these among them.
            "spec": {"limit": 100, "timeZone": "Mars/Olympus", "enforcement": "soft"},
        },
        training_job("canary", [option]),
        training_job("9lives", [option], **two),
        training_job("a" * 70, [option]),
        training_job("b" * 60, [option], **two),
        huge_template,
        refused,
        typo,
    )
    euros = {
        "apiVersion": "pricewise.dev/v1alpha1",
        "kind": "PriceTable",
        "metadata": {"name": f"aa-euros-{pools.tag}"},
        "spec": {
            "currency": "EUR",
            "pools": [{**pools.pools[0], "name": f"euro-{pools.tag}", "prices": {
                "perDeviceHour": 0.01}}],
        },
    }  # fmt: skip
    # Creation times have whole seconds, and a tie goes by name ("aa-" first): the EUR table
    # must really be newer, as one an admin adds later would be.
    ours = get(cluster, "default", "pricetable", f"test-{pools.tag}")
    created = parse_time(ours["metadata"]["creationTimestamp"])
    assert created is not None
    wait_for(lambda: datetime.now(UTC) - created > timedelta(seconds=1), 5, "the next second")
    cluster.kubectl("apply", "-f", "-", input=json.dumps(euros))
    try:
        for name in ("canary", "9lives", "a" * 70, "b" * 60):
            placed = wait_phase(cluster, namespace, name, "Running", timeout=90)
            assert placed["pool"] == f"gpu-{pools.tag}"
        assert (
            "Invalid value"
            in wait_reason(cluster, namespace, "refused", "WorkerRejected")["message"]
        )
        rejected = wait_reason(cluster, namespace, "typo", "WorkerRejected")["message"]
        assert 'unknown field "spec.containers[0].comand"' in rejected, rejected
        # A duration past 3650d is refused by the API server now (above); a request too large
        # for the operator still reaches it.
        invalid = wait_reason(cluster, namespace, "huge-template", "InvalidSpec")
        assert "spec.template" in invalid["message"]
        # Its Admitted condition says so too, as every other wait's does, kept by the CRD.
        (admitted,) = [c for c in invalid.get("conditions") or [] if c["type"] == "Admitted"]
        assert (admitted["status"], admitted["reason"]) == ("False", "InvalidSpec")
        assert admitted["message"] == invalid["message"]
        martian = wait_for(
            lambda: _ready(cluster, "budget", "martian", namespace), 30, "the Budget's condition"
        )
        assert (martian["status"], martian["reason"]) == ("False", "InvalidSpec")
        assert "Mars/Olympus" in martian["message"]
        table = wait_for(
            lambda: _ready(cluster, "pricetable", euros["metadata"]["name"]),
            30,
            "the EUR table's condition",
        )
        assert (table["status"], table["reason"]) == ("False", "CurrencyMismatch")
        pods = json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)
        assert not [p for p in pods["items"] if "refused" in p["metadata"]["name"]]
        metrics = (
            urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics")
            .read()
            .decode()
        )
        rejected = {
            line.split("{", 1)[1].split("}")[0]: float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("pricewise_rejected_objects{")
        }
        assert rejected['kind="TrainingJob",reason="InvalidSpec"'] >= 1
        assert rejected['kind="Budget",reason="InvalidSpec"'] >= 1
        assert "Traceback" not in operator.log()
    finally:
        cluster.kubectl("delete", "pricetable", euros["metadata"]["name"], check=False)
