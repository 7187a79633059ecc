"""A real Prometheus scrapes the operator, evaluates the shipped alert rules, and pages when
jobs burn a small budget."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from operator_fixtures import (
    ROOT,
    Operator,
    Pools,
    apply,
    free_port,
    training_job,
    wait_for,
    wait_phase,
)

pytestmark = pytest.mark.cluster


@pytest.fixture
def prometheus(operator: Operator, tmp_path: Path) -> Iterator[str]:
    """Prometheus scraping the operator every second, with the shipped rules (their `for`
    shortened so that the test does not wait minutes)."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not found: install Debian's prometheus package (make dev does)")
    rules = yaml.safe_load((ROOT / "deploy/prometheus/pricewise.rules.yaml").read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            rule["for"] = "0s"
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yaml")],
        "scrape_configs": [
            {
                "job_name": "pricewise",
                # As a scrape in the cluster labels its target: the metrics' own namespace must
                # win, as the docs and the chart's ServiceMonitor (honorLabels) set it.
                "honor_labels": True,
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{operator.metrics_port}"],
                        "labels": {"namespace": "pricewise-system"},
                    }
                ],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(f"{url}/-/ready") is not None, 60, "Prometheus to be ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
    except OSError:
        return None
    return json.loads(body) if body.startswith("{") else body


def _firing(url: str, alert: str, namespace: str) -> list[dict[str, Any]]:
    answer = _get(f"{url}/api/v1/alerts") or {}
    alerts = (answer.get("data") or {}).get("alerts") or []
    return [
        a
        for a in alerts
        if a["labels"]["alertname"] == alert
        and a["state"] == "firing"
        and a["labels"].get("namespace") == namespace
    ]


def test_budget_alert_fires_when_jobs_burn_a_small_budget(
    cluster: Any, namespace: str, operator: Operator, pools: Pools, prometheus: str
) -> None:
    pools.add("metered", nodes=1, gpus=8, price=2.0)
    pools.publish()
    budget = {
        "apiVersion": "pricewise.dev/v1alpha1",
        "kind": "Budget",
        "metadata": {"name": "small"},
        "spec": {
            "limit": 5,
            "currency": "USD",
            "period": "day",
            "enforcement": "soft",
            "thresholds": [50, 100],
        },
    }
    apply(cluster, namespace, budget)
    option = pools.option("metered", 8, duration="1h")
    apply(cluster, namespace, training_job("burner", [option]))  # 16.00 USD, over the 5.00 limit
    wait_phase(cluster, namespace, "burner", "Admitted", "Running")

    target = wait_for(
        lambda: [
            t
            for t in (_get(f"{prometheus}/api/v1/targets") or {})
            .get("data", {})
            .get("activeTargets", [])
            if t["health"] == "up"
        ],
        60,
        "Prometheus to scrape the operator",
    )
    assert target[0]["labels"]["job"] == "pricewise"
    firing = wait_for(
        lambda: _firing(prometheus, "PricewiseBudgetExhausted", namespace),
        90,
        "the budget alert to fire",
    )
    assert firing[0]["labels"]["budget"] == "small"
    assert firing[0]["annotations"]["summary"] == f"Budget {namespace}/small is used up"
    # Past its limit the budget is used up, said once: its thresholds (50 and 100), which
    # fired beside it, would be two more alerts for the same news (both rules wait 1m).
    alerts = (_get(f"{prometheus}/api/v1/alerts") or {}).get("data", {}).get("alerts", [])
    assert not [
        a
        for a in alerts
        if a["labels"]["alertname"] == "PricewiseBudgetThresholdCrossed"
        and a["labels"].get("namespace") == namespace
    ]  # neither firing nor pending
