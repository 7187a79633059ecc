"""The Helm chart and the plain manifests against the pinned helm and the real API server.

- `helm lint --strict` and `helm template` with the default values and every ci/ values file;
  what renders is checked object by object (flags the operator accepts, selectors that match,
  the alert rules and dashboard verbatim, initial objects valid for the API models).
- deploy/ is the chart rendered (no drift).
- The rendered chart, `kubectl kustomize deploy/base` and the Prometheus overlay are applied
  with `kubectl apply --dry-run=server` (schemas, admission, PodSecurity "restricted" warnings).
  ServiceMonitor and PrometheusRule need the Prometheus Operator's CRDs, which this cluster does
  not have: the `monitoring_crds` fixture installs small stand-ins that declare the fields the
  chart uses (every other field is refused by kubectl's strict field validation), so that a
  misspelt or misplaced field fails here. They do not replace the upstream schemas.
- RBAC: the chart's ServiceAccount and RBAC are applied for real; SubjectAccessReviews for that
  ServiceAccount check every right the operator uses and a list of rights it must not have. The
  operator is then run with the ServiceAccount's own token and must get no request refused.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from operator_fixtures import (
    ROOT,
    Pools,
    apply,
    free_port,
    get,
    training_job,
    wait_for,
    wait_phase,
)

from pathload import load_script
from pricewise import cli
from pricewise.api.manifests import parse_model
from pricewise.api.models import Budget, PriceTable
from pricewise.controller.config import from_environment
from pricewise.controller.quote import OPERATOR_LABELS

pytestmark = pytest.mark.cluster

CHART = ROOT / "charts" / "pricewise"
VALUE_FILES = ["default", *sorted(p.name for p in (CHART / "ci").glob("*.yaml"))]
LEASE = "pricewise-scheduler"
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "PriceTable", "CustomResourceDefinition"}
SA_GROUPS = ["system:serviceaccounts", "system:authenticated"]


render = load_script("pricewise_deploy_render", "deploy/render.py")


# --- helpers ---------------------------------------------------------------------------------


def _run(command: list[str], env: dict[str, str], input: str | None = None) -> str:
    result = subprocess.run(
        command, input=input, capture_output=True, text=True, env=env, check=False, timeout=120
    )
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command[:4])} ... failed:\n{result.stderr}")
    return result.stdout


def _value_args(values: str) -> list[str]:
    return [] if values == "default" else ["--values", str(CHART / "ci" / values)]


def _merged_values(values: str) -> dict[str, Any]:
    """The chart's values with a ci/ file over them (maps merge, everything else replaces)."""

    def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(base)
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
        return out

    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    if values == "default":
        return dict(defaults)
    return merge(defaults, yaml.safe_load((CHART / "ci" / values).read_text()))


def _template(
    cluster: Any, release: str, namespace: str, *args: str, include_crds: bool = False
) -> str:
    command = [cluster.helm, "template", release, str(CHART), "--namespace", namespace, *args]
    if include_crds:
        command.append("--include-crds")
    return _run(command, cluster.env)


def _docs(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}s rendered"
    return found[0]


def _dry_run(cluster: Any, manifests: str) -> subprocess.CompletedProcess[str]:
    """`kubectl apply --dry-run=server` of a multi-document YAML; fails the test on refusal.
    Every namespaced object must name its namespace (none falls into kubectl's default)."""
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=manifests, check=False)
    assert result.returncode == 0, f"server dry run refused:\n{result.stderr}"
    assert "PodSecurity" not in result.stderr, result.stderr
    applied = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(applied) == len(_docs(manifests)), result.stdout
    assert all(line.endswith("(server dry run)") for line in applied), result.stdout
    return result


def _wait_established(cluster: Any, *names: str) -> None:
    """Wait until CRDs are Established (`kubectl wait` errors on a CRD without conditions yet,
    which is how a CRD looks right after its creation)."""
    jsonpath = '{.status.conditions[?(@.type=="Established")].status}'

    def established(name: str) -> bool:
        result = cluster.kubectl("get", "crd", name, "-o", f"jsonpath={jsonpath}", check=False)
        return result.stdout == "True"

    for name in names:
        wait_for(
            lambda: established(name),  # noqa: B023  (called before the loop moves on)
            timeout=60,
            what=f"CRD {name} to be established",
        )


