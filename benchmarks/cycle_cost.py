"""What a scheduling cycle costs outside the solve: the operator's own work (accounting, the
lifecycle of placed jobs, the snapshot, preemption, status writes) on a busy cluster.

The real `Scheduler` runs against the unit tests' in-memory API stand-in (`FakeKube`), so the
figures are the operator's Python, not an API server's: 200 nodes over 10 pools, 220-odd
running jobs with worker pods, then a burst of `--pending` jobs of varied shapes (1 to 4
options, 1 to 4 workers, a quarter of priority 10, a fifth with a deadline, a tenth with a
maxCost). Cycles: the burst, the one where its placements start, then steady cycles 30 s
apart with nothing new. The solver counts deterministic time (`--limit`), so every run makes
the same decisions; `outside_s` is the cycle's wall time less the solve's, `teller_s` the
waiting jobs' statuses written after it. Medians over `--repeat` runs:

    python benchmarks/cycle_cost.py --pending 1000 3000 --repeat 3

For a tree beside another, run the same command with `PYTHONPATH=<other>/operator` in turn.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))

from fake_kube import FakeKube

from pricewise.controller.accountant import Accountant
from pricewise.controller.cache import Cache
from pricewise.controller.scheduler import Scheduler
from pricewise.core.settings import SolverSettings

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ACCELERATORS = (  # accelerator, devices a node, price a device-hour, speed
    ("nvidia-l4", 4, 0.70683, 1.0),
    ("nvidia-a100", 8, 5.07, 3.2),
    ("nvidia-h100", 8, 10.97906, 7.0),
    ("nvidia-t4", 4, 0.35, 0.5),
    ("nvidia-v100", 8, 2.48, 1.8),
)
NAMESPACES = ("team-a", "team-b", "team-c", "team-d", "team-e")
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def _cluster(kube: FakeKube, nodes: int) -> None:
    """`nodes` nodes over 10 pools (each accelerator at two prices), the PriceTable, and two
    namespaces' Budgets."""
    pools = []
    for accelerator, per_node, price, _ in ACCELERATORS:
        for tier, factor in (("a", 1.0), ("b", 1.15)):
            name = f"{accelerator}-{tier}"
            selector = {"pricewise.dev/pool": name}
            pools.append({"name": name, "accelerator": accelerator, "nodeSelector": selector,
                          "prices": {"perDeviceHour": round(price * factor, 5)}})  # fmt: skip
            for k in range(nodes // 10):
                allocatable = {"cpu": "96", "memory": "768Gi", "nvidia.com/gpu": str(per_node)}
                ready = [{"type": "Ready", "status": "True"}]
                kube.put("nodes", {"metadata": {"name": f"{name}-{k}", "labels": selector},
                                   "status": {"allocatable": allocatable,
                                              "conditions": ready}})  # fmt: skip
    kube.put("pricetables", {"metadata": {"name": "prices"}, "spec": {"pools": pools}})
    for namespace in NAMESPACES[:2]:
        kube.put("budgets", {"metadata": {"name": "b", "namespace": namespace},
                             "spec": {"limit": 1e6}})  # fmt: skip


def _job(name: str, draw: random.Random, created: datetime) -> dict[str, Any]:
    """A TrainingJob of a varied shape."""
    options = []
    for accelerator, per_node, _, speed in draw.sample(ACCELERATORS, draw.randint(1, 4)):
        devices = draw.choice([d for d in (1, 2, 4, 8) if d <= per_node])
        options.append({"accelerator": accelerator, "devicesPerWorker": devices,
                        "throughput": 100 * speed * devices})  # fmt: skip
    container = {"name": "t", "image": "example.com/t:1",
                 "resources": {"requests": {"cpu": "4", "memory": "16Gi"}}}  # fmt: skip
    spec: dict[str, Any] = {
        "work": draw.uniform(1, 12) * 3600 * 400,
        "workers": {"min": 1, "max": draw.choice([1, 2, 4])},
        "scalingEfficiency": 0.9,
        "maxDuration": draw.choice(["8h", "24h", "72h"]),
        "options": options,
        "priority": draw.choice([0, 0, 0, 10]),
        "template": {"spec": {"containers": [container]}},
    }
    share = draw.random()
    if share < 0.2:
        spec["deadline"] = (T0 + timedelta(hours=draw.uniform(4, 96))).strftime(STAMP)
    elif share < 0.3:
        spec["maxCost"] = draw.uniform(50, 500)
    meta = {"name": name, "namespace": draw.choice(NAMESPACES),
            "creationTimestamp": created.strftime(STAMP)}  # fmt: skip
    return {"metadata": meta, "spec": spec}


def _start_workers(kube: FakeKube, at: datetime) -> None:
    """Every pending worker pod bound to its planned node and running since `at`."""
    for (plural, _, _), body in list(kube.objects.items()):
        if plural != "pods" or (body.get("status") or {}).get("phase") != "Pending":
            continue
        pod = copy.deepcopy(body)
        pod["spec"]["nodeName"] = pod["metadata"]["annotations"]["pricewise.dev/node"]
        pod["status"] = {"phase": "Running", "startTime": at.strftime(STAMP)}
        kube.put("pods", pod)


async def _run(pending: int, running: int, nodes: int, limit: float, steady: int) -> list[dict]:
    """One run: the cycles' figures, in order."""
    draw = random.Random(7)
    cache = Cache()
    kube = FakeKube(cache)
    _cluster(kube, nodes)
    settings = SolverSettings(time_limit_s=limit, deterministic=True)
    scheduler = Scheduler(cache, kube, Accountant(cache, kube), settings)  # type: ignore[arg-type]
    rows: list[dict] = []

    async def cycle(label: str, now: datetime) -> None:
        started = time.perf_counter()
        plan = await scheduler.cycle(now)
        ended = time.perf_counter()
        await scheduler.teller.drained()
        rows.append({"cycle": label, "pending": len(plan.decisions), "placed": len(plan.placed),
                     "outside_s": ended - started - plan.seconds, "solve_s": plan.seconds,
                     "teller_s": time.perf_counter() - ended})  # fmt: skip

    for i in range(running):
        kube.put("trainingjobs", _job(f"run-{i}", draw, T0 - timedelta(hours=3)))
    await cycle("running", T0 - timedelta(hours=2))
    _start_workers(kube, T0 - timedelta(hours=2))
    for i in range(pending):
        kube.put("trainingjobs", _job(f"job-{i}", draw, T0 - timedelta(seconds=pending - i)))
    await cycle("burst", T0)
    _start_workers(kube, T0 + timedelta(seconds=30))
    await cycle("start", T0 + timedelta(seconds=30))
    for k in range(steady):
        await cycle("steady", T0 + timedelta(seconds=60 + 30 * k))
    return rows[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pending", type=int, nargs="+", default=[1000])
    parser.add_argument("--running", type=int, default=300, help="jobs submitted before")
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--limit", type=float, default=1.0, help="deterministic solver limit")
    parser.add_argument("--steady", type=int, default=3, help="steady cycles a run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'pending':>8} {'cycle':>7} {'placed':>7} {'outside_s':>10} {'teller_s':>9} "
          f"{'solve_s':>8}")  # fmt: skip
    for pending in args.pending:
        runs = [
            asyncio.run(_run(pending, args.running, args.nodes, args.limit, args.steady))
            for _ in range(args.repeat)
        ]
        for label in ("burst", "start", "steady"):
            rows = [r for run in runs for r in run if r["cycle"] == label]
            print(f"{pending:>8} {label:>7} {rows[0]['placed']:>7} "
                  f"{statistics.median(r['outside_s'] for r in rows):>10.3f} "
                  f"{statistics.median(r['teller_s'] for r in rows):>9.3f} "
                  f"{statistics.median(r['solve_s'] for r in rows):>8.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
