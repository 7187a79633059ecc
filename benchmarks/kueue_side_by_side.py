"""Kueue and pricewise side by side: Kueue's own scheduler benchmark, then the same workload
through pricewise, on this machine, in one run.

    make peers                                          # build Kueue v0.17.0 once (minutes)
    python benchmarks/kueue_side_by_side.py --cohorts 1 # a fifth of Kueue's baseline: 3,000
    python benchmarks/kueue_side_by_side.py             # Kueue's baseline: 15,000 workloads

Kueue's side is its scheduler performance harness (`test/performance/scheduler` of the Kueue
module): its `runner` starts a control plane of its own (our kube-apiserver and etcd as
envtest assets) with `minimalkueue`, creates the workloads of its baseline generator config
(cohorts of 6 ClusterQueues with nominal quota 20 CPUs and borrowing limit 100; per queue 350
small workloads of 1 CPU running 200 ms, priority 50; 100 medium of 5 CPUs, 500 ms, priority
100; 50 large of 20 CPUs, 1 s, priority 200, created at 100, 500 and 1,200 ms intervals) and
mimics their run times itself. `--cohorts` scales the config down; the classes stay.

pricewise's side is the same workloads as TrainingJobs, created at the same intervals, on the
local control plane with kwok nodes: one namespace per ClusterQueue with a ResourceQuota of what
its queue may use at most (nominal + borrowing limit, capped by its cohort's total), and CPU nodes
holding the sum of the nominal quotas. What differs: pricewise has no cohorts (a queue's room is
not lent back first), and pods run on kwok, which ends them their run time after it sees them
Running (Kueue's harness counts it from admission). Figures for both: wall time, mean time from
creation to admission per class, and the CPU time and peak memory of the scheduler's process.
Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "hack"), str(ROOT / "benchmarks")]

import cluster  # noqa: E402

import live_operator  # noqa: E402
import machine  # noqa: E402
from pricewise.kube import Kube, load_configuration  # noqa: E402

KUEUE_MODULE = ROOT / "hack" / "tools" / "kueue"
NODE_CPUS = 20
PORT = 18081


def kueue_dir() -> Path:
    """Where the Go module cache holds the pinned Kueue module's source."""
    out = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kueue"],
        cwd=KUEUE_MODULE,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
    ).stdout.strip()
    return Path(out)


def generator(source: Path, cohorts: int, share: float = 1.0) -> dict[str, Any]:
    """Kueue's baseline generator config with `cohorts` cohorts and `share` of the workloads
    of each set (at least one)."""
    config: dict[str, Any] = yaml.safe_load(source.read_text())
    for cohort in config["cohorts"]:
        cohort["count"] = cohorts
        for qset in cohort["queuesSets"]:
            for wset in qset["workloadsSets"]:
                wset["count"] = max(1, round(wset["count"] * share))
    return config