@pytest.fixture(scope="session")
def chart_crds(cluster: Any) -> None:
    """The chart's CRDs (copies of crds/), applied and established."""
    cluster.kubectl("apply", "--server-side", "-f", str(CHART / "crds"))
    _wait_established(
        cluster, *(f"{p}.pricewise.dev" for p in ("trainingjobs", "pricetables", "budgets"))
    )


@pytest.fixture
def restricted(cluster: Any, namespace: str) -> str:
    """The test namespace, warning on anything that breaks the `restricted` Pod Security level."""
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/warn=restricted")
    return namespace


# --- stand-ins for the Prometheus Operator's CRDs ---------------------------------------------

_DURATION = {
    "type": "string",
    "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?"
    "(([0-9]+)ms)?)$",
}
_OPEN: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_SERVICE_MONITOR_SPEC = {
    "type": "object",
    "required": ["selector"],
    "properties": {
        "selector": _OPEN,
        "namespaceSelector": {
            "type": "object",
            "properties": {
                "any": {"type": "boolean"},
                "matchNames": {"type": "array", "items": {"type": "string"}},
            },
        },
        "endpoints": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "port": {"type": "string"},
                    "path": {"type": "string"},
                    "honorLabels": {"type": "boolean"},
                    "interval": _DURATION,
                    "scrapeTimeout": _DURATION,
                    "relabelings": {"type": "array", "items": _OPEN},
                    "metricRelabelings": {"type": "array", "items": _OPEN},
                },
            },
        },
    },
}
_PROMETHEUS_RULE_SPEC = {
    "type": "object",
    "properties": {
        "groups": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "interval": _DURATION,
                    "rules": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["expr"],
                            "properties": {
                                "alert": {"type": "string"},
                                "record": {"type": "string"},
                                "expr": {"x-kubernetes-int-or-string": True},
                                "for": _DURATION,
                                "keep_firing_for": _DURATION,
                                "labels": _STRINGS,
                                "annotations": _STRINGS,
                            },
                        },
                    },
                },
            },
        }
    },
}


def _stand_in_crd(kind: str, plural: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.monitoring.coreos.com",
            "annotations": {"pricewise.dev/test-stand-in": "tests/e2e/test_chart.py"},
        },
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": spec},
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture(scope="session")
def monitoring_crds(cluster: Any) -> Iterator[None]:
    """ServiceMonitor and PrometheusRule kinds: the real ones when the cluster has them, else
    stand-ins (see the module docstring), removed at the end of the session."""
    made = []
    for kind, plural, spec in (
        ("ServiceMonitor", "servicemonitors", _SERVICE_MONITOR_SPEC),
        ("PrometheusRule", "prometheusrules", _PROMETHEUS_RULE_SPEC),
    ):
        name = f"{plural}.monitoring.coreos.com"
        if cluster.kubectl("get", "crd", name, check=False).returncode != 0:
            manifest = json.dumps(_stand_in_crd(kind, plural, spec))
            cluster.kubectl("create", "-f", "-", input=manifest)
            made.append(name)
        _wait_established(cluster, name)
    yield
    if made:
        cluster.kubectl("delete", "crd", *made, "--wait=false", check=False)


# --- lint and template -----------------------------------------------------------------------


@pytest.mark.parametrize("values", VALUE_FILES)
def test_helm_lint_strict(cluster: Any, values: str) -> None:
    out = _run([cluster.helm, "lint", "--strict", str(CHART), *_value_args(values)], cluster.env)
    assert "1 chart(s) linted, 0 chart(s) failed" in out
    assert "[ERROR]" not in out and "[WARNING]" not in out


