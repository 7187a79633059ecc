"""Idle operator benchmark: what the operator does on its own while only time passes.

    python benchmarks/idle_operator.py [--window 120] [--run-for 900s]

Applies the demo's objects (examples/: a PriceTable, two Budgets, eight TrainingJobs) to the
local control plane, their workers simulated to run for --run-for, and starts the operator with
its default 30 s period. Once every job is placed or waiting with a reason, and 30 s more, it
counts over --window seconds, while the placed jobs run and nothing is submitted, edited or
ended: scheduling cycles, the operator's API requests by purpose, and its CPU seconds, each per
minute. Every cycle and request in the window is the operator's own doing: the period's cycles,
accruals and budget figures as jobs run, and whatever its own writes wake. To compare trees,
run it with `PYTHONPATH=<checkout>/operator`. Not a test: figures, not assertions.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "hack"), str(ROOT / "benchmarks")]

import cluster  # noqa: E402
import demo  # noqa: E402

import live_operator  # noqa: E402
import machine  # noqa: E402

PORT = 18081
SETTLE_S = 30.0


def figures(port: int, pid: int) -> tuple[float, dict[str, float], float]:
    """Cycles, API requests by purpose, and CPU seconds, as the operator has counted them."""
    cycles = live_operator.metric_total(port, "pricewise_scheduling_cycles_total")
    requests = live_operator.metric_samples(port, "pricewise_api_requests_total")
    return cycles, requests, live_operator.cpu_seconds(pid)


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--window", type=float, default=120.0, help="seconds counted")
    parser.add_argument("--run-for", default="900s", help="the workers' simulated run time")
    args = parser.parse_args()
    print(f"# {machine.conditions()}")  # before the cluster starts: its load would count

    cluster.up()
    jobs = demo.apply_examples(args.run_for)
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig())
    log_path = cluster.cluster_dir() / "logs" / "idle-operator.log"
    operator = live_operator.start(log_path, PORT)
    try:
        demo.wait_decided(jobs, 120)
        time.sleep(SETTLE_S)
        cycles0, requests0, cpu0 = figures(PORT, operator.pid)
        time.sleep(args.window)
        cycles1, requests1, cpu1 = figures(PORT, operator.pid)
        running = cluster.kubectl(
            "get", "tj", "-A", "-o", "jsonpath={.items[*].status.phase}", check=False
        ).stdout.split()
    finally:
        live_operator.stop(operator)
        cluster.kubectl("delete", "-f", str(ROOT / "examples" / "jobs.yaml"), check=False)
    minutes = args.window / 60
    by_purpose = {
        labels: (count - requests0.get(labels, 0.0)) / minutes
        for labels, count in sorted(requests1.items())
        if count > requests0.get(labels, 0.0)
    }
    print(f"{jobs} jobs, {running.count('Running')} running through the window of "
          f"{args.window:g}s")  # fmt: skip
    print(f"cycles per minute: {(cycles1 - cycles0) / minutes:.1f}")
    print(f"API requests per minute: {sum(by_purpose.values()):.1f} "
          + ", ".join(f"{k or 'all'} {v:.1f}" for k, v in by_purpose.items()))  # fmt: skip
    print(f"operator CPU seconds per minute: {(cpu1 - cpu0) / minutes:.2f}")


if __name__ == "__main__":
    main()