def run_kueue(module: Path, config: Path, out: Path) -> dict[str, Any]:
    """Kueue's harness on its own control plane; its summary and minimalkueue's usage."""
    assets = out / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    for name in ("kube-apiserver", "etcd", "kubectl"):
        link = assets / name
        if not link.exists():
            link.symlink_to(cluster.binary(name))
    bins = cluster.bin_dir("kueue")
    env = {
        **os.environ,
        "KUBEBUILDER_ASSETS": str(assets),
        "PROJECT_DIR": str(module / "Makefile"),  # the harness takes its parent as the project
    }
    started = time.monotonic()
    subprocess.run(
        [
            str(bins / "runner"),
            "-o", str(out),
            "-crds", str(module / "config" / "components" / "crd" / "bases"),
            "-generatorConfig", str(config),
            "-minimalKueue", str(bins / "minimalkueue"),
            "-timeout", "40m",
        ],
        env=env, check=True, stdout=(out / "runner.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    wall = time.monotonic() - started
    summary = yaml.safe_load((out / "summary.yaml").read_text())
    stats = yaml.safe_load((out / "minimalkueue.stats.yaml").read_text())
    classes = summary["workloadClasses"]
    groups = summary["clusterQueueClasses"].values()
    usage = [g["cpuAverageUsage"] / g["nominalQuota"] for g in groups if g.get("nominalQuota")]
    return {
        "wall_s": stats["wallMs"] / 1000,
        "script_s": wall,
        "tta_s": {c: classes[c]["averageTimeToAdmissionMs"] / 1000 for c in classes},
        "count": sum(classes[c]["count"] for c in classes),
        "evictions": sum(classes[c]["totalEvictions"] for c in classes),
        "cpu_s": (stats["userMs"] + stats["sysMs"]) / 1000,
        "rss_mib": stats["maxrss"] / 1024,
        "usage": statistics.mean(usage) if usage else None,
    }


def workloads(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Every workload of a generator config: queue, class, CPUs, run time, priority, and when
    it is created (seconds from the start), in creation order."""
    out = []
    for cohort in config["cohorts"]:
        for c in range(cohort["count"]):
            for qset in cohort["queuesSets"]:
                for q in range(qset["count"]):
                    queue = f"{cohort['className']}-{c}-{qset['className']}-{q}"
                    for wset in qset["workloadsSets"]:
                        for i in range(wset["count"]):
                            for w in wset["workloads"]:
                                out.append({
                                    "queue": queue, "class": w["className"],
                                    "cpus": w["request"], "runtime_s": w["runtimeMs"] / 1000,
                                    "priority": w["priority"],
                                    "at": i * wset["creationIntervalMs"] / 1000,
                                    "name": f"{w['className']}-{i}",
                                })  # fmt: skip
    return sorted(out, key=lambda w: (w["at"], w["queue"], w["name"]))


def queue_limits(config: dict[str, Any]) -> dict[str, int]:
    """CPUs each queue may use at most in Kueue: nominal + borrowing, within its cohort."""
    limits = {}
    for cohort in config["cohorts"]:
        total = sum(q["nominalQuota"] * q["count"] for q in cohort["queuesSets"])
        for c in range(cohort["count"]):
            for qset in cohort["queuesSets"]:
                most = min(qset["nominalQuota"] + qset.get("borrowingLimit", 0), total)
                for q in range(qset["count"]):
                    limits[f"{cohort['className']}-{c}-{qset['className']}-{q}"] = most
    return limits


def training_job(w: dict[str, Any]) -> dict[str, Any]:
    """A workload as a TrainingJob on the CPU pool."""
    return {
        "apiVersion": "pricewise.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": w["name"], "namespace": w["queue"]},
        "spec": {
            "priority": w["priority"],
            "options": [{"accelerator": "cpu", "devicesPerWorker": w["cpus"], "duration": "1s",
                         "memory": "1Gi"}],
            "template": {
                "metadata": {"annotations": {"pricewise.dev/run-seconds": str(w["runtime_s"])}},
                "spec": {"containers": [{"name": "w", "image": "example.com/w:1"}]},
            },
        },
    }  # fmt: skip


async def submit_and_watch(jobs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Create each workload at its time; watch every TrainingJob until all have Succeeded.
    Per job: created, admitted and finished (monotonic seconds)."""
    kube = Kube(load_configuration(), connections=64)
    seen: dict[str, dict[str, float]] = defaultdict(dict)
    done = asyncio.Event()

    def see(obj: dict[str, Any]) -> None:
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        phase = (obj.get("status") or {}).get("phase")
        now = time.monotonic()
        if phase in ("Admitted", "Running", "Succeeded"):
            seen[key].setdefault("admitted", now)
        if phase == "Succeeded":
            seen[key].setdefault("finished", now)
            if sum("finished" in s for s in seen.values()) == len(jobs):
                done.set()

    await kube.request("GET", "/version")  # opens the session
    path = "/apis/pricewise.dev/v1alpha1/trainingjobs"
    watcher = asyncio.create_task(live_operator.watch_objects(kube, path, see, done))
    await asyncio.sleep(0.5)
    start = time.monotonic()
    semaphore = asyncio.Semaphore(32)

    async def create(w: dict[str, Any]) -> None:
        await asyncio.sleep(max(0.0, start + w["at"] - time.monotonic()))
        async with semaphore:
            path = f"/apis/pricewise.dev/v1alpha1/namespaces/{w['queue']}/trainingjobs"
            await kube.request("POST", path, training_job(w))
            seen[f"{w['queue']}/{w['name']}"]["created"] = time.monotonic()

    await asyncio.gather(*(create(w) for w in jobs))
    await live_operator.until(done, watcher, timeout=3600)
    await kube.close()
    seen["_"]["start"] = start
    return seen


def run_pricewise(config: dict[str, Any], out: Path) -> dict[str, Any]:
    """The same workloads as TrainingJobs through the operator on the local control plane."""
    jobs = workloads(config)
    limits = queue_limits(config)
    nominal = sum(
        q["nominalQuota"] * q["count"] * c["count"]
        for c in config["cohorts"]
        for q in c["queuesSets"]
    )
    cluster.up(None)
    pools = {"pools": [{"name": "cpu", "count": nominal // NODE_CPUS, "instanceType": "bench",
                        "allocatable": {"cpu": str(NODE_CPUS), "memory": "256Gi"}}]}  # fmt: skip
    (out / "pools.yaml").write_text(yaml.safe_dump(pools))
    cluster.create_nodes(out / "pools.yaml")
    cluster.install_crds(ROOT / "crds")
    table = {
        "apiVersion": "pricewise.dev/v1alpha1", "kind": "PriceTable",
        "metadata": {"name": "kueue-shape"},
        "spec": {"pools": [{"name": "cpu", "accelerator": "cpu",
                            "nodeSelector": {"pricewise.dev/pool": "cpu"},
                            "prices": {"perCpuHour": 0.0316, "perGiBHour": 0.0042}}]},
    }  # fmt: skip
    objects: list[dict[str, Any]] = [table]
    for queue, cpus in sorted(limits.items()):
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": queue}})
        objects.append({
            "apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": "queue", "namespace": queue},
            "spec": {"hard": {"requests.cpu": str(cpus)}},
        })  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects), timeout=300)
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig())
    operator = live_operator.start(out / "operator.log", PORT)
    try:
        seen = asyncio.run(submit_and_watch(jobs))
        start = seen.pop("_")["start"]
        peak, cpu_s = (
            live_operator.peak_rss_mib(operator.pid),
            live_operator.cpu_seconds(operator.pid),
        )
        preempted = live_operator.metric_total(PORT, "pricewise_preemptions_total")
    finally:
        live_operator.stop(operator)
    by_class: dict[str, list[float]] = defaultdict(list)
    used = 0.0
    for w in jobs:
        s = seen[f"{w['queue']}/{w['name']}"]
        by_class[w["class"]].append(s["admitted"] - s["created"])
        used += w["cpus"] * (s["finished"] - s["admitted"])
    finished = max(s["finished"] for s in seen.values())
    return {
        "wall_s": finished - start,
        "tta_s": {c: statistics.mean(v) for c, v in by_class.items()},
        "count": len(jobs),
        "evictions": int(preempted),
        "cpu_s": cpu_s,
        "rss_mib": peak,
        "usage": used / (nominal * (finished - start)),
    }