@pytest.mark.parametrize("values", VALUE_FILES)
def test_helm_template_renders_what_the_values_ask(cluster: Any, values: str) -> None:
    given = _merged_values(values)
    docs = _docs(_template(cluster, "pw", "pricewise-system", *_value_args(values)))
    kinds = sorted(doc["kind"] for doc in docs)
    expected = ["Deployment", "Service"]
    if given["serviceAccount"]["create"]:
        expected.append("ServiceAccount")
    if given["rbac"]["create"]:
        expected += ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
    optional = {
        "ServiceMonitor": given["serviceMonitor"]["enabled"],
        "PrometheusRule": given["prometheusRule"]["enabled"],
        "ConfigMap": given["grafanaDashboard"]["enabled"],
        "PriceTable": given["priceTable"]["create"],
        "PodDisruptionBudget": given["podDisruptionBudget"]["enabled"],
    }
    expected += [kind for kind, wanted in optional.items() if wanted]
    expected += ["Budget"] * len(given["budgets"])
    assert kinds == sorted(expected)

    for doc in docs:
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"]["namespace"], f"{doc['kind']} without a namespace"
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/instance"] == "pw"
        assert labels["helm.sh/chart"].startswith("pricewise-")

    deployment = _one(docs, "Deployment")
    # `pricewise plan --cluster` finds the operator by these, whatever the release's names.
    assert OPERATOR_LABELS.items() <= deployment["metadata"]["labels"].items()
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = cli.parser().parse_args(container["args"])
    assert args.metrics_port == given["metrics"]["port"]
    assert args.liveness == f"http://0.0.0.0:{given['health']['port']}/healthz"
    assert args.verbose == (given["logLevel"] == "debug")
    assert args.log_format == given.get("logFormat", "full")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": given["metrics"]["port"], "health": given["health"]["port"]}
    assert deployment["spec"]["replicas"] == given["replicaCount"]
    image = given["image"]
    tag = image["tag"] or yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    reference = f"{image['repository']}@{image['digest']}" if image["digest"] else None
    assert container["image"] == (reference or f"{image['repository']}:{tag}")
    assert container["securityContext"] == given["securityContext"]
    assert pod["securityContext"] == given["podSecurityContext"]
    for key in ("nodeSelector", "tolerations", "affinity"):
        assert pod.get(key, type(given[key])()) == given[key]

    account = pod["serviceAccountName"]
    if given["serviceAccount"]["create"]:
        assert _one(docs, "ServiceAccount")["metadata"]["name"] == account
    if given["rbac"]["create"]:
        for binding in ("ClusterRoleBinding", "RoleBinding"):
            subjects = _one(docs, binding)["subjects"]
            assert subjects == [
                {"kind": "ServiceAccount", "name": account, "namespace": "pricewise-system"}
            ]

    # Finished jobs are deleted past their TTL only where the values say so, with the verb.
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    assert from_environment(env).delete_finished == given["ttlAfterFinished"]["enabled"]
    if given["rbac"]["create"]:
        rules = _one(docs, "ClusterRole")["rules"]
        deletes = [r for r in rules if "delete" in r["verbs"] and "trainingjobs" in r["resources"]]
        assert bool(deletes) == given["ttlAfterFinished"]["enabled"]

    service = _one(docs, "Service")
    assert (
        service["spec"]["selector"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    if optional["PodDisruptionBudget"]:
        budget = _one(docs, "PodDisruptionBudget")["spec"]
        assert budget["selector"] == deployment["spec"]["selector"]
        assert budget["minAvailable"] == given["podDisruptionBudget"]["minAvailable"]
    if optional["ServiceMonitor"]:
        monitor = _one(docs, "ServiceMonitor")
        assert (
            monitor["spec"]["selector"]["matchLabels"].items()
            <= service["metadata"]["labels"].items()
        )
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {
            p["name"] for p in service["spec"]["ports"]
        }
        assert given["serviceMonitor"]["labels"].items() <= monitor["metadata"]["labels"].items()
    if optional["PrometheusRule"]:
        # The rules file's, but for the scrape job the operator-down alert looks for: this
        # release's metrics Service, which the ServiceMonitor's job is named after.
        # And for the thresholds the values set.
        service = _one(docs, "Service")["metadata"]["name"]
        text = (ROOT / "deploy/prometheus/pricewise.rules.yaml").read_text()
        text = text.replace('job=~".*pricewise.*"', f'job="{service}"')
        t = given["prometheusRule"]["thresholds"]
        for was, now in (
            ("_age_seconds) > 3600", f"_age_seconds) > {t['pendingSeconds']:g}"),
            ("[15m]))) > 5", f"[15m]))) > {t['solverSeconds']:g}"),
            ("(target: under 5s)", f"(target: under {t['solverSeconds']:g}s)"),
            ("[1h])) >= 3", f"[1h])) >= {t['nodeLossesPerHour']:g}"),
        ):
            assert text.count(was) == 1, was  # the rules file still says it, once
            text = text.replace(was, now)
        spec = _one(docs, "PrometheusRule")["spec"]
        assert spec == yaml.safe_load(text)
        alerts = {r["alert"]: r["expr"].strip() for g in spec["groups"] for r in g["rules"]}
        assert alerts["PricewiseJobsPendingTooLong"].endswith(f"> {t['pendingSeconds']:g}")
        assert alerts["PricewiseSolverSlow"].endswith(f"> {t['solverSeconds']:g}")
        assert alerts["PricewisePoolLosingNodes"].endswith(f">= {t['nodeLossesPerHour']:g}")
    if optional["ConfigMap"]:
        dashboard = _one(docs, "ConfigMap")
        assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
        original = json.loads((ROOT / "deploy/grafana/pricewise-dashboard.json").read_text())
        assert json.loads(dashboard["data"]["pricewise-dashboard.json"]) == original
    if optional["PriceTable"]:
        table = parse_model(PriceTable, _one(docs, "PriceTable"), "rendered chart")
        assert table.metadata.name == given["priceTable"]["name"]
    for doc in (d for d in docs if d["kind"] == "Budget"):
        parse_model(Budget, doc, "rendered chart")
        kept = (doc["metadata"].get("annotations") or {}).get("helm.sh/resource-policy")
        assert kept == ("keep" if given["keepBudgetsOnUninstall"] else None)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--set", "logLevel=trace"], 'logLevel must be info or debug, not "trace"'),
        (["--set", "priceTable.create=true"], "priceTable.spec.pools is empty"),
        (["--set", "serviceAccount.create=false"], "serviceAccount.name is required"),
        (["--set", "budgets[0].name=b"], "budgets[0] needs name, namespace and spec"),
        # values.schema.json: a mistyped key or a value out of range, by its path.
        (["--set", "scheduler.solverSecond=3"], "'solverSecond' not allowed"),
        (["--set", "scheduler.waitCost=-1"], "at '/scheduler/waitCost': minimum"),
        (["--set", "scheduler.maxWait=2 days"], "at '/scheduler/maxWait': '2 days' does not match"),
        (["--set", "replicaCount=two"], "at '/replicaCount': got string, want integer"),
        # Rules without the ServiceMonitor whose scrape job PricewiseOperatorDown looks for.
        (
            ["--set", "prometheusRule.enabled=true"],
            "set prometheusRule.scrapeJob to the job label your Prometheus gives",
        ),
        # A budget of one replica that keeps one stalls every node drain on the operator's pod.
        (
            ["--set", "podDisruptionBudget.enabled=true"],
            "podDisruptionBudget.minAvailable 1 with replicaCount 1 allows no disruption",
        ),
        # As text, or as a share the API server rounds up to the one replica.
        (
            [
                "--set",
                "podDisruptionBudget.enabled=true",
                "--set-string",
                "podDisruptionBudget.minAvailable=1",
            ],
            "podDisruptionBudget.minAvailable 1 with replicaCount 1 allows no disruption",
        ),
        (
            [
                "--set",
                "podDisruptionBudget.enabled=true",
                "--set",
                "podDisruptionBudget.minAvailable=50%",
            ],
            "podDisruptionBudget.minAvailable 50% with replicaCount 1 allows no disruption",
        ),
        (
            ["--set", "prometheusRule.thresholds.pendingSeconds=0"],
            "at '/prometheusRule/thresholds/pendingSeconds': exclusiveMinimum",
        ),
    ],
)
def test_helm_template_refuses_incomplete_values(
    cluster: Any, flags: list[str], message: str
) -> None:
    result = subprocess.run(
        [cluster.helm, "template", "pw", str(CHART), *flags],
        capture_output=True,
        text=True,
        env=cluster.env,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_values_an_older_release_lacks_are_left_to_the_operator(cluster: Any) -> None:
    # `helm upgrade --reuse-values` from a release older than a value rendered it empty:
    # PRICEWISE_SOLVER_WORKERS='' stopped the operator at start.
    text = _template(cluster, "pw", "ns", "--set", "scheduler=null", "--set", "logFormat=null")
    (deployment,) = [d for d in _docs(text) if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--log-format=full" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    assert not {"PRICEWISE_PERIOD_SECONDS", "PRICEWISE_SOLVER_SECONDS",
                "PRICEWISE_SOLVER_WORKERS", "PRICEWISE_WAIT_COST",
                "PRICEWISE_MAX_WAIT"} & env.keys()  # fmt: skip
    assert all(e.get("value") != "" for e in env.values())


def test_deploy_manifests_are_the_chart_rendered(cluster: Any) -> None:
    expected = render.derived(cluster.helm)
    assert len(expected) >= 10
    drifted = [
        str(path.relative_to(ROOT))
        for path, text in expected.items()
        if not path.exists() or path.read_text() != text
    ]
    assert drifted == [], "run `python deploy/render.py`"
    assert render.stale() == []


def test_install_upgrade_uninstall_keep_crds_and_budgets(
    cluster: Any, chart_crds: None, namespace: str
) -> None:
    """A real release: NOTES, an upgrade that changes the operator's flags, and an uninstall
    that removes the operator and its RBAC but keeps the CRDs and the Budgets. No replica runs
    (replicaCount 0), so that no pod takes capacity from the other tests' nodes."""
    release = f"pricewise-{namespace}"
    helm = [cluster.helm, "--namespace", namespace]
    budget = [
        "--set=replicaCount=0",
        f"--set=budgets[0].name=team,budgets[0].namespace={namespace},budgets[0].spec.limit=10",
    ]
    try:
        notes = _run([*helm, "install", release, str(CHART), *budget], cluster.env)
        assert "STATUS: deployed" in notes
        for line in ("kubectl get tj -A", "1 Budget(s)", f"svc/{release}-metrics", "/metrics"):
            assert line in notes, line
        _run(
            [*helm, "upgrade", release, str(CHART), "--reuse-values", "--set=logLevel=debug"],
            cluster.env,
        )
        deployment = json.loads(
            cluster.kubectl("get", "deployment", release, "-n", namespace, "-o", "json").stdout
        )
        assert deployment["metadata"]["annotations"]["meta.helm.sh/release-name"] == release
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert "--verbose" in container["args"]
        assert deployment["spec"]["replicas"] == 0
        # A user's quote finds this operator and reads its settings without a word: the
        # namespace the chart sets from the pod's own is not one a quote reads.
        jobs = str(ROOT / "examples/jobs.yaml")
        quote = subprocess.run(
            [sys.executable, "-m", "pricewise", "plan", "--cluster", jobs, "-o", "json"],
            capture_output=True, text=True, env=cluster.env, timeout=120, check=False,
        )  # fmt: skip
        assert quote.returncode == 0, quote.stderr
        assert not [w for w in json.loads(quote.stdout)["warnings"] if "operator" in w]
        uninstalled = _run([*helm, "uninstall", release], cluster.env)
        assert "[Budget] team" in uninstalled  # kept by its resource policy
    finally:
        subprocess.run(
            [*helm, "uninstall", release], capture_output=True, env=cluster.env, check=False
        )
    gone = cluster.kubectl("get", "deployment", release, "-n", namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    role = cluster.kubectl("get", "clusterrole", release, check=False)
    assert role.returncode != 0 and "NotFound" in role.stderr
    kept = json.loads(
        cluster.kubectl("get", "budget", "team", "-n", namespace, "-o", "json").stdout
    )
    assert kept["spec"]["limit"] == 10
    cluster.kubectl("get", "crd", "trainingjobs.pricewise.dev", "budgets.pricewise.dev")


# --- server-side dry run ---------------------------------------------------------------------


@pytest.mark.parametrize("values", VALUE_FILES)
def test_rendered_chart_passes_server_side_dry_run(
    cluster: Any,
    chart_crds: None,
    monitoring_crds: None,
    restricted: str,
    values: str,
) -> None:
    manifests = _template(
        cluster, f"pw-{restricted}", restricted, *_value_args(values), include_crds=True
    )
    result = _dry_run(cluster, manifests)
    assert "deployment.apps/" in result.stdout
    assert "customresourcedefinition.apiextensions.k8s.io/trainingjobs.pricewise.dev" in (
        result.stdout
    )


@pytest.mark.parametrize("directory", ["deploy/base", "deploy/overlays/prometheus"])
def test_plain_manifests_pass_server_side_dry_run(
    cluster: Any,
    chart_crds: None,
    monitoring_crds: None,
    restricted: str,
    directory: str,
    tmp_path: Path,
) -> None:
    built = _docs(cluster.kubectl("kustomize", str(ROOT / directory)).stdout)
    assert {doc["metadata"].get("namespace", "pricewise-system") for doc in built} == {
        "pricewise-system"
    }
    assert _one(built, "Namespace")["metadata"]["name"] == "pricewise-system"
    # Moved into the test namespace by an overlay, as a user would move it to theirs.
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": restricted,
                "resources": [os.path.relpath(ROOT / directory, tmp_path)],
            }
        )
    )
    moved = cluster.kubectl("kustomize", str(tmp_path)).stdout
    assert "pricewise-system" not in moved, "a namespace kustomize cannot move is hard-coded"
    docs = _docs(moved)
    assert len(docs) == len(built)
    for binding in ("ClusterRoleBinding", "RoleBinding"):
        assert _one(docs, binding)["subjects"][0]["namespace"] == restricted
    result = _dry_run(cluster, moved)
    if directory.endswith("prometheus"):
        assert "servicemonitor.monitoring.coreos.com/pricewise" in result.stdout
        assert "prometheusrule.monitoring.coreos.com/pricewise" in result.stdout


