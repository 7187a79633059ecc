"""The shipped alert rules: `promtool check rules` and `promtool test rules` (Debian's promtool),
and a dashboard whose queries name only metrics the operator exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/pricewise.rules.yaml"
TESTS = ROOT / "deploy/prometheus/tests/pricewise.rules.test.yaml"


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: install Debian's prometheus package (make dev does)")
    return path


def test_rules_are_valid() -> None:
    result = subprocess.run(
        [_promtool(), "check", "rules", str(RULES)], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 11 rules found" in result.stdout


def test_every_alert_has_a_passing_unit_test() -> None:
    result = subprocess.run(
        [_promtool(), "test", "rules", str(TESTS)], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = set(re.findall(r"- alert: (\w+)", RULES.read_text()))
    tested = set(re.findall(r"alertname: (\w+)", TESTS.read_text()))
    assert alerts == tested


def test_every_alert_has_a_runbook_section() -> None:
    runbook = (ROOT / "docs/runbook.md").read_text()
    for alert in re.findall(r"- alert: (\w+)", RULES.read_text()):
        assert f"## {alert}\n" in runbook


def test_dashboard_queries_use_exported_metrics() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/pricewise-dashboard.json").read_text())
    source = "\n".join(p.read_text() for p in (ROOT / "operator/pricewise").rglob("metrics.py"))
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"\b(pricewise_[a-z_]+?)(?:_total|_bucket)?\b", target["expr"]):
                assert f'"{name}' in source, f"{panel['title']}: {name} is not exported"


def test_dashboard_reads_counters_through_rate_or_increase() -> None:
    # A counter restarts at 0 with the operator: plotted raw, a restart reads as money refunded.
    dashboard = json.loads((ROOT / "deploy/grafana/pricewise-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for counter in re.finditer(r"pricewise_[a-z_]+_total\b", expr):
                before = expr[: counter.start()]
                assert re.search(r"\b(rate|increase)\($", before), f"{panel['title']}: {expr}"