def main() -> None:
    """Run both and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohorts", type=int, default=5, help="cohorts of 6 queues (baseline 5)")
    parser.add_argument(
        "--share", type=float, default=1.0, help="share of each queue's workloads (a quick look)"
    )
    parser.add_argument("--only", choices=["kueue", "pricewise"], help="run one side only")
    parser.add_argument("--out", type=Path, help="keep logs and summaries here")
    args = parser.parse_args()
    if not cluster.built("kueue"):
        sys.exit("Kueue is not built: run `make peers` first (a few minutes, once)")
    module = kueue_dir()
    baseline = module / "test/performance/scheduler/configs/baseline/generator.yaml"
    config = generator(baseline, args.cohorts, args.share)
    out = args.out or Path(tempfile.mkdtemp(prefix="kueue-side-by-side-"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "generator.yaml").write_text(yaml.safe_dump(config))
    load = machine.conditions()
    rows = {}
    cluster.down()  # one control plane at a time: Kueue's harness starts its own
    if args.only != "pricewise":
        (out / "kueue").mkdir(exist_ok=True)
        rows["Kueue v0.17.0 (minimalkueue)"] = run_kueue(module, out / "generator.yaml",
                                                         out / "kueue")  # fmt: skip
    if args.only != "kueue":
        (out / "pricewise").mkdir(exist_ok=True)
        try:
            rows["pricewise"] = run_pricewise(config, out / "pricewise")
        finally:
            cluster.down()
    n = next(iter(rows.values()))["count"]
    print(f"# Kueue's baseline shape, {args.cohorts} cohort(s) x 6 queues, {n:,} workloads; "
          f"{load}; logs in {out}\n")  # fmt: skip
    print(
        "| system | wall | mean time to admission large / medium / small | usage of "
        "nominal quota | evictions or preemptions | scheduler CPU | scheduler peak RSS |"
    )
    print("|---|---:|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        tta = " / ".join(f"{r['tta_s'].get(c, 0):.1f} s" for c in ("large", "medium", "small"))
        usage = f"{r['usage']:.0%}" if r["usage"] is not None else "-"
        print(f"| {name} | {r['wall_s']:.1f} s | {tta} | {usage} | {r['evictions']} | "
              f"{r['cpu_s']:.0f} s | {r['rss_mib']:.0f} MiB |")  # fmt: skip


if __name__ == "__main__":
    main()