def test_dry_run_catches_a_field_the_stand_ins_do_not_know(
    cluster: Any, monitoring_crds: None, namespace: str
) -> None:
    """The stand-in CRDs are strict enough to matter: a misspelt field is refused."""
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "typo"},
        "spec": {"selector": {}, "endpoints": [{"port": "metrics", "scrapeTimeOut": "10s"}]},
    }
    result = cluster.kubectl(
        "apply",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps(monitor),
        check=False,
    )
    assert result.returncode != 0
    assert "scrapeTimeOut" in result.stderr


# --- RBAC ------------------------------------------------------------------------------------


@pytest.fixture
def chart_rbac(cluster: Any, namespace: str) -> Iterator[str]:
    """The chart's ServiceAccount and RBAC, applied for real with the release in `namespace`;
    the ServiceAccount's user name. Its cluster-scoped objects are deleted afterwards."""
    release = f"pricewise-{namespace}"
    manifests = _template(
        cluster,
        release,
        namespace,
        "--show-only=templates/serviceaccount.yaml",
        "--show-only=templates/rbac.yaml",
    )
    docs = _docs(manifests)
    assert sorted(doc["kind"] for doc in docs) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ServiceAccount",
    ]
    account = _one(docs, "ServiceAccount")["metadata"]["name"]
    cluster_wide = [
        f"{doc['kind'].lower()}/{doc['metadata']['name']}"
        for doc in docs
        if doc["kind"] in CLUSTER_SCOPED
    ]
    try:
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifests)
        yield f"system:serviceaccount:{namespace}:{account}"
    finally:
        cluster.kubectl("delete", *cluster_wide, "--ignore-not-found", check=False)


