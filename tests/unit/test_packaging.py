"""Static checks of what ships: the image recipe, the wheel, the chart, deploy/ and their copies.

What needs helm or a cluster (lint, template, server-side dry run, RBAC) is in
tests/e2e/test_chart.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from pathload import load_script
from pricewise import cli
from pricewise.api.models import Budget, PriceTable
from pricewise.controller.config import from_environment
from pricewise.controller.quote import OPERATOR_LABELS
from pricewise.core.units import DURATION_PATTERN, parse_duration

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "pricewise"
BASE = ROOT / "deploy" / "base"
LEASE = "pricewise-scheduler"


render = load_script("pricewise_deploy_render", "deploy/render.py")


# --- Dockerfile ------------------------------------------------------------------------------


@cache
def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for word, rest in _instructions():
        if word == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((word, rest))
    return stages


def _last(stage: list[tuple[str, str]], word: str) -> str:
    values = [rest for w, rest in stage if w == word]
    assert values, f"the final stage has no {word}"
    return values[-1]


def test_dockerfile_builds_in_two_stages_on_python_slim() -> None:
    args = dict(
        rest.split("=", 1) for word, rest in _instructions() if word == "ARG" and "=" in rest
    )
    base = args.get("PYTHON_IMAGE")
    assert base == "python:3.11-slim"
    stages = _stages()
    assert len(stages) >= 2, "a build stage and a runtime stage"
    assert all(stage[0][1].split()[0] in ("${PYTHON_IMAGE}", base) for stage in stages)
    runtime = stages[-1]
    assert any(w == "COPY" and "--from=build" in rest for w, rest in runtime)
    # No compiler, pip cache or source tree in the runtime stage: it only copies the venv.
    assert not any(w == "COPY" and "--from" not in rest for w, rest in runtime)
    assert "pip wheel" in " ".join(rest for w, rest in stages[0] if w == "RUN")


def test_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    user = _last(_stages()[-1], "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0, f"USER {user}: Kubernetes' runAsNonRoot needs a UID"
    assert gid.isdigit() and int(gid) > 0
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == int(uid)
    assert values["podSecurityContext"]["runAsGroup"] == int(gid)


def test_dockerfile_entrypoint_is_the_console_script_and_cmd_a_subcommand() -> None:
    runtime = _stages()[-1]
    entrypoint = json.loads(_last(runtime, "ENTRYPOINT"))
    command = json.loads(_last(runtime, "CMD"))
    assert entrypoint == ["pricewise"] and command == ["run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[entrypoint[0]] == "pricewise.cli:main"
    args = cli.parser().parse_args(command)
    assert args.handler.__name__ == "_run"


def test_dockerfile_home_and_tmp_are_the_writable_emptydir() -> None:
    env = " ".join(rest for w, rest in _stages()[-1] if w == "ENV")
    assert "HOME=/tmp" in env and "TMPDIR=/tmp" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    deployment = _rendered_base("Deployment")[0]
    pod = deployment["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_dockerfile_exposes_the_ports_the_chart_uses() -> None:
    exposed = {int(port) for port in _last(_stages()[-1], "EXPOSE").split()}
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert exposed == {values["metrics"]["port"], values["health"]["port"]} == {8080, 8081}


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(negated, regex) per .dockerignore line, with Docker's glob rules (`**` any depth)."""
    patterns = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        glob = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(glob):
            if glob.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif glob.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif glob[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif glob[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(glob[i]), i + 1
        patterns.append((negated, re.compile(regex + r"\Z")))
    return patterns


def _in_build_context(relative: str) -> bool:
    """Whether Docker sends this file: the last pattern matching it or a parent folder wins."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negated, pattern in _dockerignore_patterns():
        if any(pattern.match(prefix) for prefix in prefixes):
            excluded = not negated
    return not excluded


def _build_context(target: Path) -> list[str]:
    """Copy the files Docker would send (per .dockerignore) into target; their paths."""
    sent = []
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT).as_posix()
        if path.is_file() and not relative.startswith(".git/") and _in_build_context(relative):
            sent.append(relative)
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / relative)
    return sent


def test_dockerignore_sends_only_what_the_build_reads() -> None:
    assert _in_build_context("pyproject.toml") and _in_build_context("README.md")
    assert _in_build_context("operator/pricewise/cli.py")
    assert not _in_build_context("operator/pricewise/__pycache__/cli.cpython-311.pyc")
    for outside in ("tests/unit/test_packaging.py", "charts/pricewise/values.yaml", ".git/HEAD"):
        assert not _in_build_context(outside), outside
    copied = [rest.split()[:-1] for w, rest in _stages()[0] if w == "COPY" and "--from" not in rest]
    for sources in copied:
        for source in sources:
            assert _in_build_context(source.rstrip("/")), (
                f"COPY {source}: excluded by .dockerignore"
            )


def test_wheel_from_the_build_context_holds_the_package_and_its_command(tmp_path: Path) -> None:
    context, wheels = tmp_path / "context", tmp_path / "wheels"
    sent = _build_context(context)
    assert "operator/pricewise/controller/handlers.py" in sent
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(context)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = wheels.glob("pricewise-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = archive.read(info).decode()
        metadata = archive.read(info.replace("entry_points.txt", "METADATA")).decode()
    for module in ("cli.py", "kube.py", "py.typed", "controller/handlers.py",
                   "controller/scheduler.py", "core/solver.py", "api/models.py",
                   "offline/simulate.py"):  # fmt: skip
        assert f"pricewise/{module}" in names
    assert not any("test" in name.split("/")[0] for name in names)
    for command in ("pricewise", "kubectl-pricewise"):  # the second, as a kubectl plugin
        assert re.search(rf"^{command} = pricewise\.cli:main$", entry_points, re.MULTILINE)
    for dependency in ("kopf", "kubernetes", "ortools", "prometheus-client", "pydantic"):
        assert f"Requires-Dist: {dependency}" in metadata


# --- copies and their sources ----------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    sorted(render.copies(), key=str),
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_copy_equals_its_source(target: Path) -> None:
    source = render.copies()[target]
    assert target.exists(), f"{target.relative_to(ROOT)} missing: run python deploy/render.py"
    assert target.read_bytes() == source.read_bytes(), (
        f"{target.relative_to(ROOT)} drifted from {source.relative_to(ROOT)}: "
        "run python deploy/render.py"
    )


def test_no_copy_outlives_its_source() -> None:
    assert render.stale() == []
    crds = {p.name for p in (ROOT / "crds").glob("*.yaml")}
    assert len(crds) == 3
    assert {p.name for p in (CHART / "crds").iterdir()} == crds
    assert {p.name for p in (BASE / "crds").iterdir()} == crds


def test_kustomize_base_lists_every_crd_and_the_rendered_chart() -> None:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    resources = kustomization["resources"]
    assert kustomization["namespace"] == "pricewise-system"
    assert {f"crds/{p.name}" for p in (ROOT / "crds").glob("*.yaml")} <= set(resources)
    assert {"namespace.yaml", "pricewise.yaml"} <= set(resources)
    for resource in resources:
        assert (BASE / resource).is_file(), resource
    overlay = yaml.safe_load(
        (ROOT / "deploy" / "overlays" / "prometheus" / "kustomization.yaml").read_text()
    )
    assert overlay["resources"] == ["../../base", "monitoring.yaml"]
    kinds = [doc["kind"] for doc in _documents(ROOT / "deploy/overlays/prometheus/monitoring.yaml")]
    assert sorted(kinds) == ["PrometheusRule", "ServiceMonitor"]


def test_rendered_prometheus_rule_holds_the_rules_file() -> None:
    docs = _documents(ROOT / "deploy" / "overlays" / "prometheus" / "monitoring.yaml")
    rule = next(doc for doc in docs if doc["kind"] == "PrometheusRule")
    text = (ROOT / "deploy" / "prometheus" / "pricewise.rules.yaml").read_text()
    # But for the scrape job the operator-down alert looks for: the overlay's metrics Service.
    rules = yaml.safe_load(text.replace('job=~".*pricewise.*"', 'job="pricewise-metrics"'))
    assert rule["spec"] == rules
    assert rule["spec"]["groups"], "at least one rule group"


def test_the_service_monitor_keeps_the_metrics_own_namespace_label() -> None:
    # Without honorLabels the target's namespace (pricewise-system) replaces the metrics' own,
    # and every per-namespace alert groups all teams together (or fails on duplicate series).
    docs = _documents(ROOT / "deploy" / "overlays" / "prometheus" / "monitoring.yaml")
    (monitor,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert [e.get("honorLabels") for e in monitor["spec"]["endpoints"]] == [True]


def test_dashboard_copy_is_a_grafana_dashboard() -> None:
    dashboard = json.loads((CHART / "files" / "pricewise-dashboard.json").read_text())
    assert dashboard["title"] and dashboard["uid"] and dashboard["panels"]


# --- the chart -------------------------------------------------------------------------------


def test_chart_metadata_follows_the_package() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["apiVersion"] == "v2" and chart["name"] == "pricewise"
    assert chart["appVersion"] == project["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])


def _value_keys(text: str) -> list[tuple[str, bool]]:
    """(dotted key, documented) for every key of values.yaml up to two levels deep; documented
    means that the comment block right above it starts with `# --` (the helm-docs style)."""
    lines = text.splitlines()
    found = []
    stack: list[tuple[int, str]] = []
    for index, line in enumerate(lines):
        match = re.match(r"^( *)([A-Za-z][A-Za-z0-9_]*):", line)
        if not match:
            continue
        indent, key = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        if len(stack) > 2:
            continue
        block = []
        above = index - 1
        while above >= 0 and lines[above].strip().startswith("#"):
            block.append(lines[above].strip())
            above -= 1
        documented = bool(block) and block[-1].startswith("# -- ")
        found.append((".".join(k for _, k in stack), documented))
    return found


def test_every_value_is_documented() -> None:
    keys = _value_keys((CHART / "values.yaml").read_text())
    assert len(keys) > 40
    assert ("image.repository", True) in keys
    assert _value_keys("# a plain comment\nfoo: 1\n") == [("foo", False)]
    undocumented = [key for key, documented in keys if not documented]
    assert undocumented == [], "values.yaml keys without a `# --` comment above them"


def test_values_the_templates_read_exist() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    used: set[str] = set()
    for template in (CHART / "templates").iterdir():
        used |= set(re.findall(r"\.Values\.([A-Za-z0-9_.]+)", template.read_text()))
    assert len(used) > 30
    missing = []
    for path in sorted(used):
        node: Any = values
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(path)
                break
            node = node[part]
    assert missing == []


def test_security_defaults_are_safe() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    pod, container = values["podSecurityContext"], values["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert container["seccompProfile"] == {"type": "RuntimeDefault"}
    assert values["serviceMonitor"]["enabled"] is False  # needs the Prometheus Operator's CRDs
    assert values["grafanaDashboard"]["labels"] == {"grafana_dashboard": "1"}


def test_initial_objects_in_the_ci_values_are_valid_api_objects() -> None:
    full = yaml.safe_load((CHART / "ci" / "full-values.yaml").read_text())
    table = full["priceTable"]
    PriceTable.model_validate({"metadata": {"name": table["name"]}, "spec": table["spec"]})
    budgets = [
        *full["budgets"],
        *yaml.safe_load((CHART / "ci" / "existing-serviceaccount-values.yaml").read_text())[
            "budgets"
        ],
    ]
    assert len(budgets) >= 2
    for budget in budgets:
        meta = {"name": budget["name"], "namespace": budget["namespace"]}
        Budget.model_validate({"metadata": meta, "spec": budget["spec"]})


# --- the rendered manifests (deploy/base/pricewise.yaml) -------------------------------------


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _rendered_base(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in _documents(BASE / "pricewise.yaml") if doc["kind"] == kind]


def test_deployment_passes_flags_the_operator_accepts() -> None:
    (deployment,) = _rendered_base("Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "command" not in container, "keep the image's ENTRYPOINT"
    args = cli.parser().parse_args(container["args"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert args.handler.__name__ == "_run"
    assert args.metrics_port == ports["metrics"] == 8080
    assert args.liveness == f"http://0.0.0.0:{ports['health']}/healthz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    env = {e["name"]: e for e in container["env"]}
    assert env["PRICEWISE_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    # Every variable the Deployment sets is one the operator reads, and its value parses.
    source = (ROOT / "operator" / "pricewise" / "controller" / "config.py").read_text()
    for name in env:
        assert f'"{name}"' in source, f"{name} is not read"
    values = {name: e["value"] for name, e in env.items() if "value" in e}
    config = from_environment(values)
    assert config.solver_workers == int(values["PRICEWISE_SOLVER_WORKERS"])
    assert config.wait_cost == float(values["PRICEWISE_WAIT_COST"])
    assert config.max_wait_s == parse_duration(values["PRICEWISE_MAX_WAIT"])


def test_the_chart_takes_a_max_wait_in_the_form_the_operator_reads() -> None:
    # values.schema.json is written by hand: its pattern must be spec.maxWait's own.
    schema = json.loads((CHART / "values.schema.json").read_text())
    max_wait = schema["properties"]["scheduler"]["properties"]["maxWait"]
    assert max_wait["pattern"] == DURATION_PATTERN
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert re.fullmatch(DURATION_PATTERN, values["scheduler"]["maxWait"])


def test_metrics_service_targets_the_metrics_port() -> None:
    (service,) = _rendered_base("Service")
    (deployment,) = _rendered_base("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["metrics"]


def _rules() -> list[dict[str, Any]]:
    roles = _rendered_base("ClusterRole") + _rendered_base("Role")
    return [rule for role in roles for rule in role["rules"]]


def test_rbac_grants_nothing_on_secrets_and_no_wildcards() -> None:
    rules = _rules()
    assert len(rules) >= 8
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], rule
        assert not {"secrets", "configmaps"} & set(rule["resources"]), rule
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), rule


def test_lease_rights_are_limited_to_the_operators_lease() -> None:
    (role,) = _rendered_base("Role")
    by_verb = {verb: rule for rule in role["rules"] for verb in rule["verbs"]}
    assert set(by_verb) == {"create", "get", "update"}
    assert by_verb["get"]["resourceNames"] == by_verb["update"]["resourceNames"] == [LEASE]
    handlers = (ROOT / "operator" / "pricewise" / "controller" / "handlers.py").read_text()
    assert f'"{LEASE}"' in handlers, "the Lease was renamed: change the Role with it"
    assert not _rendered_base("ClusterRole")[0]["rules"][0].get("resourceNames")
    assert all(
        "leases" not in rule["resources"] for rule in _rendered_base("ClusterRole")[0]["rules"]
    )


def test_the_api_group_rules_cover_every_kind_of_the_crds() -> None:
    plurals = {
        yaml.safe_load(path.read_text())["spec"]["names"]["plural"]
        for path in (ROOT / "crds").glob("*.yaml")
    }
    assert plurals == {"trainingjobs", "pricetables", "budgets"}
    ours = [rule for rule in _rules() if rule["apiGroups"] == ["pricewise.dev"]]
    watched = {
        r for rule in ours if {"list", "watch"} <= set(rule["verbs"]) for r in rule["resources"]
    }
    patched = {r for rule in ours if rule["verbs"] == ["patch"] for r in rule["resources"]}
    assert watched == plurals
    assert patched == {f"{plural}/status" for plural in plurals}


def test_install_doc_explains_every_rule() -> None:
    doc = (ROOT / "docs" / "install.md").read_text()
    section = doc.split("## Permissions", 1)[1].split("\n## ", 1)[0]
    for rule in _rules():
        for resource in rule["resources"]:
            assert f"`{resource}`" in section, f"docs/install.md does not explain {resource}"
        for verb in rule["verbs"]:
            assert verb in section, verb
    assert "Secrets" in section
    for topic in ("helm install", "kubectl apply -k deploy/base", "kind", "helm upgrade", "CRD"):
        assert topic in doc, topic


def test_the_operator_deployment_carries_the_labels_a_quote_finds_it_by() -> None:
    # `pricewise plan --cluster` reads the operator's settings from the Deployment so labelled.
    (deployment,) = [d for d in _documents(BASE / "pricewise.yaml") if d["kind"] == "Deployment"]
    assert OPERATOR_LABELS.items() <= deployment["metadata"]["labels"].items()
