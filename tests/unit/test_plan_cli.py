"""`pricewise plan` on the shipped examples, as a newcomer runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-29T12:00:00Z"


def pricewise(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pricewise", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def test_plan_examples_json() -> None:
    result = pricewise("plan", "examples/", "--now", NOW, "-o", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    jobs = {j["name"]: j for j in plan["jobs"]}
    assert jobs["llm-finetune"]["pool"] == "tpu-v5e"
    assert jobs["llm-pretrain-urgent"]["pool"] == "nvidia-h100"
    assert jobs["resnet50-imagenet"]["pool"] == "nvidia-l4"
    assert jobs["resnet50-imagenet"]["workers"] == 4
    assert jobs["distill-spot"]["pool"] == "nvidia-h100-spot"
    assert jobs["detector-sweep"]["reason"] == "BudgetExceeded"
    assert jobs["moe-pretrain"]["reason"] == "DeadlineUnreachable"
    assert jobs["ablation-small"]["reason"] == "NotWorthRunning"
    assert plan["solver"]["status"] == "optimal"
    assert plan["totalCost"] == round(sum(j["cost"] or 0 for j in plan["jobs"]), 6)
    assert {row["verdict"] for row in jobs["llm-finetune"]["options"]} == {
        "chosen",
        "feasible",
        "excluded",
    }


def test_plan_table_and_yaml() -> None:
    table = pricewise("plan", "examples/", "--now", NOW, "-v")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split()[:3] == ["JOB", "POOL", "WORKERS"]
    assert "5 of 8 job(s) placed" in table.stdout
    assert "team-nlp/llm-finetune options:" in table.stdout
    assert pricewise("plan", "examples/", "--now", NOW, "-o", "yaml").stdout.startswith("now: ")


def test_invalid_manifest_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "job.yaml"
    bad.write_text(
        "apiVersion: pricewise.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: x}\n"
        "spec:\n  workers: {min: 3, max: 1}\n  options: [{accelerator: nvidia-l4, duration: 1h}]\n"
    )
    result = pricewise("plan", str(bad), "examples/pricetable.yaml")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        "spec.workers: workers.min (3) must be less than or equal to workers.max (1)"
        in result.stderr
    )


def test_missing_file_and_bad_now() -> None:
    result = pricewise("plan", "no-such-file.yaml")
    assert result.returncode == 2 and "cannot read" in result.stderr
    result = pricewise("plan", "examples/", "--now", "tomorrow")
    assert result.returncode != 0 and "--now: 'tomorrow' is not an RFC 3339 time" in result.stderr