def _review(
    user: str, namespace: str, verb: str, resource: str, group: str = "", name: str = ""
) -> dict[str, Any]:
    plural, _, subresource = resource.partition("/")
    attributes = {"namespace": namespace, "verb": verb, "group": group, "resource": plural}
    if subresource:
        attributes["subresource"] = subresource
    if name:
        attributes["name"] = name
    account_namespace = user.split(":")[2]
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "groups": [*SA_GROUPS, f"system:serviceaccounts:{account_namespace}"],
            "resourceAttributes": attributes,
        },
    }


def _allowed(cluster: Any, reviews: list[tuple[str, ...]], user: str) -> dict[str, bool]:
    """Ask the API server about each (namespace, verb, resource[, group[, name]])."""
    bodies = [_review(user, *review) for review in reviews]
    out = cluster.kubectl(
        "create",
        "-o",
        "yaml",
        "-f",
        "-",
        input=yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": bodies}),
    ).stdout
    answers = _docs(out)
    assert len(answers) == len(reviews)
    return {
        " ".join(part for part in review if part) or "?": bool(answer["status"].get("allowed"))
        for review, answer in zip(reviews, answers, strict=True)
    }


def _needed(namespace: str) -> list[tuple[str, ...]]:
    """Every request the operator (and kopf) makes: (namespace, verb, resource, group, name).
    An empty namespace means all namespaces (cluster-wide list and watch)."""
    api = "pricewise.dev"
    needed: list[tuple[str, ...]] = []
    for plural in ("trainingjobs", "pricetables", "budgets"):
        needed += [("", "list", plural, api), ("", "watch", plural, api)]
    needed += [
        ("team-a", "patch", "trainingjobs/status", api),
        ("", "patch", "pricetables/status", api),
        ("team-a", "patch", "budgets/status", api),
        ("team-a", "update", "trainingjobs/finalizers", api),
        ("team-a", "create", "pods"),
        ("team-a", "deletecollection", "pods"),
        ("team-a", "create", "services"),
        ("team-a", "get", "services"),
        ("team-a", "create", "events"),
        (namespace, "create", "events"),
        ("", "list", "customresourcedefinitions", "apiextensions.k8s.io"),
        ("", "watch", "customresourcedefinitions", "apiextensions.k8s.io"),
        (namespace, "create", "leases", "coordination.k8s.io"),
        (namespace, "get", "leases", "coordination.k8s.io", LEASE),
        (namespace, "update", "leases", "coordination.k8s.io", LEASE),
    ]
    for plural in ("pods", "nodes", "resourcequotas"):
        needed += [("", "list", plural), ("", "watch", plural)]
    return needed


def _forbidden(namespace: str) -> list[tuple[str, ...]]:
    """Rights the operator must not have."""
    api = "pricewise.dev"
    forbidden: list[tuple[str, ...]] = []
    for where in ("", namespace, "kube-system"):
        forbidden += [(where, verb, "secrets") for verb in ("get", "list", "watch")]
    forbidden += [
        ("team-a", "get", "configmaps"),
        ("", "list", "configmaps"),
        ("team-a", "create", "configmaps"),
        ("team-a", "create", "deployments", "apps"),
        ("team-a", "patch", "deployments", "apps"),
        ("team-a", "delete", "deployments", "apps"),
        ("team-a", "create", "trainingjobs", api),
        ("team-a", "update", "trainingjobs", api),
        ("team-a", "patch", "trainingjobs", api),
        ("team-a", "delete", "trainingjobs", api),
        ("team-a", "patch", "budgets", api),
        ("team-a", "delete", "budgets", api),
        ("", "create", "pricetables", api),
        ("", "patch", "pricetables", api),
        ("", "delete", "pricetables", api),
        ("team-a", "patch", "pods"),
        ("team-a", "update", "pods"),
        ("team-a", "create", "pods/exec"),
        ("team-a", "delete", "services"),
        ("team-a", "patch", "services"),
        ("", "patch", "nodes"),
        ("", "delete", "nodes"),
        ("team-a", "update", "resourcequotas"),
        ("team-a", "delete", "events"),
        (namespace, "update", "leases", "coordination.k8s.io", "someone-elses-lease"),
        (namespace, "delete", "leases", "coordination.k8s.io", LEASE),
        ("kube-system", "get", "leases", "coordination.k8s.io", LEASE),
        ("kube-system", "create", "leases", "coordination.k8s.io"),
        (namespace, "create", "serviceaccounts/token"),
        ("", "create", "customresourcedefinitions", "apiextensions.k8s.io"),
        ("", "delete", "customresourcedefinitions", "apiextensions.k8s.io"),
        ("", "escalate", "clusterroles", "rbac.authorization.k8s.io"),
        ("", "bind", "clusterroles", "rbac.authorization.k8s.io"),
        ("", "impersonate", "users"),
    ]
    return forbidden


def test_chart_rbac_allows_what_the_operator_does_and_nothing_more(
    cluster: Any, namespace: str, chart_rbac: str
) -> None:
    needed = _needed(namespace)
    # The RBAC authorizer reads bindings from an informer: give it a moment to see new ones.
    wait_for(
        lambda: all(_allowed(cluster, needed[:1], chart_rbac).values()),
        timeout=15,
        what=f"the chart's RBAC to be in effect ({' '.join(needed[0])})",
    )
    granted = _allowed(cluster, needed, chart_rbac)
    assert [review for review, allowed in granted.items() if not allowed] == []
    denied = _allowed(cluster, _forbidden(namespace), chart_rbac)
    assert len(denied) > 30
    assert [review for review, allowed in denied.items() if allowed] == []


def _kubeconfig_for(cluster: Any, token: str, path: Path) -> None:
    admin = json.loads(
        cluster.kubectl("config", "view", "--raw", "--minify", "--flatten", "-o", "json").stdout
    )
    server = admin["clusters"][0]["cluster"]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "test", "cluster": server}],
                "users": [{"name": "pricewise", "user": {"token": token}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "pricewise"}}],
                "current-context": "test",
            }
        )
    )


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text: str = response.read().decode()
            return text
    except (urllib.error.URLError, OSError):
        return None


WATCHED = [
    "trainingjobs.v1alpha1.pricewise.dev",
    "pricetables.v1alpha1.pricewise.dev",
    "budgets.v1alpha1.pricewise.dev",
    "pods.v1",
    "nodes.v1",
    "resourcequotas.v1",
    "customresourcedefinitions.v1.apiextensions.k8s.io",
]


@contextlib.contextmanager
def _service_account_operator(
    cluster: Any, namespace: str, chart_rbac: str, tmp_path: Path
) -> Iterator[tuple[Path, int]]:
    """`pricewise run` authenticated with the chart's ServiceAccount token, its Lease in
    `namespace`; yields (log path, metrics port) once every watch has started. On the way out
    it is stopped, and no request it made may have been refused."""
    account = chart_rbac.rsplit(":", 1)[1]
    token = cluster.kubectl("create", "token", account, "-n", namespace, "--duration=10m").stdout
    kubeconfig = tmp_path / "kubeconfig"
    _kubeconfig_for(cluster, token.strip(), kubeconfig)
    metrics, health = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    env |= {
        "KUBECONFIG": str(kubeconfig),
        "PRICEWISE_NAMESPACE": namespace,
        "PRICEWISE_PERIOD_SECONDS": "1",
    }
    log_path = tmp_path / "operator.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pricewise",
                "run",
                "--verbose",
                f"--metrics-port={metrics}",
                f"--liveness=http://127.0.0.1:{health}/healthz",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def started() -> bool:
            text = log_path.read_text(errors="replace")
            if process.poll() is not None:
                pytest.fail(f"the operator exited ({process.returncode}):\n{text[-3000:]}")
            streams = all(
                f"Starting the watch-stream for {r} cluster-wide" in text for r in WATCHED
            )
            return streams and _get(f"http://127.0.0.1:{health}/healthz") is not None

        wait_for(started, timeout=60, what="the operator's watches and health endpoint")
        yield log_path, metrics
        assert process.poll() is None, "the operator stopped"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    text = log_path.read_text(errors="replace")
    # 403 as a status code, not inside a number (the metrics port was once 35403) nor in the
    # line's timestamp (`[... 09:01:10,403]`, which failed a run).
    refusal = re.compile(r"Forbidden|forbidden|\b403\b|Not enough permissions|failed")
    refused = [
        line
        for line in text.splitlines()
        if refusal.search(line.split("] ", 1)[-1])
        # A fresh API server answers 429 while its storage initialises; kopf retries.
        and "status=429" not in line
    ]
    assert refused == [], "\n".join(refused)


def test_operator_runs_with_the_chart_service_account(
    cluster: Any, chart_crds: None, namespace: str, chart_rbac: str, tmp_path: Path
) -> None:
    """The operator, authenticated as the chart's ServiceAccount, starts every watch, reads its
    Lease and serves its endpoints without a refused request. Another holder keeps the Lease, so
    this replica follows and never places the other tests' jobs."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": LEASE, "namespace": namespace},
        "spec": {
            "holderIdentity": "another-replica",
            "leaseDurationSeconds": 3600,
            "acquireTime": now,
            "renewTime": now,
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(lease))
    with _service_account_operator(cluster, namespace, chart_rbac, tmp_path) as (log_path, port):
        # A few lease rounds and the first listing of every watch.
        time.sleep(3)
        page = _get(f"http://127.0.0.1:{port}/metrics")
        assert page is not None and "pricewise_api_requests" in page
    assert "leading" not in log_path.read_text(), "it took a Lease another replica holds"


def test_the_service_account_operator_leads_and_writes_everything(
    cluster: Any, chart_crds: None, namespace: str, chart_rbac: str, tmp_path: Path, pools: Pools
) -> None:
    """As the leader, under the chart's ServiceAccount, the operator writes all it writes in
    production: the Lease, TrainingJob and Budget statuses, the rendezvous Service, worker pods
    and events; no request is refused (checked on the way out). The session's own operator is
    not running while the chart's tests run (no test before them asks for it)."""
    pools.add("sa", nodes=2, gpus=8, price=1.0)
    pools.publish()
    option = pools.option("sa", 8, duration="1h")
    with _service_account_operator(cluster, namespace, chart_rbac, tmp_path) as (log_path, _):
        wait_for(lambda: "leading" in log_path.read_text(), 60, "the lease")
        apply(
            cluster,
            namespace,
            {
                "apiVersion": "pricewise.dev/v1alpha1",
                "kind": "Budget",
                "metadata": {"name": "monthly"},
                "spec": {"limit": 1000},
            },
            training_job("pair", [option], workers={"min": 2, "max": 2}),
        )
        running = wait_phase(cluster, namespace, "pair", "Running", timeout=90)
        assert running["pool"] == f"sa-{pools.tag}"
        pods = json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)
        assert sorted(p["metadata"]["name"] for p in pods["items"]) == [
            "pair-worker-0",
            "pair-worker-1",
        ]
        cluster.kubectl("get", "service", "pair", "-n", namespace)
        events = json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)
        assert "Admitted" in {e["reason"] for e in events["items"]}
        wait_for(
            lambda: get(cluster, namespace, "budget", "monthly").get("status", {}).get("committed"),
            30,
            "the Budget's status",
        )
        lease = get(cluster, namespace, "lease", LEASE)
        assert lease["spec"]["holderIdentity"].startswith(socket.gethostname())
